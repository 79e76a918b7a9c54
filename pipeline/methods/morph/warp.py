"""Piecewise-affine warping of a face to another landmark shape.

The face is cut into triangles (Delaunay on the 68 landmarks plus fixed points
just outside the image border); each output pixel is sampled from the source
image through the affine map of its triangle. The dense inverse map is built
on a coarse grid (one sample every `step` pixels, a ring of samples beyond the
border included) and upsampled bilinearly: the map is continuous and linear
inside every triangle, so this is exact away from triangle edges and within a
small fraction of a pixel next to them, and it costs a few hundred
microseconds instead of per-pixel gathers. The image itself is sampled once,
with `cv2.remap`, so warping never blurs more than one interpolation does;
warping to the image's own landmarks returns it unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from scipy.spatial import Delaunay


def grid_step(size: int) -> int:
    """Coarse-grid spacing for an output side of `size` pixels (about 128 samples a side)."""
    return max(1, size // 128)


def border_points(size: int, step: int | None = None) -> np.ndarray:
    """[16, 2] float32 fixed points on a square just outside the image.

    They lie beyond the coarse grid's outer ring, so every grid sample falls
    inside the triangulation.
    """
    step = grid_step(size) if step is None else step
    n = math.ceil(size / step)
    lo = -1.5 * step - 2.0
    hi = max(size - 1 + 1.5 * step + 2.0, (n + 1) * step)
    ticks = np.array(
        [lo, lo + (hi - lo) * 0.25, (lo + hi) / 2, lo + (hi - lo) * 0.75, hi], np.float32
    )
    pts = [(x, lo) for x in ticks] + [(x, hi) for x in ticks]
    pts += [(lo, y) for y in ticks[1:-1]] + [(hi, y) for y in ticks[1:-1]]
    return np.asarray(pts, np.float32)


def with_border(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Landmarks clipped into the image, followed by the fixed border points: [68 + 16, 2] float32."""
    inner = np.clip(np.asarray(landmarks, np.float32), 0.0, size - 1.0)
    return np.concatenate([inner, border_points(size)], axis=0)


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles of `points` ([N, 2]) as [T, 3] int32 vertex indices."""
    return np.ascontiguousarray(Delaunay(np.asarray(points, np.float64)).simplices, dtype=np.int32)


def triangle_affines(dst: np.ndarray, src: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per triangle, the affine map taking `dst` vertex positions to `src` ones.

    Args:
        dst (np.ndarray): [N, 2] vertex positions in the output image.
        src (np.ndarray): [N, 2] vertex positions in the source image, or
            [K, N, 2] for K sources at once (the output's inverses are shared).
        triangles (np.ndarray): [T, 3] vertex indices.

    Returns:
        np.ndarray: [T, 6] (or [K, T, 6]) float64 rows ``(a, b, c, d, e, f)``
        with ``src_x = a x + b y + c`` and ``src_y = d x + e y + f``.
    """
    d = np.asarray(dst, np.float64)[triangles]  # [T, 3, 2]
    src = np.asarray(src, np.float64)
    s = src[..., triangles, :]  # [(K,) T, 3, 2]
    dd = np.stack([d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]], axis=2)  # [T, 2, 2] columns = edges
    ss = np.stack([s[..., 1, :] - s[..., 0, :], s[..., 2, :] - s[..., 0, :]], axis=-1)
    det = dd[:, 0, 0] * dd[:, 1, 1] - dd[:, 0, 1] * dd[:, 1, 0]
    ok = np.abs(det) > 1e-9
    inv = np.zeros_like(dd)
    safe = np.where(ok, det, 1.0)
    inv[:, 0, 0] = dd[:, 1, 1] / safe
    inv[:, 0, 1] = -dd[:, 0, 1] / safe
    inv[:, 1, 0] = -dd[:, 1, 0] / safe
    inv[:, 1, 1] = dd[:, 0, 0] / safe
    m = ss @ inv  # [(K,) T, 2, 2]
    # A degenerate (zero-area) output triangle covers no pixel: translate only.
    m[..., ~ok, :, :] = np.eye(2)
    t = s[..., 0, :] - np.einsum("...tij,tj->...ti", m, d[:, 0])
    t[..., ~ok, :] = s[..., ~ok, :, :].mean(axis=-2) - d[~ok].mean(axis=1)
    return np.concatenate([m[..., 0, :], t[..., :1], m[..., 1, :], t[..., 1:]], axis=-1)


class PiecewiseAffineWarper:
    """Builds dense inverse maps for one triangulation at one output size.

    Args:
        triangles (np.ndarray): [T, 3] vertex indices (fixed topology).
        size (int): output side in pixels.
        step (int | None): coarse-grid spacing; default `grid_step(size)`.
    """

    def __init__(self, triangles: np.ndarray, size: int, step: int | None = None) -> None:
        self.triangles = np.asarray(triangles, np.int32)
        self.size = int(size)
        self.step = grid_step(size) if step is None else int(step)
        n = math.ceil(self.size / self.step) + 2  # coarse samples a side, outer ring included
        self._n = n
        pos = (
            np.arange(n, dtype=np.float64) - 0.5
        ) * self.step - 0.5  # fine coordinate of each sample
        gx, gy = np.meshgrid(pos, pos)
        self._gx = gx.astype(np.float32)[:, :, None, None]  # broadcasts over [n, n, K, 2]
        self._gy = gy.astype(np.float32)[:, :, None, None]

    def _triangle_ids(self, dst: np.ndarray) -> np.ndarray:
        """[n, n] index of the output triangle holding each coarse sample (T = none)."""
        # A fresh array each call: frames are built on several threads at once.
        ids = np.full((self._n, self._n), len(self.triangles), np.int32)
        # Fine coordinate x lies at coarse index (x + 0.5) / step + 0.5; 4 bits of sub-sample precision.
        coarse = (np.asarray(dst, np.float64) + 0.5) / self.step + 0.5
        pts = np.round(coarse[self.triangles] * 16).astype(np.int32)  # [T, 3, 2]
        for t, tri in enumerate(pts):
            cv2.fillConvexPoly(ids, tri, int(t), lineType=cv2.LINE_8, shift=4)
        return ids

    def maps(
        self,
        dst: np.ndarray,
        sources: Sequence[np.ndarray],
        rect: tuple[int, int, int, int] | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Inverse maps that warp each source shape onto `dst`.

        Args:
            dst (np.ndarray): [N, 2] output vertex positions.
            sources (Sequence[np.ndarray]): [N, 2] vertex positions in each source image.
            rect (tuple | None): ``(x, y, width, height)``: build the maps of
                this part of the output only (default: the whole output).

        Returns:
            list[tuple[np.ndarray, np.ndarray]]: per source, the x and y
            float32 maps for `cv2.remap` ([size, size], or [height, width]
            with `rect`).
        """
        ids = self._triangle_ids(dst)
        k = len(sources)
        affines = triangle_affines(dst, np.stack(sources), self.triangles)  # [K, T, 6]
        identity = np.broadcast_to([[[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]]], (k, 1, 6))
        # One gather for all sources: [T + 1, K * 6] coefficients -> [..., K, 2, 3].
        table = np.ascontiguousarray(
            np.concatenate([affines, identity], axis=1).transpose(1, 0, 2).reshape(-1, k * 6),
            dtype=np.float32,
        )
        # Upsample and crop: output pixel x samples coarse index (x + 0.5) / step + 0.5
        # (x counted from the full output's corner when only `rect` is built).
        x0, y0, width, height = (0, 0, self.size, self.size) if rect is None else rect
        s = self.step
        if x0 % s == 0 and y0 % s == 0:
            return self._upsampled(ids, table, k, x0 // s, y0 // s, width, height)
        n = self._n
        a = table[ids].reshape(n, n, k, 2, 3)
        stack = a[..., 0] * self._gx + a[..., 1] * self._gy + a[..., 2]  # [n, n, K, 2]
        stack = stack.reshape(n, n, 2 * k)
        affine = np.array([[1 / s, 0, (x0 + 0.5) / s + 0.5], [0, 1 / s, (y0 + 0.5) / s + 0.5]])
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for k in range(0, stack.shape[2], 4):
            part = np.ascontiguousarray(stack[:, :, k : k + 4])
            fine = cv2.warpAffine(
                part, affine, (width, height),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
            )  # fmt: skip
            chans = cv2.split(fine)
            out.extend(zip(chans[0::2], chans[1::2]))
        return out

    def _upsampled(
        self, ids: np.ndarray, table: np.ndarray, k: int, qx: int, qy: int, width: int, height: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The maps of a part of the output starting at coarse sample (qx, qy) (a grid-aligned
        corner): only the coarse samples around that part are evaluated, and each map is one
        `cv2.resize` of them by exactly `step`, which samples where the general warp does
        (fine x reads coarse (x + 0.5) / step + 0.5) with the same linear weights, but takes
        OpenCV's fast path and leaves no channels to split."""
        s, n = self.step, self._n
        # Coarse samples qx .. qx + cols - 1 upsample to fine x from s * (qx - 1) on: the
        # part's own pixels are s .. s + width - 1 of the result. Beyond the grid the
        # edge samples repeat (as the general warp's replicated border does).
        cols, rows = -(-width // s) + 2, -(-height // s) + 2
        r = np.minimum(np.arange(qy, qy + rows), n - 1)[:, None]
        c = np.minimum(np.arange(qx, qx + cols), n - 1)[None, :]
        a = table[ids[r, c]].reshape(rows, cols, k, 2, 3)
        gx, gy = self._gx[r, c], self._gy[r, c]
        part = a[..., 0] * gx + a[..., 1] * gy + a[..., 2]  # [rows, cols, K, 2]
        maps = []
        for i in range(k):
            for xy in range(2):
                fine = cv2.resize(
                    np.ascontiguousarray(part[:, :, i, xy]), (cols * s, rows * s),
                    interpolation=cv2.INTER_LINEAR,
                )  # fmt: skip
                maps.append(fine[s : s + height, s : s + width])
        return list(zip(maps[0::2], maps[1::2]))


# Taps giving the midpoint between pixels x and x + 1 from pixels x - 1 .. x + 2 in
# `doubled`: the least-squares choice, over every sub-pixel position, for linear
# sampling of the doubled copy to equal bicubic sampling (OpenCV's, a = -0.75) of
# the original (bicubic's own midpoint, 3/32 for the outer taps, blurs more).
_MIDPOINT = np.array([-15 / 128, 79 / 128, 79 / 128, -15 / 128], np.float32)


def doubled(image: np.ndarray) -> np.ndarray:
    """[2 H - 1, 2 W - 1, ...] float32 copy of `image` for bilinear sampling in place of bicubic.

    Sample ``(2 y, 2 x)`` is pixel ``(y, x)`` itself (a map `m` into `image`
    becomes ``2 m`` into the copy, and an identity map still returns the image's
    own pixels); the samples between are `_MIDPOINT`-weighted. Bilinear
    sampling of the copy is then within about 0.4 grey levels (root mean square)
    of bicubic sampling of the original, at a quarter of the cost of a 4-channel
    bicubic `cv2.remap`.
    """
    image = np.asarray(image, np.float32)

    def halves(a: np.ndarray, axis: int) -> np.ndarray:
        kernel = _MIDPOINT[None, :] if axis == 1 else _MIDPOINT[:, None]
        anchor = (1, 0) if axis == 1 else (0, 1)
        mid = cv2.filter2D(a, -1, kernel, anchor=anchor, borderType=cv2.BORDER_REFLECT101)
        shape = list(a.shape)
        shape[axis] = 2 * shape[axis] - 1
        out = np.empty(shape, np.float32)
        if axis == 1:
            out[:, 0::2], out[:, 1::2] = a, mid[:, :-1]
        else:
            out[0::2], out[1::2] = a, mid[:-1]
        return out

    return halves(halves(image, 1), 0)


def remap(
    image: np.ndarray,
    mapping: tuple[np.ndarray, np.ndarray],
    *,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Sample `image` at the (x, y) `mapping` (reflecting beyond the border)."""
    return cv2.remap(image, mapping[0], mapping[1], interpolation, borderMode=cv2.BORDER_REFLECT101)


def warp(
    image: np.ndarray,
    src_landmarks: np.ndarray,
    dst_landmarks: np.ndarray,
    *,
    triangles: np.ndarray | None = None,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Warp a square face image so that its landmarks move to `dst_landmarks`.

    Args:
        image (np.ndarray): [S, S, C] image.
        src_landmarks (np.ndarray): [68, 2] landmarks of `image`.
        dst_landmarks (np.ndarray): [68, 2] target positions.
        triangles (np.ndarray | None): triangulation of landmarks + border
            points; default: Delaunay on the mean of both shapes.
        interpolation (int): cv2 interpolation flag.

    Returns:
        np.ndarray: the warped image, same shape and dtype.
    """
    size = image.shape[0]
    src = with_border(src_landmarks, size)
    dst = with_border(dst_landmarks, size)
    if triangles is None:
        triangles = triangulate((src + dst) / 2)
    (mapping,) = PiecewiseAffineWarper(triangles, size).maps(dst, [src])
    return remap(image, mapping, interpolation=interpolation)
