"""dlib's face-recognition ResNet in PyTorch, its weights read straight from dlib's ``.dat`` file.

dlib's own network (``dlib.face_recognition_model_v1``) runs its convolutions
through a slow generic CPU path (~100 ms a face here); the same network in
PyTorch takes a fraction of that and gives the same 128-d descriptors (within
float rounding). Nothing is downloaded or converted ahead:
`pipeline.faces.dlib_format.read_dlib_network` parses the file that
``face_recognition_models`` installs, as dlib's ``serialize()`` wrote it, and
`DlibFaceResNet.from_dlib_file` fills the module.

The network (``dnn_face_recognition_ex.cpp``, ``anet_type``), input first::

    input_rgb_image_sized<150>     (pixel - channel mean) / 256, RGB planes
    con 32 7x7 /2, affine, relu, max_pool 3x3 /2
    level 4: 3 x ares(32)          35 x 35
    level 3: ares_down(64), 3 x ares(64)
    level 2: ares_down(128), 2 x ares(128)
    level 1: ares_down(256), 2 x ares(256)
    level 0: ares_down(256)
    avg_pool_everything, fc_no_bias 128, loss_metric (no normalisation)

``ares``: relu(x + affine(con3x3(relu(affine(con3x3(x)))))); ``ares_down`` has
a stride-2 first convolution and a 2x2 /2 average pool on the shortcut; the sum
zero-pads whichever side is smaller in channels or size (at level 1 the
convolution path is 3x3, the shortcut 4x4). dlib pads a window by size/2 only
when its stride is 1, else not at all; the file records each layer's padding
and the reader checks it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.errors import ModelFileError
from pipeline.faces.dlib_format import (
    CHIP_SIZE,
    LEVELS,
    DlibFormatError,
    DlibLayer,
    LayerTaker,
    read_dlib_network,
)
from pipeline.faces.torch_threads import one_thread

DESCRIPTOR_SIZE = 128


def _pad_to(x: torch.Tensor, channels: int, rows: int, cols: int) -> torch.Tensor:
    """Zero-pad [N, C, H, W] at the end of C, H and W (how dlib adds tensors of unequal size)."""
    _, c, h, w = x.shape
    if (c, h, w) == (channels, rows, cols):
        return x
    return F.pad(x, (0, cols - w, 0, rows - h, 0, channels - c))


def _frozen(weight: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(weight, requires_grad=False)


class _Block(nn.Module):
    """dlib's ``ares`` / ``ares_down`` with each affine folded into its convolution."""

    def __init__(self, cin: int, cout: int, down: bool) -> None:
        super().__init__()
        stride, pad = (2, 0) if down else (1, 1)
        self.down = down
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=pad)  # + affine
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1)  # + affine

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W]
        y = self.conv2(F.relu(self.conv1(x)))
        skip = F.avg_pool2d(x, 2, 2) if self.down else x
        if skip.shape != y.shape:
            c = max(y.shape[1], skip.shape[1])
            h, w = max(y.shape[2], skip.shape[2]), max(y.shape[3], skip.shape[3])
            y, skip = _pad_to(y, c, h, w), _pad_to(skip, c, h, w)
        return F.relu(y + skip)


class DlibFaceResNet(nn.Module):
    """dlib's ``dlib_face_recognition_resnet_model_v1``: 150 px RGB chip -> 128-d identity.

    Call `describe` with uint8 chips; `forward` takes the normalised tensor.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("means", torch.zeros(1, 3, 1, 1))  # dlib's per-channel RGB means
        self.stem = nn.Conv2d(3, 32, 7, stride=2, padding=0)  # + affine
        blocks, cin = [], 32
        for cout, count, down in LEVELS:
            for b in range(count):
                blocks.append(_Block(cin, cout, down and b == 0))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, DESCRIPTOR_SIZE, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, 3, 150, 150] -> [N, 128]
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)  # [N, 32, 35, 35]
        x = self.blocks(x)  # [N, 256, 2, 2]
        return self.fc(x.mean(dim=(2, 3)))

    @torch.inference_mode()
    def describe(self, chips: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """Descriptors of face chips as `face_chip` cuts them.

        Args:
            chips (np.ndarray | list[np.ndarray]): [N, 150, 150, 3] (or one
                [150, 150, 3]) uint8 RGB.

        Returns:
            np.ndarray: [N, 128] float32, dlib's descriptors (not normalised).
        """
        batch = np.asarray(chips)
        if batch.ndim == 3:
            batch = batch[None]
        if (
            batch.ndim != 4
            or batch.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3)
            or batch.dtype != np.uint8
        ):
            raise ValueError(
                f"chips must be [N, {CHIP_SIZE}, {CHIP_SIZE}, 3] uint8, got {batch.shape} {batch.dtype}"
            )
        if len(batch) == 0:
            return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.means.device)
        # [N, H, W, 3] bytes viewed as [N, 3, H, W]: already channels-last in memory.
        x = (x.permute(0, 3, 1, 2).float() - self.means) / 256.0
        x = x.contiguous(memory_format=torch.channels_last)
        with one_thread():
            return self(x).cpu().numpy().astype(np.float32, copy=False)

    @classmethod
    def from_layers(cls, layers: list[DlibLayer]) -> DlibFaceResNet:
        """The module with the weights of `parse_dlib_network`'s layers (checked against the shape)."""
        # Built without storage, then each weight is set once from the file:
        # no random initialisation, no second copy.
        with torch.device("meta"):
            net = cls()
        take = LayerTaker(layers)

        def fold(conv: nn.Conv2d, stride: int, pad: int) -> None:
            """Copy a dlib convolution and the affine after it into `conv` (scale folded in)."""
            con, aff = take("con"), take("affine")
            cfg = con.config
            found = (cfg["stride_y"], cfg["stride_x"], cfg["pad_y"], cfg["pad_x"])
            if found != (stride, stride, pad, pad):
                raise DlibFormatError(f"convolution stride/padding {cfg}, expected {stride}/{pad}")
            weight = con.arrays["weight"]
            if weight.shape != conv.weight.shape or cfg["relu"]:
                raise DlibFormatError(
                    f"convolution {weight.shape}, expected {tuple(conv.weight.shape)}"
                )
            bias = con.arrays.get("bias", np.zeros(weight.shape[0], np.float32))
            gamma, beta = aff.arrays["gamma"].reshape(-1), aff.arrays["beta"].reshape(-1)
            if gamma.shape != (weight.shape[0],) or beta.shape != gamma.shape:
                raise DlibFormatError(f"affine of {gamma.size} channels after {weight.shape}")
            # Channels-last lets oneDNN run every convolution, even the small
            # late ones that PyTorch would otherwise send to its slow generic path.
            folded = torch.from_numpy(weight * gamma[:, None, None, None])
            conv.weight = _frozen(folded.contiguous(memory_format=torch.channels_last))
            conv.bias = _frozen(torch.from_numpy(bias * gamma + beta))

        def window(kind: str, size: int, stride: int) -> None:
            cfg = take(kind).config
            keys = ("nr", "nc", "stride_y", "stride_x", "pad_y", "pad_x")
            if tuple(cfg[k] for k in keys) != (size, size, stride, stride, 0, 0):
                raise DlibFormatError(f"{kind} window {cfg}, expected {size}x{size} /{stride}")

        with torch.no_grad():
            means = torch.tensor(take("input").arrays["means"]).reshape(1, 3, 1, 1)
            net.means = means
            fold(net.stem, 2, 0)
            take("relu")
            window("max_pool", 3, 2)
            for block in net.blocks:
                fold(block.conv1, 2 if block.down else 1, 0 if block.down else 1)
                take("relu")
                fold(block.conv2, 1, 1)
                if block.down:
                    window("avg_pool", 2, 2)
                take("add_prev")
                take("relu")
            window("avg_pool", 0, 1)  # size 0: the whole image
            fc = take("fc")
            weight = fc.arrays["weight"].T  # dlib: y = x W, W [in, out]
            if weight.shape != net.fc.weight.shape:
                raise DlibFormatError(f"fc {weight.shape}, expected {tuple(net.fc.weight.shape)}")
            net.fc.weight = _frozen(torch.from_numpy(np.ascontiguousarray(weight)))
        take.finish()
        assert not any(t.is_meta for t in (*net.parameters(), *net.buffers()))
        return net.eval()

    @classmethod
    def from_dlib_file(cls, path: str | Path) -> DlibFaceResNet:
        """The network with the weights of dlib's ``.dat`` file (read, parsed, checked).

        Raises:
            ModelFileError: the file is missing, unreadable or another network.
        """
        layers = read_dlib_network(path)
        try:
            return cls.from_layers(layers)
        except DlibFormatError as exc:
            raise ModelFileError(
                Path(path),
                f"{path} does not hold dlib's face recognition ResNet ({exc}); reinstall "
                "face_recognition_models (pip install --force-reinstall face_recognition_models).",
            ) from exc
