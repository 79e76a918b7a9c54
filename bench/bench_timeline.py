"""How well the timeline orders real age series, how close the inferred birth date is,
and how long ordering 1,000 photos takes.

Albums are built in a temporary folder from the FG-NET age series in
`../shared/fixtures/ages/` (read there, never copied elsewhere): undated
copies under shuffled neutral names, and dated copies with EXIF capture dates
written from the true ages and a chosen birth date. Prints, per album, the
Spearman correlation of the video order with the true ages (and of the raw
age estimates, for comparison), the birth-date error, the same figures over
random sub-albums (mean and 10th percentile: the bad album matters), the
identity check on a mixed album, and the ordering time for 1,000 synthetic
photos (descriptors drifting with age, half of them dated).

    .venv/bin/python -m bench.bench_timeline [--subsets 200]

Target: ordering 1,000 photos well under a second.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import importlib.util
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.stats import spearmanr

from pipeline import timeline
from pipeline.analysis import analyze, finalize
from pipeline.crop_store import AlignedCrop
from pipeline.types import Analysis, FaceRecord, PhotoRecord

AGES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ages"
BIRTH = {"001": dt.date(1951, 3, 14), "002": dt.date(1958, 9, 2)}


def series(person: str) -> list[tuple[Path, float]]:
    labels = json.loads((AGES / "labels.json").read_text())["photos"]
    return sorted(
        (AGES / k, float(v["age"])) for k, v in labels.items() if k.startswith(f"fgnet_{person}/")
    )


def build(folder: Path, person: str, *, dated: bool, seed: int = 0) -> dict[str, float]:
    """Shuffled neutral names; with `dated`, EXIF dates from the true ages. Returns name -> true age."""
    folder.mkdir(parents=True)
    items = series(person)
    slots = list(range(len(items)))
    random.Random(seed).shuffle(slots)
    truth = {}
    for (src, age), slot in zip(items, slots):
        name = f"photo_{slot:02d}.jpg"
        if dated:
            birth = BIRTH[person]
            when = dt.date(birth.year + int(age), birth.month, 1) + dt.timedelta(days=40)
            with Image.open(src) as im:
                exif = Image.Exif()
                exif.get_ifd(0x8769)[36867] = when.strftime("%Y:%m:%d 12:00:00")
                im.convert("RGB").save(folder / name, "JPEG", quality=95, exif=exif)
        else:
            shutil.copyfile(src, folder / name)
        truth[name] = age
    return truth


def rho(analysis: Analysis, truth: dict[str, float]) -> tuple[float, float, int]:
    used = [p for p in analysis.usable if p.file in truth]
    true = [truth[p.file] for p in used]
    return (
        float(spearmanr([p.order for p in used], true)[0]),
        float(spearmanr([p.age_estimate for p in used], true)[0]),
        len(used),
    )


def subsets(
    analysis: Analysis, truth: dict[str, float], count: int, seed: int
) -> tuple[list[float], list[float]]:
    """Spearman (order, raw estimates) over random sub-albums of 6 photos or more
    (the sub-albums share the photo records: each finalize rewrites them)."""
    rng = np.random.default_rng(seed)
    ours, raw = [], []
    for _ in range(count):
        a = copy.copy(analysis)
        k = int(rng.integers(6, len(analysis.photos) + 1))
        a.photos = list(rng.choice(analysis.photos, k, replace=False))
        finalize(a)
        o, r, n = rho(a, truth)
        if n >= 3:
            ours.append(o)
            raw.append(r)
    return ours, raw


def synthetic(n: int, seed: int = 0) -> list[PhotoRecord]:
    """`n` photos of one person over 40 years: descriptors drift with age, half dated."""
    rng = np.random.default_rng(seed)
    ages = np.sort(rng.uniform(1, 40, n))
    drift = np.cumsum(rng.normal(0, 0.02, (n, 128)), axis=0)
    crop = AlignedCrop(np.zeros((8, 8, 3), np.uint8), np.zeros((68, 2), np.float32))
    birth = dt.date(1980, 5, 1)
    photos = []
    for i in rng.permutation(n):
        face = FaceRecord(box=(0, 0, 10, 10), landmarks=np.zeros((68, 2), np.float32),
                          descriptor=(drift[i] + rng.normal(0, 0.03, 128)).astype(np.float32))  # fmt: skip
        p = PhotoRecord(file=f"p{i:04d}.jpg", faces=[face], chosen_face=0, crop=crop)
        p.age_estimate = float(max(0.0, ages[i] + rng.normal(0, 6)))
        if i % 2 == 0:
            p.date = birth + dt.timedelta(days=int(ages[i] * 365.25))
            p.date_source, p.date_precision = "exif", "day"
        photos.append(p)
    return photos


def time_ordering(n: int, repeats: int = 5) -> tuple[float, float]:
    """Best wall time of the timeline step (identity check + placing + ordering), and its Spearman."""
    best = float("inf")
    analysis = Analysis(photos=synthetic(n))
    for _ in range(repeats):
        matched = {p.file: True for p in analysis.photos}
        t0 = time.perf_counter()
        timeline.check_identity(analysis.photos, matched, birth=None)
        timeline.place_photos(analysis.photos, birth_date=None)
        timeline.order_photos(analysis)
        best = min(best, time.perf_counter() - t0)
    order = {p.file: p.order for p in analysis.photos}
    true = {p.file: int(p.file[1:5]) for p in analysis.photos}
    return best, float(spearmanr([order[f] for f in order], [true[f] for f in order])[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subsets", type=int, default=200, help="random sub-albums per person")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for person in ("001", "002"):
            truth = build(root / f"undated_{person}", person, dated=False, seed=int(person))
            a = analyze(root / f"undated_{person}")
            o, r, n = rho(a, truth)
            print(
                f"FG-NET {person} undated, {n} photos: order vs true ages Spearman {o:.3f} (raw estimates {r:.3f})"
            )
            flagged = [p.file for p in a.photos if p.recommended_remove]
            print(f"  same person flagged as someone else: {len(flagged)} of {len(a.photos)}")
            ours, raw = subsets(a, truth, args.subsets, int(person))
            print(
                f"  {len(ours)} random sub-albums: mean {np.mean(ours):.3f} (raw {np.mean(raw):.3f}), "
                f"10th percentile {np.percentile(ours, 10):.3f} (raw {np.percentile(raw, 10):.3f}), "
                f"below 0.6: {np.mean(np.array(ours) < 0.6):.1%} (raw {np.mean(np.array(raw) < 0.6):.1%})"
            )

            truth = build(root / f"dated_{person}", person, dated=True, seed=int(person) + 10)
            a = analyze(root / f"dated_{person}")
            o, r, n = rho(a, truth)
            est = a.birth_estimate
            err = abs((est.date - BIRTH[person]).days) / 365.25 if est else float("nan")
            dates = [p.date for p in a.usable]
            print(
                f"FG-NET {person} dated, no birth date given, {n} photos: Spearman {o:.3f} (raw estimates {r:.3f}), "
                f"exact date order {dates == sorted(dates)}; birth inferred {est.date if est else None} "
                f"(true {BIRTH[person]}, error {err:.1f} y, reported +- {est.uncertainty_years if est else 0:.1f} y)"
            )

        mixed = root / "mixed"
        truth = build(mixed, "002", dated=False, seed=5)
        images = (
            Path(importlib.util.find_spec("insightface").submodule_search_locations[0])
            / "data"
            / "images"
        )
        strangers = ["stranger_hanks.png", "stranger_group.jpg", "stranger_astronaut.png"]
        shutil.copyfile(images / "Tom_Hanks_54745.png", mixed / strangers[0])
        shutil.copyfile(images / "t1.jpg", mixed / strangers[1])
        from skimage import data

        Image.fromarray(data.astronaut()).save(mixed / strangers[2])
        others = series("001")[::4]
        for i, (src, _) in enumerate(others):
            name = f"other_{i}.jpg"
            shutil.copyfile(src, mixed / name)
            strangers.append(name)
        a = analyze(mixed)
        by = {p.file: p for p in a.photos}
        kept = sum(not by[f].recommended_remove for f in truth)
        flagged = sum(by[f].recommended_remove for f in strangers)
        limit = next((p.identity_limit for p in a.photos if p.identity_limit), None)
        print(
            f"mixed album (FG-NET 002 + {len(strangers)} others: insightface/skimage images, FG-NET 001 at "
            f"ages {', '.join(str(int(age)) for _, age in others)}): person kept {kept}/{len(truth)}, "
            f"others flagged {flagged}/{len(strangers)} (limit {limit:.3f})"
        )

    for n in (100, 1000):
        seconds, r = time_ordering(n)
        print(
            f"ordering {n} photos (identity check + timeline): {seconds * 1000:.0f} ms, Spearman {r:.3f}"
        )


if __name__ == "__main__":
    main()
