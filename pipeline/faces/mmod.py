"""dlib's CNN (MMOD) face detector in PyTorch, weights read straight from dlib's ``.dat`` file.

``dlib.cnn_face_detection_model_v1`` runs its convolutions through dlib's slow
generic CPU path (80-220 ms for a 160 px crop here); the same network in
PyTorch, fed the same tiled image pyramid, takes a few milliseconds and finds
the same boxes with the same confidences (within float rounding). Nothing is
downloaded or converted ahead: `pipeline.faces.dlib_format.read_mmod_network`
parses the file that ``face_recognition_models`` installs.

What dlib does, and this module repeats step by step (dlib 20.0.1's
``dnn/input.h``, ``image_transforms/image_pyramid.h`` and ``interpolation.h``,
``dnn/loss.h`` and the Python binding ``cnn_face_detector.cpp``):

1. Upsampling (the binding's ``upsample_num_times``): ``pyramid_up`` with
   ``pyramid_down<2>`` makes an image of ``2 rows + 1`` by ``2 cols + 2``
   pixels by bilinear resizing, truncating each value to a byte.
2. Input (``input_rgb_image_pyramid<pyramid_down<6>>``): one float image
   holds the photo and its 5/6-scaled copies side by side (levels down to 5
   rows), 10 px apart with an 11 px border, everything else zero. The photo
   is copied in as ``(value - channel mean) / 256``; each further level is
   resized bilinearly from the previous one, in floats.
3. The network: three 5x5 stride-2 convolutions (16, 32, 32 filters), three
   5x5 ones (45), each followed by affine + relu, then one 9x9 convolution
   whose output is the detection score of an 80x80 window at each place.
4. Boxes: every output above 0 (``adjust_threshold``) maps back to the input
   through the convolutions' strides, becomes the 80x80 window centred
   there, and is carried from the pyramid level nearest to its centre back
   to the image; boxes are sorted by score and a box overlapping a stronger
   one (intersection over the pair's bounding box above the file's 0.34) is
   dropped. Upsampled boxes are scaled back down.

The bilinear resizing follows dlib's arithmetic to the bit (its 4-wide float
lanes, accumulated positions and truncations): the pyramid's values equal
dlib's exactly, so only the convolutions' summation order differs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.errors import ModelFileError
from pipeline.faces.dlib_format import (
    MMOD_CONVOLUTIONS,
    DlibFormatError,
    DlibLayer,
    MmodOptions,
    PyramidInput,
    read_mmod_network,
)
from pipeline.faces.torch_threads import one_thread

# pyramid_down<6>: each level is 5/6 the size of the one before.
PYRAMID_RATE = 5.0 / 6.0
_MIN_LEVEL_ROWS = 5

Rect = tuple[int, int, int, int]  # left, top, right, bottom (dlib's inclusive box)


@dataclass(frozen=True)
class MmodDetection:
    """One face: dlib's box (``rect``, inclusive, in the image's pixels) and its score."""

    rect: Rect
    confidence: float

    def left(self) -> int:
        return self.rect[0]

    def top(self) -> int:
        return self.rect[1]

    def right(self) -> int:
        return self.rect[2]

    def bottom(self) -> int:
        return self.rect[3]


def _lround(value: float) -> int:
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
    """Where and with which weights dlib's bilinear resize reads, for one pair of sizes."""

    top: np.ndarray  # [rows] source row above each output row
    bottom: np.ndarray  # [rows] and below
    done: int  # output columns computed in float lanes; the rest in doubles
    lane_left: np.ndarray  # [done] source column left of each lane column
    lane_weights: tuple[np.ndarray, ...]  # 4 x [rows, done] float32: tl, tr, bl, br
    lane_rgb_weights: tuple[np.ndarray, ...]  # the same, [rows, done, 1] for RGB images
    rest_left: np.ndarray  # [cols - done]
    rest_right: np.ndarray
    rest_frac: np.ndarray  # [cols - done] float64 horizontal fraction
    tb: np.ndarray  # [rows] float64 vertical fraction


@functools.lru_cache(maxsize=512)
def _sampling(h: int, w: int, rows: int, cols: int) -> _Sampling:
    """dlib's sampling plan for resizing h x w to rows x cols (cached: crops repeat their sizes)."""
    top, bottom, tb = _rows(h, rows)
    lane_left, lane_frac, done, rest_left, rest_right, rest_frac = _columns(w, cols)
    # The lanes' weights, each a float32 product in dlib's order.
    inv_tb, tbf = (1 - tb).astype(np.float32)[:, None], tb.astype(np.float32)[:, None]
    lr = lane_frac[None, :]
    inv_lr = np.float32(1) - lr
    weights = (inv_tb * inv_lr, inv_tb * lr, tbf * inv_lr, tbf * lr)
    plan = _Sampling(
        top,
        bottom,
        done,
        lane_left,
        weights,
        tuple(wt[:, :, None] for wt in weights),
        rest_left,
        rest_right,
        rest_frac,
        tb,
    )
    for value in vars(plan).values():
        for array in value if isinstance(value, tuple) else (value,):
            if isinstance(array, np.ndarray):
                array.flags.writeable = False
    return plan


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
        w_tl, w_tr, w_bl, w_br = plan.lane_rgb_weights
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
    right, bottom = _lround((w - 1 + 1.25) * 2), _lround((h - 1 + 0.75) * 2)
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


def _nearest_level(rects: list[Rect], x: int, y: int) -> int:
    """dlib's ``nearest_rect``: the first box holding the point, else the closest one."""
    best, best_dist = 0, math.inf
    for i, (x0, y0, x1, y1) in enumerate(rects):
        if x0 <= x <= x1 and y0 <= y <= y1:
            return i
        dx, dy = min(max(x, x0), x1) - x, min(max(y, y0), y1) - y
        dist = math.sqrt(dx * dx + dy * dy)
        if dist < best_dist:
            best, best_dist = i, dist
    return best


def _level_to_image(value: float, levels: int) -> float:
    """``pyramid_down<6>::point_up`` applied `levels` times to one coordinate."""
    ratio = 6 / 5.0
    for _ in range(levels):
        value = value * ratio + 0.3
    return value


def _area(rect: Rect) -> int:
    x0, y0, x1, y1 = rect
    return max(0, x1 - x0 + 1) * max(0, y1 - y0 + 1)


def _overlaps(a: Rect, b: Rect, iou: float, covered: float) -> bool:
    """dlib's ``test_box_overlap``: intersection over the pair's *bounding box*, or coverage."""
    inner = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    if inner == 0:
        return False
    outer = _area((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])))
    return inner / outer > iou or inner / _area(a) > covered or inner / _area(b) > covered


# ---------------------------------------------------------------- the network


def _fits(rows: int, cols: int) -> bool:
    """Whether an input of this size leaves every convolution at least one output."""
    for _, size, stride in MMOD_CONVOLUTIONS:
        pad = size // 2 if stride == 1 else 0
        if min(rows, cols) + 2 * pad < size:
            return False
        rows, cols = (rows + 2 * pad - size) // stride + 1, (cols + 2 * pad - size) // stride + 1
    return True


def _frozen(weight: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(weight, requires_grad=False)


class MmodFaceDetector(nn.Module):
    """dlib's ``mmod_human_face_detector``: RGB image -> face boxes with confidences.

    `detect` is ``dlib.cnn_face_detection_model_v1(image, upsample)``.
    `forward` maps the tiled pyramid [1, 3, H, W] to the score map [1, windows, h, w].
    """

    def __init__(self, options: MmodOptions, pyramid: PyramidInput) -> None:
        super().__init__()
        self.options = options
        self.pyramid = pyramid
        channels, convs = 3, []
        for filters, size, stride in MMOD_CONVOLUTIONS:
            pad = size // 2 if stride == 1 else 0
            convs.append(nn.Conv2d(channels, filters, size, stride=stride, padding=pad))
            channels = filters
        self.convs = nn.ModuleList(convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, 3, H, W] -> [N, 1, h, w]
        *hidden, last = self.convs
        for conv in hidden:
            x = F.relu(conv(x))  # each with its affine folded in
        return last(x)

    def _to_input(self, col: int, row: int) -> tuple[float, float]:
        """Centre in the pyramid of the window an output scores (dlib's ``map_output_to_input``)."""
        x, y = float(col), float(row)
        for _, size, stride in reversed(MMOD_CONVOLUTIONS):
            pad = size // 2 if stride == 1 else 0
            x, y = x * stride - pad + size // 2, y * stride - pad + size // 2
        return x, y

    def detect_upsampled(self, image: np.ndarray) -> list[MmodDetection]:
        """Faces in `image` as dlib's network finds them (no upsampling), strongest first."""
        data, rects = tiled_pyramid(image, self.pyramid)
        if not rects or not _fits(*data.shape[1:]):
            return []  # too small to hold one window (dlib raises an error there)
        x = torch.from_numpy(data)[None].contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), one_thread():
            scores = self(x)[0].numpy()
        found: list[tuple[float, Rect, int]] = []
        for k, r, c in zip(*np.nonzero(scores > 0)):
            px, py = self._to_input(int(c), int(r))
            width, height, _ = self.options.windows[k]
            half_w, half_h = (width - 1) / 2, (height - 1) / 2
            level = _nearest_level(rects, _lround(px), _lround(py))
            ox, oy = rects[level][:2]
            box = (
                _lround(_level_to_image(px - half_w - ox, level)),
                _lround(_level_to_image(py - half_h - oy, level)),
                _lround(_level_to_image(px + half_w - ox, level)),
                _lround(_level_to_image(py + half_h - oy, level)),
            )
            found.append((float(scores[k, r, c]), box, len(found)))
        # Strongest first (ties keep dlib's scan order, channel, row, column).
        found.sort(key=lambda item: (-item[0], item[2]))
        kept: list[MmodDetection] = []
        for score, box, _ in found:
            if any(
                _overlaps(d.rect, box, self.options.nms_iou, self.options.nms_covered) for d in kept
            ):
                continue
            kept.append(MmodDetection(box, score))
        return kept

    def detect(self, image: np.ndarray, upsample: int = 0) -> list[MmodDetection]:
        """Faces in an RGB (or grayscale) uint8 image, as ``cnn_face_detection_model_v1(image, upsample)``.

        Args:
            image (np.ndarray): [H, W, 3] or [H, W] uint8.
            upsample (int): times to double the image first (finds faces from
                about 40 px instead of 80). Default: 0.

        Returns:
            list[MmodDetection]: boxes in `image`'s pixels, strongest first.
        """
        image = np.asarray(image)
        if (
            image.dtype != np.uint8
            or image.ndim not in (2, 3)
            or (image.ndim == 3 and image.shape[2] != 3)
        ):
            raise ValueError(
                f"the image must be [H, W, 3] or [H, W] uint8, got {image.shape} {image.dtype}"
            )
        if upsample < 0:
            raise ValueError(f"upsample must be 0 or more, got {upsample}")
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        for _ in range(upsample):
            image = pyramid_up(image)
        found = self.detect_upsampled(image)
        if not upsample:
            return found
        out = []
        for d in found:
            corners = []
            for value, offset in zip(d.rect, (1.25, 0.75, 1.25, 0.75)):
                v = float(value)
                for _ in range(upsample):  # pyramid_down<2>::point_down
                    v = v / 2.0 - offset
                corners.append(_lround(v))
            out.append(MmodDetection(tuple(corners), d.confidence))  # type: ignore[arg-type]
        return out

    @classmethod
    def from_layers(
        cls, options: MmodOptions, pyramid: PyramidInput, layers: list[DlibLayer]
    ) -> MmodFaceDetector:
        """The module with the weights of `parse_mmod_network`'s layers (affines folded in)."""
        with torch.device("meta"):
            net = cls(options, pyramid)
        it = iter(layers)

        def take(kind: str) -> DlibLayer:
            layer = next(it, None)
            if layer is None or layer.kind != kind:
                raise DlibFormatError(f"expected a {kind} layer, found {layer and layer.kind}")
            return layer

        with torch.no_grad():
            for i, conv in enumerate(net.convs):
                con = take("con")
                weight = con.arrays["weight"]
                if weight.shape != tuple(conv.weight.shape):
                    raise DlibFormatError(
                        f"convolution {weight.shape}, expected {tuple(conv.weight.shape)}"
                    )
                bias = con.arrays.get("bias", np.zeros(weight.shape[0], np.float32))
                if i < len(net.convs) - 1:
                    aff = take("affine")
                    gamma, beta = aff.arrays["gamma"].reshape(-1), aff.arrays["beta"].reshape(-1)
                    if gamma.shape != (weight.shape[0],) or beta.shape != gamma.shape:
                        raise DlibFormatError(
                            f"affine of {gamma.size} channels after {weight.shape}"
                        )
                    weight = weight * gamma[:, None, None, None]
                    bias = bias * gamma + beta
                    take("relu")
                # Channels-last lets oneDNN run every convolution (the 9x9 one
                # took 6 ms instead of 1 on PyTorch's generic path).
                folded = torch.tensor(weight, dtype=torch.float32)
                conv.weight = _frozen(folded.contiguous(memory_format=torch.channels_last))
                conv.bias = _frozen(torch.tensor(bias, dtype=torch.float32))
        if next(it, None) is not None:
            raise DlibFormatError("more layers than the network has")
        return net.eval()

    @classmethod
    def from_dlib_file(cls, path: str | Path) -> MmodFaceDetector:
        """The detector with the weights of dlib's ``.dat`` file (read, parsed, checked).

        Raises:
            ModelFileError: the file is missing, unreadable or another network.
        """
        options, pyramid, layers = read_mmod_network(path)
        try:
            return cls.from_layers(options, pyramid, layers)
        except DlibFormatError as exc:
            raise ModelFileError(
                Path(path),
                f"{path} does not hold dlib's MMOD face detector ({exc}); reinstall "
                "face_recognition_models (pip install --force-reinstall face_recognition_models).",
            ) from exc
