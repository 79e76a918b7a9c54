"""Domain errors, worded neutrally.

Each error carries the facts as attributes; its message is a plain default.
The front ends word them for their audience: the CLI for the terminal
(`pipeline/commands`), the webapp for visitors (`pipeline/webapp/messages.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class PipelineError(Exception):
    """Base class for errors a user can act on; the message says what to do."""

    exit_code = 1


class UsageError(PipelineError):
    """A wrong setting or argument (CLI exit code 2)."""

    exit_code = 2


class BadImageError(PipelineError):
    """A file that cannot be used as a photo.

    Attributes:
        code (str): Machine-readable status (a `codes.Status`), e.g. ``unreadable``, ``empty``,
            ``truncated``, ``not_image``, ``too_large``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def __reduce__(self) -> tuple:
        # Scan workers send these back to the parent process.
        return (type(self), (self.code, str(self)))


class NoFaceError(PipelineError):
    """No face could be found where one was needed."""


class NotEnoughPhotosError(PipelineError):
    """Fewer usable photos than the job needs (CLI exit code 3).

    The one place that words "too few photos"; subclasses add where the photos
    came from.

    Attributes:
        usable (int): photos that can go into the video.
        total (int): photos given.
        needed (int): photos the job needs.
        with_face (int | None): photos in which a face was found (None: not known).
        left_out (list[tuple[str, str]]): (file, why) for photos with a face that
            were left out (recommended to remove, or excluded by an edit).
        needs_age_model (bool): one photo would do with the SAM age model, which
            cannot run here.
    """

    exit_code = 3

    def __init__(
        self,
        usable: int = 0,
        total: int = 0,
        *,
        needed: int = 2,
        with_face: int | None = None,
        left_out: Sequence[tuple[str, str]] = (),
        message: str | None = None,
        needs_age_model: bool = False,
    ) -> None:
        self.needs_age_model = needs_age_model
        self.usable = int(usable)
        self.total = int(total)
        self.needed = int(needed)
        self.with_face = with_face
        self.left_out = list(left_out)
        super().__init__(message or self.describe())

    def describe(self) -> str:
        """The neutral message: what is missing, in numbers."""
        if self.total == 0:
            return "No photos were given; a time-lapse needs photos of one person."
        if self.with_face == 0:
            return f"No face was found in any of the {self.total} photo(s)."
        text = (
            f"Only {self.usable} of {self.total} photo(s) can go into the video; "
            f"a time-lapse needs at least {self.needed}."
        )
        if self.left_out:
            listed = "; ".join(f"{f} ({why or 'excluded'})" for f, why in self.left_out[:5])
            text += f" Left out: {listed}."
        return text


class MethodUnavailableError(PipelineError):
    """A rendering method cannot run on this machine (missing weights, no network).

    Attributes:
        method (str): the method's name (``stylegan``...), when known.
    """

    exit_code = 2

    def __init__(self, message: str, method: str = "") -> None:
        super().__init__(message)
        self.method = method


class ModelFileError(PipelineError):
    """A model file that is missing, unreadable or not the model expected (reinstall its package).

    Attributes:
        path (Path): the file.
    """

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = Path(path)

    def __reduce__(self) -> tuple:
        # Scan workers send these back to the parent process.
        return (type(self), (self.path, str(self)))
