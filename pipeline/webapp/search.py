"""Photos by name for the page and the API: a well-known person's photos, ready to review like uploads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pipeline.errors import UsageError
from pipeline.progress import Progress
from pipeline.search import fetch_album
from pipeline.search.wikidata import parse_qid
from pipeline.webapp.files import request_dir
from pipeline.webapp.review import metadata_to_json

NAME_LIMITS = (2, 30)
DEFAULT_LIMIT = 12


@dataclass
class FoundAlbum:
    """Photos found by name.

    Attributes:
        files (list[str]): downloaded photos (in a private request folder).
        birth_date (datetime.date | None): from Wikidata.
        metadata (dict): per file name, JSON-friendly ``date``, ``date_source``,
            ``date_precision`` and ``credits``.
        name (str): what was searched.
    """

    files: list[str]
    birth_date: dt.date | None
    metadata: dict[str, dict[str, Any]]
    name: str

    def message(self) -> str:
        born = f" (born {self.birth_date.isoformat()})" if self.birth_date else ""
        dated = sum(1 for m in self.metadata.values() if m.get("date"))
        return (
            f"Found **{len(self.files)} photos** of {self.name}{born} on Wikimedia Commons, {dated} with a date. "
            "They are checked below with their credits; remove any you do not want."
        )


def find_by_name(
    name: str, *, limit: int = DEFAULT_LIMIT, progress: Progress | None = None
) -> FoundAlbum:
    """Download a well-known person's photos from Wikimedia Commons (a Wikidata ID such as Q8743 works too).

    Raises:
        UsageError: empty name or bad limit.
        UnknownNameError, AmbiguousNameError (with `candidates`), TooFewPhotosError, SearchError.
    """
    name = " ".join(str(name or "").split())
    if not name:
        raise UsageError(
            "Type a well-known person's name, e.g. Thomas Edison, or a Wikidata ID such as Q8743."
        )
    if len(name) > 120:
        raise UsageError("That name is too long; type the person's name as Wikipedia writes it.")
    lo, hi = NAME_LIMITS
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        raise UsageError(
            f"The number of photos must be a whole number from {lo} to {hi}."
        ) from None
    if not lo <= limit <= hi:
        raise UsageError(f"The number of photos must be from {lo} to {hi}; got {limit}.")
    qid = parse_qid(name)
    files, birth, metadata = fetch_album(
        name, limit=limit, qid=qid, dest=request_dir("name"), progress=progress
    )
    return FoundAlbum([str(f) for f in files], birth, metadata_to_json(metadata), name)
