"""What the app's handlers call: review an album, re-review it after edits, render it.

Every function takes plain values (file paths, text, numbers) and returns
plain records; Gradio never appears here, so the same code serves the UI,
the API and the tests. Domain problems raise `PipelineError` subclasses; the
app turns them into messages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from pipeline import face_crops
from pipeline.analysis import finalize, scan
from pipeline.dates import parse_date
from pipeline.edits import Edits
from pipeline.errors import NotEnoughPhotosError, UsageError
from pipeline.photos import PhotoSource, collect_sources
from pipeline.progress import Progress
from pipeline.types import STATUS_OK, Analysis
from pipeline.webapp.cache import ScanCache, album_key, snapshot
from pipeline.webapp.files import request_dir
from pipeline.webapp.table import caption, prune_edits

log = logging.getLogger(__name__)


# Crops are aligned at 512 px for every output size but 1024 (256 is a downscale).
SCAN_SIZE = 512
THUMB_SIDE = 256
MAX_PHOTOS = 60

CACHE = ScanCache(max_entries=8, ttl_s=3600)
# dlib's models are shared; scans run one at a time (finalize and renders do not wait).
_SCAN_LOCK = threading.Lock()


def warm_up() -> threading.Thread:
    """Load the face and age models in the background so the first visitor does not wait for them."""
    from pipeline import models

    def load() -> None:
        try:
            models.load_all()
        except Exception as exc:  # the first real request reports it properly
            log.warning("model warm-up failed: %s", exc)

    thread = threading.Thread(target=load, name="warm-up", daemon=True)
    thread.start()
    return thread


def scan_size_for(render_size: int) -> int:
    """Crop size to scan at for a given output size."""
    return 1024 if int(render_size) == 1024 else SCAN_SIZE


def parse_birth_date(text: str | dt.date | None) -> dt.date | None:
    """The optional birth-date field: empty means unknown.

    Raises:
        UsageError: not a date.
    """
    if text is None or isinstance(text, dt.date):
        return text
    text = str(text).strip()
    if not text:
        return None
    birth = parse_date(text, "Birth date")
    if birth > dt.date.today():
        raise UsageError(f"Birth date {birth} is in the future; write it as YYYY-MM-DD, e.g. 1990-06-01.")
    return birth


def album_sources(files: Sequence[Any] | None) -> list[PhotoSource]:
    """Photo sources from uploaded files (paths, or dicts with a ``path``), read where they are.

    Raises:
        NotEnoughPhotosError: no file.
        UsageError: too many files.
    """
    paths = [_path_of(f) for f in (files or [])]
    paths = [p for p in paths if p]
    if not paths:
        raise NotEnoughPhotosError("No photos yet: drop photos of the person (JPEG, PNG, HEIC, WebP...) into the upload box.")
    if len(paths) > MAX_PHOTOS:
        raise UsageError(f"{len(paths)} photos is more than this app handles at once ({MAX_PHOTOS}); pick the best {MAX_PHOTOS}.")
    return collect_sources([Path(p) for p in paths])


def _path_of(item: Any) -> str | None:
    if item is None:
        return None
    if isinstance(item, dict):
        return item.get("path") or item.get("name")
    return str(getattr(item, "path", None) or getattr(item, "name", None) or item)


@dataclass
class Review:
    """An album after (re-)finalizing: a private snapshot plus what to tell the user.

    Attributes:
        analysis (Analysis): finalized records, safe to read while others edit the album.
        key (str): cache key of the scan.
        problems (list[str]): one message per photo that cannot be used at all
            (unreadable, no face), naming the file and what to do.
        scanned (bool): this call ran the slow scan (False: the cache answered).
    """

    analysis: Analysis
    key: str
    problems: list[str] = field(default_factory=list)
    scanned: bool = False

    @property
    def face_counts(self) -> dict[str, int]:
        return {p.file: len(p.faces) for p in self.analysis.photos}


def review_album(
    files: Sequence[Any] | None,
    *,
    birth_date: str | dt.date | None = None,
    edits: Edits | None = None,
    prune: bool = False,
    size: int = SCAN_SIZE,
    metadata: dict[str, dict[str, Any]] | None = None,
    progress: Progress | None = None,
) -> Review:
    """Scan an album (or take its scan from the cache) and finalize it with the user's choices.

    Args:
        files: uploaded file paths.
        birth_date: ``YYYY-MM-DD`` text, a date, or empty.
        edits (Edits | None): user edits.
        prune (bool): drop edit values equal to the automatic ones first (API
            callers may send back an `/analyze` answer unchanged).
        size (int): crop size of the scan.
        metadata (dict | None): per-file dates and credits (photos found by name),
            as `find_by_name` returns them (dates as ISO text or `date`).
        progress (callable | None): ``progress(stage, fraction)``.

    Raises:
        NotEnoughPhotosError: no files.
        UsageError: a bad birth date or edit.
    """
    birth = parse_birth_date(birth_date)
    sources = album_sources(files)
    meta = metadata_from_json(metadata, [s.name for s in sources])
    key = album_key(sources, size=size, extra=_digest(metadata_to_json(meta)))
    ran = False

    def do_scan() -> Analysis:
        nonlocal ran
        if progress and _SCAN_LOCK.locked():
            progress("waiting for another album's analysis", 0.0)
        with _SCAN_LOCK:
            ran = True
            return scan(sources, size=size, metadata=meta, progress=progress)

    with CACHE.use(key, do_scan) as shared:
        if prune and edits and edits.photos:
            edits = prune_edits(edits, finalize(shared, birth_date=birth))
        finalize(shared, birth_date=birth, edits=edits, progress=progress)
        result = snapshot(shared)
    return Review(result, key, photo_problems(result), ran)


def photo_problems(analysis: Analysis) -> list[str]:
    """Messages for photos that cannot be used at all (unreadable, not an image, no face)."""
    return [p.message or f"{p.file}: {p.status}" for p in analysis.photos if p.status != STATUS_OK]


def problems_warning(problems: list[str]) -> str:
    """One warning text for the page, listing the files left out and what to do."""
    if not problems:
        return ""
    head = "1 photo was left out" if len(problems) == 1 else f"{len(problems)} photos were left out"
    return f"{head} (the others are fine): " + " · ".join(problems)


def summary_markdown(review: Review) -> str:
    """A few lines above the table: how many photos go into the video, what needs a look."""
    a = review.analysis
    usable = a.usable
    flagged = [p for p in a.photos if p.recommended_remove and p.status == STATUS_OK]
    lines = []
    if usable:
        ages = [p.age for p in usable if p.age is not None]
        span = f", ages {min(ages):.0f} to {max(ages):.0f}" if ages else ""
        lines.append(f"**{len(usable)} of {len(a.photos)} photos go into the video**{span}, in this order.")
    else:
        lines.append(f"**None of the {len(a.photos)} photos can go into the video yet.**")
    if flagged:
        names = ", ".join(p.file for p in flagged[:5]) + (" ..." if len(flagged) > 5 else "")
        lines.append(f"⚠ {len(flagged)} recommended to remove ({names}): see *notes*; tick *use* to keep one anyway.")
    if review.problems:
        lines.append(f"✖ {len(review.problems)} could not be used (see *notes*).")
    if len(usable) == 1:
        lines.append("A time-lapse needs at least 2 photos: add more, or tick *use* on one left out.")
    if a.birth_date is None and a.birth_estimate is not None:
        lines.append(
            f"Birth date: {a.birth_estimate.describe()} (about {a.birth_estimate.date.isoformat()}); "
            "type the real date in the birth date box for exact ages."
        )
    if a.birth_date is None and any(p.age_source in ("estimate", "inferred") for p in usable):
        lines.append("Ages marked ~ are estimates: correct them in the table, or give a birth date.")
    return "\n\n".join(lines)


def face_gallery(analysis: Analysis, side: int = THUMB_SIDE) -> list[tuple[np.ndarray, str]]:
    """Aligned crops in video order (the left-out ones after), downscaled, with captions."""
    out = []
    for p in analysis.photos:
        if p.aligned is None:
            continue
        img = p.aligned
        if img.shape[0] > side:
            img = np.asarray(Image.fromarray(img).resize((side, side), Image.Resampling.LANCZOS))
        out.append((img, caption(p)))
    return out


def write_face_crops(analysis: Analysis, outdir: Path) -> list[tuple[str, str]]:
    """Aligned crops as PNG files (API answers): (path, ``file: age``) in video order."""
    return [(str(path), f"{p.file}: {caption(p)}") for path, p in face_crops.write_face_crops(analysis, outdir)]


def thumbnails(files: Sequence[Any] | None, outdir: Path, side: int = THUMB_SIDE) -> list[tuple[str, str]]:
    """Small JPEG previews of the uploads (EXIF-rotated, any readable format), with file names.

    Unreadable files are listed as missing here; the analysis explains them.
    """
    out = []
    for src in album_sources(files) if files else []:
        try:
            with Image.open(src.path) as im:
                im.draft("RGB", (side * 2, side * 2))  # JPEG: decode at a reduced scale, fast
                im = ImageOps.exif_transpose(im).convert("RGB")
                im.thumbnail((side, side), Image.Resampling.BILINEAR)
                path = outdir / f"{len(out):03d}_{Path(src.name).stem[:60]}.jpg"
                im.save(path, quality=85)
            out.append((str(path), src.name))
        except Exception as exc:  # any decoder error: the analysis reports the file properly
            log.info("no preview for %s: %s", src.name, exc)
    return out


# ---------------------------------------------------------------- rendering


@dataclass
class RenderOutputs:
    """Files of one render and what to show about it."""

    video: Path
    gif: Path | None
    contact_sheet: Path
    report_path: Path
    report: dict[str, Any]
    credits: Path | None
    frame_count: int
    duration: float

    @property
    def downloads(self) -> list[str]:
        return [str(p) for p in (self.video, self.gif, self.contact_sheet, self.credits, self.report_path) if p]


def make_settings(
    *,
    method: str = "morph",
    size: int = 512,
    fps: int = 30,
    frames_between: int | None = 24,
    seconds_per_year: float | None = None,
    hold: float = 0.0,
    gamma: float | None = None,
    caption: str = "age",
    encoder: str | None = None,
) -> Any:
    """Validated `RenderSettings` from form or API values (numbers may arrive as floats).

    Raises:
        UsageError: a bad setting.
    """
    from pipeline.render import RenderSettings

    def whole(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, str) and v.strip().isdigit():
            return int(v)
        return v

    options = {"encoder": str(encoder).lower()} if method == "stylegan" and encoder else {}
    settings = RenderSettings(
        method=str(method or "morph").lower(),
        size=whole(size),
        fps=whole(fps),
        frames_between=whole(frames_between),
        seconds_per_year=float(seconds_per_year) if seconds_per_year not in (None, 0, 0.0, "") else None,
        hold=float(hold or 0.0),
        gamma=None if gamma in (None, "") else float(gamma),
        caption=str(caption or "age").lower(),
        method_options=options,
    )
    settings.validate()
    return settings


def check_can_render(settings: Any) -> None:
    """Fail before any work when the method cannot run here (a one-line reason)."""
    from pipeline.render import check_method

    check_method(settings)


def render_review(
    review: Review,
    settings: Any,
    *,
    gif: bool = False,
    outdir: Path | None = None,
    progress: Progress | None = None,
) -> RenderOutputs:
    """Render an album's usable photos into a fresh output folder.

    Raises:
        NotEnoughPhotosError: fewer than two usable photos.
        UsageError, MethodUnavailableError: bad settings (before any work).
    """
    from pipeline.render import render

    analysis = review.analysis
    if len(analysis.usable) < 2:
        raise NotEnoughPhotosError(not_enough_message(review))
    outdir = outdir or request_dir("render")
    result = render(
        analysis,
        settings=settings,
        video=outdir / "timelapse.mp4",
        gif=outdir / "timelapse.gif" if gif else None,
        contact_sheet=outdir / "contact_sheet.png",
        report=None,
        progress=progress,
    )
    report = public_report(result.report)
    credits_path = write_credits(analysis, outdir / "credits.txt")
    if review.problems:
        report["warnings"] = list(review.problems)
    credits = {p.file: p.credits for p in analysis.usable if p.credits}
    if credits:
        report["credits"] = credits
    report_path = outdir / "report.json"
    report_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    assert result.video is not None and result.contact_sheet is not None
    return RenderOutputs(
        video=result.video,
        gif=result.gif,
        contact_sheet=result.contact_sheet,
        report_path=report_path,
        report=report,
        credits=credits_path,
        frame_count=result.frame_count,
        duration=result.duration,
    )


def public_report(report: dict[str, Any]) -> dict[str, Any]:
    """The render report with file names instead of server paths (nothing about the server leaks,
    and API clients do not mistake the entries for files to download)."""
    out = dict(report)
    for key in ("video", "gif"):
        if isinstance(out.get(key), dict):
            info = dict(out[key])
            path = info.pop("path", None)
            info["file"] = Path(path).name if path else None
            out[key] = info
    if out.get("contact_sheet"):
        out["contact_sheet"] = Path(str(out["contact_sheet"])).name
    return out


def not_enough_message(review: Review) -> str:
    """Why fewer than two photos can go into the video, and what to do about it."""
    a = review.analysis
    usable = len(a.usable)
    with_face = sum(1 for p in a.photos if p.aligned is not None)
    if with_face == 0:
        return (
            f"No face was found in any of the {len(a.photos)} photo(s), so there is nothing to render. "
            "Use photos where the person's face is clearly visible and roughly facing the camera."
        )
    left_out = [p for p in a.photos if not p.usable and p.aligned is not None]
    listed = "; ".join(f"{p.file} ({p.reason or 'unticked'})" for p in left_out[:5])
    return (
        f"Only {usable} of {len(a.photos)} photo(s) can go into the video; a time-lapse needs at least 2. "
        + (f"Left out: {listed}. Keep any of them anyway (tick *use* in the table, or send "
           '"include": true in the edits), or add more photos.' if left_out else "Add more photos.")
    )


def write_credits(analysis: Analysis, path: Path) -> Path | None:
    """Attribution of the photos in the video that carry credits (found by name); None if none do."""
    lines = []
    for p in analysis.usable:
        c = p.credits or {}
        if not c:
            continue
        who = c.get("author") or "unknown author"
        licence = c.get("licence") or "licence unknown"
        if c.get("licence_url"):
            licence += f" ({c['licence_url']})"
        title = c.get("title") or p.file
        url = c.get("page_url") or c.get("url")
        lines.append(f"{p.file}: {title}, by {who}, {licence}" + (f", {url}" if url else ""))
    if not lines:
        return None
    path.write_text("Photos used in this time-lapse:\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def report_markdown(out: RenderOutputs, gif_requested: bool = False) -> str:
    """A short description of the render under the player."""
    r = out.report
    n = len(r.get("keyframes") or [])
    text = (
        f"**{out.frame_count} frames, {out.duration:.1f} s** from {n} photos "
        f"({r.get('method_label') or r.get('method')}, {r.get('size')} px, {r.get('fps')} fps)."
    )
    if gif_requested and out.gif is None:
        text += " The GIF came out too large even when shrunk; download the MP4 instead."
    if out.credits:
        text += " Photo credits are in *credits.txt*."
    return text


# ---------------------------------------------------------------- photos by name

NAME_LIMITS = (2, 30)


@dataclass
class FoundAlbum:
    """Photos found by name, ready to review like uploads.

    Attributes:
        files (list[str]): downloaded photos (in a private request folder).
        birth_date (datetime.date | None): from Wikidata.
        metadata (dict): per file name, JSON-friendly ``date``, ``date_source``,
            ``date_precision`` and ``credits``.
        name (str): what was searched.
    """

    files: list[str]
    birth_date: dt.date | None
    metadata: dict[str, dict[str, Any]]
    name: str

    def message(self) -> str:
        born = f" (born {self.birth_date.isoformat()})" if self.birth_date else ""
        dated = sum(1 for m in self.metadata.values() if m.get("date"))
        return (
            f"Found **{len(self.files)} photos** of {self.name}{born} on Wikimedia Commons, {dated} with a date. "
            "They join the table below with their credits; untick any you do not want."
        )


def find_by_name(name: str, *, limit: int = 12, progress: Progress | None = None) -> FoundAlbum:
    """Download a well-known person's photos from Wikimedia Commons (a Wikidata ID such as Q8743 works too).

    Raises:
        UsageError: empty name or bad limit; `UnknownNameError` and
            `AmbiguousNameError` (with `candidates`) are UsageErrors too.
        TooFewPhotosError: fewer than 2 photos found.
        SearchError: Wikimedia could not be reached.
    """
    from pipeline.commands.common import fetch_album
    from pipeline.search import AmbiguousNameError, UnknownNameError
    from pipeline.search.wikidata import parse_qid

    name = " ".join(str(name or "").split())
    if not name:
        raise UsageError("Type a well-known person's name, e.g. Thomas Edison, or a Wikidata ID such as Q8743.")
    if len(name) > 120:
        raise UsageError("That name is too long; type the person's name as Wikipedia writes it.")
    lo, hi = NAME_LIMITS
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        raise UsageError(f"The number of photos must be a whole number from {lo} to {hi}.") from None
    if not lo <= limit <= hi:
        raise UsageError(f"The number of photos must be from {lo} to {hi}; got {limit}.")
    qid = parse_qid(name)
    try:
        files, birth, metadata = fetch_album(name, limit=limit, qid=qid, dest=request_dir("name"), progress=progress)
    except AmbiguousNameError as exc:
        listed = "; ".join(m.describe() for m in exc.candidates[:8])
        exc.args = (
            f"{name!r} may mean several people: {listed}. Choose one, or search again with its Wikidata ID "
            f"(e.g. {exc.candidates[0].qid if exc.candidates else 'Q8743'}).",
        )
        raise
    except UnknownNameError as exc:
        others = "; ".join(m.describe() for m in exc.others[:5])
        exc.args = (
            f"No person called {name!r} was found on Wikidata."
            + (f" Matches that are not people: {others}." if others else "")
            + " Check the spelling, try the full name, or search with the person's Wikidata ID (e.g. Q8743).",
        )
        raise
    return FoundAlbum([str(f) for f in files], birth, metadata_to_json(metadata), name)


def metadata_to_json(metadata: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Per-file metadata with dates as ISO text (for `gr.State` and cache keys)."""
    out: dict[str, dict[str, Any]] = {}
    for name, meta in (metadata or {}).items():
        m = dict(meta or {})
        if isinstance(m.get("date"), dt.date):
            m["date"] = m["date"].isoformat()
        out[str(name)] = m
    return out


def metadata_from_json(metadata: dict[str, dict[str, Any]] | None, names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per-file metadata with `date` objects, for the files present (`names`) only."""
    out: dict[str, dict[str, Any]] = {}
    keep = set(names) if names is not None else None
    for name, meta in (metadata or {}).items():
        if keep is not None and name not in keep:
            continue
        m = dict(meta or {})
        if isinstance(m.get("date"), str) and m["date"]:
            try:
                m["date"] = dt.date.fromisoformat(m["date"][:10])
            except ValueError:
                m["date"] = None
        out[str(name)] = m
    return out


def _digest(value: Any) -> str:
    if not value:
        return ""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
