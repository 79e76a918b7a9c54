"""dlib's CNN (MMOD) face detector in PyTorch against dlib's own, on real photos.

The reference is ``dlib.cnn_face_detection_model_v1`` reading the same file
(`models.cnn_detector`): on crops and copies of the test photos, with and
without upsampling, both must give the same boxes, in the same order, with
confidences within float rounding, and the same "nothing here" on textures,
a background corner and a face turned upside down. The analysis's CNN check
of weak HOG hits must decide as dlib would on every weak hit of the test
photos and of the benchmark's selfie album, without calling dlib's CNN.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from pipeline import faces, models
from pipeline.errors import ModelFileError
from pipeline.faces import detection, mmod_pyramid
from pipeline.faces.dlib_format import DlibFormatError
from pipeline.faces.mmod import MmodFaceDetector
from pipeline.faces.mmod_format import parse_mmod_network, read_mmod_network
from tests.support.dlib_files import assert_damaged_copies_refused

AGES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ages"
# dlib sums its convolutions in float32 too, in another order (seen: 2e-6).
CONFIDENCE_TOLERANCE = 1e-4


def _model_path() -> Path:
    return models.face_models_dir() / models.CNN_DETECTOR_FILE


def _dlib_boxes(image: np.ndarray, upsample: int) -> list[tuple[tuple[int, int, int, int], float]]:
    found = models.cnn_detector()(image, upsample)
    return [
        ((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), d.confidence)
        for d in found
    ]


def _torch_boxes(image: np.ndarray, upsample: int) -> list[tuple[tuple[int, int, int, int], float]]:
    return [(d.rect, d.confidence) for d in models.mmod_detector().detect(image, upsample)]


def _assert_same(image: np.ndarray, upsample: int, what: str) -> int:
    theirs, ours = _dlib_boxes(image, upsample), _torch_boxes(image, upsample)
    assert [box for box, _ in ours] == [box for box, _ in theirs], what
    for (_, mine), (_, ref) in zip(ours, theirs):
        assert abs(mine - ref) < CONFIDENCE_TOLERANCE, (what, mine, ref)
    return len(theirs)


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    """A copy whose longest side is `side`, as the detection copies are made."""
    scale = side / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def astronaut_face(astronaut: np.ndarray) -> np.ndarray:
    """Her face, 160 px (the size of the CNN check's crops)."""
    return cv2.resize(astronaut[30:250, 130:350], (160, 160), interpolation=cv2.INTER_AREA)


# ---------------------------------------------------------------- the file format


def test_the_installed_file_parses_into_dlibs_detector() -> None:
    options, pyramid, layers = read_mmod_network(_model_path())
    assert options.windows == ((80, 80, ""),)
    assert options.nms_iou == pytest.approx(0.338, abs=1e-3) and options.nms_covered == 1.0
    assert pyramid.means == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)
    assert (pyramid.padding, pyramid.outer_padding) == (10, 11)
    kinds = [layer.kind for layer in layers]
    assert kinds == ["con", "affine", "relu"] * 6 + ["con"]
    convs = [layer for layer in layers if layer.kind == "con"]
    assert [c.arrays["weight"].shape for c in convs] == [
        (16, 3, 5, 5),
        (32, 16, 5, 5),
        (32, 32, 5, 5),
        (45, 32, 5, 5),
        (45, 45, 5, 5),
        (45, 45, 5, 5),
        (1, 45, 9, 9),
    ]
    assert [(c.config["stride_y"], c.config["pad_y"]) for c in convs] == [(2, 0)] * 3 + [
        (1, 2)
    ] * 3 + [(1, 4)]


def test_a_damaged_or_other_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    data = _model_path().read_bytes()
    assert_damaged_copies_refused(
        data, tmp_path, MmodFaceDetector.from_dlib_file, parse_mmod_network
    )

    renamed = bytearray(data)
    at = renamed.find(b"bn_con2")  # dlib keeps the trained batch-norm layers, read as affine
    assert at > 0
    renamed[at : at + 7] = b"bn_cox2"
    with pytest.raises(DlibFormatError, match="bn_cox2"):
        parse_mmod_network(bytes(renamed))

    resnet = tmp_path / "resnet.dat"
    shutil.copy(models.face_models_dir() / models.FACE_RESNET_FILE, resnet)
    with pytest.raises(ModelFileError, match="not dlib's MMOD face detector"):
        MmodFaceDetector.from_dlib_file(resnet)


def test_images_of_the_wrong_kind_are_refused(astronaut_face: np.ndarray) -> None:
    net = models.mmod_detector()
    with pytest.raises(ValueError, match="uint8"):
        net.detect(astronaut_face.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        net.detect(np.zeros((160, 160, 4), np.uint8))
    with pytest.raises(ValueError, match="upsample"):
        net.detect(astronaut_face, -1)
    assert net.detect(np.zeros((0, 0, 3), np.uint8)) == []
    assert net.detect(np.zeros((3, 3, 3), np.uint8)) == []


# ---------------------------------------------------------------- the pyramid, bit for bit


def test_the_float_resize_equals_dlibs_bit_for_bit(astronaut: np.ndarray) -> None:
    # The pyramid's levels: each channel, mean-subtracted, resized to 5/6 (and odd sizes).
    planes = (astronaut.transpose(2, 0, 1).astype(np.float32) - 117.0) / 256
    for rows, cols in [(426, 426), (133, 97), (7, 5), (512, 1), (1, 300)]:
        ours = mmod_pyramid.resize_planes(planes, rows, cols)
        for channel in range(3):
            theirs = dlib.resize_image(np.ascontiguousarray(planes[channel]), rows, cols)
            assert np.array_equal(ours[channel], theirs), (rows, cols, channel)


def test_upsampling_equals_dlibs_pyramid_up(astronaut: np.ndarray, hanks: np.ndarray) -> None:
    for image in (astronaut[100:260, 150:330], hanks):
        up = mmod_pyramid.pyramid_up(np.ascontiguousarray(image))
        h, w = image.shape[:2]
        assert up.shape == (2 * h + 1, 2 * w + 2, 3)  # dlib's rect_up of the image's box
        theirs = dlib.resize_image(np.ascontiguousarray(image), 2 * h + 1, 2 * w + 2)
        assert np.array_equal(up, theirs)


def test_the_tiled_pyramid_holds_every_level_apart() -> None:
    for rows, cols in [(160, 160), (443, 640), (321, 322), (40, 300)]:
        rects, total_rows, total_cols = mmod_pyramid.pyramid_layout(rows, cols)
        assert rects[0] == (11, 11, 11 + cols - 1, 11 + rows - 1)
        sizes = [(b - t + 1, r - left + 1) for left, t, r, b in rects]
        for (h, w), (h2, w2) in zip(sizes, sizes[1:]):
            assert (h2, w2) == (int(h * 5 / 6), int(w * 5 / 6))
        assert sizes[-1][0] >= 5
        for i, a in enumerate(rects):
            assert min(a[0], a[1]) >= 0 and a[2] < total_cols and a[3] < total_rows
            for b in rects[i + 1 :]:
                gap_x = max(a[0], b[0]) - min(a[2], b[2]) - 1
                gap_y = max(a[1], b[1]) - min(a[3], b[3]) - 1
                assert max(gap_x, gap_y) >= 0, (a, b)  # levels never overlap


# ---------------------------------------------------------------- against dlib, real photos


def test_a_face_crop_and_a_texture_give_dlibs_result(astronaut_face: np.ndarray) -> None:
    from skimage import data

    assert _assert_same(astronaut_face, 0, "astronaut's face") == 1
    assert _assert_same(_fit(data.brick(), 160), 0, "brick wall (grey)") == 0


@pytest.mark.slow
def test_boxes_and_confidences_equal_dlibs_on_real_crops_and_copies(
    astronaut: np.ndarray,
    astronaut_face: np.ndarray,
    hanks: np.ndarray,
    group: np.ndarray,
    edison_dir: Path,
) -> None:
    from skimage import data

    edison = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(edison_dir.glob("*.png"))]
    assert AGES.is_dir(), f"the FG-NET age series are not at {AGES}"
    fgnet = [
        np.asarray(Image.open(p).convert("RGB")) for p in sorted(AGES.glob("fgnet_00*/*.JPG"))[::15]
    ]
    h, w = group.shape[:2]
    cases: list[tuple[str, np.ndarray, tuple[int, ...]]] = [
        ("astronaut's face", astronaut_face, (0, 1)),
        ("Hanks, 160 px", _fit(hanks, 160), (0, 1)),
        ("Hanks, 300 px", _fit(hanks, 300), (0,)),
        (
            "the group, its middle at full size",
            group[h // 4 : h // 4 + 320, w // 4 : w // 4 + 640],
            (0,),
        ),
        ("Edison young, 200 px", _fit(edison[0], 200), (0, 1)),
        ("Edison old, 300 px", _fit(edison[2], 300), (0,)),
        *[
            (f"FG-NET #{i}, 160 px", _fit(p, 160), (0, 1) if i == 0 else (0,))
            for i, p in enumerate(fgnet)
        ],
        ("FG-NET, 320 px", _fit(fgnet[0], 320), (0,)),
        ("her face in grey", cv2.cvtColor(astronaut_face, cv2.COLOR_RGB2GRAY), (0,)),
        ("a face on its side", np.ascontiguousarray(np.rot90(astronaut_face)), (0, 1)),
        # Nothing for dlib in these:
        ("a face upside down", np.ascontiguousarray(astronaut_face[::-1]), (0, 1)),
        ("grass (grey)", _fit(data.grass(), 160), (0,)),
        ("gravel (grey)", _fit(data.gravel(), 200), (0,)),
        ("the photo's top left corner", np.ascontiguousarray(astronaut[:160, :160]), (0, 1)),
    ]
    counts = {}
    for what, image, upsamples in cases:
        for up in upsamples:
            counts[(what, up)] = _assert_same(
                np.ascontiguousarray(image), up, f"{what}, upsample {up}"
            )
    assert counts[("the group, its middle at full size", 0)] >= 2  # several faces, NMS between them
    assert sum(n == 0 for n in counts.values()) >= 6
    assert sum(n > 0 for n in counts.values()) >= 15


@pytest.fixture(scope="module")
def weak_hits(portrait_faces, tmp_path_factory) -> list[tuple[str, np.ndarray, dlib.rectangle]]:
    """Every weak HOG hit the analysis checks with the CNN in the test photos and the 40 selfies
    of `bench.bench_scale`'s album."""
    from bench.albums import selfie_album

    photos = dict(portrait_faces.photos)
    for path in sorted(AGES.glob("fgnet_00*/*.JPG")):
        photos[f"{path.parent.name}/{path.stem}"] = np.asarray(Image.open(path).convert("RGB"))
    for path in selfie_album(tmp_path_factory.mktemp("selfies"), 40):
        photos[path.stem] = np.asarray(Image.open(path).convert("RGB"))
    hits: list[tuple[str, np.ndarray, dlib.rectangle]] = []
    real = detection._confirmed_by_cnn
    current = [""]

    def recording(image: np.ndarray, rect: dlib.rectangle) -> bool:
        hits.append((current[0], image, rect))
        return real(image, rect)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(detection, "_confirmed_by_cnn", recording)
        for name, photo in photos.items():
            current[0] = name
            faces.find_faces(photo)
    return hits


@pytest.mark.slow
def test_the_cnn_check_decides_as_dlib_on_every_weak_hog_hit(weak_hits) -> None:
    names = {name for name, _, _ in weak_hits}
    assert "astronaut" in names and "group" in names  # her badge; a shaded face
    assert sum(name.startswith("selfie") for name in names) >= 10
    decisions = []
    for name, image, rect in weak_hits:
        crop = detection._verify_crop(image, rect)
        assert crop is not None
        theirs = _assert_same(crop, 0, name) > 0  # and the same boxes
        assert detection._confirmed_by_cnn(image, rect) == theirs, name
        decisions.append(theirs)
    assert True in decisions and False in decisions


def _refuse_dlib_cnn() -> None:
    raise AssertionError("dlib's CNN detector was called")


@pytest.mark.slow
def test_the_analysis_no_longer_runs_dlibs_cnn(astronaut: np.ndarray, monkeypatch) -> None:
    blurred = np.asarray(Image.fromarray(astronaut).filter(ImageFilter.GaussianBlur(4)))
    theirs = _dlib_boxes(blurred, 0)  # the fallback searches the 512 px photo itself, no upsampling
    monkeypatch.setattr(models, "cnn_detector", _refuse_dlib_cnn)
    found = faces.find_faces(blurred, use_cnn=True)  # the fallback
    assert [(d.rect, d.detector) for d in found] == [(box, "cnn") for box, _ in theirs]
    assert found[0].score == pytest.approx(theirs[0][1], abs=CONFIDENCE_TOLERANCE)
    checked = faces.find_faces(astronaut)  # her badge is a weak hit: checked, dropped
    assert len(checked) == 1


def test_the_detector_runs_on_one_thread_and_leaves_the_process_setting_alone(
    astronaut_face: np.ndarray,
) -> None:
    net = models.mmod_detector()
    seen: list[int] = []
    hook = net.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert len(net.detect(astronaut_face)) == 1
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        hook.remove()
        torch.set_num_threads(before)
