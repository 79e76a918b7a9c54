"""Finding, checking and loading pretrained weights (e4e / pSp checkpoints and others).

Every file the project downloads is one row of :data:`WEIGHTS` (name -> Hub
repository, file, pinned revision, size, SHA-256); other packages add theirs
with :func:`register_weights`. For a row named ``NAME`` the file comes from, in
order:

1. ``TIMELAPSE_<NAME>_PATH``: a local file (nothing is downloaded).
2. The Hugging Face cache (``HF_HUB_CACHE`` / ``HF_HOME``), for
   ``TIMELAPSE_<NAME>_REPO`` / ``_FILE`` / ``_REVISION`` (defaults: the row).
3. A download with ``huggingface_hub.hf_hub_download`` (cached, resumable),
   unless ``HF_HUB_OFFLINE=1`` or a metadata request (HEAD) for that revision
   and file fails or disagrees with the pinned size or digest.

Files are checked by size and SHA-256 before anything is unpickled. The digest is
the pinned row's, or ``TIMELAPSE_<NAME>_SHA256``; a Hub file with neither is
checked against the SHA-256 that the Hub's metadata gives for the pinned revision
(the LFS ETag: a revision is a commit, so it pins the content), and refused when
that metadata has none. A verified digest
is remembered in a small marker file beside the checkpoint, keyed by its size
and modification time, so other processes (ZeroGPU workers, restarts) do not
hash 1.2 GB again. Checkpoints are read with ``torch.load(weights_only=True)``
into memory, never memory-mapped: ZeroGPU deletes memory-mapped Hub-cache
blobs when it packs the models at start-up.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.errors import MethodUnavailableError, UsageError

# The file checks, the checkpoint reader, the Hub settings and the Hub probe live in their
# own modules; their names stay importable from here.
from pipeline.methods.stylegan.checkpoint import (  # noqa: F401
    CheckpointParts,
    load_checkpoint_file,
    split_checkpoint,
)
from pipeline.methods.stylegan.digest import (  # noqa: F401
    HUB_METADATA,
    MARKER_SUFFIX,
    marker_record,
    sha256_of,
    verify_file,
)
from pipeline.methods.stylegan.hub import hub_cache_dir, hub_endpoint, hub_offline  # noqa: F401
from pipeline.methods.stylegan.probe import (  # noqa: F401
    PROBE_RETRY_S,
    PROBE_TIMEOUT_S,
    clear_probe_cache,
    hub_digest,
    probe_file,
    recorded_hub_digest,
)

log = logging.getLogger(__name__)

ENCODERS = ("e4e", "psp")


@dataclass(frozen=True)
class WeightsSpec:
    """One downloadable weights file: where it is published and what the file is.

    Attributes:
        name (str): registry key; its environment variables are ``TIMELAPSE_<NAME>_*``.
        repo_id (str): Hub model repository.
        filename (str): file in the repository.
        revision (str): pinned commit (a branch or tag also works, less safely).
        sha256 (str | None): SHA-256 of the file, if known.
        size (int | None): size in bytes, if known.
        label (str): what the file is, for messages.
    """

    name: str
    repo_id: str
    filename: str
    revision: str
    sha256: str | None
    size: int | None
    label: str = ""


# Public Hub mirrors of the authors' Google-Drive releases (omertov/encoder4editing,
# eladrich/pixel2style2pixel); the authors do not publish on the Hub themselves.
# Revisions are pinned commits; SHA-256 and sizes are those of the Hub's LFS pointers
# (the same e4e file, sha256 2ace1d9a..., is mirrored by several repositories; the pSp
# size is the one other projects' manifests give for the same SHA-256).
WEIGHTS: dict[str, WeightsSpec] = {}


def register_weights(spec: WeightsSpec) -> WeightsSpec:
    """Add (or replace) a row of the weights table; returns `spec`."""
    WEIGHTS[spec.name.lower()] = spec
    return spec


register_weights(
    WeightsSpec(
        name="e4e",
        repo_id="public-data/e4e",
        filename="e4e_ffhq_encode.pt",
        revision="fdd18714fc6b639487adbd901f16f67eb24ba786",
        sha256="2ace1d9a8c05c10a399bcd500b8dda118f759ff1aac89dbdab7435f2136a0999",
        size=1201649680,
        label="e4e encoder + StyleGAN2 FFHQ generator",
    )
)
register_weights(
    WeightsSpec(
        name="psp",
        repo_id="trysem/pixel2style2pixel",
        filename="psp_ffhq_encode.pt",
        revision="38432361dadb040906bc23623efb58bdc061a6a4",
        sha256="f786ac5cf18fcdbc5c57c9f3f12cbedca69381fbdf5694dd132294e3133749d7",
        size=1201489451,
        label="pSp encoder + StyleGAN2 FFHQ generator",
    )
)

# The authors publish SAM (age transformation: its age encoder, a pSp encoder and the same
# generator) on Google Drive only; this mirror states that its file is byte-identical to
# that release (2,270,547,237 bytes). No SHA-256 is published beside it, and the Hub
# cannot be reached from the machines this was written on, so none is pinned here: the
# file is checked against the SHA-256 in the Hub's metadata for the pinned revision
# (a commit, so the digest cannot change under it). TIMELAPSE_SAM_SHA256 pins one.
register_weights(
    WeightsSpec(
        name="sam",
        repo_id="aimi-models/sam-aging",
        filename="sam_ffhq_aging.pt",
        revision="f05249c0faa14a1d0c0347fdc2cb8131503db74a",
        sha256=None,
        size=2270547237,
        label="SAM age encoder + pSp encoder + StyleGAN2 FFHQ generator",
    )
)

# Older name of the table (same dict).
HUB_DEFAULTS = WEIGHTS
# Every checkpoint of the StyleGAN methods: the two morph encoders and SAM.
CHECKPOINTS = (*ENCODERS, "sam")


@dataclass(frozen=True)
class CheckpointSource:
    """The resolved settings for one weights file (environment variables over its row).

    Attributes:
        encoder (str): the row's name (``e4e``, ``psp``, ...).
        local_path (Path | None): ``TIMELAPSE_<NAME>_PATH``, if set.
        repo_id (str): Hub repository.
        filename (str): file in the repository.
        revision (str): branch, tag or commit.
        sha256 (str | None): expected digest, if known.
        size (int | None): expected size in bytes, if known.
        digest_origin (str): where `sha256` comes from, for messages and the marker:
            ``pinned``, ``TIMELAPSE_<NAME>_SHA256`` or :data:`HUB_METADATA`.
    """

    encoder: str
    local_path: Path | None
    repo_id: str
    filename: str
    revision: str
    sha256: str | None
    size: int | None
    digest_origin: str = ""

    @property
    def name(self) -> str:
        return self.encoder

    @property
    def env_prefix(self) -> str:
        return f"TIMELAPSE_{self.encoder.upper()}"

    def describe(self) -> str:
        """Where the file is looked for, for messages."""
        if self.local_path is not None:
            return str(self.local_path)
        return f"{self.repo_id}/{self.filename}@{self.revision[:12]}"

    def size_text(self) -> str:
        """The download size for messages ("about 1.2 GB")."""
        return f"about {self.size / 1e9:.1f} GB" if self.size else "size unknown"

    def hub_key(self) -> str:
        """``repo/file@revision`` in full: what a digest from the Hub's metadata belongs to."""
        return f"{self.repo_id}/{self.filename}@{self.revision}"


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


def weights_source(name: str) -> CheckpointSource:
    """Read ``TIMELAPSE_<NAME>_*`` environment variables over the row's defaults (at call time).

    The pinned size and digest apply only to the pinned repository, file and
    revision; ``TIMELAPSE_<NAME>_SHA256`` sets the digest of any other file.

    Raises:
        UsageError: `name` is not a row of :data:`WEIGHTS`.
    """
    key = name.strip().lower()
    if key not in WEIGHTS:
        raise UsageError(f"Unknown weights {name!r}; known: {', '.join(sorted(WEIGHTS))}.")
    default = WEIGHTS[key]
    prefix = f"TIMELAPSE_{key.upper()}"
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
    origin = f"{prefix}_SHA256" if sha else ""
    if sha is None and is_default and not local and default.sha256:
        sha, origin = default.sha256, "pinned"
    size = default.size if is_default and not local else None
    return CheckpointSource(
        encoder=key,
        local_path=Path(local).expanduser() if local else None,
        repo_id=repo_id,
        filename=filename,
        revision=revision,
        sha256=sha,
        size=size,
        digest_origin=origin,
    )


def check_checkpoint(name: str) -> str:
    """Normalise a checkpoint name (an encoder, or ``sam``).

    Raises:
        UsageError: not one of :data:`CHECKPOINTS`.
    """
    key = name.strip().lower()
    if key not in CHECKPOINTS:
        raise UsageError(f"Unknown checkpoint {name!r}; choose one of: {', '.join(CHECKPOINTS)}.")
    return key


def checkpoint_source(name: str) -> CheckpointSource:
    """:func:`weights_source` for a StyleGAN checkpoint (``e4e``, ``psp`` or ``sam``)."""
    return weights_source(check_checkpoint(name))


def cached_file(source: CheckpointSource) -> Path | None:
    """The file's path in the Hub cache, or None (never touches the network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(
            source.repo_id, source.filename, cache_dir=hub_cache_dir(), revision=source.revision
        )
    except Exception as exc:  # malformed repo id from an env var, unreadable cache
        log.debug("Hub cache lookup failed for %s: %s", source.describe(), exc)
        return None
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else exc.__class__.__name__


def weights_availability(name: str) -> tuple[bool, str]:
    """Whether a weights file is usable here, without downloading it.

    Returns:
        tuple[bool, str]: (ok, one-line reason). When ok, the reason says where
        the file comes from ("local file", "cached", or "will download").
    """
    source = weights_source(name)
    var = f"{source.env_prefix}_PATH"
    if source.local_path is not None:
        if source.local_path.is_file():
            return True, f"{source.name}: local file {source.local_path}"
        return (
            False,
            f"{var}={source.local_path} is not a file; point it at a local {source.filename}.",
        )
    found = cached_file(source)
    if found is not None:
        if source.sha256 is None and recorded_hub_digest(source, found) is None:
            if hub_offline():
                return False, (
                    f"{found} (cached) has no recorded SHA-256 from the Hub and HF_HUB_OFFLINE=1; "
                    f"set {source.env_prefix}_SHA256 to its digest or {var} to a file you trust."
                )
            ok, detail = probe_file(source)
            if not ok:
                return False, f"{found} (cached): {detail}; set {var} to a file you trust."
        return True, f"{source.name}: cached {source.describe()}"
    where = f"{source.filename} ({source.repo_id}) is not in the Hugging Face cache"
    if hub_offline():
        return False, f"{where} and HF_HUB_OFFLINE=1; set {var} to a local file."
    ok, detail = probe_file(source)
    if ok:
        return True, f"{source.name}: will download {source.describe()} ({source.size_text()})"
    return False, f"{where} and {detail}; set {var} to a local file."


def encoder_availability(name: str) -> tuple[bool, str]:
    """:func:`weights_availability` for a StyleGAN checkpoint (``e4e``, ``psp`` or ``sam``)."""
    return weights_availability(check_checkpoint(name))


def _with_hub_digest(source: CheckpointSource, path: Path) -> CheckpointSource:
    """`source` with the Hub's SHA-256 where nothing pins one (a Hub file only)."""
    if source.sha256 is not None or source.local_path is not None:
        return source  # a pinned or user-given digest wins; a local file is the user's own
    digest = hub_digest(source, path)
    log.debug("%s: SHA-256 %s from the Hub's metadata", source.describe(), digest)
    return replace(source, sha256=digest, digest_origin=HUB_METADATA)


def resolve_weights(name: str) -> tuple[Path, CheckpointSource]:
    """Find a weights file, downloading it from the Hub if needed and possible.

    The returned source carries the SHA-256 to check the file against before it is
    read (pinned, set by the user, or the Hub's for the pinned revision).

    Raises:
        MethodUnavailableError: no local/cached file and no way to download it, or a
            Hub file with no SHA-256 to check it against.
    """
    source = weights_source(name)
    if source.local_path is not None:
        if not source.local_path.is_file():
            raise MethodUnavailableError(
                f"{source.env_prefix}_PATH={source.local_path} is not a file; "
                f"point it at a local {source.filename}."
            )
        return source.local_path, source
    found = cached_file(source)
    if found is not None:
        return found, _with_hub_digest(source, found)
    ok, reason = weights_availability(source.name)
    if not ok:
        raise MethodUnavailableError(f"{source.name} weights unavailable: {reason}")
    from huggingface_hub import hf_hub_download

    log.info(
        "Downloading %s from the Hugging Face Hub (%s, once)", source.describe(), source.size_text()
    )
    start = time.monotonic()
    try:
        path = hf_hub_download(
            source.repo_id,
            source.filename,
            revision=source.revision,
            cache_dir=hub_cache_dir(),
            endpoint=hub_endpoint(),
        )
    except Exception as exc:
        raise MethodUnavailableError(
            f"Could not download {source.describe()}: {_first_line(exc)}; "
            f"set {source.env_prefix}_PATH to a local file."
        ) from exc
    log.info("Downloaded %s in %.1f s", source.describe(), time.monotonic() - start)
    return Path(path), _with_hub_digest(source, Path(path))


def resolve_checkpoint(name: str) -> tuple[Path, CheckpointSource]:
    """:func:`resolve_weights` for a StyleGAN checkpoint (``e4e``, ``psp`` or ``sam``)."""
    return resolve_weights(check_checkpoint(name))
