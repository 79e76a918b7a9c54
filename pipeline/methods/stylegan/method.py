"""The ``stylegan`` transition method: morph in StyleGAN2's W+ space.

Each aligned keyframe is encoded (e4e or pSp) into W+, and the frames between
keyframes j and j+1 are generated from ``(1 - lambda) * w_j + lambda * w_{j+1}``.
The renderer applies holds and the cosine keyframe blend with ``gamma``
(``default_gamma`` = 0.5) itself, as for every method.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import torch

from pipeline.errors import UsageError
from pipeline.methods.base import Keyframe, TransitionMethod, register_method
from pipeline.methods.stylegan.inference import default_batch_size, encode_images, render_wplus
from pipeline.methods.stylegan.latents import LATENT_CACHE, LatentKey, crop_digest
from pipeline.methods.stylegan.models import StyleGANModels, default_device, get_models
from pipeline.methods.stylegan.weights import ENCODERS, check_encoder, encoder_availability

log = logging.getLogger(__name__)


def latent_key(keyframe: Keyframe, encoder: str, checkpoint_id: str) -> LatentKey:
    """The latent cache key: (aligned crop content, encoder, checkpoint)."""
    return (f"crop:{crop_digest(keyframe.image)}", encoder, checkpoint_id)


@register_method
class StyleGANMethod(TransitionMethod):
    """Latent-space morph through a StyleGAN2 FFHQ generator with an e4e or pSp encoder.

    Args:
        encoder (str): ``e4e`` (default; latents that interpolate smoothly) or
            ``psp`` (closer reconstructions).
        device (str | None): torch device; None picks ``cuda`` when present, else ``cpu``.
        batch_size (int | None): frames per generator batch; None picks 16 on a GPU, 2 on CPU.

    Raises:
        UsageError: unknown encoder or a batch size below 1.
    """

    name = "stylegan"
    label = "StyleGAN2 (e4e/pSp)"
    default_gamma = 0.5

    def __init__(
        self, *, encoder: str = "e4e", device: str | None = None, batch_size: int | None = None
    ) -> None:
        self.encoder = check_encoder(encoder)
        self.device = torch.device(device) if device else default_device()
        if batch_size is not None and int(batch_size) < 1:
            raise UsageError(f"batch_size must be at least 1, got {batch_size}.")
        self.batch_size = int(batch_size) if batch_size else default_batch_size(self.device)
        self._latents: np.ndarray | None = None
        self._size = 0
        self._models: StyleGANModels | None = None
        # Faces the encoder actually ran on in the last `prepare` (0 = all from the cache).
        self.encoded_last_prepare = 0

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """Usable here? Checks a local path, the Hub cache, then a quick Hub probe; never downloads.

        Returns:
            tuple[bool, str]: (ok, one-line reason).
        """
        try:
            results = {enc: encoder_availability(enc) for enc in ENCODERS}
        except Exception as exc:  # availability must never raise
            return False, f"StyleGAN weights could not be checked: {exc}"
        if results["e4e"][0]:
            return True, results["e4e"][1]
        if results["psp"][0]:
            return True, f"only pSp is usable ({results['psp'][1]})"
        return False, (
            f"StyleGAN weights unavailable: {results['e4e'][1].rstrip('.')} "
            "(or TIMELAPSE_PSP_PATH for pSp)."
        )

    @classmethod
    def preload(cls, *, encoder: str = "e4e", device: str | None = None) -> str:
        """Download (if needed) and load the networks now, e.g. at app start-up.

        Returns:
            str: the checkpoint id of the loaded weights.

        Raises:
            MethodUnavailableError: the weights cannot be found or downloaded.
        """
        dev = torch.device(device) if device else default_device()
        return get_models(check_encoder(encoder), dev).checkpoint_id

    @property
    def latents(self) -> np.ndarray:
        """The keyframes' W+ latents [n, n_latent, 512] float32 (after :meth:`prepare`)."""
        if self._latents is None:
            raise RuntimeError("call prepare() first")
        return self._latents.copy()

    def prepare(self, keyframes: list[Keyframe], *, size: int) -> None:
        """Encode the keyframes (cached per aligned crop, encoder and checkpoint).

        Args:
            keyframes (list[Keyframe]): aligned faces in video order.
            size (int): output frame side in pixels.

        Raises:
            MethodUnavailableError: the weights cannot be found or downloaded.
            UsageError: no keyframes or a bad size.
        """
        if not keyframes:
            raise UsageError("The StyleGAN method needs at least one keyframe.")
        if int(size) < 1:
            raise UsageError(f"Output size must be positive, got {size}.")
        models = get_models(self.encoder, self.device)
        keys = [latent_key(kf, self.encoder, models.checkpoint_id) for kf in keyframes]
        found: dict[LatentKey, np.ndarray] = {}
        todo: dict[LatentKey, np.ndarray] = {}
        for key, kf in zip(keys, keyframes):
            if key in found or key in todo:
                continue
            cached = LATENT_CACHE.get(key)
            if cached is not None:
                found[key] = cached
            else:
                todo[key] = kf.image
        if todo:
            log.info("Encoding %d face(s) with %s on %s", len(todo), self.encoder, self.device)
            codes = encode_images(models, list(todo.values())).numpy()
            for key, code in zip(todo, codes):
                LATENT_CACHE.put(key, code)
                found[key] = code
        self.encoded_last_prepare = len(todo)
        self._latents = np.stack([found[key] for key in keys]).astype(np.float32)
        self._size = int(size)
        self._models = models

    def _check_prepared(self) -> np.ndarray:
        if self._latents is None or self._models is None:
            raise RuntimeError("StyleGANMethod.prepare() must be called before rendering")
        return self._latents

    def render_latents(self, wplus: np.ndarray) -> np.ndarray:
        """Generate [N, size, size, 3] uint8 frames from W+ latents [N, n_latent, 512]."""
        self._check_prepared()
        assert self._models is not None
        return render_wplus(
            self._models, np.asarray(wplus, np.float32), size=self._size, batch_size=self.batch_size
        )

    def reconstruct(self, index: int) -> np.ndarray:
        """The generator's rendering of keyframe `index`'s own latent, [size, size, 3] uint8."""
        latents = self._check_prepared()
        return self.render_latents(latents[index : index + 1])[0]

    def transition(self, j: int, lambdas: np.ndarray) -> Iterator[np.ndarray]:
        """Yield frames for ``W+ = (1 - l) * w_j + l * w_{j+1}``, one per entry of `lambdas`."""
        latents = self._check_prepared()
        if not 0 <= j < len(latents) - 1:
            raise IndexError(f"transition {j} does not exist with {len(latents)} keyframes")
        lam = np.asarray(lambdas, dtype=np.float32).reshape(-1)
        if lam.size == 0:
            return
        lam = lam[:, None, None]
        wplus = (1.0 - lam) * latents[j][None] + lam * latents[j + 1][None]
        yield from self.render_latents(wplus)
