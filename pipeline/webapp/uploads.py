"""Uploads: the limits stated on the page, checked before any photo is decoded.

Every upload is opened here first through its header only (`peek`), so a
small file that declares an enormous image (a decompression bomb) is refused
before a single pixel is decoded, in the previews as in the analysis. Previews
decode at a reduced scale where the format allows it (JPEG draft mode) and
skip files too large to decode cheaply.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from pipeline.codes import Status
from pipeline.dates import exif_date, filename_date
from pipeline.errors import BadImageError, NotEnoughPhotosError
from pipeline.photos import MAX_PIXELS, PhotoSource, collect_sources
from pipeline.selection import DEFAULT_TRANSITION_PHOTOS

log = logging.getLogger(__name__)

MAX_FILE_MB = 40  # per file; Gradio refuses larger uploads before they reach the app
MAX_FILES = 120  # photos checked per album; more are thinned out evenly (see `limit_album`)
# Photos in one video; more are a proposed selection to review (the CLI's limit too).
MAX_VIDEO_PHOTOS = DEFAULT_TRANSITION_PHOTOS
PREVIEW_SIDE = 160
# Previews decode a non-JPEG photo in full, so only up to this size (JPEG decodes at 1/8 scale).
PREVIEW_MAX_PIXELS = 30_000_000

LIMITS_TEXT = (
    f"Up to {MAX_FILES} photos, {MAX_FILE_MB} MB and {MAX_PIXELS // 1_000_000} megapixels each "
    "(JPEG, PNG, HEIC, WebP, AVIF, TIFF, BMP, GIF). With more than "
    f"{MAX_VIDEO_PHOTOS} good photos, the app proposes {MAX_VIDEO_PHOTOS} spread over the years for you to review "
    "(a photo-a-day video shows them all)."
)


@dataclass
class Album:
    """The photos of one request after the count limit.

    Attributes:
        sources (list[PhotoSource]): the photos to check, at most `MAX_FILES`.
        skipped (list[str]): names of files left out by the count limit.
    """

    sources: list[PhotoSource]
    skipped: list[str] = field(default_factory=list)


def path_of(item: Any) -> str | None:
    """The server path of an uploaded file (a path, a Gradio file dict or a `FileData`)."""
    if item is None:
        return None
    if isinstance(item, dict):
        return item.get("path") or item.get("name")
    return str(getattr(item, "path", None) or getattr(item, "name", None) or item)


def album_from_files(files: Sequence[Any] | None, max_files: int = MAX_FILES) -> Album:
    """Photo sources from uploaded files, read where Gradio put them, thinned to `max_files`.

    Raises:
        NotEnoughPhotosError: no file at all.
    """
    paths = [p for p in (path_of(f) for f in (files or [])) if p]
    if not paths:
        raise NotEnoughPhotosError(0, 0)
    sources = collect_sources([Path(p) for p in paths])
    return limit_album(sources, max_files)


def limit_album(sources: list[PhotoSource], max_files: int = MAX_FILES) -> Album:
    """At most `max_files` photos, spread evenly over their capture dates (header EXIF or file name).

    Nothing is decoded: dates come from headers, so this is cheap for any count.
    """
    if len(sources) <= max_files:
        return Album(list(sources))

    def when(s: PhotoSource) -> tuple[dt.date, str]:
        date = None
        if s.path is not None:
            try:
                with warnings.catch_warnings(), Image.open(s.path) as im:
                    warnings.simplefilter("ignore")
                    date = exif_date(im.getexif())[0]
            except Exception:  # unreadable files sort by name; the analysis reports them
                date = None
        date = date or filename_date(s.name)[0]
        return (date or dt.date.max, s.name)

    ordered = sorted(sources, key=when)
    step = (len(ordered) - 1) / (max_files - 1)
    keep = {round(i * step) for i in range(max_files)}
    chosen = [s for i, s in enumerate(ordered) if i in keep]
    skipped = [s.name for i, s in enumerate(ordered) if i not in keep]
    return Album(chosen, skipped)


def peek(path: str | Path, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Width and height from the file's header, without decoding.

    Raises:
        BadImageError: ``too_large`` over `max_pixels`, ``not_image`` when no reader knows it.
    """
    name = Path(path).name
    try:
        with warnings.catch_warnings(), Image.open(path) as im:
            warnings.simplefilter("ignore")
            w, h = im.size
    except Exception:
        raise BadImageError(Status.NOT_IMAGE, f"{name}: not an image this tool can read.") from None
    if w * h > max_pixels:
        raise BadImageError(
            Status.TOO_LARGE,
            f"{name}: {w}x{h} pixels is over the limit of {max_pixels // 1_000_000} megapixels.",
        )
    return w, h


def preview(path: str | Path, side: int = PREVIEW_SIDE) -> Image.Image | None:
    """A small RGB preview, decoded at a reduced scale; None when the file cannot be previewed cheaply."""
    try:
        w, h = peek(path)
        with warnings.catch_warnings(), Image.open(path) as im:
            warnings.simplefilter("ignore")
            im.draft("RGB", (side * 2, side * 2))  # JPEG: decode at 1/2 .. 1/8 scale
            if im.format != "JPEG" and w * h > PREVIEW_MAX_PIXELS:
                return None
            small = ImageOps.exif_transpose(im).convert("RGB")
            small.thumbnail((side, side), Image.Resampling.BILINEAR)
            return small
    except Exception as exc:  # any decoder error: the analysis explains the file
        log.info("no preview for %s: %s", Path(path).name, exc)
        return None
