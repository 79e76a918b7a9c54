"""How well the timeline orders real age series, how close the inferred birth date is,
and how long ordering 1,000 photos takes.

Albums are built in a temporary folder from the eight FG-NET age series in
`../shared/fixtures/ages/` (read there, never copied elsewhere): copies under
shuffled neutral names with EXIF capture dates written from the true ages and
a hidden birth date; the undated album is the same one with its dates taken
off. Prints, per person, the Spearman correlation with the true ages of
today's fit (likeness-smoothed estimates at a fixed strength), the likeness
order alone (spectral seriation), the raw estimates and the new order (the
video's), the inferred birth date's error beside its reported give-or-take,
the same correlations over random sub-albums (mean and 10th percentile: the
bad album matters) and with the estimates a new face would get (the age model
has seen FG-NET), the identity check on a mixed album, and the ordering
time for 1,000 synthetic photos (descriptors drifting with age).

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
from pipeline.likeness import likeness_laplacian
from pipeline.types import Analysis, FaceRecord, PhotoRecord
from tests.support.scans import undated_scan

AGES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ages"
PEOPLE = ("001", "002", "004", "005", "012", "028", "048", "071")
ADULTS = ("004", "005", "028")  # 14 or older in every photo
# A hidden birth date per person (chosen, not FG-NET's: it has none).
BIRTH = {p: dt.date(1940 + 3 * i, 1 + i, 10 + i) for i, p in enumerate(PEOPLE)}


def series(person: str) -> list[tuple[Path, float]]:
    labels = json.loads((AGES / "labels.json").read_text())["photos"]
    return sorted(
        (AGES / k, float(v["age"])) for k, v in labels.items() if k.startswith(f"fgnet_{person}/")
    )


def capture_date(birth: dt.date, age: float, name: str) -> dt.date:
    extra = 40 + (150 if name.lower().endswith("b.jpg") else 0)
    return dt.date(birth.year + int(age), birth.month, 1) + dt.timedelta(days=extra)


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
            when = capture_date(BIRTH[person], age, src.name)
            with Image.open(src) as im:
                exif = Image.Exif()
                exif.get_ifd(0x8769)[36867] = when.strftime("%Y:%m:%d 12:00:00")
                im.convert("RGB").save(folder / name, "JPEG", quality=95, exif=exif)
        else:
            shutil.copyfile(src, folder / name)
        truth[name] = age
    return truth


def undate(analysis: Analysis) -> Analysis:
    """The same album with its dates taken off (placed by faces only)."""
    return finalize(undated_scan(analysis))


def figures(photos: list[PhotoRecord], truth: dict[str, float]) -> dict[str, float]:
    """Spearman with the true ages of: the order (new), today's fit, the likeness order alone,
    the raw estimates and the `evidence_strength` fit; from the records' descriptors and
    estimates."""
    used = [p for p in photos if p.usable and p.file in truth and p.face is not None]
    true = np.array([truth[p.file] for p in used])
    x = np.stack([p.face.descriptor for p in used])  # type: ignore[union-attr]
    e = np.array([float(p.age_estimate) for p in used])  # type: ignore[arg-type]
    return {
        "today": float(spearmanr(timeline.likeness_ages(x, e), true)[0]),
        "likeness": float(spearmanr(timeline.likeness_order(x, e), true)[0]),
        "estimates": float(spearmanr(e, true)[0]),
        "new": float(spearmanr([p.order for p in used], true)[0]),
        "evidence": float(
            spearmanr(timeline.likeness_ages(x, e, strength=evidence_strength(x, e)), true)[0]
        ),
        "n": len(used),
    }


def sub_albums(analysis: Analysis, truth: dict[str, float], count: int, seed: int) -> list[dict]:
    """The four figures over random sub-albums of 6 photos or more."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        a = copy.copy(analysis)
        k = int(rng.integers(6, len(analysis.photos) + 1))
        a.photos = list(rng.choice(analysis.photos, k, replace=False))
        a = finalize(a)
        f = figures(a.photos, truth)
        if f["n"] >= 5:
            out.append(f)
    return out


KEYS = ("today", "likeness", "estimates", "new", "evidence")
# Strengths tried by `evidence_strength`: from next to none to the seriation limit.
_STRENGTHS = np.logspace(-2, 4, 61)


def evidence_strength(x: np.ndarray, e: np.ndarray) -> float:
    """An alternative to `album_strength`, measured here and not adopted: the strength
    that makes the album's estimates most probable (type-II maximum likelihood).

    Ages are a Gaussian field on the likeness graph, ``a ~ N(m, (s L)^-1)`` (L as
    `likeness_laplacian` builds it, the constant mode left out: the mean is free), and
    the estimates are ``a`` plus noise of sd `ESTIMATE_SD_YEARS`; in the eigenbasis of L
    the estimates' k-th coefficient has variance ``sd^2 (1 + 1 / (t lam_k))`` with
    ``t = s sd^2`` the strength `likeness_ages` takes, so one eigendecomposition scores
    every t on the grid.
    """
    lam, vec = np.linalg.eigh(likeness_laplacian(x).toarray())
    z2 = np.square(vec.T @ e)[1:]
    lam = np.maximum(lam[1:], 1e-12)
    var = timeline.ESTIMATE_SD_YEARS**2 * (1 + 1 / np.outer(_STRENGTHS, lam))
    score = -0.5 * (np.log(var) + z2 / var).sum(axis=1)
    return float(_STRENGTHS[int(np.argmax(score))])


def print_albums(root: Path, count: int) -> None:
    print(f"{'album':<26}{'n':>3}  " + "  ".join(f"{k:>9}" for k in KEYS) + "   birth error / +-")
    for person in PEOPLE:
        truth = build(root / f"dated_{person}", person, dated=True, seed=int(person))
        dated = analyze(root / f"dated_{person}")
        est = dated.birth_estimate
        err = (est.date - BIRTH[person]).days / 365.25 if est else float("nan")
        a = undate(dated)
        f = figures(a.photos, truth)
        kind = "adult" if person in ADULTS else "child->adult"
        print(
            f"{person} undated ({kind}):".ljust(26) + f"{f['n']:>3}  "
            + "  ".join(f"{f[k]:>9.3f}" for k in KEYS)
            + f"   {err:+5.1f} y / {est.uncertainty_years if est else 0:4.1f} y"
        )  # fmt: skip
        used = [p for p in a.photos if p.usable and p.face is not None]
        chosen = timeline.undated_order(
            np.stack([p.face.descriptor for p in used]),  # type: ignore[union-attr]
            np.array([float(p.age_estimate) for p in used]),  # type: ignore[arg-type]
        )
        print(
            f"  ordered by its {chosen.source}: held-out agreement of the fit "
            f"{chosen.fit_agreement:.2f}, of the seriation {chosen.seriation_agreement:.2f}"
        )
        subs = sub_albums(a, truth, count, int(person))
        mean = "  ".join(f"{np.mean([s[k] for s in subs]):>9.3f}" for k in KEYS)
        p10 = "  ".join(f"{np.percentile([s[k] for s in subs], 10):>9.3f}" for k in KEYS)
        print(f"  {len(subs)} sub-albums, mean".ljust(31) + mean)
        print("  10th percentile".ljust(31) + p10)
        worse = np.mean([s["new"] < max(s["today"], s["likeness"]) - 0.02 for s in subs])
        print(f"  new below the better of today / likeness by > 0.02: {worse:.0%}")
        for kind, draws in new_face_estimates(a.photos, truth, int(person)).items():
            mean = "  ".join(f"{np.mean([d[k] for d in draws]):>9.3f}" for k in KEYS)
            print(f"  {len(draws)} draws, {kind}".ljust(31) + mean)


def new_face_estimates(
    photos: list[PhotoRecord], truth: dict[str, float], seed: int, draws: int = 10
) -> dict[str, list[dict[str, float]]]:
    """The four figures with the estimates a face the age model has not seen would get
    (it has seen FG-NET: its own estimates are far too good here), in two forms: the true
    age plus a bias for the whole person (sd 3 years) and a photo-to-photo error of sd 7.8
    years (UTKFace's), which cannot tell 19 from 27; and the timeline's own error model
    (`estimate_sd`, proportional to the age, with a whole-person bias of `PERSON_BIAS`).
    "new" is what `_place_undated` does for an all-undated album (`undated_order`)."""
    rng = np.random.default_rng(seed)
    used = [p for p in photos if p.usable and p.file in truth and p.face is not None]
    true = np.array([truth[p.file] for p in used])
    x = np.stack([p.face.descriptor for p in used])  # type: ignore[union-attr]
    noise = {
        "sd 7.8 + bias": lambda: true + rng.normal(0, 3.0) + rng.normal(0, 7.8, len(true)),
        "sd by age + bias": lambda: (
            true * (1 + rng.normal(0, timeline.PERSON_BIAS))
            + rng.normal(0, 1, len(true)) * timeline.estimate_sd(true)
        ),
    }
    out: dict[str, list[dict[str, float]]] = {}
    for kind, draw in noise.items():
        out[kind] = []
        for _ in range(draws):
            e = draw()
            order = {
                "today": timeline.likeness_ages(x, e),
                "likeness": timeline.likeness_order(x, e),
                "estimates": e,
                "new": timeline.undated_order(x, e).coordinate,
                "evidence": timeline.likeness_ages(x, e, strength=evidence_strength(x, e)),
            }
            out[kind].append({k: float(spearmanr(v, true)[0]) for k, v in order.items()})
    return out


def synthetic(n: int, seed: int = 0, *, dated: bool = True) -> list[PhotoRecord]:
    """`n` photos of one person over 40 years: descriptors drift with age, half dated (or none)."""
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
        if dated and i % 2 == 0:
            p.date = birth + dt.timedelta(days=int(ages[i] * 365.25))
            p.date_source, p.date_precision = "exif", "day"
        photos.append(p)
    return photos


def time_ordering(n: int, repeats: int = 5, *, dated: bool = True) -> tuple[float, float, float]:
    """Best wall and CPU time of the timeline step (identity check + placing + ordering), and its Spearman."""
    best = cpu = float("inf")
    photos = synthetic(n, dated=dated)
    ordered: list[PhotoRecord] = []
    for _ in range(repeats):
        matched = {p.file: True for p in photos}
        t0, c0 = time.perf_counter(), time.process_time()
        timeline.check_identity(photos, matched, birth=None)
        ordered = timeline.order_photos(timeline.place_photos(photos, birth_date=None).photos)
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    order = {p.file: p.order for p in ordered}
    true = {p.file: int(p.file[1:5]) for p in ordered}
    return best, cpu, float(spearmanr([order[f] for f in order], [true[f] for f in order])[0])


def dense_adult(seeds: int = 3) -> None:
    """The issue's case, synthetic: 142 photos of one adult aged 16 to 34, faces drifting
    along one line, estimates with the model's error and a bias for the whole person."""
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        true = np.sort(rng.uniform(16, 34, 142))
        faces = np.cumsum(rng.normal(0, 0.02, (142, 128)), axis=0) + rng.normal(0, 0.03, (142, 128))
        e = true + rng.normal(0, 3) + rng.normal(0, timeline.ESTIMATE_SD_YEARS, 142)
        chosen = timeline.undated_order(faces, e)
        new = chosen.coordinate
        f = {
            "today": timeline.likeness_ages(faces, e),
            "likeness": timeline.likeness_order(faces, e),
            "estimates": e,
            "new": new,
            "evidence": timeline.likeness_ages(faces, e, strength=evidence_strength(faces, e)),
        }
        print(
            f"synthetic adult {seed}:".ljust(26) + "142  "
            + "  ".join(f"{spearmanr(f[k], true)[0]:>9.3f}" for k in KEYS)
            + f"   {chosen.source}"
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subsets", type=int, default=40, help="random sub-albums per person")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print_albums(root, args.subsets)
        dense_adult()

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

    faces = np.stack([p.face.descriptor for p in synthetic(1000)])  # type: ignore[union-attr]
    ages = np.linspace(1, 40, 1000)
    t0, c0 = time.perf_counter(), time.process_time()
    evidence_strength(faces, ages)
    print(
        f"evidence_strength alone for 1000 photos (not adopted): {(time.perf_counter() - t0) * 1000:.0f} ms wall, "
        f"{(time.process_time() - c0) * 1000:.0f} ms CPU"
    )
    for n in (100, 1000):
        for dated in (True, False):
            seconds, cpu, r = time_ordering(n, dated=dated)
            print(
                f"ordering {n} photos, {'half dated' if dated else 'none dated'} (identity check + timeline): "
                f"{seconds * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU, Spearman {r:.3f}"
            )


if __name__ == "__main__":
    main()
