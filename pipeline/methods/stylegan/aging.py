"""Age beyond the photos: SAM keyframes and smooth W+ paths through them.

An *imagined* keyframe is a face SAM generates from a real photo (its
``imagined.source_key``) at another age. :func:`imagine_keyframes` encodes
every source photo at its own age and at all its imagined ages in one batched
pass and renders the imagined faces; :class:`AgeExtendedMethod` then renders the
video: transitions between two real photos come from the user's method, every
transition that touches an imagined keyframe follows a C1-smooth cubic path in
W+ through the chain of SAM latents (not straight hops from one generated face
to the next), parametrised by the keyframes' times in the video.

Keyframe fields used here: ``imagined`` (the source photo's key and label),
``wplus`` ([n_latent, 512] float32, on the new keyframes :func:`imagine_keyframes`
returns for imagined faces and their sources) and ``time``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pipeline.errors import MethodUnavailableError, UsageError
from pipeline.methods.base import Keyframe, TransitionMethod
from pipeline.methods.stylegan.generator import FP32, Generator, Precision
from pipeline.methods.stylegan.inference import (
    default_batch_size,
    images_to_encoder_input,
    render_wplus,
)
from pipeline.methods.stylegan.latents import LATENT_CACHE, crop_digest
from pipeline.methods.stylegan.models import build_generator, default_device, precision_policy
from pipeline.methods.stylegan.sam import (
    AGE_RANGE,
    SAMEncoder,
    build_sam_encoder,
    split_sam_checkpoint,
)
from pipeline.methods.stylegan.weights import (
    encoder_availability,
    load_checkpoint_file,
    resolve_checkpoint,
    verify_file,
)
from pipeline.methods.stylegan.wpath import hermite_path  # noqa: F401  (importable from here too)
from pipeline.types import is_imagined

log = logging.getLogger(__name__)

SAM = "sam"


@dataclass
class SAMModels:
    """SAM's encoders and its generator on one device.

    Attributes:
        net (SAMEncoder): photos + target ages -> W+ codes (``latent_avg`` included).
        generator (Generator): W+ -> images (the checkpoint's ``decoder``).
        checkpoint_id (str): identifies the weights (SHA-256 when verified).
        device (torch.device): where the networks live.
        precision (Precision): the generator's dtype per block (``precision_policy``).
    """

    net: SAMEncoder
    generator: Generator
    checkpoint_id: str
    device: torch.device
    precision: Precision = FP32

    @property
    def n_latent(self) -> int:
        return self.generator.n_latent


def sam_models_from_checkpoint(
    ckpt: dict, *, device: torch.device | str, checkpoint_id: str, origin: str = "checkpoint"
) -> SAMModels:
    """Build SAM from a loaded ``sam_ffhq_aging.pt``-style dict and move it to `device`.

    Raises:
        MethodUnavailableError: a part is missing or does not load with ``strict=True``.
    """
    parts = split_sam_checkpoint(ckpt, origin=origin)
    net = build_sam_encoder(parts, what=origin)
    generator = build_generator(parts.decoder, what=f"{origin} (decoder)")
    if net.n_styles != generator.n_latent:
        raise MethodUnavailableError(
            f"{origin}: the SAM encoder predicts {net.n_styles} styles but the generator "
            f"takes {generator.n_latent}."
        )
    device = torch.device(device)
    return SAMModels(
        net.to(device),
        generator.to(device),
        checkpoint_id,
        device,
        precision_policy(device, generator),
    )


# device -> ((path, checkpoint id), models); one lock so concurrent requests load once.
_models: dict[str, tuple[tuple[str, str], SAMModels]] = {}
_models_lock = threading.Lock()


def get_sam_models(device: torch.device | str | None = None) -> SAMModels:
    """SAM on `device`, loaded once per process (local path, Hub cache or download, then checked).

    Raises:
        MethodUnavailableError: no usable checkpoint.
    """
    device = torch.device(device) if device is not None else default_device()
    with _models_lock:
        path, source = resolve_checkpoint(SAM)
        checkpoint_id = verify_file(path, source)
        identity = (str(path), checkpoint_id)
        cached = _models.get(str(device))
        if cached is not None and cached[0] == identity:
            return cached[1]
        _models.pop(str(device), None)
        log.info("Loading SAM from %s onto %s", path, device)
        models = sam_models_from_checkpoint(
            load_checkpoint_file(path), device=device, checkpoint_id=checkpoint_id, origin=str(path)
        )
        _models[str(device)] = (identity, models)
        return models


def sam_models_for(device: torch.device | str, checkpoint_id: str) -> SAMModels:
    """The cached SAM with exactly `checkpoint_id` (loading it in a fresh worker).

    Raises:
        MethodUnavailableError: the weights changed since the keyframes were encoded.
    """
    with _models_lock:
        cached = _models.get(str(torch.device(device)))
    if cached is not None and cached[1].checkpoint_id == checkpoint_id:
        return cached[1]
    models = get_sam_models(device)
    if models.checkpoint_id != checkpoint_id:
        raise MethodUnavailableError(
            "The SAM weights changed since the keyframes were imagined; render the video again."
        )
    return models


def clear_sam_models() -> None:
    """Drop the cached SAM networks."""
    with _models_lock:
        _models.clear()


def sam_availability() -> tuple[bool, str]:
    """Can SAM run here? Local path, Hub cache, then a quick Hub probe; never downloads.

    Returns:
        tuple[bool, str]: (ok, one-line reason).
    """
    try:
        ok, reason = encoder_availability(SAM)
    except Exception as exc:  # availability must never raise
        return False, f"the SAM age model could not be checked: {exc}"
    return ok, reason if ok else f"the SAM age model is unavailable: {reason}"


@torch.no_grad()
def encode_at_ages(
    models: SAMModels,
    images: Sequence[np.ndarray],
    photo_index: Sequence[int],
    ages: Sequence[float],
    *,
    batch_size: int | None = None,
) -> torch.Tensor:
    """W+ of photo ``photo_index[i]`` at age ``ages[i]``, all pairs in one batched pass.

    Each photo's pretrained pSp codes are computed once, however many ages it has.

    Args:
        models (SAMModels): loaded networks.
        images (Sequence[np.ndarray]): [S, S, 3] uint8 FFHQ-aligned faces.
        photo_index (Sequence[int]): which image each pair uses.
        ages (Sequence[float]): target age of each pair, 0 to 100.
        batch_size (int | None): pairs per age-encoder call (default: 16 on a GPU, 4 on CPU).

    Returns:
        torch.Tensor: [len(ages), n_latent, 512] float32 on CPU.
    """
    if len(photo_index) != len(ages):
        raise ValueError(f"{len(photo_index)} photo indices but {len(ages)} ages")
    if not len(ages):
        return torch.empty(0, models.n_latent, 512)
    lo, hi = AGE_RANGE
    if any(not lo <= float(a) <= hi for a in ages):
        raise ValueError(f"SAM ages must be within {lo:g} to {hi:g}, got {list(ages)}")
    device = models.device
    rgb = images_to_encoder_input(images, device)
    step = batch_size or (16 if device.type == "cuda" else 4)
    # The encoders run in fp32 like e4e/pSp (a few dozen faces per video); only
    # the generator follows the reduced-precision policy.
    codes = models.net.encode_pairs(
        rgb, torch.as_tensor(list(photo_index)), [float(a) for a in ages], batch_size=step
    )
    return codes.float().cpu()


def sam_encode(
    device: str,
    checkpoint_id: str,
    images: Sequence[np.ndarray],
    photo_index: Sequence[int],
    ages: Sequence[float],
) -> np.ndarray:
    """:func:`encode_at_ages` with the cached SAM -> [len(ages), n_latent, 512] float32.

    Takes only small picklable arguments and finds the networks in the
    per-process cache, so it also runs inside a GPU worker; the render as a
    whole is what gets a GPU window, nothing here is wrapped again.
    """
    models = sam_models_for(device, checkpoint_id)
    return encode_at_ages(models, images, photo_index, ages).numpy()


def sam_render(
    device: str, checkpoint_id: str, wplus: np.ndarray, size: int, batch_size: int
) -> np.ndarray:
    """Render W+ latents with SAM's generator -> [N, size, size, 3] uint8."""
    models = sam_models_for(device, checkpoint_id)
    return render_wplus(models, wplus, size=size, batch_size=batch_size)  # type: ignore[arg-type]


def _cache_key(crop: str, age: float, checkpoint_id: str) -> tuple[str, str, str]:
    """(aligned crop digest @ target age, ``sam``, checkpoint): another chosen face is another crop."""
    return (f"crop:{crop}@{age:.3f}", SAM, checkpoint_id)


def imagine_keyframes(
    keyframes: Sequence[Keyframe],
    *,
    size: int,
    device: torch.device | str | None = None,
    batch_size: int | None = None,
) -> tuple[list[Keyframe], str]:
    """Generate every imagined keyframe's face and latent; give its source photo its own latent.

    All (source photo, age) pairs go through SAM in one batched pass (latents
    already cached for the same photo, age and weights are reused); the imagined
    faces are rendered in one generator pass.

    Args:
        keyframes (Sequence[Keyframe]): the video's keyframes; imagined ones name
            their source photo by ``imagined.source_key``, which must be among them.
        size (int): output side in pixels.
        device (torch.device | str | None): default ``cuda`` when present, else ``cpu``.
        batch_size (int | None): frames per generator call.

    Returns:
        tuple[list[Keyframe], str]: the keyframes in a new list, the imagined ones and
        their sources as new keyframes (faces and ``wplus`` filled; those given stay as
        they were), and the SAM checkpoint id.

    Raises:
        MethodUnavailableError: SAM cannot be loaded.
        UsageError: an imagined keyframe without its source photo.
    """
    dev = torch.device(device) if device is not None else default_device()
    kfs = list(keyframes)  # keyframes are values: the ones filled in below are new
    real = {kf.key: i for i, kf in enumerate(kfs) if not is_imagined(kf) and kf.key}
    wanted: list[tuple[int, int, float]] = []  # (keyframe index, source keyframe index, age)
    for i, kf in enumerate(kfs):
        if kf.imagined is None:
            continue
        src = real.get(kf.imagined.source_key)
        if src is None:
            raise UsageError(f"{kf.label}: the photo it is imagined from is not in the video.")
        wanted.append((i, src, float(kf.age)))
    sources = sorted({src for _, src, _ in wanted})
    wanted += [(src, src, float(kfs[src].age)) for src in sources]
    if not wanted:
        return kfs, ""
    models = get_sam_models(dev)
    ckpt = models.checkpoint_id
    latents: dict[int, np.ndarray] = {}
    todo = []
    for i, src, age in wanted:
        cached = LATENT_CACHE.get(_cache_key(crop_digest(kfs[src].image), age, ckpt))
        if cached is not None:
            latents[i] = cached
        else:
            todo.append((i, src, age))
    if todo:
        used = sorted({src for _, src, _ in todo})
        slot = {src: n for n, src in enumerate(used)}
        log.info("SAM: encoding %d photo(s) at %d age(s) on %s", len(used), len(todo), dev)
        codes = sam_encode(
            str(dev),
            ckpt,
            [kfs[src].image for src in used],
            [slot[src] for _, src, _ in todo],
            [age for _, _, age in todo],
        )
        for (i, src, age), code in zip(todo, codes):
            LATENT_CACHE.put(_cache_key(crop_digest(kfs[src].image), age, ckpt), code)
            latents[i] = code
    imagined = [i for i, _, _ in wanted if is_imagined(kfs[i])]
    batch = batch_size or default_batch_size(dev)
    faces = sam_render(str(dev), ckpt, np.stack([latents[i] for i in imagined]), int(size), batch)
    made = dict(zip(imagined, faces))
    for i, latent in latents.items():
        changes: dict[str, Any] = {"wplus": np.asarray(latent, np.float32)}
        if i in made:
            changes["image"] = np.ascontiguousarray(made[i])
        kfs[i] = kfs[i].copy(**changes)
    return kfs, ckpt


class AgeExtendedMethod(TransitionMethod):
    """The user's method between real photos, SAM W+ paths wherever an imagined keyframe is.

    Args:
        inner (TransitionMethod | None): renders transitions between two real
            photos (None when the video has at most one real photo).
        device (str | None): torch device; None picks ``cuda`` when present, else ``cpu``.
        batch_size (int | None): frames per generator batch.
    """

    name = "sam-extended"
    label = "SAM age transformation"

    def __init__(
        self,
        inner: TransitionMethod | None,
        *,
        device: str | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.inner = inner
        self.device = torch.device(device) if device else default_device()
        self.batch_size = int(batch_size) if batch_size else default_batch_size(self.device)
        self.checkpoint_id = ""
        self.keyframes: list[Keyframe] = []
        self._real_pos: dict[int, int] = {}
        self._chains: list[tuple[int, int]] = []
        self._size = 0

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return sam_availability()

    def prepare(self, keyframes: list[Keyframe], *, size: int) -> None:
        """Imagine the generated keyframes and prepare the inner method.

        `keyframes` (the list and its keyframes) stay as they were: the keyframes with
        the imagined faces and the SAM latents are new ones, in `self.keyframes`, where
        the render plan takes them from so its contact sheet and report show what the
        video shows.
        """
        if len(keyframes) < 2:
            raise UsageError("A video needs at least two keyframes (photos or imagined ages).")
        filled, self.checkpoint_id = imagine_keyframes(
            keyframes, size=size, device=self.device, batch_size=self.batch_size
        )
        self.keyframes = filled
        self._size = int(size)
        real = [i for i, kf in enumerate(filled) if not is_imagined(kf)]
        self._real_pos = {i: n for n, i in enumerate(real)}
        real_pairs = [j for j in range(len(filled) - 1) if self._is_real_pair(j)]
        if real_pairs:
            if self.inner is None:
                raise UsageError("Two real photos follow each other but no method renders them.")
            self.inner.prepare([filled[i] for i in real], size=size)
        # Chains: maximal runs of keyframes joined by transitions that touch an imagined one.
        self._chains = []
        start = None
        for j in range(len(filled) - 1):
            if self._is_real_pair(j):
                if start is not None:
                    self._chains.append((start, j))
                    start = None
            elif start is None:
                start = j
        if start is not None:
            self._chains.append((start, len(filled) - 1))

    def _is_real_pair(self, j: int) -> bool:
        kfs = self.keyframes
        return not is_imagined(kfs[j]) and not is_imagined(kfs[j + 1])

    def _chain_of(self, j: int) -> tuple[int, int]:
        for a, b in self._chains:
            if a <= j < b:
                return a, b
        raise IndexError(f"transition {j} is not on an imagined stretch")

    def transition(self, j: int, lambdas: np.ndarray) -> Iterator[np.ndarray]:
        """Frames of transition j: the inner method's between two photos, else the SAM path."""
        if not self.keyframes:
            raise RuntimeError("AgeExtendedMethod.prepare() must be called before rendering")
        if not 0 <= j < len(self.keyframes) - 1:
            raise IndexError(f"transition {j} does not exist with {len(self.keyframes)} keyframes")
        if self._is_real_pair(j):
            assert self.inner is not None
            yield from self.inner.transition(self._real_pos[j], lambdas)
            return
        a, b = self._chain_of(j)
        chain = self.keyframes[a : b + 1]
        missing = [kf.label for kf in chain if kf.wplus is None]
        if missing:
            raise RuntimeError(f"no SAM latent for {', '.join(missing)}")
        latents = np.stack([kf.wplus for kf in chain if kf.wplus is not None])
        knots = np.array([float(kf.age if kf.time is None else kf.time) for kf in chain])
        lam = np.asarray(lambdas, np.float32).reshape(-1)
        if lam.size == 0:
            return
        wplus = hermite_path(latents, knots, j - a, lam)
        yield from sam_render(
            str(self.device), self.checkpoint_id, wplus, self._size, self.batch_size
        )
