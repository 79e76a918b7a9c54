"""Person matte, steady backdrop, moving outlines and fold-free morph on real photos.

Photos: skimage's astronaut, the insightface wheel's group photo, the Edison
album and two FG-NET age series (scanned, some grey) from ../shared/fixtures.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline import faces
from pipeline.errors import UsageError
from pipeline.faces import ffhq_transform, transform_points
from pipeline.matte import (
    extend_colours,
    face_region,
    person_matte,
    person_probability,
    undecided_share,
)
from pipeline.methods.base import Keyframe, TransitionMethod, get_method, register_method
from pipeline.methods.morph.folds import fold_free_triangulation, folded
from pipeline.methods.morph.outline import outline_points
from pipeline.render import RenderSettings, plan_render
from pipeline.render.backdrop import composite, parse_background, soft_backdrop

SIZE = 256
ROOT = Path(__file__).resolve().parent.parent
AGES = ROOT.parent / "shared" / "fixtures" / "ages"
EDISON = ROOT.parent / "shared" / "examples" / "edison"


def _aligned(image: np.ndarray, face=None, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    face = face or faces.detect_faces(image)[0]
    return faces.align_face(image, face.landmarks, size)


def _photo_corners(image: np.ndarray, face, size: int = SIZE) -> np.ndarray:
    """The photo's corners in its aligned crop (as the renderer passes them to the matte)."""
    h, w = image.shape[:2]
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    return transform_points(ffhq_transform(face.landmarks, size), corners)


def _album(paths: list[Path], size: int = SIZE, matte: bool = True) -> list[Keyframe]:
    out = []
    for i, path in enumerate(paths):
        image = np.asarray(Image.open(path).convert("RGB"))
        found = faces.detect_faces(image)
        assert found, f"no face in {path.name}"
        aligned, landmarks = _aligned(image, found[0], size)
        kf = Keyframe(aligned, landmarks, float(i), label=path.name)
        if matte:
            corners = _photo_corners(image, found[0], size)
            kf = kf.copy(matte=person_matte(aligned, landmarks, photo=corners))
        out.append(kf)
    return out


@pytest.fixture(scope="module")
def edison() -> list[Keyframe]:
    return _album(sorted(EDISON.glob("*.png")))


@pytest.fixture(scope="module")
def fgnet() -> dict[str, list[Keyframe]]:
    """Every fourth photo of both FG-NET series (childhood to adulthood, colour and grey scans)."""
    return {
        person: _album(sorted((AGES / person).glob("*.JPG"))[::4])
        for person in ("fgnet_001", "fgnet_002")
    }


def _inner_face(landmarks: np.ndarray) -> np.ndarray:
    """The face region shrunk past the matte's soft edge (the face may touch the outline)."""
    return cv2.erode(face_region(landmarks, SIZE), np.ones((7, 7), np.uint8)) > 0


def test_matte_covers_face_and_hair_and_leaves_plain_corners_out(astronaut):
    image, landmarks = _aligned(astronaut)
    matte = person_matte(image, landmarks)
    assert matte.shape == (SIZE, SIZE) and matte.dtype == np.float32
    assert matte.min() >= 0.0 and matte.max() <= 1.0
    assert matte[_inner_face(landmarks)].min() == 1.0
    # Hair: a band above the brows, inside the head (her hair is a brown helmet there).
    brow_y = int(landmarks[17:27, 1].min())
    x0, x1 = int(landmarks[17, 0]), int(landmarks[26, 0])
    hair = matte[max(brow_y - 40, 0) : brow_y - 15, x0:x1]
    assert hair.mean() > 0.95
    # The plain background at the top corners is out, exactly.
    c = SIZE // 10
    assert matte[:c, :c].max() == 0.0 and matte[:c, -c:].max() == 0.0
    # The edge is feathered: some pixels in between, but only a thin band.
    soft = (matte > 0.0) & (matte < 1.0)
    assert 0.002 < soft.mean() < 0.08


def test_grey_scan_keeps_the_matte(astronaut):
    image, landmarks = _aligned(astronaut)
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    faded = cv2.convertScaleAbs(grey, alpha=0.45, beta=110)  # a washed-out grey print
    a = person_matte(image, landmarks) > 0.5
    for variant in (grey, faded):
        b = person_matte(variant, landmarks) > 0.5
        assert (a & b).sum() / (a | b).sum() > 0.9


def test_a_second_person_in_a_group_photo_is_not_in_the_targets_matte(group):
    found = faces.detect_faces(group)
    assert len(found) >= 3
    checked = 0
    for target in found:
        # A square crop around the target wide enough to hold its nearest neighbour's face.
        centre = target.landmarks.mean(axis=0)
        others = [f for f in found if f is not target]
        near = min(others, key=lambda f: np.linalg.norm(f.landmarks.mean(axis=0) - centre))
        jaw = np.linalg.norm(target.landmarks[16] - target.landmarks[0])
        half = max(np.abs(near.landmarks.mean(axis=0) - centre).max() + 0.4 * jaw, 1.6 * jaw)
        x0, y0 = np.round(centre - half).astype(int)
        side = int(round(2 * half))
        pad = side
        padded = cv2.copyMakeBorder(group, pad, pad, pad, pad, cv2.BORDER_REFLECT101)
        crop = padded[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
        crop = cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        scale = SIZE / side
        mine = (target.landmarks - (x0, y0) + 0.5) * scale - 0.5
        theirs = (near.landmarks - (x0, y0) + 0.5) * scale - 0.5
        # The analysis knows every face of the photo: the others keep their people out.
        all_others = [(f.landmarks - (x0, y0) + 0.5) * scale - 0.5 for f in others]
        matte = person_matte(crop, mine, others=all_others)
        assert matte[_inner_face(mine)].min() == 1.0
        region = face_region(theirs, SIZE) > 0
        if region.sum() < 200:
            continue  # the neighbour's face is mostly outside the crop
        assert matte[region].mean() < 0.05, "the neighbour's face is inside the target's matte"
        checked += 1
    assert checked >= 3


def test_matte_of_the_fgnet_series_covers_every_face(fgnet):
    for keyframes in fgnet.values():
        for kf in keyframes:
            assert kf.matte[_inner_face(kf.landmarks)].min() == 1.0, kf.label
            assert 0.2 < kf.matte.mean() < 0.9, kf.label


def test_background_settings_parse_and_reject():
    assert parse_background("original").steady is False
    assert parse_background("soft").kind == "soft"
    assert parse_background("#336699").colour == (0x33, 0x66, 0x99)
    assert parse_background("White").colour == (255, 255, 255)
    for bad in ("blurry", "#12345", 3, None):
        with pytest.raises(UsageError, match="Background"):
            parse_background(bad)
    with pytest.raises(UsageError, match="Background"):
        RenderSettings(background="sparkles").validate()


def test_soft_backdrop_takes_the_photos_background_colours(edison):
    backdrop = soft_backdrop(edison, SIZE)
    assert backdrop.shape == (SIZE, SIZE, 3) and backdrop.dtype == np.uint8
    bg_means = [kf.image[kf.matte == 0].mean() for kf in edison]
    assert min(bg_means) - 10 <= backdrop.mean() <= max(bg_means) + 10
    # Soft: no detail, only a gentle gradient.
    grey = cv2.cvtColor(backdrop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    assert np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 4)).max() <= 3.0


@pytest.mark.parametrize("method", ["morph", "crossfade"])
def test_pixels_outside_both_mattes_stay_still_on_the_steady_backdrop(edison, method):
    settings = RenderSettings(
        method=method, size=SIZE, frames_between=8, caption="none", background="soft"
    )
    plan = plan_render(edison, settings)
    frames = np.stack(list(plan.frames())).astype(np.int16)
    assert plan.backdrop is not None
    starts = plan.timing.keyframe_indices
    for j in range(len(edison) - 1):
        outside = (plan.keyframes[j].matte == 0) & (plan.keyframes[j + 1].matte == 0)
        assert outside.mean() > 0.1
        span = frames[starts[j] : starts[j + 1] + 1]
        assert np.abs(np.diff(span, axis=0))[:, outside].max() == 0
        assert np.abs(span[:, outside] - plan.backdrop[outside]).max() <= 1
    # The original setting, for contrast, dissolves the backgrounds.
    plain = plan_render(
        edison,
        RenderSettings(
            method=method, size=SIZE, frames_between=8, caption="none", background="original"
        ),
    )
    moving = np.stack(list(plain.frames())).astype(np.int16)
    assert np.abs(np.diff(moving[: starts[1] + 1], axis=0)).mean() > 0.3


def test_plain_colour_backdrop_and_the_report_records_the_setting(edison, tmp_path):
    from pipeline.render import render

    settings = RenderSettings(size=SIZE, frames_between=4, caption="none", background="#204060")
    result = render(edison, settings=settings, video=None, report=tmp_path / "r.json")
    assert result.report["background"]["setting"] == "#204060"
    assert result.report["background"]["steady"] is True
    assert result.report["settings"]["background"] == "#204060"
    plan = plan_render(edison, settings)
    first = next(plan.frames())
    corner = first[:8, :8].reshape(-1, 3)
    assert np.abs(corner.astype(int) - (0x20, 0x40, 0x60)).max() <= 1


def _middle_band(keyframes: list[Keyframe], background: str) -> tuple[float, float]:
    """Undecided share of the person probability around the head (top 60% of the frame):
    (on the middle frame of the transition, on the wider of its two end frames)."""
    settings = RenderSettings(size=SIZE, frames_between=8, caption="none", background=background)
    frames = list(plan_render(keyframes, settings).frames())
    head = int(SIZE * 0.6)
    band = [undecided_share(person_probability(frames[i])[:head]) for i in (0, 4, 8)]
    return band[1], max(band[0], band[2])


@pytest.mark.slow
def test_the_middle_frame_between_two_hairstyles_shows_one_outline(edison):
    # Dark parted hair at 31 and white hair at 75; a boy's cut and a man's; a girl's bob and
    # a woman's long hair. The ends are the output's own keyframe frames (same backdrop).
    boy = _album([AGES / "fgnet_001" / "001A02.JPG", AGES / "fgnet_001" / "001A40.JPG"])
    girl = _album([AGES / "fgnet_002" / "002A07.JPG", AGES / "fgnet_002" / "002A29.JPG"])
    for pair in ([edison[0], edison[2]], boy, girl):
        mid, ends = _middle_band(pair, "soft")
        assert mid <= ends, (pair[0].label, pair[1].label, mid, ends)
    # The measure does see ghosts: with the photos' own backgrounds both hair outlines
    # show in the middle frame, and its undecided band is wider than either end's.
    for pair in ([edison[0], edison[2]], boy):
        mid, ends = _middle_band(pair, "original")
        assert mid > ends * 1.15, (pair[0].label, pair[1].label, mid, ends)


def test_outline_points_stay_ordered_along_the_path(edison, fgnet):
    for keyframes in [edison, *fgnet.values()]:
        morph = get_method("morph")()
        morph.backdrop = soft_backdrop(keyframes, SIZE)
        morph.prepare(keyframes, size=SIZE)
        lambdas = np.linspace(0.0, 1.0, 41)
        for j in range(len(keyframes) - 1):
            polar = morph.outline_path.at(j, lambdas)  # [F, 2 + K]
            assert polar[:, 2:].min() > 0
            pts = outline_points(polar)
            rel = pts - polar[:, None, :2]
            angles = np.unwrap(np.arctan2(rel[..., 1], rel[..., 0]), axis=1)
            # Strictly increasing angle around the centre: a simple, uncrossed outline.
            assert np.all(np.diff(angles, axis=1) > 0)
            assert np.all(angles[:, -1] - angles[:, 0] < 2 * np.pi)


def test_no_triangle_flips_along_any_transition_of_the_test_albums(edison, fgnet):
    lambdas = np.linspace(0.0, 1.0, 25)
    for keyframes in [edison, *fgnet.values()]:
        for matted in (False, True):
            morph = get_method("morph")()
            if matted:
                morph.backdrop = soft_backdrop(keyframes, SIZE)
            morph.prepare(keyframes, size=SIZE)
            for j in range(len(keyframes) - 1):
                frames = list(morph.transition(j, lambdas))
                assert len(frames) == len(lambdas)
                warper = morph._warper
                assert warper is not None and warper[0] == j
                shapes = morph.shapes_at(j, np.concatenate([lambdas, np.linspace(0, 1, 101)]))
                assert not folded(shapes, warper[1].triangles, morph._reference(j)).any()
                # And every output sample lies in a triangle (no hole, no seam).
                ids = warper[1]._triangle_ids(shapes[len(lambdas) // 2])
                assert (ids < len(warper[1].triangles)).all()


def test_a_fold_is_found_and_removed_locally():
    # A square of fixed corners with two free points that swap places along the path.
    corners = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], np.float64)
    a = np.concatenate([corners, [[30, 50], [70, 50], [50, 20]]])
    b = np.concatenate([corners, [[70, 50], [30, 50], [50, 20]]])
    path = np.stack([(1 - t) * a + t * b for t in np.linspace(0, 1, 11)])
    movable = np.array([False] * 4 + [True] * 3)
    reference = (a + b) / 2
    reference[4:6, 1] += (-3.0, 3.0)  # the two swapping points meet midway: keep them apart
    kept, triangles = fold_free_triangulation(path, movable, reference)
    assert not folded(path, triangles, reference).any()
    assert set(range(4)) <= set(kept.tolist())  # the fixed corners stay
    assert len(kept) < 7  # something had to go, and only there


def test_composite_is_exact_where_the_matte_is_zero_or_one(astronaut):
    image, landmarks = _aligned(astronaut)
    matte = person_matte(image, landmarks)
    backdrop = np.full_like(image, 77)
    out = composite(image, matte, backdrop)
    np.testing.assert_array_equal(out[matte == 0], backdrop[matte == 0])
    np.testing.assert_array_equal(out[matte == 1], image[matte == 1])


def test_colours_are_carried_a_few_pixels_past_the_outline(astronaut):
    """Sampling across the outline reads the person's colours, not the photo's background:
    on the person the image is kept; just outside, each pixel is the mean of the person
    pixels near it; further out the image is untouched."""
    image, landmarks = _aligned(astronaut)
    matte = person_matte(image, landmarks)
    out = extend_colours(image, matte, reach=4)
    assert out.dtype == np.float32 and out.shape == image.shape
    inside = matte > 0
    np.testing.assert_array_equal(out[inside], image[inside].astype(np.float32))
    near = cv2.dilate(inside.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    ring = near & ~inside
    assert ring.sum() > 100
    far = ~near
    np.testing.assert_array_equal(out[far], image[far].astype(np.float32))
    ys, xs = np.nonzero(ring)
    for y, x in list(zip(ys, xs))[:: max(1, len(ys) // 25)]:
        window = (slice(max(y - 4, 0), y + 5), slice(max(x - 4, 0), x + 5))
        person = image[window][inside[window]].astype(np.float64)
        np.testing.assert_allclose(out[y, x], person.mean(axis=0), atol=1e-2)


def test_frames_next_to_a_keyframe_equal_its_composite(edison):
    """No pop at a keyframe with the matte and the backdrop: a frame a hair's breadth from
    a keyframe is that keyframe over the backdrop to within a grey level."""
    morph = get_method("morph")()
    morph.backdrop = soft_backdrop(edison, SIZE)
    morph.prepare(edison, size=SIZE)
    for count in (10, 2):  # a doubled copy, bicubic sampling
        frames = list(morph.transition(0, np.linspace(1e-4, 1 - 1e-4, count)))
        for frame, kf in ((frames[0], edison[0]), (frames[-1], edison[1])):
            expected = composite(kf.image, kf.matte, morph.backdrop).astype(np.int16)
            diff = np.abs(frame.astype(np.int16) - expected)
            assert diff.max() <= 1
            assert diff.mean() < 0.02


class _Generated(TransitionMethod):
    """A stand-in generative method: its frames are new images with a background of their own
    (a grey wash over the dissolve), as a StyleGAN generator's are."""

    name = "test-generated"
    label = "generated (test)"

    def prepare(self, keyframes: list[Keyframe], *, size: int) -> None:
        self.images = [kf.image.astype(np.float32) for kf in keyframes]

    def transition(self, j: int, lambdas: np.ndarray):
        for lam in np.asarray(lambdas, np.float64):
            mix = (1 - lam) * self.images[j] + lam * self.images[j + 1]
            wash = 40.0 * np.sin(np.pi * lam)  # the generator's own background drifts
            yield np.clip(mix + wash, 0, 255).astype(np.uint8)


def test_a_generative_method_gets_the_same_backdrop(edison):
    register_method(_Generated)
    assert _Generated.backdrop_mode == "frames"  # the default: composite every frame it yields
    settings = RenderSettings(
        method="test-generated",
        size=SIZE,
        frames_between=6,
        caption="none",
        background="soft",
        gamma=0.3,
    )
    plan = plan_render(edison[:2], settings)
    frames = np.stack(list(plan.frames())).astype(np.int16)
    assert plan.backdrop is not None
    outside = (plan.keyframes[0].matte == 0) & (plan.keyframes[1].matte == 0)
    corner = np.zeros_like(outside)
    corner[: SIZE // 6, : SIZE // 6] = True
    corner[: SIZE // 6, -SIZE // 6 :] = True
    steady = outside & corner
    assert steady.mean() > 0.02
    # The washed-out background of the generated frames is replaced by the one backdrop
    # (up to a few levels where a frame's own matte edge reaches the corners).
    diff = np.abs(frames[:, steady] - plan.backdrop[steady])
    assert np.percentile(diff, 99) <= 1 and diff.max() <= 4
    # ...while the person is what the method generated.
    face = _inner_face(plan.keyframes[0].landmarks)
    assert np.abs(frames[3][face] - plan.keyframes[0].image[face]).mean() > 5


def test_frames_built_ahead_on_threads_equal_frames_built_one_by_one(edison, monkeypatch):
    from pipeline.methods.morph import pool

    settings = RenderSettings(size=SIZE, frames_between=12, caption="none", background="soft")
    assert pool.workers() > 1 or (os.cpu_count() or 1) == 1
    ahead = np.stack(list(plan_render(edison, settings).frames()))
    monkeypatch.setattr(pool, "workers", lambda: 1)
    serial = np.stack(list(plan_render(edison, settings).frames()))
    np.testing.assert_array_equal(ahead, serial)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (Linux)")
def test_a_forked_process_builds_frames_ahead_too(edison):
    # A ZeroGPU-style worker is forked from a process whose frame pool already ran.
    import multiprocessing

    settings = RenderSettings(size=SIZE, frames_between=6, caption="none", background="soft")
    expected = np.stack(list(plan_render(edison, settings).frames()))
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as child:
        frames = child.apply_async(_render_frames, (edison, settings)).get(timeout=120)
    np.testing.assert_array_equal(frames, expected)


def _render_frames(keyframes, settings):
    return np.stack(list(plan_render(keyframes, settings).frames()))
