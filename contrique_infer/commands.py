"""What the project's commands share: argument parsing without exiting, error lines (one line each, control
characters escaped), exit codes.

Every command (``contrique-score``, ``contrique-export``, ``contrique-train``, ``contrique-eval``,
``contrique-distortions``) has ``main(argv=None) -> int``, prints results on stdout and
``PROG: error: ...`` lines on stderr, and exits 0 (done), 1 (failed) or 2 (usage error).
"""

from __future__ import annotations

import argparse
import errno
import io
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr
from types import FrameType

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT
"""Ctrl-C (SIGINT): 130, as a shell reports a command that SIGINT stopped."""
EXIT_BROKEN_PIPE = 128 + getattr(signal, "SIGPIPE", 13)
"""Whoever read stdout stopped reading (``| head``): 141, as a shell reports a command that SIGPIPE stopped."""
EXIT_TERMINATED = 128 + signal.SIGTERM
"""SIGTERM: 143, as a shell reports a command that SIGTERM stopped (:func:`run_terminable`)."""


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace | int:
    """Parse ``argv``; where argparse would exit (``--help``, ``--version``, a usage error), return
    its exit code instead, so that ``main`` returns it. A usage error's lines are best-effort, as
    :func:`say`'s: with stderr closed they are lost (argparse would print the usage line on stdout)."""
    try:
        with _argparse_stderr():
            return parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@contextmanager
def _argparse_stderr() -> Iterator[None]:
    """Where stderr is closed (``sys.stderr`` is None), give argparse a stderr that keeps what it is
    given, for no one: its ``print_usage(sys.stderr)`` would otherwise write to stdout. (Where stderr is
    full, argparse passes over the failed write itself.)"""
    if sys.stderr is not None:
        yield
        return
    with redirect_stderr(io.StringIO()):
        yield


def fail(prog: str, problem: object, code: int = EXIT_FAILED,
         parser: argparse.ArgumentParser | None = None) -> int:
    """Print ``PROG: error: PROBLEM`` on stderr, :func:`printable` (after the usage line when
    ``parser`` is given), best-effort (:func:`say`); returns ``code``."""
    if parser is not None:  # BestEffortStderr: print_usage(None), for a closed stderr, would write to stdout
        parser.print_usage(BestEffortStderr())
    say(printable(f"{prog}: error: {problem}"))
    return code


def say(line: str) -> None:
    """Print ``line`` on stderr, best-effort: where stderr is closed (``2>&-``: ``sys.stderr`` is None),
    full (``2>/dev/full``) or its reader has gone (``2> >(head -c 1)``), the line is lost, never the run
    (a ``BrokenPipeError`` from stderr would otherwise be taken for stdout's closed pipe)."""
    BestEffortStderr().write(line + "\n")


class BestEffortStderr:
    """``sys.stderr`` as a file for progress bars (``tqdm(file=...)``), best-effort as :func:`say`: what
    cannot be written (stderr closed, full, or its reader gone) is lost, never the run."""

    def write(self, text: str) -> int:
        """Write ``text`` to stderr if it can be; returns its length either way."""
        if sys.stderr is not None:  # print(file=None) would write to stdout
            try:
                sys.stderr.write(text)
            except (OSError, ValueError):  # ValueError: a closed file object
                pass
        return len(text)

    def flush(self) -> None:
        """Flush stderr if it can be."""
        if sys.stderr is not None:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass

    @property
    def encoding(self) -> str | None:
        """Stderr's encoding (None where it is closed), which tqdm reads to choose its bar's characters."""
        return getattr(sys.stderr, "encoding", None)

    def isatty(self) -> bool:
        """Whether stderr is a terminal (False where it is closed)."""
        try:
            return sys.stderr is not None and sys.stderr.isatty()
        except (OSError, ValueError):
            return False


_UNPRINTABLE = re.compile(  # C0 and C1 controls, DEL, bidirectional marks and overrides, invisible spaces
    "[\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` for a terminal: control characters (a new line, an escape sequence) and the
    bidirectional-text controls escaped (``\\n``, ``\\x1b``, ``\\u202e``), so that a file name
    cannot split a line, move the cursor or reverse what follows; so are the zero-width space, word
    joiner and byte-order mark (``\\u200b``, ``\\u2060``, ``\\ufeff``), which would make two names look
    alike (the joiners of scripts and emoji, U+200C and U+200D, stay)."""
    return _UNPRINTABLE.sub(lambda m: _ESCAPES.get(m[0]) or
                            (f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}"), text)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


MAX_SEED = 2**32 - 1
"""The largest random seed a command takes: numpy refuses negative seeds, torch those of 2**64 and
more, and the tools derive further seeds from it (a training run adds its rank)."""


def random_seed(text: str) -> int:
    """argparse type: a random seed, an integer from 0 to :data:`MAX_SEED`."""
    try:
        value: int | None = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {MAX_SEED}, got {text!r}")
    return value


def fraction(text: str) -> float:
    """argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


class StdoutError(OSError):
    """Results could not be written to stdout for a reason other than a closed pipe (a full disk, or
    no stdout at all: ``>&-``)."""


def write_stdout(text: str) -> None:
    """Write and flush ``text``, a command's results, on stdout, as bytes where its encoding refuses a
    name in it (a file name that is not UTF-8).

    Raises:
        BrokenPipeError: Stdout's reader closed it (``| head``): :func:`run_quietly` ends quietly.
        StdoutError: Stdout cannot be written otherwise (a full disk) or there is none (``>&-``).
    """
    try:
        if sys.stdout is None:
            raise OSError(errno.EBADF, "it is closed")
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:  # stdout's strict error handler refuses such a file name
            encoding = sys.stdout.encoding or "utf-8"
            try:
                data = text.encode(encoding, "surrogateescape")
            except UnicodeEncodeError:  # characters that stdout's encoding lacks
                data = text.encode(encoding, "backslashreplace")
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise StdoutError(exc.errno, f"cannot write the results to stdout ({exc.strerror or exc})") from exc


def fill_closed_standard_fds() -> None:
    """Open ``os.devnull`` on file descriptors 1 and 2 where they are closed (``>&-``, ``2>&-``), so that
    no file opened later (an ``-o`` file, a checkpoint, a bundle's graph) takes their number and receives
    what C libraries print there (libtiff's ``ZIPDecode: ...``). Python's ``sys.stdout`` or ``sys.stderr``
    stays None: no stdout is an error (:func:`write_stdout`), no stderr is as ``--quiet``."""
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)


def run_quietly(prog: str, body: Callable[[], int]) -> int:
    """Run a command's ``body`` and return its exit code; Ctrl-C and a stdout that fails end it quietly.

    First closed standard file descriptors are filled (:func:`fill_closed_standard_fds`).

    ``KeyboardInterrupt`` prints ``PROG: interrupted`` on stderr and returns
    :data:`EXIT_INTERRUPTED`; ``BrokenPipeError`` (stdout closed by its reader, e.g.
    ``| head -2``) returns :data:`EXIT_BROKEN_PIPE` with nothing more written; a
    :class:`StdoutError` (stdout on a full disk, or closed) prints its reason and returns :data:`EXIT_FAILED`.
    Stdout is then pointed at ``os.devnull`` so that Python's last flush does not fail too. No
    traceback in any case, and what was already written (and flushed) stays.
    """
    fill_closed_standard_fds()
    try:
        return body()
    except KeyboardInterrupt:
        say(f"{prog}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    except StdoutError as exc:
        say(f"{prog}: error: {exc.strerror}")
        _stdout_to_devnull()
        return EXIT_FAILED



class Terminated(BaseException):
    """Raised in the main thread on SIGTERM or SIGHUP, so that a command unwinds (its cleanup runs) as on
    Ctrl-C; a BaseException, so that no ``except Exception`` on the way catches it.

    Attributes:
        signum: The signal; the command's exit code is ``128 + signum``.
        what: What happened, in the words a command ends with: ``terminated``, or ``hung up (its terminal
            was closed)``.
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = int(signum)
        self.what = "terminated" if signum == signal.SIGTERM else "hung up (its terminal was closed)"


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


_ENDING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
"""The signals :func:`run_terminable` handles: ``timeout``'s, a scheduler's or a container's stop, and a
closed terminal's (an SSH session that dropped)."""


def run_terminable(prog: str, body: Callable[[], int]) -> int:
    """:func:`run_quietly`, with SIGTERM and SIGHUP handled as Ctrl-C is, while ``body`` runs in the main thread.

    Either signal unwinds ``body`` (so that what it made is removed or finished, as after Ctrl-C), prints
    ``PROG: terminated`` (``PROG: hung up (its terminal was closed)``) on stderr and returns ``128 + signum``
    (:data:`EXIT_TERMINATED` for SIGTERM); the previous handlers are restored after. A signal the process
    ignores (SIGHUP under ``nohup``) stays ignored. Off the main thread (which alone may handle signals) it is
    :func:`run_quietly`.
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in _ENDING:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                previous[signum] = signal.signal(signum, _terminate)
    try:
        return run_quietly(prog, body)
    except Terminated as stop:
        say(f"{prog}: {stop.what}")
        return 128 + stop.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stdout_to_devnull() -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # stdout is not a file (tests capture it)
        pass
