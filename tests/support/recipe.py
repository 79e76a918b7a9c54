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


def recipe_models(device: torch.device | str = "cpu", *, encoder: str = "e4e", size: int = 1024):
    """Full-size networks filled by the recipe: the 1024 px FFHQ generator and an 18-style
    e4e or pSp encoder, with a ``latent_avg`` from 512 mapped random latents, on `device`
    in that device's precision (:func:`precision_policy`). Speed does not depend on the
    values, and precision checks compare against fp32 on the same values. A smaller
    `size` (64 for a check on the CPU) gives a generator of that side and an encoder with
    its number of styles.

    Returns:
        StyleGANModels: ready for ``encode_images`` / ``render_wplus``.
    """
    from pipeline.methods.stylegan.encoders import ENCODER_CLASSES
    from pipeline.methods.stylegan.generator import Generator
    from pipeline.methods.stylegan.models import (
        StyleGANModels,
        build_encoder,
        build_generator,
        precision_policy,
    )

    device = torch.device(device)
    generator = Generator(size)  # built on the CPU: the FIR kernels get their true values
    generator = build_generator(recipe_state_dict(generator.state_dict(), encoder=False))
    with torch.device("meta"):
        shapes = ENCODER_CLASSES[encoder](generator.n_latent).state_dict()
    enc = build_encoder(encoder, recipe_state_dict(shapes, encoder=True))
    with torch.no_grad():
        z = torch.randn(512, 512, generator=torch.Generator().manual_seed(0))
        latent_avg = generator.mapping(z).mean(0, keepdim=True).repeat(generator.n_latent, 1)
    return StyleGANModels(
        encoder_name=encoder,
        encoder=enc.to(device),
        generator=generator.to(device),
        latent_avg=latent_avg.to(device),
        checkpoint_id=f"recipe-{encoder}",
        device=device,
        precision=precision_policy(device, generator),
    )
