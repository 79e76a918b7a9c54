"""Automatic landmark morph: the default method (CPU, offline).

For each frame the landmark shape is read from a smooth path through the
keyframes' shapes; both neighbouring keyframes are warped onto it
(piecewise-affine on a Delaunay triangulation of the landmarks and fixed
border points), colour-harmonised towards the smoothly interpolated Lab
statistics, and dissolved. Because both images share one shape, eyes, nose
and mouth coincide and the middle frame shows one face, not two.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from pipeline.errors import UsageError
from pipeline.methods.base import Keyframe, TransitionMethod, check_keyframes, register_method
from pipeline.methods.morph import colour
from pipeline.methods.morph.paths import SmoothPath
from pipeline.methods.morph.warp import PiecewiseAffineWarper, remap, triangulate, with_border

# Inner-lip points (60-67) are left out of the triangulation: an open mouth
# beside a closed one folds the thin triangles between them, while the outer
# lip contour carries the mouth's shape on its own.
MORPH_POINTS = np.array([*range(0, 60)], dtype=np.int64)
_INTERPOLATION = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


@register_method
class MorphMethod(TransitionMethod):
    """Landmark morph with smooth shape paths and colour harmonisation.

    Args:
        smooth (bool): C1 (PCHIP) landmark and colour paths over the video's
            time; False interpolates linearly between neighbouring keyframes.
        harmonize (bool): match Lab colour statistics between keyframes.
        interpolation (str): ``cubic`` (sharper, default) or ``linear`` sampling.
    """

    name = "morph"
    label = "Landmark morph (CPU)"
    default_gamma = 0.0

    def __init__(
        self, *, smooth: bool = True, harmonize: bool = True, interpolation: str = "cubic"
    ) -> None:
        if interpolation not in _INTERPOLATION:
            raise UsageError(
                f"Morph interpolation {interpolation!r} unknown; choose linear or cubic."
            )
        self.smooth = smooth
        self.harmonize = harmonize
        self.interpolation = _INTERPOLATION[interpolation]
        self.keyframes: list[Keyframe] = []
        self.size = 0

    def prepare(self, keyframes: list[Keyframe], *, size: int) -> None:
        """Fit the shape and colour paths.

        Keyframe times come from ``keyframe.extra["time"]`` (seconds into the
        video, set by the renderer) so that motion is smooth in video time;
        without them keyframes are spaced evenly.
        """
        check_keyframes(keyframes, size, "morph")
        self.keyframes = list(keyframes)
        self.size = size
        times = [kf.extra.get("time") for kf in keyframes]
        if any(t is None for t in times) or np.any(np.diff(np.asarray(times, np.float64)) <= 0):
            times = list(range(len(keyframes)))
        self.times = np.asarray(times, np.float64)
        self.shapes = [with_border(kf.landmarks, size) for kf in keyframes]  # [68 + border, 2]
        self.path = SmoothPath(self.times, self.shapes, smooth=self.smooth)
        self.stats: list[np.ndarray] = []
        if self.harmonize:
            for kf in keyframes:
                self.stats.append(
                    colour.lab_stats(colour.to_lab(kf.image), colour.face_mask(kf.landmarks, size))
                )
            self.colour_path = SmoothPath(self.times, self.stats, smooth=self.smooth)
        self._points = np.concatenate([MORPH_POINTS, np.arange(68, len(self.shapes[0]))])
        self._lab_cache: dict[int, np.ndarray] = {}
        self._warper: tuple[int, PiecewiseAffineWarper] | None = None

    def landmarks_at(self, j: int, lambdas: np.ndarray) -> np.ndarray:
        """[F, 68, 2] interpolated landmark positions of transition j's frames."""
        return self.path.at(j, lambdas)[:, :68].astype(np.float32)

    def _lab(self, k: int) -> np.ndarray:
        """Keyframe k in float Lab; only the current pair is kept (memory flat in album size)."""
        if k not in self._lab_cache:
            self._lab_cache = {i: v for i, v in self._lab_cache.items() if i >= k - 1}
            self._lab_cache[k] = colour.to_lab(self.keyframes[k].image)
        return self._lab_cache[k]

    def _warper_for(self, j: int) -> PiecewiseAffineWarper:
        """Triangulation of transition j, on the mean of its two shapes (fixed while it runs)."""
        if self._warper is None or self._warper[0] != j:
            mean = (self.shapes[j] + self.shapes[j + 1])[self._points] / 2
            self._warper = (j, PiecewiseAffineWarper(triangulate(mean), self.size))
        return self._warper[1]

    def transition(self, j: int, lambdas: np.ndarray) -> Iterator[np.ndarray]:
        lambdas = np.asarray(lambdas, np.float64)
        shapes = self.path.at(j, lambdas)[:, self._points]
        targets = self.colour_path.at(j, lambdas) if self.harmonize else None
        src_a = self.shapes[j][self._points]
        src_b = self.shapes[j + 1][self._points]
        warper = self._warper_for(j)
        for i, lam in enumerate(lambdas):
            if lam <= 0.0:
                yield self.keyframes[j].image.copy()
                continue
            if lam >= 1.0:
                yield self.keyframes[j + 1].image.copy()
                continue
            map_a, map_b = warper.maps(shapes[i], [src_a, src_b])
            wa = remap(self._lab(j), map_a, interpolation=self.interpolation)
            wb = remap(self._lab(j + 1), map_b, interpolation=self.interpolation)
            if targets is not None:
                ca = colour.correction(self.stats[j], targets[i], 1.0 - lam)
                cb = colour.correction(self.stats[j + 1], targets[i], lam)
            else:
                ca = np.eye(3, 4, dtype=np.float32) * np.float32(1.0 - lam)
                cb = np.eye(3, 4, dtype=np.float32) * np.float32(lam)
            lab = cv2.add(cv2.transform(wa, ca), cv2.transform(wb, cb))
            yield colour.from_lab(lab)
