"""The one ZeroGPU wrapper, and the GPU time a StyleGAN render asks for.

On a ZeroGPU Space, ``spaces.GPU(duration=...)`` runs a function in a forked
worker that holds a GPU for the requested number of seconds and is aborted
when it overruns. The app wraps the whole StyleGAN render (encode, generate,
ffmpeg, GIF, contact sheet) once with :func:`gpu_task`; nothing inside is
wrapped again (a nested ``spaces.GPU`` runs directly in the worker and its
duration is ignored). Off ZeroGPU the wrapper is the identity. The worker's
memory dies with it; the codes it encodes survive in the temporary folder
(:mod:`pipeline.methods.stylegan.latents`) for the next worker.

The duration comes from :func:`estimate_gpu_seconds` on a :class:`GpuWork`:
the real amount of work of the planned video. The constants below are
conservative figures for an H200 MIG slice (ZeroGPU's GPU) running our
plain-PyTorch generator; ``bench/gpu_check.py`` prints measured rates and the
estimate against the measured time on a GPU, to tighten them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# --- Duration model (seconds). ------------------------------------------------------
# Worker start: fork, CUDA initialisation, copying the networks prepared at start-up
# (about 1.2 GB of tensors per encoder) from host memory or ZeroGPU's pack to the GPU.
WORKER_START_S = 10.0
# Networks not prepared at start-up: read the 1.2 GB checkpoint (no memory map),
# build both networks, copy them to the GPU, inside the window.
COLD_LOAD_S = 45.0
# First encoder call (cuDNN algorithm choice) plus each aligned face through
# IR-SE-50 in fp32 at 256 px (measured rates are in the hundreds per second).
ENCODE_BASE_S = 2.0
ENCODE_PER_FACE_S = 0.05
# One generated 1024 px frame inside a batch of 8 in fp16 (20 frames/s, half the
# 40 frames/s target), plus a fixed cost per generator call (about 100 kernels per
# layer stack, and batches shorter than 8 at the end of each transition).
GENERATE_PER_FRAME_S = 0.05
GENERATE_PER_CALL_S = 0.04
# The generator always renders 1024 px; the rest scales with the output pixels:
# resize, copy to the host, keyframe blend, caption, libx264 on the Space's CPUs.
# Seconds per output frame per megapixel (0.07 s at 1024 px, 0.018 s at 512 px).
POST_PER_MPIXEL_S = 0.07
# The GIF is made from the MP4 (palette pass, encode, retries to fit the size cap).
GIF_BASE_S = 3.0
GIF_PER_FRAME_S = 0.03
# Contact sheet: a fixed cost plus each keyframe tile.
SHEET_BASE_S = 1.0
SHEET_PER_PHOTO_S = 0.05
# Safety factor on the sum, and the bounds of what is requested.
SAFETY = 1.3
MIN_S = 30
MAX_S = 300  # the longest window this app asks for; longer videos are refused up front

DURATION_CONSTANTS = {
    name: value
    for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, (int, float))
}


@dataclass(frozen=True)
class GpuWork:
    """What one StyleGAN render does inside the GPU window.

    Attributes:
        faces (int): keyframes to encode (an upper bound: cached codes are skipped).
        generated_frames (int): frames the generator renders (holds repeat a frame).
        video_frames (int): frames written to the MP4 (with holds).
        generator_calls (int): generator batches (per transition, ``ceil(frames / batch)``).
        size (int): output side in pixels.
        batch_size (int): frames per generator call.
        gif (bool): a GIF is made too.
        contact_sheet (bool): a contact sheet is written.
        sheet_tiles (int | None): photos the contact sheet shows (None: one per face).
        cold_load (bool): the networks are not prepared yet and load inside the window.
    """

    faces: int
    generated_frames: int
    video_frames: int
    generator_calls: int
    size: int
    batch_size: int
    gif: bool = False
    contact_sheet: bool = True
    sheet_tiles: int | None = None
    cold_load: bool = False


def work_seconds(work: GpuWork) -> float:
    """Expected seconds of `work` before the safety factor and bounds (see the constants)."""
    mpix = work.size**2 / 1e6  # megapixels per output frame
    seconds = WORKER_START_S
    seconds += COLD_LOAD_S if work.cold_load else 0.0
    seconds += ENCODE_BASE_S + ENCODE_PER_FACE_S * work.faces
    seconds += GENERATE_PER_FRAME_S * work.generated_frames
    seconds += GENERATE_PER_CALL_S * work.generator_calls
    seconds += POST_PER_MPIXEL_S * mpix * work.video_frames
    if work.gif:
        seconds += GIF_BASE_S + GIF_PER_FRAME_S * work.video_frames
    if work.contact_sheet:
        tiles = work.faces if work.sheet_tiles is None else work.sheet_tiles
        seconds += SHEET_BASE_S + SHEET_PER_PHOTO_S * tiles
    return seconds


def needed_gpu_seconds(work: GpuWork) -> int:
    """Seconds to ask for, with the safety factor, at least ``MIN_S`` (not capped)."""
    return max(MIN_S, int(math.ceil(SAFETY * work_seconds(work))))


def estimate_gpu_seconds(work: GpuWork) -> int:
    """The ``spaces.GPU`` duration for `work`: :func:`needed_gpu_seconds` capped at ``MAX_S``."""
    needed = needed_gpu_seconds(work)
    if needed > MAX_S:
        log.warning("render needs about %d s of GPU time; asking for the cap, %d s", needed, MAX_S)
    return min(MAX_S, needed)


def on_space() -> bool:
    """Running on a Hugging Face Space (``SPACE_ID`` is set there)?"""
    return bool(os.environ.get("SPACE_ID", "").strip())


def on_zerogpu() -> bool:
    """Running on ZeroGPU hardware (``SPACES_ZERO_GPU`` is true there)?"""
    return os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in {"1", "t", "true"}


def gpu_task(duration: Callable[..., int]) -> Callable[[F], F]:
    """Decorator: ``spaces.GPU(duration=duration)`` where the ``spaces`` package works (it
    is the identity off ZeroGPU), else the identity.

    `duration` receives the wrapped function's arguments and returns seconds; it
    runs in the main process before the GPU is requested, so it must be cheap. A
    ``spaces`` that fails to set up (e.g. ZeroGPU variables with a CPU-only torch)
    leaves the function unwrapped, with a warning, rather than breaking the app.
    """

    def decorate(fn: F) -> F:
        try:
            import spaces

            return spaces.GPU(duration=duration)(fn)
        except Exception as exc:
            level = logging.WARNING if on_zerogpu() else logging.DEBUG
            log.log(
                level,
                "spaces.GPU unavailable (%s: %s); %s runs in-process",
                exc.__class__.__name__,
                exc,
                fn.__name__,
            )
            return fn

    return decorate
