"""Ages beyond the photos: imagined SAM keyframes, the W+ path, a one-photo lifespan, extensions.

A tiny checkpoint in the real ``sam_ffhq_aging.pt`` format ({state_dict:
{encoder.* (4 input channels), pretrained_encoder.*, decoder.*}, latent_avg,
opts}; 10-style IR-SE-50 encoders, a 64 px generator, values from the fixture
recipe) is written to a temporary file and pointed to by ``TIMELAPSE_SAM_PATH``,
so SAM loads exactly as the real one would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.errors import MethodUnavailableError, NotEnoughPhotosError, UsageError
from pipeline.methods.base import Keyframe
from pipeline.methods.stylegan.aging import clear_sam_models, hermite_path, sam_availability
from pipeline.methods.stylegan.generator import Generator
from pipeline.methods.stylegan.latents import LATENT_CACHE
from pipeline.methods.stylegan.sam import SAMEncoder
from pipeline.methods.stylegan.weights import clear_probe_cache
from pipeline.render import RenderSettings, plan_render, preflight, render
from pipeline.render.captions import Captioner
from pipeline.render.encode import read_frames
from pipeline.render.imagined import add_imagined, ages_toward, keyframe_gammas, lifespan_ages
from pipeline.types import ImaginedFrom
from tests.support.recipe import recipe_state_dict, recipe_tensor

pytestmark = pytest.mark.slow  # SAM networks on the CPU

SIZE = 256
SAM_VARS = [f"TIMELAPSE_SAM_{part}" for part in ("PATH", "REPO", "FILE", "REVISION", "SHA256")]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No SAM weights anywhere, an empty Hub cache, a Hub endpoint that refuses connections."""
    for var in SAM_VARS + ["HF_HUB_CACHE", "HF_HUB_OFFLINE"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    clear_probe_cache()
    clear_sam_models()
    yield
    clear_probe_cache()


@pytest.fixture(scope="module")
def tiny_sam_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 10-style SAM + 64 px generator in the public checkpoint's format; (path, sha256)."""
    with torch.device("meta"):
        net = SAMEncoder(10)
    state: dict[str, torch.Tensor] = {}
    for prefix, module in (
        ("encoder.", net.encoder),
        ("pretrained_encoder.", net.pretrained_encoder),
    ):
        for key, ref in sorted(module.state_dict().items()):
            value = recipe_tensor(prefix + key, tuple(ref.shape), ref.dtype, encoder=True)
            state[prefix + key] = value.to(ref.dtype)
    generator = Generator(64)
    generator.load_state_dict(recipe_state_dict(generator.state_dict(), encoder=False))
    state.update({f"decoder.{k}": v for k, v in generator.state_dict().items()})
    with torch.no_grad():
        z = torch.randn(256, 512, generator=torch.Generator().manual_seed(0))
        latent_avg = generator.mapping(z).mean(0, keepdim=True).repeat(10, 1)
    ckpt = {
        "state_dict": state,
        "latent_avg": latent_avg,
        "opts": {"start_from_encoded_w_plus": True, "start_from_latent_avg": False, "input_nc": 4},
    }
    path = tmp_path_factory.mktemp("sam") / "sam_tiny.pt"
    torch.save(ckpt, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def sam_env(
    isolated_env: None, monkeypatch: pytest.MonkeyPatch, tiny_sam_checkpoint: tuple
) -> Path:
    path, digest = tiny_sam_checkpoint
    monkeypatch.setenv("TIMELAPSE_SAM_PATH", str(path))
    monkeypatch.setenv("TIMELAPSE_SAM_SHA256", digest)
    return path


@pytest.fixture(scope="module")
def photo_keyframes(portrait_faces) -> list[Keyframe]:
    """Two real aligned faces at 256 px (ages 30 and 60), with their 68 landmarks."""
    out = []
    for i, (name, age) in enumerate((("astronaut", 30.0), ("hanks", 60.0))):
        aligned, landmarks = portrait_faces.aligned(name, SIZE)
        out.append(Keyframe(aligned, landmarks, age, label=f"p{i}.jpg", key=f"photo-{i}"))
    return out


# --- planning: pure, no network -----------------------------------------------------------


def test_ages_every_ten_years_to_the_target() -> None:
    assert ages_toward(43, 80, 10) == [52.0, 62.0, 71.0, 80.0]
    assert ages_toward(30, 2, 10) == [21.0, 11.0, 2.0]
    assert ages_toward(75, 80, 10) == [80.0]
    assert lifespan_ages(5, 80, 10) == [5.0, 14.0, 24.0, 33.0, 42.0, 52.0, 61.0, 71.0, 80.0]


def test_one_photo_becomes_a_lifespan_with_the_photo_at_its_own_age(
    photo_keyframes: list[Keyframe],
) -> None:
    photo = dataclasses.replace(photo_keyframes[0], age=32.0)
    kfs = add_imagined(
        [photo], extend_before=None, extend_after=None, lifespan=(5, 80), age_step=10
    )
    ages = [kf.age for kf in kfs]
    # The grid 5, 14, 24, 33, ... 80 with the photo at 32 in place of 33 (too close to it).
    assert ages == [5.0, 14.0, 24.0, 32.0, 42.0, 52.0, 61.0, 71.0, 80.0]
    assert [kf for kf in kfs if kf.imagined is None] == [photo]
    for kf in kfs:
        if kf is not photo:
            assert kf.imagined == ImaginedFrom(source_key=photo.key, source="p0.jpg")
    gammas = keyframe_gammas(kfs, 0.0)
    assert gammas[ages.index(32.0)] == 1.0
    assert all(g == 0.0 for kf, g in zip(kfs, gammas) if kf is not photo)


def test_extend_after_adds_only_after_the_last_photo(photo_keyframes: list[Keyframe]) -> None:
    kfs = add_imagined(
        photo_keyframes, extend_before=None, extend_after=80, lifespan=(5, 80), age_step=10
    )
    assert [kf.age for kf in kfs] == [30.0, 60.0, 70.0, 80.0]
    assert [kf.imagined is not None for kf in kfs] == [False, False, True, True]
    assert {kf.imagined.source_key for kf in kfs[2:] if kf.imagined} == {"photo-1"}
    # The photo next to the imagined faces is met exactly; the other keeps gamma.
    assert keyframe_gammas(kfs, 0.25) == [0.25, 1.0, 0.0, 0.0]
    both = add_imagined(
        photo_keyframes, extend_before=10, extend_after=None, lifespan=(5, 80), age_step=10
    )
    assert [kf.age for kf in both] == [10.0, 20.0, 30.0, 60.0]
    assert both[0].imagined is not None and both[0].imagined.source_key == "photo-0"
    with pytest.raises(UsageError, match="above its age"):
        add_imagined(
            photo_keyframes, extend_before=None, extend_after=50, lifespan=(5, 80), age_step=10
        )
    with pytest.raises(UsageError, match="below its age"):
        add_imagined(
            photo_keyframes, extend_before=40, extend_after=None, lifespan=(5, 80), age_step=10
        )


def test_imagined_captions_say_so(photo_keyframes: list[Keyframe]) -> None:
    kfs = add_imagined(
        photo_keyframes, extend_before=None, extend_after=80, lifespan=(5, 80), age_step=10
    )
    cap = Captioner(kfs, "age", SIZE)
    assert cap.keyframe_texts() == ["30 y", "60 y", "about 70 y, imagined", "about 80 y, imagined"]
    assert cap.text(0, 0.5) == "45 y"  # between two photos: nothing imagined
    assert cap.text(1, 0.5) == "about 65 y, imagined"


def test_settings_check_imagined_ages() -> None:
    RenderSettings(extend_before=2, extend_after=90, lifespan=(0, 100), age_step=5).validate()
    for bad in (
        {"extend_after": 120},
        {"extend_before": -1},
        {"lifespan": (50, 52)},
        {"lifespan": (5,)},
        {"age_step": 0.5},
    ):
        with pytest.raises(UsageError):
            RenderSettings(**bad).validate()


def test_w_plus_path_is_smooth_and_passes_through_every_keyframe() -> None:
    rng = np.random.default_rng(0)
    latents = rng.normal(size=(4, 2, 3)).astype(np.float32)
    knots = np.array([0.0, 1.0, 3.0, 4.0])
    for j in range(3):
        ends = hermite_path(latents, knots, j, np.array([0.0, 1.0]))
        np.testing.assert_allclose(ends, latents[j : j + 2], atol=1e-6)
    # Velocity (per second) just before and after an interior keyframe agrees: no hop.
    eps = 1e-4
    for j in (1, 2):
        h_prev, h_next = knots[j] - knots[j - 1], knots[j + 1] - knots[j]
        before = (latents[j] - hermite_path(latents, knots, j - 1, np.array([1 - eps]))[0]) / (
            eps * h_prev
        )
        after = (hermite_path(latents, knots, j, np.array([eps]))[0] - latents[j]) / (eps * h_next)
        np.testing.assert_allclose(before, after, atol=1e-2)
        linear_before = (latents[j] - latents[j - 1]) / h_prev
        linear_after = (latents[j + 1] - latents[j]) / h_next
        assert np.abs(linear_before - linear_after).max() > 0.1  # a straight hop would kink


# --- without weights and network ------------------------------------------------------------


def test_without_weights_and_network_one_line_reason(
    isolated_env: None, photo_keyframes: list[Keyframe], tmp_path: Path
) -> None:
    ok, reason = sam_availability()
    assert not ok
    assert "\n" not in reason and "TIMELAPSE_SAM_PATH" in reason and "sam_ffhq_aging.pt" in reason
    with pytest.raises(MethodUnavailableError, match="needs the SAM age model") as exc:
        preflight(RenderSettings(size=SIZE, extend_after=80), video=tmp_path / "v.mp4")
    assert "\n" not in str(exc.value)
    with pytest.raises(NotEnoughPhotosError, match="SAM age model"):
        plan_render(photo_keyframes[:1], RenderSettings(size=SIZE))
    # The normal flow is untouched.
    plan = plan_render(photo_keyframes, RenderSettings(size=SIZE))
    assert not plan.imagined and len(plan.keyframes) == 2


# --- with the tiny SAM --------------------------------------------------------------------


@pytest.mark.slow
def test_one_photo_lifespan_video(
    sam_env: Path, photo_keyframes: list[Keyframe], tmp_path: Path
) -> None:
    LATENT_CACHE.clear()
    photo = photo_keyframes[0]
    settings = RenderSettings(
        size=SIZE, frames_between=4, lifespan=(20, 60), age_step=20, background="original"
    )
    result = render(
        [photo],
        settings=settings,
        video=tmp_path / "life.mp4",
        contact_sheet=tmp_path / "life.png",
        report=tmp_path / "life.json",
    )
    report = json.loads((tmp_path / "life.json").read_text())
    kfs = report["keyframes"]
    assert [k["age"] for k in kfs] == [20.0, 30.0, 40.0, 60.0]
    assert [k["imagined"] for k in kfs] == [True, False, True, True]
    assert [k["caption"] for k in kfs] == [
        "about 20 y, imagined",
        "30 y",
        "about 40 y, imagined",
        "about 60 y, imagined",
    ]
    assert kfs[0]["source"] == "p0.jpg" and kfs[1]["source"] is None
    assert report["imagined"]["lifespan"] and report["imagined"]["count"] == 3
    frames = list(read_frames(result.video, SIZE))
    assert len(frames) == result.frame_count == 3 * 4 + 1
    top = slice(0, SIZE // 2)  # above the caption
    # The real photo is shown at its own age (up to H.264 loss)...
    real_frame = frames[kfs[1]["frame"]]
    assert np.abs(real_frame[top].astype(int) - photo.image[top]).mean() < 6.0
    # ...and the imagined keyframes are SAM faces, different at each age.
    imagined = [frames[k["frame"]][top].astype(int) for k in kfs if k["imagined"]]
    assert all(np.abs(face - photo.image[top]).mean() > 10 for face in imagined)
    assert np.abs(imagined[0] - imagined[1]).mean() > 1.0
    assert Image.open(tmp_path / "life.png").size[0] > 0


@pytest.mark.slow
def test_one_photo_lifespan_on_the_soft_backdrop_shows_the_sam_faces(
    sam_env: Path, photo_keyframes: list[Keyframe], tmp_path: Path
) -> None:
    """With the default steady backdrop SAM imagines its faces from the photo on the backdrop
    and the video puts each generated frame on the backdrop: the plan takes the faces (not the
    photo standing in for them), so its keyframes (the contact sheet) and its shown keyframes
    are what the video shows; the photo's own keyframe stays as it was."""
    LATENT_CACHE.clear()
    photo = photo_keyframes[0]
    settings = RenderSettings(size=SIZE, frames_between=4, lifespan=(20, 60), age_step=20)
    assert settings.background == "soft"  # the default
    plan = plan_render([photo], settings)
    plan.apply_background()
    stand_ins, shown_before = list(plan.keyframes), list(plan.shown_keyframes())
    plan.prepare(plan.new_method())
    kfs, shown = plan.keyframes, plan.shown_keyframes()
    assert plan.backdrop is not None and [kf.age for kf in kfs] == [20.0, 30.0, 40.0, 60.0]
    assert kfs[1] is stand_ins[1] and shown[1] is shown_before[1]  # the photo: unchanged
    result = render([photo], settings=settings, video=tmp_path / "soft.mp4")
    frames = list(read_frames(result.video, SIZE))
    top = slice(0, SIZE // 2)  # above the caption
    corner = (slice(0, 16), slice(0, 16))
    for i, k in enumerate(result.report["keyframes"]):
        frame = frames[k["frame"]].astype(int)
        # The video shows the plan's keyframe there (up to H.264 loss)...
        assert np.abs(frame[top] - shown[i][top]).mean() < 6.0, k["caption"]
        if not k["imagined"]:
            continue
        kf = kfs[i]
        # ...a SAM face with its own matte, on the backdrop...
        assert kf.imagined and kf.wplus is not None and kf.matte is not None
        assert kf.time == stand_ins[i].time and kf.matte is not stand_ins[i].matte
        assert np.abs(kf.image[top].astype(int) - photo.image[top]).mean() > 10
        assert np.abs(frame[corner] - plan.backdrop[corner]).mean() < 6.0
        # ...not the photo on the backdrop standing in for it.
        assert np.abs(shown[i][top].astype(int) - shown_before[i][top]).mean() > 10


@pytest.mark.slow
def test_extend_after_80_adds_generated_keyframes_after_the_last_photo_only(
    sam_env: Path, photo_keyframes: list[Keyframe], tmp_path: Path
) -> None:
    LATENT_CACHE.clear()
    settings = RenderSettings(
        size=SIZE, frames_between=3, extend_after=80, age_step=10, background="original"
    )
    result = render(photo_keyframes, settings=settings, video=tmp_path / "x.mp4")
    kfs = result.report["keyframes"]
    assert [k["age"] for k in kfs] == [30.0, 60.0, 70.0, 80.0]
    assert [k["imagined"] for k in kfs] == [False, False, True, True]
    assert [t["imagined"] for t in result.report["transitions"]] == [False, True, True]
    assert [k["caption"] for k in kfs][2:] == ["about 70 y, imagined", "about 80 y, imagined"]
    frames = list(read_frames(result.video, SIZE))
    top = slice(0, SIZE // 2)
    # Between the two photos the morph is used: the first frame is the first photo.
    assert np.abs(frames[0][top].astype(int) - photo_keyframes[0].image[top]).mean() < 6.0
    # The last photo is met (up to H.264 loss) before the imagined stretch begins.
    last = frames[kfs[1]["frame"]]
    assert np.abs(last[top].astype(int) - photo_keyframes[1].image[top]).mean() < 6.0
    # Cached SAM latents: a second render with the same photos and ages encodes nothing new.
    hits = LATENT_CACHE.stats().hits
    render(photo_keyframes, settings=settings, video=tmp_path / "y.mp4")
    assert LATENT_CACHE.stats().hits >= hits + 3


def test_imagined_faces_are_new_keyframes_and_those_handed_in_stay(
    sam_env: Path, photo_keyframes: list[Keyframe]
) -> None:
    """SAM's faces and latents are on new keyframes: the plan takes them from the method, and
    neither the photos handed in nor the plan's stand-ins before preparing change."""
    LATENT_CACHE.clear()
    given = [(kf.image.tobytes(), kf.wplus, kf.time) for kf in photo_keyframes]
    settings = RenderSettings(
        size=SIZE, frames_between=3, extend_after=80, age_step=10, background="original"
    )
    plan = plan_render(photo_keyframes, settings)
    stand_ins = plan.keyframes
    images = [kf.image for kf in stand_ins]
    method = plan.new_method()
    plan.prepare(method)
    assert [(kf.image.tobytes(), kf.wplus, kf.time) for kf in photo_keyframes] == given
    assert all(kf.image is image and kf.wplus is None for kf, image in zip(stand_ins, images))
    mine = plan.keyframes
    assert mine is not stand_ins and [kf.age for kf in mine] == [30.0, 60.0, 70.0, 80.0]
    # The last photo (the source) and its two imagined ages carry latents; the first does not.
    assert [kf.wplus is not None for kf in mine] == [False, True, True, True]
    assert mine[0] is stand_ins[0] and mine[1].image is stand_ins[1].image
    for kf, stand_in in zip(mine[2:], stand_ins[2:]):
        assert kf.time == stand_in.time and kf.wplus.shape[1] == 512
        assert np.abs(kf.image.astype(int) - stand_in.image).mean() > 10  # a SAM face
    assert len(mine) == len(method.keyframes)
    assert all(a is b for a, b in zip(mine, method.keyframes))


def test_cli_extension_without_sam_stops_before_the_analysis(
    isolated_env: None, edison_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from pipeline.cli import main

    code = main(["render", str(edison_dir), "-o", str(tmp_path / "x.mp4"), "--extend-after", "80"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Extending the video beyond the photos needs the SAM age model")
    assert "\n" not in err
    assert not list(tmp_path.glob("*.mp4"))
    assert (
        main(["render", str(edison_dir), "-o", str(tmp_path / "y.mp4"), "--extend-after", "150"])
        == 2
    )
    assert "age from 0 to 100" in capsys.readouterr().err


def test_page_one_photo_without_the_age_model_says_so_in_visitor_words(
    isolated_env: None, edison_dir: Path, tmp_path: Path
) -> None:
    """One usable photo and no SAM: the visitor is told why (no jargon) and what to do instead."""
    from pipeline.webapp import messages, review
    from pipeline.webapp import render as rendering

    one = [str(sorted(edison_dir.glob("*.png"))[0])]
    r = review.review_album(one)
    settings = rendering.make_settings(extend_after="", extend_before=0)
    assert settings.extend_before is None and settings.extend_after is None
    with pytest.raises(NotEnoughPhotosError) as exc:
        rendering.render_review(r, settings, outdir=tmp_path)
    text = messages.not_enough(exc.value)
    assert "single photo needs the GPU age model" in text and "add another photo" in text
    for jargon in ("SAM", "TIMELAPSE_", "sam_ffhq", "--"):
        assert jargon not in text
    assert not list(tmp_path.iterdir())
    # The normal flow asks for an extension in the same words as the CLI when SAM is missing.
    with pytest.raises(MethodUnavailableError):
        preflight(rendering.make_settings(extend_after=80), video=tmp_path / "v.mp4")
