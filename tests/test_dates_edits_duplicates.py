"""Capture dates, ages from a birth date, edits files and duplicate detection."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from pipeline.dates import age_between, exif_date, filename_date, format_age, parse_date
from pipeline.duplicates import DuplicateFinder, signature
from pipeline.edits import load_edits
from pipeline.errors import UsageError


def _exif_with(original: str) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = original
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG", exif=exif)
    return Image.open(io.BytesIO(buf.getvalue())).getexif()


def test_exif_date_read_and_implausible_rejected() -> None:
    assert exif_date(_exif_with("2014:05:24 10:11:12")) == (dt.date(2014, 5, 24), "")
    future = (dt.date.today() + dt.timedelta(days=400)).strftime("%Y:%m:%d 00:00:00")
    d, note = exif_date(_exif_with(future))
    assert d is None and "future" in note
    d, note = exif_date(_exif_with("1850:01:01 00:00:00"))
    assert d is None and "old" in note
    d, note = exif_date(_exif_with("0000:00:00 00:00:00"))
    assert d is None and note


@pytest.mark.parametrize(
    "name,expected,precision",
    [
        ("2014-05-24 birthday.jpg", dt.date(2014, 5, 24), "day"),
        ("20140524.jpg", dt.date(2014, 5, 24), "day"),
        ("IMG_20140524_101112.jpg", dt.date(2014, 5, 24), "day"),
        ("PXL_20200101_000000123.jpg", dt.date(2020, 1, 1), "day"),
        ("scan 1998.png", dt.date(1998, 7, 1), "year"),
        ("holiday_2014_05_24.heic", dt.date(2014, 5, 24), "day"),
        ("IMG_1234.jpg", None, ""),
        ("IMG_1987.jpg", None, ""),
        ("DSC01990.JPG", None, ""),
        ("1_edison_young_c1878.png", dt.date(1878, 7, 1), "year"),
        ("2_edison_middle_c1910s.png", dt.date(1910, 7, 1), "year"),
        ("grandpa 1820.jpg", None, ""),
        ("DSC01234567.jpg", None, ""),
        ("photo_9999.jpg", None, ""),
    ],
)
def test_filename_dates(name: str, expected: dt.date | None, precision: str) -> None:
    assert filename_date(name) == (expected, precision)


def test_exact_age_and_format() -> None:
    birth = dt.date(2012, 3, 1)
    assert age_between(birth, dt.date(2015, 9, 1)) == pytest.approx(3.5, abs=0.01)
    assert age_between(birth, dt.date(2012, 3, 1)) == 0
    assert format_age(age_between(birth, dt.date(2015, 9, 1)), exact=True) == "3 y 6 m"
    assert format_age(3.4, exact=False) == "3 y"
    assert age_between(dt.date(2000, 2, 29), dt.date(2001, 3, 1)) == pytest.approx(1.0)
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        parse_date("24/05/2014")


def test_edits_json_and_csv(tmp_path: Path) -> None:
    j = tmp_path / "edits.json"
    j.write_text(
        json.dumps(
            {
                "birth_date": "2012-03-01",
                "photos": {"a.jpg": {"age": 3.5, "include": False, "face": 1}},
            }
        )
    )
    e = load_edits(j)
    assert e.birth_date == dt.date(2012, 3, 1)
    assert (e.get("a.jpg").age, e.get("a.jpg").include, e.get("a.jpg").face) == (3.5, False, 1)
    assert e.get("other.jpg").age is None

    c = tmp_path / "edits.csv"
    c.write_text("file,include,age,face,date\na.jpg,yes,,,\nb.jpg,no,7,,2019-01-02\n")
    e = load_edits(c)
    assert e.get("a.jpg").include is True and e.get("a.jpg").age is None
    assert (
        e.get("b.jpg").include is False
        and e.get("b.jpg").age == 7
        and e.get("b.jpg").date == dt.date(2019, 1, 2)
    )


@pytest.mark.parametrize(
    "text,match",
    [
        ('{"photos": {"a.jpg": {"age": "old"}}}', "age must be a number"),
        ('{"photos": {"a.jpg": {"age": 300}}}', "out of range"),
        ('{"photos": {"a.jpg": {"include": "maybe"}}}', "include must be"),
        ('{"photos": [{"age": 3}]}', "needs a 'file'"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_edits_name_the_entry(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "e.json"
    p.write_text(text)
    with pytest.raises(UsageError, match=match):
        load_edits(p)


def _reencode(img: np.ndarray, quality: int, scale: float = 1.0) -> np.ndarray:
    im = Image.fromarray(img)
    if scale != 1.0:
        im = im.resize(
            (round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS
        )
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def test_duplicates_exact_and_near(astronaut: np.ndarray, hanks: np.ndarray) -> None:
    finder = DuplicateFinder()
    assert finder.check("orig.png", "h1", signature(astronaut)) is None
    assert finder.check("copy.png", "h1", signature(astronaut)) == "orig.png"  # same bytes
    assert finder.check("resaved.jpg", "h2", signature(_reencode(astronaut, 60))) == "orig.png"
    assert finder.check("small.jpg", "h3", signature(_reencode(astronaut, 85, 0.3))) == "orig.png"
    # A 12 MP enlargement (its thumbnail is made in two whole-factor steps) is the same photo.
    big = np.asarray(Image.fromarray(astronaut).resize((3464, 3464), Image.Resampling.BICUBIC))
    assert finder.check("big.jpg", "h8", signature(big)) == "orig.png"
    # Different pictures of the same scene are not duplicates.
    assert finder.check("flipped.png", "h4", signature(astronaut[:, ::-1].copy())) is None
    assert finder.check("crop.png", "h5", signature(astronaut[40:472, 40:472].copy())) is None
    darker = np.asarray(ImageEnhance.Brightness(Image.fromarray(astronaut)).enhance(0.5))
    # A brightness edit of the same photo is the same photo.
    assert finder.check("darker.png", "h6", signature(darker)) == "orig.png"
    assert finder.check("hanks.png", "h7", signature(hanks)) is None
