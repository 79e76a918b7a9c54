"""Aligned face crops kept out of memory, so an album's analysis stays flat in its size.

Each photo's 512 px aligned crop is 0.8 MB; a thousand of them held as arrays
would be most of a large album's memory. A `CropStore` writes them instead,
byte for byte, to one temporary file that has no name on disk (created
unlinked, readable by this user only): it vanishes when the store is dropped
(once the last crop handle on it is gone, each holding the
store) or the process ends, however it ends, and nothing of a visitor's photos is
left behind. An `AlignedCrop` is a handle: its landmarks stay in memory, its
pixels are read back (a fresh array, equal to what was stored) each time
`image` is asked for, so only the crops callers hold at that moment are in
memory. Reads go through the operating system's page cache, which costs
about a memory copy.

A crop put in a process other than the one that made the store (a forked
worker) stays in memory, as does one the disk refuses: the store never
writes where another process might. Pickled crops carry their pixels;
copies (`copy.deepcopy` too) share the handle.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from typing import Any, BinaryIO

import numpy as np

log = logging.getLogger(__name__)


class AlignedCrop:
    """A face crop ([S, S, 3] uint8) and its [68, 2] float32 landmarks in crop pixels.

    Made directly (``AlignedCrop(image, landmarks)``) it holds the array; made by
    `CropStore.put` its pixels live in the store's file.
    """

    __slots__ = ("landmarks", "shape", "_image", "_store", "_offset")

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        self._image: np.ndarray | None = image
        self.landmarks = landmarks
        self.shape: tuple[int, ...] = tuple(np.shape(image))
        self._store: CropStore | None = None
        self._offset = 0

    @property
    def side(self) -> int:
        """Side of the crop in pixels (no pixels read)."""
        return int(self.shape[0])

    @property
    def stored(self) -> bool:
        """The pixels live in a store's file rather than in memory."""
        return self._store is not None

    @property
    def image(self) -> np.ndarray:
        """The crop's pixels (read back from the store when they live there)."""
        if self._store is None:
            assert self._image is not None
            return self._image
        return self._store.read(self._offset, self.shape)

    def __reduce__(self) -> tuple[Any, ...]:
        return (AlignedCrop, (self.image, self.landmarks))

    # A handle is never changed in place: copies share it (and never read the pixels).
    def __copy__(self) -> AlignedCrop:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> AlignedCrop:
        return self

    def __repr__(self) -> str:
        where = "stored" if self.stored else "in memory"
        return f"AlignedCrop({self.side} px, {where})"


class CropStore:
    """Crops of one analysis in an unnamed temporary file (see the module docstring).

    Args:
        folder (str | None): where the file is made; the system's temporary folder by default.
    """

    def __init__(self, folder: str | None = None) -> None:
        self._folder = folder
        self._file: BinaryIO | None = None
        self._end = 0
        self._count = 0
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._disk_ok = True

    def put(self, image: np.ndarray, landmarks: np.ndarray) -> AlignedCrop:
        """A handle on `image`; its pixels written to the file (kept in memory if they cannot be)."""
        image = np.ascontiguousarray(image, np.uint8)
        crop = AlignedCrop(image, landmarks)
        if os.getpid() != self._pid or not self._disk_ok:
            return crop
        data = memoryview(image).cast("B")
        with self._lock:
            try:
                if self._file is None:
                    # Lives as long as the store (closed when it is collected).
                    self._file = tempfile.TemporaryFile(  # noqa: SIM115
                        prefix="timelapse-crops-", dir=self._folder
                    )
                offset = self._end
                _write_at(self._file, data, offset)
            except OSError as exc:
                self._disk_ok = False
                log.warning("keeping face crops in memory: the temporary file failed (%s)", exc)
                return crop
            self._end += len(data)
            self._count += 1
        crop._image, crop._store, crop._offset = None, self, offset
        return crop

    def read(self, offset: int, shape: tuple[int, ...]) -> np.ndarray:
        """The uint8 array of `shape` stored at `offset` (a new, writable array)."""
        out = np.empty(shape, np.uint8)
        assert self._file is not None  # a crop at an offset was written, so the file exists
        _read_at(self._file, memoryview(out).cast("B"), offset, self._lock)
        return out

    @property
    def count(self) -> int:
        """Crops written to the file."""
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes of the file (on disk or in the page cache, not in this process' memory)."""
        return self._end

    def __reduce__(self) -> tuple[Any, ...]:
        # A copy in another process starts empty: the crops travel with their own handles.
        return (CropStore, (self._folder,))


def _write_at(f: BinaryIO, data: memoryview, offset: int) -> None:
    fd = f.fileno()
    if hasattr(os, "pwrite"):
        done = 0
        while done < len(data):
            done += os.pwrite(fd, data[done:], offset + done)
    else:  # pragma: no cover - Windows: the caller holds the store's lock
        f.seek(offset)
        f.write(data)
        f.flush()


def _read_at(f: BinaryIO, buf: memoryview, offset: int, lock: threading.Lock) -> None:
    fd = f.fileno()
    if hasattr(os, "preadv"):
        # Positioned reads share no file offset: safe from threads and forked children alike.
        done = 0
        while done < len(buf):
            n = os.preadv(fd, [buf[done:]], offset + done)
            if n == 0:
                raise OSError(f"face crop store: file ends at {offset + done}")
            done += n
        return
    with lock:  # pragma: no cover - Windows
        f.seek(offset)
        if f.readinto(buf) != len(buf):
            raise OSError("face crop store: file ends early")
