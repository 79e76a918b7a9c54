"""A well-known person's photos as an album ready for the analysis (files, birth date, metadata)."""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pipeline.progress import Progress
from pipeline.search.fetch import fetch_photos

# How a Commons date maps onto the analysis' date sources.
_DATE_SOURCES = {"exif": "exif", "commons": "metadata", "title": "filename", "category": "metadata"}


def fetch_album(
    name: str,
    *,
    limit: int = 12,
    qid: str | None = None,
    dest: Path | None = None,
    progress: Progress | None = None,
) -> tuple[list[Path], dt.date | None, dict[str, dict[str, Any]]]:
    """Fetch a well-known person's photos from Wikimedia Commons.

    Args:
        dest: folder to download into; None makes a temporary one removed when the
            process exits (the CLI re-reads nothing afterwards).

    Returns:
        (files, birth date, metadata): `metadata` maps each file name to its
        ``date``, ``date_source``, ``date_precision`` and ``credits``, ready for
        `analyze(metadata=...)`; ``credits.txt`` lies beside the files.

    Raises:
        UnknownNameError, AmbiguousNameError, TooFewPhotosError, SearchError.
    """
    if dest is None:
        dest = Path(tempfile.mkdtemp(prefix="timelapse-name-"))
        atexit.register(shutil.rmtree, dest, ignore_errors=True)
    result = fetch_photos(name, dest, limit=limit, qid=qid, progress=progress)
    metadata: dict[str, dict[str, Any]] = {}
    for fetched in result.photos:
        photo = fetched.photo
        metadata[fetched.file] = {
            "date": photo.date,
            "date_source": _DATE_SOURCES.get(photo.date_source or "", "metadata")
            if photo.date
            else None,
            "date_precision": "day" if photo.date_precision == "day" else "year",
            "credits": fetched.credits,
        }
    return [f.path for f in result.photos], result.person.birth_date, metadata
