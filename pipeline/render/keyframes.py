"""Keyframes at the output size: from an analysis' aligned crops, or from keyframes given.

Two ways to get them:

* `keyframes_from_analysis` / `fit_keyframe` build every keyframe's pixels at
  once (a transition video: tens of photos).
* `lazy_keyframes` keeps only what the plan needs of each photo (landmarks at
  the output size, age, date, label) and a loader that builds its pixels when
  asked, so that a photo-a-day video of thousands of photos never holds more
  than a few of them at the output size (`render.daily`).

Both give the same pixels and landmarks for a photo.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from pipeline.errors import BadImageError, UsageError
from pipeline.faces import align_face, ffhq_transform, transform_points
from pipeline.photos import PhotoSource, load_photo
from pipeline.types import Analysis, Keyframe, PhotoRecord

log = logging.getLogger(__name__)


@dataclass
class LazyKeyframe:
    """A photo's keyframe without its pixels.

    Attributes:
        keyframe (Keyframe): everything but the pixels; `image` is a 1 x 1 placeholder and
            `landmarks` are already at the output size.
        load (Callable[[], np.ndarray]): the [size, size, 3] uint8 pixels, built on each call.
    """

    keyframe: Keyframe
    load: Callable[[], np.ndarray]


def _checked(kf: Keyframe) -> tuple[np.ndarray, np.ndarray]:
    """The keyframe's image and float32 landmarks, if they can be one (else UsageError)."""
    image = np.asarray(kf.image)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
        raise UsageError(
            f"{kf.label or 'keyframe'}: the aligned face must be a square RGB image, got shape {image.shape}."
        )
    if image.dtype != np.uint8:
        raise UsageError(
            f"{kf.label or 'keyframe'}: the aligned face must be uint8, got {image.dtype}."
        )
    landmarks = np.asarray(kf.landmarks, np.float32)
    if landmarks.shape != (68, 2) or not np.all(np.isfinite(landmarks)):
        raise UsageError(
            f"{kf.label or 'keyframe'}: needs 68 finite (x, y) landmarks, got shape {landmarks.shape}."
        )
    return image, landmarks


def _scaled(landmarks: np.ndarray, side: int, size: int) -> np.ndarray:
    """Landmarks of a `side` px crop in the same crop resized to `size` px (float32)."""
    if side != size:
        # Pixel centres: x_new + 0.5 = (x_old + 0.5) * scale.
        landmarks = (landmarks + 0.5) * (size / side) - 0.5
    return landmarks.astype(np.float32)


def _resized(image: np.ndarray, size: int) -> np.ndarray:
    side = image.shape[0]
    if side != size:
        interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
        image = cv2.resize(image, (size, size), interpolation=interp)
    return np.ascontiguousarray(image)


def fit_keyframe(kf: Keyframe, size: int) -> Keyframe:
    """The keyframe at `size` x `size` (image resized, landmarks scaled); unchanged if already there."""
    image, landmarks = _checked(kf)
    return replace(
        kf,
        image=_resized(image, size),
        landmarks=_scaled(landmarks, image.shape[0], size),
    )


def other_faces(p: PhotoRecord, size: int) -> list[np.ndarray]:
    """The other faces found in the photo as [68, 2] float32 landmarks in its aligned crop
    at `size` (anywhere, also outside it): the matte keeps their people out."""
    if p.face is None:
        return []
    matrix = ffhq_transform(p.face.landmarks, size)
    return [
        transform_points(matrix, f.landmarks).astype(np.float32)
        for i, f in enumerate(p.faces)
        if i != p.chosen_face
    ]


def photo_corners(p: PhotoRecord, size: int) -> np.ndarray | None:
    """[4, 2] float32 corners of the photo in its aligned crop at `size` (beyond them the
    crop holds the photo's reflection), or None when the photo's size is unknown."""
    if p.face is None or p.width <= 0 or p.height <= 0:
        return None
    matrix = ffhq_transform(p.face.landmarks, size)
    w, h = p.width - 0.5, p.height - 0.5  # the outer edges of the corner pixels
    corners = np.array([[-0.5, -0.5], [w, -0.5], [w, h], [-0.5, h]])
    return transform_points(matrix, corners).astype(np.float32)


def _photo_keyframe(
    analysis: Analysis, p: PhotoRecord, image: np.ndarray, landmarks: np.ndarray, size: int
) -> Keyframe:
    assert p.age is not None
    return Keyframe(
        image=image,
        landmarks=landmarks,
        age=float(p.age),
        age_exact=p.age_source == "date",
        date=p.date,
        label=p.file,
        key=p.sha256,
        birth_date=analysis.birth_date,
        date_precision=p.date_precision,
        other_faces=other_faces(p, size),
        photo_corners=photo_corners(p, size),
    )


def _sources(analysis: Analysis) -> dict[str, PhotoSource]:
    return analysis.sources


def keyframes_from_analysis(
    analysis: Analysis, size: int, *, allow_one: bool = False
) -> list[Keyframe]:
    """The usable photos of an analysis as keyframes at `size`, in video order.

    Args:
        analysis (Analysis): the analysed album.
        size (int): output side in pixels.
        allow_one (bool): one photo is enough (a lifespan video imagined from it).

    Raises:
        NotEnoughPhotosError: fewer than two usable photos (fewer than one with `allow_one`).
    """
    usable = analysis.usable
    if len(usable) < (1 if allow_one else 2):
        raise analysis.shortage(needed=1 if allow_one else 2)
    sources = _sources(analysis)
    out = []
    for p in usable:
        image, landmarks = crop_at(p, sources.get(p.file), size)
        out.append(fit_keyframe(_photo_keyframe(analysis, p, image, landmarks, size), size))
    return out


def _realigns(p: PhotoRecord, source: PhotoSource | None, size: int) -> bool:
    """The crop is too small for `size` and the photo can be aligned again."""
    assert p.crop is not None
    return p.crop.side < size and source is not None and p.face is not None


def crop_at(p: PhotoRecord, source: PhotoSource | None, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo's aligned face with at least `size` px: the analysis' crop when it is big
    enough, else aligned again from the photo with the stored full-resolution landmarks
    (no detection runs). A photo that can no longer be read falls back to its crop, enlarged."""
    assert p.crop is not None
    if not _realigns(p, source, size):
        return p.crop.image, p.crop.landmarks
    assert source is not None and p.face is not None
    try:
        photo = load_photo(source)
    except BadImageError as exc:
        log.warning(
            "%s: cannot re-read the photo for a %d px render (%s); enlarging its crop",
            p.file,
            size,
            exc,
        )
        return p.crop.image, p.crop.landmarks
    return align_face(photo.image, p.face.landmarks, size)


def _landmarks_at(p: PhotoRecord, source: PhotoSource | None, size: int) -> np.ndarray:
    """The landmarks `crop_at` + `fit_keyframe` give, without building any pixels."""
    assert p.crop is not None
    if _realigns(p, source, size):
        assert p.face is not None  # as `align_face` maps them
        lm = p.face.landmarks
        return transform_points(ffhq_transform(lm, size), lm).astype(np.float32)
    landmarks = np.asarray(p.crop.landmarks, np.float32)
    return _scaled(landmarks, p.crop.side, size)


_PLACEHOLDER = np.zeros((1, 1, 3), np.uint8)


def lazy_keyframes(
    analysis_or_keyframes: Analysis | Sequence[Keyframe], size: int
) -> list[LazyKeyframe]:
    """Every photo (usable photos of an analysis, in its order; or the keyframes given) as a
    `LazyKeyframe` at `size`: pixels built only when loaded.

    Raises:
        UsageError: a keyframe given is not a square uint8 RGB image with 68 landmarks.
    """
    out = []
    if isinstance(analysis_or_keyframes, Analysis):
        analysis = analysis_or_keyframes
        sources = _sources(analysis)
        for p in analysis.usable:
            source = sources.get(p.file)
            kf = _photo_keyframe(analysis, p, _PLACEHOLDER, _landmarks_at(p, source, size), size)

            def load(p: PhotoRecord = p, source: PhotoSource | None = source) -> np.ndarray:
                image, _ = crop_at(p, source, size)
                return _resized(np.asarray(image), size)

            out.append(LazyKeyframe(kf, load))
        return out
    for given in analysis_or_keyframes:
        image, landmarks = _checked(given)
        kf = replace(
            given,
            image=_PLACEHOLDER,
            landmarks=_scaled(landmarks, image.shape[0], size),
            matte=None,
        )
        out.append(LazyKeyframe(kf, lambda image=image: _resized(image, size)))
    return out
