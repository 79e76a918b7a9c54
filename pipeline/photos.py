"""Reading photos: folders, file lists and in-memory images into 8-bit RGB arrays.

Every failure becomes a `BadImageError` with a status code and a message that
names the file, so one bad photo never stops the rest of an album.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.codes import Status
from pipeline.errors import BadImageError, UsageError

log = logging.getLogger(__name__)

try:  # HEIC/HEIF support; Pillow 12 reads WebP and AVIF itself.
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - listed in requirements.txt
    log.warning("pillow-heif is not installed: HEIC/HEIF photos cannot be read")

# A photo with more pixels than this is refused (decompression bombs, absurd
# scans). 100 MP covers every phone and most DSLR panoramas.
MAX_PIXELS = 100_000_000
# Pillow's own bomb check would raise before ours with a less helpful message.
Image.MAX_IMAGE_PIXELS = None

IMAGE_EXTENSIONS = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".avif", ".heic", ".heif",
    ".bmp", ".dib", ".tif", ".tiff", ".gif",
}  # fmt: skip

InMemory = np.ndarray | Image.Image | bytes


@dataclass
class PhotoSource:
    """Where one photo comes from: a file or an in-memory image."""

    name: str
    path: Path | None = None
    data: InMemory | None = None

    def read_bytes(self) -> bytes | None:
        if self.path is not None:
            return self.path.read_bytes()
        return self.data if isinstance(self.data, bytes) else None


@dataclass
class LoadedPhoto:
    """A decoded photo.

    Attributes:
        image (np.ndarray): [H, W, 3] uint8 RGB, EXIF orientation applied.
        sha256 (str): hash of the file bytes (of the pixels for arrays).
        exif (Image.Exif | None): EXIF block of the original file, if any.
        format (str): Pillow's format name (``JPEG``, ``PNG`` ...).
        full_size (tuple[int, int] | None): (width, height) of the full photo
            when `image` was decoded at a reduced scale (see `load_photo`'s
            `min_side`); None when `image` is the full photo.
    """

    source: PhotoSource
    image: np.ndarray
    sha256: str
    exif: Image.Exif | None
    format: str
    full_size: tuple[int, int] | None = None

    @property
    def scale(self) -> float:
        """Size of `image` over the full photo's (1.0, or 1/2, 1/4, 1/8 for a reduced JPEG decode)."""
        if self.full_size is None:
            return 1.0
        return self.width / self.full_size[0]

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def collect_sources(sources: str | Path | Iterable[Any]) -> list[PhotoSource]:
    """Turn a folder, a file, or a list of files / (name, image) pairs into sources.

    A folder is read non-recursively, sorted by name; files whose extension is
    not an image's are still listed (they get a `not_image` status rather than
    vanishing), except hidden files and obvious sidecars (``.json``, ``.csv``,
    ``.txt``, ``.md``), which an album folder often holds.

    Raises:
        UsageError: the path does not exist, or an entry has an unusable type.
    """
    if isinstance(sources, (str, Path)):
        root = Path(sources)
        if root.is_dir():
            files = sorted(
                p
                for p in root.iterdir()
                if p.is_file()
                and not p.name.startswith(".")
                and p.suffix.lower() not in {".json", ".csv", ".txt", ".md", ".xmp", ".aae"}
            )
            return [PhotoSource(name=p.name, path=p) for p in files]
        if root.is_file():
            return [PhotoSource(name=root.name, path=root)]
        raise UsageError(f"{root}: no such file or folder; give a folder of photos or photo files.")

    out: list[PhotoSource] = []
    for i, item in enumerate(sources):
        if isinstance(item, PhotoSource):
            out.append(item)
        elif isinstance(item, (str, Path)):
            p = Path(item)
            out.append(PhotoSource(name=p.name, path=p))
        elif isinstance(item, tuple) and len(item) == 2:
            name, data = item
            if isinstance(data, (str, Path)):
                out.append(PhotoSource(name=str(name), path=Path(data)))
            else:
                out.append(PhotoSource(name=str(name), data=data))
        elif isinstance(item, (np.ndarray, Image.Image, bytes)):
            out.append(PhotoSource(name=f"image_{i + 1:03d}", data=item))
        else:
            raise UsageError(
                f"Item {i + 1} of the album is a {type(item).__name__}; expected a file path or an image."
            )
    return _unique_names(out)


def _unique_names(sources: list[PhotoSource]) -> list[PhotoSource]:
    """Make display names unique (two uploads may share a file name)."""
    seen: dict[str, int] = {}
    for s in sources:
        if s.name in seen:
            seen[s.name] += 1
            stem, dot, ext = s.name.rpartition(".")
            s.name = f"{stem} ({seen[s.name]}).{ext}" if dot else f"{s.name} ({seen[s.name]})"
        else:
            seen[s.name] = 1
    return sources


def load_photo(
    source: PhotoSource, *, max_pixels: int = MAX_PIXELS, min_side: int | None = None
) -> LoadedPhoto:
    """Decode one photo to 8-bit RGB with EXIF orientation applied.

    With `min_side`, a JPEG is decoded at the smallest of 1/2, 1/4 or 1/8
    scale whose longest side is still at least `min_side` (libjpeg scales
    while decoding, several times faster than a full decode); other formats
    and photos already small enough are decoded in full.

    Raises:
        BadImageError: with code ``empty``, ``unreadable``, ``not_image``,
            ``truncated`` or ``too_large``.
    """
    name = source.name
    if isinstance(source.data, np.ndarray):
        image = to_rgb8_array(source.data, name)
        return LoadedPhoto(
            source, image, hashlib.sha256(image.tobytes()).hexdigest(), None, "array"
        )
    if isinstance(source.data, Image.Image):
        _check_pixels(source.data.size, name, max_pixels)
        image = to_rgb8(ImageOps.exif_transpose(source.data) or source.data, name)
        return LoadedPhoto(
            source,
            image,
            hashlib.sha256(image.tobytes()).hexdigest(),
            None,
            source.data.format or "PIL",
        )

    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise BadImageError(Status.UNREADABLE, f"{name}: file not found.") from None
    except OSError as exc:
        raise BadImageError(
            Status.UNREADABLE,
            f"{name}: cannot be read ({exc.strerror or exc}); check the file's permissions.",
        ) from None
    if not raw:
        raise BadImageError(
            Status.EMPTY, f"{name}: the file is empty (0 bytes); upload the photo again."
        )
    digest = hashlib.sha256(raw).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(raw))
            fmt = img.format or "?"
            _check_pixels(img.size, name, max_pixels)
            img.seek(0)  # first frame of GIFs and multi-page TIFFs
            full = img.size
            if min_side and fmt == "JPEG" and max(full) >= 2 * min_side:
                k = min_side / max(full)
                img.draft("RGB", (math.ceil(full[0] * k), math.ceil(full[1] * k)))
            exif = img.getexif()
            image = _fast_jpeg(raw, img, full, exif)
            if image is None:
                img.load()
                reduced = img.size
                img = ImageOps.exif_transpose(img) or img
                turned = img.size != reduced
            else:
                turned = _ORIENTATION.get(exif.get(0x0112), (None, False))[1]
            if turned:  # turned by a quarter: the full size turns too
                full = (full[1], full[0])
    except BadImageError:
        raise
    except UnidentifiedImageError:
        raise BadImageError(
            Status.NOT_IMAGE,
            f"{name}: not an image this tool can read; use JPEG, PNG, WebP, AVIF, HEIC, BMP, TIFF or GIF.",
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        text = str(exc).lower()
        if "truncated" in text or "broken data stream" in text or isinstance(exc, EOFError):
            raise BadImageError(
                Status.TRUNCATED,
                f"{name}: the image data is cut short (incomplete download or copy); upload the full file again.",
            ) from None
        raise BadImageError(
            Status.UNREADABLE, f"{name}: the image is damaged and cannot be decoded ({exc})."
        ) from None
    if image is None:
        image = to_rgb8(img, name)
    full_size = None if tuple(image.shape[1::-1]) == tuple(full) else (int(full[0]), int(full[1]))
    return LoadedPhoto(source, image, digest, exif if len(exif) else None, fmt, full_size)


# EXIF orientation -> (the numpy view that shows the photo upright, whether it
# swaps width and height); the same turns as Pillow's `ImageOps.exif_transpose`.
_ORIENTATION: dict[int, tuple[Any, bool]] = {
    2: (lambda a: a[:, ::-1], False),
    3: (lambda a: a[::-1, ::-1], False),
    4: (lambda a: a[::-1], False),
    5: (lambda a: a.transpose(1, 0, 2), True),
    6: (lambda a: a.transpose(1, 0, 2)[:, ::-1], True),
    7: (lambda a: a.transpose(1, 0, 2)[::-1, ::-1], True),
    8: (lambda a: a.transpose(1, 0, 2)[::-1], True),
}
_CV2_REDUCED = {1: 0, 2: 16, 4: 32, 8: 64}  # libjpeg scale -> cv2.IMREAD_REDUCED_* bits
_cv2_same: bool | None = None


def _cv2_decodes_like_pillow() -> bool:
    """Whether OpenCV's JPEG decoder gives Pillow's pixels here (checked once, on a small
    photo-like JPEG at full and reduced scale): both usually use the same libjpeg-turbo."""
    global _cv2_same
    if _cv2_same is None:
        try:
            import cv2

            rng = np.random.default_rng(0)
            base = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            smooth = cv2.resize(base, (96, 64), interpolation=cv2.INTER_CUBIC)
            noisy = np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(noisy).save(buf, "JPEG", quality=87)
            raw = buf.getvalue()
            same = True
            for scale in (1, 2):
                img = Image.open(io.BytesIO(raw))
                if scale > 1:
                    img.draft("RGB", (96 // scale, 64 // scale))
                expected = np.asarray(img.convert("RGB"))
                got = _cv2_decode(raw, scale)
                same = same and got is not None and np.array_equal(got, expected)
            _cv2_same = same
            if not same:
                log.info("OpenCV's JPEG pixels differ from Pillow's here; decoding with Pillow")
        except Exception:  # noqa: BLE001 - any failure means: keep Pillow's decoder
            log.warning("OpenCV's JPEG decoder is not usable here; decoding with Pillow")
            _cv2_same = False
    return _cv2_same


def _cv2_decode(raw: bytes, scale: int) -> np.ndarray | None:
    """[H, W, 3] uint8 RGB of a JPEG at 1/`scale`, EXIF orientation not applied; None on failure."""
    import cv2

    flags = _CV2_REDUCED[scale] | cv2.IMREAD_IGNORE_ORIENTATION
    rgb = getattr(cv2, "IMREAD_COLOR_RGB", None)
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), flags | (rgb if rgb else cv2.IMREAD_COLOR))
    if image is None or image.ndim != 3:
        return None
    return image if rgb else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _fast_jpeg(
    raw: bytes, img: Image.Image, full: tuple[int, int], exif: Image.Exif
) -> np.ndarray | None:
    """A colour JPEG decoded by OpenCV straight into an array, upright, at the scale
    Pillow's draft chose; None where Pillow must decode it (other formats and modes,
    data that does not end with the end-of-image marker, so that cut-short files get
    Pillow's error, or an OpenCV that decodes differently).

    Pillow's own route copies the decoded photo once more into the array (about 60 ms
    of a 12 MP photo's 140).
    """
    if img.format != "JPEG" or img.mode != "RGB" or not raw.rstrip(b"\0").endswith(b"\xff\xd9"):
        return None
    scale = max(1, round(full[0] / img.size[0]))
    if scale not in _CV2_REDUCED or not _cv2_decodes_like_pillow():
        return None
    image = _cv2_decode(raw, scale)
    if image is None or image.shape[1::-1] != img.size:
        return None
    turn = _ORIENTATION.get(exif.get(0x0112))
    return np.ascontiguousarray(turn[0](image)) if turn else image


def _check_pixels(size: tuple[int, int], name: str, max_pixels: int) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise BadImageError(Status.UNREADABLE, f"{name}: the image has no pixels.")
    if w * h > max_pixels:
        raise BadImageError(
            Status.TOO_LARGE,
            f"{name}: {w}x{h} pixels is over the limit of {max_pixels / 1e6:.0f} megapixels; "
            "downscale the photo and try again.",
        )


def to_rgb8(img: Image.Image, name: str = "image") -> np.ndarray:
    """Convert any Pillow mode (grayscale, palette, CMYK, 16-bit, alpha) to [H, W, 3] uint8 RGB.

    Transparent areas are laid over white, as a viewer would show them.
    """
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return to_rgb8_array(np.asarray(img), name)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    if mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img)


def to_rgb8_array(arr: np.ndarray, name: str = "image") -> np.ndarray:
    """Convert an array (gray, RGB, RGBA; uint8, uint16, int or float) to [H, W, 3] uint8."""
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise BadImageError(
            Status.UNREADABLE, f"{name}: an image array must be HxW, HxWx3 or HxWx4, not {a.shape}."
        )
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating):
            hi = 1.0 if np.nanmax(a) <= 1.0 else 255.0
            a = np.clip(np.nan_to_num(a) / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        else:
            hi = 255 if a.max(initial=0) <= 255 else 65535
            a = (a.astype(np.float32) * (255.0 / hi) + 0.5).clip(0, 255).astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        a = (a[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink so the longer side is at most `max_side`; returns (image, scale applied)."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    import cv2

    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def thumbnail(image: np.ndarray, side: int = 256) -> np.ndarray:
    """A small copy for galleries and duplicate checks."""
    return downscale(image, side)[0]
