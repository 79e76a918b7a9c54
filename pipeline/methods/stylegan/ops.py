"""StyleGAN2's low-level pieces in plain PyTorch: the precision policy, FIR resampling
(``upfirdn2d``) and the fused bias + leaky ReLU, with no custom CUDA kernels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Precision:
    """Which synthesis blocks run in a reduced dtype, and the activation clamp there.

    Attributes:
        dtype (torch.dtype): ``torch.float32`` (everything full precision),
            ``torch.float16`` or ``torch.bfloat16``.
        min_resolution (int): blocks at this resolution and above use `dtype`.
        clamp (float | None): clamp activations of the reduced blocks to +-clamp.
    """

    dtype: torch.dtype = torch.float32
    min_resolution: int = 128
    clamp: float | None = None

    @property
    def name(self) -> str:
        return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(self.dtype, "fp32")

    def dtype_at(self, resolution: int) -> torch.dtype:
        """The dtype of the block producing `resolution` x `resolution` features."""
        return self.dtype if resolution >= self.min_resolution else torch.float32

    def clamp_at(self, resolution: int) -> float | None:
        return self.clamp if self.dtype_at(resolution) != torch.float32 else None

    def describe(self) -> str:
        if self.dtype == torch.float32:
            return "fp32"
        clamp = f", clamp +-{self.clamp:g}" if self.clamp else ""
        return f"{self.name} at >= {self.min_resolution} px{clamp}, fp32 below"


# StyleGAN2-ADA's defaults: the 4 highest resolutions in fp16, conv_clamp 256.
FP32 = Precision()
FP16 = Precision(torch.float16, min_resolution=128, clamp=256.0)
BF16 = Precision(torch.bfloat16, min_resolution=128, clamp=None)
PRECISIONS = {"fp32": FP32, "fp16": FP16, "bf16": BF16}


def top_resolutions(size: int, n: int = 4) -> int:
    """The lowest of the `n` highest resolutions of a `size` px generator (128 at 1024)."""
    return max(4, size >> (n - 1))


# The [1, 3, 3, 1] binomial filter every FFHQ StyleGAN2 uses for resampling.
BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)
LRELU_GAIN = math.sqrt(2.0)


def make_kernel(taps: Sequence[float]) -> torch.Tensor:
    """Separable FIR taps -> normalised 2-D kernel [K, K] (sums to 1)."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(
    x: torch.Tensor,
    kernel: torch.Tensor,
    *,
    up: int = 1,
    down: int = 1,
    pad: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with a 2-D FIR filter, downsample.

    Same semantics as the reference ``upfirdn2d`` (a true convolution, so the
    kernel is flipped before ``F.conv2d``), with the same padding on both axes.

    Args:
        x (torch.Tensor): [N, C, H, W] input.
        kernel (torch.Tensor): [Kh, Kw] filter.
        up (int): upsampling factor. Default: 1.
        down (int): downsampling factor. Default: 1.
        pad (tuple[int, int]): padding before and after, on both axes (may be negative).

    Returns:
        torch.Tensor: [N, C, H', W'] filtered output.
    """
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    p0, p1 = pad
    conv_pad = 0
    if p0 == p1 and p0 > 0:
        conv_pad = p0  # symmetric: let the convolution pad (no extra copy)
    elif p0 or p1:
        x = F.pad(x, [p0, p1, p0, p1])
    kh, kw = kernel.shape
    weight = torch.flip(kernel, [0, 1]).to(dtype=x.dtype).reshape(1, 1, kh, kw)
    x = F.conv2d(x, weight.expand(c, 1, kh, kw), padding=conv_pad, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def bias_leaky_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``leaky_relu(x + bias, 0.2) * sqrt(2)``: the reference fused activation."""
    shape = [1, bias.shape[0]] + [1] * (x.ndim - 2)
    return F.leaky_relu(x + bias.to(x.dtype).reshape(shape), 0.2) * LRELU_GAIN
