"""Checking a downloaded weights file by size and SHA-256, hashing it at most once.

A verified digest is kept in this process and in a small marker file beside the
file (else in the user cache), keyed by size and modification time, so other
processes (ZeroGPU workers, restarts) do not hash 1.2 GB again. A digest that
came from the Hub's metadata is kept there with the repository, file and
revision it belongs to, so an offline process can check the file again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import MethodUnavailableError

if TYPE_CHECKING:
    from pipeline.methods.stylegan.weights import CheckpointSource

# CheckpointSource.digest_origin of a digest read from the Hub's metadata (weights.py
# names it too; defined here, below weights, so that this module imports nothing of it).
HUB_METADATA = "hub metadata"

log = logging.getLogger(__name__)

# Verified digests, so a file is hashed at most once per process:
# (real path, size, mtime_ns) -> sha256 hex. Other processes read the marker file.
_digest_cache: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()
MARKER_SUFFIX = ".verified.json"

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _marker_paths(path: Path) -> list[Path]:
    """Where a file's verified-digest marker may live: beside it, else in a user cache."""
    real = Path(os.path.realpath(path))
    beside = real.with_name(real.name + MARKER_SUFFIX)
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    key = hashlib.sha256(str(real).encode()).hexdigest()[:32]
    return [beside, Path(home) / "facial-timelapse" / "verified" / f"{key}.json"]


def _read_record(path: Path, size: int, mtime_ns: int) -> dict | None:
    for marker in _marker_paths(path):
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (
            isinstance(data, dict)
            and data.get("size") == size
            and data.get("mtime_ns") == mtime_ns
            and isinstance(data.get("sha256"), str)
            and _SHA256.fullmatch(data["sha256"])
        ):
            return data
    return None


def _read_marker(path: Path, size: int, mtime_ns: int) -> str | None:
    record = _read_record(path, size, mtime_ns)
    return None if record is None else record["sha256"]


def marker_record(path: Path) -> dict | None:
    """The file's verified-digest marker as it is now (None when missing or stale).

    ``{"sha256", "size", "mtime_ns"}``, and ``"hub": "repo/file@revision"`` when the
    digest was the one the Hub's metadata gives for that revision.
    """
    try:
        st = path.stat()
    except OSError:
        return None
    return _read_record(path, st.st_size, st.st_mtime_ns)


def _write_marker(path: Path, size: int, mtime_ns: int, digest: str, hub: str = "") -> None:
    record: dict[str, object] = {"sha256": digest, "size": size, "mtime_ns": mtime_ns}
    if hub:
        record["hub"] = hub
    body = json.dumps(record) + "\n"
    for marker in _marker_paths(path):
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=marker.parent, prefix=".verified-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body)
            os.replace(tmp, marker)
            return
        except OSError as exc:  # read-only folder: try the next place
            log.debug("cannot write digest marker %s: %s", marker, exc)
    log.info("no writable place for the digest marker of %s; it will be hashed again", path)


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, computed at most once per (real path, size, mtime).

    Remembered in this process and in a marker file that other processes read.
    """
    st = path.stat()
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        if key in _digest_cache:
            return _digest_cache[key]
    digest = _read_marker(path, st.st_size, st.st_mtime_ns)
    if digest is None:
        start = time.monotonic()
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 24), b""):
                h.update(block)
        digest = h.hexdigest()
        log.info("hashed %s (%d bytes) in %.1f s", path, st.st_size, time.monotonic() - start)
    with _digest_lock:
        _digest_cache[key] = digest
    return digest


def verify_file(path: Path, source: CheckpointSource) -> str:
    """Check size and SHA-256 (where known) before anything is unpickled.

    A matching digest is written to the marker file (see :func:`sha256_of`).

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
        from_hub = source.digest_origin == HUB_METADATA
        digest = sha256_of(path)
        if digest != source.sha256:
            with _digest_lock:
                _digest_cache.pop((os.path.realpath(path), st.st_size, st.st_mtime_ns), None)
            if from_hub:
                raise MethodUnavailableError(
                    f"{path} has SHA-256 {digest[:16]}..., but the Hub's metadata for "
                    f"{source.describe()} gives {source.sha256[:16]}...: the download is damaged "
                    f"or not the published file; delete it and try again, or set "
                    f"{source.env_prefix}_PATH to a copy you trust."
                )
            raise MethodUnavailableError(
                f"{path} has SHA-256 {digest[:16]}..., expected {source.sha256[:16]}... for "
                f"{source.describe()}; delete it (or fix {source.env_prefix}_SHA256) and try again."
            )
        hub = source.hub_key() if from_hub else ""
        record = _read_record(path, st.st_size, st.st_mtime_ns)
        if record is None or record["sha256"] != digest or (hub and record.get("hub") != hub):
            _write_marker(path, st.st_size, st.st_mtime_ns, digest, hub)
        return digest
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"
