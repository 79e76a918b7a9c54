"""The example albums offered on the page (public-domain photos bundled with the app)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "examples"


@dataclass(frozen=True)
class ExampleAlbum:
    """One clickable example: its label, photo folder and the person's birth date."""

    label: str
    folder: Path
    birth_date: str

    @property
    def files(self) -> list[str]:
        return sorted(str(p) for p in self.folder.glob("*.png"))


EXAMPLES = [
    ExampleAlbum("Thomas Edison at 31, 63 and 75 (public domain)", ASSETS / "edison", "1847-02-11"),
]
