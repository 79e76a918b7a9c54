"""Timing of a time-lapse: how many frames each transition and each hold gets.

Pure functions, no images: the renderer, the report and the tests share them,
so the report states exactly what the video holds.

Frame layout for ``n`` keyframes, transitions ``j = 0 .. n-2`` with ``d_j``
frames each and ``h`` hold frames:

    for j in 0 .. n-2:   keyframe j (lambda 0), h repeats, d_j - 1 in-betweens
    finally:             keyframe n-1 (lambda 1 of the last transition), h repeats

so the video has ``sum(d_j) + 1 + n * h`` frames (the research's
``(n - 1) * d + 1`` when there are no holds).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameSpec:
    """One frame of the video.

    Attributes:
        index (int): 0-based frame number.
        transition (int): transition ``j`` (between keyframes j and j+1).
        lam (float): position in the transition, 0 at keyframe j, 1 at keyframe j+1.
        hold (bool): this frame repeats the previous one (a keyframe hold).
    """

    index: int
    transition: int
    lam: float
    hold: bool = False


@dataclass(frozen=True)
class Timing:
    """Frame counts of a whole video.

    Attributes:
        fps (int): frames per second.
        mode (str): ``frames`` (fixed frames per transition) or ``seconds_per_year``.
        transition_frames (tuple[int, ...]): ``d_j``, frames of transition j
            (keyframe j plus its in-betweens, holds excluded).
        hold_frames (int): extra frames repeating each keyframe.
        age_gaps (tuple[float, ...]): age difference of each transition, years.
    """

    fps: int
    mode: str
    transition_frames: tuple[int, ...]
    hold_frames: int
    age_gaps: tuple[float, ...]

    @property
    def keyframe_count(self) -> int:
        return len(self.transition_frames) + 1

    @property
    def frame_count(self) -> int:
        return sum(self.transition_frames) + 1 + self.keyframe_count * self.hold_frames

    @property
    def duration(self) -> float:
        """Length of the video in seconds (frame count / fps)."""
        return self.frame_count / self.fps

    @property
    def keyframe_indices(self) -> tuple[int, ...]:
        """Frame index at which each keyframe first appears."""
        out, i = [], 0
        for d in self.transition_frames:
            out.append(i)
            i += self.hold_frames + d
        out.append(i)
        return tuple(out)

    @property
    def keyframe_times(self) -> np.ndarray:
        """Time (seconds) at which each keyframe appears; the video timeline's knots."""
        return np.asarray(self.keyframe_indices, dtype=np.float64) / self.fps

    def lambdas(self, j: int) -> np.ndarray:
        """Interpolation positions of transition j's frames, in [0, 1)."""
        d = self.transition_frames[j]
        return np.arange(d, dtype=np.float64) / d

    def frames(self) -> Iterator[FrameSpec]:
        """Every frame of the video, in order (see the module docstring)."""
        i = 0
        last = len(self.transition_frames) - 1
        for j, d in enumerate(self.transition_frames):
            for k in range(d):
                yield FrameSpec(i, j, k / d)
                i += 1
                if k == 0:
                    for _ in range(self.hold_frames):
                        yield FrameSpec(i, j, 0.0, hold=True)
                        i += 1
        yield FrameSpec(i, last, 1.0)
        i += 1
        for _ in range(self.hold_frames):
            yield FrameSpec(i, last, 1.0, hold=True)
            i += 1

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "fps": self.fps,
            "frame_count": self.frame_count,
            "duration": round(self.duration, 6),
            "hold_frames": self.hold_frames,
            "transition_frames": list(self.transition_frames),
            "keyframe_frames": list(self.keyframe_indices),
        }


def plan_timing(
    ages: Sequence[float],
    *,
    fps: int,
    frames_between: int | None = 24,
    seconds_per_year: float | None = None,
    min_transition_s: float = 0.5,
    max_transition_s: float = 4.0,
    hold: float = 0.0,
) -> Timing:
    """Frames per transition and per hold.

    With ``seconds_per_year`` a transition lasts ``gap * seconds_per_year``
    seconds, clamped to ``[min_transition_s, max_transition_s]`` so that a
    two-week gap does not vanish and a twenty-year gap does not drag;
    otherwise every transition has ``frames_between`` frames.

    Args:
        ages (Sequence[float]): keyframe ages in video order, years.
        fps (int): frames per second.
        frames_between (int | None): frames per transition (keyframe + in-betweens).
        seconds_per_year (float | None): time per year of age gap; wins over
            ``frames_between`` when set.
        min_transition_s, max_transition_s (float): clamps for ``seconds_per_year``.
        hold (float): seconds each keyframe is held (repeated).

    Returns:
        Timing: the frame counts.

    Raises:
        ValueError: fewer than two ages, or a setting out of range (the
            renderer validates settings first, with user-facing messages).
    """
    if len(ages) < 2:
        raise ValueError("a time-lapse needs at least two keyframes")
    if fps <= 0:
        raise ValueError("fps must be positive")
    if hold < 0:
        raise ValueError("hold must not be negative")
    gaps = tuple(abs(float(b) - float(a)) for a, b in zip(ages[:-1], ages[1:]))
    if seconds_per_year is not None:
        if seconds_per_year <= 0:
            raise ValueError("seconds_per_year must be positive")
        if not 0 < min_transition_s <= max_transition_s:
            raise ValueError("need 0 < min_transition_s <= max_transition_s")
        lo = max(1, round(min_transition_s * fps))
        hi = max(lo, round(max_transition_s * fps))
        frames = tuple(int(min(hi, max(lo, round(g * seconds_per_year * fps)))) for g in gaps)
        mode = "seconds_per_year"
    else:
        if frames_between is None or frames_between < 1:
            raise ValueError("frames_between must be at least 1")
        frames = tuple(int(frames_between) for _ in gaps)
        mode = "frames"
    hold_frames = int(math.floor(hold * fps + 0.5))
    return Timing(
        fps=int(fps), mode=mode, transition_frames=frames, hold_frames=hold_frames, age_gaps=gaps
    )


def keyframe_share(lam: float | np.ndarray, gamma: float) -> float | np.ndarray:
    """Share of the nearest real keyframe in a frame: ``(cos(2 pi lam) gamma + gamma) / 2``.

    ``gamma`` at a keyframe (lam 0 or 1), falling to 0 midway (product.md step 7).
    """
    return (np.cos(2.0 * np.pi * np.asarray(lam, dtype=np.float64)) * gamma + gamma) / 2.0
