"""Smooth paths through keyframe values (landmark shapes, colour statistics).

A path passes exactly through each keyframe's value at that keyframe's time
in the video and is C1 between them (monotone cubic Hermite, PCHIP): speed
and direction do not change abruptly at a keyframe, and the path never
overshoots the keyframe values (so a shape cannot fold past either
neighbour). With two keyframes it is a straight line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator


class SmoothPath:
    """Interpolates arrays of any shape over keyframe times.

    Args:
        times (Sequence[float]): strictly increasing keyframe times.
        values (Sequence[np.ndarray]): one array per keyframe, all the same shape.
        smooth (bool): PCHIP when True, piecewise linear when False.
    """

    def __init__(
        self, times: Sequence[float], values: Sequence[np.ndarray], *, smooth: bool = True
    ) -> None:
        t = np.asarray(times, np.float64)
        v = np.stack([np.asarray(x, np.float64) for x in values])
        if t.ndim != 1 or len(t) != len(v) or len(t) < 2:
            raise ValueError("need one time per value and at least two keyframes")
        if np.any(np.diff(t) <= 0):
            raise ValueError("keyframe times must be strictly increasing")
        self.times = t
        self.values = v
        self._shape = v.shape[1:]
        flat = v.reshape(len(t), -1)
        self._fn = PchipInterpolator(t, flat, axis=0) if smooth and len(t) > 2 else None
        self._flat = flat

    def __call__(self, t: float | np.ndarray) -> np.ndarray:
        """Values at times `t`: shape ``[len(t), *value_shape]`` (or ``value_shape`` for a scalar)."""
        tt = np.clip(np.atleast_1d(np.asarray(t, np.float64)), self.times[0], self.times[-1])
        if self._fn is not None:
            out = self._fn(tt)
        else:
            out = np.stack([np.interp(tt, self.times, col) for col in self._flat.T], axis=1)
        out = out.reshape((len(tt), *self._shape))
        return out[0] if np.ndim(t) == 0 else out

    def at(self, j: int, lambdas: np.ndarray) -> np.ndarray:
        """Values at positions `lambdas` in [0, 1] between keyframes j and j+1."""
        t0, t1 = self.times[j], self.times[j + 1]
        return self(t0 + np.asarray(lambdas, np.float64) * (t1 - t0))
