"""Records shared by the analysis, the renderer, the CLI and the app.

A `PhotoRecord` is one input photo and everything learnt about it; an
`Analysis` is the whole album in its final order. Both serialise to the JSON
that `python -m pipeline analyze --json` writes and the app's `/analyze`
endpoint returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.codes import Status
from pipeline.crop_store import AlignedCrop, CropStore
from pipeline.errors import NotEnoughPhotosError

# Per-photo status codes (`codes.Status`). "ok" means the photo was read; whether a face was
# found is in `faces` / `chosen_face`, and whether it should be used is in
# `recommended_remove` and `include`.
STATUS_OK = Status.OK
STATUS_CODES = tuple(Status)


def _shallow(obj: Any) -> Any:
    """A shallow copy of a dataclass instance (not slotted): nine times faster than
    `dataclasses.replace`, which runs `__init__` again; finalize copies every record three
    times (from the scan, placing, ordering), and a thousand photos should stay cheap."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    return new


@dataclass
class FaceRecord:
    """One detected face in a photo.

    Attributes:
        box (tuple[int, int, int, int]): left, top, right, bottom in the
            full-resolution (EXIF-rotated) photo's pixels.
        landmarks (np.ndarray): [68, 2] float32 (x, y), full-resolution pixels.
        detector (str): ``hog`` or ``cnn``.
        score (float): detector confidence.
        descriptor (np.ndarray | None): [128] float32 identity descriptor.
        flags (list[str]): quality flags, e.g. ``small``, ``side``.
        reasons (list[str]): one human sentence per flag.
        eye_distance (float): distance between the eye centres, full-res pixels.
        yaw (float): rough head turn in degrees (0 = frontal, sign = side).
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    detector: str = "hog"
    score: float = 0.0
    descriptor: np.ndarray | None = None
    flags: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    eye_distance: float = 0.0
    yaw: float = 0.0

    def copy(self) -> FaceRecord:
        """A copy whose `flags` and `reasons` are its own (arrays shared, read-only)."""
        new = _shallow(self)
        new.flags, new.reasons = list(self.flags), list(self.reasons)
        return new

    def to_json(self) -> dict[str, Any]:
        return {
            "box": [int(v) for v in self.box],
            "detector": self.detector,
            "score": round(float(self.score), 4),
            "flags": list(self.flags),
            "reasons": list(self.reasons),
            "eye_distance": round(float(self.eye_distance), 1),
            "yaw": round(float(self.yaw), 1),
        }


@dataclass
class PhotoRecord:
    """One input photo and what the analysis found.

    Attributes:
        file (str): display name (the file name, unique within the album).
        path (str | None): where it was read from (None for in-memory images).
        status (str): one of `STATUS_CODES`.
        message (str): what the status code alone does not say: an unreadable file's
            cause, or a note on its date (empty when there is nothing more, e.g. ``no_face``).
            Front ends word the code from their own tables.
        width, height (int): size of the EXIF-rotated full-resolution photo.
        sha256 (str): hash of the file's bytes (or of the pixels for in-memory images).
        faces (list[FaceRecord]): every face found.
        chosen_face (int | None): index into `faces` of the target person's face.
        identity_distance (float | None): how far the chosen face is from the person
            (from the photos of nearby ages); compared with `identity_limit`.
        recommended_remove (bool): the analysis thinks this photo should not be used:
            probably another person, a duplicate, or a file without a usable face.
        reason (str): why it is recommended to remove (empty otherwise).
        warnings (list[str]): things worth a look that do not call for removal
            (a small or side-on face, a date that does not fit); the photo stays in.
        duplicate_of (str | None): `file` of the copy kept (the best of the copies).
        date (datetime.date | None): capture date.
        date_source (str | None): ``exif``, ``filename``, ``metadata`` or ``edit``.
        date_precision (str): ``day``, ``year`` or ``""`` (no date).
        age (float | None): the timeline's age in years, used for ordering and timing.
        age_source (str | None): ``date`` (birth date given + capture date), ``year``
            (birth date given + capture year), ``inferred`` (capture date + the
            birth date inferred from the album), ``estimate`` (from the face) or ``edit``.
        age_estimate (float | None): the age model's raw estimate, kept even when overridden.
        order_source (str | None): where the photo's place on the timeline comes from:
            ``edit`` (the user's age or date), ``date`` (its capture date), ``likeness``
            (undated, placed among the faces it resembles) or ``estimate`` (the age model alone).
        include (bool): whether the photo goes into the video.
        order (int | None): 0-based position in the video among included photos.
        crop (AlignedCrop | None): the chosen face's FFHQ-aligned crop; its pixels may
            live in the analysis' `CropStore` (a temporary file), read on each access of
            `aligned`. Test `crop is not None` rather than `aligned` to avoid reading them.
        credits (dict | None): author / licence / url for photos fetched by name.
    """

    file: str
    path: str | None = None
    status: str = STATUS_OK
    message: str = ""
    width: int = 0
    height: int = 0
    sha256: str = ""
    faces: list[FaceRecord] = field(default_factory=list)
    chosen_face: int | None = None
    identity_distance: float | None = None
    identity_limit: float | None = None
    recommended_remove: bool = False
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    date: dt.date | None = None
    date_source: str | None = None
    date_precision: str = ""
    age: float | None = None
    age_source: str | None = None
    age_estimate: float | None = None
    order_source: str | None = None
    include: bool = True
    order: int | None = None
    crop: AlignedCrop | None = field(default=None, repr=False)
    credits: dict[str, Any] | None = None

    def copy(self, **changes: Any) -> PhotoRecord:
        """A copy with `changes` whose lists are its own (`warnings`, `faces` with their `flags`
        and `reasons`, `credits`): changing the copy never changes this record, so a stage can
        work on copies of the records it is handed. Arrays (descriptors, landmarks) and the crop
        are shared, read-only."""
        unknown = [name for name in changes if name not in self.__dataclass_fields__]
        if unknown:
            raise TypeError(f"PhotoRecord has no field(s) {sorted(unknown)}")
        new = _shallow(self)
        new.warnings = list(self.warnings)
        new.faces = [f.copy() for f in self.faces]
        new.credits = dict(self.credits) if self.credits is not None else None
        new.__dict__.update(changes)
        return new

    @property
    def aligned(self) -> np.ndarray | None:
        """[S, S, 3] uint8 FFHQ-aligned crop of the chosen face (read from the store if there)."""
        return None if self.crop is None else self.crop.image

    @property
    def aligned_landmarks(self) -> np.ndarray | None:
        """[68, 2] float32 landmarks in `aligned` pixels."""
        return None if self.crop is None else self.crop.landmarks

    @property
    def usable(self) -> bool:
        """True when the photo can go into the video (read, face chosen, included, has an age)."""
        return (
            self.status == STATUS_OK
            and self.include
            and self.chosen_face is not None
            and self.crop is not None
            and self.age is not None
        )

    @property
    def face(self) -> FaceRecord | None:
        if self.chosen_face is None or not (0 <= self.chosen_face < len(self.faces)):
            return None
        return self.faces[self.chosen_face]

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "status": self.status,
            "message": self.message,
            "width": self.width,
            "height": self.height,
            "faces": [f.to_json() for f in self.faces],
            "chosen_face": self.chosen_face,
            "identity_distance": None
            if self.identity_distance is None
            else round(float(self.identity_distance), 4),
            "identity_limit": None
            if self.identity_limit is None
            else round(float(self.identity_limit), 4),
            "recommended_remove": bool(self.recommended_remove),
            "reason": self.reason,
            "warnings": list(self.warnings),
            "duplicate_of": self.duplicate_of,
            "date": self.date.isoformat() if self.date else None,
            "date_source": self.date_source,
            "date_precision": self.date_precision or None,
            "age": None if self.age is None else round(float(self.age), 2),
            "age_source": self.age_source,
            "age_estimate": None
            if self.age_estimate is None
            else round(float(self.age_estimate), 1),
            "order_source": self.order_source,
            "include": bool(self.include),
            "order": self.order,
            "credits": self.credits,
        }


@dataclass
class BirthEstimate:
    """A birth date inferred from the album (no birth date was given).

    Attributes:
        date (datetime.date): the estimate.
        n_photos (int): dated photos it rests on (after outliers were set aside).
        uncertainty_years (float): the "give or take", in years: a 90% half-width
            that includes the age model's error for the whole person, not only
            the scatter between photos.
    """

    date: dt.date
    n_photos: int
    uncertainty_years: float

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "n_photos": int(self.n_photos),
            "uncertainty_years": round(float(self.uncertainty_years), 1),
        }

    def describe(self) -> str:
        """``born about 1984, give or take 6 years, estimated from 140 dated photos``."""
        what = "dated photos" if self.n_photos != 1 else "dated photo"
        years = max(1, round(self.uncertainty_years))
        spread = f", give or take {years} year{'s' if years != 1 else ''}"
        return f"born about {self.date.year}{spread}, estimated from {self.n_photos} {what}"


@dataclass(frozen=True)
class AlignedFace:
    """One face aligned for the video, as `ScanState` keeps it.

    Attributes:
        crop (AlignedCrop): the FFHQ-aligned crop and its landmarks (pixels in the store).
        age (float | None): the age model's estimate of the face (None until it is made).
    """

    crop: AlignedCrop
    age: float | None = None


@dataclass
class ScanState:
    """What the scan found, which `analysis.finalize` reads again on each run.

    Owned by `pipeline.analysis`: the scan fills it; finalize only adds the crops and age
    estimates of faces the scan did not align (a cache of the scan's own work). The scan's
    records are never changed after the scan: each finalize works on its own copies.

    Attributes:
        sources (dict[str, PhotoSource]): the photos by file name.
        store (CropStore): where the crops' pixels live (dropped with the last crop handle).
        scanned (dict[str, PhotoRecord]): the scan's record of each photo by file name (size,
            hash, faces, the date it came with and its precision, duplicates, unreadable or
            faceless files), read-only: every finalize starts from copies of these.
        faces (dict[tuple[str, int], AlignedFace]): the aligned faces per (file, face index):
            face 0 (the largest) by the scan, another face once a finalize chooses it.
        use_cnn (bool): the scan ran dlib's CNN detector too.
    """

    sources: dict[str, Any] = field(default_factory=dict)
    store: CropStore = field(default_factory=CropStore)
    scanned: dict[str, PhotoRecord] = field(default_factory=dict)
    faces: dict[tuple[str, int], AlignedFace] = field(default_factory=dict)
    use_cnn: bool = False


@dataclass
class Analysis:
    """The analysed album, records sorted in video order (included first, by age, then date).

    Attributes:
        photos (list[PhotoRecord]): every input, none dropped.
        size (int): side of the aligned crops in pixels.
        birth_date (datetime.date | None): the person's birth date, if given.
        birth_estimate (BirthEstimate | None): the birth date inferred from dated
            photos when none was given (None when given, or nothing to infer from).
        timings (dict[str, float]): wall time per stage in seconds.
    """

    photos: list[PhotoRecord]
    size: int = 512
    birth_date: dt.date | None = None
    birth_estimate: BirthEstimate | None = None
    timings: dict[str, float] = field(default_factory=dict)
    # Scan results that re-finalising needs (sources, aligned crops per face);
    # owned by pipeline.analysis, never serialised.
    state: ScanState | None = field(default=None, repr=False, compare=False)

    @property
    def sources(self) -> dict[str, Any]:
        """The photos by file name (`photos.PhotoSource`), where a render reads full-resolution
        pixels for crops larger than the scan's (empty for records made without a scan)."""
        return self.state.sources if self.state is not None else {}

    @property
    def usable(self) -> list[PhotoRecord]:
        """Photos that go into the video, in video order."""
        return sorted((p for p in self.photos if p.usable), key=lambda p: p.order or 0)

    def shortage(self, needed: int = 2, *, needs_age_model: bool = False) -> NotEnoughPhotosError:
        """The error for an album with fewer than `needed` usable photos, with its facts.

        `needs_age_model`: one photo would do with the SAM age model, unavailable here.
        """
        with_face = sum(1 for p in self.photos if p.crop is not None)
        left_out = [(p.file, p.reason) for p in self.photos if p.crop is not None and not p.usable]
        return NotEnoughPhotosError(
            len(self.usable), len(self.photos), needed=needed, with_face=with_face, left_out=left_out,
            needs_age_model=needs_age_model,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "birth_estimate": self.birth_estimate.to_json() if self.birth_estimate else None,
            "usable": len(self.usable),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "photos": [p.to_json() for p in self.photos],
        }


@dataclass(frozen=True)
class ImaginedFrom:
    """Where an imagined keyframe comes from: the real photo SAM aged to make it.

    Attributes:
        source_key (str): the source photo's `Keyframe.key`.
        source (str): the source photo's label (file name), for reports.
    """

    source_key: str
    source: str


@dataclass(frozen=True)
class Keyframe:
    """One photo of the time-lapse, aligned and ready to render: a value.

    Frozen: a stage that knows more about a keyframe (the renderer its time in the
    video and its matte, SAM its latent) makes a new one with `copy` and keeps it in
    its own list, so the keyframes a caller hands in stay as they were.

    Attributes:
        image (np.ndarray): [S, S, 3] uint8 aligned face at the output size.
        landmarks (np.ndarray): [68, 2] float32 (x, y) in `image` pixels.
        age (float): age in years.
        age_exact (bool): the age comes from a birth date and a capture date.
        date (datetime.date | None): capture date, if known.
        label (str): the photo's file name.
        key (str): stable identifier of the source photo (content hash), for caches.
        matte (np.ndarray | None): [S, S] float32 person matte in [0, 1]; the render
            plan's own keyframes carry one when the video uses a steady backdrop.
        birth_date (datetime.date | None): the person's birth date, when known
            (captions count age from it).
        date_precision (str): how precise `date` is: ``day``, ``year`` or ``""``
            (unknown; captions read it as ``day``).
        other_faces (Sequence[np.ndarray]): [68, 2] float32 landmarks, in `image`
            pixels, of the photo's other faces: the matte keeps their people out.
        photo_corners (np.ndarray | None): [4, 2] float32 corners of the photo in
            `image` (beyond them the crop holds the photo's reflection).
        time (float | None): seconds into the video; the render plan's own keyframes
            carry it (methods read it in `prepare` so motion can be smooth in video time).
        eye_ratio (float | None): photo-a-day: the eye distance (share of the
            side) the photo is aligned to.
        imagined (ImaginedFrom | None): set on a face generated at an age no photo
            shows: the photo it was imagined from.
        wplus (np.ndarray | None): [n_latent, 512] float32 SAM latent, on the keyframes
            `imagine_keyframes` returns for imagined faces and their sources.
    """

    image: np.ndarray
    landmarks: np.ndarray
    age: float
    age_exact: bool = False
    date: dt.date | None = None
    label: str = ""
    key: str = ""
    matte: np.ndarray | None = None
    birth_date: dt.date | None = None
    date_precision: str = ""
    other_faces: Sequence[np.ndarray] = ()
    photo_corners: np.ndarray | None = None
    time: float | None = None
    eye_ratio: float | None = None
    imagined: ImaginedFrom | None = None
    wplus: np.ndarray | None = None

    def copy(self, **changes: Any) -> Keyframe:
        """A new keyframe with `changes` (field names); arrays not changed are shared, read-only.

        Unlike `dataclasses.replace`, which reads every field to build the copy, the copy
        goes through the instance dict: a photo-a-day keyframe (`render.daily`), whose
        pixels are built when read, stays one that builds them when read.
        """
        unknown = [name for name in changes if name not in self.__dataclass_fields__]
        if unknown:
            raise TypeError(f"Keyframe has no field(s) {sorted(unknown)}")
        new = _shallow(self)
        for name, value in changes.items():
            # object.__setattr__: the fields are frozen, and a subclass's properties
            # (a streamed keyframe's image and matte) still take what they are given.
            object.__setattr__(new, name, value)
        return new


def is_imagined(kf: Keyframe) -> bool:
    """The keyframe is a face generated at an age no photo shows (`Keyframe.imagined` set)."""
    return kf.imagined is not None
