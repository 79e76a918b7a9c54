"""Photo-a-day mode: every photo on screen for a few frames, eyes locked, a short blend between.

The classic "a photo every day" video shows each photo briefly rather than
morphing between a few. Three things keep it watchable:

* Eyes locked: each photo is re-warped (a similarity of its aligned crop) so
  that its eye centres land exactly on the canonical eye positions; the face
  stops wandering however the photo was framed.
* Alignment smoothed over neighbouring days: where the eyes sit vertically
  follows the face's eye-to-mouth proportion (`canonical_eye_positions`),
  which jumps with every landmark estimate; it is the median over the
  `smooth` photos either side instead, so it drifts only as the face grows.
* Optional frame averaging: each shown photo is the mean of itself and the
  next `average - 1` locked photos, softening lighting flicker.

`daily_timing` lays the frames out in the renderer's usual `Timing` form
(keyframe, holds, in-betweens), so the frame count is exactly
``photos * per_photo + (photos - 1) * blend``.

Memory stays flat in the number of photos: `lock_keyframes` decides
everything from the landmarks alone and returns `StreamedKeyframe`s, whose
pixels a shared `PhotoWindow` builds when they are read (crop, eye lock,
average, matte, backdrop) and keeps only for the few photos around the one
being rendered; of the others only their mattes stay, compressed (a few
tens of kB each), so that no matte is computed twice.
"""

from __future__ import annotations

import dataclasses
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np

from pipeline.faces import canonical_eye_positions, eye_centres
from pipeline.matte import composite, person_matte
from pipeline.render.keyframes import LazyKeyframe
from pipeline.render.timing import Timing
from pipeline.types import Keyframe


def daily_timing(ages: Sequence[float], *, fps: int, per_photo: int, blend: int) -> Timing:
    """Each photo (of these ages) shown `per_photo` frames, `blend` in-between frames after each but the last."""
    count = len(ages)
    if count < 2:
        raise ValueError("a time-lapse needs at least two keyframes")
    if per_photo < 1 or blend < 0:
        raise ValueError("per_photo must be at least 1 and blend at least 0")
    return Timing(
        fps=int(fps),
        mode="per_photo",
        transition_frames=tuple(blend + 1 for _ in range(count - 1)),
        hold_frames=per_photo - 1,
        age_gaps=tuple(abs(float(b) - float(a)) for a, b in zip(ages[:-1], ages[1:])),
    )


def timeline_order(photos: Sequence[LazyKeyframe]) -> list[LazyKeyframe]:
    """Photos in the order the analysis' timeline gives an album: the dated ones by date, each
    undated one among them where its age puts it (before the first dated photo that is older),
    undated photos of one place by age; ties keep their order.

    An analysis' usable photos are already in that order (`timeline.order_photos`, which
    the review shows): this is for keyframes given directly.
    """
    indexed = list(enumerate(photos))
    dated = sorted(
        ((i, ph) for i, ph in indexed if ph.keyframe.date is not None),
        key=lambda item: (item[1].keyframe.date, item[0]),
    )
    # The oldest age seen so far along the dated photos: an undated photo goes before
    # the first dated photo older than it.
    oldest = np.maximum.accumulate([float(ph.keyframe.age) for _, ph in dated]) if dated else []
    slots: dict[int, list[tuple[float, int, LazyKeyframe]]] = {}
    for i, ph in indexed:
        if ph.keyframe.date is None:
            age = float(ph.keyframe.age)
            slot = int(np.searchsorted(oldest, age, side="right"))
            slots.setdefault(slot, []).append((age, i, ph))
    out: list[LazyKeyframe] = []
    for k in range(len(dated) + 1):
        out.extend(ph for _, _, ph in sorted(slots.get(k, []), key=lambda item: item[:2]))
        if k < len(dated):
            out.append(dated[k][1])
    return out


def mouth_ratio(landmarks: np.ndarray) -> float:
    """|eye midpoint -> mouth midpoint| / |eye to eye| of 68 landmarks (FFHQ's proportion)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    left, right = eye_centres(lm)
    mouth = (lm[48] + lm[54]) / 2
    return float(np.hypot(*(mouth - (left + right) / 2)) / max(np.hypot(*(right - left)), 1e-6))


def smoothed_ratios(landmarks: Sequence[np.ndarray], smooth: int) -> list[float]:
    """Each photo's mouth ratio as the median over it and `smooth` photos either side."""
    ratios = np.array([mouth_ratio(lm) for lm in landmarks])
    out = []
    for i in range(len(ratios)):
        lo, hi = max(0, i - smooth), min(len(ratios), i + smooth + 1)
        out.append(float(np.median(ratios[lo:hi])))
    return out


def eye_lock(landmarks: np.ndarray, size: int, ratio: float) -> np.ndarray:
    """[2, 3] similarity moving the face's eye centres onto the canonical eye positions."""
    src = np.stack(eye_centres(landmarks))
    dst = np.stack(canonical_eye_positions(size, ratio))
    s_vec, d_vec = src[1] - src[0], dst[1] - dst[0]
    # Complex-number form of the similarity taking src[0]->dst[0] and src[1]->dst[1].
    z = complex(*d_vec) / complex(*s_vec)
    a, b = z.real, z.imag
    rot = np.array([[a, -b], [b, a]])
    offset = dst[0] - rot @ src[0]
    return np.concatenate([rot, offset[:, None]], axis=1)


class _Recent:
    """The last few values built, by photo index (least recently used dropped first)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()

    def get(self, i: int, build: Callable[[], np.ndarray]) -> np.ndarray:
        if i in self._items:
            self._items.move_to_end(i)
            return self._items[i]
        value = build()
        self._items[i] = value
        while len(self._items) > self.keep:
            self._items.popitem(last=False)
        return value


class PhotoWindow:
    """The pixels of a photo-a-day video's photos, built on demand, a few kept at a time.

    Args:
        loaders: per photo, its aligned crop at `size` ([size, size, 3] uint8), built on each call.
        matrices: per photo, the [2, 3] eye lock (`eye_lock`).
        landmarks: per photo, the locked landmarks (its matte follows them).
        size (int): output side in pixels.
        average (int): locked photos averaged into each shown one (1: none).

    `backdrop` (set by the renderer for a steady background) is what `shown`
    composites each photo onto. Thread-safe: frames may be built on a pool.
    """

    def __init__(
        self,
        loaders: Sequence[Callable[[], np.ndarray]],
        matrices: Sequence[np.ndarray],
        landmarks: Sequence[np.ndarray],
        size: int,
        *,
        average: int = 1,
    ) -> None:
        self._loaders, self._matrices, self._landmarks = (
            list(loaders),
            list(matrices),
            list(landmarks),
        )
        self.size = size
        self.average = max(1, int(average))
        self.backdrop: np.ndarray | None = None
        self._lock = threading.RLock()
        self._locked = _Recent(self.average + 3)
        self._images = _Recent(4)
        self._shown = _Recent(4)
        self._mattes = _Recent(4)
        self._packed: dict[int, bytes] = {}  # every matte computed, zlib-compressed float32

    def __len__(self) -> int:
        return len(self._loaders)

    def locked(self, i: int) -> np.ndarray:
        """Photo i with its eyes on the canonical positions."""
        with self._lock:
            return self._locked.get(i, lambda: self._lock_eyes(i))

    def _lock_eyes(self, i: int) -> np.ndarray:
        return cv2.warpAffine(
            self._loaders[i](),
            self._matrices[i],
            (self.size, self.size),
            flags=cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_REFLECT_101,
        )

    def image(self, i: int) -> np.ndarray:
        """Photo i as the video shows it before any backdrop (locked, averaged with the next)."""
        if self.average <= 1:
            return self.locked(i)
        with self._lock:
            return self._images.get(i, lambda: self._mean(i))

    def _mean(self, i: int) -> np.ndarray:
        group = [self.locked(k) for k in range(i, min(i + self.average, len(self)))]
        mean = np.mean([g.astype(np.float32) for g in group], axis=0)
        return np.clip(np.rint(mean), 0, 255).astype(np.uint8)

    def matte(self, i: int) -> np.ndarray:
        """[size, size] float32 person matte of `image(i)` (computed once, kept compressed)."""
        with self._lock:
            return self._mattes.get(i, lambda: self._unpack(i))

    def _unpack(self, i: int) -> np.ndarray:
        if i not in self._packed:
            # No colour model: a thousand photos, each on screen for a few frames.
            matte = person_matte(self.image(i), self._landmarks[i], colour_model=False)
            self._packed[i] = self._pack(matte)
            return matte
        flat = np.frombuffer(bytearray(zlib.decompress(self._packed[i])), np.float32)
        return flat.reshape(self.size, self.size)

    def _pack(self, matte: np.ndarray) -> bytes:
        matte = np.ascontiguousarray(matte, np.float32)
        if matte.shape != (self.size, self.size):
            raise ValueError(f"a matte must be [{self.size}, {self.size}], got {matte.shape}")
        return zlib.compress(matte.tobytes(), 1)

    def shown(self, i: int) -> np.ndarray:
        """Photo i as the video shows it: on the backdrop when there is one."""
        if self.backdrop is None:
            return self.image(i)
        with self._lock:
            return self._shown.get(
                i, lambda: composite(self.image(i), self.matte(i), self.backdrop)
            )


# Keyframe fields that are pixels or their geometry: a streamed keyframe builds or
# gives its own; every other field is a fact about the photo that copies carry over.
_PIXEL_FIELDS = frozenset({"image", "matte", "landmarks"})


def _facts(kf: Keyframe) -> dict[str, Any]:
    """The keyframe's fields other than its pixels, matte and landmarks, by name."""
    return {
        f.name: getattr(kf, f.name)
        for f in dataclasses.fields(Keyframe)
        if f.name not in _PIXEL_FIELDS
    }


class StreamedKeyframe(Keyframe):
    """A photo-a-day keyframe: its facts in memory, its pixels built by a `PhotoWindow` when read.

    `image` (and `matte`, when read) are photo `index` of `window`; with
    ``layer="shown"`` the image is the one on the backdrop. An image or matte
    given explicitly (e.g. by `dataclasses.replace` or `Keyframe.copy`) is kept as
    given; `Keyframe.copy` with other changes (the renderer's `time`) keeps the
    window, so the copy still builds its pixels when read.
    """

    def __init__(
        self, *args: Any, window: PhotoWindow | None = None, index: int = -1, layer: str = "image",
        **fields: Any,
    ) -> None:  # fmt: skip
        self._window, self._index, self._layer = window, index, layer
        self._image: np.ndarray | None = None
        self._matte: np.ndarray | None = None
        fields.setdefault("image", None)
        super().__init__(*args, **fields)

    @property  # type: ignore[override]
    def image(self) -> np.ndarray:
        if self._image is not None or self._window is None:
            return self._image  # type: ignore[return-value]
        if self._layer == "shown":
            return self._window.shown(self._index)
        return self._window.image(self._index)

    @image.setter
    def image(self, value: np.ndarray | None) -> None:
        self._image = value

    @property  # type: ignore[override]
    def matte(self) -> np.ndarray | None:
        if self._matte is not None or self._window is None:
            return self._matte
        return self._window.matte(self._index)

    @matte.setter
    def matte(self, value: np.ndarray | None) -> None:
        self._matte = value

    @property
    def window(self) -> PhotoWindow | None:
        return self._window

    def on_backdrop(self) -> StreamedKeyframe:
        """The same photo (same facts) whose image is the one on the backdrop."""
        return StreamedKeyframe(
            window=self._window, index=self._index, layer="shown", landmarks=self.landmarks,
            **_facts(self),
        )  # fmt: skip


class ShownPhotos(Sequence[np.ndarray]):
    """The photos of a window as the video shows them, by index (built on demand)."""

    def __init__(self, window: PhotoWindow) -> None:
        self.window = window

    def __len__(self) -> int:
        return len(self.window)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self.window.shown(k) for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.window.shown(i)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.window.shown(i)


def lock_keyframes(
    photos: Sequence[LazyKeyframe], size: int, *, smooth: int = 3, average: int = 1
) -> list[StreamedKeyframe]:
    """Keyframes with eyes locked on the canonical positions (see the module docstring).

    Only landmarks are read here; the pixels are built when each keyframe's
    image is read.

    Args:
        photos: the aligned faces at `size` px, in video order.
        smooth (int): photos either side whose median proportion places the eyes.
        average (int): consecutive locked photos averaged into each shown one (1: none).
    """
    ratios = smoothed_ratios([ph.keyframe.landmarks for ph in photos], smooth)
    matrices = [eye_lock(ph.keyframe.landmarks, size, r) for ph, r in zip(photos, ratios)]
    locked = [
        (np.asarray(ph.keyframe.landmarks, np.float64) @ m[:, :2].T + m[:, 2]).astype(np.float32)
        for ph, m in zip(photos, matrices)
    ]
    window = PhotoWindow([ph.load for ph in photos], matrices, locked, size, average=average)
    out = []
    for i, (ph, ratio, lm) in enumerate(zip(photos, ratios, locked)):
        kf = ph.keyframe
        out.append(
            StreamedKeyframe(
                window=window,
                index=i,
                landmarks=lm,
                **{**_facts(kf), "eye_ratio": ratio},
            )  # fmt: skip
        )
    return out
