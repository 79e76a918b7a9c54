"""Face detection, 68 landmarks, identity descriptors and FFHQ alignment.

Detection runs on a downscaled copy (a 12-megapixel photo is never fed to the
detector at full size); landmarks, descriptors and crops use the full-resolution
photo, so nothing is lost for faces that are small in a big photo.

Coordinates are dlib's: pixel ``(i, j)`` has its centre at ``x = i, y = j``.
"""

from __future__ import annotations

import logging
import math

import cv2
import dlib
import numpy as np

from pipeline import models
from pipeline.types import FaceRecord

log = logging.getLogger(__name__)

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
# The CNN detector costs ~7 s at 512 px on a CPU core: keep its input small.
_CNN_MAX_SIDE = 640
_CNN_UPSAMPLE_BELOW = 400
# HOG detections scoring under this are confirmed by the CNN detector on a
# small crop (~0.1 s): HOG's weak detections include textures such as badges,
# while real faces it scores low (turned, shaded) are confirmed reliably.
_VERIFY_BELOW = 0.5
_VERIFY_CROP = 160  # px; the face fills 1/1.6 of it, above MMOD's 80 px window
# Landmarks are refined on an upright copy of the face whose detector box is
# _LANDMARK_BOX px wide (zooming in at most 4x), in at most _LANDMARK_PASSES
# passes, stopping once the head is level within _UPRIGHT_WITHIN degrees.
# The first estimate uses the detector's box grown by _FIRST_BOX_GROWTH.
_LANDMARK_BOX = 320
_LANDMARK_MAX_ZOOM = 4.0
_LANDMARK_PASSES = 3
_UPRIGHT_WITHIN = 1.5
_FIRST_BOX_GROWTH = 1.2
# Where dlib's HOG box sits relative to the FFHQ crop square of an upright
# face (side of the square = 1): as wide as 0.6, centred 0.085 below its centre.
_BOX_SIDE = 0.6
_BOX_DROP = 0.085
# Chip that dlib's ResNet expects (size, padding), as dlib's own examples use.
_CHIP_SIZE = 150
_CHIP_PADDING = 0.25
# Distance of the nose tip in front of the head's vertical axis, in half-widths
# of the face contour at the ears; calibrated on dlib's landmarks of 3/4 views
# (the turned faces in insightface's t1.jpg, about 45 degrees).
_NOSE_DEPTH = 1.1


# --------------------------------------------------------------------------
# Detection and landmarks
# --------------------------------------------------------------------------


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an [H, W, 3] RGB image, got shape {image.shape}")
    if image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def _resized(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interpolation)


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


def _detect_hog(
    image: np.ndarray, max_side: int, upsample: int | None, verify: bool
) -> list[tuple[dlib.rectangle, float]]:
    detector = models.hog_detector()
    h, w = image.shape[:2]
    passes = _hog_passes(h, w, max_side, upsample)
    if upsample is not None:
        passes = passes[:1]
    for scale, up in passes:
        copy = _resized(image, scale)
        rects, scores, _ = detector.run(copy, up, 0.0)
        found = [(_scale_rect(r, 1.0 / scale), float(s)) for r, s in zip(rects, scores)]
        if verify:
            found = [(r, s) for r, s in found if s >= _VERIFY_BELOW or _confirmed_by_cnn(image, r)]
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


def _detect_cnn(image: np.ndarray) -> list[tuple[dlib.rectangle, float]]:
    h, w = image.shape[:2]
    scale = min(1.0, _CNN_MAX_SIDE / max(h, w))
    copy = _resized(image, scale)
    up = 1 if max(copy.shape[:2]) < _CNN_UPSAMPLE_BELOW else 0
    found = models.cnn_detector()(copy, up)
    log.debug("CNN found %d face(s) on a %dx%d copy", len(found), *copy.shape[1::-1])
    return [(_scale_rect(d.rect, 1.0 / scale), float(d.confidence)) for d in found]


def _confirmed_by_cnn(image: np.ndarray, rect: dlib.rectangle) -> bool:
    """Whether dlib's CNN detector also sees a face in a small crop around `rect`."""
    h, w = image.shape[:2]
    half = 0.8 * max(rect.width(), rect.height())
    cx, cy = (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2
    x0, y0, x1, y1 = round(cx - half), round(cy - half), round(cx + half) + 1, round(cy + half) + 1
    crop = image[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
    if crop.size == 0:
        return False
    scale = _VERIFY_CROP / (x1 - x0)
    crop = _resized(crop, scale)
    pads = [
        round(max(0, -y0) * scale),
        round(max(0, y1 - h) * scale),
        round(max(0, -x0) * scale),
        round(max(0, x1 - w) * scale),
    ]
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    return len(models.cnn_detector()(np.ascontiguousarray(crop), 0)) > 0


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


def _shape_to_array(shape: dlib.full_object_detection) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def _array_to_shape(landmarks: np.ndarray) -> dlib.full_object_detection:
    pts = np.rint(landmarks).astype(np.int64)
    left, top = pts.min(axis=0)
    right, bottom = pts.max(axis=0)
    return dlib.full_object_detection(
        dlib.rectangle(int(left), int(top), int(right), int(bottom)),
        [dlib.point(int(x), int(y)) for x, y in pts],
    )


def _upright_patch(
    image: np.ndarray, centre: np.ndarray, roll: float, scale: float, side: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate `image` by `roll` degrees and scale it about `centre`, into a `side` px square.

    Returns:
        (patch, forward): the patch and the [2, 3] matrix mapping photo pixels to it.
    """
    source, to_source = image, np.eye(3)
    if scale < 1:  # shrink the neighbourhood with area averaging first, then only rotate
        h, w = image.shape[:2]
        reach = 0.75 * side / scale
        x0, y0 = (max(0, int(v - reach)) for v in centre)
        x1, y1 = min(w, int(centre[0] + reach) + 2), min(h, int(centre[1] + reach) + 2)
        nw, nh = max(2, round((x1 - x0) * scale)), max(2, round((y1 - y0) * scale))
        source = cv2.resize(image[y0:y1, x0:x1], (nw, nh), interpolation=cv2.INTER_AREA)
        fx, fy = nw / (x1 - x0), nh / (y1 - y0)
        to_source = np.array(
            [[fx, 0, (0.5 - x0) * fx - 0.5], [0, fy, (0.5 - y0) * fy - 0.5], [0, 0, 1]]
        )
        centre = to_source[:2, :2] @ centre + to_source[:2, 2]
        scale = 1.0
    rotate = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), roll, scale)
    rotate[:, 2] += (side - 1) / 2 - centre  # centre -> patch centre
    patch = cv2.warpAffine(
        source,
        rotate,
        (side, side),
        flags=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return patch, rotate @ to_source


def _roll(landmarks: np.ndarray) -> float:
    eye_left, eye_right = _eye_centres(landmarks)
    return math.degrees(math.atan2(eye_right[1] - eye_left[1], eye_right[0] - eye_left[0]))


def _landmarks(image: np.ndarray, rect: dlib.rectangle) -> np.ndarray:
    """68 landmarks of the face in `rect`, refined on an upright, normalised copy of the face.

    dlib's predictor starts from an upright mean face in a detector box and
    returns whole pixels: it drifts on tilted heads, on boxes that do not sit
    where HOG puts them, and is coarse on small faces (half a pixel on a 20 px
    eye distance is 3 px at 512). So a first estimate (in the detector's box,
    enlarged a little because tilted heads overflow it) gives the face's tilt,
    centre and size; the neighbourhood is rotated upright and resampled so the
    face is `_LANDMARK_BOX` px wide, and the landmarks are predicted again in
    the box HOG would give there, until the tilt left is under a degree or two.
    """
    predictor = models.shape_predictor()
    cx, cy = (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2
    half = _FIRST_BOX_GROWTH * max(rect.width(), rect.height()) / 2
    grown = dlib.rectangle(round(cx - half), round(cy - half), round(cx + half), round(cy + half))
    landmarks = _shape_to_array(predictor(image, grown)).astype(np.float64)
    for _ in range(_LANDMARK_PASSES):
        quad = ffhq_quad(landmarks)
        qsize = float(np.hypot(*(quad[3] - quad[0])))
        roll = _roll(landmarks)
        scale = min(_LANDMARK_BOX / (_BOX_SIDE * qsize), _LANDMARK_MAX_ZOOM)
        box_side = _BOX_SIDE * qsize * scale  # patch pixels
        side = int(math.ceil(2.2 * box_side))
        patch, forward = _upright_patch(image, quad.mean(axis=0), roll, scale, side)
        mid = (side - 1) / 2
        top = mid + _BOX_DROP * qsize * scale - box_side / 2
        box = dlib.rectangle(
            round(mid - box_side / 2), round(top), round(mid + box_side / 2), round(top + box_side)
        )
        refined = _shape_to_array(predictor(patch, box))
        landmarks = transform_points(cv2.invertAffineTransform(forward), refined)
        if abs(_roll(refined)) < _UPRIGHT_WITHIN:
            break
    return landmarks.astype(np.float32)


def aligned_face_box(size: int) -> tuple[int, int, int, int]:
    """Where dlib's detector box (left, top, right, bottom) sits in an FFHQ-aligned crop of `size` px."""
    half = _BOX_SIDE * size / 2
    cx, cy = (size - 1) / 2, (size - 1) / 2 + _BOX_DROP * size
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


def face_landmarks(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """68 dlib landmarks ([68, 2] float32, image pixels) inside a face box (left, top, right, bottom)."""
    return _landmarks(_as_rgb(image), dlib.rectangle(*(int(v) for v in box)))


def _eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lm = np.asarray(landmarks, dtype=np.float64)
    return lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)


def estimate_yaw(landmarks: np.ndarray) -> float:
    """Rough head turn in degrees from 68 landmarks (0 frontal; positive: nose towards the image's right).

    Model: the face contour at the ears (landmarks 0 and 16) is the head's
    silhouette, so it stays about one half-width either side of the head's
    vertical axis whatever the turn, while the nose tip (30), `_NOSE_DEPTH`
    half-widths in front of that axis, moves sideways by depth * sin(yaw).
    Offsets are measured along the eye line, so in-plane rotation does not
    matter. Good to about 10 degrees up to 50; beyond that the landmarks
    themselves are unreliable.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    eye_left, eye_right = _eye_centres(lm)
    axis = eye_right - eye_left
    norm = np.hypot(*axis)
    if norm == 0:
        return 0.0
    axis /= norm
    left, right, nose = lm[0] @ axis, lm[16] @ axis, lm[30] @ axis
    half = (right - left) / 2
    if half <= 0:  # contour folded over: a profile the landmarks cannot describe
        return 90.0 if nose > (left + right) / 2 else -90.0
    offset = (nose - (left + right) / 2) / half
    return float(np.degrees(np.arcsin(np.clip(offset / _NOSE_DEPTH, -1.0, 1.0))))


def ffhq_crop_side(landmarks: np.ndarray) -> float:
    """Side of the FFHQ crop square in the photo's pixels."""
    quad = ffhq_quad(landmarks)
    return float(np.hypot(*(quad[3] - quad[0])))


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


def detect_faces(
    image: np.ndarray,
    *,
    use_cnn: bool = False,
    max_side: int = 1280,
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
    image = _as_rgb(image)
    h, w = image.shape[:2]
    found = _detect_hog(image, max_side, upsample, verify)
    detector = "hog"
    if not found and use_cnn:
        found, detector = _detect_cnn(image), "cnn"
    faces: list[tuple[int, FaceRecord]] = []
    for rect, score in found:
        landmarks = _landmarks(image, rect)
        eye_left, eye_right = _eye_centres(landmarks)
        box = (
            max(0, rect.left()),
            max(0, rect.top()),
            min(w - 1, rect.right()),
            min(h - 1, rect.bottom()),
        )
        face = FaceRecord(
            box=tuple(int(v) for v in box),
            landmarks=landmarks,
            detector=detector,
            score=score,
            eye_distance=float(np.hypot(*(eye_right - eye_left))),
            yaw=estimate_yaw(landmarks),
        )
        _flag(face, ffhq_crop_side(landmarks), min_crop, max_yaw)
        faces.append((rect.width() * rect.height(), face))
    faces.sort(key=lambda item: -item[0])
    return [face for _, face in faces]


# --------------------------------------------------------------------------
# Identity descriptors
# --------------------------------------------------------------------------


def face_chip(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 150 px chip dlib's ResNet reads ([150, 150, 3] uint8), from the face's neighbourhood only."""
    image = _as_rgb(image)
    lm = np.asarray(landmarks, dtype=np.float64)
    h, w = image.shape[:2]
    # dlib's chip (padding 0.25) spans about 2.2x the landmarks' extent; crop
    # generously around it so dlib never touches the rest of a big photo.
    centre = lm.mean(axis=0)
    half = 1.6 * float(np.ptp(lm, axis=0).max()) + 8
    x0, y0 = (max(0, int(v - half)) for v in centre)
    x1, y1 = min(w, int(centre[0] + half) + 1), min(h, int(centre[1] + half) + 1)
    region = np.ascontiguousarray(image[y0:y1, x0:x1])
    shape = _array_to_shape(lm - (x0, y0))
    return dlib.get_face_chip(region, shape, size=_CHIP_SIZE, padding=_CHIP_PADDING)


def compute_descriptors(image: np.ndarray, faces: list[FaceRecord]) -> None:
    """Fill ``face.descriptor`` ([128] float32) for every face, in one batch through dlib's ResNet."""
    if not faces:
        return
    chips = [face_chip(image, f.landmarks) for f in faces]
    vectors = models.face_encoder().compute_face_descriptor(chips)
    for face, vector in zip(faces, vectors):
        face.descriptor = np.asarray(vector, dtype=np.float32)


# --------------------------------------------------------------------------
# FFHQ alignment
# --------------------------------------------------------------------------


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """Corners of FFHQ's oriented crop square ([4, 2] float64, photo pixels).

    Order: top-left, bottom-left, bottom-right, top-right of the aligned image.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    eye_left, eye_right = _eye_centres(lm)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg

    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def ffhq_transform(landmarks: np.ndarray, size: int = 512) -> np.ndarray:
    """[2, 3] affine matrix mapping photo pixels to aligned-image pixels (a similarity)."""
    quad = ffhq_quad(landmarks)
    ex, ey = quad[3] - quad[0], quad[1] - quad[0]  # aligned x and y axes, one side long
    side2 = float(ex @ ex)
    rows = np.stack([ex, ey]) * (size / side2)  # [2, 2]
    # Aligned pixel centre i sits at continuous position i + 0.5 along the side.
    offset = -rows @ quad[0] - 0.5
    return np.concatenate([rows, offset[:, None]], axis=1)


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a [2, 3] affine matrix to [N, 2] points."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def canonical_eye_positions(size: int, mouth_ratio: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Where the eye centres land in an aligned image of a frontal, upright, symmetric face.

    Args:
        size (int): side of the aligned image.
        mouth_ratio (float): |eye_to_mouth| / |eye_to_eye| of the face (about 0.9-1.2
            for adults). Up to 1.11 the eyes are always at 37.5 % and 62.5 % of the width;
            only their height depends on it.

    Returns:
        (left, right): [2] float64 (x, y) in aligned pixels (image left eye first).
    """
    e, m = 1.0, float(mouth_ratio)
    half = max(2.0 * e, 1.8 * m)  # half-side of the square, eye distance = 1
    k = size / (2.0 * half)
    y = size / 2 - 0.1 * m * k - 0.5
    return (
        np.array([size / 2 - 0.5 * e * k - 0.5, y]),
        np.array([size / 2 + 0.5 * e * k - 0.5, y]),
    )


def _reflect_pad_blurred(img: np.ndarray, pad: np.ndarray, qsize: float) -> np.ndarray:
    """FFHQ's padding: reflect, blur towards the outer edge, fade to the median colour.

    Args:
        img: [h, w, 3] float32 region.
        pad: (left, top, right, bottom) pixels to add.
        qsize: side of the crop square in this region's pixels.
    """
    left, top, right, bottom = (int(v) for v in pad)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_REFLECT_101)
    h, w = img.shape[:2]
    x = np.arange(w, dtype=np.float32)
    y = np.arange(h, dtype=np.float32)
    # 1 at the outer edge, 0 at the photo's edge, negative inside the photo.
    mx = 1.0 - np.minimum(x / max(left, 1), (w - 1 - x) / max(right, 1))
    my = 1.0 - np.minimum(y / max(top, 1), (h - 1 - y) / max(bottom, 1))
    mask = np.maximum(mx[None, :], my[:, None])[:, :, None]
    sigma = qsize * 0.02
    blurred = cv2.GaussianBlur(
        img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT
    )
    img += (blurred - img) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    step = max(1, int(math.sqrt(h * w / 250_000)))  # the median of a subsample is plenty
    median = np.median(img[::step, ::step].reshape(-1, 3), axis=0)
    img += (median - img) * np.clip(mask, 0.0, 1.0)
    return img


def align_face(
    image: np.ndarray, landmarks: np.ndarray, size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Crop a face the way FFHQ was made (see product.md, step 2).

    Only the crop square's neighbourhood is processed: it is cut out, shrunk
    to the output scale when bigger, reflect-padded and blurred where the
    square leaves the photo (as FFHQ's ``recreate_aligned_images``), then
    resampled once.

    Args:
        image (np.ndarray): [H, W, 3] uint8 RGB photo.
        landmarks (np.ndarray): [68, 2] dlib landmarks in the photo's pixels.
        size (int): side of the output. Default: 512.

    Returns:
        (aligned, landmarks): [size, size, 3] uint8 and the landmarks mapped
        into it ([68, 2] float32).
    """
    if size < 8:
        raise ValueError(f"aligned size must be at least 8 px, got {size}")
    image = _as_rgb(image)
    h, w = image.shape[:2]
    quad = ffhq_quad(landmarks)
    qsize = float(np.hypot(*(quad[3] - quad[0])))

    # Crop the square's bounding box plus a border.
    border = max(round(qsize * 0.1), 3)
    lo = np.floor(quad.min(axis=0)).astype(int) - border
    hi = np.ceil(quad.max(axis=0)).astype(int) + border + 1
    x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    x1, y1 = min(int(hi[0]), w), min(int(hi[1]), h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ValueError("the face's crop square lies outside the photo")
    region = image[y0:y1, x0:x1]
    q = quad - (x0, y0)

    # Shrink so that the square is about `size` pixels across.
    if qsize > size:
        rh, rw = region.shape[:2]
        nw, nh = max(2, round(rw * size / qsize)), max(2, round(rh * size / qsize))
        region = cv2.resize(region, (nw, nh), interpolation=cv2.INTER_AREA)
        factor = np.array([nw / rw, nh / rh])
        q = (q + 0.5) * factor - 0.5
        qsize *= float(factor.mean())
        border = max(round(qsize * 0.1), 3)

    # Pad where the square (plus border) leaves the photo.
    rh, rw = region.shape[:2]
    qlo, qhi = np.floor(q.min(axis=0)), np.ceil(q.max(axis=0))
    pad = np.maximum(
        [border - qlo[0], border - qlo[1], qhi[0] - rw + border, qhi[1] - rh + border], 0
    ).astype(int)
    if pad.max() > border - 4:
        pad = np.maximum(pad, round(qsize * 0.3))
        work = _reflect_pad_blurred(region.astype(np.float32), pad, qsize)
        q = q + pad[:2]
    else:
        work = region

    # One resampling: aligned pixel -> working-region pixel.
    ex, ey = (q[3] - q[0]) / size, (q[1] - q[0]) / size
    origin = q[0] + 0.5 * (ex + ey)
    inverse = np.array([[ex[0], ey[0], origin[0]], [ex[1], ey[1], origin[1]]])
    aligned = cv2.warpAffine(
        work,
        inverse,
        (size, size),
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    if aligned.dtype != np.uint8:
        aligned = np.clip(np.rint(aligned), 0, 255).astype(np.uint8)
    mapped = transform_points(ffhq_transform(landmarks, size), landmarks).astype(np.float32)
    return aligned, mapped
