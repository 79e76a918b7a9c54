"""The pipeline object: photos (and optional edits) in, a time-lapse out, in one call.

    from pipeline.timelapse import Timelapse

    timelapse = Timelapse.create()                       # components: scan cache, detector options
    result = timelapse("album/", output="out.mp4", size=256)
    print(result.video, result.report["frame_count"])

Its two stages are the front ends' too: `analyse` (scan every photo, or take
its scan from the cache, then date, age, order and check the photos and
apply the one selection policy) and `render` (the one lifespan decision, then
frames into the video). The command line, the page and the API are thin
front ends over them; each stage returns a new value and mutates nothing the
caller holds (finalizing again starts from the scan's records, which stay as
the scan left them).

The face, age and matte models are loaded once per process by their cached
factories (`pipeline.models`), lazily, and shared by every pipeline; the scan
cache is this object's own component, handed in or made by `create`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline import models
from pipeline.analysis import finalize, scan
from pipeline.edits import Edits
from pipeline.methods.base import Keyframe
from pipeline.progress import Progress
from pipeline.render import RenderResult, RenderSettings, keyframes_from_analysis, preflight, render
from pipeline.render.imagined import sam_status
from pipeline.scan import ScanSettings
from pipeline.scan_cache import DiskScanCache, default_cache_dir
from pipeline.selection import select_photos, selection_limit
from pipeline.types import Analysis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Analysed:
    """The analyse stage's result.

    Attributes:
        analysis (Analysis): every photo, finalized, in video order.
        not_selected (tuple[str, ...]): usable photos the selection left out.
        limit (int | None): most photos the video keeps (None: all).
    """

    analysis: Analysis
    not_selected: tuple[str, ...] = ()
    limit: int | None = None


@dataclass(frozen=True)
class TimelapseResult:
    """What one call of the pipeline made.

    Attributes:
        video, gif, contact_sheet (Path | None): the files written.
        report (dict): the render report (frames, timing, keyframes, settings).
        analysis (Analysis): the album as analysed (photos, ages, order, reasons).
        not_selected (tuple[str, ...]): usable photos the selection left out.
        frame_count (int), duration (float): of the video.
    """

    video: Path | None
    gif: Path | None
    contact_sheet: Path | None
    report: dict[str, Any]
    analysis: Analysis
    not_selected: tuple[str, ...]
    frame_count: int
    duration: float


def imagines_ages(analysis: Analysis, settings: RenderSettings, age_photo: str | None) -> bool:
    """The render imagines faces with SAM: an extension, one photo aged, or a one-photo lifespan."""
    one = settings.per_photo is None and len(analysis.usable) == 1
    return settings.extends or bool(age_photo) or one


def render_source(
    analysis: Analysis, settings: RenderSettings, age_photo: str | None = None
) -> Analysis | list[Keyframe]:
    """The one lifespan decision: what a render draws from.

    The analysis' usable photos; or, for "age this photo" (`age_photo`, a file
    of the album), that photo alone, whose lifespan SAM imagines. One usable
    photo makes a lifespan video when SAM can run here.

    Raises:
        NotEnoughPhotosError: too few usable photos for the video asked for.
    """
    usable = len(analysis.usable)
    if settings.per_photo is not None:  # every photo in turn: no lifespan from one photo
        if usable < 2:
            raise analysis.shortage()
        return analysis
    if age_photo:
        photos = [
            kf
            for kf in keyframes_from_analysis(analysis, settings.size, allow_one=True)
            if kf.label == age_photo
        ]
        if not photos:
            raise analysis.shortage(needed=1)
        return photos
    if usable < 2:
        ok, reason = sam_status()
        if usable != 1 or not ok:
            if usable == 1:
                log.info("one usable photo and no SAM for a lifespan video: %s", reason)
            raise analysis.shortage(needs_age_model=usable == 1)
    return analysis


class Timelapse:
    """Facial time-lapse pipeline: `analyse`, then `render`; or both in one call.

    Args:
        cache (DiskScanCache | None): per-photo scans kept between runs (None: none).
        use_cnn (bool): also run dlib's CNN face detector where HOG finds no face.
        workers (int | None): scan worker processes (None: one per core, up to 4; 0: none).
    """

    def __init__(
        self,
        *,
        cache: DiskScanCache | None = None,
        use_cnn: bool = False,
        workers: int | None = None,
    ) -> None:
        self.cache = cache
        self.use_cnn = use_cnn
        self.workers = workers

    @classmethod
    def create(
        cls,
        *,
        cache_dir: str | Path | None = None,
        cache: bool = True,
        use_cnn: bool = False,
        workers: int | None = None,
    ) -> Timelapse:
        """The one factory: the scan cache in `cache_dir` (default: the user's cache folder),
        or none with ``cache=False``."""
        folder = Path(cache_dir) if cache_dir else default_cache_dir()
        disk = DiskScanCache(folder, ScanSettings(use_cnn=use_cnn)) if cache else None
        return cls(cache=disk, use_cnn=use_cnn, workers=workers)

    @staticmethod
    def load_models() -> None:
        """Load the face and age models now (they load on first use otherwise)."""
        models.load_all()

    def analyse(
        self,
        photos: Any,
        *,
        birth_date: dt.date | None = None,
        edits: Edits | None = None,
        metadata: dict[str, dict[str, Any]] | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> Analysed:
        """Scan the photos (or take the scans from the cache), finalize, and keep at most `limit`.

        Args:
            photos: a folder, a file, or a list of files / (name, image) pairs / images.
            birth_date: gives exact ages to photos with a capture date.
            edits: the user's edits; they win over everything automatic.
            metadata: per file name, ``date`` and ``credits`` (photos found by name).
            limit: most photos for the video (`selection.selection_limit`), None for all.
            progress: ``progress(stage, fraction)``.

        Raises:
            NotEnoughPhotosError: the album is empty.
            UsageError: a bad edit.
        """
        analysis = self.scan(photos, metadata=metadata, progress=progress)
        return self.finalize(
            analysis, birth_date=birth_date, edits=edits, limit=limit, progress=progress
        )

    def scan(
        self,
        photos: Any,
        *,
        metadata: dict[str, dict[str, Any]] | None = None,
        progress: Progress | None = None,
    ) -> Analysis:
        """The slow half of `analyse`: every photo read once, faces found and aligned (the page
        keeps this in its cache and finalizes it again after each edit)."""
        return scan(
            photos, use_cnn=self.use_cnn, metadata=metadata, progress=progress,
            cache=self.cache, workers=self.workers,
        )  # fmt: skip

    def finalize(
        self,
        analysis: Analysis,
        *,
        birth_date: dt.date | None = None,
        edits: Edits | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> Analysed:
        """The cheap half of `analyse`, safe to run again: target person, flags, dates, ages and
        order with the user's edits, then the one selection policy (at most `limit` photos)."""
        analysis = finalize(analysis, birth_date=birth_date, edits=edits, progress=progress)
        analysis, left = select_photos(analysis, limit, birth_date=birth_date, edits=edits)
        return Analysed(analysis, tuple(left), limit)

    def render(
        self,
        analysed: Analysed | Analysis,
        settings: RenderSettings,
        *,
        video: Path | None,
        gif: Path | None = None,
        contact_sheet: Path | None = None,
        report: Path | None = None,
        age_photo: str | None = None,
        progress: Progress | None = None,
    ) -> RenderResult:
        """Render the analysed album (see `render_source` for one photo or `age_photo`)."""
        analysis = analysed.analysis if isinstance(analysed, Analysed) else analysed
        return render(
            render_source(analysis, settings, age_photo), settings=settings, video=video,
            gif=gif, contact_sheet=contact_sheet, report=report, progress=progress,
        )  # fmt: skip

    def __call__(
        self,
        photos: Any,
        *,
        output: str | Path,
        settings: RenderSettings | None = None,
        edits: Edits | None = None,
        birth_date: dt.date | None = None,
        metadata: dict[str, dict[str, Any]] | None = None,
        select: int | None = None,
        keep_all: bool = False,
        gif: str | Path | None = None,
        contact_sheet: str | Path | None = None,
        report: str | Path | None = None,
        progress: Progress | None = None,
        **overrides: Any,
    ) -> TimelapseResult:
        """Photos in, time-lapse out.

        Args:
            photos: a folder, a file, or a list of files.
            output: the MP4 to write.
            settings: how to render (default `RenderSettings()`); `overrides` replace its
                fields by name, e.g. ``size=256, method="crossfade"``.
            edits, birth_date, metadata: as `analyse`.
            select: keep this many photos spread along the timeline; `keep_all`: every one
                (otherwise a transition video of many photos keeps the default number).
            gif, contact_sheet, report: more files to write.

        Raises:
            UsageError, MethodUnavailableError: bad settings or paths, before any work.
            NotEnoughPhotosError: too few usable photos.
        """
        settings = replace(settings or RenderSettings(), **overrides)
        paths = preflight(
            settings, video=Path(output), gif=_path(gif), contact_sheet=_path(contact_sheet),
            report=_path(report),
        )  # fmt: skip
        limit = selection_limit(
            every_photo=settings.per_photo is not None, asked=select, keep_all=keep_all
        )
        analysed = self.analyse(
            photos, birth_date=birth_date, edits=edits, metadata=metadata, limit=limit,
            progress=progress,
        )  # fmt: skip
        video, gif_path, sheet, report_path = paths
        out = self.render(
            analysed, settings, video=video, gif=gif_path, contact_sheet=sheet,
            report=report_path, progress=progress,
        )  # fmt: skip
        return TimelapseResult(
            out.video, out.gif, out.contact_sheet, out.report, analysed.analysis,
            analysed.not_selected, out.frame_count, out.duration,
        )  # fmt: skip


def _path(value: str | Path | None) -> Path | None:
    return Path(value) if value else None
