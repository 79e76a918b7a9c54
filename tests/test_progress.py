"""The one progress helper: fractions clamped to [0, 1], per-frame reports thinned to whole percents."""

from __future__ import annotations

import math

from pipeline.progress import Throttle, clamp_fraction, report


def test_fractions_are_clamped_once_for_every_front_end():
    assert [clamp_fraction(x) for x in (-0.5, 0, 0.25, 1, 1.7, math.inf, -math.inf)] == [
        0,
        0,
        0.25,
        1,
        1,
        1,
        0,
    ]
    assert clamp_fraction(math.nan) == 0.0


def test_report_clamps_and_tolerates_no_callback():
    seen: list[tuple[str, float]] = []
    report(None, "scanning", 0.5)  # nothing to call: nothing happens
    report(lambda stage, f: seen.append((stage, f)), "scanning", 1.2)
    assert seen == [("scanning", 1.0)]


def test_throttle_forwards_whole_percent_changes_and_every_new_stage():
    seen: list[tuple[str, float]] = []
    throttled = Throttle(lambda stage, f: seen.append((stage, f)))
    for i in range(1001):  # a render reporting every one of 1001 frames
        throttled("rendering", i / 1000)
    throttled("making GIF", 0.0)
    throttled("making GIF", 2.0)
    rendering = [f for stage, f in seen if stage == "rendering"]
    assert len(rendering) == 101 and rendering[0] == 0.0 and rendering[-1] == 1.0
    assert seen[-2:] == [("making GIF", 0.0), ("making GIF", 1.0)]
    Throttle(None)("rendering", 0.5)  # no callback: silently nothing
