"""StyleGAN in photo-a-day mode encodes a window of photos at a time while it renders: the faces
read for the encoder and the codes kept do not grow with the album, and the frames are those of
a render that encodes every photo up front.

The tiny e4e-format checkpoint of ``test_stylegan_method`` (networks filled by the fixture
recipe) is what the method loads; the faces are real aligned portraits.
"""

# ruff: noqa: F811  (the fixtures imported from test_stylegan_method are parameters here)
from __future__ import annotations

import dataclasses
import datetime as dt
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from test_stylegan_method import (  # noqa: F401 (fixtures)
    closed_port,
    isolated_env,
    tiny_checkpoint,
    tiny_env,
    tiny_networks,
)

from pipeline.methods.stylegan import method as stylegan_method
from pipeline.methods.stylegan.latents import LATENT_CACHE
from pipeline.methods.stylegan.models import clear_models
from pipeline.render import RenderSettings, plan_render
from pipeline.types import Keyframe

pytestmark = pytest.mark.slow  # StyleGAN encodes on the CPU

SIZE = 256
SETTINGS = RenderSettings(
    method="stylegan", size=SIZE, per_photo=1, blend=2, caption="date", background="original"
)


@pytest.fixture(scope="module")
def faces(portrait_faces) -> list[Keyframe]:
    edison = sorted(n for n in portrait_faces.photos if "edison" in n)[0]
    out = []
    for name in ("astronaut", "hanks", edison):
        image, landmarks = portrait_faces.aligned(name, SIZE)
        out.append(Keyframe(image=image, landmarks=landmarks, age=30.0))
    return out


def album(faces: list[Keyframe], count: int) -> list[Keyframe]:
    """`count` daily photos: the faces shifted a pixel or more each day (every crop differs)."""
    return [
        dataclasses.replace(
            faces[i % len(faces)],
            image=np.roll(faces[i % len(faces)].image, 1 + i // len(faces), axis=1).copy(),
            date=dt.date(2020, 1, 1) + dt.timedelta(days=i),
            label=f"day{i:03d}.jpg",
        )
        for i in range(count)
    ]


class EncoderCalls:
    """Records how many faces each call of the real `encode_images` gets (it still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        real = stylegan_method.encode_images

        def recording(models, images):
            self.sizes.append(len(images))
            return real(models, images)

        monkeypatch.setattr(stylegan_method, "encode_images", recording)


def render_frames(photos: list[Keyframe], *, trace: bool = True) -> tuple[list[np.ndarray], int]:
    """Every frame of a photo-a-day StyleGAN render, and the peak traced memory of the render
    (0 untraced: tracing every allocation makes the render several times slower)."""
    plan = plan_render(photos, SETTINGS)
    method = plan.new_method()
    if trace:
        tracemalloc.start()
    try:
        plan.prepare(method)
        frames = [frame.copy() for frame in plan.frames(method)]
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
    finally:
        if trace:
            tracemalloc.stop()
    assert len(frames) == len(photos) + (len(photos) - 1) * 2
    return frames, peak


def test_streamed_frames_equal_the_gathered_ones_and_memory_does_not_grow(
    tiny_env: Path, faces: list[Keyframe], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = EncoderCalls(monkeypatch)
    clear_models()
    small, large = album(faces, 2), album(faces, 4)

    # Windows of two photos: two windows for the large album.
    monkeypatch.setattr(stylegan_method, "ENCODE_WINDOW", 2)
    LATENT_CACHE.clear()
    _, small_peak = render_frames(small)
    LATENT_CACHE.clear()
    streamed, large_peak = render_frames(large)
    assert calls.sizes == [1] * (2 + 4)  # each face on its own, whatever the album
    # Two more photos: holding their faces for the encoder would take 2 x 196 kB.
    grown = large_peak - small_peak
    assert grown < SIZE * SIZE * 3, f"{grown / 1e3:.0f} kB more for 2 more photos"

    # Every photo in one window (as a transition video's keyframes): the same frames.
    monkeypatch.setattr(stylegan_method, "ENCODE_WINDOW", 16)
    LATENT_CACHE.clear()
    gathered, _ = render_frames(large, trace=False)
    assert len(calls.sizes) == 2 + 4 + 4
    for a, b in zip(streamed, gathered):
        np.testing.assert_array_equal(a, b)
