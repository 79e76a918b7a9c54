"""The interface every in-between method implements, and the method registry.

`Keyframe` is defined low, in `pipeline.types`, so that rendering helpers
(captions, contact sheet) need not import the methods; it is re-exported here.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from pipeline.errors import UsageError
from pipeline.types import Keyframe

__all__ = [
    "Keyframe",
    "TransitionMethod",
    "available_methods",
    "check_keyframes",
    "get_method",
    "method_names",
    "register_method",
]


class TransitionMethod(ABC):
    """Renders the frames between consecutive keyframes.

    The renderer calls `prepare` once with all keyframes (in video order),
    then `transition(j, lambdas)` for each pair (j, j+1); `lambdas` are the
    interpolation positions in [0, 1) of that transition's frames, and
    finally `transition(n - 2, [1.0])` once for the video's last frame. The
    renderer applies holds and the cosine keyframe blend itself, for every
    method. The keyframes it hands to `prepare` carry ``keyframe.time``
    (seconds into the video), so a method can make motion smooth in video
    time. Keyframes are values (frozen): a method reads them and keeps what it
    derives from them itself.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # Default blend strength (share of the real photo at a keyframe) when the
    # user does not set one: only generative methods need it.
    default_gamma: ClassVar[float] = 0.0
    # How a steady backdrop (background setting other than ``original``) is
    # applied: ``method``: the method composites each frame itself from the
    # keyframes' mattes and `backdrop`; ``inputs``: the renderer composites
    # the keyframes before `prepare` and the method's frames are final;
    # ``frames`` (default, right for any method): keyframes composited before
    # `prepare`, and every frame the method yields composited again with a
    # matte computed on it (generated frames have backgrounds of their own).
    backdrop_mode: ClassVar[str] = "frames"
    # [S, S, 3] uint8 steady backdrop, set by the renderer before `prepare`
    # for ``method`` mode; None keeps the photos' own backgrounds.
    backdrop: np.ndarray | None = None

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """Whether the method can run here, and if not, a one-line reason."""
        return True, ""

    @abstractmethod
    def prepare(self, keyframes: list[Keyframe], *, size: int) -> None:
        """Precompute whatever the transitions need (landmark paths, latents)."""

    @abstractmethod
    def transition(self, j: int, lambdas: np.ndarray) -> Iterator[np.ndarray]:
        """Yield one [size, size, 3] uint8 frame per entry of `lambdas`."""


def check_keyframes(keyframes: list[Keyframe], size: int, method: str) -> None:
    """Raise ValueError unless there are two or more [size, size, 3] uint8 keyframes."""
    if len(keyframes) < 2:
        raise ValueError(f"{method} needs at least two keyframes")
    for kf in keyframes:
        if kf.image.shape != (size, size, 3) or kf.image.dtype != np.uint8:
            raise ValueError(
                f"{kf.label}: keyframe image must be [{size}, {size}, 3] uint8, got {kf.image.shape} {kf.image.dtype}"
            )


_REGISTRY: dict[str, type[TransitionMethod]] = {}
# Modules that register the built-in methods; imported lazily so that a
# missing optional dependency of one method never breaks the others.
_BUILTIN_MODULES = {
    "morph": "pipeline.methods.morph",
    "crossfade": "pipeline.methods.crossfade",
    "stylegan": "pipeline.methods.stylegan.method",
}


def register_method(cls: type[TransitionMethod]) -> type[TransitionMethod]:
    """Class decorator: make a method available under `cls.name`."""
    _REGISTRY[cls.name] = cls
    return cls


def method_names() -> list[str]:
    """All known method names, the default (``morph``) first."""
    return list(_BUILTIN_MODULES)


def get_method(name: str) -> type[TransitionMethod]:
    """Look up a method class by name.

    Raises:
        UsageError: the name is not a known method.
    """
    if name not in _REGISTRY and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    if name not in _REGISTRY:
        raise UsageError(f"Unknown method {name!r}; choose one of: {', '.join(method_names())}.")
    return _REGISTRY[name]


def available_methods() -> dict[str, tuple[bool, str]]:
    """Name -> (available, reason when not) for every known method."""
    out: dict[str, tuple[bool, str]] = {}
    for name in method_names():
        try:
            out[name] = get_method(name).availability()
        except Exception as exc:  # a broken optional method must not hide the others
            out[name] = (False, f"{name} could not be loaded: {exc}")
    return out
