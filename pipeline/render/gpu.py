"""GPU time of a planned render: the numbers behind the one ZeroGPU wrapper.

:func:`gpu_work` turns a render plan into a :class:`GpuWork` (faces to encode,
frames to generate from the timing mode, output size, batch size, GIF and
contact sheet, whether the networks still have to load), and
:func:`gpu_seconds` is the ``duration`` the app gives
:func:`pipeline.methods.stylegan.zerogpu.gpu_task`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import torch

from pipeline.errors import UsageError
from pipeline.methods.stylegan.inference import default_batch_size
from pipeline.methods.stylegan.startup import is_ready, wait_until_ready
from pipeline.methods.stylegan.zerogpu import (
    MAX_S,
    MIN_S,
    GpuWork,
    estimate_gpu_seconds,
    needed_gpu_seconds,
    on_zerogpu,
)
from pipeline.render.plan import plan_render
from pipeline.render.settings import RenderSettings
from pipeline.render.sheet import MAX_TILES
from pipeline.types import Analysis, Keyframe

log = logging.getLogger(__name__)


def gpu_work(
    analysis_or_keyframes: Analysis | Sequence[Keyframe],
    settings: RenderSettings,
    *,
    gif: bool = False,
    contact_sheet: bool = True,
) -> GpuWork:
    """The work a StyleGAN render of this album does on the GPU (no frame rendered).

    Raises:
        UsageError, MethodUnavailableError, NotEnoughPhotosError: as :func:`plan_render`.
    """
    plan = plan_render(analysis_or_keyframes, settings)
    timing = plan.timing
    options = settings.method_options
    batch = int(options.get("batch_size") or default_batch_size(torch.device("cuda")))
    # Each transition is generated in its own batches; the video's last frame is one more call.
    calls = sum(math.ceil(d / batch) for d in timing.transition_frames) + 1
    encoder = str(options.get("encoder") or "e4e")
    cold = settings.method == "stylegan" and not is_ready(encoder, "cuda")
    if plan.imagined:  # SAM renders the imagined stretches; its 2.3 GB load counts too
        from pipeline.methods.stylegan import aging

        cold = cold or not aging._models
    return GpuWork(
        faces=len(plan.keyframes),
        generated_frames=sum(timing.transition_frames) + 1,
        video_frames=timing.frame_count,
        generator_calls=calls,
        size=settings.size,
        batch_size=batch,
        gif=gif,
        contact_sheet=contact_sheet,
        sheet_tiles=min(len(plan.keyframes), MAX_TILES),
        cold_load=cold,
    )


def gpu_seconds(
    analysis_or_keyframes: Analysis | Sequence[Keyframe],
    settings: RenderSettings,
    *,
    gif: bool = False,
    contact_sheet: bool = True,
) -> int:
    """Seconds of GPU to request for this render; ``MIN_S`` when it cannot be planned
    (the render then fails at once with the planning error)."""
    try:
        work = gpu_work(analysis_or_keyframes, settings, gif=gif, contact_sheet=contact_sheet)
    except Exception as exc:
        log.debug("GPU work not planned (%s); asking for %d s", exc, MIN_S)
        return MIN_S
    seconds = estimate_gpu_seconds(work)
    log.info("GPU window for %s: %d s", work, seconds)
    return seconds


def check_gpu_budget(
    analysis_or_keyframes: Analysis | Sequence[Keyframe],
    settings: RenderSettings,
    *,
    gif: bool = False,
    contact_sheet: bool = True,
) -> None:
    """Refuse, before any work, a render that needs more GPU time than one window gives.

    Raises:
        UsageError: the video is too long for ``MAX_S`` seconds of GPU.
    """
    work = gpu_work(analysis_or_keyframes, settings, gif=gif, contact_sheet=contact_sheet)
    needed = needed_gpu_seconds(work)
    if needed > MAX_S:
        raise UsageError(
            f"This StyleGAN video ({work.video_frames} frames at {work.size} px) needs about "
            f"{needed} s of GPU time, more than the {MAX_S} s one render may use. Choose fewer "
            "photos, shorter transitions or a smaller size."
        )


def uses_gpu(settings: RenderSettings) -> bool:
    """Does this render run networks that want the GPU (StyleGAN, or SAM's imagined ages)?"""
    return settings.method == "stylegan" or settings.extends


def prepare_gpu_render(
    analysis_or_keyframes: Analysis | Sequence[Keyframe],
    settings: RenderSettings,
    *,
    gif: bool = False,
    progress: Callable[[str, float], None] | None = None,
) -> None:
    """In the main process, before asking for the GPU: on ZeroGPU refuse a video too long
    for one window, and wait for the networks' start-up preparation (download, checks).

    Does nothing for methods that do not use the GPU.

    Raises:
        UsageError: the video needs more than ``MAX_S`` seconds of GPU (ZeroGPU only).
        MethodUnavailableError: the weights could not be prepared.
    """
    if not uses_gpu(settings):
        return
    if on_zerogpu():
        check_gpu_budget(analysis_or_keyframes, settings, gif=gif)
    if settings.method == "stylegan":
        wait_until_ready(str(settings.method_options.get("encoder") or "e4e"), progress=progress)
