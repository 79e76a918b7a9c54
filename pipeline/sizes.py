"""Output sizes: the one list, the default, the size the analysis aligns at, and the coercion.

The output size is a render setting only. The analysis aligns every face once
at `SCAN_SIZE` (and estimates ages on that crop); the renderer derives its
frames from the stored landmarks, re-aligning from the photo when it needs
more pixels than the scan kept.
"""

from __future__ import annotations

import numbers
from typing import Any

from pipeline.errors import UsageError

SIZES = (256, 512, 1024)
DEFAULT_SIZE = 512
# Side of the aligned crops the analysis keeps (review gallery, ages, renders up to this size).
SCAN_SIZE = 512


def coerce_size(value: Any) -> int:
    """`value` (an int, a whole float or digits, as forms and APIs send them) as a supported size.

    Raises:
        UsageError: not one of `SIZES`.
    """
    size: Any = value
    whole_float = isinstance(value, float) and value.is_integer()
    if whole_float or (isinstance(value, numbers.Integral) and not isinstance(value, bool)):
        size = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        size = int(value.strip())
    if isinstance(size, bool) or not isinstance(size, int) or size not in SIZES:
        choices = ", ".join(str(s) for s in SIZES[:-1]) + f" or {SIZES[-1]}"
        raise UsageError(f"Size {value!r} is not supported; choose {choices}.")
    return int(size)
