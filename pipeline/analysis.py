"""Album analysis: from photos to an ordered, checked list of aligned faces.

Two phases:

* `scan` reads every photo once (decoding runs one photo ahead in a thread),
  detects faces, landmarks and identity descriptors, aligns the largest face
  and reports duplicates. Only the aligned crops are kept, never the
  full-resolution photos, so memory stays flat in the album's size.
* `finalize` is cheap and can run again whenever the user changes something
  (birth date, ages, include, which face): it chooses the target person,
  flags photos, and hands dating, ageing and ordering to `pipeline.timeline`.

`analyze` does both.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline import age as age_model
from pipeline import faces as face_ops
from pipeline import models, timeline
from pipeline.dates import exif_date, filename_date
from pipeline.duplicates import DuplicateFinder, keep_best_copies, signature
from pipeline.edits import Edits
from pipeline.errors import BadImageError, NotEnoughPhotosError, UsageError
from pipeline.identity import choose_target
from pipeline.photos import LoadedPhoto, PhotoSource, collect_sources, load_photo
from pipeline.progress import Progress
from pipeline.types import STATUS_OK, Analysis, PhotoRecord

log = logging.getLogger(__name__)

SIZES = (256, 512, 1024)
IDENTITY_THRESHOLD = 0.6


@dataclass
class ScanState:
    """What `finalize` needs besides the records: sources and aligned crops per face."""

    sources: dict[str, PhotoSource] = field(default_factory=dict)
    crops: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    ages: dict[tuple[str, int], float] = field(default_factory=dict)
    date_precision: dict[str, str] = field(default_factory=dict)
    matched: dict[str, bool] = field(default_factory=dict)
    # (date, source, precision) as the scan found them, so that a date edit
    # taken back restores them.
    scan_dates: dict[str, tuple[dt.date | None, str | None, str]] = field(default_factory=dict)
    use_cnn: bool = False


def analyze(
    sources: Any,
    *,
    birth_date: dt.date | None = None,
    edits: Edits | None = None,
    size: int = 512,
    use_cnn: bool = False,
    metadata: dict[str, dict[str, Any]] | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """Analyse an album.

    Args:
        sources: a folder, a file, or a list of files / (name, image) pairs / images.
        birth_date (date | None): gives exact ages for photos with a capture date.
        edits (Edits | None): user edits; they win over everything automatic.
        size (int): side of the aligned crops: 256, 512 or 1024.
        use_cnn (bool): run dlib's CNN detector on photos where HOG finds no face.
        metadata (dict | None): per file name, ``date`` (date) and ``credits``
            (dict), e.g. for photos fetched by name.
        progress (callable | None): ``progress(stage, fraction)``.

    Returns:
        Analysis: every photo, none dropped, in video order.

    Raises:
        UsageError: bad settings.
        NotEnoughPhotosError: the album is empty.
    """
    analysis = scan(sources, size=size, use_cnn=use_cnn, metadata=metadata, progress=progress)
    return finalize(analysis, birth_date=birth_date, edits=edits, progress=progress)


def check_size(size: int) -> int:
    if size not in SIZES:
        raise UsageError(f"Size {size} is not supported; choose 256, 512 or 1024.")
    return int(size)


def scan(
    sources: Any,
    *,
    size: int = 512,
    use_cnn: bool = False,
    metadata: dict[str, dict[str, Any]] | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """Read every photo, find faces and align the largest one (see module docstring)."""
    check_size(size)
    report = progress or (lambda stage, fraction: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    items = collect_sources(sources)
    if not items:
        raise NotEnoughPhotosError(0, 0)
    report("loading models", 0.0)
    models.load_all()
    timings["load_models"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    state = ScanState(sources={s.name: s for s in items}, use_cnn=use_cnn)
    dups = DuplicateFinder()
    records: list[PhotoRecord] = []
    metadata = metadata or {}
    for i, (src, decoded) in enumerate(_prefetch(items)):
        report("finding faces", i / len(items))
        rec = PhotoRecord(file=src.name, path=str(src.path) if src.path else None)
        meta = metadata.get(src.name) or {}
        rec.credits = meta.get("credits")
        records.append(rec)
        if isinstance(decoded, BadImageError):
            rec.status, rec.message = decoded.code, str(decoded)
            rec.include = False
            continue
        loaded, sig = decoded
        _scan_photo(rec, loaded, meta, size, state)
        rec.duplicate_of = dups.check(src.name, loaded.sha256, sig)
        del loaded, decoded
    report("finding faces", 1.0)
    timings["scan"] = time.perf_counter() - t1
    return Analysis(photos=records, size=size, timings=timings, state=state)


Decoded = tuple[LoadedPhoto, np.ndarray] | BadImageError


def _prefetch(items: list[PhotoSource], ahead: int = 2) -> Iterator[tuple[PhotoSource, Decoded]]:
    """Decode photos (and their duplicate signatures) `ahead` photos in advance in worker
    threads; Pillow and OpenCV release the GIL, so this overlaps with face detection.
    At most `ahead` + 1 full-resolution photos are in memory at once."""

    def load(src: PhotoSource) -> Decoded:
        try:
            loaded = load_photo(src)
            return loaded, signature(loaded.image)
        except BadImageError as exc:
            return exc
        except MemoryError:
            return BadImageError("too_large", f"{src.name}: not enough memory to decode this photo; downscale it.")

    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="decode") as pool:
        pending: deque[Future] = deque(pool.submit(load, s) for s in items[:ahead])
        for i, src in enumerate(items):
            current = pending.popleft().result()
            if i + ahead < len(items):
                pending.append(pool.submit(load, items[i + ahead]))
            yield src, current
            del current


def _scan_photo(rec: PhotoRecord, loaded: LoadedPhoto, meta: dict[str, Any], size: int, state: ScanState) -> None:
    image = loaded.image
    rec.sha256 = loaded.sha256
    rec.height, rec.width = image.shape[:2]

    # A date that came with the photo (e.g. Commons' record, already checked
    # against the person's life) beats the file's own EXIF, which for scans
    # is the scan date.
    d, note = exif_date(loaded.exif)
    precision = "day"
    if meta.get("date"):
        rec.date, rec.date_source = meta["date"], str(meta.get("date_source") or "metadata")
        precision = str(meta.get("date_precision") or "day")
    elif d is not None:
        rec.date, rec.date_source = d, "exif"
    else:
        d, precision = filename_date(rec.file)
        if d is not None:
            rec.date, rec.date_source = d, "filename"
    if note:
        rec.message = note
    state.date_precision[rec.file] = precision if rec.date else ""

    rec.faces = face_ops.detect_faces(image, use_cnn=state.use_cnn)
    if not rec.faces:
        rec.status = "no_face"
        rec.message = f"{rec.file}: no face found; use a photo where the face is clearly visible."
        rec.include = False
        return
    face_ops.compute_descriptors(image, rec.faces)
    # Align the largest face now, while the photo is in memory; another face is
    # aligned later only if it turns out to be the target (rare: group photos).
    state.crops[(rec.file, 0)] = face_ops.align_face(image, rec.faces[0].landmarks, size)


def finalize(
    analysis: Analysis,
    *,
    birth_date: dt.date | None = None,
    edits: Edits | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """Choose the target, flag, date, age and order the photos; cheap, safe to call again.

    Raises:
        UsageError: an edit names a face that does not exist.
    """
    state: ScanState = analysis.state
    edits = edits or Edits()
    t0 = time.perf_counter()
    analysis.birth_date = birth_date or edits.birth_date
    for name in edits.unknown_files([p.file for p in analysis.photos]):
        log.warning("edits name %s, which is not in the album", name)

    ok = [p for p in analysis.photos if p.status == STATUS_OK and p.faces]
    preferred: list[int | None] = []
    for p in ok:
        face = edits.get(p.file).face
        if face is not None and face >= len(p.faces):
            raise UsageError(
                f"{p.file}: face {face} does not exist; this photo has {len(p.faces)} face(s), numbered from 0."
            )
        preferred.append(face)
    choice = choose_target(
        [[f.descriptor for f in p.faces if f.descriptor is not None] for p in ok],
        threshold=IDENTITY_THRESHOLD,
        preferred=preferred,
    )
    for p, chosen, dist, matched in zip(ok, choice.chosen, choice.distances, choice.matched):
        p.chosen_face, p.identity_distance = chosen, dist
        state.matched[p.file] = matched

    _align_chosen(analysis, state, progress)
    _estimate_ages(analysis, state)

    for p in analysis.photos:
        _apply_edits(p, edits, state)
    limit = timeline.check_identity(
        ok, state.matched, birth=analysis.birth_date,
        chosen_by_user={p.file for p, face in zip(ok, preferred) if face is not None},
    )  # fmt: skip
    keep_best_copies(analysis.photos, {p.file: p.aligned for p in analysis.photos if p.aligned is not None})
    for p in analysis.photos:
        _flag(p, edits, state, len(ok), limit)
    analysis.birth_estimate = timeline.place_photos(analysis.photos, birth_date=analysis.birth_date)
    timeline.order_photos(analysis)
    analysis.timings["finalize"] = time.perf_counter() - t0
    return analysis


def _align_chosen(analysis: Analysis, state: ScanState, progress: Progress | None) -> None:
    """Align the chosen face where it is not the one aligned during the scan."""
    todo = [
        p for p in analysis.photos
        if p.chosen_face is not None and (p.file, p.chosen_face) not in state.crops
    ]  # fmt: skip
    for i, p in enumerate(todo):
        if progress:
            progress("aligning faces", i / len(todo))
        try:
            loaded = load_photo(state.sources[p.file])
        except BadImageError as exc:  # the file changed or vanished since the scan
            p.status, p.message, p.chosen_face = exc.code, str(exc), None
            continue
        state.crops[(p.file, p.chosen_face)] = face_ops.align_face(
            loaded.image, p.faces[p.chosen_face].landmarks, analysis.size
        )


def _estimate_ages(analysis: Analysis, state: ScanState) -> None:
    keys = [(p.file, p.chosen_face) for p in analysis.photos if p.chosen_face is not None]
    todo = [k for k in keys if k not in state.ages and k in state.crops]
    if todo:
        crops = [state.crops[k] for k in todo]
        estimates = age_model.estimate_ages([c[0] for c in crops], [c[1] for c in crops])
        state.ages.update(zip(todo, estimates))


def _apply_edits(p: PhotoRecord, edits: Edits, state: ScanState) -> None:
    """Crop, raw age estimate, date and edited age of one photo (the timeline does the rest)."""
    edit = edits.get(p.file)
    p.aligned, p.aligned_landmarks, p.age_estimate = None, None, None
    if p.status == STATUS_OK and p.chosen_face is not None:
        key = (p.file, p.chosen_face)
        p.aligned, p.aligned_landmarks = state.crops.get(key, (None, None))
        p.age_estimate = state.ages.get(key)
    scanned = state.scan_dates.setdefault(p.file, (p.date, p.date_source, state.date_precision.get(p.file, "")))
    p.date, p.date_source, precision = (edit.date, "edit", "day") if edit.date is not None else scanned
    p.date_precision = precision if p.date else ""
    p.age, p.age_source, p.order_source = (edit.age, "edit", "edit") if edit.age is not None else (None, None, None)


def _flag(p: PhotoRecord, edits: Edits, state: ScanState, n_ok: int, limit: float | None) -> None:
    """Removal recommendations (another person, a duplicate, no usable face) and
    warnings (small or side-on face: the photo stays in); then include."""
    reasons: list[str] = []
    p.warnings = []
    if p.status != STATUS_OK:
        reasons.append(p.message or p.status)
    elif p.chosen_face is not None:
        if not state.matched.get(p.file, True) and n_ok > 1:
            how = "the photos of similar age" if limit is not None else "the person seen in most photos"
            reasons.append(
                f"probably another person: the face is far from {how} (distance {p.identity_distance:.2f}, "
                f"limit {limit if limit is not None else IDENTITY_THRESHOLD:.2f}); keep it only if it is them"
            )
        if limit is None:
            p.identity_limit = IDENTITY_THRESHOLD
        p.warnings.extend(p.faces[p.chosen_face].reasons)
    if p.duplicate_of:
        reasons.append(f"duplicate of {p.duplicate_of} (the better copy is kept)")
    p.recommended_remove = bool(reasons) and p.status in (STATUS_OK, "no_face")
    p.reason = "; ".join(reasons)
    edit = edits.get(p.file)
    usable = p.status == STATUS_OK and p.chosen_face is not None and p.aligned is not None
    p.include = usable and (edit.include if edit.include is not None else not p.recommended_remove)
