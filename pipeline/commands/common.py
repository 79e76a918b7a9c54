"""Arguments and album loading shared by the `analyze` and `render` commands."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.analysis import Progress, analyze
from pipeline.dates import parse_date
from pipeline.edits import Edits, load_edits
from pipeline.errors import UsageError
from pipeline.scan import ScanSettings
from pipeline.scan_cache import DiskScanCache, default_cache_dir
from pipeline.search.album import fetch_album
from pipeline.types import Analysis

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


def scan_cache_from_args(args: argparse.Namespace) -> DiskScanCache | None:
    """The on-disk scan cache the arguments ask for (None with --no-cache)."""
    if args.no_cache:
        if args.cache_dir:
            raise UsageError("--cache-dir and --no-cache contradict each other; give one.")
        return None
    folder = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--cache-dir {folder} is a file; give a folder.")
    return DiskScanCache(folder, ScanSettings(use_cnn=args.cnn))


def analysis_from_args(args: argparse.Namespace, progress: Progress | None = None) -> Analysis:
    """Run the analysis an `add_album_arguments` parser describes.

    Raises:
        UsageError: neither or both of ALBUM and --name, or a bad date/edits file.
    """
    if bool(args.album) == bool(args.name):
        raise UsageError('Give either an ALBUM folder or --name "Person\'s name" (not both).')
    if args.workers is not None and not 0 <= args.workers <= 64:
        raise UsageError(f"--workers must be from 0 to 64; got {args.workers}.")
    scan = {"cache": scan_cache_from_args(args), "workers": args.workers}
    edits: Edits | None = load_edits(args.edits) if args.edits else None
    birth = parse_date(args.birth_date, "--birth-date") if args.birth_date else None
    if args.album:
        album = Path(args.album)
        if not album.exists():
            raise UsageError(f"{album}: no such folder or file.")
        return analyze(
            album, birth_date=birth, edits=edits, use_cnn=args.cnn, progress=progress, **scan
        )
    if args.limit < 1:
        raise UsageError("--limit must be at least 1.")
    sources, person_birth, metadata = fetch_album(
        args.name, limit=args.limit, qid=args.qid, progress=progress
    )
    return analyze(
        sources, birth_date=birth or person_birth, edits=edits,
        use_cnn=args.cnn, metadata=metadata, progress=progress, **scan,
    )  # fmt: skip
