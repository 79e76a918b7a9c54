"""The proposed selection: at most `n` photos, spread evenly along the timeline, the best face of each period.

Used when an album has more good photos than a video needs (the app's review,
the CLI's ``--select N``): the timeline from the youngest to the oldest photo
is cut into `n` equal periods and each period gives its best face; periods
without a photo leave their slot to the best remaining photos far from those
already chosen. "Best" means large (eye distance), sharp (variance of the
Laplacian of the aligned crop) and frontal (small yaw), with flagged photos
last. The user reviews the proposal and can swap photos in and out.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.analysis import finalize
from pipeline.edits import Edits, PhotoEdit
from pipeline.errors import UsageError
from pipeline.types import Analysis, PhotoRecord

# Weights of the face-quality score (each part is in [0, 1]).
W_SIZE, W_SHARP, W_FRONTAL = 0.4, 0.35, 0.25
FLAG_PENALTY = 0.5  # a photo recommended to remove (or with quality flags) ranks below clean ones
MAX_YAW = 45.0


def sharpness(crop: np.ndarray | None) -> float:
    """Variance of the Laplacian of the crop's grey levels (higher is sharper); 0 without a crop."""
    if crop is None:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    side = grey.shape[0]
    if side > 256:  # compare crops of any size at one scale
        grey = cv2.resize(grey, (256, 256), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def face_quality(photos: Sequence[PhotoRecord]) -> list[float]:
    """A score in [0, 1] per photo: large, sharp and frontal faces score high."""
    faces = [p.face for p in photos]
    sizes = [math.log1p(f.eye_distance) if f else 0.0 for f in faces]
    sharp = [math.log1p(sharpness(p.aligned)) for p in photos]

    def unit(values: list[float]) -> list[float]:
        lo, hi = min(values), max(values)
        return [0.5 if hi - lo < 1e-9 else (v - lo) / (hi - lo) for v in values]

    out = []
    for p, f, size, sh in zip(photos, faces, unit(sizes), unit(sharp)):
        frontal = 1.0 - min(abs(f.yaw) / MAX_YAW, 1.0) if f else 0.0
        score = W_SIZE * size + W_SHARP * sh + W_FRONTAL * frontal
        if p.recommended_remove or (f and f.flags):
            score -= FLAG_PENALTY
        out.append(score)
    return out


def _when(p: PhotoRecord, i: int) -> float:
    """Place on the timeline: the age, else the position in the album's order."""
    if p.age is not None:
        return float(p.age)
    return float(p.order if p.order is not None else i)


def propose_selection(photos: Sequence[PhotoRecord], n: int) -> list[PhotoRecord]:
    """The photos to keep: at most `n`, spread evenly along the timeline, best face per period.

    Args:
        photos: candidates (usually the usable photos of an analysis).
        n: how many to keep (at least 2).

    Returns:
        The chosen records in timeline order (all of them when there are at most `n`).
    """
    photos = list(photos)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    times = [_when(p, i) for i, p in enumerate(photos)]
    if len(photos) <= n:
        return [p for _, p in sorted(zip(times, photos), key=lambda tp: tp[0])]
    quality = face_quality(photos)
    lo, hi = min(times), max(times)
    span = hi - lo
    chosen: list[int] = []
    if span <= 0:
        chosen = sorted(range(len(photos)), key=lambda i: -quality[i])[:n]
    else:
        periods: dict[int, list[int]] = {}
        for i, t in enumerate(times):
            periods.setdefault(min(int((t - lo) / span * n), n - 1), []).append(i)
        chosen = [max(members, key=lambda i: quality[i]) for _, members in sorted(periods.items())]
        rest = [i for i in range(len(photos)) if i not in set(chosen)]
        while len(chosen) < n and rest:
            # Fill empty periods' slots: good faces far (in time) from those already kept.
            def merit(i: int) -> float:
                gap = min(abs(times[i] - times[j]) for j in chosen) / span
                return 0.5 * quality[i] + 0.5 * min(1.0, gap * n)

            best = max(rest, key=merit)
            chosen.append(best)
            rest.remove(best)
    return [photos[i] for i in sorted(chosen, key=lambda i: (times[i], i))]


# A transition video of more photos than this gets the proposed selection unless
# the user asks for every photo (the command line's --all); the page proposes as many.
DEFAULT_TRANSITION_PHOTOS = 30


def selection_limit(
    *, every_photo: bool, asked: int | None = None, keep_all: bool = False
) -> int | None:
    """Most photos one video keeps (None: all of them): the one policy of the CLI, page and API.

    Args:
        every_photo: a photo-a-day video shows every kept photo: no automatic selection.
        asked: the number asked for (the command line's ``--select N``), which always applies.
        keep_all: no automatic selection (the command line's ``--all``).

    Raises:
        UsageError: fewer than 2 photos asked for.
    """
    if asked is not None and asked < 2:
        raise UsageError(f"--select needs at least 2 photos; got {asked}.")
    if asked is None and not keep_all and not every_photo:
        return DEFAULT_TRANSITION_PHOTOS
    return asked


def select_photos(
    analysis: Analysis,
    limit: int | None,
    *,
    birth_date: dt.date | None = None,
    edits: Edits | None = None,
) -> tuple[Analysis, list[str]]:
    """The finalized `analysis` with at most `limit` usable photos, and the files left out.

    The photos `propose_selection` does not keep are left out as if by the
    user's edits (a photo the user chose to keep stays), and the album is
    finalized again so that ages and order are those of the photos shown.
    """
    if limit is None or len(analysis.usable) <= limit:
        return analysis, []
    kept = {p.file for p in propose_selection(analysis.usable, limit)}
    chosen = {n for n, e in (edits.photos if edits else {}).items() if e.include}
    left = [p.file for p in analysis.usable if p.file not in kept and p.file not in chosen]
    return finalize(analysis, birth_date=birth_date, edits=leave_out(edits, left)), left


def leave_out(edits: Edits | None, files: list[str]) -> Edits:
    """`edits` plus "leave out" for `files` (the photos the proposed selection does not keep)."""
    out = Edits(
        birth_date=edits.birth_date if edits else None, photos=dict(edits.photos) if edits else {}
    )
    for name in files:
        e = out.photos.get(name)
        out.photos[name] = (
            PhotoEdit(False, e.age, e.face, e.date) if e else PhotoEdit(include=False)
        )
    return out
