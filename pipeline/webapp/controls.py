"""The page's render settings: one control per setting, by name, and the settings they make.

Each control's label, default, range and choices come from the settings' one
description (`pipeline.render.options`); this module only says which control
shows a setting and where. To offer a described setting on the page: add its
control here and read it in `settings_from_page`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import gradio as gr

from pipeline.render.options import BY_NAME
from pipeline.webapp.messages import METHOD_LABELS
from pipeline.webapp.render import DEFAULTS, WEB_SETTINGS, make_settings
from pipeline.webapp.state import PageState

TIMING_LABELS = {
    "transitions": "Smooth morph between selected photos",
    "every_photo": "Every photo, like a photo-a-day video",
}
# Controls that only apply to one kind of video (shown for it, hidden for the other).
TRANSITIONS_ONLY = (
    "speed", "frames_between", "seconds_per_year", "hold",
    "extend_before", "extend_after", "age_photo", "lifespan_from", "lifespan_to",
)  # fmt: skip
EVERY_PHOTO_ONLY = ("per_photo", "blend", "average")
LIFESPAN = BY_NAME["lifespan"]


def _opt(name: str) -> Any:
    return BY_NAME[name]


def slider(name: str, **kw: Any) -> Any:
    """The slider of a described setting: its page range and step, default and label."""
    opt = _opt(name)
    low, high, step = opt.page
    kw = {"value": opt.web_default, "step": step, "label": opt.label, **kw}
    return gr.Slider(low, high, **kw)


def age_box(name: str, info: str) -> Any:
    """The number box of an optional age (empty is off), in the described range."""
    opt = _opt(name)
    elem_id = name.replace("_", "-")
    return gr.Number(
        None, label=opt.label, minimum=opt.low, maximum=opt.high, info=info, elem_id=elem_id
    )


def settings_controls() -> dict[str, Any]:
    """Build the settings controls (inside the page's Blocks) and return them by name.

    First the few choices most visitors make (the kind of video, the method, the speed),
    then the others in a collapsed "More settings" section, so that on a phone the render
    button stays close to the review.
    """
    quick = {
        "timing": gr.Radio(
            [(label, name) for name, label in TIMING_LABELS.items()],
            value=DEFAULTS["timing"],
            label=_opt("timing").label,
            elem_id="timing",
            info="Every photo: each kept photo in date order (undated ones by their age) for a few frames, the eyes held in place.",
        ),  # fmt: skip
        "per_photo": slider(
            "per_photo",
            info="How long each photo stays on screen (30 frames = 1 second).",
            visible=False,
            elem_id="per-photo",
        ),
        "blend": slider(
            "blend", info="0 cuts straight to the next photo.", visible=False, elem_id="blend"
        ),
        "average": slider(
            "average",
            info="1 is off; 2 or more mixes each photo with the next ones (steadier light).",
            visible=False,
            elem_id="average",
        ),
        "method": gr.Radio(
            [(label, n) for n, label in METHOD_LABELS.items()],
            value=DEFAULTS["method"],
            label=_opt("method").label,
            elem_id="method",
        ),  # fmt: skip
        "encoder": gr.Radio(
            [("e4e (smooth)", "e4e"), ("pSp (faithful)", "psp")],
            value=DEFAULTS["encoder"],
            label=_opt("encoder").label,
            visible=False,
        ),  # fmt: skip
        "gamma": slider(
            "gamma",
            visible=False,
            info="Largest share of the real photo near each photo: higher keeps identity.",
        ),  # fmt: skip
        "speed": gr.Radio(
            [("Frames per transition", "frames"), ("Seconds per year of age", "age")],
            value="frames",
            label="Speed",
        ),  # fmt: skip
        "frames_between": slider("frames_between"),
        "seconds_per_year": slider("seconds_per_year", value=0.3, visible=False),
    }
    # Everything else, collapsed: most visitors never open it.
    with gr.Accordion("More settings", open=False, elem_id="more-settings"):
        more = {
            "size": gr.Radio(
                list(_opt("size").choices), value=DEFAULTS["size"], label=_opt("size").label
            ),
            "hold": slider("hold"),
            "fps": slider("fps"),
            "caption": gr.Radio(
                [("Age", "age"), ("Year", "year"), ("Date", "date"), ("None", "none")],
                value=DEFAULTS["caption"],
                label=_opt("caption").label,
            ),  # fmt: skip
            # Ages beyond the photos (SAM age model): 0 / empty is off.
            "extend_before": age_box(
                "extend_before", "Faces imagined before the first photo (needs the GPU age model)."
            ),
            "extend_after": age_box(
                "extend_after", "Faces imagined after the last photo, e.g. 80."
            ),
            "age_photo": gr.Dropdown(
                [("No: use all the photos", "")],
                value="",
                label="Age this photo",
                info="A lifespan video imagined from one photo.",
                elem_id="age-photo",
            ),  # fmt: skip
            # The two ends of `lifespan`, at least 5 years apart (`RenderSettings.validate`).
            "lifespan_from": gr.Number(
                LIFESPAN.default[0],
                label=LIFESPAN.label,
                minimum=LIFESPAN.low,
                maximum=LIFESPAN.high - 5,
                elem_id="lifespan-from",
            ),  # fmt: skip
            "lifespan_to": gr.Number(
                LIFESPAN.default[1],
                label="Lifespan to age",
                minimum=LIFESPAN.low + 5,
                maximum=LIFESPAN.high,
                elem_id="lifespan-to",
            ),  # fmt: skip
            "background": gr.Radio(
                [
                    ("Soft backdrop", "soft"),
                    ("Original backgrounds", "original"),
                    ("Plain colour", "colour"),
                ],
                value=DEFAULTS["background"],
                label=_opt("background").label,
                elem_id="background",
                info="Soft: one still backdrop in the photos' colours behind the person.",
            ),  # fmt: skip
            "background_colour": gr.ColorPicker("#ffffff", label="Backdrop colour", visible=False),
            "formats": gr.CheckboxGroup(
                [("MP4", "mp4"), ("GIF", "gif")],
                value=["mp4"],
                label="Format",
                info="The MP4 is always made (it plays in the page).",
            ),  # fmt: skip
        }
    return {**quick, **more}


def settings_from_page(form: dict[str, Any]) -> tuple[Any, bool]:
    """`RenderSettings` and the GIF choice from the settings controls' values, by control name.

    A control named after a setting gives its value; the speed choice, the lifespan's two
    ends, the backdrop colour and the formats are read here."""
    values = {name: form[name] for name in WEB_SETTINGS if name in form}
    if form.get("speed", "frames") != "age":
        values["seconds_per_year"] = None
    lo, hi = LIFESPAN.default
    values["lifespan"] = (form.get("lifespan_from") or lo, form.get("lifespan_to") or hi)
    values["background"] = background_from_page(form)
    return make_settings(**values), "gif" in (form.get("formats") or [])


def background_from_page(form: dict[str, Any]) -> str:
    """The background setting from the page: its choice, or the picked colour for "colour"."""
    choice = form.get("background") or DEFAULTS["background"]
    if choice == "colour":
        return str(form.get("background_colour") or "#ffffff")
    return str(choice)


def background_changed(choice: str) -> Any:
    """Show the colour picker only for a plain-colour backdrop."""
    return gr.update(visible=choice == "colour")


def speed_changed(speed: str) -> tuple[Any, ...]:
    return gr.update(visible=speed == "frames"), gr.update(visible=speed == "age")


def make_timing_handler(controls: dict[str, Any], state: Any) -> Callable:
    """The handler of the "Video" choice: the settings of that kind of video shown, the others
    hidden, the choice remembered in `state` (the review then proposes no selection for a
    photo-a-day video). Gradio passes one dict of values keyed by component."""

    def timing_changed(values: dict[Any, Any]) -> dict[Any, Any]:
        every = values[controls["timing"]] == "every_photo"
        speed = values[controls["speed"]]
        out: dict[Any, Any] = {controls[n]: gr.update(visible=not every) for n in TRANSITIONS_ONLY}
        out[controls["frames_between"]] = gr.update(visible=not every and speed != "age")
        out[controls["seconds_per_year"]] = gr.update(visible=not every and speed == "age")
        out.update({controls[n]: gr.update(visible=every) for n in EVERY_PHOTO_ONLY})
        if every and values[controls["caption"]] == "age":  # daily photos are told apart by date
            out[controls["caption"]] = gr.update(value="date")
        current = values[state] if isinstance(values[state], PageState) else PageState()
        out[state] = replace(current, every_photo=every)
        return out

    return timing_changed
