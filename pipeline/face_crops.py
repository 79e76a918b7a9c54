"""The aligned face crops of an analysed album, written as PNG files (the CLI's --faces-dir, the API).

One naming rule for every front end: ``<order>_<file stem>.png`` for photos
in the video (0-based order, three digits), ``x<index>_<file stem>.png`` for
photos left out (their index in the album, so two left-out files with the
same stem never overwrite each other).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from pipeline.types import Analysis, PhotoRecord


def crop_name(photo: PhotoRecord, index: int) -> str:
    """The PNG file name of `photo`'s aligned crop; `index` is its place in `Analysis.photos`."""
    stem = Path(photo.file).stem
    prefix = f"{photo.order:03d}" if photo.order is not None else f"x{index:03d}"
    return f"{prefix}_{stem}.png"


def write_face_crops(analysis: Analysis, folder: Path) -> list[tuple[Path, PhotoRecord]]:
    """Write every aligned crop of `analysis` into `folder` (created if needed).

    Returns:
        (path, photo) for each crop written, in the analysis's order (video
        order, then the photos left out). Photos without a crop are skipped.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i, photo in enumerate(analysis.photos):
        image = photo.aligned
        if image is None:
            continue
        path = folder / crop_name(photo, i)
        Image.fromarray(image).save(path)
        written.append((path, photo))
    return written
