"""Imagined keyframes: where the video goes beyond the photos (SAM age transformation).

Two cases add keyframes that no photo shows:

- **Extending** an album (`extend_before` / `extend_after`): from the first
  (last) photo, keyframes about every `age_step` years down (up) to the target age.
- **A lifespan from one photo**: keyframes across `lifespan` (default 5 to 80),
  with the real photo at its own age among them.

Here they are planned only (ages, labels, where they come from); their faces and
latents are made by SAM when the video is prepared
(``pipeline.methods.stylegan.aging``). Until then an imagined keyframe's image is
the photo it is imagined from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence

import numpy as np

from pipeline.errors import MethodUnavailableError, UsageError
from pipeline.types import ImaginedFrom, Keyframe, is_imagined

# A generated age this close to a real photo's age is left out (the photo is there).
MIN_GAP_YEARS = 3.0


def sam_status() -> tuple[bool, str]:
    """(usable, one-line reason) for the SAM age model; never downloads."""
    try:
        from pipeline.methods.stylegan.aging import sam_availability
    except Exception as exc:  # torch missing or broken: say so, never crash
        return False, f"the SAM age model cannot be loaded here: {exc}"
    return sam_availability()


def require_sam(what: str) -> None:
    """Raise if SAM cannot run here.

    Raises:
        MethodUnavailableError: the one-line reason, naming `what` needed it.
    """
    ok, reason = sam_status()
    if not ok:
        raise MethodUnavailableError(f"{what} needs the SAM age model: {reason}", method="sam")


def ages_toward(start: float, target: float, step: float) -> list[float]:
    """Ages after `start` up or down to `target`, about every `step` years (target included).

    Intermediate ages are whole years, evenly spaced; e.g. 43 -> 80 by 10 gives
    52, 62, 71, 80.
    """
    gap = float(target) - float(start)
    n = max(1, math.ceil(abs(gap) / step - 1e-9))
    ages = [float(round(start + gap * k / n)) for k in range(1, n)]
    return [a for a in ages if abs(a - start) >= 1.0] + [float(target)]


def lifespan_ages(lo: float, hi: float, step: float) -> list[float]:
    """Ages from `lo` to `hi` (both included), about every `step` years, whole years between."""
    return [float(lo)] + ages_toward(lo, hi, step)


def _with_key(kf: Keyframe) -> Keyframe:
    """The keyframe with a stable key (a content hash when it has none): SAM's cache needs one."""
    if kf.key:
        return kf
    img = np.ascontiguousarray(kf.image)
    digest = hashlib.sha256(str(img.shape).encode() + img.tobytes()).hexdigest()
    return dataclasses.replace(kf, key=f"sha256:{digest}")


def imagined_from(source: Keyframe, age: float) -> Keyframe:
    """A keyframe SAM will imagine from `source` at `age` (image: `source`'s until then)."""
    return Keyframe(
        image=source.image,
        landmarks=source.landmarks,
        age=float(age),
        age_exact=False,
        date=None,
        label=f"imagined at {age:g} y from {source.label or 'the photo'}",
        key=f"{source.key}:sam@{age:g}",
        birth_date=source.birth_date,
        imagined=ImaginedFrom(source_key=source.key, source=source.label),
    )


def add_imagined(
    keyframes: Sequence[Keyframe],
    *,
    extend_before: float | None,
    extend_after: float | None,
    lifespan: tuple[float, float],
    age_step: float,
) -> list[Keyframe]:
    """The video's keyframes with the imagined ones in place, in age order.

    One real keyframe gives a lifespan; otherwise only the extensions asked for
    are added, before the first and after the last photo.

    Raises:
        UsageError: an extension that does not go beyond the photos.
    """
    kfs = [_with_key(kf) for kf in keyframes]
    if len(kfs) == 1:
        photo = kfs[0]
        lo, hi = lifespan
        ages = [a for a in lifespan_ages(lo, hi, age_step) if abs(a - photo.age) >= MIN_GAP_YEARS]
        out = [imagined_from(photo, a) for a in ages] + [photo]
        return sorted(out, key=lambda kf: (kf.age, is_imagined(kf)))
    before: list[Keyframe] = []
    after: list[Keyframe] = []
    if extend_before is not None:
        first = kfs[0]
        if extend_before > first.age - 1.0:
            raise UsageError(
                f"Extending before the first photo needs an age below its age ({first.age:.0f} y); "
                f"got {extend_before:g}."
            )
        before = [
            imagined_from(first, a)
            for a in reversed(ages_toward(first.age, extend_before, age_step))
        ]
    if extend_after is not None:
        last = kfs[-1]
        if extend_after < last.age + 1.0:
            raise UsageError(
                f"Extending after the last photo needs an age above its age ({last.age:.0f} y); "
                f"got {extend_after:g}."
            )
        after = [imagined_from(last, a) for a in ages_toward(last.age, extend_after, age_step)]
    return before + kfs + after


def keyframe_gammas(keyframes: Sequence[Keyframe], gamma: float) -> list[float]:
    """Blend strength at each keyframe.

    An imagined keyframe has no photo to blend in (0). A photo next to an
    imagined keyframe is blended in fully (1), so the video meets the real photo
    exactly and leaves it smoothly instead of cutting from photo to generated
    face. Every other photo keeps `gamma`.
    """
    out = []
    for i, kf in enumerate(keyframes):
        if is_imagined(kf):
            out.append(0.0)
            continue
        neighbours = keyframes[max(0, i - 1) : i] + keyframes[i + 1 : i + 2]
        out.append(1.0 if any(is_imagined(n) for n in neighbours) else float(gamma))
    return out
