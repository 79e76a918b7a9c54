"""Points along a person matte's outline, matched between keyframes by angle.

Rays leave a centre inside the face at fixed angles; on each ray the outline
point is where the matte first ends beyond the face (top and sides of the hair,
neck, shoulders; the image edge where the person runs out of the picture).
Keyframes are matched ray by ray, and the morph interpolates each outline in
polar form (the centre, and one radius per ray), so an in-between outline
point always lies on its ray at a positive radius: the points stay ordered by
angle around the centre and the outline can never cross itself.
"""

from __future__ import annotations

import cv2
import numpy as np

N_RAYS = 32
LEVEL = 0.5
# An outline point keeps at least this share beyond the face's own edge on its ray.
FACE_MARGIN = 1.08
# ...and stays this many pixels inside the image, away from the fixed border points.
EDGE_INSET = 1.0


def ray_directions(n: int = N_RAYS) -> np.ndarray:
    """[n, 2] unit vectors, the first pointing straight up, then clockwise on screen."""
    angles = -np.pi / 2 + 2 * np.pi * np.arange(n) / n
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def outline_centre(landmarks: np.ndarray) -> np.ndarray:
    """[2] float64 ray centre: the middle of the nose bridge and tip (landmarks 27-33)."""
    return np.asarray(landmarks, np.float64)[27:34].mean(axis=0)


def _exit_radius(centre: np.ndarray, dirs: np.ndarray, size: int) -> np.ndarray:
    """Per ray, the radius at which it leaves the image (inset by EDGE_INSET)."""
    lo, hi = EDGE_INSET, size - 1.0 - EDGE_INSET
    out = np.full(len(dirs), np.inf)
    for axis in (0, 1):
        d = dirs[:, axis]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(
                d > 1e-9,
                (hi - centre[axis]) / d,
                np.where(d < -1e-9, (lo - centre[axis]) / d, np.inf),
            )
        out = np.minimum(out, t)
    return np.maximum(out, 0.0)


def _first_exit(
    mask: np.ndarray, centre: np.ndarray, dirs: np.ndarray, start: np.ndarray, stop: np.ndarray
) -> np.ndarray:
    """Per ray, the first radius beyond `start` where `mask` (bool) is False; `stop` if none."""
    step = 1.0
    radii = np.arange(0.0, float(stop.max()) + step, step)  # [R]
    pts = centre[None, None, :] + radii[None, :, None] * dirs[:, None, :]  # [K, R, 2]
    xi = np.clip(np.round(pts[..., 0]).astype(np.int64), 0, mask.shape[1] - 1)
    yi = np.clip(np.round(pts[..., 1]).astype(np.int64), 0, mask.shape[0] - 1)
    outside = ~mask[yi, xi] & (radii[None, :] >= start[:, None]) & (radii[None, :] <= stop[:, None])
    found = outside.any(axis=1)
    first = np.where(found, radii[np.argmax(outside, axis=1)], stop)
    return np.minimum(first, stop)


def outline_polar(matte: np.ndarray, landmarks: np.ndarray, n: int = N_RAYS) -> np.ndarray:
    """A keyframe's outline in polar form: [2 + n] float64 (centre x, centre y, one radius per ray).

    Args:
        matte (np.ndarray): [S, S] float matte in [0, 1].
        landmarks (np.ndarray): [68, 2] landmarks in the same pixels.
        n (int): number of rays.
    """
    size = matte.shape[0]
    centre = outline_centre(landmarks)
    dirs = ray_directions(n)
    stop = _exit_radius(centre, dirs, size)
    # The face's own edge on each ray (hull of the jaw line and brows).
    hull = np.zeros(matte.shape, np.uint8)
    pts = np.round(np.asarray(landmarks, np.float64)[:27]).astype(np.int32)
    cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
    face_edge = _first_exit(hull > 0, centre, dirs, np.zeros(n), stop)
    start = np.minimum(face_edge * FACE_MARGIN, stop)
    radius = _first_exit(np.asarray(matte) >= LEVEL, centre, dirs, start, stop)
    return np.concatenate([centre, np.maximum(radius, start)])


def outline_points(polar: np.ndarray) -> np.ndarray:
    """Points from polar outlines: [..., 2 + n] -> [..., n, 2] float64."""
    polar = np.asarray(polar, np.float64)
    n = polar.shape[-1] - 2
    dirs = ray_directions(n)
    return polar[..., None, :2] + polar[..., 2:, None] * dirs
