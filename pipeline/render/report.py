"""The render report: one JSON document saying what was rendered, how, and how long it took."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from pipeline.render.plan import RenderPlan
from pipeline.types import is_imagined


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def write_report(path: Path, data: dict[str, Any]) -> None:
    """Write the report as indented JSON, atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.stem}.part.json")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def build_report(
    plan: RenderPlan,
    captions: list[str],
    video_info: dict[str, Any] | None,
    gif_info: dict[str, Any] | None,
    contact_sheet: Path | None,
    timings: dict[str, float],
) -> dict[str, Any]:
    """The report of a finished render: settings, timing, per-transition and per-keyframe detail."""
    s, timing, kfs = plan.settings, plan.timing, plan.keyframes
    starts = timing.keyframe_indices
    transitions = [
        {
            "from": kfs[j].label,
            "to": kfs[j + 1].label,
            "from_age": round(kfs[j].age, 3),
            "to_age": round(kfs[j + 1].age, 3),
            "age_gap": round(timing.age_gaps[j], 3),
            "start_frame": starts[j],
            "frames": d,
            "seconds": round(d / timing.fps, 6),
            "imagined": is_imagined(kfs[j]) or is_imagined(kfs[j + 1]),
        }
        for j, d in enumerate(timing.transition_frames)
    ]
    keyframes = [
        {
            "label": kf.label,
            "age": round(kf.age, 3),
            "age_exact": kf.age_exact,
            "date": _iso(kf.date),
            "caption": captions[i],
            "frame": starts[i],
            "imagined": is_imagined(kf),
            "source": kf.imagined.source if kf.imagined is not None else None,
            "blend": round(plan.gammas[i], 3),
        }
        for i, kf in enumerate(kfs)
    ]
    imagined = [k for k in keyframes if k["imagined"]]
    return {
        "method": s.method,
        "method_label": plan.method_cls.label,
        "method_options": s.method_options,
        "size": s.size,
        "fps": s.fps,
        "frame_count": timing.frame_count,
        "duration": round(timing.duration, 6),
        "timing": {
            **timing.to_json(),
            "frames_between": s.frames_between if timing.mode == "frames" else None,
            "seconds_per_year": s.seconds_per_year if timing.mode == "seconds_per_year" else None,
            "min_transition_s": s.min_transition_s if timing.mode == "seconds_per_year" else None,
            "max_transition_s": s.max_transition_s if timing.mode == "seconds_per_year" else None,
            "hold_s": s.hold,
            "per_photo": s.per_photo if timing.mode == "per_photo" else None,
            "blend": s.blend if timing.mode == "per_photo" else None,
        },
        "transition_frames": list(timing.transition_frames),
        "transitions": transitions,
        "keyframes": keyframes,
        "gamma": plan.gamma,
        "imagined": {
            "model": "SAM (age transformation)",
            "count": len(imagined),
            "ages": [k["age"] for k in imagined],
            "lifespan": len(kfs) - len(imagined) == 1,
            "extend_before": s.extend_before,
            "extend_after": s.extend_after,
        }
        if imagined
        else None,
        "caption": s.caption,
        "background": {
            "setting": plan.background.label(),
            "steady": plan.background.steady,
            "matte_model": "MediaPipe selfie segmentation" if plan.background.steady else None,
            "matte_s_per_keyframe": (
                round(plan.matte_seconds / len(kfs), 4)
                if plan.background.steady and plan.matte_seconds
                else None
            ),
        },
        "settings": s.to_json(),
        "video": video_info,
        "gif": gif_info,
        "contact_sheet": str(contact_sheet) if contact_sheet else None,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
