"""68 dlib landmarks refined on an upright copy of the face, and the head turn they imply.

Coordinates are dlib's: pixel ``(i, j)`` has its centre at ``x = i, y = j``.
"""

from __future__ import annotations

import math

import cv2
import dlib
import numpy as np

from pipeline import models
from pipeline.faces.alignment import BOX_DROP, BOX_SIDE, eye_centres, ffhq_quad, transform_points
from pipeline.faces.imaging import as_rgb

# Landmarks are refined on an upright copy of the face whose detector box is
# _LANDMARK_BOX px wide (zooming in at most 4x), in at most _LANDMARK_PASSES
# passes, stopping once the head is level within _UPRIGHT_WITHIN degrees.
# The first estimate uses the detector's box grown by _FIRST_BOX_GROWTH.
_LANDMARK_BOX = 320
_LANDMARK_MAX_ZOOM = 4.0
_LANDMARK_PASSES = 3
_UPRIGHT_WITHIN = 1.5
_FIRST_BOX_GROWTH = 1.2
# Distance of the nose tip in front of the head's vertical axis, in half-widths
# of the face contour at the ears; calibrated on dlib's landmarks of 3/4 views
# (the turned faces in insightface's t1.jpg, about 45 degrees).
_NOSE_DEPTH = 1.1


def shape_to_array(shape: dlib.full_object_detection) -> np.ndarray:
    """dlib's landmark points as an [N, 2] float32 array."""
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def array_to_shape(landmarks: np.ndarray) -> dlib.full_object_detection:
    """An [N, 2] landmark array as dlib's shape (whole pixels), for dlib's chip functions."""
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
    eye_left, eye_right = eye_centres(landmarks)
    return math.degrees(math.atan2(eye_right[1] - eye_left[1], eye_right[0] - eye_left[0]))


def landmarks_in_box(image: np.ndarray, rect: dlib.rectangle) -> np.ndarray:
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
    landmarks = shape_to_array(predictor(image, grown)).astype(np.float64)
    for _ in range(_LANDMARK_PASSES):
        quad = ffhq_quad(landmarks)
        qsize = float(np.hypot(*(quad[3] - quad[0])))
        roll = _roll(landmarks)
        scale = min(_LANDMARK_BOX / (BOX_SIDE * qsize), _LANDMARK_MAX_ZOOM)
        box_side = BOX_SIDE * qsize * scale  # patch pixels
        side = int(math.ceil(2.2 * box_side))
        patch, forward = _upright_patch(image, quad.mean(axis=0), roll, scale, side)
        mid = (side - 1) / 2
        top = mid + BOX_DROP * qsize * scale - box_side / 2
        box = dlib.rectangle(
            round(mid - box_side / 2), round(top), round(mid + box_side / 2), round(top + box_side)
        )
        refined = shape_to_array(predictor(patch, box))
        landmarks = transform_points(cv2.invertAffineTransform(forward), refined)
        if abs(_roll(refined)) < _UPRIGHT_WITHIN:
            break
    return landmarks.astype(np.float32)


def face_landmarks(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """68 dlib landmarks ([68, 2] float32, image pixels) inside a face box (left, top, right, bottom)."""
    return landmarks_in_box(as_rgb(image), dlib.rectangle(*(int(v) for v in box)))


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
    eye_left, eye_right = eye_centres(lm)
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
