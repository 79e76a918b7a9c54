"""dlib's face-recognition ResNet in PyTorch against dlib's own, on real faces.

The reference is ``dlib.face_recognition_model_v1`` reading the same file:
descriptors of the same chips must agree to float rounding, in a batch and one
by one, and so must the distances the identity step compares. The faces come
from the test photos that installed packages ship (astronaut, Tom Hanks, the
group photo) and from the FG-NET age series in ``../shared/fixtures/ages/``.
"""

from __future__ import annotations

import multiprocessing
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import faces, models
from pipeline.errors import ModelFileError
from pipeline.faces import dlib_format
from pipeline.faces.dlib_format import DlibFormatError, parse_dlib_network, read_dlib_network
from pipeline.faces.resnet import DlibFaceResNet
from pipeline.identity import pairwise_distances
from tests.support.dlib_files import assert_damaged_copies_refused

AGES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ages"
# dlib computes in float32 too; the sums only run in another order.
TOLERANCE = 1e-5


def _model_path() -> Path:
    return models.face_models_dir() / models.FACE_RESNET_FILE


# ---------------------------------------------------------------- the file format


def test_reader_decodes_dlib_integers_floats_strings_and_bools() -> None:
    # Integers: control byte (count | 0x80 if negative), then little-endian bytes.
    # Floats: mantissa then exponent. Strings: length then bytes. Bools: '1'/'0'.
    data = bytes(
        [0x01, 0x05, 0x81, 0x05, 0x02, 0x00, 0x01]  # 5, -5, 256
        + [0x01, 0x03, 0x81, 0x01]  # 3 * 2**-1
        + [0x81, 0x03, 0x01, 0x02]  # -3 * 2**2
        + [0x01, 0x03]
        + list(b"abc")
        + list(b"10")
    )
    r = dlib_format.Reader(data)
    assert [r.integer(), r.integer(), r.integer()] == [5, -5, 256]
    assert r.floating() == 1.5
    assert r.floating() == -12.0
    assert r.string() == "abc"
    assert (r.boolean(), r.boolean()) == (True, False)
    with pytest.raises(DlibFormatError, match="ends early"):
        r.integer()


def test_the_installed_file_parses_into_dlibs_network() -> None:
    layers = read_dlib_network(_model_path())
    kinds = Counter(layer.kind for layer in layers)
    # 1 stem + 14 residual blocks x 2 convolutions, each followed by an affine layer.
    assert kinds == {
        "input": 1,
        "con": 29,
        "affine": 29,
        "relu": 29,
        "max_pool": 1,
        "add_prev": 14,
        "avg_pool": 5,
        "fc": 1,
    }
    assert layers[0].arrays["means"] == pytest.approx([122.782, 117.001, 104.298], abs=1e-3)
    con = [layer for layer in layers if layer.kind == "con"]
    assert con[0].arrays["weight"].shape == (32, 3, 7, 7)
    assert con[-1].arrays["weight"].shape == (256, 256, 3, 3)
    # dlib pads by size/2 only at stride 1.
    assert {(c.config["stride_y"], c.config["pad_y"]) for c in con} == {(2, 0), (1, 1)}
    assert layers[-1].arrays["weight"].shape == (256, 128)
    params = sum(a.size for layer in layers for a in layer.arrays.values())
    assert 5_000_000 < params < 6_000_000


def test_a_truncated_or_altered_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    data = _model_path().read_bytes()
    assert_damaged_copies_refused(data, tmp_path, DlibFaceResNet.from_dlib_file, parse_dlib_network)

    renamed = bytearray(data)
    at = renamed.find(b"con_")
    renamed[at : at + 4] = b"cox_"
    with pytest.raises(DlibFormatError, match="cox_"):
        parse_dlib_network(bytes(renamed))

    missing = tmp_path / "missing.dat"
    with pytest.raises(ModelFileError, match="cannot read") as info:
        DlibFaceResNet.from_dlib_file(missing)
    assert info.value.path == missing


def test_another_dlib_model_is_not_taken_for_the_resnet(tmp_path: Path) -> None:
    other = tmp_path / "landmarks.dat"
    shutil.copy(models.face_models_dir() / "shape_predictor_5_face_landmarks.dat", other)
    with pytest.raises(ModelFileError, match="not dlib's face recognition ResNet"):
        DlibFaceResNet.from_dlib_file(other)


def test_chips_of_the_wrong_shape_are_refused() -> None:
    net = models.face_resnet()
    with pytest.raises(ValueError, match="150, 150, 3"):
        net.describe(np.zeros((1, 100, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        net.describe(np.zeros((1, 150, 150, 3), np.float32))
    assert net.describe(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)


# ---------------------------------------------------------------- against dlib, real faces


@pytest.fixture(scope="module")
def chips(portrait_faces) -> tuple[np.ndarray, list[str]]:
    """150 px chips of every face in the test photos and of a sample of both FG-NET series."""
    photos = {name: portrait_faces.photos[name] for name in ("astronaut", "hanks", "group")}
    found = {name: portrait_faces.detected(name) for name in photos}
    assert AGES.is_dir(), f"the FG-NET age series are not at {AGES}"
    for path in sorted(AGES.glob("fgnet_00*/*.JPG"))[::4]:
        name = f"{path.parent.name}/{path.stem}"
        photos[name] = np.asarray(Image.open(path).convert("RGB"))
        found[name] = faces.detect_faces(photos[name])
    out, names = [], []
    for name, photo in photos.items():
        for i, face in enumerate(found[name]):
            out.append(faces.face_chip(photo, face.landmarks))
            names.append(f"{name}#{i}")
    return np.stack(out), names


@pytest.fixture(scope="module")
def dlib_descriptors(chips) -> np.ndarray:
    batch, _ = chips
    vectors = models.face_encoder().compute_face_descriptor(list(batch))
    return np.asarray(vectors, dtype=np.float32)


@pytest.mark.slow
def test_descriptors_equal_dlibs_on_real_faces(chips, dlib_descriptors) -> None:
    batch, names = chips
    assert len(batch) >= 12, names  # 1 + 1 + 6 group faces + the FG-NET sample
    mine = models.face_resnet().describe(batch)
    assert mine.shape == (len(batch), 128) and mine.dtype == np.float32
    assert np.abs(mine - dlib_descriptors).max() < TOLERANCE
    one_by_one = np.concatenate([models.face_resnet().describe(chip) for chip in batch])
    assert np.abs(one_by_one - dlib_descriptors).max() < TOLERANCE
    # dlib does not normalise: the lengths are the network's own (about 0.4-0.6 here).
    assert not np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-3)


@pytest.mark.slow
def test_distances_between_faces_are_preserved(chips, dlib_descriptors) -> None:
    batch, names = chips
    mine = models.face_resnet().describe(batch)
    theirs = pairwise_distances(dlib_descriptors, dlib_descriptors)
    ours = pairwise_distances(mine, mine)
    assert np.abs(ours - theirs).max() < TOLERANCE
    # The same people are matched at dlib's 0.6 threshold, pair for pair.
    assert ((ours < 0.6) == (theirs < 0.6)).all()
    # Different people in the group photo stay apart.
    group = [i for i, n in enumerate(names) if n.startswith("group#")]
    assert len(group) == 6
    assert ours[np.ix_(group, group)][~np.eye(6, dtype=bool)].min() > 0.6


@pytest.mark.slow
def test_compute_descriptors_runs_the_torch_network(
    portrait_faces, dlib_descriptors, chips, monkeypatch
):
    group = portrait_faces.photos["group"]
    found = portrait_faces.detected("group")
    batches = []
    real = models.face_resnet()

    class Counting:
        def describe(self, batch: np.ndarray) -> np.ndarray:
            batches.append(len(batch))
            return real.describe(batch)

    monkeypatch.setattr(models, "face_resnet", Counting)
    faces.compute_descriptors(group, found)
    assert batches == [6]  # one batch of every face, through the PyTorch network
    _, names = chips
    rows = [i for i, n in enumerate(names) if n.startswith("group#")]
    got = np.stack([f.descriptor for f in found])
    assert got.dtype == np.float32 and got.shape == (6, 128)
    assert np.abs(got - dlib_descriptors[rows]).max() < TOLERANCE


def _threads_in_child(queue: multiprocessing.Queue) -> None:
    import torch

    models.face_resnet()
    queue.put(torch.get_num_threads())


@pytest.mark.slow
def test_scan_workers_run_the_network_on_one_thread() -> None:
    import torch

    before = torch.get_num_threads()
    models.face_resnet()
    assert torch.get_num_threads() == before  # this process keeps its setting
    context = multiprocessing.get_context("forkserver")
    queue = context.Queue()
    child = context.Process(target=_threads_in_child, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=120) == 1
    finally:
        child.join(timeout=60)


def test_the_network_runs_on_one_thread_and_leaves_the_process_setting_alone(astronaut) -> None:
    import torch

    net = models.face_resnet()
    seen: list[int] = []
    hook = net.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        found = faces.detect_faces(astronaut)
        faces.compute_descriptors(astronaut, found)
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        hook.remove()
        torch.set_num_threads(before)
