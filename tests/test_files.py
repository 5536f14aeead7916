"""Tests of composer.files: atomic writes and the overwrite rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from composer.errors import OutputError
from composer.files import refuse_overwrite, write_bytes_atomic


def test_write_bytes_atomic_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "f.bin"
    assert write_bytes_atomic(b"one", path) == path  # creates the folders
    with pytest.raises(OutputError, match="exists \\(use --force to overwrite\\)"):
        write_bytes_atomic(b"two", path)
    assert path.read_bytes() == b"one"
    write_bytes_atomic(b"three", path, force=True)
    assert path.read_bytes() == b"three"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.bin"]  # no temp file left


def test_write_bytes_atomic_into_a_file_as_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create folder"):
        write_bytes_atomic(b"data", blocker / "sub" / "out.mid")


def test_refuse_overwrite_is_the_writers_rule(tmp_path: Path) -> None:
    path = tmp_path / "x.mid"
    refuse_overwrite(path, force=False)  # free: no error
    path.write_bytes(b"old")
    refuse_overwrite(path, force=True)
    with pytest.raises(OutputError, match=r"x\.mid exists \(use --force to overwrite\)"):
        refuse_overwrite(path, force=False)
    assert path.read_bytes() == b"old"
