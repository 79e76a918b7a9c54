"""StyleGAN2 latent-space morphing: our own generator and e4e/pSp encoders in plain PyTorch.

- :mod:`pipeline.stylegan.generator`: rosinality-layout StyleGAN2 generator.
- :mod:`pipeline.stylegan.encoders`: ``Encoder4Editing`` (e4e) and ``GradualStyleEncoder`` (pSp).
- :mod:`pipeline.stylegan.weights`: checkpoint location (env vars, Hub), checks and loading.
- :mod:`pipeline.stylegan.models`: building the networks, per-process model cache.
- :mod:`pipeline.stylegan.inference`: batched encode/render, ``spaces.GPU`` entry points.
- :mod:`pipeline.stylegan.latents`: per-process W+ latent cache.
- :mod:`pipeline.stylegan.method`: the registered ``stylegan`` transition method.
- :mod:`pipeline.stylegan.recipe`: the parity-fixture fill (tests, benchmark).
"""

from __future__ import annotations

from pipeline.stylegan.encoders import Encoder4Editing, GradualStyleEncoder
from pipeline.stylegan.generator import Generator
from pipeline.stylegan.method import StyleGANMethod

__all__ = ["Encoder4Editing", "GradualStyleEncoder", "Generator", "StyleGANMethod"]
