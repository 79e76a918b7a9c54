"""Scanning photos: what the analysis learns from each photo's pixels, once per photo.

`scan_photo` does one photo: decode it (a big JPEG at a reduced scale, see
below), find the faces, their landmarks and identity descriptors, align the
largest face at `SCAN_SIZE` and estimate its age on that crop. The result, a
`PhotoScan`, depends only on the photo's bytes and the `ScanSettings`, so
`scan_cache` can keep it under the photo's content hash.

`scan_photos` runs it over an album in order: photos in the cache are read
back, the others are scanned in worker processes (dlib's landmark model and
ResNet hold the GIL, so threads cannot keep two cores busy), a few photos in
flight at a time so memory stays flat in the album's size.

Reduced decoding: a 12 MP JPEG is decoded at half scale (about 2000 px), an
eighth of the work of a full decode; detection runs on a 1280 px copy of that
anyway. Landmarks, descriptors and the crop come from the reduced image when
every face in it is still at least `SCAN_SIZE` across; otherwise (small faces
in a big photo, or no face found) the photo is decoded in full and measured
there, exactly as a full scan would, so small faces lose nothing (the reduced
decode only gets the first, 1280 px pass: where it finds nothing, the full
photo's search repeats that pass and goes on to bigger copies). The search
itself is not repeated when the faces were found on a copy of the size a
full scan's first pass searches (1280 px: the same copy, only made from the
reduced decode): their boxes are scaled from that copy. Big faces measured
on the reduced image get landmarks that differ from a full decode's by up to
about 1 % of the face (dlib's first landmark estimate reads raw pixels), well
under a pixel of the 512 px crop at the eyes; photos under 2560 px, PNGs and
other formats are always decoded in full.

Workers are started by a fork server. Like any `multiprocessing` child they
import the parent's main script, so scripts that scan albums keep their work
under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime as dt
import json
import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import numpy as np

from pipeline import age as age_model
from pipeline import faces as face_ops
from pipeline import models
from pipeline.codes import Status
from pipeline.dates import exif_date
from pipeline.duplicates import signature
from pipeline.errors import BadImageError
from pipeline.faces.alignment import BOX_SIDE
from pipeline.faces.detection import copy_size, first_copy_size
from pipeline.photos import LoadedPhoto, PhotoSource, load_photo
from pipeline.sizes import SCAN_SIZE
from pipeline.types import FaceRecord

log = logging.getLogger(__name__)

# Bump when a change to the scan changes its results: cached scans of older
# versions are then ignored.
SCAN_VERSION = 2  # 2: the duplicate signature's thumbnail is made in two whole-factor steps
# Longest side a JPEG is decoded at for detection (the detector's copy is 1280 px).
DECODE_SIDE = 1280
# Below this many photos to scan, worker processes cost more than they save.
MIN_PARALLEL = 4


@dataclass(frozen=True)
class ScanSettings:
    """Everything that changes what a scan finds (part of the cache key).

    Attributes:
        use_cnn (bool): run dlib's CNN detector where HOG finds no face.
        size (int): side of the aligned crop kept per face.
    """

    use_cnn: bool = False
    size: int = SCAN_SIZE

    def key(self) -> str:
        """A stable text naming these settings and the scan's version."""
        return json.dumps({"version": SCAN_VERSION, **dataclasses.asdict(self)}, sort_keys=True)


@dataclass
class PhotoScan:
    """What one photo's content yields (no file name: the same bytes give the same scan).

    Attributes:
        sha256 (str): hash of the file's bytes (of the pixels for in-memory images).
        width, height (int): the full EXIF-rotated photo's size.
        exif_date (datetime.date | None): capture date from EXIF.
        exif_note (str): why an EXIF date present in the file was not used.
        signature: `duplicates.signature` of the photo.
        faces (list[FaceRecord]): every face, largest first, with descriptors.
        crop (np.ndarray | None): [size, size, 3] uint8 FFHQ crop of face 0.
        crop_landmarks (np.ndarray | None): [68, 2] float32 landmarks in `crop`.
        age (float | None): age estimate of face 0 on `crop`.
        seconds (float): time the scan took (cache hits keep the original's).
    """

    sha256: str
    width: int
    height: int
    exif_date: dt.date | None = None
    exif_note: str = ""
    signature: tuple[float, np.ndarray] | None = None
    faces: list[FaceRecord] = field(default_factory=list)
    crop: np.ndarray | None = field(default=None, repr=False)
    crop_landmarks: np.ndarray | None = field(default=None, repr=False)
    age: float | None = None
    seconds: float = 0.0


def _needs_full(loaded: LoadedPhoto, found: list[face_ops.Detection], size: int) -> bool:
    """Whether the faces need more pixels than the reduced decode has."""
    if loaded.full_size is None:
        return False
    if not found:
        return True  # search the full photo before giving up, as for any photo
    smallest = min(d.width for d in found) / BOX_SIDE  # FFHQ crop side in the reduced image
    return smallest < size


def _same_copy(loaded: LoadedPhoto, found: list[face_ops.Detection]) -> bool:
    """Whether every face was found on a copy of the size the full photo's first pass searches."""
    assert loaded.full_size is not None
    wanted = first_copy_size(*loaded.full_size)
    return all(
        d.detector == "hog" and copy_size(d, loaded.width, loaded.height) == wanted for d in found
    )


def scan_loaded(
    loaded: LoadedPhoto, settings: ScanSettings, source: PhotoSource | None = None
) -> PhotoScan:
    """Scan a decoded photo (see `scan_photo`); decodes it again in full if its faces need it."""
    start = time.perf_counter()
    image = loaded.image
    # On a reduced decode only the first pass runs: when it finds nothing, the full
    # decode below searches as a full scan would (bigger copies, CNN fallback), so the
    # reduced image's own retries would be wasted (a 2000 px pass costs about 0.4 s).
    reduced = loaded.full_size is not None and source is not None
    found = face_ops.find_faces(image, use_cnn=settings.use_cnn, retry=not reduced)
    if _needs_full(loaded, found, settings.size) and source is not None:
        log.debug(
            "%s: decoding in full (%s at 1/%d scale)",
            source.name,
            "faces small" if found else "no face found",
            round(1 / loaded.scale),
        )
        full = load_photo(source)
        if found and _same_copy(loaded, found):
            # Found on the copy a search of the full photo makes too (same size, made
            # from the reduced decode instead): its boxes, scaled from that copy, are the
            # full search's (checked on 15 of 16 phone photos; the 16th only differed by
            # a weak extra detection).
            found = [d.scaled(1.0 / loaded.scale) for d in found]
        else:
            found = face_ops.find_faces(full.image, use_cnn=settings.use_cnn)
        loaded, image = full, full.image
    to_photo = 1.0 / loaded.scale
    faces = face_ops.describe_faces(image, found, to_photo=to_photo)
    local = [
        ((f.landmarks.astype(np.float64) + 0.5) / to_photo - 0.5)
        if to_photo != 1.0
        else f.landmarks
        for f in faces
    ]
    face_ops.compute_descriptors(image, faces, landmarks=local)
    width, height = loaded.full_size or (loaded.width, loaded.height)
    date, note = exif_date(loaded.exif)
    result = PhotoScan(
        sha256=loaded.sha256,
        width=int(width),
        height=int(height),
        exif_date=date,
        exif_note=note,
        signature=signature(image),
        faces=faces,
    )
    if faces:
        crop, crop_lm = face_ops.align_face(image, local[0], settings.size)
        result.crop, result.crop_landmarks = crop, crop_lm
        result.age = age_model.estimate_ages([crop], [crop_lm])[0]
    result.seconds = time.perf_counter() - start
    return result


def _decode(source: PhotoSource) -> LoadedPhoto | BadImageError:
    try:
        return load_photo(source, min_side=DECODE_SIDE)
    except BadImageError as exc:
        return exc
    except MemoryError:
        return BadImageError(
            Status.TOO_LARGE,
            f"{source.name}: not enough memory to decode this photo; downscale it.",
        )


def _scan_decoded(
    source: PhotoSource, loaded: LoadedPhoto | BadImageError, settings: ScanSettings
) -> PhotoScan | BadImageError:
    if isinstance(loaded, BadImageError):
        return loaded
    try:
        return scan_loaded(loaded, settings, source)
    except BadImageError as exc:  # the file changed between the two decodes
        return exc


def scan_photo(source: PhotoSource, settings: ScanSettings) -> PhotoScan | BadImageError:
    """Decode and scan one photo; a photo that cannot be read gives its `BadImageError`."""
    return _scan_decoded(source, _decode(source), settings)


def _scan_here(
    sources: list[PhotoSource], settings: ScanSettings
) -> Iterator[PhotoScan | BadImageError]:
    """Scan in this process, decoding the next photo in a thread meanwhile (Pillow releases the
    GIL), so at most two decoded photos are in memory."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        ahead: Future | None = pool.submit(_decode, sources[0]) if sources else None
        for i, src in enumerate(sources):
            assert ahead is not None
            loaded = ahead.result()
            ahead = pool.submit(_decode, sources[i + 1]) if i + 1 < len(sources) else None
            yield _scan_decoded(src, loaded, settings)
            del loaded


# ---------------------------------------------------------------- worker processes

_POOL: ProcessPoolExecutor | None = None
_POOL_WORKERS = 0
_POOL_LOCK = threading.Lock()


def default_workers() -> int:
    """Worker processes for big albums: one per core this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _init_worker() -> None:
    models.load_all()


def _pool(workers: int) -> ProcessPoolExecutor:
    """A process pool kept for the life of the process (models load once per worker)."""
    global _POOL, _POOL_WORKERS
    with _POOL_LOCK:
        if _POOL is None or workers != _POOL_WORKERS:
            if _POOL is not None:
                _POOL.shutdown(wait=False, cancel_futures=True)
            # A fork server: workers are forked from a clean, single-threaded process
            # (the parent may run threads, e.g. the web app's, which a plain fork
            # would copy mid-lock), and it imports only the modules named here, never the
            # parent's __main__ (a script or app.py).
            context = multiprocessing.get_context("forkserver")
            # The PyTorch ports of dlib's identity ResNet and CNN detector bring torch:
            # loaded once in the fork server, its pages are shared by every worker
            # instead of imported by each.
            context.set_forkserver_preload(
                ["pipeline.scan", "pipeline.faces.resnet", "pipeline.faces.mmod"]
            )
            _POOL = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker)
            _POOL_WORKERS = workers
        return _POOL


def worker_pids() -> list[int]:
    """Process ids of the running scan workers (benchmarks read their memory)."""
    with _POOL_LOCK:
        processes = getattr(_POOL, "_processes", None) or {}
        return [int(pid) for pid in processes]


def shutdown_workers() -> None:
    """Stop the worker processes (they start again when needed)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.shutdown(wait=True, cancel_futures=True)
            _POOL = None


atexit.register(shutdown_workers)


Outcome = PhotoScan | BadImageError


def run_scans(
    sources: list[PhotoSource],
    settings: ScanSettings,
    *,
    workers: int | None = None,
) -> Iterator[Outcome]:
    """`scan_photo` of every source, yielded in order.

    Args:
        workers (int | None): worker processes; 0 scans in this process; None
            picks `default_workers()` for `MIN_PARALLEL` photos or more.
    """
    if workers is None:
        workers = default_workers() if len(sources) >= MIN_PARALLEL else 0
    if workers <= 1 or len(sources) < 2:
        yield from _scan_here(sources, settings)
        return
    pool = _pool(workers)
    ahead = 2 * workers  # photos in flight: enough to keep every worker busy
    pending: deque[tuple[PhotoSource, Future]] = deque()
    it = iter(sources)
    try:
        for src in it:
            pending.append((src, pool.submit(scan_photo, src, settings)))
            if len(pending) >= ahead:
                break
        while pending:
            src, future = pending.popleft()
            try:
                outcome = future.result()
            except BrokenProcessPool:
                # A worker died (out of memory, killed): finish in this process.
                log.warning("scan worker stopped; scanning the rest of the album in this process")
                shutdown_workers()
                rest = [src, *(s for s, _ in pending), *it]
                pending.clear()
                for other in rest:
                    yield scan_photo(other, settings)
                return
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(scan_photo, nxt, settings)))
            yield outcome
    finally:
        for _, future in pending:
            future.cancel()
