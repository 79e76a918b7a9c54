"""The pipeline object: the README's Python example, run as written, makes the CLI's video.

The example runs on the bundled Edison album in a temporary working folder
(its relative album path pointed at the album, its scan cache in the test's
folder); the command line renders the same album with the same settings, and
the two MP4s must be the same bytes (same frames, same encoder settings).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.edits import Edits, PhotoEdit
from pipeline.errors import NotEnoughPhotosError, UsageError
from pipeline.render import RenderSettings
from pipeline.render.encode import probe
from pipeline.timelapse import Analysed, Timelapse, render_source

pytestmark = pytest.mark.slow  # two renders of the Edison album

ROOT = Path(__file__).resolve().parents[1]
ALBUM = "assets/examples/edison"


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_screen = text[: text.index("## Quick start")]
    blocks = re.findall(r"```python\n(.*?)```", first_screen, flags=re.S)
    assert len(blocks) == 1, "the README's first screen shows one Python example"
    return blocks[0]


def test_readme_example_makes_the_cli_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = readme_example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 4
    assert f'"{ALBUM}"' in code
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    code = code.replace(f'"{ALBUM}"', repr(str(ROOT / ALBUM)))
    scope: dict = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), scope)
    result = scope["result"]
    assert result.video == Path("edison.mp4") and (tmp_path / "edison.mp4").is_file()
    assert "edison.mp4" in capsys.readouterr().out
    assert len(result.analysis.usable) == 3 and result.not_selected == ()
    info = probe(tmp_path / "edison.mp4")
    assert (info.width, info.frames) == (256, result.frame_count)

    cli = tmp_path / "cli.mp4"
    argv = ["render", str(ROOT / ALBUM), "-o", str(cli), "--size", "256", "--quiet",
            "--cache-dir", str(tmp_path / "cache" / "facial-timelapse" / "scans")]  # fmt: skip
    assert main(argv) == 0
    assert cli.read_bytes() == (tmp_path / "edison.mp4").read_bytes()


def test_stages_select_and_refuse_bad_settings_before_any_work(tmp_path: Path) -> None:
    """`analyse` keeps at most `limit` photos (the one selection policy); a bad setting stops the
    call before the analysis; one usable photo without SAM is a shortage, not a crash."""
    pipe = Timelapse.create(cache_dir=tmp_path / "cache", workers=0)
    analysed = pipe.analyse(ROOT / ALBUM, limit=2)
    assert isinstance(analysed, Analysed) and len(analysed.analysis.usable) == 2
    assert len(analysed.not_selected) == 1
    (left,) = analysed.not_selected
    assert not next(p for p in analysed.analysis.photos if p.file == left).include
    # A photo the user keeps stays in: the page's rule, and the command line's.
    kept = pipe.analyse(ROOT / ALBUM, limit=2, edits=Edits(photos={left: PhotoEdit(include=True)}))
    assert left in {p.file for p in kept.analysis.usable} and kept.not_selected == ()
    with pytest.raises(UsageError, match="Frame rate"):
        pipe(ROOT / ALBUM, output=tmp_path / "x.mp4", fps=5)
    assert not (tmp_path / "x.mp4").exists()
    one = pipe.analyse(sorted((ROOT / ALBUM).glob("*.png"))[:1])
    with pytest.raises(NotEnoughPhotosError):
        render_source(one.analysis, RenderSettings(per_photo=2))
