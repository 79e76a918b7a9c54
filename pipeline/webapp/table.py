"""The review table: rows from an analysis, and user edits from changed rows.

The app shows one row per photo. Editable cells are ``use``, ``age``,
``date`` and ``face``; the rest explain the automatic choices. Edits are kept
as a plain dict (JSON-friendly, for `gr.State`)::

    {"IMG_1.jpg": {"age": 3.5}, "IMG_2.jpg": {"include": False}}

and only cells the user actually changed become edits, so an exact age from
a birth date is never frozen by a round trip through the table.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pipeline.dates import format_age, format_date
from pipeline.edits import Edits, PhotoEdit, parse_json, parse_row
from pipeline.errors import UsageError
from pipeline.types import Analysis, PhotoRecord
from pipeline.webapp import messages

HEADERS = ["use", "photo", "age", "date", "age from", "face", "notes", "credit"]
DATATYPES = ["bool", "str", "number", "str", "str", "number", "str", "str"]
STATIC_COLUMNS = [1, 4, 6, 7]
COL_USE, COL_FILE, COL_AGE, COL_DATE, COL_SOURCE, COL_FACE = range(6)

# Ages closer than this count as unchanged (the table shows one decimal).
_AGE_TOLERANCE = 0.051

# The visitor's words for where an age and a place come from (one table, `messages`).
AGE_SOURCES, ORDER_SOURCES = messages.AGE_SOURCES, messages.ORDER_SOURCES

PhotoEdits = dict[str, dict[str, Any]]


def table_rows(analysis: Analysis, review: messages.ReviewFacts | None = None) -> list[list[Any]]:
    """One row per photo, in video order (the photos left out last)."""
    return [_row(p, review) for p in analysis.photos]


def _row(p: PhotoRecord, review: messages.ReviewFacts | None) -> list[Any]:
    return [
        bool(p.include),
        p.file,
        None if p.age is None else round(float(p.age), 1),
        p.date.isoformat() if p.date else "",
        AGE_SOURCES.get(p.age_source or "", ""),
        p.chosen_face,
        messages.photo_note(p, review),
        credit_line(p.credits),
    ]


def credit_line(credits: dict[str, Any] | None) -> str:
    """``author · licence`` for photos fetched by name; empty for uploads."""
    if not credits:
        return ""
    return " · ".join(str(credits[k]) for k in ("author", "licence") if credits.get(k))


def rows_of(value: Any) -> list[list[Any]]:
    """Table rows from whatever the Dataframe sends (a DataFrame, ``{"data": ...}`` or a list)."""
    if value is None:
        return []
    if hasattr(value, "values") and hasattr(value, "columns"):
        return value.values.tolist()
    if isinstance(value, dict) and "data" in value:
        return list(value["data"])
    return [list(r) for r in value]


def parse_age(value: Any, file: str) -> tuple[float | None, str]:
    """An age typed on a card: (age, "") or (None, what is wrong); empty means "automatic" (None, "")."""
    value = _blank_to_none(value)
    if value is None:
        return None, ""
    try:
        check = parse_row({"age": value}, file)
    except UsageError as exc:
        return None, str(exc)
    return float(check.age), ""  # type: ignore[arg-type]


def caption(p: PhotoRecord) -> str:
    """Gallery caption: position, age (as precise as the evidence), date (or "estimated")
    and a warning mark."""
    exact = p.age_source == "date"  # months only for a day-precise date and a given birth date
    age = format_age(p.age, exact=exact) if p.age is not None else "age ?"
    when = format_date(p.date, p.date_precision or "day") if p.date else ""
    if p.age_source == "inferred":
        age = f"~{age}"
    if p.age_source == "estimate":
        age, when = f"~{age}", "estimated"
    head = f"{p.order + 1}. " if p.order is not None else "left out · "
    marks = ""
    faces = [f"{f} face" for f in (p.face.flags if p.face else []) if f]
    if p.recommended_remove:
        why = (["duplicate"] if p.duplicate_of else []) or (
            ["another person?"] if "another person" in p.reason else []
        )
        marks = " ⚠ " + ", ".join(why + faces or ["check"])
    elif faces:
        marks = " · " + ", ".join(faces)  # a note only: the photo stays in
    return f"{head}{age}" + (f" · {when}" if when else "") + marks


def diff_edits(
    shown: list[list[Any]] | None,
    current: list[list[Any]] | None,
    edits: PhotoEdits | None,
    face_counts: dict[str, int] | None = None,
) -> tuple[PhotoEdits, list[str]]:
    """Add the cells the user changed (`current` vs the `shown` table) to `edits`.

    Invalid cells are skipped and reported, so one typo never blocks the rest.

    Returns:
        (edits, problems): the updated edits and one message per rejected cell.
    """
    out: PhotoEdits = {k: dict(v) for k, v in (edits or {}).items()}
    problems: list[str] = []
    before = {str(r[COL_FILE]): r for r in (shown or []) if len(r) > COL_FACE}
    face_counts = face_counts or {}
    for row in current or []:
        if len(row) <= COL_FACE:
            continue
        name = str(row[COL_FILE])
        old = before.get(name)
        if old is None:
            continue
        change: dict[str, Any] = {}
        if _as_bool(row[COL_USE]) != _as_bool(old[COL_USE]):
            change["include"] = _as_bool(row[COL_USE])
        if _age_changed(old[COL_AGE], row[COL_AGE]):
            change["age"] = _blank_to_none(row[COL_AGE])
        if str(_blank_to_none(row[COL_DATE]) or "") != str(_blank_to_none(old[COL_DATE]) or ""):
            change["date"] = _blank_to_none(row[COL_DATE])
        if _face_changed(old[COL_FACE], row[COL_FACE]):
            change["face"] = _blank_to_none(row[COL_FACE])
        if not change:
            continue
        try:
            check = parse_row({k: v for k, v in change.items() if v is not None}, name)
        except UsageError as exc:
            problems.append(str(exc))
            continue
        if check.face is not None and check.face >= face_counts.get(name, 0):
            n = face_counts.get(name, 0)
            problems.append(
                f"{name}: face {check.face} does not exist; this photo has {n} face(s), numbered from 0."
            )
            change.pop("face")
        entry = out.setdefault(name, {})
        for key, value in change.items():
            if value is None:
                entry.pop(key, None)  # an emptied cell goes back to the automatic value
            elif key == "age":
                entry[key] = float(check.age)  # type: ignore[arg-type]
            elif key == "face":
                entry[key] = int(check.face)  # type: ignore[arg-type]
            elif key == "date":
                entry[key] = check.date.isoformat()  # type: ignore[union-attr]
            else:
                entry[key] = value
        if not entry:
            out.pop(name)
    return out, problems


def to_edits(edits: PhotoEdits | None) -> Edits:
    """The pipeline's `Edits` from the app's edits dict (already validated)."""
    return parse_json([{"file": name, **values} for name, values in (edits or {}).items()], "table")


def edits_from_api(value: Any) -> Edits:
    """Edits given to the API: JSON text, a list of row dicts, or ``{"photos": ...}``.

    Rows may be the ``photos`` of an `/analyze` answer sent back unchanged;
    the caller prunes values equal to the automatic ones.

    Raises:
        UsageError: malformed JSON or rows.
    """
    if value is None or value == "" or value == [] or value == {}:
        return Edits()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"edits: not valid JSON ({exc.msg} at line {exc.lineno}); send a list of rows like "
                '[{"file": "a.jpg", "age": 3.5, "include": false}].'
            ) from None
    if isinstance(value, dict) and "photos" not in value and "birth_date" not in value:
        value = {"photos": value}
    return parse_json(value, "edits")


def prune_edits(edits: Edits, automatic: Analysis) -> Edits:
    """A copy of `edits` without values equal to what the analysis chose by itself
    (a no-op edit would turn an exact age into an "edited" one)."""
    by_file = {p.file: p for p in automatic.photos}
    out = Edits(birth_date=edits.birth_date)
    for name, e in edits.photos.items():
        p = by_file.get(name)
        if p is None:
            out.photos[name] = e
            continue
        e = PhotoEdit(e.include, e.age, e.face, e.date)
        if e.include is not None and e.include == p.include:
            e.include = None
        if e.age is not None and p.age is not None and abs(e.age - p.age) < _AGE_TOLERANCE:
            e.age = None
        if e.face is not None and e.face == p.chosen_face:
            e.face = None
        if e.date is not None and e.date == p.date:
            e.date = None
        if any(v is not None for v in (e.include, e.age, e.face, e.date)):
            out.photos[name] = e
    return out


def _as_bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes", "y", "x", "on")
    return bool(v)


def _blank_to_none(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, str) and not v.strip():
        return None
    return v.strip() if isinstance(v, str) else v


def _age_changed(old: Any, new: Any) -> bool:
    old, new = _blank_to_none(old), _blank_to_none(new)
    if old is None or new is None:
        return (old is None) != (new is None)
    try:
        return abs(float(old) - float(new)) >= _AGE_TOLERANCE
    except (TypeError, ValueError):
        return True  # not a number: let validation report it


def _face_changed(old: Any, new: Any) -> bool:
    old, new = _blank_to_none(old), _blank_to_none(new)
    if old is None or new is None:
        return (old is None) != (new is None)
    try:
        return int(float(old)) != int(float(new))
    except (TypeError, ValueError):
        return True
