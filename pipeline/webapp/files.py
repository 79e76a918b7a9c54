"""Temporary files of the app: one folder per request, removed after a while.

Uploads stay where Gradio put them (its temp folder) and are only read.
Everything the app writes (thumbnails, videos, reports) goes into a fresh
folder under ``<GRADIO_TEMP_DIR or system temp>/gradio/timelapse/``, so that
Gradio serves it without copying and its ``delete_cache`` removes the files;
`sweep` removes whole request folders older than the retention time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

# How long outputs are kept (seconds); matches the app's delete_cache.
RETENTION_S = 3600
_PREFIX = "req-"
_last_sweep = 0.0


def gradio_temp_dir() -> Path:
    """Gradio's upload/cache folder (``GRADIO_TEMP_DIR``, else ``<tmp>/gradio``)."""
    env = os.environ.get("GRADIO_TEMP_DIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / "gradio"


def examples_cache_dir() -> Path:
    """Where Gradio caches the example album's results (never the working directory)."""
    return gradio_temp_dir() / "examples"


def outputs_root() -> Path:
    root = gradio_temp_dir() / "timelapse"
    root.mkdir(parents=True, exist_ok=True)
    return root


def request_dir(kind: str = "out") -> Path:
    """A new private folder for one request's outputs (old ones are swept first)."""
    sweep_if_due()
    return Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{kind}-", dir=outputs_root()))


def sweep(max_age_s: float = RETENTION_S, *, now: float | None = None) -> int:
    """Delete request folders older than `max_age_s`; returns how many were removed."""
    root = gradio_temp_dir() / "timelapse"
    if not root.is_dir():
        return 0
    now = time.time() if now is None else now
    removed = 0
    for d in root.iterdir():
        if not (d.is_dir() and d.name.startswith(_PREFIX)):
            continue
        try:
            age = now - d.stat().st_mtime
        except OSError:
            continue
        if age > max_age_s:
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    if removed:
        log.info("removed %d old output folder(s) from %s", removed, root)
    return removed


def sweep_if_due(interval_s: float = 300.0) -> None:
    """Sweep at most every `interval_s` seconds (called on each request)."""
    global _last_sweep
    now = time.time()
    if now - _last_sweep >= interval_s:
        _last_sweep = now
        sweep(now=now)


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
