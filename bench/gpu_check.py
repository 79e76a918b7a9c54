"""One GPU check for the StyleGAN path: precision, speed, memory, the GPU time asked for,
and a whole ``/timelapse`` render through the app.

Runs in a few minutes on a GPU machine without internet (nothing is downloaded:
``HF_HUB_OFFLINE=1``). It builds the full-size networks filled by the
parity-fixture recipe (``shared/fixtures/stylegan/README.md``: 1024 px FFHQ
generator, 18-style e4e and pSp encoders), then:

1. precision: fp16 (4 highest resolutions, clamp +-256, as StyleGAN2-ADA) and
   bf16 (same blocks, where the GPU supports it) against fp32 on the same
   latents: NaN/inf, the largest error against the image's peak and the mean
   error of the images in [-1, 1], with the limits of the CPU test
   (``tests/support/precision.py``, ``tests/test_stylegan_precision.py``);
2. speed: encoder faces/s (e4e, pSp), and the generator's 1024 px frames/s at
   batch 1, 2, 4, 8 and 16 in each precision, with peak GPU memory;
3. the render plan's duration: a real render of the bundled Edison album
   (encode, generate, MP4, GIF, contact sheet) with the recipe networks saved
   in the e4e checkpoint format, cold (loading the checkpoint) and warm,
   against :func:`pipeline.render.gpu.gpu_seconds` for the same plan;
4. ``/timelapse``: the app started on a local port and one call with the
   StyleGAN method, through the app's GPU wrapper (``spaces.GPU`` on a ZeroGPU
   Space, the plain function elsewhere), timed against the GPU time it asks for;
5. SAM: the full-size age encoder (recipe fill) encoding 4 photos at 8 target
   ages in one batched pass (faces/s), the imagined keyframes rendered at
   1024 px (frames/s), NaN/inf and peak memory.

Exit status: 0 every check passed; 1 a check failed (NaN/inf, an error above the
limits, a render longer than the GPU time it would ask for, an error); 2 nothing
was checked (no GPU). ``--smoke`` runs the same steps on any device with tiny
networks (a 64 px generator), few frames and small renders: it checks the script,
not the GPU, and compares no timing.

    .venv/bin/python -m bench.gpu_check [--device cuda:0] [--frames 48] [--keep DIR]
    .venv/bin/python -m bench.gpu_check --smoke      # on the CPU: the script itself
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
ALBUM = ROOT / "assets" / "examples" / "edison"
PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class Scale:
    """How big each step is: the real check, or a smoke run of the script."""

    resolution: int  # generator side (px); the networks' styles follow from it
    out_size: int  # rendered video side (px)
    batches: tuple[int, ...]  # generator batch sizes timed
    frames: int  # frames per speed run
    faces: int  # faces per encoder speed run
    sam_photos: int  # photos SAM encodes at every target age
    ages: int  # target ages per photo
    frames_between: int  # frames per transition in the renders


FULL = Scale(1024, 1024, (1, 2, 4, 8, 16), 48, 16, 4, 8, 24)
SMOKE = Scale(64, 256, (1, 2), 4, 2, 1, 8, 2)


class Device:
    """Timing and memory on one torch device (CUDA counters where it is a GPU)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.gpu = device.type == "cuda"

    def sync(self) -> None:
        if self.gpu:
            torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        if self.gpu:
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> str:
        if not self.gpu:
            return "peak memory: not measured on the CPU"
        return f"peak {torch.cuda.max_memory_allocated(self.device) / 2**30:.2f} GiB"

    def name(self) -> str:
        if self.gpu:
            props = torch.cuda.get_device_properties(self.device)
            return f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
        return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"

    def has_bf16(self) -> bool:
        """bf16 kernels on this GPU; never on the CPU, where torch falls back to code that
        takes minutes for what a GPU does in milliseconds (the CPU test emulates it instead)."""
        return bool(torch.cuda.is_bf16_supported()) if self.gpu else False

    def timed_precisions(self) -> tuple[str, ...]:
        """The precisions whose speed means something here: all the GPU runs natively;
        on the CPU fp32 only, since torch's fp16/bf16 convolutions there are slow
        fallbacks (the precision check above still runs fp16 once)."""
        if not self.gpu:
            return ("fp32",)
        return tuple(p for p in PRECISIONS if p != "bf16" or self.has_bf16())

    def empty_cache(self) -> None:
        if self.gpu:
            torch.cuda.empty_cache()

    def timed(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
        self.sync()
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        self.sync()
        return out, time.perf_counter() - start


def test_faces(count: int, side: int) -> list[np.ndarray]:
    """Square `side` px crops of the bundled Edison album (public domain), mirrored in turn."""
    from PIL import Image

    paths = sorted(ALBUM.glob("*.png"))
    out = []
    for i in range(count):
        img = Image.open(paths[i % len(paths)]).convert("RGB")
        edge = min(img.size)
        arr = np.asarray(img.crop((0, 0, edge, edge)).resize((side, side)))
        out.append(arr[:, ::-1].copy() if (i // len(paths)) % 2 else arr)
    return out


def check_precision(models: Any, wplus: torch.Tensor, dev: Device) -> list[str]:
    """fp16 / bf16 synthesis against fp32 (the CPU test's limits); returns the failures."""
    from tests.support.precision import LIMITS, image_errors

    failures = []
    gen = models.generator
    with torch.no_grad():
        ref = gen.synthesis(wplus, gen.precision_for("fp32")).float()
        for name in ("fp16", "bf16"):
            if name == "bf16" and not dev.has_bf16():
                print(f"precision bf16: not supported on {dev.name()} (skipped)")
                continue
            errors = image_errors(gen.synthesis(wplus, gen.precision_for(name)), ref)
            wrong = errors.failures(LIMITS[name])
            print(
                f"precision {name} ({gen.precision_for(name).describe()}): {errors}; limits "
                f"{LIMITS[name]} -> {'ok' if not wrong else 'FAILED'}"
            )
            failures += [f"{name} synthesis against fp32: {why}" for why in wrong]
    return failures


def measure_speed(models_by_encoder: dict, faces: list[np.ndarray], scale: Scale, dev: Device):
    """Encoder faces/s, then generator frames/s per precision and batch size; the failures."""
    from pipeline.methods.stylegan.inference import encode_images, render_wplus

    failures = []
    for name, models in models_by_encoder.items():
        encode_images(models, faces[:2])  # warm-up (cuDNN algorithm choice)
        dev.reset_peak()
        codes, seconds = dev.timed(encode_images, models, faces)
        print(
            f"encode {name}: {len(faces)} faces in {seconds:.2f} s -> "
            f"{len(faces) / seconds:.1f} faces/s; {dev.peak()}"
        )
        if not torch.isfinite(codes).all():
            failures.append(f"{name} codes contain NaN/inf")
    models = models_by_encoder["e4e"]
    w = encode_images(models, faces[:2])
    lam = torch.linspace(0, 1, scale.frames)[:, None, None]
    wplus = ((1 - lam) * w[0] + lam * w[1]).numpy()
    side = scale.resolution
    timed = dev.timed_precisions()
    if timed != PRECISIONS:
        skipped = ", ".join(p for p in PRECISIONS if p not in timed)
        print(f"generate {skipped}: not timed on {dev.name()} (no native kernels)")
    for precision in timed:
        run = dataclasses.replace(models, precision=models.generator.precision_for(precision))
        for batch in scale.batches:
            render_wplus(run, wplus[:batch], size=side, batch_size=batch)  # warm-up
            dev.reset_peak()
            out, seconds = dev.timed(render_wplus, run, wplus, size=side, batch_size=batch)
            if out.shape != (scale.frames, side, side, 3):
                failures.append(f"generate {precision} batch {batch}: shape {out.shape}")
            print(
                f"generate {side} px, {precision}, batch {batch:2d}: "
                f"{scale.frames / seconds:6.1f} frames/s ({1000 * seconds / scale.frames:.1f} "
                f"ms/frame); {dev.peak()}"
            )
    print(f"the policy on this device: {models.precision.describe()}")
    return failures


def save_checkpoint(models: Any, path: Path) -> None:
    """The recipe networks in the e4e checkpoint format (what the method loads)."""
    state = {f"encoder.{k}": v.cpu() for k, v in models.encoder.state_dict().items()}
    state.update({f"decoder.{k}": v.cpu() for k, v in models.generator.state_dict().items()})
    torch.save(
        {
            "state_dict": state,
            "latent_avg": models.latent_avg.cpu(),
            "opts": {"encoder_type": "Encoder4Editing", "stylegan_size": models.generator.size},
        },
        path,
    )


def check_duration(workdir: Path, scale: Scale, compare: bool) -> list[str]:
    """Real renders of the Edison album against the GPU time the app would request."""
    from pipeline.analysis import analyze
    from pipeline.methods.stylegan import startup
    from pipeline.methods.stylegan.models import clear_models
    from pipeline.render import RenderSettings, render
    from pipeline.render.gpu import gpu_seconds, gpu_work

    t = time.perf_counter()
    analysis = analyze(ALBUM)
    print(
        f"analysis of the Edison album (CPU, outside the GPU window): {time.perf_counter() - t:.1f} s"
    )
    settings = RenderSettings(
        method="stylegan", size=scale.out_size, frames_between=scale.frames_between
    )
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
        verdict = "not compared (smoke run)"
        if compare:
            ok = measured <= requested
            verdict = "ok" if ok else "FAILED: the window is too short"
            if not ok:
                failures.append(f"{run} render took {measured:.1f} s > requested {requested} s")
        print(
            f"render {run}: {result.frame_count} frames ({work.generated_frames} generated) at "
            f"{scale.out_size} px + GIF + sheet: measured {measured:.1f} s, requested "
            f"{requested} s ({measured / requested:.0%} of it) -> {verdict}"
        )
    return failures


def check_timelapse(workdir: Path, scale: Scale, compare: bool) -> list[str]:
    """One ``/timelapse`` call with the StyleGAN method, through the running app."""
    os.environ.setdefault("GRADIO_TEMP_DIR", str(workdir / "gradio"))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from gradio_client import Client, handle_file

    import app
    from pipeline.analysis import analyze
    from pipeline.render import RenderSettings
    from pipeline.render.gpu import gpu_seconds
    from tests.support.app import free_port

    settings = RenderSettings(
        method="stylegan", size=scale.out_size, frames_between=scale.frames_between
    )
    requested = gpu_seconds(analyze(ALBUM), settings, gif=False)
    _, url, _ = app.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True
    )
    failures = []
    try:
        client = Client(url, verbose=False, download_files=str(workdir / "downloads"))
        files = [handle_file(str(p)) for p in sorted(ALBUM.glob("*.png"))]
        t = time.perf_counter()
        video, _, _, report = client.predict(
            files, method="stylegan", size=scale.out_size, frames_between=scale.frames_between,
            api_name="/timelapse",
        )  # fmt: skip
        measured = time.perf_counter() - t
    except Exception as exc:  # the app's own message, reported as a failed check
        return [f"/timelapse with StyleGAN failed: {str(exc).strip().splitlines()[0]}"]
    finally:
        app.demo.close()
    if not video or not Path(video).is_file() or Path(video).stat().st_size == 0:
        failures.append("/timelapse returned no video")
    if report.get("method") != "stylegan":
        failures.append(f"/timelapse rendered with {report.get('method')!r}, not stylegan")
    verdict = "not compared (smoke run)"
    if compare:  # the call also scans the album, which a Space does outside the GPU window
        verdict = "ok" if measured <= requested + 30 else "FAILED: longer than its window"
        if "FAILED" in verdict:
            failures.append(f"/timelapse took {measured:.1f} s, window {requested} s")
    print(
        f"/timelapse ({report.get('method')}, {scale.out_size} px, app's GPU wrapper): "
        f"{report.get('frame_count')} frames ({sum(report['timing']['transition_frames'])} "
        f"generated) in {measured:.1f} s including upload and "
        f"analysis; GPU time asked for the render: {requested} s -> {verdict}"
    )
    return failures


def measure_sam(scale: Scale, dev: Device) -> list[str]:
    """SAM: faces/s at target ages (one batched pass) and imagined keyframes/s.

    Full-size SAM (two encoders, the generator, recipe fill), the encoders in fp32
    and the generator in the device's precision, as a render runs them.
    """
    from bench.bench_sam import build_models as build_sam
    from pipeline.methods.stylegan.aging import encode_at_ages
    from pipeline.methods.stylegan.inference import render_wplus
    from pipeline.methods.stylegan.models import precision_policy

    t = time.perf_counter()
    models = build_sam(dev.device, size=scale.resolution)
    models = dataclasses.replace(
        models, precision=precision_policy(models.device, models.generator)
    )
    print(
        f"built SAM (recipe): {time.perf_counter() - t:.1f} s; "
        f"generator {models.precision.describe()}"
    )
    faces = test_faces(scale.sam_photos, 1024 if dev.gpu else 256)
    ages = np.linspace(5, 80, scale.ages).round().tolist()
    index = [p for p in range(len(faces)) for _ in ages]
    targets = ages * len(faces)
    encode_at_ages(models, faces[:1], [0], ages[:1])  # warm-up (cuDNN algorithm choice)
    dev.reset_peak()
    codes, enc_s = dev.timed(encode_at_ages, models, faces, index, targets, batch_size=16)
    side = scale.resolution
    render_wplus(models, codes[:1].numpy(), size=side, batch_size=1)  # warm-up
    frames, gen_s = dev.timed(render_wplus, models, codes.numpy(), size=side, batch_size=8)
    n = len(targets)
    print(
        f"SAM encode: {len(faces)} photo(s) x {scale.ages} ages = {n} faces in {enc_s:.2f} s -> "
        f"{n / enc_s:.1f} faces/s; render {n} keyframes at {side} px: {n / gen_s:.1f} frames/s; "
        f"generated keyframes (both): {n / (enc_s + gen_s):.1f}/s; {dev.peak()}"
    )
    failures = []
    if not torch.isfinite(codes).all():
        failures.append("SAM codes contain NaN/inf")
    if frames.shape != (n, side, side, 3):
        failures.append(f"SAM keyframes have shape {frames.shape}")
    del models
    dev.empty_cache()
    return failures


def pick_device(name: str | None) -> torch.device | None:
    """The device asked for, else the GPU when present, else the CPU; None if it is absent."""
    from pipeline.methods.stylegan.models import default_device

    device = torch.device(name) if name else default_device()
    if device.type == "cuda" and not torch.cuda.is_available():
        return None
    return device


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default=None, help="torch device (default: the GPU if present)")
    ap.add_argument("--smoke", action="store_true", help="tiny networks: check the script itself")
    ap.add_argument("--frames", type=int, default=None, help="frames per speed run (48)")
    ap.add_argument("--faces", type=int, default=None, help="faces per encoder speed run (16)")
    ap.add_argument(
        "--frames-between", type=int, default=None, help="frames per transition in renders (24)"
    )
    ap.add_argument(
        "--keep", type=Path, default=None, help="keep the checkpoint and renders in this folder"
    )
    args = ap.parse_args()

    device = pick_device(args.device)
    if device is None or (device.type == "cpu" and not args.smoke):
        print(
            f"gpu_check: no GPU here (torch {torch.__version__}, CUDA available: "
            f"{torch.cuda.is_available()}); nothing was checked. Run it on a GPU machine, or "
            "with --smoke to run its steps on the CPU with tiny networks.",
            file=sys.stderr,
        )
        return 2
    scale = SMOKE if args.smoke else FULL
    scale = dataclasses.replace(
        scale,
        frames=args.frames or scale.frames,
        faces=args.faces or scale.faces,
        frames_between=args.frames_between or scale.frames_between,
    )
    dev = Device(device)
    os.environ["HF_HUB_OFFLINE"] = "1"  # nothing is downloaded

    from pipeline.methods.stylegan.inference import encode_images
    from tests.support.recipe import recipe_models

    torch.set_grad_enabled(False)
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 reference without TF32 rounding
    torch.backends.cudnn.allow_tf32 = False
    start, cpu_start = time.perf_counter(), time.process_time()
    print(
        f"device: {dev.name()}; torch {torch.__version__}; CUDA {torch.version.cuda}"
        + ("; SMOKE RUN (tiny networks, no timing compared)" if args.smoke else "")
    )
    t = time.perf_counter()
    models = {
        name: recipe_models(device, encoder=name, size=scale.resolution) for name in ("e4e", "psp")
    }
    print(
        f"built {scale.resolution} px generator + e4e + pSp encoders (recipe): "
        f"{time.perf_counter() - t:.1f} s; policy: {models['e4e'].precision.describe()}"
    )
    faces = test_faces(scale.faces, 1024 if dev.gpu else 256)
    failures: list[str] = []

    w = encode_images(models["e4e"], faces[:4]).to(device)
    failures += check_precision(models["e4e"], w, dev)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    failures += measure_speed(models, faces, scale, dev)

    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ckpt = workdir / "e4e_recipe.pt"
        t = time.perf_counter()
        save_checkpoint(models["e4e"], ckpt)
        print(
            f"saved the recipe checkpoint ({ckpt.stat().st_size / 1e9:.2f} GB) in "
            f"{time.perf_counter() - t:.1f} s"
        )
        del models
        dev.empty_cache()
        os.environ["TIMELAPSE_E4E_PATH"] = str(ckpt)
        os.environ.pop("TIMELAPSE_E4E_SHA256", None)
        for step in (check_duration, check_timelapse):
            try:
                failures += step(workdir, scale, not args.smoke)
            except Exception as exc:  # a broken step is a failed check; the others still run
                failures.append(f"{step.__name__}: {exc.__class__.__name__}: {exc}")
    failures += measure_sam(scale, dev)

    overall = torch.cuda.max_memory_allocated(device) / 2**30 if dev.gpu else None
    print(
        "peak GPU memory overall: "
        + (f"{overall:.2f} GiB" if overall is not None else "not measured on the CPU")
        + f"; total {time.perf_counter() - start:.0f} s wall, "
        f"{time.process_time() - cpu_start:.0f} s CPU"
    )
    for failure in failures:
        print(f"FAILED: {failure}")
    print(
        "gpu_check: "
        + ("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
