"""Progress reporting shared by the CLI (tqdm bars on stderr) and the app (gr.Progress).

The pipeline reports progress as ``progress(stage, fraction)`` calls (the
`Progress` type). Fractions are clamped to [0, 1] in one place,
`clamp_fraction`; `Throttle` forwards only whole-percent changes, and
`TqdmProgress` draws one tqdm bar per stage.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

from tqdm import tqdm

Progress = Callable[[str, float], None]


def clamp_fraction(fraction: float) -> float:
    """`fraction` as a float in [0, 1]; NaN (a stage with nothing to count) reads as 0."""
    value = float(fraction)
    if math.isnan(value):
        return 0.0
    return min(1.0, max(0.0, value))


def report(progress: Progress | None, stage: str, fraction: float) -> None:
    """Call `progress(stage, fraction)` with the fraction clamped; nothing when `progress` is None."""
    if progress is not None:
        progress(stage, clamp_fraction(fraction))


class Throttle:
    """A `Progress` that forwards to `progress` only when the stage or the whole percent changes.

    For loops that report per frame: the app and the terminal need at most a
    hundred updates per stage, not thousands.
    """

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self._last: tuple[str, int] | None = None

    def __call__(self, stage: str, fraction: float) -> None:
        if self.progress is None:
            return
        fraction = clamp_fraction(fraction)
        key = (stage, int(fraction * 100))
        if key != self._last:
            self._last = key
            self.progress(stage, fraction)


class TqdmProgress:
    """A ``progress(stage, fraction)`` callable drawing one bar per stage on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: tqdm | None = None
        self._stage = ""

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = tqdm(
                total=100,
                desc=stage,
                file=sys.stderr,
                leave=True,
                bar_format="{desc:<16} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
            )
        assert self._bar is not None
        self._bar.n = round(clamp_fraction(fraction) * 100)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
