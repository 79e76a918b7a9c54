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
from pipeline.render import RenderSettings, check_method
from pipeline.render.options import BY_NAME, OPTIONS, VIDEO_KINDS, WEB_ONLY, Option, web_defaults
from pipeline.render.report import write_report
from pipeline.sizes import coerce_size
from pipeline.webapp.files import request_dir
from pipeline.webapp.review import PIPELINE, Review

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


# What the page and the API may set: the settings both offer (the GIF is a file, not a setting).
WEB_SETTINGS = {o.name: o for o in OPTIONS + WEB_ONLY if o.on_web and o.name != "gif"}
# Settings of the photo-a-day video; a transition video leaves them at their defaults.
DAILY = tuple(o.name for o in OPTIONS if o.video == "every_photo")


def _whole(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().isdigit():
        return int(v)
    return v


def _coerce(opt: Option, value: Any) -> Any:
    """A page or API value as the setting's type (numbers may arrive as floats or text; empty
    is the library's default, and so is 0 where it means "off")."""
    if opt.name == "size":
        return coerce_size(value)
    if opt.name == "lifespan":
        return (float(value[0]), float(value[1])) if value else opt.default
    if opt.type is int:
        return _whole(value)
    if opt.type is float:
        off = opt.zero_off and isinstance(value, (int, float)) and value == 0
        return opt.default if value in (None, "") or off else float(value)
    if value in (None, "") and opt.default is None:  # e.g. the encoder: the method's own
        return None
    text = str(value or opt.web_default)
    return text.lower() if opt.choices else text


def make_settings(**values: Any) -> RenderSettings:
    """Validated `RenderSettings` from page or API values, by setting name (`WEB_SETTINGS`).

    A setting left out gets the page's default (`options.OPTIONS`), except those of one method
    (`gamma`, `encoder`: StyleGAN's), which are then the method's own; they only apply to that
    method. `seconds_per_year` of 0 means "off", and so does an empty `extend_before` /
    `extend_after` (ages imagined by SAM before / after the photos). `timing` ``every_photo``
    is the photo-a-day video: `per_photo` frames of each photo, `blend` frames to the next, eye
    placement smoothed over `smooth` photos either side, `average` photos averaged into each
    one; the transition timing (`frames_between`, `seconds_per_year`, `hold`) then does not apply.

    Raises:
        UsageError: a bad setting.
        TypeError: a name that is not a setting of the page or the API.
    """
    unknown = sorted(set(values) - set(WEB_SETTINGS))
    if unknown:
        raise TypeError(f"not render settings of the page or the API: {', '.join(unknown)}")
    given = {
        n: values.get(n, None if o.methods else o.web_default) for n, o in WEB_SETTINGS.items()
    }
    every = timing_of(given.pop("timing")) == "every_photo"
    out = {name: _coerce(BY_NAME[name], value) for name, value in given.items()}
    if every:  # the photo-a-day timing replaces the transition timing, whose values are unused
        out.update(frames_between=BY_NAME["frames_between"].default, seconds_per_year=None)
        out["hold"] = 0.0
    else:
        out.update({name: BY_NAME[name].default for name in DAILY})
    for name, opt in WEB_SETTINGS.items():  # a method's own settings only apply to it
        if opt.methods and out["method"] not in opt.methods:
            out[name] = None
    encoder = out.pop("encoder")
    settings = RenderSettings(**out, method_options={"encoder": encoder} if encoder else {})
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
    outdir = outdir or request_dir("render")
    result = PIPELINE.render(
        analysis, settings, video=outdir / "timelapse.mp4",
        gif=outdir / "timelapse.gif" if gif else None, contact_sheet=outdir / "contact_sheet.png",
        age_photo=age_photo, progress=progress,
    )  # fmt: skip
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
