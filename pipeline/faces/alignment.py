"""FFHQ alignment: the crop square from 68 landmarks, and the aligned crop itself.

Pure geometry on landmarks plus one resampling of the photo; no detection
model is involved, so the renderer can re-align a stored face at any size.

Coordinates are dlib's: pixel ``(i, j)`` has its centre at ``x = i, y = j``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.faces.imaging import as_rgb

# Where dlib's HOG box sits relative to the FFHQ crop square of an upright
# face (side of the square = 1): as wide as 0.6, centred 0.085 below its centre.
BOX_SIDE = 0.6
BOX_DROP = 0.085


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the image-left (36-41) and image-right (42-47) eyes, [2] float64 each."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """Corners of FFHQ's oriented crop square ([4, 2] float64, photo pixels).

    Order: top-left, bottom-left, bottom-right, top-right of the aligned image.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    eye_left, eye_right = eye_centres(lm)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg

    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def ffhq_crop_side(landmarks: np.ndarray) -> float:
    """Side of the FFHQ crop square in the photo's pixels."""
    quad = ffhq_quad(landmarks)
    return float(np.hypot(*(quad[3] - quad[0])))


def ffhq_transform(landmarks: np.ndarray, size: int = 512) -> np.ndarray:
    """[2, 3] affine matrix mapping photo pixels to aligned-image pixels (a similarity)."""
    quad = ffhq_quad(landmarks)
    ex, ey = quad[3] - quad[0], quad[1] - quad[0]  # aligned x and y axes, one side long
    side2 = float(ex @ ex)
    rows = np.stack([ex, ey]) * (size / side2)  # [2, 2]
    # Aligned pixel centre i sits at continuous position i + 0.5 along the side.
    offset = -rows @ quad[0] - 0.5
    return np.concatenate([rows, offset[:, None]], axis=1)


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a [2, 3] affine matrix to [N, 2] points."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def canonical_eye_positions(size: int, mouth_ratio: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Where the eye centres land in an aligned image of a frontal, upright, symmetric face.

    Args:
        size (int): side of the aligned image.
        mouth_ratio (float): |eye_to_mouth| / |eye_to_eye| of the face (about 0.9-1.2
            for adults). Up to 1.11 the eyes are always at 37.5 % and 62.5 % of the width;
            only their height depends on it.

    Returns:
        (left, right): [2] float64 (x, y) in aligned pixels (image left eye first).
    """
    e, m = 1.0, float(mouth_ratio)
    half = max(2.0 * e, 1.8 * m)  # half-side of the square, eye distance = 1
    k = size / (2.0 * half)
    y = size / 2 - 0.1 * m * k - 0.5
    return (
        np.array([size / 2 - 0.5 * e * k - 0.5, y]),
        np.array([size / 2 + 0.5 * e * k - 0.5, y]),
    )


def aligned_face_box(size: int) -> tuple[int, int, int, int]:
    """Where dlib's detector box (left, top, right, bottom) sits in an FFHQ-aligned crop of `size` px."""
    half = BOX_SIDE * size / 2
    cx, cy = (size - 1) / 2, (size - 1) / 2 + BOX_DROP * size
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


def _reflect_pad_blurred(img: np.ndarray, pad: np.ndarray, qsize: float) -> np.ndarray:
    """FFHQ's padding: reflect, blur towards the outer edge, fade to the median colour.

    Args:
        img: [h, w, 3] float32 region.
        pad: (left, top, right, bottom) pixels to add.
        qsize: side of the crop square in this region's pixels.
    """
    left, top, right, bottom = (int(v) for v in pad)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_REFLECT_101)
    h, w = img.shape[:2]
    x = np.arange(w, dtype=np.float32)
    y = np.arange(h, dtype=np.float32)
    # 1 at the outer edge, 0 at the photo's edge, negative inside the photo.
    mx = 1.0 - np.minimum(x / max(left, 1), (w - 1 - x) / max(right, 1))
    my = 1.0 - np.minimum(y / max(top, 1), (h - 1 - y) / max(bottom, 1))
    mask = np.maximum(mx[None, :], my[:, None])[:, :, None]
    sigma = qsize * 0.02
    blurred = cv2.GaussianBlur(
        img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT
    )
    img += (blurred - img) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    step = max(1, int(math.sqrt(h * w / 250_000)))  # the median of a subsample is plenty
    median = np.median(img[::step, ::step].reshape(-1, 3), axis=0)
    img += (median - img) * np.clip(mask, 0.0, 1.0)
    return img


def align_face(
    image: np.ndarray, landmarks: np.ndarray, size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Crop a face the way FFHQ was made (see product.md, step 2).

    Only the crop square's neighbourhood is processed: it is cut out, shrunk
    to the output scale when bigger, reflect-padded and blurred where the
    square leaves the photo (as FFHQ's ``recreate_aligned_images``), then
    resampled once.

    Args:
        image (np.ndarray): [H, W, 3] uint8 RGB photo.
        landmarks (np.ndarray): [68, 2] dlib landmarks in the photo's pixels.
        size (int): side of the output. Default: 512.

    Returns:
        (aligned, landmarks): [size, size, 3] uint8 and the landmarks mapped
        into it ([68, 2] float32).
    """
    if size < 8:
        raise ValueError(f"aligned size must be at least 8 px, got {size}")
    image = as_rgb(image)
    h, w = image.shape[:2]
    quad = ffhq_quad(landmarks)
    qsize = float(np.hypot(*(quad[3] - quad[0])))

    # Crop the square's bounding box plus a border.
    border = max(round(qsize * 0.1), 3)
    lo = np.floor(quad.min(axis=0)).astype(int) - border
    hi = np.ceil(quad.max(axis=0)).astype(int) + border + 1
    x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    x1, y1 = min(int(hi[0]), w), min(int(hi[1]), h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ValueError("the face's crop square lies outside the photo")
    region = image[y0:y1, x0:x1]
    q = quad - (x0, y0)

    # Shrink so that the square is about `size` pixels across.
    if qsize > size:
        rh, rw = region.shape[:2]
        nw, nh = max(2, round(rw * size / qsize)), max(2, round(rh * size / qsize))
        region = cv2.resize(region, (nw, nh), interpolation=cv2.INTER_AREA)
        factor = np.array([nw / rw, nh / rh])
        q = (q + 0.5) * factor - 0.5
        qsize *= float(factor.mean())
        border = max(round(qsize * 0.1), 3)

    # Pad where the square (plus border) leaves the photo.
    rh, rw = region.shape[:2]
    qlo, qhi = np.floor(q.min(axis=0)), np.ceil(q.max(axis=0))
    pad = np.maximum(
        [border - qlo[0], border - qlo[1], qhi[0] - rw + border, qhi[1] - rh + border], 0
    ).astype(int)
    if pad.max() > border - 4:
        pad = np.maximum(pad, round(qsize * 0.3))
        work = _reflect_pad_blurred(region.astype(np.float32), pad, qsize)
        q = q + pad[:2]
    else:
        work = region

    # One resampling: aligned pixel -> working-region pixel.
    ex, ey = (q[3] - q[0]) / size, (q[1] - q[0]) / size
    origin = q[0] + 0.5 * (ex + ey)
    inverse = np.array([[ex[0], ey[0], origin[0]], [ex[1], ey[1], origin[1]]])
    aligned = cv2.warpAffine(
        work,
        inverse,
        (size, size),
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    if aligned.dtype != np.uint8:
        aligned = np.clip(np.rint(aligned), 0, 255).astype(np.uint8)
    mapped = transform_points(ffhq_transform(landmarks, size), landmarks).astype(np.float32)
    return aligned, mapped
