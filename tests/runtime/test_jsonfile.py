"""contrique_infer.jsonfile: JSON from untrusted files, within depth, integer and size limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contrique_infer.errors import BundleError
from contrique_infer.jsonfile import MAX_DEPTH, MAX_INT_DIGITS, JSONError, loads, read_json


def test_documents_within_the_limits_parse_as_json_does() -> None:
    document = {"a": [1, -2, 3.5, "x[{\"y\"}]\\", None, True, {"b": []}], "c": "\u00e9[[["}
    text = json.dumps(document)
    assert loads(text) == loads(text.encode()) == json.loads(text)
    deepest = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(deepest) == json.loads(deepest)
    assert loads("9" * MAX_INT_DIGITS) == int("9" * MAX_INT_DIGITS)
    assert loads("-" + "9" * MAX_INT_DIGITS) == -int("9" * MAX_INT_DIGITS)
    assert loads("0." + "1" * 5000) == pytest.approx(0.1111111)  # long fractions are floats, not integers
    assert loads('"' + '[[[[' * 100 + '"') == "[[[[" * 100  # brackets inside strings do not nest


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"nested {MAX_DEPTH + 1} levels deep, more than the 32"),
        ('{"a": ' * 5000 + "1" + "}" * 5000, "nested 5000 levels deep"),
        ("[" * 100_000, "nested 100000 levels deep"),  # not even valid JSON: refused before parsing
        ('"\\\\"' + "[" * 40, "nested 40 levels deep"),  # an escaped backslash ends the string
        ("1" * (MAX_INT_DIGITS + 1), "holds an integer of 101 digits, more than the 100 allowed"),
        ('{"n": -' + "7" * 4301 + "}", "holds an integer of 4301 digits"),
        ("{'a': 1}", "Expecting property name enclosed in double quotes"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        ('{"sha256": "aa", "size": 1, "sha256": "bb"}', "gives the key 'sha256' twice in one object; keep one"),
        ('[{"a": {"b": 1, "b": 1}}]', "gives the key 'b' twice"),  # nested, even with equal values
    ],
)
def test_documents_past_a_limit_are_json_errors(text: str | bytes, reason: str) -> None:
    with pytest.raises(JSONError, match=reason.replace("(", r"\(").replace("[", r"\[")):
        loads(text)


def test_read_json_names_the_file_and_the_reason(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"a": [1, 2]}')
    assert read_json(good, BundleError) == {"a": [1, 2]}
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 1000 + "]" * 1000)
    with pytest.raises(BundleError, match=rf"^{deep}: cannot be read as JSON \(nested 1000 levels deep"):
        read_json(deep, BundleError)
    big = tmp_path / "big.json"
    big.write_text(json.dumps(["x" * 200]))
    with pytest.raises(BundleError, match=rf"^{big}: is 204 bytes, more than the 100 a JSON file may have here$"):
        read_json(big, BundleError, max_bytes=100)
    with pytest.raises(BundleError, match="no such file|No such file"):
        read_json(tmp_path / "missing.json", BundleError)
    os.mkfifo(tmp_path / "fifo.json")
    with pytest.raises(BundleError, match=r"fifo.json: is a named pipe \(FIFO\), not a regular file"):
        read_json(tmp_path / "fifo.json", BundleError)  # refused, not waited on


@pytest.mark.parametrize("tail", [b"", b"\\", b"]]]"])
def test_an_unterminated_string_of_escaped_quotes_is_refused_in_one_pass(tail: bytes) -> None:
    # Each quote of an unterminated string used to start a rescan to the end: 16 KB took 0.9 s, 200 KB
    # hours. 8 MB of it (about what 16 MiB files may hold) must be refused like any broken document;
    # it is run in a subprocess with a generous limit only so that a regression fails instead of hanging.
    code = ("from contrique_infer.jsonfile import loads, JSONError\n"
            f"doc = b'\"' + b'\\\\\"' * 4_000_000 + {tail!r}\n"
            "try:\n    loads(doc)\nexcept JSONError as exc:\n    print(str(exc)[:40])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.startswith("Unterminated string starting at")


def test_brackets_inside_strings_and_escapes_do_not_count_as_nesting() -> None:
    assert loads('["a\\"b", [1, {"x": "]]]\\\\"}], "[[[["]') == ["a\"b", [1, {"x": "]]]\\"}], "[[[["]
    deep = "[" * MAX_DEPTH + '"' + "\\\\" * 3 + '"' + "]" * MAX_DEPTH
    assert loads(deep) is not None
    with pytest.raises(JSONError, match=f"nested {MAX_DEPTH + 1} levels deep"):
        loads("[" + deep + "]")
