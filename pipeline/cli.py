"""Command line: `python -m pipeline <command> ...`.

Each command lives in `pipeline/commands/<name>.py` and exposes
`add_parser(subparsers)` and `run(args) -> int`. Exit codes: 0 done,
2 bad usage, 3 no usable photo; other domain errors exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pipeline.commands.messages import terminal_message
from pipeline.errors import PipelineError

COMMANDS = ("analyze", "render", "fetch_photos")
log = logging.getLogger("pipeline")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Facial time-lapse: analyse an album of photos and render a video of the face aging.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"pipeline.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"pipeline.commands.{name}":
                continue  # command not built yet
            raise
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args._run(args) or 0)
    except PipelineError as exc:
        print(f"error: {terminal_message(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
