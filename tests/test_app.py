"""The Gradio app through its public API (`gradio_client`), launched once for the module.

Real photos (the bundled Edison album, variants of the astronaut portrait),
real models and real renders at 256 px with few frames.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageEnhance

from tests.support.app import connect, launch_app
from tests.support.daily import dated_selfies

pytestmark = pytest.mark.slow  # launches the app and renders through its API

ENDPOINTS = {"/analyze", "/render", "/timelapse"}
EDISON_BIRTH = "1847-02-11"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    app, url = launch_app(tmp_path_factory)
    yield app, url
    app.demo.close()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def client(served: tuple[Any, str], downloads: Path) -> Client:
    return connect(served[1], downloads)


@pytest.fixture(scope="module")
def astro_album(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> list[str]:
    """Three different shots of one face (crop, mirror, exposure: none a duplicate of another)."""
    d = tmp_path_factory.mktemp("astro")
    img = Image.fromarray(astronaut)
    variants = {
        "astro_a.jpg": img,
        "astro_b.jpg": img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop((0, 0, 448, 480)),
        "astro_c.png": ImageEnhance.Brightness(img.crop((40, 10, 500, 470))).enhance(1.25),
    }
    for name, im in variants.items():
        im.save(d / name)
    return [str(d / n) for n in variants]


@pytest.fixture(scope="module")
def broken_jpeg(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "JPEG")
    path = tmp_path_factory.mktemp("bad") / "broken.jpg"
    path.write_bytes(buf.getvalue()[:3000])  # the image data ends early
    return str(path)


@pytest.fixture(scope="module")
def daily_selfies(
    tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray
) -> dict[str, Any]:
    """32 dated selfies (more than the 30 a morph video proposes), named against their dates."""
    folder = tmp_path_factory.mktemp("daily")
    return {str(folder / name): day for name, day in dated_selfies(folder, astronaut, 32).items()}


def files(paths: list[str]) -> list[Any]:
    return [handle_file(p) for p in paths]


def decoded_frames(path: str) -> int:
    """Frames in a video, counted by decoding it with ffmpeg."""
    frames, _ = imageio_ffmpeg.count_frames_and_secs(path)
    return int(frames)


def test_named_endpoints_and_parameters(client: Client) -> None:
    """The API page documents every parameter with its type, default (the page's) and description."""
    from pipeline.webapp.render import DEFAULTS

    info = client.view_api(return_format="dict", print_info=False)
    assert set(info["named_endpoints"]) == ENDPOINTS  # page events are private
    assert not info["unnamed_endpoints"]
    endpoints = info["named_endpoints"]
    params = {
        name: {p["parameter_name"]: p for p in ep["parameters"]} for name, ep in endpoints.items()
    }
    assert list(params["/analyze"]) == ["files", "birth_date", "name", "limit"]
    assert list(params["/render"]) == [
        "files", "edits", "birth_date", "method", "size", "frames_between", "seconds_per_year",
        "hold", "gamma", "fps", "caption", "gif", "encoder", "background", "extend_before", "extend_after",
        "timing", "per_photo", "blend", "smooth", "average",
    ]  # fmt: skip
    assert list(params["/timelapse"]) == [
        "files", "birth_date", "method", "size", "frames_between", "seconds_per_year",
        "hold", "gamma", "fps", "caption", "gif", "encoder", "name", "limit", "background",
        "extend_before", "extend_after", "timing", "per_photo", "blend", "smooth", "average",
    ]  # fmt: skip
    for name in ("/render", "/timelapse"):
        p = params[name]
        assert {
            k: p[k]["parameter_default"] for k in DEFAULTS
        } == DEFAULTS  # the page's defaults (hold 0.5 s)
        assert (
            p["size"]["type"]["type"] == "integer"
            and p["size"]["python_type"]["type"] == "int"
            and p["hold"]["parameter_default"] == 0.5
        )
        assert p["method"]["type"]["enum"] == ["morph", "crossfade", "stylegan"]
        assert p["timing"]["type"]["enum"] == ["transitions", "every_photo"]
        assert p["per_photo"]["python_type"]["type"] == "int"
    assert not params["/render"]["files"]["parameter_has_default"]
    for name, ps in params.items():
        for pname, p in ps.items():
            text = p["python_type"]["description"]
            assert len(text) > 8 and "component" not in text, (name, pname, text)
    assert [r["label"] for r in endpoints["/render"]["returns"]] == [
        "video",
        "gif",
        "contact_sheet",
        "report",
    ]
    assert [r["label"] for r in endpoints["/timelapse"]["returns"]] == [
        "video",
        "gif",
        "contact_sheet",
        "report",
    ]
    assert [r["label"] for r in endpoints["/analyze"]["returns"]] == ["analysis", "faces"]
    assert all(r["python_type"]["description"] for ep in endpoints.values() for r in ep["returns"])
    assert "Render a time-lapse" in endpoints["/render"]["description"]


def test_analyze_edison(client: Client, edison: list[str]) -> None:
    data, faces = client.predict(files(edison), EDISON_BIRTH, api_name="/analyze")
    photos = data["photos"]
    assert [p["file"] for p in photos] and sorted(p["file"] for p in photos) == sorted(
        Path(e).name for e in edison
    )
    assert data["birth_date"] == EDISON_BIRTH and data["usable"] == 3 and data["warnings"] == []
    from pipeline.webapp.api import ANALYSIS_KEYS

    assert set(ANALYSIS_KEYS) <= set(data)
    for p in photos:
        assert p["status"] == "ok" and p["include"] and p["chosen_face"] == 0
        assert p["age"] is not None and 20 < p["age"] < 90
    by_file = {p["file"]: p for p in photos}
    # "c1910s" in the name gives the year, and with the birth date an age from that year.
    middle = by_file["2_edison_middle_c1910s.png"]
    assert middle["date"] == "1910-07-01" and middle["age_source"] == "year"
    assert middle["age"] == pytest.approx(63.4, abs=0.1)
    assert [p["order"] for p in photos] == [0, 1, 2]
    ages = [p["age"] for p in photos]
    assert ages == sorted(ages)
    assert len(faces) == 3
    # Where each place comes from, and no inferred birth date when one is given.
    assert [p["order_source"] for p in photos] == ["date"] * 3 and data["birth_estimate"] is None
    assert all(p["age_estimate"] is not None and p["warnings"] == [] for p in photos)
    # Without a birth date: still in date order, and the inferred birth date is in the answer.
    guessed, _ = client.predict(files(edison), "", api_name="/analyze")
    assert [p["file"] for p in guessed["photos"]] == [p["file"] for p in photos]
    assert guessed["birth_date"] is None and guessed["birth_estimate"]["n_photos"] == 3
    assert 1835 < int(guessed["birth_estimate"]["date"][:4]) < 1860
    assert {p["age_source"] for p in guessed["photos"]} == {"inferred"}
    for item, p in zip(faces, photos):
        im = Image.open(item["image"])
        assert im.size == (512, 512)
        assert p["file"] in item["caption"]


def test_render_with_edits_uses_the_cached_scan(
    served: tuple[Any, str], client: Client, edison: list[str]
) -> None:
    from pipeline.webapp.review import CACHE

    client.predict(files(edison), EDISON_BIRTH, api_name="/analyze")  # scanned (or cached)
    scans = CACHE.scans
    edits = [
        {"file": "3_edison_c1922.png", "age": 75},
        {"file": "1_edison_young_c1878.png", "age": 31},
    ]
    video, gif, sheet, report = client.predict(
        files(edison),
        edits,
        EDISON_BIRTH,
        size=256,
        frames_between=6,
        hold=0,
        fps=24,
        caption="year",
        api_name="/render",
    )
    assert CACHE.scans == scans  # edits and another size never rescan
    assert gif is None and Path(sheet).suffix == ".png"
    labels = [k["label"] for k in report["keyframes"]]
    assert labels == [
        "1_edison_young_c1878.png",
        "2_edison_middle_c1910s.png",
        "3_edison_c1922.png",
    ]
    assert [k["age"] for k in report["keyframes"]][::2] == [31, 75]
    assert report["frame_count"] == (3 - 1) * 6 + 1 == decoded_frames(video)
    assert (
        report["size"] == 256
        and report["video"]["codec"] == "h264"
        and report["video"]["pix_fmt"] == "yuv420p"
    )
    # The /analyze rows can be sent back unchanged: no value becomes an "edit".
    data, _ = client.predict(files(edison), EDISON_BIRTH, api_name="/analyze")
    _, _, _, report2 = client.predict(
        files(edison),
        data["photos"],
        EDISON_BIRTH,
        size=256,
        frames_between=2,
        hold=0,
        caption="none",
        api_name="/render",
    )
    assert [k["age"] for k in report2["keyframes"]] == pytest.approx(
        [p["age"] for p in data["photos"]], abs=0.006
    )


def test_timelapse_with_a_bad_file_still_renders(
    client: Client, astro_album: list[str], broken_jpeg: str
) -> None:
    video, gif, sheet, report = client.predict(
        files([*astro_album, broken_jpeg]), size=256, frames_between=4, hold=0.25, fps=24, gif=True,
        api_name="/timelapse",
    )  # fmt: skip
    assert len(report["keyframes"]) == 3
    assert [w["file"] for w in report["warnings"]] == ["broken.jpg"]
    assert "cut short" in report["warnings"][0]["reason"]
    hold_frames = report["timing"]["hold_frames"]
    assert hold_frames == 6
    assert report["frame_count"] == 2 * 4 + 1 + 3 * hold_frames == decoded_frames(video)
    assert gif and Image.open(gif).format == "GIF"


def test_zero_usable_photos_is_a_clear_error(client: Client, tmp_path: Path) -> None:
    from skimage import data

    Image.fromarray(data.coffee()).save(tmp_path / "coffee.png")
    (tmp_path / "notes.jpg").write_text("not a photo")
    album = files([str(tmp_path / "coffee.png"), str(tmp_path / "notes.jpg")])
    for endpoint in ("/timelapse", "/analyze"):
        with pytest.raises(AppError) as err:
            client.predict(album, api_name=endpoint)
        message = str(err.value)
        assert "No face was found in any of the 2 photo(s)" in message
        assert "Traceback" not in message and 'File "' not in message


def test_bad_settings_and_unavailable_method_fail_fast(client: Client, edison: list[str]) -> None:
    with pytest.raises(AppError, match="Frame rate 5 is out of range"):
        client.predict(files(edison), fps=5, api_name="/timelapse")
    with pytest.raises(AppError, match="Seconds per year must be above 0"):
        client.predict(files(edison), seconds_per_year=-1, api_name="/timelapse")
    with pytest.raises(AppError, match="not valid JSON"):
        client.predict(files(edison), "{nope", api_name="/render")
    with pytest.raises(AppError, match=r"edits: .*age must be a number"):
        client.predict(
            files(edison), [{"file": "3_edison_c1922.png", "age": "old"}], api_name="/render"
        )
    from pipeline.methods.base import available_methods

    ok, reason = available_methods()["stylegan"]
    assert not ok  # no weights and no network here
    with pytest.raises(AppError) as err:
        client.predict(files(edison), method="stylegan", api_name="/timelapse")
    assert str(err.value) == "StyleGAN is not available on this server; choose Morph or Cross-fade."
    # Ages beyond the photos need the SAM age model: without it, one visitor-worded line, at once.
    for endpoint in ("/render", "/timelapse"):
        with pytest.raises(AppError) as err:
            client.predict(files(edison), extend_after=80, api_name=endpoint)
        message = str(err.value)
        assert "age model" in message and "TIMELAPSE_" not in message and "Traceback" not in message


def test_two_renders_at_once_and_a_cheap_call_meanwhile(
    served: tuple[Any, str], edison: list[str], astro_album: list[str], downloads: Path
) -> None:
    a, b, c = (connect(served[1], downloads) for _ in range(3))
    c.predict(files(edison), EDISON_BIRTH, api_name="/analyze")  # make sure the scan is cached
    long_job = a.submit(
        files(edison), EDISON_BIRTH, size=512, frames_between=200, hold=0, api_name="/timelapse"
    )
    short_job = b.submit(
        files(astro_album), size=256, frames_between=5, hold=0, api_name="/timelapse"
    )
    deadline = time.monotonic() + 30
    while (
        long_job.status().code.name not in ("PROCESSING", "PROGRESS")
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    t0 = time.perf_counter()
    data, _ = c.predict(files(edison), EDISON_BIRTH, api_name="/analyze")
    elapsed = time.perf_counter() - t0
    still_rendering = not long_job.done()
    long_video, _, _, long_report = long_job.result(timeout=120)
    short_video, _, _, short_report = short_job.result(timeout=120)
    assert data["usable"] == 3
    assert still_rendering and elapsed < 5, f"a cheap call took {elapsed:.1f} s during a render"
    assert {k["label"] for k in long_report["keyframes"]} == {Path(p).name for p in edison}
    assert {k["label"] for k in short_report["keyframes"]} == {Path(p).name for p in astro_album}
    assert long_video != short_video
    assert decoded_frames(long_video) == long_report["frame_count"] == 2 * 200 + 1
    assert decoded_frames(short_video) == short_report["frame_count"] == 2 * 5 + 1


def test_outputs_stay_in_the_temp_area(client: Client, edison: list[str]) -> None:
    """Server-side outputs live in per-request folders under GRADIO_TEMP_DIR; old ones are swept."""
    from pipeline.webapp import files as temp_files

    before = set((Path(os.environ["GRADIO_TEMP_DIR"]) / "timelapse").glob("req-render-*"))
    _, _, _, report = client.predict(
        files(edison), size=256, frames_between=2, api_name="/timelapse"
    )
    temp = Path(os.environ["GRADIO_TEMP_DIR"]).resolve()
    new = set((temp / "timelapse").glob("req-render-*")) - before
    assert len(new) == 1
    folder = new.pop()
    assert sorted(p.name for p in folder.iterdir()) == [
        "contact_sheet.png",
        "report.json",
        "timelapse.mp4",
    ]
    assert (
        report["video"]["file"] == "timelapse.mp4" and "path" not in report["video"]
    )  # no server paths leak
    repo = Path(__file__).resolve().parent.parent
    assert not list(repo.glob("*.mp4")) and not (repo / ".gradio").exists()
    assert temp_files.sweep(max_age_s=3600) == 0 and folder.exists()
    assert temp_files.sweep(max_age_s=3600, now=time.time() + 7200) >= 1 and not folder.exists()


def test_readme_api_example_runs(served: tuple[Any, str], downloads: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """The gradio_client example in the README, run as written against this server."""
    repo = Path(__file__).resolve().parent.parent
    text = (repo / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- api-example -->")[1].split("<!-- /api-example -->")[0]
    code = block.split("```python")[1].split("```")[0]
    default = 'Client("http://127.0.0.1:7860/")'
    assert default in code
    code = code.replace(
        default, f"Client({served[1]!r}, verbose=False, download_files={str(downloads)!r})"
    )
    monkeypatch.chdir(repo)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    assert "1_edison_young_c1878.png 31.38 year True" in out and "70 frames," in out


def _readme_api() -> tuple[dict[str, str], str]:
    """The README's API table (endpoint -> parameters cell) and its report-keys block."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = text.split("## API", 1)[1]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`/"):
            rows[cells[0].strip("`")] = cells[1]
    block = section.split("<!-- report-keys -->")[1].split("<!-- /report-keys -->")[0]
    return rows, block


def test_readme_documents_every_parameter_and_report_key(
    client: Client, astro_album: list[str], broken_jpeg: str
) -> None:
    """Every parameter the API page lists is in the README with the same default, and every report
    key the README names is in a real report (and the other way round for photos and warnings)."""
    from pipeline.credits import CREDIT_KEYS
    from pipeline.webapp.render import PHOTO_KEYS, REPORT_KEYS, WARNING_KEYS

    rows, block = _readme_api()
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for endpoint in ("/analyze", "/render"):
        documented = re.findall(r"`(\w+)` \(", rows[endpoint])
        actual = [p["parameter_name"] for p in info[endpoint]["parameters"]]
        assert documented == actual, endpoint
        for p in info[endpoint]["parameters"]:
            found = re.search(rf"`{p['parameter_name']}` \(`([^`]*)`", rows[endpoint])
            if found and p["parameter_has_default"]:
                raw = found.group(1)
                shown = {'""': "", "None": None, "False": False, "True": True}.get(
                    raw, raw.strip('"')
                )
                assert str(shown) == str(p["parameter_default"]), (
                    endpoint,
                    p["parameter_name"],
                    found.group(1),
                )
    timelapse = [p["parameter_name"] for p in info["/timelapse"]["parameters"]]
    assert set(timelapse) == {"files", "birth_date", "name", "limit"} | {
        p["parameter_name"] for p in info["/render"]["parameters"]
    } - {"edits"}
    keys = set(re.findall(r"`(\w+)`", block))
    assert (
        set(REPORT_KEYS) <= keys
        and set(PHOTO_KEYS) <= keys
        and set(WARNING_KEYS) <= keys
        and set(CREDIT_KEYS) <= keys
    )
    _, _, _, report = client.predict(
        files([*astro_album, broken_jpeg]), size=256, frames_between=2, api_name="/timelapse"
    )
    assert set(REPORT_KEYS) <= set(report)
    assert report["photos"] and all(set(p) == set(PHOTO_KEYS) for p in report["photos"])
    assert report["warnings"] and all(set(w) == set(WARNING_KEYS) for w in report["warnings"])
    assert (
        report["credits"] == []
    )  # uploads carry no credits; photos found by name do (test_app_name)


def test_photo_a_day_shows_every_kept_photo_in_date_order(
    client: Client, daily_selfies: dict[str, Any]
) -> None:
    """timing="every_photo": all 32 kept photos (no proposed selection of 30), by date, each for
    per_photo frames with blend frames between; a morph video of the same album keeps 30."""
    album = sorted(daily_selfies)  # by name: the reverse of the date order
    by_date = [Path(f).name for f in sorted(daily_selfies, key=daily_selfies.get)]
    video, _, sheet, report = client.predict(
        files(album), method="crossfade", size=256, caption="date", timing="every_photo",
        per_photo=2, blend=1, api_name="/timelapse",
    )  # fmt: skip
    assert report["frame_count"] == 32 * 2 + 31 * 1 == decoded_frames(video)
    assert report["timing"]["per_photo"] == 2 and report["timing"]["blend"] == 1
    assert [k["label"] for k in report["keyframes"]] == by_date
    assert [k["frame"] for k in report["keyframes"]] == [3 * i for i in range(32)]
    assert [p["file"] for p in report["photos"]] == by_date
    assert [p["order"] for p in report["photos"]] == list(range(32))
    assert report["photos"][0]["caption"] == "1 Mar 2021" and report["warnings"] == []
    assert Image.open(sheet).size[0] > 0

    # The same album as a morph between photos: the proposed selection of 30.
    _, _, _, morph = client.predict(
        files(album), method="crossfade", size=256, frames_between=1, hold=0, api_name="/timelapse"
    )
    assert len(morph["keyframes"]) == 30 and len(morph["warnings"]) == 2
    assert morph["frame_count"] == 30


def test_photo_a_day_settings_are_checked(client: Client, edison: list[str]) -> None:
    with pytest.raises(AppError, match="Video kind 'daily' unknown; choose transitions"):
        client.predict(files(edison), timing="daily", api_name="/timelapse")
    with pytest.raises(AppError, match="Frames per photo must be a whole number from 1 to 120"):
        client.predict(files(edison), timing="every_photo", per_photo=0, api_name="/timelapse")
    with pytest.raises(AppError, match="Blend frames between photos"):
        client.predict(files(edison), [], timing="every_photo", blend=-1, api_name="/render")
    with pytest.raises(AppError) as err:
        client.predict(files(edison), timing="every_photo", extend_after=80, api_name="/render")
    assert "photo-a-day" in str(err.value) and "Traceback" not in str(err.value)
