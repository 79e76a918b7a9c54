"""Analysis speed and memory on 12-megapixel phone-sized photos.

Prints: model loading time, photos/s with the HOG detector once models are
loaded, and peak resident memory for an N-photo folder.

    .venv/bin/python -m bench.bench_analysis            # 24 photos
    .venv/bin/python -m bench.bench_analysis --count 200  # the 200-photo memory target

Targets on a 2-core machine: >= 2 photos/s, model loading <= 5 s, peak
memory <= 2 GB for 200 photos.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_album(folder: Path, count: int) -> None:
    """`count` distinct 4000x3000 JPEGs: a face placed at varying spots on a noisy scene."""
    from skimage import data

    rng = np.random.default_rng(0)
    faces = [data.astronaut()]
    hanks = (
        Path(__import__("insightface").__file__).parent / "data" / "images" / "Tom_Hanks_54745.png"
    )
    faces.append(np.asarray(Image.open(hanks).convert("RGB")))
    base = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    scene = Image.fromarray(base).resize((4000, 3000), Image.Resampling.BICUBIC)
    for i in range(count):
        canvas = scene.copy()
        face = Image.fromarray(faces[i % len(faces)])
        side = int(rng.integers(900, 1500))
        face = face.resize((side, side * face.height // face.width), Image.Resampling.BILINEAR)
        if i % 3 == 1:
            face = face.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        x, y = int(rng.integers(0, 4000 - side)), int(rng.integers(0, 3000 - face.height))
        canvas.paste(face, (x, y))
        canvas.save(
            folder / f"IMG_2015{(i % 12) + 1:02d}{(i % 28) + 1:02d}_{i:04d}.jpg", quality=88
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=24)
    args = ap.parse_args()

    from pipeline import models
    from pipeline.analysis import analyze

    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        make_album(folder, args.count)
        print(f"made {args.count} photos of 4000x3000 in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        models.load_all()
        load_s = time.perf_counter() - t
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        t = time.perf_counter()
        result = analyze(folder)
        run_s = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        found = sum(1 for p in result.photos if p.faces)

    print(f"model loading:        {load_s:6.2f} s   (target <= 5 s)")
    print(f"analysis:             {run_s:6.2f} s for {args.count} photos, faces found in {found}")
    print(f"throughput:           {args.count / run_s:6.2f} photos/s   (target >= 2)")
    print(
        f"peak RSS:             {peak:6.0f} MB (after model load {rss_before:.0f} MB; target <= 2048 MB)"
    )
    for stage, secs in result.timings.items():
        print(f"  stage {stage:<12} {secs:6.2f} s")


if __name__ == "__main__":
    main()
