"""contrique-eval: subcommands, outputs, head added to the bundle, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

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


def test_exit_codes(tmp_path: Path, tiny_bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["run", "--bundle", str(tiny_bundle_dir), "--root", str(tmp_path), "--no-cache", "--quiet"]
    assert main(base + ["--dataset", "imagenet"]) == 2
    assert main(base + ["--dataset", "kadid", "--splits", "0"]) == 2
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
