"""The background setting: the photos' own backgrounds, or one steady backdrop for the whole video.

``original`` keeps each photo's background (it dissolves during every
transition). ``soft`` builds one blurred backdrop from the photos' own
background colours: each keyframe's background (outside its person matte)
is spread over the whole frame by normalised blurring, the keyframes are
combined by a per-pixel median (one odd photo cannot tint it), and the
result is blurred again, so the video keeps the album's tones without any
detail that could move. A colour (``#rrggbb`` or a name such as ``white``)
gives a plain backdrop.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.errors import UsageError
from pipeline.matte import composite
from pipeline.types import Keyframe

ORIGINAL = "original"
SOFT = "soft"
DEFAULT_BACKGROUND = SOFT
NAMED_COLOURS = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "cream": (240, 234, 218),
    "blue": (62, 96, 140),
}
__all__ = [
    "DEFAULT_BACKGROUND",
    "Background",
    "composite",
    "make_backdrop",
    "parse_background",
    "plain_backdrop",
    "soft_backdrop",
]
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")
_WORK = 48  # working side of the soft backdrop (it holds no detail)


@dataclass(frozen=True)
class Background:
    """A parsed background setting: `kind` is ``original``, ``soft`` or ``colour``."""

    kind: str
    colour: tuple[int, int, int] | None = None

    @property
    def steady(self) -> bool:
        """True when the person is composited onto one backdrop for the whole video."""
        return self.kind != ORIGINAL

    def label(self) -> str:
        if self.kind == "colour":
            assert self.colour is not None
            return "#{:02x}{:02x}{:02x}".format(*self.colour)
        return self.kind


def parse_background(value: object) -> Background:
    """Read a background setting: ``original``, ``soft``, ``#rrggbb`` or a colour name.

    Raises:
        UsageError: anything else.
    """
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text in (ORIGINAL, SOFT):
        return Background(text)
    if text in NAMED_COLOURS:
        return Background("colour", NAMED_COLOURS[text])
    match = _HEX.fullmatch(text or "")
    if match:
        h = match.group(1)
        return Background("colour", (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)))
    names = ", ".join(NAMED_COLOURS)
    raise UsageError(
        f"Background {value!r} unknown; choose original, soft, a colour such as #336699, or one of: {names}."
    )


def _spread(image: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised blur: the weighted colours spread over the whole frame."""
    num = cv2.GaussianBlur(image * weight[..., None], (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(weight, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return num / np.maximum(den, 1e-4)[..., None]


def soft_backdrop(keyframes: Sequence[Keyframe], size: int) -> np.ndarray:
    """[size, size, 3] uint8: a blurred backdrop in the keyframes' own background colours.

    Every keyframe must carry a matte.
    """
    layers = []
    for kf in keyframes:
        if kf.matte is None:
            raise ValueError(f"{kf.label}: the soft backdrop needs the keyframe's matte")
        small = cv2.resize(kf.image, (_WORK, _WORK), interpolation=cv2.INTER_AREA).astype(
            np.float32
        )
        bg = 1.0 - cv2.resize(
            kf.matte.astype(np.float32), (_WORK, _WORK), interpolation=cv2.INTER_AREA
        )
        bg = np.where(bg > 0.95, bg, 0.0).astype(np.float32)  # keep clear background only
        if bg.sum() < 4.0:  # the person fills the frame: use the border of the photo
            bg = np.zeros_like(bg)
            bg[:3], bg[-3:], bg[:, :3], bg[:, -3:] = 1.0, 1.0, 1.0, 1.0
        # First a local spread (keeps the photo's light falloff), then fill the rest widely.
        near = _spread(small, bg, _WORK / 8)
        far = _spread(small, bg, _WORK / 2)
        cover = cv2.GaussianBlur(bg, (0, 0), _WORK / 8)
        cover = np.clip(cover / max(float(cover.max()), 1e-6), 0.0, 1.0)[..., None]
        layers.append(near * cover + far * (1.0 - cover))
    combined = np.median(np.stack(layers), axis=0).astype(np.float32)
    combined = cv2.GaussianBlur(combined, (0, 0), _WORK / 12, borderType=cv2.BORDER_REFLECT)
    out = cv2.resize(combined, (size, size), interpolation=cv2.INTER_CUBIC)
    # A little noise-free dither would be lost in H.264 anyway; round and clip.
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def plain_backdrop(colour: tuple[int, int, int], size: int) -> np.ndarray:
    """[size, size, 3] uint8 filled with one RGB colour."""
    return np.full((size, size, 3), colour, np.uint8)


def make_backdrop(
    background: Background, keyframes: Sequence[Keyframe], size: int
) -> np.ndarray | None:
    """The steady backdrop for a background setting (None for ``original``)."""
    if background.kind == ORIGINAL:
        return None
    if background.kind == SOFT:
        return soft_backdrop(keyframes, size)
    assert background.colour is not None
    return plain_backdrop(background.colour, size)
