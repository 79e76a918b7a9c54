"""The album's likeness graph: ages smoothed along it, and how hard, per album.

Faces change slowly, so photos close in time have close identity descriptors.
The undated photos' age estimates are smoothed along the graph of who looks
like whom (a graph-Laplacian fit), as strongly as the album itself warrants:
where the estimates' spread is mostly the age model's noise (grown-ups over a
few years, or many photos close together) the fit tends to the graph's
smoothest mode, a spectral seriation of the faces that the estimates only turn
the right way round; where they span childhood to middle age they keep their
say. An album with no dated photo also weighs that fit against the seriation
of its faces itself (`undated_order`): whichever predicts the estimates it
has not seen clearly better orders it, so a few misread faces cannot pull a
grown-up's album out of the order its faces show. `pipeline.timeline` places
the photos with it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import ArpackError, eigsh, spsolve
from scipy.stats import rankdata

from pipeline.identity import pairwise_distances

log = logging.getLogger(__name__)

# Typical error of one age estimate, in years (about 6 on UTKFace): the
# uncertainty of a birth date inferred from a single photo.
MODEL_ERROR_YEARS = 6.0
# How strongly ages are pulled together along the likeness graph (1 = as
# much as towards the photo's own estimate) when nothing is known of the
# album; 3 measured best on FG-NET albums at one strength for all. It is
# also the strength that makes FG-NET 001's estimates most probable when ages
# are a Gaussian field on the likeness graph and the estimates carry the
# model's noise (3.2: `evidence_strength` in bench/bench_timeline.py).
SMOOTHING = 3.0
# Spread (standard deviation) of one age estimate, in years: 1.25 x the
# model's mean absolute error (6.2 years on UTKFace; sd = 1.25 MAE for
# normal errors).
ESTIMATE_SD_YEARS = 1.25 * MODEL_ERROR_YEARS
# Photos in the albums `SMOOTHING` was measured on (FG-NET 001 and 002: 15, 16).
_MEASURED_PHOTOS = 15
# Beyond this strength the order no longer changes: the fit is then the
# likeness graph's smoothest non-constant mode (its Fiedler vector, a spectral
# seriation of the faces), turned and scaled by the estimates.
MAX_STRENGTH = 1e4
# The likeness graph's scale: half the mean distance to the 4th nearest face.
_NEIGHBOURS = 4
# Each face's edges in the likeness graph (the rest weigh next to nothing).
_GRAPH_NEIGHBOURS = 12
# Up to this many photos the seriation takes a dense eigendecomposition
# (milliseconds); beyond, a sparse shift-invert solve for the two smallest
# modes (a dense one takes seconds at 1,000 photos on one core).
_DENSE_EIGEN = 200
# Held-out checks of the candidates: one photo at a time up to this many
# photos (exact leave-one-out: small albums need every photo's say), else
# `_FOLDS` interleaved folds. A fold costs a sparse solve (5 ms at 1,000
# photos); the check's sampling error is set by the photos, not the folds.
_LEAVE_ONE_OUT = 20
_FOLDS = 5


def likeness_laplacian(descriptors: np.ndarray) -> sparse.csr_matrix:
    """The album's likeness graph as a sparse Laplacian, normalised by the mean degree.

    ``w_ij = exp(-(d_ij / s)^2)`` (d: descriptor distance, s: half the mean
    distance to the 4th nearest face), each face's 12 nearest kept and
    symmetrised: weights vanish a few scales away (exp(-9) at 3), so the
    system is sparse and solves in milliseconds for thousands of photos.
    """
    x = np.asarray(descriptors, dtype=np.float64)
    n = len(x)
    d = pairwise_distances(x, x, np.float32).astype(np.float64)
    k = min(_NEIGHBOURS, n - 1)
    kth = np.partition(d, k, axis=1)[:, k]  # column 0 is the face itself
    scale = max(0.5 * float(kth.mean()), 1e-3)
    m = min(_GRAPH_NEIGHBOURS, n - 1)
    near = np.argpartition(d, m, axis=1)[:, : m + 1]
    rows = np.repeat(np.arange(n), m + 1)
    cols = near.ravel()
    w = sparse.csr_matrix((np.exp(-np.square(d[rows, cols] / scale)), (rows, cols)), shape=(n, n))
    w = w.maximum(w.T).tocsr()
    w = (w - sparse.diags(w.diagonal())).tocsr()
    degree = np.asarray(w.sum(axis=1)).ravel()
    return ((sparse.diags(degree) - w) / max(float(degree.mean()), 1e-9)).tocsr()


def album_strength(estimates: np.ndarray, fixed: np.ndarray | None = None) -> float:
    """How strongly this album's ages are pulled together along its likeness graph.

    The fit is a Gaussian estimate: the estimates are the true ages plus
    noise of sd `ESTIMATE_SD_YEARS`, and the likeness graph is a prior saying
    that look-alikes have close ages. The best strength of such a prior grows
    with the noise variance over the variance of the true ages, which the
    album shows (variance of its estimates and known ages, less the noise of
    the estimated ones). `SMOOTHING` was measured best on albums whose true
    spread is at least the noise (FG-NET, childhood to middle age; weaker
    strengths lost there, with the age model's own and with noisier
    estimates), so such albums keep it; below, the strength grows with the
    ratio: a narrow adult album, whose spread is mostly noise, is ordered by
    the likeness structure alone (towards `MAX_STRENGTH`: the spectral
    seriation of the faces, the graph's smoothest mode, turned the right way
    round by the estimates). A denser album has look-alikes closer in age
    (on a line of n photos the gap to a neighbour shrinks as 1/n, its square
    as 1/n^2), so the ratio is also scaled by (n / `_MEASURED_PHOTOS`)^2.

    Args:
        estimates (np.ndarray): [N] age estimates.
        fixed (np.ndarray | None): [N] known ages, NaN where free.

    Returns:
        float: the strength, between 0 and `MAX_STRENGTH`.
    """
    e = np.asarray(estimates, dtype=np.float64)
    fixed = np.full(len(e), np.nan) if fixed is None else np.asarray(fixed, dtype=np.float64)
    free = np.isnan(fixed)
    ages = np.where(free, e, fixed)
    if len(ages) < 2 or not free.any():
        return SMOOTHING
    noise = ESTIMATE_SD_YEARS**2
    spread = float(np.var(ages)) - noise * float(free.mean())
    if spread <= noise * SMOOTHING / MAX_STRENGTH:
        return MAX_STRENGTH
    density = (len(ages) / _MEASURED_PHOTOS) ** 2
    return min(SMOOTHING * max(1.0, noise / spread * density), MAX_STRENGTH)


def likeness_ages(
    descriptors: np.ndarray,
    estimates: np.ndarray,
    fixed: np.ndarray | None = None,
    *,
    strength: float = SMOOTHING,
) -> np.ndarray:
    """Ages smoothed along the album's likeness graph.

    Minimises ``sum_free (a_i - e_i)^2 + strength * sum_ij w_ij (a_i - a_j)^2 / 2``
    over the graph of `likeness_laplacian`, holding the photos with a `fixed`
    age at it. Photos that look alike end up with close ages, so noise in
    single estimates averages out and an undated photo lands next to the dated
    photos it resembles. The stronger the pull, the more the order follows the
    likeness structure alone (`album_strength`).

    Args:
        descriptors (np.ndarray): [N, D] identity descriptors.
        estimates (np.ndarray): [N] raw age estimates (ignored where fixed).
        fixed (np.ndarray | None): [N] known ages, NaN where free.
        strength (float): weight of the likeness term. Default: `SMOOTHING`.

    Returns:
        np.ndarray: [N] float64 ages (the fixed ones unchanged).
    """
    e = np.asarray(estimates, dtype=np.float64)
    n = len(e)
    fixed = np.full(n, np.nan) if fixed is None else np.asarray(fixed, dtype=np.float64)
    free = np.isnan(fixed)
    out = np.where(free, e, fixed)
    if n < 2 or not free.any():
        return out
    lap = likeness_laplacian(descriptors)
    f = np.flatnonzero(free)
    c = np.flatnonzero(~free)
    lap_f = lap[f]
    system = sparse.identity(len(f), format="csc") + strength * lap_f[:, f].tocsc()
    rhs = e[f] - strength * (lap_f[:, c] @ fixed[c]) if len(c) else e[f]
    out[f] = np.atleast_1d(spsolve(system, rhs))
    return out


def seriation(lap: sparse.spmatrix) -> np.ndarray:
    """The likeness graph's smoothest non-constant mode (its Fiedler vector).

    It lays the faces along one line, each next to those it resembles most: a
    spectral seriation. Its sign is arbitrary (`likeness_order` turns it).
    """
    n = lap.shape[0]
    if n < 2:
        return np.zeros(n)
    if n <= _DENSE_EIGEN:
        return np.linalg.eigh(lap.toarray())[1][:, 1]
    # Shift-invert just below 0 (every eigenvalue of a Laplacian is >= 0):
    # the two modes nearest the shift are the constant one and the Fiedler
    # vector. A fixed start vector keeps the result the same run to run.
    try:
        values, vectors = eigsh(
            lap.tocsc(), k=2, sigma=-1e-3, which="LM", v0=np.linspace(1.0, 2.0, n)
        )
    except ArpackError as err:  # no line found: a constant says nothing, the fit is kept
        log.warning("no seriation of %d faces (%s); their estimates order them", n, err)
        return np.zeros(n)
    return vectors[:, int(np.argmax(values))]


def _turned(coord: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """`coord`, its sign chosen so that it grows with the estimates."""
    e = np.asarray(estimates, dtype=np.float64)
    return coord if float(np.dot(coord - coord.mean(), e - e.mean())) >= 0 else -coord


def likeness_order(descriptors: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """The likeness order alone: a spectral seriation of the faces (`seriation`),
    the estimates saying which end is young.

    Returns:
        np.ndarray: [N] a coordinate that grows with age along that line.
    """
    return _turned(seriation(likeness_laplacian(descriptors)), estimates)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation, 0 where either side is constant."""
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    return float(np.dot(a, b)) / den if den > 1e-12 else 0.0


def held_out_predictions(
    lap: sparse.spmatrix, estimates: np.ndarray, strength: float, line: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both candidates' predictions of estimates they have not seen.

    Each photo's estimate is left out in turn (in `_FOLDS` interleaved
    folds beyond `_LEAVE_ONE_OUT` photos) and predicted from the others: by
    `likeness_ages` at `strength`, and by the seriation `line` turned by the
    others' estimates (the turn is the only thing it takes from them; judged
    on the estimates that turned it, a line would look better than it is on
    a small album).
    Predictions and left-out estimates are relative to the mean of the
    estimates kept (which alone would predict a left-out estimate the wrong
    way round). The age model's noise is independent photo to photo, so the
    ordering that agrees best with left-out estimates is, on average, the one
    that agrees best with the true ages.

    Returns:
        (the fit's predictions, the line's, the left-out estimates), each [N].
    """
    e = np.asarray(estimates, dtype=np.float64)
    n = len(e)
    folds = n if n <= _LEAVE_ONE_OUT else _FOLDS
    fold = np.arange(n) % folds
    by_fit, by_line, left_out = np.empty(n), np.empty(n), np.empty(n)
    for k in range(folds):
        out = fold == k
        kept = (~out).astype(np.float64)
        mean = float(e[~out].mean())
        # A faint pull to the kept mean keeps a face with no near neighbour
        # predictable (by that mean) and the system non-singular.
        system = (sparse.diags(kept + 1e-9) + strength * lap).tocsc()
        fit = np.atleast_1d(spsolve(system, kept * e + 1e-9 * mean))
        by_fit[out] = fit[out] - mean
        centre = float(line[~out].mean())
        by_line[out] = _turned(line - centre, e * kept + mean * (1 - kept))[out]
        left_out[out] = e[out] - mean
    return by_fit, by_line, left_out


@dataclass(frozen=True)
class UndatedOrder:
    """Where an all-undated album's photos go along the likeness graph, and why."""

    coordinate: np.ndarray  # [N] grows with age; `spread_like_estimates` maps it to ages
    source: str  # "fit" (smoothed estimates) or "seriation" (the faces' line)
    strength: float  # the fit's `album_strength`
    fit_agreement: float  # correlation of the fit's `held_out_predictions` with the estimates
    seriation_agreement: float  # the same for the seriation (turned by the others' estimates)


def undated_order(descriptors: np.ndarray, estimates: np.ndarray) -> UndatedOrder:
    """The order of an album without dated photos: its smoothed estimates, or
    the seriation of its faces where the album shows that those predict its
    estimates clearly better.

    Two candidates, each judged by how well it predicts estimates it has not
    seen (the estimates carry the age model's noise, independent from photo
    to photo, so the better predictor of them is on average the better order):

    - the estimates smoothed along the likeness graph at `album_strength`
      (children, wide spans: the estimates keep their say), by its
      `held_out_predictions`;
    - the seriation of the faces (`likeness_order`): it takes from the
      estimates only which end is young (for a left-out photo, as the others
      say). It wins where the faces drift evenly along one line and the
      estimates are noisy or hold misreadings (a grown-up read 21 years off
      pulls the fit, not the seriation); it loses on childhood albums, where
      a child's face changes faster than the descriptors drift evenly.

    The seriation replaces the fit only when its correlation with the
    left-out estimates is higher by more than the sampling error of a correlation over
    the album's photos (one standard error of Fisher's z, 1/sqrt(n - 3): on a
    small album two scores close together say nothing, and the fit, which
    keeps the estimates' say, is the safer default), and when it also orders
    them at least as well (rank correlation): a seriation that only sets a
    few faces apart (a childhood cluster far from the rest) can correlate
    with the estimates through those few while the order of the others is
    chance. Nothing here is tuned to an album: the strength follows the
    album's spread (`album_strength`), the rest is the album's own agreement.

    Args:
        descriptors (np.ndarray): [N, D] identity descriptors.
        estimates (np.ndarray): [N] age estimates.

    Returns:
        UndatedOrder: the chosen coordinate and both scores.
    """
    e = np.asarray(estimates, dtype=np.float64)
    n = len(e)
    strength = album_strength(e)
    if n < 3:
        return UndatedOrder(e.copy(), "fit", strength, 0.0, 0.0)
    lap = likeness_laplacian(descriptors)
    system = (sparse.identity(n, format="csc") + strength * lap).tocsc()
    fit = np.atleast_1d(spsolve(system, e))
    line = _turned(seriation(lap), e)
    by_fit, by_line, left_out = held_out_predictions(lap, e, strength, line)
    fit_score, line_score = _correlation(by_fit, left_out), _correlation(by_line, left_out)
    # Fisher's z of each score, and the standard error of one over n photos.
    z = np.arctanh(np.clip([fit_score, line_score], -0.999, 0.999))
    clearly_better = float(z[1] - z[0]) > 1.0 / math.sqrt(max(n - 3, 1))
    ranks = rankdata(left_out)
    orders_as_well = _correlation(rankdata(by_line), ranks) >= _correlation(rankdata(by_fit), ranks)
    use_line = float(np.ptp(line)) > 0 and clearly_better and orders_as_well
    return UndatedOrder(
        line if use_line else fit,
        "seriation" if use_line else "fit",
        strength,
        fit_score,
        line_score,
    )


def spread_like_estimates(ages: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """Ages in the order of `ages`, scaled to the estimates' range.

    Strong smoothing shrinks the ages towards each other; with no known age
    to hold the scale, the fitted ages are mapped linearly (so the order and
    the relative gaps stay) onto the sorted estimates, least squares, within
    the youngest and oldest estimate: the album keeps its estimated span, and
    ages grow smoothly along the order.
    """
    a = np.asarray(ages, dtype=np.float64)
    e = np.sort(np.asarray(estimates, dtype=np.float64))
    s = np.sort(a)
    if len(a) < 2 or float(np.ptp(s)) <= 1e-9:
        return np.full(len(a), float(np.mean(e))) if len(a) else a
    slope = float(np.dot(s - s.mean(), e - e.mean()) / np.dot(s - s.mean(), s - s.mean()))
    # Never past the youngest or oldest estimate (the fitted line may overshoot at the ends).
    room = min(
        (e[-1] - e.mean()) / max(s[-1] - s.mean(), 1e-9),
        (e.mean() - e[0]) / max(s.mean() - s[0], 1e-9),
    )
    return e.mean() + max(min(slope, room), 0.0) * (a - s.mean())
