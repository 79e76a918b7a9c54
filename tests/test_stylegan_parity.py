"""Parity of our StyleGAN2 generator and e4e/pSp encoders with the reference implementation.

The networks are filled by the fixture recipe (``shared/fixtures/stylegan/README.md``)
and compared with outputs the reference code computed on the same values; the full
1024 px generator and both encoders must accept state dicts with exactly the public
checkpoints' layouts under ``strict=True``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipeline.methods.stylegan.encoders import Encoder4Editing, GradualStyleEncoder
from pipeline.methods.stylegan.generator import Generator
from pipeline.methods.stylegan.models import build_encoder, build_generator
from tests.support.recipe import recipe_state_dict

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures" / "stylegan"

DTYPES = {"float32": torch.float32, "int64": torch.int64}


@pytest.fixture(scope="module")
def fixture_dir() -> Path:
    if (
        not (FIXTURES / "goldens.pt").is_file()
        or not (FIXTURES / "checkpoint_layouts.json").is_file()
    ):
        pytest.fail(
            f"StyleGAN parity fixtures missing: expected goldens.pt and checkpoint_layouts.json "
            f"in {FIXTURES} (the shared/ folder is checked out beside the repository)."
        )
    return FIXTURES


@pytest.fixture(scope="module")
def goldens(fixture_dir: Path) -> dict:
    return torch.load(fixture_dir / "goldens.pt", weights_only=True)


@pytest.fixture(scope="module")
def layouts(fixture_dir: Path) -> dict[str, list]:
    return json.loads((fixture_dir / "checkpoint_layouts.json").read_text())


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    atol = 1e-3 * float(expected.abs().max())
    err = float((actual - expected).abs().max())
    assert err <= atol, f"{what}: max abs error {err:.3g} > {atol:.3g}"


@pytest.fixture(scope="module")
def generator64(goldens: dict) -> Generator:
    config = goldens["generator64"]["config"]
    assert config == {"size": 64, "style_dim": 512, "n_mlp": 8, "channel_multiplier": 2}
    gen = Generator(**config)
    state = recipe_state_dict(gen.state_dict(), encoder=False)
    for key, kernel in goldens["generator64"]["kernels"].items():
        assert torch.equal(state[key], kernel), f"{key}: FIR kernel differs from the reference"
    gen.load_state_dict(state, strict=True)
    return gen.eval().requires_grad_(False)


@torch.no_grad()
def test_latent_from_z(generator64: Generator, goldens: dict) -> None:
    g = goldens["generator64"]
    assert_close(generator64.latent_from_z(g["z"]), g["latent_from_z"], "latent_from_z")


@pytest.mark.slow
@torch.no_grad()
def test_image_from_z(generator64: Generator, goldens: dict) -> None:
    g = goldens["generator64"]
    image = generator64.synthesis(generator64.latent_from_z(g["z"]))
    assert_close(image, g["image_from_z"], "image_from_z")


@pytest.mark.slow
@torch.no_grad()
def test_image_from_wplus(generator64: Generator, goldens: dict) -> None:
    g = goldens["generator64"]
    assert_close(generator64.synthesis(g["wplus"]), g["image_from_wplus"], "image_from_wplus")


@pytest.mark.slow
@torch.no_grad()
def test_image_from_wplus_batch_independent(generator64: Generator, goldens: dict) -> None:
    wplus = goldens["generator64"]["wplus"]
    single = torch.cat([generator64.synthesis(wplus[i : i + 1]) for i in range(len(wplus))])
    assert_close(generator64.synthesis(wplus), single, "batched vs single synthesis")


@pytest.fixture(scope="module")
def encoder_state() -> dict[str, torch.Tensor]:
    """Recipe values for an 18-style encoder (e4e and pSp share every key, hence every value)."""
    with torch.device("meta"):
        e4e_keys = Encoder4Editing(18).state_dict()
        psp_keys = GradualStyleEncoder(18).state_dict()
    assert {k: v.shape for k, v in e4e_keys.items()} == {k: v.shape for k, v in psp_keys.items()}
    return recipe_state_dict(e4e_keys, encoder=True)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "cls"), [("e4e", Encoder4Editing), ("psp", GradualStyleEncoder)])
@torch.no_grad()
def test_encoder_codes(name: str, cls: type, goldens: dict, encoder_state: dict) -> None:
    ref = goldens[name]
    assert ref["config"]["input_size"] == 256 and ref["config"]["stylegan_size"] == 1024
    encoder = build_encoder(name, dict(encoder_state), what=name)
    assert isinstance(encoder, cls)
    assert_close(encoder(ref["x"]), ref["codes"], f"{name} codes")


def layout_state_dict(layout: list, *, zeros: bool) -> dict[str, torch.Tensor]:
    """Tensors with exactly the layout's keys, shapes and dtypes (values irrelevant)."""
    make = torch.zeros if zeros else torch.empty
    return {key: make(shape, dtype=DTYPES[dtype]) for key, shape, dtype in layout}


def assert_layout(module: torch.nn.Module, layout: list, what: str) -> None:
    actual = {
        k: (list(v.shape), str(v.dtype).removeprefix("torch."))
        for k, v in module.state_dict().items()
    }
    expected = {key: (shape, dtype) for key, shape, dtype in layout}
    assert actual.keys() == expected.keys(), (
        f"{what}: missing {sorted(expected.keys() - actual.keys())[:5]}, "
        f"unexpected {sorted(actual.keys() - expected.keys())[:5]}"
    )
    wrong = {k: (actual[k], expected[k]) for k in expected if actual[k] != expected[k]}
    assert not wrong, f"{what}: shape/dtype mismatches {list(wrong.items())[:5]}"


@pytest.mark.slow
def test_full_generator_loads_checkpoint_layout(layouts: dict) -> None:
    layout = layouts["generator_1024"]
    generator = build_generator(layout_state_dict(layout, zeros=True), what="generator_1024")
    assert (generator.size, generator.n_latent, generator.num_layers) == (1024, 18, 17)
    assert_layout(generator, layout, "generator_1024")


def test_small_generator_matches_layout(layouts: dict, generator64: Generator) -> None:
    assert_layout(generator64, layouts["generator_64"], "generator_64")


@pytest.mark.parametrize(("name", "key"), [("e4e", "e4e_encoder"), ("psp", "psp_encoder")])
def test_full_encoders_load_checkpoint_layout(name: str, key: str, layouts: dict) -> None:
    layout = layouts[key]
    encoder = build_encoder(name, layout_state_dict(layout, zeros=False), what=key)
    assert encoder.n_styles == 18
    assert_layout(encoder, layout, key)
    del encoder


def test_wrong_layout_is_rejected(layouts: dict) -> None:
    from pipeline.errors import MethodUnavailableError

    state = layout_state_dict(layouts["generator_64"], zeros=True)
    del state["noises.noise_3"]
    with pytest.raises(MethodUnavailableError, match="noises.noise_3"):
        build_generator(state, what="damaged generator")
