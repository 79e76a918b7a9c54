"""The codes a photo record carries, as enums: what was read, where its age and place come from.

They are `StrEnum`s, so a record's JSON keeps the plain words (``"ok"``,
``"estimate"``) and older cached scans that hold plain strings compare
equal. Each audience words them in one table of its own: the visitor's in
`pipeline.webapp.messages`, the terminal's in `pipeline.commands.messages`;
the JSON keeps the codes.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Whether a photo was read; whether a face was found is in its faces."""

    OK = "ok"
    UNREADABLE = "unreadable"  # the file could not be opened
    EMPTY = "empty"  # zero bytes
    TRUNCATED = "truncated"  # the image data ends early
    NOT_IMAGE = "not_image"  # not an image format we read
    TOO_LARGE = "too_large"  # over the pixel budget (decompression bomb)
    NO_FACE = "no_face"  # read fine, but no face was found


class AgeSource(StrEnum):
    """Where a photo's age comes from (`PhotoRecord.age_source`)."""

    DATE = "date"  # the given birth date and the photo's day
    YEAR = "year"  # the given birth date and the photo's year
    INFERRED = "inferred"  # the photo's date and the birth date inferred from the album
    ESTIMATE = "estimate"  # the face, smoothed along the album's likeness
    EDIT = "edit"  # the user's edit


class OrderSource(StrEnum):
    """Where a photo's place in the video comes from (`PhotoRecord.order_source`)."""

    EDIT = "edit"
    DATE = "date"
    LIKENESS = "likeness"
    ESTIMATE = "estimate"
