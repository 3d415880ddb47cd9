"""Tests of contrique_infer.cli (contrique-score): inputs, formats, exit codes, failure handling."""

from __future__ import annotations

import csv
import dataclasses
import errno
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import time
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from broken_stderr import FullStream
from killed_run import kill_after_rows, wait_for_rows
from PIL import Image
from tiny_bundle import write_tiny_bundle

from contrique_infer import __version__, atomicfile, cli, inputs
from contrique_infer.bundle import file_table
from contrique_infer.location import locate
from contrique_infer.manifest import Fidelity, Manifest, VariantInfo
from contrique_infer.output import RESULT_COLUMNS, OutputLock, render
from contrique_infer.scorer import QualityScorer
from contrique_infer.session import CUDA, available_providers
from contrique_infer.variant_policy import variant_trusted


@pytest.fixture(scope="module")
def scorer(tiny_bundle_dir: Path) -> QualityScorer:
    return QualityScorer.from_pretrained(tiny_bundle_dir)


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    """a.png, b.jpg, notes.txt, sub/c.png, sub/deeper/d.PNG."""
    root = tmp_path / "photos"
    (root / "sub" / "deeper").mkdir(parents=True)
    rng = np.random.default_rng(0)
    sizes = {"a.png": (30, 40), "b.jpg": (25, 33), "sub/c.png": (40, 30), "sub/deeper/d.PNG": (20, 20)}
    for rel, size in sizes.items():
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / rel)
    (root / "notes.txt").write_text("not an image")
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_csv_values_and_directory_scan(capsys, tiny_bundle_dir: Path, photos: Path, scorer: QualityScorer) -> None:
    code, out, err = run(capsys, photos, "--model", tiny_bundle_dir, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [Path(r["source"]).name for r in rows] == ["a.png", "b.jpg"]  # sorted, images only, no subdirs
    for row in rows:
        assert float(row["score"]) == scorer.score(row["source"])  # full precision round trip
        assert row["error"] == "" and row["width"] in ("40", "33")


def test_recursive_json_and_jsonl(capsys, tiny_bundle_dir: Path, photos: Path, scorer: QualityScorer) -> None:
    code, out, _ = run(capsys, photos, "-r", "--model", tiny_bundle_dir, "--format", "json", "--batch-size", "2",
                       "--workers", "1")
    assert code == 0
    doc = json.loads(out)
    assert doc["model"] == "tiny-test-bundle" and doc["head"] == "quality" and doc["head_kind"] == "nr"
    assert doc["variant"] == "fp32" and doc["higher_is_better"] is True and doc["reference"] is None
    assert doc["reference_digest"] is None
    names = [Path(r["source"]).relative_to(photos).as_posix() for r in doc["results"]]
    assert names == ["a.png", "b.jpg", "sub/c.png", "sub/deeper/d.PNG"]
    assert [r["score"] for r in doc["results"]] == [scorer.score(r["source"]) for r in doc["results"]]

    code, out, _ = run(capsys, photos / "a.png", "--model", tiny_bundle_dir, "--format", "jsonl", "--head", "QUALITY")
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and row["score"] == scorer.score(photos / "a.png") and row["height"] == 30


def test_globs_are_expanded(capsys, tiny_bundle_dir: Path, photos: Path) -> None:
    code, out, _ = run(capsys, str(photos / "**" / "*.png"), "--model", tiny_bundle_dir, "--format", "jsonl")
    assert code == 0
    assert sorted(Path(json.loads(line)["source"]).name for line in out.splitlines()) == ["a.png", "c.png"]
    code, out, err = run(capsys, str(photos / "*.gif"), "--model", tiny_bundle_dir, "--format", "jsonl")
    assert code == 1 and json.loads(out)["error"] == "no files match this pattern"
    assert "no files match" in err


def test_failures_are_rows_and_exit_1(capsys, tiny_bundle_dir: Path, photos: Path, scorer: QualityScorer) -> None:
    args = [photos / "a.png", photos / "notes.txt", photos / "missing.png", photos / "b.jpg"]
    code, out, err = run(capsys, *args, "--model", tiny_bundle_dir, "--format", "csv")
    assert code == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["source"] for r in rows] == [str(a) for a in args]
    assert float(rows[0]["score"]) == scorer.score(photos / "a.png")
    assert float(rows[3]["score"]) == scorer.score(photos / "b.jpg")
    assert rows[1]["score"] == "" and rows[1]["error_type"] == "ImageDecodeError"
    assert rows[2]["error"] == "no such file"
    assert f"{photos / 'missing.png'}: no such file" in err and "notes.txt" in err

    code, out, err = run(capsys, *args, "--model", tiny_bundle_dir, "--quiet")
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["score", "image", "size", "or", "error"] and len(lines) == 5
    assert lines[2].split()[0] == "error" and "ImageDecodeError" in lines[2]
    assert float(lines[1].split()[0]) == pytest.approx(scorer.score(photos / "a.png"), abs=1e-4)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give at least one image"),
        (["x.png", "--head", "koniq"], "has no head 'koniq'"),
        (["x.png", "--head", "fr_quality"], "full-reference head"),
        (["x.png", "--fr", "missing-ref.png"], "missing-ref.png: no such file"),
        (["x.png", "--fr", "."], ".: is a directory, not an image file"),
        (["x.png", "--batch-size", "0"], "positive integer"),
        (["x.png", "--format", "xml"], "invalid choice"),
        (["x.png", "--variant", "int8"], "no 'int8' variant"),
        (["x.png", "--resume", "--format", "jsonl"], "--resume needs -o FILE and --format jsonl or csv"),
        (["x.png", "--resume", "-o", "out.json", "--format", "json"], "--resume needs -o FILE"),
    ],
)
def test_usage_errors_exit_2(capsys, tiny_bundle_dir: Path, argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv, "--model", tiny_bundle_dir)
    assert code == 2 and out == ""
    assert message in err


def test_default_model_scores_offline(capsys, photos: Path) -> None:
    # the README's first command: contrique-score with the model installed with the package
    rng = np.random.default_rng(1)
    coarse = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize((160, 120), Image.Resampling.BICUBIC).save(photos / "photo.png")
    code, out, err = run(capsys, photos / "photo.png", "--format", "json")
    report = json.loads(out)
    assert code == 0 and err == ""
    manifest = locate().manifest
    auto = "int8" if variant_trusted(manifest, "int8", [manifest.default_head]) else "fp32"
    assert (report["head"], report["variant"]) == (manifest.default_head, auto)
    assert report["score_scale"] == manifest.head_info().score_scale
    assert np.isfinite(report["results"][0]["score"])


def test_a_faded_score_is_noted_on_stderr_and_in_its_row(capsys, photos: Path) -> None:
    """The packaged default fades the score of an image far outside the images its head was fitted on
    (a flat frame): the note goes to stderr (--quiet drops it) and into the row's last column, ``note``
    (empty for the smooth picture, which is not faded), in every format that writes rows."""
    Image.new("RGB", (64, 48), (128, 128, 128)).save(photos / "grey.png")
    coarse = np.random.default_rng(1).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize((160, 120), Image.Resampling.BICUBIC).save(photos / "smooth.png")
    code, out, err = run(capsys, photos / "grey.png", photos / "smooth.png", "--format", "csv")
    assert code == 0 and len(out.splitlines()) == 3
    assert err.startswith(f"contrique-score: note: {photos / 'grey.png'}: far outside the images head 'quality' was "
                          "fitted on (range distance ") and err.count("\n") == 1  # not the smooth picture
    assert "its score is moved towards the worst end of the scale" in err
    note = err.split(f"{photos / 'grey.png'}: ", 1)[1].rstrip("\n")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[-1] == "note" and [r["note"] for r in rows] == [note, ""]
    code, quiet_out, quiet_err = run(capsys, photos / "grey.png", photos / "smooth.png", "--format", "csv", "--quiet")
    assert (code, quiet_out, quiet_err) == (0, out, "")
    _, out, _ = run(capsys, photos / "grey.png", photos / "smooth.png", "--format", "jsonl", "--quiet")
    assert [json.loads(line)["note"] for line in out.splitlines()] == [note, None]
    _, out, _ = run(capsys, photos / "grey.png", photos / "smooth.png", "--format", "json", "--quiet")
    assert [r["note"] for r in json.loads(out)["results"]] == [note, None]


def _with_int8(bundle: Path, folder: Path) -> Path:
    """A copy of ``bundle`` in ``folder`` with an int8 variant (the fp32 graph), trusted for head
    ``quality`` but not ``fr_quality``."""
    shutil.copytree(bundle, folder)
    shutil.copyfile(folder / "encoder.onnx", folder / "encoder.int8.onnx")
    manifest = Manifest.load(folder)
    fidelity = Fidelity(images=12, cosine_mean=1.0, cosine_min=0.999, feature_max_abs_diff=0.0,
                        spearman={"quality": 1.0, "fr_quality": 0.5})
    dataclasses.replace(
        manifest, variants={**manifest.variants, "int8": VariantInfo("int8", "encoder.int8.onnx", fidelity)},
        files={**manifest.files, **file_table(folder, ["encoder.int8.onnx"])},
    ).save(folder)
    return folder


def test_auto_variant_weighs_the_head_that_scores(capsys, tiny_bundle_dir: Path, photos: Path,
                                                  tmp_path: Path) -> None:
    """contrique-score loads only the head it scores with, so ``auto`` runs int8 where that head's
    recorded agreement passes, even if another head's does not (--fr loads every head)."""
    folder = _with_int8(tiny_bundle_dir, tmp_path / "with-int8")
    code, out, _ = run(capsys, photos / "a.png", "--model", folder, "--format", "json", "--device", "cpu")
    assert code == 0 and json.loads(out)["variant"] == "int8"
    code, out, _ = run(capsys, photos / "a.png", "--model", folder, "--format", "json", "--device", "cpu",
                       "--fr", photos / "a.png")
    assert code == 0 and json.loads(out)["variant"] == "fp32"


def test_missing_model_exits_2(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from contrique_infer import location

    monkeypatch.setattr(location, "DEFAULT_BUNDLE", tmp_path / "none")
    code, _, err = run(capsys, "x.png")
    assert code == 2 and "no default model is installed" in err
    code, _, err = run(capsys, "x.png", "--model", tmp_path / "nothing" / "here")
    assert code == 2 and "no such bundle folder" in err


def test_full_reference(capsys, tiny_bundle_dir: Path, photos: Path, scorer: QualityScorer) -> None:
    ref = photos / "a.png"
    code, out, _ = run(capsys, ref, photos / "b.jpg", "--fr", ref, "--model", tiny_bundle_dir, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["head"] == "fr_quality" and doc["reference"] == str(ref)
    assert doc["reference_digest"] == _content_digest(ref)
    assert doc["results"][0]["score"] == scorer.score_fr(ref, ref)
    assert doc["results"][1]["score"] == scorer.score_fr(ref, photos / "b.jpg")
    # a no-reference head with --fr: the bundle's full-reference heads are named, though only the one asked for
    # was loaded, and the advice is the command line's
    code, _, err = run(capsys, photos / "b.jpg", "--fr", ref, "--head", "quality", "--model", tiny_bundle_dir)
    assert code == 2 and "head 'quality' is a no-reference head: use it with score(image) (on the command line: " \
                         "without --fr), or choose a full-reference head; the model's fr heads: fr_quality" in err


def test_output_file_and_unwritable_output(capsys, tiny_bundle_dir: Path, photos: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    code, out, _ = run(capsys, photos, "--model", tiny_bundle_dir, "--format", "csv", "-o", target)
    assert code == 0 and out == ""
    written = target.read_text()
    assert written.startswith("source,score,") and len(written.splitlines()) == 3

    blocked = tmp_path / "a-file" / "out.csv"  # parent is a file: cannot be created, even by root
    (tmp_path / "a-file").write_text("")
    code, out, err = run(capsys, photos, "--model", tiny_bundle_dir, "--format", "csv", "-o", blocked)
    assert code == 1 and out == written
    assert f"cannot write {blocked}" in err and "stdout instead" in err
    if Path("/dev/full").exists():  # a full disk
        code, out, err = run(capsys, photos, "--model", tiny_bundle_dir, "--format", "csv", "-o", "/dev/full")
        assert code == 1 and out == written and "No space left" in err


def test_output_dash_is_stdout(capsys, tiny_bundle_dir: Path, photos: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """-o - wrote the results to a new file named "-" in the working folder, and nothing to stdout."""
    monkeypatch.chdir(tmp_path)
    expected = run(capsys, photos / "a.png", "-m", tiny_bundle_dir, "--format", "csv")
    for fmt in ("csv", "jsonl", "json", "table"):
        code, out, _ = run(capsys, photos / "a.png", "-m", tiny_bundle_dir, "--format", fmt, "-o", "-")
        assert code == 0 and out == run(capsys, photos / "a.png", "-m", tiny_bundle_dir, "--format", fmt)[1]
    assert expected[1].startswith("source,score,")
    code, out, _ = run(capsys, "-m", tiny_bundle_dir, "--list-heads", "-o", "-")
    assert code == 0 and "fr_quality" in out
    code, _, err = run(capsys, photos / "a.png", "-m", tiny_bundle_dir, "--format", "csv", "-o", "-", "--resume")
    assert code == 2 and "--resume needs -o FILE" in err
    assert not (tmp_path / "-").exists()
    code, _, _ = run(capsys, photos / "a.png", "-m", tiny_bundle_dir, "--format", "csv", "-o", "./-")  # a file named -
    assert code == 0 and (tmp_path / "-").read_text().startswith("source,score,")
    code, out, err = run(capsys, photos / "a.png", "-m", tiny_bundle_dir, "--format", "csv", "-o", "")
    assert (code, out) == (2, "") and "-o '' names no file: give a file name, or - for stdout" in err


def test_a_killed_run_resumes_to_the_results_of_one_run(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    """contrique-score -o out.jsonl, SIGKILLed mid-run, then --resume: every image exactly once,
    with the scores and errors of one uninterrupted run (a half-written last row is repaired)."""
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(300):
        pixels = rng.integers(0, 256, (200 + i % 5 * 8, 256, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:03d}.png")
    (folder / "img150-broken.png").write_bytes(b"not a png")
    command = [sys.executable, "-m", "contrique_infer", str(folder), "--model", str(tiny_bundle_dir),
               "--format", "jsonl", "-q", "--batch-size", "2", "--workers", "1"]
    whole = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert whole.returncode == 1  # the broken file
    expected = [json.loads(line) for line in whole.stdout.splitlines()]
    assert len(expected) == 301

    out = tmp_path / "out.jsonl"
    rows_at_kill = kill_after_rows([*command, "-o", str(out)], out, 20)
    assert 20 <= rows_at_kill < 301, "the run ended before it could be killed"
    with open(out, "a", encoding="utf-8") as fh:  # what a kill in the middle of a write leaves
        fh.write(json.dumps(expected[-1])[:25])

    resumed = subprocess.run([*command, "-o", str(out), "--resume"], capture_output=True, text=True,
                             check=False, timeout=300)
    assert resumed.returncode == 1 and resumed.stdout == ""
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["source"] for r in rows) == sorted(r["source"] for r in expected)  # each once
    assert {r["source"]: r for r in rows} == {r["source"]: r for r in expected}  # same scores, same errors
    assert rows[:rows_at_kill] == expected[:rows_at_kill]  # rows written before the kill were kept as they were
    again = subprocess.run([*command, "-o", str(out), "--resume"], capture_output=True, text=True, check=False,
                           timeout=300)
    assert again.returncode == 1 and len(out.read_text().splitlines()) == 301  # only the broken file is retried


def test_output_that_is_an_input_is_refused(capsys, tiny_bundle_dir: Path, photos: Path) -> None:
    before = {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()}
    for argv in ([photos / "a.png", photos / "b.jpg", "-o", photos / "b.jpg"],
                 [photos, "-o", photos / "a.png"],
                 [photos, "-r", "-o", photos / "sub" / "c.png", "--format", "jsonl", "--resume"],
                 [str(photos / "*.jpg"), "-o", photos / "b.jpg"],
                 [photos / "a.png", "--fr", photos / "b.jpg", "--head", "fr_quality", "-o", photos / "b.jpg"]):
        code, out, err = run(capsys, *argv, "--model", tiny_bundle_dir)
        assert (code, out) == (2, "") and "is one of the images to score; refusing to overwrite it" in err
    assert {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()} == before
    code, _, _ = run(capsys, photos, "-o", photos / "notes.txt", "--model", tiny_bundle_dir)  # not an input
    assert code == 0 and (photos / "notes.txt").read_text().split()[:2] == ["score", "image"]


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_an_output_that_is_another_name_of_an_input_is_refused(capsys, tiny_bundle_dir: Path, photos: Path,
                                                               tmp_path: Path, link: str) -> None:
    before = {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()}
    output = tmp_path / "out.csv"
    (output.symlink_to if link == "symbolic" else output.hardlink_to)(photos / "sub" / "c.png")
    for given in ([photos, "-r"], [str(photos / "sub" / "*.png")], [photos / "sub"]):
        code, out, err = run(capsys, *given, "--model", tiny_bundle_dir, "--format", "csv", "-o", output)
        assert (code, out) == (2, "") and "is one of the images to score; refusing to overwrite it" in err, given
    assert {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()} == before
    code, _, _ = run(capsys, photos, "--model", tiny_bundle_dir, "--format", "csv", "-o", output)  # not scanned
    assert code == 0 and (photos / "sub" / "c.png").read_text().startswith("source,score")


def test_without_format_the_output_files_extension_names_it(capsys, tiny_bundle_dir: Path, photos: Path,
                                                             tmp_path: Path) -> None:
    """``-o scores.csv`` without --format wrote the aligned table into scores.csv, at the end only (a killed
    run kept nothing), and a later --resume of it was refused."""
    for name, start in (("s.csv", "source,score,"), ("s.JSONL", '{"source": '), ("s.json", '{\n  "model": '),
                        ("s.txt", "  score  image"), ("s", "  score  image")):
        code, _, err = run(capsys, photos / "a.png", "--model", tiny_bundle_dir, "-o", tmp_path / name)
        assert code == 0 and (tmp_path / name).read_text().startswith(start), (name, err)
    code, _, err = run(capsys, photos / "b.jpg", "--model", tiny_bundle_dir, "-o", tmp_path / "s.csv", "--resume")
    assert code == 0 and (tmp_path / "s.csv").read_text().count("\n") == 3, err  # a.png, then b.jpg
    code, _, _ = run(capsys, photos / "a.png", "--model", tiny_bundle_dir, "-o", tmp_path / "r.html")
    assert code == 0 and (tmp_path / "r_files" / "rows.jsonl").is_file()
    code, _, _ = run(capsys, photos / "a.png", "--model", tiny_bundle_dir, "--format", "table", "-o", tmp_path / "t.csv")
    assert code == 0 and (tmp_path / "t.csv").read_text().startswith("  score  image")  # --format decides


def test_a_current_folder_that_was_removed_is_one_error(capsys, tiny_bundle_dir: Path, photos: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a folder removed after the shell entered it: a FileNotFoundError traceback (os.path.abspath), and
    with --format html every image an error blaming the thumbnail hook, though all its paths were absolute."""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    code, out, err = run(capsys, photos / "a.png", "--model", tiny_bundle_dir, "--format", "html", "-o",
                         tmp_path / "r.html")
    assert (code, out) == (2, "") and err == ("contrique-score: error: the current folder no longer exists (it was "
                                              "removed after this shell entered it): cd into a folder that exists and "
                                              "run again\n")
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
def test_an_output_that_is_a_file_of_the_model_bundle_is_refused(capsys, tiny_bundle_dir: Path, photos: Path,
                                                                  tmp_path: Path, fmt: str) -> None:
    """``-o BUNDLE/contrique.json`` replaced the manifest with the results (exit 0), and the bundle no longer
    loaded; the same for an encoder or a head file, the packaged models' too."""
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "b")
    before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    (tmp_path / "link.onnx").symlink_to(bundle / "encoder.onnx")
    outputs = [(bundle / "contrique.json", "contrique.json"), (bundle / "heads" / "quality.json", "heads/quality.json"),
               (tmp_path / "link.onnx", "encoder.onnx")]
    for output, rel in outputs:
        code, out, err = run(capsys, photos / "a.png", "--model", bundle, "--format", fmt, "-o", output)
        assert (code, out) == (2, "") and err == (f"contrique-score: error: {output}: is the file {rel} of the model "
                                                  f"bundle {bundle}; refusing to overwrite it: choose another output "
                                                  "file\n"), fmt
    code, _, err = run(capsys, "--list-heads", "--model", bundle, "-o", bundle / "contrique.json")
    assert code == 2 and "is the file contrique.json of the model bundle" in err
    assert {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "b" / "contrique_files").exists()  # an html run began no report either
    code, _, _ = run(capsys, photos / "a.png", "--model", bundle, "--format", "csv", "-o", bundle / "scores.csv")
    assert code == 0  # another file in the folder: not the bundle's


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "html"])
def test_a_second_run_on_the_same_output_is_refused_and_changes_nothing(capsys, tiny_bundle_dir: Path,
                                                                       photos: Path, tmp_path: Path,
                                                                       fmt: str) -> None:
    output = tmp_path / f"out.{fmt}"
    argv = (photos / "a.png", "--model", tiny_bundle_dir, "--format", fmt, "-o", output)
    assert run(capsys, *argv)[0] == 0
    claimed = (output.with_name("out_files") / "rows.jsonl") if fmt == "html" else output
    before = claimed.read_bytes()
    with OutputLock(claimed):  # a run still writing it
        for resume in ([], ["--resume"]):
            code, out, err = run(capsys, *argv, *resume)
            assert (code, out) == (2, "") and "is being written by another contrique-score run" in err
    assert claimed.read_bytes() == before


@pytest.mark.parametrize("fmt", ["json", "table", "html", "--list-heads"])
def test_every_format_is_refused_an_output_another_run_is_writing(capsys, tiny_bundle_dir: Path, photos: Path,
                                                                   tmp_path: Path, fmt: str) -> None:
    """A csv run still writing out.csv: a json, table or html run (or --list-heads -o) on the same file is
    refused too, instead of overwriting the rows being written."""
    output = tmp_path / "out.csv"
    output.write_text("source,score\n")
    argv = ["--list-heads"] if fmt == "--list-heads" else [photos / "a.png", "--format", fmt]
    with OutputLock(output):
        code, out, err = run(capsys, *argv, "--model", tiny_bundle_dir, "-o", output)
    assert (code, out) == (2, "")
    assert err == (f"contrique-score: error: {output}: is being written by another contrique-score run (it holds a "
                   "lock on the file); wait for that run to end, or write to another file\n")
    assert output.read_text() == "source,score\n" and not (tmp_path / "out_files").exists()
    code, _, _ = run(capsys, *argv, "--model", tiny_bundle_dir, "-o", output)  # that run ended: written now
    assert code == 0 and output.read_text() != "source,score\n"


def test_a_json_output_is_replaced_whole(capsys, tiny_bundle_dir: Path, photos: Path, tmp_path: Path) -> None:
    """A reader of the earlier file never sees it emptied or half-written: the new file replaces it."""
    output = tmp_path / "out.json"
    output.write_text("earlier\n")
    output.chmod(0o640)
    with open(output) as reader:
        code, out, _ = run(capsys, photos / "a.png", "--model", tiny_bundle_dir, "--format", "json", "-o", output)
        assert reader.read() == "earlier\n"
    assert (code, out) == (0, "") and json.loads(output.read_text())["results"][0]["source"] == str(photos / "a.png")
    assert output.stat().st_mode & 0o777 == 0o640 and sorted(p.name for p in tmp_path.iterdir()) == ["out.json",
                                                                                                       "photos"]


def _closed_in_child(fd: int) -> Callable[[], None]:
    return lambda: os.close(fd)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("stderr", ["full", "closed", "reader gone"])
def test_a_broken_stderr_loses_messages_never_images(tiny_bundle_dir: Path, photos: Path, tmp_path: Path,
                                                     stderr: str) -> None:
    """2>/dev/full, 2>&-, 2> >(head -c 1): a failed image's message cannot be written; the images after it
    are scored all the same, and the exit code is that of the scores."""
    output = tmp_path / "out.csv"
    command = [sys.executable, "-m", "contrique_infer", str(photos / "notes.txt"), str(photos / "a.png"),
               str(photos / "b.jpg"), "--model", str(tiny_bundle_dir), "--format", "csv", "-o", str(output)]
    read_end, write_end = os.pipe()
    os.close(read_end)  # whoever read stderr has gone: every write to it fails (EPIPE)
    try:
        with open("/dev/full", "w") as full:
            target = {"full": full, "closed": None, "reader gone": write_end}[stderr]
            proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=target, text=True, check=False,
                                  timeout=120, preexec_fn=_closed_in_child(2) if stderr == "closed" else None)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stdout) == (1, "")  # 1: notes.txt is no image
    rows = list(csv.DictReader(io.StringIO(output.read_text())))
    assert [Path(r["source"]).name for r in rows] == ["notes.txt", "a.png", "b.jpg"]
    assert rows[0]["error_type"] == "ImageDecodeError" and all(r["score"] for r in rows[1:])


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="needs /proc (Linux)")
def test_with_stderr_closed_the_output_file_does_not_take_its_place(tiny_bundle_dir: Path, photos: Path,
                                                                    tmp_path: Path) -> None:
    """2>&-: fd 2 is free, and the first file opened would take it; what C libraries print to stderr
    (libtiff's "ZIPDecode: ...") would then go into the -o file. It goes to /dev/null."""
    output, seen = tmp_path / "out.csv", tmp_path / "fd2.txt"
    script = (f"import os, sys\nfrom contrique_infer import cli\nscore = cli._Reporter.__call__\n"
              f"def call(self, result):\n"
              f"    open({str(seen)!r}, 'w').write(os.readlink('/proc/self/fd/2'))  # where libtiff would write\n"
              f"    return score(self, result)\n"
              f"cli._Reporter.__call__ = call\nsys.exit(cli.main(sys.argv[1:]))\n")
    command = [sys.executable, "-c", script, str(photos / "a.png"), "--model", str(tiny_bundle_dir), "--format", "csv",
               "-o", str(output)]
    proc = subprocess.run(command, stdout=subprocess.PIPE, check=False, timeout=120, preexec_fn=_closed_in_child(2))
    assert proc.returncode == 0 and len(output.read_text().splitlines()) == 2
    assert seen.read_text() == os.devnull


@pytest.mark.parametrize("stderr", [FullStream(tty=True), FullStream(tty=True, error=errno.EIO)],
                         ids=["full", "terminal gone"])
@pytest.mark.parametrize("fmt", ["csv", "html"])
def test_a_progress_bar_that_cannot_be_written_loses_no_image(capsys, monkeypatch: pytest.MonkeyPatch,
                                                              tiny_bundle_dir: Path, photos: Path, stderr: FullStream,
                                                              fmt: str) -> None:
    """On a terminal (so with the progress bar) that cannot be written, full or gone (EIO), the run scored
    nothing: tqdm flushes stderr itself as the bar is made, and that OSError ended the run (exit 1, no rows).
    The bar writes through BestEffortStderr now, as contrique-train's does."""
    output = photos.parent / f"out.{fmt}"
    monkeypatch.setattr(sys, "stderr", stderr)
    code = cli.main([str(photos / "notes.txt"), str(photos / "a.png"), "--model", str(tiny_bundle_dir), "--format",
                     fmt, *(["-o", str(output)] if fmt == "html" else [])])
    monkeypatch.undo()
    out, err = capsys.readouterr()
    assert code == 1 and err == ""  # 1: notes.txt is no image
    if fmt == "html":
        rows = (photos.parent / "out_files" / "rows.jsonl").read_text().splitlines()
        assert out == "" and [json.loads(r)["error_type"] is None for r in rows] == [False, True]
    else:
        assert [r["error_type"] for r in csv.DictReader(io.StringIO(out))] == ["ImageDecodeError", ""]


def test_a_closed_stdout_is_one_error_line(tiny_bundle_dir: Path, photos: Path) -> None:
    """>&-: no stdout to write the results to is an error, as stdout on a full disk is; no traceback."""
    command = [sys.executable, "-m", "contrique_infer", str(photos / "a.png"), "--model", str(tiny_bundle_dir),
               "--format", "csv"]
    proc = subprocess.run(command, stderr=subprocess.PIPE, text=True, check=False, timeout=120,
                          preexec_fn=_closed_in_child(1))
    assert proc.returncode == 1
    assert proc.stderr == "contrique-score: error: cannot write the results to stdout (it is closed)\n"


def test_an_empty_reference_is_a_missing_file_not_api_advice(capsys, tiny_bundle_dir: Path, photos: Path) -> None:
    code, out, err = run(capsys, photos / "a.png", "--fr", "", "--model", tiny_bundle_dir)
    assert (code, out) == (2, "") and "no such file" in err and "head=None" not in err


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json", "table", "html"])
def test_a_run_that_fails_before_its_first_row_leaves_no_empty_output(capsys, tiny_bundle_dir: Path, photos: Path,
                                                                     fmt: str) -> None:
    output = photos.parent / f"out.{fmt}"
    argv = [photos / "a.png", "--fr", photos / "missing.png", "--model", tiny_bundle_dir, "--format", fmt, "-o", output]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "") and "missing.png: no such file" in err
    assert not output.exists()
    output.write_text("")  # a file that was there before the run stays
    assert run(capsys, *argv)[0] == 2 and output.exists()


def test_resume_matches_rows_by_path_however_spelt(capsys, tiny_bundle_dir: Path, photos: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(photos.parent)
    output = photos.parent / "out.jsonl"
    run(capsys, "photos/a.png", "--model", tiny_bundle_dir, "--format", "jsonl", "-o", output)
    for spelling in ("./photos/a.png", str(photos / "a.png"), "photos/sub/../a.png"):
        code, _, _ = run(capsys, spelling, "photos/b.jpg", "--model", tiny_bundle_dir, "--format", "jsonl",
                         "-o", output, "--resume")
        assert code == 0
    assert [json.loads(line)["source"] for line in output.read_text().splitlines()] == ["photos/a.png", "photos/b.jpg"]


def _rows(path: Path, fmt: str) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh)) if fmt == "csv" else [json.loads(line) for line in fh]


def _digest(bundle: Path) -> str:
    return QualityScorer.from_pretrained(bundle).bundle_digest


def _content_digest(path: Path) -> str:
    """The reference_digest of file ``path``: the first 16 hex digits of the sha256 of its bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_resume_refuses_scores_of_another_model_variant_or_reference(capsys, tiny_bundle_dir: Path, photos: Path,
                                                                     tmp_path: Path, fmt: str) -> None:
    output = tmp_path / f"scores.{fmt}"
    assert run(capsys, photos / "a.png", "--model", tiny_bundle_dir, "--format", fmt, "-o", output)[0] == 0
    before = output.read_bytes()
    other = write_tiny_bundle(tmp_path / "other", name="other-bundle")
    int8 = _with_int8(tiny_bundle_dir, tmp_path / "int8")
    digest = _digest(tiny_bundle_dir)
    same = "resume with the same --model, --head, --variant, --fr and --apply-exif"
    for argv, changes, advice in (
        (["--model", other], f"model 'tiny-test-bundle' there, 'other-bundle' now; bundle_digest '{digest}' there, "
                             f"'{_digest(other)}' now", same),
        (["--model", int8, "--variant", "int8"],  # the bundle with an int8 variant added: another bundle_digest
         f"variant 'fp32' there, 'int8' now; bundle_digest '{digest}' there, '{_digest(int8)}' now",
         "bundle 'tiny-test-bundle' was changed since (its manifest or files differ): resume with the bundle as it "
         "was and the same --head, --variant, --fr and --apply-exif"),
        (["--model", tiny_bundle_dir, "--fr", photos / "a.png"],
         "head 'quality' there, 'fr_quality' now; head_kind 'nr' there, 'fr' now; score_scale 'MOS, about 0..100' "
         f"there, 'DMOS, about 0..1' now; higher_is_better True there, False now; reference None there, "
         f"'{photos / 'a.png'}' now; reference_digest None there, '{_content_digest(photos / 'a.png')}' now", same),
        (["--model", tiny_bundle_dir, "--apply-exif"], "apply_exif False there, True now", same),
    ):
        code, out, err = run(capsys, photos, *argv, "--format", fmt, "-o", output, "--resume")
        assert (code, out) == (2, "")
        first = 2 if fmt == "csv" else 1  # the first row
        assert err == (f"contrique-score: error: {output}: line {first} holds scores made with other settings "
                       f"({changes}); {advice}, or write to a new -o file\n")
        assert output.read_bytes() == before
    code, _, err = run(capsys, photos, "--model", tiny_bundle_dir, "--format", fmt, "-o", output, "--resume")
    assert (code, err) == (0, "")  # the same settings: goes on
    rows = _rows(output, fmt)
    assert [Path(r["source"]).name for r in rows] == ["a.png", "b.jpg"]
    empty = "" if fmt == "csv" else None  # an NR run's reference and reference_digest
    assert [(r["model"], r["variant"], r["head"], r["head_kind"], r["reference"], r["apply_exif"], r["bundle_digest"],
             r["reference_digest"]) for r in rows] == [("tiny-test-bundle", "fp32", "quality", "nr", empty,
                                                        "False" if fmt == "csv" else False, digest, empty)] * 2


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_rows_record_apply_exif_and_resume_goes_on_with_it(capsys, tiny_bundle_dir: Path, photos: Path,
                                                           tmp_path: Path, fmt: str) -> None:
    output = tmp_path / f"turned.{fmt}"
    argv = ["--model", tiny_bundle_dir, "--format", fmt, "-o", output, "--apply-exif"]
    assert run(capsys, photos / "a.png", *argv)[0] == 0
    assert run(capsys, photos, *argv, "--resume")[0] == 0
    rows = _rows(output, fmt)
    assert [Path(r["source"]).name for r in rows] == ["a.png", "b.jpg"]
    assert [r["apply_exif"] for r in rows] == (["True"] * 2 if fmt == "csv" else [True] * 2)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_resume_refuses_a_bundle_changed_in_place_under_the_same_name(capsys, tiny_bundle_dir: Path, photos: Path,
                                                                      tmp_path: Path, fmt: str) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle_dir, bundle)
    output = tmp_path / f"scores.{fmt}"
    assert run(capsys, photos / "a.png", "--model", bundle, "--format", fmt, "-o", output)[0] == 0
    before = output.read_bytes()
    write_tiny_bundle(bundle, log_brightness=True)  # new weights, the same name, the same folder
    code, out, err = run(capsys, photos, "--model", bundle, "--format", fmt, "-o", output, "--resume")
    assert (code, out) == (2, "")
    digest, changed = _digest(tiny_bundle_dir), _digest(bundle)
    assert changed != digest
    assert err == (f"contrique-score: error: {output}: line {2 if fmt == 'csv' else 1} holds scores made with other "
                   f"settings (bundle_digest '{digest}' there, '{changed}' now); bundle 'tiny-test-bundle' was changed "
                   "since (its manifest or files differ): resume with the bundle as it was and the same --head, "
                   "--variant, --fr and --apply-exif, or write to a new -o file\n")
    assert output.read_bytes() == before


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "html"])
def test_resume_refuses_a_reference_replaced_in_place(capsys, tiny_bundle_dir: Path, photos: Path, tmp_path: Path,
                                                      fmt: str) -> None:
    """Another image saved over the --fr reference between a run and its --resume: refused, the file unchanged;
    the same path with the same content again (the image copied back) goes on."""
    reference = tmp_path / "ref.png"
    shutil.copyfile(photos / "a.png", reference)
    output = tmp_path / f"scores.{fmt}"
    written = output.with_name("scores_files") / "header.json" if fmt == "html" else output
    argv = ["--fr", reference, "--model", tiny_bundle_dir, "--format", fmt, "-o", output]
    assert run(capsys, photos / "a.png", *argv)[0] == 0
    before = written.read_bytes()
    was = _content_digest(reference)
    shutil.copyfile(photos / "sub" / "c.png", reference)  # another image, the same path
    code, out, err = run(capsys, photos, *argv, "--resume")
    assert (code, out) == (2, "")
    where = f"{written}:" if fmt == "html" else f"{output}: line {2 if fmt == 'csv' else 1}"
    otherwise = "write the report afresh without --resume" if fmt == "html" else "write to a new -o file"
    assert err == (f"contrique-score: error: {where} holds scores made with other settings (reference_digest '{was}' "
                   f"there, '{_content_digest(reference)}' now); reference '{reference}' was changed since (the file's "
                   "content differs): resume with the reference as it was and the same --model, --head, --variant and "
                   f"--apply-exif, or {otherwise}\n")
    assert written.read_bytes() == before
    shutil.copyfile(photos / "a.png", reference)  # the same content at the same path again
    code, _, err = run(capsys, photos, *argv, "--resume", "--quiet")
    assert (code, err) == (0, "")
    rows = _rows(written.with_name("rows.jsonl"), "jsonl") if fmt == "html" else _rows(output, fmt)
    assert [Path(r["source"]).name for r in rows] == ["a.png", "b.jpg"]
    recorded = [json.loads(written.read_text())] if fmt == "html" else rows
    assert {(r["reference"], r["reference_digest"]) for r in recorded} == {(str(reference), was)}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_resume_refuses_a_file_of_an_earlier_version(capsys, tiny_bundle_dir: Path, photos: Path, tmp_path: Path,
                                                     fmt: str) -> None:
    output = tmp_path / f"scores.{fmt}"
    run(capsys, photos / "a.png", "--model", tiny_bundle_dir, "--format", fmt, "-o", output)
    written = _rows(output, fmt)
    previous = (*RESULT_COLUMNS, "model", "variant", "head", "head_kind", "score_scale", "higher_is_better",
                "reference")
    for columns, unrecorded in (
        (RESULT_COLUMNS, "model, variant, head, head_kind, score_scale, higher_is_better, reference, apply_exif, "
                         "bundle_digest, reference_digest"),
        (previous, "apply_exif, bundle_digest, reference_digest"),  # the version before these fields
    ):
        earlier = render([{c: r[c] for c in columns} for r in written], columns, fmt, {})
        output.write_text(earlier, newline="")  # as that contrique-score wrote it
        code, out, err = run(capsys, photos, "--model", tiny_bundle_dir, "--format", fmt, "-o", output, "--resume")
        assert (code, out) == (2, "")
        assert err == (f"contrique-score: error: {output}: was written by an earlier contrique-score, whose rows do "
                       f"not record what their scores were made with ({unrecorded}), so they cannot be checked against "
                       "model 'tiny-test-bundle' (fp32), head 'quality'; resume it with the contrique-score version "
                       "that wrote it, or write to a new -o file\n")
        assert output.read_text() == earlier


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_goes_on_with_a_file_written_before_the_note_column(capsys, tiny_bundle_dir: Path, photos: Path,
                                                                   tmp_path: Path, fmt: str) -> None:
    """Rows of the version before ``note`` record everything a resume checks: the run goes on, and a
    csv keeps its header's columns (the new rows without ``note``), so every line has the same columns."""
    output = tmp_path / f"scores.{fmt}"
    run(capsys, photos / "a.png", "--model", tiny_bundle_dir, "--format", fmt, "-o", output)
    columns = [c for c in _rows(output, fmt)[0] if c != "note"]
    earlier = render([{c: r[c] for c in columns} for r in _rows(output, fmt)], columns, fmt, {})
    output.write_text(earlier, newline="")  # as the version before the note column wrote it
    code, _, _ = run(capsys, photos / "a.png", photos / "b.jpg", "--model", tiny_bundle_dir, "--format", fmt,
                     "-o", output, "--resume")
    rows = _rows(output, fmt)
    assert code == 0 and [Path(r["source"]).name for r in rows] == ["a.png", "b.jpg"]
    assert output.read_text().startswith(earlier)
    if fmt == "csv":
        assert list(rows[1]) == columns  # no note column appended to a file without one
    else:
        assert "note" not in rows[0] and rows[1]["note"] is None  # jsonl rows describe themselves


def test_a_fifo_as_reference_is_refused_at_once(capsys, tiny_bundle_dir: Path, photos: Path) -> None:
    os.mkfifo(photos / "ref.png")
    code, out, err = run(capsys, photos / "a.png", "--fr", photos / "ref.png", "--model", tiny_bundle_dir)
    assert (code, out) == (2, "")
    assert err == f"contrique-score: error: {photos / 'ref.png'}: is a named pipe (FIFO), not a regular file; " \
                  "only regular files are read\n"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_never_changes_a_file_that_is_not_its_output(capsys, tiny_bundle_dir: Path, photos: Path,
                                                             tmp_path: Path, fmt: str) -> None:
    for data in (b"notes\nlast line without newline", b"no newline at all", b""):
        target = tmp_path / f"notes.{fmt}"
        target.write_bytes(data)
        code, out, err = run(capsys, photos, "--model", tiny_bundle_dir, "--format", fmt, "-o", target, "--resume")
        if not data:  # an empty file is a run that wrote nothing yet
            assert code == 0 and len(target.read_text().splitlines()) == 2 + (fmt == "csv")
            continue
        assert (code, out) == (2, "") and "not resuming: fix the file, or move it away" in err
        assert target.read_bytes() == data


def test_resume_on_a_full_disk_exits_2_and_leaves_the_file(capsys, tiny_bundle_dir: Path, photos: Path,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.jsonl"
    run(capsys, photos / "a.png", photos / "notes.txt", "--model", tiny_bundle_dir, "--format", "jsonl", "-o", target)
    data = target.read_bytes()
    assert data.count(b"\n") == 2 and b"ImageDecodeError" in data  # an error row that resuming drops

    def full(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomicfile, "stage", full)
    code, out, err = run(capsys, photos, "--model", tiny_bundle_dir, "--format", "jsonl", "-o", target, "--resume")
    assert (code, out) == (2, "") and "Traceback" not in err
    assert err == (f"contrique-score: error: {target}: cannot be rewritten without its 1 failed row(s) (No space "
                   "left on device); it was left as it was: free some space (or fix the folder's permissions) and "
                   "resume again\n")
    assert target.read_bytes() == data and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "photos"]


def _many_inputs(folder: Path, count: int) -> list[str]:
    """One photo named ``count`` times: a long run of quick images."""
    folder.mkdir()
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(folder / "p.png")
    return [str(folder / "p.png")] * count


def test_ctrl_c_ends_quietly_and_keeps_the_rows(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "contrique_infer", *_many_inputs(tmp_path / "in", 20_000), "--model",
               str(tiny_bundle_dir), "--format", "jsonl", "-o", str(out), "--workers", "1"]
    # As from a terminal: a shell's background job (``.ci/run ... &``) ignores SIGINT, its children inherit
    # that, and a Python started so never turns SIGINT into KeyboardInterrupt, so it would run to the end.
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for_rows(out, 10)
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    lines = out.read_bytes().split(b"\n")
    assert process.returncode == 130 and err == "contrique-score: interrupted\n"
    assert 10 <= len(lines) - 1 < 20_000, "the run ended before it could be interrupted"
    assert lines[-1] == b"" and all(json.loads(line)["score"] is not None for line in lines[:-1])  # whole rows


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_sigterm_ends_the_run_as_ctrl_c_does(tiny_bundle_dir: Path, tmp_path: Path, fmt: str) -> None:
    """SIGTERM (``timeout``, a scheduler, a container's stop) killed the run: a json run left its 0-byte
    placeholder for good, and an html run that had begun again left the old page showing thumbnails it had
    removed; Ctrl-C removed the one and wrote the other whole."""
    out = tmp_path / f"out.{fmt}"
    command = [sys.executable, "-m", "contrique_infer", *_many_inputs(tmp_path / "in", 20_000), "--model",
               str(tiny_bundle_dir), "--format", fmt, "-o", str(out), "--workers", "1"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    rows = tmp_path / "out_files" / "rows.jsonl"
    try:
        if fmt == "html":
            wait_for_rows(rows, 10)
        else:
            deadline = time.monotonic() + 120
            while not out.exists() and time.monotonic() < deadline:  # the run has claimed its output
                time.sleep(0.01)
            time.sleep(1.0)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and err == "contrique-score: terminated\n"
    if fmt == "json":
        assert not out.exists()  # as after Ctrl-C: no empty placeholder left for a reader to fail on
    else:
        scored = rows.read_text().count("\n")
        assert 10 <= scored < 20_000, "the run ended before it could be terminated"
        page = out.read_text()  # written as the run ended, from every row (a killed run left a 0-byte page)
        assert str(tmp_path / "in" / "p.png") in page and out.stat().st_mtime_ns >= rows.stat().st_mtime_ns


def test_a_closed_stdout_ends_quietly(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    """contrique-score ... | head -2: more rows than a pipe holds (64 KiB), the reader stops after two."""
    command = [sys.executable, "-m", "contrique_infer", *_many_inputs(tmp_path / "in", 2_000), "--model",
               str(tiny_bundle_dir), "--format", "csv", "--workers", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    head = [process.stdout.readline() for _ in range(2)]
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 141 and err == b""
    assert head[0] == (b"source,score,width,height,error,error_type,model,variant,head,head_kind,score_scale,"
                       b"higher_is_better,reference,apply_exif,bundle_digest,reference_digest,note\n")
    assert head[1].startswith(os.fsencode(tmp_path))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("fmt", ["table", "jsonl"])
def test_stdout_on_a_full_disk_is_an_error_line_not_a_traceback(tiny_bundle_dir: Path, photos: Path, fmt: str) -> None:
    command = [sys.executable, "-m", "contrique_infer", str(photos / "a.png"), "--model", str(tiny_bundle_dir),
               "--format", fmt]
    with open("/dev/full", "w") as full:
        proc = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, check=False, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == "contrique-score: error: cannot write the results to stdout (No space left on device)\n"


def test_symlink_loops_and_unreadable_dirs(capsys, tiny_bundle_dir: Path, photos: Path, monkeypatch) -> None:
    (photos / "sub" / "loop").symlink_to(photos, target_is_directory=True)
    (photos / "self.png").symlink_to(photos / "self.png")
    (photos / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(inputs.os, "scandir", scandir)
    code, out, err = run(capsys, photos, "-r", "--model", tiny_bundle_dir, "--format", "jsonl")
    rows = {Path(r["source"]).relative_to(photos).as_posix(): r for r in map(json.loads, out.splitlines())}
    assert code == 1
    assert rows["locked"]["error"] == "cannot read directory (Permission denied)"
    assert "symbolic link loop" in rows["sub/loop"]["error"]
    assert "symbolic links" in rows["self.png"]["error"]
    assert all(rows[name]["score"] is not None for name in ("a.png", "b.jpg", "sub/c.png", "sub/deeper/d.PNG"))
    assert len(rows) == 7


def test_pillow_warnings_name_their_image_and_quiet_hides_them(capsys, tiny_bundle_dir: Path, photos: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (90, 120, 30)).save(buf, "JPEG", exif=exif.tobytes())
    data = bytearray(buf.getvalue())
    at = data.find(b"Exif\0\0") + 10
    data[at:at + 4] = b"\xff\xff\xff\x7f"  # the first directory's offset points past the end: "Corrupt EXIF data"
    for name in ("x.jpg", "y.jpg"):
        (photos / name).write_bytes(data)
    code, out, err = run(capsys, photos / "x.jpg", photos / "y.jpg", photos / "a.png", "--apply-exif",
                         "--model", tiny_bundle_dir, "--format", "csv")
    assert code == 0 and len(out.splitlines()) == 4
    warned = [line for line in err.splitlines() if "warning" in line]
    assert len(warned) >= 2 and all(line.startswith("contrique-score: warning: ") for line in warned)
    assert {str(photos / "x.jpg"), str(photos / "y.jpg")} <= {line.split(": ")[2] for line in warned}
    code, out, err = run(capsys, photos / "x.jpg", photos / "y.jpg", "--apply-exif", "-q", "--model", tiny_bundle_dir)
    assert code == 0 and err == ""


def _tiff_with_samples_per_pixel(path: Path, samples: int) -> None:
    """A 16x16 uncompressed TIFF declaring ``samples`` 8-bit samples per pixel (2 extra samples each)."""
    tags = [(256, 3, 1, 16), (257, 3, 1, 16), (258, 3, samples, 0), (259, 3, 1, 1), (262, 3, 1, 2),
            (273, 4, 1, 0), (277, 3, 1, samples), (279, 4, 1, 16), (338, 3, samples, 0)]
    arrays = 8 + 2 + len(tags) * 12 + 4
    offsets = {258: arrays, 338: arrays + 2 * samples, 273: arrays + 4 * samples}
    data = b"II*\x00" + (8).to_bytes(4, "little") + len(tags).to_bytes(2, "little")
    for tag, kind, count, value in tags:
        value = offsets.get(tag, value)
        packed = value.to_bytes(2, "little") + b"\0\0" if kind == 3 and count == 1 else value.to_bytes(4, "little")
        data += tag.to_bytes(2, "little") + kind.to_bytes(2, "little") + count.to_bytes(4, "little") + packed
    data += b"\0" * 4 + (8).to_bytes(2, "little") * samples + (2).to_bytes(2, "little") * samples + bytes(16)
    path.write_bytes(data)


def test_pillow_log_messages_are_warnings_that_name_their_image_and_quiet_hides_them(capsys, tiny_bundle_dir: Path,
                                                                                    photos: Path) -> None:
    """Pillow logs some problems (``logger.error``) instead of warning: they are shown as contrique-score's
    warnings, not as bare lines from Python's last-resort log handler, and -q hides them."""
    bad = photos / "samples.tif"
    _tiff_with_samples_per_pixel(bad, 7)  # more than Pillow decodes (6): it logs, then cannot open the file
    code, out, err = run(capsys, bad, photos / "a.png", "--model", tiny_bundle_dir, "--format", "csv")
    assert code == 1 and len(out.splitlines()) == 3
    lines = err.splitlines()
    assert f"contrique-score: warning: {bad}: More samples per pixel than can be decoded: 7" in lines
    assert all(line.startswith("contrique-score: ") for line in lines)
    code, out, err = run(capsys, bad, photos / "a.png", "-q", "--model", tiny_bundle_dir, "--format", "csv")
    assert (code, err) == (1, "") and len(out.splitlines()) == 3


def test_names_with_control_characters_keep_stderr_and_table_one_line_each(capsys, tiny_bundle_dir: Path,
                                                                          tmp_path: Path) -> None:
    bad = tmp_path / "two\nlines\x1b[2J.jpg"
    bad.write_bytes(b"")
    code, out, err = run(capsys, bad, "--model", tiny_bundle_dir)
    assert code == 1
    assert err.splitlines() == [f"contrique-score: {tmp_path}/two\\nlines\\x1b[2J.jpg: is empty (0 bytes)"]
    assert len(out.splitlines()) == 2 and "\\x1b[2J" in out
    code, out, err = run(capsys, bad, "--model", tiny_bundle_dir, "--format", "jsonl")
    assert json.loads(out)["source"] == str(bad)  # machine formats keep the name as it is


def test_an_output_file_a_scan_would_meet_is_refused_before_it_exists(capsys, tiny_bundle_dir: Path,
                                                                     photos: Path) -> None:
    code, out, err = run(capsys, photos, "--model", tiny_bundle_dir, "--format", "csv", "-o", photos / "new.jpg")
    assert code == 2 and "is one of the images to score" in err and not (photos / "new.jpg").exists()


def test_full_reference_without_a_full_reference_head(capsys, photos: Path) -> None:
    code, out, err = run(capsys, photos / "a.png", "--fr", photos / "a.png")  # the packaged model: no FR head
    assert code == 2 and "has no full-reference head, so it cannot score against a reference" in err


def test_empty_directory_is_reported(capsys, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    code, out, _ = run(capsys, tmp_path, "--model", tiny_bundle_dir, "--format", "jsonl")
    assert code == 1 and "no image files in this directory" in json.loads(out)["error"]


def test_list_heads_and_version(capsys, tiny_bundle_dir: Path) -> None:
    code, out, _ = run(capsys, "--list-heads", "--model", tiny_bundle_dir, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and [(h["name"], h["kind"], h["default"]) for h in doc["heads"]] == [
        ("quality", "nr", True), ("fr_quality", "fr", False)]
    code, out, _ = run(capsys, "--list-heads", "--model", tiny_bundle_dir)
    assert code == 0 and out.splitlines()[1].split()[:2] == ["quality", "nr"]
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"contrique-score {__version__}"


def test_list_heads_scores_nothing_and_leaves_a_results_file_alone(capsys, tiny_bundle_dir: Path, photos: Path,
                                                                   tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    assert run(capsys, photos / "a.png", "--model", tiny_bundle_dir, "--format", "jsonl", "-o", results)[0] == 0
    before = results.read_bytes()
    for extra in (["--resume", "-o", results], [photos / "a.png"], ["--fr", photos / "a.png"]):
        code, out, err = run(capsys, "--list-heads", "--model", tiny_bundle_dir, "--format", "jsonl", *extra)
        assert code == 2 and out == "" and "--list-heads lists the model's heads and scores nothing" in err
    assert results.read_bytes() == before
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "exit codes:" in out and "2  usage error" in out


def test_python_dash_m(tiny_bundle_dir: Path, photos: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "contrique_infer", str(photos / "a.png"), "--model", str(tiny_bundle_dir),
         "--format", "jsonl"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["source"] == str(photos / "a.png") and proc.stderr == ""


def test_progress_bar_only_on_a_terminal(capsys, tiny_bundle_dir: Path, photos: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = run(capsys, photos, photos / "notes.txt", "--model", tiny_bundle_dir, "--format", "jsonl")
    assert code == 1 and len(out.splitlines()) == 3
    assert "3img" in err and "notes.txt" in err  # the bar (a count: inputs stream), and the failed file above it
    code, out, err = run(capsys, photos, "--model", tiny_bundle_dir, "--quiet")
    assert code == 0 and err == ""


def test_cuda_fallback_is_a_one_line_warning(capsys, tiny_bundle_dir: Path, photos: Path) -> None:
    code, _, err = run(capsys, photos / "a.png", "--model", tiny_bundle_dir, "--device", "cuda")
    assert code == 0
    if CUDA not in available_providers():
        assert err.startswith("contrique-score: warning: device='cuda' was requested") and err.count("\n") == 1
