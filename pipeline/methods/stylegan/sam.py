"""SAM age transformation ("Only a Matter of Style", Alaluf et al. 2021) in plain PyTorch.

SAM is a pSp encoder that reads a fourth input channel, a constant plane of the
target age / 100, and predicts W+ codes that are added to those of a frozen
pretrained pSp encoder (which sees only the RGB channels) and ``latent_avg``;
the FFHQ StyleGAN2 generator then renders the face at that age (0 to 100).

The module names match the public ``sam_ffhq_aging.pt`` checkpoint
(``encoder.*`` with a [64, 4, 3, 3] input layer, ``pretrained_encoder.*``,
``decoder.*``, ``latent_avg``, ``opts``), so its parts load with ``strict=True``.
How the codes are combined follows the checkpoint's ``opts``, as the reference
``pSp.forward`` does:

- ``start_from_latent_avg``: ``codes = encoder(x4) + latent_avg``;
- else ``start_from_encoded_w_plus``: ``codes = encoder(x4) + pretrained_encoder(rgb) + latent_avg``;
- else ``codes = encoder(x4)``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from pipeline.errors import MethodUnavailableError
from pipeline.methods.stylegan.encoders import (
    GradualStyleEncoder,
    input_nc_from_state_dict,
    n_styles_from_state_dict,
)

# SAM was trained on ages 0 to 100; the age plane is age / AGE_SCALE.
AGE_SCALE = 100.0
AGE_RANGE = (0.0, 100.0)
SAM_INPUT_NC = 4


def age_plane_input(rgb: torch.Tensor, ages: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Append the age channel: [N, 3, H, W] in [-1, 1] and N ages -> [N, 4, H, W].

    The fourth channel is the constant ``age / 100`` over the whole image, as in
    the reference ``AgeTransformer``.
    """
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise ValueError(f"expected RGB images [N, 3, H, W], got {list(rgb.shape)}")
    ages_t = torch.as_tensor(ages, dtype=rgb.dtype, device=rgb.device).reshape(-1)
    if ages_t.shape[0] != rgb.shape[0]:
        raise ValueError(f"{rgb.shape[0]} images but {ages_t.shape[0]} target ages")
    plane = (ages_t / AGE_SCALE)[:, None, None, None].expand(-1, 1, *rgb.shape[-2:])
    return torch.cat([rgb, plane], dim=1)


class SAMEncoder(nn.Module):
    """The age encoder, the pretrained pSp encoder and ``latent_avg``, combined as SAM does.

    Args:
        n_styles (int): W+ rows (18 for the 1024 px generator). Default: 18.
        start_from_latent_avg (bool): codes are offsets from ``latent_avg`` only.
        start_from_encoded_w_plus (bool): codes are offsets from the pretrained
            pSp encoding of the same photo (the public checkpoint's setting).
        with_pretrained (bool): build ``pretrained_encoder`` (the checkpoint has one).

    Raises:
        ValueError: ``start_from_encoded_w_plus`` is needed but no pretrained encoder is built.
    """

    def __init__(
        self,
        n_styles: int = 18,
        *,
        start_from_latent_avg: bool = False,  # reference default (a store_true flag)
        start_from_encoded_w_plus: bool = True,  # the public checkpoint's setting
        with_pretrained: bool = True,
    ) -> None:
        super().__init__()
        self.n_styles = n_styles
        self.start_from_latent_avg = bool(start_from_latent_avg)
        self.start_from_encoded_w_plus = bool(start_from_encoded_w_plus)
        if self.uses_pretrained and not with_pretrained:
            raise ValueError("start_from_encoded_w_plus needs the pretrained pSp encoder")
        self.encoder = GradualStyleEncoder(n_styles, input_nc=SAM_INPUT_NC)
        self.pretrained_encoder = GradualStyleEncoder(n_styles) if with_pretrained else None
        self.register_buffer("latent_avg", torch.zeros(n_styles, 512), persistent=False)

    @property
    def uses_pretrained(self) -> bool:
        """The pretrained pSp codes enter the sum (reference: not latent-avg, encoded W+)."""
        return not self.start_from_latent_avg and self.start_from_encoded_w_plus

    @property
    def adds_latent_avg(self) -> bool:
        return self.start_from_latent_avg or self.start_from_encoded_w_plus

    def base_codes(self, rgb: torch.Tensor) -> torch.Tensor:
        """What the age codes are added to, per photo: [N, n_styles, 512] (zeros if nothing)."""
        n = rgb.shape[0]
        base = torch.zeros(n, self.n_styles, 512, device=rgb.device, dtype=torch.float32)
        if self.uses_pretrained:
            assert self.pretrained_encoder is not None
            base = base + self.pretrained_encoder(rgb).float()
        if self.adds_latent_avg:
            base = base + self.latent_avg.float()[None]
        return base

    def forward(self, x4: torch.Tensor) -> torch.Tensor:
        """Inputs [N, 4, 256, 256] (RGB in [-1, 1] + age plane) -> W+ codes [N, n_styles, 512]."""
        if x4.ndim != 4 or x4.shape[1] != SAM_INPUT_NC:
            raise ValueError(f"expected [N, 4, H, W] SAM inputs, got {list(x4.shape)}")
        return self.encoder(x4).float() + self.base_codes(x4[:, :3])

    def encode_pairs(
        self,
        rgb: torch.Tensor,
        photo_index: torch.Tensor | Sequence[int],
        ages: Sequence[float],
        *,
        batch_size: int = 8,
    ) -> torch.Tensor:
        """W+ of photo ``photo_index[i]`` at ``ages[i]``: [N, 3, 256, 256] -> [len(ages), n_styles, 512].

        The pretrained encoder sees only RGB, so it runs once per photo however
        many ages it has; the age encoder runs on the pairs in batches of `batch_size`.
        """
        index = torch.as_tensor(photo_index, dtype=torch.long, device=rgb.device).reshape(-1)
        ages_t = torch.as_tensor(list(ages), dtype=rgb.dtype, device=rgb.device).reshape(-1)
        if index.shape[0] != ages_t.shape[0]:
            raise ValueError(f"{index.shape[0]} photo indices but {ages_t.shape[0]} ages")
        base = self.base_codes(rgb)  # [N, S, 512]
        step = max(1, int(batch_size))
        out = []
        for start in range(0, index.shape[0], step):
            idx = index[start : start + step]
            x4 = age_plane_input(rgb[idx], ages_t[start : start + step])
            out.append(self.encoder(x4).float() + base[idx])
        if not out:
            return torch.empty(0, self.n_styles, 512, device=rgb.device)
        return torch.cat(out)

    def encode_ages(
        self, rgb: torch.Tensor, ages: Sequence[float], *, batch_size: int = 8
    ) -> torch.Tensor:
        """Every photo at every target age: [N, 3, 256, 256] -> W+ [N, len(ages), n_styles, 512]."""
        n, a = rgb.shape[0], len(ages)
        index = torch.arange(n).repeat_interleave(a)
        codes = self.encode_pairs(rgb, index, [float(x) for x in ages] * n, batch_size=batch_size)
        return codes.reshape(n, a, self.n_styles, 512)


@dataclass
class SAMParts:
    """A SAM checkpoint split into its parts (prefixes stripped).

    Attributes:
        encoder (dict[str, torch.Tensor]): the 4-channel age encoder (``encoder.*``).
        pretrained_encoder (dict[str, torch.Tensor]): the pSp encoder (``pretrained_encoder.*``; may be empty).
        decoder (dict[str, torch.Tensor]): the StyleGAN2 generator (``decoder.*``).
        latent_avg (torch.Tensor): [n_styles, 512] or [512].
        opts (dict): training options (``start_from_latent_avg``, ``start_from_encoded_w_plus`` ...).
    """

    encoder: dict[str, torch.Tensor]
    pretrained_encoder: dict[str, torch.Tensor]
    decoder: dict[str, torch.Tensor]
    latent_avg: torch.Tensor
    opts: dict


def split_sam_checkpoint(ckpt: dict, *, origin: str = "checkpoint") -> SAMParts:
    """Split a ``sam_ffhq_aging.pt``-style checkpoint (as loaded with ``weights_only=True``).

    Raises:
        MethodUnavailableError: a part is missing or the encoder is not a 4-channel one.
    """
    if not isinstance(ckpt, dict):
        raise MethodUnavailableError(f"{origin} is not a SAM checkpoint (not a dict).")
    state = ckpt.get("state_dict", ckpt)
    parts: dict[str, dict[str, torch.Tensor]] = {
        "encoder": {},
        "pretrained_encoder": {},
        "decoder": {},
    }
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head in parts and rest:
            parts[head][rest] = value
    latent_avg = ckpt.get("latent_avg", state.get("latent_avg"))
    missing = [f"{name}.*" for name in ("encoder", "decoder") if not parts[name]]
    if latent_avg is None:
        missing.append("latent_avg")
    if missing:
        raise MethodUnavailableError(
            f"{origin} is not a SAM checkpoint: missing {', '.join(missing)}."
        )
    try:
        input_nc = input_nc_from_state_dict(parts["encoder"])
    except ValueError as exc:
        raise MethodUnavailableError(f"{origin} (encoder): {exc}") from exc
    if input_nc != SAM_INPUT_NC:
        raise MethodUnavailableError(
            f"{origin} is an encoder with {input_nc} input channels, not SAM's 4 (RGB + age); "
            "is it an e4e/pSp checkpoint?"
        )
    opts = ckpt.get("opts") or {}
    if isinstance(opts, argparse.Namespace):
        opts = vars(opts)
    return SAMParts(
        encoder=parts["encoder"],
        pretrained_encoder=parts["pretrained_encoder"],
        decoder=parts["decoder"],
        latent_avg=latent_avg,
        opts=dict(opts) if isinstance(opts, dict) else {},
    )


def build_sam_encoder(parts: SAMParts, *, what: str = "SAM checkpoint") -> SAMEncoder:
    """A :class:`SAMEncoder` built on the meta device and loaded with ``strict=True``.

    Raises:
        MethodUnavailableError: keys or shapes do not match, or the options ask
            for a pretrained encoder the checkpoint lacks.
    """
    try:
        n_styles = n_styles_from_state_dict(parts.encoder)
    except ValueError as exc:
        raise MethodUnavailableError(f"{what} (encoder): {exc}") from exc
    with_pretrained = bool(parts.pretrained_encoder)
    from_avg = bool(parts.opts.get("start_from_latent_avg", False))
    # Options missing altogether (a re-saved file): a stored pretrained encoder means it is used.
    from_wplus = bool(parts.opts.get("start_from_encoded_w_plus", with_pretrained))
    try:
        with torch.device("meta"):
            net = SAMEncoder(
                n_styles,
                start_from_latent_avg=from_avg,
                start_from_encoded_w_plus=from_wplus,
                with_pretrained=with_pretrained,
            )
    except ValueError as exc:
        raise MethodUnavailableError(f"{what}: {exc} (no pretrained_encoder.* keys)") from exc
    latent_avg = parts.latent_avg.detach().float().reshape(-1, 512)
    if latent_avg.shape[0] == 1:
        latent_avg = latent_avg.expand(n_styles, -1)
    if latent_avg.shape[0] != n_styles:
        raise MethodUnavailableError(
            f"{what}: latent_avg has shape {list(parts.latent_avg.shape)}, expected "
            f"[{n_styles}, 512] or [512]."
        )
    for name, module, state in (
        ("encoder", net.encoder, parts.encoder),
        ("pretrained_encoder", net.pretrained_encoder, parts.pretrained_encoder),
    ):
        if module is None:
            continue
        try:
            module.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as exc:
            raise MethodUnavailableError(
                f"{what} ({name}) does not match the expected layout: {exc}"
            ) from exc
    net.latent_avg = latent_avg.contiguous().clone()
    return net.float().eval().requires_grad_(False)
