"""Variants of a scan for tests and benches: the same album as if the scan had found something else.

A scan's records are never changed after the scan (`analysis.finalize` works on copies), so a
test that needs, say, an undated album makes a new scan value rather than editing the old one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable

from pipeline.types import Analysis, PhotoRecord


def changed_scan(analysis: Analysis, change: Callable[[PhotoRecord], PhotoRecord]) -> Analysis:
    """`analysis` whose scan (`state.scanned`) has `change` applied to copies of its records;
    the crops, ages and sources are shared. Finalize the result to see its effect."""
    assert analysis.state is not None, "a scan made by pipeline.analysis.scan"
    scanned = {name: change(rec.copy()) for name, rec in analysis.state.scanned.items()}
    state = dataclasses.replace(analysis.state, scanned=scanned)
    return dataclasses.replace(analysis, state=state)


def undated_scan(analysis: Analysis, files: Iterable[str] | None = None) -> Analysis:
    """`analysis` as if `files` (default: every photo) had come without a date."""
    names = None if files is None else set(files)

    def undate(rec: PhotoRecord) -> PhotoRecord:
        if names is None or rec.file in names:
            rec.date, rec.date_source, rec.date_precision = None, None, ""
        return rec

    return changed_scan(analysis, undate)


def frozen(records: Iterable[PhotoRecord]) -> list[tuple]:
    """Everything the records hold, as plain values, to compare before and after a stage: each
    record's identity and JSON, its path, hash and crop handle, and every face's identity,
    flags, reasons, descriptor and landmarks."""
    return [
        (
            id(p),
            json.dumps(p.to_json(), sort_keys=True, default=str),
            p.path,
            p.sha256,
            id(p.crop) if p.crop is not None else None,
            id(p.faces),
            id(p.warnings),
            [
                (
                    id(f),
                    tuple(f.flags),
                    tuple(f.reasons),
                    None if f.descriptor is None else f.descriptor.tobytes(),
                    f.landmarks.tobytes(),
                )
                for f in p.faces
            ],
        )
        for p in records
    ]
