"""Domain errors and the records' codes worded for the terminal, with the option that helps.

The codes (`pipeline.codes`) have one wording table per audience: the
visitor's in `pipeline.webapp.messages`, the terminal's here (it may name
command-line options). The JSON output keeps the codes themselves.
"""

from __future__ import annotations

from pipeline.codes import AgeSource, OrderSource, Status
from pipeline.errors import NotEnoughPhotosError, PipelineError
from pipeline.photos import MAX_PIXELS
from pipeline.types import PhotoRecord

# What went wrong with a photo that is not used, and what to do. `Status.OK` has no
# wording: a photo read fine says nothing about its file.
STATUS_WORDS: dict[str, str] = {
    Status.UNREADABLE: "could not be read",
    Status.EMPTY: "empty file (0 bytes); copy the photo again",
    Status.TRUNCATED: "the image data is cut short (incomplete download or copy); copy the full file again",
    Status.NOT_IMAGE: "not an image this tool reads; use JPEG, PNG, WebP, AVIF, HEIC, BMP, TIFF or GIF",
    Status.TOO_LARGE: f"too large (over {MAX_PIXELS // 1_000_000} megapixels); use a smaller copy",
    Status.NO_FACE: "no face found; use a photo where the face is clearly visible (--cnn finds smaller or turned faces)",
}  # fmt: skip
# A file that could not be read has many causes (missing, permissions, damaged data):
# its record message names the one, so the terminal shows it after the wording.
_DETAILED = frozenset({Status.UNREADABLE})
# Where a photo's age comes from (`PhotoRecord.age_source`).
AGE_WORDS: dict[str, str] = {
    AgeSource.DATE: "birth date + photo date",
    AgeSource.YEAR: "birth date + photo year",
    AgeSource.INFERRED: "photo date + inferred birth date",
    AgeSource.ESTIMATE: "estimated from the face",
    AgeSource.EDIT: "from your edits",
}
# Where a photo's place in the video comes from (`PhotoRecord.order_source`).
ORDER_WORDS: dict[str, str] = {
    OrderSource.EDIT: "your edits",
    OrderSource.DATE: "its date",
    OrderSource.LIKENESS: "likeness to the other photos",
    OrderSource.ESTIMATE: "its estimated age",
}


def status_words(p: PhotoRecord) -> str:
    """Why the photo's file cannot be used, in the terminal's words ("" when it was read)."""
    if p.status == Status.OK:
        return ""
    words = STATUS_WORDS.get(p.status, STATUS_WORDS[Status.UNREADABLE])
    if p.status in _DETAILED and p.message:
        # The message names the file first; the caller names it already.
        detail = p.message.removeprefix(f"{p.file}: ")
        words = f"{words}: {detail}"
    return words


def terminal_message(exc: PipelineError) -> str:
    """A domain error worded for the terminal: its neutral message plus the option that helps."""
    from pipeline.search import AmbiguousNameError, TooFewPhotosError, UnknownNameError

    text = str(exc)
    if isinstance(exc, AmbiguousNameError):
        listed = "\n".join(
            f"  --qid {m.qid}  {m.label}" + (f" ({m.description})" if m.description else "")
            for m in exc.candidates
        )
        return f"{exc.name!r} may mean several people; choose one with --qid:\n{listed}"
    if isinstance(exc, UnknownNameError):
        return (
            text
            + " Check the spelling, try the full name, or pass the person's Wikidata ID (--qid Q...)."
        )
    if isinstance(exc, TooFewPhotosError):
        return text + " Add photos of your own (ALBUM), or try again later if downloads failed."
    if isinstance(exc, NotEnoughPhotosError):
        if exc.with_face == 0 or exc.total == 0:
            return (
                text
                + " Use photos where the face is clearly visible (--cnn finds smaller or turned faces)."
            )
        return text + ' Add photos, or keep photos left out with an --edits file ("include": true).'
    return text
