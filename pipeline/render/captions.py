"""Captions burned into the frames: the age (``3 y``, ``3 y 6 m`` when exact), the year,
or the date (``24 Apr 2008``; the year where only the year is known).

Captions are as precise as the evidence: months only where a day-precise
capture date meets a birth date the user gave, whole years otherwise. The
caption follows the video's time: between two keyframes it shows the
interpolated age (or date), so the numbers count up as the face ages.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.dates import calendar_age, decimal_year, format_age, format_date
from pipeline.errors import UsageError
from pipeline.types import Keyframe, is_imagined

CAPTION_MODES = ("age", "year", "date", "none")
_DAYS_PER_YEAR = 365.2425


def _lerp_date(a: dt.date, b: dt.date, lam: float) -> dt.date:
    return a + dt.timedelta(days=round((b - a).days * lam))


def _precision(kf: Keyframe) -> str:
    return (kf.date_precision or "day") if kf.date is not None else ""


class Captioner:
    """Caption text per frame and its drawing.

    Args:
        keyframes (Sequence[Keyframe]): in video order. `Keyframe.birth_date`
            (set from the analysis) gives calendar-exact ages;
            `Keyframe.date_precision` (``day`` or ``year``) how precise `date` is.
        mode (str): ``age``, ``year``, ``date`` or ``none``.
        size (int): frame side in pixels; the font scales with it.

    Raises:
        UsageError: ``year`` or ``date`` captions without any capture date to anchor them.
    """

    def __init__(self, keyframes: Sequence[Keyframe], mode: str, size: int) -> None:
        if mode not in CAPTION_MODES:
            raise UsageError(f"Caption {mode!r} unknown; choose age, year, date or none.")
        self.keyframes = list(keyframes)
        self.mode = mode
        self.size = size
        self.birth: dt.date | None = next(
            (kf.birth_date for kf in keyframes if kf.birth_date), None
        )
        self._years: list[float] = []
        if mode in ("year", "date"):
            dated = [kf for kf in keyframes if kf.date is not None]
            if not dated:
                raise UsageError(
                    f"{mode.capitalize()} captions need at least one photo with a capture date "
                    "(in the photo or set as an edit); caption by age or none instead."
                )
            # Photos without a date are placed by their age relative to the dated ones.
            offset = float(np.median([decimal_year(kf.date) - kf.age for kf in dated]))
            self._years = [
                decimal_year(kf.date) if kf.date else kf.age + offset for kf in keyframes
            ]

    def _exact_date(self, kf: Keyframe) -> dt.date | None:
        return (
            kf.date if (kf.age_exact and kf.date is not None and self.birth is not None) else None
        )

    def text(self, j: int, lam: float) -> str:
        """Caption of a frame at position `lam` between keyframes j and j+1 ('' for none).

        Frames of a face SAM imagined (at or next to an imagined keyframe) say so:
        ``about 70 y, imagined``.
        """
        if self.mode == "none":
            return ""
        if lam >= 1.0:
            j, lam = j + 1, 0.0
        a = self.keyframes[j]
        b = self.keyframes[j + 1] if lam > 0.0 else a
        if is_imagined(a) or is_imagined(b):
            return f"about {self._plain_text(j, lam, a, b)}, imagined"
        return self._plain_text(j, lam, a, b)

    def _plain_text(self, j: int, lam: float, a: Keyframe, b: Keyframe) -> str:
        if self.mode == "date" and a.date is not None and (lam == 0.0 or b.date is not None):
            if lam == 0.0:
                return format_date(a.date, _precision(a))
            # Day by day only between two day-precise dates; else the year.
            day = _precision(a) == "day" and _precision(b) == "day"
            return format_date(_lerp_date(a.date, b.date, lam), "day" if day else "year")  # type: ignore[arg-type]
        if self.mode in ("year", "date"):
            if lam == 0.0 and a.date is not None:
                return str(a.date.year)
            year = (
                self._years[j] + lam * (self._years[j + 1] - self._years[j])
                if lam > 0.0
                else self._years[j]
            )
            return str(math.floor(year + 1e-9))
        da, db = self._exact_date(a), self._exact_date(b)
        if da is not None and db is not None and self.birth is not None:
            return format_age(
                0.0, exact=True, months=calendar_age(self.birth, _lerp_date(da, db, lam))
            )
        age = a.age + lam * (b.age - a.age)
        exact = a.age_exact and b.age_exact
        return format_age(age, exact=exact)

    def keyframe_texts(self) -> list[str]:
        """Caption at each keyframe, for the report and the contact sheet."""
        return [
            self.text(j, 0.0) if j < len(self.keyframes) - 1 else self.text(j - 1, 1.0)
            for j in range(len(self.keyframes))
        ]

    def draw(self, frame: np.ndarray, text: str) -> np.ndarray:
        """Composite `text` at the bottom centre of `frame` (in place; returns it)."""
        if not text:
            return frame
        colour, alpha, (x0, y0) = _caption_patch(text, self.size)
        h, w = alpha.shape[:2]
        region = frame[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
        # Premultiplied "over": caption colour plus what shows through.
        frame[y0 : y0 + h, x0 : x0 + w] = np.clip(colour + region * (1.0 - alpha) + 0.5, 0, 255)
        return frame


def font_for(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font at a size proportional to the frame side."""
    return _font(max(10, round(size * 0.065)))


@functools.lru_cache(maxsize=8)
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=px)


@functools.lru_cache(maxsize=1024)
def _caption_patch(text: str, size: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Rendered caption: premultiplied RGB [h, w, 3] and alpha [h, w, 1] float32, top-left (x, y).

    White text with a dark outline over a soft drop shadow, readable on any
    background. The outline and shadow are dilations of the glyph mask
    (much faster than FreeType's stroker, and a caption changes every frame
    while the age counts up).
    """
    font = font_for(size)
    stroke = max(1, round(size / 160))
    shadow = max(1, round(size / 256))
    left, top, right, bottom = font.getbbox(text)
    pad = stroke + shadow + 2
    w, h = right - left + 2 * pad, bottom - top + 2 * pad
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).text((pad - left, pad - top), text, font=font, fill=255)
    glyphs = np.asarray(mask, dtype=np.float32) / 255.0
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * stroke + 1, 2 * stroke + 1))
    outline = cv2.dilate(glyphs, kernel)
    drop = np.zeros_like(outline)
    drop[shadow:, shadow:] = outline[:-shadow, :-shadow] * 0.55
    colour = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    for layer, value in ((drop, 0.0), (outline, 20.0), (glyphs, 255.0)):
        colour = value * layer[..., None] + colour * (1.0 - layer[..., None])
        alpha = layer + alpha * (1.0 - layer)
    x0 = max(0, (size - w) // 2)
    y0 = max(0, size - h - round(size * 0.035))
    w, h = min(w, size - x0), min(h, size - y0)
    return colour[:h, :w].copy(), alpha[:h, :w, None].copy(), (x0, y0)
