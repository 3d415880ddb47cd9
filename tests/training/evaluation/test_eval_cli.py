"""contrique-eval: subcommands, outputs, head added to the bundle, exit codes."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from broken_stderr import broken_stderrs, broken_stdouts

from contrique_infer.bundle import load_bundle
from contrique_training.evaluation.cli import main
from eval_fixtures import write_labelled_set

FAST = ["--folds", "3", "--alphas", "0.001", "0.01", "0.1", "--quiet"]


def test_run_adds_head_and_prints_report(tmp_path: Path, tiny_bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    labels = write_labelled_set(tmp_path / "set")
    args = ["run", "--bundle", str(bundle), "--dataset", "CSV", "--root", str(labels), "--out", str(tmp_path / "out"),
            "--cache", str(tmp_path / "cache"), "--add-head", "blur", "--splits", "3", *FAST]
    assert main(args) == 0
    captured = capsys.readouterr()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert captured.out.startswith("# CONTRIQUE evaluation: labels")
    assert f"| SRCC | {report['result']['summary']['srcc']['median']:.4f} |" in captured.out
    assert "labels: 40 images" in captured.err
    loaded = load_bundle(bundle)
    assert "blur" in loaded.heads and report["head"]["bundle_path"] == str(bundle / "heads" / "blur.json")
    assert json.loads((tmp_path / "out" / "heads" / "blur.json").read_text()) == json.loads((bundle / "heads" / "blur.json").read_text())

    assert main(args) == 1  # the head exists now
    assert "already has a head 'blur'" in capsys.readouterr().err
    assert main(args + ["--force", "--default"]) == 0
    assert load_bundle(bundle).manifest.default_head == "blur"


def test_cross_and_datasets(tmp_path: Path, tiny_bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_labelled_set(tmp_path / "a")
    b = write_labelled_set(tmp_path / "b", contents=3)
    code = main(["cross", "--bundle", str(tiny_bundle_dir), "--train", "csv", str(a), "--test", "csv", str(b),
                 "--no-cache", "--out", str(tmp_path / "out"), *FAST])
    assert code == 0
    assert "# CONTRIQUE evaluation: labels -> labels" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "report.json").read_text())["result"]["n"] == 12
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "koniq10k_scores_and_distributions.csv" in out and "tid2013" in out


def test_cross_refuses_a_test_set_holding_training_images(tmp_path: Path, tiny_bundle_dir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A test CSV listing 9 of the training images as ../a/...: SRCC 0.93 and PLCC 0.999 reported as a
    cross-dataset result, exit 0, though the head had been fitted on those very images."""
    a = write_labelled_set(tmp_path / "a")
    (tmp_path / "b").mkdir()
    rows = a.read_text().splitlines()
    (tmp_path / "b" / "t.csv").write_text("\n".join([rows[0], *(f"../a/{row}" for row in rows[1:10])]) + "\n")
    code = main(["cross", "--bundle", str(tiny_bundle_dir), "--train", "csv", str(a), "--test", "csv",
                 str(tmp_path / "b" / "t.csv"), "--no-cache", *FAST])
    err = capsys.readouterr().err
    assert code == 1 and "9 of the 9 test images of 't' are images of the training set 'labels' too (the first: " in err
    assert "remove them from one of the sets" in err


def test_exit_codes(tmp_path: Path, tiny_bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["run", "--bundle", str(tiny_bundle_dir), "--root", str(tmp_path), "--no-cache", "--quiet"]
    assert main(base + ["--dataset", "imagenet"]) == 2
    assert main(base + ["--dataset", "kadid", "--splits", "0"]) == 2
    capsys.readouterr()
    for option in (["--splits", "2000000000"], ["--alphas", "1e-300"]):  # refused before any work
        assert main(base + ["--dataset", "kadid", *option]) == 2
        assert "must be" in capsys.readouterr().err
    assert main(["cross", "--bundle", "b", "--train", "nope", "x", "--test", "csv", "y"]) == 2
    assert main([]) == 2
    capsys.readouterr()
    assert main(base + ["--dataset", "kadid", "--default"]) == 2  # nothing added to make the default
    assert "--default makes the added head the bundle's default: give --add-head NAME" in capsys.readouterr().err
    assert main(base + ["--dataset", "kadid", "--add-head", ""]) == 2
    assert "--add-head needs the name" in capsys.readouterr().err
    assert main(base + ["--dataset", "kadid"]) == 1
    assert "dmos.csv" in capsys.readouterr().err  # names the missing label file and the layout
    for contents, message in [(2, "80% split of 2 contents leaves one side empty"), (3, "3-fold cross-validation needs at least 3")]:
        labels = write_labelled_set(tmp_path / f"set{contents}", contents=contents)
        assert main(["run", "--bundle", str(tiny_bundle_dir), "--dataset", "csv", "--root", str(labels), "--no-cache", *FAST]) == 1
        assert message in capsys.readouterr().err
    assert main(["run", "--bundle", str(tmp_path / "no-bundle"), "--dataset", "csv", "--root", str(labels), *FAST]) == 1


def test_unusable_out_folders_are_refused_before_the_evaluation(tmp_path: Path, tiny_bundle_dir: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    (tmp_path / "afile").write_text("x")
    base = ["run", "--bundle", str(bundle), "--dataset", "kadid", "--root", str(tmp_path / "none"), "--no-cache",
            "--quiet"]  # a missing dataset: exit 1 if the run got that far
    # --out the bundle overwrote heads/<name>.json behind the manifest's back; a file, a file's child or a
    # 300-byte name failed with a traceback once the evaluation was done
    for out, said in ((bundle, "is the bundle folder"), (bundle / "heads", "is the bundle folder"),
                      (tmp_path / "afile", "afile: is a file, not a folder"),
                      (tmp_path / "afile" / "sub", "cannot be the output folder (Not a directory)"),
                      (tmp_path / ("x" * 300), "cannot be the output folder (File name too long)"),
                      (tmp_path / "new" / ("x" * 300), "a name in it is longer than the 255 bytes")):
        assert main(base + ["--out", str(out)]) == 2
        assert said in capsys.readouterr().err
    assert main(["cross", "--bundle", str(bundle), "--train", "csv", "a", "--test", "csv", "b", "--out",
                 str(bundle)]) == 2
    assert {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()} == before


def test_infinite_alphas_and_constant_scores_are_refused_by_name(tmp_path: Path, tiny_bundle_dir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    labels = write_labelled_set(tmp_path / "set")
    base = ["run", "--bundle", str(tiny_bundle_dir), "--dataset", "csv", "--root", str(labels), "--no-cache", "--quiet"]
    # --alphas 1e400 (infinity) was "correlations are undefined for constant predictions" after the features
    for alpha in ("1e400", "0", "nan"):
        assert main(base + ["--alphas", alpha]) == 2
        assert f"argument --alphas: expected a finite number above 0, got '{alpha}'" in capsys.readouterr().err
    header, *rows = labels.read_text().splitlines()
    fields = [row.split(",") for row in rows]
    labels.write_text("\n".join([header, *(",".join([f[0], "3", *f[2:]]) for f in fields)]) + "\n")
    assert main(base) == 1  # constant scores: the same message, naming no file
    assert f"{labels}: every row has the score 3: correlations with constant scores" in capsys.readouterr().err


@broken_stderrs
def test_a_stderr_that_cannot_be_written_stops_no_evaluation(tmp_path: Path, tiny_bundle_dir: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch, stderr: object) -> None:
    """The dataset's line and the features' progress bar are best-effort, as contrique-train's: a full
    stderr (``2>/dev/full``) ended the run with exit 1 and no report, and a closed one (``2>&-``) sent the
    dataset's line to stdout, before the report, and then the bar ended the run."""
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    labels = write_labelled_set(tmp_path / "set")
    args = ["run", "--bundle", str(bundle), "--dataset", "csv", "--root", str(labels), "--out", str(tmp_path / "out"),
            "--cache", str(tmp_path / "cache"), "--add-head", "blur", "--splits", "3", *FAST[:-1]]  # with the bar
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(args) == 0
    other = write_labelled_set(tmp_path / "other", contents=3)  # not the training images: those are refused
    assert main(["cross", "--bundle", str(bundle), "--train", "csv", str(labels), "--test", "csv", str(other),
                 "--no-cache", *FAST[:-1]]) == 0
    monkeypatch.undo()
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("# CONTRIQUE evaluation: labels\n") and out.count("# CONTRIQUE evaluation") == 2
    assert out == (tmp_path / "out" / "report.md").read_text() + out[out.index("# CONTRIQUE evaluation: labels ->"):]
    assert "blur" in load_bundle(bundle).heads


@broken_stdouts
def test_a_stdout_that_fails_ends_the_command_quietly(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch, stdout: object) -> None:
    """A full (``>/dev/full``) or closed (``>&-``) stdout gave a traceback; now one line and exit 1."""
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["datasets"]) == 1
    monkeypatch.undo()
    assert capsys.readouterr().err.startswith("contrique-eval: error: cannot write the results to stdout (")
