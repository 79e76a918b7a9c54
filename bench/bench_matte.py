"""Person matte and steady backdrop: what they cost.

Run from the repository root::

    .venv/bin/python bench/bench_matte.py [--size 512] [--frames 48]

Prints:
  * the matte's cost per keyframe, wall and CPU (network, colour model and edge
    refinement, model loaded; median of the Edison album's three photos, five
    rounds), also without the colour model (photo-a-day), and the model's one-off
    load time;
  * the morph's in-between frames/s at the given size with the photos' own
    backgrounds (``original``) and with the matte and the soft backdrop
    (outline points, matte warp and composite included), keyframe copies
    excluded, and the CPU time a frame takes (steady under other load);
  * the renderer's whole frame loop (method, blend, captions; no encoding)
    with each background.
Note the machine load (``uptime``) beside the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline import faces
from pipeline.matte import person_matte
from pipeline.methods.base import Keyframe, get_method
from pipeline.models import matte_net
from pipeline.render import RenderSettings, plan_render
from pipeline.render.backdrop import soft_backdrop

ROOT = Path(__file__).resolve().parent.parent


def edison(size: int) -> list[Keyframe]:
    out = []
    for i, path in enumerate(sorted((ROOT / "assets" / "examples" / "edison").glob("*.png"))):
        image = np.asarray(Image.open(path).convert("RGB"))
        face = faces.detect_faces(image)[0]
        aligned, landmarks = faces.align_face(image, face.landmarks, size)
        out.append(Keyframe(aligned, landmarks, 30.0 + 20 * i, label=path.name))
    return out


def matte_cost(keyframes: list[Keyframe], **options: object) -> list[Keyframe]:
    """Median wall and CPU milliseconds of one keyframe's matte (five rounds of the album);
    returns the keyframes with their mattes."""
    t0 = time.perf_counter()
    matte_net()
    load = time.perf_counter() - t0
    walls, cpus = [], []
    matted: list[Keyframe] = []
    for _ in range(5):
        matted = []
        for kf in keyframes:
            t0, c0 = time.perf_counter(), time.process_time()
            matte = person_matte(kf.image, kf.landmarks, **options)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            matted.append(kf.copy(matte=matte))
    side = keyframes[0].image.shape[0]
    what = ", ".join(f"{k}={v}" for k, v in options.items()) or "default"
    print(f"matte model load: {load:.2f} s (once per thread)")
    print(
        f"matte per keyframe ({what}), {side} px crop: median {statistics.median(walls) * 1000:.0f} ms "
        f"wall, {statistics.median(cpus) * 1000:.0f} ms CPU; best {min(walls) * 1000:.0f} ms wall "
        f"({len(walls)} runs)"
    )
    return matted


def morph_rate(
    keyframes: list[Keyframe], size: int, frames: int, matted: bool
) -> tuple[float, float]:
    """(best frames/s of 3 runs, least CPU milliseconds a frame of those runs).

    The CPU time (all threads) hardly depends on what else the machine runs:
    ``2000 / ms`` is what two idle cores can reach.
    """
    morph = get_method("morph")()
    if matted:
        morph.backdrop = soft_backdrop(keyframes, size)
    morph.prepare(keyframes, size=size)
    lambdas = (np.arange(frames) + 0.5) / frames
    list(morph.transition(0, lambdas[:4]))  # warm-up
    best, cpu = 0.0, float("inf")
    n = len(keyframes) - 1
    for _ in range(3):
        t0, c0 = time.perf_counter(), sum(os.times()[:2])
        for j in range(n):
            for _frame in morph.transition(j, lambdas):
                pass
        best = max(best, n * frames / (time.perf_counter() - t0))
        cpu = min(cpu, (sum(os.times()[:2]) - c0) * 1000 / (n * frames))
    return best, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=48, help="in-between frames per transition")
    args = ap.parse_args()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    keyframes = edison(args.size)
    matte_cost(keyframes, colour_model=False)  # as photo-a-day makes them
    keyframes = matte_cost(keyframes)
    for matted in (False, True):
        rate, cpu = morph_rate(keyframes, args.size, args.frames, matted)
        what = "matte + soft backdrop" if matted else "original background"
        print(
            f"morph method, {args.size}x{args.size}, {what}: {rate:.0f} frames/s (best of 3), "
            f"{cpu:.1f} ms CPU a frame"
        )
    for background in ("original", "soft"):
        settings = RenderSettings(size=args.size, frames_between=args.frames, background=background)
        plan = plan_render(keyframes, settings)
        method = plan.new_method()
        plan.prepare(method)
        t0 = time.perf_counter()
        n = sum(1 for _ in plan.frames(method))
        rate = n / (time.perf_counter() - t0)
        print(
            f"renderer frame loop (morph, caption), background {background}: {rate:.0f} frames/s ({n} frames)"
        )


if __name__ == "__main__":
    main()
