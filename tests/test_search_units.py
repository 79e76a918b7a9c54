"""Photo search by name: the pure parts (dates, spreading, URL policy, file names, image checks, IDs)."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from PIL import Image

from pipeline.search.client import WikimediaClient
from pipeline.search.dates import (
    age_at,
    parse_date_text,
    parse_wikidata_time,
    plausible,
    strip_html,
    year_from_text,
)
from pipeline.search.fetch import check_image, safe_stem
from pipeline.search.found import Candidate
from pipeline.search.ranking import (
    name_problem,
    order_photos,
    photo_from_page,
    spread_order,
    spread_pick,
)
from pipeline.search.wikidata import Person, parse_qid

D = dt.date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2004-07-27 21:05:11", (D(2004, 7, 27), "day")),
        ("2004:07:27 21:05:11", (D(2004, 7, 27), "day")),
        ('<time class="dtstart" datetime="1970">1970</time>', (D(1970, 7, 1), "year")),
        (
            '<time class="dtstart" datetime="1990-02-05">5 February 1990</time>',
            (D(1990, 2, 5), "day"),
        ),
        ("January 4, 2005", (D(2005, 1, 4), "day")),
        ("4 January 2005", (D(2005, 1, 4), "day")),
        ("May 1878", (D(1878, 5, 15), "month")),
        ("1878-05", (D(1878, 5, 15), "month")),
        ("circa 1967", (D(1967, 7, 1), "approx")),
        ("between 1843 and 1850", (D(1846, 7, 1), "approx")),
        ("1878-80", (D(1879, 7, 1), "approx")),
        ("1880s", (D(1885, 1, 1), "approx")),
        ("1922", (D(1922, 7, 1), "year")),
        ("1847-1931", None),  # a life span is not a capture date
        ("unknown date", None),
        ("", None),
    ],
)
def test_parse_date_text(text: str, expected: tuple[dt.date, str] | None) -> None:
    assert parse_date_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thomas Edison in 1878", 1878),
        ("Barack Obama at Punahou 1979", 1979),
        ("Edison aged 14", 1861),
        ("Thomas Edison 1847-1931", None),
        ("Barack Obama 2008 and 2012", None),
        ("Young Thomas Edison", None),
        ("Photo 12345 of Edison", None),
    ],
)
def test_year_from_text(text: str, expected: int | None) -> None:
    assert year_from_text(text, birth_year=1847) == expected


def test_parse_wikidata_time_precision_and_calendar() -> None:
    greg = "http://www.wikidata.org/entity/Q1985727"
    julian = "http://www.wikidata.org/entity/Q1985786"
    day = {"time": "+1961-08-04T00:00:00Z", "precision": 11, "calendarmodel": greg}
    month = {"time": "+1847-02-00T00:00:00Z", "precision": 10, "calendarmodel": greg}
    year = {"time": "+1815-00-00T00:00:00Z", "precision": 9, "calendarmodel": greg}
    century = {"time": "+1800-00-00T00:00:00Z", "precision": 7, "calendarmodel": greg}
    bce = {"time": "-0100-01-01T00:00:00Z", "precision": 11, "calendarmodel": julian}
    tolstoy = {"time": "+1828-08-28T00:00:00Z", "precision": 11, "calendarmodel": julian}
    assert parse_wikidata_time(day) == (D(1961, 8, 4), "day")
    assert parse_wikidata_time(month) == (D(1847, 2, 15), "month")
    assert parse_wikidata_time(year) == (D(1815, 7, 1), "year")
    assert parse_wikidata_time(century) == (None, None)
    assert parse_wikidata_time(bce) == (None, None)
    assert parse_wikidata_time(tolstoy) == (D(1828, 9, 9), "day")  # Julian 28 Aug = Gregorian 9 Sep


def test_age_and_plausibility() -> None:
    birth, death = D(1847, 2, 11), D(1931, 10, 18)
    assert age_at(birth, D(1878, 2, 11)) == pytest.approx(31.0, abs=0.01)
    assert plausible(D(1922, 7, 1), birth=birth, death=death)
    assert not plausible(D(2008, 3, 5), birth=birth, death=death)  # a scan's EXIF date
    assert not plausible(D(1820, 1, 1), birth=birth, death=death)
    assert not plausible(D(2013, 1, 1), birth=D(1961, 8, 4), death=None, not_after=D(2012, 1, 1))


def test_strip_html() -> None:
    artist = '<bdi><a href="//en.wikipedia.org/wiki/Pete_Souza" title="en:Pete Souza">Pete Souza</a></bdi>&nbsp;&amp; staff'
    assert strip_html(artist) == "Pete Souza & staff"
    assert strip_html(None) == ""


def test_spread_order_covers_the_span_first() -> None:
    years = [
        1967,
        1970,
        1979,
        1980,
        1990,
        2004,
        2005,
        2007,
        2008,
        2010,
        2012,
        2013,
        2014,
        2017,
        2020,
        2023,
    ]
    order = spread_order(years)
    assert order[:2] == [1967, 2023]
    assert sorted(order) == sorted(years)
    first5 = sorted(order[:5])
    gaps = np.diff(first5)
    assert gaps.max() <= 20  # five picks already cover 56 years without a big hole


def test_spread_pick_round_robin_and_undated_last() -> None:
    items = [
        ("a", 1990, 1.0),
        ("b", 1990, 2.0),
        ("c", 2000, 1.0),
        ("d", None, 5.0),
        ("e", 2010, 1.0),
    ]
    picked = spread_pick(items, 4, year=lambda x: x[1], score=lambda x: x[2])
    assert [p[0] for p in picked] == ["b", "e", "c", "d"]  # one per year (best first), then undated
    assert [p[0] for p in spread_pick(items, 10, year=lambda x: x[1], score=lambda x: x[2])][
        -1
    ] == "a"


def test_url_policy() -> None:
    with WikimediaClient(allowed_hosts=["127.0.0.1:8123", "10.0.0.5", "mirror.example.org"]) as c:
        ok = [
            "https://upload.wikimedia.org/wikipedia/commons/a/ab/X.jpg",
            "https://commons.wikimedia.org/w/api.php",
            "https://www.wikidata.org/w/api.php",
            "https://en.wikipedia.org/wiki/X",
            "http://127.0.0.1:8123/upload.wikimedia.org/x.jpg",
            "https://mirror.example.org/x.jpg",
        ]
        refused = [
            "http://upload.wikimedia.org/x.jpg",  # plain http to Wikimedia
            "https://upload.wikimedia.org.evil.example/x.jpg",
            "https://evilwikimedia.org/x.jpg",
            "https://upload.wikimedia.org:8443/x.jpg",
            "https://user:pw@upload.wikimedia.org/x.jpg",
            "http://127.0.0.1:9999/x.jpg",  # loopback, but not the configured port
            "http://127.0.0.2:8123/x.jpg",
            "http://10.0.0.5/x.jpg",  # configured, but http to a non-loopback host
            "http://mirror.example.org/x.jpg",
            "file:///etc/passwd",
            "ftp://upload.wikimedia.org/x.jpg",
            "Thomas Edison",
        ]
        assert all(c.url_allowed(u) for u in ok), [u for u in ok if not c.url_allowed(u)]
        assert not any(c.url_allowed(u) for u in refused), [u for u in refused if c.url_allowed(u)]


def test_endpoints_must_be_https_unless_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="https"):
        WikimediaClient(commons_api="http://commons.example.org/w/api.php")
    monkeypatch.setenv("TIMELAPSE_COMMONS_API", "http://127.0.0.1:8555/commons/w/api.php")
    monkeypatch.setenv("SPACE_ID", "someone/facial-timelapse")
    monkeypatch.delenv("TIMELAPSE_CONTACT", raising=False)
    with WikimediaClient() as c:
        assert c.commons_api.startswith("http://127.0.0.1:8555/")
        assert c.url_allowed("http://127.0.0.1:8555/upload.wikimedia.org/x.jpg")
        assert c.user_agent.startswith("FacialTimelapse/")
        assert "https://huggingface.co/spaces/someone/facial-timelapse" in c.user_agent


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("File:President Barack Obama.jpg", "President_Barack_Obama"),
        ("File:../../etc/passwd.jpg", "etc_passwd"),
        ("File:Émile Zola 1902.tif", "Emile_Zola_1902"),
        ("File:東京.jpg", "photo"),
        ("File:" + "x" * 300 + ".jpg", "x" * 48),
    ],
)
def test_safe_stem(title: str, expected: str) -> None:
    assert safe_stem(title) == expected


def test_check_image(astronaut: np.ndarray) -> None:
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "JPEG", quality=85)
    body = buf.getvalue()
    assert check_image(body) == ("JPEG", 512, 512)
    with pytest.raises(ValueError, match="decoded"):
        check_image(body[: len(body) // 2])
    with pytest.raises(ValueError, match="decoded"):
        check_image(b"<html>not an image</html>")
    small = io.BytesIO()
    Image.fromarray(astronaut).resize((150, 150)).save(small, "PNG")
    with pytest.raises(ValueError, match="too small"):
        check_image(small.getvalue())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Q8743", "Q8743"),
        (" q8743 ", "Q8743"),
        ("Q1", "Q1"),
        ("Q123456789012", "Q123456789012"),  # 12 digits: the longest accepted
        ("Q1234567890123", None),
        ("Q0", None),
        ("Q012", None),
        ("Q", None),
        ("8743", None),
        ("Q87 43", None),
        ("Q8743x", None),
        ("Thomas Edison", None),
        ("", None),
        (None, None),
    ],
)
def test_one_wikidata_id_rule(text, expected):
    assert parse_qid(text) == expected


EDISON = Person(
    qid="Q8743",
    label="Thomas Edison",
    birth_date=D(1847, 2, 11),
    death_date=D(1931, 10, 18),
    commons_category="Thomas Edison",
    image="Thomas Edison2.jpg",
)


def _page(
    title: str, *, mime="image/jpeg", size=(800, 1000), sha1="a", **meta: tuple[str, str]
) -> dict:
    """An imageinfo page as Commons answers it; `meta` maps field -> (value, source)."""
    return {
        "title": title,
        "imageinfo": [
            {
                "url": f"https://upload.wikimedia.org/x/{title[5:]}",
                "thumburl": f"https://upload.wikimedia.org/x/1024px-{title[5:]}",
                "width": size[0],
                "height": size[1],
                "mime": mime,
                "sha1": sha1,
                "extmetadata": {k: {"value": v, "source": s} for k, (v, s) in meta.items()},
            }
        ],
    }


def test_names_alone_leave_out_non_photos():
    assert name_problem("File:Thomas Edison signature.svg") == "not a photo format (svg)"
    assert name_problem("File:Edison signature.png") == "not a portrait (signature)"
    assert name_problem("File:Edison birthplace, Milan, Ohio.jpg") == "not a portrait (birthplace)"
    assert name_problem("File:Thomas Edison 1878.jpg") is None


def test_file_information_gives_date_source_and_reason():
    exif = _page(
        "File:Edison at work.jpg", DateTimeOriginal=("1904-05-06 10:00:00", "mediawiki-metadata")
    )
    photo, reason = photo_from_page(exif, Candidate(exif["title"], {"search"}), EDISON)
    assert reason == "" and photo is not None
    assert (photo.date, photo.date_source, photo.date_precision, photo.kind) == (
        D(1904, 5, 6),
        "exif",
        "day",
        "photo",
    )

    # A capture date before the birth is not believed; the year in the title is used instead.
    early = _page(
        "File:Thomas Edison 1880 portrait.jpg",
        sha1="b",
        DateTimeOriginal=("1820-01-01", "commons-desc-page"),
    )
    photo, _ = photo_from_page(early, Candidate(early["title"], {"category"}), EDISON)
    assert photo is not None and (photo.date, photo.date_source) == (D(1880, 7, 1), "title")

    small = _page("File:Edison tiny.jpg", size=(120, 150))
    assert photo_from_page(small, Candidate(small["title"]), EDISON) == (
        None,
        "too small (120x150 px)",
    )
    wide = _page("File:Edison panorama.jpg", size=(4000, 1000))
    assert (
        photo_from_page(wide, Candidate(wide["title"]), EDISON)[1]
        == "not a portrait shape (4000x1000 px)"
    )


def test_order_puts_the_main_image_first_and_keeps_one_copy_of_a_file():
    pages = {
        "File:Thomas Edison2.jpg": _page("File:Thomas Edison2.jpg", sha1="main"),
        "File:Edison 1878 photograph.jpg": _page("File:Edison 1878 photograph.jpg", sha1="x"),
        "File:Edison 1878 photograph (copy).jpg": _page(
            "File:Edison 1878 photograph (copy).jpg", sha1="x"
        ),
        "File:Edison 1922 photograph.jpg": _page("File:Edison 1922 photograph.jpg", sha1="y"),
        "File:Edison oil painting 1890.jpg": _page("File:Edison oil painting 1890.jpg", sha1="z"),
    }
    cands = [Candidate(t, {"wikidata"} if "Edison2" in t else {"category"}) for t in pages]
    ordered, rejected = order_photos(pages, cands, EDISON)
    titles = [p.title for p in ordered]
    assert titles[0] == "File:Thomas Edison2.jpg"
    assert titles[-1] == "File:Edison oil painting 1890.jpg"  # artworks after photographs
    assert len(titles) == 4 and len([t for t in titles if "1878" in t]) == 1
    assert [reason for _, reason in rejected] == [
        f"same file as {next(t for t in titles if '1878' in t)}"
    ]
