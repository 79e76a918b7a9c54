"""Identity descriptors on real photos and the choice of the target person."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from pipeline import faces
from pipeline.errors import UsageError
from pipeline.identity import choose_target, pairwise_distances

# --------------------------------------------------------------------------
# Real photos
# --------------------------------------------------------------------------


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def variants(photo: np.ndarray) -> dict[str, np.ndarray]:
    """Copies of one photo as an album would hold them."""
    pil = Image.fromarray(photo)
    w, h = pil.size
    return {
        "original": photo,
        "flipped": np.asarray(pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        "brighter": np.asarray(ImageEnhance.Brightness(pil).enhance(1.4)),
        "darker": np.asarray(ImageEnhance.Brightness(pil).enhance(0.6)),
        "cropped": np.asarray(pil.crop((w // 8, 0, w, h - h // 8))),
        "tilted": np.asarray(pil.rotate(12, resample=Image.Resampling.BICUBIC)),
        "jpeg": np.asarray(_jpeg(pil, 35)),
        "upscaled": np.asarray(pil.resize((w * 2, h * 2), Image.Resampling.BICUBIC)),
    }


def scan(image: np.ndarray) -> list[np.ndarray]:
    found = faces.detect_faces(image)
    faces.compute_descriptors(image, found)
    return [f.descriptor for f in found]


@pytest.fixture(scope="module")
def astronaut_copies(astronaut) -> dict[str, list[np.ndarray]]:
    return {name: scan(image) for name, image in variants(astronaut).items()}


@pytest.fixture(scope="module")
def hanks_copies(hanks) -> dict[str, list[np.ndarray]]:
    photos = variants(hanks)
    return {name: scan(photos[name]) for name in ("original", "flipped", "brighter", "upscaled")}


@pytest.fixture(scope="module")
def group_copies(group) -> dict[str, list[np.ndarray]]:
    photos = variants(group)
    return {name: scan(photos[name]) for name in ("original", "flipped", "darker")}


@pytest.mark.slow
def test_copies_of_one_person_are_close(astronaut_copies, hanks_copies):
    for copies in (astronaut_copies, hanks_copies):
        assert all(len(found) == 1 for found in copies.values()), {
            k: len(v) for k, v in copies.items()
        }
        desc = np.stack([found[0] for found in copies.values()])
        dist = pairwise_distances(desc, desc)
        assert dist.max() < 0.6, dist.round(2)


@pytest.mark.slow
def test_different_people_are_far(astronaut_copies, hanks_copies, group_copies):
    her = np.stack([found[0] for found in astronaut_copies.values()])
    him = np.stack([found[0] for found in hanks_copies.values()])
    assert pairwise_distances(her, him).min() > 0.6
    friends = np.stack(group_copies["original"])
    assert len(friends) == 6
    assert pairwise_distances(her, friends).min() > 0.6
    assert pairwise_distances(him, friends).min() > 0.6
    between = pairwise_distances(friends, friends)[np.triu_indices(6, 1)]
    assert between.min() > 0.6


@pytest.mark.slow
def test_target_is_the_person_in_most_photos(astronaut_copies, hanks_copies, group_copies):
    """She is in 5 photos; Hanks is in 3 (with the biggest faces); 6 friends are in 3 group photos each."""
    album: list[tuple[str, list[np.ndarray]]] = [
        ("group original", group_copies["original"]),  # first photo: not her
        ("hanks upscaled", hanks_copies["upscaled"]),
        ("her original", astronaut_copies["original"]),
        ("hanks original", hanks_copies["original"]),
        ("group flipped", group_copies["flipped"]),
        ("her flipped", astronaut_copies["flipped"]),
        ("her darker", astronaut_copies["darker"]),
        ("hanks brighter", hanks_copies["brighter"]),
        ("her jpeg", astronaut_copies["jpeg"]),
        ("group darker", group_copies["darker"]),
        ("her tilted", astronaut_copies["tilted"]),
        ("nobody", []),
    ]
    choice = choose_target([found for _, found in album])
    assert choice.support == 5
    her = np.stack([found[0] for found in astronaut_copies.values()])
    assert pairwise_distances(choice.target[None], her).max() < 0.4
    assert choice.target.shape == (128,) and choice.target.dtype == np.float32
    for (name, found), chosen, dist, matched in zip(
        album, choice.chosen, choice.distances, choice.matched
    ):
        if name == "nobody":
            assert (chosen, dist, matched) == (None, None, False)
        elif name.startswith("her"):
            assert matched and chosen == 0 and dist < 0.6, name
        else:  # kept with its closest face, marked as not matching
            assert not matched and dist > 0.6 and 0 <= chosen < len(found), name


@pytest.mark.slow
def test_user_choice_wins(astronaut_copies, group_copies):
    album = [astronaut_copies["original"], astronaut_copies["flipped"], group_copies["original"]]
    auto = choose_target(album)
    assert auto.matched == [True, True, False]
    choice = choose_target(album, preferred=[None, None, 3])
    assert choice.chosen[2] == 3 and choice.matched[2]  # the user says it is her
    assert choice.distances[2] > 0.6  # the distance stays honest
    assert choice.chosen[:2] == [0, 0]
    with pytest.raises(UsageError, match="face 6 does not exist"):
        choose_target(album, preferred=[None, None, 6])
    with pytest.raises(UsageError):
        choose_target(album, preferred=[None])


# --------------------------------------------------------------------------
# The choice on synthetic descriptors (exact control of who is where)
# --------------------------------------------------------------------------


def people(n: int, seed: int = 0) -> np.ndarray:
    """n identities far apart (distance about 1.4), like dlib descriptors of different people."""
    v = np.random.default_rng(seed).normal(size=(n, 128))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def face_of(person: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another photo of the same person (distance about 0.25-0.35)."""
    return (person + rng.normal(scale=0.025, size=128)).astype(np.float32)


def test_crowds_do_not_pull_the_target_away():
    rng = np.random.default_rng(1)
    target, *crowd = people(31)
    album: list[list[np.ndarray]] = []
    for _ in range(4):  # the target alone
        album.append([face_of(target, rng)])
    for i in range(3):  # crowd shots: 10 strangers each, each stranger in one or two of them
        strangers = crowd[i * 7 : i * 7 + 10]
        album.append([face_of(p, rng) for p in strangers] + [face_of(target, rng)] * (i == 0))
    choice = choose_target(album)
    assert choice.support == 5
    assert np.linalg.norm(choice.target - target) < 0.25
    assert choice.matched == [True] * 5 + [False] * 2
    assert choice.chosen[4] == 10  # the target's face in the first crowd shot


def test_several_faces_of_one_person_in_a_photo_count_once():
    rng = np.random.default_rng(2)
    target, twin_shots = people(2, seed=3)
    # The other person appears 3 times in each of 2 photos (6 faces); the
    # target once in each of 3 photos.
    album = [[face_of(twin_shots, rng) for _ in range(3)] for _ in range(2)]
    album += [[face_of(target, rng)] for _ in range(3)]
    choice = choose_target(album)
    assert choice.support == 3
    assert choice.matched == [False, False, True, True, True]


def test_order_and_face_size_play_no_part():
    rng = np.random.default_rng(4)
    a, b = people(2, seed=5)
    album = [[face_of(b, rng), face_of(a, rng)]] + [[face_of(a, rng)] for _ in range(3)]
    album += [[face_of(b, rng)]]
    for order in (album, album[::-1]):
        choice = choose_target(order)
        assert np.linalg.norm(choice.target - a) < 0.25
    assert choose_target(album).chosen[0] == 1


def test_no_faces_at_all():
    choice = choose_target([[], []])
    assert choice.chosen == [None, None] and choice.target is None and choice.support == 0
    assert choose_target([]).chosen == []
