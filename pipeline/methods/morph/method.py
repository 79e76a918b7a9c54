"""Automatic landmark morph: the default method (CPU, offline).

For each frame the landmark shape is read from a smooth path through the
keyframes' shapes; both neighbouring keyframes are warped onto it
(piecewise-affine on a triangulation of the landmarks and fixed border
points), colour-harmonised towards the smoothly interpolated colour
statistics, and dissolved, all in RGB (a harmonisation is one affine map of
RGB). Because both images share one shape, eyes, nose and mouth coincide and
the middle frame shows one face, not two.

With person mattes on the keyframes and a steady backdrop (set by the
renderer), points along each matte's outline join the triangulation, and
each keyframe is warped together with the signed distance to its outline
(its colours carried a few pixels past the outline, so the soft edge never
samples the photo's own background). The two are dissolved weighted by their
warped mattes, under one outline interpolated from both distances, onto the
unmoving backdrop: the hair and shoulders travel to their new outline
instead of fading, and the composite shows one outline. Every transition's
triangulation is checked for folds along its whole path (`folds`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import cv2
import numpy as np

from pipeline.errors import UsageError
from pipeline.matte import composite, extend_colours, feather_half_width, signed_distance
from pipeline.methods.base import Keyframe, TransitionMethod, check_keyframes, register_method
from pipeline.methods.morph import colour
from pipeline.methods.morph.folds import fold_free_triangulation, folded
from pipeline.methods.morph.outline import outline_points, outline_polar
from pipeline.methods.morph.paths import SmoothPath
from pipeline.methods.morph.pool import ordered_frames
from pipeline.methods.morph.warp import (
    PiecewiseAffineWarper,
    border_points,
    doubled,
    grid_step,
    remap,
    with_border,
)

# Inner-lip points (60-67) are left out of the triangulation: an open mouth
# beside a closed one folds the thin triangles between them, while the outer
# lip contour carries the mouth's shape on its own.
MORPH_POINTS = np.array([*range(0, 60)], dtype=np.int64)
# Without a matte, a ring of points around the face (jaw line and brows pushed
# outwards from the nose) spreads the face's motion over the surroundings: with
# only the far border points outside the face, the outer triangles are huge and
# the warp creases sharply along the jaw line (the "polygon seam" that showed
# a ghost's hair edge as a straight line on Edison's cheek).
RING_POINTS = np.array([0, 2, 4, 6, 8, 10, 12, 14, 16, 17, 19, 21, 22, 24, 26], dtype=np.int64)
RING_SCALE = 1.45


def face_ring(landmarks: np.ndarray, size: int) -> np.ndarray:
    """[F, R, 2] ring points around each face of `landmarks` ([F, 68, 2]), kept inside the image."""
    lm = np.asarray(landmarks, np.float64)
    centre = lm[:, 27:34].mean(axis=1, keepdims=True)
    ring = centre + RING_SCALE * (lm[:, RING_POINTS] - centre)
    return np.clip(ring, 1.0, size - 2.0)


# ``cubic`` sampling of the keyframes, cheaply: a transition of at least
# `_DOUBLE_FROM` in-between frames doubles both keyframes once (`doubled`: sample
# 2x of the copy is pixel x itself, 16 ms at 512 px) and every frame samples the
# copies bilinearly, a quarter of the cost of a 4-channel bicubic remap (the
# largest cost of a frame). On a smooth warp of an Edison keyframe that is 0.43
# grey levels (root mean square) from bicubic sampling, where plain bilinear
# sampling is 1.47 off, and keeps most of the fine detail (Laplacian variance 319
# against bicubic's 352 and bilinear's 207). Shorter transitions (photo-a-day
# blends) sample the keyframes bicubically: doubling would cost them more than
# it saves.
_INTERPOLATION = ("cubic", "linear")
_DOUBLE_FROM = 8
# Positions along each transition where the triangulation is checked for folds
# (the frames actually rendered are checked too).
_CHECK_LAMBDAS = np.linspace(0.0, 1.0, 33)


@register_method
class MorphMethod(TransitionMethod):
    """Landmark morph with smooth shape paths and colour harmonisation.

    Args:
        smooth (bool): C1 (PCHIP) landmark and colour paths over the video's
            time; False interpolates linearly between neighbouring keyframes.
        harmonize (bool): match colour statistics between keyframes (`colour`).
        interpolation (str): ``cubic`` (sharper, default: bicubic, or bilinear
            sampling of doubled keyframes in long transitions, see `_DOUBLE_FROM`)
            or ``linear`` sampling.
    """

    name = "morph"
    label = "Landmark morph (CPU)"
    default_gamma = 0.0
    backdrop_mode = "method"

    def __init__(
        self, *, smooth: bool = True, harmonize: bool = True, interpolation: str = "cubic"
    ) -> None:
        if interpolation not in _INTERPOLATION:
            raise UsageError(
                f"Morph interpolation {interpolation!r} unknown; choose linear or cubic."
            )
        self.smooth = smooth
        self.harmonize = harmonize
        self.cubic = interpolation == "cubic"
        self.keyframes: list[Keyframe] = []
        self.size = 0

    def prepare(self, keyframes: list[Keyframe], *, size: int) -> None:
        """Fit the shape, outline and colour paths.

        Keyframe times come from ``keyframe.time`` (seconds into the
        video, on the render plan's keyframes) so that motion is smooth in video time;
        without them keyframes are spaced evenly. When `backdrop` is set,
        every keyframe must carry a matte.
        """
        check_keyframes(keyframes, size, "morph")
        self.keyframes = list(keyframes)
        self.size = size
        times = [kf.time for kf in keyframes]
        if any(t is None for t in times) or np.any(np.diff(np.asarray(times, np.float64)) <= 0):
            times = list(range(len(keyframes)))
        self.times = np.asarray(times, np.float64)
        self.matted = self.backdrop is not None
        if self.matted:
            for kf in keyframes:
                if kf.matte is None or kf.matte.shape != (size, size):
                    raise ValueError(
                        f"{kf.label}: a [{size}, {size}] matte is needed with a backdrop"
                    )
            if self.backdrop.shape != (size, size, 3) or self.backdrop.dtype != np.uint8:
                raise ValueError(f"the backdrop must be [{size}, {size}, 3] uint8")
            self._backdrop_float = self.backdrop.astype(np.float32)
            polar = [outline_polar(kf.matte, kf.landmarks) for kf in keyframes]
            self.outline_path = SmoothPath(self.times, polar, smooth=self.smooth)
            self._outline = [outline_points(p) for p in polar]
        # Point layout: the 68 landmarks, the fixed border points, then outline points.
        self.shapes = [with_border(kf.landmarks, size) for kf in keyframes]  # [68 + border, 2]
        self.path = SmoothPath(self.times, self.shapes, smooth=self.smooth)
        self.stats: list[np.ndarray] = []
        if self.harmonize:
            for kf in keyframes:
                self.stats.append(colour.stats(kf.image, colour.face_mask(kf.landmarks, size)))
            self.colour_path = SmoothPath(self.times, self.stats, smooth=self.smooth)
        # Triangulated points: the morph landmarks, the fixed border, then the
        # outline points (with mattes) or a ring around the face (without).
        n_border = len(border_points(size))
        self._base = np.concatenate([MORPH_POINTS, np.arange(68, 68 + n_border)])
        n_extra = len(self._outline[0]) if self.matted else len(RING_POINTS)
        self._movable = np.ones(len(self._base) + n_extra, bool)
        self._movable[len(MORPH_POINTS) : len(self._base)] = False
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._warper: tuple[int, PiecewiseAffineWarper] | None = None
        self._region_cache: tuple[int, _Region] | None = None
        self.dropped_points: dict[int, int] = {}

    def landmarks_at(self, j: int, lambdas: np.ndarray) -> np.ndarray:
        """[F, 68, 2] interpolated landmark positions of transition j's frames."""
        return self.path.at(j, lambdas)[:, :68].astype(np.float32)

    def shapes_at(self, j: int, lambdas: np.ndarray) -> np.ndarray:
        """[F, P, 2] positions of the triangulated points (landmarks, border, outline) of transition j."""
        shapes = self.path.at(j, lambdas)
        if self.matted:
            extra = outline_points(self.outline_path.at(j, lambdas))
        else:
            extra = face_ring(shapes[:, :68], self.size)
        return np.concatenate([shapes[:, self._base], extra], axis=1)

    def _source(self, k: int) -> np.ndarray:
        """[P, 2] triangulated points of keyframe k."""
        extra = (
            self._outline[k] if self.matted else face_ring(self.shapes[k][None, :68], self.size)[0]
        )
        return np.concatenate([self.shapes[k][self._base], extra])

    def _pixels(self, k: int, factor: int) -> np.ndarray:
        """Keyframe k as the frames sample it: float RGB and a 4th channel, the signed
        distance to its outline when matted (the person's colours then carried a little
        beyond the outline, `extend_colours`), else zero; `doubled` when `factor` is 2.
        Only the current pair is kept (memory flat in album size)."""
        if (k, factor) not in self._cache:
            self._cache = {key: v for key, v in self._cache.items() if key[0] >= k - 1}
            kf = self.keyframes[k]
            if self.matted:
                distance = signed_distance(kf.matte, feather_half_width(self.size))
                pixels = np.dstack([extend_colours(kf.image, kf.matte), distance])
            else:  # a 4th channel: OpenCV's 4-channel remap and transform are the fast ones
                pixels = np.dstack([kf.image, np.zeros(kf.image.shape[:2], np.uint8)])
                pixels = pixels.astype(np.float32)
            if factor == 2:
                pixels = doubled(pixels)
            self._cache[k, factor] = np.ascontiguousarray(pixels)
        return self._cache[k, factor]

    def _over_backdrop(
        self, j: int, lam: float, wa: np.ndarray, wb: np.ndarray, ca: np.ndarray, cb: np.ndarray
    ) -> np.ndarray:
        """Both warped keyframes (colours and signed distance, over the transition's
        `_region` only) dissolved and composited onto the backdrop: uint8 RGB.

        The colours are the mean of both keyframes' (corrected by `ca`, `cb`)
        weighted by their dissolve weights times their warped mattes, so a part
        only one photo shows (hair, a shoulder) keeps its own colour. The outline
        is one outline: the warped signed distances of both mattes are interpolated
        and feathered again (dissolving the two mattes would leave a
        half-transparent band wherever they differ), and it never reaches beyond
        both keyframes' outlines, so the backdrop outside them stays exactly still.
        """
        region = self._region(j)
        k = 0.5 / feather_half_width(self.size)
        da, db = cv2.extractChannel(wa, 3), cv2.extractChannel(wb, 3)
        weight_a = _ramp(da, k, 1.0 - lam)
        weight_b = _ramp(db, k, lam)
        # feather() of the interpolated distance, in OpenCV calls (this runs every frame),
        # in place where they allow it (as in `_between`).
        alpha = cv2.addWeighted(da, (1.0 - lam) * k, db, lam * k, 0.5, dst=da)
        cv2.min(cv2.max(alpha, 0.0, dst=alpha), region.union, dst=alpha)
        rest = cv2.subtract(1.0, alpha, dst=db)
        cv2.transform(wa, ca, dst=wa)
        cv2.transform(wb, cb, dst=wb)
        person = cv2.blendLinear(wa, wb, weight_a, weight_b, dst=wa)
        cv2.blendLinear(person, region.backdrop, alpha, rest, dst=person)
        # Rounded and saturated; the 4th channel is the distances' mix, dropped.
        return cv2.cvtColor(cv2.add(person, 0.0, dtype=cv2.CV_8U), cv2.COLOR_RGBA2RGB)

    def _region(self, j: int) -> _Region:
        """Transition j's part of the frame holding both mattes (cached for the transition)."""
        if self._region_cache is None or self._region_cache[0] != j:
            assert self.backdrop is not None
            a, b = self.keyframes[j].matte, self.keyframes[j + 1].matte
            union = np.maximum(a, b).astype(np.float32)
            x, y, w, h = cv2.boundingRect((union > 0).astype(np.uint8))
            if w == 0 or h == 0:  # two empty mattes: keep a pixel to work on
                x, y, w, h = 0, 0, 1, 1
            # Corner on the warp's coarse grid: its maps are then one plain upsampling.
            step = grid_step(self.size)
            x, y, w, h = x - x % step, y - y % step, w + x % step, h + y % step
            backdrop = self._backdrop_float[y : y + h, x : x + w]
            self._region_cache = (
                j,
                _Region(
                    (x, y, w, h),
                    np.ascontiguousarray(union[y : y + h, x : x + w]),
                    np.ascontiguousarray(np.dstack([backdrop, np.zeros((h, w), np.float32)])),
                ),
            )
        return self._region_cache[1]

    def _keyframe_frame(self, k: int) -> np.ndarray:
        if not self.matted:
            return self.keyframes[k].image.copy()
        assert self.backdrop is not None
        return composite(self.keyframes[k].image, self.keyframes[k].matte, self.backdrop)

    def _warper_for(self, j: int, shapes: np.ndarray) -> PiecewiseAffineWarper:
        """Fold-free triangulation of transition j (kept while it runs).

        Built on the mean of the two keyframes' shapes and checked along the
        whole path (a fixed grid of positions plus the frames asked for);
        rebuilt if frames asked for later would fold it.
        """
        if self._warper is not None and self._warper[0] == j:
            warper = self._warper[1]
            if not folded(shapes, warper.triangles, self._reference(j)).any():
                return warper
        path = np.concatenate([self.shapes_at(j, _CHECK_LAMBDAS), shapes])
        kept, triangles = fold_free_triangulation(path, self._movable, self._reference(j))
        self.dropped_points[j] = len(self._movable) - len(kept)
        warper = PiecewiseAffineWarper(triangles, self.size)
        self._warper = (j, warper)
        return warper

    def _reference(self, j: int) -> np.ndarray:
        return (self._source(j) + self._source(j + 1)) / 2

    def transition(self, j: int, lambdas: np.ndarray) -> Iterator[np.ndarray]:
        lambdas = np.asarray(lambdas, np.float64)
        inner = (lambdas > 0.0) & (lambdas < 1.0)
        shapes = self.shapes_at(j, lambdas)
        targets = self.colour_path.at(j, lambdas) if self.harmonize else None
        warper = self._warper_for(j, shapes[inner]) if inner.any() else None
        factor = 2 if self.cubic and inner.sum() >= _DOUBLE_FROM else 1
        if inner.any():
            # Fill the per-transition caches here: the frames below only read them.
            self._pixels(j, factor), self._pixels(j + 1, factor)
            if self.matted:
                self._region(j)
        src = (self._source(j), self._source(j + 1))

        def frame(i: int) -> np.ndarray:
            lam = float(lambdas[i])
            if lam <= 0.0:
                return self._keyframe_frame(j)
            if lam >= 1.0:
                return self._keyframe_frame(j + 1)
            assert warper is not None
            target = None if targets is None else targets[i]
            return self._between(j, lam, shapes[i], src, warper, target, factor)

        yield from ordered_frames(frame, len(lambdas))

    def _between(
        self,
        j: int,
        lam: float,
        shape: np.ndarray,
        src: tuple[np.ndarray, np.ndarray],
        warper: PiecewiseAffineWarper,
        target: np.ndarray | None,
        factor: int,
    ) -> np.ndarray:
        """One in-between frame of transition j at position `lam` (uint8 RGB), sampling
        the keyframes' `_pixels` at `factor`."""
        rect = self._region(j).rect if self.matted else None
        # Maps into the keyframes' (doubled) copies: their vertices scale with the copies.
        scale = np.float32(factor)
        map_a, map_b = warper.maps(shape, [src[0] * scale, src[1] * scale], rect)
        bicubic = self.cubic and factor == 1
        interpolation = cv2.INTER_CUBIC if bicubic else cv2.INTER_LINEAR
        wa = remap(self._pixels(j, factor), map_a, interpolation=interpolation)
        wb = remap(self._pixels(j + 1, factor), map_b, interpolation=interpolation)
        if not self.matted:
            # The dissolve weights go into the corrections; in place where OpenCV allows
            # it: fewer fresh arrays keep the frame's few megabytes in the cache, which at
            # 512 px costs more than the maths.
            if target is not None:
                ca = colour.correction(self.stats[j], target, 1.0 - lam)
                cb = colour.correction(self.stats[j + 1], target, lam)
            else:
                ca, cb = colour.identity(1.0 - lam), colour.identity(lam)
            cv2.transform(wa, _four_channels(ca), dst=wa)
            cv2.transform(wb, _four_channels(cb), dst=wb)
            return cv2.cvtColor(cv2.add(wa, wb, dtype=cv2.CV_8U), cv2.COLOR_RGBA2RGB)
        if target is not None:
            ca = colour.correction(self.stats[j], target)
            cb = colour.correction(self.stats[j + 1], target)
        else:
            ca = cb = colour.identity(1.0)
        ca, cb = _four_channels(ca), _four_channels(cb)
        assert self.backdrop is not None and rect is not None
        out = self.backdrop.copy()
        x, y, w, h = rect
        out[y : y + h, x : x + w] = self._over_backdrop(j, lam, wa, wb, ca, cb)
        return out


class _Region(NamedTuple):
    """The part of a transition's frames that holds both keyframes' mattes."""

    rect: tuple[int, int, int, int]  # x, y, width, height: beyond it every frame is the backdrop
    union: np.ndarray  # [h, w] float32: the larger of both mattes there
    backdrop: np.ndarray  # [h, w, 4] float32: the backdrop there (4th channel zero)


def _ramp(distance: np.ndarray, k: float, weight: float) -> np.ndarray:
    """`weight` times feather(): ``clip(k d + 0.5, 0, 1)`` of a signed distance, as a new array."""
    out = cv2.addWeighted(distance, k * weight, distance, 0.0, 0.5 * weight)
    return cv2.max(cv2.min(out, weight, dst=out), 0.0, dst=out)


def _four_channels(correction: np.ndarray) -> np.ndarray:
    """[4, 5] float32: the [3, 4] colour `correction` for the 4-channel pixels of `_pixels`,
    the 4th channel (a matte's signed distance) passed through: OpenCV's fast path."""
    m = np.zeros((4, 5), np.float32)
    m[:3, :3] = correction[:, :3]
    m[:3, 4] = correction[:, 3]
    m[3, 3] = 1.0
    return m
