"""Dates from Wikidata time values, Commons metadata, titles and category names.

Precision vocabulary: ``day``, ``month``, ``year`` or ``approx`` (a decade, a
short range, "circa"). Dates known to the month or year are placed mid-period
(the 15th, or 1 July) so that ages computed from them are off by at most half
the period.
"""

from __future__ import annotations

import datetime as dt
import html
import re

from pipeline.dates import safe_date

JULIAN = "http://www.wikidata.org/entity/Q1985786"
FIRST_PHOTO_YEAR = 1826  # nothing on Commons is a photograph from before this

_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_TAG_RE = re.compile(r"<[^>]*>")
_TIME_ATTR_RE = re.compile(r"<time\b[^>]*\bdatetime=\"([^\"]+)\"", re.I)
_ISO_DAY_RE = re.compile(r"(?<!\d)(\d{4})[-:/.](\d{1,2})[-:/.](\d{1,2})(?!\d)")
_ISO_MONTH_RE = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?![\d-])")
_DMY_RE = re.compile(
    rf"(?<!\d)(\d{{1,2}})(?:st|nd|rd|th)?\.?\s+({_MONTH_RE})\.?,?\s+(\d{{4}})(?!\d)", re.I
)
_MDY_RE = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)", re.I)
_MY_RE = re.compile(rf"\b({_MONTH_RE})\.?,?\s+(\d{{4}})(?!\d)", re.I)
_RANGE_RE = re.compile(r"(?<!\d)(\d{4})\s*(?:-|–|—|to|and|/|or)\s*(\d{4}|\d{2})(?!\d)", re.I)
_DECADE_RE = re.compile(r"(?<!\d)(\d{3})0s\b", re.I)
_YEAR_RE = re.compile(r"(?<![\d])(1[89]\d{2}|20\d{2})(?![\d])")
_APPROX_RE = re.compile(r"\b(circa|ca\.|c\.|about|around|approx\w*|between)\s", re.I)
_AGE_RE = re.compile(r"\b(?:at the age of|at age|aged|age)\s+(\d{1,3})\b", re.I)


def strip_html(text: str | None) -> str:
    """Plain text from a Commons metadata value (tags removed, entities decoded, spaces collapsed)."""
    if not text:
        return ""
    text = re.sub(r"<br\s*/?>|</p>|</li>", " ", str(text), flags=re.I)
    return re.sub(r"\s+", " ", html.unescape(_TAG_RE.sub("", text))).strip()


def julian_to_gregorian(year: int, month: int, day: int) -> dt.date | None:
    """Convert a proleptic Julian calendar date (Wikidata's Q1985786) to a Gregorian date."""
    a = (14 - month) // 12
    y = year + 4800 - a
    m = month + 12 * a - 3
    jdn = day + (153 * m + 2) // 5 + 365 * y + y // 4 - 32083
    ordinal = jdn - 1721425
    return dt.date.fromordinal(ordinal) if ordinal >= 1 else None


def parse_wikidata_time(value: dict) -> tuple[dt.date | None, str | None]:
    """A Wikidata ``time`` datavalue -> (date, precision), or (None, None) if coarser than a year.

    Wikidata writes ``+1847-02-11T00:00:00Z`` with precision 11 (day), 10
    (month) or 9 (year); unknown month/day are ``00``.
    """
    m = re.match(r"([+-])(\d{1,16})-(\d{2})-(\d{2})T", str(value.get("time", "")))
    precision = int(value.get("precision", 0) or 0)
    if not m or m.group(1) == "-" or precision < 9:
        return None, None
    year, month, day = int(m.group(2)), int(m.group(3)), int(m.group(4))
    if not 1 <= year <= 9999:
        return None, None
    if precision == 9 or month == 0:
        return dt.date(year, 7, 1), "year"
    if precision == 10 or day == 0:
        return safe_date(year, month, 15), "month"
    if value.get("calendarmodel") == JULIAN:
        return julian_to_gregorian(year, month, day), "day"
    return safe_date(year, month, day), "day"


def parse_date_text(text: str | None) -> tuple[dt.date, str] | None:
    """Find a capture date in a Commons ``DateTimeOriginal`` value (HTML or plain).

    Understands ISO and EXIF forms, "12 May 1878", "May 12, 1878", "May 1878",
    a bare year, decades ("1880s") and short ranges ("1878-1880", midpoint).

    Returns:
        (date, precision) or None when no usable date is found.
    """
    if not text:
        return None
    raw = str(text)
    attr = _TIME_ATTR_RE.search(raw)
    candidates = [attr.group(1)] if attr else []
    candidates.append(strip_html(raw))
    for s in candidates:
        found = _parse_plain(s)
        if found:
            return found
    return None


def _parse_plain(s: str) -> tuple[dt.date, str] | None:
    approx = bool(_APPROX_RE.search(s))
    if m := _ISO_DAY_RE.search(s):
        d = safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if d:
            return d, "approx" if approx else "day"
    if m := _DMY_RE.search(s):
        d = safe_date(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
        if d:
            return d, "approx" if approx else "day"
    if m := _MDY_RE.search(s):
        d = safe_date(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
        if d:
            return d, "approx" if approx else "day"
    if m := _ISO_MONTH_RE.search(s):
        month = int(m.group(2))
        if 1 <= month <= 12:
            return dt.date(int(m.group(1)), month, 15), "approx" if approx else "month"
    if m := _MY_RE.search(s):
        return dt.date(
            int(m.group(2)), _MONTHS[m.group(1).lower()], 15
        ), "approx" if approx else "month"
    if m := _RANGE_RE.search(s):
        first, second = int(m.group(1)), m.group(2)
        last = int(second) if len(second) == 4 else (first // 100) * 100 + int(second)
        if 0 < last - first <= 10:
            return dt.date((first + last) // 2, 7, 1), "approx"
        if last - first > 10:
            return None
    if m := _DECADE_RE.search(s):
        return dt.date(int(m.group(1)) * 10 + 5, 1, 1), "approx"
    years = {int(y) for y in _YEAR_RE.findall(s)}
    if len(years) == 1:
        return dt.date(years.pop(), 7, 1), "approx" if approx else "year"
    return None


def year_from_text(text: str, *, birth_year: int | None = None) -> int | None:
    """Guess a year from a file title or category name ("Thomas Edison in 1878", "Edison aged 14").

    Life spans ("1847-1931") and texts naming several years give None.
    """
    s = re.sub(r"[_]", " ", text)
    if birth_year is not None and (m := _AGE_RE.search(s)):
        return birth_year + int(m.group(1))
    if _RANGE_RE.search(s):
        return None
    if m := _DECADE_RE.search(s):
        return None
    years = {int(y) for y in _YEAR_RE.findall(s)}
    if len(years) == 1:
        return years.pop()
    return None


def age_at(birth: dt.date, when: dt.date) -> float:
    """Age in years (fractional) on `when` for someone born on `birth`."""
    return (when - birth).days / 365.2425


def plausible(
    when: dt.date, *, birth: dt.date | None, death: dt.date | None, not_after: dt.date | None = None
) -> bool:
    """True when a photo date can be right: within the life (a year's slack) and not in the future."""
    today = dt.date.today()
    if when.year < FIRST_PHOTO_YEAR or when > today:
        return False
    if birth is not None and when < birth - dt.timedelta(days=366):
        return False
    if death is not None and when > death + dt.timedelta(days=366):
        return False
    return not (not_after is not None and when > not_after + dt.timedelta(days=1))
