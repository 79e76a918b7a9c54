"""Messages for visitors: what happened and what to do, with no exception text, flag or variable name.

Each case raises the real error the real way (the StyleGAN probe with no weights and no network, a
photo search pointed at a closed port, bad files through the analysis) and checks the page's words.
"""

from __future__ import annotations

import io
import logging
import re
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import PipelineError
from pipeline.webapp import messages, page, review

REPO = Path(__file__).resolve().parent.parent
# What must never reach a visitor: command-line flags, environment variables, exception names and
# texts, tracebacks, code identifiers (snake_case words that are not file names).
FORBIDDEN = [
    r"(?<![\w-])--?[a-z][\w-]*",  # --cnn, --qid, -v
    r"\bTIMELAPSE_\w+|\b[A-Z]{2,}_[A-Z_]+\b",  # environment variables
    r"\b\w*(Error|Exception)\b",  # ConnectError, gaierror, BadImageError
    r"Errno|Traceback|File \"|huggingface\.co|:443|\(.*\bat line\b",
    r"\b[a-z]+_[a-z_]+\b(?!\.\w)",  # snake_case identifiers (file names with an extension are fine)
]


def assert_for_visitors(text: str, *, files: tuple[str, ...] = ()) -> None:
    for name in files:  # file names are the visitor's own words
        text = text.replace(name, "FILE")
    assert text.strip(), "an empty message"
    for pattern in FORBIDDEN:
        found = re.search(pattern, text)
        assert found is None, f"{found.group(0)!r} in: {text}"


def test_missing_model_message(caplog: pytest.LogCaptureFixture) -> None:
    from pipeline.methods.base import available_methods
    from pipeline.webapp.render import check_can_render, make_settings

    ok, reason = available_methods()["stylegan"]
    assert not ok and "TIMELAPSE_" in reason  # the owner's detail names the variable...
    with pytest.raises(PipelineError) as err:
        check_can_render(make_settings(method="stylegan"))
    with caplog.at_level(logging.WARNING):
        text = messages.visitor_message(err.value)
    assert text == "StyleGAN is not available on this server; choose Morph or Cross-fade."
    assert_for_visitors(text)
    assert any("TIMELAPSE_" in r.getMessage() for r in caplog.records)  # ...which goes to the log
    with caplog.at_level(logging.WARNING):
        info = page.method_choices()["info"]
    assert "StyleGAN is not available on this server." in info
    assert_for_visitors(info)


def test_unreachable_photo_search(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("TIMELAPSE_WIKIDATA_API", f"{closed}/w/api.php")
    monkeypatch.setenv("TIMELAPSE_COMMONS_API", f"{closed}/w/api.php")
    monkeypatch.setenv("TIMELAPSE_ALLOWED_HOSTS", "127.0.0.1")
    with caplog.at_level(logging.WARNING), pytest.raises(page.gr.Error) as err:
        page.search("Thomas Edison", 6, "", None, None)
    assert err.value.message == "Photo search is unavailable right now; upload photos instead."
    assert_for_visitors(err.value.message)
    assert any("photo search failed" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_bad_files_are_explained_in_page_terms(tmp_path: Path, astronaut: np.ndarray) -> None:
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "JPEG")
    files = {
        "broken.jpg": buf.getvalue()[:3000],  # cut short
        "empty.jpg": b"",
        "notes.jpg": b"not a photo at all",
    }
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
    Image.fromarray(data.coffee()).save(tmp_path / "coffee.png")  # no face
    Image.fromarray(astronaut).save(tmp_path / "astronaut.png")
    names = (*files, "coffee.png", "astronaut.png")
    r = review.review_album([str(tmp_path / n) for n in names])
    notes = {p.file: messages.photo_note(p, r) for p in r.analysis.photos}
    assert "cut short" in notes["broken.jpg"] and "empty" in notes["empty.jpg"]
    assert "Not a photo" in notes["notes.jpg"] and "No face found" in notes["coffee.png"]
    for name in files:
        assert_for_visitors(notes[name], files=names)
    assert_for_visitors(notes["coffee.png"], files=names)
    toast = messages.problems_warning(r)
    assert toast.startswith("4 photos were left out") and "cnn" not in toast.lower()
    assert_for_visitors(toast, files=names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cards, rows, summary, _, _birth = page.review_files(
            [str(tmp_path / n) for n in names], "", None, None
        )
    for row in rows:
        assert_for_visitors(row[6] or "fine", files=names)  # the table's notes column


def test_not_enough_photos_has_one_wording() -> None:
    from pipeline.errors import NotEnoughPhotosError

    for exc in (NotEnoughPhotosError(0, 0), NotEnoughPhotosError(0, 3, with_face=0),
                NotEnoughPhotosError(1, 3, with_face=2, left_out=[("a.jpg", "duplicate of b.jpg")])):  # fmt: skip
        text = messages.visitor_message(exc)
        assert_for_visitors(text, files=("a.jpg", "b.jpg"))
    assert "tap Keep" in messages.visitor_message(
        NotEnoughPhotosError(1, 3, left_out=[("a.jpg", "")])
    )


@pytest.mark.slow
def test_importing_the_app_does_no_network_io(tmp_path: Path) -> None:
    """`import app` with every socket connection and name lookup refused and counted."""
    code = (
        "import socket, sys\n"
        "calls = []\n"
        "def refuse(*a, **k):\n"
        "    calls.append(a)\n"
        "    raise OSError('network refused in this test')\n"
        "socket.socket.connect = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "socket.create_connection = refuse\n"
        "import app\n"
        "print('calls', len(calls))\n"
    )
    env = {"GRADIO_TEMP_DIR": str(tmp_path), "GRADIO_ANALYTICS_ENABLED": "False", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path), "HF_HUB_OFFLINE": "0"}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "calls 0" in out.stdout, out.stdout + out.stderr[-2000:]
