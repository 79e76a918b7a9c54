"""Reading an e4e/pSp/SAM checkpoint safely (tensors and plain options only) and splitting it."""

from __future__ import annotations

import argparse
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.errors import MethodUnavailableError

log = logging.getLogger(__name__)


def load_checkpoint_file(path: Path) -> dict:
    """``torch.load(weights_only=True)`` on CPU, read into memory (never memory-mapped).

    e4e/pSp checkpoints keep their training options under ``opts``. The public
    files store it as a plain dict, which the safe unpickler accepts; some
    re-saved copies store an ``argparse.Namespace``. That one class (a plain
    attribute bag, no code) is then allowed for this call only.
    """

    def load() -> dict:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=False)

    try:
        ckpt = load()
    except pickle.UnpicklingError as exc:
        if "argparse.Namespace" not in str(exc):
            raise MethodUnavailableError(
                f"{path} holds objects other than tensors and plain options; refusing to unpickle it."
            ) from exc
        log.info("%s stores opts as argparse.Namespace; allowing that class for this load", path)
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = load()
    if not isinstance(ckpt, dict):
        raise MethodUnavailableError(f"{path} is not an e4e/pSp checkpoint (not a dict).")
    return ckpt


@dataclass
class CheckpointParts:
    """An e4e/pSp checkpoint split into its parts.

    Attributes:
        encoder (dict[str, torch.Tensor]): ``encoder.`` entries, prefix stripped.
        decoder (dict[str, torch.Tensor]): ``decoder.`` entries, prefix stripped.
        latent_avg (torch.Tensor): [n_latent, 512] or [512] average W.
        opts (dict): training options (informative only).
    """

    encoder: dict[str, torch.Tensor]
    decoder: dict[str, torch.Tensor]
    latent_avg: torch.Tensor
    opts: dict


def split_checkpoint(ckpt: dict, *, origin: str = "checkpoint") -> CheckpointParts:
    """Strip the ``encoder.`` / ``decoder.`` prefixes of an e4e/pSp checkpoint.

    Raises:
        MethodUnavailableError: parts are missing.
    """
    state = ckpt.get("state_dict", ckpt)
    enc = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    dec = {k[len("decoder.") :]: v for k, v in state.items() if k.startswith("decoder.")}
    latent_avg = ckpt.get("latent_avg")
    missing = [
        name
        for name, part in (("encoder.*", enc), ("decoder.*", dec), ("latent_avg", latent_avg))
        if part is None or (isinstance(part, dict) and not part)
    ]
    if missing:
        raise MethodUnavailableError(
            f"{origin} is not an e4e/pSp checkpoint: missing {', '.join(missing)}."
        )
    opts = ckpt.get("opts") or {}
    if isinstance(opts, argparse.Namespace):
        opts = vars(opts)
    return CheckpointParts(enc, dec, latent_avg, dict(opts) if isinstance(opts, dict) else {})
