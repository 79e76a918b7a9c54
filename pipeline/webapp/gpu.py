"""Where a render runs: StyleGAN on a ZeroGPU slot when on a Space, everything else in place."""

from __future__ import annotations

from typing import Any

from pipeline.methods.stylegan import startup
from pipeline.methods.stylegan.zerogpu import gpu_task
from pipeline.render import gpu as render_gpu
from pipeline.timelapse import imagines_ages
from pipeline.webapp.render import RenderOutputs, render_review
from pipeline.webapp.review import Review


def gpu_seconds(
    review: Review, settings: Any, gif: bool, progress: Any = None, age_photo: str | None = None
) -> int:
    """The ZeroGPU slot to ask for: model loading plus encoding and frames, capped at 5 minutes.

    Imagined ages count as keyframes too (about one per `age_step` years of a lifespan or extension).
    """
    photos = max(2, len(review.analysis.usable))
    if imagines_ages(review.analysis, settings, age_photo):
        lo, hi = settings.lifespan
        photos += int((hi - lo) // settings.age_step) + 2
    rough = int(min(300, 30 + photos * 3 + photos * (settings.frames_between or 24) * 0.15))
    # The estimate from the planned video (frames from the timing, size, batch, GIF, cold load).
    return max(rough, render_gpu.gpu_seconds(review.analysis, settings, gif=gif))


@gpu_task(duration=gpu_seconds)
def render_on_gpu(
    review: Review, settings: Any, gif: bool, progress: Any = None, age_photo: str | None = None
) -> RenderOutputs:
    """The StyleGAN render (encoder + generator), on a ZeroGPU slot when on a Space."""
    return render_review(review, settings, gif=gif, progress=progress, age_photo=age_photo)


def render_album(
    review: Review, settings: Any, gif: bool, progress: Any = None, age_photo: str | None = None
) -> RenderOutputs:
    """Render `review` with `settings`; StyleGAN goes through the GPU slot."""
    # StyleGAN, and SAM's imagined ages (an extension or a one-photo lifespan), need the GPU.
    imagined = imagines_ages(review.analysis, settings, age_photo)
    if settings.method == "stylegan" or imagined:
        if settings.method == "stylegan" and not age_photo:  # weights ready before the GPU window
            render_gpu.prepare_gpu_render(review.analysis, settings, gif=gif, progress=progress)
        if imagined:
            # SAM's file downloaded and verified before the GPU window (a no-op off a Space).
            startup.wait_until_ready("sam", progress=progress)
        return render_on_gpu(review, settings, gif, progress, age_photo)
    return render_review(review, settings, gif=gif, progress=progress, age_photo=age_photo)
