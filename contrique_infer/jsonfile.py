"""Reading JSON that may be hostile: bounded size, nesting depth and integer length.

Every JSON document the library reads from a file it did not write in the same call goes through
here: bundle manifests and head files (local or downloaded from the Hub), head files given to
``contrique-export``, and the rows ``contrique-score --resume`` reads back. Python's own parser
has no limits of its own that fail cleanly: a document nested 1,000 deep raises
``RecursionError``, an integer of more than 4,300 digits ``ValueError``, a 1 GB document needs
about 25 GB of memory, and a key given twice in one object silently keeps its last value (so two
readers of one manifest may disagree on, say, a file's sha256). Here each limit is checked before
or while parsing, and every problem is a :class:`JSONError` whose message says which limit was
passed; :func:`read_json` turns it into the caller's :class:`~contrique_infer.errors.PathError`
subclass, naming the file.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import numpy as np

from .errors import PathError
from .regularfile import FileTooLargeError, NotRegularFileError, read_regular

MAX_BYTES = 16 * 1024 * 1024
"""The largest JSON file read (16 MiB). A head of a 4096-value feature takes about 90 kB, a
manifest about 5 kB; parsing takes about 25 bytes of memory per byte of JSON."""
MAX_DEPTH = 32
"""The deepest nesting of arrays and objects accepted (a manifest nests 4 deep)."""
MAX_INT_DIGITS = 100
"""The longest integer literal accepted, in digits (a float64 holds at most 309)."""

_STRING = re.compile(rb'"(?:[^"\\]|\\(?:.|\Z))*+(?:"|\Z)', re.DOTALL)
"""A string literal, or an unterminated one to the end of the document: every match ends at a closing
quote or the end, and the quantifier never gives back, so one pass over the document (no rescan from each
quote of an unterminated string, which took hours for a few hundred kilobytes)."""
_BRACKET_STEP = np.zeros(256, dtype=np.int8)
_BRACKET_STEP[[ord("["), ord("{")]] = 1
_BRACKET_STEP[[ord("]"), ord("}")]] = -1


class JSONError(ValueError):
    """A document that is not JSON, or passes one of this module's limits (the message says which)."""


def loads(data: str | bytes) -> Any:
    """Parse a JSON document within :data:`MAX_DEPTH` and :data:`MAX_INT_DIGITS`.

    Args:
        data: The document (bytes are decoded as UTF-8).

    Raises:
        JSONError: Not valid UTF-8 or JSON, nested deeper than :data:`MAX_DEPTH`, an integer
            longer than :data:`MAX_INT_DIGITS` digits, or an object with a key given twice.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    depth = _depth(raw)
    if depth > MAX_DEPTH:
        raise JSONError(f"nested {depth} levels deep, more than the {MAX_DEPTH} allowed")
    try:
        return json.loads(raw.decode("utf-8"), parse_int=_parse_int, object_pairs_hook=_object)
    except UnicodeDecodeError as exc:
        raise JSONError(f"not UTF-8 text ({exc})") from None
    except json.JSONDecodeError as exc:
        raise JSONError(str(exc)) from None


def read_json(path: str | os.PathLike[str], error: type[PathError], *, max_bytes: int = MAX_BYTES) -> Any:
    """Read and parse a JSON file within this module's limits.

    Args:
        path: The file (a regular file: a FIFO or device is refused without blocking).
        error: The exception to raise, called as ``error(path, reason)``.
        max_bytes: The largest file accepted.

    Raises:
        error: The file cannot be opened or read, is not a regular file, is larger than
            ``max_bytes``, or is not JSON within the limits of :func:`loads`.
    """
    try:
        data = read_regular(path, max_bytes)
    except NotRegularFileError as exc:
        raise error(path, str(exc)) from None
    except FileTooLargeError as exc:
        raise error(path, f"is {exc.size} bytes, more than the {max_bytes} a JSON file may have here") from None
    except OSError as exc:
        raise error(path, f"cannot be read ({exc.strerror or exc})") from exc
    try:
        return loads(data)
    except JSONError as exc:
        raise error(path, f"cannot be read as JSON ({exc})") from None


def _depth(raw: bytes) -> int:
    """The deepest nesting of brackets outside strings (an unterminated string runs to the end)."""
    if not raw:
        return 0
    outside = _STRING.sub(b'""', raw)
    steps = _BRACKET_STEP[np.frombuffer(outside, dtype=np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object, refused when a key appears twice (JSON allows it; readers differ on which value wins)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JSONError(f"gives the key {key!r} twice in one object; keep one")
        out[key] = value
    return out


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise JSONError(f"holds an integer of {digits} digits, more than the {MAX_INT_DIGITS} allowed")
    return int(text)
