"""The generator's reduced-precision path on a CPU: GPU-style convolutions and the error limits.

These CPUs (AVX2, no AVX-512 FP16/BF16) have no fast fp16/bf16 convolution
kernels: torch falls back to reference loops (``slow_conv_transpose2d``, one
``slow_conv2d`` call per channel for the depthwise FIR filters), and one
1024 px frame with the four top blocks reduced took over 15 minutes here (about
35 s even with channels-last tensors), against 6 s in fp32. What is slow is
only the convolution kernels, so :class:`GpuStyleConvolutions` replaces just
those, and only for fp16/bf16 operands, with what a GPU's tensor-core kernels
compute: the fp16/bf16 operands widened to fp32 (exact), accumulated in fp32,
the result rounded once to the operands' dtype.

Everything else runs as on the GPU, through the same generator code and the
same :class:`~pipeline.methods.stylegan.ops.Precision` policy: the tensors of
the reduced blocks really are fp16/bf16 (their storage, every cast, the
elementwise ops, the clamp to +-256 for fp16, the overflow to inf where a value
leaves fp16's range), and the mapping, the low resolutions, the demodulation
coefficients and the RGB skip stay fp32.

Not emulated: the summation order and the algorithm a GPU picks (cuDNN may use
Winograd or FFT convolutions, whose rounding differs slightly) and TF32 in the
fp32 blocks; a kernel accumulating in fp16 would differ more (PyTorch's CUDA
convolutions accumulate fp16/bf16 in fp32). The CPU's own fp16/bf16 forward
convolutions agree with this stand-in to one unit in the last place (its
transposed convolution rounds partial sums and is slightly less exact).
``bench/gpu_check.py`` checks the real GPU path with the same limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


@dataclass(frozen=True)
class Limits:
    """How far a reduced-precision image may be from fp32 on the same W+.

    Attributes:
        max_rel (float): largest raw difference over the fp32 image's peak magnitude. The
            recipe's images reach about +-30 (random weights; real ones stay near [-1, 1])
            and every rounding scales with the values rounded, so the worst pixel is
            judged against the peak: a few units in the last place of the dtype.
        mean_abs (float): mean difference of the images clipped to [-1, 1], as frames are
            made (a uint8 step is 2/255 = 0.008).
    """

    max_rel: float
    mean_abs: float


# fp16 keeps 11 significant bits (unit roundoff 2**-11 = 0.05 %), bf16 8 (2**-8 = 0.4 %).
LIMITS = {"fp16": Limits(max_rel=0.005, mean_abs=0.01), "bf16": Limits(max_rel=0.03, mean_abs=0.02)}


@dataclass(frozen=True)
class Errors:
    """Differences of a reduced-precision image from the fp32 one (see :class:`Limits`)."""

    finite: bool
    max_rel: float
    mean_abs: float
    max_abs: float  # of the clipped images, for the record

    def failures(self, limits: Limits) -> list[str]:
        """What exceeds `limits` (empty when the image passes)."""
        out = [] if self.finite else ["NaN or inf in the image"]
        if not self.max_rel <= limits.max_rel:
            out.append(f"max error {self.max_rel:.2%} of the peak > {limits.max_rel:.2%}")
        if not self.mean_abs <= limits.mean_abs:
            out.append(f"mean error {self.mean_abs:.4f} > {limits.mean_abs}")
        return out

    def __str__(self) -> str:
        return (
            f"finite={self.finite}, max {self.max_rel:.3%} of the peak, mean {self.mean_abs:.5f} "
            f"(clipped to [-1, 1]; max there {self.max_abs:.4f})"
        )


def image_errors(out: torch.Tensor, ref: torch.Tensor) -> Errors:
    """Compare generator outputs `out` (reduced precision) and `ref` (fp32), same W+."""
    out, ref = out.float(), ref.float()
    finite = bool(torch.isfinite(out).all())
    peak = float(ref.abs().max())
    clipped = (out.clamp(-1, 1) - ref.clamp(-1, 1)).abs()
    return Errors(
        finite=finite,
        max_rel=float((out - ref).abs().max()) / max(peak, 1e-12),
        mean_abs=float(clipped.mean()),
        max_abs=float(clipped.max()),
    )


REDUCED = (torch.float16, torch.bfloat16)
_CONVOLUTIONS = frozenset({F.conv2d, F.conv_transpose2d})  # the same objects as torch.conv*


class GpuStyleConvolutions(TorchFunctionMode):
    """Inside ``with GpuStyleConvolutions():`` fp16/bf16 convolutions run as fp32-accumulating
    tensor cores do (widen, convolve in fp32, round the result once); all else is untouched.

    Attributes:
        calls (dict[torch.dtype, int]): reduced-precision convolutions replaced, per dtype
            (a test can check that the reduced blocks really ran).
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[torch.dtype, int] = {}

    def __torch_function__(
        self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func in _CONVOLUTIONS and args and getattr(args[0], "dtype", None) in REDUCED:
            dtype = args[0].dtype
            self.calls[dtype] = self.calls.get(dtype, 0) + 1
            wide = [a.float() if isinstance(a, torch.Tensor) else a for a in args]
            return func(*wide, **kwargs).to(dtype)
        return func(*args, **kwargs)
