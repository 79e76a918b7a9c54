"""The renderer end to end: MP4/GIF/contact sheet/report, holds, blending, captions, errors, memory."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.crop_store import AlignedCrop
from pipeline.errors import MethodUnavailableError, NotEnoughPhotosError, UsageError
from pipeline.methods.base import Keyframe, TransitionMethod, get_method, register_method
from pipeline.render import (
    RenderSettings,
    keyframe_share,
    keyframes_from_analysis,
    plan_render,
    render,
)
from pipeline.render.encode import probe, read_frames
from pipeline.types import Analysis, FaceRecord, PhotoRecord

SIZE = 256
BIRTH = dt.date(2000, 1, 15)
# Capture dates and the calendar ages they give with BIRTH.
DATES = [
    (dt.date(2003, 7, 20), "3 y 6 m"),
    (dt.date(2010, 3, 1), "10 y 1 m"),
    (dt.date(2021, 12, 31), "21 y 11 m"),
]


def _age(d: dt.date) -> float:
    return (d - BIRTH).days / 365.2425


@pytest.fixture(scope="module")
def aligned(portrait_faces) -> list[tuple[np.ndarray, np.ndarray]]:
    """512 px FFHQ crops and landmarks of three photos (astronaut, Hanks, the young Edison)."""
    edison = sorted(n for n in portrait_faces.photos if "edison" in n)[0]
    return [portrait_faces.aligned(name, 512) for name in ("astronaut", "hanks", edison)]


@pytest.fixture(scope="module")
def keyframes(aligned) -> list[Keyframe]:
    """Three keyframes at 256 px with exact dated ages (3.5, 10.1 and 22 years)."""
    settings = RenderSettings(size=SIZE)
    analysis = Analysis(photos=_records(aligned), size=512, birth_date=BIRTH)
    kfs = keyframes_from_analysis(analysis, settings.size)
    assert [kf.label for kf in kfs] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    return kfs


def _records(aligned, usable: int | None = None) -> list[PhotoRecord]:
    records = []
    for i, ((image, landmarks), (date, _)) in enumerate(zip(aligned, DATES)):
        ok = usable is None or i < usable
        records.append(
            PhotoRecord(
                file=f"p{i}.jpg",
                sha256=f"{i:064d}",
                faces=[FaceRecord(box=(0, 0, 1, 1), landmarks=landmarks)],
                chosen_face=0,
                date=date,
                date_source="exif",
                age=_age(date),
                age_source="date",
                include=ok,
                order=i if ok else None,
                crop=AlignedCrop(image, landmarks),
            )
        )
    return records


def test_keyframes_from_analysis_scale_crops_and_landmarks(aligned, keyframes):
    for (image, landmarks), kf in zip(aligned, keyframes):
        assert kf.image.shape == (SIZE, SIZE, 3) and kf.image.dtype == np.uint8
        halved = image.reshape(SIZE, 2, SIZE, 2, 3).mean(axis=(1, 3))
        assert np.abs(kf.image - halved).max() <= 1.0
        np.testing.assert_allclose(kf.landmarks, (landmarks + 0.5) / 2 - 0.5, atol=1e-4)
        assert kf.age_exact and kf.birth_date == BIRTH
    assert [kf.date for kf in keyframes] == [d for d, _ in DATES]


def test_fewer_than_two_usable_photos_is_a_clear_error(aligned, tmp_path):
    analysis = Analysis(photos=_records(aligned, usable=1), size=512, birth_date=BIRTH)
    with pytest.raises(NotEnoughPhotosError, match="needs at least 2"):
        keyframes_from_analysis(analysis, SIZE)
    with pytest.raises(NotEnoughPhotosError):
        render(analysis, settings=RenderSettings(size=SIZE), video=tmp_path / "x.mp4")
    assert not list(tmp_path.iterdir())


def test_mp4_has_exactly_the_reported_frames_and_duration(keyframes, tmp_path):
    settings = RenderSettings(
        size=SIZE,
        fps=24,
        seconds_per_year=0.1,
        min_transition_s=0.5,
        hold=0.25,
        background="original",
    )
    out = tmp_path / "out" / "video.mp4"
    result = render(
        keyframes,
        settings=settings,
        video=out,
        gif=tmp_path / "video.gif",
        contact_sheet=tmp_path / "sheet.png",
        report=tmp_path / "report.json",
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert report == json.loads(json.dumps(result.report))
    # Age gaps 6.6 and 11.8 years at 0.1 s/year and 24 fps; 6 hold frames per photo.
    assert report["transition_frames"] == [16, 28]
    assert report["timing"]["hold_frames"] == 6
    assert result.frame_count == report["frame_count"] == 16 + 28 + 1 + 3 * 6
    assert result.duration == pytest.approx(result.frame_count / 24)
    assert report["transitions"][1]["frames"] > report["transitions"][0]["frames"]

    info = probe(out, decode=True)
    assert (info.codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", SIZE, SIZE)
    assert info.frames == result.frame_count
    assert info.fps == 24
    assert info.duration == pytest.approx(report["duration"], abs=0.5 / 24 + 0.01)
    data = out.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")  # +faststart: playable while downloading

    frames = read_frames(out, SIZE).astype(np.int16)
    assert len(frames) == result.frame_count
    for k in report["timing"]["keyframe_frames"]:
        hold = frames[k : k + 7]
        assert np.abs(hold - hold[0]).mean() < 1.0  # the photo is held
        assert (
            np.abs(frames[k] - keyframes[report["timing"]["keyframe_frames"].index(k)].image).mean()
            < 4.0
        )

    gif = Image.open(result.gif)
    assert gif.format == "GIF" and gif.n_frames > 10
    assert result.gif.stat().st_size <= settings.gif_max_bytes
    sheet = Image.open(result.contact_sheet)
    assert sheet.format == "PNG" and sheet.width > 3 * 150
    assert [k["caption"] for k in report["keyframes"]] == [text for _, text in DATES]


def test_gif_alone_is_shrunk_under_its_cap(keyframes, tmp_path):
    settings = RenderSettings(
        method="crossfade", size=SIZE, frames_between=20, gif_max_bytes=60_000
    )
    result = render(keyframes, settings=settings, video=None, gif=tmp_path / "small.gif")
    assert result.video is None and result.report["video"] is None
    assert result.gif is not None and result.gif.stat().st_size <= 60_000
    gif = result.report["gif"]
    assert gif["under_cap"] and (gif["side"] < SIZE or gif["fps"] < 15)
    assert Image.open(result.gif).n_frames > 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.gif"]


def _max_jump(frames: Iterator[np.ndarray]) -> float:
    prev, diffs = None, []
    for frame in frames:
        cur = frame.astype(np.int16)
        if prev is not None:
            diffs.append(float(np.abs(cur - prev).mean()))
        prev = cur
    moving = np.array([d for d in diffs if d > 0])
    return float(moving.max() / np.median(moving))


@pytest.mark.parametrize(("method", "gamma"), [("morph", None), ("morph", 0.5), ("crossfade", 0.3)])
def test_consecutive_frames_never_jump(keyframes, method, gamma):
    settings = RenderSettings(
        method=method, size=SIZE, frames_between=10, hold=0.1, gamma=gamma, caption="none"
    )
    assert _max_jump(plan_render(keyframes, settings).frames()) < 3.0


def test_the_real_photo_is_blended_in_for_every_method(keyframes):
    settings = RenderSettings(
        method="crossfade",
        size=SIZE,
        frames_between=8,
        gamma=0.5,
        caption="none",
        background="original",
    )
    frames = list(plan_render(keyframes, settings).frames())
    a, b = keyframes[0].image.astype(np.float64), keyframes[1].image.astype(np.float64)
    for k in (1, 2, 5, 7):
        lam = k / 8
        share = float(keyframe_share(lam, 0.5))
        generated = (1 - lam) * a + lam * b
        real = a if lam < 0.5 else b
        expected = share * real + (1 - share) * generated
        assert np.abs(frames[k] - expected).max() <= 1.01
    # Midway the frame is purely generated.
    np.testing.assert_allclose(frames[4], (a + b) / 2, atol=1.01)


def test_captions_change_only_the_caption_area_and_say_the_exact_age(keyframes):
    base = RenderSettings(size=SIZE, frames_between=6, caption="none")
    with_age = RenderSettings(size=SIZE, frames_between=6, caption="age")
    plain = list(plan_render(keyframes, base).frames())
    plan = plan_render(keyframes, with_age)
    captioned = list(plan.frames())
    assert len(plain) == len(captioned)
    for p, c in zip(plain, captioned):
        np.testing.assert_array_equal(p[: int(SIZE * 0.7)], c[: int(SIZE * 0.7)])
        assert np.abs(p[int(SIZE * 0.8) :].astype(int) - c[int(SIZE * 0.8) :]).sum() > 0
    texts = [plan.captioner.text(j, lam) for j in range(2) for lam in np.arange(6) / 6] + [
        plan.captioner.text(1, 1.0)
    ]
    assert texts[0] == "3 y 6 m" and texts[6] == "10 y 1 m" and texts[-1] == "21 y 11 m"
    years = [int(t.split(" y")[0]) for t in texts]
    assert years == sorted(years) and len(set(texts)) == len(
        texts
    )  # the age counts up, month by month
    # Pixels: the first frame is the photo with "3 y 6 m" drawn on it, not any other age.
    first = captioned[0]
    shown = plan.shown_keyframes()[0]  # the photo on the default steady backdrop
    np.testing.assert_array_equal(first, plan.captioner.draw(shown.copy(), "3 y 6 m"))
    assert np.any(first != plan.captioner.draw(shown.copy(), "3 y 7 m"))


def test_year_captions_and_their_size_scale_with_the_frame(keyframes):
    plan = plan_render(keyframes, RenderSettings(size=SIZE, frames_between=4, caption="year"))
    assert plan.captioner.keyframe_texts() == ["2003", "2010", "2021"]
    big = plan_render(keyframes, RenderSettings(size=512, frames_between=4, caption="year"))
    heights = []
    for p in (plan, big):
        blank = np.zeros((p.settings.size,) * 2 + (3,), np.uint8)
        rows = np.nonzero(p.captioner.draw(blank, "2003").any(axis=(1, 2)))[0]
        heights.append(rows.max() - rows.min())
    assert heights[1] == pytest.approx(2 * heights[0], rel=0.15)


def test_year_captions_need_a_date(keyframes):
    undated = [Keyframe(kf.image, kf.landmarks, kf.age, label=kf.label) for kf in keyframes]
    with pytest.raises(UsageError, match="capture date"):
        plan_render(undated, RenderSettings(size=SIZE, caption="year"))


class _NeedsTheMoon(TransitionMethod):
    name = "test-needs-the-moon"
    label = "Unavailable test method"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return False, "needs weights that only exist on the moon"

    def prepare(self, keyframes: list[Keyframe], *, size: int) -> None:
        raise AssertionError("an unavailable method must not be prepared")

    def transition(self, j: int, lambdas: np.ndarray) -> Iterator[np.ndarray]:
        raise AssertionError("an unavailable method must not render")


def test_unavailable_method_stops_before_any_work(keyframes, tmp_path):
    register_method(_NeedsTheMoon)
    assert get_method("test-needs-the-moon") is _NeedsTheMoon
    with pytest.raises(MethodUnavailableError, match="needs weights that only exist on the moon"):
        render(
            keyframes,
            settings=RenderSettings(method="test-needs-the-moon", size=SIZE),
            video=tmp_path / "a" / "x.mp4",
        )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"video": Path("x.avi")}, "must end in .mp4"),
        ({"video": None, "gif": Path("x.png")}, "must end in .gif"),
        ({"video": None}, "Nothing to write"),
    ],
)
def test_bad_output_paths_are_usage_errors(keyframes, tmp_path, kwargs, message):
    kwargs = {k: (tmp_path / v if v else v) for k, v in kwargs.items()}
    with pytest.raises(UsageError, match=message):
        render(keyframes, settings=RenderSettings(size=SIZE), **kwargs)


def _peak_bytes(keyframes, tmp_path: Path, frames_between: int) -> tuple[int, int]:
    settings = RenderSettings(size=SIZE, frames_between=frames_between, caption="none")
    tracemalloc.start()
    try:
        result = render(keyframes, settings=settings, video=tmp_path / f"m{frames_between}.mp4")
        return tracemalloc.get_traced_memory()[1], result.frame_count
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_video_length(keyframes, tmp_path, monkeypatch):
    from pipeline.methods.morph import pool

    # Frames are built one at a time here: with the frame pool, whether its threads
    # happen to overlap at some instant (a few MB of intermediates each) depends on
    # the machine's load, not on the video's length. The pool's own bound is tested
    # in test_morph (frames in flight) and test_matte (frames built ahead equal frames
    # built one by one).
    monkeypatch.setattr(pool, "workers", lambda: 1)
    # Both long enough for the morph's doubled keyframe copies (a fixed cost per
    # transition, `_DOUBLE_FROM`), so the two peaks differ only by the video's length.
    short, n_short = _peak_bytes(keyframes, tmp_path, 10)
    long, n_long = _peak_bytes(keyframes, tmp_path, 92)
    frame_bytes = SIZE * SIZE * 3
    assert n_long - n_short > 150
    # Holding the extra frames would cost 150 * 196 kB = 29 MB; allow a few frames of slack.
    assert long - short < 12 * frame_bytes, (long, short, frame_bytes)
