"""Batched encoding and frame synthesis on loaded networks.

:func:`encode_images` (resize to 256, encoder, + ``latent_avg``) and
:func:`render_wplus` (generator, resize to the output size, uint8, to the host)
are what the ``stylegan`` method and the benchmarks run. The encoders run in
fp32 (a handful of faces per video); the generator runs in the precision the
networks were loaded with (:attr:`StyleGANModels.precision`). Nothing here is
wrapped for ZeroGPU: the one GPU wrapper is :mod:`pipeline.methods.stylegan.zerogpu`,
around a whole render.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.methods.stylegan.encoders import ENCODER_INPUT_SIZE
from pipeline.methods.stylegan.models import StyleGANModels

log = logging.getLogger(__name__)


def default_batch_size(device: torch.device) -> int:
    """Frames per generator batch: 8 on a GPU (the largest batch ``bench/gpu_check.py``
    times; 1024 px fp16 activations stay under 2 GiB), 2 on CPU (memory, latency)."""
    return 8 if device.type == "cuda" else 2


def images_to_encoder_input(images: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """Aligned faces ([S, S, 3] uint8, any S) -> [N, 3, 256, 256] float32 in [-1, 1].

    Resizes with antialiased bilinear filtering, as the encoders' training
    transform (``Resize(256)`` + ``Normalize(0.5, 0.5)``) does.
    """
    batch = []
    for img in images:
        arr = np.asarray(img)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"expected an [S, S, 3] uint8 image, got {arr.shape} {arr.dtype}")
        if not arr.flags.writeable or not arr.flags.c_contiguous:
            arr = np.array(arr, copy=True, order="C")
        x = torch.from_numpy(arr).to(device).permute(2, 0, 1)[None].float()
        if x.shape[-2:] != (ENCODER_INPUT_SIZE, ENCODER_INPUT_SIZE):
            x = F.interpolate(
                x,
                size=(ENCODER_INPUT_SIZE, ENCODER_INPUT_SIZE),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        batch.append(x)
    return torch.cat(batch).div_(127.5).sub_(1.0).clamp_(-1.0, 1.0)


@torch.no_grad()
def encode_images(models: StyleGANModels, images: Sequence[np.ndarray]) -> torch.Tensor:
    """Encode aligned faces in one batch into W+ (``latent_avg`` added).

    Args:
        models (StyleGANModels): loaded networks.
        images (Sequence[np.ndarray]): [S, S, 3] uint8 FFHQ-aligned faces.

    Returns:
        torch.Tensor: [N, n_latent, 512] float32 on CPU.
    """
    if not images:
        return torch.empty(0, models.n_latent, models.generator.style_dim)
    x = images_to_encoder_input(images, models.device)
    codes = models.encoder(x)
    wplus = codes.float() + models.latent_avg[None]
    return wplus.cpu()


def images_to_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Generator output [N, 3, H, W] (about [-1, 1]) -> [N, size, size, 3] uint8, same device."""
    x = images.float()
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
    x = ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round_()
    return x.to(torch.uint8).permute(0, 2, 3, 1).contiguous()


@torch.no_grad()
def render_wplus(
    models: StyleGANModels, wplus: torch.Tensor | np.ndarray, *, size: int, batch_size: int
) -> np.ndarray:
    """Generate frames from W+ latents in batches.

    Args:
        models (StyleGANModels): loaded networks.
        wplus (torch.Tensor | np.ndarray): [N, n_latent, 512] latents.
        size (int): output side in pixels (frames are resized from the generator's size).
        batch_size (int): frames per generator call.

    Returns:
        np.ndarray: [N, size, size, 3] uint8 RGB frames.
    """
    w = torch.as_tensor(wplus, dtype=torch.float32)
    out = np.empty((w.shape[0], size, size, 3), dtype=np.uint8)
    step = max(1, int(batch_size))
    for start in range(0, w.shape[0], step):
        chunk = w[start : start + step].to(models.device)
        images = models.generator.synthesis(chunk, models.precision)
        out[start : start + chunk.shape[0]] = images_to_uint8(images, size).cpu().numpy()
    return out
