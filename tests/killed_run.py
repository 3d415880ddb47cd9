"""Killing a command-line run mid-way, as a crash or ``kill -9`` would, for the ``--resume`` tests."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def kill_after_rows(command: Sequence[str], rows_file: Path, rows: int, timeout: float = 120) -> int:
    """Run ``command`` and SIGKILL it as soon as ``rows_file`` holds ``rows`` lines (or after ``timeout`` s).

    Returns:
        The number of lines ``rows_file`` holds after the kill.
    """
    process = subprocess.Popen(list(command))
    try:
        deadline = time.monotonic() + timeout
        while (not rows_file.exists() or rows_file.read_bytes().count(b"\n") < rows) and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    return rows_file.read_bytes().count(b"\n")
