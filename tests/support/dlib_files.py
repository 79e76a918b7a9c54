"""Checks shared by the tests of the networks read from dlib's own files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.errors import ModelFileError
from pipeline.faces.dlib_format import DlibFormatError


def assert_damaged_copies_refused(
    data: bytes,
    tmp_path: Path,
    load: Callable[[Path], object],
    parse: Callable[[bytes], object],
) -> None:
    """A copy cut in half is refused by `load` with a message naming the file and the fix;
    bytes after the network are refused by `parse`."""
    cut = tmp_path / "cut.dat"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="reinstall face_recognition_models") as info:
        load(cut)
    assert info.value.path == cut and "ends early" in str(info.value)
    with pytest.raises(DlibFormatError, match="left over"):
        parse(data + b"\0")
