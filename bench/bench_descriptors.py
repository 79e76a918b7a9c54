"""Identity descriptors: dlib's own ResNet against the same network in PyTorch (prints figures).

Chips are the 8 faces of the test photos (the astronaut, Tom Hanks and the
6-face group photo of the insightface wheel), cut by `faces.face_chip` as the
scan cuts them. Per engine it times batches of 1 and of 8 on one thread
(PyTorch set to 1 thread; the CPU seconds per wall second are printed to show
that dlib's stays on one core too), best and median of --seconds of runs, and
prints the largest difference from dlib's descriptors. In fresh interpreters it
measures what loading costs: ``import torch`` (time and resident memory), the
PyTorch network from dlib's file, dlib's own network. With --workers it starts
the scan's worker processes (forked from the fork server that preloads
``pipeline.scan``, which imports torch) and prints each one's resident,
proportional and private memory once its models are loaded.

    .venv/bin/python -m bench.bench_descriptors [--seconds 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline import faces, models

ROOT = Path(__file__).resolve().parent.parent


def chips() -> np.ndarray:
    """[8, 150, 150, 3] uint8 chips of the faces in the test photos."""
    from skimage import data

    from bench.bench_faces import _insightface_image

    out = []
    for photo in (
        data.astronaut(),
        _insightface_image("Tom_Hanks_54745.png"),
        _insightface_image("t1.jpg"),
    ):
        photo = np.ascontiguousarray(photo)
        out += [faces.face_chip(photo, f.landmarks) for f in faces.detect_faces(photo)]
    return np.stack(out)


def _times(fn: Callable[[], object], seconds: float) -> tuple[np.ndarray, float]:
    """Wall seconds of each call for about `seconds`, and CPU seconds per wall second."""
    fn()
    walls = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds:
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
    cpu_share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    return np.array(walls), cpu_share


_FRESH = """
import json, resource, sys, time
def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20
out = {'start_mb': rss()}
t = time.perf_counter(); import numpy, cv2, dlib, onnxruntime; out['base_imports_s'] = time.perf_counter() - t
out['base_mb'] = rss()
t = time.perf_counter(); import torch; out['torch_import_s'] = time.perf_counter() - t
out['torch_mb'] = rss()
from pipeline import models
t = time.perf_counter(); models.face_resnet(); out['resnet_load_s'] = time.perf_counter() - t
out['resnet_mb'] = rss()
t = time.perf_counter(); models.face_encoder(); out['dlib_load_s'] = time.perf_counter() - t
out['dlib_mb'] = rss()
print(json.dumps(out))
"""


def fresh_costs() -> dict[str, float]:
    """Import and load times and resident memory after each step, in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _FRESH], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _smaps(pid: int) -> dict[str, float]:
    """Rss, Pss and private memory of a process in MiB (Linux smaps_rollup)."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0]) / 1024
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {"rss": fields["Rss"], "pss": fields["Pss"], "private": private}


def worker_memory(workers: int) -> dict[str, dict[str, float]]:
    """Memory of each scan worker after it has loaded its models and scanned a photo, and of the
    fork server they come from (its pages are shared with them)."""
    import tempfile
    from multiprocessing import forkserver

    from PIL import Image
    from skimage import data

    from pipeline import scan
    from pipeline.photos import PhotoSource

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "astronaut.png"
        Image.fromarray(data.astronaut()).save(path)
        sources = [PhotoSource(name=f"{i}.png", path=path) for i in range(2 * workers)]
        try:
            list(scan.run_scans(sources, scan.ScanSettings(), workers=workers))
            found = {f"scan worker {i}": _smaps(pid) for i, pid in enumerate(scan.worker_pids())}
            found["this process"] = _smaps(os.getpid())
            server = getattr(forkserver._forkserver, "_forkserver_pid", None)
            if server:
                found["fork server"] = _smaps(server)
            return found
        finally:
            scan.shutdown_workers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="timing per case")
    parser.add_argument("--workers", type=int, default=0, help="also measure N scan workers")
    args = parser.parse_args()

    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    costs = fresh_costs()
    print(
        f"import torch: {costs['torch_import_s']:.2f} s, +{costs['torch_mb'] - costs['base_mb']:.0f} MiB "
        f"resident (numpy, cv2, dlib, onnxruntime already in: {costs['base_mb']:.0f} MiB)"
    )
    print(
        f"PyTorch network from dlib's file: {costs['resnet_load_s']:.2f} s, "
        f"+{costs['resnet_mb'] - costs['torch_mb']:.0f} MiB; dlib's own: {costs['dlib_load_s']:.2f} s, "
        f"+{costs['dlib_mb'] - costs['resnet_mb']:.0f} MiB"
    )

    import torch

    torch.set_num_threads(1)
    batch = chips()
    assert len(batch) == 8, len(batch)
    net, encoder = models.face_resnet(), models.face_encoder()
    reference = np.asarray(encoder.compute_face_descriptor(list(batch)), np.float32)
    ours = net.describe(batch)
    print(f"largest difference from dlib's descriptors: {np.abs(ours - reference).max():.1e}")
    print(f"{'engine':8s} {'batch':>5s} {'best':>8s} {'median':>8s}  ms per face (cpu/wall)")
    for size in (1, 8):
        part = batch[:size]
        for name, fn in (
            ("dlib", lambda p=part: encoder.compute_face_descriptor(list(p))),
            ("pytorch", lambda p=part: net.describe(p)),
        ):
            walls, share = _times(fn, args.seconds)
            per_face = walls * 1000 / size
            print(
                f"{name:8s} {size:5d} {per_face.min():8.1f} {np.median(per_face):8.1f}  ({share:.2f})"
            )
    if args.workers:
        found = worker_memory(args.workers)
        for name, mem in found.items():
            print(
                f"{name}: {mem['rss']:.0f} MiB resident, {mem['pss']:.0f} MiB proportional, "
                f"{mem['private']:.0f} MiB private"
            )
        print(f"all of them: {sum(m['pss'] for m in found.values()):.0f} MiB proportional")
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
