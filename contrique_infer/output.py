"""contrique-score's output: rendering rows and writing them as they come.

``csv`` and ``jsonl`` are streamed: each row is written and flushed as soon as its image is
done, so a run killed at image 900,000 keeps 900,000 rows, which ``--resume`` reads back
(:mod:`contrique_infer.resume`) to skip those images. Each row also records what its score was
made with (the fields of :class:`~contrique_infer.report.ReportHeader`, :func:`result_columns`).
``table`` and ``json`` are rendered at the end, and replace an ``-o`` file whole (:func:`emit`).
Every format's ``-o`` file is claimed for the run (:class:`OutputLock`), so that a second run
writing it is refused.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

try:
    import fcntl
except ImportError:  # Windows: result files are not locked
    fcntl = None  # type: ignore[assignment]

from .atomicfile import link_target, remove_staged, replace_file
from .commands import printable, say, write_stdout
from .errors import PathError

if TYPE_CHECKING:
    from .report import ReportHeader

FORMATS = ("table", "csv", "jsonl", "json", "html")
STREAMED = ("jsonl", "csv")
"""The formats written row by row (and that ``--resume`` reads back); ``html`` is a report
(:mod:`contrique_infer.report`) that streams its rows to its own folder."""
_SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".html": "html", ".htm": "html"}
"""The format an ``-o`` file's extension names (:func:`format_for`)."""
RESULT_COLUMNS = ("source", "score", "width", "height", "error", "error_type")
"""The columns every result row starts with (and every row of a result file holds)."""
NOTE_COLUMN = "note"
"""The last column of a csv or jsonl result row: what to know about a score that is not an error
(:attr:`~contrique_infer.results.ScoreResult.note`), empty if nothing. Files written before it
existed (up to 2026-12-07) end with the fields of what the score was made with; ``--resume``
continues such a csv file without it."""
HEAD_COLUMNS = ("name", "kind", "dataset", "score_scale", "higher_is_better", "default", "description")
PROG = "contrique-score"
RESULT_ENCODING = {"encoding": "utf-8", "errors": "surrogateescape", "newline": ""}
"""How result files are read and written: file names that are not valid UTF-8 (Python holds their
bytes as lone surrogates) round-trip as their original bytes, as ``ls`` shows them."""


class OutputFileError(PathError):
    """``--resume`` found a file that is not contrique-score output in the format asked for, or
    whose scores were made with other settings."""


def format_for(output: str | None) -> str:
    """The format of results written to ``output`` where none is named: the one its extension names
    (``.csv``, ``.jsonl``, ``.json``, ``.html`` or ``.htm``, in any case), else ``table``."""
    return "table" if output is None else _SUFFIX_FORMATS.get(os.path.splitext(output)[1].lower(), "table")


def result_columns(made_with: ReportHeader | None = None) -> tuple[str, ...]:
    """The columns of a csv or jsonl result row: :data:`RESULT_COLUMNS`, then, ``made_with`` given,
    the fields of what its score was made with (``model``, ``variant``, ``head``, ...), then
    :data:`NOTE_COLUMN`."""
    recorded = () if made_with is None else tuple(made_with.to_dict())
    return (*RESULT_COLUMNS, *recorded, NOTE_COLUMN)


def render(rows: list[dict[str, Any]], columns: Sequence[str], fmt: str, document: dict[str, Any], *,
           header: bool = True) -> str:
    """Rows as text in an output format.

    Args:
        rows: One dict per row.
        columns: The columns, in order (csv and table).
        fmt: One of :data:`FORMATS` but ``html``.
        document: What ``json`` writes (the rows with their metadata).
        header: Start csv with its header line.
    """
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(row) + "\n" for row in rows)
    if fmt == "csv":
        lines = [",".join(columns) + "\n"] if header else []
        buf = io.StringIO()
        # '\r' in the line terminator makes the writer quote a field holding a carriage return too (a
        # file name may); each row then ends with '\n' alone, like every line of a result file.
        writer = csv.writer(buf, lineterminator="\r\n")
        for row in rows:
            buf.seek(0)
            buf.truncate()
            writer.writerow("" if row.get(c) is None else row[c] for c in columns)
            lines.append(buf.getvalue()[:-2] + "\n")
        return "".join(lines)
    return _table(rows, columns)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    if columns == RESULT_COLUMNS:
        cells = [("score", "image", "size or error")] + [
            (f"{r['score']:.4f}" if r["score"] is not None else "error", printable(r["source"]),
             printable(f"{r['error_type']}: {r['error']}") if r["error"] else f"{r['width']}x{r['height']}")
            for r in rows
        ]
    else:
        cells = [tuple(columns)] + [tuple("" if r[c] is None else printable(str(r[c])) for c in columns) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for row in cells:
        first = row[0].rjust(widths[0]) if columns == RESULT_COLUMNS else row[0].ljust(widths[0])
        parts = [first] + [c.ljust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


class Sink:
    """Where results go: ``output`` (created, or appended to), else stdout; every write is flushed.

    If ``output`` cannot be opened or written, the results (from the one that failed on) go to
    stdout instead, with an error on stderr, and :attr:`code` becomes 1.

    Attributes:
        appending: Whether the file already held rows (csv then needs no header).
        code: 0, or 1 if the output file could not be opened.
    """

    def __init__(self, output: str | None, *, append: bool = False) -> None:
        self.code = 0
        self.appending = False
        self._output = output
        self._file: IO[str] | None = None
        if output is not None:
            try:
                self._file = open(output, "a" if append else "w", **RESULT_ENCODING)  # noqa: SIM115
                self.appending = self._file.seekable() and self._file.tell() > 0  # a pipe has no position
            except OSError as exc:
                self._fall_back(exc, "")

    def _fall_back(self, exc: OSError, written: str) -> None:
        _unwritable(self._output, exc, written)
        self.code = 1

    def write(self, text: str) -> None:
        """Write and flush ``text``; if the file fails (a full disk), this and what follows go to stdout.

        Raises:
            StdoutError: Stdout cannot be written (a full disk, or closed; a closed pipe is ``BrokenPipeError``).
        """
        if self._file is not None:
            try:
                self._file.write(text)
                self._file.flush()
                return
            except OSError as exc:
                self._fall_back(exc, "remaining ")
                self.close()
        write_stdout(text)

    def close(self) -> None:
        """Close the output file (rows that could not be flushed were already sent to stdout)."""
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError:
                pass

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OutputLock:
    """One run's claim on a result file: a second run writing the same file is refused at once,
    instead of interleaving its rows with this one's (a scheduled job that overlaps itself).

    An advisory lock (``flock``) on the file, created if missing, held until :meth:`release`. It
    claims nothing where it cannot: on systems without ``fcntl`` (Windows), for a file that is not
    regular (``/dev/null``, a pipe), or that cannot be opened (the writer then reports why). A run
    that fails before writing calls :meth:`discard_unused`, so that it leaves no empty file behind.

    Args:
        path: The result file.

    Raises:
        OutputFileError: Another run holds the file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd: int | None = None
        self._created = False
        self.follow()

    def follow(self) -> None:
        """Claim the file now at :attr:`path`, then let go of the one claimed before: call it after
        the file was replaced by a new one (as :func:`resume` does when it drops failed rows).

        Raises:
            OutputFileError: Another run holds the file (the earlier claim is kept).
        """
        if fcntl is None or self._holds_path():
            return
        flags = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            try:
                fd, created = os.open(self.path, flags), False
            except FileNotFoundError:  # made here, so that a second run finds the claim
                fd, created = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o666), True
        except (OSError, ValueError):
            return
        try:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode):
                os.close(fd)
                return
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not os.path.samestat(opened, os.stat(self.path)):  # replaced between the open and the lock
                raise BlockingIOError
        except BlockingIOError:
            os.close(fd)
            raise OutputFileError(self.path, "is being written by another contrique-score run (it holds a lock on "
                                             "the file); wait for that run to end, or write to another file") from None
        except OSError:  # a file system without locks
            os.close(fd)
            return
        self.release()
        self._fd, self._created = fd, created
        removed = remove_staged(self.path)  # what a run killed while it replaced this file left beside it
        if removed:
            say(printable(f"{PROG}: note: removed {len(removed)} temporary file(s) that an earlier run, killed while "
                          f"it rewrote {self.path}, left beside it: {', '.join(removed)}"))

    def _holds_path(self) -> bool:
        """Whether the file claimed is still the one at :attr:`path` (a second lock on it would fail)."""
        try:
            return self._fd is not None and os.path.samestat(os.fstat(self._fd), os.stat(self.path))
        except (OSError, ValueError):
            return False

    def discard_unused(self) -> None:
        """Let go of the file, and remove it if this claim created it and it is still empty (the
        run failed before its first row: no empty result file is left behind)."""
        if self._created and self._holds_path() and self._fd is not None and os.fstat(self._fd).st_size == 0:
            os.unlink(self.path)
        self.release()

    def release(self) -> None:
        """Let go of the file (also done when the process ends)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _unwritable(output: str | None, exc: OSError, written: str) -> None:
    """Say on stderr that ``output`` cannot be written and that the (``written``: remaining) results go to stdout."""
    say(printable(f"{PROG}: error: cannot write {output} ({exc.strerror or exc}); "
                  f"writing the {written}results to stdout instead"))


def emit(text: str, output: str | None) -> int:
    """Write ``text``, a whole output (``table``, ``json``, ``--list-heads``), to ``output``, or to stdout.

    A regular file (or a new one) is replaced whole (:func:`~contrique_infer.atomicfile.replace_file`,
    keeping its permissions; a symbolic link stays one): a reader finds the old text or the new, never
    a part, and a write that fails leaves the file as it was. Anything else (``/dev/stdout``, a pipe, a
    device) is written to.

    Returns:
        0, or 1 if ``output`` could not be written (the text then goes to stdout, with an error on stderr).

    Raises:
        StdoutError: Stdout cannot be written (a full disk, or closed; a closed pipe is ``BrokenPipeError``).
    """
    code = 0
    if output is not None:
        try:
            found: os.stat_result | None = os.stat(output)  # a symbolic link followed
        except OSError:  # a new file (or one that cannot be written: replace_file says why)
            found = None
        # A file not writable by this user is not replaced: the Sink reports it, as for csv.
        if found is None or (stat.S_ISREG(found.st_mode) and os.access(output, os.W_OK)):
            try:
                replace_file(link_target(output), text.encode(RESULT_ENCODING["encoding"], RESULT_ENCODING["errors"]))
                return 0
            except OSError as exc:
                _unwritable(output, exc, "")
                output, code = None, 1
    with Sink(output) as sink:
        sink.write(text)
    return code or sink.code
