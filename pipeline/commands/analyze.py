"""`python -m pipeline analyze ALBUM`: faces, target person, dates, ages and order."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.codes import Status
from pipeline.commands.common import add_album_arguments, analysis_from_args
from pipeline.commands.messages import AGE_WORDS, ORDER_WORDS, status_words
from pipeline.face_crops import write_face_crops
from pipeline.progress import TqdmProgress
from pipeline.types import Analysis


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "analyze",
        help="find the person's face in every photo, date, age and order them",
        description="Analyse an album: faces, the target person, dates, ages and order. Nothing is deleted.",
    )
    add_album_arguments(p)
    p.add_argument("--json", metavar="OUT.json", help="write the per-photo results as JSON")
    p.add_argument("--faces-dir", metavar="DIR", help="write the aligned face crops as PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def run(args: argparse.Namespace) -> int:
    with TqdmProgress(enabled=not args.quiet) as progress:
        analysis = analysis_from_args(args, progress=progress).analysis
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(analysis.to_json(), indent=2) + "\n", encoding="utf-8")
    if args.faces_dir:
        write_face_crops(analysis, Path(args.faces_dir))
    print_summary(analysis)
    if not analysis.usable:
        raise analysis.shortage(needed=1)
    return 0


def print_summary(analysis: Analysis) -> None:
    """One line per photo on stdout, in video order, then the totals and the birth date used.

    Codes are in the terminal's words (`pipeline.commands.messages`); ``--json`` keeps the codes.
    """
    for p in analysis.photos:
        pos = f"{p.order + 1:>3}" if p.order is not None else "  -"
        source = AGE_WORDS.get(p.age_source or "", p.age_source or "")
        age = f"{p.age:5.1f} y ({source})" if p.age is not None else "    ?"
        date = p.date.isoformat() if p.date else "no date"
        order = ORDER_WORDS.get(p.order_source or "", p.order_source or "")
        placed = f", placed by {order}" if order and p.order is not None else ""
        # An unusable file's status already says why it is left out.
        flagged = p.recommended_remove and p.status == Status.OK
        flag = " [recommended remove: " + p.reason + "]" if flagged else ""
        notes = "".join(f" [note: {w}]" for w in p.warnings)
        status = f" [{status_words(p)}]" if p.status != Status.OK else ""
        print(f"{pos} {p.file}: {age}, {date}{placed}{status}{flag}{notes}", file=sys.stdout)
    print(f"{len(analysis.usable)} of {len(analysis.photos)} photos usable", file=sys.stdout)
    if analysis.birth_date is None and analysis.birth_estimate is not None:
        est = analysis.birth_estimate
        print(
            f"Birth date: {est.describe()}; give the real date with --birth-date YYYY-MM-DD for exact ages",
            file=sys.stdout,
        )
