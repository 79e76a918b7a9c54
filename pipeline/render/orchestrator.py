"""The renderer: an analysed album (or keyframes) in; MP4, GIF, contact sheet and report out.

`render` is what the CLI and the app call. It checks everything it can
before any work (settings, method availability, output paths, keyframes,
captions), then streams frames from the chosen method through the keyframe
holds, the cosine blend of the real photos and the captions into ffmpeg.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.errors import MethodUnavailableError, NotEnoughPhotosError, UsageError
from pipeline.methods.base import Keyframe, TransitionMethod, get_method
from pipeline.render.captions import CAPTION_MODES, Captioner
from pipeline.render.encode import CRF, PRESET, EncodingError, VideoWriter, encode_gif, probe
from pipeline.render.sheet import write_contact_sheet
from pipeline.render.timing import Timing, keyframe_share, plan_timing
from pipeline.types import Analysis

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
SIZES = (256, 512, 1024)
FPS_RANGE = (24, 60)
MAX_FRAMES_BETWEEN = 600
MAX_HOLD_S = 10.0
MAX_TRANSITION_S = 60.0


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


@dataclass
class RenderSettings:
    """How to render a time-lapse.

    Attributes:
        method (str): ``morph`` (default), ``crossfade`` or ``stylegan``.
        size (int): output side in pixels: 256, 512 or 1024.
        fps (int): frames per second, 24 to 60.
        frames_between (int | None): frames per transition (the keyframe plus
            its in-betweens); used unless `seconds_per_year` is set.
        seconds_per_year (float | None): make each transition last this many
            seconds per year of age gap (wins over `frames_between`).
        min_transition_s, max_transition_s (float): clamps on a transition's
            length with `seconds_per_year`.
        hold (float): seconds to hold each photo.
        gamma (float | None): largest share of the real photo blended into
            frames near a keyframe, 0 to 1; None uses the method's default
            (0 for morph and cross-fade, 0.5 for StyleGAN).
        caption (str): ``age``, ``year`` or ``none``.
        method_options (dict): keyword arguments for the method's
            constructor (e.g. ``{"encoder": "psp"}`` for StyleGAN).
        gif_max_bytes (int): the GIF is shrunk until it is at most this large.
        gif_side (int): largest GIF side in pixels (never above `size`).
        gif_fps (int): largest GIF frame rate (never above `fps`).
        crf (int): H.264 quality, 0-51 (lower is better and larger).
    """

    method: str = "morph"
    size: int = 512
    fps: int = 30
    frames_between: int | None = 24
    seconds_per_year: float | None = None
    min_transition_s: float = 0.5
    max_transition_s: float = 4.0
    hold: float = 0.0
    gamma: float | None = None
    caption: str = "age"
    method_options: dict = field(default_factory=dict)
    gif_max_bytes: int = 8_000_000
    gif_side: int = 480
    gif_fps: int = 15
    crf: int = CRF

    def validate(self) -> None:
        """Check every setting.

        Raises:
            UsageError: the first bad setting, saying what to use instead.
        """
        get_method(self.method)  # raises UsageError naming the known methods
        if not _is_int(self.size) or self.size not in SIZES:
            raise UsageError(f"Size {self.size!r} is not supported; choose 256, 512 or 1024.")
        lo, hi = FPS_RANGE
        if not _is_int(self.fps) or not lo <= self.fps <= hi:
            raise UsageError(
                f"Frame rate {self.fps!r} is out of range; choose {lo} to {hi} frames per second."
            )
        if self.seconds_per_year is None:
            if self.frames_between is None:
                raise UsageError(
                    "Set either frames between photos (e.g. 24) or seconds per year of age (e.g. 0.5)."
                )
            if (
                not _is_int(self.frames_between)
                or not 1 <= self.frames_between <= MAX_FRAMES_BETWEEN
            ):
                raise UsageError(
                    f"Frames between photos must be a whole number from 1 to {MAX_FRAMES_BETWEEN}; got {self.frames_between!r}."
                )
        else:
            if (
                not _is_number(self.seconds_per_year)
                or not 0 < self.seconds_per_year <= MAX_TRANSITION_S
            ):
                raise UsageError(
                    f"Seconds per year must be above 0 and at most {MAX_TRANSITION_S:g} (e.g. 0.5); got {self.seconds_per_year!r}."
                )
            if not (_is_number(self.min_transition_s) and _is_number(self.max_transition_s)):
                raise UsageError(
                    "Minimum and maximum transition lengths must be numbers of seconds."
                )
            if not 0 < self.min_transition_s <= self.max_transition_s <= MAX_TRANSITION_S:
                raise UsageError(
                    f"Transition length limits must satisfy 0 < minimum <= maximum <= {MAX_TRANSITION_S:g} s; "
                    f"got minimum {self.min_transition_s!r} s and maximum {self.max_transition_s!r} s."
                )
        if not _is_number(self.hold) or not 0 <= self.hold <= MAX_HOLD_S:
            raise UsageError(
                f"Hold must be between 0 and {MAX_HOLD_S:g} seconds; got {self.hold!r}."
            )
        if self.gamma is not None and (not _is_number(self.gamma) or not 0 <= self.gamma <= 1):
            hint = (
                f" (for {self.gamma}% use {float(self.gamma) / 100:g})"
                if _is_number(self.gamma) and 1 < self.gamma <= 100
                else ""
            )
            raise UsageError(
                f"Gamma, the largest share of the real photo, must be between 0 and 1, e.g. 0.5; got {self.gamma!r}{hint}."
            )
        if self.caption not in CAPTION_MODES:
            raise UsageError(f"Caption {self.caption!r} unknown; choose age, year or none.")
        if not isinstance(self.method_options, dict):
            raise UsageError("Method options must be a dictionary of keyword arguments.")
        if not _is_int(self.gif_max_bytes) or self.gif_max_bytes < 50_000:
            raise UsageError(
                f"The GIF size cap must be at least 50000 bytes; got {self.gif_max_bytes!r}."
            )
        if not _is_int(self.gif_side) or not 96 <= self.gif_side <= 1024:
            raise UsageError(f"GIF side must be 96 to 1024 pixels; got {self.gif_side!r}.")
        if not _is_int(self.gif_fps) or not 5 <= self.gif_fps <= 50:
            raise UsageError(f"GIF frame rate must be 5 to 50; got {self.gif_fps!r}.")
        if not _is_int(self.crf) or not 0 <= self.crf <= 51:
            raise UsageError(f"CRF must be a whole number from 0 to 51; got {self.crf!r}.")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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


def check_method(settings: RenderSettings) -> type[TransitionMethod]:
    """The method class, if it can run here.

    Raises:
        UsageError: unknown method.
        MethodUnavailableError: the method cannot run here; the message is its one-line reason.
    """
    cls = get_method(settings.method)
    try:
        ok, reason = cls.availability()
    except Exception as exc:  # an availability probe must never crash the caller
        ok, reason = False, f"availability check failed: {exc}"
    if not ok:
        raise MethodUnavailableError(
            f"Method {settings.method!r} cannot run here: {reason or 'unavailable'}"
        )
    return cls


def fit_keyframe(kf: Keyframe, size: int) -> Keyframe:
    """The keyframe at `size` x `size` (image resized, landmarks scaled); unchanged if already there."""
    image = np.asarray(kf.image)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
        raise UsageError(
            f"{kf.label or 'keyframe'}: the aligned face must be a square RGB image, got shape {image.shape}."
        )
    if image.dtype != np.uint8:
        raise UsageError(
            f"{kf.label or 'keyframe'}: the aligned face must be uint8, got {image.dtype}."
        )
    landmarks = np.asarray(kf.landmarks, np.float32)
    if landmarks.shape != (68, 2) or not np.all(np.isfinite(landmarks)):
        raise UsageError(
            f"{kf.label or 'keyframe'}: needs 68 finite (x, y) landmarks, got shape {landmarks.shape}."
        )
    side = image.shape[0]
    if side != size:
        interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
        image = cv2.resize(image, (size, size), interpolation=interp)
        # Pixel centres: x_new + 0.5 = (x_old + 0.5) * scale.
        landmarks = (landmarks + 0.5) * (size / side) - 0.5
    return dataclasses.replace(
        kf,
        image=np.ascontiguousarray(image),
        landmarks=landmarks.astype(np.float32),
        extra=dict(kf.extra),
    )


def keyframes_from_analysis(analysis: Analysis, size: int) -> list[Keyframe]:
    """The usable photos of an analysis as keyframes at `size`, in video order.

    Raises:
        NotEnoughPhotosError: fewer than two usable photos.
    """
    usable = analysis.usable
    if len(usable) < 2:
        total = len(analysis.photos)
        raise NotEnoughPhotosError(
            f"Only {len(usable)} of {total} photo(s) can go into the video; a time-lapse needs at least 2. "
            "Add photos where the person's face is clearly visible, or include photos the analysis "
            'recommended removing (edits file: "include": true).'
        )
    out = []
    for p in usable:
        assert p.aligned is not None and p.aligned_landmarks is not None and p.age is not None
        kf = Keyframe(
            image=p.aligned,
            landmarks=p.aligned_landmarks,
            age=float(p.age),
            age_exact=p.age_source == "date",
            date=p.date,
            label=p.file,
            key=p.sha256,
            extra={"birth_date": analysis.birth_date},
        )
        out.append(fit_keyframe(kf, size))
    return out


@dataclass
class RenderPlan:
    """Everything decided before the first frame: keyframes, timing, captions, blend strength."""

    settings: RenderSettings
    method_cls: type[TransitionMethod]
    keyframes: list[Keyframe]
    timing: Timing
    captioner: Captioner
    gamma: float

    def new_method(self) -> TransitionMethod:
        """An instance of the method with the settings' options (not yet prepared)."""
        try:
            return self.method_cls(**self.settings.method_options)
        except TypeError as exc:
            raise UsageError(
                f"Method {self.settings.method!r} does not accept options {sorted(self.settings.method_options)}: {exc}"
            ) from exc

    def frames(self, method: TransitionMethod | None = None) -> Iterator[np.ndarray]:
        """Every frame of the video in order, as [size, size, 3] uint8 RGB.

        Args:
            method (TransitionMethod | None): an already prepared method;
                by default a new one is made and prepared here.

        A held frame is yielded as the same array again: do not modify frames.
        """
        if method is None:
            method = self.new_method()
            method.prepare(self.keyframes, size=self.settings.size)
        size = self.settings.size
        kfs = self.keyframes
        source: Iterator[np.ndarray] | None = None
        current = -1
        last: np.ndarray | None = None
        for spec in self.timing.frames():
            if spec.hold:
                assert last is not None
                yield last
                continue
            j, lam = spec.transition, spec.lam
            if lam >= 1.0:
                source, current = iter(method.transition(j, np.array([1.0]))), -1
            elif j != current:
                source, current = iter(method.transition(j, self.timing.lambdas(j))), j
            assert source is not None
            frame = next(source, None)
            if frame is None:
                raise RuntimeError(
                    f"method {method.name!r} yielded too few frames for transition {j}"
                )
            if frame.shape != (size, size, 3) or frame.dtype != np.uint8:
                raise RuntimeError(
                    f"method {method.name!r} yielded a {frame.shape} {frame.dtype} frame, expected [{size}, {size}, 3] uint8"
                )
            share = float(keyframe_share(lam, self.gamma))
            if share > 1e-6:
                real = kfs[j if lam < 0.5 else j + 1].image
                frame = cv2.addWeighted(real, share, frame, 1.0 - share, 0.0)
            text = self.captioner.text(j, lam)
            if text:
                frame = self.captioner.draw(np.array(frame, copy=True), text)
            last = frame
            yield frame


def plan_render(
    analysis_or_keyframes: Analysis | Sequence[Keyframe], settings: RenderSettings
) -> RenderPlan:
    """Validate and decide everything cheap (no frames rendered, no model loaded).

    Raises:
        UsageError: a bad setting or keyframe.
        MethodUnavailableError: the method cannot run here.
        NotEnoughPhotosError: fewer than two usable photos.
    """
    settings.validate()
    return _plan(analysis_or_keyframes, settings, check_method(settings))


def _plan(
    analysis_or_keyframes: Analysis | Sequence[Keyframe],
    settings: RenderSettings,
    cls: type[TransitionMethod],
) -> RenderPlan:
    if isinstance(analysis_or_keyframes, Analysis):
        keyframes = keyframes_from_analysis(analysis_or_keyframes, settings.size)
    else:
        keyframes = [fit_keyframe(kf, settings.size) for kf in analysis_or_keyframes]
        if len(keyframes) < 2:
            raise NotEnoughPhotosError(
                f"A time-lapse needs at least 2 photos; got {len(keyframes)}."
            )
    for kf in keyframes:
        if not _is_number(kf.age):
            raise UsageError(
                f"{kf.label or 'keyframe'}: age {kf.age!r} is not a number; set the age (edits file)."
            )
    timing = plan_timing(
        [kf.age for kf in keyframes],
        fps=settings.fps,
        frames_between=settings.frames_between,
        seconds_per_year=settings.seconds_per_year,
        min_transition_s=settings.min_transition_s,
        max_transition_s=settings.max_transition_s,
        hold=settings.hold,
    )
    # Each keyframe's time in the video lets methods shape motion smoothly in video time.
    for kf, t in zip(keyframes, timing.keyframe_times):
        kf.extra["time"] = float(t)
    captioner = Captioner(keyframes, settings.caption, settings.size)
    gamma = float(cls.default_gamma if settings.gamma is None else settings.gamma)
    return RenderPlan(settings, cls, keyframes, timing, captioner, gamma)


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


class _Throttle:
    """Forwards `progress(stage, fraction)` only when the whole percent changes."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self._last: tuple[str, int] | None = None

    def __call__(self, stage: str, fraction: float) -> None:
        if self.progress is None:
            return
        key = (stage, int(fraction * 100))
        if key != self._last:
            self._last = key
            self.progress(stage, min(1.0, max(0.0, fraction)))


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


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
    plan = _plan(analysis_or_keyframes, settings, get_method(settings.method))
    timings["plan"] = time.perf_counter() - t_start
    report_progress = _Throttle(progress)
    timing, size = plan.timing, settings.size

    video_info: dict[str, Any] | None = None
    gif_info: dict[str, Any] | None = None
    if video or gif:
        report_progress("preparing", 0.0)
        t0 = time.perf_counter()
        method = plan.new_method()
        method.prepare(plan.keyframes, size=size)
        timings["prepare"] = time.perf_counter() - t0
        report_progress("preparing", 1.0)
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
        write_contact_sheet(contact_sheet, plan.keyframes, labels)
        timings["contact_sheet"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start

    data = _report(plan, captions, video_info, gif_info, contact_sheet, timings)
    if isinstance(analysis_or_keyframes, Analysis):
        data["analysis_timings"] = {
            k: round(v, 3) for k, v in analysis_or_keyframes.timings.items()
        }
    if report_path:
        tmp = report_path.with_name(f".{report_path.stem}.part.json")
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(report_path)
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
    progress: _Throttle,
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


def _report(
    plan: RenderPlan,
    captions: list[str],
    video_info: dict[str, Any] | None,
    gif_info: dict[str, Any] | None,
    contact_sheet: Path | None,
    timings: dict[str, float],
) -> dict[str, Any]:
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
        }
        for i, kf in enumerate(kfs)
    ]
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
        },
        "transition_frames": list(timing.transition_frames),
        "transitions": transitions,
        "keyframes": keyframes,
        "gamma": plan.gamma,
        "caption": s.caption,
        "settings": s.to_json(),
        "video": video_info,
        "gif": gif_info,
        "contact_sheet": str(contact_sheet) if contact_sheet else None,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
