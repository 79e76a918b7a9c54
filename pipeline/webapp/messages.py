"""Domain errors and photo statuses in a visitor's words, in the page's own terms.

The pipeline's errors are worded neutrally and carry their facts; this module
says what happened and what the visitor can do on the page (or, for API
callers, in the request). No command-line option, exception text or
environment variable reaches a visitor: owner-facing detail goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from pipeline.codes import AgeSource, OrderSource, Status
from pipeline.errors import (
    BadImageError,
    MethodUnavailableError,
    NotEnoughPhotosError,
    PipelineError,
    UsageError,
)
from pipeline.photos import MAX_PIXELS
from pipeline.types import STATUS_OK, PhotoRecord
from pipeline.webapp.uploads import MAX_VIDEO_PHOTOS

log = logging.getLogger(__name__)

METHOD_LABELS = {"morph": "Morph", "crossfade": "Cross-fade", "stylegan": "StyleGAN"}
UNEXPECTED = (
    "Something went wrong on our side while processing these photos. Try again; if it happens again, "
    "try fewer photos or remove unusual files (very large scans, animations)."
)
SEARCH_UNAVAILABLE = "Photo search is unavailable right now; upload photos instead."

# The visitor's words for the records' codes (`pipeline.codes`): one table per code.
STATUS_NOTES: dict[str, str] = {
    Status.UNREADABLE: "This file could not be read; upload it again.",
    Status.EMPTY: "The file is empty; upload the photo again.",
    Status.TRUNCATED: "The file is cut short (an incomplete download or copy); upload the full photo again.",
    Status.NOT_IMAGE: "Not a photo this app can read; use JPEG, PNG, HEIC, WebP, AVIF, TIFF, BMP or GIF.",
    Status.TOO_LARGE: f"Too large: over {MAX_PIXELS // 1_000_000} megapixels; upload a smaller copy of the photo.",
    Status.NO_FACE: "No face found; use a photo where the face is clearly visible and roughly facing the camera.",
}  # fmt: skip
AGE_SOURCES: dict[str, str] = {
    AgeSource.DATE: "exact (birth + photo date)",
    AgeSource.YEAR: "birth + photo year",
    AgeSource.INFERRED: "photo date + estimated birth date",
    AgeSource.ESTIMATE: "estimated from the face",
    AgeSource.EDIT: "your edit",
}
# Where each photo's place in the video comes from (`PhotoRecord.order_source`).
ORDER_SOURCES: dict[str, str] = {
    OrderSource.EDIT: "your edit",
    OrderSource.DATE: "its date",
    OrderSource.LIKENESS: "likeness to the other photos",
    OrderSource.ESTIMATE: "the estimated age",
}


def method_unavailable(method: str) -> str:
    """The page's words for a method (or the still backdrop) that cannot run on this server."""
    if method == "background":
        return "The still backdrop is not available on this server; choose the Original background."
    if method == "sam":
        return (
            "Imagined ages need the GPU age model, which is not available on this server right now; "
            "leave the imagined ages empty to make the video from your photos."
        )
    label = METHOD_LABELS.get(method, method)
    return f"{label} is not available on this server; choose Morph or Cross-fade."


def visitor_message(exc: PipelineError, *, api: bool = False) -> str:
    """What happened and what to do, for the page (or, with `api`, for a script calling the API)."""
    from pipeline.search import AmbiguousNameError, SearchError, TooFewPhotosError, UnknownNameError

    if isinstance(exc, AmbiguousNameError):
        if api:
            listed = "; ".join(m.describe() for m in exc.candidates[:8])
            example = exc.candidates[0].qid if exc.candidates else "Q8743"
            return f"{exc.name!r} may mean several people: {listed}. Search again with one's Wikidata ID (e.g. {example})."
        return f"{exc.name!r} may mean several people: choose one in the list under the name box."
    if isinstance(exc, UnknownNameError):
        others = "; ".join(m.describe() for m in exc.others[:5])
        return (
            f"No person called {exc.name!r} was found on Wikidata."
            + (f" Matches that are not people: {others}." if others else "")
            + " Check the spelling, try the full name or a Wikidata ID (e.g. Q8743), or upload photos instead."
        )
    if isinstance(exc, TooFewPhotosError):
        return (
            f"Only {exc.usable} usable photo(s) of {exc.person.label} could be found on Wikimedia Commons; "
            f"a time-lapse needs at least {exc.needed}. Upload photos of your own instead."
        )
    if isinstance(exc, SearchError):
        log.warning("photo search failed: %s", exc)
        return SEARCH_UNAVAILABLE
    if isinstance(exc, NotEnoughPhotosError):
        return not_enough(exc, api=api)
    if isinstance(exc, MethodUnavailableError):
        log.warning("method unavailable: %s", exc)
        return method_unavailable(exc.method or "stylegan")
    if isinstance(exc, BadImageError):
        return STATUS_NOTES.get(exc.code, STATUS_NOTES["unreadable"])
    if isinstance(exc, UsageError):
        return str(exc)
    log.warning("pipeline error shown as a generic message: %r", exc)
    return UNEXPECTED


def not_enough(exc: NotEnoughPhotosError, *, api: bool = False) -> str:
    """The one visitor message for "too few photos"."""
    if exc.total == 0:
        return "No photos yet: drop photos of the person (JPEG, PNG, HEIC, WebP...) into the upload box, or try the example album."
    if exc.with_face == 0:
        return (
            f"No face was found in any of the {exc.total} photo(s), so there is nothing to render. "
            "Use photos where the person's face is clearly visible and roughly facing the camera."
        )
    text = f"Only {exc.usable} of {exc.total} photo(s) can go into the video; a time-lapse needs at least {exc.needed}."
    if exc.needs_age_model:
        text += (
            " A video from a single photo needs the GPU age model, which is not available here right now;"
            " add another photo of the person to make a time-lapse."
        )
    if exc.left_out:
        listed = "; ".join(f"{f} ({why or 'removed'})" for f, why in exc.left_out[:5])
        listed += " ..." if len(exc.left_out) > 5 else ""
        how = 'send "include": true for it in the edits' if api else "tap Keep on its card"
        return text + f" Left out: {listed}. To use one anyway, {how}; or add more photos."
    return text + " Add more photos."


class ReviewFacts(Protocol):
    """What the notes need to know of a review (`review.Review` has it). Declared here, below
    the review, so that imports go one way: review -> table -> messages."""

    @property
    def not_selected(self) -> Sequence[str]:
        """Good photos left out by the proposed selection."""
        ...

    @property
    def skipped(self) -> Sequence[str]:
        """Files not checked at all (over the count limit)."""
        ...

    @property
    def unusable(self) -> Sequence[PhotoRecord]:
        """Photos that cannot be used at all."""
        ...


def photo_note(p: PhotoRecord, review: ReviewFacts | None = None) -> str:
    """Why a photo is left out or flagged, in a few words for its card ("" when all is well)."""
    if p.status != STATUS_OK:
        return STATUS_NOTES.get(p.status, STATUS_NOTES["unreadable"])
    if review is not None and p.file in review.not_selected:
        return f"Left out to keep the video to {MAX_VIDEO_PHOTOS} photos spread over the years; tap Keep to swap it in."
    if p.recommended_remove:
        why = p.reason or "it may not show the same person"
        return f"Recommended to remove: {why}." + (
            " Tap Keep to use it anyway." if not p.include else ""
        )
    if not p.include:
        return "Removed by you; tap Keep to put it back."
    notes = [w[0].upper() + w[1:] for w in getattr(p, "warnings", []) if w]
    if len(p.faces) > 1:
        notes.append(
            f"{len(p.faces)} faces in this photo; the one that matches the others is used."
        )
    if p.reason and not notes:
        notes.append(p.reason)
    return " ".join(n if n.endswith(".") else n + "." for n in notes)


def problems_warning(review: ReviewFacts) -> str:
    """One toast for the files that cannot be used at all ("" when none)."""
    bad = review.unusable
    if not bad and not review.skipped:
        return ""
    parts = [f"{p.file}: {photo_note(p)}" for p in bad[:6]] + (["..."] if len(bad) > 6 else [])
    if review.skipped:
        parts.append(f"{len(review.skipped)} photos over the limit were not checked")
    head = "1 photo was left out" if len(bad) == 1 else f"{len(bad)} photos were left out"
    return f"{head} (the others are fine): " + " · ".join(parts)
