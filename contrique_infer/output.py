"""contrique-score's output: rendering rows, writing them as they come, and resuming a killed run.

``csv`` and ``jsonl`` are streamed: each row is written and flushed as soon as its image is
done, so a run killed at image 900,000 keeps 900,000 rows, and ``--resume`` reads them back
(:func:`resume`) to skip those images. ``table`` and ``json`` are rendered at the end.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO, Any

from .errors import PathError

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
    """``--resume`` found a file that is not contrique-score output in the format asked for."""


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
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
        if header:
            writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
        return buf.getvalue()
    return _table(rows, columns)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    if columns == RESULT_COLUMNS:
        cells = [("score", "image", "size or error")] + [
            (f"{r['score']:.4f}" if r["score"] is not None else "error", r["source"],
             f"{r['error_type']}: {r['error']}" if r["error"] else f"{r['width']}x{r['height']}")
            for r in rows
        ]
    else:
        cells = [tuple(columns)] + [tuple("" if r[c] is None else str(r[c]) for c in columns) for r in rows]
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
                self.appending = self._file.tell() > 0
            except OSError as exc:
                self._fall_back(exc, "")

    def _fall_back(self, exc: OSError, written: str) -> None:
        print(f"{PROG}: error: cannot write {self._output} ({exc.strerror or exc}); "
              f"writing the {written}results to stdout instead", file=sys.stderr)
        self.code = 1

    def write(self, text: str) -> None:
        """Write and flush ``text``; if the file fails (a full disk), this and what follows go to stdout."""
        if self._file is not None:
            try:
                self._file.write(text)
                self._file.flush()
                return
            except OSError as exc:
                self._fall_back(exc, "remaining ")
                self.close()
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


def emit(text: str, output: str | None) -> int:
    """Write ``text`` to ``output`` (or stdout; to stdout with an error if ``output`` cannot be
    written). Returns 0, or 1 if ``output`` could not be written."""
    with Sink(output) as sink:
        sink.write(text)
    return sink.code


def resume(path: str, fmt: str) -> set[str]:
    """The sources that ``path`` already holds a score for, after repairing the file in place.

    A run killed mid-write can leave a last line without its newline: it is cut off, never read
    as a result. Rows with an error are removed, so their images are tried again and every
    image still has one row. A missing or empty file means nothing is done yet.

    Args:
        path: The ``-o`` file of an earlier run.
        fmt: Its format, ``jsonl`` or ``csv``.

    Returns:
        The ``source`` of every row with a score.

    Raises:
        OutputFileError: The file cannot be read, or holds something other than result rows.
    """
    try:
        _cut_partial_line(path)
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise OutputFileError(path, f"cannot be read to resume ({exc.strerror or exc})") from exc
    done: set[str] = set()
    dropped = False
    folder = os.path.dirname(os.path.abspath(path))
    with open(path, **_ENCODING) as fh, tempfile.NamedTemporaryFile(
        "w", dir=folder, prefix=".resume-", delete=False, **_ENCODING
    ) as kept:
        try:
            for row, text in _rows(fh, fmt, path):
                if row is not None and row["score"] is None:
                    dropped = True
                    continue
                if row is not None:
                    done.add(row["source"])
                kept.write(text)
        except BaseException:
            os.unlink(kept.name)
            raise
    if dropped:
        os.replace(kept.name, path)
    else:
        os.unlink(kept.name)
    return done


def _cut_partial_line(path: str) -> None:
    """Truncate ``path`` after its last newline (a kill can leave half a row after it)."""
    with open(path, "rb+") as fh:
        end = fh.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            start = max(0, position - (1 << 16))
            fh.seek(start)
            block = fh.read(position - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                position = start + newline + 1
                break
            position = start
        if position != end:
            fh.truncate(position)


def _rows(fh: IO[str], fmt: str, path: str) -> Iterator[tuple[dict[str, Any] | None, str]]:
    """``(row, its text)`` for each row of a result file; a csv header comes as ``(None, text)``."""
    def bad(number: int, reason: str) -> OutputFileError:
        return OutputFileError(path, f"line {number} is not a {fmt} result row of contrique-score ({reason}); "
                                     "not resuming: fix the file, or move it away to start afresh")

    if fmt == "jsonl":
        for number, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise bad(number, str(exc)) from None
            if not isinstance(row, dict) or not isinstance(row.get("source"), str) or "score" not in row:
                raise bad(number, "expected an object with 'source' and 'score'")
            yield row, line
        return
    reader = csv.reader(fh)
    try:
        header = next(reader, None)
        if header is None:
            return
        if tuple(header) != RESULT_COLUMNS:
            raise bad(1, f"expected the header {','.join(RESULT_COLUMNS)}")
        yield None, ",".join(RESULT_COLUMNS) + "\n"
        for values in reader:
            if len(values) != len(RESULT_COLUMNS):
                raise bad(reader.line_num, f"expected {len(RESULT_COLUMNS)} columns")
            row: dict[str, Any] = dict(zip(RESULT_COLUMNS, values))
            row["score"] = row["score"] or None
            yield row, render([row], RESULT_COLUMNS, "csv", {}, header=False)
    except csv.Error as exc:
        raise bad(reader.line_num, str(exc)) from None
