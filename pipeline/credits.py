"""Attribution text for photos that came with credits (e.g. fetched from Wikimedia Commons)."""

from __future__ import annotations

from pathlib import Path

from pipeline.types import Analysis


def credits_text(analysis: Analysis) -> str:
    """One paragraph per photo used in the video that carries credits; "" when none does."""
    lines: list[str] = []
    for p in analysis.usable:
        c = p.credits or {}
        if not c:
            continue
        title = c.get("title") or p.file
        author = c.get("author") or "unknown author"
        licence = c.get("licence") or "see the source page"
        parts = [f"{title}: {author}, {licence}"]
        if c.get("licence_url"):
            parts.append(f"  licence: {c['licence_url']}")
        if c.get("page_url"):
            parts.append(f"  source: {c['page_url']}")
        lines.append("\n".join(parts))
    if not lines:
        return ""
    return "Photos used in this video:\n\n" + "\n\n".join(lines) + "\n"


def write_credits_beside(analysis: Analysis, video: Path) -> Path | None:
    """Write ``<video stem>.credits.txt`` next to the video when any photo has credits."""
    text = credits_text(analysis)
    if not text:
        return None
    path = video.with_name(video.stem + ".credits.txt")
    path.write_text(text, encoding="utf-8")
    return path
