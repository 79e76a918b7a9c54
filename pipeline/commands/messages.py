"""Domain errors worded for the terminal: the neutral message plus the option that helps."""

from __future__ import annotations

from pipeline.errors import NotEnoughPhotosError, PipelineError


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
