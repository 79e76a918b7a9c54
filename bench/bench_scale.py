"""Large albums: analysis photos/s, the scan cache, peak memory and the photo-a-day render.

Prints (models loaded and scan workers started before timing):
  * photos/s on 12 MP phone JPEGs and on 640x480 selfies, best of 3, no cache, and the CPU
    time each photo takes (this process and the scan workers; steady under other load);
  * the cached re-run time of the selfie album (every photo read from the disk cache);
  * peak memory (the analysing process and the largest scan worker) for a 1,000-photo album,
    and for a smaller one (`--small`, 300) in the same way, each in a fresh process: the
    growth per 100 photos says whether analysis memory is flat in the album's size;
  * the photo-a-day render time (per-photo 3, blend 2, 512 px, cross-fade) of those 1,000 photos.

    .venv/bin/python -m bench.bench_scale                 # everything (about 10 minutes here)
    .venv/bin/python -m bench.bench_scale --large 0       # throughput and cache only
    .venv/bin/python -m bench.bench_scale --phone 0 --selfies 0 --large 2000  # memory only

Targets on 2 cores: >= 8 photos/s (12 MP), >= 15 photos/s (640x480), <= 1.5 GB for 1,000 photos.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.albums import phone_album, selfie_album


def _cpu_seconds() -> float:
    """CPU time used so far by this process and its live scan workers."""
    from pipeline import scan

    ticks = os.sysconf("SC_CLK_TCK")
    used = sum(os.times()[:2])
    for pid in scan.worker_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return used


def _rate(folder: Path, repeat: int) -> tuple[float, float, float]:
    """(photos/s, seconds, CPU seconds per photo) of the best of `repeat` analyses.

    The CPU time per photo hardly depends on what else the machine runs, so it
    is the figure to compare between runs: 2 / it is the rate two idle cores reach.
    """
    from pipeline.analysis import analyze

    best, cpu = float("inf"), float("inf")
    n = len(list(folder.iterdir()))
    for _ in range(repeat):
        t, c = time.perf_counter(), _cpu_seconds()
        analyze(folder)
        best = min(best, time.perf_counter() - t)
        cpu = min(cpu, (_cpu_seconds() - c) / n)
    return n / best, best, cpu


def _print_rate(label: str, folder: Path, repeat: int, *, target: float) -> None:
    rate, secs, cpu = _rate(folder, repeat)
    n = len(list(folder.iterdir()))
    print(
        f"{label} {rate:6.2f} photos/s ({n} in {secs:.2f} s, best of {repeat}; target >= {target:g}); "
        f"{cpu * 1000:.0f} ms CPU a photo"
    )


def _peak_mb() -> tuple[float, float]:
    """Peak resident memory (MB) of this process and of the largest live scan worker."""
    from pipeline import scan

    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = 0.0
    for pid in scan.worker_pids():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    worker = max(worker, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return me, worker


def _large(folder: Path, count: int, render_too: bool) -> dict[str, float]:
    """In this (fresh) process: analyse a `count`-photo selfie album, then maybe render it."""
    from pipeline import scan
    from pipeline.analysis import analyze
    from pipeline.render import RenderSettings, render
    from pipeline.scan import ScanSettings
    from pipeline.scan_cache import DiskScanCache

    album = folder / f"large-{count}"
    selfie_album(album, count, seed=1)
    warm = folder / f"warm-{count}"
    selfie_album(warm, 2 * scan.default_workers(), seed=2)
    analyze(warm)  # models loaded and workers started before timing, as for the throughput
    t = time.perf_counter()
    result = analyze(album, cache=DiskScanCache(folder / f"cache-{count}", ScanSettings()))
    out: dict[str, float] = {"analysis_s": time.perf_counter() - t, "usable": len(result.usable)}
    out["peak_mb"], out["worker_mb"] = _peak_mb()
    store = result.state.store
    out["stored"], out["stored_mb"] = store.count, store.nbytes / 2**20
    if render_too:
        settings = RenderSettings(method="crossfade", size=512, per_photo=3, blend=2, caption="age")
        t = time.perf_counter()
        rendered = render(result, settings=settings, video=folder / f"daily-{count}.mp4")
        out["render_s"] = time.perf_counter() - t
        out["frames"] = rendered.frame_count
        out["render_peak_mb"], _ = _peak_mb()
    scan.shutdown_workers()
    return out


def _large_in_child(folder: Path, count: int, render_too: bool) -> dict[str, float]:
    """`_large` in a fresh interpreter, so that its peak memory is its own."""
    cmd = [sys.executable, "-m", "bench.bench_scale", "--child", str(folder), "--large", str(count)]
    if not render_too:
        cmd.append("--no-render")
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--phone", type=int, default=24, help="12 MP photos for the throughput run")
    ap.add_argument("--selfies", type=int, default=40, help="640x480 photos for the throughput run")
    ap.add_argument(
        "--large", type=int, default=1000, help="photos in the memory / photo-a-day album (0: skip)"
    )
    ap.add_argument(
        "--small", type=int, default=300, help="photos in the album compared with --large (0: skip)"
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--no-render", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(_large(args.child, args.large, not args.no_render)))
        return

    from pipeline import models, scan
    from pipeline.analysis import analyze
    from pipeline.scan import ScanSettings
    from pipeline.scan_cache import DiskScanCache

    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        if args.phone or args.selfies:
            t = time.perf_counter()
            models.load_all()
            warm = root / "warm"
            selfie_album(warm, 2 * scan.default_workers(), seed=2)
            analyze(warm)  # start the workers
            print(f"model loading and worker start: {time.perf_counter() - t:6.2f} s")
        if args.phone:
            phone = root / "phone"
            phone_album(phone, args.phone)
            _print_rate("12 MP JPEGs:  ", phone, args.repeat, target=8)
        if args.selfies:
            selfies = root / "selfies"
            selfie_album(selfies, args.selfies)
            _print_rate("640x480 JPEGs:", selfies, args.repeat, target=15)

            cache = DiskScanCache(root / "cache", ScanSettings())
            analyze(selfies, cache=cache)
            t = time.perf_counter()
            again = DiskScanCache(root / "cache", ScanSettings())
            analyze(selfies, cache=again)
            secs = time.perf_counter() - t
            print(
                f"cached re-run: {secs:6.2f} s for {args.selfies} photos ({again.hits} read from the cache)"
            )
        scan.shutdown_workers()

        if args.large:
            sizes = [n for n in (args.small, args.large) if 0 < n < args.large] + [args.large]
            peaks = {}
            for n in sizes:
                got = _large_in_child(root, n, render_too=n == args.large)
                peaks[n] = got["peak_mb"]
                print(f"{n} photos: analysis {got['analysis_s']:.1f} s ({n / got['analysis_s']:.2f} photos/s), "
                      f"{got['usable']:.0f} usable; peak RSS {got['peak_mb']:.0f} MB the analysing process, "
                      f"{got['worker_mb']:.0f} MB the largest scan worker (target <= 1536 MB); "
                      f"{got['stored']:.0f} crops ({got['stored_mb']:.0f} MB) in the temporary crop file")  # fmt: skip
                if "render_s" in got:
                    print(f"photo-a-day:   {got['render_s']:6.1f} s to render {got['frames']:.0f} frames at 512 px "
                          f"({got['frames'] / got['render_s']:.1f} frames/s); peak RSS then {got['render_peak_mb']:.0f} MB")  # fmt: skip
            if len(sizes) > 1:
                lo, hi = sizes[0], sizes[-1]
                slope = (peaks[hi] - peaks[lo]) / (hi - lo) * 100
                print(f"analysis memory growth: {slope:+.1f} MB per 100 photos "
                      f"({lo} -> {hi} photos: {peaks[lo]:.0f} -> {peaks[hi]:.0f} MB)")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
