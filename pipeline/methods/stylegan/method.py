"""The ``stylegan`` transition method: morph in StyleGAN2's W+ space.

Each aligned keyframe is encoded (e4e or pSp) into W+, and the frames between
keyframes j and j+1 are generated from ``(1 - lambda) * w_j + lambda * w_{j+1}``.
The renderer applies holds and the cosine keyframe blend with ``gamma``
(``default_gamma`` = 0.5) itself, as for every method.

Each face is encoded on its own, so its code depends on its crop alone (not on
the faces that happen to share an encoder call, which shifts results by float
rounding): the same whether it is cached, which album it is in, or how the
keyframes are split. Codes are looked up and kept a window of keyframes at a
time (`ENCODE_WINDOW`): a transition video's handful of faces are all encoded
in `prepare`; a photo-a-day video of thousands of photos window after window
while it renders, keeping only the codes of the two windows last used, so
neither the faces read for the encoder nor the codes grow with the number of
photos.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from pipeline.errors import UsageError
from pipeline.methods.base import Keyframe, TransitionMethod, register_method
from pipeline.methods.stylegan.inference import default_batch_size, encode_images, render_wplus
from pipeline.methods.stylegan.latents import LATENT_CACHE, LatentKey, crop_digest
from pipeline.methods.stylegan.models import StyleGANModels, default_device, get_models
from pipeline.methods.stylegan.weights import ENCODERS, check_encoder, encoder_availability

log = logging.getLogger(__name__)


# Keyframes whose codes are looked up and kept together (prepare encodes the first window).
ENCODE_WINDOW = 16


def latent_key(keyframe: Keyframe, encoder: str, checkpoint_id: str) -> LatentKey:
    """The latent cache key: (aligned crop content, encoder, checkpoint)."""
    return _image_key(keyframe.image, encoder, checkpoint_id)


def _image_key(image: np.ndarray, encoder: str, checkpoint_id: str) -> LatentKey:
    return (f"crop:{crop_digest(image)}", encoder, checkpoint_id)


class _Codes:
    """The keyframes' W+ codes, a window of keyframes at a time, encoded when first asked for.

    Codes of the two windows asked for last are kept: a transition needs its two ends, and
    the renderer asks for the transitions in order; others are found again in `LATENT_CACHE`.
    """

    def __init__(
        self, keyframes: Sequence[Keyframe], models: StyleGANModels, encoder: str, window: int
    ) -> None:
        self.keyframes = list(keyframes)
        self.models, self.encoder = models, encoder
        self.window = max(1, int(window))
        self._near: OrderedDict[int, np.ndarray] = OrderedDict()
        self.encoded = 0  # faces the encoder ran on (the others came from the cache)

    def __len__(self) -> int:
        return len(self.keyframes)

    def get(self, i: int) -> np.ndarray:
        """Keyframe i's code [n_latent, 512] float32."""
        if not 0 <= i < len(self.keyframes):
            raise IndexError(i)
        w = i // self.window
        if w in self._near:
            self._near.move_to_end(w)
        else:
            self._near[w] = self._codes(w * self.window, min(len(self), (w + 1) * self.window))
            while len(self._near) > 2:
                self._near.popitem(last=False)
        return self._near[w][i % self.window]

    def _codes(self, lo: int, hi: int) -> np.ndarray:
        """Codes of keyframes lo..hi-1 (cached per aligned crop, encoder and checkpoint)."""
        checkpoint = self.models.checkpoint_id
        out = []
        for kf in self.keyframes[lo:hi]:
            image = kf.image  # built on reading for a photo-a-day keyframe: read once
            key = _image_key(image, self.encoder, checkpoint)
            code = LATENT_CACHE.get(key)
            if code is None:
                log.debug("Encoding %s with %s on %s", kf.label, self.encoder, self.models.device)
                code = encode_images(self.models, [image]).numpy()[0]
                LATENT_CACHE.put(key, code)
                self.encoded += 1
            out.append(code)
        return np.stack(out).astype(np.float32)


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
        self._codes: _Codes | None = None
        self._size = 0
        self._models: StyleGANModels | None = None

    @property
    def encoded_last_prepare(self) -> int:
        """Faces the encoder ran on since the last `prepare` (0 = all from the cache so far)."""
        return 0 if self._codes is None else self._codes.encoded

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
        """The keyframes' W+ latents [n, n_latent, 512] float32 (after :meth:`prepare`;
        encodes every window not encoded yet)."""
        if self._codes is None:
            raise RuntimeError("call prepare() first")
        return np.stack([self._codes.get(i) for i in range(len(self._codes))])

    def prepare(self, keyframes: list[Keyframe], *, size: int) -> None:
        """Encode the keyframes' first window now, the others when first rendered (each code
        cached per aligned crop, encoder and checkpoint).

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
        self._codes = _Codes(keyframes, models, self.encoder, ENCODE_WINDOW)
        self._codes.get(0)  # the first window now (all of a transition video's faces)
        if self._codes.encoded:
            log.info(
                "Encoded %d face(s) with %s on %s", self._codes.encoded, self.encoder, self.device
            )
        self._size = int(size)
        self._models = models

    def _check_prepared(self) -> _Codes:
        if self._codes is None or self._models is None:
            raise RuntimeError("StyleGANMethod.prepare() must be called before rendering")
        return self._codes

    def render_latents(self, wplus: np.ndarray) -> np.ndarray:
        """Generate [N, size, size, 3] uint8 frames from W+ latents [N, n_latent, 512]."""
        self._check_prepared()
        assert self._models is not None
        return render_wplus(
            self._models, np.asarray(wplus, np.float32), size=self._size, batch_size=self.batch_size
        )

    def reconstruct(self, index: int) -> np.ndarray:
        """The generator's rendering of keyframe `index`'s own latent, [size, size, 3] uint8."""
        codes = self._check_prepared()
        return self.render_latents(codes.get(index)[None])[0]

    def transition(self, j: int, lambdas: np.ndarray) -> Iterator[np.ndarray]:
        """Yield frames for ``W+ = (1 - l) * w_j + l * w_{j+1}``, one per entry of `lambdas`."""
        codes = self._check_prepared()
        if not 0 <= j < len(codes) - 1:
            raise IndexError(f"transition {j} does not exist with {len(codes)} keyframes")
        lam = np.asarray(lambdas, dtype=np.float32).reshape(-1)
        if lam.size == 0:
            return
        lam = lam[:, None, None]
        wplus = (1.0 - lam) * codes.get(j)[None] + lam * codes.get(j + 1)[None]
        yield from self.render_latents(wplus)
