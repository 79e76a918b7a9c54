"""Image helpers shared by the face modules: RGB checks and resizing."""

from __future__ import annotations

import cv2
import numpy as np


def as_rgb(image: np.ndarray) -> np.ndarray:
    """`image` as a contiguous [H, W, 3] uint8 RGB array (gray expanded, alpha dropped)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an [H, W, 3] RGB image, got shape {image.shape}")
    if image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def resized(image: np.ndarray, scale: float) -> np.ndarray:
    """`image` scaled by `scale` (area averaging when shrinking)."""
    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interpolation)
