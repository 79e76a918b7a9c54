"""Faces layer: detection, landmarks and identity descriptors, with FFHQ alignment apart.

* `detection`: HOG / CNN face detection and quality flags (``detect_faces``).
* `landmarks`: 68 refined landmarks and the head turn (``face_landmarks``, ``estimate_yaw``).
* `descriptors`: dlib's 128-d identity descriptors (``compute_descriptors``).
* `alignment`: FFHQ's crop square and aligned crops from landmarks alone
  (``align_face``, ``ffhq_transform``...), used by the analysis and the renderer.
* `dlib_format`, `resnet`, `mmod`: dlib's identity ResNet and CNN (MMOD) face
  detector run in PyTorch, their weights read from dlib's own files.

The names below are re-exported so callers write ``faces.detect_faces``.
"""

from __future__ import annotations

from pipeline.faces.alignment import (
    align_face,
    aligned_face_box,
    canonical_eye_positions,
    eye_centres,
    ffhq_crop_side,
    ffhq_quad,
    ffhq_transform,
    transform_points,
)
from pipeline.faces.descriptors import compute_descriptors, face_chip
from pipeline.faces.detection import (
    MAX_YAW,
    MIN_CROP_SIDE,
    Detection,
    describe_faces,
    detect_faces,
    find_faces,
)
from pipeline.faces.landmarks import estimate_yaw, face_landmarks

__all__ = [
    "MAX_YAW",
    "MIN_CROP_SIDE",
    "Detection",
    "describe_faces",
    "find_faces",
    "align_face",
    "aligned_face_box",
    "canonical_eye_positions",
    "compute_descriptors",
    "detect_faces",
    "estimate_yaw",
    "eye_centres",
    "face_chip",
    "face_landmarks",
    "ffhq_crop_side",
    "ffhq_quad",
    "ffhq_transform",
    "transform_points",
]
