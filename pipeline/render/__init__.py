"""Rendering: from ordered, aligned keyframes to a browser-playable time-lapse.

By job: `settings` (what may be asked, validated once), `plan` (keyframes at
the output size, timing, captions, the frame stream), `report` (the JSON
report), `orchestrator` (the run: checks, frames into ffmpeg, GIF, sheet).

Public API (used by the CLI and the app)::

    settings = RenderSettings(method="morph", size=512, fps=30)
    check_method(settings)                       # fail fast, before any work
    result = render(analysis, settings=settings, video=Path("out.mp4"),
                    gif=None, contact_sheet=None, report=None, progress=None)
"""

from __future__ import annotations

from pipeline.render.orchestrator import RenderResult, preflight, render
from pipeline.render.plan import RenderPlan, fit_keyframe, keyframes_from_analysis, plan_render
from pipeline.render.settings import RenderSettings, check_method
from pipeline.render.timing import Timing, keyframe_share, plan_timing

__all__ = [
    "RenderPlan",
    "RenderResult",
    "RenderSettings",
    "Timing",
    "check_method",
    "fit_keyframe",
    "keyframe_share",
    "keyframes_from_analysis",
    "plan_render",
    "plan_timing",
    "preflight",
    "render",
]
