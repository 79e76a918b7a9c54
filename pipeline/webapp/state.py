"""What the page remembers per visitor between events (held in a `gr.State`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.webapp.table import PhotoEdits


@dataclass
class PageState:
    """One visitor's album on the page.

    Attributes:
        edits (PhotoEdits): the visitor's changes per file, e.g. ``{"a.jpg": {"age": 3.5}}``.
        shown (list[list]): the table rows as last shown (to see which cells changed).
        faces (dict[str, int]): faces found per file (to check a face number).
        metadata (dict): dates and credits of photos found by name, per file.
        birth_auto (str): a birth date the app filled in itself (example, search),
            cleared when the visitor brings a new album.
        every_photo (bool): the visitor chose a photo-a-day video: the review proposes no
            selection, every kept photo goes into the video (a page setting, kept across albums).
    """

    edits: PhotoEdits = field(default_factory=dict)
    shown: list[list[Any]] = field(default_factory=list)
    faces: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    birth_auto: str = ""
    every_photo: bool = False

    def with_edit(self, file: str, **values: Any) -> PageState:
        """A copy with `values` set for `file` (a value of None goes back to the automatic one)."""
        edits = {k: dict(v) for k, v in self.edits.items()}
        entry = edits.setdefault(file, {})
        for key, value in values.items():
            if value is None:
                entry.pop(key, None)
            else:
                entry[key] = value
        if not entry:
            edits.pop(file)
        return replace(self, edits=edits)

    def new_album(self) -> PageState:
        """Edits and rows belong to one album: a new album keeps only the metadata and auto birth date."""
        return replace(self, edits={}, shown=[], faces={})
