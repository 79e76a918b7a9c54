"""Contact sheet: the ordered keyframes with their ages, as one PNG for a quick look.

A big album (a photo-a-day video of a thousand photos) would make a sheet tens of
thousands of pixels tall, so at most `MAX_TILES` photos are shown, spread evenly
along the video's time, each still numbered by its place in the video, under a
line saying how many of how many are shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from pipeline.render.captions import _font
from pipeline.types import Keyframe

# Photos shown at most: 8 rows of 6 (a sheet about 1200 x 1900 px at the default thumbnail).
MAX_TILES = 48


def spread_picks(times: Sequence[float], limit: int) -> list[int]:
    """Indices of at most `limit` of these (non-decreasing) times, spread evenly between the
    first and the last, both included: for each of `limit` evenly spaced times, the nearest
    photo not taken yet (in order, leaving room for the ones still to pick)."""
    n = len(times)
    if n <= limit:
        return list(range(n))
    if limit <= 1:
        return [0][:limit]
    t = np.asarray(times, np.float64)
    if not t[-1] > t[0]:  # no time span: spread by place instead
        t = np.arange(n, dtype=np.float64)
    picks: list[int] = []
    for k, target in enumerate(np.linspace(t[0], t[-1], limit)):
        lo = picks[-1] + 1 if picks else 0
        hi = n - (limit - k)  # the last index this pick may take
        i = int(np.clip(np.searchsorted(t, target), lo, hi))
        if i > lo and abs(t[i - 1] - target) <= abs(t[i] - target):
            i -= 1
        picks.append(i)
    picks[-1] = n - 1  # the last photo, even where it shares its time with others
    return picks


def contact_sheet(
    keyframes: Sequence[Keyframe],
    captions: Sequence[str],
    *,
    thumb: int = 192,
    columns: int | None = None,
    max_tiles: int = MAX_TILES,
    images: Sequence[np.ndarray] | None = None,
) -> Image.Image:
    """A grid of keyframe thumbnails in video order, each labelled ``N. caption`` and its file name.

    Args:
        keyframes (Sequence[Keyframe]): in video order.
        captions (Sequence[str]): one label per keyframe (e.g. its age).
        thumb (int): thumbnail side in pixels.
        columns (int | None): grid width; default about sqrt(n) * 1.5, at most 6.
        max_tiles (int): photos shown at most; beyond, `spread_picks` along the video's time
            (`Keyframe.time`, else their place), under a line saying so.
        images (Sequence[np.ndarray] | None): the picture to show for each keyframe, read only
            for the tiles shown; default each keyframe's own image. A render passes the
            video's own pictures (on its backdrop), so the sheet looks like the video.
    """
    total = len(keyframes)
    times = [float(i if kf.time is None else kf.time) for i, kf in enumerate(keyframes)]
    picks = spread_picks(times, max(1, max_tiles))
    n = len(picks)
    cols = columns or max(1, min(6, n, math.ceil(math.sqrt(n) * 1.5)))
    rows = math.ceil(n / cols)
    gap = max(4, thumb // 24)
    title = _font(max(10, thumb // 10))
    small = _font(max(9, thumb // 15))
    label_h = round(thumb * 0.1) + round(thumb * 0.075) + 3 * gap // 2
    head_h = round(thumb * 0.1) + gap if n < total else 0
    width = cols * (thumb + gap) + gap
    sheet = Image.new(
        "RGB", (width, head_h + rows * (thumb + label_h + gap) + gap), (250, 250, 250)
    )
    draw = ImageDraw.Draw(sheet)
    if head_h:
        note = f"{n} of {total:,} photos, spread evenly along the video"
        draw.text((gap, gap), note, font=title, fill=(20, 20, 20))
    for tile, i in enumerate(picks):
        kf, text = keyframes[i], captions[i]
        x = gap + (tile % cols) * (thumb + gap)
        y = head_h + gap + (tile // cols) * (thumb + label_h + gap)
        picture = kf.image if images is None else images[i]
        img = cv2.resize(picture, (thumb, thumb), interpolation=cv2.INTER_AREA)
        sheet.paste(Image.fromarray(img), (x, y))
        draw.text((x, y + thumb + gap // 2), f"{i + 1}. {text}", font=title, fill=(20, 20, 20))
        name = kf.label if len(kf.label) <= 28 else kf.label[:25] + "..."
        draw.text(
            (x, y + thumb + gap // 2 + round(thumb * 0.11)), name, font=small, fill=(90, 90, 90)
        )
    return sheet


def write_contact_sheet(
    path: Path,
    keyframes: Sequence[Keyframe],
    captions: Sequence[str],
    *,
    thumb: int = 192,
    images: Sequence[np.ndarray] | None = None,
) -> Path:
    """Write `contact_sheet(...)` as PNG (atomically) and return the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.part.png")
    contact_sheet(keyframes, captions, thumb=thumb, images=images).save(
        tmp, format="PNG", optimize=False
    )
    tmp.replace(path)
    return path
