"""The timeline on real age series: dated photos in date order, an inferred birth date,
undated photos ordered by likeness, and an identity check that keeps childhood photos.

The albums are built from two people of the FG-NET Aging Database (childhood to
adulthood, real ages in the file names) in `../shared/fixtures/ages/`; they are
read from there and copied only into temporary folders, under shuffled neutral
names, with EXIF capture dates written by Pillow for the dated albums.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

from pipeline import timeline
from pipeline.analysis import analyze, finalize
from pipeline.commands.analyze import print_summary
from pipeline.dates import age_between
from pipeline.duplicates import keep_best_copies
from pipeline.edits import Edits, PhotoEdit
from pipeline.errors import UsageError
from pipeline.identity import check_through_time
from pipeline.likeness import likeness_laplacian, seriation
from pipeline.render import RenderSettings, render
from pipeline.render.captions import Captioner
from pipeline.timeline import fit_birth, likeness_ages
from pipeline.types import Analysis, Keyframe, PhotoRecord
from tests.support.scans import changed_scan, frozen, undated_scan

AGES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ages"
BIRTH = {"001": dt.date(1951, 3, 14), "002": dt.date(1958, 9, 2)}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not AGES.is_dir(), reason=f"the FG-NET age series are not at {AGES}"),
]


def _labels() -> dict[str, float]:
    data = json.loads((AGES / "labels.json").read_text())["photos"]
    return {k: float(v["age"]) for k, v in data.items()}


def _series(person: str) -> list[tuple[Path, float]]:
    labels = _labels()
    return sorted(
        ((AGES / key, age) for key, age in labels.items() if key.startswith(f"fgnet_{person}/")),
        key=lambda item: item[0].name,
    )


def _capture_date(birth: dt.date, age: float, name: str) -> dt.date:
    """A day-precise date at `age`: some weeks after the birthday, later for a second photo."""
    extra = 40 + (150 if name.lower().endswith("b.jpg") else 0)
    return dt.date(birth.year + int(age), birth.month, 1) + dt.timedelta(days=extra)


def _build(
    folder: Path, person: str, *, dated: bool, seed: int
) -> dict[str, tuple[float, dt.date | None]]:
    """Copy one person's photos under shuffled names ``photo_NN.jpg``; with `dated`,
    write EXIF DateTimeOriginal from the true age and `BIRTH`. Returns name -> (age, date)."""
    folder.mkdir(parents=True, exist_ok=True)
    series = _series(person)
    slots = list(range(len(series)))
    random.Random(seed).shuffle(slots)
    truth: dict[str, tuple[float, dt.date | None]] = {}
    for (src, age), slot in zip(series, slots):
        name = f"photo_{slot:02d}.jpg"
        if dated:
            when = _capture_date(BIRTH[person], age, src.name)
            with Image.open(src) as im:
                exif = Image.Exif()
                exif.get_ifd(0x8769)[36867] = when.strftime("%Y:%m:%d 12:00:00")
                im.convert("RGB").save(folder / name, "JPEG", quality=95, exif=exif)
            truth[name] = (age, when)
        else:
            shutil.copyfile(src, folder / name)
            truth[name] = (age, None)
    return truth


def _insightface(name: str) -> Path:
    spec = importlib.util.find_spec("insightface")
    assert spec and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "data" / "images" / name


def _rank(analysis: Analysis, truth: dict) -> tuple[float, float, int]:
    """Spearman of (video order, raw estimates) with the true ages, and how many photos were used."""
    used = [p for p in analysis.usable if p.file in truth]
    true = [truth[p.file][0] for p in used]
    return (
        float(spearmanr([p.order for p in used], true)[0]),
        float(spearmanr([p.age_estimate for p in used], true)[0]),
        len(used),
    )


@pytest.fixture(scope="module")
def undated(tmp_path_factory) -> dict[str, tuple[Analysis, dict]]:
    out = {}
    for person in ("001", "002"):
        folder = tmp_path_factory.mktemp(f"undated_{person}")
        truth = _build(folder, person, dated=False, seed=int(person))
        out[person] = (analyze(folder), truth)
    return out


@pytest.fixture(scope="module")
def dated(tmp_path_factory) -> tuple[Analysis, dict]:
    folder = tmp_path_factory.mktemp("dated_002")
    truth = _build(folder, "002", dated=True, seed=7)
    return analyze(folder), truth


# ----------------------------------------------------------------- pure functions


def test_birth_fit_ignores_outliers_and_reports_its_uncertainty() -> None:
    rng = np.random.default_rng(0)
    implied = list(1980.0 + rng.normal(0, 5, 40)) + [
        2004.0,
        2010.0,
        1890.0,
    ]  # two scan dates, one typo
    fit = fit_birth(implied)
    assert abs(fit.centre - 1980.0) < 2.0
    assert fit.outliers[-3:].all() and not fit.outliers[:40].any()
    assert fit.inliers.sum() >= 38 and 0.5 < fit.uncertainty < 3.0
    one = fit_birth([1975.3])
    assert one.centre == pytest.approx(1975.3) and one.uncertainty > 5  # one face says little


def test_likeness_ages_average_noise_between_look_alikes_and_respect_fixed_ages() -> None:
    rng = np.random.default_rng(1)
    true = np.linspace(2, 40, 60)
    # Descriptors drifting slowly with age (a 1-D path in 128-D) plus noise.
    path = np.cumsum(rng.normal(0, 1, (60, 128)) * 0.02, axis=0) + rng.normal(0, 0.01, (60, 128))
    noisy = true + rng.normal(0, 6, 60)
    smooth = likeness_ages(path, noisy)
    raw_rho, smooth_rho = spearmanr(noisy, true)[0], spearmanr(smooth, true)[0]
    assert smooth_rho > raw_rho + 0.03, (raw_rho, smooth_rho)
    fixed = np.full(60, np.nan)
    fixed[[0, 59]] = [2.0, 40.0]
    held = likeness_ages(path, noisy, fixed)
    assert held[0] == 2.0 and held[59] == 40.0


def test_seriation_of_a_large_album_follows_its_likeness_line() -> None:
    """Beyond 200 photos the seriation takes the sparse solver: the same line as
    the dense eigendecomposition, and the faces' order along it."""
    rng = np.random.default_rng(3)
    path = np.cumsum(rng.normal(0, 0.02, (300, 128)), axis=0) + rng.normal(0, 0.01, (300, 128))
    lap = likeness_laplacian(path)
    sparse_line = seriation(lap)
    dense_line = np.linalg.eigh(lap.toarray())[1][:, 1]
    assert abs(np.corrcoef(sparse_line, dense_line)[0, 1]) > 0.999
    assert abs(spearmanr(sparse_line, np.arange(300))[0]) > 0.99


def test_age_aware_check_needs_enough_members() -> None:
    x = np.eye(3, 128)
    assert check_through_time(x, np.array([1.0, 2.0, 3.0]), np.array([True, True, True])) is None


# ----------------------------------------------------------------- dated albums


@pytest.mark.slow
def test_dated_album_without_birth_date_follows_its_dates(dated) -> None:
    analysis, truth = dated
    used = analysis.usable
    assert len(used) == len(truth)  # every photo of the person stays in
    dates = [p.date for p in used]
    assert dates == sorted(dates)  # exact date order, whatever the faces say
    ages = [p.age for p in used]
    assert all(b >= a for a, b in zip(ages, ages[1:]))  # ages never decrease
    assert {p.age_source for p in used} == {"inferred"} and {p.order_source for p in used} == {
        "date"
    }
    rho = spearmanr([p.order for p in used], [truth[p.file][0] for p in used])[0]
    raw = spearmanr([p.age_estimate for p in used], [truth[p.file][0] for p in used])[0]
    # Dates give 0.999 (two photos share an age); the raw estimates alone 0.90.
    assert rho > 0.99 and raw < rho


@pytest.mark.slow
def test_inferred_birth_date_is_close_and_reported(dated, capsys) -> None:
    analysis, _ = dated
    est = analysis.birth_estimate
    assert est is not None and analysis.birth_date is None
    error = abs((est.date - BIRTH["002"]).days) / 365.25
    assert error < 4.0, (est, error)  # measured: 0.1 year off (reported ± 1.2)
    assert est.n_photos >= 14 and 0.5 < est.uncertainty_years < 5
    data = analysis.to_json()
    assert data["birth_estimate"]["date"] == est.date.isoformat()
    assert data["birth_estimate"]["n_photos"] == est.n_photos
    assert {r["order_source"] for r in data["photos"]} == {"date"}
    print_summary(analysis)
    out = capsys.readouterr().out
    assert f"born about {est.date.year}" in out and "--birth-date" in out


@pytest.mark.slow
def test_given_birth_date_wins_and_gives_exact_ages(dated) -> None:
    analysis, truth = dated
    a = finalize(analysis, birth_date=BIRTH["002"])
    assert a.birth_estimate is None and a.birth_date == BIRTH["002"]
    for p in a.usable:
        assert p.age_source == "date"
        assert p.age == pytest.approx(age_between(BIRTH["002"], truth[p.file][1]), abs=1e-6)


@pytest.mark.slow
def test_three_weeks_of_daily_photos_span_three_weeks(dated) -> None:
    analysis, truth = dated
    names = sorted(truth)[:6]
    days = {n: dt.date(2008, 4, 8) + dt.timedelta(days=4 * i) for i, n in enumerate(names)}
    # Kept by the user: these faces are decades apart, which real daily photos are not.
    edits = Edits(photos={n: PhotoEdit(date=days[n], include=True) for n in names})
    edits.photos.update({n: PhotoEdit(include=False) for n in truth if n not in days})
    a = finalize(analysis, edits=edits)
    used = a.usable
    assert [p.file for p in used] == names  # the days' order, not the faces'
    assert used[-1].age - used[0].age == pytest.approx(20 / 365.25, abs=0.01)
    assert {p.order_source for p in used} == {"edit"}


# ----------------------------------------------------------------- undated albums


@pytest.mark.slow
def test_undated_albums_are_ordered_better_than_by_raw_estimates(undated) -> None:
    # Measured: 001 order 0.969 vs raw estimates 0.938; 002 0.935 vs 0.903.
    rho1, raw1, n1 = _rank(*undated["001"])
    rho2, raw2, n2 = _rank(*undated["002"])
    assert (n1, n2) == (15, 16)
    assert rho1 >= raw1 + 0.02 and rho1 > 0.95, (rho1, raw1)
    assert rho2 >= raw2 and rho2 > 0.88, (rho2, raw2)
    for person in ("001", "002"):
        used = undated[person][0].usable
        assert {p.order_source for p in used} == {"likeness"}
        ages = [p.age for p in used]
        assert ages == sorted(ages)  # monotonic along the video
        assert any(abs(p.age - p.age_estimate) > 0.5 for p in used)  # not the raw guesses
        assert all(p.age_estimate is not None for p in used)


@pytest.mark.slow
def test_every_childhood_photo_stays_in(undated) -> None:
    for person in ("001", "002"):
        analysis, truth = undated[person]
        flagged = [
            (p.file, truth[p.file][0], p.reason) for p in analysis.photos if p.recommended_remove
        ]
        assert flagged == [], flagged
        assert all(p.identity_distance <= p.identity_limit for p in analysis.photos)


@pytest.mark.slow
def test_an_age_edit_still_moves_its_photo(undated) -> None:
    analysis, truth = undated["002"]
    youngest = min(truth, key=lambda n: truth[n][0])
    a = finalize(analysis, edits=Edits(photos={youngest: PhotoEdit(age=70.0)}))
    assert a.usable[-1].file == youngest and a.usable[-1].order_source == "edit"
    a = finalize(a)
    assert a.usable[-1].file != youngest


@pytest.mark.slow
def test_undated_photos_slot_between_the_dated_ones(dated) -> None:
    analysis, truth = dated
    # Take the dates off every other photo: they must land among the dated ones by likeness.
    names = sorted(truth, key=lambda n: truth[n][0])
    undated_names = names[1:-1:2]
    a = finalize(undated_scan(analysis, undated_names))
    used = a.usable
    assert {p.file for p in used if p.order_source == "likeness"} == set(undated_names)
    dated_order = [p.file for p in used if p.order_source == "date"]
    assert dated_order == [n for n in names if n not in undated_names]
    rho = spearmanr([p.order for p in used], [truth[p.file][0] for p in used])[0]
    assert rho > 0.95, rho  # measured 0.97


@pytest.mark.slow
def test_timeline_functions_return_new_values_and_leave_their_inputs(dated) -> None:
    analysis, truth = dated
    names = sorted(truth, key=lambda n: truth[n][0])
    half = finalize(undated_scan(analysis, names[1:-1:2]))  # dated and undated photos
    photos = list(reversed(half.photos))  # not in video order: order_photos has work to do
    before = frozen(photos)
    matched = {p.file: True for p in photos}
    matched[names[0]] = False
    check = timeline.check_identity(photos, matched, birth=None)
    assert check is not None and set(check.distances) == {p.file for p in photos}
    assert matched[names[0]] is False and check.matched[names[0]]  # the child is the person
    placed = timeline.place_photos(photos, birth_date=None)
    given = timeline.place_photos(photos, birth_date=BIRTH["002"])
    ordered = timeline.order_photos(placed.photos)
    kept = keep_best_copies(photos)
    assert frozen(photos) == before  # nothing written into the records handed in
    assert kept == {}  # no copies in this album
    for result in (placed.photos, given.photos, ordered):
        assert not {id(p) for p in result} & {id(p) for p in photos}
        assert not {id(p.warnings) for p in result} & {id(p.warnings) for p in photos}
    # The new values are the timeline finalize found (the same photos, the same ages).
    assert [p.file for p in placed.photos] == [p.file for p in photos]
    assert placed.birth_estimate == half.birth_estimate and given.birth_estimate is None
    assert [p.file for p in ordered] == [p.file for p in half.photos]
    # (the likeness fit's solution moves by 1e-4 years with the order the photos come in)
    assert [p.age for p in ordered] == pytest.approx([p.age for p in half.photos], abs=1e-3)
    assert [p.order for p in ordered] == [p.order for p in half.photos]
    assert {p.order_source for p in given.photos} == {"date", "likeness"}
    assert {p.age_source for p in given.photos if p.order_source == "date"} == {"date"}


# ----------------------------------------------------------------- other people, duplicates, warnings


@pytest.mark.slow
def test_strangers_mixed_into_an_album_are_flagged(tmp_path, astronaut) -> None:
    folder = tmp_path / "mixed"
    truth = _build(folder, "002", dated=False, seed=3)
    shutil.copyfile(_insightface("Tom_Hanks_54745.png"), folder / "photo_90.png")
    shutil.copyfile(_insightface("t1.jpg"), folder / "photo_91.jpg")
    Image.fromarray(astronaut).save(folder / "photo_92.jpg", quality=92)
    # A copy in black and white, smaller, read first: the colour original is kept.
    src = _series("002")[10][0]
    with Image.open(src) as im:
        colour_name = next(n for n in truth if truth[n][0] == _series("002")[10][1])
        im.convert("L").resize((im.width // 2, im.height // 2)).save(
            folder / "aaa_copy.jpg", quality=90
        )
    analysis = analyze(folder)
    by = {p.file: p for p in analysis.photos}
    for name in ("photo_90.png", "photo_91.jpg", "photo_92.jpg"):
        assert by[name].recommended_remove and "another person" in by[name].reason, (
            name,
            by[name].reason,
        )
        assert not by[name].include
    for name in truth:
        assert not by[name].recommended_remove, (name, by[name].reason)
    copy_ = by["aaa_copy.jpg"]
    assert copy_.duplicate_of == colour_name and copy_.recommended_remove and not copy_.include
    assert by[colour_name].duplicate_of is None and by[colour_name].include
    # Finalising again keeps the same choice (the groups are stable).
    again = {p.file: p for p in finalize(analysis).photos}
    assert again["aaa_copy.jpg"].duplicate_of == colour_name


@pytest.mark.slow
def test_small_faces_are_warnings_and_stay_in(undated) -> None:
    analysis, truth = undated["001"]
    target = analysis.usable[3]

    def small(rec: PhotoRecord) -> PhotoRecord:
        if rec.file == target.file:
            face = rec.faces[target.chosen_face]
            face.flags.append("small")
            face.reasons.append("the face is small in the photo")
        return rec

    a = finalize(changed_scan(analysis, small))
    p = next(r for r in a.photos if r.file == target.file)
    assert p.include and not p.recommended_remove and p.reason == ""
    assert "the face is small in the photo" in p.warnings
    assert p.to_json()["warnings"] == p.warnings


# ----------------------------------------------------------------- Edison and captions


@pytest.mark.slow
def test_edison_renders_1878_1910s_1922_without_a_birth_date(
    edison_dir: Path, tmp_path: Path
) -> None:
    analysis = analyze(edison_dir)
    assert analysis.birth_date is None
    est = analysis.birth_estimate
    assert est is not None and est.n_photos == 3
    assert abs(est.date.year - 1847) <= 6, est  # measured 1851 (Edison was born in 1847)
    settings = RenderSettings(
        method="crossfade", size=256, frames_between=2, fps=24, caption="date"
    )
    result = render(analysis, settings=settings, video=tmp_path / "edison.mp4")
    keyframes = result.report["keyframes"]
    assert [k["label"] for k in keyframes] == [
        "1_edison_young_c1878.png",
        "2_edison_middle_c1910s.png",
        "3_edison_c1922.png",
    ]
    assert [k["caption"] for k in keyframes] == [
        "1878",
        "1910",
        "1922",
    ]  # year-only dates: the year
    ages = [k["age"] for k in keyframes]
    assert ages == sorted(ages) and not any(k["age_exact"] for k in keyframes)


def _kf(date: dt.date | None, age: float, precision: str = "day", exact: bool = False) -> Keyframe:
    image = np.zeros((64, 64, 3), np.uint8)
    return Keyframe(image, np.zeros((68, 2), np.float32), age, age_exact=exact, date=date,
                    date_precision=precision)  # fmt: skip


def test_date_captions_are_as_precise_as_the_dates() -> None:
    daily = [_kf(dt.date(2008, 4, 24), 20.0), _kf(dt.date(2008, 4, 28), 20.01), _kf(None, 21.0)]
    cap = Captioner(daily, "date", 256)
    assert cap.keyframe_texts()[:2] == ["24 Apr 2008", "28 Apr 2008"]
    assert cap.text(0, 0.5) == "26 Apr 2008"  # the days count up between two photos
    assert cap.keyframe_texts()[2] == "2009"  # undated: the year its age puts it in
    years = [_kf(dt.date(1878, 7, 1), 27.0, "year"), _kf(dt.date(1910, 7, 1), 59.0, "year")]
    assert Captioner(years, "date", 256).keyframe_texts() == ["1878", "1910"]
    assert Captioner(years, "date", 256).text(0, 0.5) == "1894"
    # Ages: months only with a day-precise date and a given birth date.
    birth = dt.date(1988, 1, 10)
    exact = [
        _kf(dt.date(2008, 4, 24), 20.29, exact=True).copy(birth_date=birth),
        _kf(dt.date(2009, 4, 24), 21.29, exact=True).copy(birth_date=birth),
    ]
    assert Captioner(exact, "age", 256).keyframe_texts() == ["20 y 3 m", "21 y 3 m"]
    inferred = [_kf(dt.date(2008, 4, 24), 20.29), _kf(dt.date(2009, 4, 24), 21.29)]
    assert Captioner(inferred, "age", 256).keyframe_texts() == ["20 y", "21 y"]
    with pytest.raises(UsageError, match="Date captions need"):
        Captioner([_kf(None, 3.0), _kf(None, 4.0)], "date", 256)
