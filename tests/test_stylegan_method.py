"""The ``stylegan`` method end to end on CPU, and how it finds, checks and loads weights.

A tiny checkpoint in the real e4e format ({state_dict: {encoder.*, decoder.*},
latent_avg, opts}; size-64 generator, 10-style IR-SE-50 encoder, values from the
fixture recipe) is written to a temporary file and pointed to by
``TIMELAPSE_E4E_PATH``, so the method loads it exactly as it loads the real one.
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.errors import MethodUnavailableError, UsageError
from pipeline.methods.base import Keyframe, available_methods, get_method
from pipeline.methods.stylegan.encoders import Encoder4Editing
from pipeline.methods.stylegan.generator import Generator
from pipeline.methods.stylegan.latents import LATENT_CACHE
from pipeline.methods.stylegan.method import StyleGANMethod
from pipeline.methods.stylegan.models import clear_models
from pipeline.methods.stylegan.weights import (
    HUB_DEFAULTS,
    clear_probe_cache,
    load_checkpoint_file,
    split_checkpoint,
)
from tests.support.hub import FakeHub, HubFile
from tests.support.recipe import recipe_state_dict

pytestmark = pytest.mark.slow  # StyleGAN encodes and renders on the CPU

SIZE = 96  # output frames; the tiny generator renders 64 px, so frames are resized
ENV_VARS = [
    f"TIMELAPSE_{enc}_{part}"
    for enc in ("E4E", "PSP")
    for part in ("PATH", "REPO", "FILE", "REVISION", "SHA256")
]


@pytest.fixture(scope="module")
def tiny_networks() -> tuple[Encoder4Editing, Generator, torch.Tensor]:
    """e4e encoder (10 styles) + 64 px generator filled by the recipe, and a latent_avg."""
    generator = Generator(64)
    generator.load_state_dict(recipe_state_dict(generator.state_dict(), encoder=False))
    with torch.device("meta"):
        encoder = Encoder4Editing(10)
    encoder.load_state_dict(recipe_state_dict(encoder.state_dict(), encoder=True), assign=True)
    with torch.no_grad():
        z = torch.randn(256, 512, generator=torch.Generator().manual_seed(0))
        latent_avg = generator.mapping(z).mean(0, keepdim=True).repeat(10, 1)
    return encoder.eval(), generator.eval(), latent_avg


@pytest.fixture(scope="module")
def tiny_checkpoint(
    tmp_path_factory: pytest.TempPathFactory, tiny_networks: tuple
) -> tuple[Path, str]:
    """The tiny networks saved in the e4e checkpoint format; returns (path, sha256)."""
    encoder, generator, latent_avg = tiny_networks
    state = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
    state.update({f"decoder.{k}": v for k, v in generator.state_dict().items()})
    ckpt = {
        "state_dict": state,
        "latent_avg": latent_avg,
        "opts": {"encoder_type": "Encoder4Editing", "stylegan_size": 64, "batch_size": 8},
    }
    path = tmp_path_factory.mktemp("stylegan") / "e4e_tiny.pt"
    torch.save(ckpt, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return path, digest


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No TIMELAPSE_* weights, an empty Hub cache, a Hub endpoint that refuses connections."""
    for var in ENV_VARS + ["HF_HUB_CACHE", "HF_HUB_OFFLINE"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    clear_probe_cache()
    yield
    clear_probe_cache()


@pytest.fixture
def tiny_env(isolated_env: None, monkeypatch: pytest.MonkeyPatch, tiny_checkpoint: tuple) -> Path:
    path, digest = tiny_checkpoint
    monkeypatch.setenv("TIMELAPSE_E4E_PATH", str(path))
    monkeypatch.setenv("TIMELAPSE_E4E_SHA256", digest)
    return path


def closed_port() -> int:
    """A local TCP port with nothing listening (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def face(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Crop `box` (left, top, right, bottom) and resize to SIZE: a stand-in aligned face."""
    crop = Image.fromarray(image).crop(box).resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return np.asarray(crop.convert("RGB"))


@pytest.fixture(scope="module")
def keyframes(astronaut: np.ndarray, hanks: np.ndarray) -> list[Keyframe]:
    h, w = hanks.shape[:2]
    side = min(h, w)
    images = [
        face(astronaut, (140, 20, 320, 200)),
        face(hanks, ((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2)),
        face(astronaut[:, ::-1].copy(), (192, 20, 372, 200)),
    ]
    return [
        Keyframe(image=img, landmarks=np.zeros((68, 2), np.float32), age=30.0 + 10 * i, key=k)
        for i, (img, k) in enumerate(zip(images, ["astronaut", "hanks", "astronaut-flipped"]))
    ]


@pytest.fixture(scope="module")
def prepared(keyframes: list[Keyframe], tiny_checkpoint: tuple) -> StyleGANMethod:
    path, digest = tiny_checkpoint
    with pytest.MonkeyPatch.context() as mp:
        for var in ENV_VARS:
            mp.delenv(var, raising=False)
        mp.setenv("TIMELAPSE_E4E_PATH", str(path))
        mp.setenv("TIMELAPSE_E4E_SHA256", digest)
        LATENT_CACHE.clear()
        clear_models()
        method = StyleGANMethod(encoder="e4e", batch_size=2)
        method.prepare(keyframes, size=SIZE)
    return method


def test_registered_with_contract() -> None:
    cls = get_method("stylegan")
    assert cls is StyleGANMethod
    assert (cls.name, cls.label, cls.default_gamma) == ("stylegan", "StyleGAN2 (e4e/pSp)", 0.5)
    method = cls(encoder="psp", device=None, batch_size=None)
    assert method.encoder == "psp" and method.device.type == (
        "cuda" if torch.cuda.is_available() else "cpu"
    )
    with pytest.raises(UsageError, match="e4e, psp"):
        cls(encoder="restyle")
    with pytest.raises(UsageError, match="batch_size"):
        cls(batch_size=0)


def test_prepare_encodes_all_keyframes(prepared: StyleGANMethod) -> None:
    assert prepared.encoded_last_prepare == 3
    latents = prepared.latents
    assert latents.shape == (3, 10, 512) and latents.dtype == np.float32
    assert np.isfinite(latents).all()
    assert not np.allclose(latents[0], latents[1])


@torch.no_grad()
def test_latents_are_encoder_codes_plus_latent_avg(
    prepared: StyleGANMethod, keyframes: list[Keyframe], tiny_networks: tuple
) -> None:
    encoder, _, latent_avg = tiny_networks
    x = torch.stack([torch.tensor(kf.image).permute(2, 0, 1).float() for kf in keyframes])
    x = F.interpolate(x, size=(256, 256), mode="bilinear", antialias=True) / 127.5 - 1.0
    expected = (encoder(x) + latent_avg).numpy()
    np.testing.assert_allclose(
        prepared.latents, expected, rtol=0, atol=1e-4 * np.abs(expected).max()
    )


def test_transition_frames(prepared: StyleGANMethod) -> None:
    lambdas = np.arange(5) / 5
    frames = list(prepared.transition(0, lambdas))
    assert len(frames) == 5
    for frame in frames:
        assert frame.dtype == np.uint8 and frame.shape == (SIZE, SIZE, 3)
    assert all(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))
    assert list(prepared.transition(1, np.array([]))) == []


@torch.no_grad()
def test_lambda_zero_reproduces_keyframe_reconstruction(
    prepared: StyleGANMethod, tiny_networks: tuple
) -> None:
    _, generator, _ = tiny_networks
    for j in (0, 1):
        (frame,) = prepared.transition(j, np.array([0.0]))
        np.testing.assert_array_equal(frame, prepared.reconstruct(j))
        # ...and that reconstruction is the generator's image of the keyframe's own latent.
        image = generator.synthesis(torch.from_numpy(prepared.latents[j : j + 1]))
        image = F.interpolate(image, size=(SIZE, SIZE), mode="bilinear", antialias=True)
        expected = ((image.clamp(-1, 1) + 1) * 127.5).round()[0].permute(1, 2, 0).numpy()
        assert np.abs(frame.astype(np.float32) - expected).max() <= 1.0
    (end,) = prepared.transition(0, np.array([1.0]))
    np.testing.assert_array_equal(end, prepared.reconstruct(1))


def test_batch_size_does_not_change_frames(
    tiny_env: Path, prepared: StyleGANMethod, keyframes: list[Keyframe]
) -> None:
    lambdas = np.array([0.1, 0.4, 0.7])
    batched = np.stack(list(prepared.transition(1, lambdas)))
    single = StyleGANMethod(encoder="e4e", batch_size=1)
    single.prepare(keyframes, size=SIZE)  # latents from the cache
    one_by_one = np.stack(list(single.transition(1, lambdas)))
    assert np.abs(batched.astype(int) - one_by_one.astype(int)).max() <= 1


def test_second_prepare_uses_latent_cache(
    tiny_env: Path, prepared: StyleGANMethod, keyframes: list[Keyframe]
) -> None:
    again = StyleGANMethod(encoder="e4e")
    again.prepare(keyframes[::-1], size=64)  # other order and size: still no encoding
    assert again.encoded_last_prepare == 0
    np.testing.assert_array_equal(again.latents, prepared.latents[::-1])
    new = Keyframe(
        image=keyframes[0].image[::-1].copy(),  # upside down: a crop not seen before
        landmarks=np.zeros((68, 2), np.float32),
        age=50.0,
        key="new-photo",
    )
    again.prepare([*keyframes, new], size=64)
    assert again.encoded_last_prepare == 1


def test_keyframe_without_key_is_cached_by_content(
    tiny_env: Path, prepared: StyleGANMethod, keyframes: list[Keyframe]
) -> None:
    anonymous = [
        Keyframe(image=kf.image, landmarks=kf.landmarks, age=kf.age) for kf in keyframes[:2]
    ]
    method = StyleGANMethod()
    method.prepare(anonymous, size=SIZE)
    method.prepare(anonymous, size=SIZE)
    assert method.encoded_last_prepare == 0
    np.testing.assert_allclose(method.latents, prepared.latents[:2], atol=1e-5)


def test_checkpoint_with_wrong_hash_is_refused(
    tiny_env: Path, prepared: StyleGANMethod, keyframes: list[Keyframe], monkeypatch
) -> None:
    monkeypatch.setenv("TIMELAPSE_E4E_SHA256", "0" * 64)
    with pytest.raises(MethodUnavailableError, match="SHA-256"):
        StyleGANMethod().prepare(keyframes, size=SIZE)


def test_preload_returns_verified_checkpoint_id(tiny_env: Path, tiny_checkpoint: tuple) -> None:
    assert StyleGANMethod.preload(encoder="e4e") == tiny_checkpoint[1]


def test_availability_without_weights_or_network(isolated_env: None) -> None:
    start = time.monotonic()
    ok, reason = StyleGANMethod.availability()
    assert time.monotonic() - start < 3.0
    assert ok is False
    assert "\n" not in reason and len(reason) < 400
    assert "e4e_ffhq_encode.pt" in reason and "TIMELAPSE_E4E_PATH" in reason
    assert available_methods()["stylegan"] == (False, reason)


def test_prepare_without_weights_fails_fast(isolated_env: None, keyframes: list[Keyframe]) -> None:
    start = time.monotonic()
    with pytest.raises(MethodUnavailableError, match="TIMELAPSE_E4E_PATH"):
        StyleGANMethod().prepare(keyframes, size=SIZE)
    assert time.monotonic() - start < 3.0


def test_availability_offline(isolated_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ok, reason = StyleGANMethod.availability()
    assert ok is False and "HF_HUB_OFFLINE=1" in reason and "TIMELAPSE_E4E_PATH" in reason


def test_availability_with_local_file(tiny_env: Path) -> None:
    ok, reason = StyleGANMethod.availability()
    assert ok is True and str(tiny_env) in reason


def test_availability_with_missing_local_file(
    isolated_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "e4e_ffhq_encode.pt"
    monkeypatch.setenv("TIMELAPSE_E4E_PATH", str(missing))
    ok, reason = StyleGANMethod.availability()
    assert ok is False and str(missing) in reason


def test_availability_when_hub_serves_the_pinned_file(
    isolated_env: None, monkeypatch: pytest.MonkeyPatch, tiny_checkpoint: tuple
) -> None:
    path, digest = tiny_checkpoint
    default = HUB_DEFAULTS["e4e"]
    served = HubFile(default.repo_id, default.revision, default.filename, path)
    with FakeHub([served]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("TIMELAPSE_E4E_SHA256", digest)
        ok, reason = StyleGANMethod.availability()
        # The pinned size (1.2 GB) does not match the tiny file: the probe says so.
        clear_probe_cache()
        monkeypatch.setenv("TIMELAPSE_E4E_REPO", default.repo_id.upper())
        wrong_repo = StyleGANMethod.availability()
        assert (
            "HEAD",
            f"/{default.repo_id}/resolve/{default.revision}/{default.filename}",
        ) in hub.requests
    assert ok is False and f"expected {default.size}" in reason
    assert wrong_repo[0] is False and "no repository" in wrong_repo[1]


def test_cached_hub_file_is_found_and_size_checked(
    isolated_env: None, keyframes: list[Keyframe], tmp_path: Path
) -> None:
    default = HUB_DEFAULTS["e4e"]
    repo_dir = tmp_path / "hf" / "hub" / ("models--" + default.repo_id.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / default.revision / default.filename
    snapshot.parent.mkdir(parents=True)
    snapshot.write_bytes(b"not the real checkpoint")
    ok, reason = StyleGANMethod.availability()
    assert ok is True and "cached" in reason
    with pytest.raises(MethodUnavailableError, match=f"expected {default.size}"):
        StyleGANMethod().prepare(keyframes, size=SIZE)


def test_opts_as_namespace_loads_safely(tmp_path: Path) -> None:
    path = tmp_path / "namespace_opts.pt"
    torch.save(
        {
            "state_dict": {"encoder.w": torch.ones(2), "decoder.w": torch.zeros(2)},
            "latent_avg": torch.zeros(512),
            "opts": argparse.Namespace(encoder_type="Encoder4Editing", stylegan_size=1024),
        },
        path,
    )
    parts = split_checkpoint(load_checkpoint_file(path))
    assert parts.opts == {"encoder_type": "Encoder4Editing", "stylegan_size": 1024}
    assert torch.equal(parts.encoder["w"], torch.ones(2)) and "w" in parts.decoder


class _Payload:
    """Not a tensor or plain option: must never be unpickled from a checkpoint."""


def test_checkpoint_with_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "opts": _Payload()}, path)
    with pytest.raises(MethodUnavailableError, match="refusing to unpickle"):
        load_checkpoint_file(path)
