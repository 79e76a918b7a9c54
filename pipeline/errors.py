"""Domain errors. The CLI maps them to exit codes, the app to `gr.Error` messages."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class for errors a user can act on; the message says what to do."""

    exit_code = 1


class UsageError(PipelineError):
    """A wrong setting or argument (CLI exit code 2)."""

    exit_code = 2


class BadImageError(PipelineError):
    """A file that cannot be used as a photo.

    Attributes:
        code (str): Machine-readable status, e.g. ``unreadable``, ``empty``,
            ``truncated``, ``not_image``, ``too_large``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class NoFaceError(PipelineError):
    """No face could be found where one was needed."""


class NotEnoughPhotosError(PipelineError):
    """Too few usable photos to do the job (CLI exit code 3)."""

    exit_code = 3


class MethodUnavailableError(PipelineError):
    """A rendering method cannot run on this machine (missing weights, no network)."""

    exit_code = 2
