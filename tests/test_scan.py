"""The fast scan (reduced JPEG decoding, worker processes) and the on-disk scan cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import age, faces, models, scan
from pipeline.analysis import analyze
from pipeline.cli import main
from pipeline.photos import PhotoSource, load_photo
from pipeline.scan import ScanSettings
from pipeline.scan_cache import DiskScanCache, content_hash


def _phone_photo(face: np.ndarray, side: int, where: tuple[int, int], seed: int) -> Image.Image:
    """A 4000x3000 photo: `face` resized to `side` px pasted on a smooth noisy scene."""
    rng = np.random.default_rng(seed)
    scene = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).resize(
        (4000, 3000), Image.Resampling.BICUBIC
    )
    h = side * face.shape[0] // face.shape[1]
    scene.paste(Image.fromarray(face).resize((side, h), Image.Resampling.LANCZOS), where)
    return scene


@pytest.fixture(scope="module")
def phone_album(tmp_path_factory, astronaut, hanks, group) -> Path:
    """Three 12 MP JPEGs: a big face, a face too small for the reduced decode, a group."""
    folder = tmp_path_factory.mktemp("phone")
    _phone_photo(astronaut, 1400, (300, 200), 0).save(folder / "a_big.jpg", quality=90)
    _phone_photo(hanks, 700, (2500, 1500), 1).save(folder / "b_small.jpg", quality=90)
    _phone_photo(group, 2600, (600, 600), 2).save(folder / "c_group.jpg", quality=90)
    return folder


def _reference(path: Path) -> tuple[list, float | None]:
    """Today's per-photo results the slow way: full decode, detection, descriptors, crop, age."""
    image = load_photo(PhotoSource(path.name, path)).image
    found = faces.detect_faces(image)
    faces.compute_descriptors(image, found)
    if not found:
        return found, None
    crop, lm = faces.align_face(image, found[0].landmarks, 512)
    return found, age.estimate_ages([crop], [lm])[0]


@pytest.mark.slow
def test_fast_scan_equals_the_full_resolution_results(phone_album: Path) -> None:
    """Small faces in a 12 MP photo are measured on the full decode (exactly today's
    results); big ones on the half-scale decode, with the eyes where the full decode
    puts them to well under a pixel of the 512 px crop."""
    paths = sorted(phone_album.iterdir())
    reduced = load_photo(PhotoSource(paths[0].name, paths[0]), min_side=scan.DECODE_SIDE)
    assert reduced.image.shape[:2] == (1500, 2000) and reduced.full_size == (4000, 3000)
    sources = [PhotoSource(p.name, p) for p in paths]
    outcomes = list(scan.run_scans(sources, ScanSettings(), workers=2))
    for path, got in zip(paths, outcomes):
        assert isinstance(got, scan.PhotoScan), got
        expected, expected_age = _reference(path)
        assert (got.width, got.height) == (4000, 3000)
        assert len(got.faces) == len(expected) >= 1, path.name
        exact = path.name != "a_big.jpg"
        for mine, theirs in zip(got.faces, expected):  # same faces, in the same order
            assert mine.flags == theirs.flags
            if exact:
                assert mine.box == theirs.box
                assert np.abs(mine.landmarks - theirs.landmarks).max() < 1.0, path.name
                assert float(np.linalg.norm(mine.descriptor - theirs.descriptor)) < 1e-3
        if exact:
            assert got.age == pytest.approx(expected_age, abs=0.1), path.name
        else:
            to_crop = faces.ffhq_transform(expected[0].landmarks, 512)
            eyes = [faces.transform_points(to_crop, np.stack(faces.eye_centres(f.landmarks)))
                    for f in (got.faces[0], expected[0])]  # fmt: skip
            assert np.abs(eyes[0] - eyes[1]).max() < 1.0
            assert float(np.linalg.norm(got.faces[0].descriptor - expected[0].descriptor)) < 0.1
            assert got.age == pytest.approx(expected_age, abs=2.5)
        assert got.crop.shape == (512, 512, 3)


def _count_detections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count calls of the real detector (it still runs: this is a spy, not a stand-in)."""
    calls = [0]
    real = faces.find_faces

    def counting(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(faces, "find_faces", counting)
    return calls


@pytest.mark.slow
def test_a_small_face_in_a_big_photo_is_searched_once(
    phone_album: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The half-scale decode's search already searched the copy a full search would: the
    full decode is only measured (landmarks, descriptor, crop), not searched again."""
    path = phone_album / "b_small.jpg"
    expected, _ = _reference(path)
    calls = _count_detections(monkeypatch)
    got = scan.scan_photo(PhotoSource(path.name, path), ScanSettings())
    assert calls[0] == 1
    assert isinstance(got, scan.PhotoScan)
    assert [f.box for f in got.faces] == [f.box for f in expected]


@pytest.mark.slow
def test_a_face_the_first_pass_misses_is_searched_on_the_full_photo_only(
    tmp_path: Path, hanks: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A face too small for the 1280 px copy: the half-scale decode is searched once, then
    the full photo exactly as a full scan searches it (no 2000 px pass of the half decode)."""
    path = tmp_path / "far.jpg"
    _phone_photo(hanks, 200, (1800, 1200), 3).save(path, quality=90)
    expected, expected_age = _reference(path)
    assert expected, "the full search finds the face"
    searched: list[tuple[int, int, int]] = []
    real = models.hog_detector()

    class Spy:  # the real detector runs; only the copies it is given are noted
        def run(self, image, upsample, threshold):
            searched.append((image.shape[1], image.shape[0], upsample))
            return real.run(image, upsample, threshold)

    monkeypatch.setattr(models, "hog_detector", Spy)
    got = scan.scan_photo(PhotoSource(path.name, path), ScanSettings())
    assert isinstance(got, scan.PhotoScan)
    assert [f.box for f in got.faces] == [f.box for f in expected]
    for mine, theirs in zip(got.faces, expected):
        np.testing.assert_array_equal(mine.landmarks, theirs.landmarks)
    assert got.age == pytest.approx(expected_age, abs=1e-6)
    assert searched[0] == (1280, 960, 0)  # the half decode's copy
    assert searched[1:] == [(1280, 960, 0), (2560, 1920, 0)]  # the full scan's passes


def test_a_second_analysis_reads_the_cache(
    tmp_path: Path, edison_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = DiskScanCache(tmp_path / "cache", ScanSettings())
    calls = _count_detections(monkeypatch)
    first = analyze(edison_dir, cache=cache, workers=0)
    assert calls[0] == 3 and cache.misses == 3
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 3

    again = DiskScanCache(tmp_path / "cache", ScanSettings())
    second = analyze(edison_dir, cache=again, workers=0)
    assert calls[0] == 3, "the detector ran again"
    assert again.hits == 3
    for a, b in zip(first.photos, second.photos):
        assert a.file == b.file and a.chosen_face == b.chosen_face and a.order == b.order
        assert a.age_estimate == pytest.approx(b.age_estimate, abs=1e-6)
        np.testing.assert_array_equal(a.aligned, b.aligned)  # the crop is stored losslessly
        for fa, fb in zip(a.faces, b.faces):
            np.testing.assert_array_equal(fa.landmarks, fb.landmarks)
            np.testing.assert_array_equal(fa.descriptor, fb.descriptor)
            assert fa.box == fb.box and fa.flags == fb.flags

    # Other scan settings do not read these entries.
    other = DiskScanCache(tmp_path / "cache", ScanSettings(use_cnn=True))
    assert other.get(first.photos[0].sha256) is None


def test_a_damaged_cache_entry_is_scanned_again(tmp_path: Path, edison_dir: Path) -> None:
    cache = DiskScanCache(tmp_path, ScanSettings())
    analyze(edison_dir, cache=cache, workers=0)
    entry = next(tmp_path.rglob("*.npz"))
    entry.write_bytes(entry.read_bytes()[:100])
    again = DiskScanCache(tmp_path, ScanSettings())
    result = analyze(edison_dir, cache=again, workers=0)
    assert again.hits == 2 and again.misses == 1
    assert len(result.usable) == 3
    assert np.load(entry, allow_pickle=False)["meta"].size == 1  # rewritten whole


def test_cli_analyze_edits_and_render_scan_each_photo_once(
    tmp_path: Path, edison_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_detections(monkeypatch)
    cache = tmp_path / "cache"
    common = ["--cache-dir", str(cache), "--workers", "0", "--quiet"]
    assert main(["analyze", str(edison_dir), *common]) == 0
    assert calls[0] == 3
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps({"photos": {"1_edison_young_c1878.png": {"age": 31}}}))
    out = tmp_path / "out.json"
    assert (
        main(["analyze", str(edison_dir), "--edits", str(edits), "--json", str(out), *common]) == 0
    )
    assert calls[0] == 3, "an edits change rescanned the album"
    ages = {p["file"]: p["age"] for p in json.loads(out.read_text())["photos"]}
    assert ages["1_edison_young_c1878.png"] == 31
    video = tmp_path / "v.mp4"
    assert main(["render", str(edison_dir), "--edits", str(edits), "-o", str(video), "--size", "256",
                 "--frames-between", "2", *common]) == 0  # fmt: skip
    assert calls[0] == 3 and video.stat().st_size > 0

    # --no-cache scans again and writes nothing.
    before = sorted(cache.rglob("*.npz"))
    assert main(["analyze", str(edison_dir), "--no-cache", "--workers", "0", "--quiet"]) == 0
    assert calls[0] == 6 and sorted(cache.rglob("*.npz")) == before


def test_cache_folder_defaults_to_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.scan_cache import default_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "facial-timelapse" / "scans"
    photo = tmp_path / "x.bin"
    photo.write_bytes(b"abc")
    assert content_hash(PhotoSource("x.bin", photo)) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert content_hash(PhotoSource("y", data=np.zeros((2, 2, 3), np.uint8))) is None


@pytest.mark.slow
def test_a_1024_render_realigns_from_the_photo_with_the_reviewed_ages(
    tmp_path: Path, edison_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Size is a render input only: the analysis aligns at 512 once; a 1024 px render
    re-aligns from the photos with the stored landmarks, detects nothing again, and
    captions the ages the review showed."""
    from pipeline.dates import format_age
    from pipeline.render import RenderSettings, plan_render, render

    analysis = analyze(edison_dir, workers=0)
    shown = {p.file: format_age(p.age, exact=p.age_source == "date") for p in analysis.usable}
    assert all(p.aligned.shape == (512, 512, 3) for p in analysis.usable)
    calls = _count_detections(monkeypatch)

    settings = RenderSettings(size=1024, frames_between=2, caption="age")
    plan = plan_render(analysis, settings)
    first = analysis.usable[0]
    photo = load_photo(PhotoSource(first.file, edison_dir / first.file)).image
    expected, expected_lm = faces.align_face(photo, first.face.landmarks, 1024)
    np.testing.assert_array_equal(plan.keyframes[0].image, expected)  # from the photo, not enlarged
    np.testing.assert_allclose(plan.keyframes[0].landmarks, expected_lm, atol=1e-4)

    result = render(analysis, settings=settings, video=tmp_path / "v.mp4")
    assert calls[0] == 0, "the render detected faces again"
    captions = {kf["label"]: kf["caption"] for kf in result.report["keyframes"]}
    assert captions == shown
    assert result.report["size"] == 1024
