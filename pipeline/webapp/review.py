"""Review an album: scan once (cached), finalize with the visitor's edits, propose a selection.

Every function takes plain values (file paths, text, numbers) and returns
plain records; Gradio never appears here, so the same code serves the page,
the API and the tests. Domain problems raise `PipelineError` subclasses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.dates import parse_date
from pipeline.edits import Edits
from pipeline.errors import UsageError
from pipeline.progress import Progress
from pipeline.timelapse import Timelapse
from pipeline.types import STATUS_OK, Analysis, PhotoRecord
from pipeline.webapp.cache import ScanCache, album_key
from pipeline.webapp.messages import photo_note
from pipeline.webapp.table import prune_edits
from pipeline.webapp.uploads import MAX_VIDEO_PHOTOS, album_from_files

log = logging.getLogger(__name__)

CACHE = ScanCache(max_entries=8, ttl_s=3600)
# The page's pipeline: its scans are kept in `CACHE` (in memory, per album), not on disk, and
# run in this process (worker processes would import the app's main script).
PIPELINE = Timelapse(cache=None, workers=0)
# dlib's models are shared; scans run one at a time (finalize and renders do not wait).
_SCAN_LOCK = threading.Lock()
NOT_SELECTED = "not in the proposed selection"


def warm_up() -> threading.Thread:
    """Load the face and age models in the background so the first visitor does not wait for them."""
    from pipeline import models

    def load() -> None:
        try:
            models.load_all()
        except Exception as exc:  # the first real request reports it properly
            log.warning("model warm-up failed: %s", exc)

    thread = threading.Thread(target=load, name="warm-up", daemon=True)
    thread.start()
    return thread


def parse_birth_date(text: str | dt.date | None) -> dt.date | None:
    """The optional birth-date field: empty means unknown.

    Raises:
        UsageError: not a date, or in the future.
    """
    if text is None or isinstance(text, dt.date):
        return text
    text = str(text).strip()
    if not text:
        return None
    birth = parse_date(text, "Birth date")
    if birth > dt.date.today():
        raise UsageError(
            f"Birth date {birth} is in the future; write it as YYYY-MM-DD, e.g. 1990-06-01."
        )
    return birth


@dataclass
class Review:
    """An album after (re-)finalizing: its own finalized analysis plus what to tell the visitor.

    Attributes:
        analysis (Analysis): finalized records, safe to read while others edit the album.
        key (str): cache key of the scan.
        skipped (list[str]): files not checked at all (over the count limit).
        not_selected (list[str]): good photos left out by the proposed selection.
        scanned (bool): this call ran the slow scan (False: the cache answered).
    """

    analysis: Analysis
    key: str
    skipped: list[str] = field(default_factory=list)
    not_selected: list[str] = field(default_factory=list)
    scanned: bool = False

    @property
    def face_counts(self) -> dict[str, int]:
        return {p.file: len(p.faces) for p in self.analysis.photos}

    @property
    def unusable(self) -> list[PhotoRecord]:
        """Photos that cannot be used at all (unreadable, not an image, no face)."""
        return [p for p in self.analysis.photos if p.status != STATUS_OK]

    def left_out(self) -> list[tuple[str, str]]:
        """(file, why) for every photo that is not in the video, in a visitor's words."""
        out = [(p.file, photo_note(p, self)) for p in self.analysis.photos if not p.usable]
        out += [(name, "not checked: over the limit of photos per album") for name in self.skipped]
        return out


def review_album(
    files: Sequence[Any] | None,
    *,
    birth_date: str | dt.date | None = None,
    edits: Edits | None = None,
    prune: bool = False,
    metadata: dict[str, dict[str, Any]] | None = None,
    max_photos: int | None = MAX_VIDEO_PHOTOS,
    progress: Progress | None = None,
) -> Review:
    """Scan an album (or take its scan from the cache) and finalize it with the visitor's choices.

    With more usable photos than `max_photos`, the others are left out as a
    proposed selection (`selection.select_photos`, the CLI's too); an edit that
    keeps a photo wins.

    Args:
        files: uploaded file paths (or Gradio file dicts).
        birth_date: ``YYYY-MM-DD`` text, a date, or empty.
        edits (Edits | None): the visitor's edits.
        prune (bool): drop edit values equal to the automatic ones first (API
            callers may send back an `/analyze` answer unchanged).
        metadata (dict | None): per-file dates and credits (photos found by name).
        max_photos (int | None): most photos proposed for one video; None proposes no
            selection (a photo-a-day video shows every kept photo).
        progress (callable | None): ``progress(stage, fraction)``.

    Raises:
        NotEnoughPhotosError: no files.
        UsageError: a bad birth date or edit.
    """
    birth = parse_birth_date(birth_date)
    album = album_from_files(files)
    sources = album.sources
    meta = metadata_from_json(metadata, [s.name for s in sources])
    key = album_key(sources, extra=_digest(metadata_to_json(meta)))
    ran = False

    def do_scan() -> Analysis:
        nonlocal ran
        if progress and _SCAN_LOCK.locked():
            progress("waiting for another album's analysis", 0.0)
        with _SCAN_LOCK:
            ran = True
            # In this process: worker processes would import the app's main script.
            return PIPELINE.scan(sources, metadata=meta, progress=progress)

    with CACHE.use(key, do_scan) as shared:
        if prune and edits and edits.photos:
            # Edits equal to the automatic values (an /analyze answer sent back) are no edits.
            edits = prune_edits(edits, PIPELINE.finalize(shared, birth_date=birth).analysis)
        done = PIPELINE.finalize(
            shared, birth_date=birth, edits=edits, limit=max_photos, progress=progress
        )
    # `done.analysis` is this request's own: finalize leaves the shared scan as it was.
    return Review(done.analysis, key, album.skipped, list(done.not_selected), ran)


def metadata_to_json(metadata: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Per-file metadata with dates as ISO text (for page state and cache keys)."""
    out: dict[str, dict[str, Any]] = {}
    for name, meta in (metadata or {}).items():
        m = dict(meta or {})
        if isinstance(m.get("date"), dt.date):
            m["date"] = m["date"].isoformat()
        out[str(name)] = m
    return out


def metadata_from_json(
    metadata: dict[str, dict[str, Any]] | None, names: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Per-file metadata with `date` objects, for the files present (`names`) only."""
    out: dict[str, dict[str, Any]] = {}
    keep = set(names) if names is not None else None
    for name, meta in (metadata or {}).items():
        if keep is not None and name not in keep:
            continue
        m = dict(meta or {})
        if isinstance(m.get("date"), str) and m["date"]:
            try:
                m["date"] = dt.date.fromisoformat(m["date"][:10])
            except ValueError:
                m["date"] = None
        out[str(name)] = m
    return out


def _digest(value: Any) -> str:
    if not value:
        return ""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
