"""Exact and near-exact duplicate photos (the same photo re-saved or resized).

Exact copies share the file hash. Near-exact copies have the same aspect
ratio and nearly the same pixels once both are reduced to a small grey
thumbnail; crops, flips and different shots of the same scene do not.
Of a group of copies the best one is kept (`keep_best_copies`): a usable
face, colour rather than black and white, the most pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.types import PhotoRecord

_THUMB = 32
# Mean absolute difference (0-255 grey levels) between normalised thumbnails
# under which two photos count as the same. Re-encoding at JPEG quality 30 or
# a 10x downscale stay below 2.5; a 10 px crop or a face pasted in a corner give 5-9.
_MAX_MEAN_DIFF = 3.0
_MAX_ASPECT_DIFF = 0.02


Signature = tuple[float, np.ndarray]


def signature(image: np.ndarray) -> Signature:
    """(aspect ratio, small normalised grey thumbnail [32, 32] float32) of an RGB image."""
    h, w = image.shape[:2]
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    # Two area averages: first by a whole factor down to about 256 px (OpenCV's fast
    # path; the few rows and columns beyond a multiple of it are left out), then to
    # the thumbnail. One area average of a 12 MP photo straight down costs 5x more.
    k = max(1, max(h, w) // 256)
    if k > 1:
        hk, wk = max(1, h // k), max(1, w // k)
        grey = cv2.resize(grey[: hk * k, : wk * k], (wk, hk), interpolation=cv2.INTER_AREA)
    small = cv2.resize(grey, (_THUMB, _THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)
    # Normalise brightness/contrast a little so a re-save with another gamma still matches.
    std = float(small.std())
    return w / h, (small - small.mean()) / (std if std > 1e-3 else 1.0) * 40.0 + 128.0


@dataclass
class DuplicateFinder:
    """Remembers photos seen so far; `check` returns the name of an earlier copy."""

    _hashes: dict[str, str] = field(default_factory=dict)
    _sigs: list[tuple[str, float, np.ndarray]] = field(default_factory=list)

    def check(self, name: str, sha256: str, sig: Signature) -> str | None:
        """Name of an earlier copy of this photo, or None; `sig` comes from `signature`."""
        if sha256 in self._hashes:
            return self._hashes[sha256]
        self._hashes[sha256] = name
        aspect, sig = sig
        for other, other_aspect, other_sig in self._sigs:
            if abs(aspect - other_aspect) / other_aspect > _MAX_ASPECT_DIFF:
                continue
            if float(np.abs(sig - other_sig).mean()) < _MAX_MEAN_DIFF:
                return other
        self._sigs.append((name, aspect, sig))
        return None


def colourfulness(image: np.ndarray | None) -> float:
    """Mean chroma of an RGB image in grey levels (about 0 for black and white, 10+ for colour)."""
    if image is None or image.ndim != 3 or image.shape[2] < 3:
        return 0.0
    small = image[:: max(1, image.shape[0] // 64), :: max(1, image.shape[1] // 64), :3].astype(
        np.int16
    )
    r, g, b = small[..., 0], small[..., 1], small[..., 2]
    return float((np.abs(r - g) + np.abs(g - b)).mean() / 2)


# Chroma above which a photo counts as colour (JPEG noise in a grey scan stays under 2).
_COLOUR = 4.0


def keep_best_copies(
    photos: list[PhotoRecord], images: dict[str, np.ndarray] | None = None
) -> dict[str, str | None]:
    """Which copy of each duplicated photo is kept: the best one.

    Copies are the groups linked by `duplicate_of` (as the scan found them, or
    as a previous call left them: the groups stay the same, so this is safe to
    repeat). The best copy has a usable face, is in colour, has the most pixels,
    and then comes first in the album.

    Args:
        photos (list[PhotoRecord]): the album.
        images (dict | None): per file, an RGB view of the photo (e.g. the aligned
            face crop) to judge colour by; default each photo's `aligned` crop, read
            only for the photos that have copies.

    Returns:
        dict[str, str | None]: for every photo with copies, its new `duplicate_of`: the
        best copy's file, or None for the best copy itself (the records are not changed).
    """
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.get(name, name) != name:
            name = parent[name]
        return name

    by_name = {p.file: p for p in photos}
    for p in photos:
        if p.duplicate_of and p.duplicate_of in by_name:
            a, b = root(p.file), root(p.duplicate_of)
            if a != b:
                parent[a] = b
    groups: dict[str, list[PhotoRecord]] = {}
    for p in photos:
        groups.setdefault(root(p.file), []).append(p)
    rank = {p.file: i for i, p in enumerate(photos)}
    kept: dict[str, str | None] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        look = {p.file: images.get(p.file) if images is not None else p.aligned for p in members}
        best = max(
            members,
            key=lambda p: (
                p.status == "ok" and look[p.file] is not None,
                colourfulness(look[p.file]) > _COLOUR,
                p.width * p.height,
                -rank[p.file],
            ),
        )
        for p in members:
            kept[p.file] = None if p is best else best.file
    return kept
