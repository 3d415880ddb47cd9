"""contrique-score's output: rendering rows, writing them as they come, and resuming a killed run.

``csv`` and ``jsonl`` are streamed: each row is written and flushed as soon as its image is
done, so a run killed at image 900,000 keeps 900,000 rows, and ``--resume`` reads them back
(:func:`resume`) to skip those images. Each row also records what its score was made with (the
fields of :class:`~contrique_infer.report.ReportHeader`, :func:`result_columns`), so that
``--resume`` refuses to add scores of another model, head, variant or reference, with or without
``--apply-exif`` otherwise, of a bundle changed since (``bundle_digest``) or against a reference file
replaced since at the same path (``reference_digest``) to the file.
``table`` and ``json`` are rendered at the end, and replace an ``-o`` file whole (:func:`emit`).
Every format's ``-o`` file is claimed for the run (:class:`OutputLock`), so that a second run
writing it is refused.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, BinaryIO

try:
    import fcntl
except ImportError:  # Windows: result files are not locked
    fcntl = None  # type: ignore[assignment]

from .atomicfile import link_target, replace_file
from .commands import StdoutError, printable, say
from .errors import PathError
from .jsonfile import JSONError, loads
from .regularfile import NotRegularFileError, open_regular

if TYPE_CHECKING:
    from .report import ReportHeader

FORMATS = ("table", "csv", "jsonl", "json", "html")
STREAMED = ("jsonl", "csv")
"""The formats written row by row (and that ``--resume`` reads back); ``html`` is a report
(:mod:`contrique_infer.report`) that streams its rows to its own folder."""
RESULT_COLUMNS = ("source", "score", "width", "height", "error", "error_type")
HEAD_COLUMNS = ("name", "kind", "dataset", "score_scale", "higher_is_better", "default", "description")
PROG = "contrique-score"
_ENCODING = {"encoding": "utf-8", "errors": "surrogateescape", "newline": ""}
"""How result files are read and written: file names that are not valid UTF-8 (Python holds their
bytes as lone surrogates) round-trip as their original bytes, as ``ls`` shows them."""


class OutputFileError(PathError):
    """``--resume`` found a file that is not contrique-score output in the format asked for, or
    whose scores were made with other settings."""


def result_columns(made_with: ReportHeader | None = None) -> tuple[str, ...]:
    """The columns of a csv or jsonl result row: :data:`RESULT_COLUMNS`, then, ``made_with`` given,
    the fields of what its score was made with (``model``, ``variant``, ``head``, ...)."""
    return RESULT_COLUMNS if made_with is None else (*RESULT_COLUMNS, *made_with.to_dict())


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
                self._file = open(output, "a" if append else "w", **_ENCODING)  # noqa: SIM115
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
        try:
            _write_stdout(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutError(exc.errno, f"cannot write the results to stdout ({exc.strerror or exc})") from exc

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


def _write_stdout(text: str) -> None:
    """Write and flush ``text`` on stdout, as bytes where its encoding refuses a name in it.

    Raises:
        OSError: Stdout cannot be written, or there is none (``>&-``: ``sys.stdout`` is None).
    """
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
                replace_file(link_target(output), text.encode(_ENCODING["encoding"], _ENCODING["errors"]),
                             mode=None if found is None else stat.S_IMODE(found.st_mode))
                return 0
            except OSError as exc:
                _unwritable(output, exc, "")
                output, code = None, 1
    with Sink(output) as sink:
        sink.write(text)
    return code or sink.code


def resume(path: str, fmt: str, made_with: ReportHeader | None = None) -> set[str]:
    """The sources that ``path`` already holds a score for, after repairing the file in place.

    The file is first read through, unchanged, and must be contrique-score output in ``fmt``:
    every complete line a result row (and a csv header first) with the columns of
    :func:`result_columns`, each made with ``made_with`` if it is given, and anything after the last
    newline the beginning of a row, which a run killed mid-write leaves. Only then is it repaired: that
    half-written line is cut off, and rows with an error are removed (through a new file that
    replaces it, so that the file is never left half-rewritten), so their images are tried again
    and every image still has one row. A missing or empty file means nothing is done yet.

    Args:
        path: The ``-o`` file of an earlier run.
        fmt: Its format, ``jsonl`` or ``csv``.
        made_with: What the scores to add are made with; None: rows without these fields (a report's).

    Returns:
        The ``source`` of every row with a score.

    Raises:
        OutputFileError: The file is not a regular file, cannot be read or repaired (it is then
            left as it was), holds something other than result rows, or rows made with other
            settings than ``made_with`` or that do not record them (it is left as it is).
    """
    done: set[str] = set()
    failed = 0
    with _open_for_resume(path) as fh:
        if fh is None:
            return done
        lines = _Lines(fh, path, fmt)
        for row, _ in _rows(lines, fmt, path, made_with):
            if row is not None and row["score"] is None:
                failed += 1
            elif row is not None:
                done.add(row["source"])
        if lines.partial and not _starts_a_row(lines.partial, fmt, lines.count, result_columns(made_with)):
            raise _not_results(path, fmt, lines.count + 1, "an incomplete last line that does not start a result row")
    if failed:
        _drop_failed_rows(path, fmt, failed, made_with)
    elif lines.partial:
        _truncate(path, lines.complete_bytes)
    return done


MAX_LINE = 1 << 20
"""The longest line (in bytes) a result file may have: a row holds a path and a message."""


@contextmanager
def _open_for_resume(path: str) -> Iterator[IO[bytes] | None]:
    """The file, binary (None if it does not exist yet), refusing anything but a regular file."""
    try:
        fh = open_regular(path)
    except FileNotFoundError:
        fh = None
    except NotRegularFileError as exc:
        raise OutputFileError(path, f"{exc}; --resume reads back the file an earlier run wrote") from None
    except OSError as exc:
        raise OutputFileError(path, f"cannot be read to resume ({exc.strerror or exc})") from exc
    if fh is None:
        yield None
        return
    with fh:
        yield fh


class _Lines:
    """The complete lines of a result file as text, each at most :data:`MAX_LINE` bytes, in order.

    Lines end at a newline only (a csv field may hold a carriage return); they are decoded as result files
    are written (:data:`_ENCODING`), so that writing one back gives its bytes.

    Attributes:
        partial: What follows the last newline ("" if the file ends with one), once iterated.
        count: How many complete lines were read.
        complete_bytes: The size in bytes of the complete lines (where ``partial`` starts).
    """

    def __init__(self, fh: IO[bytes], path: str, fmt: str) -> None:
        self._fh, self._path, self._fmt = fh, path, fmt
        self.partial = ""
        self.count = self.complete_bytes = 0

    def __iter__(self) -> Iterator[str]:
        while line := self._fh.readline(MAX_LINE + 1):
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    raise _not_results(self._path, self._fmt, self.count + 1, f"longer than {MAX_LINE} bytes")
                self.partial = line.decode("utf-8", "surrogateescape")
                return
            self.count += 1
            self.complete_bytes += len(line)
            yield line.decode("utf-8", "surrogateescape")

    def give_back(self, text: str) -> None:
        """Make ``text``, the last complete lines read, the start of :attr:`partial`: a csv row cut inside a
        quoted field that goes on past a newline (a file name holding one)."""
        self.partial = text + self.partial
        self.count -= text.count("\n")
        self.complete_bytes -= len(text.encode(_ENCODING["encoding"], _ENCODING["errors"]))


def _starts_a_row(text: str, fmt: str, complete_lines: int, columns: Sequence[str]) -> bool:
    """Whether ``text``, an incomplete last line, can be the start of what contrique-score writes there."""
    if fmt == "jsonl":
        start = '{"source": '
        return start.startswith(text) or text.startswith(start)
    header = ",".join(columns) + "\n"
    return complete_lines > 0 or header.startswith(text)


def _drop_failed_rows(path: str, fmt: str, failed: int, made_with: ReportHeader | None) -> None:
    """Rewrite ``path`` without its rows with an error and without an incomplete last line, through a
    new file in the same folder that replaces it (:mod:`contrique_infer.atomicfile`, with ``path``'s
    permissions); on failure (a full disk) ``path`` is left as it was. A symbolic link stays one: the
    file it points to is replaced."""
    target = link_target(path)

    def write_kept(out: BinaryIO) -> None:
        with open_regular(path) as fh:
            for row, text in _rows(_Lines(fh, path, fmt), fmt, path, made_with):
                if row is None or row["score"] is not None:
                    out.write(text.encode(_ENCODING["encoding"], _ENCODING["errors"]))

    try:
        replace_file(target, write_kept, mode=stat.S_IMODE(os.stat(target).st_mode))
    except OSError as exc:
        raise OutputFileError(
            path, f"cannot be rewritten without its {failed} failed row(s) ({exc.strerror or exc}); it was left as "
            "it was: free some space (or fix the folder's permissions) and resume again",
        ) from exc


def _truncate(path: str, size: int) -> None:
    """Cut ``path`` to ``size`` bytes (the half-written row a kill left after the last newline)."""
    try:
        os.truncate(path, size)
    except OSError as exc:
        raise OutputFileError(path, f"cannot remove its incomplete last line ({exc.strerror or exc})") from exc


def _not_results(path: str, fmt: str, number: int, reason: str) -> OutputFileError:
    return OutputFileError(path, f"line {number} is not a {fmt} result row of contrique-score ({reason}); "
                                 "not resuming: fix the file, or move it away to start afresh")


def _score_value(value: Any, path: str, fmt: str, number: int) -> float | None:
    """A row's score as a number, or None where the row has none to keep: an error row, or a score
    that is NaN or infinite (contrique-score 0.1.0 wrote ``NaN``), so that its image is tried again.

    Raises:
        OutputFileError: The score is neither (text, or in a csv anything ``float`` does not read).
    """
    if value is None:
        return None
    if isinstance(value, str) and fmt == "csv":
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _not_results(path, fmt, number, f"the score {value!r} is not a number")
    return float(value) if math.isfinite(value) else None


def _rows(lines: _Lines, fmt: str, path: str,
          made_with: ReportHeader | None) -> Iterator[tuple[dict[str, Any] | None, str]]:
    """``(row, its text)`` for each row of a result file's complete lines; a csv header comes as
    ``(None, text)``, and a csv row that the file's end cuts inside a quoted field is given back to
    ``lines.partial`` (:meth:`_Lines.give_back`). With ``made_with``, every row must record it
    (:func:`result_columns`)."""
    if fmt == "jsonl":
        expected = {} if made_with is None else made_with.to_dict()  # the field names
        for number, line in enumerate(lines, 1):
            try:
                row = loads(line[1:] if number == 1 and line.startswith("\ufeff") else line)  # a byte-order mark
            except JSONError as exc:
                raise _not_results(path, fmt, number, str(exc)) from None
            if not isinstance(row, dict) or not isinstance(row.get("source"), str) or any(
                    key not in row for key in RESULT_COLUMNS):
                raise _not_results(path, fmt, number, f"expected an object with {', '.join(map(repr, RESULT_COLUMNS))}")
            if made_with is not None and not made_with.recorded_by(row):
                raise _made_with_other({name: row[name] for name in expected if name in row}, made_with, path, fmt,
                                       number)
            row["score"] = _score_value(row["score"], path, fmt, number)
            yield row, line
        return
    columns = result_columns(made_with)
    consumed: list[str] = []
    ended = False  # the reader asked for a line past the last: it was inside a quoted field there

    def feed() -> Iterator[str]:
        nonlocal ended
        for line in lines:
            consumed.append(line)
            yield line
        ended = True

    reader = csv.reader(feed())
    try:
        header = next(reader, None)
        if header is None:
            return
        if header and header[0].startswith("\ufeff"):  # a byte-order mark, as spreadsheets save csv
            header[0] = header[0][1:]
        header_fields = header[len(RESULT_COLUMNS):]
        if made_with is not None and tuple(header[:len(RESULT_COLUMNS)]) == RESULT_COLUMNS and \
                made_with.unrecorded(header_fields) is not None:  # the header of an earlier version's file
            raise _made_with_other(dict.fromkeys(header_fields), made_with, path, fmt, 1)
        if tuple(header) != columns:
            raise _not_results(path, fmt, 1, f"expected the header {','.join(columns)}")
        yield None, "".join(consumed)
        consumed.clear()
        for values in reader:
            text = "".join(consumed)
            consumed.clear()
            if ended:  # a row a kill cut after a newline in a quoted field: the rest of it is missing
                lines.give_back(text)
                return
            if len(values) != len(columns):
                raise _not_results(path, fmt, reader.line_num, f"expected {len(columns)} columns")
            if made_with is not None:
                found = type(made_with).from_csv(values[len(RESULT_COLUMNS):])
                if not made_with.recorded_by(found):
                    raise _made_with_other(found, made_with, path, fmt, reader.line_num)
            row: dict[str, Any] = dict(zip(columns, values))
            row["score"] = _score_value(row["score"] or None, path, fmt, reader.line_num)
            yield row, text
    except csv.Error as exc:
        raise _not_results(path, fmt, reader.line_num, str(exc)) from None


def _made_with_other(found: dict[str, Any], made_with: ReportHeader, path: str, fmt: str,
                     number: int) -> OutputFileError:
    """Why line ``number``, which records ``found`` as what made its score (only some fields, or
    none: an earlier contrique-score's row), cannot take scores made with ``made_with``."""
    missing = made_with.unrecorded(found)
    if missing:
        return OutputFileError(path, "was written by an earlier contrique-score, whose rows do not record what their "
                                     f"scores were made with ({', '.join(missing)}), so they cannot be checked "
                                     f"against {made_with.describe()}; resume it with the contrique-score version that "
                                     "wrote it, or write to a new -o file")
    problem = type(made_with).problem(found)
    if problem:
        return _not_results(path, fmt, number, f"what made its score is recorded wrongly: {problem}")
    earlier = type(made_with).from_dict(found, path)
    return OutputFileError(path, f"line {number} {made_with.refusal(earlier, 'write to a new -o file')}")
