"""Capture dates (EXIF, then the file name) and ages from a birth date."""

from __future__ import annotations

import datetime as dt
import math
import re

from PIL import Image

from pipeline.errors import UsageError

# EXIF tags: DateTimeOriginal lives in the Exif sub-IFD.
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_DATETIME_DIGITIZED = 36868

# Dates before this are not capture dates of a digital photo's EXIF block
# (cameras with a flat clock battery say 1970 or 1980; scans carry the scan date).
EARLIEST_EXIF = dt.date(1900, 1, 1)
# A scanned print may carry any year since photography began.
EARLIEST_FILENAME = dt.date(1826, 1, 1)
# Camera counters ("IMG_1987.jpg", "DSC01990.JPG") look like years but are not.
_COUNTER = re.compile(
    r"^(img|dsc|dscn|dscf|_mg|mvi|gopr|dji|p|pict|sam|cimg|imag|photo|pic)[ _-]?\d{3,}$", re.I
)

# Digits that are not part of a longer number.
_YMD_SEP = re.compile(r"(?<!\d)(\d{4})[-_.](\d{1,2})[-_.](\d{1,2})(?!\d)")
_YMD_PACKED = re.compile(
    r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)|(?<!\d)(\d{4})(\d{2})(\d{2})[_-]\d{6}"
)
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def today() -> dt.date:
    return dt.date.today()


def plausible(date: dt.date, earliest: dt.date) -> bool:
    """A capture date is plausible when it is neither in the future nor too old."""
    return earliest <= date <= today() + dt.timedelta(days=1)


def exif_date(exif: Image.Exif | None) -> tuple[dt.date | None, str]:
    """Capture date from EXIF ``DateTimeOriginal`` (or ``DateTimeDigitized``).

    Returns:
        (date or None, note): the note says why a present value was rejected.
    """
    if not exif:
        return None, ""
    values: list[str] = []
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:  # a damaged EXIF block is not the photo's fault
        sub = {}
    for tag in (_DATETIME_ORIGINAL, _DATETIME_DIGITIZED):
        v = sub.get(tag) or exif.get(tag)
        if v:
            values.append(v.decode(errors="ignore") if isinstance(v, bytes) else str(v))
    note = ""
    for raw in values:
        d = parse_exif_datetime(raw)
        if d is None:
            note = f"EXIF date {raw.strip()!r} is not a date"
            continue
        if not plausible(d, EARLIEST_EXIF):
            note = f"EXIF date {d.isoformat()} ignored ({'in the future' if d > today() else 'implausibly old'})"
            continue
        return d, ""
    return None, note


def parse_exif_datetime(raw: str) -> dt.date | None:
    """Parse ``YYYY:MM:DD HH:MM:SS`` (also with ``-`` or ``/``); None when malformed or zero."""
    m = re.match(r"\s*(\d{4})[:\-/](\d{2})[:\-/](\d{2})", raw)
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def filename_date(name: str) -> tuple[dt.date | None, str]:
    """Date from a file name: ``2014-05-24``, ``20140524``, ``IMG_20140524_...``, or ``2014`` alone.

    Returns:
        (date, precision): precision is ``day`` or ``year`` (a year alone maps
        to 1 July, the middle of the year); ``""`` when nothing was found.
    """
    stem = name.rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    for m in _YMD_SEP.finditer(stem):
        d = safe_date(int(m[1]), int(m[2]), int(m[3]))
        if d and plausible(d, EARLIEST_FILENAME):
            return d, "day"
    for m in _YMD_PACKED.finditer(stem):
        y, mo, da = (m[1], m[2], m[3]) if m[1] else (m[4], m[5], m[6])
        d = safe_date(int(y), int(mo), int(da))
        if d and plausible(d, EARLIEST_FILENAME):
            return d, "day"
    if _COUNTER.match(stem.strip()):
        return None, ""
    for m in _YEAR.finditer(stem):
        d = safe_date(int(m[1]), 7, 1)
        if d and plausible(d, EARLIEST_FILENAME):
            return d, "year"
    return None, ""


def safe_date(y: int, m: int, d: int) -> dt.date | None:
    """The date, or None when the numbers name no real day (month 13, 30 February...)."""
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def parse_date(text: str, what: str = "date") -> dt.date:
    """Parse a user-given ``YYYY-MM-DD`` (or ``YYYY``) date.

    Raises:
        UsageError: with the expected format.
    """
    s = str(text).strip()
    try:
        if re.fullmatch(r"\d{4}", s):
            return dt.date(int(s), 7, 1)
        return dt.date.fromisoformat(s[:10])
    except ValueError:
        raise UsageError(
            f"{what} {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2014-05-24."
        ) from None


def age_between(birth: dt.date, date: dt.date) -> float:
    """Exact age in years (fractional) on `date` for someone born on `birth`."""
    years = date.year - birth.year - ((date.month, date.day) < (birth.month, birth.day))
    last = _birthday(birth, birth.year + years)
    nxt = _birthday(birth, birth.year + years + 1)
    return years + (date - last).days / max(1, (nxt - last).days)


def _birthday(birth: dt.date, year: int) -> dt.date:
    try:
        return birth.replace(year=year)
    except ValueError:  # 29 February in a common year
        return dt.date(year, 3, 1)


def calendar_age(birth: dt.date, when: dt.date) -> tuple[int, int]:
    """Whole (years, months) between two dates, the way people count birthdays."""
    months = (
        (when.year - birth.year) * 12
        + (when.month - birth.month)
        - (1 if when.day < birth.day else 0)
    )
    months = max(0, months)
    return months // 12, months % 12


def format_age(age: float, *, exact: bool, months: tuple[int, int] | None = None) -> str:
    """``3 y 6 m`` for exact ages (``6 m`` under one, ``3 y`` on a birthday month), else ``3 y``."""
    if exact:
        if months is None:
            total = max(0, math.floor(age * 12 + 1e-6))
            months = (total // 12, total % 12)
        y, m = months
        if y == 0:
            return f"{m} m"
        return f"{y} y" if m == 0 else f"{y} y {m} m"
    if age < 1.0:
        return f"{max(0, math.floor(age * 12 + 0.5))} m"
    return f"{math.floor(age + 0.5)} y"


def decimal_year(d: dt.date) -> float:
    """The date as a fractional year (1 July 2000 -> about 2000.5)."""
    start = dt.date(d.year, 1, 1)
    return d.year + (d - start).days / (dt.date(d.year + 1, 1, 1) - start).days


def from_decimal_year(value: float) -> dt.date:
    """Inverse of `decimal_year`, to the nearest day (clamped to the calendar's range)."""
    year = min(max(math.floor(value), dt.MINYEAR), dt.MAXYEAR - 1)
    start = dt.date(year, 1, 1)
    days = (dt.date(year + 1, 1, 1) - start).days
    frac = min(max(value - year, 0.0), 1.0)
    return start + dt.timedelta(days=min(days - 1, round(frac * days)))


# English abbreviations whatever the machine's locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_date(d: dt.date, precision: str = "day") -> str:
    """``24 Apr 2008`` for a day-precise date, ``2008`` otherwise."""
    if precision == "day":
        return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"
    return str(d.year)
