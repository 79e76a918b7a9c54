"""Plain pixel cross-fade of consecutive aligned faces (the research's baseline)."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from pipeline.methods.base import Keyframe, TransitionMethod, register_method


@register_method
class CrossfadeMethod(TransitionMethod):
    """Dissolves keyframe j into keyframe j+1; fast, but shows "ghosts" when faces differ."""

    name = "crossfade"
    label = "Cross-fade (pixels)"
    default_gamma = 0.0

    def prepare(self, keyframes: list[Keyframe], *, size: int) -> None:
        if len(keyframes) < 2:
            raise ValueError("cross-fade needs at least two keyframes")
        for kf in keyframes:
            if kf.image.shape != (size, size, 3) or kf.image.dtype != np.uint8:
                raise ValueError(
                    f"{kf.label}: keyframe image must be [{size}, {size}, 3] uint8, got {kf.image.shape} {kf.image.dtype}"
                )
        self.images = [kf.image for kf in keyframes]

    def transition(self, j: int, lambdas: np.ndarray) -> Iterator[np.ndarray]:
        a, b = self.images[j], self.images[j + 1]
        for lam in np.asarray(lambdas, np.float64):
            yield cv2.addWeighted(a, 1.0 - float(lam), b, float(lam), 0.0)
