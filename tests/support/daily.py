"""A photo-a-day album for tests: one face photographed on consecutive days, dated in EXIF."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from PIL import Image

START = dt.date(2021, 3, 1)


def dated_selfies(folder: Path, face: np.ndarray, count: int, seed: int = 0) -> dict[str, dt.date]:
    """`count` 640x480 JPEGs of `face`, framed and lit a little differently each day.

    The file names run against the dates (``day_031.jpg`` is the first day), so an order by
    name is not the date order. Returns each file's capture date.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    portrait = Image.fromarray(face)
    dates = {}
    for day in range(count):
        angle, scale = float(rng.uniform(-8, 8)), float(rng.uniform(0.9, 1.15))
        dx, dy = (float(v) for v in rng.uniform(-25, 25, 2))
        img = portrait.rotate(angle, resample=Image.Resampling.BICUBIC, translate=(dx, dy))
        side = round(512 * scale)
        canvas = Image.new("RGB", (640, 480), tuple(int(v) for v in rng.integers(60, 160, 3)))
        canvas.paste(
            img.resize((side, side), Image.Resampling.LANCZOS), (320 - side // 2, 260 - side // 2)
        )
        gain = float(rng.uniform(0.85, 1.1))
        canvas = Image.fromarray(np.clip(np.asarray(canvas) * gain, 0, 255).astype(np.uint8))
        date = START + dt.timedelta(days=day)
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = f"{date:%Y:%m:%d} 08:00:00"
        name = f"day_{count - day:03d}.jpg"
        canvas.save(folder / name, quality=92, exif=exif)
        dates[name] = date
    return dates
