"""Asking the Hub about one weights file at its revision, without downloading it.

A metadata (HEAD) request says whether the revision and file exist with the
pinned size and digest, and gives the SHA-256 that the Hub publishes for the
file's bytes (the LFS ETag). A file with no pinned digest is checked against
that SHA-256; it is also read from disk when a download recorded it (the Hub
cache's blob name, the verified-digest marker), so an offline worker can check
the file again.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import MethodUnavailableError
from pipeline.methods.stylegan.digest import marker_record
from pipeline.methods.stylegan.hub import hub_endpoint, hub_offline

if TYPE_CHECKING:
    from pipeline.methods.stylegan.weights import CheckpointSource

log = logging.getLogger(__name__)

# Metadata probe: time budget (seconds) and per-process cache
# {(endpoint, repo, file, revision): (ok, detail, the Hub's SHA-256 or None, monotonic time)}.
# A success is kept for the process's life; a failure for PROBE_RETRY_S, so a transient
# outage does not disable the method until a restart.
PROBE_TIMEOUT_S = 2.5
PROBE_RETRY_S = 300.0
_probe_cache: dict[tuple[str, str, str, str], tuple[bool, str, str | None, float]] = {}
_probe_lock = threading.Lock()

_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")


def _metadata_outcome(
    source: CheckpointSource, endpoint: str, timeout: float
) -> tuple[bool, str, str | None]:
    """One HEAD request for the file at its revision, compared with what is pinned.

    Returns:
        tuple[bool, str, str | None]: served as pinned, a short reason when not, and the
        SHA-256 the metadata gives (the LFS ETag) or None.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    url = hf_hub_url(source.repo_id, source.filename, revision=source.revision, endpoint=endpoint)
    try:
        meta = get_hf_file_metadata(url, timeout=timeout, endpoint=endpoint)
    except RevisionNotFoundError:
        return False, f"the Hub has no revision {source.revision[:12]} of {source.repo_id}", None
    except EntryNotFoundError:
        where = f"{source.repo_id}@{source.revision[:12]}"
        return False, f"the Hub has no {source.filename} in {where}", None
    except RepositoryNotFoundError:
        return False, f"the Hub has no repository {source.repo_id}", None
    except Exception as exc:  # connection refused, DNS, timeout, HTTP 5xx
        return False, f"the Hub at {endpoint} did not answer ({exc.__class__.__name__})", None
    if (
        _COMMIT.fullmatch(source.revision)
        and meta.commit_hash
        and meta.commit_hash != source.revision
    ):
        return (
            False,
            f"the Hub answered commit {meta.commit_hash[:12]} "
            f"for pinned revision {source.revision[:12]}",
            None,
        )
    if source.size is not None and meta.size is not None and meta.size != source.size:
        return (
            False,
            f"the Hub's {source.filename} has {meta.size} bytes, expected {source.size}",
            None,
        )
    # huggingface_hub reports X-Linked-Etag (an LFS file's SHA-256) before the plain ETag
    # (a git file's blob id, 40 hex): only the former pins the bytes.
    etag = (meta.etag or "").lower()
    digest = etag if _SHA256.fullmatch(etag) else None
    if source.sha256 and digest and digest != source.sha256:
        return (
            False,
            f"the Hub's {source.filename} has SHA-256 {digest[:12]}, expected {source.sha256[:12]}",
            digest,
        )
    if source.sha256 is None and digest is None:
        why = f"its ETag is {etag[:12]}: not an LFS file" if etag else "no ETag"
        return False, _no_hub_digest(source, why), None
    return True, "", digest


def _no_hub_digest(source: CheckpointSource, why: str) -> str:
    """The reason a file with no pinned digest is refused: no SHA-256 to check it against."""
    return (
        f"the Hub's metadata for {source.filename} at {source.repo_id}@{source.revision[:12]} "
        f"gives no SHA-256 to check it against ({why})"
    )


def probe_file(
    source: CheckpointSource, endpoint: str | None = None, timeout: float = PROBE_TIMEOUT_S
) -> tuple[bool, str]:
    """Does the Hub serve this revision of the file (with the pinned size and digest)?

    A metadata (HEAD) request, cached per process: a success is kept, a failure
    retried after ``PROBE_RETRY_S``. It runs in a daemon thread joined with
    `timeout`, so a slow DNS lookup cannot hold the caller longer than that.

    Returns:
        tuple[bool, str]: served, and a short reason when not.
    """
    ok, detail, _ = _probe(source, endpoint, timeout)
    return ok, detail


def _probe(
    source: CheckpointSource, endpoint: str | None = None, timeout: float = PROBE_TIMEOUT_S
) -> tuple[bool, str, str | None]:
    """:func:`probe_file`, with the SHA-256 that the Hub's metadata gives (or None)."""
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    key = (endpoint, source.repo_id, source.filename, source.revision)
    with _probe_lock:
        cached = _probe_cache.get(key)
        if cached is not None and (cached[0] or time.monotonic() - cached[3] < PROBE_RETRY_S):
            return cached[0], cached[1], cached[2]
    result: list[tuple[bool, str, str | None]] = []

    def attempt() -> None:
        result.append(_metadata_outcome(source, endpoint, timeout))

    start = time.monotonic()
    worker = threading.Thread(target=attempt, name="hub-probe", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    outcome = (
        result[0]
        if result
        else (False, f"the Hub at {endpoint} did not answer in {timeout:g} s", None)
    )
    log.debug("Hub probe %s -> %s in %.2f s", key, outcome, time.monotonic() - start)
    with _probe_lock:
        _probe_cache[key] = (*outcome, time.monotonic())
    return outcome


def clear_probe_cache() -> None:
    """Forget probe results (e.g. after the network configuration changed)."""
    with _probe_lock:
        _probe_cache.clear()


def recorded_hub_digest(source: CheckpointSource, path: Path) -> str | None:
    """The Hub's SHA-256 for `path` as recorded on disk when it was downloaded, or None.

    huggingface_hub names a cached file's blob after the ETag that the metadata gave
    (``snapshots/<commit>/<file> -> blobs/<sha256>`` for an LFS file); a digest
    verified against the Hub before is kept in the file's marker, for the same
    repository, file and revision.
    """
    real = Path(os.path.realpath(path))
    if real.parent.name == "blobs" and _SHA256.fullmatch(real.name):
        return real.name
    record = marker_record(path)
    if record is not None and record.get("hub") == source.hub_key():
        return str(record["sha256"])
    return None


def hub_digest(source: CheckpointSource, path: Path) -> str:
    """The SHA-256 that the Hub's metadata gives for the file at its pinned revision.

    Read from disk where the download recorded it (see :func:`recorded_hub_digest`),
    else with a metadata (HEAD) request. The revision is a commit, so the digest is the
    one the file had when it was published there.

    Raises:
        MethodUnavailableError: the metadata gives no SHA-256 (not an LFS file) or cannot
            be read (offline, the Hub does not answer).
    """
    recorded = recorded_hub_digest(source, path)
    if recorded is not None:
        return recorded
    todo = (
        f"set {source.env_prefix}_SHA256 to the file's SHA-256, or {source.env_prefix}_PATH "
        "to a copy you trust."
    )
    if hub_offline():
        raise MethodUnavailableError(
            f"{path} has no pinned SHA-256 and HF_HUB_OFFLINE=1, so the Hub's metadata for "
            f"{source.describe()} cannot be read to check it; {todo}"
        )
    _, detail, digest = _probe(source)
    if digest is None:
        raise MethodUnavailableError(f"{path}: {detail}; {todo}")
    return digest
