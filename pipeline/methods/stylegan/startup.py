"""Getting the StyleGAN networks ready at start-up on a Space, outside any GPU window.

On a Space (``SPACE_ID`` set), :func:`start_on_space` starts one background
thread in the main process that downloads and verifies the checkpoints of the
checkpoints in ``TIMELAPSE_PRELOAD`` (default ``e4e,sam``; ``none`` turns it off),
builds the networks and moves them to the GPU as ZeroGPU allows it: in the main
process ZeroGPU's emulated CUDA only records the move, and each GPU worker
receives the tensors when it starts. SAM's file (the age model for imagined ages)
is downloaded and verified the same way; its networks are built when first used,
from the verified file (its digest marker spares the hashing). The page is served meanwhile. Before a
render asks for the GPU, :func:`wait_until_ready` (main process) waits for that
preparation, so no GPU time is spent downloading or hashing 1.2 GB.

Locally nothing starts: the first StyleGAN render loads the networks lazily.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from pipeline.errors import MethodUnavailableError
from pipeline.methods.stylegan.models import default_device, get_models, loaded_models
from pipeline.methods.stylegan.weights import (
    CHECKPOINTS,
    check_checkpoint,
    resolve_checkpoint,
    verify_file,
)
from pipeline.methods.stylegan.zerogpu import on_space, on_zerogpu

log = logging.getLogger(__name__)

PRELOAD_ENV = "TIMELAPSE_PRELOAD"
# How often a waiting caller reports progress, seconds.
POLL_S = 0.5


@dataclass
class Preparation:
    """The start-up state of one encoder's networks.

    Attributes:
        encoder (str): ``e4e`` or ``psp``.
        stage (str): ``queued``, ``downloading``, ``verifying``, ``loading``,
            ``waiting for ZeroGPU``, ``ready`` or ``failed``.
        error (str): the one-line reason when it failed.
        done (threading.Event): set when ready or failed.
        seconds (float): time the preparation took, once done.
    """

    encoder: str
    stage: str = "queued"
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event)
    seconds: float = 0.0

    @property
    def ready(self) -> bool:
        return self.done.is_set() and not self.error


_preparations: dict[str, Preparation] = {}
_lock = threading.Lock()


def preload_encoders() -> list[str]:
    """Checkpoints named by ``TIMELAPSE_PRELOAD`` (comma-separated; default ``e4e,sam``)."""
    raw = os.environ.get(PRELOAD_ENV, "e4e,sam").strip().lower()
    if raw in {"", "none", "0", "off", "false"}:
        return []
    names = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [n for n in names if n not in CHECKPOINTS]
    if unknown:
        log.warning(
            "%s names unknown checkpoint(s) %s; using %s", PRELOAD_ENV, unknown, CHECKPOINTS[0]
        )
        names = [n for n in names if n in CHECKPOINTS] or [CHECKPOINTS[0]]
    return list(dict.fromkeys(names))


def _zerogpu_move_allowed() -> bool:
    """True once ZeroGPU has packed the start-up tensors (done at ``launch``), or when
    not under ZeroGPU's emulation. Moving while it packs would race with it."""
    try:
        import gradio as gr
        from spaces.zero import gradio as zero_gradio
    except Exception:  # no ZeroGPU emulation in this process
        return True
    original = getattr(zero_gradio, "_orig_launch", None)
    return original is None or gr.Blocks.launch is original


def _enter_zerogpu_mode() -> None:
    """ZeroGPU's CUDA emulation is per thread: enter it in this (background) thread."""
    try:
        from spaces.config import Config
        from spaces.zero import torch as zero_torch
    except Exception:
        return
    if Config.zero_gpu:
        zero_torch.enter_mode()


def _wait_for_move(prep: Preparation) -> Callable[[], None]:
    def wait() -> None:
        if not on_zerogpu():
            return
        _enter_zerogpu_mode()
        prep.stage = "waiting for ZeroGPU"
        while not _zerogpu_move_allowed():
            time.sleep(POLL_S)
        prep.stage = "loading"

    return wait


def _prepare(preps: Sequence[Preparation], device: torch.device) -> None:
    for prep in preps:
        start = time.monotonic()
        try:
            prep.stage = "downloading"
            path, source = resolve_checkpoint(prep.encoder)
            prep.stage = "verifying"
            verify_file(path, source)
            if prep.encoder == "sam":  # built on first use, from the verified file
                prep.stage = "ready"
                log.info("SAM weights ready (%s) in %.1f s", path, time.monotonic() - start)
                continue
            prep.stage = "loading"
            models = get_models(prep.encoder, device, before_move=_wait_for_move(prep))
            prep.stage = "ready"
            log.info(
                "StyleGAN %s ready on %s (%s) in %.1f s",
                prep.encoder,
                models.device,
                models.precision.describe(),
                time.monotonic() - start,
            )
        except Exception as exc:  # reported to the visitor who asks for it
            prep.error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            prep.stage = "failed"
            log.warning("StyleGAN %s could not be prepared: %s", prep.encoder, prep.error)
        finally:
            prep.seconds = time.monotonic() - start
            prep.done.set()


def start(
    encoders: Sequence[str] = ("e4e",), device: torch.device | str | None = None
) -> threading.Thread | None:
    """Prepare `encoders` (download, verify, build, move to `device`) in one background thread.

    Encoders already started are skipped. Returns the thread, or None when there was
    nothing to start.
    """
    dev = torch.device(device) if device is not None else default_device()
    with _lock:
        todo = []
        for name in encoders:
            name = check_checkpoint(name)
            if name not in _preparations:
                _preparations[name] = Preparation(name)
                todo.append(_preparations[name])
    if not todo:
        return None
    thread = threading.Thread(
        target=_prepare, args=(todo, dev), name="stylegan-startup", daemon=True
    )
    thread.start()
    log.info(
        "Preparing StyleGAN %s on %s in the background", ", ".join(p.encoder for p in todo), dev
    )
    return thread


def start_on_space() -> threading.Thread | None:
    """:func:`start` with the ``TIMELAPSE_PRELOAD`` encoders when on a Space; else nothing."""
    if not on_space():
        return None
    encoders = preload_encoders()
    return start(encoders) if encoders else None


def preparation(encoder: str) -> Preparation | None:
    """The start-up state of `encoder`, or None when nothing was started for it."""
    with _lock:
        return _preparations.get(check_checkpoint(encoder))


def is_ready(encoder: str, device: torch.device | str | None = None) -> bool:
    """Are `encoder`'s networks loaded in this process (by start-up or a render)?"""
    prep = preparation(encoder)
    if prep is not None:
        return prep.ready
    return loaded_models(encoder, device) is not None


def wait_until_ready(
    encoder: str,
    *,
    timeout: float | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> None:
    """Wait for `encoder`'s start-up preparation, starting it first on a Space.

    Off a Space with nothing started, returns at once (the render loads lazily).

    Raises:
        MethodUnavailableError: the preparation failed (its one-line reason), or
            `timeout` seconds passed.
    """
    encoder = check_checkpoint(encoder)
    if preparation(encoder) is None:
        if not on_space():
            return
        start([encoder])
    prep = preparation(encoder)
    assert prep is not None
    deadline = None if timeout is None else time.monotonic() + timeout
    while not prep.done.wait(POLL_S):
        if progress is not None:
            progress(f"getting StyleGAN ready ({prep.stage})", 0.0)
        if deadline is not None and time.monotonic() > deadline:
            raise MethodUnavailableError(
                f"The StyleGAN {encoder} weights are still being prepared ({prep.stage}); try again in a minute."
            )
    if prep.error:
        raise MethodUnavailableError(f"StyleGAN {encoder} is unavailable: {prep.error}")


def reset() -> None:
    """Forget every preparation (tests)."""
    with _lock:
        _preparations.clear()
