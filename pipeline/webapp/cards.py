"""The review as cards: one per photo (face crop, editable age, where its place comes from, note, keep/remove).

The page shows these in one HTML component that fits any width (a grid of
cards that wraps; nothing scrolls sideways). Above them, a strip of the kept
faces in video order stands in for the contact sheet before rendering. The
component's value is ``{"html": ..., "edit": None}``; the page's script puts a
visitor's change into ``edit`` (``{"file", "age"}`` or ``{"file", "include"}``)
and `edit_from_value` reads it back.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline.dates import format_age
from pipeline.types import PhotoRecord
from pipeline.webapp.messages import AGE_SOURCES, ORDER_SOURCES, photo_note
from pipeline.webapp.review import Review
from pipeline.webapp.uploads import preview

CARD_SIDE = 160
STRIP_SIDE = 48


TEMPLATE = "${(typeof value === 'string' ? JSON.parse(value || '{}') : (value || {})).html || ''}"
# Event delegation: a keep/remove tap or an age change becomes the value's `edit`, sent as `input`.
SCRIPT = """
const send = (edit) => {
  const now = typeof props.value === 'string' ? JSON.parse(props.value || '{}') : (props.value || {});
  props.value = {...now, edit: {...edit, t: Date.now()}};
  trigger('input');
};
element.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-keep]');
  if (b) send({file: b.dataset.file, include: b.dataset.keep === '1'});
});
element.addEventListener('change', (e) => {
  const i = e.target.closest('input[data-age]');
  if (i) send({file: i.dataset.file, age: i.value});
});
"""
CSS = """
#cards .strip { display: flex; flex-wrap: wrap; gap: 3px; margin: 0 0 .6em; }
#cards .strip img { width: 48px; height: 48px; border-radius: 4px; }
#cards .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap: 10px; }
#cards .card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 6px;
  display: flex; flex-direction: column; gap: 4px; min-width: 0; font-size: .85em; }
#cards .card img { width: 100%; aspect-ratio: 1; object-fit: cover; border-radius: 6px; }
#cards .card.out { border-style: dashed; }
#cards .card.out img { opacity: .45; }
#cards .name { font-weight: 600; overflow-wrap: anywhere; }
#cards .age { display: flex; align-items: center; gap: 4px; }
#cards .age input { width: 5em; padding: 2px 4px; border: 1px solid var(--border-color-primary); border-radius: 4px;
  background: var(--input-background-fill); color: var(--body-text-color); }
#cards .src, #cards .note { color: var(--body-text-color-subdued); overflow-wrap: anywhere; }
#cards .note.warn { color: var(--color-accent); }
#cards button { margin-top: auto; padding: 6px; border-radius: 6px; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color); cursor: pointer; }
"""


def _data_uri(image: np.ndarray | Image.Image, side: int) -> str:
    im = image if isinstance(image, Image.Image) else Image.fromarray(image)
    if max(im.size) > side:
        im = im.copy()
        im.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def place_source(p: PhotoRecord) -> str:
    """Where the photo's place in the video comes from, in a few words."""
    source = getattr(p, "order_source", None)
    if source:
        return ORDER_SOURCES.get(source, str(source))  # set by the timeline
    return AGE_SOURCES.get(p.age_source or "", "")


def _card(p: PhotoRecord, review: Review) -> str:
    e = html.escape
    name = e(p.file)
    note = photo_note(p, review)
    used = p.usable
    head = f"{p.order + 1}." if used and p.order is not None else "left out"
    parts = [
        f'<img src="{_data_uri(p.aligned, CARD_SIDE)}" alt="face in {name}">'
        if p.crop is not None
        else ""
    ]
    parts.append(f'<div class="name">{e(head)} {name}</div>')
    if p.crop is not None:
        age = "" if p.age is None else f"{p.age:.1f}"
        exact = p.age_source in ("date", "year")
        shown = format_age(p.age, exact=exact) if p.age is not None else "age unknown"
        parts.append(
            f'<label class="age">Age <input type="number" min="0" max="120" step="0.1" data-age '
            f'data-file="{name}" value="{age}" aria-label="age in {name}"> <span>{e(shown)}</span></label>'
        )
        parts.append(f'<div class="src">Placed by: {e(place_source(p))}</div>')
    if note:
        parts.append(f'<div class="note{" warn" if not used else ""}">{e(note)}</div>')
    if p.crop is not None:
        keep = "0" if used else "1"
        label = "Remove" if used else "Keep"
        parts.append(
            f'<button data-keep="{keep}" data-file="{name}" aria-label="{label} {name}">{label}</button>'
        )
    return f'<div class="card{"" if used else " out"}" data-file="{name}">{"".join(parts)}</div>'


def review_cards(review: Review) -> dict[str, Any]:
    """The review component's value: the ordered faces strip and one card per photo (video order, left-out last)."""
    a = review.analysis
    strip = "".join(
        f'<img src="{_data_uri(p.aligned, STRIP_SIDE * 2)}" alt="{p.order + 1}" title="{html.escape(p.file)}">'
        for p in a.usable
        if p.crop is not None and p.order is not None
    )
    cards = "".join(_card(p, review) for p in a.photos)
    head = f'<div class="strip" aria-label="faces in video order">{strip}</div>' if strip else ""
    return {"html": f'{head}<div class="grid">{cards}</div>', "edit": None}


def preview_cards(files: list[str]) -> dict[str, Any]:
    """Cards of the uploads before the analysis: small previews (header-checked, reduced-scale decode)."""
    cards = []
    for path in files:
        name = html.escape(Path(path).name)
        im = preview(path)
        img = f'<img src="{_data_uri(im, CARD_SIDE)}" alt="{name}">' if im is not None else ""
        cards.append(f'<div class="card" data-file="{name}">{img}<div class="name">{name}</div>'
                     '<div class="note">checking…</div></div>')  # fmt: skip
    return {"html": f'<div class="grid">{"".join(cards)}</div>', "edit": None}


def empty_cards() -> dict[str, Any]:
    return {"html": "", "edit": None}


def edit_from_value(value: Any) -> dict[str, Any] | None:
    """The visitor's change carried by the component's value, or None."""
    if isinstance(value, str) and value.startswith("{"):
        value = json.loads(value)
    if (
        isinstance(value, dict)
        and isinstance(value.get("edit"), dict)
        and value["edit"].get("file")
    ):
        return value["edit"]
    return None
