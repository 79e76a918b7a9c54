"""The app's non-UI logic (pipeline/webapp): table edits, scan cache, review, settings, temp files.

Real photos and models: the bundled Edison album is scanned once for the module.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import MethodUnavailableError, NotEnoughPhotosError, UsageError
from pipeline.photos import collect_sources
from pipeline.types import Analysis, PhotoRecord
from pipeline.webapp import controls, messages, page, review, uploads
from pipeline.webapp import files as temp_files
from pipeline.webapp import render as rendering
from pipeline.webapp import table as tbl
from pipeline.webapp.cache import ScanCache, album_key, snapshot
from pipeline.webapp.state import PageState

BIRTH = "1847-02-11"
YOUNG, MIDDLE, OLD = "1_edison_young_c1878.png", "2_edison_middle_c1910s.png", "3_edison_c1922.png"


@pytest.fixture(scope="module")
def reviewed(edison: list[str]) -> review.Review:
    return review.review_album(edison, birth_date=BIRTH)


def rows_by_file(rows: list[list]) -> dict[str, list]:
    return {r[tbl.COL_FILE]: r for r in rows}


def test_table_rows_show_every_photo_in_video_order(reviewed: review.Review) -> None:
    rows = tbl.table_rows(reviewed.analysis)
    assert len(rows) == 3 and all(len(r) == len(tbl.HEADERS) == len(tbl.DATATYPES) for r in rows)
    assert [r[tbl.COL_FILE] for r in rows] == [p.file for p in reviewed.analysis.usable]
    middle = rows_by_file(rows)[MIDDLE]
    assert middle[tbl.COL_USE] is True and middle[tbl.COL_AGE] == pytest.approx(63.4, abs=0.05)
    assert (
        middle[tbl.COL_DATE] == "1910-07-01" and middle[tbl.COL_SOURCE] == tbl.AGE_SOURCES["year"]
    )
    assert rows_by_file(rows)[YOUNG][tbl.COL_AGE] == pytest.approx(
        31.4, abs=0.05
    )  # "c1878" in the name


def test_diff_edits_keeps_only_changed_cells(reviewed: review.Review) -> None:
    shown = tbl.table_rows(reviewed.analysis)
    current = [list(r) for r in shown]
    by = rows_by_file(current)
    by[OLD][tbl.COL_AGE] = 75  # edited
    by[MIDDLE][tbl.COL_USE] = False  # unticked
    by[YOUNG][tbl.COL_AGE] = by[YOUNG][tbl.COL_AGE] + 0.01  # display rounding: not an edit
    edits, problems = tbl.diff_edits(shown, current, {}, reviewed.face_counts)
    assert problems == []
    assert edits == {OLD: {"age": 75.0}, MIDDLE: {"include": False}}

    # Bad cells are reported and skipped; the good ones in the same table still apply.
    again = [list(r) for r in current]
    b = rows_by_file(again)
    b[YOUNG][tbl.COL_AGE] = "thirty"
    b[YOUNG][tbl.COL_DATE] = "1878-13-45"
    b[MIDDLE][tbl.COL_FACE] = 3
    b[OLD][tbl.COL_DATE] = "1922-05-01"
    edits2, problems = tbl.diff_edits(current, again, edits, reviewed.face_counts)
    assert any(YOUNG in m and "age must be a number" in m for m in problems)
    assert any(MIDDLE in m and "face 3 does not exist" in m for m in problems)
    assert edits2[OLD] == {"age": 75.0, "date": "1922-05-01"} and YOUNG not in edits2

    # Emptying a cell goes back to the automatic value.
    cleared = [list(r) for r in again]
    rows_by_file(cleared)[OLD][tbl.COL_AGE] = None
    edits3, _ = tbl.diff_edits(again, cleared, edits2, reviewed.face_counts)
    assert edits3[OLD] == {"date": "1922-05-01"}


def test_edits_apply_without_rescanning(edison: list[str], reviewed: review.Review) -> None:
    scans = review.CACHE.scans
    edits = tbl.to_edits({OLD: {"age": 20.0}, YOUNG: {"include": False}})
    r = review.review_album(edison, birth_date=BIRTH, edits=edits)
    assert not r.scanned and review.CACHE.scans == scans
    by = {p.file: p for p in r.analysis.photos}
    assert by[OLD].age == 20.0 and by[OLD].age_source == "edit" and by[OLD].order == 0
    assert not by[YOUNG].include and by[YOUNG].order is None
    assert [p.file for p in r.analysis.usable] == [OLD, MIDDLE]
    # A new birth date recomputes ages from the dates, still without a scan.
    r2 = review.review_album(edison, birth_date="1850-02-11")
    assert {p.file: p for p in r2.analysis.photos}[MIDDLE].age == pytest.approx(60.4, abs=0.05)
    assert review.CACHE.scans == scans
    # The earlier snapshot did not change under the later finalize.
    assert by[OLD].age == 20.0 and reviewed.analysis.birth_date == dt.date(1847, 2, 11)


def test_edits_from_api_and_pruning(edison: list[str], reviewed: review.Review) -> None:
    rows = reviewed.analysis.to_json()["photos"]
    e = tbl.edits_from_api(json.dumps(rows))
    assert set(e.photos) == {YOUNG, MIDDLE, OLD}
    assert (
        tbl.prune_edits(e, reviewed.analysis).photos == {}
    )  # an /analyze answer sent back is no edit
    changed = [dict(r) for r in rows]
    changed[0]["age"] = 5
    pruned = tbl.prune_edits(tbl.edits_from_api(changed), reviewed.analysis)
    assert (
        list(pruned.photos) == [changed[0]["file"]] and pruned.photos[changed[0]["file"]].age == 5
    )
    assert tbl.edits_from_api({OLD: {"include": False}}).photos[OLD].include is False
    assert tbl.edits_from_api({"photos": [{"file": OLD, "age": "70"}]}).photos[OLD].age == 70.0
    assert tbl.edits_from_api("").photos == {} and tbl.edits_from_api(None).photos == {}
    with pytest.raises(UsageError, match="not valid JSON"):
        tbl.edits_from_api("[{")
    with pytest.raises(UsageError, match="needs a 'file' name"):
        tbl.edits_from_api([{"age": 3}])
    r = review.review_album(edison, edits=tbl.edits_from_api(rows), prune=True, birth_date=BIRTH)
    assert {p.file: p.age_source for p in r.analysis.photos}[MIDDLE] == "year"


def test_review_texts(reviewed: review.Review, edison: list[str]) -> None:
    text = page.summary_markdown(reviewed)
    assert "3 of 3 photos go into the video" in text and "estimates" not in text
    captions = [tbl.caption(p) for p in reviewed.analysis.photos]
    # Year-only dates: whole years and the year, no false months.
    assert captions == ["1. 31 y · 1878", "2. 63 y · 1910", "3. 75 y · 1922"]
    # Without a birth date the dates still give the order; the ages come from an
    # inferred birth date, marked as estimates, and the summary says so.
    unknown = review.review_album(edison)
    texts = [tbl.caption(p) for p in unknown.analysis.photos]
    assert [c.split(" · ")[1] for c in texts] == ["1878", "1910", "1922"]
    assert all(c.split(" · ")[0][3] == "~" for c in texts), texts
    summary = page.summary_markdown(unknown)
    assert (
        "estimates" in summary
        and "born about 18" in summary
        and "estimated from 3 dated photos" in summary
    )
    note = messages.photo_note(
        PhotoRecord(
            file="x.jpg", recommended_remove=True, reason="duplicate of y.jpg", include=False
        )
    )
    assert note.startswith("Recommended to remove: duplicate of y.jpg") and "Keep" in note


def test_scan_cache_locks_evicts_and_forgets_failures() -> None:
    cache = ScanCache(max_entries=2, ttl_s=60)
    calls: list[str] = []

    def scanner(name: str, delay: float = 0.0):
        def run() -> Analysis:
            calls.append(name)
            time.sleep(delay)
            return Analysis(photos=[PhotoRecord(file=name)])

        return run

    # Two requests for one album at once: one scan.
    out: list[str] = []

    def use() -> None:
        with cache.use("a", scanner("a", 0.2)) as a:
            out.append(a.photos[0].file)

    threads = [threading.Thread(target=use) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["a"] and out == ["a", "a", "a"]
    for key in ("b", "c"):
        with cache.use(key, scanner(key)):
            pass
    assert len(cache) == 2 and "a" not in cache  # least recently used went first
    # A failed scan leaves nothing behind, and the next call scans again.
    with (
        pytest.raises(RuntimeError),
        cache.use("d", lambda: (_ for _ in ()).throw(RuntimeError("boom"))),
    ):
        pass
    assert "d" not in cache
    cache.ttl_s = 0
    with cache.use("e", scanner("e")):
        pass
    time.sleep(0.01)
    with cache.use("f", scanner("f")):
        pass
    assert "e" not in cache


def test_album_key_follows_content_names_detector_and_metadata(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(astronaut).save(a)
    Image.fromarray(astronaut[:, ::-1].copy()).save(b)
    key = album_key(collect_sources([a, b]))
    assert key == album_key(collect_sources([a, b]))
    assert key != album_key(collect_sources([a, b]), use_cnn=True)
    assert key != album_key(collect_sources([b, a]))
    assert key != album_key(collect_sources([a, b]), extra="credits")
    b.write_bytes(a.read_bytes())
    assert key != album_key(collect_sources([a, b]))


def test_snapshot_is_independent() -> None:
    a = Analysis(photos=[PhotoRecord(file="x.jpg", age=3.0)])
    s = snapshot(a)
    a.photos[0].age = 9.0
    a.photos.append(PhotoRecord(file="y.jpg"))
    assert s.photos[0].age == 3.0 and len(s.photos) == 1


def test_make_settings_accepts_form_values_and_rejects_bad_ones() -> None:
    s = rendering.make_settings(
        size=256.0, fps=24.0, frames_between=10.0, seconds_per_year=0, hold=0.5
    )
    assert (s.size, s.fps, s.frames_between, s.seconds_per_year, s.hold) == (256, 24, 10, None, 0.5)
    s = rendering.make_settings(seconds_per_year=0.4, method="stylegan", encoder="pSp")
    assert s.seconds_per_year == 0.4 and s.method_options == {"encoder": "psp"}
    with pytest.raises(UsageError, match="Size 300"):
        rendering.make_settings(size=300)
    with pytest.raises(UsageError, match="Gamma"):
        rendering.make_settings(method="stylegan", gamma=50)
    assert rendering.make_settings(gamma=0.5).gamma is None  # gamma is StyleGAN's alone
    with pytest.raises(MethodUnavailableError) as err:
        rendering.check_can_render(rendering.make_settings(method="stylegan"))
    assert (
        messages.visitor_message(err.value)
        == "StyleGAN is not available on this server; choose Morph or Cross-fade."
    )


def test_birth_date_and_album_checks() -> None:
    assert review.parse_birth_date("") is None and review.parse_birth_date(
        " 1990-06-01 "
    ) == dt.date(1990, 6, 1)
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        review.parse_birth_date("June 1990")
    with pytest.raises(UsageError, match="in the future"):
        review.parse_birth_date((dt.date.today() + dt.timedelta(days=400)).isoformat())
    with pytest.raises(NotEnoughPhotosError) as err:
        uploads.album_from_files([])
    assert messages.visitor_message(err.value).startswith("No photos yet")
    album = uploads.album_from_files([f"/x/{i:03d}.jpg" for i in range(uploads.MAX_FILES + 30)])
    assert (
        len(album.sources) == uploads.MAX_FILES and len(album.skipped) == 30
    )  # thinned out, not refused
    names = [s.name for s in album.sources]
    assert (
        names[0] == "000.jpg" and names[-1] == f"{uploads.MAX_FILES + 29:03d}.jpg"
    )  # the whole span is kept


def test_render_review_writes_outputs_and_credits(reviewed: review.Review, tmp_path: Path) -> None:
    credits = {"title": "File:Edison.jpg", "author": "Bain News Service", "licence": "Public domain",
               "licence_url": None, "page_url": "https://commons.wikimedia.org/wiki/File:Edison.jpg"}  # fmt: skip
    a = snapshot(reviewed.analysis)
    a.photos[0].credits = credits
    r = review.Review(a, reviewed.key, skipped=["bad.jpg"])
    out = rendering.render_review(
        r, rendering.make_settings(size=256, frames_between=3, hold=0), outdir=tmp_path
    )
    assert out.video.parent == tmp_path and out.report["frame_count"] == 7
    assert out.credits is not None and "Bain News Service" in out.credits.read_text()
    saved = json.loads(out.report_path.read_text())
    assert saved["warnings"] == [
        {"file": "bad.jpg", "reason": "not checked: over the limit of photos per album"}
    ]
    assert saved["credits"] == [{"file": a.photos[0].file, **credits}]
    assert [p["file"] for p in saved["photos"]] == [p.file for p in a.usable]
    assert [p["caption"] for p in saved["photos"]] == [k["caption"] for k in saved["keyframes"]]
    assert saved["video"]["file"] == "timelapse.mp4" and set(rendering.REPORT_KEYS) <= set(saved)
    assert "7 frames" in rendering.report_markdown(
        out
    ) and "credits.txt" in rendering.report_markdown(out)
    assert [p.name for p in out.downloads] == [
        "timelapse.mp4",
        "contact_sheet.png",
        "credits.txt",
        "report.json",
    ]


def test_not_enough_photos_message_says_what_to_do(edison: list[str]) -> None:
    r = review.review_album(
        edison, edits=tbl.to_edits({YOUNG: {"include": False}, OLD: {"include": False}})
    )
    with pytest.raises(NotEnoughPhotosError) as err:
        rendering.render_review(r, rendering.make_settings(size=256))
    assert (err.value.usable, err.value.total, err.value.needed) == (1, 3, 2)
    assert [f for f, _ in err.value.left_out] == [YOUNG, OLD]
    text = messages.visitor_message(err.value)
    assert (
        text.startswith("Only 1 of 3 photo(s) can go into the video")
        and "tap Keep on its card" in text
    )
    assert '"include": true' in messages.visitor_message(err.value, api=True)


def test_previews_of_uploads(tmp_path: Path, astronaut: np.ndarray) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: the preview must be upright
    Image.fromarray(astronaut[:, :384]).transpose(Image.Transpose.ROTATE_90).save(
        tmp_path / "side.jpg", exif=exif
    )
    Image.fromarray(astronaut).save(tmp_path / "plain.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 nope")
    side = uploads.preview(tmp_path / "side.jpg")
    assert side is not None and side.height > side.width and max(side.size) <= uploads.PREVIEW_SIDE
    assert (
        uploads.preview(tmp_path / "plain.png") is not None
        and uploads.preview(tmp_path / "broken.jpg") is None
    )


def test_metadata_round_trip() -> None:
    meta = {
        "a.jpg": {"date": dt.date(1900, 1, 2), "credits": {"author": "X"}},
        "b.jpg": {"date": None},
    }
    as_json = review.metadata_to_json(meta)
    assert as_json["a.jpg"]["date"] == "1900-01-02" and json.dumps(as_json)
    back = review.metadata_from_json(as_json, ["a.jpg"])
    assert back == {"a.jpg": {"date": dt.date(1900, 1, 2), "credits": {"author": "X"}}}


def test_sweep_removes_old_request_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    d = temp_files.request_dir("out")
    assert d.parent == tmp_path / "timelapse" and d.name.startswith("req-out-")
    (d / "x.mp4").write_bytes(b"0")
    other = tmp_path / "timelapse" / "keep-me"
    other.mkdir()
    assert temp_files.sweep(now=time.time()) == 0
    assert temp_files.sweep(now=time.time() + temp_files.RETENTION_S + 1) == 1
    assert not d.exists() and other.exists()


@pytest.mark.slow
def test_page_handlers_edit_and_render(edison: list[str]) -> None:
    """The page's handlers called as Gradio calls them: upload, edit a card and a cell, render."""
    from pipeline.webapp.gpu import render_album

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gr.Warning outside a request becomes a Python warning
        birth, state, previews = page.new_files(edison, BIRTH, None)
        assert birth == BIRTH and previews["html"].count('class="card"') == 3
        shown, rows, summary, state, _birth = page.review_files(edison, BIRTH, state, None)
        assert "3 of 3" in summary and state.shown == rows and isinstance(state, PageState)
        assert shown["html"].count('class="card"') == 3 and shown["html"].count("data-age") == 3
        value = {**shown, "edit": {"file": OLD, "age": "20"}}
        shown, rows2, summary, state, _birth = page.card_edit(value, edison, BIRTH, state, None)
        assert state.edits == {OLD: {"age": 20.0}}
        assert rows2[0][tbl.COL_FILE] == OLD and rows2[0][tbl.COL_SOURCE] == tbl.AGE_SOURCES["edit"]
        value = {**shown, "edit": {"file": MIDDLE, "include": False}}
        shown, rows3, summary, state, _birth = page.card_edit(value, edison, BIRTH, state, None)
        assert (
            "2 of 3" in summary
            and 'class="card out"' in shown["html"]
            and state.edits[MIDDLE] == {"include": False}
        )
        edited = [list(r) for r in rows3]
        rows_by_file(edited)[MIDDLE][tbl.COL_USE] = True  # back in through the table
        shown, rows4, summary, state, _birth = page.table_edit(edison, edited, BIRTH, state, None)
        assert "3 of 3" in summary and state.edits == {
            OLD: {"age": 20.0},
            MIDDLE: {"include": True},
        }
        names = [
            "method",
            "size",
            "speed",
            "frames_between",
            "seconds_per_year",
            "hold",
            "fps",
            "caption",
            "formats",
        ]
        album = {
            k: object() for k in ("files", "table", "birth", "state")
        }  # stand-ins for the components
        controls = {n: object() for n in names}
        render_page = page.make_render_handler(album, controls, render_album)

        def values(files: Any, rows: Any, birth: str, state: Any, *settings: Any) -> dict[Any, Any]:
            given = dict(zip(album.values(), (files, rows, birth, state)))
            return {**given, **dict(zip(controls.values(), settings))}

        video, downloads, sheet, report, state = render_page(
            values(
                edison,
                rows4,
                BIRTH,
                state,
                "crossfade",
                256,
                "frames",
                4,
                0.3,
                0,
                24,
                "none",
                ["mp4", "gif"],
            ),
            progress=None,
        )
    assert Path(video).name == "timelapse.mp4" and "9 frames" in report
    assert "timelapse.mp4" in downloads["value"] and "timelapse.gif" in downloads["value"]
    # A problem on the page is a warning and the outputs stay as they were (no empty error badges).
    with pytest.warns(UserWarning, match="Add photos first"):
        kept = render_page(
            values(None, [], "", None, "morph", 256, "frames", 4, 0.3, 0, 24, "age", ["mp4"]),
            progress=None,
        )
    assert kept == tuple({"__type__": "update"} for _ in range(5))


def test_errors_become_messages_without_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    @page.guard
    def usage() -> None:
        raise UsageError("Size 300 is not supported; choose 256, 512 or 1024.")

    @page.guard
    def bug() -> None:
        raise ZeroDivisionError("division by zero")

    with pytest.raises(page.gr.Error) as err:
        usage()
    assert (
        err.value.message == "Size 300 is not supported; choose 256, 512 or 1024."
        and err.value.__cause__ is None
    )
    with (
        caplog.at_level("ERROR", logger="pipeline.webapp.page"),
        pytest.raises(page.gr.Error) as err,
    ):
        bug()
    assert (
        "Something went wrong on our side" in err.value.message
        and "division" not in err.value.message
    )
    assert any("unexpected error in bug" in r.getMessage() and r.exc_info for r in caplog.records)


def test_page_settings_follow_the_speed_and_method_choices() -> None:
    form = {"method": "morph", "size": 512, "speed": "frames", "frames_between": 30, "seconds_per_year": 0.3,
            "hold": 0.5, "gamma": 0.7, "fps": 30, "caption": "age", "encoder": "e4e", "formats": ["mp4"]}  # fmt: skip
    by_frames, gif = controls.settings_from_page(form)
    assert (by_frames.frames_between, by_frames.seconds_per_year, by_frames.gamma, gif) == (
        30,
        None,
        None,
        False,
    )
    by_age, gif = controls.settings_from_page(
        {**form, "method": "crossfade", "speed": "age", "caption": "year", "formats": ["gif"]}
    )
    assert (
        by_age.seconds_per_year == 0.3
        and by_age.method == "crossfade"
        and by_age.caption == "year"
        and gif
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert (
            page.method_changed("stylegan")[0]["visible"]
            and not page.method_changed("morph")[1]["visible"]
        )
    assert controls.speed_changed("age") == (
        {"__type__": "update", "visible": False},
        {"__type__": "update", "visible": True},
    )


def test_page_photo_a_day_choice_sets_its_own_timing() -> None:
    """ "Every photo": the per-photo timing from its own controls (the transition timing unused),
    its controls shown and the transition ones hidden, captions by date, the choice remembered."""
    form = {"method": "crossfade", "size": 256, "speed": "age", "frames_between": 0, "seconds_per_year": 0.3,
            "hold": 2, "fps": 30, "caption": "date", "formats": ["mp4"], "timing": "every_photo",
            "per_photo": 4.0, "blend": 1, "average": 2}  # fmt: skip
    daily, _ = controls.settings_from_page(form)
    assert (daily.per_photo, daily.blend, daily.average, daily.smooth) == (4, 1, 2, 3)
    assert (daily.seconds_per_year, daily.hold) == (None, 0.0)
    morph, _ = controls.settings_from_page({**form, "timing": "transitions", "frames_between": 12})
    assert morph.per_photo is None and morph.seconds_per_year == 0.3 and morph.hold == 2
    with pytest.raises(UsageError, match="Frames per photo must be a whole number from 1"):
        controls.settings_from_page({**form, "per_photo": 0})

    names = (*controls.TRANSITIONS_ONLY, *controls.EVERY_PHOTO_ONLY, "timing", "caption")
    comps = {n: object() for n in names}
    state = object()
    handler = controls.make_timing_handler(comps, state)
    out = handler({comps["timing"]: "every_photo", comps["speed"]: "frames", comps["caption"]: "age",
                   state: PageState(edits={"a.jpg": {"age": 3}})})  # fmt: skip
    assert all(out[comps[n]]["visible"] for n in controls.EVERY_PHOTO_ONLY)
    assert not any(out[comps[n]]["visible"] for n in controls.TRANSITIONS_ONLY)
    assert out[comps["caption"]]["value"] == "date"
    assert out[state].every_photo and out[state].edits == {"a.jpg": {"age": 3}}
    back = handler({comps["timing"]: "transitions", comps["speed"]: "age", comps["caption"]: "date",
                    state: out[state]})  # fmt: skip
    assert not back[state].every_photo and comps["caption"] not in back
    assert (
        back[comps["seconds_per_year"]]["visible"] and not back[comps["frames_between"]]["visible"]
    )
    assert not any(back[comps[n]]["visible"] for n in controls.EVERY_PHOTO_ONLY)


def test_review_without_a_selection_keeps_every_photo(edison: list[str]) -> None:
    proposed = review.review_album(edison, birth_date=BIRTH, max_photos=2)
    every = review.review_album(edison, birth_date=BIRTH, max_photos=None)
    assert len(proposed.analysis.usable) == 2 and len(proposed.not_selected) == 1
    assert len(every.analysis.usable) == 3 and every.not_selected == []


def test_inferred_birth_date_shows_in_the_birth_box_as_an_estimate(edison: list[str]) -> None:
    """No birth date typed: the box shows the date inferred from the dated photos as greyed
    placeholder text marked as an estimate; a typed birth date wins and the mark goes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        *_, state, box = page.review_files(edison, "", None, None)
        assert "estimate" in box["placeholder"] and "3 dated photos" in box["placeholder"]
        year = int(box["placeholder"][:4])
        assert 1840 <= year <= 1860  # Edison was born in 1847
        assert "value" not in box  # never overwrites what the visitor typed
        *_, box = page.birth_changed(edison, BIRTH, state, None)
        assert box["placeholder"] == page.BIRTH_PLACEHOLDER
