"""contrique-score's output files: rendering, streaming sinks and claims on them (contrique_infer.output)."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from result_rows import MADE_WITH, OTHER_SETTINGS, ROWS, made

from contrique_infer import atomicfile
from contrique_infer.commands import printable
from contrique_infer.output import (
    HEAD_COLUMNS,
    RESULT_COLUMNS,
    OutputFileError,
    OutputLock,
    Sink,
    emit,
    render,
    result_columns,
)


def test_render_formats() -> None:
    assert render(ROWS[:1], RESULT_COLUMNS, "jsonl", {}) == json.dumps(ROWS[0]) + "\n"
    csv_text = render(ROWS, RESULT_COLUMNS, "csv", {})
    assert csv_text.splitlines()[0] == ",".join(RESULT_COLUMNS)
    assert csv_text.splitlines()[3] == '"c, ""quoted"".png",0.125,33,25,,'
    assert render(ROWS, RESULT_COLUMNS, "csv", {}, header=False) == "".join(csv_text.splitlines(True)[1:])
    assert json.loads(render(ROWS, RESULT_COLUMNS, "json", {"results": ROWS})) == {"results": ROWS}
    table = render(ROWS, RESULT_COLUMNS, "table", {}).splitlines()
    assert table[1].split() == ["41.5000", "a.png", "40x30"] and table[2].startswith("  error  bad.png")


def test_printable_escapes_what_would_change_a_terminal_line() -> None:
    assert printable("a\nb\rc\td\x1b[31me\x7f\u202ef\u2066g.png") == "a\\nb\\rc\\td\\x1b[31me\\x7f\\u202ef\\u2066g.png"
    assert printable("café 写真 \udce9.png") == "café 写真 \udce9.png"  # letters and undecodable bytes stay
    # invisible, so "a\u200b.png" looked like "a.png" (in the terminal and in the HTML report); joiners stay
    assert printable("a\u200bb\u2060c\ufeffd\u200de.png") == "a\\u200bb\\u2060c\\ufeffd\u200de.png"
    table = render([{**ROWS[1], "source": "two\nlines.png", "error": "bad\x1b[2J"}], RESULT_COLUMNS, "table", {})
    assert table.splitlines()[1].split() == ["error", "two\\nlines.png", "ImageDecodeError:", "bad\\x1b[2J"]
    head = {"name": "q", "kind": "nr", "dataset": "d", "score_scale": "s", "higher_is_better": True, "default": True,
            "description": "a bundle's text\x1b]0;title\x07\r\nsecond line"}
    lines = render([head], HEAD_COLUMNS, "table", {}).splitlines()
    assert len(lines) == 2 and lines[1].endswith("a bundle's text\\x1b]0;title\\x07\\r\\nsecond line")


def test_rows_record_what_made_their_scores_after_the_result_columns() -> None:
    assert result_columns() == (*RESULT_COLUMNS, "note")
    assert result_columns(MADE_WITH) == (*RESULT_COLUMNS, "model", "variant", "head", "head_kind", "score_scale",
                                         "higher_is_better", "reference", "apply_exif", "bundle_digest",
                                         "reference_digest", "note")
    text = render(made(ROWS[:1]), result_columns(MADE_WITH), "csv", {})
    assert text.splitlines() == [",".join(result_columns(MADE_WITH)),
                                 'a.png,41.5,40,30,,,tiny,fp32,quality,nr,"MOS, 0..100",True,,False,0123456789abcdef,,']
    faded = made([{**ROWS[0], "note": "far outside, moved towards the worst end"}])
    assert render(faded, result_columns(MADE_WITH), "csv", {}, header=False).endswith(
        '0123456789abcdef,,"far outside, moved towards the worst end"\n')
    assert json.loads(render(made(ROWS[:1]), result_columns(MADE_WITH), "jsonl", {}))["reference_digest"] is None
    fr = dataclasses.replace(MADE_WITH, **OTHER_SETTINGS["fr"])
    assert render(made(ROWS[:1], fr), result_columns(fr), "csv", {}, header=False) == (
        'a.png,41.5,40,30,,,tiny,fp32,fr,fr,"MOS, 0..100",True,ref.png,False,0123456789abcdef,0011223344556677,\n')
    assert list(json.loads(render(made(ROWS[:1]), result_columns(MADE_WITH), "jsonl", {}))) == list(
        result_columns(MADE_WITH))


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


def test_emit_replaces_a_file_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """json and table: a reader finds the earlier file or the new one, never an emptied or half-written one."""
    path = tmp_path / "out.json"
    path.write_text("earlier\n")
    path.chmod(0o604)
    link = tmp_path / "latest.json"
    link.symlink_to(path.name)
    with open(path) as reader:
        assert emit("new\n", str(link)) == 0
        assert reader.read() == "earlier\n"  # the earlier file, whole: not truncated in place
    assert link.is_symlink() and path.read_text() == "new\n" and path.stat().st_mode & 0o777 == 0o604
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "out.json"]  # no temporary left
    assert emit("fresh\n", str(tmp_path / "new.json")) == 0 and (tmp_path / "new.json").read_text() == "fresh\n"
    assert emit("lost\n", str(tmp_path / "missing" / "out.json")) == 1
    captured = capsys.readouterr()
    assert captured.out == "lost\n" and captured.err == (
        f"contrique-score: error: cannot write {tmp_path / 'missing' / 'out.json'} (No such file or directory); "
        "writing the results to stdout instead\n")
    if Path("/dev/null").exists():  # a device is written to, never replaced by a file (as root it could be)
        assert emit("gone\n", os.devnull) == 0 and stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_emit_on_a_full_disk_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "out.json"
    path.write_text("earlier\n")

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomicfile, "stage", full)
    assert emit("new\n", str(path)) == 1 and path.read_text() == "earlier\n"
    captured = capsys.readouterr()
    assert captured.out == "new\n" and "cannot write" in captured.err and "(No space left on device)" in captured.err


def test_sink_writes_to_a_pipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """-o /dev/stdout piped to another command (| head): a pipe has no position to tell, and needs none."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        for append in (False, True):
            with Sink(str(fifo), append=append) as sink:
                sink.write("row\n")
            assert (sink.code, sink.appending, os.read(reader, 100)) == (0, False, b"row\n")
    finally:
        os.close(reader)
    assert capsys.readouterr() == ("", "")


def test_a_second_claim_on_a_result_file_is_refused_until_the_first_ends(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with OutputLock(path):
        assert path.exists()  # created, so that a second run finds the claim
        with pytest.raises(OutputFileError, match="is being written by another contrique-score run"):
            OutputLock(path)
    with OutputLock(path) as lock:  # released: free again
        lock.follow()  # the same file still: nothing to do, no conflict with itself
        replacement = tmp_path / "new.csv"
        replacement.write_text("rows\n")
        os.replace(replacement, path)  # what resume does when it drops failed rows
        OutputLock(path).release()  # the new file is not claimed yet ...
        lock.follow()
        with pytest.raises(OutputFileError, match="another contrique-score run"):
            OutputLock(path)  # ... now it is


def test_a_claim_removes_only_the_empty_file_it_created(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    OutputLock(path).discard_unused()  # created by the claim, still empty: removed
    assert not path.exists()
    lock = OutputLock(path)
    path.write_text("path,score\n")  # a row was written: kept
    lock.discard_unused()
    assert path.read_text() == "path,score\n"
    OutputLock(path).discard_unused()  # not created by this claim: kept
    path.write_text("")
    OutputLock(path).discard_unused()  # empty, but someone else's: kept
    assert path.exists()
    with OutputLock(path):  # released by discard_unused
        pass


def test_a_claim_removes_the_temporary_files_a_killed_rewrite_left(tmp_path: Path, capsys) -> None:
    """A --resume killed while it rewrote its file (to drop failed rows) left ``.out.jsonl.<8 hex>.tmp``, as
    large as the file, for good: each killed resume added one, and a scheduled run under ``timeout`` could fill
    the disk. The claim on the file (no other run can be writing it then) removes them, and says so."""
    path = tmp_path / "out.jsonl"
    path.write_text("{}\n")
    left = [tmp_path / ".out.jsonl.0123abcd.tmp", tmp_path / ".out.jsonl.89ef4567.tmp"]
    others = [tmp_path / name for name in (".out.jsonl.notes.tmp", ".other.jsonl.0123abcd.tmp", "out.jsonl.0123abcd.tmp",
                                           ".out.jsonl.0123ABCD.tmp")]
    for file in left + others:
        file.write_text("x")
    with OutputLock(path):
        assert not any(file.exists() for file in left) and all(file.exists() for file in others)
    assert capsys.readouterr().err == (f"contrique-score: note: removed 2 temporary file(s) that an earlier run, "
                                       f"killed while it rewrote {path}, left beside it: .out.jsonl.0123abcd.tmp, "
                                       ".out.jsonl.89ef4567.tmp\n")
    with OutputLock(path):  # none left: nothing said
        pass
    assert capsys.readouterr().err == ""


def test_files_that_are_not_regular_are_not_claimed(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with OutputLock(fifo), OutputLock(fifo):  # never waits on the pipe, claims nothing
        pass
    with OutputLock(tmp_path / "no-such-folder" / "out.csv"):  # the writer reports it
        pass
