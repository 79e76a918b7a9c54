"""Scan results kept on disk, keyed by the photo's content hash and the scan settings.

`analyze` and then `render` of the same album, or a run after an edits change,
read each photo's `PhotoScan` back instead of finding its faces again. One
file per photo and settings: ``<folder>/<settings digest>/<sha256[:2]>/<sha256>.npz``,
written atomically, read with ``allow_pickle=False`` (numbers, text and a PNG
of the aligned crop; nothing executable). A damaged or foreign file counts as
a miss and is replaced.

The command line uses the user's cache folder by default (``--cache-dir``,
``--no-cache``); the web app keeps its own in-memory cache per album and never
writes visitors' photos or crops here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from pipeline.photos import PhotoSource
from pipeline.scan import PhotoScan, ScanSettings
from pipeline.types import FaceRecord

log = logging.getLogger(__name__)

APP_NAME = "facial-timelapse"


def default_cache_dir() -> Path:
    """The user's cache folder for scans (``$XDG_CACHE_HOME`` or ``~/.cache``, per platform)."""
    if os.name == "nt":  # pragma: no cover - Windows
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif os.uname().sysname == "Darwin":  # pragma: no cover - macOS
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / APP_NAME / "scans"


def content_hash(source: PhotoSource) -> str | None:
    """sha256 of a file's (or in-memory bytes') content, as the scan records it; None for
    decoded in-memory images and unreadable files (they are not cached)."""
    if source.path is not None:
        h = hashlib.sha256()
        try:
            with open(source.path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError:
            return None
        return h.hexdigest()
    if isinstance(source.data, bytes):
        return hashlib.sha256(source.data).hexdigest()
    return None


class DiskScanCache:
    """Per-photo scans in a folder (see the module docstring).

    Attributes:
        hits, misses (int): lookups answered and not answered since creation.
    """

    def __init__(self, folder: Path, settings: ScanSettings) -> None:
        digest = hashlib.sha256(settings.key().encode()).hexdigest()[:16]
        self.folder = Path(folder) / digest
        self.settings = settings
        self.hits = 0
        self.misses = 0

    def _path(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / f"{sha256}.npz"

    def get(self, sha256: str | None) -> PhotoScan | None:
        """The cached scan of this content, or None."""
        if not sha256:
            return None
        path = self._path(sha256)
        try:
            with np.load(path, allow_pickle=False) as data:
                scan = _decode(data)
        except FileNotFoundError:
            scan = None
        except Exception as exc:  # damaged, truncated or from another version
            log.warning("ignoring unreadable scan cache entry %s: %s", path, exc)
            scan = None
        if scan is None or scan.sha256 != sha256:
            self.misses += 1
            return None
        self.hits += 1
        return scan

    def put(self, scan: PhotoScan) -> None:
        """Store a scan; a full disk or a read-only folder only costs the cache."""
        path = self._path(scan.sha256)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-", suffix=".npz")
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **_encode(scan))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not write the scan cache entry %s: %s", path, exc)


def _encode(scan: PhotoScan) -> dict[str, np.ndarray]:
    meta = {
        "sha256": scan.sha256,
        "width": scan.width,
        "height": scan.height,
        "exif_date": scan.exif_date.isoformat() if scan.exif_date else None,
        "exif_note": scan.exif_note,
        "aspect": scan.signature[0] if scan.signature else None,
        "age": scan.age,
        "seconds": scan.seconds,
        "faces": [
            {
                "box": [int(v) for v in f.box],
                "detector": f.detector,
                "score": float(f.score),
                "flags": list(f.flags),
                "reasons": list(f.reasons),
                "eye_distance": float(f.eye_distance),
                "yaw": float(f.yaw),
            }
            for f in scan.faces
        ],
    }
    out: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    if scan.signature is not None:
        out["thumb"] = np.asarray(scan.signature[1], np.float32)
    if scan.faces:
        out["landmarks"] = np.stack([f.landmarks for f in scan.faces]).astype(np.float32)
        if all(f.descriptor is not None for f in scan.faces):
            out["descriptors"] = np.stack([f.descriptor for f in scan.faces]).astype(np.float32)
    if scan.crop is not None and scan.crop_landmarks is not None:
        ok, png = cv2.imencode(".png", scan.crop[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if ok:
            out["crop_png"] = png.reshape(-1)
            out["crop_landmarks"] = np.asarray(scan.crop_landmarks, np.float32)
    return out


def _decode(data: np.lib.npyio.NpzFile) -> PhotoScan:
    meta = json.loads(str(data["meta"]))
    faces = []
    for i, f in enumerate(meta["faces"]):
        faces.append(
            FaceRecord(
                box=tuple(f["box"]),
                landmarks=np.array(data["landmarks"][i], np.float32),
                detector=f["detector"],
                score=f["score"],
                descriptor=np.array(data["descriptors"][i], np.float32)
                if "descriptors" in data
                else None,
                flags=list(f["flags"]),
                reasons=list(f["reasons"]),
                eye_distance=f["eye_distance"],
                yaw=f["yaw"],
            )
        )
    crop = crop_lm = None
    if "crop_png" in data:
        crop = cv2.imdecode(np.asarray(data["crop_png"]), cv2.IMREAD_COLOR)
        if crop is None:
            raise ValueError("damaged crop")
        crop = np.ascontiguousarray(crop[:, :, ::-1])
        crop_lm = np.array(data["crop_landmarks"], np.float32)
    sig = (float(meta["aspect"]), np.array(data["thumb"], np.float32)) if "thumb" in data else None
    return PhotoScan(
        sha256=meta["sha256"],
        width=int(meta["width"]),
        height=int(meta["height"]),
        exif_date=dt.date.fromisoformat(meta["exif_date"]) if meta["exif_date"] else None,
        exif_note=meta["exif_note"],
        signature=sig,
        faces=faces,
        crop=crop,
        crop_landmarks=crop_lm,
        age=meta["age"],
        seconds=float(meta.get("seconds") or 0.0),
    )
