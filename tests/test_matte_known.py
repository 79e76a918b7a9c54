"""The matte against a known answer: people with a known alpha composited onto busy
backgrounds beside a second person, and hair reaching the crop's edge on real photos.

The known alpha of a person is the matte of their photo on its own plain backdrop;
composited onto a new background with ``I = A F + (1 - A) B``, the person in the new
image is exactly A, whatever A is, so the matte of the composite must find A again.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from pipeline import faces
from pipeline.crop_store import AlignedCrop
from pipeline.faces import ffhq_transform, transform_points
from pipeline.matte import face_region, person_matte
from pipeline.matte_edges import foreground_colours, settle_outline
from pipeline.render import RenderSettings, plan_render
from pipeline.render.keyframes import keyframes_from_analysis
from pipeline.types import Analysis, FaceRecord, PhotoRecord

SIZE = 512
EDISON = Path(__file__).resolve().parent.parent.parent / "shared" / "examples" / "edison"
ZOOM = 1.25  # the astronaut enlarged about the crop's centre: her hair then leaves the frame
BOUNDARY_PX = 2.0  # mean px between the found and the known outline, as the issue asks


def _zoomed(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = cv2.getRotationMatrix2D(((SIZE - 1) / 2, (SIZE - 1) / 2), 0.0, ZOOM)
    out = cv2.warpAffine(
        image, m, (SIZE, SIZE), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    return out, transform_points(m, landmarks)


@pytest.fixture(scope="module")
def people() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(image, landmarks, known alpha) of the astronaut, the astronaut zoomed (her hair
    leaves the frame at the top) and young Edison, each from a photo on a plain backdrop."""
    out = {}
    astro = data.astronaut()
    image, landmarks = faces.align_face(astro, faces.detect_faces(astro)[0].landmarks, SIZE)
    out["astronaut"] = (image, landmarks, person_matte(image, landmarks))
    image, landmarks = _zoomed(image, landmarks)
    out["zoomed"] = (image, landmarks, person_matte(image, landmarks))
    photo = np.asarray(Image.open(sorted(EDISON.glob("*.png"))[0]).convert("RGB"))
    image, landmarks = faces.align_face(photo, faces.detect_faces(photo)[0].landmarks, SIZE)
    out["edison"] = (image, landmarks, person_matte(image, landmarks))
    return out


def _background(name: str) -> np.ndarray:
    picture = {
        "coffee": data.coffee,
        "cat": data.chelsea,
        "bricks": lambda: cv2.cvtColor(data.brick(), cv2.COLOR_GRAY2RGB),
        "grass": lambda: cv2.cvtColor(data.grass(), cv2.COLOR_GRAY2RGB),
    }[name]()
    return cv2.resize(picture, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def _over(top: np.ndarray, alpha: np.ndarray, under: np.ndarray) -> np.ndarray:
    a = alpha[..., None].astype(np.float32)
    return np.clip(top * a + under * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def _boundary_error(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance (px) from each outline pixel of one mask to the other's outline, both ways."""

    def outline(mask: np.ndarray) -> np.ndarray:
        m = mask.astype(np.uint8)
        return (m - cv2.erode(m, np.ones((3, 3), np.uint8))) > 0

    a, b = outline(found), outline(truth)
    to_b = cv2.distanceTransform((~b).astype(np.uint8), cv2.DIST_L2, 5)
    to_a = cv2.distanceTransform((~a).astype(np.uint8), cv2.DIST_L2, 5)
    return float((to_b[a].sum() + to_a[b].sum()) / (a.sum() + b.sum()))


@pytest.mark.parametrize("background", ["coffee", "cat", "bricks", "grass"])
def test_the_matte_finds_the_known_person_on_a_busy_background_beside_another(people, background):
    image, landmarks, alpha = people["astronaut"]
    other_image, other_lm, other_alpha = people["edison"]
    # The neighbour stands in front, two thirds of the frame to the side and smaller: the
    # target is what the neighbour leaves of her.
    shift = np.float32([[0.8, 0, 0.68 * SIZE], [0, 0.8, 0.1 * SIZE]])
    n_image = cv2.warpAffine(other_image, shift, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
    n_alpha = cv2.warpAffine(other_alpha, shift, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
    scene = _over(n_image, n_alpha, _over(image, alpha, _background(background)))
    truth = alpha * (1.0 - n_alpha)
    matte = person_matte(scene, landmarks, others=[transform_points(shift, other_lm)])
    found, known = matte >= 0.5, truth >= 0.5
    iou = (found & known).sum() / (found | known).sum()
    assert iou >= 0.95, (background, iou)
    # Measured 1.0 (coffee), 1.8 (cat: hair tips against ginger fur and beside the
    # neighbour), 1.5 (bricks), 1.3 px (grass).
    assert _boundary_error(found, known) <= BOUNDARY_PX, background
    neighbour = (n_alpha >= 0.5) & ~known
    assert neighbour.sum() > 5000
    assert matte[neighbour].mean() < 0.01, "the neighbour is in the target's matte"
    assert matte[face_region(landmarks, SIZE) > 0].min() == 1.0


def test_hair_reaching_the_crops_edge_is_kept_to_the_edge(people):
    # The zoomed astronaut: her hair leaves the frame at the top, above her brows.
    image, landmarks, truth = people["zoomed"]
    x0, x1 = int(landmarks[19, 0]), int(landmarks[24, 0])
    assert np.median(image[0, x0:x1].astype(int).sum(axis=1)) < 450  # hair there, not backdrop
    assert truth[:3, x0:x1].min() == 1.0
    # Long hair leaving the group photo's crop at the bottom, beside the chin (the second
    # woman from the left in insightface's t1.jpg), and the neighbours out.
    folder = importlib.util.find_spec("insightface").submodule_search_locations[0]
    group = np.asarray(Image.open(Path(folder) / "data" / "images" / "t1.jpg").convert("RGB"))
    found = faces.detect_faces(group)
    target = min(found, key=lambda f: f.landmarks[:, 0].mean())  # leftmost
    target = min((f for f in found if f is not target), key=lambda f: f.landmarks[:, 0].mean())
    aligned, lm = faces.align_face(group, target.landmarks, SIZE)
    m = ffhq_transform(target.landmarks, SIZE)
    others = [transform_points(m, f.landmarks) for f in found if f is not target]
    matte = person_matte(aligned, lm, others=others)
    chin_y = int(lm[8, 1])
    for x in (int(lm[2, 0]) - 20, int(lm[14, 0]) + 20):  # hair on both sides of the jaw
        assert matte[chin_y:, x].min() == 1.0, x


def test_no_pixel_of_a_plain_background_corner_is_kept(people):
    for name in ("astronaut", "edison"):
        _, _, matte = people[name]
        c = SIZE // 8
        for corner in (matte[:c, :c], matte[:c, -c:]):
            assert corner.max() == 0.0, name


def test_the_same_photo_always_gets_the_same_matte(people):
    # The colour model starts from random k-means: seeded, renders repeat exactly.
    image, landmarks, matte = people["edison"]
    np.testing.assert_array_equal(person_matte(image, landmarks), matte)


def _group_record(group: np.ndarray, found: list, chosen: int, order: int) -> PhotoRecord:
    aligned, landmarks = faces.align_face(group, found[chosen].landmarks, SIZE)
    h, w = group.shape[:2]
    return PhotoRecord(
        file=f"group{order}.jpg",
        sha256=f"{order:064d}",
        width=w,
        height=h,
        faces=[FaceRecord(box=(0, 0, 1, 1), landmarks=f.landmarks) for f in found],
        chosen_face=chosen,
        age=30.0 + order,
        age_source="estimate",
        include=True,
        order=order,
        crop=AlignedCrop(aligned, landmarks),
    )


def test_the_renderer_gives_the_matte_the_other_faces_of_the_photo():
    # insightface's t1.jpg as an album of six photos, each with another of its people chosen:
    # the keyframes carry the other faces and the photo's corners in crop pixels, and the
    # render's mattes are made with them (the group test in test_matte.py checks that the
    # matte then leaves a neighbour out).
    folder = importlib.util.find_spec("insightface").submodule_search_locations[0]
    group = np.asarray(Image.open(Path(folder) / "data" / "images" / "t1.jpg").convert("RGB"))
    found = sorted(faces.detect_faces(group), key=lambda f: f.landmarks[:, 0].mean())
    analysis = Analysis(
        photos=[_group_record(group, found, i, i) for i in range(len(found))], size=SIZE
    )
    size = 256
    keyframes = keyframes_from_analysis(analysis, size)
    plan = plan_render(keyframes, RenderSettings(size=size, caption="none", background="soft"))
    # The photos as the matte saw them (the backdrop then recolours their soft edge pixels).
    photos = [kf.image for kf in plan.keyframes]
    plan.apply_background()
    h, w = group.shape[:2]
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    differ = 0
    for chosen, kf in enumerate(plan.keyframes):
        matrix = ffhq_transform(found[chosen].landmarks, size)
        np.testing.assert_allclose(
            transform_points(matrix, found[chosen].landmarks), kf.landmarks, atol=0.5
        )
        others = kf.other_faces
        expected = [
            transform_points(matrix, f.landmarks) for i, f in enumerate(found) if i != chosen
        ]
        assert len(others) == len(expected) == len(found) - 1
        for got, want in zip(others, expected):
            np.testing.assert_allclose(got, want, atol=1e-3)
        np.testing.assert_allclose(kf.photo_corners, transform_points(matrix, corners), atol=1e-3)
        photo = photos[chosen]
        with_them = person_matte(photo, kf.landmarks, others=others, photo=corners_of(kf))
        np.testing.assert_array_equal(kf.matte, with_them)
        differ += not np.array_equal(kf.matte, person_matte(photo, kf.landmarks))
    assert differ >= 1  # a neighbour reaches into one of these crops: there they count


def corners_of(kf) -> np.ndarray:
    return kf.photo_corners


@pytest.mark.parametrize(("background", "share"), [("cat", 0.6), ("grass", 1.0)])
def test_soft_edge_pixels_get_the_persons_colour_not_the_old_backgrounds(people, background, share):
    # The astronaut composited with her known (soft-edged) alpha onto a new background: at
    # the edge the photo mixes her colours with the background's; the estimate takes the
    # background back out (measured: about half the error left on the cat, coffee and
    # bricks; on the busy grass, whose local mean is not what lies behind, a little less).
    image, _, alpha = people["astronaut"]
    scene = _over(image, alpha, _background(background))
    soft = (alpha > 0.2) & (alpha < 0.8)
    assert soft.sum() > 500
    estimate = foreground_colours(scene, alpha)
    error = np.abs(estimate[soft].astype(float) - image[soft]).mean()
    mixed = np.abs(scene[soft].astype(float) - image[soft]).mean()
    assert error < share * mixed, (error, mixed)
    outside_band = (alpha == 0.0) | (alpha == 1.0)
    np.testing.assert_array_equal(estimate[outside_band], scene[outside_band])


def _colour_model(means: list[tuple[float, float, float]], spread: float) -> np.ndarray:
    """A GrabCut colour model in OpenCV's layout: equal weights, round Gaussians."""
    k = 5
    model = np.zeros((1, 65), np.float64)
    model[0, : len(means)] = 1.0 / len(means)
    model[0, k : k + 3 * len(means)] = np.ravel(means)
    for i in range(len(means)):
        model[0, 4 * k + 9 * i : 4 * k + 9 * (i + 1)] = (np.eye(3) * spread**2).ravel()
    return model


def test_at_the_outline_the_network_decides_where_colours_are_alike_and_colours_where_not():
    # A brown person (columns < 16) against fur of nearly the same brown (top half) and a
    # blue wall (bottom half).
    n, edge = 32, 16
    person_rgb, fur, wall = (120.0, 90.0, 60.0), (128.0, 96.0, 60.0), (60.0, 90.0, 160.0)
    small = np.empty((n, n, 3), np.uint8)
    small[:, :edge] = person_rgb
    small[: n // 2, edge:] = fur
    small[n // 2 :, edge:] = wall
    models = (_colour_model([person_rgb], 8.0), _colour_model([fur, wall], 8.0))
    undecided = np.ones((n, n), bool)
    ratio = np.zeros((n, n), np.float32)
    fur_rows, wall_rows = slice(4, n // 2 - 4), slice(n // 2 + 4, n - 4)
    columns = np.arange(n)[None].repeat(n, 0)
    # GrabCut's outline 2 px short; the network knows where the person ends: over the fur,
    # where the colours cannot tell, it moves the outline there.
    short = columns < edge - 2
    prob = np.where(columns < edge, 0.99, 0.01).astype(np.float32)
    out = settle_outline(small, prob, ratio, short, undecided, models)
    assert out[fur_rows, :edge].all() and not out[fur_rows, edge:].any()
    # GrabCut's outline 1 px beyond and the network sure of 2 px too many: against the wall
    # the colours take them out; in the fur the network keeps them.
    wide = columns < edge + 1
    prob = np.where(columns < edge + 2, 0.99, 0.01).astype(np.float32)
    out = settle_outline(small, prob, ratio, wide, undecided, models)
    assert out[wall_rows, :edge].all() and not out[wall_rows, edge:].any()
    assert out[fur_rows, : edge + 2].all() and not out[fur_rows, edge + 2 :].any()
    # Pixels GrabCut was seeded with (not undecided) keep its answer.
    out = settle_outline(small, prob, ratio, wide, np.zeros((n, n), bool), models)
    np.testing.assert_array_equal(out, wide)


def _beside_the_turned_cheek(landmarks: np.ndarray) -> np.ndarray:
    """[SIZE, SIZE] bool: beyond the jaw line on the side the face is turned to, from the
    brows to the middle of the jaw: where a three-quarter view shows no ear, only its cheek."""
    lm = np.asarray(landmarks, np.float64)
    eyes = lm[42:48].mean(0) - lm[36:42].mean(0)
    ex = eyes / np.linalg.norm(eyes)
    ey = np.array([-ex[1], ex[0]])
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    across, down = xs * ex[0] + ys * ex[1], xs * ey[0] + ys * ey[1]
    lat, along = lm @ ex, lm @ ey
    if lat[30] - lat[0] < lat[16] - lat[30]:  # the nose nearer the jaw's start: turned that way
        beyond = across < lat[0:5].min()
    else:
        beyond = across > lat[12:17].max()
    return beyond & (down > along[17:27].min()) & (down < along[[3, 13]].max())


@pytest.mark.parametrize(
    ("name", "mirrored", "most"), [("hanks", False, 0.03), ("edison", True, 0.015)]
)
def test_a_lit_background_of_skin_colour_beside_a_turned_cheek_stays_out(
    people, hanks, name, mirrored, most
):
    # Faces turned well aside (Hanks to the right, young Edison to the left) on the cat's
    # ginger fur, which the network takes for the person beside the cheek. Measured share of
    # that fur kept: 0.017 (Hanks) and 0.003 (Edison), against 0.068 and 0.087 when the
    # network's certainty there was taken as the person's; their own edge there 0.97.
    if name == "hanks":
        image, landmarks = faces.align_face(hanks, faces.detect_faces(hanks)[0].landmarks, SIZE)
        alpha = person_matte(image, landmarks)
    else:
        image, landmarks, alpha = people[name]
    fur = _background("cat")
    if mirrored:
        fur = np.ascontiguousarray(fur[:, ::-1])
    matte = person_matte(_over(image, alpha, fur), landmarks)
    beside = _beside_the_turned_cheek(landmarks)
    assert (beside & (alpha < 0.5)).sum() > 10000
    assert matte[beside & (alpha < 0.5)].mean() < most, name
    assert matte[beside & (alpha >= 0.5)].mean() > 0.9, name  # the person's own edge kept
    assert matte[face_region(landmarks, SIZE) > 0].min() == 1.0


def test_the_lit_wall_beside_a_turned_cheek_in_a_group_photo_stays_out():
    # The second woman from the left in insightface's t1.jpg turns well aside, her cheek
    # against a lit wall of her skin's colour that the network is sure is a person: a pale
    # wedge beside her face. Measured share of the wall kept from 0.05 jaw widths beyond
    # her jaw line: 0.002 (0.195 when the network's certainty there was the person's).
    folder = importlib.util.find_spec("insightface").submodule_search_locations[0]
    group = np.asarray(Image.open(Path(folder) / "data" / "images" / "t1.jpg").convert("RGB"))
    found = sorted(faces.detect_faces(group), key=lambda f: f.landmarks[:, 0].mean())
    target = found[1]
    aligned, lm = faces.align_face(group, target.landmarks, SIZE)
    m = ffhq_transform(target.landmarks, SIZE)
    h, w = group.shape[:2]
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    matte = person_matte(
        aligned,
        lm,
        others=[transform_points(m, f.landmarks) for f in found if f is not target],
        photo=transform_points(m, corners),
    )
    lm = np.asarray(lm, np.float64)
    eyes = lm[42:48].mean(0) - lm[36:42].mean(0)
    ex = eyes / np.linalg.norm(eyes)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    jaw_width = np.linalg.norm(lm[16] - lm[0])
    wall = _beside_the_turned_cheek(lm) & (
        xs * ex[0] + ys * ex[1] < (lm[0:5] @ ex).min() - 0.05 * jaw_width
    )
    assert wall.sum() > 20000
    assert matte[wall].mean() < 0.03
    assert matte[face_region(lm, SIZE) > 0].min() == 1.0
