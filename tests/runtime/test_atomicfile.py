"""contrique_infer.atomicfile: a file is replaced whole or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import pytest

from contrique_infer.atomicfile import replace_file, stage


def test_a_file_is_replaced_whole_keeping_its_permissions(tmp_path: Path) -> None:
    """A private (0600) report page, head or manifest became 0644 when it was written again (the umask's
    new file); json, csv and jsonl results kept theirs, each caller passing the mode itself."""
    path = tmp_path / "manifest.json"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    previous = os.umask(0o022)
    try:
        assert replace_file(path, b"new contents") == path
        assert path.read_bytes() == b"new contents" and stat.S_IMODE(path.stat().st_mode) == 0o600
        replace_file(path, lambda fh: fh.write(b"written by a function"))
        assert path.read_bytes() == b"written by a function" and stat.S_IMODE(path.stat().st_mode) == 0o600
        replace_file(tmp_path / "new.json", b"{}")  # a new file: the umask's permissions
        assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644
    finally:
        os.umask(previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "new.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "heads.json"
    path.write_bytes(b"old")

    def half(fh: BinaryIO) -> None:
        fh.write(b"half of the n")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        replace_file(path, half)
    with pytest.raises(KeyboardInterrupt):
        stage(path, lambda fh: (_ for _ in ()).throw(KeyboardInterrupt))
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["heads.json"]


def test_a_file_can_be_replaced_with_given_permissions(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_bytes(b"old")
    previous = os.umask(0o077)
    try:
        replace_file(path, b"new", mode=0o640)
    finally:
        os.umask(previous)
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_failed_replace_leaves_no_temporary(tmp_path: Path) -> None:
    folder = tmp_path / "taken"
    (folder / "inside").mkdir(parents=True)  # a non-empty folder where the file should go: os.replace fails
    with pytest.raises(OSError):
        replace_file(folder, b"new contents")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"] and folder.is_dir()
