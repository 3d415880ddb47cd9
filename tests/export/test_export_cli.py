"""contrique-export: arguments, exit codes, stdout/stderr."""

from __future__ import annotations

import os

import subprocess
import sys

import pytest

from contrique_export.checkpoint import OFFICIAL_TRAINING_DATA
from contrique_export.cli import main
from contrique_infer.manifest import Manifest


def test_export_succeeds_quietly(resnet18, reuse_resnet18_graph, tmp_path, capsys):
    out = tmp_path / "bundle"
    code = main(["--ckpt", str(resnet18.official), "--out", str(out), "--arch", "resnet18", "--name", "tiny",
                 "--license", "MIT", "--opset", "18", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.strip() == str(out) and captured.err == ""
    manifest = Manifest.load(out)
    assert (manifest.name, manifest.architecture, manifest.provenance.license) == ("tiny", "resnet18", "MIT")
    assert manifest.heads == () and manifest.default_head is None
    assert "opset 18" in manifest.provenance.notes and "official checkpoint" in manifest.provenance.notes
    assert manifest.provenance.training_data == OFFICIAL_TRAINING_DATA


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "x"], "one of the arguments --ckpt --from-bundle is required"),
        (["--ckpt", "c", "--out", "x", "--head", "Koniq"], "--head expects NAME=PATH, got 'Koniq'"),
        (["--ckpt", "c", "--out", "x", "--variants", "fp32,int4"], "--variants takes fp32,fp16,int8"),
        (["--ckpt", "c", "--out", "x", "--arch", "vgg16"], "invalid choice: 'vgg16'"),
        (["--ckpt", "c", "--out", "x", "--opset", "new"], "expected a positive integer, got 'new'"),
        (["--ckpt", "c", "--out", "x", "--card-notes", "/no/such/notes.md"], "cannot read the card notes"),
        (["--ckpt", "c", "--out", "x", "--scales", "5"], "invalid choice: 5"),
        (["--from-bundle", "b", "--out", "x", "--scales", "3"], "--scales only apply to --ckpt"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_card_notes_from_a_fifo_are_refused_not_waited_on(tmp_path, capsys):
    fifo = tmp_path / "notes.md"
    os.mkfifo(fifo)  # no writer: reading it would block for ever
    assert main(["--ckpt", "c", "--out", str(tmp_path / "x"), "--card-notes", str(fifo)]) == 2
    assert "cannot read the card notes (" in capsys.readouterr().err


def test_failed_export_exits_1(tmp_path, capsys):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a checkpoint")
    assert main(["--ckpt", str(junk), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"contrique-export: error: {junk}: is not a readable PyTorch checkpoint" in captured.err
    assert not (tmp_path / "out").exists()


def test_missing_head_file_exits_1(resnet18, tmp_path, capsys):
    code = main(["--ckpt", str(resnet18.official), "--out", str(tmp_path / "o"), "--arch", "resnet18",
                 "--head", f"Koniq={tmp_path / 'nope.save'}", "--quiet"])
    assert code == 1
    assert "nope.save: cannot be read" in capsys.readouterr().err


def test_help_and_module_entry_point():
    assert main(["--help"]) == 0
    result = subprocess.run([sys.executable, "-m", "contrique_export", "--variants"], capture_output=True, text=True)
    assert result.returncode == 2 and "usage: contrique-export" in result.stderr
