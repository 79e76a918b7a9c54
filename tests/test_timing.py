"""Timing of the video (pure functions) and render settings validation."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import UsageError
from pipeline.render import RenderSettings, keyframe_share, plan_timing


def test_fixed_frames_match_the_research_formula():
    t = plan_timing([1.0, 2.0, 5.0, 9.0], fps=30, frames_between=24)
    assert t.mode == "frames"
    assert t.transition_frames == (24, 24, 24)
    assert t.frame_count == (4 - 1) * 24 + 1
    assert t.duration == pytest.approx(t.frame_count / 30)
    assert t.keyframe_indices == (0, 24, 48, 72)
    np.testing.assert_allclose(t.keyframe_times, [0, 0.8, 1.6, 2.4])


def test_holds_repeat_every_keyframe():
    t = plan_timing([1.0, 2.0, 3.0], fps=25, frames_between=10, hold=0.5)
    assert t.hold_frames == 13  # 12.5 rounds half up
    assert t.frame_count == 2 * 10 + 1 + 3 * 13
    specs = list(t.frames())
    assert len(specs) == t.frame_count
    assert [s.index for s in specs] == list(range(t.frame_count))
    for start in t.keyframe_indices:
        first = specs[start]
        assert not first.hold and first.lam in (0.0, 1.0)
        assert all(s.hold for s in specs[start + 1 : start + 1 + t.hold_frames])
    # In-betweens of transition j have lambda k / d, in order.
    j0 = [s.lam for s in specs if s.transition == 0 and not s.hold]
    np.testing.assert_allclose(j0, np.arange(10) / 10)
    assert specs[-1].hold and specs[t.keyframe_indices[-1]].lam == 1.0


def test_seconds_per_year_gives_larger_gaps_more_frames_with_clamps():
    ages = [2.0, 2.04, 3.0, 6.0, 30.0]  # two weeks, one year, three years, 24 years
    t = plan_timing(ages, fps=30, seconds_per_year=0.5, min_transition_s=0.5, max_transition_s=4.0)
    assert t.mode == "seconds_per_year"
    two_weeks, one_year, three_years, decades = t.transition_frames
    assert two_weeks == 15  # clamped up to 0.5 s
    assert one_year == 15  # exactly 0.5 s
    assert three_years == 45
    assert decades == 120  # clamped down to 4 s
    assert one_year < three_years < decades
    assert t.frame_count == sum(t.transition_frames) + 1
    assert t.age_gaps == pytest.approx((0.04, 0.96, 3.0, 24.0))


def test_equal_ages_still_get_the_minimum_transition():
    t = plan_timing(
        [10.0, 10.0, 12.0],
        fps=24,
        seconds_per_year=1.0,
        min_transition_s=0.25,
        max_transition_s=3.0,
    )
    assert t.transition_frames == (6, 48)


def test_seconds_per_year_wins_over_frames_between():
    t = plan_timing([1.0, 3.0], fps=30, frames_between=24, seconds_per_year=1.0)
    assert t.transition_frames == (60,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frames_between": 0},
        {"frames_between": None},
        {"seconds_per_year": -1.0},
        {"seconds_per_year": 1.0, "min_transition_s": 2.0, "max_transition_s": 1.0},
        {"hold": -0.1},
    ],
)
def test_plan_timing_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        plan_timing([1.0, 2.0], fps=30, **kwargs)


def test_plan_timing_needs_two_keyframes():
    with pytest.raises(ValueError):
        plan_timing([1.0], fps=30)


def test_cosine_keyframe_share():
    lam = np.linspace(0, 1, 9)
    f = keyframe_share(lam, 0.5)
    assert f[0] == pytest.approx(0.5) and f[-1] == pytest.approx(0.5)
    assert f[4] == pytest.approx(0.0)
    np.testing.assert_allclose(f, f[::-1], atol=1e-12)
    assert np.all(np.diff(f[:5]) < 0)
    np.testing.assert_allclose(keyframe_share(lam, 0.0), 0.0)
    assert keyframe_share(0.25, 0.8) == pytest.approx(0.4)


def test_default_settings_are_valid():
    RenderSettings().validate()
    RenderSettings(
        method="crossfade",
        size=256,
        fps=24,
        seconds_per_year=0.5,
        hold=1.0,
        gamma=0.5,
        caption="year",
    ).validate()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 300}, "choose 256, 512 or 1024"),
        ({"fps": 15}, "choose 24 to 60"),
        ({"fps": 30.5}, "choose 24 to 60"),
        ({"frames_between": 0}, "from 1 to 600"),
        ({"frames_between": None}, "Set either frames between photos"),
        ({"seconds_per_year": 0.0}, "Seconds per year must be above 0"),
        (
            {"seconds_per_year": 1.0, "min_transition_s": 3.0, "max_transition_s": 2.0},
            "0 < minimum <= maximum",
        ),
        ({"hold": -1.0}, "Hold must be between 0 and 10"),
        ({"gamma": 50}, "for 50% use 0.5"),
        ({"gamma": -0.1}, "between 0 and 1"),
        ({"caption": "decade"}, "choose age, year, date or none"),
        ({"method": "magic"}, "choose one of: morph, crossfade, stylegan"),
        ({"gif_max_bytes": 10}, "at least 50000 bytes"),
    ],
)
def test_settings_validation_messages(kwargs, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RenderSettings(**kwargs).validate()
