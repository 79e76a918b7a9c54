"""Face detection, landmarks, flags and FFHQ alignment on real photos with the real dlib models."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from pipeline import faces, models
from pipeline.types import FaceRecord

GRAY = (128, 128, 128)


def eye_centres(landmarks: np.ndarray) -> np.ndarray:
    """[2, 2]: image-left eye centre, image-right eye centre."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return np.stack([lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)])


def similarity_copy(image: np.ndarray, angle: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate (degrees, counter-clockwise) and scale a photo onto a canvas that holds all of it.

    Returns:
        (copy, matrix): the new photo and the [2, 3] matrix mapping original pixels to it.
    """
    h, w = image.shape[:2]
    first = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    if scale < 1:  # downscale with area averaging first, as a camera would see it
        nw, nh = round(w * scale), round(h * scale)
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        sx, sy = nw / w, nh / h
        first = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5]])
        h, w, scale = nh, nw, 1.0
    rot = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, scale)
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], dtype=np.float64)
    moved = corners @ rot[:, :2].T + rot[:, 2]
    rot[:, 2] -= moved.min(axis=0)
    out_w, out_h = (np.ceil(moved.max(axis=0) - moved.min(axis=0)) + 1).astype(int)
    copy = cv2.warpAffine(
        image, rot, (int(out_w), int(out_h)), flags=cv2.INTER_CUBIC, borderValue=GRAY
    )
    matrix = rot[:, :2] @ first[:, :2], rot[:, :2] @ first[:, 2] + rot[:, 2]
    return copy, np.concatenate([matrix[0], matrix[1][:, None]], axis=1)


@pytest.fixture(scope="module")
def detected(portrait_faces) -> dict[str, list]:
    return {name: portrait_faces.detected(name) for name in ("astronaut", "hanks", "group")}


def test_models_are_cached_and_per_thread_where_needed():
    models.load_all()
    folder = models.face_models_dir()
    assert (folder / "shape_predictor_68_face_landmarks.dat").is_file()
    assert models.shape_predictor() is models.shape_predictor()
    assert models.age_model() is models.age_model()
    assert models.hog_detector() is models.hog_detector()
    other: dict[str, object] = {}

    def build() -> None:
        other["hog"] = models.hog_detector()
        other["sp"] = models.shape_predictor()

    worker = threading.Thread(target=build)
    worker.start()
    worker.join()
    # dlib's detectors keep per-call state: each thread gets its own.
    assert other["hog"] is not models.hog_detector()
    assert other["sp"] is models.shape_predictor()


@pytest.mark.slow
def test_concurrent_calls_from_threads_agree(group, detected):
    """Gradio runs handlers in worker threads: detection and descriptors must stay correct."""
    expected = [f.box for f in detected["group"]]
    results: list[list] = []

    def work() -> None:
        for _ in range(2):
            found = faces.detect_faces(group)
            faces.compute_descriptors(group, found)
            results.append(found)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(results) == 4
    for found in results:
        assert [f.box for f in found] == expected
        assert np.allclose(
            np.stack([f.descriptor for f in found]),
            np.stack([f.descriptor for f in results[0]]),
            atol=1e-5,
        )


@pytest.mark.parametrize("name", ["astronaut", "hanks"])
def test_single_face_photos(detected, name, request):
    image = request.getfixturevalue(name)
    found = detected[name]
    assert len(found) == 1
    face = found[0]
    left, top, right, bottom = face.box
    assert 0 <= left < right < image.shape[1] and 0 <= top < bottom < image.shape[0]
    assert face.landmarks.shape == (68, 2) and face.landmarks.dtype == np.float32
    for eye in eye_centres(face.landmarks):  # eyes inside the box, in its upper half
        assert left <= eye[0] <= right and top <= eye[1] <= (top + bottom) / 2
    assert face.detector == "hog" and face.score > 0
    assert face.descriptor is None
    assert face.eye_distance == pytest.approx(
        np.hypot(*np.diff(eye_centres(face.landmarks), axis=0)[0])
    )


def test_astronaut_is_frontal_and_large_enough(detected):
    face = detected["astronaut"][0]
    assert face.flags == [] and face.reasons == []
    assert abs(face.yaw) < 10


def test_group_photo(detected, group):
    found = detected["group"]
    assert len(found) == 6
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in found]
    assert areas == sorted(areas, reverse=True)
    centres = np.array([[(f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2] for f in found])
    gaps = np.hypot(*(centres[:, None] - centres[None]).transpose(2, 0, 1))
    assert gaps[np.triu_indices(6, 1)].min() > 80  # six different people
    assert all(f.detector == "hog" for f in found)


def test_weak_detections_are_confirmed_by_the_cnn(astronaut):
    # HOG also fires weakly on the mission badge on her suit; the CNN check drops it.
    unchecked = faces.detect_faces(astronaut, verify=False)
    assert len(unchecked) == 2 and min(f.score for f in unchecked) < 0.5
    assert len(faces.detect_faces(astronaut)) == 1


def test_big_photo_is_detected_on_a_copy_with_full_resolution_coordinates(astronaut, detected):
    scale, x0, y0 = 5.0, 700, 200
    big = np.full((3000, 4000, 3), 90, np.uint8)
    big[y0 : y0 + 2560, x0 : x0 + 2560] = cv2.resize(
        astronaut, (2560, 2560), interpolation=cv2.INTER_CUBIC
    )
    found = faces.detect_faces(big)
    assert len(found) == 1
    face, small = found[0], detected["astronaut"][0]
    expected = (eye_centres(small.landmarks) + 0.5) * scale - 0.5 + (x0, y0)
    assert np.abs(eye_centres(face.landmarks) - expected).max() < 0.03 * face.eye_distance
    assert face.eye_distance == pytest.approx(small.eye_distance * scale, rel=0.05)
    box_centre = np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])
    assert np.abs(box_centre - expected.mean(axis=0)).max() < face.box[2] - face.box[0]
    assert 300 < face.box[2] - face.box[0] < 700


@pytest.mark.slow
def test_cnn_fallback_when_hog_finds_nothing(astronaut):
    blurred = np.asarray(Image.fromarray(astronaut).filter(ImageFilter.GaussianBlur(4)))
    assert faces.detect_faces(blurred) == []
    found = faces.detect_faces(blurred, use_cnn=True)
    assert len(found) == 1 and found[0].detector == "cnn"
    left, top, right, bottom = found[0].box
    assert left < 220 < right and top < 120 < bottom  # her face


def test_small_face_is_found_with_upsampling_and_flagged(astronaut):
    canvas = np.full((600, 800, 3), 200, np.uint8)
    canvas[300:428, 500:628] = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)
    found = faces.detect_faces(canvas)
    assert len(found) == 1
    face = found[0]
    assert "small" in face.flags
    assert "small" in face.reasons[face.flags.index("small")]
    assert 500 < face.box[0] < 628 and 300 < face.box[1] < 428


def test_turned_faces_are_flagged_side(detected, group):
    # Two people in t1.jpg are seen in 3/4 view (about 45 degrees): Joey (top
    # right) and Monica (upper left, behind); the four others face the camera
    # within about 25 degrees.
    found = detected["group"]
    side = {f.box for f in found if "side" in f.flags}
    centres = {f.box: ((f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2) for f in found}
    assert len(side) == 2
    assert {(round(centres[b][0], -2), round(centres[b][1], -2)) for b in side} == {
        (900.0, 100.0),
        (300.0, 200.0),
    }
    assert all(f.yaw < -40 for f in found if f.box in side)  # both look towards the image's left
    assert all(abs(f.yaw) < 30 for f in found if f.box not in side)
    # Mirrored photo: the same two faces are flagged, turned the other way.
    width = group.shape[1]
    mirrored = faces.detect_faces(np.ascontiguousarray(group[:, ::-1]))
    assert len(mirrored) == 6
    for face in mirrored:
        centre = (width - 1 - (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2)
        twin = min(found, key=lambda f: np.hypot(*np.subtract(centre, centres[f.box])))
        assert ("side" in face.flags) == ("side" in twin.flags)
        if abs(twin.yaw) > 10:
            assert np.sign(face.yaw) == -np.sign(twin.yaw)


def test_yaw_ignores_in_plane_rotation_and_scale(detected):
    for face in detected["group"]:
        lm = face.landmarks.astype(np.float64)
        for angle in (-35, 20, 90):
            m = cv2.getRotationMatrix2D((300.0, 200.0), angle, 1.7)
            moved = lm @ m[:, :2].T + m[:, 2]
            assert faces.estimate_yaw(moved) == pytest.approx(face.yaw, abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name, scales", [("astronaut", (0.5, 1.0, 3.0)), ("hanks", (1.0, 3.0))])
def test_alignment_is_invariant_to_rotation_and_scale(name, scales, detected, request):
    """The true eye centres land at the same place whatever the rotation and scale of the photo.

    Each copy is detected and landmarked afresh. The eye centres of the original
    photo, carried into each copy by the known transform, then into the copy's
    512 px alignment, must all land within 2 px of the same point. The
    astronaut's frontal, symmetric face must land on `canonical_eye_positions`.
    """
    image = request.getfixturevalue(name)
    original = detected[name][0].landmarks
    eyes = eye_centres(original)
    landed = [faces.transform_points(faces.ffhq_transform(original, 512), eyes)]
    for scale in scales:
        for angle in (-30, -10, 15, 30):
            copy, matrix = similarity_copy(image, angle, scale)
            found = faces.detect_faces(copy)
            assert len(found) == 1, (scale, angle)
            true_eyes = faces.transform_points(matrix, eyes)
            landed.append(
                faces.transform_points(faces.ffhq_transform(found[0].landmarks, 512), true_eyes)
            )
    landed = np.stack(landed)  # [copies, eye, xy]
    centre = landed.mean(axis=0)
    assert np.abs(landed - centre).max() <= 2.0, np.abs(landed - centre).max(axis=(1, 2))
    if name == "astronaut":
        lm = original.astype(np.float64)
        mouth = (lm[48] + lm[54]) / 2
        ratio = np.hypot(*(mouth - eyes.mean(axis=0))) / np.hypot(*(eyes[1] - eyes[0]))
        canonical = np.stack(faces.canonical_eye_positions(512, ratio))
        assert np.abs(landed - canonical).max() <= 2.0


def test_aligned_crop_content_matches_its_landmarks(astronaut, detected):
    landmarks = detected["astronaut"][0].landmarks
    aligned, mapped = faces.align_face(astronaut, landmarks, 512)
    # Landmarks found on the crop itself agree with the mapped ones.
    found = faces.face_landmarks(aligned, faces.aligned_face_box(512))
    assert np.abs(eye_centres(found) - eye_centres(mapped)).max() < 2.0
    assert np.abs(found - mapped).mean() < 3.0


@pytest.mark.parametrize("size", [256, 512, 1024, 300])
def test_alignment_sizes(size, astronaut, detected):
    landmarks = detected["astronaut"][0].landmarks
    aligned, mapped = faces.align_face(astronaut, landmarks, size)
    assert aligned.shape == (size, size, 3) and aligned.dtype == np.uint8
    assert mapped.shape == (68, 2) and mapped.dtype == np.float32
    _, at512 = faces.align_face(astronaut, landmarks, 512)
    assert np.allclose(mapped, (at512 + 0.5) * size / 512 - 0.5, atol=1e-3)
    left, right = faces.canonical_eye_positions(size)
    assert left[0] == pytest.approx(0.375 * size - 0.5) and right[0] == pytest.approx(
        0.625 * size - 0.5
    )


def test_quad_follows_the_recipe(detected):
    lm = detected["hanks"][0].landmarks.astype(np.float64)
    quad = faces.ffhq_quad(lm)
    eye_l, eye_r = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    eye_avg, e2e = (eye_l + eye_r) / 2, eye_r - eye_l
    e2m = (lm[48] + lm[54]) / 2 - eye_avg
    half = max(2.0 * np.hypot(*e2e), 1.8 * np.hypot(*e2m))
    assert np.allclose(quad.mean(axis=0), eye_avg + 0.1 * e2m)
    sides = np.hypot(*np.diff(np.vstack([quad, quad[:1]]), axis=0).T)
    assert np.allclose(sides, 2 * half)
    x = e2e - np.flipud(e2m) * [-1, 1]
    top = quad[3] - quad[0]
    assert np.allclose(top / np.hypot(*top), x / np.hypot(*x))


def test_face_at_the_edge_is_reflect_padded_and_blurred(astronaut):
    # Cut the photo just left of her eye: most of the crop square is outside.
    cut = np.ascontiguousarray(astronaut[40:, 185:])
    found = faces.detect_faces(cut)
    assert len(found) == 1
    aligned, _ = faces.align_face(cut, found[0].landmarks, 512)
    # Aligned pixels whose source lies outside the photo.
    inverse = cv2.invertAffineTransform(faces.ffhq_transform(found[0].landmarks, 512))
    grid = np.stack(np.meshgrid(np.arange(512), np.arange(512)), axis=-1).reshape(-1, 2)
    src = faces.transform_points(inverse, grid).reshape(512, 512, 2)
    h, w = cut.shape[:2]
    outside = (
        (src[..., 0] < -20) | (src[..., 1] < -20) | (src[..., 0] > w + 20) | (src[..., 1] > h + 20)
    )
    assert outside.mean() > 0.1
    # No black holes: the padded area is as bright as the photo's own background.
    assert aligned[outside].sum(axis=1).min() > 150
    # Blurred: far less fine detail outside than inside the photo.
    detail = np.abs(cv2.Laplacian(cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY), cv2.CV_32F))
    inside = ~outside & (src[..., 0] > 20) & (src[..., 1] > 20)
    assert detail[outside].mean() < 0.5 * detail[inside].mean()


def test_descriptors_fill_every_face(group, detected):
    found = [
        FaceRecord(box=f.box, landmarks=f.landmarks) for f in detected["group"]
    ]  # fresh records
    faces.compute_descriptors(group, found)
    for face in found:
        assert face.descriptor.shape == (128,) and face.descriptor.dtype == np.float32
        assert 0.2 < np.linalg.norm(face.descriptor) < 2.0
    again = [FaceRecord(box=f.box, landmarks=f.landmarks) for f in detected["group"]]
    faces.compute_descriptors(group, again)
    assert all(np.array_equal(a.descriptor, f.descriptor) for a, f in zip(again, found))
    # In a smaller batch only the order of float sums changes (oneDNN picks its
    # kernels by batch size): equal to rounding.
    two = [FaceRecord(box=f.box, landmarks=f.landmarks) for f in detected["group"][:2]]
    faces.compute_descriptors(group, two)
    assert np.abs(two[0].descriptor - found[0].descriptor).max() < 1e-5
    faces.compute_descriptors(group, [])  # nothing to do
