"""Where a render runs: StyleGAN on a ZeroGPU slot when on a Space, everything else in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.webapp.render import RenderOutputs, render_review
from pipeline.webapp.review import Review

try:  # ZeroGPU on a Space; `spaces.GPU` is a no-op anywhere else.
    import spaces
except Exception:  # pragma: no cover - `spaces` is in requirements.txt
    spaces = None


def _gpu(duration: Callable[..., int]) -> Callable[[Callable], Callable]:
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def gpu_seconds(
    review: Review, settings: Any, gif: bool, progress: Any = None, age_photo: str | None = None
) -> int:
    """The ZeroGPU slot to ask for: model loading plus encoding and frames, capped at 5 minutes.

    Imagined ages count as keyframes too (about one per `age_step` years of a lifespan or extension).
    """
    photos = max(2, len(review.analysis.usable))
    if settings.extends or age_photo or len(review.analysis.usable) == 1:
        lo, hi = settings.lifespan
        photos += int((hi - lo) // settings.age_step) + 2
    return int(min(300, 30 + photos * 3 + photos * (settings.frames_between or 24) * 0.15))


@_gpu(duration=gpu_seconds)
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
    if settings.method == "stylegan" or settings.extends or age_photo or len(review.analysis.usable) == 1:
        return render_on_gpu(review, settings, gif, progress, age_photo)
    return render_review(review, settings, gif=gif, progress=progress, age_photo=age_photo)
