"""StyleGAN on a Space: weights fetched and verified before any GPU window, the probe,
the verified-digest marker, the latent cache key, and the GPU time asked for.

A local server stands in for the Hugging Face Hub (``tests/support/hub.py``);
the tiny e4e-format checkpoint of ``test_stylegan_method`` is what it serves.
"""

# ruff: noqa: F811  (the fixtures imported from test_stylegan_method are parameters here)
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from test_stylegan_method import (  # noqa: F401 (fixtures)
    SIZE,
    closed_port,
    isolated_env,
    keyframes,
    tiny_checkpoint,
    tiny_env,
    tiny_networks,
)

from pipeline.errors import MethodUnavailableError, UsageError
from pipeline.faces import align_face, detect_faces
from pipeline.methods.base import Keyframe
from pipeline.methods.stylegan import startup
from pipeline.methods.stylegan.digest import _digest_cache
from pipeline.methods.stylegan.latents import LATENT_CACHE
from pipeline.methods.stylegan.method import StyleGANMethod
from pipeline.methods.stylegan.models import clear_models, loaded_models
from pipeline.methods.stylegan.weights import (
    MARKER_SUFFIX,
    checkpoint_source,
    clear_probe_cache,
    load_checkpoint_file,
    resolve_checkpoint,
    sha256_of,
    verify_file,
    weights_availability,
)
from pipeline.methods.stylegan.zerogpu import MAX_S, GpuWork, estimate_gpu_seconds, work_seconds
from pipeline.render import RenderSettings
from pipeline.render.gpu import check_gpu_budget, gpu_seconds, gpu_work
from tests.support.hub import FakeHub, HubFile

ROOT = Path(__file__).resolve().parents[1]
REPO, FILE, REVISION = "tests/tiny-e4e", "e4e_tiny.pt", "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_env(isolated_env: None, monkeypatch: pytest.MonkeyPatch, tiny_checkpoint: tuple):
    """The fake Hub serving the tiny checkpoint as the e4e weights (repo/file/revision/sha256 env)."""
    path, digest = tiny_checkpoint
    with FakeHub([HubFile(REPO, REVISION, FILE, path)]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        for key, value in hub_vars(digest).items():
            monkeypatch.setenv(key, value)
        clear_models()
        startup.reset()
        yield hub
    clear_models()
    startup.reset()


def hub_vars(digest: str) -> dict[str, str]:
    return {
        "TIMELAPSE_E4E_REPO": REPO,
        "TIMELAPSE_E4E_FILE": FILE,
        "TIMELAPSE_E4E_REVISION": REVISION,
        "TIMELAPSE_E4E_SHA256": digest,
    }


# ----------------------------------------------------------------- weights


@pytest.mark.slow
def test_probe_checks_revision_and_file_with_a_head_request(
    hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, reason = weights_availability("e4e")
    assert ok and "will download" in reason
    assert ("HEAD", f"/{REPO}/resolve/{REVISION}/{FILE}") in hub_env.requests
    assert not [
        r for r in hub_env.requests if r[0] == "GET" and "/resolve/" in r[1]
    ]  # nothing downloaded
    clear_probe_cache()
    monkeypatch.setenv("TIMELAPSE_E4E_REVISION", "f" * 40)
    ok, reason = weights_availability("e4e")
    assert not ok and "no revision ffffffffffff" in reason and "\n" not in reason
    clear_probe_cache()
    monkeypatch.setenv("TIMELAPSE_E4E_REVISION", REVISION)
    monkeypatch.setenv("TIMELAPSE_E4E_FILE", "missing.pt")
    ok, reason = weights_availability("e4e")
    assert not ok and "no missing.pt" in reason


def test_pinned_psp_size() -> None:
    from pipeline.methods.stylegan.weights import WEIGHTS

    assert WEIGHTS["psp"].size == 1_201_489_451 and WEIGHTS["e4e"].size == 1_201_649_680


@pytest.mark.slow
def test_download_verifies_and_leaves_a_digest_marker(
    hub_env: FakeHub, tiny_checkpoint: tuple
) -> None:
    path, digest = resolve_checkpoint("e4e")
    assert ("GET", f"/{REPO}/resolve/{REVISION}/{FILE}") in hub_env.requests
    assert path.read_bytes() == tiny_checkpoint[0].read_bytes()
    assert verify_file(path, checkpoint_source("e4e")) == tiny_checkpoint[1]
    marker = Path(os.path.realpath(path) + MARKER_SUFFIX)
    data = json.loads(marker.read_text())
    st = path.stat()
    assert data == {"sha256": tiny_checkpoint[1], "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@pytest.mark.slow
def test_marker_is_trusted_only_for_the_same_size_and_mtime(
    tmp_path: Path, tiny_checkpoint: tuple
) -> None:
    path = tmp_path / "weights.pt"
    path.write_bytes(tiny_checkpoint[0].read_bytes())
    real = sha256_of(path)
    st = path.stat()
    marker = Path(str(path) + MARKER_SUFFIX)
    # Another process finds a marker for this size and mtime: it is believed, the file not read.
    planted = "ab" * 32
    marker.write_text(
        json.dumps({"sha256": planted, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    )
    _digest_cache.clear()  # as in a fresh process
    assert sha256_of(path) == planted
    # The file changed (new mtime): hashed again.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    _digest_cache.clear()
    assert sha256_of(path) == real


@pytest.mark.slow
def test_fresh_process_reuses_the_marker(tmp_path: Path, tiny_checkpoint: tuple) -> None:
    path = tmp_path / "weights.pt"
    path.write_bytes(tiny_checkpoint[0].read_bytes())
    code = (
        "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        "from pathlib import Path\n"
        "from pipeline.methods.stylegan.weights import CheckpointSource, verify_file\n"
        f"src = CheckpointSource('e4e', None, 'repo', 'file', 'rev', {tiny_checkpoint[1]!r}, None)\n"
        f"print('verified', verify_file(Path({str(path)!r}), src))\n"
    )

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    first, second = run(), run()
    assert "hashed" in first and f"verified {tiny_checkpoint[1]}" in first
    assert "hashed" not in second and f"verified {tiny_checkpoint[1]}" in second


def test_checkpoint_is_read_into_memory_not_mapped(tiny_checkpoint: tuple) -> None:
    path = tiny_checkpoint[0]
    ckpt = load_checkpoint_file(path)
    maps = Path("/proc/self/maps").read_text()
    assert str(path) not in maps
    assert ckpt["state_dict"]


def test_no_network_one_line_reason(isolated_env: None) -> None:
    ok, reason = StyleGANMethod.availability()
    assert not ok and "\n" not in reason and "TIMELAPSE_E4E_PATH" in reason
    startup.reset()
    startup.start(["e4e"], device="cpu").join(timeout=30)
    prep = startup.preparation("e4e")
    assert prep is not None and prep.stage == "failed" and "\n" not in prep.error
    with pytest.raises(MethodUnavailableError) as err:
        startup.wait_until_ready("e4e")
    assert "\n" not in str(err.value) and "e4e" in str(err.value)
    startup.reset()


# ----------------------------------------------------------------- latent cache


@pytest.fixture(scope="module")
def group_faces(group: np.ndarray) -> list[np.ndarray]:
    """The two largest faces of a real group photo, FFHQ-aligned at SIZE px."""
    found = detect_faces(group)
    assert len(found) >= 2, "the group photo should show several faces"
    crops = []
    for face in found[:2]:
        crop, _ = align_face(group, np.asarray(face.landmarks, np.float32), size=SIZE)
        crops.append(crop)
    return crops


@pytest.mark.slow
def test_changing_the_chosen_face_changes_the_code(
    tiny_env: Path, group_faces: list[np.ndarray], keyframes: list[Keyframe]
) -> None:
    LATENT_CACHE.clear()
    clear_models()

    def album(face: int) -> list[Keyframe]:
        # The same photo (same key: its file hash) with another face chosen in it.
        chosen = Keyframe(
            image=group_faces[face],
            landmarks=np.zeros((68, 2), np.float32),
            age=40.0,
            key="sha256:group-photo",
        )
        return [keyframes[0], chosen]

    method = StyleGANMethod(encoder="e4e", batch_size=2)
    method.prepare(album(0), size=SIZE)
    first = method.latents[1]
    assert method.encoded_last_prepare == 2
    method.prepare(album(1), size=SIZE)
    second = method.latents[1]
    assert method.encoded_last_prepare == 1  # the other face is encoded, not taken from the cache
    assert np.abs(first - second).max() > 1e-3
    method.prepare(album(0), size=SIZE)  # back to the first face: cached, same code
    assert method.encoded_last_prepare == 0
    np.testing.assert_array_equal(method.latents[1], first)


_ENCODE_IN_A_FRESH_PROCESS = """
import sys
import numpy as np
from pipeline.methods.base import Keyframe
from pipeline.methods.stylegan.method import StyleGANMethod
crops = np.load(sys.argv[1])
keyframes = [Keyframe(image=crops[name], landmarks=np.zeros((68, 2), np.float32), age=40.0,
                      key=name) for name in ("chosen", "other")]
method = StyleGANMethod(encoder="e4e", batch_size=2)
method.prepare(keyframes, size=int(sys.argv[3]))
np.save(sys.argv[2], method.latents)
print("encoded", method.encoded_last_prepare)
"""


@pytest.mark.slow
def test_codes_encoded_in_another_process_are_reused_without_the_encoder(
    tiny_env: Path, group_faces: list[np.ndarray], keyframes: list[Keyframe], tmp_path: Path
) -> None:
    """As on ZeroGPU, where each GPU call is another process: a fresh interpreter encodes two
    faces; this process then finds both codes in the temporary folder and never runs its
    encoder, while another face chosen in the same photo is still encoded anew."""
    from pipeline.methods.stylegan.latents import default_folder
    from pipeline.methods.stylegan.models import get_models

    LATENT_CACHE.clear()
    clear_models()
    np.savez(tmp_path / "crops.npz", chosen=group_faces[0], other=keyframes[0].image)
    done = subprocess.run(
        [sys.executable, "-c", _ENCODE_IN_A_FRESH_PROCESS, str(tmp_path / "crops.npz"),
         str(tmp_path / "codes.npy"), str(SIZE)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["encoded", "2"]
    theirs = np.load(tmp_path / "codes.npy")
    assert LATENT_CACHE.stats().size == 0  # nothing of theirs is in this process's memory
    assert sorted(p.suffix for p in default_folder().iterdir()) == [".npy", ".npy"]

    encoder_runs = []
    models = get_models("e4e", "cpu")
    hook = models.encoder.register_forward_hook(lambda *_: encoder_runs.append(1))
    try:
        method = StyleGANMethod(encoder="e4e", batch_size=2, device="cpu")
        album = [
            Keyframe(image=img, landmarks=np.zeros((68, 2), np.float32), age=40.0, key=name)
            for name, img in (("group", group_faces[0]), ("astronaut", keyframes[0].image))
        ]
        method.prepare(album, size=SIZE)
        assert method.encoded_last_prepare == 0 and encoder_runs == []
        assert LATENT_CACHE.stats().disk_hits == 2
        np.testing.assert_array_equal(method.latents, theirs)
        # The same photo with its other face chosen: another crop, so another code.
        album[0] = Keyframe(
            image=group_faces[1], landmarks=np.zeros((68, 2), np.float32), age=40.0, key="group"
        )
        method.prepare(album, size=SIZE)
        assert method.encoded_last_prepare == 1 and encoder_runs == [1]
        assert np.abs(method.latents[0] - theirs[0]).max() > 1e-3
        np.testing.assert_array_equal(method.latents[1], theirs[1])
    finally:
        hook.remove()
    assert len(list(default_folder().glob("*.npy"))) == 3


# ----------------------------------------------------------------- GPU time


def _work(keyframes: list[Keyframe], **settings) -> GpuWork:
    return gpu_work(keyframes, RenderSettings(method="stylegan", **settings))


def test_duration_grows_with_frames_size_and_timing_mode(
    tiny_env: Path, keyframes: list[Keyframe]
) -> None:
    base = _work(keyframes, size=512, frames_between=24)
    assert base.faces == 3 and base.generated_frames == 2 * 24 + 1 and base.batch_size == 8
    assert base.cold_load  # nothing prepared in this process
    more = _work(keyframes, size=512, frames_between=48)
    bigger = _work(keyframes, size=1024, frames_between=24)
    # ages 30, 40, 50: seconds per year 0.4 -> 4 s transitions (the max) at 30 fps = 120 frames each
    by_age = _work(keyframes, size=512, frames_between=None, seconds_per_year=0.4)
    assert by_age.generated_frames == 2 * 120 + 1
    gif = gpu_work(keyframes, RenderSettings(method="stylegan", size=512), gif=True)
    seconds = {name: work_seconds(w) for name, w in
               {"base": base, "more": more, "bigger": bigger, "age": by_age, "gif": gif}.items()}  # fmt: skip
    assert seconds["more"] > seconds["base"] and seconds["bigger"] > seconds["base"]
    assert seconds["age"] > seconds["more"] > seconds["base"] and seconds["gif"] > seconds["base"]
    requested = [
        gpu_seconds(keyframes, RenderSettings(method="stylegan", frames_between=n))
        for n in (12, 48, 96)
    ]
    assert requested == sorted(requested) and requested[0] < requested[-1] <= MAX_S
    warm = GpuWork(**{**base.__dict__, "cold_load": False})
    assert estimate_gpu_seconds(warm) < estimate_gpu_seconds(base)


def test_too_long_video_is_refused_before_the_gpu(
    tiny_env: Path, keyframes: list[Keyframe]
) -> None:
    long = RenderSettings(
        method="stylegan",
        size=1024,
        frames_between=None,
        seconds_per_year=5.0,
        max_transition_s=60.0,
    )
    assert gpu_seconds(keyframes, long) == MAX_S
    with pytest.raises(UsageError, match="GPU time"):
        check_gpu_budget(keyframes, long)
    check_gpu_budget(keyframes, RenderSettings(method="stylegan", size=512))


# ----------------------------------------------------------------- start-up on a Space


@pytest.mark.slow
def test_startup_prepares_models_in_the_background(hub_env: FakeHub) -> None:
    thread = startup.start(["e4e"], device="cpu")
    assert thread is not None and thread.name == "stylegan-startup"
    startup.wait_until_ready("e4e", timeout=120)
    assert startup.is_ready("e4e", "cpu") and loaded_models("e4e", "cpu") is not None
    assert ("GET", f"/{REPO}/resolve/{REVISION}/{FILE}") in hub_env.requests


def _free_port() -> int:
    return closed_port()


@pytest.mark.slow
def test_space_startup_downloads_in_the_main_process_without_blocking_the_page(
    tiny_checkpoint: tuple, tmp_path: Path
) -> None:
    path, digest = tiny_checkpoint
    size = path.stat().st_size
    # Served at a rate that makes the download last about 8 s.
    served = HubFile(REPO, REVISION, FILE, path, bytes_per_s=size / 8.0)
    port = _free_port()
    with FakeHub([served]) as hub:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TIMELAPSE_", "HF_"))},
            **hub_vars(digest),
            "SPACE_ID": "tests/facial-timelapse",
            "SPACES_ZERO_GPU": "true",
            "SPACES_ZERO_DEVICE_API_URL": hub.endpoint,
            "HF_ENDPOINT": hub.endpoint,
            "HF_HOME": str(tmp_path / "hf"),
            "GRADIO_SERVER_PORT": str(port),
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
            "TIMELAPSE_PRELOAD": "e4e",
            "LOGLEVEL": "INFO",
        }
        log_path = tmp_path / "app.log"
        with open(log_path, "w") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "app.py"],
                cwd=ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            page_while_downloading = None
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                        if r.status == 200 and 0 < hub.bytes_sent < size:
                            page_while_downloading = hub.bytes_sent
                            break
                except OSError:
                    pass
                time.sleep(0.2)
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert page_while_downloading is not None, (
                f"page never answered during the download (sent {hub.bytes_sent} of {size})\n"
                + log_path.read_text()[-3000:]
            )
            while time.monotonic() < deadline and "StyleGAN e4e ready" not in log_path.read_text():
                time.sleep(0.5)
            log = log_path.read_text()
            assert "StyleGAN e4e ready" in log, log[-3000:]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    # Downloaded, verified and loaded by the main process's start-up thread before any
    # render (so outside any GPU function); the verified digest is on disk for GPU workers.
    assert ("GET", f"/{REPO}/resolve/{REVISION}/{FILE}") in hub.requests
    assert "Preparing StyleGAN e4e" in log
    blobs = list(
        (tmp_path / "hf" / "hub").glob(f"models--{REPO.replace('/', '--')}/blobs/*{MARKER_SUFFIX}")
    )
    assert len(blobs) == 1 and json.loads(blobs[0].read_text())["sha256"] == digest


def test_startup_downloads_and_verifies_the_sam_file_without_building_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SAM's checkpoint is fetched and hashed at start-up (outside the GPU window); its networks
    are built when an imagined age is first asked for. The default preload names it."""
    import hashlib

    monkeypatch.delenv(startup.PRELOAD_ENV, raising=False)
    assert startup.preload_encoders() == ["e4e", "sam"]
    monkeypatch.setenv(startup.PRELOAD_ENV, "sam, nonsense")
    assert startup.preload_encoders() == ["sam"]
    body = b"not a real checkpoint, only bytes to verify"
    path = tmp_path / "sam_ffhq_aging.pt"
    path.write_bytes(body)
    monkeypatch.setenv("TIMELAPSE_SAM_PATH", str(path))
    monkeypatch.setenv("TIMELAPSE_SAM_SHA256", hashlib.sha256(body).hexdigest())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    startup.reset()
    try:
        thread = startup.start(["sam"], device="cpu")
        assert thread is not None
        startup.wait_until_ready("sam", timeout=60)
        prep = startup.preparation("sam")
        assert prep is not None and prep.ready and prep.stage == "ready"
        assert (tmp_path / "sam_ffhq_aging.pt.verified.json").is_file()  # no re-hash later
        monkeypatch.setenv("TIMELAPSE_SAM_SHA256", "0" * 64)  # a wrong digest fails, in one line
        startup.reset()
        startup.start(["sam"], device="cpu")
        with pytest.raises(MethodUnavailableError, match="SHA-256"):
            startup.wait_until_ready("sam", timeout=60)
    finally:
        startup.reset()
