"""dlib's image pyramids for its CNN face detector, computed as dlib computes them, bit for bit.

* `pyramid_up`: the Python binding's upsampling (``pyramid_up`` with
  ``pyramid_down<2>``): bilinear, each value truncated to a byte.
* `tiled_pyramid`: the input of ``input_rgb_image_pyramid<pyramid_down<6>>``:
  the image and its 5/6-scaled copies side by side in one float image
  (`pyramid_layout` says where), each level resized from the one before.

Both resize with dlib's ``resize_image`` arithmetic: four float lanes whose
positions accumulate in float32, truncated to find the left neighbour, and a
double-precision remainder (`resize_planes`, `resize_rgb`). Tests compare them
with ``dlib.resize_image`` for exact equality.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from pipeline.faces.mmod_format import PyramidInput

# pyramid_down<6>: each level is 5/6 the size of the one before, down to 5 rows.
PYRAMID_RATE = 5.0 / 6.0
_MIN_LEVEL_ROWS = 5

Rect = tuple[int, int, int, int]  # left, top, right, bottom (dlib's inclusive box)


def lround(value: float) -> int:
    """C's ``lround``: halves away from zero (Python's ``round`` goes to even)."""
    return int(math.floor(value + 0.5)) if value >= 0 else -int(math.floor(-value + 0.5))


# ---------------------------------------------------------------- dlib's bilinear resize


def _rows(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top, bottom, fraction) of each output row: dlib accumulates ``y += scale`` in doubles."""
    scale = (size_in - 1) / max(size_out - 1, 1)
    steps = np.full(size_out + 1, scale)
    steps[0] = -scale
    y = np.add.accumulate(steps)[1:]
    top = np.floor(y).astype(np.intp)
    return top, np.minimum(top + 1, size_in - 1), y - top


def _columns(
    size_in: int, size_out: int
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """Column sampling of dlib's resize: its 4-wide float part, then the double-precision rest.

    dlib starts four float lanes at ``x, x + s, x + 2 s, x + 3 s`` (``x = -4 s``)
    and adds the float ``4 s`` to each per block of four columns, truncating to
    find the left neighbour; it stops before the block whose last right
    neighbour falls outside the image and finishes column by column in
    doubles. Returns (left, float fraction) of the lane columns, their count,
    and (left, right, double fraction) of the rest.
    """
    scale = (size_in - 1) / max(size_out - 1, 1)
    x0 = -4 * scale
    blocks = size_out // 4 + 2
    step = np.float32(4 * scale)
    lanes = np.empty((blocks, 4), np.float32)
    for j, start in enumerate((x0, x0 + scale, x0 + 2 * scale, x0 + 3 * scale)):
        seq = np.full(blocks + 1, step, np.float32)
        seq[0] = np.float32(start)
        lanes[:, j] = np.add.accumulate(seq, dtype=np.float32)[1:]
    left = lanes.astype(np.int32)  # truncation, like the lanes' conversion
    stop = int(np.argmax(left[:, 3] + 1 >= size_in))  # first block that would read past the edge
    lane_left = left[:stop].ravel().astype(np.intp)
    lane_frac = (lanes[:stop] - left[:stop].astype(np.float32)).ravel()
    done = 4 * stop
    steps = np.full(size_out - done + 1, scale)
    steps[0] = -scale + done * scale
    x = np.add.accumulate(steps)[1:]
    rest_left = np.floor(x).astype(np.intp)
    rest_right = np.minimum(rest_left + 1, size_in - 1)
    return lane_left, lane_frac, done, rest_left, rest_right, x - rest_left


@dataclass(frozen=True)
class _Sampling:
    """Where dlib's bilinear resize reads, and with which float32 weights, for one pair of sizes."""

    top: np.ndarray  # [rows] source row above each output row
    bottom: np.ndarray  # [rows] and below
    done: int  # output columns computed in float lanes; the rest in doubles
    lane_left: np.ndarray  # [done] source column left of each lane column
    lane_weights: tuple[np.ndarray, ...]  # 4 x [rows, done] float32: tl, tr, bl, br
    rest_left: np.ndarray  # [cols - done]
    rest_right: np.ndarray
    rest_frac: np.ndarray  # [cols - done] float64 horizontal fraction
    tb: np.ndarray  # [rows] float64 vertical fraction


def _read_only(*arrays: np.ndarray) -> None:
    for array in arrays:
        array.flags.writeable = False


@functools.lru_cache(maxsize=1024)
def _row_plan(h: int, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    plan = _rows(h, rows)
    _read_only(*plan)
    return plan


@functools.lru_cache(maxsize=1024)
def _column_plan(
    w: int, cols: int
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    plan = _columns(w, cols)
    _read_only(*(a for a in plan if isinstance(a, np.ndarray)))
    return plan


def _sampling(h: int, w: int, rows: int, cols: int) -> _Sampling:
    """dlib's sampling for resizing h x w to rows x cols.

    The rows' and columns' positions are cached (the CNN check's crops repeat
    their sizes; they are 1-D, so the cache stays small); the 2-D weights are
    multiplied out per call.
    """
    top, bottom, tb = _row_plan(h, rows)
    lane_left, lane_frac, done, rest_left, rest_right, rest_frac = _column_plan(w, cols)
    # The lanes' weights, each a float32 product in dlib's order.
    inv_tb, tbf = (1 - tb).astype(np.float32)[:, None], tb.astype(np.float32)[:, None]
    lr = lane_frac[None, :]
    inv_lr = np.float32(1) - lr
    weights = (inv_tb * inv_lr, inv_tb * lr, tbf * inv_lr, tbf * lr)
    return _Sampling(top, bottom, done, lane_left, weights, rest_left, rest_right, rest_frac, tb)


def resize_planes(src: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """dlib's bilinear ``resize_image`` of float planes [C, H, W] -> [C, rows, cols], bit for bit."""
    _, h, w = src.shape
    out = np.empty((src.shape[0], rows, cols), np.float32)
    if rows == 0 or cols == 0 or h == 0 or w == 0:
        return out
    plan = _sampling(h, w, rows, cols)
    a, b = src[:, plan.top], src[:, plan.bottom]
    done = plan.done
    if done:
        # Float lanes: weights and sum in float32, in dlib's order.
        left, right = plan.lane_left, plan.lane_left + 1
        w_tl, w_tr, w_bl, w_br = plan.lane_weights
        out[:, :, :done] = (
            w_tl * a[:, :, left] + w_tr * a[:, :, right] + w_bl * b[:, :, left]
        ) + w_br * b[:, :, right]
    if done < cols:
        # The rest: float fractions and left/right mixes, the vertical mix in doubles.
        lr = plan.rest_frac.astype(np.float32)[None, :]
        inv_lr = np.float32(1) - lr
        upper = inv_lr * a[:, :, plan.rest_left] + lr * a[:, :, plan.rest_right]
        lower = inv_lr * b[:, :, plan.rest_left] + lr * b[:, :, plan.rest_right]
        tb = plan.tb[:, None]
        out[:, :, done:] = ((1 - tb) * upper.astype(np.float64) + tb * lower).astype(np.float32)
    return out


def resize_rgb(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """dlib's bilinear ``resize_image`` of an RGB uint8 image (values truncated), bit for bit."""
    h, w = image.shape[:2]
    out = np.empty((rows, cols, 3), np.uint8)
    if rows == 0 or cols == 0 or h == 0 or w == 0:
        return out
    plan = _sampling(h, w, rows, cols)
    done = plan.done
    if done:
        src = image.astype(np.float32)
        a, b = src[plan.top], src[plan.bottom]
        left, right = plan.lane_left, plan.lane_left + 1
        w_tl, w_tr, w_bl, w_br = (wt[:, :, None] for wt in plan.lane_weights)
        value = (w_tl * a[:, left] + w_tr * a[:, right] + w_bl * b[:, left]) + w_br * b[:, right]
        out[:, :done] = value.astype(np.int32).astype(np.uint8)
    if done < cols:
        # dlib's RGB remainder is all doubles, truncated to bytes.
        lr = plan.rest_frac[None, :, None]
        a, b = image[plan.top].astype(np.float64), image[plan.bottom].astype(np.float64)
        t = plan.tb[:, None, None]
        left, right = plan.rest_left, plan.rest_right
        value = (1 - t) * ((1 - lr) * a[:, left] + lr * a[:, right]) + t * (
            (1 - lr) * b[:, left] + lr * b[:, right]
        )
        out[:, done:] = value.astype(np.int32).astype(np.uint8)
    return out


def pyramid_up(image: np.ndarray) -> np.ndarray:
    """dlib's ``pyramid_up`` with ``pyramid_down<2>``: [H, W, 3] -> [2 H + 1, 2 W + 2, 3] uint8.

    The size is ``rect_up`` of the image's box: corners ``(p + (1.25, 0.75)) * 2``, rounded.
    """
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        return np.zeros((0, 0, 3), np.uint8)
    right, bottom = lround((w - 1 + 1.25) * 2), lround((h - 1 + 0.75) * 2)
    return resize_rgb(image, bottom + 1, right + 1)


# ---------------------------------------------------------------- the tiled pyramid


def pyramid_layout(
    rows: int, cols: int, padding: int = 10, outer: int = 11
) -> tuple[list[Rect], int, int]:
    """Where dlib's ``create_tiled_pyramid`` puts each level: (boxes, total rows, total cols).

    The first level (the image) sits top left; the next ones follow below it
    while that column is shorter than about half the pyramid, then the rest
    climb back up along the right edge; a level that would overlap the first
    is left out.
    """
    if rows * cols == 0:
        return [], 0, 0
    sizes = [(rows, cols)]
    while True:
        rows, cols = math.floor(PYRAMID_RATE * rows), math.floor(PYRAMID_RATE * cols)
        if rows * cols == 0 or rows < _MIN_LEVEL_ROWS:
            break
        sizes.append((rows, cols))
    first_h, first_w = sizes[0]
    total = sum(h + padding for h, _ in sizes) - 2 * padding
    height = prev_width = 0
    for h, w in sizes:
        if w <= first_w - prev_width - padding and (height - first_h) * 2 >= total - first_h:
            break
        height += h + padding
        prev_width = w
    height -= padding
    rects: list[Rect] = []
    y = outer
    while y < height + outer and len(rects) < len(sizes):
        h, w = sizes[len(rects)]
        rects.append((outer, y, outer + w - 1, y + h - 1))
        y += h + padding
    y -= padding
    first = rects[0]
    while len(rects) < len(sizes):
        h, w = sizes[len(rects)]
        rect = (outer + first_w - w, y - h, outer + first_w - 1, y - 1)
        if (
            rect[0] <= first[2]
            and first[0] <= rect[2]
            and rect[1] <= first[3]
            and first[1] <= rect[3]
        ):
            break
        rects.append(rect)
        y -= h + padding
    return rects, height + 2 * outer, first_w + 2 * outer


def tiled_pyramid(image: np.ndarray, pyramid: PyramidInput) -> tuple[np.ndarray, list[Rect]]:
    """The network's input for an RGB uint8 image: [3, rows, cols] float32 and each level's box."""
    h, w = image.shape[:2]
    rects, total_rows, total_cols = pyramid_layout(h, w, pyramid.padding, pyramid.outer_padding)
    data = np.zeros((3, total_rows, total_cols), np.float32)
    if not rects:
        return data, rects
    means = np.asarray(pyramid.means, np.float32)[:, None, None]
    x0, y0, x1, y1 = rects[0]
    pixels = image.transpose(2, 0, 1).astype(np.float32)
    data[:, y0 : y1 + 1, x0 : x1 + 1] = (pixels - means) / np.float32(256)
    for (px0, py0, px1, py1), (x0, y0, x1, y1) in zip(rects, rects[1:]):
        data[:, y0 : y1 + 1, x0 : x1 + 1] = resize_planes(
            data[:, py0 : py1 + 1, px0 : px1 + 1], y1 - y0 + 1, x1 - x0 + 1
        )
    return data, rects
