"""Edge refinement for the person matte: a coarse mask's outline moved onto the photo's own edges.

GrabCut's outline decided again, pixel by pixel on the 256 px grid, by the network's
log-odds and GrabCut's colour models together (`settle_outline`); then a colour guided filter (He, Sun and Tang) computed on the matte's 256 px working
grid, its linear coefficients then applied to the full-resolution photo, so the
outline follows the photo at the output size and strands of hair keep a soft,
partial alpha; beyond a narrow band around the coarse outline the matte stays
exactly 0 or 1 (`pipeline.matte.signed_distance` reads such a band back). Beside the
cheek of a face turned well aside the network's certainty is not taken as the person's
(`beside_turned_cheek`): the cheek is the head's outline there.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.faces.landmarks import estimate_yaw

# The guided filter runs on the coarse grid (its coefficients then applied
# to the full-resolution photo). Where the photo has no edge the filter is a box blur of the
# mask over its window (2 GUIDE_RADIUS + 1 px of the coarse grid), so the window is kept small
# (a wider one leaves a dark or light halo of the old background round the hair); eps (guide
# in [0, 1]) sets how little contrast still counts as an edge.
GUIDE_RADIUS = 2
GUIDE_EPS = 3e-4
# The refined alpha may differ from the coarse mask only within BAND px (coarse grid) of its
# outline; values within SNAP of 0 or 1 are exactly 0 or 1 (a finite soft band).
BAND = 5
SNAP = 0.03


def disk(radius: int) -> np.ndarray:
    """An elliptic structuring element of the given radius (px)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def guided_coefficients(
    guide: np.ndarray, src: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Colour guided filter (He, Sun and Tang): per-pixel (a [H, W, 3], b [H, W]) with
    ``src ~ a . guide + b`` in every (2 radius + 1)^2 window, averaged over the windows.

    The filtered map follows the guide's edges (a hair's outline against the
    background) wherever the guide has contrast, and smooths where it has none.
    """
    i = guide.astype(np.float32)
    p = src.astype(np.float32)
    mean_i = _box(i, radius)  # [H, W, 3]
    mean_p = _box(p, radius)
    cov_ip = _box(i * p[..., None], radius) - mean_i * mean_p[..., None]
    # Covariance of the guide's channels (6 distinct entries), regularised by eps.
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    var = {}
    for c, d in pairs:
        var[c, d] = _box(i[..., c] * i[..., d], radius) - mean_i[..., c] * mean_i[..., d]
    rr, rg, rb = var[0, 0] + eps, var[0, 1], var[0, 2]
    gg, gb, bb = var[1, 1] + eps, var[1, 2], var[2, 2] + eps
    # Inverse of the symmetric 3 x 3 matrix by cofactors.
    inv_rr, inv_rg, inv_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    inv_gg, inv_gb, inv_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    det = rr * inv_rr + rg * inv_rg + rb * inv_rb
    ci = cov_ip / det[..., None]
    a = np.empty_like(cov_ip)
    a[..., 0] = inv_rr * ci[..., 0] + inv_rg * ci[..., 1] + inv_rb * ci[..., 2]
    a[..., 1] = inv_rg * ci[..., 0] + inv_gg * ci[..., 1] + inv_gb * ci[..., 2]
    a[..., 2] = inv_rb * ci[..., 0] + inv_gb * ci[..., 1] + inv_bb * ci[..., 2]
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    return _box(a, radius), _box(b, radius)


def refine_edges(image: np.ndarray, small: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """[S, S] float32 alpha from `coarse` ([N, N] bool) and `small` (the photo at N px): the
    outline moved onto the photo's own edges at full resolution, soft partial alpha where the
    photo mixes person and background (strands of hair); exactly 0 or 1 beyond `BAND`."""
    side, n = image.shape[0], coarse.shape[0]
    a, b = guided_coefficients(
        small.astype(np.float32) * np.float32(1 / 255),
        coarse.astype(np.float32),
        GUIDE_RADIUS,
        GUIDE_EPS,
    )
    if side != n:
        a = cv2.resize(a, (side, side), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (side, side), interpolation=cv2.INTER_LINEAR)
        hard = cv2.resize(coarse.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
    else:
        hard = coarse.astype(np.float32)
    guide = image.astype(np.float32) * np.float32(1 / 255)
    alpha = np.einsum("hwc,hwc->hw", a, guide) + b
    inside = (hard >= 0.5).astype(np.uint8)
    reach = max(1, int(round(BAND * side / n)))
    band = cv2.dilate(inside, disk(reach)) != cv2.erode(inside, disk(reach))
    alpha = np.where(band, alpha, inside.astype(np.float32))
    alpha = np.clip(alpha, 0.0, 1.0)
    alpha[alpha < SNAP] = 0.0
    alpha[alpha > 1.0 - SNAP] = 1.0
    return alpha.astype(np.float32)


# A face turned well aside (`estimate_yaw` beyond this many degrees: its nose tip within 0.3
# of the jaw line's width from one end) shows its cheek as the head's outline on that side,
# the ear hidden behind it. Beside that cheek, from the forehead to the middle of the jaw,
# between CHEEK_MARGIN and CHEEK_REACH jaw widths from the face, a lit wall of the skin's
# colour the network is sure of is left to the colours. In that share of the jaw's width
# Hanks is at 0.75 and young Edison at 0.296 (both doubted); 0.3 leaves the group photo's
# three-quarter views (0.303, 0.305) and the frontal faces as they were.
TURNED_DEGREES = 21.3
CHEEK_MARGIN = 0.04
CHEEK_REACH = 0.3
# Only pixels at least this bright (grey level over the face's median) are doubted: a lit tan
# wall beside a three-quarter face measured 0.57 to 0.66; dark hair beside the cheek against a
# dark background (0.15 to 0.5 on FG-NET's turned faces) is kept by the network as before.
LIT = 0.55


def beside_turned_cheek(
    small: np.ndarray,
    face: np.ndarray,
    landmarks: np.ndarray,
    frame: tuple[np.ndarray, np.ndarray, np.ndarray, float],
    forehead: float,
) -> np.ndarray:
    """[N, N] bool: beside the cheek of a face turned well aside (`TURNED_DEGREES`) in `small` ([N, N, 3]
    uint8 RGB), where it is bright like skin or a lit wall (`LIT`), at face height
    (from the `face` hull's top, `forehead` jaw widths above the brows, to the middle of the
    jaw): there the cheek is the head's outline, so the network's "a person" may be the wall.
    `frame` is the face's (eye centre, unit x along the eyes, unit y down, jaw width)."""
    lm = np.asarray(landmarks, np.float64)
    yaw = estimate_yaw(lm)  # negative: the nose towards the image's left, that cheek the outline
    if abs(yaw) <= TURNED_DEGREES:
        return np.zeros_like(face)
    centre, ex, ey, width = frame
    lateral, along = (lm - centre) @ ex, (lm - centre) @ ey
    sign, jaw = (-1.0, [0, 1, 2, 3, 4]) if yaw < 0 else (1.0, [16, 15, 14, 13, 12])
    side = face.shape[0]
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    dx, dy = xs - np.float32(centre[0]), ys - np.float32(centre[1])
    out = sign * (dx * np.float32(ex[0]) + dy * np.float32(ex[1])) > (sign * lateral[jaw]).max()
    height = dx * np.float32(ey[0]) + dy * np.float32(ey[1])
    out &= (height > along[17:27].min() - forehead * width) & (height < along[jaw[3]])
    away = cv2.distanceTransform((~face).astype(np.uint8), cv2.DIST_L2, 3) * np.float32(1 / width)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    out &= grey >= LIT * float(np.median(grey[face]))
    return out & (away > CHEEK_MARGIN) & (away <= CHEEK_REACH)


# GrabCut cuts on a small copy and reads the network only through its seeds. Within this many
# pixels of the 256 grid of its outline, each undecided pixel is decided again on the 256 grid
# by the sum of the network's log-odds and the log-likelihood ratio of GrabCut's own colour
# models (person vs background), so where the colours are alike the network decides (hair
# against same-coloured fur) and where they differ, the colours do. It must reach across
# GrabCut's 160 px steps, no further: 2 px measured best on the known-answer test (mean
# boundary error on the cat 1.8 px; 3 px 1.8, 4 px 1.9; none 2.6 px).
OUTLINE_BAND = 2
# The network's log-odds clipped here (a probability of 0.98), the colours' at three times
# as much: a clearly different colour outweighs even a confident network.
PRIOR_CLIP = 4.0
COLOUR_CLIP = 12.0
# Evidence is smoothed over 3 x 3 pixels with this sigma (a pixel goes with its neighbours,
# as in GrabCut's own cut; 1.7 px mean boundary error on the cat against 1.9 unsmoothed).
EVIDENCE_SIGMA = 1.0
# The evidence of pixels outside the band, whose side is settled (4 and 2 let the smoothing
# pull the band after them: 1.9 and 2.0 px on the cat).
DECIDED = 10.0
GMM_COMPONENTS = 5  # GrabCut's colour models: five Gaussians each, in OpenCV's layout
GMM_FLOOR = 0.01  # added to a component's variances (as GrabCut does for a flat component)


def _gmm_log_likelihood(model: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """[K] log-likelihood of `colours` ([K, 3] float64) under a GrabCut colour model
    ([1, 65]: five weights, five means, five 3 x 3 covariances, as OpenCV stores them)."""
    k = GMM_COMPONENTS
    weights = model[0, :k]
    means = model[0, k : 4 * k].reshape(k, 3)
    covs = model[0, 4 * k :].reshape(k, 3, 3)
    terms = np.full((colours.shape[0], k), -np.inf)
    for i in np.flatnonzero(weights > 0):
        cov = covs[i] + np.eye(3) * GMM_FLOOR
        sign, logdet = np.linalg.slogdet(cov)
        if sign <= 0:
            continue
        d = colours - means[i]
        mahalanobis = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
        terms[:, i] = np.log(weights[i]) - 0.5 * logdet - 0.5 * mahalanobis
    return np.logaddexp.reduce(terms, axis=1)


def settle_outline(
    small: np.ndarray,
    prob: np.ndarray,
    ratio: np.ndarray,
    person: np.ndarray,
    undecided: np.ndarray,
    models: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """[N, N] bool: GrabCut's `person` with the undecided pixels near its outline decided
    again at N px by the network's log-odds plus the colour models' log-likelihood ratio.

    GrabCut's cut sees the network only through its seeds and works on a smaller copy:
    at its outline, hair the network is sure of against a background of the same colour
    went by the colours alone, and the outline moved in steps of the small copy's pixels.
    """
    ring = person.astype(np.uint8)
    band = cv2.dilate(ring, disk(OUTLINE_BAND)) != cv2.erode(ring, disk(OUTLINE_BAND))
    band &= undecided
    if not band.any():
        return person
    colours = small[band].astype(np.float64)
    fgd, bgd = models
    colour = _gmm_log_likelihood(fgd, colours) - _gmm_log_likelihood(bgd, colours)
    colour = np.clip(np.nan_to_num(colour, nan=0.0), -COLOUR_CLIP, COLOUR_CLIP)
    p = np.clip(prob[band].astype(np.float64), 1e-6, 1.0 - 1e-6)
    network = np.clip(np.log(p / (1.0 - p)), -PRIOR_CLIP, PRIOR_CLIP)
    # Nearer a neighbour, the network's "a person" may be the neighbour: only its "no one" counts.
    network = np.where(ratio[band] > 1.0, np.minimum(network, 0.0), network)
    evidence = np.where(person, np.float32(DECIDED), np.float32(-DECIDED))
    evidence[band] = (network + colour).astype(np.float32)
    evidence = cv2.GaussianBlur(evidence, (3, 3), EVIDENCE_SIGMA)
    out = person.copy()
    out[band] = evidence[band] > 0
    return out


# Foreground colours: the old background near a soft edge is the mean of the fully
# outside pixels within this share of the crop's side (about 8 px at 512: close enough to be
# the background behind the strand, wide enough to find some); where none is that near,
# four times as far.
BACKGROUND_REACH = 1 / 64
# A busy background (grass, foliage) is not its local mean behind each strand: the
# correction is weighted by SMOOTH^2 / (SMOOTH^2 + the outside pixels' variance), grey levels.
SMOOTH = 12.0


def _outside_stats(
    rgb: np.ndarray, outside: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean colour, mean per-channel variance and count of the `outside` pixels in a window."""
    window = (2 * radius + 1, 2 * radius + 1)
    count = cv2.boxFilter(outside, -1, window, normalize=False)
    inv = 1.0 / np.maximum(count, 1e-6)
    mean = cv2.boxFilter(rgb * outside[..., None], -1, window, normalize=False) * inv[..., None]
    square = cv2.boxFilter(rgb * rgb * outside[..., None], -1, window, normalize=False)
    var = np.maximum(square * inv[..., None] - mean * mean, 0.0).mean(axis=2)
    return mean, var, count


def foreground_colours(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """[S, S, 3] uint8: `image` with its partly transparent pixels (0 < alpha < 1) given the
    person's own colour, ``F = (I - (1 - alpha) B) / alpha``, B the old background nearby
    (the mean of the pixels fully outside the matte around them), so a strand of hair over
    the new backdrop does not carry the old background's colour with it; less so where that
    background is busy (`SMOOTH`). Elsewhere unchanged."""
    a = np.asarray(alpha, np.float32)
    soft = (a > 0.0) & (a < 1.0)
    if not soft.any():
        return image
    # The local means are smooth: worked out on a half-size copy (a quarter of the cost).
    side = image.shape[0]
    half = (max(1, side // 2), max(1, side // 2))
    rgb = cv2.resize(image, half, interpolation=cv2.INTER_AREA).astype(np.float32)
    outside = cv2.resize((a <= 0.0).astype(np.float32), half, interpolation=cv2.INTER_AREA)
    radius = max(1, round(BACKGROUND_REACH * half[0]))
    near, near_var, count = _outside_stats(rgb, outside, radius)
    far, far_var, far_count = _outside_stats(rgb, outside, 4 * radius)
    close = count > 0.5
    background = np.where(close[..., None], near, far)
    var = np.where(close, near_var, far_var)
    found = (close | (far_count > 0.5)).astype(np.float32)
    full = (side, side)
    background = cv2.resize(background, full, interpolation=cv2.INTER_LINEAR)
    var = cv2.resize(var, full, interpolation=cv2.INTER_LINEAR)
    known = soft & (cv2.resize(found, full, interpolation=cv2.INTER_LINEAR) > 0.99)
    colours = image[known].astype(np.float32)
    av = a[known][:, None]
    fg = (colours - (1.0 - av) * background[known]) / av
    trust = (SMOOTH * SMOOTH / (SMOOTH * SMOOTH + var[known]))[:, None]
    out = image.copy()
    mixed = colours + trust * (np.clip(fg, 0.0, 255.0) - colours)
    out[known] = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
    return out
