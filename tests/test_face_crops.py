"""The one face-crop writer (CLI --faces-dir and the app's API): names, order, content."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipeline.crop_store import AlignedCrop, CropStore
from pipeline.face_crops import write_face_crops
from pipeline.types import Analysis, PhotoRecord


def test_crops_are_named_by_order_and_left_out_ones_never_collide(portrait_faces, tmp_path):
    astro = AlignedCrop(*portrait_faces.aligned("astronaut", 256))
    hanks = CropStore().put(*portrait_faces.aligned("hanks", 256))  # pixels in a temporary file
    photos = [
        PhotoRecord(file="b/astro.jpg", order=0, crop=astro),
        PhotoRecord(file="hanks.png", order=1, crop=hanks),
        PhotoRecord(file="dup/same.jpg", include=False, crop=astro),
        PhotoRecord(file="same.png", include=False, crop=hanks),
        PhotoRecord(file="noface.jpg", include=False),
    ]
    written = write_face_crops(Analysis(photos=photos), tmp_path / "faces")
    names = [path.name for path, _ in written]
    assert names == ["000_astro.png", "001_hanks.png", "x002_same.png", "x003_same.png"]
    assert [p.file for _, p in written] == [p.file for p in photos[:4]]
    for path, photo in written:
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), photo.aligned)
