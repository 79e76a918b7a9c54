"""Photo credits: one format for every place that writes them.

Photos found by name (Wikimedia Commons) carry a credits dict: ``title``,
``author``, ``licence``, ``licence_url``, ``page_url``. The CLI writes them
beside the video, the search beside its downloads, the webapp into the
downloads and the API report; all go through `credit_line` and `credits_text`,
and the report's ``credits`` list through `credits_json`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.types import Analysis

CREDIT_KEYS = ("title", "author", "licence", "licence_url", "page_url")
Entry = tuple[str, dict[str, Any]]


def credit_line(file: str, credits: dict[str, Any]) -> str:
    """``file: title, by author, licence (licence URL), source page``."""
    title = str(credits.get("title") or file).split(":", 1)[-1] if credits.get("title") else file
    author = credits.get("author") or "unknown author"
    licence = credits.get("licence") or "licence: see the source page"
    if credits.get("licence_url"):
        licence += f" ({credits['licence_url']})"
    line = f"{file}: {title}, by {author}, {licence}"
    if credits.get("page_url"):
        line += f", {credits['page_url']}"
    return line


def credits_text(entries: Iterable[Entry], heading: str = "Photos used in this video:") -> str:
    """The credits file: a heading, then one `credit_line` per photo that has credits; "" when none."""
    lines = [credit_line(f, c) for f, c in entries if c]
    if not lines:
        return ""
    return heading + "\n" + "\n".join(lines) + "\n"


def used_credits(analysis: Analysis) -> list[Entry]:
    """(file, credits) of the photos in the video that carry credits, in video order."""
    return [(p.file, p.credits) for p in analysis.usable if p.credits]


def credits_json(analysis: Analysis) -> list[dict[str, Any]]:
    """The report's ``credits``: one dict per credited photo in the video (file plus `CREDIT_KEYS`)."""
    return [{"file": f, **{k: c.get(k) for k in CREDIT_KEYS}} for f, c in used_credits(analysis)]


def write_credits(
    entries: Iterable[Entry], path: Path, heading: str = "Photos used in this video:"
) -> Path | None:
    """Write `credits_text` to `path`; None (nothing written) when no photo has credits."""
    text = credits_text(entries, heading)
    if not text:
        return None
    path.write_text(text, encoding="utf-8")
    return path


def write_credits_beside(analysis: Analysis, video: Path) -> Path | None:
    """Write ``<video stem>.credits.txt`` next to the video when any photo has credits."""
    return write_credits(used_credits(analysis), video.with_name(video.stem + ".credits.txt"))
