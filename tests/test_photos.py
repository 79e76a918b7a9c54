"""Reading photos: formats, modes, EXIF orientation, limits and bad files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import BadImageError
from pipeline.photos import PhotoSource, collect_sources, load_photo, to_rgb8_array


def _load(path: Path, **kw) -> np.ndarray:
    return load_photo(PhotoSource(path.name, path=path), **kw).image


@pytest.mark.parametrize(
    "fmt,ext,tol",
    [
        ("JPEG", "jpg", 12),
        ("PNG", "png", 0),
        ("WEBP", "webp", 12),
        ("AVIF", "avif", 16),
        ("HEIF", "heic", 16),
        ("BMP", "bmp", 0),
        ("TIFF", "tiff", 0),
    ],
)
def test_formats_decode_to_rgb8(
    tmp_path: Path, astronaut: np.ndarray, fmt: str, ext: str, tol: int
) -> None:
    src = astronaut[::2, ::2]
    path = tmp_path / f"photo.{ext}"
    Image.fromarray(src).save(
        path, fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP", "AVIF", "HEIF") else {})
    )
    img = _load(path)
    assert img.dtype == np.uint8 and img.shape == src.shape
    assert np.abs(img.astype(int) - src).mean() <= tol


def test_gif_first_frame(tmp_path: Path, astronaut: np.ndarray) -> None:
    first = Image.fromarray(astronaut[::4, ::4])
    second = Image.fromarray(255 - astronaut[::4, ::4])
    path = tmp_path / "anim.gif"
    first.save(path, save_all=True, append_images=[second], duration=100)
    img = _load(path)
    # Palette quantisation changes pixels a little; the first frame is close to `first`, far from `second`.
    assert np.abs(img.astype(int) - np.asarray(first)).mean() < 12
    assert np.abs(img.astype(int) - np.asarray(second)).mean() > 60


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "I;16", "1"])
def test_modes_become_rgb8(tmp_path: Path, astronaut: np.ndarray, mode: str) -> None:
    base = Image.fromarray(astronaut[::4, ::4])
    if mode == "I;16":
        grey = np.asarray(base.convert("L")).astype(np.uint16) * 257
        im = Image.fromarray(grey)
        assert im.mode.startswith("I;16")
    else:
        im = base.convert(mode)
    ext = "jpg" if mode == "CMYK" else ("tiff" if mode == "I;16" else "png")
    path = tmp_path / f"m.{ext}"
    im.save(path)
    img = _load(path)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    grey_ref = np.asarray(base.convert("L")).astype(int)
    grey_got = np.asarray(Image.fromarray(img).convert("L")).astype(int)
    # Every mode keeps the picture (1-bit only its outline, hence the loose bound).
    assert np.corrcoef(grey_ref.ravel(), grey_got.ravel())[0, 1] > (0.5 if mode == "1" else 0.95)


def test_alpha_is_laid_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    path = tmp_path / "transparent.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert (_load(path) == 255).all()


def test_16bit_array_and_float_array() -> None:
    a16 = np.full((4, 4, 3), 65535, np.uint16)
    assert (to_rgb8_array(a16) == 255).all()
    f = np.full((4, 4), 0.5, np.float32)
    assert to_rgb8_array(f).shape == (4, 4, 3) and abs(int(to_rgb8_array(f)[0, 0, 0]) - 128) <= 1


@pytest.mark.parametrize(
    "orientation,undo",
    [
        (3, Image.Transpose.ROTATE_180),
        (6, Image.Transpose.ROTATE_90),
        (8, Image.Transpose.ROTATE_270),
    ],
)
def test_exif_orientation_applied(
    tmp_path: Path, astronaut: np.ndarray, orientation: int, undo
) -> None:
    upright = Image.fromarray(
        astronaut[:, 64:448]
    )  # not square, so a missed rotation shows in the shape
    stored = upright.transpose(undo)  # what the camera wrote to the file
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "rotated.jpg"
    stored.save(path, quality=95, exif=exif)
    img = _load(path)
    assert img.shape == np.asarray(upright).shape
    assert np.abs(img.astype(int) - np.asarray(upright)).mean() < 6


def test_in_memory_sources(astronaut: np.ndarray) -> None:
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "PNG")
    sources = collect_sources(
        [("a.png", buf.getvalue()), ("b", Image.fromarray(astronaut)), astronaut]
    )
    assert [s.name for s in sources] == ["a.png", "b", "image_003"]
    for s in sources:
        img = load_photo(s).image
        assert (img == astronaut).all()


def test_duplicate_upload_names_made_unique(tmp_path: Path, astronaut: np.ndarray) -> None:
    sources = collect_sources([("x.png", astronaut), ("x.png", astronaut)])
    assert [s.name for s in sources] == ["x.png", "x (2).png"]


def test_bad_files_each_get_their_status(tmp_path: Path, astronaut: np.ndarray) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("this is not a photo")
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "JPEG", quality=90)
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    # A real decompression bomb: tiny on disk, 110 megapixels when decoded.
    Image.new("1", (11000, 10000)).save(tmp_path / "bomb.png")
    Image.fromarray(astronaut).save(tmp_path / "good.png")

    statuses = {}
    for src in collect_sources(tmp_path):
        try:
            load_photo(src)
            statuses[src.name] = "ok"
        except BadImageError as exc:
            assert src.name in str(exc)  # the message names the file
            statuses[src.name] = exc.code
    assert statuses == {
        "empty.jpg": "empty",
        "notes.jpg": "not_image",
        "cut.jpg": "truncated",
        "bomb.png": "too_large",
        "good.png": "ok",
    }


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(BadImageError) as err:
        load_photo(PhotoSource("gone.jpg", path=tmp_path / "gone.jpg"))
    assert err.value.code == "unreadable"


def test_folder_skips_sidecars_and_hidden(tmp_path: Path, astronaut: np.ndarray) -> None:
    Image.fromarray(astronaut).save(tmp_path / "b.png")
    Image.fromarray(astronaut).save(tmp_path / "a.jpg")
    (tmp_path / "edits.json").write_text("{}")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    assert [s.name for s in collect_sources(tmp_path)] == ["a.jpg", "b.png"]


def _pillow_reference(raw: bytes, min_side: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    """What Pillow alone decodes: the photo upright, at the draft scale `load_photo` asks for."""
    from PIL import ImageOps

    img = Image.open(io.BytesIO(raw))
    full = img.size
    if min_side and max(full) >= 2 * min_side:
        k = min_side / max(full)
        img.draft("RGB", (int(np.ceil(full[0] * k)), int(np.ceil(full[1] * k))))
    img.load()
    turned = ImageOps.exif_transpose(img)
    if turned.size != img.size:
        full = (full[1], full[0])
    return np.asarray(turned.convert("RGB")), full


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
@pytest.mark.parametrize(
    "options",
    [{"quality": 88}, {"quality": 92, "subsampling": 0}, {"quality": 80, "progressive": True}],
    ids=["420", "444", "progressive"],
)
def test_fast_jpeg_decode_gives_pillows_pixels(
    tmp_path: Path, astronaut: np.ndarray, orientation: int, options: dict
) -> None:
    # A non-square 2560x1792 photo (big enough for a half-scale decode), EXIF-turned.
    from pipeline import photos

    photo = np.asarray(Image.fromarray(astronaut[:, 40:400]).resize((2560, 1792)))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", exif=exif, **options)
    raw = buf.getvalue()
    path = tmp_path / "p.jpg"
    path.write_bytes(raw)
    assert photos._cv2_decodes_like_pillow()  # the route under test is the one taken here
    for min_side in (None, 1280, 600):
        expected, full = _pillow_reference(raw, min_side)
        got = load_photo(PhotoSource("p.jpg", path), min_side=min_side)
        assert got.image.flags["C_CONTIGUOUS"]
        assert got.image.shape == expected.shape
        assert np.array_equal(got.image, expected), (orientation, min_side)
        assert (got.full_size or got.image.shape[1::-1]) == full
    # The OpenCV route really ran (Pillow's route is the reference above).
    img = Image.open(io.BytesIO(raw))
    assert photos._fast_jpeg(raw, img, img.size, img.getexif()) is not None


def test_jpeg_with_trailing_bytes_or_grey_is_decoded_by_pillow(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    from pipeline import photos

    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "JPEG", quality=90)
    trailing = buf.getvalue() + b"camera maker notes"
    grey = io.BytesIO()
    Image.fromarray(astronaut).convert("L").save(grey, "JPEG", quality=90)
    for raw in (trailing, grey.getvalue()):
        img = Image.open(io.BytesIO(raw))
        assert photos._fast_jpeg(raw, img, img.size, img.getexif()) is None
        (tmp_path / "x.jpg").write_bytes(raw)
        got = load_photo(PhotoSource("x.jpg", tmp_path / "x.jpg")).image
        assert np.array_equal(got, _pillow_reference(raw, None)[0])
