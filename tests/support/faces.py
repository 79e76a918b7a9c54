"""Faces found once per test session: detection and FFHQ alignment of the real test portraits.

Detection and alignment take seconds per photo on these machines, and several
test modules need the same faces; `PortraitFaces` computes each once and hands
out copies, so a test that changes what it got cannot disturb another.
"""

from __future__ import annotations

import copy
import threading

import numpy as np

from pipeline import faces
from pipeline.types import FaceRecord


class PortraitFaces:
    """Named photos with their detected faces and aligned crops, computed on first use."""

    def __init__(self, photos: dict[str, np.ndarray]) -> None:
        self.photos = photos
        self._lock = threading.Lock()
        self._found: dict[str, list[FaceRecord]] = {}
        self._aligned: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}

    def detected(self, name: str) -> list[FaceRecord]:
        """`faces.detect_faces` on the photo `name` (default settings)."""
        with self._lock:
            if name not in self._found:
                self._found[name] = faces.detect_faces(self.photos[name])
            return copy.deepcopy(self._found[name])

    def aligned(self, name: str, size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """The FFHQ crop of the first face in `name` at `size` px, and its 68 landmarks in the crop."""
        key = (name, size)
        with self._lock:
            cached = self._aligned.get(key)
        if cached is None:
            found = self.detected(name)
            assert found, f"no face found in the test photo {name!r}"
            cached = faces.align_face(self.photos[name], found[0].landmarks, size)
            with self._lock:
                self._aligned[key] = cached
        crop, landmarks = cached
        return crop.copy(), landmarks.copy()
