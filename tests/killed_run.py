"""Stopping a command-line run mid-way, as a crash, ``kill -9`` or Ctrl-C would, for the ``--resume`` and
interruption tests."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def wait_for_rows(rows_file: Path, rows: int, timeout: float = 120) -> None:
    """Wait (at most ``timeout`` s) until a running command has written ``rows`` lines to ``rows_file``."""
    deadline = time.monotonic() + timeout
    while (not rows_file.exists() or rows_file.read_bytes().count(b"\n") < rows) and time.monotonic() < deadline:
        time.sleep(0.005)


def kill_after_rows(command: Sequence[str], rows_file: Path, rows: int, timeout: float = 120) -> int:
    """Run ``command`` and SIGKILL it as soon as ``rows_file`` holds ``rows`` lines (or after ``timeout`` s).

    Returns:
        The number of lines ``rows_file`` holds after the kill.
    """
    process = subprocess.Popen(list(command))
    try:
        wait_for_rows(rows_file, rows, timeout)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    return rows_file.read_bytes().count(b"\n")
