"""The page's render settings, one control per setting, by name.

To add a setting: add its control here and read it in `page.settings_from_page`.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from pipeline.sizes import SIZES
from pipeline.webapp.messages import METHOD_LABELS
from pipeline.webapp.render import DEFAULTS


def settings_controls() -> dict[str, Any]:
    """Build the settings controls (inside the page's Blocks) and return them by name."""
    return {
        "method": gr.Radio(
            [(label, n) for n, label in METHOD_LABELS.items()],
            value=DEFAULTS["method"],
            label="Method",
            elem_id="method",
        ),  # fmt: skip
        "encoder": gr.Radio(
            [("e4e (smooth)", "e4e"), ("pSp (faithful)", "psp")],
            value=DEFAULTS["encoder"],
            label="StyleGAN encoder",
            visible=False,
        ),  # fmt: skip
        "gamma": gr.Slider(
            0,
            1,
            value=DEFAULTS["gamma"],
            step=0.05,
            label="Blend strength (gamma)",
            visible=False,
            info="Largest share of the real photo near each photo: higher keeps identity.",
        ),  # fmt: skip
        "size": gr.Radio(list(SIZES), value=DEFAULTS["size"], label="Size (pixels)"),
        "speed": gr.Radio(
            [("Frames per transition", "frames"), ("Seconds per year of age", "age")],
            value="frames",
            label="Speed",
        ),  # fmt: skip
        "frames_between": gr.Slider(
            2,
            120,
            value=DEFAULTS["frames_between"],
            step=1,
            label="Frames between two photos",
        ),
        "seconds_per_year": gr.Slider(
            0.05, 3, value=0.3, step=0.05, label="Seconds per year of age", visible=False
        ),
        "hold": gr.Slider(
            0, 3, value=DEFAULTS["hold"], step=0.1, label="Hold at each photo (seconds)"
        ),
        "fps": gr.Slider(24, 60, value=DEFAULTS["fps"], step=1, label="Frames per second"),
        "caption": gr.Radio(
            [("Age", "age"), ("Year", "year"), ("Date", "date"), ("None", "none")],
            value=DEFAULTS["caption"],
            label="Caption",
        ),  # fmt: skip
        # Ages beyond the photos (SAM age model): 0 / empty is off.
        "extend_before": gr.Number(
            None,
            label="Imagine younger, down to age",
            minimum=0,
            maximum=100,
            info="Faces imagined before the first photo (needs the GPU age model).",
            elem_id="extend-before",
        ),  # fmt: skip
        "extend_after": gr.Number(
            None,
            label="Imagine older, up to age",
            minimum=0,
            maximum=100,
            info="Faces imagined after the last photo, e.g. 80.",
            elem_id="extend-after",
        ),  # fmt: skip
        "age_photo": gr.Dropdown(
            [("No: use all the photos", "")],
            value="",
            label="Age this photo",
            info="A lifespan video imagined from one photo.",
            elem_id="age-photo",
        ),  # fmt: skip
        "lifespan_from": gr.Number(
            5, label="Lifespan from age", minimum=0, maximum=95, elem_id="lifespan-from"
        ),
        "lifespan_to": gr.Number(
            80, label="Lifespan to age", minimum=5, maximum=100, elem_id="lifespan-to"
        ),
        "background": gr.Radio(
            [
                ("Soft backdrop", "soft"),
                ("Original backgrounds", "original"),
                ("Plain colour", "colour"),
            ],
            value=DEFAULTS["background"],
            label="Background",
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
