"""Micro-benchmark of the face stages on 12-megapixel photos (prints figures).

Photos are built from the test images (the astronaut, whose mission badge
also needs the CNN check; Hanks; the group photo; a photo without a face),
upscaled to 4000 x 3000 with some sensor-like noise. Times are the best of
--repeat runs (other work on the machine only adds noise). Per photo it times: HOG detection with landmarks, descriptors for every face, FFHQ
alignment of the largest face and its age. Model loading is timed in a fresh
interpreter.

It also times the CNN check of weak HOG hits (the ~160 px crops that
`pipeline.faces.detection` hands to the CNN detector) on every weak hit of
the 640x480 selfie album of `bench.albums` and of the test photos, with
dlib's own detector against its PyTorch port, in ms per check (the median of
each crop's best of --repeat), and whether both decide the same; and the CNN
fallback on a 640x480 photo. ``--cnn-only`` prints just that part.

    .venv/bin/python -m bench.bench_faces [--repeat 5] [--max-side 1280] [--size 512] [--cnn]
    .venv/bin/python -m bench.bench_faces --cnn-only [--selfies 20]
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


def _weak_hit_crops(selfies: int) -> list[np.ndarray]:
    """The CNN check's crops of every weak HOG hit in `selfies` selfies and the test photos."""
    import tempfile

    from skimage import data

    from bench.albums import selfie_album
    from pipeline.faces import detection

    photos = [data.astronaut(), _insightface_image("t1.jpg")]
    with tempfile.TemporaryDirectory() as folder:
        photos += [
            np.asarray(Image.open(p).convert("RGB")) for p in selfie_album(Path(folder), selfies)
        ]
    crops: list[np.ndarray] = []
    real = detection._confirmed_by_cnn

    def recording(image: np.ndarray, rect) -> bool:
        crop = detection._verify_crop(image, rect)
        if crop is not None:
            crops.append(crop)
        return real(image, rect)

    detection._confirmed_by_cnn = recording
    try:
        for photo in photos:
            faces.find_faces(photo)
    finally:
        detection._confirmed_by_cnn = real
    return crops


def cnn_check(repeat: int, selfies: int) -> None:
    """Print the CNN check's and the CNN fallback's time, dlib's detector against the PyTorch port."""
    dlib_cnn, torch_cnn = models.cnn_detector(), models.mmod_detector()
    crops = _weak_hit_crops(selfies)
    t_dlib, t_torch, same = [], [], 0
    for crop in crops:
        t, theirs = _time(lambda c=crop: dlib_cnn(c, 0), repeat)
        t_dlib.append(t)
        t, ours = _time(lambda c=crop: torch_cnn.detect(c, 0), repeat)
        t_torch.append(t)
        same += (len(theirs) > 0) == (len(ours) > 0)  # type: ignore[arg-type]
    sizes = sorted({c.shape[:2] for c in crops})
    print(
        f"CNN check of weak HOG hits: {len(crops)} crops ({sizes[0][1]}-{sizes[-1][1]} px wide), "
        f"dlib {np.median(t_dlib) * 1e3:.0f} ms per check, PyTorch {np.median(t_torch) * 1e3:.1f} ms "
        f"({np.median(t_dlib) / np.median(t_torch):.1f}x); same decision on {same}/{len(crops)}"
    )
    from skimage import data

    photo = cv2.resize(data.astronaut(), (640, 480), interpolation=cv2.INTER_AREA)
    t_ref, theirs = _time(lambda: dlib_cnn(photo, 0), 1)
    t_new, ours = _time(lambda: torch_cnn.detect(photo, 0), max(1, repeat // 2))
    print(
        f"CNN fallback on a 640x480 photo: dlib {t_ref:.2f} s, PyTorch {t_new:.2f} s, "
        f"{len(theirs)} and {len(ours)} face(s)"  # type: ignore[arg-type]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-side", type=int, default=1280)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--cnn", action="store_true", help="also time the CNN fallback on the photo without a face"
    )
    parser.add_argument(
        "--cnn-only", action="store_true", help="only time the CNN check and fallback"
    )
    parser.add_argument("--selfies", type=int, default=20, help="selfies for the CNN check")
    args = parser.parse_args()

    if args.cnn_only:
        cnn_check(args.repeat, args.selfies)
        return
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
    cnn_check(args.repeat, args.selfies)


if __name__ == "__main__":
    main()
