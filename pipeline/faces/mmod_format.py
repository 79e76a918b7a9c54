"""Reading dlib's CNN (MMOD) face detector file, ``mmod_human_face_detector.dat``.

The network (``dnn_mmod_face_detection_ex.cpp``) is written as dlib's
``serialize()`` writes every network (see `pipeline.faces.dlib_format`): the
``loss_mmod_`` layer and its ``mmod_options`` (detector windows, the overlap
test of its non-maximum suppression), then the convolutions, affine and relu
layers from the output inwards, then ``input_rgb_image_pyramid`` (channel
means and the paddings of its tiled pyramid). The file keeps the trained
batch-norm layers, which dlib (and the reader) turn into affine ones.
`pipeline.faces.mmod` builds the PyTorch module from what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.faces.dlib_format import (
    DlibFormatError,
    DlibLayer,
    Reader,
    read_chain,
    read_model_file,
)

# The detector's layers after its input, input side first (dnn_mmod_face_detection_ex.cpp):
# a downsampler of three 5x5 stride-2 convolutions, three 5x5 convolutions, a 9x9 one.
MMOD_CONVOLUTIONS: tuple[tuple[int, int, int], ...] = (
    # (filters, size, stride); every one but the last is followed by affine + relu
    (16, 5, 2),
    (32, 5, 2),
    (32, 5, 2),
    (45, 5, 1),
    (45, 5, 1),
    (45, 5, 1),
    (1, 9, 1),
)


@dataclass(frozen=True)
class MmodOptions:
    """What dlib's ``loss_mmod_`` keeps of its ``mmod_options`` for detecting.

    Attributes:
        windows (tuple[tuple[int, int, str], ...]): detector windows (width,
            height, label), one per output channel.
        nms_iou (float): two boxes overlap (the weaker is suppressed) when their
            intersection over their bounding box's area exceeds this...
        nms_covered (float): ...or the intersection covers more than this share of either box.
        bbr (bool): the network also outputs bounding-box regressions.
    """

    windows: tuple[tuple[int, int, str], ...]
    nms_iou: float
    nms_covered: float
    bbr: bool = False


@dataclass(frozen=True)
class PyramidInput:
    """dlib's ``input_rgb_image_pyramid``: channel means and the tiled pyramid's paddings."""

    means: tuple[float, float, float]  # red, green, blue
    padding: int = 10  # between the pyramid's levels
    outer_padding: int = 11  # around the whole tiled image


def _read_mmod_options(r: Reader) -> MmodOptions:
    version = r.integer()
    if not 1 <= version <= 4:
        raise DlibFormatError(f"mmod_options version {version}")
    if version == 1:
        windows = [(r.integer(), r.integer(), "")]
    else:
        windows = []
        for _ in range(r.integer()):
            v = r.integer()
            if v not in (1, 2):
                raise DlibFormatError(f"detector window version {v}")
            width, height = r.integer(), r.integer()
            windows.append((width, height, r.string() if v == 2 else ""))
    r.floating(), r.floating(), r.floating()  # loss per false alarm / miss, truth-match IoU
    nms_iou, nms_covered = r.floating(), r.floating()
    r.floating(), r.floating()  # the overlap tester for ignored truth boxes (training only)
    bbr = False
    if version >= 3:
        pyramid = r._take(1)[0]  # assume_image_pyramid: one raw byte
        if pyramid != 1:
            raise DlibFormatError(f"the detector does not assume an image pyramid ({pyramid})")
    if version >= 4:
        bbr = r.boolean()
        r.floating()  # bbr_lambda (training only)
    if not windows or any(w <= 0 or h <= 0 for w, h, _ in windows):
        raise DlibFormatError(f"detector windows {windows}")
    return MmodOptions(tuple(windows), nms_iou, nms_covered, bbr)


def _read_pyramid_input(r: Reader) -> DlibLayer:
    version = r.string()
    if version not in ("input_rgb_image_pyramid", "input_rgb_image_pyramid2"):
        raise DlibFormatError(f"expected input_rgb_image_pyramid, found {version!r}")
    means = np.array([r.floating(), r.floating(), r.floating()], np.float32)
    padding, outer = (r.integer(), r.integer()) if version.endswith("2") else (10, 11)
    return DlibLayer("input", {"means": means}, {"padding": padding, "outer_padding": outer})


def _mmod_plan() -> list[str]:
    plan = ["input"]
    for i in range(len(MMOD_CONVOLUTIONS)):
        plan += ["con"] if i == len(MMOD_CONVOLUTIONS) - 1 else ["con", "affine", "relu"]
    return plan


def parse_mmod_network(data: bytes) -> tuple[MmodOptions, PyramidInput, list[DlibLayer]]:
    """dlib's MMOD face detector from its serialized bytes: options, input, layers after the input.

    The layers are the convolutions, affine and relu layers in forward order;
    each convolution's sizes and strides are checked against `MMOD_CONVOLUTIONS`.

    Raises:
        DlibFormatError: the bytes are not that network.
    """
    r = Reader(data)
    r.version(1, "loss layer")
    loss = r.string()
    if loss != "loss_mmod_":
        raise DlibFormatError(f"expected the MMOD loss, found {loss!r}")
    options = _read_mmod_options(r)
    if options.bbr:
        raise DlibFormatError("a detector with bounding-box regression")
    layers = read_chain(r, _mmod_plan(), _read_pyramid_input)
    red, green, blue = (float(m) for m in layers[0].arrays["means"])
    cfg = layers[0].config
    pyramid = PyramidInput((red, green, blue), int(cfg["padding"]), int(cfg["outer_padding"]))
    convs = [layer for layer in layers if layer.kind == "con"]
    channels = 3
    for layer, (filters, size, stride) in zip(convs, MMOD_CONVOLUTIONS, strict=True):
        c = layer.config
        pad = size // 2 if stride == 1 else 0  # dlib's default padding
        found = (
            c["filters"],
            c["nr"],
            c["nc"],
            c["stride_y"],
            c["stride_x"],
            c["pad_y"],
            c["pad_x"],
        )
        if found != (filters, size, size, stride, stride, pad, pad) or c["relu"]:
            raise DlibFormatError(f"convolution {c}, expected {filters} {size}x{size} /{stride}")
        if layer.arrays["weight"].shape != (filters, channels, size, size):
            raise DlibFormatError(f"convolution weights {layer.arrays['weight'].shape}")
        channels = filters
    if channels != len(options.windows):
        raise DlibFormatError(f"{channels} output channels for {len(options.windows)} windows")
    return options, pyramid, layers[1:]


def read_mmod_network(path: str | Path) -> tuple[MmodOptions, PyramidInput, list[DlibLayer]]:
    """`parse_mmod_network` of a file; errors name the file and say to reinstall its package.

    Raises:
        ModelFileError: the file is missing, unreadable or not dlib's MMOD face detector.
    """
    return read_model_file(Path(path), "dlib's MMOD face detector", parse_mmod_network)
