"""Shared fixtures: real photos that installed packages ship (nothing downloaded)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _insightface_image(name: str) -> Path:
    spec = importlib.util.find_spec("insightface")
    assert spec and spec.submodule_search_locations, "insightface is not installed"
    path = Path(spec.submodule_search_locations[0]) / "data" / "images" / name
    assert path.is_file(), f"{path} missing from the insightface wheel"
    return path


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """NASA portrait of Eileen Collins, [512, 512, 3] uint8 RGB (public domain)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def hanks() -> np.ndarray:
    """A single-face photo shipped in the insightface wheel, RGB uint8."""
    return np.asarray(Image.open(_insightface_image("Tom_Hanks_54745.png")).convert("RGB"))


@pytest.fixture(scope="session")
def group() -> np.ndarray:
    """A group photo with several faces shipped in the insightface wheel, RGB uint8."""
    return np.asarray(Image.open(_insightface_image("t1.jpg")).convert("RGB"))


@pytest.fixture(scope="session")
def edison_dir() -> Path:
    """The bundled public-domain Edison album (three portraits, ages ~31, ~65, ~75)."""
    return Path(__file__).resolve().parent.parent / "assets" / "examples" / "edison"


@pytest.fixture(scope="module")
def wikimedia(astronaut: np.ndarray, hanks: np.ndarray):
    """A local server replaying recorded Wikidata/Commons answers with real photo bodies;
    the search module is pointed at it (environment variables) for the module's tests."""
    from test_search import FIXTURES, _photo_bodies

    from pipeline.search.replay import WikimediaReplay

    bodies = _photo_bodies(astronaut, hanks)
    server = WikimediaReplay(FIXTURES).start()
    server.fill_images(lambda title, info: bodies[title])
    mp = pytest.MonkeyPatch()
    for key, value in server.env().items():
        mp.setenv(key, value)
    yield server
    mp.undo()
    server.stop()
