"""End-to-end album analysis on real photos with the real models."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from pipeline.analysis import analyze, finalize
from pipeline.cli import main
from pipeline.dates import age_between
from pipeline.edits import Edits, PhotoEdit
from tests.support.scans import frozen

pytestmark = pytest.mark.slow  # whole albums through the real models

BIRTH = dt.date(1990, 6, 1)


def _save(
    path: Path,
    img: np.ndarray | Image.Image,
    *,
    date: str | None = None,
    orientation: int | None = None,
) -> None:
    im = img if isinstance(img, Image.Image) else Image.fromarray(img)
    exif = Image.Exif()
    if date:
        exif.get_ifd(0x8769)[36867] = date
    if orientation:
        exif[0x0112] = orientation
    kw = {"exif": exif} if len(exif) or date else {}
    if path.suffix.lower() in (".jpg", ".jpeg"):
        kw["quality"] = 92
    im.save(path, **kw)


def _rotated(img: np.ndarray, degrees: float, scale: float) -> np.ndarray:
    im = Image.fromarray(img)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
    return np.asarray(
        im.rotate(
            degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 128)
        )
    )


def _paste(
    background: np.ndarray, face: np.ndarray, where: tuple[int, int], side: int
) -> np.ndarray:
    out = Image.fromarray(background).copy()
    out.paste(Image.fromarray(face).resize((side, side), Image.Resampling.LANCZOS), where)
    return np.asarray(out)


@pytest.fixture(scope="module")
def album(tmp_path_factory, astronaut, hanks, group) -> Path:
    """Target: the astronaut (5 photos). Hanks appears in 3 (the first and biggest face),
    the group photo's people in 3 (two group shots and one with the astronaut pasted in).
    Plus a duplicate, a photo with no face and bad files."""
    from skimage import data

    d = tmp_path_factory.mktemp("album")
    big_hanks = np.asarray(Image.fromarray(hanks).resize((hanks.shape[1] * 2, hanks.shape[0] * 2)))
    _save(d / "a_hanks_1.jpg", big_hanks)
    _save(d / "a_hanks_2.jpg", hanks[:, ::-1].copy())
    _save(
        d / "a_hanks_3.png",
        np.asarray(ImageEnhance.Brightness(Image.fromarray(hanks[10:, 10:])).enhance(1.3)),
    )
    _save(d / "astro_1.jpg", astronaut, date="2010:06:01 12:00:00")
    _save(d / "astro_1_copy.jpg", _reencode(astronaut, 70))
    # Stored sideways with an EXIF orientation tag: only readable upright if the tag is honoured.
    upright = astronaut[:, 64:448][:, ::-1].copy()  # 512 high, 384 wide
    _save(d / "astro_2.jpg", np.asarray(Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)),
          date="2012:06:01 12:00:00", orientation=6)  # fmt: skip
    _save(d / "IMG_20140524_101010.jpg", _rotated(astronaut, 15, 0.8))
    _save(
        d / "astro_4.png",
        np.asarray(ImageEnhance.Contrast(Image.fromarray(astronaut[30:480, 20:470])).enhance(0.8)),
    )
    _save(d / "group_1.jpg", group)
    _save(d / "group_2.jpg", group[:, ::-1].copy())
    _save(d / "group_with_astro.jpg", _paste(group, astronaut[20:300, 120:400], (0, 0), 300))
    _save(d / "coffee.png", data.coffee())
    (d / "empty.jpg").write_bytes(b"")
    (d / "notes.jpg").write_text("not a photo")
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "JPEG")
    (d / "cut.jpg").write_bytes(buf.getvalue()[:5000])
    return d


def _reencode(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


@pytest.fixture(scope="module")
def result(album: Path):
    return analyze(album, birth_date=BIRTH)


def _by_name(analysis) -> dict:
    return {p.file: p for p in analysis.photos}


def test_every_photo_reported_none_dropped(result, album: Path) -> None:
    assert sorted(p.file for p in result.photos) == sorted(p.name for p in album.iterdir())


def test_bad_files_get_their_own_status(result) -> None:
    by = _by_name(result)
    assert by["empty.jpg"].status == "empty"
    assert by["notes.jpg"].status == "not_image"
    assert by["cut.jpg"].status == "truncated"
    assert by["coffee.png"].status == "no_face"
    for name in ("empty.jpg", "notes.jpg", "cut.jpg"):
        assert name in by[name].message and not by[name].include
    # No face: the code alone, worded by each audience's table, not a sentence of the analysis.
    assert by["coffee.png"].message == "" and not by["coffee.png"].include
    assert by["coffee.png"].reason == "no_face" and by["coffee.png"].recommended_remove


def test_target_is_the_person_in_most_photos(result) -> None:
    by = _by_name(result)
    astro = [
        "astro_1.jpg",
        "astro_2.jpg",
        "IMG_20140524_101010.jpg",
        "astro_4.png",
        "group_with_astro.jpg",
    ]
    for name in astro:
        p = by[name]
        assert p.status == "ok" and "another person" not in p.reason, (name, p.reason)
        assert p.identity_distance is not None and p.identity_distance < 0.6, name
    # In the group photo the pasted astronaut is chosen, not the biggest face.
    g = by["group_with_astro.jpg"]
    box = g.faces[g.chosen_face].box
    assert box[2] < 300 and box[3] < 300, box
    assert len(g.faces) >= 3
    # Hanks (first file, biggest face) and the group's people are flagged but kept.
    for name in ("a_hanks_1.jpg", "a_hanks_2.jpg", "a_hanks_3.png", "group_1.jpg", "group_2.jpg"):
        p = by[name]
        assert p.status == "ok" and p.recommended_remove and not p.include, name
        assert "another person" in p.reason and p.identity_distance > 0.6, (name, p.reason)
        assert p.aligned is not None  # the user can still choose to keep it


def test_duplicate_reported(result) -> None:
    p = _by_name(result)["astro_1_copy.jpg"]
    assert p.duplicate_of == "astro_1.jpg" and p.recommended_remove and "duplicate" in p.reason


def test_exif_orientation_honoured(result) -> None:
    p = _by_name(result)["astro_2.jpg"]
    assert p.status == "ok" and p.faces, p.message
    assert (p.width, p.height) == (384, 512)
    lm = p.aligned_landmarks
    # Upright aligned face: eyes above the mouth.
    assert lm[36:48, 1].mean() < lm[48:68, 1].mean()


def test_dates_and_exact_ages(result) -> None:
    by = _by_name(result)
    a1 = by["astro_1.jpg"]
    assert (a1.date, a1.date_source, a1.age_source) == (dt.date(2010, 6, 1), "exif", "date")
    assert a1.age == pytest.approx(20.0, abs=0.01)
    f = by["IMG_20140524_101010.jpg"]
    assert (f.date, f.date_source, f.age_source) == (dt.date(2014, 5, 24), "filename", "date")
    assert f.age == pytest.approx(23.98, abs=0.01)
    a4 = by["astro_4.png"]
    assert a4.date is None and a4.age_source == "estimate" and 10 < a4.age_estimate < 70


def test_order_by_age(result) -> None:
    usable = result.usable
    assert [p.order for p in usable] == list(range(len(usable)))
    ages = [p.age for p in usable]
    assert ages == sorted(ages)
    assert {p.file for p in usable} == {
        "astro_1.jpg",
        "astro_2.jpg",
        "IMG_20140524_101010.jpg",
        "astro_4.png",
        "group_with_astro.jpg",
    }
    assert result.photos[: len(usable)] == usable  # included photos first
    assert all(p.aligned.shape == (512, 512, 3) for p in usable)


def test_edits_win_and_refinalize_is_cheap(result) -> None:
    g = _by_name(result)["group_with_astro.jpg"]
    other = next(i for i in range(len(g.faces)) if i != g.chosen_face)
    edits = Edits(
        photos={
            "a_hanks_1.jpg": PhotoEdit(include=True, age=5.0),
            "astro_4.png": PhotoEdit(include=False),
            "group_with_astro.jpg": PhotoEdit(face=other),
            "astro_1.jpg": PhotoEdit(age=45.0),
        }
    )
    edited = finalize(result, birth_date=BIRTH, edits=edits)
    by = _by_name(edited)
    assert (
        by["a_hanks_1.jpg"].include
        and by["a_hanks_1.jpg"].age == 5.0
        and by["a_hanks_1.jpg"].age_source == "edit"
    )
    assert by["a_hanks_1.jpg"].recommended_remove  # still flagged, but kept by the user
    assert not by["astro_4.png"].include
    assert by["group_with_astro.jpg"].chosen_face == other
    assert edited.usable[0].file == "a_hanks_1.jpg" and edited.usable[-1].file == "astro_1.jpg"
    # Back to automatic choices.
    assert _by_name(finalize(edited, birth_date=BIRTH))["group_with_astro.jpg"].chosen_face != other


def test_finalize_leaves_the_scan_and_its_input_as_they_were(result) -> None:
    scan_records = list(result.state.scanned.values())
    scan_before, input_before = frozen(scan_records), frozen(result.photos)
    facts_before = (result.birth_date, result.birth_estimate, dict(result.timings), result.size)
    g = _by_name(result)["group_with_astro.jpg"]
    other = next(i for i in range(len(g.faces)) if i != g.chosen_face)
    new_date = dt.date(2001, 2, 3)
    edits = Edits(
        photos={
            "astro_4.png": PhotoEdit(include=False),  # leave a photo out
            "astro_2.jpg": PhotoEdit(date=new_date),  # change a date
            "group_with_astro.jpg": PhotoEdit(face=other),  # choose a face
        }
    )
    edited = finalize(result, birth_date=BIRTH, edits=edits)
    plain = finalize(result, birth_date=BIRTH)
    # Neither finalize changed the scan's records nor the analysis it was handed.
    assert frozen(scan_records) == scan_before and frozen(result.photos) == input_before
    assert (
        result.birth_date,
        result.birth_estimate,
        dict(result.timings),
        result.size,
    ) == facts_before
    # The two results are independent of each other, of the input and of the scan.
    ids = [{id(p) for p in a.photos} for a in (edited, plain, result)] + [
        set(map(id, scan_records))
    ]
    assert sum(len(i) for i in ids) == len(set().union(*ids))
    e, p = _by_name(edited), _by_name(plain)
    assert not e["astro_4.png"].include and p["astro_4.png"].include
    assert (e["astro_2.jpg"].date, e["astro_2.jpg"].date_source) == (new_date, "edit")
    assert (p["astro_2.jpg"].date, p["astro_2.jpg"].date_source) == (dt.date(2012, 6, 1), "exif")
    assert e["astro_2.jpg"].age == pytest.approx(age_between(BIRTH, new_date))
    assert p["astro_2.jpg"].age == pytest.approx(22.0, abs=0.01)
    assert e["group_with_astro.jpg"].chosen_face == other
    assert p["group_with_astro.jpg"].chosen_face == g.chosen_face
    # Without edits, finalizing again gives the same album.
    assert {**plain.to_json(), "timings": {}} == {**result.to_json(), "timings": {}}
    # Changing one result's records (lists included) reaches neither the other nor the scan.
    plain_before = frozen(plain.photos)
    e["astro_1.jpg"].warnings.append("changed by the caller")
    e["astro_1.jpg"].faces[0].flags.append("changed")
    e["astro_1.jpg"].age = 99.0
    assert frozen(plain.photos) == plain_before and frozen(scan_records) == scan_before
    # And a later finalize does not see them either.
    again = _by_name(finalize(edited, birth_date=BIRTH))["astro_1.jpg"]
    assert (
        again.age == pytest.approx(20.0, abs=0.01) and "changed by the caller" not in again.warnings
    )
    assert "changed" not in again.faces[0].flags


def test_cli_analyze_json_faces_and_exit_codes(album: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.json"
    faces = tmp_path / "faces"
    edits = tmp_path / "edits.csv"
    edits.write_text("file,include,age\nastro_4.png,no,\n")
    rc = main(["analyze", str(album), "--birth-date", "1990-06-01", "--edits", str(edits),
               "--json", str(out), "--faces-dir", str(faces), "--quiet"])  # fmt: skip
    assert rc == 0
    data = json.loads(out.read_text())
    keys = {"file", "status", "message", "faces", "chosen_face", "identity_distance", "recommended_remove",
            "reason", "duplicate_of", "date", "date_source", "age", "age_source", "order"}  # fmt: skip
    assert all(keys <= set(row) for row in data["photos"])
    rows = {r["file"]: r for r in data["photos"]}
    assert rows["astro_4.png"]["include"] is False
    assert rows["astro_1.jpg"]["age_source"] == "date"
    pngs = sorted(faces.glob("*.png"))
    assert len(pngs) >= 4 and Image.open(pngs[0]).size == (512, 512)
    assert "usable" in capsys.readouterr().out

    empty = tmp_path / "nofaces"
    empty.mkdir()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(empty / "red.png")
    assert main(["analyze", str(empty), "--quiet"]) == 3
    assert main(["analyze", str(tmp_path / "missing"), "--quiet"]) == 2
    assert main(["analyze", str(album), "--birth-date", "soon", "--quiet"]) == 2
