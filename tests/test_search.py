"""Photo search by name against recorded Wikidata / Commons answers served from 127.0.0.1.

The API answers are the JSON in tests/fixtures/wikimedia (real API shapes,
with `continue` paging); the images are real photos derived from the
astronaut and Tom Hanks pictures, with EXIF dates where Commons reports EXIF.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.cli import main
from pipeline.search import (
    AmbiguousNameError,
    SearchError,
    TooFewPhotosError,
    UnknownNameError,
    fetch_photos,
    find_photos,
    load_credits,
    resolve_person,
)
from pipeline.search.commons import rank_photos
from tests.support.replay import Route, WikimediaReplay
from tests.support.wikimedia import photo_bodies, serve

UPLOAD = "https://upload.wikimedia.org/wikipedia/commons/"
OBAMA_P18 = "File:President Barack Obama.jpg"


@pytest.fixture(scope="module")
def bodies(astronaut: np.ndarray, hanks: np.ndarray) -> dict[str, bytes]:
    return photo_bodies(astronaut, hanks)


@pytest.fixture(scope="module")
def replay(bodies: dict[str, bytes]) -> Iterator[WikimediaReplay]:
    """A shared server for tests that do not inject faults."""
    server = serve(bodies)
    yield server
    server.stop()


@pytest.fixture
def fresh(bodies: dict[str, bytes]) -> Iterator[WikimediaReplay]:
    """A server of its own, for tests that change routes or count requests."""
    server = serve(bodies)
    yield server
    server.stop()


def _url(server: WikimediaReplay, title: str) -> str:
    info = server.commons_data["imageinfo"][title]["imageinfo"][0]
    return info.get("thumburl") or info["url"]


# -- names ------------------------------------------------------------------------------


def test_resolve_person_gives_birth_date_category_and_image(replay: WikimediaReplay) -> None:
    with replay.client() as client:
        person = resolve_person("  barack   OBAMA ", client=client)
    assert person.qid == "Q76"
    assert person.label == "Barack Obama"
    assert person.birth_date == dt.date(1961, 8, 4)  # the deprecated 1961-08-14 claim is ignored
    assert person.birth_precision == "day"
    assert person.death_date is None
    assert person.commons_category == "Barack Obama"
    assert person.image == "President Barack Obama.jpg"


def test_resolve_person_by_qid(replay: WikimediaReplay) -> None:
    with replay.client() as client:
        person = resolve_person("John Smith", qid="q8743", client=client)
        assert (person.qid, person.label) == ("Q8743", "Thomas Edison")
        assert (person.birth_date, person.death_date) == (
            dt.date(1847, 2, 11),
            dt.date(1931, 10, 18),
        )
        with pytest.raises(UnknownNameError):
            resolve_person("", qid="Q99999999", client=client)
        with pytest.raises(SearchError, match="not a person"):
            resolve_person("", qid="Q181513", client=client)


def test_exact_label_beats_other_people(replay: WikimediaReplay) -> None:
    with replay.client() as client:
        # "Thomas Edison Jr." is a person too, but only Q8743 is labelled exactly so
        assert resolve_person("Thomas Edison", client=client).qid == "Q8743"


def test_ambiguous_name_lists_the_people(replay: WikimediaReplay) -> None:
    with replay.client() as client, pytest.raises(AmbiguousNameError) as err:
        resolve_person("John Smith", client=client)
    exc = err.value
    assert [m.qid for m in exc.candidates] == [
        "Q228024",
        "Q310973",
        "Q1701374",
    ]  # the film is left out
    assert exc.candidates[1].description.startswith("British politician")
    assert exc.exit_code == 2
    assert "--qid" not in str(exc) and "Q310973 John Smith (British politician" in str(exc)


def test_unknown_names(replay: WikimediaReplay) -> None:
    with replay.client() as client:
        with pytest.raises(UnknownNameError) as err:
            resolve_person("Xqzzy Nobody", client=client)
        assert err.value.exit_code == 2 and "Xqzzy Nobody" in str(err.value)
        with pytest.raises(UnknownNameError) as err:
            resolve_person("Phonograph", client=client)  # things, not people
        assert "Q181513 phonograph" in str(err.value)


def test_typed_text_is_never_used_as_a_url(fresh: WikimediaReplay) -> None:
    typed = "https://evil.example/x.jpg?a=1&action=query"
    with fresh.client() as client, pytest.raises(UnknownNameError):
        resolve_person(typed, client=client)
    log = fresh.requested()
    assert len(log) == 1
    assert log[0].path == "/wikidata/w/api.php"
    assert log[0].params["action"] == "wbsearchentities" and log[0].params["search"] == typed


# -- candidates -----------------------------------------------------------------------


def test_category_and_search_results_merged_and_deduplicated(fresh: WikimediaReplay) -> None:
    with fresh.client() as client:
        person = resolve_person("Barack Obama", client=client)
        ranked, rejected = rank_photos(person, client)
    titles = [p.title for p in ranked]
    assert len(titles) == len(set(titles))
    assert OBAMA_P18 in titles  # in the root category, a sub-category and the search
    assert (
        "File:Obama in the Oval Office, 2010.jpg" in titles
    )  # root page 2 (cmcontinue) + year category
    assert "File:Barack Obama 2020 (cropped).jpg" in titles  # found by the search only
    assert "File:Barack Obama in 2023.jpg" in titles  # search page 2 (sroffset)
    assert "File:Barry Obama in Jakarta, circa 1967.jpg" in titles  # via "by year" -> "in 1967"
    reasons = dict(rejected)
    assert reasons["File:Barack Obama portrait 2013 crop (copy).jpg"] == (
        "same file as File:Barack Obama portrait 2013 crop.jpg"
    )
    assert reasons["File:Deleted Obama photo.jpg"] == "file not found on Commons"
    assert reasons["File:Barack Obama signature.svg"].startswith("not a photo format")
    assert reasons["File:Obama 2008 campaign logo.png"] == "not a portrait (logo)"
    assert reasons["File:Obama birthplace plaque.jpg"] == "not a portrait (birthplace)"
    assert reasons["File:Obama thumbnail small.jpg"] == "too small (150x190 px)"
    # photographs first, paintings and posters only after them
    kinds = [p.kind for p in ranked]
    assert kinds[-2:] == ["artwork", "artwork"] and "artwork" not in kinds[:-2]
    # the walk follows "by year" and photo categories, never signatures, paintings or "named after"
    listed = [
        r.params.get("cmtitle")
        for r in fresh.requested("/commons/")
        if r.params.get("list") == "categorymembers"
    ]
    assert listed.count("Category:Barack Obama") == 2  # two pages
    assert "Category:Barack Obama in 1967" in listed
    assert not {
        "Category:Signatures of Barack Obama",
        "Category:Paintings of Barack Obama",
        "Category:Things named after Barack Obama",
    } & set(listed)
    # file information in batches of at most 50 titles, sent as POST
    info_calls = [r for r in fresh.requested("/commons/") if r.params.get("prop") == "imageinfo"]
    assert info_calls and all(r.method == "POST" for r in info_calls)
    assert all(
        r.params["iiurlwidth"] == "1024" and "extmetadata" in r.params["iiprop"] for r in info_calls
    )


def test_picks_spread_across_the_life(replay: WikimediaReplay) -> None:
    with replay.client() as client:
        person = resolve_person("Barack Obama", client=client)
        picks = find_photos(person, limit=6, client=client)
    years = [p.date.year for p in picks]
    assert len(picks) == 6 and len(set(years)) == 6
    assert years == sorted(years)  # returned in date order
    assert min(years) <= 1970 and max(years) >= 2020  # childhood to recent
    assert OBAMA_P18 in [p.title for p in picks]  # the Wikidata main image is always taken
    assert all(p.kind != "artwork" for p in picks)
    assert max(np.diff(years)) <= 25


def test_dates_sources_and_precision(replay: WikimediaReplay) -> None:
    with replay.client() as client:
        obama = {
            p.title: p
            for p in find_photos(
                resolve_person("Barack Obama", client=client), limit=50, client=client
            )
        }
        edison = {
            p.title: p
            for p in find_photos(
                resolve_person("Thomas Edison", client=client), limit=50, client=client
            )
        }

    def when(p):  # noqa: ANN001, ANN202
        return (p.date, p.date_source, p.date_precision)

    assert when(obama["File:Obama DNC 2004.jpg"]) == (dt.date(2004, 7, 27), "exif", "day")
    assert when(obama["File:Barack Obama Harvard Law Review.jpg"]) == (
        dt.date(1990, 2, 5),
        "commons",
        "day",
    )
    assert when(obama["File:Senator Barack Obama portrait 2005.jpg"]) == (
        dt.date(2005, 1, 4),
        "commons",
        "day",
    )
    assert when(obama["File:Obama with his mother Ann Dunham, 1970.jpg"]) == (
        dt.date(1970, 7, 1),
        "commons",
        "year",
    )
    assert when(obama["File:Barry Obama in Jakarta, circa 1967.jpg"]) == (
        dt.date(1967, 7, 1),
        "commons",
        "approx",
    )
    assert when(obama["File:Barack Obama at Punahou 1979.jpg"]) == (
        dt.date(1979, 7, 1),
        "title",
        "year",
    )
    assert when(obama["File:Obama at Occidental College.jpg"]) == (
        dt.date(1980, 7, 1),
        "category",
        "year",
    )
    # a scan whose EXIF date (2008) is after the death falls back to the year in its name
    assert when(edison["File:Thomas Edison 1915 scan.jpg"]) == (
        dt.date(1915, 7, 1),
        "title",
        "year",
    )
    assert when(edison["File:Edison and phonograph edit1.tif"]) == (
        dt.date(1878, 7, 1),
        "commons",
        "approx",
    )
    assert when(edison["File:Young Thomas Edison.jpg"]) == (dt.date(1861, 7, 1), "category", "year")
    # credits come as plain text
    p18 = obama[OBAMA_P18]
    assert (p18.author, p18.licence, p18.licence_url) == ("Pete Souza", "Public domain", None)
    assert p18.page_url == "https://commons.wikimedia.org/wiki/File:President_Barack_Obama.jpg"
    dnc = obama["File:Obama DNC 2004.jpg"]
    assert (dnc.licence, dnc.licence_url) == (
        "CC BY-SA 4.0",
        "https://creativecommons.org/licenses/by-sa/4.0",
    )
    assert p18.image_url.endswith("/1024px-President_Barack_Obama.jpg")  # the ~1024 px thumbnail
    assert obama["File:Obama with his mother Ann Dunham, 1970.jpg"].image_url.endswith(
        "/Obama_with_his_mother_Ann_Dunham%2C_1970.jpg"
    )


# -- downloads ------------------------------------------------------------------------


def test_fetch_photos_ages_files_and_credits(replay: WikimediaReplay, tmp_path: Path) -> None:
    steps: list[tuple[str, float]] = []
    with replay.client() as client:
        result = fetch_photos(
            "Barack Obama",
            tmp_path / "out",
            limit=12,
            client=client,
            progress=lambda m, f: steps.append((m, f)),
        )
    out = tmp_path / "out"
    assert result.person.qid == "Q76" and len(result.photos) == 12 and result.skipped == []
    names = [p.file for p in result.photos]
    assert all(re.fullmatch(r"\d{2}_[A-Za-z0-9_]{1,48}\.jpg", n) for n in names), names
    assert names == sorted(names) and {p.name for p in out.glob("*.jpg")} == set(names)
    assert not list(out.glob(".part-*"))
    dates = [p.photo.date for p in result.photos]
    assert dates == sorted(dates)  # capture order
    by_title = {p.photo.title: p for p in result.photos}
    p18 = by_title[OBAMA_P18]
    exact = (dt.date(2012, 12, 6) - dt.date(1961, 8, 4)).days / 365.2425
    assert p18.age == pytest.approx(exact, abs=1e-9)
    assert all(p.age is not None and 0 < p.age < 63 for p in result.photos)
    # the file on disk is the body as served: EXIF date kept for the analysis
    with Image.open(p18.path) as img:
        assert img.getexif().get_ifd(0x8769).get(0x9003) == "2012:12:06 15:10:00"
    # credits.json and credits.txt
    data = json.loads(result.credits_path.read_text("utf-8"))
    assert data["person"]["qid"] == "Q76" and data["person"]["birth_date"] == "1961-08-04"
    entry = next(e for e in data["photos"] if e["title"] == OBAMA_P18)
    assert entry == {
        "file": p18.file,
        "title": OBAMA_P18,
        "author": "Pete Souza",
        "licence": "Public domain",
        "licence_url": None,
        "page_url": "https://commons.wikimedia.org/wiki/File:President_Barack_Obama.jpg",
        "image_url": _url(replay, OBAMA_P18).replace(
            "https://upload.wikimedia.org/", f"{replay.base}/upload.wikimedia.org/"
        ),
        "date": "2012-12-06",
        "date_source": "exif",
        "date_precision": "day",
        "age": round(exact, 2),
        "kind": "photo",
        "description": "Official portrait of President Barack Obama in the Oval Office, 6 December 2012",
    }
    assert set(load_credits(out)) == set(names)
    text = result.credits_text_path.read_text("utf-8")
    assert all(n in text for n in names) and "Pete Souza" in text and "CC BY-SA 4.0" in text
    assert p18.credits["author"] == "Pete Souza" and p18.credits["page_url"].startswith(
        "https://commons."
    )
    # progress: from the calling thread, monotonic, ends at 1
    fractions = [f for _, f in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and "Barack Obama" in steps[1][0]


def test_failed_downloads_are_skipped_with_reasons(fresh: WikimediaReplay, tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    big = io.BytesIO()
    Image.fromarray(noise).save(big, "JPEG", quality=95)
    assert len(big.getvalue()) > 400_000
    title = {
        "big": "File:President Obama 2014.jpg",
        "big_streamed": "File:Barack Obama portrait 2013 crop.jpg",
        "html": "File:Obama farewell speech 2017.jpg",
        "garbage": "File:Barack Obama 2020 (cropped).jpg",
        "missing": "File:Barack Obama in 2023.jpg",
        "slow": "File:Obama Iowa caucus 2007.jpg",
        "loopback": "File:Barack Obama in Berlin, July 2008.jpg",
        "elsewhere": "File:Obama DNC 2004.jpg",
        "moved": "File:Barack Obama Harvard Law Review.jpg",
    }
    fresh.set_file(_url(fresh, title["big"]), big.getvalue())
    fresh.set_file(_url(fresh, title["big_streamed"]), big.getvalue(), send_length=False)
    fresh.set_file(
        _url(fresh, title["html"]), b"<html><body>Error</body></html>", "text/html; charset=utf-8"
    )
    fresh.set_file(
        _url(fresh, title["garbage"]),
        b"\xff\xd8\xff\xe0 this is not really a JPEG",
        send_length=False,
    )
    fresh.routes.pop(fresh._key(_url(fresh, title["missing"])))
    fresh.set_route(
        _url(fresh, title["slow"]), Route(body=b"late", content_type="image/jpeg", delay=3.0)
    )
    port = fresh.host.split(":")[1]
    fresh.set_route(
        _url(fresh, title["loopback"]),
        Route(status=302, headers={"Location": f"http://127.0.0.2:{port}/x.jpg"}),
    )
    fresh.set_route(
        _url(fresh, title["elsewhere"]),
        Route(status=301, headers={"Location": "https://evil.example.org/x.jpg"}),
    )
    moved = "/upload.wikimedia.org/moved/harvard.jpg"
    original = fresh.routes[fresh._key(_url(fresh, title["moved"]))]
    fresh.set_route(moved, original)
    fresh.set_route(_url(fresh, title["moved"]), Route(status=302, headers={"Location": moved}))

    start = time.monotonic()
    with fresh.client(timeout=1.0, max_bytes=300_000) as client:
        result = fetch_photos("Barack Obama", tmp_path, limit=20, client=client)
    assert time.monotonic() - start < 8
    reasons = dict(result.skipped)
    assert re.fullmatch(r"too large \(\d\.\d MB > 0\.3 MB\)", reasons[title["big"]]), reasons[
        title["big"]
    ]
    assert (
        reasons[title["big_streamed"]] == "too large (over 0.3 MB)"
    )  # no Content-Length: cut while reading
    assert reasons[title["html"]] == "not an image (Content-Type text/html)"
    assert reasons[title["garbage"]].startswith("cannot be decoded as an image")
    assert reasons[title["missing"]] == "HTTP 404"
    assert reasons[title["slow"]] == "timed out after 1 s"
    assert (
        reasons[title["loopback"]]
        == f"redirect to '127.0.0.2:{port}' refused (not an allowed host)"
    )
    assert (
        reasons[title["elsewhere"]]
        == "redirect to 'evil.example.org' refused (not an allowed host)"
    )
    assert len(reasons) == 8
    got = {p.photo.title for p in result.photos}
    assert title["moved"] in got  # a redirect within the allowed hosts is followed
    assert len(got) == 18 - 8  # every other candidate (16 photos, 2 artworks) downloaded
    assert not any(
        r.path == "/x.jpg" for r in fresh.requested()
    )  # the refused hosts were never contacted
    data = json.loads(result.credits_path.read_text("utf-8"))
    assert {s["title"] for s in data["skipped"]} == set(reasons)


def test_429_retried_and_503_retry_after_honoured(fresh: WikimediaReplay, tmp_path: Path) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    fresh.fail_next(
        "/wikidata/w/api.php", Route(status=429), Route(status=503, headers={"Retry-After": "1"})
    )
    image = _url(fresh, "File:Thomas Edison2.jpg")
    fresh.fail_next(image, Route(status=429, headers={"Retry-After": "0"}))
    with fresh.client(sleep=sleep, backoff=0.05) as client:
        result = fetch_photos("Thomas Edison", tmp_path, client=client)
    assert len(result.photos) == 4 and result.skipped == []
    assert len(waits) == 3
    assert 0.05 <= waits[0] <= 0.07  # back-off when no Retry-After is given
    assert waits[1] == 1.0  # Retry-After honoured
    assert waits[2] == 0.0
    searches = [
        r for r in fresh.requested("/wikidata/") if r.params.get("action") == "wbsearchentities"
    ]
    assert len(searches) == 3


def test_retries_are_bounded(fresh: WikimediaReplay) -> None:
    fresh.fail_next("/wikidata/w/api.php", *[Route(status=503, headers={"Retry-After": "0"})] * 4)
    with fresh.client(retries=3) as client, pytest.raises(SearchError, match="HTTP 503") as err:
        resolve_person("Barack Obama", client=client)
    assert err.value.exit_code == 1


def test_too_few_photos(replay: WikimediaReplay, tmp_path: Path) -> None:
    with replay.client() as client, pytest.raises(TooFewPhotosError) as err:
        fetch_photos("Ada Lovelace", tmp_path, client=client)
    exc = err.value
    assert exc.exit_code == 3
    assert len(exc.photos) == 1 and exc.photos[0].photo.date_precision == "approx"
    assert "Ada Lovelace (Q7259)" in str(exc) and "at least 2" in str(exc)
    assert (
        json.loads((tmp_path / "credits.json").read_text("utf-8"))["photos"][0]["file"]
        == exc.photos[0].file
    )


# -- command line ---------------------------------------------------------------------


def test_cli_fetch_photos(
    replay: WikimediaReplay,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in replay.env().items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "edison"
    assert main(["fetch-photos", "Thomas Edison", str(out), "--limit", "3"]) == 0
    cap = capsys.readouterr()
    assert "Thomas Edison (Q8743)" in cap.out and "born 1847-02-11" in cap.out
    assert "3 photos in" in cap.out and "age  75.4" in cap.out
    assert "[100%]" in cap.err  # progress goes to stderr
    assert (
        len(list(out.glob("*.jpg"))) == 3
        and (out / "credits.json").is_file()
        and (out / "credits.txt").is_file()
    )

    assert main(["fetch-photos", "John Smith", str(tmp_path / "js")]) == 2
    cap = capsys.readouterr()
    assert "--qid Q310973  John Smith (British politician" in cap.err
    assert (
        main(["fetch-photos", "John Smith", str(tmp_path / "js"), "--qid", "Q8743", "--limit", "2"])
        == 0
    )
    assert main(["fetch-photos", "Xqzzy Nobody", str(tmp_path / "x")]) == 2
    assert main(["fetch-photos", "Ada Lovelace", str(tmp_path / "ada")]) == 3
    cap = capsys.readouterr()
    assert "a time-lapse needs at least 2" in cap.err and "Add photos of your own" in cap.err
