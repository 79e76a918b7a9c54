"""Arguments and album loading shared by the `analyze` and `render` commands."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.dates import parse_date
from pipeline.edits import Edits, load_edits
from pipeline.errors import UsageError
from pipeline.progress import Progress
from pipeline.scan_cache import default_cache_dir
from pipeline.search.album import fetch_album
from pipeline.timelapse import Analysed, Timelapse

log = logging.getLogger(__name__)


def add_album_arguments(p: argparse.ArgumentParser) -> None:
    """ALBUM (or --name), --birth-date, --edits, --cnn, --cache-dir, --no-cache, --workers."""
    p.add_argument("album", nargs="?", metavar="ALBUM", help="folder of photos (or a single photo)")
    p.add_argument(
        "--name",
        help="a well-known person's name: fetch their photos from Wikimedia Commons instead of ALBUM",
    )
    p.add_argument(
        "--limit", type=int, default=12, help="with --name: how many photos to fetch (default 12)"
    )
    p.add_argument("--qid", help="with --name: the Wikidata id (Q...) when the name is ambiguous")
    p.add_argument(
        "--birth-date",
        metavar="YYYY-MM-DD",
        help="birth date: photos with a capture date get exact ages",
    )
    p.add_argument(
        "--edits",
        metavar="FILE",
        help="JSON or CSV of user edits (age, include, face, date) that win over the analysis",
    )
    p.add_argument(
        "--cnn",
        action="store_true",
        help="also run dlib's CNN face detector (slower) on photos where HOG finds no face",
    )
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help=f"where scans of the photos are kept between runs (default {default_cache_dir()})",
    )
    p.add_argument(
        "--no-cache", action="store_true", help="scan every photo again and keep nothing on disk"
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes scanning photos in parallel (default: one per core, up to 4; 0: none)",
    )


def pipeline_from_args(args: argparse.Namespace) -> Timelapse:
    """The pipeline the arguments ask for: its scan cache (none with --no-cache), CNN, workers.

    Raises:
        UsageError: contradicting cache options, a file as cache folder, a bad --workers.
    """
    if args.no_cache and args.cache_dir:
        raise UsageError("--cache-dir and --no-cache contradict each other; give one.")
    folder = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    if not args.no_cache and folder.exists() and not folder.is_dir():
        raise UsageError(f"--cache-dir {folder} is a file; give a folder.")
    if args.workers is not None and not 0 <= args.workers <= 64:
        raise UsageError(f"--workers must be from 0 to 64; got {args.workers}.")
    return Timelapse.create(
        cache_dir=folder, cache=not args.no_cache, use_cnn=args.cnn, workers=args.workers
    )


def analysis_from_args(
    args: argparse.Namespace,
    progress: Progress | None = None,
    limit: int | None = None,
    pipe: Timelapse | None = None,
) -> Analysed:
    """Run the analysis an `add_album_arguments` parser describes (at most `limit` photos kept).

    Raises:
        UsageError: neither or both of ALBUM and --name, or a bad date/edits file.
    """
    if bool(args.album) == bool(args.name):
        raise UsageError('Give either an ALBUM folder or --name "Person\'s name" (not both).')
    pipe = pipe or pipeline_from_args(args)
    edits: Edits | None = load_edits(args.edits) if args.edits else None
    birth = parse_date(args.birth_date, "--birth-date") if args.birth_date else None
    if args.album:
        album = Path(args.album)
        if not album.exists():
            raise UsageError(f"{album}: no such folder or file.")
        return pipe.analyse(album, birth_date=birth, edits=edits, limit=limit, progress=progress)
    if args.limit < 1:
        raise UsageError("--limit must be at least 1.")
    sources, person_birth, metadata = fetch_album(
        args.name, limit=args.limit, qid=args.qid, progress=progress
    )
    return pipe.analyse(
        sources, birth_date=birth or person_birth, edits=edits, metadata=metadata,
        limit=limit, progress=progress,
    )  # fmt: skip
