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

from bench.albums import phone_album


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
        phone_album(folder, args.count)
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
