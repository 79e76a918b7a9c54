"""Photos by name in the app: the name box handler and the API, against recorded Wikimedia answers
served from 127.0.0.1 (tests/fixtures/wikimedia) with real photos as the image bodies."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client.exceptions import AppError

from pipeline.errors import UsageError
from pipeline.search import AmbiguousNameError, TooFewPhotosError, UnknownNameError
from pipeline.webapp import messages, page, review
from pipeline.webapp import table as tbl
from pipeline.webapp.search import find_by_name
from tests.support.app import connect, launch_app
from tests.support.replay import WikimediaReplay

pytestmark = pytest.mark.slow  # launches the app


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, wikimedia: WikimediaReplay
) -> Iterator[tuple[Any, str]]:
    app, url = launch_app(tmp_path_factory)
    yield app, url
    app.demo.close()


def test_find_by_name_gives_files_dates_birth_and_credits(wikimedia: WikimediaReplay) -> None:
    found = find_by_name("Thomas Edison", limit=6)
    assert found.birth_date is not None and found.birth_date.isoformat() == "1847-02-11"
    assert 3 <= len(found.files) <= 6 and all(Path(f).is_file() for f in found.files)
    assert set(found.metadata) == {Path(f).name for f in found.files}
    assert all(m["credits"]["licence"] and m["credits"]["author"] for m in found.metadata.values())
    assert sum(1 for m in found.metadata.values() if m.get("date")) >= 3
    assert "Thomas Edison" in found.message() and "born 1847-02-11" in found.message()
    # Found photos are reviewed like uploads, with their dates, exact ages and credits.
    r = review.review_album(found.files, birth_date=found.birth_date, metadata=found.metadata)
    dated = [p for p in r.analysis.photos if p.date]
    assert dated and all(p.age_source in ("date", "year") and p.credits for p in dated)


def test_name_errors_say_what_to_do(wikimedia: WikimediaReplay) -> None:
    with pytest.raises(AmbiguousNameError) as amb:
        find_by_name("John Smith")
    assert (
        len(amb.value.candidates) == 3
        and "Q228024" in str(amb.value)
        and "--qid" not in str(amb.value)
    )
    assert (
        messages.visitor_message(amb.value)
        == "'John Smith' may mean several people: choose one in the list under the name box."
    )
    assert "Q228024" in messages.visitor_message(amb.value, api=True)
    with pytest.raises(UnknownNameError, match="No person called 'Phonograph'") as unknown:
        find_by_name("Phonograph")
    text = messages.visitor_message(unknown.value)
    assert "--qid" not in text and "Wikidata ID" in text and "upload photos instead" in text
    with pytest.raises(TooFewPhotosError, match="Ada Lovelace") as few:
        find_by_name("Ada Lovelace")
    assert messages.visitor_message(few.value).endswith("Upload photos of your own instead.")
    with pytest.raises(UsageError, match="Type a well-known person's name"):
        find_by_name("   ")
    with pytest.raises(UsageError, match="from 2 to 30"):
        find_by_name("Thomas Edison", limit=100)


def test_name_box_handler(wikimedia: WikimediaReplay) -> None:
    """The page's search handler: found photos replace the album, the birth date fills in, metadata is kept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files, birth, state, candidates, status = page.search("Barack Obama", 6, "", None, None)
        assert birth == "1961-08-04" and len(files) == 6 and candidates["visible"] is False
        assert set(state.metadata) == {Path(f).name for f in files} and "Found" in status
        assert state.birth_auto == "1961-08-04"
        # A new person's birth date replaces the previous album's (a Wikidata ID works as the name).
        _, birth2, _, _, _ = page.search("Q76", 6, "1847-02-11", state, None)
        assert birth2 == "1961-08-04"
        # Uploading other photos afterwards clears the birth date the search filled in, not a typed one.
        assert page.new_files(files[:2], "1961-08-04", state)[0] == ""
        assert page.new_files(files[:2], "1990-01-01", state)[0] == "1990-01-01"
        # Ambiguous: the page offers the people to choose from instead of an error.
        same_files, _, _, candidates, status = page.search("John Smith", 12, "", state, None)
        assert candidates["visible"] is True and [q for _, q in candidates["choices"]] == [
            "Q228024",
            "Q310973",
            "Q1701374",
        ]
        assert "several people" in status and same_files == {"__type__": "update"}
        # The found photos then go through the normal review, with credits in the table.
        shown, rows, summary, state, _birth = page.review_files(files, birth, state, None)
    assert len(rows) == 6 and all(r[7] for r in rows)  # credit column: author · licence
    assert "3 of 6 photos go into the video" in summary and shown["html"].count('class="card') == 6
    assert all(
        r[3] and r[4] in (tbl.AGE_SOURCES["date"], tbl.AGE_SOURCES["year"]) for r in rows[:3]
    )
    with pytest.raises(page.gr.Error, match="No person called"):
        page.search("Phonograph", 12, "", None, None)


def test_api_takes_a_name(served: tuple[Any, str], tmp_path: Path) -> None:
    client = connect(served[1], tmp_path)
    data, faces = client.predict(name="Thomas Edison", limit=6, api_name="/analyze")
    assert data["birth_date"] == "1847-02-11" and len(data["photos"]) >= 3 and faces
    assert all(
        p["credits"]["page_url"].startswith("https://commons.wikimedia.org/")
        for p in data["photos"]
    )
    # The recorded Edison album mixes faces: one photo is kept, so no video, and the error says why.
    with pytest.raises(
        AppError, match=r"Only 1 of \d+ photo\(s\) can go into the video.*Left out: .*duplicate of"
    ):
        client.predict(name="Thomas Edison", limit=6, size=256, api_name="/timelapse")
    with pytest.raises(AppError, match="may mean several people: Q228024"):
        client.predict(name="John Smith", api_name="/timelapse")
    video, _, _, report = client.predict(
        name="Barack Obama", limit=6, size=256, frames_between=2, api_name="/timelapse"
    )
    assert Path(video).is_file() and len(report["keyframes"]) == 3
    assert (
        all(c["licence"] and c["file"] for c in report["credits"]) and len(report["credits"]) == 3
    )
    assert (
        len(report["photos"]) == 3
        and len(report["warnings"]) == 3
        and all(w["reason"] for w in report["warnings"])
    )
    assert [k["age_exact"] for k in report["keyframes"]].count(True) >= 1
