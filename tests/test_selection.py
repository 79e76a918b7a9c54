"""The proposed selection: spread along the timeline, best face per period; 80 photos give a proposal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.crop_store import AlignedCrop
from pipeline.selection import face_quality, propose_selection, sharpness
from pipeline.types import FaceRecord, PhotoRecord


def _record(
    name: str, age: float, crop: np.ndarray, eye: float = 60.0, yaw: float = 0.0
) -> PhotoRecord:
    face = FaceRecord(
        box=(0, 0, 10, 10), landmarks=np.zeros((68, 2), np.float32), eye_distance=eye, yaw=yaw
    )
    return PhotoRecord(
        file=name,
        faces=[face],
        chosen_face=0,
        crop=AlignedCrop(crop, face.landmarks),
        age=age,
        age_source="edit",
    )


@pytest.fixture(scope="module")
def crop(astronaut: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.resize(astronaut[20:300, 120:400], (256, 256)))


def test_sharpness_and_quality_prefer_large_sharp_frontal_faces(crop: np.ndarray) -> None:
    blurred = cv2.GaussianBlur(crop, (0, 0), 3)
    assert sharpness(crop) > 3 * sharpness(blurred)
    photos = [
        _record("sharp.jpg", 10, crop),
        _record("blurred.jpg", 10, blurred),
        _record("small.jpg", 10, crop, eye=15),
        _record("turned.jpg", 10, crop, yaw=40),
    ]
    q = dict(zip((p.file for p in photos), face_quality(photos)))
    assert q["sharp.jpg"] == max(q.values())
    assert (
        q["blurred.jpg"] < q["sharp.jpg"]
        and q["small.jpg"] < q["sharp.jpg"]
        and q["turned.jpg"] < q["sharp.jpg"]
    )
    flagged = _record("flagged.jpg", 10, crop)
    flagged.recommended_remove = True
    assert face_quality([*photos, flagged])[-1] < min(q.values())


def test_one_best_face_per_period_in_timeline_order(crop: np.ndarray) -> None:
    blurred = cv2.GaussianBlur(crop, (0, 0), 3)
    photos = []
    # Ages 1 to 49 in 5 periods of 9.6 years; two photos in each, the sharp one should win.
    for period in range(5):
        photos.append(_record(f"p{period}_blur.jpg", period * 10 + 1, blurred))
        photos.append(_record(f"p{period}_sharp.jpg", period * 10 + 5, crop))
    photos.append(_record("last.jpg", 49, blurred))  # in the last period, but blurred
    chosen = propose_selection(photos, 5)
    names = [p.file for p in chosen]
    assert names == [f"p{i}_sharp.jpg" for i in range(5)]
    assert [p.age for p in chosen] == sorted(p.age for p in chosen)
    assert propose_selection(photos, 50) == sorted(photos, key=lambda p: p.age)  # fewer than n: all


def test_empty_periods_leave_slots_to_faces_far_from_the_chosen(crop: np.ndarray) -> None:
    # Ten photos at ages 0-1 and one at 40: with 4 slots, the periods in between are empty, so the
    # extra slots go to the photos farthest in time from those already kept.
    photos = [_record(f"young{i}.jpg", i * 0.1, crop) for i in range(10)] + [
        _record("old.jpg", 40, crop)
    ]
    chosen = propose_selection(photos, 4)
    assert len(chosen) == 4 and chosen[-1].file == "old.jpg" and chosen[0].age == 0.0
    assert len({p.file for p in chosen}) == 4


@pytest.mark.slow
def test_80_photos_give_a_proposed_selection_not_an_error(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    """80 different shots of one face, dated over 40 years: the review proposes 30 spread over them."""
    from pipeline.webapp import messages, review, uploads

    img = Image.fromarray(astronaut)
    files = []
    start = dt.date(1975, 1, 1)
    for i in range(80):
        x, y = 16 * (i % 8), 16 * ((i // 8) % 5)
        shot = img.crop((x, y, x + 392, y + 392)).resize((352, 352))
        if i >= 40:
            shot = shot.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        when = start + dt.timedelta(days=round(i * 40 * 365.25 / 79))
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = when.strftime("%Y:%m:%d 12:00:00")
        path = tmp_path / f"shot_{i:02d}.jpg"
        shot.save(path, exif=exif, quality=92)
        files.append(str(path))
    r = review.review_album(files, birth_date="1970-01-01")
    usable = r.analysis.usable
    assert (
        len(usable) == uploads.MAX_VIDEO_PHOTOS
        and len(r.not_selected) >= 80 - uploads.MAX_VIDEO_PHOTOS - 10
    )
    ages = [p.age for p in usable]
    assert ages[0] < 7 and ages[-1] > 38  # the whole span is kept
    gaps = np.diff(ages)
    assert gaps.max() < 4.0  # spread evenly, no large hole (40 years / 30 photos ~ 1.4)
    notes = dict(r.left_out())
    assert all("proposed" in notes[f] or "swap" in notes[f] for f in r.not_selected)
    assert all(
        messages.photo_note(p, r).startswith("Left out to keep the video")
        for p in r.analysis.photos
        if p.file in r.not_selected
    )
    # The visitor swaps one in: their "keep" wins over the proposal.
    from pipeline.webapp.table import to_edits

    swapped = r.not_selected[0]
    r2 = review.review_album(
        files, birth_date="1970-01-01", edits=to_edits({swapped: {"include": True}})
    )
    assert swapped in {p.file for p in r2.analysis.usable} and not r2.scanned


@pytest.mark.slow
def test_cli_select_and_all(edison_dir: Path, tmp_path: Path, capsys) -> None:
    import json

    from pipeline.cli import main

    report = tmp_path / "r.json"
    common = ["-o", str(tmp_path / "v.mp4"), "--size", "256", "--frames-between", "2", "--workers", "0",
              "--cache-dir", str(tmp_path / "cache"), "--quiet", "--report", str(report)]  # fmt: skip
    assert main(["render", str(edison_dir), "--select", "2", *common]) == 0
    assert len(json.loads(report.read_text())["keyframes"]) == 2
    err = capsys.readouterr().err
    assert "selected 2 of 3 usable photos" in err and "not among the 2 photos selected" in err
    assert main(["render", str(edison_dir), "--all", *common]) == 0
    assert len(json.loads(report.read_text())["keyframes"]) == 3
    assert main(["render", str(edison_dir), "--select", "1", *common]) == 2
