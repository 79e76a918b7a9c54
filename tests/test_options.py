"""The render settings are described once (`pipeline.render.options`); every front end agrees with it.

Each check reads the real front end: the CLI's argparse parser, the page's
Gradio controls (built inside a Blocks), the API endpoints' signatures, and
`RenderSettings`' fields and validation. A front end that offers a setting,
default, choice or range the description does not makes a test fail.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import typing

import gradio as gr
import pytest

from pipeline.cli import build_parser
from pipeline.errors import UsageError
from pipeline.render import RenderSettings
from pipeline.render.options import (
    API_ORDER,
    BY_NAME,
    OPTIONS,
    WEB_ONLY,
    api_options,
    web_defaults,
)
from pipeline.webapp import api
from pipeline.webapp import render as rendering
from pipeline.webapp.controls import settings_controls

# CLI options of the render command that are not render settings (album, outputs, selection).
CLI_OTHERS = {
    "help", "album", "name", "limit", "qid", "birth_date", "edits", "cnn", "cache_dir",
    "no_cache", "workers", "output", "select", "all", "report", "gif", "contact_sheet", "quiet",
}  # fmt: skip
# Page controls that are not one setting each: how speed is given, one photo to age, the colour
# of a plain backdrop, the formats (the GIF setting), the two ends of the lifespan.
PAGE_OTHERS = {"speed", "age_photo", "background_colour", "formats"}
PAGE_PARTS = {"lifespan_from": "lifespan", "lifespan_to": "lifespan", "formats": "gif"}
# API parameters that are not render settings.
API_OTHERS = {"files", "edits", "birth_date", "name", "limit"}


def render_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["render"]


def test_render_settings_are_the_described_ones() -> None:
    fields = {f.name: f for f in dataclasses.fields(RenderSettings)}
    described = {o.name for o in OPTIONS} - {"encoder"}  # the encoder is a method option
    assert set(fields) - {"method_options"} == described
    for name in described:
        f = fields[name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert default == BY_NAME[name].default, name
    RenderSettings().validate()  # the described defaults are valid


# Bounds that hold between settings; the next test checks them.
LINKED = ("min_transition_s", "max_transition_s", "seconds_per_year", "lifespan")


@pytest.mark.parametrize(
    "opt", [o for o in OPTIONS if (o.low, o.high) != (None, None) and o.name not in LINKED]
)
def test_validation_accepts_the_described_range_and_nothing_beyond(opt) -> None:
    """`RenderSettings.validate` takes the ends of each described range and refuses just past them."""
    daily = {"per_photo": 3} if opt.video == "every_photo" and opt.name != "per_photo" else {}
    step = 1 if opt.type is int else 0.01
    ends = [v for v in (opt.low, opt.high) if v is not None]
    for end in ends:
        value = opt.type(end)
        RenderSettings(**{**daily, opt.name: value}).validate()
    if opt.low is not None:
        with pytest.raises(UsageError):
            RenderSettings(**{**daily, opt.name: opt.type(opt.low - step)}).validate()
    if opt.high is not None:
        with pytest.raises(UsageError):
            RenderSettings(**{**daily, opt.name: opt.type(opt.high + step)}).validate()


def test_validation_of_the_timing_and_lifespan_ranges() -> None:
    top = BY_NAME["seconds_per_year"].high
    assert top == BY_NAME["max_transition_s"].high == BY_NAME["min_transition_s"].high
    RenderSettings(seconds_per_year=top, max_transition_s=top).validate()
    with pytest.raises(UsageError):
        RenderSettings(seconds_per_year=top + 0.01).validate()
    with pytest.raises(UsageError):
        RenderSettings(seconds_per_year=0.5, max_transition_s=top + 0.01).validate()
    life = BY_NAME["lifespan"]
    RenderSettings(lifespan=(life.low, life.high)).validate()
    with pytest.raises(UsageError):
        RenderSettings(lifespan=(life.low, life.high + 1)).validate()


def test_the_command_line_offers_the_described_settings() -> None:
    actions = {a.dest: a for a in render_parser()._actions}
    settings = {o.cli_flag[2:].replace("-", "_"): o for o in OPTIONS if o.cli_flag}
    assert set(actions) - CLI_OTHERS == set(settings), "an option the description lacks"
    for dest, opt in settings.items():
        a = actions[dest]
        assert a.option_strings == [opt.cli_flag]
        assert opt.help in a.help, dest
        if opt.choices:
            assert tuple(a.choices) == tuple(opt.choices), dest
        # An option left out means the described default (a timing option: None, then the default).
        cli_default = opt.default / 1_000_000 if dest == "gif_max_mb" else opt.default
        assert a.default in (None, cli_default), dest
    from pipeline.commands.render import settings_from_args

    made = settings_from_args(render_parser().parse_args(["album", "-o", "x.mp4"]))
    assert made == RenderSettings()  # every default the command line gives is the described one
    argv = ["album", "-o", "x.mp4", "--method", "stylegan", "--encoder", "psp"]
    args = render_parser().parse_args([*argv, "--lifespan", "2", "90"])
    made = settings_from_args(args)
    assert made.method_options == {"encoder": "psp"} and made.lifespan == (2.0, 90.0)


def test_the_page_offers_the_described_settings() -> None:
    with gr.Blocks():
        controls = settings_controls()
    for name, control in controls.items():
        setting = PAGE_PARTS.get(name, name)
        if name in PAGE_OTHERS and setting == name:
            continue
        opt = BY_NAME[setting]
        assert opt.on_web, f"the page offers {setting}, which the description keeps off the page"
        if isinstance(control, gr.Slider):
            low, high, step = opt.page
            assert (control.minimum, control.maximum, control.step) == (low, high, step), name
            assert opt.low <= low <= high <= opt.high, name  # within what validation accepts
            # The seconds-per-year slider starts where the speed choice switches it on.
            if name != "seconds_per_year":
                assert control.value == opt.web_default, name
        elif isinstance(control, gr.Number):
            assert opt.low <= control.minimum <= control.maximum <= opt.high, name
        elif isinstance(control, gr.Radio) and opt.choices:
            values = [c[1] for c in control.choices]
            assert set(values) <= {str(c) if isinstance(c, str) else c for c in opt.choices} | {
                str(c) for c in opt.choices
            }, name
            assert control.value == opt.web_default, name
    assert set(controls) - PAGE_OTHERS - set(PAGE_PARTS) <= {o.name for o in OPTIONS + WEB_ONLY}


@pytest.mark.parametrize("make", [api.make_render, api.make_timelapse])
def test_the_api_offers_the_described_settings(make) -> None:
    fn = make(lambda *a, **k: None)
    hints = typing.get_type_hints(fn)
    params = inspect.signature(fn).parameters
    described = {o.name: o for o in api_options()}
    assert set(params) - API_OTHERS == set(described)
    for name, opt in described.items():
        assert params[name].default == opt.web_default, name
        if opt.choices and typing.get_origin(hints[name]) is typing.Literal:
            assert typing.get_args(hints[name]) == tuple(opt.choices), name
    assert {k: params[k].default for k in web_defaults()} == rendering.DEFAULTS


def test_api_order_lists_every_setting_the_api_offers() -> None:
    offered = {o.name for o in OPTIONS + WEB_ONLY if o.on_web and o.api}
    assert len(API_ORDER) == len(set(API_ORDER)) and set(API_ORDER) == offered


def test_api_docs_come_from_the_description() -> None:
    for opt in api_options():
        assert opt.help in api.setting_doc(opt)


def test_one_photo_limit_everywhere() -> None:
    """The CLI's automatic selection, the page's proposal and the README name one number."""
    import re
    from pathlib import Path

    from pipeline.selection import DEFAULT_TRANSITION_PHOTOS
    from pipeline.webapp.uploads import LIMITS_TEXT, MAX_VIDEO_PHOTOS

    assert MAX_VIDEO_PHOTOS == DEFAULT_TRANSITION_PHOTOS
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    said = re.findall(r"more than (\d+) (?:usable|good) photos", readme)
    assert said and set(said) == {str(DEFAULT_TRANSITION_PHOTOS)}, said
    assert f"more than {MAX_VIDEO_PHOTOS} good photos" in LIMITS_TEXT.replace("\n", " ")
