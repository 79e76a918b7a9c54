"""Face detection: HOG (with a CNN check of weak hits, CNN fallback) and quality flags.

The CNN is dlib's MMOD network run in PyTorch (`pipeline.faces.mmod`): the
same boxes and decisions as ``dlib.cnn_face_detection_model_v1``, six to twelve times
faster. Detection runs on a downscaled copy (a 12-megapixel photo is never fed
to the detector at full size); landmarks, descriptors and crops use the full-resolution
photo, so nothing is lost for faces that are small in a big photo.

Coordinates are dlib's: pixel ``(i, j)`` has its centre at ``x = i, y = j``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import dlib
import numpy as np

from pipeline import models
from pipeline.faces.alignment import eye_centres, ffhq_crop_side
from pipeline.faces.imaging import as_rgb, resized
from pipeline.faces.landmarks import estimate_yaw, landmarks_in_box
from pipeline.types import FaceRecord

log = logging.getLogger(__name__)

# Longest side of the copy the first detection pass searches.
DETECT_SIDE = 1280
# A face whose FFHQ crop is narrower than this in the photo is blown up a lot
# at 512 px and looks blurry.
MIN_CROP_SIDE = 128
# A head turned further than this (degrees) aligns and encodes poorly.
MAX_YAW = 40.0
# Detection copies below this longest side are upsampled once by dlib, since
# HOG only finds faces of about 80 px and more.
_UPSAMPLE_BELOW = 1000
# Cap on the pixels HOG scans (upsampling included) when retrying a photo in
# which nothing was found: about 0.5 s here.
_MAX_DETECT_PIXELS = 8_000_000
# dlib's CNN (MMOD) detector, run as its PyTorch port (`pipeline.faces.mmod`,
# the same boxes), takes about 0.25 s on a 512 px copy on one core here
# (dlib's own about 3 s): keep its input small.
_CNN_MAX_SIDE = 640
_CNN_UPSAMPLE_BELOW = 400
# HOG detections scoring under this are confirmed by the CNN detector on a
# small crop (20-30 ms; dlib's own 150-270 ms): HOG's weak detections include
# textures such as badges, while real faces it scores low (turned, shaded)
# are confirmed reliably.
_VERIFY_BELOW = 0.5
_VERIFY_CROP = 160  # px; the face fills 1/1.6 of it, above MMOD's 80 px window


def _hog_passes(
    height: int, width: int, max_side: int, upsample: int | None
) -> list[tuple[float, int]]:
    """(scale of the copy, dlib upsample count) for each detection pass, cheapest first.

    The first pass always runs; each further pass doubles the resolution (a
    bigger copy of the photo where it has the pixels, else dlib upsampling)
    and only runs while nothing has been found, up to `_MAX_DETECT_PIXELS`.
    """
    longest = max(height, width)
    scale = min(1.0, max_side / longest)
    if upsample is None:
        upsample = 1 if longest * scale < _UPSAMPLE_BELOW else 0
    passes = [(scale, upsample)]
    while True:
        scale, upsample = passes[-1]
        if scale < 1.0:
            scale, upsample = min(1.0, scale * 2), upsample
        else:
            upsample += 1
        effective = height * width * (scale * 2**upsample) ** 2
        if effective > _MAX_DETECT_PIXELS:
            return passes
        passes.append((scale, upsample))


# A found face: its box in the image, score, its box in the copy searched, that copy's scale.
_Found = tuple[dlib.rectangle, float, dlib.rectangle, float]


def _detect_hog(
    image: np.ndarray, max_side: int, upsample: int | None, verify: bool, retry: bool = True
) -> list[_Found]:
    detector = models.hog_detector()
    h, w = image.shape[:2]
    passes = _hog_passes(h, w, max_side, upsample)
    if upsample is not None or not retry:
        passes = passes[:1]
    for scale, up in passes:
        copy = resized(image, scale)
        rects, scores, _ = detector.run(copy, up, 0.0)
        found = [(_scale_rect(r, 1.0 / scale), float(s), r, scale) for r, s in zip(rects, scores)]
        if verify:
            found = [f for f in found if f[1] >= _VERIFY_BELOW or _confirmed_by_cnn(image, f[0])]
        log.debug(
            "HOG: %d face(s) (%d before the CNN check) on a %dx%d copy, upsample %d",
            len(found),
            len(rects),
            *copy.shape[1::-1],
            up,
        )
        if found:
            return found
    return []


def _detect_cnn(image: np.ndarray) -> list[_Found]:
    h, w = image.shape[:2]
    scale = min(1.0, _CNN_MAX_SIDE / max(h, w))
    copy = resized(image, scale)
    up = 1 if max(copy.shape[:2]) < _CNN_UPSAMPLE_BELOW else 0
    found = models.mmod_detector().detect(copy, up)
    log.debug("CNN found %d face(s) on a %dx%d copy", len(found), *copy.shape[1::-1])
    rects = [dlib.rectangle(*d.rect) for d in found]
    return [
        (_scale_rect(r, 1.0 / scale), float(d.confidence), r, scale) for r, d in zip(rects, found)
    ]


def _verify_crop(image: np.ndarray, rect: dlib.rectangle) -> np.ndarray | None:
    """The ~160 px square around `rect` that the CNN check searches (edges replicated), or None."""
    h, w = image.shape[:2]
    half = 0.8 * max(rect.width(), rect.height())
    cx, cy = (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2
    x0, y0, x1, y1 = round(cx - half), round(cy - half), round(cx + half) + 1, round(cy + half) + 1
    crop = image[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
    if crop.size == 0:
        return None
    scale = _VERIFY_CROP / (x1 - x0)
    crop = resized(crop, scale)
    pads = [
        round(max(0, -y0) * scale),
        round(max(0, y1 - h) * scale),
        round(max(0, -x0) * scale),
        round(max(0, x1 - w) * scale),
    ]
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(crop)


def _confirmed_by_cnn(image: np.ndarray, rect: dlib.rectangle) -> bool:
    """Whether dlib's CNN detector (its PyTorch port) also sees a face in a small crop around `rect`."""
    crop = _verify_crop(image, rect)
    return crop is not None and len(models.mmod_detector().detect(crop, 0)) > 0


def _scale_rect(rect: dlib.rectangle, factor: float) -> dlib.rectangle:
    if factor == 1.0:
        return rect
    # Scale the continuous extent [left - 0.5, right + 0.5] and round back.
    return dlib.rectangle(
        round((rect.left() + 0.5) * factor - 0.5),
        round((rect.top() + 0.5) * factor - 0.5),
        round((rect.right() + 0.5) * factor - 0.5),
        round((rect.bottom() + 0.5) * factor - 0.5),
    )


def _flag(face: FaceRecord, crop_side: float, min_crop: float, max_yaw: float) -> None:
    if crop_side < min_crop:
        face.flags.append("small")
        face.reasons.append(
            f"the face is small in the photo ({crop_side:.0f} px crop, {min_crop:.0f} px or more wanted) "
            "and will look blurry when enlarged"
        )
    if abs(face.yaw) > max_yaw:
        face.flags.append("side")
        face.reasons.append(
            f"the face is turned to the side (about {abs(face.yaw):.0f} degrees); "
            "front-facing photos morph better"
        )


@dataclass(frozen=True)
class Detection:
    """One face the detector found: its box in the searched image's pixels, score and detector."""

    rect: tuple[int, int, int, int]  # left, top, right, bottom (dlib's inclusive box)
    score: float
    detector: str = "hog"
    # The box in the downscaled copy the detector searched, and that copy's scale
    # relative to the searched image (None: the box itself is the detector's).
    copy_rect: tuple[int, int, int, int] | None = None
    copy_scale: float = 1.0

    def scaled(self, factor: float) -> Detection:
        """The same detection in an image `factor` times as large.

        Scaled from the detector's own box in its copy, so it is the box a
        search of the larger image on a copy of the same size gives.
        """
        base, to = (
            (self.copy_rect, factor / self.copy_scale) if self.copy_rect else (self.rect, factor)
        )
        r = _scale_rect(dlib.rectangle(*base), to)
        return Detection(
            (r.left(), r.top(), r.right(), r.bottom()),
            self.score,
            self.detector,
            self.copy_rect,
            self.copy_scale / factor,
        )

    @property
    def width(self) -> int:
        return self.rect[2] - self.rect[0]


def first_copy_size(width: int, height: int, max_side: int = DETECT_SIDE) -> tuple[int, int]:
    """(width, height) of the copy the first HOG pass searches in a `width` x `height` image."""
    scale = min(1.0, max_side / max(width, height))
    if scale == 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def copy_size(detection: Detection, width: int, height: int) -> tuple[int, int]:
    """(width, height) of the copy `detection` was found on, in a `width` x `height` image."""
    s = detection.copy_scale
    if s == 1.0:
        return width, height
    return max(1, round(width * s)), max(1, round(height * s))


def find_faces(
    image: np.ndarray,
    *,
    use_cnn: bool = False,
    max_side: int = DETECT_SIDE,
    upsample: int | None = None,
    verify: bool = True,
    retry: bool = True,
) -> list[Detection]:
    """Face boxes only (no landmarks): the detection half of `detect_faces`, same arguments.

    With ``retry=False`` only the first pass runs (no bigger copies, no CNN
    fallback): the scan uses it on a reduced decode, whose further passes a
    full decode would only repeat at a higher resolution.
    """
    image = as_rgb(image)
    found = _detect_hog(image, max_side, upsample, verify, retry)
    if not retry:
        use_cnn = False
    detector = "hog"
    if not found and use_cnn:
        found, detector = _detect_cnn(image), "cnn"
    return [
        Detection(
            (r.left(), r.top(), r.right(), r.bottom()),
            score,
            detector,
            (c.left(), c.top(), c.right(), c.bottom()),
            scale,
        )
        for r, score, c, scale in found
    ]


def describe_faces(
    image: np.ndarray,
    found: list[Detection],
    *,
    to_photo: float = 1.0,
    min_crop: float = MIN_CROP_SIDE,
    max_yaw: float = MAX_YAW,
) -> list[FaceRecord]:
    """Landmarks, head turn and quality flags of detected faces, largest first.

    Args:
        image (np.ndarray): the image the detections' boxes refer to.
        found (list[Detection]): from `find_faces` on `image`.
        to_photo (float): size of the photo over that of `image` (2.0 when
            `image` was decoded at half size); boxes and landmarks are returned
            in the photo's pixels, and the flags judge the face there.
        min_crop, max_yaw: as in `detect_faces`.
    """
    image = as_rgb(image)
    h, w = image.shape[:2]
    faces: list[tuple[int, FaceRecord]] = []
    for det in found:
        rect = dlib.rectangle(*det.rect)
        landmarks = landmarks_in_box(image, rect)
        box = (
            max(0, rect.left()),
            max(0, rect.top()),
            min(w - 1, rect.right()),
            min(h - 1, rect.bottom()),
        )
        if to_photo != 1.0:
            landmarks = ((landmarks.astype(np.float64) + 0.5) * to_photo - 0.5).astype(np.float32)
            box = Detection(box, det.score).scaled(to_photo).rect
        eye_left, eye_right = eye_centres(landmarks)
        face = FaceRecord(
            box=tuple(int(v) for v in box),
            landmarks=landmarks,
            detector=det.detector,
            score=det.score,
            eye_distance=float(np.hypot(*(eye_right - eye_left))),
            yaw=estimate_yaw(landmarks),
        )
        _flag(face, ffhq_crop_side(landmarks), min_crop, max_yaw)
        faces.append((rect.width() * rect.height(), face))
    faces.sort(key=lambda item: -item[0])
    return [face for _, face in faces]


def detect_faces(
    image: np.ndarray,
    *,
    use_cnn: bool = False,
    max_side: int = DETECT_SIDE,
    upsample: int | None = None,
    verify: bool = True,
    min_crop: float = MIN_CROP_SIDE,
    max_yaw: float = MAX_YAW,
) -> list[FaceRecord]:
    """Find every face, with 68 landmarks and quality flags, largest first.

    HOG runs on a copy whose longest side is at most `max_side`; small copies
    (under 1000 px) are upsampled once. When nothing is found, the resolution
    is doubled (bigger copy, then upsampling) while that stays affordable. With
    `use_cnn`, dlib's CNN detector runs on a copy of at most 640 px when HOG
    finds nothing. Landmarks are computed on the full-resolution image.

    Args:
        image (np.ndarray): [H, W, 3] uint8 RGB, EXIF-rotated, full resolution.
        use_cnn (bool): fall back to the CNN detector. Default: False.
        max_side (int): longest side of the first detection copy. Default: 1280.
        upsample (int | None): force dlib's upsample count for a single pass
            (None: automatic, with retries).
        verify (bool): confirm weak HOG detections (score < 0.5) with the CNN
            detector on a 160 px crop, dropping non-faces. Default: True.
        min_crop (float): FFHQ crop side (photo pixels) under which a face is flagged ``small``.
        max_yaw (float): head turn (degrees) over which a face is flagged ``side``.

    Returns:
        list[FaceRecord]: boxes and landmarks in full-resolution pixels, no descriptors yet.
    """
    image = as_rgb(image)
    found = find_faces(image, use_cnn=use_cnn, max_side=max_side, upsample=upsample, verify=verify)
    return describe_faces(image, found, min_crop=min_crop, max_yaw=max_yaw)
