"""Benchmark of the photo search by name against a local server (prints figures).

Serves the recorded Wikidata / Commons answers of tests/fixtures/wikimedia
from 127.0.0.1 with real JPEG bodies (about 320 x 400, derived from the
astronaut photo), then times `fetch_photos("Barack Obama", limit=12)`: name
resolution, candidate search, downloads and the total. It runs once with a
server answering instantly and once with a simulated distance (a delay on
every API answer and every image) to show what the parallel requests save.

    .venv/bin/python -m bench.bench_search [--repeat 3] [--api-delay 0.15] [--image-delay 0.3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pipeline.search import fetch_photos
from tests.support.replay import Route, WikimediaReplay

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "wikimedia"
NAME = "Barack Obama"


def _bodies(server: WikimediaReplay) -> dict[str, bytes]:
    from skimage import data

    base = Image.fromarray(data.astronaut())
    out = {}
    for i, (title, _, info) in enumerate(server.image_urls()):
        size = (320, round(320 * info["thumbheight"] / info["thumbwidth"]))
        img = ImageOps.fit(ImageOps.mirror(base) if i % 2 else base, size, Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        out[title] = buf.getvalue()
    return out


def _run(server: WikimediaReplay, repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"resolve": [], "search": [], "download": [], "total": []}
    for _ in range(repeat):
        marks: list[tuple[float, float]] = []
        with tempfile.TemporaryDirectory() as tmp, server.client() as client:
            start = time.perf_counter()
            result = fetch_photos(
                NAME,
                tmp,
                limit=12,
                client=client,
                progress=lambda m, f, marks=marks: marks.append((f, time.perf_counter())),
            )
            total = time.perf_counter() - start
        assert len(result.photos) == 12, len(result.photos)
        found = next(t for f, t in marks if f >= 0.1)
        searched = next(t for f, t in marks if f >= 0.4)
        times["resolve"].append(found - start)
        times["search"].append(searched - found)
        times["download"].append(start + total - searched)
        times["total"].append(total)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--api-delay", type=float, default=0.15, help="seconds per API answer (distant run)"
    )
    parser.add_argument(
        "--image-delay", type=float, default=0.3, help="seconds per image (distant run)"
    )
    args = parser.parse_args()

    with WikimediaReplay(FIXTURES) as server:
        bodies = _bodies(server)
        server.fill_images(lambda title, info: bodies[title])
        print(
            f"fetch_photos({NAME!r}, limit=12): {len(server.commons_data['imageinfo'])} recorded files, "
            f"{np.mean([len(b) for b in bodies.values()]) / 1e3:.0f} kB per image"
        )
        for label, api_delay, image_delay in (
            ("instant server", 0.0, 0.0),
            (
                f"distant server ({args.api_delay:g} s per API answer, {args.image_delay:g} s per image)",
                args.api_delay,
                args.image_delay,
            ),
        ):
            server.api_delay = api_delay
            for title, url, _ in server.image_urls():
                server.set_route(
                    url, Route(body=bodies[title], content_type="image/jpeg", delay=image_delay)
                )
            before = len(server.requested())
            times = _run(server, args.repeat)
            requests = (len(server.requested()) - before) / args.repeat
            print(f"\n{label}: {requests:.0f} requests per run, median of {args.repeat} runs")
            for stage, values in times.items():
                print(
                    f"  {stage:<9} {statistics.median(values):6.2f} s   (min {min(values):.2f}, max {max(values):.2f})"
                )
        print("\ntarget: total < 10 s with a responsive API")


if __name__ == "__main__":
    main()
