"""The contact sheet of a big album: at most `MAX_TILES` photos, spread along the video's time,
numbered by their place in the video, under a line saying how many of how many are shown."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from bench.albums import selfie_album
from pipeline.analysis import analyze
from pipeline.render import RenderSettings, plan_render, render
from pipeline.render.sheet import MAX_TILES, contact_sheet, spread_picks
from pipeline.types import Keyframe

THUMB = 192  # the sheet's default thumbnail
BACKGROUND = (250, 250, 250)


def _tile_origin(tile: int, shown: int, capped: bool) -> tuple[int, int]:
    """Top-left pixel of tile `tile` (the layout `contact_sheet` draws with 6 columns)."""
    gap = max(4, THUMB // 24)
    label_h = round(THUMB * 0.1) + round(THUMB * 0.075) + 3 * gap // 2
    head = round(THUMB * 0.1) + gap if capped else 0
    cols = min(6, shown)
    return gap + (tile % cols) * (THUMB + gap), head + gap + (tile // cols) * (
        THUMB + label_h + gap
    )


def _coloured(n: int, times: list[float]) -> list[Keyframe]:
    """`n` keyframes of one flat colour each (the colour names the photo), at these video times."""
    out = []
    for i in range(n):
        image = np.empty((32, 32, 3), np.uint8)
        image[:] = (i % 250, (i // 250) * 60, 128)
        out.append(
            Keyframe(image=image, landmarks=np.zeros((68, 2), np.float32), age=float(i),
                     label=f"p{i:04d}.jpg", time=times[i])
        )  # fmt: skip
    return out


def _shown_photos(sheet: Image.Image, shown: int, capped: bool) -> list[int]:
    pixels = np.asarray(sheet)
    out = []
    for tile in range(shown):
        x, y = _tile_origin(tile, shown, capped)
        r, g, _ = (int(v) for v in pixels[y + THUMB // 2, x + THUMB // 2])
        out.append(r + 250 * round(g / 60))
    return out


def test_picks_are_spread_evenly_and_keep_both_ends() -> None:
    picks = spread_picks([float(t) for t in range(1000)], 48)
    assert len(picks) == 48 and picks == sorted(set(picks))
    assert picks[0] == 0 and picks[-1] == 999
    steps = np.diff(picks)
    assert steps.max() - steps.min() <= 1
    assert spread_picks([0.0, 1.0, 2.0], 48) == [0, 1, 2]
    # Time decides, not the place: 900 photos in the first second, 100 over the next 99.
    times = [i / 900 for i in range(900)] + [1.0 + i for i in range(100)]
    late = [i for i in spread_picks(times, 48) if i >= 900]
    assert len(late) >= 40
    # Photos that share one time are spread by their place.
    assert spread_picks([5.0] * 10, 4) == [0, 3, 6, 9]


def test_a_thousand_photo_sheet_is_capped_with_a_line_saying_so() -> None:
    n = 1000
    keyframes = _coloured(n, [float(i) for i in range(n)])
    sheet = contact_sheet(keyframes, [f"{i} y" for i in range(n)])
    rows = MAX_TILES // 6
    x, y = _tile_origin(MAX_TILES - 1, MAX_TILES, True)
    assert sheet.size == (x + THUMB + max(4, THUMB // 24), sheet.height)
    assert sheet.height < y + THUMB * 1.4 and rows == 8
    assert _shown_photos(sheet, MAX_TILES, True) == spread_picks(list(range(n)), MAX_TILES)
    head = np.asarray(sheet)[: _tile_origin(0, MAX_TILES, True)[1]]
    assert (head != BACKGROUND).any(axis=-1).sum() > 200, "no line above the tiles"

    few = contact_sheet(keyframes[:12], [f"{i} y" for i in range(12)])
    assert _shown_photos(few, 12, False) == list(range(12))
    assert few.width == sheet.width and few.height < sheet.height / 2


@pytest.mark.slow
def test_photo_a_day_sheet_of_a_big_album(tmp_path: Path) -> None:
    """60 dated selfies: the sheet shows 48 of them, the ones spread along the video."""
    selfie_album(tmp_path / "album", 60)
    analysis = analyze(tmp_path / "album")
    assert len(analysis.usable) == 60
    settings = RenderSettings(method="crossfade", size=256, per_photo=2, blend=1, caption="date")
    out = render(analysis, settings=settings, video=None, contact_sheet=tmp_path / "sheet.png")
    sheet = Image.open(out.contact_sheet).convert("RGB")
    plan = plan_render(analysis, settings)
    picks = spread_picks([kf.time for kf in plan.keyframes], MAX_TILES)
    assert len(picks) == MAX_TILES and picks[0] == 0 and picks[-1] == 59
    pixels = np.asarray(sheet)
    shown = plan.shown_keyframes()  # as the video shows them: eye-locked, on the backdrop
    for tile in (0, 1, 20, MAX_TILES - 1):
        x, y = _tile_origin(tile, MAX_TILES, True)
        want = cv2.resize(shown[picks[tile]], (THUMB, THUMB), interpolation=cv2.INTER_AREA)
        assert np.array_equal(pixels[y : y + THUMB, x : x + THUMB], want), tile
    assert sheet.height < 8 * (THUMB * 1.3) + THUMB


def test_the_gpu_estimate_counts_only_the_tiles_shown() -> None:
    """A ZeroGPU slot is asked for the sheet's 48 tiles, not one per photo of a 1,000-photo video."""
    from pipeline.methods.stylegan.zerogpu import SHEET_PER_PHOTO_S, GpuWork, work_seconds

    work = GpuWork(faces=1000, generated_frames=2000, video_frames=5000, generator_calls=1000,
                   size=512, batch_size=8)  # fmt: skip
    capped = GpuWork(**{**work.__dict__, "sheet_tiles": MAX_TILES})
    saved = work_seconds(work) - work_seconds(capped)
    assert saved == pytest.approx(SHEET_PER_PHOTO_S * (1000 - MAX_TILES))


def test_the_sheet_shows_the_photos_as_the_video_does(tmp_path: Path, edison_dir: Path) -> None:
    """On the default steady backdrop each tile is the keyframe on that backdrop, as in the
    video, not the aligned photo with its old background (whose soft edge carries the person's
    colours, which only look right composited)."""
    analysis = analyze(edison_dir)
    settings = RenderSettings(size=256, frames_between=2)
    assert settings.background == "soft"
    out = render(analysis, settings=settings, video=None, contact_sheet=tmp_path / "sheet.png")
    pixels = np.asarray(Image.open(out.contact_sheet).convert("RGB"))
    plan = plan_render(analysis, settings)
    shown = plan.shown_keyframes()
    assert plan.backdrop is not None
    for tile, (kf, picture) in enumerate(zip(plan.keyframes, shown)):
        x, y = _tile_origin(tile, len(shown), False)
        got = pixels[y : y + THUMB, x : x + THUMB].astype(int)
        want = cv2.resize(picture, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
        assert np.array_equal(got, want), tile
        corner = cv2.resize(plan.backdrop, (THUMB, THUMB), interpolation=cv2.INTER_AREA)[:8, :8]
        assert np.abs(got[:8, :8] - corner).mean() < 2, tile  # the backdrop, not the photo's wall
        photo = cv2.resize(kf.image, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
        assert np.abs(got - photo).mean() > 3, tile
