"""Contact sheet: the ordered keyframes with their ages, as one PNG for a quick look."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
from PIL import Image, ImageDraw

from pipeline.render.captions import _font
from pipeline.types import Keyframe


def contact_sheet(
    keyframes: Sequence[Keyframe],
    captions: Sequence[str],
    *,
    thumb: int = 192,
    columns: int | None = None,
) -> Image.Image:
    """A grid of keyframe thumbnails in video order, each labelled ``N. caption`` and its file name.

    Args:
        keyframes (Sequence[Keyframe]): in video order.
        captions (Sequence[str]): one label per keyframe (e.g. its age).
        thumb (int): thumbnail side in pixels.
        columns (int | None): grid width; default about sqrt(n) * 1.5, at most 6.
    """
    n = len(keyframes)
    cols = columns or max(1, min(6, n, math.ceil(math.sqrt(n) * 1.5)))
    rows = math.ceil(n / cols)
    gap = max(4, thumb // 24)
    title = _font(max(10, thumb // 10))
    small = _font(max(9, thumb // 15))
    label_h = round(thumb * 0.1) + round(thumb * 0.075) + 3 * gap // 2
    sheet = Image.new(
        "RGB", (cols * (thumb + gap) + gap, rows * (thumb + label_h + gap) + gap), (250, 250, 250)
    )
    draw = ImageDraw.Draw(sheet)
    for i, (kf, text) in enumerate(zip(keyframes, captions)):
        x = gap + (i % cols) * (thumb + gap)
        y = gap + (i // cols) * (thumb + label_h + gap)
        img = cv2.resize(kf.image, (thumb, thumb), interpolation=cv2.INTER_AREA)
        sheet.paste(Image.fromarray(img), (x, y))
        draw.text((x, y + thumb + gap // 2), f"{i + 1}. {text}", font=title, fill=(20, 20, 20))
        name = kf.label if len(kf.label) <= 28 else kf.label[:25] + "..."
        draw.text(
            (x, y + thumb + gap // 2 + round(thumb * 0.11)), name, font=small, fill=(90, 90, 90)
        )
    return sheet


def write_contact_sheet(
    path: Path, keyframes: Sequence[Keyframe], captions: Sequence[str], *, thumb: int = 192
) -> Path:
    """Write `contact_sheet(...)` as PNG (atomically) and return the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.part.png")
    contact_sheet(keyframes, captions, thumb=thumb).save(tmp, format="PNG", optimize=False)
    tmp.replace(path)
    return path
