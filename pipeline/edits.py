"""User edits that win over everything automatic: age, include/exclude, face, date.

Read from JSON or CSV, or built in memory (the app's table).

JSON, either form::

    {"birth_date": "2012-03-01",
     "photos": {"IMG_1.jpg": {"age": 3.5, "include": false, "face": 1, "date": "2015-09-01"}}}
    [{"file": "IMG_1.jpg", "age": 3.5}, {"file": "IMG_2.jpg", "include": false}]

CSV with a header row; columns ``file`` plus any of ``include``, ``age``,
``face``, ``date`` (empty cells mean "no edit")::

    file,include,age,face,date
    IMG_1.jpg,yes,3.5,,
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.dates import parse_date
from pipeline.errors import UsageError

_TRUE = {"1", "true", "yes", "y", "x", "include", "on"}
_FALSE = {"0", "false", "no", "n", "exclude", "off"}


@dataclass
class PhotoEdit:
    """Edits for one photo; None means "leave the automatic value"."""

    include: bool | None = None
    age: float | None = None
    face: int | None = None
    date: dt.date | None = None


@dataclass
class Edits:
    photos: dict[str, PhotoEdit] = field(default_factory=dict)
    birth_date: dt.date | None = None

    def get(self, name: str) -> PhotoEdit:
        return self.photos.get(name) or PhotoEdit()

    def unknown_files(self, names: list[str]) -> list[str]:
        known = set(names)
        return sorted(n for n in self.photos if n not in known)


def load_edits(path: str | Path) -> Edits:
    """Read an edits file (``.json`` or ``.csv``).

    Raises:
        UsageError: the file is missing or malformed; the message names the entry.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"Edits file {p}: cannot be read ({exc.strerror or exc}).") from None
    if p.suffix.lower() == ".csv":
        return parse_csv(text, p.name)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"Edits file {p.name}: not valid JSON ({exc.msg} at line {exc.lineno})."
        ) from None
    return parse_json(data, p.name)


def parse_json(data: Any, where: str = "edits") -> Edits:
    edits = Edits()
    if isinstance(data, dict):
        if data.get("birth_date"):
            edits.birth_date = parse_date(data["birth_date"], f"{where}: birth_date")
        photos = data.get("photos", {})
        if isinstance(photos, dict):
            rows = [{"file": k, **(v or {})} for k, v in photos.items()]
        elif isinstance(photos, list):
            rows = photos
        else:
            raise UsageError(f"{where}: 'photos' must be an object or a list.")
    elif isinstance(data, list):
        rows = data
    else:
        raise UsageError(f"{where}: expected an object with 'photos' or a list of rows.")
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not row.get("file"):
            raise UsageError(f"{where}: entry {i} needs a 'file' name.")
        edits.photos[str(row["file"])] = parse_row(row, f"{where}: {row['file']}")
    return edits


def parse_csv(text: str, where: str = "edits") -> Edits:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "file" not in [f.strip().lower() for f in reader.fieldnames]:
        raise UsageError(f"{where}: the CSV needs a header row with a 'file' column.")
    edits = Edits()
    for line, row in enumerate(reader, 2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        if not row.get("file"):
            continue
        edits.photos[row["file"]] = parse_row(row, f"{where} line {line} ({row['file']})")
    return edits


def parse_row(row: dict[str, Any], where: str) -> PhotoEdit:
    """Validate one row of edits; empty values mean no edit."""
    e = PhotoEdit()
    if row.get("include") is not None and row.get("include") != "":
        v = row["include"]
        if isinstance(v, bool):
            e.include = v
        elif str(v).strip().lower() in _TRUE:
            e.include = True
        elif str(v).strip().lower() in _FALSE:
            e.include = False
        else:
            raise UsageError(f"{where}: include must be yes/no or true/false, not {v!r}.")
    if row.get("age") not in (None, ""):
        try:
            age = float(row["age"])
        except (TypeError, ValueError):
            raise UsageError(
                f"{where}: age must be a number of years, not {row['age']!r}."
            ) from None
        if not math.isfinite(age) or not 0 <= age <= 130:
            raise UsageError(f"{where}: age {age} is out of range; use years between 0 and 130.")
        e.age = age
    if row.get("face") not in (None, ""):
        try:
            e.face = int(row["face"])
        except (TypeError, ValueError):
            raise UsageError(
                f"{where}: face must be the face number (0 = first face), not {row['face']!r}."
            ) from None
        if e.face < 0:
            raise UsageError(f"{where}: face numbers start at 0.")
    if row.get("date") not in (None, ""):
        e.date = parse_date(row["date"], f"{where}: date")
    return e
