"""Finding, checking and loading the e4e / pSp checkpoints.

Each checkpoint (``e4e_ffhq_encode.pt``, ``psp_ffhq_encode.pt``) holds the
encoder, the 1024 px FFHQ generator and ``latent_avg`` in one file. Where it
comes from, in order:

1. ``TIMELAPSE_<ENC>_PATH``: a local file (nothing is downloaded).
2. The Hugging Face cache (``HF_HUB_CACHE`` / ``HF_HOME``), for
   ``TIMELAPSE_<ENC>_REPO`` / ``_FILE`` / ``_REVISION`` (defaults below).
3. A download with ``huggingface_hub.hf_hub_download`` (cached, resumable),
   unless ``HF_HUB_OFFLINE=1`` or the Hub does not answer a quick probe.

``<ENC>`` is ``E4E``, ``PSP`` or ``SAM`` (the age-transformation checkpoint
``sam_ffhq_aging.pt``: its age encoder, a pSp encoder, the same generator). Files are checked by size and SHA-256 where
known (the pinned defaults, or ``TIMELAPSE_<ENC>_SHA256``) and loaded with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import pickle
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from pipeline.errors import MethodUnavailableError, UsageError

log = logging.getLogger(__name__)

ENCODERS = ("e4e", "psp")
# Every checkpoint this module finds: the two morph encoders and SAM (age transformation).
CHECKPOINTS = (*ENCODERS, "sam")

# Reachability probe: total budget (seconds) and per-process cache
# {endpoint: (ok, detail, monotonic time)}. A success is kept for the process's
# life; a failure for PROBE_RETRY_S, so a transient outage does not disable the
# method until a restart.
PROBE_TIMEOUT_S = 2.5
PROBE_RETRY_S = 300.0
_probe_cache: dict[str, tuple[bool, str, float]] = {}
_probe_lock = threading.Lock()

# Verified digests, so a file is hashed at most once per process:
# (real path, size, mtime_ns) -> sha256 hex.
_digest_cache: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


@dataclass(frozen=True)
class HubDefault:
    """Where a checkpoint is published, and what the published file is."""

    repo_id: str
    filename: str
    revision: str
    sha256: str | None
    size: int | None


# Public Hub mirrors of the authors' Google-Drive releases (omertov/encoder4editing,
# eladrich/pixel2style2pixel); the authors do not publish on the Hub themselves.
# Revisions are pinned commits; SHA-256 and sizes are those of the Hub's LFS pointers
# (the same e4e file, sha256 2ace1d9a..., is mirrored by several repositories).
HUB_DEFAULTS: dict[str, HubDefault] = {
    "e4e": HubDefault(
        repo_id="public-data/e4e",
        filename="e4e_ffhq_encode.pt",
        revision="fdd18714fc6b639487adbd901f16f67eb24ba786",
        sha256="2ace1d9a8c05c10a399bcd500b8dda118f759ff1aac89dbdab7435f2136a0999",
        size=1201649680,
    ),
    "psp": HubDefault(
        repo_id="trysem/pixel2style2pixel",
        filename="psp_ffhq_encode.pt",
        revision="38432361dadb040906bc23623efb58bdc061a6a4",
        sha256="f786ac5cf18fcdbc5c57c9f3f12cbedca69381fbdf5694dd132294e3133749d7",
        size=None,  # only "1.2 GB" is published; the SHA-256 pins the content
    ),
    # The authors publish SAM on Google Drive only; this mirror states that its file is
    # byte-identical to that release. No SHA-256 is published for it, so the size of the
    # authors' file (2,270,547,237 bytes) pins it; set TIMELAPSE_SAM_SHA256 to pin the content.
    "sam": HubDefault(
        repo_id="aimi-models/sam-aging",
        filename="sam_ffhq_aging.pt",
        revision="f05249c0faa14a1d0c0347fdc2cb8131503db74a",
        sha256=None,
        size=2270547237,
    ),
}


@dataclass(frozen=True)
class CheckpointSource:
    """The resolved settings for one encoder's checkpoint (from env vars and defaults).

    Attributes:
        encoder (str): ``e4e`` or ``psp``.
        local_path (Path | None): ``TIMELAPSE_<ENC>_PATH``, if set.
        repo_id (str): Hub repository.
        filename (str): file in the repository.
        revision (str): branch, tag or commit.
        sha256 (str | None): expected digest, if known.
        size (int | None): expected size in bytes, if known.
    """

    encoder: str
    local_path: Path | None
    repo_id: str
    filename: str
    revision: str
    sha256: str | None
    size: int | None

    @property
    def env_prefix(self) -> str:
        return f"TIMELAPSE_{self.encoder.upper()}"

    def describe(self) -> str:
        """Where the file is looked for, for messages."""
        if self.local_path is not None:
            return str(self.local_path)
        return f"{self.repo_id}/{self.filename}@{self.revision[:12]}"


def check_encoder(encoder: str) -> str:
    """Normalise an encoder name.

    Raises:
        UsageError: not ``e4e`` or ``psp``.
    """
    name = encoder.strip().lower()
    if name not in ENCODERS:
        raise UsageError(
            f"Unknown StyleGAN encoder {encoder!r}; choose one of: {', '.join(ENCODERS)}."
        )
    return name


def check_checkpoint(name: str) -> str:
    """Normalise a checkpoint name (an encoder, or ``sam``).

    Raises:
        UsageError: not one of :data:`CHECKPOINTS`.
    """
    key = name.strip().lower()
    if key not in CHECKPOINTS:
        raise UsageError(f"Unknown checkpoint {name!r}; choose one of: {', '.join(CHECKPOINTS)}.")
    return key


def checkpoint_source(encoder: str) -> CheckpointSource:
    """Read ``TIMELAPSE_<ENC>_*`` environment variables over the defaults (at call time)."""
    encoder = check_checkpoint(encoder)
    default = HUB_DEFAULTS[encoder]
    prefix = f"TIMELAPSE_{encoder.upper()}"
    env = os.environ
    local = env.get(f"{prefix}_PATH", "").strip()
    repo_id = env.get(f"{prefix}_REPO", "").strip() or default.repo_id
    filename = env.get(f"{prefix}_FILE", "").strip() or default.filename
    revision = env.get(f"{prefix}_REVISION", "").strip() or default.revision
    is_default = (repo_id, filename, revision) == (
        default.repo_id,
        default.filename,
        default.revision,
    )
    sha = env.get(f"{prefix}_SHA256", "").strip().lower() or None
    if sha is None and is_default and not local:
        sha = default.sha256
    size = default.size if is_default and not local else None
    return CheckpointSource(
        encoder=encoder,
        local_path=Path(local).expanduser() if local else None,
        repo_id=repo_id,
        filename=filename,
        revision=revision,
        sha256=sha,
        size=size,
    )


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` as set now (huggingface_hub reads it only at import)."""
    if "HF_HUB_OFFLINE" in os.environ:
        return _truthy(os.environ["HF_HUB_OFFLINE"])
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_cache_dir() -> str:
    """The Hub cache folder as configured now (``HF_HUB_CACHE``, else ``HF_HOME/hub``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def hub_endpoint() -> str:
    """The Hub endpoint as configured now (``HF_ENDPOINT``)."""
    if os.environ.get("HF_ENDPOINT"):
        return os.environ["HF_ENDPOINT"].rstrip("/")
    from huggingface_hub import constants

    return str(constants.ENDPOINT).rstrip("/")


def cached_file(source: CheckpointSource) -> Path | None:
    """The checkpoint's path in the Hub cache, or None (never touches the network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(
            source.repo_id, source.filename, cache_dir=hub_cache_dir(), revision=source.revision
        )
    except Exception as exc:  # malformed repo id from an env var, unreadable cache
        log.debug("Hub cache lookup failed for %s: %s", source.describe(), exc)
        return None
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def probe_hub(endpoint: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """Can a TCP connection to the Hub be opened? Cached per process and endpoint.

    A failure is retried after ``PROBE_RETRY_S`` seconds; a success is kept.

    Runs in a daemon thread joined with `timeout`, so a slow DNS lookup cannot
    hold the caller for longer than that.

    Returns:
        tuple[bool, str]: reachable, and a short detail when not.
    """
    endpoint = endpoint or hub_endpoint()
    with _probe_lock:
        cached = _probe_cache.get(endpoint)
        if cached is not None and (cached[0] or time.monotonic() - cached[2] < PROBE_RETRY_S):
            return cached[0], cached[1]
    url = urlparse(endpoint)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    result: list[tuple[bool, str]] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append((True, ""))
        except OSError as exc:
            result.append((False, f"{host}:{port} unreachable ({exc.__class__.__name__})"))

    start = time.monotonic()
    worker = threading.Thread(target=attempt, name="hub-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    outcome = result[0] if result else (False, f"{host}:{port} did not answer in {timeout:g} s")
    log.debug("Hub probe %s -> %s in %.2f s", endpoint, outcome, time.monotonic() - start)
    with _probe_lock:
        _probe_cache[endpoint] = (*outcome, time.monotonic())
    return outcome


def clear_probe_cache() -> None:
    """Forget probe results (e.g. after the network configuration changed)."""
    with _probe_lock:
        _probe_cache.clear()


def encoder_availability(encoder: str) -> tuple[bool, str]:
    """Whether `encoder`'s checkpoint is usable here, without downloading anything.

    Returns:
        tuple[bool, str]: (ok, one-line reason). When ok, the reason says where
        the weights come from ("local file", "cached", or "download on first use").
    """
    source = checkpoint_source(encoder)
    var = f"{source.env_prefix}_PATH"
    if source.local_path is not None:
        if source.local_path.is_file():
            return True, f"{encoder}: local file {source.local_path}"
        return (
            False,
            f"{var}={source.local_path} is not a file; point it at a local {source.filename}.",
        )
    if cached_file(source) is not None:
        return True, f"{encoder}: cached {source.describe()}"
    where = f"{source.filename} ({source.repo_id}) is not in the Hugging Face cache"
    if hub_offline():
        return False, f"{where} and HF_HUB_OFFLINE=1; set {var} to a local checkpoint file."
    ok, detail = probe_hub()
    if ok:
        gb = HUB_DEFAULTS[source.encoder].size or 1.2e9
        return True, f"{encoder}: will download {source.describe()} on first use (about {gb / 1e9:.1f} GB)"
    return (
        False,
        f"{where} and the Hub is unreachable ({detail}); set {var} to a local checkpoint file.",
    )


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, computed once per process per (path, size, mtime)."""
    st = path.stat()
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        if key in _digest_cache:
            return _digest_cache[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    digest = h.hexdigest()
    with _digest_lock:
        _digest_cache[key] = digest
    return digest


def verify_file(path: Path, source: CheckpointSource) -> str:
    """Check size and SHA-256 (where known) before anything is unpickled.

    Returns:
        str: a checkpoint id for caches: the SHA-256 if verified, else name:size:mtime.

    Raises:
        MethodUnavailableError: wrong size or digest (a truncated or different file).
    """
    st = path.stat()
    if st.st_size == 0:
        raise MethodUnavailableError(
            f"{path} is empty; delete it and download {source.filename} again."
        )
    if source.size is not None and st.st_size != source.size:
        raise MethodUnavailableError(
            f"{path} has {st.st_size} bytes, expected {source.size} for {source.describe()}; "
            "the download is incomplete or a different file: delete it and try again."
        )
    if source.sha256 is not None:
        digest = sha256_of(path)
        if digest != source.sha256:
            raise MethodUnavailableError(
                f"{path} has SHA-256 {digest[:16]}..., expected {source.sha256[:16]}... for "
                f"{source.describe()}; delete it (or fix {source.env_prefix}_SHA256) and try again."
            )
        return digest
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def resolve_checkpoint(encoder: str) -> tuple[Path, CheckpointSource]:
    """Find the checkpoint file, downloading it from the Hub if needed and possible.

    Raises:
        MethodUnavailableError: no local/cached file and no way to download it.
    """
    source = checkpoint_source(encoder)
    if source.local_path is not None:
        if not source.local_path.is_file():
            raise MethodUnavailableError(
                f"{source.env_prefix}_PATH={source.local_path} is not a file; "
                f"point it at a local {source.filename}."
            )
        return source.local_path, source
    found = cached_file(source)
    if found is not None:
        return found, source
    ok, reason = encoder_availability(encoder)
    if not ok:
        raise MethodUnavailableError(f"StyleGAN {encoder} weights unavailable: {reason}")
    from huggingface_hub import hf_hub_download

    log.info("Downloading %s from the Hugging Face Hub (once)", source.describe())
    try:
        path = hf_hub_download(
            source.repo_id,
            source.filename,
            revision=source.revision,
            cache_dir=hub_cache_dir(),
            endpoint=hub_endpoint(),
        )
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise MethodUnavailableError(
            f"Could not download {source.describe()}: {exc.__class__.__name__} {first_line}; "
            f"set {source.env_prefix}_PATH to a local checkpoint file."
        ) from exc
    return Path(path), source


def load_checkpoint_file(path: Path) -> dict:
    """``torch.load(weights_only=True)`` on CPU, memory-mapped when the format allows.

    e4e/pSp checkpoints keep their training options under ``opts``. The public
    files store it as a plain dict, which the safe unpickler accepts; some
    re-saved copies store an ``argparse.Namespace``. That one class (a plain
    attribute bag, no code) is then allowed for this call only.
    """

    def attempt(mmap: bool) -> dict:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)

    def load() -> dict:
        try:
            return attempt(mmap=True)
        except RuntimeError as exc:  # legacy (non-zip) files cannot be memory-mapped
            if "mmap" not in str(exc).lower() and "zip" not in str(exc).lower():
                raise
            return attempt(mmap=False)

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
