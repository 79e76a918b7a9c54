"""Building the networks from state dicts, and the per-process model cache."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import torch
from torch import nn

from pipeline.errors import MethodUnavailableError
from pipeline.methods.stylegan.encoders import ENCODER_CLASSES, n_styles_from_state_dict
from pipeline.methods.stylegan.generator import Generator, generator_config_from_state_dict
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
    """

    encoder_name: str
    encoder: nn.Module
    generator: Generator
    latent_avg: torch.Tensor
    checkpoint_id: str
    device: torch.device

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
    )


# (encoder, device) -> loaded models; one lock so concurrent requests load once.
_models: dict[tuple[str, str], tuple[tuple[str, str], StyleGANModels]] = {}
_models_lock = threading.Lock()


def get_models(encoder: str, device: torch.device | str | None = None) -> StyleGANModels:
    """The networks for `encoder` on `device`, loaded once per process.

    Resolves the checkpoint (local path, Hub cache or download), checks its size
    and hash, loads it with ``weights_only=True`` and moves the networks to the
    device once. A changed checkpoint (other path or content) replaces the
    cached one.

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
        log.info("Loading %s networks from %s onto %s", encoder, path, device)
        parts = split_checkpoint(load_checkpoint_file(path), origin=str(path))
        models = models_from_parts(
            encoder, parts, device=device, checkpoint_id=checkpoint_id, origin=str(path)
        )
        del parts
        _models[key] = (identity, models)
        return models


def models_for(encoder: str, device: torch.device | str, checkpoint_id: str) -> StyleGANModels:
    """The cached networks with exactly `checkpoint_id` (the ones a ``prepare`` used).

    Falls back to :func:`get_models` (e.g. in a fresh worker process) and checks
    that it still finds the same weights, so latents are never rendered by a
    generator other than the one paired with their encoder.

    Raises:
        MethodUnavailableError: the weights changed or disappeared since.
    """
    key = (check_encoder(encoder), str(torch.device(device)))
    with _models_lock:
        cached = _models.get(key)
    if cached is not None and cached[1].checkpoint_id == checkpoint_id:
        return cached[1]
    models = get_models(encoder, device)
    if models.checkpoint_id != checkpoint_id:
        raise MethodUnavailableError(
            f"The {encoder} weights changed since the keyframes were encoded "
            f"({checkpoint_id[:16]} -> {models.checkpoint_id[:16]}); prepare the video again."
        )
    return models


def clear_models() -> None:
    """Drop every cached network (frees memory; the next call reloads)."""
    with _models_lock:
        _models.clear()
