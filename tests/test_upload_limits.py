"""Uploads that could take the page down: a tiny PNG declaring 40000 x 40000 pixels, through the page.

The app runs in its own process (so its peak memory can be read from /proc), headless Chromium
uploads the header bomb with two good photos, and the good photos must be reviewed within seconds
while the app's memory stays under 1 GB.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from pipeline.webapp import uploads
from tests.support.app import free_port
from tests.test_browser import CHROMIUM, card, layout_problems, wait_for_summary

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REPO = Path(__file__).resolve().parent.parent
LIMIT_BYTES = 1 << 30


def header_bomb(path: Path, side: int = 40_000) -> Path:
    """A valid PNG that declares `side` x `side` RGB pixels but holds only the first rows (~200 KB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = zlib.compress(b"".join(b"\0" + bytes(side * 3) for _ in range(64)), 9)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )
    return path


def peak_rss(pid: int) -> int:
    """The process's peak resident memory in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def app_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("gradio")),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    code = (
        "import time, app\n"
        f"app.launch(prevent_thread_lock=True, server_name='127.0.0.1', server_port={port}, quiet=True)\n"
        "while True: time.sleep(1)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    import urllib.request

    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "the app did not start"
            time.sleep(0.5)
    yield url, proc.pid
    proc.terminate()
    proc.wait(timeout=30)


def test_header_bomb_with_good_photos_through_the_page(app_process: tuple[str, int], tmp_path: Path,
                                                        edison_dir: Path) -> None:  # fmt: skip
    url, pid = app_process
    bomb = header_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 400_000
    good = sorted(str(p) for p in edison_dir.glob("*.png"))[:2]
    with pytest.raises(Exception, match="too_large|megapixels"):
        uploads.peek(bomb)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])  # fmt: skip
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.wait_for_selector("#files input[type=file]", state="attached")
        assert (
            "megapixels" in page.locator("#limits").inner_text()
        )  # the limits, stated before the upload
        before = peak_rss(pid)
        t0 = time.perf_counter()
        page.locator("#files input[type=file]").set_input_files([str(bomb), *good])
        wait_for_summary(page, "2 of 3 photos", timeout=90_000)
        elapsed = time.perf_counter() - t0
        note = card(page, "bomb.png").inner_text()
        assert "Too large" in note and "megapixels" in note
        assert layout_problems(page) == []
        page.screenshot(path=str(tmp_path / "bomb.png.review.png"), full_page=True)
        browser.close()
    peak = peak_rss(pid)
    print(
        f"reviewed in {elapsed:.1f} s; app peak memory {before / 2**20:.0f} MB before, {peak / 2**20:.0f} MB after"
    )
    assert peak < LIMIT_BYTES, f"the app peaked at {peak / 2**20:.0f} MB"
    assert elapsed < 60, f"two good photos took {elapsed:.1f} s to review"
