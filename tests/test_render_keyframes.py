"""Keyframes are values: a render plan makes its own (time, matte, soft-edge colours) and the
keyframes handed in stay as they were."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import numpy as np
import pytest

from pipeline.render import RenderSettings, plan_render
from pipeline.render.daily import StreamedKeyframe
from pipeline.types import Keyframe

SIZE = 256


@pytest.fixture(scope="module")
def given(portrait_faces) -> list[Keyframe]:
    """Three real aligned faces at the output size (astronaut, Hanks, the young Edison): the
    plan resizes nothing, so its keyframes start out sharing these very image arrays."""
    edison = sorted(n for n in portrait_faces.photos if "edison" in n)[0]
    out = []
    for i, name in enumerate(("astronaut", "hanks", edison)):
        image, landmarks = portrait_faces.aligned(name, SIZE)
        date = dt.date(2000 + 10 * i, 6, 1)
        out.append(Keyframe(image, landmarks, 20.0 + 10 * i, date=date, label=f"{name}.png"))
    return out


def _state(kfs: list[Keyframe]) -> list[tuple]:
    """What a keyframe handed in must keep: its pixels, landmarks, and no matte, time or latent."""
    return [
        (
            hashlib.sha256(kf.image.tobytes()).hexdigest(),
            hashlib.sha256(kf.landmarks.tobytes()).hexdigest(),
            kf.matte,
            kf.time,
            kf.wplus,
        )
        for kf in kfs
    ]


@pytest.mark.parametrize(
    "method, background", [("morph", "soft"), ("crossfade", "white"), ("morph", "original")]
)
def test_rendering_a_plan_leaves_the_keyframes_handed_in_unchanged(
    given: list[Keyframe], method: str, background: str
) -> None:
    before = _state(given)
    assert all(s[2:] == (None, None, None) for s in before)
    settings = RenderSettings(method=method, size=SIZE, frames_between=3, background=background)
    plan = plan_render(given, settings)
    frames = list(plan.frames())
    assert len(frames) == plan.timing.frame_count
    assert _state(given) == before
    # The plan's own keyframes carry what the renderer learnt: the time in the video...
    assert all(mine is not theirs for mine, theirs in zip(plan.keyframes, given))
    times = [kf.time for kf in plan.keyframes]
    np.testing.assert_allclose(np.asarray(times, float), plan.timing.keyframe_times)
    if background == "original":
        assert all(kf.matte is None for kf in plan.keyframes)
        assert all(mine.image is theirs.image for mine, theirs in zip(plan.keyframes, given))
        return
    # ...and on a steady backdrop the person's matte, with the soft edge in the person's own
    # colours (`foreground_colours`): the plan's images, no longer the aligned photos.
    for kf in plan.keyframes:
        assert kf.matte is not None and kf.matte.shape == (SIZE, SIZE)
        assert 0.2 < float(kf.matte.mean()) < 0.9, kf.label
    pairs = zip(plan.keyframes, given)
    assert all(not np.array_equal(mine.image, theirs.image) for mine, theirs in pairs)
    # A frame at a keyframe is that photo on the backdrop (the top rows: no caption there).
    top = slice(0, SIZE // 3)
    first = plan.shown_keyframes()[0]
    np.testing.assert_array_equal(frames[0][top], first[top])


def test_keyframes_are_frozen_and_copied_with_changes(given: list[Keyframe]) -> None:
    kf = given[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        kf.time = 1.0  # type: ignore[misc]
    timed = kf.copy(time=2.5, label="other.png")
    assert (timed.time, timed.label, kf.time, kf.label) == (2.5, "other.png", None, kf.label)
    assert timed.image is kf.image and timed.date == kf.date
    with pytest.raises(TypeError, match="no field"):
        kf.copy(colour="red")


def test_photo_a_day_plan_gives_times_to_its_own_streamed_keyframes(
    given: list[Keyframe],
) -> None:
    before = _state(given)
    settings = RenderSettings(
        method="crossfade", size=SIZE, per_photo=2, blend=1, caption="none", background="soft"
    )
    plan = plan_render(given, settings)
    assert all(isinstance(kf, StreamedKeyframe) for kf in plan.keyframes)
    window = plan.keyframes[0].window
    assert window is not None and not window._packed  # still no pixels built when planned
    times = [kf.time for kf in plan.keyframes]
    np.testing.assert_allclose(np.asarray(times, float), plan.timing.keyframe_times)
    frames = list(plan.frames())
    assert len(frames) == 3 * 2 + 2
    assert _state(given) == before
    # A copy with a new time still builds its pixels from the window when read.
    kf = plan.keyframes[1]
    moved = kf.copy(time=9.0)
    assert isinstance(moved, StreamedKeyframe) and moved.window is window
    np.testing.assert_array_equal(moved.image, window.image(1))
    np.testing.assert_array_equal(moved.matte, window.matte(1))
    assert kf.time == times[1]
