"""The records' codes in each audience's words: every code worded for the visitor and the
terminal, and the CLI printing the terminal's words (its JSON keeps the codes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from pipeline.cli import main
from pipeline.codes import AgeSource, OrderSource, Status
from pipeline.commands import messages as terminal
from pipeline.webapp import messages as visitor

# `Status.OK` is worded by neither audience: a photo read fine says nothing about its file.
WORDED_STATUSES = set(Status) - {Status.OK}


@pytest.mark.parametrize(
    ("codes", "visitor_table", "terminal_table"),
    [
        (WORDED_STATUSES, visitor.STATUS_NOTES, terminal.STATUS_WORDS),
        (set(AgeSource), visitor.AGE_SOURCES, terminal.AGE_WORDS),
        (set(OrderSource), visitor.ORDER_SOURCES, terminal.ORDER_WORDS),
    ],
    ids=["status", "age_source", "order_source"],
)
def test_every_code_has_a_wording_for_each_audience(codes, visitor_table, terminal_table) -> None:
    for table in (visitor_table, terminal_table):
        assert set(table) == codes
        assert all(isinstance(words, str) and words.strip() for words in table.values())
    # Two audiences, two wordings: the terminal's never repeats the bare code.
    assert all(terminal_table[code] != str(code) for code in codes)


@pytest.mark.slow  # analyses the Edison album
def test_cli_analyze_prints_the_terminal_words_and_the_json_keeps_codes(
    edison_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    album = tmp_path / "album"
    shutil.copytree(edison_dir, album)
    Image.new("RGB", (64, 64), (200, 10, 10)).save(album / "red.png")  # read fine, no face
    (album / "notes.jpg").write_text("not a photo")
    edits = tmp_path / "edits.json"
    edits.write_text(
        json.dumps(
            {
                "birth_date": "1847-02-11",
                "photos": {
                    "1_edison_young_c1878.png": {"date": "1878-08-20"},
                    "2_edison_middle_c1910s.png": {"age": 64},
                },
            }
        )
    )
    out = tmp_path / "out.json"
    argv = ["analyze", str(album), "--edits", str(edits), "--json", str(out), "--quiet"]
    assert main(argv) == 0
    lines = {line.split(":")[0].split()[-1]: line for line in capsys.readouterr().out.splitlines()}
    rows = {r["file"]: r for r in json.loads(out.read_text())["photos"]}

    assert rows["red.png"]["status"] == "no_face"
    assert f"[{terminal.STATUS_WORDS[Status.NO_FACE]}]" in lines["red.png"]
    assert rows["notes.jpg"]["status"] == "not_image"
    assert f"[{terminal.STATUS_WORDS[Status.NOT_IMAGE]}]" in lines["notes.jpg"]
    for name in ("1_edison_young_c1878.png", "2_edison_middle_c1910s.png"):
        row, line = rows[name], lines[name]
        assert f"({terminal.AGE_WORDS[row['age_source']]})" in line
        assert f"placed by {terminal.ORDER_WORDS[row['order_source']]}" in line
        assert f"({row['age_source']})" not in line and f"by {row['order_source']}," not in line
    assert rows["1_edison_young_c1878.png"]["age_source"] == "date"
    assert rows["2_edison_middle_c1910s.png"]["age_source"] == "edit"
    assert all(f"[{code}]" not in "".join(lines.values()) for code in Status)


@pytest.mark.slow  # renders the Edison album
def test_cli_render_lists_left_out_files_in_the_terminal_words(
    edison_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    album = tmp_path / "album"
    shutil.copytree(edison_dir, album)
    Image.new("RGB", (64, 64), (200, 10, 10)).save(album / "red.png")
    argv = ["render", str(album), "-o", str(tmp_path / "v.mp4"), "--size", "256",
            "--frames-between", "2", "--hold", "0", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"  red.png: {terminal.STATUS_WORDS[Status.NO_FACE]}\n" in err
