"""Colour and exposure harmonisation between keyframes.

Each keyframe gets per-channel mean and standard deviation in CIE Lab inside
its face region. Those statistics follow a smooth path over the video
(`SmoothPath`); in every frame both neighbouring keyframes are corrected,
channel by channel, from their own statistics to the path's current ones
(Reinhard-style transfer), so the two images being dissolved agree in
lighting and the lighting changes flow across keyframes instead of popping.
At a keyframe the correction is the identity.
"""

from __future__ import annotations

import cv2
import numpy as np

# Jaw line and eyebrows: their convex hull is the face region.
FACE_OUTLINE = list(range(0, 27))
MAX_GAIN = 2.0


def to_lab(image: np.ndarray) -> np.ndarray:
    """[S, S, 3] uint8 RGB -> float32 Lab (L in 0..100)."""
    return cv2.cvtColor(image.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)


def from_lab(lab: np.ndarray) -> np.ndarray:
    """float32 Lab -> [S, S, 3] uint8 RGB (rounded, saturated)."""
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return cv2.convertScaleAbs(cv2.max(rgb, 0.0, dst=rgb), alpha=255.0)


def face_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """[S, S] uint8 mask (255 inside) of the convex hull of the jaw line and eyebrows."""
    pts = np.clip(np.asarray(landmarks, np.float32)[FACE_OUTLINE], 0, size - 1)
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    if mask.sum() < 255 * 64:  # degenerate landmarks: use the whole crop
        mask[:] = 255
    return mask


def lab_stats(lab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[6] float64: Lab means then standard deviations inside `mask`."""
    mean, std = cv2.meanStdDev(lab, mask=mask)
    return np.concatenate([mean.ravel(), std.ravel()])


def correction(src: np.ndarray, dst: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """[3, 4] float32 matrix for `cv2.transform`: moves Lab statistics `src` to `dst`, times `weight`.

    The gain per channel is clamped to [1/MAX_GAIN, MAX_GAIN] so that a nearly
    grey photo's chroma is not blown up into noise.
    """
    gain = np.clip(dst[3:] / np.maximum(src[3:], 1e-6), 1.0 / MAX_GAIN, MAX_GAIN)
    offset = dst[:3] - gain * src[:3]
    m = np.zeros((3, 4), np.float64)
    m[[0, 1, 2], [0, 1, 2]] = gain * weight
    m[:, 3] = offset * weight
    return m.astype(np.float32)
