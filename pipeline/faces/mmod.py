"""dlib's CNN (MMOD) face detector in PyTorch, weights read straight from dlib's ``.dat`` file.

``dlib.cnn_face_detection_model_v1`` runs its convolutions through dlib's slow
generic CPU path (80-220 ms for a 160 px crop here); the same network in
PyTorch, fed the same tiled image pyramid, takes 20-30 ms and finds
the same boxes with the same confidences (within float rounding). Nothing is
downloaded or converted ahead: `pipeline.faces.mmod_format.read_mmod_network`
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

The pyramids (`pipeline.faces.mmod_pyramid`) follow dlib's bilinear
arithmetic to the bit: their values equal dlib's exactly, so only the
convolutions' summation order differs (confidences move by about 2e-6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.errors import ModelFileError
from pipeline.faces.dlib_format import DlibFormatError, DlibLayer, LayerTaker
from pipeline.faces.mmod_format import (
    MMOD_CONVOLUTIONS,
    MmodOptions,
    PyramidInput,
    read_mmod_network,
)
from pipeline.faces.mmod_pyramid import Rect, lround, pyramid_up, tiled_pyramid
from pipeline.faces.torch_threads import one_thread


@dataclass(frozen=True)
class MmodDetection:
    """One face: dlib's box (``rect``, inclusive, in the image's pixels) and its score."""

    rect: Rect
    confidence: float


# ---------------------------------------------------------------- boxes back to the image


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
            x = F.relu(conv(x), inplace=True)  # each with its affine folded in
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
        x = torch.from_numpy(data)[None].to(self.convs[0].weight.device)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), one_thread():
            scores = self(x)[0].cpu().numpy()
        found: list[tuple[float, Rect, int]] = []
        for k, r, c in zip(*np.nonzero(scores > 0)):
            px, py = self._to_input(int(c), int(r))
            width, height, _ = self.options.windows[k]
            half_w, half_h = (width - 1) / 2, (height - 1) / 2
            level = _nearest_level(rects, lround(px), lround(py))
            ox, oy = rects[level][:2]
            box = (
                lround(_level_to_image(px - half_w - ox, level)),
                lround(_level_to_image(py - half_h - oy, level)),
                lround(_level_to_image(px + half_w - ox, level)),
                lround(_level_to_image(py + half_h - oy, level)),
            )
            found.append((float(scores[k, r, c]), box, len(found)))
        # Strongest first (equal scores, which dlib's unstable sort leaves in no set order,
        # in scan order).
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
                corners.append(lround(v))
            out.append(MmodDetection(tuple(corners), d.confidence))  # type: ignore[arg-type]
        return out

    @classmethod
    def from_layers(
        cls, options: MmodOptions, pyramid: PyramidInput, layers: list[DlibLayer]
    ) -> MmodFaceDetector:
        """The module with the weights of `parse_mmod_network`'s layers (affines folded in)."""
        with torch.device("meta"):
            net = cls(options, pyramid)
        take = LayerTaker(layers)

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
        take.finish()
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
