"""Rendering benchmarks: morph speed, a 12-photo album end to end, and memory vs video length.

Run from the repository root::

    .venv/bin/python -m bench.bench_render            # all three
    .venv/bin/python -m bench.bench_render --skip-e2e  # morph speed only (quick)

Prints:
  * morph frames/s at 512x512, excluding encoding (the method alone, and the
    renderer's whole frame loop with keyframe blend and captions);
  * wall time of `python -m pipeline render` on a 12-photo album derived from
    the package photos (astronaut, Tom Hanks, Edison) to a 512 px MP4 with 24
    frames per transition, interpreter start and model loading included;
  * peak RSS of that command for a short and a long video (memory flat in
    the video's length; ffmpeg runs in its own process and is not counted).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pipeline import faces
from pipeline.methods.base import Keyframe, get_method
from pipeline.render import RenderSettings, plan_render

ROOT = Path(__file__).resolve().parent.parent


def package_photos() -> dict[str, np.ndarray]:
    """The real photos the installed packages ship, plus the bundled Edison album."""
    from skimage import data

    spec = importlib.util.find_spec("insightface")
    assert spec and spec.submodule_search_locations
    hanks = Path(spec.submodule_search_locations[0]) / "data" / "images" / "Tom_Hanks_54745.png"
    photos = {
        "astronaut": np.ascontiguousarray(data.astronaut()),
        "hanks": np.asarray(Image.open(hanks).convert("RGB")),
    }
    for i, path in enumerate(sorted((ROOT / "assets" / "examples" / "edison").glob("*.png"))):
        photos[f"edison{i + 1}"] = np.asarray(Image.open(path).convert("RGB"))
    return photos


def _exposure(image: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT101)


def twelve_photo_album(folder: Path) -> Path:
    """Write 12 photos (originals, flips, crops, exposure and rotation variants) and an edits file.

    The photos show three people, so the analysis would recommend removing
    some; the edits file includes them all and gives every photo an age.
    """
    p = package_photos()
    a, h = p["astronaut"], p["hanks"]
    album = {
        "01_astronaut.jpg": a,
        "02_astronaut_flip.jpg": a[:, ::-1],
        "03_astronaut_crop.jpg": a[20:480, 40:500],
        "04_astronaut_dark.jpg": _exposure(a, 0.7),
        "05_astronaut_turned.jpg": _rotate(_exposure(a, 1.15), 6),
        "06_hanks.jpg": h,
        "07_hanks_flip.jpg": h[:, ::-1],
        "08_hanks_bright.jpg": _exposure(h, 1.2),
        "09_edison1.jpg": p["edison1"],
        "10_edison2.jpg": p["edison2"],
        "11_edison2_flip.jpg": p["edison2"][:, ::-1],
        "12_edison3.jpg": p["edison3"],
    }
    folder.mkdir(parents=True, exist_ok=True)
    edits = {}
    for i, (name, image) in enumerate(album.items()):
        Image.fromarray(np.ascontiguousarray(image)).save(folder / name, quality=92)
        edits[name] = {"include": True, "age": 20.0 + 5.0 * i}
    (folder.parent / "edits.json").write_text(json.dumps({"photos": edits}))
    return folder


def morph_speed(size: int, frames: int) -> None:
    p = package_photos()
    keyframes = []
    for age, name in zip((30.0, 40.0, 50.0), ("astronaut", "hanks", "edison1")):
        face = faces.detect_faces(p[name])[0]
        image, landmarks = faces.align_face(p[name], face.landmarks, size)
        keyframes.append(Keyframe(image, landmarks, age, label=name))
    # The method alone: in-betweens only (keyframe frames are copies and would flatter the figure).
    morph = get_method("morph")()
    morph.prepare(keyframes, size=size)
    lambdas = (np.arange(frames) + 0.5) / frames
    list(morph.transition(0, lambdas[:4]))  # warm-up
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for j in range(2):
            for _frame in morph.transition(j, lambdas):
                pass
        best = max(best, 2 * frames / (time.perf_counter() - t0))
    print(
        f"morph method, {size}x{size}, in-between frames only: {best:.0f} frames/s (best of 3, {2 * frames} frames)"
    )
    for caption in ("age", "none"):
        settings = RenderSettings(size=size, frames_between=frames, caption=caption)
        plan = plan_render(keyframes, settings)
        t0 = time.perf_counter()
        n = sum(1 for _ in plan.frames())
        rate = n / (time.perf_counter() - t0)
        print(
            f"renderer frame loop (morph, blend, caption={caption}), {size}x{size}, no encoding: {rate:.0f} frames/s ({n} frames)"
        )
    cross = plan_render(
        keyframes,
        RenderSettings(method="crossfade", size=size, frames_between=frames, caption="none"),
    )
    t0 = time.perf_counter()
    n = sum(1 for _ in cross.frames())
    print(
        f"crossfade frame loop, {size}x{size}, no encoding: {n / (time.perf_counter() - t0):.0f} frames/s"
    )


def _run_cli(args: list[str]) -> tuple[float, int, dict]:
    """Run the render command in a fresh interpreter; (wall seconds, peak RSS kB, report)."""
    code = (
        "import resource, sys\n"
        "from pipeline.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"render failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rss = int(re.search(r"PEAK_RSS_KB (\d+)", proc.stderr).group(1))
    report_path = args[args.index("--report") + 1]
    return wall, rss, json.loads(Path(report_path).read_text())


def end_to_end(work: Path) -> None:
    album = twelve_photo_album(work / "album")
    edits = work / "edits.json"
    common = ["render", str(album), "--edits", str(edits), "--size", "512", "--quiet"]
    wall, rss, report = _run_cli(
        [
            *common,
            "-o",
            str(work / "album.mp4"),
            "--frames-between",
            "24",
            "--report",
            str(work / "r24.json"),
        ]
    )
    t = report["timings"]
    a = report["analysis_timings"]
    print(
        f"12-photo album -> 512 px MP4, 24 frames/transition: {wall:.1f} s end to end "
        f"({len(report['keyframes'])} photos, {report['frame_count']} frames, {report['duration']:.1f} s of video; "
        f"analysis {sum(a.values()):.1f} s incl. model loading {a.get('load_models', 0):.1f} s; "
        f"frames {t['frames']:.1f} s, encoder wait {t['encode_wait']:.1f} s, render total {t['total']:.1f} s)"
    )
    short = _run_cli(
        [
            *common,
            "-o",
            str(work / "short.mp4"),
            "--frames-between",
            "6",
            "--report",
            str(work / "r6.json"),
        ]
    )
    long = _run_cli(
        [
            *common,
            "-o",
            str(work / "long.mp4"),
            "--frames-between",
            "120",
            "--report",
            str(work / "r120.json"),
        ]
    )
    print(
        f"peak RSS, short video ({short[2]['frame_count']} frames): {short[1] / 1024:.0f} MiB; "
        f"long video ({long[2]['frame_count']} frames, {long[2]['duration']:.0f} s): {long[1] / 1024:.0f} MiB "
        f"(difference {(long[1] - short[1]) / 1024:+.0f} MiB; the long video's frames alone would be "
        f"{long[2]['frame_count'] * 512 * 512 * 3 / 2**20:.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--frames", type=int, default=96, help="frames per transition for the speed test"
    )
    parser.add_argument("--skip-e2e", action="store_true", help="only the morph speed test")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} cores, OpenCV {cv2.__version__} with {cv2.getNumThreads()} threads, load average {load}"
    )
    morph_speed(args.size, args.frames)
    if not args.skip_e2e:
        with tempfile.TemporaryDirectory(prefix="bench-render-") as work:
            end_to_end(Path(work))


if __name__ == "__main__":
    main()
