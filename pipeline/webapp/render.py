"""Render a reviewed album: settings from the page or the API, output files, and the report.

The report is the API's documentation of a render: besides the renderer's own
keys (frames, timing, keyframes, settings) it carries ``photos`` (every photo
in the video with its order, age and caption), ``warnings`` (every photo left
out and why) and ``credits`` (photos found by name). `REPORT_KEYS` lists the
documented keys; a test checks them against the README.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.credits import credits_json, used_credits, write_credits
from pipeline.errors import MethodUnavailableError, UsageError
from pipeline.progress import Progress
from pipeline.render import RenderSettings, check_method, render
from pipeline.render.options import BY_NAME, VIDEO_KINDS, web_defaults
from pipeline.render.report import write_report
from pipeline.sizes import coerce_size
from pipeline.timelapse import render_source
from pipeline.webapp.files import request_dir
from pipeline.webapp.review import Review

log = logging.getLogger(__name__)

# Defaults shared by the page's controls and the API's parameters (`options.OPTIONS` says them).
DEFAULTS: dict[str, Any] = web_defaults()
TIMINGS = VIDEO_KINDS
REPORT_KEYS = (
    "method", "size", "fps", "frame_count", "duration", "timing", "keyframes", "video", "gif",
    "contact_sheet", "photos", "warnings", "credits", "background",
)  # fmt: skip
PHOTO_KEYS = ("file", "order", "age", "age_source", "date", "caption", "frame")
WARNING_KEYS = ("file", "reason")


def _whole(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().isdigit():
        return int(v)
    return v


def make_settings(
    *,
    method: str = DEFAULTS["method"],
    size: int = DEFAULTS["size"],
    fps: int = DEFAULTS["fps"],
    frames_between: int | None = DEFAULTS["frames_between"],
    seconds_per_year: float | None = None,
    hold: float = DEFAULTS["hold"],
    gamma: float | None = None,
    caption: str = DEFAULTS["caption"],
    background: str = DEFAULTS["background"],
    encoder: str | None = None,
    extend_before: float | None = None,
    extend_after: float | None = None,
    lifespan: tuple[float, float] | None = None,
    timing: str = DEFAULTS["timing"],
    per_photo: int = DEFAULTS["per_photo"],
    blend: int = DEFAULTS["blend"],
    smooth: int = DEFAULTS["smooth"],
    average: int = DEFAULTS["average"],
) -> RenderSettings:
    """Validated `RenderSettings` from page or API values (numbers may arrive as floats or text).

    `gamma` and `encoder` only apply to StyleGAN; `seconds_per_year` of 0 means "off", and so does
    an empty `extend_before` / `extend_after` (ages imagined by SAM before / after the photos).
    `timing` ``every_photo`` is the photo-a-day video: `per_photo` frames of each photo,
    `blend` frames to the next, eye placement smoothed over `smooth` photos either side,
    `average` photos averaged into each one; the transition timing (`frames_between`,
    `seconds_per_year`, `hold`) then does not apply.

    Raises:
        UsageError: a bad setting.
    """
    method = str(method or "morph").lower()
    stylegan = method == "stylegan"
    every = timing_of(timing) == "every_photo"
    if every:  # the photo-a-day timing replaces the transition timing, whose values are unused
        frames_between, seconds_per_year, hold = DEFAULTS["frames_between"], None, 0.0
    settings = RenderSettings(
        method=method,
        size=coerce_size(size),
        fps=_whole(fps),
        frames_between=_whole(frames_between),
        seconds_per_year=float(seconds_per_year)
        if seconds_per_year not in (None, 0, 0.0, "")
        else None,
        hold=float(hold or 0.0),
        gamma=float(gamma) if stylegan and gamma not in (None, "") else None,
        caption=str(caption or "age").lower(),
        background=str(background or DEFAULTS["background"]),
        method_options={"encoder": str(encoder).lower()} if stylegan and encoder else {},
        extend_before=_age_or_none(extend_before),
        extend_after=_age_or_none(extend_after),
        lifespan=(float(lifespan[0]), float(lifespan[1]))
        if lifespan
        else BY_NAME["lifespan"].default,
        per_photo=_whole(per_photo) if every else None,
        blend=_whole(blend) if every else DEFAULTS["blend"],
        smooth=_whole(smooth) if every else DEFAULTS["smooth"],
        average=_whole(average) if every else DEFAULTS["average"],
    )
    settings.validate()
    return settings


def timing_of(value: Any) -> str:
    """The kind of video from a page or API value: ``transitions`` or ``every_photo``.

    Raises:
        UsageError: another value.
    """
    text = str(value or DEFAULTS["timing"]).strip().lower().replace("-", "_").replace(" ", "_")
    if text not in TIMINGS:
        raise UsageError(
            f"Video kind {value!r} unknown; choose transitions (a smooth morph between selected photos) "
            "or every_photo (every photo in turn, like a photo-a-day video)."
        )
    return text


def _age_or_none(value: Any) -> float | None:
    """An optional age from a page or API field: empty (None, "", 0 from an empty number box) is off."""
    if value in (None, "") or (isinstance(value, (int, float)) and value == 0):
        return None
    return float(value)


def check_can_render(settings: RenderSettings) -> None:
    """Fail before any work when the method cannot run here.

    Raises:
        MethodUnavailableError: with `method` set (the page words it; the reason goes to the log).
    """
    try:
        check_method(settings)
    except MethodUnavailableError as exc:
        exc.method = exc.method or settings.method
        raise


@dataclass
class RenderOutputs:
    """Files of one render and what to show about it."""

    video: Path
    gif: Path | None
    contact_sheet: Path
    report_path: Path
    report: dict[str, Any]
    credits: Path | None

    @property
    def downloads(self) -> list[Path]:
        return [
            p
            for p in (self.video, self.gif, self.contact_sheet, self.credits, self.report_path)
            if p
        ]


def render_review(
    review: Review,
    settings: RenderSettings,
    *,
    gif: bool = False,
    outdir: Path | None = None,
    progress: Progress | None = None,
    age_photo: str | None = None,
) -> RenderOutputs:
    """Render an album's usable photos into a fresh output folder.

    One usable photo (or `age_photo`, a file of the album) makes a lifespan video
    imagined by SAM from that photo, when SAM can run here.

    Raises:
        NotEnoughPhotosError: fewer than two usable photos.
        UsageError, MethodUnavailableError: bad settings (before any work).
    """
    analysis = review.analysis
    photos = render_source(analysis, settings, age_photo)  # the pipeline's one lifespan decision
    outdir = outdir or request_dir("render")
    result = render(
        photos,
        settings=settings,
        video=outdir / "timelapse.mp4",
        gif=outdir / "timelapse.gif" if gif else None,
        contact_sheet=outdir / "contact_sheet.png",
        report=None,
        progress=progress,
    )
    report = public_report(result.report, review)
    credits_path = write_credits(used_credits(analysis), outdir / "credits.txt")
    report_path = outdir / "report.json"
    write_report(report_path, report)
    assert result.video is not None and result.contact_sheet is not None
    return RenderOutputs(
        result.video, result.gif, result.contact_sheet, report_path, report, credits_path
    )


def public_report(report: dict[str, Any], review: Review) -> dict[str, Any]:
    """The render report as documented: file names instead of server paths (nothing about the
    server leaks), plus ``photos``, ``warnings`` and ``credits``."""
    out = dict(report)
    for key in ("video", "gif"):
        if isinstance(out.get(key), dict):
            info = dict(out[key])
            path = info.pop("path", None)
            info["file"] = Path(path).name if path else None
            out[key] = info
        else:
            out[key] = None
    out["contact_sheet"] = (
        Path(str(out["contact_sheet"])).name if out.get("contact_sheet") else None
    )
    keyframes = {k["label"]: k for k in out.get("keyframes") or []}

    def place(p: Any) -> tuple[bool, int]:
        frame = keyframes.get(p.file, {}).get("frame")
        return frame is None, frame or 0

    # In the video's order (a photo-a-day video shows them by date), numbered as shown.
    shown = sorted(review.analysis.usable, key=place)
    out["photos"] = [
        {
            "file": p.file,
            "order": i,
            "age": None if p.age is None else round(float(p.age), 2),
            "age_source": p.age_source,
            "date": p.date.isoformat() if p.date else None,
            "caption": keyframes.get(p.file, {}).get("caption", ""),
            "frame": keyframes.get(p.file, {}).get("frame"),
        }
        for i, p in enumerate(shown)
    ]
    out["imagined"] = [
        {"age": k["age"], "caption": k["caption"], "frame": k["frame"], "from": k.get("source")}
        for k in out.get("keyframes") or []
        if k.get("imagined")
    ]
    out["warnings"] = [{"file": f, "reason": why} for f, why in review.left_out()]
    out["credits"] = credits_json(review.analysis)
    return out


def report_markdown(out: RenderOutputs, gif_requested: bool = False) -> str:
    """A short description of the render under the player."""
    r = out.report
    text = (
        f"**{r['frame_count']} frames, {r['duration']:.1f} s** from {len(r['photos'])} photos "
        f"({r.get('method_label') or r.get('method')}, {r.get('size')} px, {r.get('fps')} fps)."
    )
    if r.get("imagined"):
        ages = ", ".join(f"{k['age']:g}" for k in r["imagined"])
        text += (
            f" Faces at ages {ages} are imagined by the age model from the photos, not real "
            "(marked *imagined* in the captions)."
        )
    if r["warnings"]:
        text += f" {len(r['warnings'])} photo(s) left out (see the review)."
    if gif_requested and out.gif is None:
        text += " The GIF came out too large even when shrunk; download the MP4 instead."
    if out.credits:
        text += " Photo credits are in *credits.txt*."
    return text
