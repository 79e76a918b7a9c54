"""Shared fixtures: real photos that installed packages ship (nothing downloaded), the faces found
in them, Gradio's temp folder and the recorded Wikimedia server. Helpers live in tests/support."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.app import use_test_temp
from tests.support.faces import PortraitFaces
from tests.support.replay import WikimediaReplay
from tests.support.wikimedia import photo_bodies, serve


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


@pytest.fixture(scope="session")
def edison(edison_dir: Path) -> list[str]:
    """The Edison album's files, as the app and the CLI receive them."""
    return sorted(str(p) for p in edison_dir.glob("*.png"))


@pytest.fixture(scope="session")
def portrait_faces(
    astronaut: np.ndarray, hanks: np.ndarray, group: np.ndarray, edison_dir: Path
) -> PortraitFaces:
    """Detected faces and aligned crops of the test photos, each computed once per session.

    Names: ``astronaut``, ``hanks``, ``group`` and the Edison portraits by file stem.
    """
    photos = {"astronaut": astronaut, "hanks": hanks, "group": group}
    for path in sorted(edison_dir.glob("*.png")):
        photos[path.stem] = np.asarray(Image.open(path).convert("RGB"))
    return PortraitFaces(photos)


@pytest.fixture(scope="session", autouse=True)
def session_temp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The system temp folder inside pytest's for the session, for this process and those it
    starts: what one session leaves there (cached latents) never answers another's."""
    folder = tmp_path_factory.getbasetemp() / "tmp"
    folder.mkdir(exist_ok=True)
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = str(folder)
    yield
    if saved[0] is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved[0]
    tempfile.tempdir = saved[1]


@pytest.fixture(scope="session", autouse=True)
def gradio_temp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Gradio's temp folder inside pytest's, set before any test imports the app."""
    use_test_temp(tmp_path_factory)


@pytest.fixture(scope="module")
def wikimedia(astronaut: np.ndarray, hanks: np.ndarray) -> Iterator[WikimediaReplay]:
    """A local server replaying recorded Wikidata/Commons answers with real photo bodies;
    the search module is pointed at it (environment variables) for the module's tests."""
    server = serve(photo_bodies(astronaut, hanks))
    mp = pytest.MonkeyPatch()
    for key, value in server.env().items():
        mp.setenv(key, value)
    yield server
    mp.undo()
    server.stop()
