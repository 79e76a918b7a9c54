"""StyleGAN2 method speed and memory: e4e encoding and 1024 px frame generation.

Builds the real configuration (1024 px FFHQ config-f generator, 18-style e4e
encoder) filled by the parity-fixture recipe (speed does not depend on the
values) and times the same batched functions the ``stylegan`` method runs:
``encode_images`` (resize to 256, encoder, + latent_avg) and ``render_wplus``
(generator, resize to the output size, uint8, copy to the host), in the
precision the method uses on that device (``precision_policy``); the device is chosen automatically unless given.

Prints: encoder faces/s, generator frames/s at the output size, and peak
memory (``torch.cuda.max_memory_allocated`` on CUDA, process peak RSS on CPU).

    .venv/bin/python -m bench.bench_stylegan                 # CPU here: a few frames, ~1-2 min
    .venv/bin/python -m bench.bench_stylegan --frames 512    # on a GPU: more frames

Targets on an H100: >= 40 frames/s at 1024 px, >= 50 faces/s encoding.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
from PIL import Image

from pipeline.methods.stylegan.inference import default_batch_size, encode_images, render_wplus
from pipeline.methods.stylegan.models import StyleGANModels, default_device
from tests.support.recipe import recipe_models

TARGET_FPS = 40.0
TARGET_FACES = 50.0


def build_models(device: torch.device) -> StyleGANModels:
    """1024 px generator + 18-style e4e encoder, filled by the fixture recipe, on `device`."""
    return recipe_models(device, encoder="e4e")


def faces(count: int, side: int) -> list[np.ndarray]:
    """`count` [side, side, 3] uint8 faces (the astronaut portrait, shifted and flipped)."""
    from skimage import data

    base = data.astronaut()
    out = []
    for i in range(count):
        x = 120 + (i % 5) * 8
        crop = Image.fromarray(base).crop((x, 10, x + 220, 230)).resize((side, side))
        arr = np.asarray(crop)
        out.append(arr[:, ::-1].copy() if i % 2 else arr)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float:
    """CUDA: peak allocated since the last reset; CPU: the process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def memory_label(device: torch.device) -> str:
    return "GiB peak allocated (CUDA)" if device.type == "cuda" else "GiB peak RSS (process)"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default=None, help="torch device (default: cuda if present)")
    ap.add_argument("--faces", type=int, default=None, help="faces to encode (CPU 2, GPU 64)")
    ap.add_argument("--encode-batch", type=int, default=None, help="faces per encoder call")
    ap.add_argument("--frames", type=int, default=None, help="frames to render (CPU 4, GPU 256)")
    ap.add_argument("--batch", type=int, default=None, help="frames per generator call")
    ap.add_argument("--size", type=int, default=1024, help="output frame side (default 1024)")
    args = ap.parse_args()

    device = torch.device(args.device) if args.device else default_device()
    gpu = device.type == "cuda"
    n_faces = args.faces or (64 if gpu else 2)
    encode_batch = args.encode_batch or (32 if gpu else n_faces)
    n_frames = args.frames or (256 if gpu else 4)
    batch = args.batch or default_batch_size(device)
    torch.set_grad_enabled(False)

    name = torch.cuda.get_device_name(device) if gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {device} - {name}; torch {torch.__version__}")
    t = time.perf_counter()
    models = build_models(device)
    sync(device)
    print(f"precision: encoder fp32, generator {models.precision.describe()}")
    print(f"build 1024 px generator + e4e encoder (recipe fill): {time.perf_counter() - t:.1f} s")

    # Encoding: aligned faces at the output size, as the method receives them.
    images = faces(n_faces, args.size)
    encode_images(models, images[: min(encode_batch, 2)])  # warm-up
    sync(device)
    reset_peak(device)
    t = time.perf_counter()
    latents = []
    for start in range(0, n_faces, encode_batch):
        latents.append(encode_images(models, images[start : start + encode_batch]))
    sync(device)
    enc_s = time.perf_counter() - t
    enc_rate = n_faces / enc_s
    enc_mem = peak_gib(device)
    print(
        f"encode: {n_faces} faces in batches of {encode_batch}: {enc_s:.2f} s -> "
        f"{enc_rate:.2f} faces/s; {enc_mem:.2f} {memory_label(device)}"
    )

    # Generation: W+ along a path between encoded latents, as in a transition.
    w = torch.cat(latents)
    lam = torch.linspace(0, 1, n_frames)[:, None, None]
    wplus = ((1 - lam) * w[0] + lam * w[-1]).numpy()
    render_wplus(models, wplus[:batch], size=args.size, batch_size=batch)  # warm-up
    sync(device)
    reset_peak(device)
    t = time.perf_counter()
    frames = render_wplus(models, wplus, size=args.size, batch_size=batch)
    sync(device)
    gen_s = time.perf_counter() - t
    fps = n_frames / gen_s
    gen_mem = peak_gib(device)
    assert frames.shape == (n_frames, args.size, args.size, 3) and frames.dtype == np.uint8
    print(
        f"generate: {n_frames} frames at {args.size} px in batches of {batch}: {gen_s:.2f} s -> "
        f"{fps:.2f} frames/s ({1000 / fps:.0f} ms/frame); {gen_mem:.2f} {memory_label(device)}"
    )
    if gpu:
        print(
            f"targets (H100): frames/s {fps:.1f} vs >= {TARGET_FPS:.0f} "
            f"({'met' if fps >= TARGET_FPS else 'NOT met'}); faces/s {enc_rate:.1f} vs "
            f">= {TARGET_FACES:.0f} ({'met' if enc_rate >= TARGET_FACES else 'NOT met'})"
        )
    print(f"peak memory overall: {max(enc_mem, gen_mem):.2f} {memory_label(device)}")


if __name__ == "__main__":
    main()
