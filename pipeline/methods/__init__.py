"""Pluggable methods that render the in-between frames of a time-lapse.

Each method registers itself under a short name (``crossfade``, ``morph``,
``stylegan``); the renderer, CLI and app look methods up here.
"""

from __future__ import annotations

from pipeline.methods.base import (
    Keyframe,
    TransitionMethod,
    available_methods,
    get_method,
    method_names,
    register_method,
)

__all__ = [
    "Keyframe",
    "TransitionMethod",
    "available_methods",
    "get_method",
    "method_names",
    "register_method",
]
