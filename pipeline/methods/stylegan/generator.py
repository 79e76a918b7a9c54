"""StyleGAN2 generator in plain PyTorch, parameter-compatible with rosinality checkpoints.

The module tree and parameter names follow the rosinality ``stylegan2-pytorch``
layout (``style.N``, ``input.input``, ``conv1``, ``to_rgb1``, ``convs``,
``to_rgbs``, ``noises.noise_i``), which is also the ``decoder.`` part of the e4e
and pSp checkpoints, so those state dicts load with ``strict=True``.

No custom CUDA kernels: the FIR resampling (``upfirdn2d``) is a zero-insertion,
a pad and a depthwise ``F.conv2d``; the fused bias + leaky ReLU is two torch ops.
The modulated convolutions scale the activations instead of building one
weight per sample (the "non-fused" form), which batches well and is
numerically the same as the grouped-convolution form.

Reduced precision follows the official StyleGAN2-ADA generator: a
:class:`Precision` runs only the blocks at the highest resolutions in fp16
(``num_fp16_res = 4``: 128 to 1024 px at 1024 px) with their activations
clamped to +-256 (``conv_clamp``), or in bf16 (fp32's range, no clamp needed);
the mapping, the low resolutions, the demodulation coefficients and the RGB
skip image stay in fp32.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

# The precision policy and the FIR/activation ops live in ops.py; their names stay importable here.
from pipeline.methods.stylegan.ops import (  # noqa: F401
    BF16,
    BLUR_TAPS,
    FP16,
    FP32,
    LRELU_GAIN,
    PRECISIONS,
    Precision,
    bias_leaky_relu,
    make_kernel,
    top_resolutions,
    upfirdn2d,
)


class PixelNorm(nn.Module):
    """Normalise each latent vector to unit root-mean-square."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (runtime weight scaling).

    Args:
        in_dim (int): input features.
        out_dim (int): output features.
        bias_init (float): initial bias value. Default: 0.
        lr_mul (float): learning-rate multiplier baked into the stored values. Default: 1.
        activation (bool): apply the fused bias + leaky ReLU. Default: False.
    """

    def __init__(
        self,
        in_dim: int,  # input features
        out_dim: int,  # output features
        *,
        bias_init: float = 0.0,  # initial bias
        lr_mul: float = 1.0,  # learning-rate multiplier (0.01 in the mapping network)
        activation: bool = False,  # fused bias + leaky ReLU
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            return bias_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class Blur(nn.Module):
    """FIR low-pass filter applied after a transposed convolution.

    Args:
        pad (tuple[int, int]): padding before and after.
        upsample_factor (int): gain compensation for the zeros inserted upstream.
    """

    def __init__(self, pad: tuple[int, int], upsample_factor: int = 1) -> None:
        super().__init__()
        self.register_buffer("kernel", make_kernel(BLUR_TAPS) * upsample_factor**2)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR upsampling of the RGB skip branch."""

    def __init__(self, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(BLUR_TAPS) * factor**2)
        p = len(BLUR_TAPS) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Style-modulated (and optionally demodulated) convolution, optionally 2x upsampling.

    Args:
        in_channel (int): input channels.
        out_channel (int): output channels.
        kernel_size (int): square kernel size.
        style_dim (int): latent size.
        demodulate (bool): normalise each output channel. Default: True.
        upsample (bool): transposed stride-2 convolution followed by a blur. Default: False.
    """

    def __init__(
        self,
        in_channel: int,  # input channels
        out_channel: int,  # output channels
        kernel_size: int,  # square kernel size
        style_dim: int,  # latent size
        *,
        demodulate: bool = True,  # per-output-channel normalisation
        upsample: bool = False,  # 2x upsampling (transposed conv + blur)
    ) -> None:
        super().__init__()
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.upsample = upsample
        if upsample:
            factor = 2
            p = (len(BLUR_TAPS) - factor) - (kernel_size - 1)
            self.blur = Blur(pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(
            torch.randn(1, out_channel, in_channel, kernel_size, kernel_size)
        )
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0)

    def modulated(
        self, x: torch.Tensor, w: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Modulated convolution before demodulation.

        Returns:
            tuple[torch.Tensor, torch.Tensor | None]: the raw output [N, Cout, H', W'] and
            the demodulation coefficients [N, Cout] (None when not demodulating), so a
            caller can fold them into its next elementwise operation.
        """
        n = x.shape[0]
        style = self.modulation(w)  # [N, Cin]
        weight = self.weight[0] * self.scale  # [Cout, Cin, k, k]
        dcoefs = None
        if self.demodulate:
            # Demodulation makes the output invariant to a per-sample scale of the
            # style; dividing by its max keeps fp16 activations far from overflow.
            style = style / style.detach().abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
            with torch.autocast(device_type=x.device.type, enabled=False):
                wsq = weight.float().square().sum(dim=[2, 3])  # [Cout, Cin]
                dcoefs = torch.rsqrt(style.float().square() @ wsq.t() + 1e-8)  # [N, Cout]
        x = x * style.to(x.dtype).reshape(n, -1, 1, 1)
        if self.upsample:
            x = F.conv_transpose2d(x, weight.transpose(0, 1).to(x.dtype), stride=2)
            x = self.blur(x)
        else:
            x = F.conv2d(x, weight.to(x.dtype), padding=self.padding)
        return x, dcoefs

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Convolve `x` [N, Cin, H, W] modulated by latent `w` [N, style_dim]."""
        out, dcoefs = self.modulated(x, w)
        if dcoefs is not None:
            out = out * dcoefs.to(out.dtype).reshape(*dcoefs.shape, 1, 1)
        return out


class NoiseInjection(nn.Module):
    """Adds per-pixel noise scaled by a learnt weight."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight.to(x.dtype) * noise.to(x.dtype)


class FusedLeakyReLU(nn.Module):
    """Learnt per-channel bias followed by the scaled leaky ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bias_leaky_relu(x, self.bias)


class StyledConv(nn.Module):
    """Modulated 3x3 convolution + noise + activation (one synthesis layer)."""

    def __init__(
        self, in_channel: int, out_channel: int, style_dim: int, *, upsample: bool = False
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor, clamp: float | None = None
    ) -> torch.Tensor:
        """``lrelu(conv(x) * dcoef + noise_w * noise + bias) * sqrt(2)`` in two full passes.

        The gain is positive, so it moves inside the leaky ReLU and onto the
        demodulation coefficients and the batch-independent noise + bias term.
        `clamp` limits the result to +-clamp (reduced-precision blocks).
        """
        out, dcoefs = self.conv.modulated(x, w)
        assert dcoefs is not None  # StyledConv always demodulates
        shift = self.noise.weight * noise + self.activate.bias.reshape(1, -1, 1, 1)  # [1,C,H,W]
        scale = (dcoefs * LRELU_GAIN).reshape(*dcoefs.shape, 1, 1)  # [N, C, 1, 1]
        out = torch.addcmul((shift * LRELU_GAIN).to(out.dtype), out, scale.to(out.dtype))
        out = F.leaky_relu_(out, 0.2)
        return out.clamp_(-clamp, clamp) if clamp is not None else out


class ToRGB(nn.Module):
    """1x1 modulated convolution to RGB, added to the upsampled skip image."""

    def __init__(self, in_channel: int, style_dim: int, *, upsample: bool = True) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        skip: torch.Tensor | None = None,
        clamp: float | None = None,
    ) -> torch.Tensor:
        """RGB of `x` plus the upsampled `skip`; returned in fp32 whatever the dtype of `x`."""
        out = self.conv(x, w) + self.bias.to(x.dtype)
        if clamp is not None:
            out = out.clamp_(-clamp, clamp)
        out = out.float()
        if skip is not None:
            out = out + self.upsample(skip.float())
        return out


class ConstantInput(nn.Module):
    """The learnt 4x4 starting tensor."""

    def __init__(self, channel: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


def channel_counts(channel_multiplier: int) -> dict[int, int]:
    """Feature channels per resolution of the FFHQ config-f family."""
    return {
        4: 512,
        8: 512,
        16: 512,
        32: 512,
        64: 256 * channel_multiplier,
        128: 128 * channel_multiplier,
        256: 64 * channel_multiplier,
        512: 32 * channel_multiplier,
        1024: 16 * channel_multiplier,
    }


class Generator(nn.Module):
    """StyleGAN2 generator (mapping + synthesis).

    Args:
        size (int): output resolution (power of two, 8..1024).
        style_dim (int): latent size. Default: 512.
        n_mlp (int): mapping network depth. Default: 8.
        channel_multiplier (int): width of the high-resolution layers. Default: 2.
        lr_mlp (float): learning-rate multiplier of the mapping network. Default: 0.01.
    """

    def __init__(
        self,
        size: int,  # output resolution
        style_dim: int = 512,  # latent size
        n_mlp: int = 8,  # mapping depth
        channel_multiplier: int = 2,  # config-f width
        lr_mlp: float = 0.01,  # mapping learning-rate multiplier
    ) -> None:
        super().__init__()
        log_size = int(math.log2(size))
        if 2**log_size != size or not 3 <= log_size <= 10:
            raise ValueError(f"StyleGAN2 size must be a power of two in 8..1024, got {size}")
        self.size = size
        self.style_dim = style_dim
        self.log_size = log_size
        self.num_layers = (log_size - 2) * 2 + 1  # synthesis convolutions (= noise inputs)
        self.n_latent = log_size * 2 - 2  # W+ rows
        channels = channel_counts(channel_multiplier)

        self.style = nn.Sequential(
            PixelNorm(),
            *[
                EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True)
                for _ in range(n_mlp)
            ],
        )
        self.input = ConstantInput(channels[4])
        self.conv1 = StyledConv(channels[4], channels[4], style_dim)
        self.to_rgb1 = ToRGB(channels[4], style_dim, upsample=False)

        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        in_channel = channels[4]
        for i in range(3, log_size + 1):
            out_channel = channels[2**i]
            self.convs.append(StyledConv(in_channel, out_channel, style_dim, upsample=True))
            self.convs.append(StyledConv(out_channel, out_channel, style_dim))
            self.to_rgbs.append(ToRGB(out_channel, style_dim))
            in_channel = out_channel

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """Z [N, style_dim] -> W [N, style_dim]."""
        return self.style(z)

    def latent_from_z(self, z: torch.Tensor) -> torch.Tensor:
        """Z [N, style_dim] -> W+ [N, n_latent, style_dim] (truncation 1, no mixing)."""
        return self.mapping(z)[:, None, :].expand(-1, self.n_latent, -1)

    def synthesis(self, wplus: torch.Tensor, precision: Precision = FP32) -> torch.Tensor:
        """W+ [N, n_latent, style_dim] -> image [N, 3, size, size] float32, roughly in [-1, 1].

        Uses the stored noise buffers, so the same latent always gives the same image.
        `precision` picks the dtype per block (default: fp32 throughout); `wplus` is
        used in fp32.
        """
        if wplus.ndim != 3 or wplus.shape[1:] != (self.n_latent, self.style_dim):
            raise ValueError(
                f"W+ must be [N, {self.n_latent}, {self.style_dim}], got {list(wplus.shape)}"
            )
        wplus = wplus.float()
        noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        out = self.input(wplus.shape[0]).to(precision.dtype_at(4))
        clamp = precision.clamp_at(4)
        out = self.conv1(out, wplus[:, 0], noise[0], clamp)
        skip = self.to_rgb1(out, wplus[:, 1], None, clamp)
        i, res = 1, 4
        for up_conv, conv, to_rgb, n1, n2 in zip(
            self.convs[::2], self.convs[1::2], self.to_rgbs, noise[1::2], noise[2::2]
        ):
            res *= 2
            out, clamp = out.to(precision.dtype_at(res)), precision.clamp_at(res)
            out = up_conv(out, wplus[:, i], n1, clamp)
            out = conv(out, wplus[:, i + 1], n2, clamp)
            skip = to_rgb(out, wplus[:, i + 2], skip, clamp)
            i += 2
        return skip

    def precision_for(self, name: str) -> Precision:
        """``fp32``, ``fp16`` or ``bf16`` for this generator: the reduced dtype at its 4
        highest resolutions (as StyleGAN2-ADA's ``num_fp16_res = 4``).

        Raises:
            ValueError: unknown name.
        """
        if name not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
        return replace(PRECISIONS[name], min_resolution=top_resolutions(self.size))

    def forward(self, wplus: torch.Tensor, precision: Precision = FP32) -> torch.Tensor:
        """Alias of :meth:`synthesis`."""
        return self.synthesis(wplus, precision)


def generator_config_from_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, int]:
    """Infer ``size``, ``n_mlp``, ``style_dim`` and ``channel_multiplier`` from a state dict.

    Raises:
        ValueError: the keys do not look like a rosinality StyleGAN2 generator.
    """
    n_rgbs = sum(1 for k in state_dict if re.fullmatch(r"to_rgbs\.\d+\.bias", k))
    n_mlp = sum(1 for k in state_dict if re.fullmatch(r"style\.\d+\.weight", k))
    if "input.input" not in state_dict or n_mlp == 0:
        raise ValueError("not a StyleGAN2 generator state dict (no input.input / style.N keys)")
    size = 2 ** (n_rgbs + 2)
    style_dim = int(state_dict["style.1.weight"].shape[1])
    channel_multiplier = 2
    if size >= 64:
        # convs.{2k} is the upsampling conv into resolution 2**(k+3); 64 px is k = 3.
        key = "convs.6.conv.weight"
        channel_multiplier = max(1, int(state_dict[key].shape[1]) // 256)
    return {
        "size": size,
        "style_dim": style_dim,
        "n_mlp": n_mlp,
        "channel_multiplier": channel_multiplier,
    }
