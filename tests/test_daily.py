"""Photo-a-day mode: every photo briefly, in date order, eyes locked on the canonical positions."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import faces
from pipeline.analysis import analyze
from pipeline.cli import main
from pipeline.render import RenderSettings, plan_render, render
from pipeline.render.encode import probe
from pipeline.types import Keyframe

START = dt.date(2021, 3, 1)
# Capture day of each file: the names are not in date order.
DAYS = {"a.jpg": 4, "b.jpg": 0, "c.jpg": 2, "d.jpg": 5, "e.jpg": 1, "f.jpg": 3}


@pytest.fixture(scope="module")
def daily_album(tmp_path_factory, astronaut: np.ndarray) -> Path:
    """Six 640x480 selfies of one face, framed a little differently each day, dated in EXIF."""
    folder = tmp_path_factory.mktemp("daily")
    rng = np.random.default_rng(3)
    face = Image.fromarray(astronaut)
    for name, day in DAYS.items():
        angle, scale = float(rng.uniform(-8, 8)), float(rng.uniform(0.9, 1.15))
        dx, dy = (float(v) for v in rng.uniform(-25, 25, 2))
        img = face.rotate(angle, resample=Image.Resampling.BICUBIC, translate=(dx, dy))
        side = round(512 * scale)
        canvas = Image.new("RGB", (640, 480), (90, 110, 130))
        canvas.paste(
            img.resize((side, side), Image.Resampling.LANCZOS), (320 - side // 2, 260 - side // 2)
        )
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = f"{START + dt.timedelta(days=day):%Y:%m:%d} 08:00:00"
        canvas.save(folder / name, quality=92, exif=exif)
    return folder


@pytest.mark.slow
def test_photo_a_day_render(daily_album: Path, tmp_path: Path) -> None:
    analysis = analyze(daily_album, workers=0)
    assert len(analysis.usable) == 6
    # The original backgrounds, so that shown frames are the aligned photos pixel for pixel
    # (the default soft backdrop recomposites what lies outside the person).
    settings = RenderSettings(
        method="crossfade", size=512, per_photo=3, blend=2, caption="none", background="original"
    )
    plan = plan_render(analysis, settings)
    by_date = sorted(DAYS, key=DAYS.get)
    assert [kf.label for kf in plan.keyframes] == by_date

    frames = list(plan.frames())
    assert len(frames) == 6 * 3 + 5 * 2
    for k, kf in enumerate(plan.keyframes):
        shown = frames[k * 5 : k * 5 + 3]  # 3 frames of the photo, then 2 blend frames
        for frame in shown:
            np.testing.assert_array_equal(frame, kf.image)
        canonical = np.stack(faces.canonical_eye_positions(512, kf.eye_ratio))
        # The photo's own landmarks, carried through its alignment and the eye lock.
        np.testing.assert_allclose(np.stack(faces.eye_centres(kf.landmarks)), canonical, atol=1e-3)
        # And the pixels agree: landmarks found again in the shown frame put the eyes there too.
        found = faces.face_landmarks(shown[0], faces.aligned_face_box(512))
        assert np.abs(np.stack(faces.eye_centres(found)) - canonical).max() < 1.0, kf.label
    for k in range(5):  # blends sit between the two photos
        mid = frames[k * 5 + 3].astype(np.float32)
        a, b = (plan.keyframes[i].image.astype(np.float32) for i in (k, k + 1))
        assert np.abs(mid - (a * 2 / 3 + b / 3)).max() <= 1.0

    result = render(analysis, settings=settings, video=tmp_path / "daily.mp4")
    assert result.frame_count == 28 and probe(tmp_path / "daily.mp4").frames == 28
    assert result.report["timing"]["per_photo"] == 3 and result.report["timing"]["blend"] == 2
    assert [kf["label"] for kf in result.report["keyframes"]] == by_date
    assert [kf["frame"] for kf in result.report["keyframes"]] == [0, 5, 10, 15, 20, 25]


def test_photo_a_day_command_line(daily_album: Path, tmp_path: Path, capsys) -> None:
    video = tmp_path / "v.mp4"
    rc = main(["render", str(daily_album), "-o", str(video), "--per-photo", "2", "--blend", "1",
               "--average", "2", "--method", "crossfade", "--size", "256", "--no-cache",
               "--workers", "0", "--quiet", "--caption", "none"])  # fmt: skip
    assert rc == 0
    assert probe(video).frames == 6 * 2 + 5 * 1
    assert main(["render", str(daily_album), "-o", str(video), "--blend", "3", "--quiet"]) == 2
    assert "only apply with --per-photo" in capsys.readouterr().err


def test_photo_a_day_settings_are_checked() -> None:
    from pipeline.errors import UsageError

    for bad in ({"per_photo": 0}, {"per_photo": 2, "blend": -1}, {"per_photo": 2, "average": 0}):
        with pytest.raises(UsageError):
            RenderSettings(**bad).validate()
    RenderSettings(per_photo=1, blend=0).validate()


def test_keyframes_given_are_put_in_timeline_order(portrait_faces) -> None:
    """Dated photos by date, and each undated one where its age puts it among them (as the
    analysis' timeline places undated photos), not after the dated ones."""
    image, landmarks = portrait_faces.aligned("astronaut", 256)

    def photo(label: str, age: float, day: int | None) -> Keyframe:
        date = None if day is None else START + dt.timedelta(days=day)
        return Keyframe(image=image, landmarks=landmarks, age=age, date=date, label=label)

    given = [
        photo("undated-young", 1.0, None),
        photo("d3", 4.0, 3 * 365),
        photo("undated-mid", 2.5, None),
        photo("d1", 2.0, 365),
        photo("undated-old", 9.0, None),
        photo("d2", 3.0, 2 * 365),
        photo("undated-mid-2", 2.2, None),
        photo("d0", 1.5, 0),
    ]
    settings = RenderSettings(method="crossfade", size=256, per_photo=2, blend=1)
    plan = plan_render(given, settings)
    assert [kf.label for kf in plan.keyframes] == [
        "undated-young", "d0", "d1", "undated-mid-2", "undated-mid", "d2", "d3", "undated-old",
    ]  # fmt: skip


@pytest.mark.slow
def test_photo_a_day_order_is_the_reviews(edison_dir: Path, tmp_path: Path) -> None:
    """Edison at about 31 and 75, dated by their names, and at about 65 undated: the review
    cards and the photo-a-day video both put the undated photo between the two."""
    from pipeline.webapp.cards import review_cards
    from pipeline.webapp.review import review_album

    album = tmp_path / "album"
    album.mkdir()
    names = {
        "1_edison_young_c1878.png": "edison_1878.png",
        "2_edison_middle_c1910s.png": "edison_undated.png",
        "3_edison_c1922.png": "edison_1922.png",
    }
    for original, name in names.items():
        shutil.copy(edison_dir / original, album / name)
    review = review_album([str(p) for p in sorted(album.iterdir())], max_photos=None)
    undated = next(p for p in review.analysis.photos if p.file == "edison_undated.png")
    assert undated.date is None and undated.usable
    cards = re.findall(r'<div class="card[^"]*" data-file="([^"]+)"', review_cards(review)["html"])
    assert cards == ["edison_1878.png", "edison_undated.png", "edison_1922.png"]
    settings = RenderSettings(method="crossfade", size=256, per_photo=2, blend=1, caption="age")
    plan = plan_render(review.analysis, settings)
    assert [kf.label for kf in plan.keyframes] == cards
