"""Plain pixel cross-fade of consecutive aligned faces (the research's baseline)."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from pipeline.methods.base import Keyframe, TransitionMethod, check_keyframes, register_method


@register_method
class CrossfadeMethod(TransitionMethod):
    """Dissolves keyframe j into keyframe j+1; fast, but shows "ghosts" when faces differ."""

    name = "crossfade"
    label = "Cross-fade (pixels)"
    default_gamma = 0.0
    # Keyframes composited onto a steady backdrop dissolve into each other
    # with the backdrop itself unchanged: nothing more to do per frame.
    backdrop_mode = "inputs"

    def prepare(self, keyframes: list[Keyframe], *, size: int) -> None:
        check_keyframes(keyframes, size, "cross-fade")
        # Images are read per transition: keyframes that build their pixels on demand
        # (photo-a-day) then hold only the current pair.
        self.keyframes = list(keyframes)

    def transition(self, j: int, lambdas: np.ndarray) -> Iterator[np.ndarray]:
        a, b = self.keyframes[j].image, self.keyframes[j + 1].image
        for lam in np.asarray(lambdas, np.float64):
            yield cv2.addWeighted(a, 1.0 - float(lam), b, float(lam), 0.0)
