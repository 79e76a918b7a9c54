"""The generator's reduced-precision policy on the full-size networks, checked on the CPU.

The 1024 px FFHQ generator and the 18-style e4e encoder are filled by the fixture
recipe (``shared/fixtures/stylegan/README.md``); a real face (the astronaut's FFHQ
crop) is encoded and its W+ rendered in fp32 and under the policy a GPU gets: fp16
in the four highest-resolution blocks with activations clamped to +-256, or bf16
there without a clamp. These CPUs have no fast fp16/bf16 convolutions, so the
reduced blocks' convolutions run as a GPU's fp32-accumulating kernels do
(``tests/support/precision.py`` says exactly what is emulated and what is not);
everything else is the generator's own code in the reduced dtypes. The limits are
``bench/gpu_check.py``'s, which checks the same on a GPU.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline.methods.stylegan.generator import Generator, Precision, make_kernel
from pipeline.methods.stylegan.inference import encode_images
from pipeline.methods.stylegan.models import (
    PRECISION_ENV,
    StyleGANModels,
    build_generator,
    precision_policy,
)
from tests.support.precision import LIMITS, GpuStyleConvolutions, image_errors
from tests.support.recipe import recipe_models

log = logging.getLogger(__name__)

EPS = {torch.float16: 2.0**-10, torch.bfloat16: 2.0**-7}  # machine epsilon (1 ulp at 1.0)
FP16_MAX = float(torch.finfo(torch.float16).max)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_emulated_convolutions_round_once(dtype: torch.dtype) -> None:
    """The stand-in kernels give the exact convolution rounded once to `dtype`, and the CPU's own
    fp16/bf16 forward convolutions agree with them to one unit in the last place."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 32, 16, 16, generator=g).to(dtype)
    blur = make_kernel((1.0, 3.0, 3.0, 1.0)).to(dtype).reshape(1, 1, 4, 4).expand(32, 1, 4, 4)
    cases = {  # the generator's four kinds: 3x3, 1x1 (to RGB), transposed stride 2, depthwise FIR
        "conv3x3": (F.conv2d, torch.randn(24, 32, 3, 3, generator=g) / 17, {"padding": 1}),
        "conv1x1": (F.conv2d, torch.randn(3, 32, 1, 1, generator=g) / 6, {}),
        "transposed": (F.conv_transpose2d, torch.randn(32, 24, 3, 3, generator=g) / 17, {"stride": 2}),
        "depthwise": (F.conv2d, blur, {"padding": 1, "groups": 32}),
    }  # fmt: skip
    eps = EPS[dtype]
    for name, (conv, weight, kwargs) in cases.items():
        weight = weight.to(dtype)
        with GpuStyleConvolutions() as mode:
            emulated = conv(x, weight, **kwargs)
        assert mode.calls == {dtype: 1} and emulated.dtype == dtype, name
        exact = conv(x.double(), weight.double(), **kwargs)
        err = (emulated.double() - exact).abs()
        assert bool((err <= eps * exact.abs() + 1e-6).all()), f"{name}: more than one rounding"
        if conv is F.conv2d:
            native = conv(x, weight, **kwargs).double()
            diff = (native - emulated.double()).abs()
            assert bool((diff <= eps * emulated.double().abs() + 1e-6).all()), name


@pytest.fixture(scope="module")
def full_models() -> StyleGANModels:
    """The full-size recipe networks on the CPU (1024 px generator, 18-style e4e)."""
    return recipe_models("cpu", encoder="e4e")


@pytest.fixture(scope="module")
def face_wplus(full_models: StyleGANModels, portrait_faces) -> torch.Tensor:
    """W+ [1, 18, 512] of a real face: the astronaut's FFHQ crop through the e4e encoder."""
    crop, _ = portrait_faces.aligned("astronaut")
    wplus = encode_images(full_models, [crop])
    assert wplus.shape == (1, 18, 512) and bool(torch.isfinite(wplus).all())
    return wplus


@pytest.fixture(scope="module")
def fp32_image(full_models: StyleGANModels, face_wplus: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        image = full_models.generator.synthesis(face_wplus)
    assert image.shape == (1, 3, 1024, 1024) and bool(torch.isfinite(image).all())
    return image


def reduced_synthesis(generator: Generator, wplus: torch.Tensor, precision: Precision):
    """`generator`'s own synthesis under `precision`, GPU-style convolutions; (image, calls)."""
    with torch.no_grad(), GpuStyleConvolutions() as mode:
        image = generator.synthesis(wplus, precision)
    return image, mode.calls


@pytest.mark.slow
def test_policy_stays_finite_and_close_to_fp32(
    full_models: StyleGANModels,
    face_wplus: torch.Tensor,
    fp32_image: torch.Tensor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    gen = full_models.generator
    assert full_models.precision == gen.precision_for("fp32")  # the CPU's own policy
    policies = {
        "fp16": precision_policy("cuda", gen),  # what a GPU gets by default ("auto")
        "bf16": gen.precision_for("bf16"),  # TIMELAPSE_STYLEGAN_PRECISION=bf16
    }
    assert policies["fp16"] == Precision(torch.float16, min_resolution=128, clamp=256.0)
    assert policies["bf16"] == Precision(torch.bfloat16, min_resolution=128, clamp=None)
    errors = {}
    for name, precision in policies.items():
        image, calls = reduced_synthesis(gen, face_wplus, precision)
        # 128, 256, 512 and 1024 px: transposed conv, its FIR blur, 3x3 conv, to-RGB conv each.
        assert calls == {precision.dtype: 16}, f"{name}: the reduced blocks did not run ({calls})"
        assert image.shape == fp32_image.shape and image.dtype == torch.float32
        errors[name] = found = image_errors(image, fp32_image)
        log.info("%s (%s) against fp32: %s", name, precision.describe(), found)
        assert not found.failures(LIMITS[name]), f"{name}: {found}"
        assert found.mean_abs > 1e-5, f"{name}: no rounding at all, the blocks cannot be reduced"
    # 11 against 8 significant bits: bf16's rounding shows more.
    assert errors["bf16"].mean_abs > errors["fp16"].mean_abs
    assert errors["bf16"].max_rel > errors["fp16"].max_rel


@pytest.mark.slow
def test_the_check_fails_for_fp16_without_the_clamp_where_activations_overflow(
    full_models: StyleGANModels, face_wplus: torch.Tensor
) -> None:
    """A layer whose activations leave fp16's range (+-65504): unclamped fp16 turns them into
    inf and the image into NaN, which the check rejects; the policy's clamp keeps it finite and
    bf16 (fp32's range) needs none. Run on the full network's first six blocks (a 128 px
    generator holding the same weights) under the full network's policy, where 128 px is the
    first reduced block, to keep it cheap."""
    full = full_models.generator
    with torch.device("meta"):
        prefix = Generator(128)
    names = set(prefix.state_dict())
    prefix = build_generator({k: v for k, v in full.state_dict().items() if k in names})
    layer = prefix.convs[8]  # the first 128 px layer, the first reduced one
    assert layer.conv.upsample and prefix.noises.noise_9.shape[-1] == 128
    layer.noise.weight = torch.nn.Parameter(torch.full((1,), 1e5), requires_grad=False)
    assert float((1e5 * prefix.noises.noise_9).abs().max()) * np.sqrt(2) > FP16_MAX
    wplus = face_wplus[:, : prefix.n_latent]
    with torch.no_grad():
        ref = prefix.synthesis(wplus)
    assert bool(torch.isfinite(ref).all())
    fp16, bf16 = full.precision_for("fp16"), full.precision_for("bf16")
    unclamped, calls = reduced_synthesis(prefix, wplus, replace(fp16, clamp=None))
    assert calls == {torch.float16: 4}
    assert image_errors(unclamped, ref).failures(LIMITS["fp16"])[:1] == ["NaN or inf in the image"]
    clamped, _ = reduced_synthesis(prefix, wplus, fp16)
    assert image_errors(clamped, ref).finite
    wide, _ = reduced_synthesis(prefix, wplus, bf16)
    assert not image_errors(wide, ref).failures(LIMITS["bf16"])
    assert full.convs[8].noise.weight.abs().item() < 10  # the full network is untouched
