"""Every render setting described once: name, type, default, range, help, which methods use it.

The front ends are made from (or checked against) `OPTIONS`: the CLI's options
(`commands/render.py`), the page's controls (`webapp/controls.py`), the page's
and the API's defaults (`webapp/render.py`, `webapp/api.py`), and
`RenderSettings` itself; `tests/test_options.py` fails when any of them offers
a setting, default or range that is not described here. Adding a setting
means one `Option` here plus its implementation (`RenderSettings` and the code
that reads it).

`default` is the library's and the command line's value; `web` is the page's
and the API's where it differs (a visitor gets half a second at each photo,
`RenderSettings` none). `low`/`high` bound what `RenderSettings.validate`
accepts; `page` is the narrower slider range the page offers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.render.backdrop import DEFAULT_BACKGROUND
from pipeline.render.captions import CAPTION_MODES
from pipeline.render.encode import CRF
from pipeline.sizes import DEFAULT_SIZE, SIZES

# The methods built in (`pipeline.methods.base.method_names`, listed here so that
# describing the settings loads no method).
METHODS = ("morph", "crossfade", "stylegan")
ENCODERS = ("e4e", "psp")
# The two kinds of video: a smooth morph between the selected photos, or every photo in
# turn (a photo-a-day video: every kept photo in the review's order, eyes locked in place).
VIDEO_KINDS = ("transitions", "every_photo")
_SAME = object()  # `web` not given: the page and the API use `default`
OFF_WEB = object()  # `web`: neither the page nor the API offers the setting


@dataclass(frozen=True)
class Option:
    """One render setting.

    Attributes:
        name (str): the `RenderSettings` field, the API parameter and the page control.
        type (type): int, float, str or bool.
        default (Any): the library's and the command line's default.
        help (str): one line for the command line's help and the API's docs.
        low, high (float | None): the range `RenderSettings.validate` accepts.
        choices (tuple): the values allowed, when they are few.
        methods (tuple[str, ...]): the methods that use it (empty: all of them).
        video (str | None): the kind of video that uses it (None: both).
        flag (str | None): the command line's option ('' when the command line has none).
        metavar (str | None): the command line's placeholder.
        web (Any): the page's and the API's default, where it differs from `default`
            (`OFF_WEB`: neither offers it).
        api (bool): the API offers it (where the page does).
        page (tuple[float, float, float] | None): the page's slider (low, high, step).
        label (str): the page's label.
        zero_off (bool): on the page and in the API, 0 (an empty number box) means "off".
    """

    name: str
    type: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    methods: tuple[str, ...] = ()
    video: str | None = None
    flag: str | None = None
    metavar: str | None = None
    web: Any = _SAME
    api: bool = True
    page: tuple[float, float, float] | None = None
    label: str = ""
    zero_off: bool = False

    @property
    def on_web(self) -> bool:
        """The page offers the setting (and the API too, unless `api` is off)."""
        return self.web is not OFF_WEB

    @property
    def web_default(self) -> Any:
        """The default a visitor of the page or a caller of the API gets."""
        return self.default if self.web is _SAME else self.web

    @property
    def cli_flag(self) -> str:
        """The command line's option ('' when it has none)."""
        return "--" + self.name.replace("_", "-") if self.flag is None else self.flag


OPTIONS: tuple[Option, ...] = (
    Option("method", str, "morph", "in-between frames: morph (warps the faces into each other), "
           "crossfade (blends the photos), stylegan (needs the StyleGAN weights)",
           choices=METHODS, label="Method"),
    Option("size", int, DEFAULT_SIZE, "video side in pixels: 256, 512 or 1024", choices=SIZES,
           label="Size (pixels)"),
    Option("fps", int, 30, "frames per second, 24 to 60", low=24, high=60, page=(24, 60, 1),
           label="Frames per second"),
    Option("frames_between", int, 24, "frames per transition between two photos (1 to 600)",
           low=1, high=600, video="transitions", metavar="N", page=(2, 120, 1),
           label="Frames between two photos"),
    Option("seconds_per_year", float, None, "each transition lasts this many seconds per year of "
           "age gap instead of frames_between (above 0; 0 or none is off)", low=0, high=60.0,
           video="transitions", metavar="S", web=0.0, page=(0.05, 3, 0.05),
           label="Seconds per year of age", zero_off=True),
    Option("min_transition_s", float, 0.5, "with seconds per year: shortest transition in seconds",
           low=0, high=60.0, video="transitions", flag="--min-transition", metavar="SECONDS",
           web=OFF_WEB),
    Option("max_transition_s", float, 4.0, "with seconds per year: longest transition in seconds",
           low=0, high=60.0, video="transitions", flag="--max-transition", metavar="SECONDS",
           web=OFF_WEB),
    Option("hold", float, 0.0, "seconds to hold each photo", low=0, high=10.0,
           video="transitions", metavar="SECONDS", web=0.5, page=(0, 3, 0.1),
           label="Hold at each photo (seconds)"),
    Option("gamma", float, None, "largest share (0 to 1) of the real photo blended in near each "
           "photo (default: 0 for morph and crossfade, 0.5 for stylegan)", low=0, high=1,
           methods=("stylegan",), web=0.5, page=(0, 1, 0.05), label="Blend strength (gamma)"),
    Option("caption", str, "age", 'burned-in caption: age, year, date (e.g. "24 Apr 2008") or none',
           choices=CAPTION_MODES, label="Caption"),
    Option("background", str, DEFAULT_BACKGROUND, "behind the person: soft (one blurred backdrop "
           "in the photos' own colours for the whole video), original (each photo's own "
           "background) or a plain colour (#rrggbb, white, black, grey, cream, blue)",
           metavar="original|soft|COLOUR", label="Background"),
    Option("encoder", str, None, "StyleGAN encoder: e4e (smooth) or psp (faithful)",
           choices=ENCODERS, methods=("stylegan",), web="e4e", label="StyleGAN encoder"),
    Option("gif_max_bytes", int, 8_000_000, "largest GIF: it is shrunk until it fits", low=50_000, flag="--gif-max-mb", metavar="MB", web=OFF_WEB),
    Option("gif_side", int, 480, "largest GIF side in pixels", low=96, high=1024, flag="",
           web=OFF_WEB),
    Option("gif_fps", int, 15, "largest GIF frame rate", low=5, high=50, flag="", web=OFF_WEB),
    Option("crf", int, CRF, "H.264 quality (lower is better and larger)", low=0, high=51,
           flag="", web=OFF_WEB),
    Option("extend_before", float, None, "add faces imagined by the SAM age model before the "
           "first photo, down to this age (e.g. 2); marked imagined in captions and the report",
           low=0, high=100, video="transitions", metavar="AGE",
           label="Imagine younger, down to age", zero_off=True),
    Option("extend_after", float, None, "add imagined faces after the last photo, up to this "
           "age (e.g. 80)", low=0, high=100, video="transitions", metavar="AGE",
           label="Imagine older, up to age", zero_off=True),
    Option("lifespan", tuple, (5.0, 80.0), "with a single usable photo: the ages its lifespan "
           "video spans", low=0, high=100, video="transitions", metavar="FROM TO", api=False,
           label="Lifespan from age"),
    Option("age_step", float, 10.0, "about this many years between imagined faces", low=2,
           high=50, video="transitions", metavar="YEARS", web=OFF_WEB),
    Option("per_photo", int, None, "show every photo this many frames, in timeline order, eyes "
           "locked (a photo-a-day video) instead of transitions between keyframes", low=1,
           high=120, video="every_photo", metavar="N", web=3, page=(1, 30, 1),
           label="Frames per photo"),
    Option("blend", int, 2, "photo-a-day: in-between frames from one photo to the next (0 cuts)",
           low=0, high=60, video="every_photo", metavar="N", page=(0, 12, 1),
           label="Blend frames between photos"),
    Option("smooth", int, 3, "photo-a-day: photos either side over which the eye placement is "
           "smoothed, so the face does not jitter", low=0, high=30, video="every_photo",
           metavar="N"),
    Option("average", int, 1, "photo-a-day: each photo mixed with the next average - 1 photos "
           "to soften flicker (1 is off)", low=1, high=10, video="every_photo", metavar="N",
           page=(1, 5, 1), label="Soften flicker: photos mixed into each"),
)  # fmt: skip
# Page and API only: the kind of video, and whether to make a GIF too (the command line asks
# for a GIF by its file name, `--gif OUT.gif`, and for a photo-a-day video by `--per-photo N`).
WEB_ONLY: tuple[Option, ...] = (
    Option("timing", str, "transitions", "transitions (a smooth morph between the selected "
           "photos, timed by frames_between, seconds_per_year and hold) or every_photo (every "
           "kept photo in timeline order, like a photo-a-day video, timed by per_photo and blend)",
           choices=VIDEO_KINDS, flag="", label="Video"),
    Option("gif", bool, False, "also make a GIF", flag="", label="Format"),
)  # fmt: skip
BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS + WEB_ONLY}
# The API's render endpoints take the settings in this order, and scripts pass them by
# position: a new setting goes at the end.
API_ORDER = (
    "method", "size", "frames_between", "seconds_per_year", "hold", "gamma", "fps", "caption",
    "gif", "encoder", "background", "extend_before", "extend_after", "timing", "per_photo",
    "blend", "smooth", "average",
)  # fmt: skip


def option(name: str) -> Option:
    """The description of the setting `name` (KeyError for an undescribed one)."""
    return BY_NAME[name]


def api_options() -> tuple[Option, ...]:
    """The settings the API's render endpoints take, as parameters, in their order."""
    return tuple(BY_NAME[name] for name in API_ORDER)


def web_defaults() -> dict[str, Any]:
    """The defaults of the page's controls and the API's parameters (those that are set), by name."""
    return {o.name: o.web_default for o in api_options() if o.web_default is not None}
