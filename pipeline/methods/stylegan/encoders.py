"""e4e (``Encoder4Editing``) and pSp (``GradualStyleEncoder``) image encoders.

Both share an IR-SE-50 backbone (the ArcFace ResNet with squeeze-and-excitation
units) and a feature pyramid read out by one ``GradualStyleBlock`` per W+ row;
the module and parameter names match the ``encoder.`` part of
``e4e_ffhq_encode.pt`` / ``psp_ffhq_encode.pt`` so they load with ``strict=True``.

- pSp predicts every W+ row independently from its pyramid level.
- e4e predicts one base code from the coarsest level and adds a per-row delta
  (all deltas on, as at inference), which keeps codes close to W.

Both take [N, 3, 256, 256] images in [-1, 1] and return [N, n_styles, 512]
codes *without* ``latent_avg``; the caller adds it. The pSp encoder also takes
extra input channels (``input_nc``): SAM's age encoder reads RGB plus an age plane.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.methods.stylegan.generator import EqualLinear

# W+ rows 0-2 read the 16x16 level, 3-6 the 32x32 level, 7+ the 64x64 level.
COARSE_END = 3
MIDDLE_END = 7
ENCODER_INPUT_SIZE = 256


class _Unit(NamedTuple):
    in_channel: int
    depth: int
    stride: int


def ir50_units() -> list[_Unit]:
    """The 24 bottleneck units of IR-50: (3, 4, 14, 3) units of 64, 128, 256, 512 channels."""
    units: list[_Unit] = []
    in_channel = 64
    for depth, count in ((64, 3), (128, 4), (256, 14), (512, 3)):
        units.append(_Unit(in_channel, depth, 2))
        units.extend(_Unit(depth, depth, 1) for _ in range(count - 1))
        in_channel = depth
    return units


# Backbone taps: after unit 6 (128 ch, 64x64), unit 20 (256 ch, 32x32), unit 23 (512 ch, 16x16).
TAP_FINE, TAP_MIDDLE, TAP_COARSE = 6, 20, 23


class SEModule(nn.Module):
    """Squeeze-and-excitation channel gate."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean(dim=(2, 3), keepdim=True)
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(gate))))
        return x * gate


class Subsample(nn.Module):
    """Identity shortcut with a stride (a 1x1 max-pool in the reference)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x


class BottleneckIRSE(nn.Module):
    """IR-SE residual unit: BN, 3x3 conv, PReLU, strided 3x3 conv, BN, SE; plus shortcut."""

    def __init__(self, in_channel: int, depth: int, stride: int) -> None:
        super().__init__()
        if in_channel == depth:
            self.shortcut_layer: nn.Module = Subsample(stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channel, depth, 1, stride, bias=False),
                nn.BatchNorm2d(depth),
            )
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channel),
            nn.Conv2d(in_channel, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            nn.BatchNorm2d(depth),
            SEModule(depth, 16),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class GradualStyleBlock(nn.Module):
    """Strided 3x3 convolutions down to 1x1, then an equalised linear layer -> one style."""

    def __init__(self, in_c: int, out_c: int, spatial: int) -> None:
        super().__init__()
        self.out_c = out_c
        layers: list[nn.Module] = []
        for i in range(int(math.log2(spatial))):
            layers += [nn.Conv2d(in_c if i == 0 else out_c, out_c, 3, 2, 1), nn.LeakyReLU(0.01)]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_c, out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).reshape(-1, self.out_c))


def _upsample_add(top: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
    """Bilinearly resize `top` to `lateral`'s size and add (FPN merge)."""
    size = lateral.shape[-2:]
    return F.interpolate(top, size=size, mode="bilinear", align_corners=True) + lateral


class _PyramidEncoder(nn.Module):
    """IR-SE-50 backbone + feature pyramid + one GradualStyleBlock per W+ row.

    Args:
        n_styles (int): W+ rows of the target generator (18 for 1024 px). Default: 18.
        input_nc (int): input channels: 3 (RGB), or 4 for SAM (RGB + age plane). Default: 3.
    """

    def __init__(self, n_styles: int = 18, input_nc: int = 3) -> None:
        super().__init__()
        self.n_styles = n_styles
        self.input_nc = input_nc
        self.input_layer = nn.Sequential(
            nn.Conv2d(input_nc, 64, 3, 1, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.PReLU(64),
        )
        self.body = nn.Sequential(*[BottleneckIRSE(*unit) for unit in ir50_units()])
        self.styles = nn.ModuleList()
        for i in range(n_styles):
            spatial = 16 if i < COARSE_END else 32 if i < MIDDLE_END else 64
            self.styles.append(GradualStyleBlock(512, 512, spatial))
        self.latlayer1 = nn.Conv2d(256, 512, 1)
        self.latlayer2 = nn.Conv2d(128, 512, 1)

    def pyramid(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Backbone taps (fine [N,128,64,64], middle [N,256,32,32], coarse [N,512,16,16])."""
        x = self.input_layer(x)
        taps: dict[int, torch.Tensor] = {}
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in (TAP_FINE, TAP_MIDDLE, TAP_COARSE):
                taps[i] = x
        return taps[TAP_FINE], taps[TAP_MIDDLE], taps[TAP_COARSE]


class GradualStyleEncoder(_PyramidEncoder):
    """pSp encoder: each W+ row predicted from its pyramid level."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs [N, input_nc, 256, 256] in [-1, 1] -> codes [N, n_styles, 512] (before latent_avg)."""
        c1, c2, c3 = self.pyramid(x)
        p2 = _upsample_add(c3, self.latlayer1(c2))
        p1 = _upsample_add(p2, self.latlayer2(c1))
        levels = [c3] * COARSE_END + [p2] * (MIDDLE_END - COARSE_END)
        levels += [p1] * (self.n_styles - MIDDLE_END)
        return torch.stack([style(levels[i]) for i, style in enumerate(self.styles)], dim=1)


class Encoder4Editing(_PyramidEncoder):
    """e4e encoder: a base W code (row 0, coarse level) plus one delta per further row."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images [N, 3, 256, 256] in [-1, 1] -> codes [N, n_styles, 512] (before latent_avg)."""
        c1, c2, c3 = self.pyramid(x)
        base = self.styles[0](c3)  # [N, 512]
        rows = [base]
        features = c3
        p2 = None
        for i in range(1, self.n_styles):
            if i == COARSE_END:
                p2 = _upsample_add(c3, self.latlayer1(c2))
                features = p2
            elif i == MIDDLE_END:
                features = _upsample_add(p2, self.latlayer2(c1))
            rows.append(base + self.styles[i](features))
        return torch.stack(rows, dim=1)


ENCODER_CLASSES: dict[str, type[_PyramidEncoder]] = {
    "e4e": Encoder4Editing,
    "psp": GradualStyleEncoder,
}


def n_styles_from_state_dict(state_dict: dict[str, torch.Tensor]) -> int:
    """Number of W+ rows an encoder state dict predicts (its ``styles.N`` blocks).

    Raises:
        ValueError: no ``styles.N.linear.weight`` keys.
    """
    n = sum(1 for k in state_dict if k.startswith("styles.") and k.endswith(".linear.weight"))
    if n == 0:
        raise ValueError("not an e4e/pSp encoder state dict (no styles.N.linear.weight keys)")
    return n


def input_nc_from_state_dict(state_dict: dict[str, torch.Tensor]) -> int:
    """Input channels of an encoder state dict (3 for e4e/pSp, 4 for SAM's age encoder).

    Raises:
        ValueError: no 4-D ``input_layer.0.weight``.
    """
    weight = state_dict.get("input_layer.0.weight")
    if weight is None or weight.ndim != 4:
        raise ValueError("not an e4e/pSp encoder state dict (no 4-D input_layer.0.weight)")
    return int(weight.shape[1])
