"""contrique-export: arguments, exit codes, stdout/stderr."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from broken_stderr import broken_stderrs, broken_stdouts
from tiny_bundle import write_photos

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
        (["--ckpt", "c", "--out", "x", "--opset", "new"], "expected an integer, got 'new'"),
        (["--ckpt", "c", "--out", "x", "--card-notes", "/no/such/notes.md"], "cannot read the card notes"),
        (["--ckpt", "c", "--out", "x", "--scales", "5"], "invalid choice: 5"),
        (["--from-bundle", "b", "--out", "x", "--scales", "3"], "--scales only applies to --ckpt"),
        (["--from-bundle", "b", "--out", "x", "--max-side", "0"], "--max-side only applies to --ckpt"),
        (["--ckpt", "c", "--out", "x", "--max-side", "31"],
         "argument --max-side: must be 0 (photos not downscaled) or an integer from 32 (the smallest side a bundle "
         "accepts) to 65535, got 31"),
        (["--ckpt", "c", "--out", "x", "--max-side", "1e3"], "argument --max-side: expected an integer, got '1e3'"),
        # was: the second file silently replaced the first
        (["--ckpt", "c", "--out", "x", "--head", "q=A.json", "--head", "q=B.json"],
         "--head q is given twice (A.json and B.json; names are case-insensitive)"),
        # was: blamed on the head JSON's own name after reading the checkpoint; a/b made heads/a/b.json
        (["--ckpt", "c", "--out", "x", "--head", "a\nb=h.json"], "head name 'a\\nb' is not usable"),
        (["--ckpt", "c", "--out", "x", "--head", "a/b=h.json"], "head name 'a/b' is not usable"),
        # was: OSError File name too long after the whole ONNX export
        (["--ckpt", "c", "--out", "x", "--head", "a" * 300 + "=h.json"], "must be 1 to 100 letters"),
        # was: a conversion traceback from onnxscript, then exit 1
        (["--ckpt", "c", "--out", "x", "--opset", "17"], "ONNX opset 17 cannot be produced: choose one from 18 to"),
        (["--ckpt", "c", "--out", "x", "--opset", "99999"], "ONNX opset 99999 cannot be produced"),
        # was: exit 1 after the whole ONNX export, naming a staging file that no longer existed
        (["--ckpt", "c", "--out", "x", "--name", "n" * 257],
         "bundle name must be 1 to 256 characters, got 257; choose a shorter --name"),
        (["--from-bundle", "b", "--out", "x", "--name", "n" * 300], "bundle name must be 1 to 256 characters, got 300"),
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


def test_card_notes_larger_than_a_megabyte_are_refused(tmp_path, capsys):
    notes = tmp_path / "notes.md"
    notes.write_bytes(b"#" * (1024 * 1024 + 1))
    assert main(["--ckpt", "c", "--out", str(tmp_path / "x"), "--card-notes", str(notes)]) == 2
    assert "cannot read the card notes (is 1048577 bytes, more than the 1048576 allowed)" in capsys.readouterr().err


def test_failed_export_exits_1(tmp_path, capsys):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a checkpoint")
    assert main(["--ckpt", str(junk), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"contrique-export: error: {junk}: is truncated or not a PyTorch checkpoint (16 bytes" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.tar"]  # no staging folder left either


def test_missing_head_file_exits_1(resnet18, tmp_path, capsys):
    code = main(["--ckpt", str(resnet18.official), "--out", str(tmp_path / "o"), "--arch", "resnet18",
                 "--head", f"Koniq={tmp_path / 'nope.save'}", "--quiet"])
    assert code == 1
    assert "nope.save: cannot be read" in capsys.readouterr().err


def test_out_name_longer_than_the_file_system_allows_is_refused_up_front(tmp_path, capsys):
    # was: OSError [Errno 36] File name too long, a traceback from check_output
    assert main(["--ckpt", "c", "--out", str(tmp_path / ("a" * 300)), "--quiet"]) == 1
    assert "cannot be examined (File name too long); choose another output folder" in capsys.readouterr().err


def test_full_reference_default_head_exits_2(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    # was: exported (exit 0), and contrique-score then failed on every image
    head = tmp_path / "fr.json"
    head.write_text(json.dumps({"format_version": 1, "name": "fr", "kind": "fr", "dataset": "x", "score_scale": "DMOS",
                                "higher_is_better": False, "description": "", "intercept": 0.0, "coef": [0.0] * 32}))
    _stop_in_onnx_export(monkeypatch, lambda: pytest.fail("the export must not start"))
    assert main(["--ckpt", str(tiny_checkpoint), "--out", str(tmp_path / "o"), "--head", f"h={head}",
                 "--default-head", "h", "--quiet"]) == 2
    assert ("default head 'h' is a full-reference head, which needs a reference image for every score"
            in capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


def test_help_and_module_entry_point():
    assert main(["--help"]) == 0
    result = subprocess.run([sys.executable, "-m", "contrique_export", "--variants"], capture_output=True, text=True)
    assert result.returncode == 2 and "usage: contrique-export" in result.stderr


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A contrique-train checkpoint of a MobileNetV3-small cut after its first stage (fast to build and read)."""
    torch = pytest.importorskip("torch")
    from contrique_export.model import build_model

    model = build_model("mobilenet_v3_small", projection_dim=8, stages=1)
    path = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    torch.save({"format": "contrique-checkpoint", "format_version": 1, "model_config": model.config.to_dict(),
                "model": model.state_dict(), "config": {}, "data": {}}, path)
    return path


def _stop_in_onnx_export(monkeypatch, stop):
    from contrique_export import exporter

    def export_onnx(model, path, **kwargs):
        path.write_bytes(b"partial")
        stop()

    monkeypatch.setattr(exporter, "export_onnx", export_onnx)


def test_ctrl_c_exits_130_with_one_line_and_leaves_nothing(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    # was: a KeyboardInterrupt traceback
    def interrupt():
        raise KeyboardInterrupt

    _stop_in_onnx_export(monkeypatch, interrupt)
    assert main(["--ckpt", str(tiny_checkpoint), "--out", str(tmp_path / "out"), "--quiet"]) == 130
    captured = capsys.readouterr()
    assert captured.err == "contrique-export: interrupted\n" and captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_sigterm_exits_143_and_removes_the_staging_folder(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    # was: killed by the signal, leaving .out.partial-* next to --out
    _stop_in_onnx_export(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)
    assert main(["--ckpt", str(tiny_checkpoint), "--out", str(tmp_path / "out"), "--quiet"]) == 143
    captured = capsys.readouterr()
    assert captured.err == "contrique-export: terminated\n" and captured.out == ""
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is before  # main's handler is only installed while it runs


@pytest.mark.parametrize("out", [".", ".."])
def test_out_naming_the_current_folder_is_refused_before_the_work(tiny_checkpoint, tmp_path, monkeypatch, capsys, out):
    # was: `--out .` in an empty folder exported everything, then OSError: [Errno 22] Invalid argument: '.'
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    _stop_in_onnx_export(monkeypatch, lambda: pytest.fail("the export must not start"))
    assert main(["--ckpt", str(tiny_checkpoint), "--out", out, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == (f"contrique-export: error: {out}: is the current, the parent or the root folder, which the bundle "
                   "cannot replace; name a new folder, e.g. ./bundle\n")
    assert list(tmp_path.iterdir()) == [tmp_path / "empty"] and not any((tmp_path / "empty").iterdir())


@broken_stderrs
def test_a_stderr_that_cannot_be_written_stops_no_export(tiny_checkpoint, tmp_path, monkeypatch, capsys, stderr):
    """The export's step lines are best-effort (commands.say), as contrique-train's: a full stderr
    (``2>/dev/full``) ended the export at its first line with exit 1 and nothing written, and a closed one
    (``2>&-``) put every step line on stdout, before the bundle's path that scripts read from there."""
    photos = write_photos(tmp_path / "photos", 2, 0)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(["--ckpt", str(tiny_checkpoint), "--out", str(tmp_path / "out")]) == 0
    assert main(["--from-bundle", str(tmp_path / "out"), "--out", str(tmp_path / "fp16"), "--variants", "fp32,fp16",
                 "--parity-images", str(photos)]) == 0  # and a line of the fp16 variant's fidelity
    monkeypatch.undo()
    assert capsys.readouterr() == (f"{tmp_path / 'out'}\n{tmp_path / 'fp16'}\n", "")
    assert list(Manifest.load(tmp_path / "fp16").variants) == ["fp32", "fp16"]


@broken_stdouts
def test_a_stdout_that_fails_ends_the_export_quietly_with_the_bundle_written(tiny_checkpoint, tmp_path, monkeypatch,
                                                                            capsys, stdout):
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["--ckpt", str(tiny_checkpoint), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    monkeypatch.undo()
    assert capsys.readouterr().err == "contrique-export: error: cannot write the results to stdout (" + (
        "No space left on device)\n" if stdout is not None else "it is closed)\n")
    assert "fp32" in Manifest.load(tmp_path / "out").variants
