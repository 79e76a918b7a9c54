"""Batched encoding and frame synthesis, and their ZeroGPU (``spaces.GPU``) entry points.

The core functions (:func:`encode_images`, :func:`render_wplus`) take loaded
networks and are what the benchmark times. The ``gpu_*`` entry points take only
small picklable arguments (ZeroGPU runs them in a forked worker and pickles
arguments and results), look the networks up in the per-process cache, and are
wrapped with ``spaces.GPU`` with a duration estimated from the amount of work.
Off Spaces the wrapper is a no-op.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.methods.stylegan.encoders import ENCODER_INPUT_SIZE
from pipeline.methods.stylegan.models import StyleGANModels, models_for

log = logging.getLogger(__name__)

try:  # `spaces` is optional: its decorator is a no-op off Hugging Face Spaces.
    import spaces as _spaces
except Exception:  # pragma: no cover - depends on the installation
    _spaces = None

# ZeroGPU duration model (seconds): start-up margin plus per-item costs measured
# generously (an H100 renders 1024 px frames at well over 40/s in fp16).
_GPU_BASE_S = 15.0
_GPU_PER_FRAME_S = 0.15
_GPU_PER_FACE_S = 0.1
_GPU_MAX_S = 300


def _gpu(duration: Callable[..., int]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``spaces.GPU(duration=...)`` when available, else the identity decorator."""
    if _spaces is None:
        return lambda fn: fn
    try:
        return _spaces.GPU(duration=duration)
    except Exception as exc:  # pragma: no cover - a broken `spaces` must not break the method
        log.warning("spaces.GPU unavailable (%s); running without it", exc)
        return lambda fn: fn


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager:
    """fp16 autocast on CUDA, nothing (fp32) elsewhere."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def default_batch_size(device: torch.device) -> int:
    """Frames per generator batch: large on a GPU, small on CPU (memory, latency)."""
    return 16 if device.type == "cuda" else 2


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
    with autocast_for(models.device):
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
        with autocast_for(models.device):
            images = models.generator.synthesis(chunk)
        out[start : start + chunk.shape[0]] = images_to_uint8(images, size).cpu().numpy()
    return out


def _clamp_duration(seconds: float) -> int:
    return int(min(_GPU_MAX_S, math.ceil(seconds)))


def _encode_duration(
    encoder: str, device: str, checkpoint_id: str, images: Sequence[np.ndarray]
) -> int:
    return _clamp_duration(_GPU_BASE_S + _GPU_PER_FACE_S * len(images))


def _render_duration(
    encoder: str, device: str, checkpoint_id: str, wplus: np.ndarray, size: int, batch_size: int
) -> int:
    return _clamp_duration(_GPU_BASE_S + _GPU_PER_FRAME_S * len(wplus))


@_gpu(duration=_encode_duration)
def gpu_encode(
    encoder: str, device: str, checkpoint_id: str, images: Sequence[np.ndarray]
) -> np.ndarray:
    """Encode faces with the cached networks -> [N, n_latent, 512] float32 (``latent_avg`` added).

    Args:
        encoder (str): ``e4e`` or ``psp``.
        device (str): torch device name.
        checkpoint_id (str): the weights to use (from :func:`get_models`).
        images (Sequence[np.ndarray]): [S, S, 3] uint8 aligned faces.
    """
    return encode_images(models_for(encoder, device, checkpoint_id), images).numpy()


@_gpu(duration=_render_duration)
def gpu_render(
    encoder: str, device: str, checkpoint_id: str, wplus: np.ndarray, size: int, batch_size: int
) -> np.ndarray:
    """Render W+ latents with the cached generator -> [N, size, size, 3] uint8.

    Args:
        encoder (str): ``e4e`` or ``psp``.
        device (str): torch device name.
        checkpoint_id (str): the weights to use (those that encoded the latents).
        wplus (np.ndarray): [N, n_latent, 512] latents.
        size (int): output side in pixels.
        batch_size (int): frames per generator call.
    """
    models = models_for(encoder, device, checkpoint_id)
    return render_wplus(models, wplus, size=size, batch_size=batch_size)


def estimated_gpu_seconds(n_frames: int) -> int:
    """The ZeroGPU duration requested for rendering `n_frames` frames."""
    return _clamp_duration(_GPU_BASE_S + _GPU_PER_FRAME_S * n_frames)
