"""Album analysis: from photos to an ordered, checked list of aligned faces.

Two phases:

* `scan` reads every photo once (`pipeline.scan`: in worker processes, or
  from the on-disk `scan_cache`), detects faces, landmarks and identity
  descriptors, aligns the largest face at `SCAN_SIZE`, estimates its age and
  reports duplicates. Only the aligned crops are kept, never the
  full-resolution photos, and those in a `CropStore` (a temporary file
  without a name) rather than in memory, so memory stays flat in the album's
  size; each is read back when rendering, the review or the age model asks.
* `finalize` is cheap and can run again whenever the user changes something
  (birth date, ages, include, which face): it chooses the target person,
  flags photos, and hands dating, ageing and ordering to `pipeline.timeline`.
  It returns a new `Analysis` made from copies of the scan's records: the
  scan's result never changes after the scan, and two finalizes of one scan
  (say, with different edits) are independent.

`analyze` does both.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from typing import Any

from pipeline import age as age_model
from pipeline import faces as face_ops
from pipeline import models, timeline
from pipeline import scan as scan_ops
from pipeline.codes import Status
from pipeline.crop_store import AlignedCrop
from pipeline.dates import filename_date
from pipeline.duplicates import DuplicateFinder, keep_best_copies
from pipeline.edits import Edits
from pipeline.errors import BadImageError, NotEnoughPhotosError, UsageError
from pipeline.identity import choose_target
from pipeline.photos import collect_sources, load_photo
from pipeline.progress import Progress
from pipeline.scan import ScanSettings
from pipeline.scan_cache import DiskScanCache, content_hash
from pipeline.sizes import SCAN_SIZE
from pipeline.types import STATUS_OK, AlignedFace, Analysis, PhotoRecord, ScanState

log = logging.getLogger(__name__)

IDENTITY_THRESHOLD = 0.6
# Crops aged per call of the age model when finalize ages faces the scan did not.
AGE_BATCH = 16


def analyze(
    sources: Any,
    *,
    birth_date: dt.date | None = None,
    edits: Edits | None = None,
    use_cnn: bool = False,
    metadata: dict[str, dict[str, Any]] | None = None,
    progress: Progress | None = None,
    cache: DiskScanCache | None = None,
    workers: int | None = None,
) -> Analysis:
    """Analyse an album.

    Args:
        sources: a folder, a file, or a list of files / (name, image) pairs / images.
        birth_date (date | None): gives exact ages for photos with a capture date.
        edits (Edits | None): user edits; they win over everything automatic.
        use_cnn (bool): run dlib's CNN detector on photos where HOG finds no face.
        metadata (dict | None): per file name, ``date`` (date) and ``credits``
            (dict), e.g. for photos fetched by name.
        progress (callable | None): ``progress(stage, fraction)``.
        cache (DiskScanCache | None): per-photo scans kept on disk (see `scan_cache`).
        workers (int | None): scan worker processes (see `scan.run_scans`).

    Returns:
        Analysis: every photo, none dropped, in video order; faces aligned at `SCAN_SIZE`.

    Raises:
        UsageError: bad settings.
        NotEnoughPhotosError: the album is empty.
    """
    analysis = scan(
        sources, use_cnn=use_cnn, metadata=metadata, progress=progress, cache=cache, workers=workers
    )
    return finalize(analysis, birth_date=birth_date, edits=edits, progress=progress)


def scan(
    sources: Any,
    *,
    use_cnn: bool = False,
    metadata: dict[str, dict[str, Any]] | None = None,
    progress: Progress | None = None,
    cache: DiskScanCache | None = None,
    workers: int | None = None,
) -> Analysis:
    """Read every photo, find faces and align the largest one (see module docstring)."""
    report = progress or (lambda stage, fraction: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    items = collect_sources(sources)
    if not items:
        raise NotEnoughPhotosError(0, 0)
    settings = ScanSettings(use_cnn=use_cnn, size=SCAN_SIZE)
    report("loading models", 0.0)
    models.load_all()
    timings["load_models"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    state = ScanState(sources={s.name: s for s in items}, use_cnn=use_cnn)
    metadata = metadata or {}
    outcomes: dict[int, tuple[scan_ops.PhotoScan, AlignedCrop | None]] = {}
    if cache is not None:
        for i, src in enumerate(items):
            hit = cache.get(content_hash(src))
            if hit is not None:
                outcomes[i] = (hit, _keep_crop(hit, state))
    todo = [i for i in range(len(items)) if i not in outcomes]
    fresh = scan_ops.run_scans([items[i] for i in todo], settings, workers=workers)
    dups = DuplicateFinder()
    records: list[PhotoRecord] = []
    for i, src in enumerate(items):
        report("finding faces", i / len(items))
        crop: AlignedCrop | None = None
        if i not in outcomes:
            outcome = next(fresh)
            if isinstance(outcome, scan_ops.PhotoScan):
                if cache is not None:
                    cache.put(outcome)
                crop = _keep_crop(outcome, state)
        else:
            outcome, crop = outcomes.pop(i)
        # The record is being built here, by the scan that owns it; after `scan` returns
        # nothing changes it (finalize works on copies).
        rec = PhotoRecord(file=src.name, path=str(src.path) if src.path else None)
        meta = metadata.get(src.name) or {}
        rec.credits = meta.get("credits")
        records.append(rec)
        if isinstance(outcome, BadImageError):
            rec.status, rec.message = outcome.code, str(outcome)
            rec.include = False
            continue
        _apply_scan(rec, outcome, crop, meta, state)
        if outcome.signature is not None:
            rec.duplicate_of = dups.check(src.name, outcome.sha256, outcome.signature)
    report("finding faces", 1.0)
    timings["scan"] = time.perf_counter() - t1
    if cache is not None:
        timings["cached_photos"] = float(len(items) - len(todo))
    state.scanned = {rec.file: rec for rec in records}
    return Analysis(photos=records, size=SCAN_SIZE, timings=timings, state=state)


def _keep_crop(found: scan_ops.PhotoScan, state: ScanState) -> AlignedCrop | None:
    """Move the scan's crop of face 0 into the store (the scan keeps no pixels)."""
    if found.crop is None or found.crop_landmarks is None:
        return None
    crop = state.store.put(found.crop, found.crop_landmarks)
    found.crop = None
    return crop


def _apply_scan(
    rec: PhotoRecord,
    found: scan_ops.PhotoScan,
    crop: AlignedCrop | None,
    meta: dict[str, Any],
    state: ScanState,
) -> None:
    """Fill a record from its photo's scan: size, hash, date, faces, the crop (`crop`, face 0's,
    already in the store) and age of face 0."""
    rec.sha256 = found.sha256
    rec.width, rec.height = found.width, found.height

    # A date that came with the photo (e.g. Commons' record, already checked
    # against the person's life) beats the file's own EXIF, which for scans
    # is the scan date.
    precision = "day"
    if meta.get("date"):
        rec.date, rec.date_source = meta["date"], str(meta.get("date_source") or "metadata")
        precision = str(meta.get("date_precision") or "day")
    elif found.exif_date is not None:
        rec.date, rec.date_source = found.exif_date, "exif"
    else:
        d, precision = filename_date(rec.file)
        if d is not None:
            rec.date, rec.date_source = d, "filename"
    if found.exif_note:
        rec.message = found.exif_note
    rec.date_precision = precision if rec.date else ""

    # Copies: the record's faces are not the cached scan's (`PhotoScan`, kept on disk and reused).
    rec.faces = [
        dataclasses.replace(f, flags=list(f.flags), reasons=list(f.reasons)) for f in found.faces
    ]
    if not rec.faces:
        # The code says it all; each audience words it in its own table
        # (`webapp.messages.STATUS_NOTES`, `commands.messages.STATUS_WORDS`).
        rec.status, rec.message = Status.NO_FACE, ""
        rec.include = False
        return
    # The largest face was aligned (and aged) during the scan; another face is
    # aligned later only if it turns out to be the target (rare: group photos).
    if crop is not None:
        state.faces[(rec.file, 0)] = AlignedFace(crop, found.age)


def finalize(
    analysis: Analysis,
    *,
    birth_date: dt.date | None = None,
    edits: Edits | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """Choose the target, flag, date, age and order the photos; cheap, safe to call again.

    Works on fresh copies of the scan's records (`ScanState.scanned`) of the photos in
    `analysis` (a scan, or an earlier finalize of it: its order is kept as the input order),
    never on the records `analysis` holds: the scan stays as it was, and each call's result
    is its own.

    Returns:
        Analysis: a new analysis (sharing the scan's read-only `state`) in video order.

    Raises:
        UsageError: an edit names a face that does not exist.
    """
    state = analysis.state
    if state is None:  # records made by hand, not by `scan`: nothing to finalize from
        raise ValueError("finalize needs an analysis made by scan (its state holds the faces)")
    edits = edits or Edits()
    t0 = time.perf_counter()
    photos = [_from_scan(state, p.file) for p in analysis.photos]
    birth = birth_date or edits.birth_date
    for name in edits.unknown_files([p.file for p in photos]):
        log.warning("edits name %s, which is not in the album", name)

    ok = [p for p in photos if p.status == STATUS_OK and p.faces]
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
    # Whether each face matches the person: this finalize's own finding, not kept in the state.
    matched: dict[str, bool] = {}
    for p, chosen, dist, same in zip(ok, choice.chosen, choice.distances, choice.matched):
        p.chosen_face, p.identity_distance = chosen, dist
        matched[p.file] = same

    _align_chosen(photos, analysis.size, state, progress)
    _estimate_ages(photos, state)

    for p in photos:
        _apply_edits(p, edits, state)
    check = timeline.check_identity(
        ok, matched, birth=birth,
        chosen_by_user={p.file for p, face in zip(ok, preferred) if face is not None},
    )  # fmt: skip
    limit: float | None = None
    if check is not None:
        limit = check.limit
        matched.update(check.matched)
        for p in ok:
            if p.file in check.distances:
                p.identity_distance, p.identity_limit = check.distances[p.file], check.limit
    kept = keep_best_copies(photos)
    for p in photos:
        p.duplicate_of = kept.get(p.file, p.duplicate_of)
        _flag(p, edits, matched, len(ok), limit)
    placed = timeline.place_photos(photos, birth_date=birth)
    return dataclasses.replace(
        analysis,
        photos=timeline.order_photos(placed.photos),
        birth_date=birth,
        birth_estimate=placed.birth_estimate,
        timings={**analysis.timings, "finalize": time.perf_counter() - t0},
    )


def _from_scan(state: ScanState, file: str) -> PhotoRecord:
    """A copy of the scan's record of `file` that this finalize may change."""
    scanned = state.scanned.get(file)
    if scanned is None:
        raise ValueError(f"finalize: {file} is not in the scan this analysis was made from")
    return scanned.copy()


def _align_chosen(
    photos: list[PhotoRecord], size: int, state: ScanState, progress: Progress | None
) -> None:
    """Align the chosen face where it is not the one aligned during the scan (into the state's
    crops, the scan's own cache); a photo that cannot be read again is marked so in `photos`."""
    todo = [
        p for p in photos
        if p.chosen_face is not None and (p.file, p.chosen_face) not in state.faces
    ]  # fmt: skip
    for i, p in enumerate(todo):
        if progress:
            progress("aligning faces", i / len(todo))
        try:
            loaded = load_photo(state.sources[p.file])
        except BadImageError as exc:  # the file changed or vanished since the scan
            p.status, p.message, p.chosen_face = exc.code, str(exc), None
            continue
        image, landmarks = face_ops.align_face(loaded.image, p.faces[p.chosen_face].landmarks, size)
        state.faces[(p.file, p.chosen_face)] = AlignedFace(state.store.put(image, landmarks))


def _estimate_ages(photos: list[PhotoRecord], state: ScanState) -> None:
    """Age estimates (into the state, beside the scan's) of chosen faces the scan did not age."""
    keys = [(p.file, p.chosen_face) for p in photos if p.chosen_face is not None]
    todo = [k for k in keys if k in state.faces and state.faces[k].age is None]
    # Few (faces other than the one the scan aged); in batches so that few crops are read at once.
    for start in range(0, len(todo), AGE_BATCH):
        batch = todo[start : start + AGE_BATCH]
        crops = [state.faces[k].crop for k in batch]
        estimates = age_model.estimate_ages([c.image for c in crops], [c.landmarks for c in crops])
        for k, age in zip(batch, estimates):
            state.faces[k] = dataclasses.replace(state.faces[k], age=age)


def _apply_edits(p: PhotoRecord, edits: Edits, state: ScanState) -> None:
    """Crop, raw age estimate, date and edited age of one photo (`p`: this finalize's copy of
    the scan's record, whose date is the scan's; the timeline does the rest)."""
    edit = edits.get(p.file)
    p.crop, p.age_estimate = None, None
    if p.status == STATUS_OK and p.chosen_face is not None:
        face = state.faces.get((p.file, p.chosen_face))
        if face is not None:
            p.crop, p.age_estimate = face.crop, face.age
    if edit.date is not None:
        p.date, p.date_source, p.date_precision = edit.date, "edit", "day"
    p.age, p.age_source, p.order_source = (
        (edit.age, "edit", "edit") if edit.age is not None else (None, None, None)
    )


def _flag(
    p: PhotoRecord, edits: Edits, matched: dict[str, bool], n_ok: int, limit: float | None
) -> None:
    """Removal recommendations (another person, a duplicate, no usable face) and
    warnings (small or side-on face: the photo stays in); then include."""
    reasons: list[str] = []
    p.warnings = []
    if p.status != STATUS_OK:
        reasons.append(p.message or p.status)
    elif p.chosen_face is not None:
        if not matched.get(p.file, True) and n_ok > 1:
            how = (
                "the photos of similar age"
                if limit is not None
                else "the person seen in most photos"
            )
            reasons.append(
                f"probably another person: the face is far from {how} (distance {p.identity_distance:.2f}, "
                f"limit {limit if limit is not None else IDENTITY_THRESHOLD:.2f}); keep it only if it is them"
            )
        if limit is None:
            p.identity_limit = IDENTITY_THRESHOLD
        p.warnings.extend(p.faces[p.chosen_face].reasons)
    if p.duplicate_of:
        reasons.append(f"duplicate of {p.duplicate_of} (the better copy is kept)")
    p.recommended_remove = bool(reasons) and p.status in (Status.OK, Status.NO_FACE)
    p.reason = "; ".join(reasons)
    edit = edits.get(p.file)
    usable = p.status == STATUS_OK and p.chosen_face is not None and p.crop is not None
    p.include = usable and (edit.include if edit.include is not None else not p.recommended_remove)
