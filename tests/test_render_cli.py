"""`python -m pipeline render`: the whole path from an album folder to a video, and its exit codes."""

from __future__ import annotations

import json
import shutil

import pytest

from pipeline.cli import main
from pipeline.methods.base import get_method
from pipeline.render.encode import probe

pytestmark = pytest.mark.slow  # the CLI end to end


def test_render_command_writes_everything_and_honours_edits(edison_dir, tmp_path, capsys):
    edits = tmp_path / "edits.json"
    edits.write_text(
        json.dumps(
            {
                "birth_date": "1847-02-11",
                "photos": {
                    "1_edison_young_c1878.png": {"date": "1878-08-20"},
                    "2_edison_middle_c1910s.png": {"age": 64},
                    "3_edison_c1922.png": {"date": "1922-05-01"},
                },
            }
        )
    )
    out = tmp_path / "out" / "edison.mp4"
    argv = [
        "render", str(edison_dir), "-o", str(out), "--size", "256", "--fps", "24",
        "--seconds-per-year", "0.05", "--hold", "0.25", "--edits", str(edits),
        "--report", str(tmp_path / "report.json"), "--gif", str(tmp_path / "edison.gif"),
        "--contact-sheet", str(tmp_path / "sheet.png"), "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert f"wrote {out}" in stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert [k["caption"] for k in report["keyframes"]] == ["31 y 6 m", "64 y", "75 y 2 m"]
    # 32.5 then 11.2 years at 0.05 s/year and 24 fps; the short gap is clamped to 0.5 s.
    assert report["transition_frames"] == [39, 13]
    assert report["timing"]["hold_frames"] == 6
    assert report["frame_count"] == 39 + 13 + 1 + 3 * 6
    assert set(report["analysis_timings"]) >= {"scan", "finalize"}
    info = probe(out, decode=True)
    assert (info.codec, info.pix_fmt, info.frames) == ("h264", "yuv420p", report["frame_count"])
    assert (tmp_path / "edison.gif").stat().st_size > 0 and (
        tmp_path / "sheet.png"
    ).stat().st_size > 0


def test_a_method_that_cannot_run_stops_before_the_analysis(
    edison_dir, tmp_path, capsys, monkeypatch
):
    stylegan = get_method("stylegan")
    monkeypatch.setattr(
        stylegan, "availability", classmethod(lambda cls: (False, "no StyleGAN weights here"))
    )
    code = main(
        [
            "render",
            str(edison_dir),
            "-o",
            str(tmp_path / "x.mp4"),
            "--method",
            "stylegan",
            "--encoder",
            "psp",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: Method 'stylegan' cannot run here: no StyleGAN weights here"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--gamma", "50"], "for 50.0% use 0.5"),
        (["--fps", "10"], "choose 24 to 60"),
        (["--encoder", "psp"], "--encoder only applies to --method stylegan"),
    ],
)
def test_bad_settings_exit_2_before_the_analysis(edison_dir, tmp_path, capsys, extra, message):
    assert main(["render", str(edison_dir), "-o", str(tmp_path / "x.mp4"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_one_usable_photo_exits_3(edison_dir, tmp_path, capsys):
    album = tmp_path / "album"
    album.mkdir()
    shutil.copy(sorted(edison_dir.glob("*.png"))[0], album)
    assert (
        main(["render", str(album), "-o", str(tmp_path / "x.mp4"), "--quiet", "--size", "256"]) == 3
    )
    assert "needs at least 2" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_left_out_photos_are_listed_with_why(edison_dir, tmp_path, capsys):
    album = tmp_path / "album"
    shutil.copytree(edison_dir, album)
    (album / "notes.jpg").write_text("not a photo")
    edits = tmp_path / "edits.csv"
    edits.write_text("file,include\n2_edison_middle_c1910s.png,no\n")
    argv = ["render", str(album), "-o", str(tmp_path / "v.mp4"), "--size", "256", "--frames-between", "3",
            "--edits", str(edits), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "2 photo(s) left out" in err
    assert "notes.jpg: not an image" in err
    assert "2_edison_middle_c1910s.png: excluded by your edits" in err
