"""Landmark morph: exact warps, kept detail, one face mid-transition, smooth paths and colour."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline import faces
from pipeline.methods.base import Keyframe, get_method
from pipeline.methods.morph import colour
from pipeline.methods.morph.warp import (
    PiecewiseAffineWarper,
    doubled,
    remap,
    triangulate,
    warp,
    with_border,
)

SIZE = 256


def _moved(
    image: np.ndarray, landmarks: np.ndarray, angle: float, scale: float, shift: tuple[float, float]
):
    """The aligned face turned, scaled and shifted (a keyframe in another pose), landmarks moved alike."""
    size = image.shape[0]
    m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    m[:, 2] += shift
    out = cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101
    )
    return out, (np.c_[landmarks, np.ones(68)] @ m.T).astype(np.float32), m


def _detail(image: np.ndarray, mask: np.ndarray) -> float:
    """High-frequency energy: variance of the Laplacian inside `mask`."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(grey, cv2.CV_32F)[mask > 0].var())


def _landmark_error(frame: np.ndarray, expected: np.ndarray) -> float:
    """Mean distance from landmarks detected on `frame` to `expected` (inf when no face is found)."""
    found = faces.detect_faces(frame)
    if not found:
        return float("inf")
    return float(np.linalg.norm(found[0].landmarks - expected, axis=1).mean())


@pytest.fixture(scope="module")
def astro(portrait_faces):
    return portrait_faces.aligned("astronaut", SIZE)


@pytest.fixture(scope="module")
def posed_pair(astro):
    image, landmarks = astro
    moved, moved_landmarks, _ = _moved(image, landmarks, angle=12.0, scale=1.1, shift=(14.0, -10.0))
    return [
        Keyframe(image, landmarks, 30.0, label="a"),
        Keyframe(moved, moved_landmarks, 31.0, label="b"),
    ]


@pytest.mark.parametrize("size", [256, 1024])
def test_warp_to_own_landmarks_is_identity(portrait_faces, size):
    image, landmarks = portrait_faces.aligned("astronaut", size)
    for interpolation in (cv2.INTER_LINEAR, cv2.INTER_CUBIC):
        out = warp(image, landmarks, landmarks, interpolation=interpolation)
        np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("size", [256, 512])
def test_maps_of_a_grid_aligned_part_equal_the_general_warps(astro, size):
    """A part starting on the coarse grid takes the plain-upsampling route: its maps must
    sample where the general route (any corner) does, whole output and parts alike."""
    image, landmarks = astro
    lm = landmarks * (size / SIZE)
    _, moved, _ = _moved(
        cv2.resize(image, (size, size)), lm, angle=9.0, scale=1.08, shift=(6.0, -4.0)
    )
    src, dst = with_border(lm, size), with_border(moved, size)
    warper = PiecewiseAffineWarper(triangulate((src + dst) / 2), size)
    step = warper.step
    for x0, y0, w, h in [(0, 0, size, size), (4 * step, 2 * step, size // 2 + 3, size // 3 + 1)]:
        (aligned,) = warper.maps(dst, [src], (x0, y0, w, h))
        (general,) = warper.maps(dst, [src], (x0 + 1, y0 + 1, w - 1, h - 1))  # off the grid
        for a, g in zip(aligned, general):
            assert a.shape == (h, w)
            np.testing.assert_allclose(a[1:, 1:], g, atol=2e-3)  # float32 sums, not positions
    (whole,) = warper.maps(dst, [src])
    (part,) = warper.maps(dst, [src], (2 * step, 3 * step, 40, 50))
    for a, b in zip(whole, part):
        np.testing.assert_allclose(
            a[3 * step : 3 * step + 50, 2 * step : 2 * step + 40], b, atol=2e-3
        )


def test_warp_follows_a_global_motion(astro):
    """Landmarks moved by a similarity: the warp equals that similarity applied to the image."""
    image, landmarks = astro
    expected, moved, _ = _moved(image, landmarks, angle=4.0, scale=1.03, shift=(3.0, -2.0))
    out = warp(image, landmarks, moved, interpolation=cv2.INTER_CUBIC)
    mask = colour.face_mask(moved, SIZE)
    diff = np.abs(out.astype(np.int16) - expected.astype(np.int16))[mask > 0]
    assert diff.mean() < 2.0


def test_warp_to_a_nearby_shape_keeps_fine_detail(astro):
    image, landmarks = astro
    rng = np.random.default_rng(3)
    nearby = landmarks + rng.uniform(-1.5, 1.5, landmarks.shape).astype(np.float32)
    mask = colour.face_mask(landmarks, SIZE)
    before = _detail(image, mask)
    after = _detail(warp(image, landmarks, nearby, interpolation=cv2.INTER_CUBIC), mask)
    blurred = _detail(cv2.GaussianBlur(image, (0, 0), 0.8), mask)
    assert after > 0.85 * before
    assert after > 1.5 * blurred


def test_a_doubled_copy_sampled_bilinearly_is_close_to_bicubic(astro):
    """The frames sample a doubled keyframe bilinearly in place of bicubic sampling: its
    even samples are the pixels, and on a smooth warp it is far closer to bicubic than
    bilinear sampling is, and keeps most of bicubic's fine detail."""
    image, landmarks = astro
    rgb = image.astype(np.float32)
    twice = doubled(rgb)
    assert twice.shape == (2 * SIZE - 1, 2 * SIZE - 1, 3)
    np.testing.assert_array_equal(twice[::2, ::2], rgb)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    mx = xx + 2.5 * np.sin(yy / 19) + 1.5 * np.cos(xx / 13)
    my = yy + 2.5 * np.cos(xx / 23) + 1.5 * np.sin(yy / 11)
    bicubic = cv2.remap(rgb, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
    bilinear = remap(rgb, (mx, my))
    sampled = remap(twice, (2 * mx, 2 * my))
    inner = (slice(12, -12), slice(12, -12))

    def rms(a: np.ndarray) -> float:
        return float(np.sqrt(np.mean((a - bicubic)[inner] ** 2)))

    assert rms(sampled) < 0.4 * rms(bilinear)
    mask = colour.face_mask(landmarks, SIZE)

    def detail(a: np.ndarray) -> float:
        return _detail(np.clip(np.round(a), 0, 255).astype(np.uint8), mask)

    assert detail(sampled) > 0.85 * detail(bicubic)
    assert detail(sampled) > 1.2 * detail(bilinear)


def test_morph_frames_keep_fine_detail(astro):
    """In-between frames of two poses of one photo keep most of the keyframes' detail
    (the default sampling: a doubled copy for a long transition, bicubic for a short
    one); bilinear sampling visibly softens them."""
    image, landmarks = astro
    moved, moved_landmarks, _ = _moved(image, landmarks, angle=3.0, scale=1.02, shift=(2.3, -1.7))
    keyframes = [Keyframe(image, landmarks, 30.0), Keyframe(moved, moved_landmarks, 31.0)]
    mask = colour.face_mask(landmarks, SIZE)
    key = min(_detail(image, mask), _detail(moved, mask))
    long, short = np.linspace(0.05, 0.5, 10), np.array([0.1, 0.25, 0.5])

    def details(interpolation: str, lams: np.ndarray) -> list[float]:
        morph = get_method("morph")(interpolation=interpolation)
        morph.prepare(keyframes, size=SIZE)
        return [_detail(frame, mask) for frame in morph.transition(0, lams)]

    for lams in (long, short):
        sharp, soft = details("cubic", lams), details("linear", lams)
        assert min(sharp) > 0.85 * key
        assert np.mean(sharp) > 1.2 * np.mean(soft)


def test_frames_next_to_a_keyframe_equal_it(posed_pair):
    """No pop at a keyframe: a frame a hair's breadth from it is the keyframe to within a grey level."""
    morph = get_method("morph")()
    morph.prepare(posed_pair, size=SIZE)
    for count in (10, 2):  # a doubled copy, bicubic sampling
        frames = list(morph.transition(0, np.linspace(1e-4, 1 - 1e-4, count)))
        for frame, kf in ((frames[0], posed_pair[0]), (frames[-1], posed_pair[1])):
            diff = np.abs(frame.astype(np.int16) - kf.image.astype(np.int16))
            assert diff.max() <= 1
            assert diff.mean() < 0.02


def test_a_correction_moves_the_colour_statistics_to_the_target(astro):
    """The harmonisation's correction is one affine map of RGB that gives the image the
    target's opponent-space means and spreads; weighted, it scales; to itself, identity."""
    image, landmarks = astro
    mask = colour.face_mask(landmarks, SIZE)
    own = colour.stats(image, mask)
    # A darker, warmer, flatter exposure of the same face.
    other = np.clip(image.astype(np.float32) * [0.8, 0.7, 0.6] + [30, 18, 6], 0, 255)
    target = colour.stats(np.round(other).astype(np.uint8), mask)
    m = colour.correction(own, target)
    assert m.shape == (3, 4)
    corrected = cv2.transform(image.astype(np.float32), m)
    pixels = corrected[mask > 0].astype(np.float64) @ colour.OPPONENT.T
    np.testing.assert_allclose(pixels.mean(axis=0), target[:3], atol=0.05)
    np.testing.assert_allclose(pixels.std(axis=0), target[3:], rtol=1e-3)
    np.testing.assert_allclose(colour.correction(own, target, 0.3), 0.3 * m, atol=1e-5)
    np.testing.assert_allclose(colour.correction(own, own), np.eye(3, 4), atol=1e-5)


def test_morph_returns_the_keyframes_at_the_ends(posed_pair):
    morph = get_method("morph")()
    morph.prepare(posed_pair, size=SIZE)
    first, last = morph.transition(0, np.array([0.0, 1.0]))
    np.testing.assert_array_equal(first, posed_pair[0].image)
    np.testing.assert_array_equal(last, posed_pair[1].image)


def test_morph_middle_frame_is_one_face_unlike_the_cross_fade(posed_pair):
    morph = get_method("morph")()
    morph.prepare(posed_pair, size=SIZE)
    crossfade = get_method("crossfade")()
    crossfade.prepare(posed_pair, size=SIZE)
    half = np.array([0.5])
    expected = morph.landmarks_at(0, half)[0]
    np.testing.assert_allclose(
        expected, (posed_pair[0].landmarks + posed_pair[1].landmarks) / 2, atol=1e-3
    )
    morph_error = _landmark_error(next(morph.transition(0, half)), expected)
    cross_error = _landmark_error(next(crossfade.transition(0, half)), expected)
    keyframe_error = _landmark_error(posed_pair[0].image, posed_pair[0].landmarks)
    assert morph_error < max(2.0, 2 * keyframe_error)
    assert cross_error > 2.5 * morph_error


def test_morph_between_two_people_stays_one_face(astro, portrait_faces):
    other = portrait_faces.aligned("hanks", SIZE)
    keyframes = [Keyframe(*astro, 30.0), Keyframe(*other, 40.0)]
    morph = get_method("morph")()
    morph.prepare(keyframes, size=SIZE)
    half = np.array([0.5])
    assert _landmark_error(next(morph.transition(0, half)), morph.landmarks_at(0, half)[0]) < 2.5


def _three_poses(astro):
    image, landmarks = astro
    b, lb, _ = _moved(image, landmarks, angle=1.0, scale=1.0, shift=(4.0, 0.0))
    c, lc, _ = _moved(image, landmarks, angle=2.0, scale=1.0, shift=(20.0, 0.0))
    return [Keyframe(image, landmarks, 1.0), Keyframe(b, lb, 2.0), Keyframe(c, lc, 3.0)]


@pytest.mark.parametrize("smooth", [True, False])
def test_landmark_paths_do_not_kink_at_a_keyframe(astro, smooth):
    """The face moves about 4 px then 16 px: a smooth path changes speed gradually, a linear one jumps."""
    keyframes = [kf.copy(time=float(i)) for i, kf in enumerate(_three_poses(astro))]
    morph = get_method("morph")(smooth=smooth)
    morph.prepare(keyframes, size=SIZE)
    d = 24
    before = morph.landmarks_at(0, np.array([1 - 1 / d, 1.0]))
    after = morph.landmarks_at(1, np.array([0.0, 1 / d]))
    np.testing.assert_allclose(before[1], after[0], atol=1e-4)  # passes through the keyframe
    v_before = np.linalg.norm(before[1] - before[0], axis=1).mean()
    v_after = np.linalg.norm(after[1] - after[0], axis=1).mean()
    ratio = max(v_before, v_after) / min(v_before, v_after)
    if smooth:
        assert ratio < 1.3
    else:
        assert ratio > 3.0


def test_colour_harmonisation_makes_lighting_flow(astro):
    """Exposure rises a little, then a lot: harmonised, the brightness curve bends smoothly at the middle photo."""
    image, landmarks = astro
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)

    def exposed(gain: float) -> np.ndarray:
        shifted = lab.copy()
        shifted[..., 0] = np.clip(shifted[..., 0] * gain, 0, 100)
        rgb = cv2.cvtColor(shifted, cv2.COLOR_Lab2RGB)
        return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)

    keyframes = [Keyframe(exposed(g), landmarks, float(i)) for i, g in enumerate((0.7, 0.77, 1.15))]
    mask = colour.face_mask(landmarks, SIZE)
    d = 12

    def brightness(harmonize: bool) -> tuple[float, float]:
        timed = [kf.copy(time=float(i)) for i, kf in enumerate(keyframes)]
        morph = get_method("morph")(harmonize=harmonize)
        morph.prepare(timed, size=SIZE)
        lams = np.array([1 - 1 / d, 1.0 - 1e-9])
        tail = [colour.stats(f, mask)[0] for f in morph.transition(0, lams)]  # mean luma
        head = [colour.stats(f, mask)[0] for f in morph.transition(1, np.array([1e-9, 1 / d]))]
        return tail[1] - tail[0], head[1] - head[0]

    smooth_before, smooth_after = brightness(True)
    plain_before, plain_after = brightness(False)
    assert smooth_before > 0 and smooth_after > 0
    smooth_ratio = smooth_after / smooth_before
    plain_ratio = plain_after / plain_before
    assert smooth_ratio < 1.6
    assert plain_ratio > 2.5


def test_morph_speed_does_not_depend_on_keyframe_count(astro):
    """Only the current pair of keyframes is kept in float form (memory flat in album size)."""
    keyframes = _three_poses(astro) * 2
    morph = get_method("morph")()
    morph.prepare(keyframes, size=SIZE)
    for j in range(len(keyframes) - 1):
        list(morph.transition(j, np.array([0.5])))
        assert len(morph._cache) <= 2


def test_frames_are_built_only_a_few_ahead_and_handed_out_in_order():
    import threading
    import time

    from pipeline.methods.morph import pool

    started: list[int] = []
    lock = threading.Lock()

    def frame(i: int) -> np.ndarray:
        with lock:
            started.append(i)
        time.sleep(0.002)
        return np.full((4, 4, 3), i % 256, np.uint8)

    bound = pool.workers() + 1
    out = []
    for k, image in enumerate(pool.ordered_frames(frame, 40)):
        assert int(image[0, 0, 0]) == k  # in order
        with lock:
            assert max(started) <= k + bound  # never more than a few frames ahead
        time.sleep(0.004)  # a slow consumer (the encoder)
        out.append(k)
    assert out == list(range(40)) and sorted(started) == list(range(40))
