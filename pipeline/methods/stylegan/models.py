"""Building the networks from state dicts, the precision policy, and the per-process model cache."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from pipeline.errors import MethodUnavailableError
from pipeline.methods.stylegan.encoders import ENCODER_CLASSES, n_styles_from_state_dict
from pipeline.methods.stylegan.generator import (
    FP32,
    Generator,
    Precision,
    generator_config_from_state_dict,
)
from pipeline.methods.stylegan.weights import (
    CheckpointParts,
    check_encoder,
    load_checkpoint_file,
    resolve_checkpoint,
    split_checkpoint,
    verify_file,
)

log = logging.getLogger(__name__)


def default_device() -> torch.device:
    """``cuda`` when a GPU is usable, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


PRECISION_ENV = "TIMELAPSE_STYLEGAN_PRECISION"


def precision_policy(device: torch.device | str, generator: Generator) -> Precision:
    """The generator's precision on `device`.

    ``TIMELAPSE_STYLEGAN_PRECISION`` = ``fp32``, ``fp16``, ``bf16`` or ``auto``
    (default). ``auto`` is fp32 on CPU and, on CUDA, what the official
    StyleGAN2-ADA generator does: fp16 in the 4 highest-resolution blocks with
    activations clamped to +-256, fp32 elsewhere. ``bf16`` uses the same blocks
    and needs no clamp (fp32's exponent range); it is refused on a GPU without
    bf16 support. ``bench/gpu_check.py`` checks both against fp32 on a GPU.

    Raises:
        MethodUnavailableError: an unknown value, or bf16 on a GPU without it.
    """
    device = torch.device(device)
    name = os.environ.get(PRECISION_ENV, "").strip().lower() or "auto"
    if name == "auto":
        name = "fp16" if device.type == "cuda" else "fp32"
    try:
        precision = generator.precision_for(name)
    except ValueError as exc:
        raise MethodUnavailableError(f"{PRECISION_ENV}: {exc} (or auto)") from exc
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise MethodUnavailableError(f"{PRECISION_ENV}=bf16 but this GPU has no bf16 support.")
    return precision


def _load_strict(module: nn.Module, state_dict: dict[str, torch.Tensor], what: str) -> nn.Module:
    """Load `state_dict` into a module built on the meta device (no wasted init)."""
    try:
        module.load_state_dict(state_dict, strict=True, assign=True)
    except RuntimeError as exc:
        raise MethodUnavailableError(f"{what} does not match the expected layout: {exc}") from exc
    return module.float().eval().requires_grad_(False)


def build_generator(state_dict: dict[str, torch.Tensor], *, what: str = "generator") -> Generator:
    """A :class:`Generator` sized from `state_dict` and loaded from it with ``strict=True``.

    Args:
        state_dict (dict[str, torch.Tensor]): rosinality-layout generator weights
            (``g_ema``, or an e4e/pSp ``decoder.`` part with the prefix stripped).
        what (str): name used in error messages.

    Raises:
        MethodUnavailableError: keys or shapes do not match.
    """
    try:
        config = generator_config_from_state_dict(state_dict)
    except (KeyError, ValueError) as exc:
        raise MethodUnavailableError(f"{what} is not a StyleGAN2 generator: {exc}") from exc
    with torch.device("meta"):
        generator = Generator(**config)
    return _load_strict(generator, state_dict, what)  # type: ignore[return-value]


def build_encoder(
    kind: str, state_dict: dict[str, torch.Tensor], *, what: str = "encoder"
) -> nn.Module:
    """An e4e or pSp encoder loaded from `state_dict` with ``strict=True``.

    Raises:
        MethodUnavailableError: keys or shapes do not match.
    """
    kind = check_encoder(kind)
    try:
        n_styles = n_styles_from_state_dict(state_dict)
    except ValueError as exc:
        raise MethodUnavailableError(f"{what}: {exc}") from exc
    with torch.device("meta"):
        encoder = ENCODER_CLASSES[kind](n_styles)
    return _load_strict(encoder, state_dict, what)


@dataclass
class StyleGANModels:
    """An encoder, its generator and ``latent_avg``, on one device.

    Attributes:
        encoder_name (str): ``e4e`` or ``psp``.
        encoder (nn.Module): images [N,3,256,256] in [-1,1] -> codes [N, n_latent, 512].
        generator (Generator): W+ -> images.
        latent_avg (torch.Tensor): [n_latent, 512] float32, added to the codes.
        checkpoint_id (str): identifies the weights (SHA-256 when verified).
        device (torch.device): where the networks live.
        precision (Precision): the generator's dtype per block (:func:`precision_policy`).
    """

    encoder_name: str
    encoder: nn.Module
    generator: Generator
    latent_avg: torch.Tensor
    checkpoint_id: str
    device: torch.device
    precision: Precision = field(default=FP32)

    @property
    def n_latent(self) -> int:
        return self.generator.n_latent


def models_from_parts(
    encoder_name: str,
    parts: CheckpointParts,
    *,
    device: torch.device | str,
    checkpoint_id: str,
    origin: str = "checkpoint",
) -> StyleGANModels:
    """Build and move to `device` the networks of a split e4e/pSp checkpoint.

    Raises:
        MethodUnavailableError: a part does not load, or encoder and generator disagree.
    """
    device = torch.device(device)
    encoder = build_encoder(encoder_name, parts.encoder, what=f"{origin} (encoder)")
    generator = build_generator(parts.decoder, what=f"{origin} (decoder)")
    n_latent = generator.n_latent
    if encoder.n_styles != n_latent:
        raise MethodUnavailableError(
            f"{origin}: the encoder predicts {encoder.n_styles} styles but the generator "
            f"takes {n_latent}."
        )
    latent_avg = parts.latent_avg.detach().float().reshape(-1, generator.style_dim)
    if parts.opts.get("start_from_latent_avg") is False:
        # Trained to predict absolute codes (not offsets from the average face).
        latent_avg = torch.zeros_like(latent_avg)
    if latent_avg.shape[0] == 1:
        latent_avg = latent_avg.expand(n_latent, -1)
    if latent_avg.shape[0] != n_latent:
        raise MethodUnavailableError(
            f"{origin}: latent_avg has shape {list(parts.latent_avg.shape)}, expected "
            f"[{n_latent}, {generator.style_dim}] or [{generator.style_dim}]."
        )
    return StyleGANModels(
        encoder_name=encoder_name,
        encoder=encoder.to(device),
        generator=generator.to(device),
        latent_avg=latent_avg.contiguous().to(device),
        checkpoint_id=checkpoint_id,
        device=device,
        precision=precision_policy(device, generator),
    )


# (encoder, device) -> loaded models; one lock so concurrent requests load once.
_models: dict[tuple[str, str], tuple[tuple[str, str], StyleGANModels]] = {}
_models_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child (a ZeroGPU worker) gets a fresh lock: the thread that held the
    parent's (a start-up load) does not exist there, so the old lock might never open."""
    global _models_lock
    _models_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def loaded_models(encoder: str, device: torch.device | str | None = None) -> StyleGANModels | None:
    """The networks already loaded for `encoder` on `device`, or None (never loads)."""
    device = torch.device(device) if device is not None else default_device()
    cached = _models.get((check_encoder(encoder), str(device)))
    return cached[1] if cached is not None else None


def get_models(
    encoder: str,
    device: torch.device | str | None = None,
    *,
    before_move: Callable[[], None] | None = None,
) -> StyleGANModels:
    """The networks for `encoder` on `device`, loaded once per process.

    Resolves the checkpoint (local path, Hub cache or download), checks its size
    and hash, reads it with ``weights_only=True`` (into memory, no memory map),
    builds the networks on the CPU and moves them to the device once. A changed
    checkpoint (other path or content) replaces the cached one.

    Args:
        encoder (str): ``e4e`` or ``psp``.
        device (torch.device | str | None): None picks :func:`default_device`.
        before_move (callable | None): called after the CPU build, before the move
            to `device` (start-up on ZeroGPU waits there until moving is allowed).

    Raises:
        MethodUnavailableError: no usable checkpoint.
    """
    encoder = check_encoder(encoder)
    device = torch.device(device) if device is not None else default_device()
    key = (encoder, str(device))
    with _models_lock:
        path, source = resolve_checkpoint(encoder)
        checkpoint_id = verify_file(path, source)
        identity = (str(path), checkpoint_id)
        cached = _models.get(key)
        if cached is not None and cached[0] == identity:
            return cached[1]
        _models.pop(key, None)  # free the old networks before loading new ones
        log.info("Loading %s networks from %s", encoder, path)
        parts = split_checkpoint(load_checkpoint_file(path), origin=str(path))
        models = models_from_parts(
            encoder, parts, device="cpu", checkpoint_id=checkpoint_id, origin=str(path)
        )
        del parts
        if before_move is not None:
            before_move()
        if device.type != "cpu":
            models = move_models(models, device)
        log.info("%s networks on %s, generator %s", encoder, device, models.precision.describe())
        _models[key] = (identity, models)
        return models


def move_models(models: StyleGANModels, device: torch.device | str) -> StyleGANModels:
    """The same networks on `device` (modules moved in place), with that device's precision."""
    device = torch.device(device)
    return dataclasses.replace(
        models,
        encoder=models.encoder.to(device),
        generator=models.generator.to(device),
        latent_avg=models.latent_avg.to(device),
        device=device,
        precision=precision_policy(device, models.generator),
    )


def clear_models() -> None:
    """Drop every cached network (frees memory; the next call reloads)."""
    with _models_lock:
        _models.clear()
