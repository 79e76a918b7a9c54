"""Render settings: what a render may be asked for, and their one validation.

`RenderSettings.validate` is the only place the settings are checked; the CLI
and the app build a `RenderSettings` and let it say what is wrong, before any
work starts. `check_method` adds the one check that depends on the machine:
whether the chosen method can run here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.errors import MethodUnavailableError, PipelineError, UsageError
from pipeline.matte import check_matte_model
from pipeline.methods.base import TransitionMethod, get_method
from pipeline.render.backdrop import DEFAULT_BACKGROUND, parse_background
from pipeline.render.captions import CAPTION_MODES
from pipeline.render.encode import CRF
from pipeline.sizes import DEFAULT_SIZE, SIZES, coerce_size

FPS_RANGE = (24, 60)
MAX_FRAMES_BETWEEN = 600
MAX_HOLD_S = 10.0
MAX_TRANSITION_S = 60.0
MAX_PER_PHOTO = 120
MAX_BLEND = 60


def is_int(value: Any) -> bool:
    """True for a whole number (Python or numpy), never for a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """True for a finite real number (Python or numpy), never for a bool."""
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
        caption (str): ``age``, ``year``, ``date`` or ``none``.
        background (str): ``soft`` (default: one blurred backdrop in the
            photos' own colours for the whole video), ``original`` (each
            photo's own background, dissolving), or a plain colour
            (``#rrggbb`` or a name such as ``white``).
        method_options (dict): keyword arguments for the method's
            constructor (e.g. ``{"encoder": "psp"}`` for StyleGAN).
        gif_max_bytes (int): the GIF is shrunk until it is at most this large.
        gif_side (int): largest GIF side in pixels (never above `size`).
        gif_fps (int): largest GIF frame rate (never above `fps`).
        crf (int): H.264 quality, 0-51 (lower is better and larger).
        extend_before (float | None): add faces imagined by SAM before the
            first photo, down to this age (0-100).
        extend_after (float | None): the same after the last photo, up to this age.
        lifespan (tuple[float, float]): ages a one-photo video spans (default 5 to 80).
        age_step (float): years between imagined faces (about; default 10).
        per_photo (int | None): photo-a-day mode: show every photo this many
            frames, in timeline order, eyes locked (see `render.daily`); None for
            transitions between keyframes (the timing settings above).
        blend (int): photo-a-day: cross-fade frames between consecutive photos.
        smooth (int): photo-a-day: photos either side the eye placement is smoothed over.
        average (int): photo-a-day: consecutive photos averaged into each shown one (1: none).
    """

    method: str = "morph"
    size: int = DEFAULT_SIZE
    fps: int = 30
    frames_between: int | None = 24
    seconds_per_year: float | None = None
    min_transition_s: float = 0.5
    max_transition_s: float = 4.0
    hold: float = 0.0
    gamma: float | None = None
    caption: str = "age"
    background: str = DEFAULT_BACKGROUND
    method_options: dict = field(default_factory=dict)
    gif_max_bytes: int = 8_000_000
    gif_side: int = 480
    gif_fps: int = 15
    crf: int = CRF
    extend_before: float | None = None
    extend_after: float | None = None
    lifespan: tuple[float, float] = (5.0, 80.0)
    age_step: float = 10.0
    per_photo: int | None = None
    blend: int = 2
    smooth: int = 3
    average: int = 1

    def validate(self) -> None:
        """Check every setting.

        Raises:
            UsageError: the first bad setting, saying what to use instead.
        """
        get_method(self.method)  # raises UsageError naming the known methods
        if not is_int(self.size) or self.size not in SIZES:
            coerce_size(self.size)  # raises the one "size not supported" message
        lo, hi = FPS_RANGE
        if not is_int(self.fps) or not lo <= self.fps <= hi:
            raise UsageError(
                f"Frame rate {self.fps!r} is out of range; choose {lo} to {hi} frames per second."
            )
        if self.seconds_per_year is None:
            if self.frames_between is None:
                raise UsageError(
                    "Set either frames between photos (e.g. 24) or seconds per year of age (e.g. 0.5)."
                )
            if (
                not is_int(self.frames_between)
                or not 1 <= self.frames_between <= MAX_FRAMES_BETWEEN
            ):
                raise UsageError(
                    f"Frames between photos must be a whole number from 1 to {MAX_FRAMES_BETWEEN}; got {self.frames_between!r}."
                )
        else:
            if (
                not is_number(self.seconds_per_year)
                or not 0 < self.seconds_per_year <= MAX_TRANSITION_S
            ):
                raise UsageError(
                    f"Seconds per year must be above 0 and at most {MAX_TRANSITION_S:g} (e.g. 0.5); got {self.seconds_per_year!r}."
                )
            if not (is_number(self.min_transition_s) and is_number(self.max_transition_s)):
                raise UsageError(
                    "Minimum and maximum transition lengths must be numbers of seconds."
                )
            if not 0 < self.min_transition_s <= self.max_transition_s <= MAX_TRANSITION_S:
                raise UsageError(
                    f"Transition length limits must satisfy 0 < minimum <= maximum <= {MAX_TRANSITION_S:g} s; "
                    f"got minimum {self.min_transition_s!r} s and maximum {self.max_transition_s!r} s."
                )
        if not is_number(self.hold) or not 0 <= self.hold <= MAX_HOLD_S:
            raise UsageError(
                f"Hold must be between 0 and {MAX_HOLD_S:g} seconds; got {self.hold!r}."
            )
        if self.gamma is not None and (not is_number(self.gamma) or not 0 <= self.gamma <= 1):
            hint = (
                f" (for {self.gamma}% use {float(self.gamma) / 100:g})"
                if is_number(self.gamma) and 1 < self.gamma <= 100
                else ""
            )
            raise UsageError(
                f"Gamma, the largest share of the real photo, must be between 0 and 1, e.g. 0.5; got {self.gamma!r}{hint}."
            )
        if self.caption not in CAPTION_MODES:
            raise UsageError(f"Caption {self.caption!r} unknown; choose age, year, date or none.")
        parse_background(self.background)  # raises UsageError naming the choices
        if not isinstance(self.method_options, dict):
            raise UsageError("Method options must be a dictionary of keyword arguments.")
        if not is_int(self.gif_max_bytes) or self.gif_max_bytes < 50_000:
            raise UsageError(
                f"The GIF size cap must be at least 50000 bytes; got {self.gif_max_bytes!r}."
            )
        if not is_int(self.gif_side) or not 96 <= self.gif_side <= 1024:
            raise UsageError(f"GIF side must be 96 to 1024 pixels; got {self.gif_side!r}.")
        if not is_int(self.gif_fps) or not 5 <= self.gif_fps <= 50:
            raise UsageError(f"GIF frame rate must be 5 to 50; got {self.gif_fps!r}.")
        if not is_int(self.crf) or not 0 <= self.crf <= 51:
            raise UsageError(f"CRF must be a whole number from 0 to 51; got {self.crf!r}.")
        self._validate_ages()
        self._validate_daily()

    def _validate_ages(self) -> None:
        """The imagined-age settings: ages SAM knows (0 to 100), a sensible range and step."""
        for name in ("extend_before", "extend_after"):
            value = getattr(self, name)
            if value is not None and (not is_number(value) or not 0 <= value <= 100):
                label = name.replace("_", " ").capitalize()
                raise UsageError(f"{label} must be an age from 0 to 100; got {value!r}.")
        span = self.lifespan
        if (
            not isinstance(span, (tuple, list))
            or len(span) != 2
            or not all(is_number(a) and 0 <= a <= 100 for a in span)
            or span[1] - span[0] < 5
        ):
            raise UsageError(
                f"The lifespan must be two ages from 0 to 100, at least 5 years apart (e.g. 5 to 80); got {span!r}."
            )
        if not is_number(self.age_step) or not 2 <= self.age_step <= 50:
            raise UsageError(
                f"The step between imagined ages must be 2 to 50 years; got {self.age_step!r}."
            )

    @property
    def extends(self) -> bool:
        """Faces are imagined beyond the first or last photo."""
        return self.extend_before is not None or self.extend_after is not None

    def _validate_daily(self) -> None:
        if self.per_photo is None:
            return
        if not is_int(self.per_photo) or not 1 <= self.per_photo <= MAX_PER_PHOTO:
            raise UsageError(
                f"Frames per photo must be a whole number from 1 to {MAX_PER_PHOTO}; got {self.per_photo!r}."
            )
        if not is_int(self.blend) or not 0 <= self.blend <= MAX_BLEND:
            raise UsageError(
                f"Blend frames between photos must be a whole number from 0 to {MAX_BLEND}; got {self.blend!r}."
            )
        if not is_int(self.smooth) or not 0 <= self.smooth <= 30:
            raise UsageError(f"Smoothing must be 0 to 30 photos either side; got {self.smooth!r}.")
        if not is_int(self.average) or not 1 <= self.average <= 10:
            raise UsageError(f"Averaging must be 1 (off) to 10 photos; got {self.average!r}.")
        if self.extends:
            raise UsageError(
                "Imagined ages before or after the photos belong to a morph between photos, "
                "not to a photo-a-day video (every photo in turn); leave them out."
            )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_method(settings: RenderSettings) -> type[TransitionMethod]:
    """The method class, if it and the background setting can run here.

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
            f"Method {settings.method!r} cannot run here: {reason or 'unavailable'}",
            method=settings.method,
        )
    if parse_background(settings.background).steady:
        try:
            check_matte_model()
        except PipelineError as exc:
            raise MethodUnavailableError(
                "A steady background needs the person matte model, which is not installed "
                f"here ({exc}); choose the original background instead.",
                method="background",
            ) from exc
    return cls
