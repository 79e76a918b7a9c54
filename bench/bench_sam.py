"""SAM age-transformation speed: encoding faces at target ages, and generated keyframes.

Builds SAM's real configuration (two 18-style IR-SE-50 encoders, the 4-channel
age encoder and the pretrained pSp one, plus the 1024 px FFHQ generator) filled
by the parity-fixture recipe (speed does not depend on the values) and times the
batched functions the pipeline runs when it imagines keyframes:
``encode_at_ages`` (every photo at every target age in one pass; the pretrained
encoder runs once per photo) and ``render_wplus`` with SAM's generator. fp16
autocast on CUDA, fp32 on CPU; the device is chosen automatically unless given.

Prints: SAM encoding faces/s (photo-age pairs), generated keyframes/s (encoding
plus rendering, per imagined keyframe, as a one-photo lifespan needs them), and
peak memory.

    .venv/bin/python -m bench.bench_sam               # CPU here: 1 photo x 3 ages, a few minutes
    .venv/bin/python -m bench.bench_sam --ages 9 --photos 8   # on a GPU
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.bench_stylegan import faces as photos
from bench.bench_stylegan import peak_gib, sync
from pipeline.methods.stylegan.aging import SAMModels, encode_at_ages
from pipeline.methods.stylegan.generator import Generator
from pipeline.methods.stylegan.inference import default_batch_size, render_wplus
from pipeline.methods.stylegan.models import build_generator, default_device
from pipeline.methods.stylegan.sam import SAMEncoder, SAMParts, build_sam_encoder
from tests.support.recipe import recipe_state_dict


def build_models(device: torch.device, size: int = 1024) -> SAMModels:
    """Full-size SAM (recipe fill) on `device`; a smaller `size` (generator side, with its
    number of styles) for a quick check on the CPU."""
    generator = Generator(size)  # CPU build: the FIR kernels get their true values
    generator = build_generator(recipe_state_dict(generator.state_dict(), encoder=False))
    styles = generator.n_latent
    with torch.device("meta"):
        shapes = SAMEncoder(styles)
    parts = SAMParts(
        encoder=recipe_state_dict(shapes.encoder.state_dict(), encoder=True),
        pretrained_encoder=recipe_state_dict(shapes.pretrained_encoder.state_dict(), encoder=True),
        decoder={},
        latent_avg=torch.zeros(styles, 512),
        opts={"start_from_encoded_w_plus": True},
    )
    net = build_sam_encoder(parts, what="recipe SAM")
    with torch.no_grad():
        z = torch.randn(512, 512, generator=torch.Generator().manual_seed(0))
        net.latent_avg = generator.mapping(z).mean(0, keepdim=True).repeat(styles, 1)
    return SAMModels(net.to(device), generator.to(device), "recipe", device)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default=None, help="torch device (default: cuda if present)")
    ap.add_argument("--photos", type=int, default=None, help="source photos (CPU 1, GPU 8)")
    ap.add_argument("--ages", type=int, default=None, help="target ages per photo (CPU 3, GPU 9)")
    ap.add_argument("--batch", type=int, default=None, help="pairs per age-encoder call")
    ap.add_argument("--size", type=int, default=512, help="output side of the keyframes (512)")
    args = ap.parse_args()

    device = torch.device(args.device) if args.device else default_device()
    gpu = device.type == "cuda"
    n_photos = args.photos or (8 if gpu else 1)
    n_ages = args.ages or (9 if gpu else 3)
    batch = args.batch or (16 if gpu else 4)
    torch.set_grad_enabled(False)
    name = torch.cuda.get_device_name(device) if gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {device} - {name}; torch {torch.__version__}")
    print(f"precision: {'fp16 autocast' if gpu else 'fp32'}")

    t = time.perf_counter()
    models = build_models(device)
    sync(device)
    print(
        f"build SAM (2 encoders + 1024 px generator, recipe fill): {time.perf_counter() - t:.1f} s"
    )

    images = photos(n_photos, args.size)
    ages = np.linspace(5, 80, n_ages).round().tolist()
    index = [p for p in range(n_photos) for _ in ages]
    targets = ages * n_photos
    encode_at_ages(models, images[:1], [0], [ages[0]], batch_size=1)  # warm-up
    sync(device)
    if gpu:
        torch.cuda.reset_peak_memory_stats(device)
    t = time.perf_counter()
    codes = encode_at_ages(models, images, index, targets, batch_size=batch)
    sync(device)
    enc_s = time.perf_counter() - t
    pairs = len(targets)
    print(
        f"SAM encode: {n_photos} photo(s) x {n_ages} ages = {pairs} faces in batches of {batch}: "
        f"{enc_s:.2f} s -> {pairs / enc_s:.2f} faces/s"
    )

    frame_batch = default_batch_size(device)
    render_wplus(models, codes[:1].numpy(), size=args.size, batch_size=1)  # warm-up
    sync(device)
    t = time.perf_counter()
    faces = render_wplus(models, codes.numpy(), size=args.size, batch_size=frame_batch)
    sync(device)
    gen_s = time.perf_counter() - t
    assert faces.shape == (pairs, args.size, args.size, 3)
    print(
        f"SAM render: {pairs} keyframes at {args.size} px in batches of {frame_batch}: "
        f"{gen_s:.2f} s -> {pairs / gen_s:.2f} frames/s"
    )
    print(
        f"generated keyframes (encode + render): {pairs / (enc_s + gen_s):.2f} keyframes/s; "
        f"peak memory {peak_gib(device):.2f} GiB ({'CUDA allocated' if gpu else 'process RSS'})"
    )


if __name__ == "__main__":
    main()
