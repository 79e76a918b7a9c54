"""Exact and near-exact duplicate photos (the same photo re-saved or resized).

Exact copies share the file hash. Near-exact copies have the same aspect
ratio and nearly the same pixels once both are reduced to a small grey
thumbnail; crops, flips and different shots of the same scene do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

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
    # Two steps: a cheap shrink of a big photo first, then an area average.
    if max(h, w) > 1024:
        f = 1024 / max(h, w)
        image = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
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
