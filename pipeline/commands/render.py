"""`python -m pipeline render ALBUM -o OUT.mp4`: analyse an album and render its time-lapse."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.codes import Status
from pipeline.commands.common import add_album_arguments, analysis_from_args, pipeline_from_args
from pipeline.commands.messages import status_words
from pipeline.credits import write_credits_beside
from pipeline.errors import UsageError
from pipeline.progress import TqdmProgress
from pipeline.render import RenderResult, RenderSettings, preflight
from pipeline.render.options import BY_NAME, OPTIONS
from pipeline.selection import DEFAULT_TRANSITION_PHOTOS, selection_limit
from pipeline.timelapse import Analysed
from pipeline.types import Analysis


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "render",
        help="analyse an album and render the time-lapse video",
        description=(
            "Analyse an album (same options and edits file as `analyze`) and render a "
            "browser-playable H.264 MP4 of the face aging, optionally a GIF, a contact sheet "
            "and a JSON report."
        ),
    )
    add_album_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT.mp4", help="the MP4 to write")
    add_setting_options(p)
    pick = p.add_mutually_exclusive_group()
    pick.add_argument(
        "--select",
        type=int,
        metavar="N",
        help=(
            "keep N photos spread along the timeline, the best face of each period "
            f"(default for transition videos of more than {DEFAULT_TRANSITION_PHOTOS} photos)"
        ),
    )
    pick.add_argument(
        "--all", action="store_true", help="keep every usable photo (no automatic selection)"
    )
    p.add_argument("--report", metavar="REPORT.json", help="write a JSON report")
    p.add_argument("--gif", metavar="OUT.gif", help="also write a GIF")
    p.add_argument(
        "--contact-sheet", metavar="OUT.png", help="write the ordered photos with their ages as PNG"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


# The option groups of `render --help`; a setting not named here sits with the general ones.
TIMING = ("frames_between", "seconds_per_year")  # one or the other
AGES = ("extend_before", "extend_after", "lifespan", "age_step")
DAILY = ("per_photo", "blend", "smooth", "average")
MB = 1_000_000  # --gif-max-mb is in megabytes, `gif_max_bytes` in bytes


def add_setting_options(p: argparse.ArgumentParser) -> None:
    """One option per render setting the command line offers, made from `options.OPTIONS`."""
    timing = p.add_mutually_exclusive_group()
    ages = p.add_argument_group(
        "ages beyond the photos (SAM age model; needs its weights, a GPU makes it fast)"
    )
    daily = p.add_argument_group(
        "photo-a-day mode (every photo briefly, in timeline order, eyes locked)"
    )
    for opt in OPTIONS:
        if not opt.cli_flag:
            continue
        group = timing if opt.name in TIMING else ages if opt.name in AGES else daily
        if opt.name not in TIMING + AGES + DAILY:
            group = p
        kind, default = opt.type, opt.default
        if opt.name == "gif_max_bytes":
            kind, default = float, opt.default / MB
        unit = ", in megabytes" if opt.name == "gif_max_bytes" else ""
        shown = " ".join(f"{v:g}" for v in default) if opt.name == "lifespan" else default
        extra: dict = {"choices": opt.choices} if opt.choices else {}
        if opt.name == "lifespan":
            extra = {"nargs": 2, "metavar": tuple(opt.metavar.split())}
        elif opt.metavar:
            extra["metavar"] = opt.metavar
        group.add_argument(
            opt.cli_flag,
            type=float if kind is tuple else kind,
            default=None if opt.name in TIMING + ("lifespan",) else default,
            help=opt.help + unit + (f" (default {shown:g})" if isinstance(shown, float) else
                                    f" (default {shown})" if shown is not None else ""),
            **extra,
        )  # fmt: skip


def settings_from_args(args: argparse.Namespace) -> RenderSettings:
    """The render settings an `add_parser` command line describes."""
    given = {o.name: getattr(args, o.cli_flag[2:].replace("-", "_")) for o in OPTIONS if o.cli_flag}
    values = {name: BY_NAME[name].default if v is None else v for name, v in given.items()}
    encoder = values.pop("encoder")
    if encoder and values["method"] != "stylegan":
        raise UsageError("--encoder only applies to --method stylegan.")
    if values["per_photo"] is None and any(values[n] != BY_NAME[n].default for n in DAILY):
        raise UsageError("--blend, --smooth and --average only apply with --per-photo N.")
    if values["per_photo"] is not None and (
        given["frames_between"] or given["seconds_per_year"] or given["hold"]
    ):
        raise UsageError(
            "--per-photo sets the timing itself; drop --frames-between, --seconds-per-year and --hold."
        )
    mb = values["gif_max_bytes"]
    if not 0.05 <= mb <= 1000:
        raise UsageError(f"--gif-max-mb must be between 0.05 and 1000; got {mb:g}.")
    values["gif_max_bytes"] = round(mb * MB)
    values["lifespan"] = tuple(values["lifespan"])
    return RenderSettings(**values, method_options={"encoder": encoder} if encoder else {})


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    outputs = {
        "video": Path(args.output),
        "gif": Path(args.gif) if args.gif else None,
        "contact_sheet": Path(args.contact_sheet) if args.contact_sheet else None,
        "report": Path(args.report) if args.report else None,
    }
    # Bad settings, an unavailable method or a bad output path stop here, before the analysis.
    preflight(settings, **outputs)
    limit = selection_limit(
        every_photo=settings.per_photo is not None, asked=args.select, keep_all=args.all
    )
    pipe = pipeline_from_args(args)
    with TqdmProgress(enabled=not args.quiet) as progress:
        analysed = analysis_from_args(args, progress=progress, limit=limit, pipe=pipe)
        if analysed.not_selected:
            print(
                f"selected {limit} of {len(analysed.not_selected) + len(analysed.analysis.usable)} "
                "usable photos along the timeline (--select N to change, --all for every photo)",
                file=sys.stderr,
            )
        result = pipe.render(analysed, settings, progress=progress, **outputs)
    analysis = analysed.analysis
    print_summary(result, outputs["report"])
    print_left_out(analysis, analysed)
    if result.video and (credits := write_credits_beside(analysis, result.video)):
        print(f"wrote {credits} (photo credits)")
    return 0


def print_summary(result: RenderResult, report: Path | None) -> None:
    """The photos used, in order, and what was written (stdout); GIF cap misses on stderr."""
    data = result.report
    for i, kf in enumerate(data["keyframes"]):
        caption = f" [{kf['caption']}]" if kf["caption"] else ""
        print(f"{i + 1:>3} {kf['label']}: {kf['age']:.1f} y{caption}, frame {kf['frame']}")
    if result.video:
        print(
            f"wrote {result.video}: {result.frame_count} frames, {result.duration:.2f} s at "
            f"{data['fps']} fps, {data['size']} px, method {data['method']}, "
            f"background {data['background']['setting']}"
        )
    gif = data.get("gif")
    if gif and result.gif:
        print(f"wrote {result.gif}: {gif['side']} px, {gif['fps']} fps, {gif['bytes']} bytes")
    elif gif:
        print(
            f"warning: no GIF written: still {gif['bytes']} bytes at {gif['side']} px and "
            f"{gif['fps']} fps, over the {gif['max_bytes']} byte cap; raise --gif-max-mb",
            file=sys.stderr,
        )
    if result.contact_sheet:
        print(f"wrote {result.contact_sheet}")
    if report:
        print(f"wrote {report}")


def print_left_out(analysis: Analysis, analysed: Analysed) -> None:
    """Photos that are not in the video, each with why (stderr): nothing is dropped silently."""
    left = [p for p in analysis.photos if not p.usable]
    if left:
        print(
            f'{len(left)} photo(s) left out (keep one with an edits file: "include": true):',
            file=sys.stderr,
        )
    for p in left:
        if p.status != Status.OK:
            print(f"  {p.file}: {status_words(p)}", file=sys.stderr)
        else:
            why = p.reason or "excluded by your edits"
            if p.file in analysed.not_selected:
                why = f"not among the {analysed.limit} photos selected along the timeline"
            print(f"  {p.file}: {why}", file=sys.stderr)
