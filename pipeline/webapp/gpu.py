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


def gpu_seconds(review: Review, settings: Any, gif: bool, progress: Any = None) -> int:
    """The ZeroGPU slot to ask for: model loading plus encoding and frames, capped at 5 minutes."""
    photos = max(2, len(review.analysis.usable))
    return int(min(300, 30 + photos * 3 + photos * (settings.frames_between or 24) * 0.15))


@_gpu(duration=gpu_seconds)
def render_on_gpu(review: Review, settings: Any, gif: bool, progress: Any = None) -> RenderOutputs:
    """The StyleGAN render (encoder + generator), on a ZeroGPU slot when on a Space."""
    return render_review(review, settings, gif=gif, progress=progress)


def render_album(review: Review, settings: Any, gif: bool, progress: Any = None) -> RenderOutputs:
    """Render `review` with `settings`; StyleGAN goes through the GPU slot."""
    if settings.method == "stylegan":
        return render_on_gpu(review, settings, gif, progress)
    return render_review(review, settings, gif=gif, progress=progress)
