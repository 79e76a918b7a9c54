"""Arguments and album loading shared by the `analyze` and `render` commands."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.analysis import Progress, analyze
from pipeline.dates import parse_date
from pipeline.edits import Edits, load_edits
from pipeline.errors import UsageError
from pipeline.search.album import fetch_album
from pipeline.types import Analysis

log = logging.getLogger(__name__)


def add_album_arguments(p: argparse.ArgumentParser, *, default_size: int = 512) -> None:
    """ALBUM (or --name), --birth-date, --edits, --size, --cnn."""
    p.add_argument("album", nargs="?", metavar="ALBUM", help="folder of photos (or a single photo)")
    p.add_argument("--name", help="a well-known person's name: fetch their photos from Wikimedia Commons instead of ALBUM")
    p.add_argument("--limit", type=int, default=12, help="with --name: how many photos to fetch (default 12)")
    p.add_argument("--qid", help="with --name: the Wikidata id (Q...) when the name is ambiguous")
    p.add_argument("--birth-date", metavar="YYYY-MM-DD", help="birth date: photos with a capture date get exact ages")
    p.add_argument("--edits", metavar="FILE", help="JSON or CSV of user edits (age, include, face, date) that win over the analysis")
    p.add_argument("--size", type=int, default=default_size, choices=(256, 512, 1024), help=f"aligned face size in pixels (default {default_size})")
    p.add_argument("--cnn", action="store_true", help="also run dlib's slower CNN detector on photos where HOG finds no face")


def analysis_from_args(args: argparse.Namespace, progress: Progress | None = None) -> Analysis:
    """Run the analysis an `add_album_arguments` parser describes.

    Raises:
        UsageError: neither or both of ALBUM and --name, or a bad date/edits file.
    """
    if bool(args.album) == bool(args.name):
        raise UsageError("Give either an ALBUM folder or --name \"Person's name\" (not both).")
    edits: Edits | None = load_edits(args.edits) if args.edits else None
    birth = parse_date(args.birth_date, "--birth-date") if args.birth_date else None
    if args.album:
        album = Path(args.album)
        if not album.exists():
            raise UsageError(f"{album}: no such folder or file.")
        return analyze(album, birth_date=birth, edits=edits, size=args.size, use_cnn=args.cnn, progress=progress)
    if args.limit < 1:
        raise UsageError("--limit must be at least 1.")
    sources, person_birth, metadata = fetch_album(args.name, limit=args.limit, qid=args.qid, progress=progress)
    return analyze(
        sources, birth_date=birth or person_birth, edits=edits, size=args.size,
        use_cnn=args.cnn, metadata=metadata, progress=progress,
    )  # fmt: skip

