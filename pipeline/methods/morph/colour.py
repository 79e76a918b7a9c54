"""Colour and exposure harmonisation between keyframes.

Each keyframe gets per-channel means and standard deviations inside its face
region in an opponent colour space: the BT.601 luma and the two colour
differences of the photo's own (gamma-encoded) RGB values, which separate
brightness from colour much as CIE Lab does. Those statistics follow a smooth
path over the video (`SmoothPath`); in every frame both neighbouring
keyframes are corrected, channel by channel, from their own statistics to the
path's current ones (Reinhard-style transfer), so the two images being
dissolved agree in lighting and the lighting changes flow across keyframes
instead of popping. At a keyframe the correction is the identity.

The opponent space is a linear transform of RGB, so a correction in it is one
affine map of RGB (`correction`): frames are corrected, dissolved and
composited in RGB, with no per-frame conversion to another colour space and
back.
"""

from __future__ import annotations

import cv2
import numpy as np

# Jaw line and eyebrows: their convex hull is the face region.
FACE_OUTLINE = list(range(0, 27))
MAX_GAIN = 2.0
# RGB -> (luma, blue difference, red difference), BT.601 full range, no offsets.
OPPONENT = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)
_TO_RGB = np.linalg.inv(OPPONENT)


def face_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """[S, S] uint8 mask (255 inside) of the convex hull of the jaw line and eyebrows."""
    pts = np.clip(np.asarray(landmarks, np.float32)[FACE_OUTLINE], 0, size - 1)
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    if mask.sum() < 255 * 64:  # degenerate landmarks: use the whole crop
        mask[:] = 255
    return mask


def stats(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[6] float64: opponent-space means then standard deviations of `image` (uint8 RGB) inside `mask`."""
    pixels = image[mask > 0].astype(np.float64) @ OPPONENT.T  # [N, 3]
    return np.concatenate([pixels.mean(axis=0), pixels.std(axis=0)])


def correction(src: np.ndarray, dst: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """[3, 4] float32 matrix for `cv2.transform` on RGB: moves opponent-space statistics
    `src` to `dst`, times `weight`.

    The gain per channel is clamped to [1/MAX_GAIN, MAX_GAIN] so that a nearly
    grey photo's colour is not blown up into noise.
    """
    gain = np.clip(dst[3:] / np.maximum(src[3:], 1e-6), 1.0 / MAX_GAIN, MAX_GAIN)
    offset = dst[:3] - gain * src[:3]
    m = np.empty((3, 4), np.float64)
    m[:, :3] = _TO_RGB @ (gain[:, None] * OPPONENT)
    m[:, 3] = _TO_RGB @ offset
    return (m * weight).astype(np.float32)


def identity(weight: float) -> np.ndarray:
    """[3, 4] float32: the unchanged colours, times `weight`."""
    return np.eye(3, 4, dtype=np.float32) * np.float32(weight)
