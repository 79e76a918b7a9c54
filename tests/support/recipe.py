"""Deterministic pseudo-random network values (the parity-fixture fill recipe, a test double).

No real weights can be downloaded on the development machines, so the parity
tests and the benchmark fill the networks with the recipe of
``shared/fixtures/stylegan/README.md``: per key, a generator seeded with the
CRC-32 of the key name, and a rule chosen from the key's name and shape. Speed
does not depend on the values, so the benchmark uses the same fill at 1024 px.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Mapping

import torch

_MAPPING_WEIGHT = re.compile(r"style\.\d+\.weight")


def recipe_tensor(
    key: str, shape: tuple[int, ...], dtype: torch.dtype, *, encoder: bool
) -> torch.Tensor | None:
    """The recipe value of one state-dict entry, or None for FIR ``.kernel`` buffers.

    Args:
        key (str): state-dict key (without ``encoder.`` / ``decoder.`` prefix).
        shape (tuple[int, ...]): tensor shape.
        dtype (torch.dtype): tensor dtype.
        encoder (bool): the key belongs to an encoder (enables the fan-in rule).

    Returns:
        torch.Tensor | None: the value on CPU; None means "keep the true filter".
    """
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    if not dtype.is_floating_point:
        return torch.zeros(shape, dtype=dtype)
    if key.endswith(".kernel"):
        return None
    if key.endswith("running_var"):
        return 0.75 + 0.5 * torch.rand(shape, generator=g)
    if key.endswith("running_mean"):
        return 0.1 * torch.randn(shape, generator=g)
    if key.endswith("bias"):
        return 0.1 * torch.randn(shape, generator=g)
    if len(shape) == 1 and key.endswith("weight"):
        return 1.0 + 0.1 * torch.randn(shape, generator=g)
    if _MAPPING_WEIGHT.fullmatch(key):
        return 100.0 * torch.randn(shape, generator=g)
    if encoder and len(shape) >= 2:
        return torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
    return torch.randn(shape, generator=g)


def recipe_state_dict(
    reference: Mapping[str, torch.Tensor], *, encoder: bool
) -> dict[str, torch.Tensor]:
    """Fill every entry of `reference` (a module's state dict) by the recipe.

    FIR ``.kernel`` buffers keep the value found in `reference` (their true filter).

    Args:
        reference (Mapping[str, torch.Tensor]): key -> tensor giving shape, dtype and kernels.
        encoder (bool): fill for an encoder (see :func:`recipe_tensor`).

    Returns:
        dict[str, torch.Tensor]: key -> CPU tensor, walked in sorted key order.
    """
    out: dict[str, torch.Tensor] = {}
    for key in sorted(reference):
        ref = reference[key]
        value = recipe_tensor(key, tuple(ref.shape), ref.dtype, encoder=encoder)
        if value is None:
            if ref.is_meta:
                raise ValueError(f"{key}: a FIR kernel needs its true value, got a meta tensor")
            value = ref.detach().to("cpu").clone()
        out[key] = value.to(ref.dtype)
    return out
