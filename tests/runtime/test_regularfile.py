"""contrique_infer.regularfile: regular files are opened, FIFOs, sockets and devices refused without blocking."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from contrique_infer import regularfile
from contrique_infer.regularfile import (
    FileTooLargeError,
    NotRegularFileError,
    check_regular,
    kind,
    open_regular,
    read_regular,
)


@pytest.fixture()
def specials(tmp_path: Path) -> dict[str, Path]:
    os.mkfifo(tmp_path / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "socket"))
    (tmp_path / "folder").mkdir()
    (tmp_path / "null").symlink_to(os.devnull)
    (tmp_path / "link-to-fifo").symlink_to(tmp_path / "fifo")
    return {"fifo": tmp_path / "fifo", "socket": tmp_path / "socket", "folder": tmp_path / "folder",
            "null": tmp_path / "null", "link-to-fifo": tmp_path / "link-to-fifo"}


def test_regular_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"\0abc" * 1000)
    with open_regular(path) as fh:
        assert fh.read() == b"\0abc" * 1000
    (tmp_path / "link").symlink_to(path)
    check_regular(tmp_path / "link")


@pytest.mark.parametrize(("name", "what"), [("fifo", "a named pipe (FIFO)"), ("socket", "a socket"),
                                            ("folder", "a directory"), ("null", "a character device"),
                                            ("link-to-fifo", "a named pipe (FIFO)")])
def test_special_files_are_refused(specials: dict[str, Path], name: str, what: str) -> None:
    with pytest.raises(NotRegularFileError, match=rf"^is {what.replace('(', '[(]').replace(')', '[)]')}, not a "
                                                  "regular file; only regular files are read$"):
        open_regular(specials[name])
    with pytest.raises(NotRegularFileError):
        check_regular(specials[name])


def test_a_fifo_swapped_in_after_the_check_is_refused_without_blocking(
    specials: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is examined again once it is open (non-blocking): a FIFO is never waited on."""
    monkeypatch.setattr(regularfile, "check_regular", lambda path: None)
    with pytest.raises(NotRegularFileError, match="named pipe"):
        open_regular(specials["fifo"])


def test_missing_files_and_kinds(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing")
    assert kind(stat.S_IFREG) == "a regular file" and kind(stat.S_IFBLK) == "a block device"


def test_read_regular_reads_whole_files_up_to_the_limit(tmp_path: Path, specials: dict[str, Path]) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 100)
    assert read_regular(path, 100) == b"x" * 100
    with pytest.raises(FileTooLargeError, match=r"^is 100 bytes, more than the 99 allowed$") as info:
        read_regular(path, 99)
    assert (info.value.size, info.value.limit) == (100, 99)
    with pytest.raises(NotRegularFileError, match="named pipe"):
        read_regular(specials["fifo"], 100)  # refused, not waited on


def test_read_regular_stops_at_the_limit_when_a_file_grows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose size said "small" but that holds more when read (still being written) is refused,
    and no more than limit + 1 bytes are read from it."""
    path = tmp_path / "growing.bin"
    path.write_bytes(b"x" * 1000)
    real_fstat = os.fstat
    monkeypatch.setattr(regularfile.os, "fstat",
                        lambda fd: os.stat_result((*real_fstat(fd)[:6], 10, *real_fstat(fd)[7:])))
    with pytest.raises(FileTooLargeError, match=r"^is 51 bytes, more than the 50 allowed$"):
        read_regular(path, 50)
