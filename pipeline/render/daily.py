"""Photo-a-day mode: every photo on screen for a few frames, eyes locked, a short blend between.

The classic "a photo every day" video shows each photo briefly rather than
morphing between a few. Three things keep it watchable:

* Eyes locked: each photo is re-warped (a similarity of its aligned crop) so
  that its eye centres land exactly on the canonical eye positions; the face
  stops wandering however the photo was framed.
* Alignment smoothed over neighbouring days: where the eyes sit vertically
  follows the face's eye-to-mouth proportion (`canonical_eye_positions`),
  which jumps with every landmark estimate; it is the median over the
  `smooth` photos either side instead, so it drifts only as the face grows.
* Optional frame averaging: each shown photo is the mean of itself and the
  next `average - 1` locked photos, softening lighting flicker.

`daily_timing` lays the frames out in the renderer's usual `Timing` form
(keyframe, holds, in-betweens), so the frame count is exactly
``photos * per_photo + (photos - 1) * blend``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.faces import canonical_eye_positions, eye_centres
from pipeline.render.timing import Timing
from pipeline.types import Keyframe


def daily_timing(ages: Sequence[float], *, fps: int, per_photo: int, blend: int) -> Timing:
    """Each photo (of these ages) shown `per_photo` frames, `blend` in-between frames after each but the last."""
    count = len(ages)
    if count < 2:
        raise ValueError("a time-lapse needs at least two keyframes")
    if per_photo < 1 or blend < 0:
        raise ValueError("per_photo must be at least 1 and blend at least 0")
    return Timing(
        fps=int(fps),
        mode="per_photo",
        transition_frames=tuple(blend + 1 for _ in range(count - 1)),
        hold_frames=per_photo - 1,
        age_gaps=tuple(abs(float(b) - float(a)) for a, b in zip(ages[:-1], ages[1:])),
    )


def date_order(keyframes: Sequence[Keyframe]) -> list[Keyframe]:
    """Keyframes by capture date (stable: undated ones keep their place after the dated)."""
    indexed = list(enumerate(keyframes))
    indexed.sort(key=lambda item: (item[1].date is None, item[1].date or dt.date.min, item[0]))
    return [kf for _, kf in indexed]


def mouth_ratio(landmarks: np.ndarray) -> float:
    """|eye midpoint -> mouth midpoint| / |eye to eye| of 68 landmarks (FFHQ's proportion)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    left, right = eye_centres(lm)
    mouth = (lm[48] + lm[54]) / 2
    return float(np.hypot(*(mouth - (left + right) / 2)) / max(np.hypot(*(right - left)), 1e-6))


def smoothed_ratios(landmarks: Sequence[np.ndarray], smooth: int) -> list[float]:
    """Each photo's mouth ratio as the median over it and `smooth` photos either side."""
    ratios = np.array([mouth_ratio(lm) for lm in landmarks])
    out = []
    for i in range(len(ratios)):
        lo, hi = max(0, i - smooth), min(len(ratios), i + smooth + 1)
        out.append(float(np.median(ratios[lo:hi])))
    return out


def eye_lock(landmarks: np.ndarray, size: int, ratio: float) -> np.ndarray:
    """[2, 3] similarity moving the face's eye centres onto the canonical eye positions."""
    src = np.stack(eye_centres(landmarks))
    dst = np.stack(canonical_eye_positions(size, ratio))
    s_vec, d_vec = src[1] - src[0], dst[1] - dst[0]
    # Complex-number form of the similarity taking src[0]->dst[0] and src[1]->dst[1].
    z = complex(*d_vec) / complex(*s_vec)
    a, b = z.real, z.imag
    rot = np.array([[a, -b], [b, a]])
    offset = dst[0] - rot @ src[0]
    return np.concatenate([rot, offset[:, None]], axis=1)


def lock_keyframes(
    keyframes: Sequence[Keyframe], size: int, *, smooth: int = 3, average: int = 1
) -> list[Keyframe]:
    """Keyframes with eyes locked on the canonical positions (see the module docstring).

    Args:
        keyframes: aligned faces at `size` px, in video order.
        smooth (int): photos either side whose median proportion places the eyes.
        average (int): consecutive locked photos averaged into each shown one (1: none).
    """
    ratios = smoothed_ratios([kf.landmarks for kf in keyframes], smooth)
    locked: list[Keyframe] = []
    for kf, ratio in zip(keyframes, ratios):
        matrix = eye_lock(kf.landmarks, size, ratio)
        image = cv2.warpAffine(
            np.asarray(kf.image),
            matrix,
            (size, size),
            flags=cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        lm = np.asarray(kf.landmarks, np.float64) @ matrix[:, :2].T + matrix[:, 2]
        extra = {**kf.extra, "eye_ratio": ratio}
        locked.append(
            dataclasses.replace(kf, image=image, landmarks=lm.astype(np.float32), extra=extra)
        )
    if average <= 1:
        return locked
    out = []
    for i, kf in enumerate(locked):
        group = locked[i : i + average]
        mean = np.mean([g.image.astype(np.float32) for g in group], axis=0)
        out.append(dataclasses.replace(kf, image=np.clip(np.rint(mean), 0, 255).astype(np.uint8)))
    return out
