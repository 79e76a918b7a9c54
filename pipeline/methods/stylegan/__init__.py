"""StyleGAN2 latent-space morphing: our own generator and e4e/pSp encoders in plain PyTorch.

- :mod:`pipeline.methods.stylegan.generator`: rosinality-layout StyleGAN2 generator.
- :mod:`pipeline.methods.stylegan.encoders`: ``Encoder4Editing`` (e4e) and ``GradualStyleEncoder`` (pSp).
- :mod:`pipeline.methods.stylegan.weights`: checkpoint location (env vars, Hub), checks and loading.
- :mod:`pipeline.methods.stylegan.models`: building the networks, per-process model cache.
- :mod:`pipeline.methods.stylegan.inference`: batched encode/render, ``spaces.GPU`` entry points.
- :mod:`pipeline.methods.stylegan.latents`: per-process W+ latent cache.
- :mod:`pipeline.methods.stylegan.method`: the registered ``stylegan`` transition method.
"""

from __future__ import annotations

from pipeline.methods.stylegan.encoders import Encoder4Editing, GradualStyleEncoder
from pipeline.methods.stylegan.generator import Generator
from pipeline.methods.stylegan.method import StyleGANMethod

__all__ = ["Encoder4Editing", "GradualStyleEncoder", "Generator", "StyleGANMethod"]
