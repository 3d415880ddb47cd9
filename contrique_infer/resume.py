"""``contrique-score --resume``: read back the rows a killed run wrote, and repair its file.

A streamed result file (``csv`` or ``jsonl``, :mod:`contrique_infer.output`) holds a row per image
done. :func:`resume` reads it back to skip those images, after checking that every row was made
with the same settings (the fields of :class:`~contrique_infer.report.ReportHeader`: model, head,
variant, reference, ``--apply-exif``, ``bundle_digest``, ``reference_digest``), so that scores of
another model, head, variant or reference, or of a bundle or reference file changed since, are
never added to the file; it then cuts a half-written last row and removes rows with an error, so
that their images are tried again.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from .atomicfile import link_target, replace_file
from .jsonfile import JSONError, loads
from .output import RESULT_COLUMNS, RESULT_ENCODING, OutputFileError, result_columns
from .regularfile import NotRegularFileError, open_regular

if TYPE_CHECKING:
    from .report import ReportHeader


@dataclass(frozen=True)
class Resumed:
    """What an earlier run's result file holds, once :func:`resume` accepted and repaired it.

    Attributes:
        done: The ``source`` of every row with a score.
        columns: The columns of the rows to add: those of a csv file's header, which are
            :func:`result_columns` or, in a file written before the ``note`` column
            (:data:`~contrique_infer.output.NOTE_COLUMN`), the same without it; :func:`result_columns`
            for a jsonl file and for a file that does not exist yet or is empty.
    """

    done: frozenset[str]
    columns: tuple[str, ...]


def resume(path: str, fmt: str, made_with: ReportHeader | None = None) -> Resumed:
    """What ``path`` already holds, after repairing the file in place; read once.

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
        The sources scored and the columns to go on with (:class:`Resumed`).

    Raises:
        OutputFileError: The file is not a regular file, cannot be read or repaired (it is then
            left as it was), holds something other than result rows, or rows made with other
            settings than ``made_with`` or that do not record them (it is left as it is).
    """
    done: set[str] = set()
    failed = 0
    with _open_for_resume(path) as fh:
        if fh is None:
            return Resumed(frozenset(), result_columns(made_with))
        lines = _Lines(fh, path, fmt)
        rows = _Rows(lines, fmt, path, made_with)
        for row, _ in rows:
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
    return Resumed(frozenset(done), rows.columns)


def _file_columns(header: Sequence[str], columns: tuple[str, ...]) -> tuple[str, ...]:
    """The columns of a csv result file whose header is ``header``, where ``columns`` are the current
    ones (:func:`result_columns`): those without the last, ``note``, for a file written before it."""
    return columns[:-1] if tuple(header) == columns[:-1] else columns


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
    are written (:data:`RESULT_ENCODING`), so that writing one back gives its bytes.

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
        self.complete_bytes -= len(text.encode(RESULT_ENCODING["encoding"], RESULT_ENCODING["errors"]))


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
            for row, text in _Rows(_Lines(fh, path, fmt), fmt, path, made_with):
                if row is None or row["score"] is not None:
                    out.write(text.encode(RESULT_ENCODING["encoding"], RESULT_ENCODING["errors"]))

    try:
        replace_file(target, write_kept)
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


class _Rows:
    """``(row, its text)`` for each row of a result file's complete lines; a csv header comes as
    ``(None, text)``, and a csv row that the file's end cuts inside a quoted field is given back to
    ``lines.partial`` (:meth:`_Lines.give_back`). With ``made_with``, every row must record it
    (:func:`result_columns`).

    Attributes:
        columns: The file's columns, once its csv header has been read (:func:`_file_columns`);
            :func:`result_columns` before, and for jsonl.
    """

    def __init__(self, lines: _Lines, fmt: str, path: str, made_with: ReportHeader | None) -> None:
        self._lines, self._fmt, self._path, self._made_with = lines, fmt, path, made_with
        self.columns = result_columns(made_with)

    def __iter__(self) -> Iterator[tuple[dict[str, Any] | None, str]]:
        return self._jsonl() if self._fmt == "jsonl" else self._csv()

    def _jsonl(self) -> Iterator[tuple[dict[str, Any] | None, str]]:
        path, fmt, made_with = self._path, self._fmt, self._made_with
        expected = {} if made_with is None else made_with.to_dict()  # the field names
        for number, line in enumerate(self._lines, 1):
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

    def _csv(self) -> Iterator[tuple[dict[str, Any] | None, str]]:
        lines, path, fmt, made_with = self._lines, self._path, self._fmt, self._made_with
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
            columns = _file_columns(header, self.columns)  # a file written before the note column goes on without it
            if tuple(header) != columns:
                raise _not_results(path, fmt, 1, f"expected the header {','.join(columns)}")
            self.columns = columns
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
                    found = type(made_with).from_csv(values[len(RESULT_COLUMNS):])  # the note, if any, is past them
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
