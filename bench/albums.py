"""Synthetic benchmark albums built from the public test portraits (nothing is committed).

* `phone_album`: 4000x3000 JPEGs (12 MP), a face at a varying place and size on a noisy scene.
* `selfie_album`: 640x480 JPEGs, one face large in the frame, moved, tilted and lit a little
  differently each "day", with the capture date in EXIF (a photo-a-day series).

Faces come from `skimage.data.astronaut()` and the `insightface` wheel's Tom Hanks portrait.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from PIL import Image


def _portraits() -> list[Image.Image]:
    from skimage import data

    hanks = (
        Path(__import__("insightface").__file__).parent / "data" / "images" / "Tom_Hanks_54745.png"
    )
    return [Image.fromarray(data.astronaut()), Image.open(hanks).convert("RGB")]


def _exif_with_date(day: dt.date) -> Image.Exif:
    exif = Image.Exif()
    stamp = f"{day:%Y:%m:%d} 12:00:00"
    exif[0x0132] = stamp  # DateTime
    exif.get_ifd(0x8769)[0x9003] = stamp  # DateTimeOriginal
    return exif


def phone_album(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` distinct 4000x3000 JPEGs (quality 88); returns their paths."""
    rng = np.random.default_rng(seed)
    faces = _portraits()
    base = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    scene = Image.fromarray(base).resize((4000, 3000), Image.Resampling.BICUBIC)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        canvas = scene.copy()
        face = faces[i % len(faces)]
        side = int(rng.integers(900, 1500))
        face = face.resize((side, side * face.height // face.width), Image.Resampling.BILINEAR)
        if i % 3 == 1:
            face = face.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        x, y = int(rng.integers(0, 4000 - side)), int(rng.integers(0, 3000 - face.height))
        canvas.paste(face, (x, y))
        path = folder / f"IMG_2015{(i % 12) + 1:02d}{(i % 28) + 1:02d}_{i:04d}.jpg"
        canvas.save(path, quality=88)
        out.append(path)
    return out


def selfie_album(
    folder: Path, count: int, seed: int = 0, start: dt.date = dt.date(2020, 1, 1)
) -> list[Path]:
    """`count` 640x480 daily selfies of one person, dated one day apart in EXIF; returns their paths."""
    rng = np.random.default_rng(seed)
    face = _portraits()[0]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        angle = float(rng.uniform(-6, 6))
        scale = float(rng.uniform(0.95, 1.15))
        dx, dy = (float(v) for v in rng.uniform(-30, 30, 2))
        img = face.rotate(angle, resample=Image.Resampling.BILINEAR, translate=(dx, dy))
        side = round(512 * scale)
        img = img.resize((side, side), Image.Resampling.BILINEAR)
        canvas = Image.new("RGB", (640, 480), tuple(int(v) for v in rng.integers(40, 200, 3)))
        canvas.paste(img, (320 - side // 2, 240 - side // 2 + 40))
        gain = float(rng.uniform(0.85, 1.1))
        canvas = Image.fromarray(np.clip(np.asarray(canvas) * gain, 0, 255).astype(np.uint8))
        day = start + dt.timedelta(days=i)
        path = folder / f"selfie_{i:04d}.jpg"
        canvas.save(path, quality=90, exif=_exif_with_date(day))
        out.append(path)
    return out
