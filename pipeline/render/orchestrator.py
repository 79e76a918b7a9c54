"""The render run: an analysed album (or keyframes) in; MP4, GIF, contact sheet and report out.

`render` is what the CLI and the app call. It checks everything it can
before any work (`preflight`: settings, method availability, output paths;
then the plan: keyframes, timing, captions), then streams the plan's frames
into ffmpeg and writes the GIF, contact sheet and report asked for.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError
from pipeline.methods.base import Keyframe, TransitionMethod, get_method
from pipeline.progress import Progress, Throttle
from pipeline.render.captions import Captioner
from pipeline.render.encode import PRESET, EncodingError, VideoWriter, encode_gif, probe
from pipeline.render.imagined import require_sam
from pipeline.render.plan import RenderPlan, build_plan
from pipeline.render.report import build_report, write_report
from pipeline.render.settings import RenderSettings, check_method
from pipeline.render.sheet import write_contact_sheet
from pipeline.types import Analysis

log = logging.getLogger(__name__)


@dataclass
class RenderResult:
    """What `render` produced.

    Attributes:
        video (Path | None): the MP4, if one was asked for.
        gif (Path | None): the GIF, if asked for and it fitted under the cap.
        contact_sheet (Path | None): the contact sheet PNG, if asked for.
        report (dict): the JSON report (also written when a path was given).
        frame_count (int): frames in the video.
        duration (float): video length in seconds (frame_count / fps).
    """

    video: Path | None
    gif: Path | None
    contact_sheet: Path | None
    report: dict
    frame_count: int
    duration: float


def _check_output(path: Path | None, suffix: str, what: str) -> Path | None:
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise UsageError(f"{path}: the {what} file name must end in {suffix}.")
    if path.exists() and path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name ending in {suffix}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"Cannot create the folder {path.parent} for the {what}: {exc}") from exc
    return path


def preflight(
    settings: RenderSettings,
    *,
    video: Path | None,
    gif: Path | None = None,
    contact_sheet: Path | None = None,
    report: Path | None = None,
) -> tuple[Path | None, Path | None, Path | None, Path | None]:
    """Everything that can fail before any work: settings, method availability, output paths.

    Creates the output folders. Returns the four paths as `Path` (or None).

    Raises:
        UsageError: a bad setting or output path, or nothing to write.
        MethodUnavailableError: the method cannot run here (its one-line reason).
    """
    settings.validate()
    check_method(settings)
    if settings.extends:
        require_sam("Extending the video beyond the photos")
    out = (
        _check_output(video, ".mp4", "video"),
        _check_output(gif, ".gif", "GIF"),
        _check_output(contact_sheet, ".png", "contact sheet"),
        _check_output(report, ".json", "report"),
    )
    if not any(out):
        raise UsageError(
            "Nothing to write: give a video (.mp4), a GIF, a contact sheet or a report path."
        )
    return out


def render(
    analysis_or_keyframes: Analysis | Sequence[Keyframe],
    *,
    settings: RenderSettings,
    video: Path | None,
    gif: Path | None = None,
    contact_sheet: Path | None = None,
    report: Path | None = None,
    progress: Progress | None = None,
) -> RenderResult:
    """Render a time-lapse.

    Args:
        analysis_or_keyframes: an `Analysis` (its usable photos, in order) or
            keyframes in video order.
        settings (RenderSettings): how to render.
        video (Path | None): MP4 to write (H.264, yuv420p, +faststart).
        gif (Path | None): GIF to write (palette-optimised, capped at
            `settings.gif_max_bytes`); made from the MP4.
        contact_sheet (Path | None): PNG of the ordered keyframes with captions.
        report (Path | None): JSON report to write (it is returned either way).
        progress (callable | None): ``progress(stage, fraction)``.

    Returns:
        RenderResult: output paths, the report, frame count and duration.

    Raises:
        UsageError: a bad setting, keyframe or output path (before any work).
        MethodUnavailableError: the method cannot run here (before any work).
        NotEnoughPhotosError: fewer than two usable photos (before any work).
        EncodingError: ffmpeg failed.
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    video, gif, contact_sheet, report_path = preflight(
        settings, video=video, gif=gif, contact_sheet=contact_sheet, report=report
    )
    plan = build_plan(analysis_or_keyframes, settings, get_method(settings.method))
    timings["plan"] = time.perf_counter() - t_start
    report_progress = Throttle(progress)
    timing, size = plan.timing, settings.size

    video_info: dict[str, Any] | None = None
    gif_info: dict[str, Any] | None = None
    method: TransitionMethod | None = None
    # Imagined faces are made while preparing; the contact sheet shows them too.
    if video or gif or (contact_sheet and plan.imagined):
        report_progress("preparing", 0.0)
        t0 = time.perf_counter()
        method = plan.new_method()
        plan.prepare(method)
        timings["prepare"] = time.perf_counter() - t0
        timings["matte"] = plan.matte_seconds
        report_progress("preparing", 1.0)
    if method is not None and (video or gif):
        with tempfile.TemporaryDirectory(prefix="timelapse-render-") as work:
            mp4 = video or Path(work) / "video.mp4"
            video_info = _encode(plan, method, mp4, timings, report_progress)
            if gif:
                report_progress("making GIF", 0.0)
                t0 = time.perf_counter()
                result = encode_gif(
                    mp4, gif, max_bytes=settings.gif_max_bytes,
                    side=min(size, settings.gif_side), fps=min(settings.fps, settings.gif_fps),
                )  # fmt: skip
                gif = result.path
                gif_info = result.to_json()
                gif_info["max_bytes"] = settings.gif_max_bytes
                timings["gif"] = time.perf_counter() - t0
                report_progress("making GIF", 1.0)
        if not video:
            video_info = None
    captions = plan.captioner.keyframe_texts()
    if contact_sheet:
        t0 = time.perf_counter()
        labels = (
            captions
            if settings.caption != "none"
            else Captioner(plan.keyframes, "age", size).keyframe_texts()
        )
        # The pictures the video shows (on its backdrop): a keyframe's own image has the
        # person's colours pushed into its soft edge, which only looks right composited.
        write_contact_sheet(contact_sheet, plan.keyframes, labels, images=plan.shown_keyframes())
        timings["contact_sheet"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start

    data = build_report(plan, captions, video_info, gif_info, contact_sheet, timings)
    if isinstance(analysis_or_keyframes, Analysis):
        data["analysis_timings"] = {
            k: round(v, 3) for k, v in analysis_or_keyframes.timings.items()
        }
    if report_path:
        write_report(report_path, data)
    return RenderResult(
        video=video,
        gif=gif,
        contact_sheet=contact_sheet,
        report=data,
        frame_count=timing.frame_count,
        duration=timing.duration,
    )


def _encode(
    plan: RenderPlan,
    method: TransitionMethod,
    mp4: Path,
    timings: dict[str, float],
    progress: Throttle,
) -> dict[str, Any]:
    """Stream every frame into the MP4 and check what ffmpeg wrote."""
    settings, timing = plan.settings, plan.timing
    total = timing.frame_count
    t0 = time.perf_counter()
    make_s = wait_s = 0.0
    writer = VideoWriter(mp4, size=settings.size, fps=settings.fps, crf=settings.crf)
    try:
        frames = plan.frames(method)
        for i in range(total):
            t1 = time.perf_counter()
            frame = next(frames)
            t2 = time.perf_counter()
            writer.write(frame)
            make_s += t2 - t1
            wait_s += time.perf_counter() - t2
            progress("rendering", (i + 1) / total)
        if next(frames, None) is not None:
            raise RuntimeError("the renderer produced more frames than planned")
        t1 = time.perf_counter()
        writer.close()
        wait_s += time.perf_counter() - t1
    except BaseException:
        writer.abort()
        raise
    timings["frames"] = make_s
    timings["encode_wait"] = wait_s
    timings["render_and_encode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    info = probe(mp4)
    timings["probe"] = time.perf_counter() - t0
    if info.frames != total or info.codec != "h264" or info.pix_fmt != "yuv420p":
        raise EncodingError(
            f"{mp4}: ffmpeg wrote {info.frames} {info.codec}/{info.pix_fmt} frames, expected {total} h264/yuv420p"
        )
    return {
        "path": str(mp4),
        "codec": info.codec,
        "pix_fmt": info.pix_fmt,
        "width": info.width,
        "height": info.height,
        "fps": settings.fps,
        "frames": info.frames,
        "duration": round(timing.duration, 6),
        "container_duration": info.duration,
        "crf": settings.crf,
        "preset": PRESET,
        "faststart": True,
        "bytes": mp4.stat().st_size,
    }
