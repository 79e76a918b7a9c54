"""The album's time axis: where each photo goes and how old the person is in it.

Each photo is placed by the best evidence it has, in this order:

1. the user's edit (an age, or a date);
2. a capture date: age only grows with time, so dated photos follow their
   dates whatever the faces say. Without a birth date from the user, the
   birth date is inferred from the dated photos (each says "born about its
   date minus the estimated age"; a robust median, weighted towards the
   photos whose age is estimated best, children's, ignores outliers), so
   every dated photo still gets a consistent age (``age_source`` ``inferred``).
   Its give-or-take includes the error the age model makes for a whole
   person at once, not only the scatter between photos;
3. the face: undated photos are placed by likeness. Faces change slowly, so
   photos close in time have close identity descriptors; the raw age
   estimates are smoothed along the album's likeness graph (a graph-Laplacian
   fit: each photo's age is pulled towards those of the faces it resembles
   most, with dated photos held at their ages), which orders the undated
   photos and slots them between the dated ones they look like. How hard
   the pull is depends on the album (`album_strength`): where the estimates'
   spread is mostly the age model's noise (grown-ups over a few years) the
   fit tends to the graph's smoothest mode, a spectral seriation of the faces
   that the estimates only turn the right way round; where they span
   childhood to middle age they keep their say. Without dated photos the
   album chooses between that fit and the seriation of its faces, by which
   of the two predicts its left-out estimates clearly better
   (`undated_order`: a misread face pulls the fit, not the seriation), and
   the order is spread linearly onto the estimates' range. The raw estimate
   stays in ``age_estimate``.

The identity check follows the person through time for the same reason: a
child's face is far from the adult ones, so each photo is compared with the
photos of nearby ages (`identity.check_through_time`), with provisional ages
from this module.

Everything here is cheap (1,000 photos in a few tens of milliseconds) and is
re-run on every edit. No function here changes the records it is handed: each
returns new values (`IdentityCheck`, `Timeline`, the ordered copies of
`order_photos`), which `analysis.finalize` keeps in its own records.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.dates import age_between, decimal_year, from_decimal_year
from pipeline.identity import check_through_time
from pipeline.likeness import (  # noqa: F401  (re-exported: the timeline's public maths)
    ESTIMATE_SD_YEARS,
    MODEL_ERROR_YEARS,
    SMOOTHING,
    album_strength,
    likeness_ages,
    likeness_order,
    spread_like_estimates,
    undated_order,
)
from pipeline.types import STATUS_OK, BirthEstimate, PhotoRecord

log = logging.getLogger(__name__)

# A capture date implying an older person is a scan or copy date.
MAX_AGE = 122
# Implied birth dates (date minus estimated age) within this many years of
# the median, or 3 robust standard deviations, count towards the fit.
_INLIER_YEARS = 8.0
# A date whose implied birth is further than this (and 4 robust standard
# deviations) from the others is not a capture date (a scan, a copy, a
# camera with a wrong clock): that photo is placed by its face instead.
_OUTLIER_YEARS = 20.0
# The age model's error grows with age (misreading a 4-year-old by 8 years is
# rare, a 40-year-old common): one estimate's sd is this fraction of the age
# (7.8 years at UTKFace's typical 33), never under `_MIN_ESTIMATE_SD` years.
_RELATIVE_SD = ESTIMATE_SD_YEARS / 33.0
_MIN_ESTIMATE_SD = 2.0
# The error common to all photos of one person (makeup, lighting, photo
# style move every estimate of an album together), as a fraction of the age:
# not measurable on FG-NET (the age model has seen it: per-person median
# error 0.0 years), so set from the albums of known people we have: one woman
# read 5.5 years too old at a mean age of 25 (0.22), Edison 4 years at 57
# (0.07); 0.15 sits between them.
PERSON_BIAS = 0.15
# The reported "give or take": a 90% interval of a normal error (1.645 sd).
_INTERVAL_Z = 1.645
# Undated photos need this many faces in the graph for likeness to mean anything.
_MIN_GRAPH = 3

ORDER_SOURCES = ("edit", "date", "likeness", "estimate")


@dataclass(frozen=True)
class IdentityCheck:
    """The person re-checked photo by photo against photos of nearby ages (`check_identity`).

    Attributes:
        limit (float): the album's identity limit (distances above it are another person).
        distances (dict[str, float]): per checked file, how far its chosen face is from the
            person at its age.
        matched (dict[str, bool]): per checked file, whether it is the person.
    """

    limit: float
    distances: dict[str, float]
    matched: dict[str, bool]


@dataclass(frozen=True)
class Timeline:
    """Where the photos go on the time axis (`place_photos`).

    Attributes:
        photos (list[PhotoRecord]): new records, one per record handed in and in its order,
            with the timeline's `age`, `age_source`, `order_source` and date warnings.
        birth_estimate (BirthEstimate | None): the birth date inferred from the dated photos
            (None when one was given or no included photo is dated).
    """

    photos: list[PhotoRecord]
    birth_estimate: BirthEstimate | None


@dataclass
class BirthFit:
    """A robust fit of the birth date: centre (fractional year), inliers and outliers per input."""

    centre: float
    inliers: np.ndarray  # [N] bool
    outliers: np.ndarray  # [N] bool: dates that cannot be capture dates
    uncertainty: float  # years


def estimate_sd(ages: np.ndarray | Sequence[float]) -> np.ndarray:
    """Spread (sd, years) of one age estimate at each (estimated) age: proportional to the age."""
    return np.maximum(_RELATIVE_SD * np.asarray(ages, dtype=np.float64), _MIN_ESTIMATE_SD)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def fit_birth(
    implied: Sequence[float], *, floor: float = 2.0, ages: Sequence[float] | None = None
) -> BirthFit:
    """Robust birth date from implied birth years (capture date minus age, fractional years).

    Args:
        implied: one implied birth year per dated photo.
        floor (float): smallest spread assumed, in years (age estimates are never exact).
        ages: the estimated age behind each implied year. Given, each photo
            counts by how well its age is estimated (children far more than
            adults, `estimate_sd`), and the uncertainty becomes the reported
            interval: the photos' scatter and the error the age model makes for
            a whole person at once (`PERSON_BIAS` of the ages the estimate
            rests on), as a 90% half-width.

    Returns:
        BirthFit: the (weighted) median of the inliers; without `ages`, the
        uncertainty is its standard error (1.25 sigma / sqrt(n)) combined with
        a year of model bias.
    """
    b = np.asarray(implied, dtype=np.float64)
    if b.size == 0:
        raise ValueError("no implied birth dates to fit")
    med = float(np.median(b))
    sigma = max(1.4826 * float(np.median(np.abs(b - med))), floor)
    outliers = np.abs(b - med) > max(4.0 * sigma, _OUTLIER_YEARS)
    inliers = np.abs(b - med) <= max(3.0 * sigma, _INLIER_YEARS)
    kept = b[inliers]
    if ages is None:
        centre = float(np.median(kept))
        if kept.size > 1:
            spread = max(1.4826 * float(np.median(np.abs(kept - centre))), floor)
        else:
            spread = max(MODEL_ERROR_YEARS, floor)
        se = 1.2533 * spread / math.sqrt(kept.size)
        return BirthFit(centre, inliers, outliers, math.hypot(se, 1.0))  # + a year of model bias
    age = np.asarray(ages, dtype=np.float64)[inliers]
    sd = estimate_sd(age)
    w = 1.0 / np.square(sd)
    centre = _weighted_median(kept, w)
    # Photo-to-photo part: the weighted mean's standard error from each
    # photo's own sd, inflated when the photos scatter more than that.
    scatter = float(np.sum(w * np.square(kept - centre)) / np.sum(w))
    expected = float(np.sum(w * np.square(sd)) / np.sum(w))
    se = math.sqrt(max(1.0, scatter / expected) / float(np.sum(w))) * 1.2533  # median, not mean
    # Whole-person part: what the model gets wrong for everyone at once, at
    # the ages the fit rests on.
    bias = PERSON_BIAS * float(np.sum(w * np.maximum(age, 0.0)) / np.sum(w))
    return BirthFit(centre, inliers, outliers, _INTERVAL_Z * math.hypot(se, bias))


def infer_birth(photos: Sequence[PhotoRecord]) -> tuple[BirthEstimate | None, set[str]]:
    """The birth date implied by the dated photos, and the files whose date is an outlier.

    Each dated photo with an age estimate counts once; photos whose age the
    user typed are left out (an edit is about that photo: it moves it, and
    does not move the others).

    Returns:
        (estimate or None when no photo is dated, names of photos whose date
        does not fit: not a capture date).
    """
    used = [
        p for p in photos
        if p.date is not None and p.age_estimate is not None and p.age_source != "edit"
    ]  # fmt: skip
    if not used:
        return None, set()
    fit = fit_birth(
        [decimal_year(p.date) - float(p.age_estimate) for p in used],  # type: ignore[arg-type]
        ages=[float(p.age_estimate) for p in used],  # type: ignore[arg-type]
    )
    estimate = BirthEstimate(
        date=from_decimal_year(fit.centre),
        n_photos=int(fit.inliers.sum()),
        uncertainty_years=fit.uncertainty,
    )
    outliers = {p.file for p, bad in zip(used, fit.outliers) if bad}
    log.info(
        "birth date inferred: %s from %d photos (+- %.1f y)",
        estimate.date,
        estimate.n_photos,
        fit.uncertainty,
    )
    return estimate, outliers


def provisional_ages(photos: Sequence[PhotoRecord], birth: dt.date | None) -> list[float | None]:
    """Rough ages for the identity check (before the timeline exists): from the
    capture date and the given (else roughly inferred) birth date, else the estimate."""
    if birth is None:
        dated = [p for p in photos if p.date is not None and p.age_estimate is not None]
        if dated:
            fit = fit_birth([decimal_year(p.date) - float(p.age_estimate) for p in dated])  # type: ignore[arg-type]
            birth = from_decimal_year(fit.centre)
    out: list[float | None] = []
    for p in photos:
        age = p.age_estimate
        if birth is not None and p.date is not None and birth <= p.date:
            dated_age = age_between(birth, p.date)
            if dated_age <= MAX_AGE:
                age = dated_age
        out.append(age)
    return out


def check_identity(
    photos: Sequence[PhotoRecord],
    matched: dict[str, bool],
    *,
    birth: dt.date | None,
    chosen_by_user: set[str] | None = None,
) -> IdentityCheck | None:
    """Re-check the target person photo by photo against photos of nearby ages.

    Args:
        photos: the photos with a chosen face (read only).
        matched: file -> is the person, by the album-wide check (read only).
        birth: the person's birth date, if known (for provisional ages).
        chosen_by_user: files whose face the user chose: the person whatever it says.

    Returns:
        IdentityCheck | None: the new verdicts, distances and the album's limit (None when
        the album is too small for an age-aware check, which keeps the album-wide verdicts).
    """
    cands = [p for p in photos if p.face is not None and p.face.descriptor is not None]
    if not cands:
        return None
    ages = provisional_ages(cands, birth)
    estimates = np.array([np.nan if a is None else float(a) for a in ages])
    result = check_through_time(
        np.stack([p.face.descriptor for p in cands]),  # type: ignore[union-attr]
        estimates,
        np.array([matched.get(p.file, False) for p in cands]),
        keep=np.array([p.file in (chosen_by_user or set()) for p in cands]),
    )
    if result is None:
        return None
    return IdentityCheck(
        limit=result.limit,
        distances={p.file: float(d) for p, d in zip(cands, result.distances)},
        matched={p.file: bool(ok) for p, ok in zip(cands, result.matched)},
    )


def place_photos(photos: Sequence[PhotoRecord], *, birth_date: dt.date | None) -> Timeline:
    """Every placeable photo's timeline age, `age_source` and `order_source`, on new records.

    Expects `age_estimate`, `date`, `date_precision`, `include` and any edited
    age (``age_source == "edit"``) set. A given `birth_date` always wins;
    without one, the birth date is inferred from the included dated photos.
    The records handed in are not changed: the placing works on copies.

    Returns:
        Timeline: the copies, placed, and the inferred birth date (None when one
        was given or no included photo is dated).
    """
    photos = [p.copy() for p in photos]
    placeable = [
        p for p in photos
        if p.status == STATUS_OK and p.chosen_face is not None and p.crop is not None
    ]  # fmt: skip
    evidence = [p for p in placeable if p.include]
    estimate: BirthEstimate | None = None
    outliers: set[str] = set()
    birth = birth_date
    if birth is None:
        estimate, outliers = infer_birth(evidence)
        birth = estimate.date if estimate else None

    undated: list[PhotoRecord] = []
    for p in placeable:
        if p.age_source == "edit":
            p.order_source = "edit"
            continue
        p.age, p.age_source, p.order_source = None, None, None
        if p.date is not None and birth is not None:
            why = _date_problem(p, birth, given=birth_date is not None, outlier=p.file in outliers)
            if why:
                p.warnings.append(why)
            else:
                age = age_between(birth, p.date) if p.date >= birth else 0.0
                if birth_date is not None:
                    p.age_source = "date" if p.date_precision == "day" else "year"
                else:
                    p.age_source = "inferred"
                p.age = age
                p.order_source = "edit" if p.date_source == "edit" else "date"
                continue
        undated.append(p)
    _place_undated(
        undated, [p for p in evidence if p.age is not None], given=birth_date is not None
    )
    return Timeline(photos, estimate)


def _date_problem(p: PhotoRecord, birth: dt.date, *, given: bool, outlier: bool) -> str:
    """Why a photo's date cannot give its age ('' when it can)."""
    assert p.date is not None
    whose = "the birth date" if given else "the birth date inferred from the other photos"
    if outlier:
        return (
            f"date {p.date} does not fit the face (about {p.age_estimate:.0f} years old, {whose} {birth.year}); "
            "placed by its face instead"
        )
    if given and p.date < birth:
        return f"date {p.date} is before {whose} {birth}; placed by its face instead"
    if p.date >= birth and age_between(birth, p.date) > MAX_AGE:
        return f"date {p.date} is over {MAX_AGE} years after {whose} {birth}; placed by its face instead"
    return ""


def _place_undated(undated: list[PhotoRecord], placed: list[PhotoRecord], *, given: bool) -> None:
    """Ages for photos without a usable date: likeness-smoothed estimates, anchored by the placed ones."""
    todo = [p for p in undated if p.age_estimate is not None]
    if not todo:
        return
    # With a given birth date, the faces may read systematically older or
    # younger than this person is: correct by the dated photos (shrunk
    # towards none when they are few). An inferred birth has no such offset.
    offset = 0.0
    calib = [p for p in placed if p.age_source in ("date", "year") and p.age_estimate is not None]
    if given and calib:
        diffs = [float(p.age) - float(p.age_estimate) for p in calib]  # type: ignore[arg-type]
        offset = float(np.median(diffs)) * len(calib) / (len(calib) + 2)

    graph_free = [p for p in todo if p.include and _descriptor(p) is not None]
    graph_fixed = [p for p in placed if _descriptor(p) is not None]
    nodes = graph_free + graph_fixed
    if len(graph_free) >= 1 and len(nodes) >= _MIN_GRAPH:
        desc = np.stack([_descriptor(p) for p in nodes])  # type: ignore[misc]
        est = np.array(
            [float(p.age_estimate) + offset if p.age_estimate is not None else 0.0 for p in nodes]
        )
        if graph_fixed:
            # Dated photos anchor the fit: the undated ones slot in between
            # the dated faces they resemble.
            fixed = np.array([np.nan] * len(graph_free) + [float(p.age) for p in graph_fixed])  # type: ignore[arg-type]
            strength = album_strength(est, fixed)
            ages = likeness_ages(desc, est, fixed, strength=strength)[: len(graph_free)]
            log.debug("undated photos placed by likeness, strength %.3g", strength)
        else:
            # Nothing anchors the album: its smoothed estimates or the
            # seriation of its faces, whichever the album shows to be better.
            chosen = undated_order(desc, est)
            ages = spread_like_estimates(chosen.coordinate, est)
            log.debug(
                "undated album placed by its %s (strength %.3g; held-out agreement: fit %.2f, seriation %.2f)",
                chosen.source,
                chosen.strength,
                chosen.fit_agreement,
                chosen.seriation_agreement,
            )
        for p, age in zip(graph_free, ages):
            p.age, p.age_source, p.order_source = max(0.0, float(age)), "estimate", "likeness"
    for p in todo:
        if p.order_source is None:
            p.age = max(0.0, float(p.age_estimate) + offset)  # type: ignore[arg-type]
            p.age_source, p.order_source = "estimate", "estimate"


def _descriptor(p: PhotoRecord) -> np.ndarray | None:
    face = p.face
    return None if face is None else face.descriptor


def order_photos(photos: Sequence[PhotoRecord]) -> list[PhotoRecord]:
    """New records in video order: included photos on the time axis (ties by date, then
    name) first, numbered by `order`, then the rest (`order` None)."""

    def key(p: PhotoRecord) -> tuple:
        return (
            p.age if p.age is not None else float("inf"),
            p.date or dt.date.max,
            p.file,
        )

    included = sorted((p for p in photos if p.usable), key=key)
    rest = sorted((p for p in photos if not p.usable), key=key)
    return [p.copy(order=i) for i, p in enumerate(included)] + [p.copy(order=None) for p in rest]
