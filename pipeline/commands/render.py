"""`python -m pipeline render ALBUM -o OUT.mp4`: analyse an album and render its time-lapse."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.commands.common import add_album_arguments, analysis_from_args
from pipeline.credits import write_credits_beside
from pipeline.errors import UsageError
from pipeline.methods.base import method_names
from pipeline.progress import TqdmProgress
from pipeline.render import RenderResult, RenderSettings, preflight, render
from pipeline.render.backdrop import DEFAULT_BACKGROUND
from pipeline.render.captions import CAPTION_MODES
from pipeline.selection import DEFAULT_TRANSITION_PHOTOS, apply_selection
from pipeline.sizes import DEFAULT_SIZE, SIZES
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
    p.add_argument(
        "--size",
        type=int,
        default=DEFAULT_SIZE,
        choices=SIZES,
        help=f"video side in pixels (default {DEFAULT_SIZE})",
    )
    p.add_argument(
        "--method",
        choices=method_names(),
        default="morph",
        help="in-between frames: morph (default, landmark morph), crossfade (pixel blend), "
        "stylegan (needs the StyleGAN weights)",
    )
    p.add_argument(
        "--encoder", choices=("e4e", "psp"), help="StyleGAN encoder (only with --method stylegan)"
    )
    p.add_argument("--fps", type=int, default=30, help="frames per second, 24-60 (default 30)")
    timing = p.add_mutually_exclusive_group()
    timing.add_argument(
        "--frames-between",
        type=int,
        metavar="N",
        help="frames per transition between two photos (default 24)",
    )
    timing.add_argument(
        "--seconds-per-year",
        type=float,
        metavar="S",
        help="make each transition last S seconds per year of age gap instead",
    )
    p.add_argument(
        "--min-transition",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="with --seconds-per-year: shortest transition (default 0.5)",
    )
    p.add_argument(
        "--max-transition",
        type=float,
        default=4.0,
        metavar="SECONDS",
        help="with --seconds-per-year: longest transition (default 4)",
    )
    p.add_argument(
        "--hold", type=float, default=0.0, metavar="SECONDS", help="hold each photo (default 0)"
    )
    p.add_argument(
        "--gamma",
        type=float,
        help="largest share (0-1) of the real photo blended in near each photo "
        "(default: 0 for morph/crossfade, 0.5 for stylegan)",
    )
    p.add_argument(
        "--caption", choices=CAPTION_MODES, default="age", help="burned-in caption (default age)"
    )
    ages = p.add_argument_group(
        "ages beyond the photos (SAM age model; needs its weights, a GPU makes it fast)"
    )
    ages.add_argument(
        "--extend-before",
        type=float,
        metavar="AGE",
        help="add imagined faces before the first photo, down to this age (e.g. 2)",
    )
    ages.add_argument(
        "--extend-after",
        type=float,
        metavar="AGE",
        help="add imagined faces after the last photo, up to this age (e.g. 80)",
    )
    ages.add_argument(
        "--lifespan",
        type=float,
        nargs=2,
        metavar=("FROM", "TO"),
        help="with a single usable photo: the ages its lifespan video spans (default 5 80)",
    )
    ages.add_argument(
        "--age-step",
        type=float,
        default=10.0,
        metavar="YEARS",
        help="about this many years between imagined faces (default 10)",
    )
    daily = p.add_argument_group(
        "photo-a-day mode (every photo briefly, in timeline order, eyes locked)"
    )
    daily.add_argument(
        "--per-photo",
        type=int,
        metavar="N",
        help="show every photo N frames instead of transitions between keyframes",
    )
    daily.add_argument(
        "--blend",
        type=int,
        default=2,
        metavar="N",
        help="with --per-photo: blend frames between photos (default 2)",
    )
    daily.add_argument(
        "--smooth",
        type=int,
        default=3,
        metavar="N",
        help="with --per-photo: smooth the eye placement over N photos either side (default 3)",
    )
    daily.add_argument(
        "--average",
        type=int,
        default=1,
        metavar="N",
        help="with --per-photo: average each photo with the next N-1 (default 1: off)",
    )
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
    p.add_argument(
        "--background",
        default=DEFAULT_BACKGROUND,
        metavar="original|soft|COLOUR",
        help="behind the person: soft = one blurred backdrop in the photos' colours for the "
        "whole video (default), original = each photo's own background, or a plain colour "
        "(#rrggbb, white, black, grey, cream, blue)",
    )
    p.add_argument("--report", metavar="REPORT.json", help="write a JSON report")
    p.add_argument("--gif", metavar="OUT.gif", help="also write a GIF")
    p.add_argument(
        "--gif-max-mb",
        type=float,
        default=8.0,
        metavar="MB",
        help="shrink the GIF until it is at most this many megabytes (default 8)",
    )
    p.add_argument(
        "--contact-sheet", metavar="OUT.png", help="write the ordered photos with their ages as PNG"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def settings_from_args(args: argparse.Namespace) -> RenderSettings:
    """The render settings an `add_parser` command line describes."""
    options: dict = {}
    if args.encoder:
        if args.method != "stylegan":
            raise UsageError("--encoder only applies to --method stylegan.")
        options["encoder"] = args.encoder
    if args.per_photo is None and (args.blend, args.smooth, args.average) != (2, 3, 1):
        raise UsageError("--blend, --smooth and --average only apply with --per-photo N.")
    if args.per_photo is not None and (args.frames_between or args.seconds_per_year or args.hold):
        raise UsageError(
            "--per-photo sets the timing itself; drop --frames-between, --seconds-per-year and --hold."
        )
    if not 0.05 <= args.gif_max_mb <= 1000:
        raise UsageError(f"--gif-max-mb must be between 0.05 and 1000; got {args.gif_max_mb:g}.")
    return RenderSettings(
        method=args.method,
        size=args.size,
        fps=args.fps,
        frames_between=args.frames_between if args.frames_between is not None else 24,
        seconds_per_year=args.seconds_per_year,
        min_transition_s=args.min_transition,
        max_transition_s=args.max_transition,
        hold=args.hold,
        gamma=args.gamma,
        caption=args.caption,
        background=args.background,
        method_options=options,
        gif_max_bytes=round(args.gif_max_mb * 1_000_000),
        extend_before=args.extend_before,
        extend_after=args.extend_after,
        lifespan=tuple(args.lifespan) if args.lifespan else (5.0, 80.0),
        age_step=args.age_step,
        per_photo=args.per_photo,
        blend=args.blend,
        smooth=args.smooth,
        average=args.average,
    )


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
    with TqdmProgress(enabled=not args.quiet) as progress:
        analysis = analysis_from_args(args, progress=progress)
        select_photos(analysis, args, settings)
        result = render(analysis, settings=settings, progress=progress, **outputs)
    print_summary(result, outputs["report"])
    print_left_out(analysis)
    if result.video and (credits := write_credits_beside(analysis, result.video)):
        print(f"wrote {credits} (photo credits)")
    return 0


def select_photos(analysis: Analysis, args: argparse.Namespace, settings: RenderSettings) -> None:
    """--select N, or the automatic selection of a long transition video (unless --all)."""
    n = args.select
    if n is not None and n < 2:
        raise UsageError(f"--select needs at least 2 photos; got {n}.")
    automatic = not args.all and settings.per_photo is None
    if n is None and automatic and len(analysis.usable) > DEFAULT_TRANSITION_PHOTOS:
        n = DEFAULT_TRANSITION_PHOTOS
    if n is None or len(analysis.usable) <= n:
        return
    dropped = apply_selection(analysis, n)
    print(
        f"selected {n} of {len(dropped) + n} usable photos along the timeline "
        "(--select N to change, --all for every photo)",
        file=sys.stderr,
    )


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


def print_left_out(analysis: Analysis) -> None:
    """Photos that are not in the video, each with why (stderr): nothing is dropped silently."""
    left = [p for p in analysis.photos if not p.usable]
    if left:
        print(
            f'{len(left)} photo(s) left out (keep one with an edits file: "include": true):',
            file=sys.stderr,
        )
    for p in left:
        if p.status != "ok":  # the message names the file
            print(f"  {p.message}", file=sys.stderr)
        else:
            print(f"  {p.file}: {p.reason or 'excluded by your edits'}", file=sys.stderr)
