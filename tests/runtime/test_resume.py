"""contrique-score --resume: reading back a killed run's rows, checking their settings and repairing the file
(contrique_infer.resume)."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from result_rows import MADE_WITH, OTHER_SETTINGS, ROWS, made

from contrique_infer import atomicfile
from contrique_infer.output import RESULT_COLUMNS, OutputFileError, render, result_columns
from contrique_infer.resume import Resumed, resume


SAME_SETTINGS = "resume with the same --model, --head, --variant, --fr and --apply-exif, or write to a new -o file"


BUNDLE_CHANGED = ("bundle 'tiny' was changed since (its manifest or files differ): resume with the bundle as it was "
                  "and the same --head, --variant, --fr and --apply-exif, or write to a new -o file")


REFERENCE_CHANGED = ("reference 'ref.png' was changed since (the file's content differs): resume with the reference as "
                     "it was and the same --model, --head, --variant and --apply-exif, or write to a new -o file")


def test_csv_quotes_a_carriage_return_and_resume_reads_it_back(tmp_path: Path) -> None:
    rows = [{**ROWS[0], "source": "cr\rret.png"}, {**ROWS[0], "source": "nl\nline.png"}, ROWS[2]]
    text = render(rows, RESULT_COLUMNS, "csv", {})
    assert text.split("\n")[1] == '"cr\rret.png",41.5,40,30,,'
    assert "\r\n" not in text
    path = tmp_path / "out.csv"
    path.write_text(text, newline="")
    assert resume(str(path), "csv").done == {"cr\rret.png", "nl\nline.png", 'c, "quoted".png'}
    assert path.read_bytes().decode() == text


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_repairs_a_killed_run(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"out.{fmt}"
    text = render(ROWS, RESULT_COLUMNS, fmt, {})
    path.write_text(text + text.splitlines(True)[-1][:9])  # a kill mid-row: no newline
    assert resume(str(path), fmt).done == {"a.png", 'c, "quoted".png'}
    # the partial row and the error row are gone (the failed image is tried again): what is left
    # is exactly the rows with a score
    assert path.read_text() == render([ROWS[0], ROWS[2]], RESULT_COLUMNS, fmt, {})
    assert resume(str(path), fmt).done == {"a.png", 'c, "quoted".png'}  # a second resume changes nothing
    assert path.read_text() == render([ROWS[0], ROWS[2]], RESULT_COLUMNS, fmt, {})
    assert [p.name for p in tmp_path.iterdir()] == [f"out.{fmt}"]  # no temporary file left


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_goes_on_with_a_file_made_with_the_same_settings(tmp_path: Path, fmt: str) -> None:
    for made_with in (MADE_WITH, dataclasses.replace(MADE_WITH, **OTHER_SETTINGS["fr"]),
                      dataclasses.replace(MADE_WITH, apply_exif=True)):
        path = tmp_path / f"out.{fmt}"
        path.write_text(render(made(ROWS, made_with), result_columns(made_with), fmt, {}) + '{"source": "half')
        assert resume(str(path), fmt, made_with).done == {"a.png", 'c, "quoted".png'}
        assert path.read_text() == render(made([ROWS[0], ROWS[2]], made_with), result_columns(made_with), fmt, {})


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("field", ["model", "score_scale"])
def test_resume_goes_on_with_a_bundle_whose_name_or_scale_is_empty(tmp_path: Path, fmt: str, field: str) -> None:
    """The manifest allows "" for both; a csv writes it as an empty cell, as it writes None: it reads back as ""."""
    made_with = dataclasses.replace(MADE_WITH, **{field: ""})
    path = tmp_path / f"out.{fmt}"
    text = render(made(ROWS[:1], made_with), result_columns(made_with), fmt, {})
    path.write_text(text)
    assert resume(str(path), fmt, made_with).done == {"a.png"} and path.read_text() == text
    with pytest.raises(OutputFileError, match=rf"line {2 if fmt == 'csv' else 1} holds scores made with other "
                                              rf"settings \({field} '' there, 'x' now\)"):
        resume(str(path), fmt, dataclasses.replace(MADE_WITH, **{field: "x"}))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("setting", sorted(OTHER_SETTINGS))
def test_resume_refuses_scores_made_with_other_settings_and_leaves_the_file(tmp_path: Path, fmt: str,
                                                                            setting: str) -> None:
    changed = OTHER_SETTINGS[setting]
    other = dataclasses.replace(MADE_WITH, **changed)
    advice = BUNDLE_CHANGED if setting == "bundle" else SAME_SETTINGS
    for earlier, asked in ((MADE_WITH, other), (other, MADE_WITH)):
        path = tmp_path / f"out.{fmt}"
        data = (render(made(ROWS, earlier), result_columns(earlier), fmt, {}) + '{"source": "half').encode()
        path.write_bytes(data)  # an error row and a half-written one: what resuming would repair
        with pytest.raises(OutputFileError) as refused:
            resume(str(path), fmt, asked)
        changes = "; ".join(f"{name} {getattr(earlier, name)!r} there, {getattr(asked, name)!r} now"
                            for name in changed)
        first = 2 if fmt == "csv" else 1  # the first row
        assert str(refused.value) == f"{path}: line {first} holds scores made with other settings ({changes}); {advice}"
        assert path.read_bytes() == data


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_refuses_a_reference_changed_in_place(tmp_path: Path, fmt: str) -> None:
    """The same ``--fr`` path with other content (another image saved over the reference): refused, with
    advice, and the file unchanged; the same path with the same content goes on."""
    earlier = dataclasses.replace(MADE_WITH, **OTHER_SETTINGS["fr"])
    path = tmp_path / f"out.{fmt}"
    data = render(made(ROWS, earlier), result_columns(earlier), fmt, {}).encode()
    path.write_bytes(data)
    with pytest.raises(OutputFileError) as refused:
        resume(str(path), fmt, dataclasses.replace(earlier, reference_digest="8899aabbccddeeff"))
    assert str(refused.value) == (f"{path}: line {2 if fmt == 'csv' else 1} holds scores made with other settings "
                                  "(reference_digest '0011223344556677' there, '8899aabbccddeeff' now); "
                                  + REFERENCE_CHANGED)
    assert path.read_bytes() == data
    assert resume(str(path), fmt, earlier).done == {"a.png", 'c, "quoted".png'}


def test_a_refusal_names_each_field_that_differs(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text(render(made(ROWS[:1]), result_columns(MADE_WITH), "csv", {}))
    with pytest.raises(OutputFileError) as refused:
        resume(str(path), "csv", dataclasses.replace(MADE_WITH, apply_exif=True))
    assert str(refused.value) == (f"{path}: line 2 holds scores made with other settings (apply_exif False there, True "
                                  "now); resume with the same --model, --head, --variant, --fr and --apply-exif, or "
                                  "write to a new -o file")
    with pytest.raises(OutputFileError) as refused:
        resume(str(path), "csv", dataclasses.replace(MADE_WITH, variant="int8", bundle_digest="fedcba9876543210"))
    assert str(refused.value) == (f"{path}: line 2 holds scores made with other settings (variant 'fp32' there, 'int8' "
                                  "now; bundle_digest '0123456789abcdef' there, 'fedcba9876543210' now); "
                                  + BUNDLE_CHANGED)


EARLIER_VERSION = ("was written by an earlier contrique-score, whose rows do not record what their scores were made "
                   "with ({}), so they cannot be checked against model 'tiny' (fp32), head 'quality'; resume it with "
                   "the contrique-score version that wrote it, or write to a new -o file")


ALL_FIELDS = ("model, variant, head, head_kind, score_scale, higher_is_better, reference, apply_exif, bundle_digest, "
              "reference_digest")


PREVIOUS_FIELDS = ("model", "variant", "head", "head_kind", "score_scale", "higher_is_better", "reference")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_refuses_a_file_of_an_earlier_version_that_records_no_settings(tmp_path: Path, fmt: str) -> None:
    old = render(ROWS, RESULT_COLUMNS, fmt, {})  # what contrique-score wrote before rows recorded their settings
    files = {f"old.{fmt}": old}
    if fmt == "csv":
        files["header-only.csv"] = old.split("\n", 1)[0] + "\n"
    else:  # a row of an earlier run after this version's rows
        files["mixed.jsonl"] = render(made(ROWS[:1]), result_columns(MADE_WITH), fmt, {}) + old
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(OutputFileError) as refused:
            resume(str(path), fmt, MADE_WITH)
        assert str(refused.value) == f"{path}: {EARLIER_VERSION.format(ALL_FIELDS)}"
        assert path.read_text() == text
    assert resume(str(tmp_path / f"old.{fmt}"), fmt).done == {"a.png", 'c, "quoted".png'}  # rows that need no settings


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_refuses_a_file_of_the_version_before_apply_exif_and_bundle_digest(tmp_path: Path, fmt: str) -> None:
    columns = (*RESULT_COLUMNS, *PREVIOUS_FIELDS)
    rows = [{name: value for name, value in row.items() if name in columns} for row in made(ROWS)]
    previous = render(rows, columns, fmt, {})  # what the version before these two fields wrote
    path = tmp_path / f"previous.{fmt}"
    for text in (previous, previous.split("\n", 1)[0] + "\n"):  # also a csv header (a jsonl row) alone
        path.write_text(text)
        with pytest.raises(OutputFileError) as refused:
            resume(str(path), fmt, MADE_WITH)
        assert str(refused.value) == f"{path}: {EARLIER_VERSION.format('apply_exif, bundle_digest, reference_digest')}"
        assert path.read_text() == text


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_refuses_rows_without_a_reference_digest(tmp_path: Path, fmt: str) -> None:
    """Rows with ``apply_exif`` and ``bundle_digest`` but no ``reference_digest`` (a format never released) cannot
    be checked for the reference's content: refused as not contrique-score output, the file unchanged."""
    columns = (*RESULT_COLUMNS, *PREVIOUS_FIELDS, "apply_exif", "bundle_digest")
    path = tmp_path / f"unreleased.{fmt}"
    text = render([{name: row[name] for name in columns} for row in made(ROWS)], columns, fmt, {})
    path.write_text(text)
    expected = ("expected the header " + ",".join(result_columns(MADE_WITH)) if fmt == "csv" else
                "what made its score is recorded wrongly: expected an object with the fields model, ")
    with pytest.raises(OutputFileError, match=rf"line 1 is not a {fmt} result row of contrique-score \({expected}"):
        resume(str(path), fmt, MADE_WITH)
    assert path.read_text() == text


def test_resume_refuses_rows_whose_settings_are_not_what_contrique_score_writes(tmp_path: Path) -> None:
    header = ",".join(result_columns(MADE_WITH)) + "\n"
    for fmt, text, line, reason in (
        ("csv", header + "a.png,1.5,1,1,,,tiny,fp32,quality,nr,MOS,yes,,False,0123456789abcdef,,\n", 2,
         "what made its score is recorded wrongly: field 'higher_is_better' must be bool"),
        ("csv", header + "a.png,1.5,1,1,,,tiny,fp32,quality,nr,MOS,True,,false,0123456789abcdef,,\n", 2,
         "what made its score is recorded wrongly: field 'apply_exif' must be bool"),
        ("csv", header + "a.png,1.5,1,1,,,tiny,fp32,quality,nr,MOS,True,,False,,,\n", 2,  # empty: "", not None
         "what made its score is recorded wrongly: field 'bundle_digest' must be 16 lowercase hex digits"),
        ("csv", header + "a.png,1.5,1,1,,,tiny,fp32,quality,nr,MOS,True,ref.png,False,0123456789abcdef,0123,\n", 2,
         "what made its score is recorded wrongly: field 'reference_digest' must be 16 lowercase hex digits"),
        ("csv", header + "a.png,1.5,1,1,,,tiny,fp32,quality,nr,MOS,True,,False,0123456789abcdef\n", 2,
         "expected 17 columns"),
        ("jsonl", json.dumps({**made(ROWS[:1])[0], "bundle_digest": "0123"}) + "\n", 1,
         "what made its score is recorded wrongly: field 'bundle_digest' must be 16 lowercase hex digits"),
        ("jsonl", json.dumps({**made(ROWS[:1])[0], "reference_digest": 12}) + "\n", 1,
         "what made its score is recorded wrongly: field 'reference_digest' must be str"),
        ("jsonl", json.dumps({**made(ROWS[:1])[0], "model": None}) + "\n", 1,
         "what made its score is recorded wrongly: field 'model' must be str"),
        ("jsonl", json.dumps({**ROWS[0], "model": "tiny"}) + "\n", 1,
         "what made its score is recorded wrongly: expected an object with the fields model, "),
    ):
        path = tmp_path / f"bad.{fmt}"
        path.write_text(text)
        with pytest.raises(OutputFileError, match=rf"line {line} is not a {fmt} result row of contrique-score "
                                                  rf"\(.*{reason}.*\); not resuming"):
            resume(str(path), fmt, MADE_WITH)
        assert path.read_text() == text


@pytest.mark.parametrize("field", ["apply_exif", "higher_is_better"])
@pytest.mark.parametrize("value", [0, 0.0, 1, 1.0])
def test_resume_refuses_a_number_for_a_bool_in_a_jsonl_row(tmp_path: Path, field: str, value: float) -> None:
    """``0 == False`` and ``1.0 == True`` in Python: ``"apply_exif": 0`` was taken as recording False (and
    resumed, the row kept as it was), where a csv ``0`` was refused."""
    path = tmp_path / "edited.jsonl"
    text = "".join(json.dumps({**row, field: value}) + "\n" for row in made(ROWS[:1])) + render(
        made(ROWS[2:]), RESULT_COLUMNS, "jsonl", {})
    path.write_text(text)
    for asked in (MADE_WITH, dataclasses.replace(MADE_WITH, **{field: not getattr(MADE_WITH, field)})):
        with pytest.raises(OutputFileError) as refused:
            resume(str(path), "jsonl", asked)
        assert str(refused.value) == (f"{path}: line 1 is not a jsonl result row of contrique-score (what made its "
                                      f"score is recorded wrongly: field {field!r} must be bool); not resuming: fix "
                                      "the file, or move it away to start afresh")
        assert path.read_text() == text


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_refusal_names_the_line_of_the_first_row_made_otherwise(tmp_path: Path, fmt: str) -> None:
    """A file whose rows agree but for one in the middle (two runs with other settings into one file by
    hand, say): the refusal says which line, as a row recorded wrongly does."""
    other = dataclasses.replace(MADE_WITH, apply_exif=True)
    path = tmp_path / f"mixed.{fmt}"
    rows = made(ROWS[:1]) + made(ROWS[2:], other) + made(ROWS[:1])
    path.write_text(render(rows, result_columns(MADE_WITH), fmt, {}))
    before = path.read_bytes()
    with pytest.raises(OutputFileError) as refused:
        resume(str(path), fmt, MADE_WITH)
    line = 3 if fmt == "csv" else 2  # the second row, after a csv header
    assert str(refused.value) == (f"{path}: line {line} holds scores made with other settings (apply_exif True there, "
                                  f"False now); {SAME_SETTINGS}")
    assert path.read_bytes() == before


def test_resume_of_missing_empty_or_header_only_files(tmp_path: Path) -> None:
    assert resume(str(tmp_path / "none.jsonl"), "jsonl").done == set()
    (tmp_path / "empty.csv").write_text("")
    assert resume(str(tmp_path / "empty.csv"), "csv").done == set()
    (tmp_path / "half-header.csv").write_text("source,sc")
    assert resume(str(tmp_path / "half-header.csv"), "csv").done == set()
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
    with pytest.raises(OutputFileError, match="'source', 'score', 'width', 'height', 'error', 'error_type'"):
        resume(str(tmp_path / "list.jsonl"), "jsonl")
    (tmp_path / "no-size.jsonl").write_text('{"source": "a.png", "score": 1.0}\n')  # a report's row needs them all
    with pytest.raises(OutputFileError, match="line 1 .*expected an object with 'source', 'score', 'width'"):
        resume(str(tmp_path / "no-size.jsonl"), "jsonl")
    for fmt, row in (("jsonl", '{"source": "a.png", "score": "abc", "width": 1, "height": 1, "error": null, '
                               '"error_type": null}'), ("csv", "a.png,oops,1,1,,")):
        path = tmp_path / f"text-score.{fmt}"
        path.write_text((",".join(RESULT_COLUMNS) + "\n" if fmt == "csv" else "") + row + "\n")
        with pytest.raises(OutputFileError, match=r"the score '(abc|oops)' is not a number"):
            resume(str(path), fmt)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_tries_rows_with_a_nan_or_infinite_score_again(tmp_path: Path, fmt: str) -> None:
    # contrique-score 0.1.0 wrote "score": NaN for a non-finite feature: such a row is no score to keep
    rows = [{**ROWS[0], "source": name, "score": value}
            for name, value in (("nan.png", float("nan")), ("inf.png", float("inf")), ("ok.png", 2.5))]
    path = tmp_path / f"old.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))  # json writes NaN and Infinity
    else:
        path.write_text(render(rows, RESULT_COLUMNS, fmt, {}))
    assert resume(str(path), fmt).done == {"ok.png"}
    assert path.read_text() == render([rows[2]], RESULT_COLUMNS, fmt, {})


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_reads_a_file_saved_with_a_byte_order_mark(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"excel.{fmt}"
    path.write_text("\ufeff" + render(made(ROWS), result_columns(MADE_WITH), fmt, {}), encoding="utf-8")
    assert resume(str(path), fmt, MADE_WITH).done == {"a.png", 'c, "quoted".png'}
    assert path.read_text(encoding="utf-8").startswith("\ufeff")  # kept when the failed row is dropped


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_takes_the_fr_reference_however_spelt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      fmt: str) -> None:
    """``ref.png``, ``./ref.png`` and the absolute path are one reference (relative to the current
    folder, as a row's source); another file is another reference."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"out.{fmt}"
    earlier = dataclasses.replace(MADE_WITH, head="fr", head_kind="fr", reference="ref.png")
    data = render(made(ROWS[:1], earlier), result_columns(earlier), fmt, {})
    for spelt in ("./ref.png", str(tmp_path / "ref.png"), "sub/../ref.png"):
        path.write_text(data)
        assert resume(str(path), fmt, dataclasses.replace(earlier, reference=spelt)).done == {"a.png"}
    with pytest.raises(OutputFileError, match=r"other settings \(reference 'ref.png' there, 'o.png' now\)"):
        resume(str(path), fmt, dataclasses.replace(earlier, reference="o.png"))


FOREIGN = {
    "text-without-final-newline.jsonl": b"first line\nlast line without a newline",
    "no-newline-at-all.jsonl": b"a file with no newline at all",
    "json-array.jsonl": b'[{"source": "a.png", "score": 1.0}]',
    "photo.jsonl": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10",
    "rows-then-text.jsonl": (json.dumps(ROWS[0]) + "\n" + json.dumps(ROWS[1]) + "\nnot a row").encode(),
    "text-without-final-newline.csv": b"first,line\nlast line",
    "no-newline-at-all.csv": b"a file with no newline at all",
    "half-header-of-another.csv": b"sources,sc",
    "deep.jsonl": b"[" * 5000 + b"]" * 5000 + b"\n",
    "long-line.jsonl": b'{"source": "' + b"a" * (2 << 20) + b'", "score": 1}\n',
}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_resume_leaves_files_that_are_not_its_output_byte_identical(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(FOREIGN[name])
    with pytest.raises(OutputFileError, match=r"is not a (jsonl|csv) result row of contrique-score .*not resuming"):
        resume(str(path), path.suffix[1:])
    assert path.read_bytes() == FOREIGN[name]
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_run_killed_in_its_first_row_is_resumed(tmp_path: Path) -> None:
    for fmt, partial in (("jsonl", '{"source": "a.p'), ("jsonl", '{"sou'), ("csv", "source,score,wid")):
        path = tmp_path / f"first.{fmt}"
        path.write_text(partial)
        assert resume(str(path), fmt).done == set() and path.read_bytes() == b""


def test_resume_keeps_the_bytes_of_kept_rows_and_the_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    text = (",".join(RESULT_COLUMNS) + "\n" + '"multi\nline.png",2.5,1,1,,\n' + '"carriage\rreturn.png",1.5,1,1,,\n'
            + "bad.png,,,,broken,ImageDecodeError\n")
    path.write_bytes(text.encode())
    path.chmod(0o640)
    assert resume(str(path), "csv").done == {"multi\nline.png", "carriage\rreturn.png"}
    assert path.read_bytes() == text.rsplit("bad.png", 1)[0].encode()
    assert path.stat().st_mode & 0o777 == 0o640
    kept = path.read_bytes()
    path.write_bytes(kept + b'"half\rwritten')  # a kill mid-row: cut in place, the rows before kept
    assert resume(str(path), "csv").done == {"multi\nline.png", "carriage\rreturn.png"} and path.read_bytes() == kept


@pytest.mark.parametrize("failed", [False, True])
def test_resume_cuts_a_csv_row_killed_after_a_new_line_in_its_file_name(tmp_path: Path, failed: bool) -> None:
    """A kill can cut a row anywhere, also after the new line inside a quoted name: the complete lines then
    end inside the quoted field, which is the start of a row to cut, not a short row to refuse (exit 2)."""
    path = tmp_path / "out.csv"
    rows = [ROWS[0], *ROWS[1:2] * failed]
    kept = render(rows, RESULT_COLUMNS, "csv", {})
    cut = render([{**ROWS[0], "source": "new\nline.png"}], RESULT_COLUMNS, "csv", {}, header=False)
    for end in (cut.index("\n") + 1, cut.index("\n") + 4, len(cut) - 1):  # just after the name's new line, ...
        path.write_text(kept + cut[:end])
        assert resume(str(path), "csv").done == {"a.png"}
        assert path.read_text() == render(ROWS[:1], RESULT_COLUMNS, "csv", {})  # the cut row (and the failed) gone


def test_resume_rewrites_the_file_a_symbolic_link_points_to_and_keeps_the_link(tmp_path: Path) -> None:
    """Dropping error rows through ``-o latest.jsonl -> runs/one.jsonl`` (or ``-o /dev/stdout`` with
    stdout sent to a file) rewrites that file; it used to put a new file in place of the link."""
    (tmp_path / "runs").mkdir()
    real = tmp_path / "runs" / "one.jsonl"
    real.write_text(render(ROWS, RESULT_COLUMNS, "jsonl", {}))
    link = tmp_path / "latest.jsonl"
    link.symlink_to(Path("runs") / "one.jsonl")
    assert resume(str(link), "jsonl").done == {"a.png", 'c, "quoted".png'}
    assert link.is_symlink() and real.read_text() == render([ROWS[0], ROWS[2]], RESULT_COLUMNS, "jsonl", {})
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["latest.jsonl", "one.jsonl", "runs"]


def test_resume_on_a_full_disk_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropping an error row rewrites the file through a new one: a full disk (simulated) fails that
    new file, which is removed, and the original stays byte for byte."""
    path = tmp_path / "out.jsonl"
    data = render(ROWS, RESULT_COLUMNS, "jsonl", {}).encode() + b'{"source": "half'
    path.write_bytes(data)
    real = atomicfile.stage

    def on_a_full_disk(target: str, write: Any) -> Path:
        def part_then_full(fh: BinaryIO) -> None:
            fh.write(data[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

        return real(target, part_then_full)

    monkeypatch.setattr(atomicfile, "stage", on_a_full_disk)
    with pytest.raises(OutputFileError, match=r"out.jsonl: cannot be rewritten without its 1 failed row\(s\) "
                                              r"\(No space left on device\); it was left as it was"):
        resume(str(path), "jsonl")
    assert path.read_bytes() == data and [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_resume_refuses_special_files(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.jsonl")
    with pytest.raises(OutputFileError, match=r"fifo.jsonl: is a named pipe \(FIFO\), not a regular file"):
        resume(str(tmp_path / "fifo.jsonl"), "jsonl")


def test_a_csv_file_from_before_the_note_column_is_resumed_in_its_own_columns(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    assert resume(str(path), "csv", MADE_WITH) == Resumed(frozenset(), result_columns(MADE_WITH))  # a new file
    earlier = result_columns(MADE_WITH)[:-1]
    assert earlier[-1] == "reference_digest"
    path.write_text(render(made(ROWS), earlier, "csv", {}), newline="")
    assert resume(str(path), "csv", MADE_WITH) == Resumed(frozenset({ROWS[0]["source"], ROWS[2]["source"]}), earlier)
    path.write_text(render(made(ROWS[:1]), result_columns(MADE_WITH), "csv", {}), newline="")
    assert resume(str(path), "csv", MADE_WITH) == Resumed(frozenset({ROWS[0]["source"]}), result_columns(MADE_WITH))
    path.write_text(render(made(ROWS[:1]), earlier, "csv", {}) + "a.png,", newline="")  # cut mid-row by a kill
    assert resume(str(path), "csv", MADE_WITH) == Resumed(frozenset({ROWS[0]["source"]}), earlier)
    path.write_text(",".join(result_columns(MADE_WITH))[:9], newline="")  # a header cut by a kill: emptied
    assert resume(str(path), "csv", MADE_WITH) == Resumed(frozenset(), result_columns(MADE_WITH))
    assert path.read_bytes() == b""
