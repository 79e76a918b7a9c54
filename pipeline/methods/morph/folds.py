"""Fold-free triangulations: no triangle may flip or collapse anywhere along a transition.

A piecewise-affine warp is one-to-one only while every triangle keeps its
orientation. When two neighbouring keyframes disagree about the order of
some points (a jaw point that crosses the ear line when the head turns, an
outline point tucked behind the jaw), a triangle of the Delaunay
triangulation on the mean shape flips at one end of the path: its pixels are
drawn mirrored over their neighbours and some output samples fall in no
triangle at all, which shows as a hard polygon seam. This module checks
every triangle's signed area in every sampled shape of the path and, where
one folds, drops one of its movable points and triangulates again, so only
the neighbourhood of the disagreement loses detail (a local fallback) and
the warp stays one-to-one.
"""

from __future__ import annotations

import logging

import numpy as np

from pipeline.methods.morph.warp import triangulate

log = logging.getLogger(__name__)

# A triangle folds when its area, oriented like the mean shape's, drops below
# this share of its area in the mean shape (zero would allow a full collapse).
MIN_AREA_SHARE = 0.03
MAX_ROUNDS = 200


def signed_areas(shapes: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Twice the signed area of every triangle in every shape: [F, N, 2] x [T, 3] -> [F, T]."""
    p = np.asarray(shapes, np.float64)[:, triangles]  # [F, T, 3, 2]
    e1 = p[:, :, 1] - p[:, :, 0]
    e2 = p[:, :, 2] - p[:, :, 0]
    return e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]


def folded(shapes: np.ndarray, triangles: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """[T] bool: triangles that flip or nearly collapse in any of `shapes` ([F, N, 2]).

    Orientation is taken from `reference` ([N, 2], e.g. the mean shape the
    triangulation was built on).
    """
    ref = signed_areas(reference[None], triangles)[0]
    areas = signed_areas(shapes, triangles) * np.sign(ref)[None]
    return np.any(areas <= MIN_AREA_SHARE * np.abs(ref)[None], axis=0) | (np.abs(ref) < 1e-9)


def fold_free_triangulation(
    shapes: np.ndarray, movable: np.ndarray, reference: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Triangles on a subset of points that fold in none of `shapes`.

    Args:
        shapes (np.ndarray): [F, N, 2] the point positions along the path
            (both keyframes' shapes included).
        movable (np.ndarray): [N] bool, points that may be dropped (fixed
            border points are not: they alone triangulate without folds).
        reference (np.ndarray | None): [N, 2] the shape to triangulate;
            default the mean of `shapes`.

    Returns:
        tuple[np.ndarray, np.ndarray]: the kept point indices [M] and the
        triangles [T, 3] as indices into the full point array.
    """
    shapes = np.asarray(shapes, np.float64)
    reference = shapes.mean(axis=0) if reference is None else np.asarray(reference, np.float64)
    keep = np.ones(shapes.shape[1], bool)
    movable = np.asarray(movable, bool)
    # How far each point strays from a rigid motion: drop the most erratic first.
    motion = np.linalg.norm(shapes - shapes.mean(axis=0, keepdims=True), axis=2).max(axis=0)
    dropped: list[int] = []
    for _ in range(MAX_ROUNDS):
        idx = np.flatnonzero(keep)
        triangles = idx[triangulate(reference[idx])]
        bad = folded(shapes, triangles, reference)
        if not bad.any():
            break
        counts = np.bincount(triangles[bad].ravel(), minlength=len(keep)).astype(np.float64)
        counts[~(keep & movable)] = -1.0
        if counts.max() <= 0:
            break  # only fixed points left in the folded triangles: nothing more to drop
        score = counts + motion / (motion.max() + 1e-9)  # ties go to the point that moves most
        victim = int(np.argmax(np.where(counts > 0, score, -1.0)))
        keep[victim] = False
        dropped.append(victim)
    if dropped:
        log.debug("fold-free triangulation dropped points %s", dropped)
    idx = np.flatnonzero(keep)
    return idx, idx[triangulate(reference[idx])]
