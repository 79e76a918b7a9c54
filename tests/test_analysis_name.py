"""`analyze --name`: photos fetched by name go through the normal analysis, credits and birth date included."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.support.replay import WikimediaReplay

pytestmark = pytest.mark.slow  # the CLI end to end


def test_analyze_by_name(wikimedia: WikimediaReplay, tmp_path: Path) -> None:
    out = tmp_path / "edison.json"
    assert (
        main(["analyze", "--name", "Thomas Edison", "--limit", "6", "--json", str(out), "--quiet"])
        == 0
    )
    data = json.loads(out.read_text())
    assert data["birth_date"] == "1847-02-11"  # from Wikidata
    photos = data["photos"]
    assert len(photos) >= 3
    assert all(
        p["credits"]
        and p["credits"]["licence"]
        and p["credits"]["page_url"].startswith("https://commons.wikimedia.org/")
        for p in photos
    )
    born = dt.date(1847, 2, 11)
    dated = [p for p in photos if p["date"]]
    assert len(dated) >= 3, photos
    for p in dated:
        # Dates come from Commons (not the scan date in the file's EXIF) and give ages.
        assert p["date_source"] in ("metadata", "exif", "filename") and p["age_source"] in (
            "date",
            "year",
        )
        years = (dt.date.fromisoformat(p["date"]) - born).days / 365.25
        assert p["age"] == pytest.approx(years, abs=0.02) and 0 < p["age"] < 85


def test_name_and_album_are_exclusive(tmp_path: Path) -> None:
    assert main(["analyze", str(tmp_path), "--name", "Thomas Edison", "--quiet"]) == 2
    assert main(["analyze", "--quiet"]) == 2


def test_render_by_name_writes_credits(wikimedia: WikimediaReplay, tmp_path: Path) -> None:
    video = tmp_path / "edison.mp4"
    edits = tmp_path / "keep.json"
    # The recorded bodies show two people: as a user would, look at the analysis,
    # then keep every photo with a face through an edits file.
    listing = tmp_path / "a.json"
    assert (
        main(
            [
                "analyze",
                "--name",
                "Thomas Edison",
                "--limit",
                "6",
                "--json",
                str(listing),
                "--quiet",
            ]
        )
        == 0
    )
    rows = json.loads(listing.read_text())["photos"]
    edits.write_text(
        json.dumps({"photos": [{"file": r["file"], "include": True} for r in rows if r["faces"]]})
    )
    rc = main(["render", "--name", "Thomas Edison", "--limit", "6", "--size", "256", "-o", str(video),
               "--edits", str(edits), "--frames-between", "4", "--quiet"])  # fmt: skip
    assert rc == 0 and video.stat().st_size > 0
    credits = (tmp_path / "edison.credits.txt").read_text()
    assert "Photos used in this video" in credits and "https://commons.wikimedia.org/" in credits
