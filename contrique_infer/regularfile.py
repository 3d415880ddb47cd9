"""Opening files that must be regular files, without blocking on anything else.

Opening a FIFO (named pipe) for reading waits until a writer opens it, which may be never, and
reading a character device such as ``/dev/zero`` or a terminal never ends or waits for input.
Images, bundle files, JSON documents and ``--resume`` files are therefore opened here: the file
is opened without blocking (``O_NONBLOCK``, which does not change how a regular file is read) and
refused unless ``fstat`` of the opened file says it is a regular file, so that a file swapped for
a FIFO after a check is refused too. :func:`read_regular` reads such a file whole, within a size
limit, for the readers of JSON, TOML, card notes, pickled heads and proxy sets.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


class NotRegularFileError(OSError):
    """The path exists but is not a regular file (its message says what it is)."""


class FileTooLargeError(ValueError):
    """A file is larger than its reader allows; ``size`` and ``limit`` are in bytes."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"is {size} bytes, more than the {limit} allowed")


def kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words: ``a named pipe (FIFO)``, ``a regular file``..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def not_regular(mode: int) -> NotRegularFileError:
    """The error for a file of this ``st_mode`` that is not a regular file."""
    return NotRegularFileError(f"is {kind(mode)}, not a regular file; only regular files are read")


def check_regular(path: str | os.PathLike[str]) -> None:
    """Raise unless ``path`` (symbolic links followed) is a regular file; opens nothing.

    Raises:
        NotRegularFileError: It exists and is a FIFO, socket, device or directory.
        OSError: It cannot be examined (missing, no permission, a symbolic-link loop).
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise not_regular(mode)


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path`` for reading in binary mode if it is a regular file, never blocking.

    Raises:
        NotRegularFileError: It is a FIFO, socket, device or directory (checked before opening, and
            on the opened file).
        OSError: It cannot be opened (missing, no permission, a symbolic-link loop).
    """
    check_regular(path)  # a device is not even opened: opening some has side effects
    fd = os.open(path, _FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_regular(mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes`` bytes.

    The size is checked before reading, and again on what was read (a file that grows meanwhile),
    so at most ``max_bytes + 1`` bytes are ever held.

    Raises:
        NotRegularFileError: It is a FIFO, socket, device or directory.
        FileTooLargeError: It is larger than ``max_bytes``.
        OSError: It cannot be opened or read.
    """
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise FileTooLargeError(size, max_bytes)
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLargeError(len(data), max_bytes)
    return data
