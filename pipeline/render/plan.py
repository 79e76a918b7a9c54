"""The render plan: keyframes at the output size, their timing, captions and blend strength.

Everything cheap is decided here, before any model loads or frame renders;
`RenderPlan.prepare` then computes the keyframes' person mattes and the
steady backdrop (when the background setting asks for one) and prepares the
method, and `RenderPlan.frames` streams the finished frames (method output,
keyframe holds, the blend of the real photos, captions) in video order.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.allocator import retain_freed_memory
from pipeline.errors import NotEnoughPhotosError, UsageError
from pipeline.matte import person_matte
from pipeline.matte_edges import foreground_colours
from pipeline.methods.base import Keyframe, TransitionMethod
from pipeline.render.backdrop import Background, composite, make_backdrop, parse_background
from pipeline.render.captions import Captioner
from pipeline.render.daily import (
    ShownPhotos,
    StreamedKeyframe,
    daily_timing,
    lock_keyframes,
    timeline_order,
)
from pipeline.render.imagined import add_imagined, keyframe_gammas, require_sam, sam_status
from pipeline.render.keyframes import fit_keyframe, keyframes_from_analysis, lazy_keyframes
from pipeline.render.settings import RenderSettings, check_method, is_number
from pipeline.render.timing import Timing, keyframe_share, plan_timing
from pipeline.types import Analysis, is_imagined

__all__ = ["RenderPlan", "build_plan", "fit_keyframe", "keyframes_from_analysis", "plan_render"]

log = logging.getLogger(__name__)


@dataclass
class RenderPlan:
    """Everything decided before the first frame: keyframes, timing, captions, blend strength.

    `keyframes` are the plan's own (each carrying its `time` in the video);
    `prepare` fills `backdrop` (the steady backdrop, or None for the photos'
    own backgrounds) and `matte_seconds`, and replaces the keyframes with new
    ones carrying their mattes. Keyframes handed to `plan_render` stay as they were.
    """

    settings: RenderSettings
    method_cls: type[TransitionMethod]
    keyframes: list[Keyframe]
    timing: Timing
    captioner: Captioner
    gamma: float
    gammas: list[float] = dataclasses.field(default_factory=list)
    background: Background = field(default_factory=lambda: Background("original"))
    backdrop: np.ndarray | None = None
    matte_seconds: float = 0.0
    _shown: Sequence[np.ndarray] | None = None  # keyframes as the video shows them

    def __post_init__(self) -> None:
        if not self.gammas:
            self.gammas = keyframe_gammas(self.keyframes, self.gamma)

    @property
    def imagined(self) -> bool:
        """Some keyframes are faces SAM imagines (an extension or a one-photo lifespan)."""
        return any(is_imagined(kf) for kf in self.keyframes)

    def new_method(self) -> TransitionMethod:
        """An instance of the method with the settings' options (not yet prepared).

        With imagined keyframes it is wrapped so that SAM renders every stretch
        that touches one; the chosen method renders only between two photos.
        """
        real = [kf for kf in self.keyframes if not is_imagined(kf)]
        inner = self._user_method() if len(real) >= 2 else None
        if not self.imagined:
            assert inner is not None
            return inner
        from pipeline.methods.stylegan.aging import AgeExtendedMethod

        return AgeExtendedMethod(inner)

    def _user_method(self) -> TransitionMethod:
        try:
            return self.method_cls(**self.settings.method_options)
        except TypeError as exc:
            raise UsageError(
                f"Method {self.settings.method!r} does not accept options {sorted(self.settings.method_options)}: {exc}"
            ) from exc

    @property
    def streamed(self) -> bool:
        """The keyframes' pixels are built when read, a few at a time (photo-a-day)."""
        return bool(self.keyframes) and all(
            isinstance(kf, StreamedKeyframe) for kf in self.keyframes
        )

    def apply_background(self) -> None:
        """Person mattes for every keyframe and the steady backdrop (once; nothing for ``original``).

        The plan's keyframes become new ones carrying their mattes, their images given
        the person's own colours at the soft edge (`foreground_colours`); the keyframes
        the plan was made from stay as they were.
        """
        if self._shown is not None:
            return
        window = self.keyframes[0].window if self.streamed else None  # type: ignore[attr-defined]
        if not self.background.steady:
            self._shown = ShownPhotos(window) if window else [kf.image for kf in self.keyframes]
            return
        t0 = time.perf_counter()
        if window:
            for kf in self.keyframes:
                kf.matte  # noqa: B018 - the window computes each matte once, kept compressed
        else:
            self.keyframes = [
                kf if kf.matte is not None else kf.copy(matte=_matte_of(kf))
                for kf in self.keyframes
            ]
        self.matte_seconds = time.perf_counter() - t0
        self.backdrop = make_backdrop(self.background, self.keyframes, self.settings.size)
        assert self.backdrop is not None
        if window:
            window.backdrop = self.backdrop
            self._shown = ShownPhotos(window)
        else:
            self.keyframes = [_soft_edged(kf) for kf in self.keyframes]
            self._shown = [composite(kf.image, kf.matte, self.backdrop) for kf in self.keyframes]
        log.debug(
            "mattes for %d keyframes in %.2f s; background %s",
            len(self.keyframes), self.matte_seconds, self.background.label(),
        )  # fmt: skip

    def shown_keyframes(self) -> Sequence[np.ndarray]:
        """The keyframe images as the video shows them (on the backdrop when there is one)."""
        self.apply_background()
        assert self._shown is not None
        return self._shown

    def prepare(self, method: TransitionMethod) -> None:
        """Prepare `method` for this plan, applying the background setting its way.

        A method that imagines faces (SAM, for an imagined keyframe) made new keyframes
        for them: the plan takes those as its own, so that the contact sheet and the
        report show what the video shows. A method given the keyframes on the backdrop
        imagined its faces from those; the plan takes only the faces, with mattes of their own.
        """
        self.apply_background()
        size = self.settings.size
        if self.backdrop is None:
            method.prepare(self.keyframes, size=size)
            self._take_imagined(method)
        elif method.backdrop_mode == "method":
            method.backdrop = self.backdrop
            method.prepare(self.keyframes, size=size)
            self._take_imagined(method)
        elif self.streamed:
            method.prepare([kf.on_backdrop() for kf in self.keyframes], size=size)  # type: ignore[attr-defined]
        else:
            shown = [kf.copy(image=img) for kf, img in zip(self.keyframes, self.shown_keyframes())]
            method.prepare(shown, size=size)
            self._take_imagined(method, faces_only=True)

    def _take_imagined(self, method: TransitionMethod, *, faces_only: bool = False) -> None:
        """The keyframes with their imagined faces, from the method that made them.

        With `faces_only` the method was given the keyframes on the backdrop: the photos'
        keyframes stay the plan's, and each imagined face gets its own matte, soft edge and
        place among the shown keyframes.
        """
        if not self.imagined:
            return
        from pipeline.methods.stylegan.aging import AgeExtendedMethod

        if not isinstance(method, AgeExtendedMethod):
            return
        if not faces_only:
            self.keyframes = list(method.keyframes)
            return
        assert self.backdrop is not None and self._shown is not None
        keyframes, shown = list(self.keyframes), list(self._shown)
        for i, made in enumerate(method.keyframes):
            if is_imagined(made):
                # No colour model, as for every generated frame (`_on_backdrop`).
                matte = person_matte(made.image, made.landmarks, colour_model=False)
                keyframes[i] = _soft_edged(made.copy(matte=matte))
                shown[i] = composite(keyframes[i].image, matte, self.backdrop)
        self.keyframes, self._shown = keyframes, shown

    def _on_backdrop(self, frame: np.ndarray, j: int, lam: float) -> np.ndarray:
        """A generated frame composited onto the backdrop through a matte computed on it."""
        assert self.backdrop is not None
        a, b = self.keyframes[j].landmarks, self.keyframes[j + 1].landmarks
        landmarks = (1.0 - lam) * a + lam * b  # generated faces stay near the aligned pose
        # No colour model: this runs on every generated frame, not once per photo.
        matte = person_matte(frame, landmarks, colour_model=False)
        return composite(frame, matte, self.backdrop)

    def frames(self, method: TransitionMethod | None = None) -> Iterator[np.ndarray]:
        """Every frame of the video in order, as [size, size, 3] uint8 RGB.

        Args:
            method (TransitionMethod | None): an already prepared method (see
                `prepare`); by default a new one is made and prepared here.

        A held frame is yielded as the same array again: do not modify frames.
        """
        retain_freed_memory()  # every frame's arrays are reused, not faulted in afresh
        if method is None:
            method = self.new_method()
            self.prepare(method)
        size = self.settings.size
        daily = self.timing.mode == "per_photo"
        shown = self.shown_keyframes()  # on the backdrop when there is one
        recomposite = self.backdrop is not None and method.backdrop_mode == "frames"
        source: Iterator[np.ndarray] | None = None
        current = -1
        last: np.ndarray | None = None
        for spec in self.timing.frames():
            if spec.hold:
                assert last is not None
                yield last
                continue
            j, lam = spec.transition, spec.lam
            if daily and lam in (0.0, 1.0):  # a shown photo: exactly its eye-locked image
                frame = shown[j if lam == 0.0 else j + 1]
                text = self.captioner.text(j, lam)
                last = self.captioner.draw(np.array(frame, copy=True), text) if text else frame
                yield last
                continue
            if lam >= 1.0:
                source, current = iter(method.transition(j, np.array([1.0]))), -1
            elif j != current:
                lams = self.timing.lambdas(j)
                # Photo-a-day shows lambda 0 itself (above): the method renders the rest.
                source, current = iter(method.transition(j, lams[1:] if daily else lams)), j
            assert source is not None
            frame = next(source, None)
            if frame is None:
                raise RuntimeError(
                    f"method {method.name!r} yielded too few frames for transition {j}"
                )
            if frame.shape != (size, size, 3) or frame.dtype != np.uint8:
                raise RuntimeError(
                    f"method {method.name!r} yielded a {frame.shape} {frame.dtype} frame, expected [{size}, {size}, 3] uint8"
                )
            if recomposite:
                frame = self._on_backdrop(frame, j, float(lam))
            share = float(keyframe_share(lam, self.gammas[j if lam < 0.5 else j + 1]))
            if share > 1e-6:
                real = shown[j if lam < 0.5 else j + 1]
                frame = cv2.addWeighted(real, share, frame, 1.0 - share, 0.0)
            text = self.captioner.text(j, lam)
            if text:
                frame = self.captioner.draw(np.array(frame, copy=True), text)
            last = frame
            yield frame


def plan_render(
    analysis_or_keyframes: Analysis | Sequence[Keyframe], settings: RenderSettings
) -> RenderPlan:
    """Validate and decide everything cheap (no frames rendered, no model loaded).

    Raises:
        UsageError: a bad setting or keyframe.
        MethodUnavailableError: the method cannot run here.
        NotEnoughPhotosError: fewer than two usable photos.
    """
    settings.validate()
    return build_plan(analysis_or_keyframes, settings, check_method(settings))


def build_plan(
    analysis_or_keyframes: Analysis | Sequence[Keyframe],
    settings: RenderSettings,
    cls: type[TransitionMethod],
) -> RenderPlan:
    """The plan for settings already validated and a method class already checked."""
    if settings.per_photo is not None:
        return _daily_plan(analysis_or_keyframes, settings, cls)
    if isinstance(analysis_or_keyframes, Analysis):
        keyframes = keyframes_from_analysis(analysis_or_keyframes, settings.size, allow_one=True)
    else:
        keyframes = [fit_keyframe(kf, settings.size) for kf in analysis_or_keyframes]
        if not keyframes:
            raise NotEnoughPhotosError(0, 0)
    for kf in keyframes:
        _check_age(kf)
    keyframes = _with_imagined(keyframes, settings)
    timing = plan_timing(
        [kf.age for kf in keyframes],
        fps=settings.fps,
        frames_between=settings.frames_between,
        seconds_per_year=settings.seconds_per_year,
        min_transition_s=settings.min_transition_s,
        max_transition_s=settings.max_transition_s,
        hold=settings.hold,
    )
    return _finish_plan(keyframes, timing, settings, cls)


def _daily_plan(
    analysis_or_keyframes: Analysis | Sequence[Keyframe],
    settings: RenderSettings,
    cls: type[TransitionMethod],
) -> RenderPlan:
    """Photo-a-day: every photo in timeline order, eyes locked, pixels built only when rendered.

    An analysis' photos keep its order (the review's: dated photos by date, undated ones where
    their age puts them, edits honoured); keyframes given are put in that order by `timeline_order`.
    """
    photos = lazy_keyframes(analysis_or_keyframes, settings.size)
    if len(photos) < 2:
        if isinstance(analysis_or_keyframes, Analysis):
            raise analysis_or_keyframes.shortage()
        raise NotEnoughPhotosError(len(photos), len(photos))
    for ph in photos:
        _check_age(ph.keyframe)
    assert settings.per_photo is not None
    if not isinstance(analysis_or_keyframes, Analysis):
        photos = timeline_order(photos)
    keyframes: list[Keyframe] = list(
        lock_keyframes(photos, settings.size, smooth=settings.smooth, average=settings.average)
    )
    timing = daily_timing(
        [kf.age for kf in keyframes],
        fps=settings.fps,
        per_photo=settings.per_photo,
        blend=settings.blend,
    )
    return _finish_plan(keyframes, timing, settings, cls)


def _soft_edged(kf: Keyframe) -> Keyframe:
    """The keyframe (with its matte) whose strands at the soft edge lose the old background's colour."""
    return kf.copy(image=foreground_colours(kf.image, kf.matte))


def _matte_of(kf: Keyframe) -> np.ndarray:
    """The keyframe's person matte, keeping the people of its other faces out."""
    return person_matte(kf.image, kf.landmarks, others=kf.other_faces, photo=kf.photo_corners)


def _check_age(kf: Keyframe) -> None:
    if not is_number(kf.age):
        raise UsageError(
            f"{kf.label or 'keyframe'}: age {kf.age!r} is not a number; set the age (edits file)."
        )


def _finish_plan(
    keyframes: list[Keyframe], timing: Timing, settings: RenderSettings, cls: type[TransitionMethod]
) -> RenderPlan:
    # Each keyframe's time in the video lets methods shape motion smoothly in video time:
    # the plan's own keyframes carry it (new ones; those it was given stay as they were).
    keyframes = [
        kf.copy(time=float(t)) for kf, t in zip(keyframes, timing.keyframe_times, strict=True)
    ]
    captioner = Captioner(keyframes, settings.caption, settings.size)
    gamma = float(cls.default_gamma if settings.gamma is None else settings.gamma)
    background = parse_background(settings.background)
    return RenderPlan(settings, cls, keyframes, timing, captioner, gamma, background=background)


def _with_imagined(keyframes: list[Keyframe], settings: RenderSettings) -> list[Keyframe]:
    """Add the keyframes SAM will imagine: a lifespan for one photo, the extensions asked for.

    Raises:
        NotEnoughPhotosError: one photo and no SAM to imagine the others.
        MethodUnavailableError: an extension is asked for and SAM cannot run here.
    """
    if len(keyframes) == 1:
        ok, reason = sam_status()
        if not ok:
            raise NotEnoughPhotosError(
                1,
                1,
                needs_age_model=True,
                message="Only 1 photo can go into the video; a time-lapse needs at least 2. A lifespan "
                f"video from one photo needs the SAM age model, which cannot run here ({reason}).",
            )  # fmt: skip - the webapp words it from the counts; the reason is for the terminal
    elif not settings.extends:
        return keyframes
    else:
        require_sam("Extending the video beyond the photos")
    return add_imagined(
        keyframes,
        extend_before=settings.extend_before,
        extend_after=settings.extend_after,
        lifespan=(float(settings.lifespan[0]), float(settings.lifespan[1])),
        age_step=float(settings.age_step),
    )
