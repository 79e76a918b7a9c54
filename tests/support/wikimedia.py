"""The recorded Wikidata / Commons answers of tests/fixtures/wikimedia, served with real photo bodies."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from tests.support.replay import WikimediaReplay

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wikimedia"


def photo_bodies(astronaut: np.ndarray, hanks: np.ndarray) -> dict[str, bytes]:
    """One distinct JPEG per recorded file, shaped like its thumbnail, EXIF date where Commons has one."""
    records = WikimediaReplay(FIXTURES)
    bodies: dict[str, bytes] = {}
    for i, (title, _, info) in enumerate(records.image_urls()):
        base = Image.fromarray(astronaut if i % 2 == 0 else hanks)
        if i % 3 == 1:
            base = ImageOps.mirror(base)
        aspect = info["thumbheight"] / info["thumbwidth"]
        width = 320
        size = (width, max(int(round(width * aspect)), 1))
        img = ImageOps.fit(
            base, size, Image.Resampling.LANCZOS, centering=(0.5, 0.4 + 0.02 * (i % 5))
        )
        img = Image.fromarray(
            np.clip(np.asarray(img, np.float32) * (0.85 + 0.03 * (i % 6)), 0, 255).astype(np.uint8)
        )
        exif = Image.Exif()
        dto = info["extmetadata"].get("DateTimeOriginal", {})
        if dto.get("source") == "mediawiki-metadata":
            stamp = dto["value"].replace("-", ":")
            exif[0x0132] = stamp
            exif.get_ifd(0x8769)[0x9003] = stamp
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=88, exif=exif)
        bodies[title] = buf.getvalue()
    return bodies


def serve(bodies: dict[str, bytes]) -> WikimediaReplay:
    """A started replay server of the recorded answers, answering image URLs with `bodies`."""
    server = WikimediaReplay(FIXTURES).start()
    server.fill_images(lambda title, info: bodies[title])
    return server
