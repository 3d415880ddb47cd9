"""A stderr (or stdout) that cannot be written, for the tests that a command's own lines on stderr are
best-effort and that a stdout that fails ends a command quietly: full (``2>/dev/full``, ``>/dev/full``) or
closed (``2>&-``, ``>&-``, where Python's ``sys.stderr`` or ``sys.stdout`` is None)."""

from __future__ import annotations

import errno
import os

import pytest


class FullStream:
    """A stderr on a full disk: every write fails, as ``2>/dev/full``; a terminal where ``tty`` is true
    (so that a command shows its progress bar on it), one that has gone where ``error`` is ``EIO``."""

    encoding = "utf-8"

    def __init__(self, tty: bool = False, error: int = errno.ENOSPC) -> None:
        self.tty = tty
        self.error = error

    def write(self, text: str) -> int:
        raise OSError(self.error, os.strerror(self.error))

    def flush(self) -> None:
        raise OSError(self.error, os.strerror(self.error))

    def isatty(self) -> bool:
        return self.tty


broken_stderrs = pytest.mark.parametrize("stderr", [FullStream(), None], ids=["full", "closed"])
"""Parametrise a test's ``stderr`` argument: a full stderr, then a closed one (None); the test sets
``sys.stderr`` to it (``monkeypatch.setattr(sys, "stderr", stderr)``)."""

broken_stdouts = pytest.mark.parametrize("stdout", [FullStream(), None], ids=["full", "closed"])
"""Parametrise a test's ``stdout`` argument: a full stdout, then a closed one (None); the test sets
``sys.stdout`` to it."""
