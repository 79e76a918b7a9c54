"""Identity descriptors: dlib's ResNet on a 150 px chip of each face.

The network runs in PyTorch (`pipeline.faces.resnet`, weights from dlib's own
file): the same descriptors as ``dlib.face_recognition_model_v1`` to float
rounding (about 1e-6), several times faster on CPU.
"""

from __future__ import annotations

import dlib
import numpy as np

from pipeline import models
from pipeline.faces.imaging import as_rgb
from pipeline.faces.landmarks import array_to_shape
from pipeline.types import FaceRecord

# Chip that dlib's ResNet expects (size, padding), as dlib's own examples use.
_CHIP_SIZE = 150
_CHIP_PADDING = 0.25


def face_chip(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 150 px chip dlib's ResNet reads ([150, 150, 3] uint8), from the face's neighbourhood only."""
    image = as_rgb(image)
    lm = np.asarray(landmarks, dtype=np.float64)
    h, w = image.shape[:2]
    # dlib's chip (padding 0.25) spans about 2.2x the landmarks' extent; crop
    # generously around it so dlib never touches the rest of a big photo.
    centre = lm.mean(axis=0)
    half = 1.6 * float(np.ptp(lm, axis=0).max()) + 8
    x0, y0 = (max(0, int(v - half)) for v in centre)
    x1, y1 = min(w, int(centre[0] + half) + 1), min(h, int(centre[1] + half) + 1)
    region = np.ascontiguousarray(image[y0:y1, x0:x1])
    shape = array_to_shape(lm - (x0, y0))
    return dlib.get_face_chip(region, shape, size=_CHIP_SIZE, padding=_CHIP_PADDING)


def compute_descriptors(
    image: np.ndarray, faces: list[FaceRecord], landmarks: list[np.ndarray] | None = None
) -> None:
    """Fill ``face.descriptor`` ([128] float32) for every face, in one batch through the ResNet.

    Args:
        landmarks (list[np.ndarray] | None): each face's landmarks in `image`'s
            pixels when `image` is a reduced copy of the photo the faces' own
            landmarks refer to; None uses ``face.landmarks``.
    """
    if not faces:
        return
    points = landmarks if landmarks is not None else [f.landmarks for f in faces]
    chips = np.stack([face_chip(image, lm) for lm in points])
    vectors = models.face_resnet().describe(chips)
    for face, vector in zip(faces, vectors):
        face.descriptor = vector.copy()
