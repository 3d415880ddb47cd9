"""contrique-score's output files: rendering, streaming sinks, and resume repair (contrique_infer.output)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contrique_infer.output import RESULT_COLUMNS, OutputFileError, Sink, render, resume

ROWS = [
    {"source": "a.png", "score": 41.5, "width": 40, "height": 30, "error": None, "error_type": None},
    {"source": "bad.png", "score": None, "width": None, "height": None, "error": "truncated file",
     "error_type": "ImageDecodeError"},
    {"source": "c, \"quoted\".png", "score": 0.125, "width": 33, "height": 25, "error": None, "error_type": None},
]


def test_render_formats() -> None:
    assert render(ROWS[:1], RESULT_COLUMNS, "jsonl", {}) == json.dumps(ROWS[0]) + "\n"
    csv_text = render(ROWS, RESULT_COLUMNS, "csv", {})
    assert csv_text.splitlines()[0] == ",".join(RESULT_COLUMNS)
    assert csv_text.splitlines()[3] == '"c, ""quoted"".png",0.125,33,25,,'
    assert render(ROWS, RESULT_COLUMNS, "csv", {}, header=False) == "".join(csv_text.splitlines(True)[1:])
    assert json.loads(render(ROWS, RESULT_COLUMNS, "json", {"results": ROWS})) == {"results": ROWS}
    table = render(ROWS, RESULT_COLUMNS, "table", {}).splitlines()
    assert table[1].split() == ["41.5000", "a.png", "40x30"] and table[2].startswith("  error  bad.png")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_repairs_a_killed_run(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"out.{fmt}"
    text = render(ROWS, RESULT_COLUMNS, fmt, {})
    path.write_text(text + text.splitlines(True)[-1][:9])  # a kill mid-row: no newline
    assert resume(str(path), fmt) == {"a.png", 'c, "quoted".png'}
    # the partial row and the error row are gone (the failed image is tried again): what is left
    # is exactly the rows with a score
    assert path.read_text() == render([ROWS[0], ROWS[2]], RESULT_COLUMNS, fmt, {})
    assert resume(str(path), fmt) == {"a.png", 'c, "quoted".png'}  # a second resume changes nothing
    assert path.read_text() == render([ROWS[0], ROWS[2]], RESULT_COLUMNS, fmt, {})
    assert not list(tmp_path.glob(".resume-*"))


def test_resume_of_missing_empty_or_header_only_files(tmp_path: Path) -> None:
    assert resume(str(tmp_path / "none.jsonl"), "jsonl") == set()
    (tmp_path / "empty.csv").write_text("")
    assert resume(str(tmp_path / "empty.csv"), "csv") == set()
    (tmp_path / "half-header.csv").write_text("source,sc")
    assert resume(str(tmp_path / "half-header.csv"), "csv") == set()
    assert (tmp_path / "half-header.csv").read_text() == ""  # the header is written afresh


def test_resume_refuses_files_that_are_not_results(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\nnot json\n" + json.dumps(ROWS[2]) + "\n")
    with pytest.raises(OutputFileError, match="line 2 is not a jsonl result row.*move it away"):
        resume(str(bad), "jsonl")
    assert bad.read_text().count("\n") == 3  # left as it was
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(OutputFileError, match="line 1 .*expected the header source,score"):
        resume(str(tmp_path / "other.csv"), "csv")
    (tmp_path / "short.csv").write_text(",".join(RESULT_COLUMNS) + "\na.png,1.0\n")
    with pytest.raises(OutputFileError, match="line 2 .*expected 6 columns"):
        resume(str(tmp_path / "short.csv"), "csv")
    (tmp_path / "list.jsonl").write_text("[1, 2]\n")
    with pytest.raises(OutputFileError, match="'source' and 'score'"):
        resume(str(tmp_path / "list.jsonl"), "jsonl")


def test_sink_appends_and_falls_back_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "out.jsonl"
    with Sink(str(path)) as sink:
        assert not sink.appending
        sink.write("one\n")
        assert path.read_text() == "one\n"  # flushed at once
    with Sink(str(path), append=True) as sink:
        assert sink.appending
        sink.write("two\n")
    assert path.read_text() == "one\ntwo\n" and sink.code == 0
    with Sink(str(tmp_path / "missing" / "out.jsonl")) as sink:
        sink.write("three\n")
    captured = capsys.readouterr()
    assert sink.code == 1 and captured.out == "three\n" and "writing the results to stdout instead" in captured.err
    if Path("/dev/full").exists():  # a full disk, mid-run
        with Sink("/dev/full") as sink:
            sink.write("four\n")
            sink.write("five\n")
        captured = capsys.readouterr()
        assert sink.code == 1 and captured.out == "four\nfive\n" and "remaining results" in captured.err
