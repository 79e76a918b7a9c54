"""One GPU check for the StyleGAN method: precision, speed, memory and the GPU time asked for.

Runs in a few minutes on a GPU machine without internet (nothing is
downloaded). It builds the full-size networks filled by the parity-fixture
recipe (``shared/fixtures/stylegan/README.md``: 1024 px FFHQ generator, 18-style
e4e and pSp encoders), then:

1. precision: fp16 (4 highest resolutions, clamp +-256, as StyleGAN2-ADA) and
   bf16 (same blocks, where the GPU supports it) against fp32 on the same
   latents: NaN/inf, the largest error against the image's peak and the mean
   error of the images in [-1, 1], with the limits of the CPU test
   (``tests/support/precision.py``, ``tests/test_stylegan_precision.py``);
2. speed: encoder faces/s (e4e, pSp) and 1024 px frames/s at batch 1, 4 and 8
   in the policy's precision, and peak GPU memory;
3. the ZeroGPU duration: a real render of the bundled Edison album (analysis,
   encode, generate, MP4, GIF, contact sheet) with the recipe networks saved in
   the e4e checkpoint format, cold (loading the checkpoint) and warm, against
   :func:`pipeline.render.gpu.gpu_seconds` for the same plan;
4. SAM: the full-size age encoder (recipe fill) encoding 4 photos at 8 target
   ages in one batched pass (faces/s), the imagined keyframes rendered at
   1024 px (frames/s), NaN/inf and peak memory.

Exits 1 when a check fails: NaN/inf, an error above the limits below, or a
measured render longer than the GPU time that would be requested. Without a
GPU it prints one line and exits 0.

    .venv/bin/python -m bench.gpu_check [--frames 48] [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def sync() -> None:
    torch.cuda.synchronize()


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    sync()
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    sync()
    return out, time.perf_counter() - start


def test_faces(count: int) -> list[np.ndarray]:
    """Aligned 1024 px faces cut from the bundled Edison album (public domain)."""
    from PIL import Image

    paths = sorted((ROOT / "assets" / "examples" / "edison").glob("*.*"))
    out = []
    for i in range(count):
        img = Image.open(paths[i % len(paths)]).convert("RGB")
        side = min(img.size)
        img = img.crop((0, 0, side, side)).resize((1024, 1024))
        arr = np.asarray(img)
        out.append(arr[:, ::-1].copy() if (i // len(paths)) % 2 else arr)
    return out


def check_precision(models, wplus: torch.Tensor) -> list[str]:
    """Compare fp16 / bf16 synthesis with fp32 (the limits the CPU test uses); returns the failures."""
    from tests.support.precision import LIMITS, image_errors

    failures = []
    gen = models.generator
    with torch.no_grad():
        ref = gen.synthesis(wplus, gen.precision_for("fp32")).float()
        for name in ("fp16", "bf16"):
            if name == "bf16" and not torch.cuda.is_bf16_supported():
                print("precision bf16: not supported on this GPU (skipped)")
                continue
            errors = image_errors(gen.synthesis(wplus, gen.precision_for(name)), ref)
            wrong = errors.failures(LIMITS[name])
            print(
                f"precision {name} ({gen.precision_for(name).describe()}): {errors}; limits "
                f"{LIMITS[name]} -> {'ok' if not wrong else 'FAILED'}"
            )
            failures += [f"{name} synthesis against fp32: {why}" for why in wrong]
    return failures


def measure_speed(models_by_encoder: dict, faces: list[np.ndarray], frames: int) -> None:
    from pipeline.methods.stylegan.inference import encode_images, render_wplus

    for name, models in models_by_encoder.items():
        encode_images(models, faces[:2])  # warm-up (cuDNN algorithm choice)
        torch.cuda.reset_peak_memory_stats()
        _, seconds = timed(encode_images, models, faces)
        print(
            f"encode {name}: {len(faces)} faces in {seconds:.2f} s -> {len(faces) / seconds:.1f} faces/s; "
            f"peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
        )
    models = models_by_encoder["e4e"]
    w = encode_images(models, faces[:2])
    lam = torch.linspace(0, 1, frames)[:, None, None]
    wplus = ((1 - lam) * w[0] + lam * w[1]).numpy()
    for batch in (1, 4, 8):
        render_wplus(models, wplus[:batch], size=1024, batch_size=batch)  # warm-up
        torch.cuda.reset_peak_memory_stats()
        out, seconds = timed(render_wplus, models, wplus, size=1024, batch_size=batch)
        assert out.shape == (frames, 1024, 1024, 3)
        print(
            f"generate 1024 px, batch {batch}, {models.precision.name}: {frames / seconds:.1f} frames/s "
            f"({1000 * seconds / frames:.1f} ms/frame); peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
        )


def save_checkpoint(models, path: Path) -> None:
    """The recipe networks in the e4e checkpoint format (what the method loads)."""
    state = {f"encoder.{k}": v.cpu() for k, v in models.encoder.state_dict().items()}
    state.update({f"decoder.{k}": v.cpu() for k, v in models.generator.state_dict().items()})
    torch.save(
        {
            "state_dict": state,
            "latent_avg": models.latent_avg.cpu(),
            "opts": {"encoder_type": "Encoder4Editing"},
        },
        path,
    )


def check_duration(workdir: Path, frames_between: int) -> list[str]:
    """Real renders of the Edison album against the GPU time the app would request."""
    from pipeline.analysis import analyze
    from pipeline.methods.stylegan import startup
    from pipeline.methods.stylegan.models import clear_models
    from pipeline.render import RenderSettings, render
    from pipeline.render.gpu import gpu_seconds, gpu_work

    album = ROOT / "assets" / "examples" / "edison"
    t = time.perf_counter()
    analysis = analyze(album, size=1024)
    print(
        f"analysis of the Edison album at 1024 px (CPU, outside the window): {time.perf_counter() - t:.1f} s"
    )
    settings = RenderSettings(method="stylegan", size=1024, frames_between=frames_between)
    failures = []
    for run in ("cold", "warm"):
        if run == "cold":
            clear_models()
            startup.reset()
        work = gpu_work(analysis, settings, gif=True)
        requested = gpu_seconds(analysis, settings, gif=True)
        out = workdir / run
        t = time.perf_counter()
        result = render(
            analysis, settings=settings, video=out / "t.mp4", gif=out / "t.gif",
            contact_sheet=out / "sheet.png", report=None,
        )  # fmt: skip
        measured = time.perf_counter() - t
        ok = measured <= requested
        print(
            f"render {run}: {result.frame_count} frames ({work.generated_frames} generated) at 1024 px "
            f"+ GIF + sheet: measured {measured:.1f} s, requested {requested} s "
            f"({measured / requested:.0%} of it) -> {'ok' if ok else 'FAILED: the window is too short'}"
        )
        if not ok:
            failures.append(f"{run} render took {measured:.1f} s > requested {requested} s")
    return failures


def measure_sam(faces: list[np.ndarray], n_ages: int) -> list[str]:
    """SAM on the GPU: faces/s at target ages (one batched pass) and imagined keyframes/s.

    Full-size SAM (two 18-style encoders, 1024 px generator, recipe fill), the
    encoders in fp32 and the generator in the policy's precision, as a render runs them.
    """
    from bench.bench_sam import build_models as build_sam
    from pipeline.methods.stylegan.aging import encode_at_ages
    from pipeline.methods.stylegan.inference import render_wplus
    from pipeline.methods.stylegan.models import precision_policy

    t = time.perf_counter()
    models = build_sam(torch.device("cuda"))
    models = dataclasses.replace(
        models, precision=precision_policy(models.device, models.generator)
    )
    print(
        f"built SAM (recipe): {time.perf_counter() - t:.1f} s; generator {models.precision.describe()}"
    )
    ages = np.linspace(5, 80, n_ages).round().tolist()
    index = [p for p in range(len(faces)) for _ in ages]
    targets = ages * len(faces)
    encode_at_ages(models, faces[:1], [0], ages[:1])  # warm-up (cuDNN algorithm choice)
    torch.cuda.reset_peak_memory_stats()
    codes, enc_s = timed(encode_at_ages, models, faces, index, targets, batch_size=16)
    render_wplus(models, codes[:1].numpy(), size=1024, batch_size=1)  # warm-up
    frames, gen_s = timed(render_wplus, models, codes.numpy(), size=1024, batch_size=8)
    n = len(targets)
    print(
        f"SAM encode: {len(faces)} photos x {n_ages} ages = {n} faces in {enc_s:.2f} s -> {n / enc_s:.1f} faces/s; "
        f"render {n} keyframes at 1024 px: {n / gen_s:.1f} frames/s; generated keyframes (both): "
        f"{n / (enc_s + gen_s):.1f}/s; peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    )
    failures = []
    if not torch.isfinite(codes).all():
        failures.append("SAM codes contain NaN/inf")
    if frames.shape != (n, 1024, 1024, 3):
        failures.append(f"SAM keyframes have shape {frames.shape}")
    del models
    torch.cuda.empty_cache()
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--frames", type=int, default=48, help="frames per speed run (default 48)")
    ap.add_argument(
        "--faces", type=int, default=16, help="faces per encoder speed run (default 16)"
    )
    ap.add_argument(
        "--frames-between", type=int, default=24, help="frames per transition in the render check"
    )
    ap.add_argument(
        "--keep", type=Path, default=None, help="keep the checkpoint and renders in this folder"
    )
    args = ap.parse_args()

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here; nothing to check.")
        return 0

    from pipeline.methods.stylegan.inference import encode_images
    from tests.support.recipe import recipe_models

    torch.set_grad_enabled(False)
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 reference without TF32 rounding
    torch.backends.cudnn.allow_tf32 = False
    start = time.perf_counter()
    print(
        f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}; CUDA {torch.version.cuda}"
    )
    t = time.perf_counter()
    models = {name: recipe_models("cuda", encoder=name) for name in ("e4e", "psp")}
    print(f"built 1024 px generator + e4e + pSp encoders (recipe): {time.perf_counter() - t:.1f} s; "
          f"policy: {models['e4e'].precision.describe()}")  # fmt: skip
    faces = test_faces(args.faces)
    failures: list[str] = []

    w = encode_images(models["e4e"], faces[:4]).cuda()
    failures += check_precision(models["e4e"], w)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    measure_speed(models, faces, args.frames)

    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ckpt = workdir / "e4e_recipe.pt"
        t = time.perf_counter()
        save_checkpoint(models["e4e"], ckpt)
        print(
            f"saved the recipe checkpoint ({ckpt.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t:.1f} s"
        )
        del models
        torch.cuda.empty_cache()
        os.environ["TIMELAPSE_E4E_PATH"] = str(ckpt)
        os.environ.pop("TIMELAPSE_E4E_SHA256", None)
        failures += check_duration(workdir, args.frames_between)
    failures += measure_sam(test_faces(4), n_ages=8)

    print(f"peak GPU memory overall: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB; "
          f"total {time.perf_counter() - start:.0f} s")  # fmt: skip
    for failure in failures:
        print(f"FAILED: {failure}")
    print(
        "gpu_check: "
        + ("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
