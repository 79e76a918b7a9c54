"""One order for undated photos from likeness and estimates, and an honest birth-date interval,
on all eight FG-NET people of `../shared/fixtures/ages/` (five from childhood, three adults).

Each album is analysed once with EXIF capture dates written by Pillow from the true
ages and a hidden birth date (copied into a temporary folder, never elsewhere); the
undated album is the same one with the dates taken off.

Note on the figures: the age model has seen FG-NET (37% of its estimates here are
within half a year, per-person median error 0.0 years), so its raw estimates are far
better on these people than on new faces (6.2 years off on UTKFace). The adult test
therefore also replaces the estimates by the true ages plus the model's documented
error, as a new face would get them.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

from pipeline import timeline
from pipeline.analysis import analyze, finalize
from pipeline.types import Analysis
from tests.support.scans import undated_scan

AGES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ages"
PEOPLE = ("001", "002", "004", "005", "012", "028", "048", "071")
ADULTS = ("004", "005", "028")
BIRTH = {p: dt.date(1940 + 3 * i, 1 + i, 10 + i) for i, p in enumerate(PEOPLE)}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not AGES.is_dir(), reason=f"the FG-NET age series are not at {AGES}"),
]


def _build(folder: Path, person: str) -> dict[str, float]:
    labels = json.loads((AGES / "labels.json").read_text())["photos"]
    items = sorted((k, float(v["age"])) for k, v in labels.items() if v["person"] == person)
    slots = list(range(len(items)))
    random.Random(int(person)).shuffle(slots)
    folder.mkdir(parents=True)
    truth = {}
    birth = BIRTH[person]
    for (key, age), slot in zip(items, slots):
        name = f"photo_{slot:02d}.jpg"
        extra = 40 + (150 if key.lower().endswith("b.jpg") else 0)
        when = dt.date(birth.year + int(age), birth.month, 1) + dt.timedelta(days=extra)
        with Image.open(AGES / key) as im:
            exif = Image.Exif()
            exif.get_ifd(0x8769)[36867] = when.strftime("%Y:%m:%d 12:00:00")
            im.convert("RGB").save(folder / name, "JPEG", quality=95, exif=exif)
        truth[name] = age
    return truth


@pytest.fixture(scope="module")
def albums(tmp_path_factory) -> dict[str, tuple[Analysis, Analysis, dict[str, float]]]:
    """person -> (dated analysis, the same undated, name -> true age)."""
    root = tmp_path_factory.mktemp("ages")
    out = {}
    for person in PEOPLE:
        truth = _build(root / person, person)
        dated = analyze(root / person)
        undated = finalize(undated_scan(dated))
        out[person] = (dated, undated, truth)
    return out


def _figures(photos, truth, estimates=None) -> dict[str, float]:
    """Spearman with the true ages: today's fit, likeness order alone, estimates, and the new order."""
    used = [p for p in photos if p.usable and p.file in truth]
    true = np.array([truth[p.file] for p in used])
    x = np.stack([p.face.descriptor for p in used])
    e = np.array([float(p.age_estimate) for p in used]) if estimates is None else estimates(true)
    if estimates is None:
        new = np.array([p.order for p in used], dtype=float)
    else:
        # What _place_undated does for an all-undated album (the spreading onto
        # the estimates' range after it keeps the order).
        new = timeline.undated_order(x, e).coordinate
    rho = lambda v: float(spearmanr(v, true)[0])  # noqa: E731
    return {
        "today": rho(timeline.likeness_ages(x, e)),
        "likeness": rho(timeline.likeness_order(x, e)),
        "estimates": rho(e),
        "new": rho(new),
    }


# Measured (Spearman with the true ages; today's fit / likeness order alone / estimates / new):
#   001 .976/.838/.924/.976  002 .909/.862/.879/.909  012 .925/.042/.833/.938
#   048 .967/.940/.786/.967  071 .982/.755/.964/.982
#   adults: 004 .979/.965/.986/.979  005 .818/.936/.564/.936  028 .882/.773/.873/.882
# 005 is ordered by the seriation of its faces: its estimates hold misreadings
# (one 21 years off, two by 11 and 13), and the seriation predicts its
# left-out estimates far better than the smoothed fit (0.70 against 0.34,
# `undated_order`); on the other seven the fit predicts them better and stays.
# One swap of two photos moves Spearman by about 0.01 at these sizes.
SWAP = 0.01


def test_undated_order_is_as_good_as_today_and_as_likeness(albums) -> None:
    for person in PEOPLE:
        _, undated, truth = albums[person]
        f = _figures(undated.photos, truth)
        assert f["new"] >= f["today"] - SWAP, (person, f)
        assert f["new"] >= f["likeness"] - SWAP, (person, f)
        used = undated.usable
        assert {p.order_source for p in used} == {"likeness"}
        ages = [p.age for p in used]
        assert ages == sorted(ages) and len(set(ages)) == len(ages)  # strictly along the video
        est = [p.age_estimate for p in used]
        assert min(est) - 1e-6 <= min(ages) and max(ages) <= max(est) + 1e-6  # estimates' range


def test_undated_sub_albums_on_average_as_good_as_today(albums) -> None:
    rng = np.random.default_rng(0)
    new, today, like = [], [], []
    for person in PEOPLE:
        _, undated, truth = albums[person]
        for _ in range(6):
            a = copy.copy(undated)
            k = int(rng.integers(6, len(undated.photos) + 1))
            a.photos = list(rng.choice(undated.photos, k, replace=False))
            a = finalize(a)
            f = _figures(a.photos, truth)
            new.append(f["new"])
            today.append(f["today"])
            like.append(f["likeness"])
    print(
        f"sub-albums: new {np.mean(new):.3f}, today {np.mean(today):.3f}, likeness {np.mean(like):.3f}"
    )
    assert np.mean(new) >= np.mean(today) - 0.02
    assert np.mean(new) >= np.mean(like)


def test_adult_albums_with_a_new_faces_estimates_follow_the_likeness(albums) -> None:
    """The estimates a new face would get (true age, a bias for the whole person and a
    photo-to-photo error of the model's documented size), ten draws per album: the order
    must beat them clearly, and do as well as today's fit. Measured (today / likeness /
    estimates / new): 004 .948/.965/.902/.948, 005 .953/.936/.897/.949,
    028 .837/.773/.791/.836 (these adults span 30 to 45 years: wider than the noise,
    so the estimates keep their say; over 11 or 12 photos the seriation's lead on 004
    is within the sampling error of its agreement with the estimates, so the fit
    stays)."""
    rng = np.random.default_rng(22)
    for person in ADULTS:
        _, undated, truth = albums[person]
        draws = []
        for _ in range(10):
            bias = rng.normal(0, 3.0)

            def noisy(true: np.ndarray, bias: float = bias) -> np.ndarray:
                return true + bias + rng.normal(0, timeline.ESTIMATE_SD_YEARS, len(true))

            draws.append(_figures(undated.photos, truth, estimates=noisy))
        f = {k: float(np.mean([d[k] for d in draws])) for k in draws[0]}
        print(person, {k: round(v, 3) for k, v in f.items()})
        assert f["new"] >= f["estimates"] + 0.03, (person, f)
        assert f["new"] >= f["today"] - SWAP, (person, f)


def test_dense_adult_album_follows_its_likeness_line() -> None:
    """The issue's case: 142 photos of one adult over 18 years, faces drifting along one
    line, estimates with the model's error (Spearman about 0.6): the album's estimates
    are mostly noise, so the order comes from the likeness line. Measured (estimates /
    today / likeness / new): .638/.928/1.000/1.000, .540/.919/1.000/1.000,
    .616/.938/1.000/1.000 at strengths 444, 632 and 468."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        true = np.sort(rng.uniform(16, 34, 142))
        faces = np.cumsum(rng.normal(0, 0.02, (142, 128)), axis=0)
        faces += rng.normal(0, 0.03, (142, 128))
        e = true + rng.normal(0, 3) + rng.normal(0, timeline.ESTIMATE_SD_YEARS, 142)
        strength = timeline.album_strength(e)
        new = timeline.undated_order(faces, e).coordinate
        rho = {
            "estimates": spearmanr(e, true)[0],
            "today": spearmanr(timeline.likeness_ages(faces, e), true)[0],
            "likeness": spearmanr(timeline.likeness_order(faces, e), true)[0],
            "new": spearmanr(new, true)[0],
        }
        print(seed, round(strength, 1), {k: round(v, 3) for k, v in rho.items()})
        assert strength > 2 * timeline.SMOOTHING
        assert rho["new"] >= rho["today"] + 0.02 and rho["new"] >= rho["estimates"] + 0.2, rho
        assert rho["new"] >= rho["likeness"] - 0.01, rho


# Measured birth-date error / reported give-or-take (years):
#   001 +0.1/4.2  002 +0.0/3.0  004 +0.2/8.9  005 -0.5/10.3  012 +0.1/5.3
#   028 -0.3/6.1  048 -5.7/7.8  071 +0.1/8.2
def test_birth_interval_contains_the_hidden_birth_date(albums) -> None:
    for person in PEOPLE:
        dated, _, _ = albums[person]
        est = dated.birth_estimate
        assert est is not None and dated.birth_date is None
        error = (est.date - BIRTH[person]).days / 365.25
        assert abs(error) <= est.uncertainty_years, (person, error, est)
        # No wider than the model's error for one adult photo and a whole adult
        # person together (90%): about 11 years at 45.
        assert 2.0 <= est.uncertainty_years <= 11.0, (person, est)
        text = est.describe()
        assert text.startswith(f"born about {est.date.year}, give or take "), text
