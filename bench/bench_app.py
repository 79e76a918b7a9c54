"""Time to first useful feedback in the app: 15 phone-sized photos in, faces and ages out.

Launches the app as `python app.py` does (models warming up in the
background), then, through `gradio_client` like any script or the page:

* upload + ``/analyze`` of 15 distinct 4000x3000 JPEGs (the faces found, ages
  and order: what the page shows first), with a cold and a warm server;
* the same album again with a birth date (a cached scan: what an edit costs);
* with ``--browser``, the page itself in headless Chromium: from dropping the
  files on the upload box to the filled review table.

    .venv/bin/python -m bench.bench_app [--count 15] [--browser]

Target on a 2-core machine: first feedback for 15 photos within 10 s.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parents[1]


def make_album(folder: Path, count: int) -> list[str]:
    """`count` distinct 12-megapixel JPEGs of one face at varying places, sizes and exposures."""
    from skimage import data

    rng = np.random.default_rng(1)
    face = Image.fromarray(data.astronaut())
    scene = Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).resize(
        (4000, 3000), Image.Resampling.BICUBIC
    )
    paths = []
    for i in range(count):
        canvas = scene.copy()
        side = int(rng.integers(900, 1600))
        f = face.resize((side, side), Image.Resampling.BILINEAR)
        if i % 2:
            f = f.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        f = ImageEnhance.Brightness(f).enhance(float(rng.uniform(0.8, 1.2)))
        canvas.paste(f, (int(rng.integers(0, 4000 - side)), int(rng.integers(0, 3000 - side))))
        path = folder / f"IMG_{2000 + i}{(i % 12) + 1:02d}15_{i:04d}.jpg"
        canvas.save(path, quality=90)
        paths.append(str(path))
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed_analyze(client, photos: list[str], birth_date: str = "") -> tuple[float, dict]:
    from gradio_client import handle_file

    t = time.perf_counter()
    data, _ = client.predict([handle_file(p) for p in photos], birth_date, api_name="/analyze")
    return time.perf_counter() - t, data


def browser_feedback(url: str, photos: list[str]) -> float:
    """Seconds from dropping the files on the page to the filled review table."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])  # fmt: skip
        page = b.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.wait_for_selector("#files input[type=file]", state="attached")
        last = Path(photos[-1]).name
        t = time.perf_counter()
        page.locator("#files input[type=file]").set_input_files(photos)
        page.wait_for_function(
            "(name) => { const t = document.querySelector('#review-table'); return t && t.innerText.includes(name); }",
            arg=last, timeout=120_000,
        )  # fmt: skip
        elapsed = time.perf_counter() - t
        b.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=15)
    ap.add_argument(
        "--browser", action="store_true", help="also time the page in headless Chromium"
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        tmp_path = Path(tmp)
        os.environ["GRADIO_TEMP_DIR"] = str(tmp_path / "gradio")
        os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
        album = tmp_path / "album"
        album.mkdir()
        photos = make_album(album, args.count)
        size_mb = sum(Path(p).stat().st_size for p in photos) / 1e6

        from gradio_client import Client

        import app

        t = time.perf_counter()
        warm = app.service.warm_up()  # as `python app.py` does
        _, url, _ = app.launch(
            prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True
        )
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        print(
            f"app launched in {time.perf_counter() - t:.1f} s; album: {len(photos)} photos 4000x3000, {size_mb:.0f} MB"
        )

        cold, data = timed_analyze(client, photos)
        print(f"first feedback, models warming up meanwhile: {cold:.2f} s "
              f"({data['usable']} of {len(data['photos'])} usable)")  # fmt: skip
        warm.join()
        app.service.CACHE.clear()
        first, data = timed_analyze(client, photos)
        print(f"first feedback, models loaded:               {first:.2f} s  (target <= 10 s)")
        again, _ = timed_analyze(client, photos, "2000-01-01")
        print(f"same album with a birth date (cached scan):  {again:.2f} s")
        if args.browser:
            app.service.CACHE.clear()
            page = browser_feedback(url, photos)
            print(f"page: drop {len(photos)} files -> review table:  {page:.2f} s")
        app.demo.close()


if __name__ == "__main__":
    main()
