"""Repository hygiene that the shared set-up depends on."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_virtual_environment_is_tracked() -> None:
    # A tracked `.venv` (e.g. a symlink to a shared environment) replaces the real
    # environment of every checkout that updates to that commit.
    tracked = subprocess.run(
        ["git", "ls-files", "--", ".venv", "venv", ".venv/*"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert tracked == [], f"virtual environment files are tracked: {tracked[:5]}"
