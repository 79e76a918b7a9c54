"""Photo-a-day renders stream: pixels of a few photos at a time, memory flat in album size."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from pipeline.render import RenderSettings, plan_render, render
from pipeline.render.daily import StreamedKeyframe
from pipeline.types import Keyframe

SIZE = 256


@pytest.fixture(scope="module")
def faces(portrait_faces) -> list[Keyframe]:
    """Real aligned faces (astronaut, Hanks, the young Edison) at 512 px, dated a day apart."""
    edison = sorted(n for n in portrait_faces.photos if "edison" in n)[0]
    out = []
    for i, name in enumerate(("astronaut", "hanks", edison)):
        image, landmarks = portrait_faces.aligned(name, 512)
        out.append(
            Keyframe(image=image, landmarks=landmarks, age=30.0, date=dt.date(2020, 1, 1 + i))
        )
    return out


def album(faces: list[Keyframe], count: int) -> list[Keyframe]:
    """`count` photos: the faces shifted a pixel or two each day, dates in reverse of the list."""
    out = []
    for i in range(count):
        kf = faces[i % len(faces)]
        out.append(
            dataclasses.replace(
                kf,
                image=np.roll(kf.image, i % 5, axis=1).copy(),
                date=dt.date(2020, 1, 1) + dt.timedelta(days=count - i),
                label=f"day{i:03d}.jpg",
            )
        )
    return out


def test_keyframes_hold_no_pixels_until_read(faces: list[Keyframe]) -> None:
    birth = dt.date(1990, 1, 1)
    photos = [dataclasses.replace(p, birth_date=birth) for p in album(faces, 12)]
    settings = RenderSettings(
        method="crossfade", size=SIZE, per_photo=2, blend=1, caption="none", background="original"
    )
    plan = plan_render(photos, settings)
    assert all(isinstance(kf, StreamedKeyframe) for kf in plan.keyframes)
    assert [kf.label for kf in plan.keyframes] == [p.label for p in reversed(photos)]  # by date
    window = plan.keyframes[0].window
    assert window is not None and not window._packed  # nothing built while planning
    frames = list(plan.frames())
    assert len(frames) == 12 * 2 + 11
    # A keyframe read again gives the same pixels, built again from its photo.
    first = plan.keyframes[0].image
    for kf in plan.keyframes[1:6]:
        kf.image  # noqa: B018 - reading builds pixels and pushes the first out of the window
    assert np.array_equal(plan.keyframes[0].image, first)
    np.testing.assert_array_equal(frames[0], first)
    # A photo's facts travel with it (the renderer's time, the eye lock's ratio, the birth
    # date given), also to its copy on the backdrop.
    times = [kf.time for kf in plan.keyframes]
    assert all(t is not None for t in times) and times == sorted(times)
    for kf in plan.keyframes:
        shown = kf.on_backdrop()
        assert kf.eye_ratio is not None and kf.birth_date == birth
        facts = ("label", "date", "birth_date", "time", "eye_ratio", "key")
        assert [getattr(shown, f) for f in facts] == [getattr(kf, f) for f in facts]
    # An explicit image (dataclasses.replace) is kept as given.
    fixed = dataclasses.replace(plan.keyframes[3], image=np.zeros((SIZE, SIZE, 3), np.uint8))
    assert not fixed.image.any() and plan.keyframes[3].image.any()


def _peak_bytes(photos: list[Keyframe], tmp_path: Path) -> int:
    """Peak traced memory of a photo-a-day render on a soft backdrop (mattes and composites)."""
    settings = RenderSettings(
        method="crossfade", size=SIZE, per_photo=2, blend=1, average=2, caption="date"
    )
    tracemalloc.start()
    try:
        result = render(photos, settings=settings, video=tmp_path / f"d{len(photos)}.mp4")
        assert result.frame_count == len(photos) * 3 - 1
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_is_flat_in_album_size(faces: list[Keyframe], tmp_path: Path) -> None:
    """24 more photos (each held by the caller at 512 px) cost the render only their compressed
    mattes: holding their crops, locked images, mattes or composites at 256 px would take
    24 x (3 x 196 kB + 262 kB) = 20 MB (the code before streaming: 15 MB more)."""
    # Both videos are long enough to fill the encoder's queue (8 frames): only the album differs.
    small, large = album(faces, 12), album(faces, 36)
    _peak_bytes(small, tmp_path)  # models and the font loaded once
    grown = _peak_bytes(large, tmp_path) - _peak_bytes(small, tmp_path)
    frame_bytes = SIZE * SIZE * 3
    assert grown < 12 * frame_bytes, f"{grown / 1e6:.1f} MB more for 24 more photos"
