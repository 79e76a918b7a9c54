"""Smooth paths through W+ keyframes, timed by the video."""

from __future__ import annotations

import numpy as np


def hermite_path(latents: np.ndarray, knots: np.ndarray, j: int, lambdas: np.ndarray) -> np.ndarray:
    """Points on the C1 cubic through `latents` at `knots`, within segment j.

    Tangents are finite differences over the neighbouring knots (one-sided at the
    ends), so the path passes through every latent and its velocity is continuous
    in the knot parameter (the video time): no kink at a generated keyframe.

    Args:
        latents (np.ndarray): [K, n_latent, 512] W+ at the knots.
        knots (np.ndarray): [K] increasing parameter values (seconds into the video).
        j (int): segment between knots j and j+1.
        lambdas (np.ndarray): positions in [0, 1] within the segment.

    Returns:
        np.ndarray: [len(lambdas), n_latent, 512] float32.
    """
    w = np.asarray(latents, np.float64)
    t = np.asarray(knots, np.float64)
    k = len(w)
    if not 0 <= j < k - 1:
        raise IndexError(f"segment {j} does not exist with {k} knots")
    lam = np.asarray(lambdas, np.float64).reshape(-1, 1, 1)
    h = t[j + 1] - t[j]
    if h <= 1e-9:
        return ((1 - lam) * w[j] + lam * w[j + 1]).astype(np.float32)

    def tangent(i: int) -> np.ndarray:
        lo, hi = max(0, i - 1), min(k - 1, i + 1)
        span = t[hi] - t[lo]
        return (w[hi] - w[lo]) / span if span > 1e-9 else np.zeros_like(w[i])

    l2, l3 = lam * lam, lam * lam * lam
    h00, h10 = 2 * l3 - 3 * l2 + 1, l3 - 2 * l2 + lam
    h01, h11 = -2 * l3 + 3 * l2, l3 - l2
    out = h00 * w[j] + h10 * h * tangent(j) + h01 * w[j + 1] + h11 * h * tangent(j + 1)
    return out.astype(np.float32)
