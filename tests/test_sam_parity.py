"""Parity of our SAM age encoder with the reference implementation.

The two encoders are filled by the fixture recipe with each tensor seeded by its
key *including* the checkpoint prefix (``encoder.`` / ``pretrained_encoder.``),
as ``shared/fixtures/stylegan/README.md`` describes, and compared with the codes
the reference ``pSp`` (SAM) computed on the same values; the full-size layouts of
``sam_ffhq_aging.pt`` must load with ``strict=True``.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
import torch
from torch import nn

from pipeline.errors import MethodUnavailableError
from pipeline.methods.stylegan.sam import (
    SAMEncoder,
    SAMParts,
    age_plane_input,
    build_sam_encoder,
    split_sam_checkpoint,
)
from tests.support.recipe import recipe_tensor

pytestmark = pytest.mark.slow  # full-size SAM networks on the CPU

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "stylegan"
DTYPES = {"float32": torch.float32, "int64": torch.int64}


def fixture_file(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_file():
        pytest.fail(f"SAM parity fixture missing: {path} (shared/ is checked out beside the repo)")
    return path


@pytest.fixture(scope="module")
def goldens() -> dict:
    return torch.load(fixture_file("sam_goldens.pt"), weights_only=True)


@pytest.fixture(scope="module")
def layouts() -> dict[str, list]:
    return json.loads(fixture_file("sam_layouts.json").read_text())


def prefixed_recipe(module: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """The recipe fill of `module`'s state dict, each tensor seeded by ``prefix + key``."""
    out = {}
    for key, ref in sorted(module.state_dict().items()):
        value = recipe_tensor(prefix + key, tuple(ref.shape), ref.dtype, encoder=True)
        assert value is not None, f"{key}: encoders have no FIR kernels"
        out[key] = value.to(ref.dtype)
    return out


def recipe_latent_avg() -> torch.Tensor:
    g = torch.Generator().manual_seed(zlib.crc32(b"latent_avg"))
    return torch.randn((18, 512), generator=g)


@pytest.fixture(scope="module")
def sam_parts() -> SAMParts:
    """A full-size SAM checkpoint's parts, filled by the prefixed recipe (no decoder needed here)."""
    with torch.device("meta"):
        shape = SAMEncoder(18)
    return SAMParts(
        encoder=prefixed_recipe(shape.encoder, "encoder."),
        pretrained_encoder=prefixed_recipe(shape.pretrained_encoder, "pretrained_encoder."),
        decoder={},
        latent_avg=recipe_latent_avg(),
        opts={"start_from_encoded_w_plus": True, "start_from_latent_avg": False, "input_nc": 4},
    )


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    atol = 1e-3 * float(expected.abs().max())
    err = float((actual - expected).abs().max())
    assert err <= atol, f"{what}: max abs error {err:.3g} > {atol:.3g}"


@pytest.fixture(scope="module")
def encoded(sam_parts: SAMParts, goldens: dict) -> dict[str, torch.Tensor]:
    """One batched pass at both target ages, recording what each sub-encoder returned."""
    net = build_sam_encoder(sam_parts)
    seen: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            seen[name] = output.detach().clone()

        return hook

    handles = [
        net.encoder.register_forward_hook(keep("sam")),
        net.pretrained_encoder.register_forward_hook(keep("pretrained")),
    ]
    try:
        with torch.no_grad():
            ages = [float(a) for a in goldens["target_ages"]]
            codes = net.encode_ages(goldens["x"], ages, batch_size=len(ages))
    finally:
        for h in handles:
            h.remove()
    return {"codes": codes[0], **seen}


def test_recipe_latent_avg_matches(goldens: dict) -> None:
    assert torch.equal(recipe_latent_avg(), goldens["latent_avg"])


@pytest.mark.slow
def test_age_encoder_codes_at_both_ages(encoded: dict, goldens: dict) -> None:
    assert_close(encoded["sam"], goldens["sam_codes"], "encoder(x4) at ages 10 and 70")
    # The two ages give different codes: the age plane reaches the network.
    assert float((encoded["sam"][0] - encoded["sam"][1]).abs().max()) > 1e-3


@pytest.mark.slow
def test_pretrained_encoder_codes(encoded: dict, goldens: dict) -> None:
    # The pretrained encoder sees only RGB, so it runs once for both ages.
    assert encoded["pretrained"].shape[0] == 1
    assert_close(encoded["pretrained"][0], goldens["pretrained_codes"][0], "pretrained_encoder(x)")
    assert_close(encoded["pretrained"][0], goldens["pretrained_codes"][1], "pretrained_encoder(x)")


@pytest.mark.slow
def test_combined_codes(encoded: dict, goldens: dict) -> None:
    assert_close(encoded["codes"], goldens["codes"], "encoder(x4) + pretrained(x) + latent_avg")


def test_age_plane_is_target_over_100() -> None:
    rgb = torch.rand(3, 3, 16, 12) * 2 - 1
    x4 = age_plane_input(rgb, [0.0, 37.0, 100.0])
    assert x4.shape == (3, 4, 16, 12)
    assert torch.equal(x4[:, :3], rgb)
    for i, age in enumerate((0.0, 0.37, 1.0)):
        assert torch.all(x4[i, 3] == torch.tensor(age, dtype=rgb.dtype)), f"plane {i}"
    with pytest.raises(ValueError, match="target ages"):
        age_plane_input(rgb, [10.0])


@pytest.mark.parametrize("name", ["sam_encoder", "sam_pretrained_encoder"])
def test_layouts_match_our_modules(name: str, layouts: dict) -> None:
    with torch.device("meta"):
        net = SAMEncoder(18)
    module = net.encoder if name == "sam_encoder" else net.pretrained_encoder
    ours = {
        k: (list(v.shape), str(v.dtype).removeprefix("torch."))
        for k, v in module.state_dict().items()
    }
    theirs = {k: (shape, dtype) for k, shape, dtype in layouts[name]}
    assert ours == theirs


def test_full_size_checkpoint_loads_strict(layouts: dict) -> None:
    """A state dict with exactly the public layout (prefixes, shapes) builds with strict=True."""

    def meta_state(name: str) -> dict[str, torch.Tensor]:
        return {
            k: torch.empty(shape, dtype=DTYPES[dtype], device="meta")
            for k, shape, dtype in layouts[name]
        }

    state = {f"encoder.{k}": v for k, v in meta_state("sam_encoder").items()}
    state.update(
        {f"pretrained_encoder.{k}": v for k, v in meta_state("sam_pretrained_encoder").items()}
    )
    state["decoder.style.1.weight"] = torch.empty(512, 512, device="meta")
    ckpt = {
        "state_dict": state,
        "latent_avg": torch.zeros(18, 512),
        "opts": {"start_from_encoded_w_plus": True},
    }
    parts = split_sam_checkpoint(ckpt)
    assert parts.encoder["input_layer.0.weight"].shape == (64, 4, 3, 3)
    net = build_sam_encoder(parts)
    assert net.uses_pretrained and net.adds_latent_avg
    assert net.encoder.input_layer[0].weight.shape == (64, 4, 3, 3)


def test_combination_follows_opts(layouts: dict) -> None:
    def parts(opts: dict, pretrained: bool = True) -> SAMParts:
        def meta(name: str) -> dict[str, torch.Tensor]:
            return {k: torch.empty(s, dtype=DTYPES[d], device="meta") for k, s, d in layouts[name]}

        return SAMParts(
            encoder=meta("sam_encoder"),
            pretrained_encoder=meta("sam_pretrained_encoder") if pretrained else {},
            decoder={},
            latent_avg=torch.zeros(512),
            opts=opts,
        )

    from_avg = build_sam_encoder(
        parts({"start_from_latent_avg": True, "start_from_encoded_w_plus": True})
    )
    assert from_avg.adds_latent_avg and not from_avg.uses_pretrained
    assert from_avg.latent_avg.shape == (18, 512)  # a [512] latent_avg is repeated per row
    absolute = build_sam_encoder(
        parts({"start_from_latent_avg": False, "start_from_encoded_w_plus": False})
    )
    assert not absolute.adds_latent_avg and not absolute.uses_pretrained
    with pytest.raises(MethodUnavailableError, match="pretrained"):
        build_sam_encoder(parts({"start_from_encoded_w_plus": True}, pretrained=False))


def test_rgb_checkpoint_is_not_sam(layouts: dict) -> None:
    """An e4e/pSp checkpoint (3-channel encoder) is refused with a clear reason."""
    state = {
        f"encoder.{k}": torch.empty(s, dtype=DTYPES[d], device="meta")
        for k, s, d in layouts["sam_pretrained_encoder"]
    }
    state["decoder.style.1.weight"] = torch.empty(512, 512, device="meta")
    with pytest.raises(MethodUnavailableError, match="not SAM's 4"):
        split_sam_checkpoint({"state_dict": state, "latent_avg": torch.zeros(18, 512)})
    with pytest.raises(MethodUnavailableError, match="missing latent_avg"):
        split_sam_checkpoint({"state_dict": state})
