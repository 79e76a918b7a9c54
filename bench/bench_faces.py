"""Micro-benchmark of the face stages on 12-megapixel photos (prints figures).

Photos are built from the test images (the astronaut, whose mission badge
also needs the CNN check; Hanks; the group photo; a photo without a face),
upscaled to 4000 x 3000 with some sensor-like noise. Times are the best of
--repeat runs (other work on the machine only adds noise). Per photo it times: HOG detection with landmarks, descriptors for every face, FFHQ
alignment of the largest face and its age. Model loading is timed in a fresh
interpreter.

    .venv/bin/python -m bench.bench_faces [--repeat 5] [--max-side 1280] [--size 512] [--cnn]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pipeline import age, faces, models

W, H = 4000, 3000


def _insightface_image(name: str) -> np.ndarray:
    spec = importlib.util.find_spec("insightface")
    assert spec and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "images" / name
    return np.asarray(Image.open(path).convert("RGB"))


def _noisy(image: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 4, image.shape).astype(np.int16)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def photos() -> dict[str, np.ndarray]:
    """Synthetic 12 MP photos: two portraits, a group photo (6 faces), no face."""
    from skimage import data

    portrait = np.empty((H, W, 3), np.uint8)
    portrait[:] = cv2.resize(data.coffee(), (W, H), interpolation=cv2.INTER_CUBIC)
    face = cv2.resize(data.astronaut(), (2400, 2400), interpolation=cv2.INTER_CUBIC)
    portrait[300:2700, 800:3200] = face
    selfie = np.empty((H, W, 3), np.uint8)
    selfie[:] = cv2.resize(data.rocket(), (W, H), interpolation=cv2.INTER_CUBIC)
    hanks = cv2.resize(
        _insightface_image("Tom_Hanks_54745.png"), (1400, 1400), interpolation=cv2.INTER_CUBIC
    )
    selfie[800:2200, 1300:2700] = hanks
    group = cv2.resize(_insightface_image("t1.jpg"), (W, H), interpolation=cv2.INTER_CUBIC)
    empty = cv2.resize(data.rocket(), (W, H), interpolation=cv2.INTER_CUBIC)
    return {
        "portrait": _noisy(portrait, 0),
        "selfie": _noisy(selfie, 3),
        "group": _noisy(group, 1),
        "no face": _noisy(empty, 2),
    }


def _time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def load_time() -> tuple[float, float]:
    """(import + load, load only) seconds in a fresh interpreter."""
    code = (
        "import time; t0 = time.perf_counter();"
        "from pipeline import models; t1 = time.perf_counter(); models.load_all();"
        "t2 = time.perf_counter(); print(t2 - t0, t2 - t1)"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    total, load = (float(v) for v in out.stdout.split())
    return total, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-side", type=int, default=1280)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--cnn", action="store_true", help="also time the CNN fallback on the photo without a face"
    )
    args = parser.parse_args()

    total, load = load_time()
    print(f"model loading (fresh interpreter): {load:.2f} s (with imports {total:.2f} s)")
    models.load_all()
    print(
        f"{'photo':10s} {'faces':>5s} {'detect':>7s} {'descr':>7s} {'align':>7s} {'age':>7s} {'total':>7s}"
    )
    for name, image in photos().items():
        t_det, found = _time(
            lambda im=image: faces.detect_faces(im, max_side=args.max_side), args.repeat
        )
        t_desc, _ = _time(lambda im=image, f=found: faces.compute_descriptors(im, f), args.repeat)
        t_align = t_age = 0.0
        if found:
            t_align, (crop, lm) = _time(
                lambda im=image, f=found: faces.align_face(im, f[0].landmarks, args.size),
                args.repeat,
            )
            t_age, _ = _time(lambda c=crop, m=lm: age.estimate_ages([c], [m]), args.repeat)
        sum_ = t_det + t_desc + t_align + t_age
        print(
            f"{name:10s} {len(found):5d} {t_det:7.3f} {t_desc:7.3f} {t_align:7.3f} {t_age:7.3f} {sum_:7.3f}  "
            f"(~{1 / sum_:.1f} photos/s on one core)"
        )
        if args.cnn and not found:
            t_cnn, cnn_found = _time(lambda im=image: faces.detect_faces(im, use_cnn=True), 1)
            print(f"{'':10s} CNN fallback: {t_cnn:.2f} s, {len(cnn_found)} face(s)")


if __name__ == "__main__":
    main()
