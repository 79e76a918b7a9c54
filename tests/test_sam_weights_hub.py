"""SAM's checkpoint, which has no published digest, checked against the Hub's metadata.

A local server stands in for the Hugging Face Hub (``tests/support/hub.py``) and
``huggingface_hub`` talks to it through ``HF_ENDPOINT``: it serves a checkpoint
the way huggingface.co serves an LFS file (a 302 carrying ``X-Linked-Etag`` to a
storage origin), a damaged copy under the intact file's digest, and the same
bytes as a plain git file whose metadata has no SHA-256. The SAM file is a small
real ``torch.save`` checkpoint in SAM's layout (the recipe's SAM networks weigh
1.3 GB); the loaders check it exactly as they check the real one, and one test
loads real (tiny) e4e networks from a file checked this way.
"""

# ruff: noqa: F811  (the fixtures imported from the other test modules are parameters here)
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from test_stylegan_method import closed_port, tiny_checkpoint, tiny_networks  # noqa: F401

from pipeline.errors import MethodUnavailableError
from pipeline.methods.stylegan import aging
from pipeline.methods.stylegan.aging import clear_sam_models, get_sam_models, sam_availability
from pipeline.methods.stylegan.digest import _digest_cache
from pipeline.methods.stylegan.models import clear_models, get_models
from pipeline.methods.stylegan.weights import (
    HUB_METADATA,
    MARKER_SUFFIX,
    clear_probe_cache,
    load_checkpoint_file,
    resolve_checkpoint,
    verify_file,
    weights_availability,
)
from tests.support.hub import FakeHub, HubFile

REPO, FILE = "tests/tiny-sam", "sam_tiny.pt"
REVISION = "fedcba9876543210fedcba9876543210fedcba98"
WEIGHT_VARS = [
    f"TIMELAPSE_{name}_{part}"
    for name in ("SAM", "E4E")
    for part in ("PATH", "REPO", "FILE", "REVISION", "SHA256")
]


@pytest.fixture
def hub_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An empty Hub cache, no weights settings, SAM pointed at the test repository (no pinned
    size or digest, as for the real mirror); returns the cache folder."""
    for var in WEIGHT_VARS + ["HF_HUB_CACHE", "HF_HUB_OFFLINE"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("TIMELAPSE_SAM_REPO", REPO)
    monkeypatch.setenv("TIMELAPSE_SAM_FILE", FILE)
    monkeypatch.setenv("TIMELAPSE_SAM_REVISION", REVISION)
    clear_probe_cache()
    clear_sam_models()
    yield tmp_path / "hf" / "hub"
    clear_probe_cache()
    clear_sam_models()


@pytest.fixture
def sam_file(tmp_path: Path) -> tuple[Path, str]:
    """A small checkpoint in SAM's layout (state_dict, latent_avg, opts); (path, sha256)."""
    generator = torch.Generator().manual_seed(0)
    ckpt = {
        "state_dict": {
            "encoder.input_layer.0.weight": torch.randn(64, 4, 3, 3, generator=generator),
            "pretrained_encoder.input_layer.0.weight": torch.randn(64, 3, 3, 3),
            "decoder.style.1.weight": torch.randn(512, 512, generator=generator),
        },
        "latent_avg": torch.randn(18, 512, generator=generator),
        "opts": {"start_from_encoded_w_plus": True, "input_nc": 4},
    }
    path = tmp_path / "published" / FILE
    path.parent.mkdir()
    torch.save(ckpt, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def damaged(path: Path, tmp_path: Path) -> Path:
    """A copy with one byte changed in the middle (same size: only the digest tells)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    out = tmp_path / "damaged" / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(data))
    return out


def checked_sam() -> str:
    """What SAM's loader does before it reads the file: find it, check it; the digest."""
    path, source = resolve_checkpoint("sam")
    return verify_file(path, source)


def resolve_gets(hub: FakeHub) -> list[tuple[str, str]]:
    """Every request for the file's bytes, on the Hub or its storage origin."""
    on_hub = [r for r in hub.requests if r[0] == "GET" and "/resolve/" in r[1]]
    return on_hub + [r for r in hub.cdn_requests if r[0] == "GET"]


def test_sam_is_downloaded_then_checked_against_the_hubs_sha256(
    hub_home: Path, monkeypatch: pytest.MonkeyPatch, sam_file: tuple[Path, str]
) -> None:
    path, digest = sam_file
    with FakeHub([HubFile(REPO, REVISION, FILE, path, cdn=True)]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        ok, reason = sam_availability()
        assert ok and "will download" in reason, reason
        assert resolve_gets(hub) == []  # the probe is a HEAD request
        cached, source = resolve_checkpoint("sam")
        # The bytes came from the storage origin the Hub redirected to.
        assert [r[1].split("?")[0] for r in resolve_gets(hub)] == [f"/{digest}"]
    assert source.sha256 == digest and source.digest_origin == HUB_METADATA
    assert verify_file(cached, source) == digest
    ckpt = load_checkpoint_file(cached)  # what the SAM loader reads next
    assert ckpt["opts"]["input_nc"] == 4 and ckpt["latent_avg"].shape == (18, 512)
    marker = json.loads(Path(os.path.realpath(cached) + MARKER_SUFFIX).read_text())
    st = cached.stat()
    assert marker == {
        "sha256": digest,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "hub": f"{REPO}/{FILE}@{REVISION}",
    }


@pytest.mark.slow  # the tiny e4e networks weigh 715 MB
def test_networks_load_from_a_file_checked_against_the_hubs_sha256(
    hub_home: Path, monkeypatch: pytest.MonkeyPatch, tiny_checkpoint: tuple[Path, str]
) -> None:
    """The whole way for a row with no pinned digest: download, check, build (tiny e4e)."""
    path, digest = tiny_checkpoint
    repo, revision = "tests/tiny-e4e", "0123456789abcdef0123456789abcdef01234567"
    with FakeHub([HubFile(repo, revision, "e4e.pt", path, cdn=True)]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        for key, value in {"REPO": repo, "FILE": "e4e.pt", "REVISION": revision}.items():
            monkeypatch.setenv(f"TIMELAPSE_E4E_{key}", value)
        clear_models()
        try:
            models = get_models("e4e", "cpu")
        finally:
            clear_models()
    assert models.checkpoint_id == digest
    assert models.generator.n_latent == 10


def test_a_cached_copy_is_checked_again_offline_from_what_the_download_recorded(
    hub_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    sam_file: tuple[Path, str],
) -> None:
    path, digest = sam_file
    snapshot = hub_home / "models--tests--tiny-sam" / "snapshots" / REVISION / FILE

    def fresh_worker(offline: bool) -> None:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
        clear_probe_cache()
        _digest_cache.clear()
        clear_sam_models()

    with FakeHub([HubFile(REPO, REVISION, FILE, path, cdn=True)]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        cached, _ = resolve_checkpoint("sam")
        assert cached == snapshot
        # A worker with no network: huggingface_hub named the blob after the Hub's digest.
        fresh_worker(offline=True)
        assert weights_availability("sam")[0]
        assert checked_sam() == digest
        # huggingface_hub without symlinks keeps the file itself in the snapshot folder:
        # no blob name, and offline nothing else says what the Hub published.
        blob = Path(os.path.realpath(snapshot))
        snapshot.unlink()
        shutil.move(blob, snapshot)
        fresh_worker(offline=True)
        ok, reason = weights_availability("sam")
        assert not ok and "HF_HUB_OFFLINE=1" in reason and "TIMELAPSE_SAM_SHA256" in reason
        with pytest.raises(MethodUnavailableError) as err:
            get_sam_models("cpu")
        message = str(err.value)
        assert str(snapshot) in message and "TIMELAPSE_SAM_SHA256" in message
        assert "\n" not in message
        # Online, the Hub's metadata checks it once; the marker then keeps that digest.
        fresh_worker(offline=False)
        heads = len(hub.requests)
        assert checked_sam() == digest
        assert hub.requests[heads:] == [("HEAD", f"/{REPO}/resolve/{REVISION}/{FILE}")]
    record = json.loads(Path(str(snapshot) + MARKER_SUFFIX).read_text())
    assert record["sha256"] == digest and record["hub"] == f"{REPO}/{FILE}@{REVISION}"
    fresh_worker(offline=True)
    assert weights_availability("sam")[0]
    assert checked_sam() == digest
    # The record is for this repository, file and revision only.
    monkeypatch.setenv("TIMELAPSE_SAM_REVISION", "0" * 40)
    assert not weights_availability("sam")[0]


def test_bytes_that_differ_from_the_hubs_sha256_are_refused_before_loading(
    hub_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sam_file: tuple[Path, str],
) -> None:
    path, digest = sam_file
    # Cut short: unpickling it would fail with an error of its own, not the digest's.
    bad = tmp_path / "damaged" / FILE
    bad.parent.mkdir()
    bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    bad_digest = hashlib.sha256(bad.read_bytes()).hexdigest()
    # The Hub publishes the intact file's digest but its storage sends other bytes.
    served = HubFile(REPO, REVISION, FILE, bad, sha256=digest, cdn=True)
    with FakeHub([served]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        assert sam_availability()[0]  # the metadata alone is in order
        with pytest.raises(MethodUnavailableError) as err:
            get_sam_models("cpu")
        assert len(resolve_gets(hub)) == 1  # it was downloaded, then refused
    message = str(err.value)
    cached = hub_home / "models--tests--tiny-sam" / "snapshots" / REVISION / FILE
    assert str(cached) in message and "\n" not in message
    assert bad_digest[:16] in message and digest[:16] in message
    assert "Hub's metadata" in message and "delete it" in message
    assert "TIMELAPSE_SAM_PATH" in message
    # Nothing was built from the refused file, and no marker vouches for it.
    assert aging._models == {}
    assert not Path(os.path.realpath(cached) + MARKER_SUFFIX).exists()


def test_metadata_without_a_sha256_is_refused_before_any_download(
    hub_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    sam_file: tuple[Path, str],
) -> None:
    path, digest = sam_file
    # A plain git file: its ETag is the git blob id (SHA-1), and it has no X-Linked-Etag.
    plain = HubFile(REPO, REVISION, FILE, path, lfs=False)
    with FakeHub([plain]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        ok, reason = sam_availability()
        assert not ok and "gives no SHA-256" in reason and plain.git_blob_id[:12] in reason
        assert FILE in reason and "TIMELAPSE_SAM_PATH" in reason and "\n" not in reason
        with pytest.raises(MethodUnavailableError, match="gives no SHA-256"):
            get_sam_models("cpu")
        assert resolve_gets(hub) == []  # refused on its metadata: nothing downloaded
        # A digest the user pins wins over metadata that has none.
        monkeypatch.setenv("TIMELAPSE_SAM_SHA256", digest)
        clear_probe_cache()
        assert sam_availability()[0]
        assert checked_sam() == digest and len(resolve_gets(hub)) == 1


def test_a_pinned_digest_wins_over_the_hubs(
    hub_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sam_file: tuple[Path, str],
) -> None:
    path, digest = sam_file
    other = damaged(path, tmp_path)
    other_digest = hashlib.sha256(other.read_bytes()).hexdigest()
    # The Hub's metadata and bytes agree with each other, not with the pinned digest.
    with FakeHub([HubFile(REPO, REVISION, FILE, other, cdn=True)]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("TIMELAPSE_SAM_SHA256", digest)
        ok, reason = sam_availability()
        assert not ok and f"expected {digest[:12]}" in reason and other_digest[:12] in reason
        with pytest.raises(MethodUnavailableError):
            get_sam_models("cpu")
        assert resolve_gets(hub) == []
        # Already in the cache under the Hub's digest (the blob's name): still the pinned one.
        monkeypatch.delenv("TIMELAPSE_SAM_SHA256")
        clear_probe_cache()
        cached, source = resolve_checkpoint("sam")
        assert source.sha256 == other_digest
    monkeypatch.setenv("TIMELAPSE_SAM_SHA256", digest)
    assert os.path.basename(os.path.realpath(cached)) == other_digest
    with pytest.raises(MethodUnavailableError) as err:
        get_sam_models("cpu")
    assert f"expected {digest[:16]}" in str(err.value) and "TIMELAPSE_SAM_SHA256" in str(err.value)


def test_e4e_pinned_row_is_not_loosened_by_the_metadata(
    hub_home: Path, monkeypatch: pytest.MonkeyPatch, sam_file: tuple[Path, str]
) -> None:
    path, digest = sam_file  # any small checkpoint: the row's name is what matters here
    repo, revision = "tests/tiny-e4e", "0123456789abcdef0123456789abcdef01234567"
    # Metadata that gives no SHA-256 does not stop a file whose digest is pinned.
    with FakeHub([HubFile(repo, revision, "e4e.pt", path, lfs=False)]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        for key, value in {"REPO": repo, "FILE": "e4e.pt", "REVISION": revision}.items():
            monkeypatch.setenv(f"TIMELAPSE_E4E_{key}", value)
        monkeypatch.setenv("TIMELAPSE_E4E_SHA256", digest)
        cached, source = resolve_checkpoint("e4e")
    assert source.sha256 == digest and source.digest_origin == "TIMELAPSE_E4E_SHA256"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == digest
