"""Progress reporting shared by the CLI (tqdm bars on stderr) and the app (gr.Progress).

The pipeline reports progress as ``progress(stage, fraction)`` calls; this
module turns them into one tqdm bar per stage.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


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
            self._bar = tqdm(total=100, desc=stage, file=sys.stderr, leave=True, bar_format="{desc:<16} {percentage:3.0f}%|{bar}| {elapsed}")
        assert self._bar is not None
        self._bar.n = round(max(0.0, min(1.0, fraction)) * 100)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
