"""`python -m pipeline fetch-photos NAME OUTDIR`: download a well-known person's photos by name."""

from __future__ import annotations

import argparse
import sys

from pipeline.commands.messages import terminal_message
from pipeline.search import AmbiguousNameError, TooFewPhotosError, UnknownNameError, fetch_photos


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "fetch-photos",
        help="download a well-known person's photos from Wikimedia Commons",
        description=(
            "Find a well-known person on Wikidata (birth date) and download about a dozen "
            "freely licensed photos from across their life from Wikimedia Commons, with "
            "credits.json / credits.txt (author, licence, link, date, exact age)."
        ),
    )
    p.add_argument("name", help='the person\'s name, e.g. "Thomas Edison"')
    p.add_argument(
        "outdir", help="folder to write the photos and credits into (created if missing)"
    )
    p.add_argument("--limit", type=int, default=12, help="most photos to download (default 12)")
    p.add_argument(
        "--qid", default=None, help="Wikidata ID (Q...) to use when the name is ambiguous"
    )
    return p


def _progress(message: str, fraction: float) -> None:
    print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    try:
        result = fetch_photos(
            args.name, args.outdir, limit=args.limit, qid=args.qid, progress=_progress
        )
    except (AmbiguousNameError, UnknownNameError) as exc:
        print(f"error: {terminal_message(exc)}", file=sys.stderr)
        return exc.exit_code
    except TooFewPhotosError as exc:
        print(f"error: {terminal_message(exc)}", file=sys.stderr)
        for title, reason in exc.skipped:
            print(f"  skipped {title}: {reason}", file=sys.stderr)
        return exc.exit_code

    person = result.person
    born = person.birth_date.isoformat() if person.birth_date else "unknown"
    print(f"{person.label} ({person.qid}), {person.description or 'no description'}; born {born}")
    print(f"{len(result.photos)} photos in {args.outdir}:")
    for item in result.photos:
        p = item.photo
        when = (
            f"{p.date.isoformat()} ({p.date_source}, {p.date_precision})"
            if p.date
            else "date unknown"
        )
        age = f"age {item.age:5.1f}" if item.age is not None else "age ?    "
        print(f"  {item.file}  {age}  {when}  {p.licence}, {p.author}")
    if result.skipped:
        print(f"{len(result.skipped)} skipped:")
        for title, reason in result.skipped:
            print(f"  {title}: {reason}")
    if result.rejected:
        print(
            f"{len(result.rejected)} other candidates left out (drawings, signatures, too small, duplicates)"
        )
    print(f"credits: {result.credits_path} and {result.credits_text_path}")
    return 0
