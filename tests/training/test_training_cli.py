"""``contrique-train`` end to end through ``main(argv)``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from broken_stderr import broken_stderrs, broken_stdouts
from PIL import Image

from contrique_training.cli import main


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli_photos")
    rng = np.random.default_rng(1)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).resize((96, 80)).save(folder / f"{i}.png")
    return folder


def test_smoke_run_and_resume(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    argv = ["--preset", "smoke", "--data", str(photos), "--out", str(run), "--no-progress", "--steps", "3"]
    assert main(argv + ["--stop-at", "2", "--data-license", "CC0"]) == 0
    assert capsys.readouterr().out.strip() == str(run / "checkpoint.pt")
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 2
    capsys.readouterr()
    assert main(["--out", str(run), "--resume", str(run / "checkpoint.pt"), "--no-progress", "--workers", "0"]) == 0
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 3 and ckpt["data"]["license"] == "CC0" and ckpt["config"]["steps"] == 3
    assert "note" not in capsys.readouterr().err  # the same settings (workers only moves the work): no note
    # Settings that change what is learnt are taken, and named: the run is no longer the uninterrupted one
    temperature = ckpt["config"]["temperature"]
    assert main(["--out", str(run), "--resume", str(run / "checkpoint.pt"), "--no-progress", "--steps", "4",
                 "--temperature", str(temperature * 2)]) == 0
    assert torch.load(run / "checkpoint.pt", weights_only=True)["config"]["temperature"] == temperature * 2
    assert capsys.readouterr().err.splitlines()[0] == (  # then the run's summary line
        f"contrique-train: note: resuming {run / 'checkpoint.pt'} with other settings than it was trained with: "
        f"steps 3 -> 4, temperature {temperature!r} -> {temperature * 2!r}; the steps from here are not those of the "
        "uninterrupted run (a warm restart: the schedule is stretched to the new --steps)")
    # --init-from starts a new run from those weights; with --resume it is a usage error, before anything is read
    assert main(["--out", str(run), "--resume", str(run / "checkpoint.pt"), "--init-from", str(run / "checkpoint.pt")]) == 2
    assert "--init-from starts a new run" in capsys.readouterr().err
    # --preset was ignored without a word: the checkpoint's settings are the base of a resumed run
    assert main(["--out", str(run), "--resume", str(run / "checkpoint.pt"), "--preset", "cpu"]) == 2
    assert "--preset cpu would be ignored; leave it out" in capsys.readouterr().err
    assert main(["--preset", "smoke", "--data", str(photos), "--steps", "1", "--init-from", str(run / "checkpoint.pt"),
                 "--out", str(tmp_path / "tuned"), "--no-progress"]) == 0
    assert torch.load(tmp_path / "tuned" / "checkpoint.pt", weights_only=True)["config"]["init_from"] == str(run / "checkpoint.pt")


def test_config_file_and_flags(photos: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'data = "{photos}"\nsteps = 1\ncrop_size = 32\npatch_grid = 1\nbatch_size = 4\n')
    assert main(["--preset", "smoke", "--config", str(config), "--batch-size", "6", "--images-per-class", "3",
                 "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    saved = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["config"]
    assert (saved["crop_size"], saved["batch_size"], saved["steps"], saved["arch"]) == (32, 6, 1, "resnet18")
    assert saved["images_per_class"] == 3


def test_exit_codes(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ["--out", str(tmp_path / "x")]
    assert main(["--preset", "nope", "--data", str(photos)] + out) == 2
    assert main(["--preset", "smoke"] + out) == 2  # no data
    assert "--data" in capsys.readouterr().err
    assert main(["--preset", "smoke", "--data", str(photos), "--crop-size", "0"] + out) == 2
    assert main(["--preset", "smoke", "--data", str(tmp_path / "missing")] + out) == 1
    assert "not a folder" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path / "missing.pt")] + out) == 1


def test_help_and_config_errors_do_not_import_torch(tmp_path: Path) -> None:
    # torch takes about 2 s to import: --help and config checks (presets, files, flags) must not need it.
    out = str(tmp_path / "x")
    script = "\n".join([
        "import sys",
        "from contrique_training.cli import main",
        "assert main(['--help']) == 0",
        f"assert main(['--preset', 'small', '--out', {out!r}]) == 2",  # validated (126 classes), then: no data
        f"assert main(['--preset', 'smoke', '--data', 'd', '--stages', '5', '--out', {out!r}]) == 2",
        "print('torch imported:', 'torch' in sys.modules)",
    ])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("torch imported: False")
    assert "no training data" in result.stderr and "stages must be 1..4" in result.stderr


def test_ctrl_c_is_one_line_and_exit_130(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import contrique_training.train

    run = tmp_path / "run"

    def interrupted(config: object, out: str, **kwargs: object) -> Path:
        Path(out).mkdir()
        (Path(out) / "checkpoint.pt").write_bytes(b"a whole checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(contrique_training.train, "train", interrupted)
    try:
        code = main(["--preset", "smoke", "--data", str(photos), "--out", str(run), "--no-progress"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped main (a traceback on the terminal)")
    assert code == 130
    err = capsys.readouterr().err
    assert err == f"contrique-train: interrupted; resume with --resume {run / 'checkpoint.pt'}\n"


def test_sigterm_before_the_first_checkpoint_removes_the_run_and_exits_143(
        photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """SIGTERM (a scheduler's, ``timeout``'s) ended the run with exit 143 and nothing said, leaving
    ``config.json`` and ``log.csv``, for which the same command then refused the folder; Ctrl-C removed them."""
    import contrique_training.train

    run = tmp_path / "run"

    def terminated(*args: object, **kwargs: object) -> Path:
        (run / "config.json").write_text("{}")  # what a run writes as it starts
        (run / "log.csv").write_text("step,loss\n")
        os.kill(os.getpid(), signal.SIGTERM)
        pytest.fail("SIGTERM did not end the run")

    monkeypatch.setattr(contrique_training.train, "_run", terminated)
    previous = signal.getsignal(signal.SIGTERM)
    code = main(["--preset", "smoke", "--data", str(photos), "--out", str(run), "--no-progress"])
    assert code == 143 and not run.exists() and signal.getsignal(signal.SIGTERM) is previous
    assert capsys.readouterr().err == ("contrique-train: terminated before the first checkpoint; what the run had "
                                       "written is removed\n")


def test_run_folder_and_damaged_resume_config_errors(photos: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "log.csv").write_text("precious\n")
    assert main(["--preset", "smoke", "--data", str(photos), "--out", str(tmp_path / "old")]) == 1
    assert "old: is not empty" in capsys.readouterr().err
    assert main(["--preset", "smoke", "--data", str(photos), "--out", str(tmp_path / "old" / "log.csv")]) == 1
    assert "log.csv: exists and is not a folder" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    torch.save({"format": "contrique-checkpoint", "format_version": 1, "model_config": {}, "model": {},
                "config": "hello", "step": 0, "epoch": 0, "optimizer": {}, "scheduler": {}, "scaler": {}, "rng": {},
                "data": {}}, bad)
    assert main(["--resume", str(bad), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "bad.pt: field 'config' is a str, not a table of settings" in err and "Traceback" not in err


def _run(photos: Path, out: Path, *flags: str) -> int:
    """One smoke run of 1 step into ``out``; returns the exit code."""
    return main(["--preset", "smoke", "--data", str(photos), "--out", str(out), "--no-progress", "--steps", "1",
                 *flags])


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_stop_at_must_be_a_positive_integer(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(photos, tmp_path / "r", "--stop-at", "-1") == 2  # trained 0 steps and exited 0
    assert "--stop-at: expected a positive integer, got '-1'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_resume_refuses_a_folder_of_another_run_and_accepts_its_own_run(photos: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(photos, tmp_path / "a") == 0 and _run(photos, tmp_path / "b", "--seed", "7") == 0
    before = _files(tmp_path / "b")
    assert main(["--resume", str(tmp_path / "a" / "checkpoint.pt"), "--out", str(tmp_path / "b"), "--steps", "2",
                 "--no-progress"]) == 1  # overwrote b's checkpoint and config.json, and mixed its log.csv
    err = capsys.readouterr().err
    assert f"b: is not empty and holds no run that {tmp_path / 'a' / 'checkpoint.pt'} continues" in err
    assert _files(tmp_path / "b") == before
    copy = tmp_path / "elsewhere" / "copy.pt"  # a copy of a's checkpoint continues a's run in a
    copy.parent.mkdir()
    copy.write_bytes((tmp_path / "a" / "checkpoint.pt").read_bytes())
    assert main(["--resume", str(copy), "--out", str(tmp_path / "a"), "--no-progress"]) == 0


def test_resume_refuses_the_folder_of_another_run_of_the_same_settings(photos: Path, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Two runs of one preset and seed on other photos have equal config.json files (the data folder is
    recorded as given, here the same relative name), so the resume of one wrote over the other's finished
    checkpoint and mixed its log.csv; each run's checkpoints now record its run_id."""
    other = shutil.copytree(photos, tmp_path / "other")
    for path in other.iterdir():  # other photos, as many
        Image.open(path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path)
    assert _run(photos, tmp_path / "a") == 0 and _run(other, tmp_path / "b") == 0
    a, b = (torch.load(tmp_path / name / "checkpoint.pt", weights_only=True) for name in "ab")
    assert isinstance(a["run_id"], str) and len(a["run_id"]) == 32 and a["run_id"] != b["run_id"]
    (tmp_path / "b" / "config.json").write_bytes((tmp_path / "a" / "config.json").read_bytes())  # as if the same
    before = _files(tmp_path / "b")
    assert main(["--resume", str(tmp_path / "a" / "checkpoint.pt"), "--out", str(tmp_path / "b"), "--steps", "2",
                 "--no-progress"]) == 1
    assert "holds no run that" in capsys.readouterr().err and _files(tmp_path / "b") == before
    keep = tmp_path / "kept.pt"  # a copy of a's checkpoint taken elsewhere: the same run, resumed into a
    keep.write_bytes((tmp_path / "a" / "checkpoint.pt").read_bytes())
    assert main(["--resume", str(keep), "--out", str(tmp_path / "a"), "--steps", "2", "--no-progress"]) == 0
    assert torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["run_id"] == a["run_id"]  # kept on resume


def test_resume_refuses_what_would_not_be_its_run(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A resume with --optimizer or --arch printed a note that the run goes on, then a CheckpointError blaming a
    damaged checkpoint (KeyError: 'step') or dumping two dicts; one with other --data photos or an added
    --data-authentic trained on without a word (exit 0); one started in another folder said only
    'photos: is not a folder'."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(photos, tmp_path / "photos")
    assert main(["--preset", "smoke", "--data", "photos", "--out", "run", "--no-progress", "--steps", "2"]) == 0
    checkpoint = str(tmp_path / "run" / "checkpoint.pt")
    before = _files(tmp_path / "run")
    capsys.readouterr()
    for flags, words in ((["--optimizer", "adamw"], "cannot change optimizer 'sgd' -> 'adamw'"),
                         (["--arch", "resnet34", "--projection-dim", "64"],
                          "cannot change arch 'resnet18' -> 'resnet34', projection_dim 128 -> 64")):
        assert main(["--resume", checkpoint, "--out", "run", "--no-progress", *flags]) == 2
        err = capsys.readouterr().err
        assert words in err and "start a new run from its weights with --init-from" in err and "note" not in err
    other = shutil.copytree(photos, tmp_path / "other")
    (other / "extra.png").write_bytes((photos / "0.png").read_bytes())
    (tmp_path / "auth").mkdir()
    for path in list(photos.iterdir())[:4]:
        (tmp_path / "auth" / path.name).write_bytes(path.read_bytes())
    count = len(list(photos.iterdir()))
    for flags, words in ((["--data", "other"], f"which trained on {count} pristine photos, and --data other gives "
                                               f"{count + 1}: the steps from here would not be that run's"),
                         (["--data-authentic", "auth"], "which trained on 0 authentic photos, and --data-authentic "
                                                        "auth gives 4")):
        assert main(["--resume", checkpoint, "--out", "run", "--no-progress", "--steps", "3", *flags]) == 2
        assert words in capsys.readouterr().err
    (other / "extra.png").unlink()
    assert main(["--resume", checkpoint, "--out", "run", "--no-progress", "--steps", "3", "--data", "other"]) == 0
    assert _files(tmp_path / "run") != before  # the same photos in another folder: the same run, moved
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["--resume", checkpoint, "--out", str(tmp_path / "run"), "--no-progress", "--steps", "4"]) == 2
    assert (f"{checkpoint} records --data 'other', a folder relative to where its run was started, and there is "
            "none here: run from that folder, or pass --data with the folder's path") in capsys.readouterr().err


def test_stop_at_not_after_the_checkpoint_and_one_folder_as_both_data_kinds_are_refused(
        photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--resume`` (a step-2 checkpoint) with ``--stop-at 1`` trained nothing and printed the checkpoint as if
    it had stopped at step 1, exit 0; ``--data P --data-authentic P`` made each photo both a pristine photo
    and its own authentic class."""
    assert _run(photos, tmp_path / "r", "--steps", "2") == 0
    before = _files(tmp_path / "r")
    capsys.readouterr()
    assert main(["--resume", str(tmp_path / "r" / "checkpoint.pt"), "--out", str(tmp_path / "r"), "--stop-at", "2",
                 "--no-progress"]) == 2
    assert ("--stop-at 2 is not after the step " f"{tmp_path / 'r' / 'checkpoint.pt'} was saved at (2): the run would "
            "train nothing") in capsys.readouterr().err
    assert _files(tmp_path / "r") == before
    assert main(["--preset", "smoke", "--data", str(photos), "--data-authentic", f"{photos}/", "--out",
                 str(tmp_path / "both"), "--no-progress"]) == 2
    assert "is the data folder itself" in capsys.readouterr().err and not (tmp_path / "both").exists()


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(photos: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    bad = shutil.copytree(photos, tmp_path / "bad")
    (bad / "9.png").write_bytes((photos / "0.png").read_bytes()[:300])  # truncated
    assert _run(bad, tmp_path / "new") == 1 and not (tmp_path / "new").exists()  # left config.json and log.csv
    (tmp_path / "empty").mkdir()
    assert _run(bad, tmp_path / "empty") == 1 and not any((tmp_path / "empty").iterdir())
    assert "9.png: cannot be decoded" in capsys.readouterr().err
    (tmp_path / "left").mkdir()
    (tmp_path / "left" / "config.json").write_text("{}")
    assert _run(photos, tmp_path / "left") == 1
    assert "left: holds config.json but no checkpoint.pt: what a run that failed before its first checkpoint left; " \
           "delete the folder" in capsys.readouterr().err
    assert _run(photos, tmp_path / "a") == 0  # a resume that is refused after the checks creates nothing either
    assert main(["--resume", str(tmp_path / "a" / "checkpoint.pt"), "--out", str(tmp_path / "r"),
                 "--data", str(tmp_path / "missing"), "--no-progress"]) == 1
    assert "missing: is not a folder" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_a_run_folder_inside_the_data_folder_is_refused(photos: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    data = shutil.copytree(photos, tmp_path / "data")
    # its loss.png was scanned as a fifth photo on --resume
    assert _run(data, data / "run") == 1 and not (data / "run").exists()
    assert f"run: is inside the data folder {data}, whose scan would read the run's files (loss.png) as photos; " \
           "choose an --out outside it" in capsys.readouterr().err


@pytest.mark.parametrize(("log", "reason"), [
    (b"step,epoch,loss,lr\n1,0,\xff\xfe,0.1\n", "UnicodeDecodeError"),
    (b"step,epoch,loss,lr\nabc,0,1.0,0.1\n", "ValueError: invalid literal for int"),
])
def test_a_damaged_log_stops_a_resume_before_anything_is_rewritten(photos: Path, tmp_path: Path, log: bytes,
                                                                   reason: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _run(photos, run) == 0
    (run / "log.csv").write_bytes(log)
    before = _files(run)
    assert main(["--resume", str(run / "checkpoint.pt"), "--out", str(run), "--steps", "2", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"log.csv: cannot be continued ({reason}" in err and "Traceback" not in err
    assert "move it out of the run folder (a new log.csv then starts after step 1) and resume again" in err
    assert _files(run) == before


def test_resume_refuses_a_config_file_that_sets_another_init_from(photos: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``init_from`` in a ``--config`` given with ``--resume`` would be ignored (the run goes on from its
    checkpoint's weights) yet recorded as where the run started: refused, as ``--init-from`` is, before
    anything is written; the same ``init_from`` as the run recorded (null for a run from random weights)
    resumes as usual."""
    run = tmp_path / "run"
    assert main(["--preset", "smoke", "--data", str(photos), "--out", str(run), "--no-progress", "--steps", "2",
                 "--stop-at", "1"]) == 0
    before = (run / "checkpoint.pt").read_bytes()
    other = tmp_path / "other.toml"
    other.write_text(f'init_from = "{run / "checkpoint.pt"}"\n')
    capsys.readouterr()
    assert main(["--out", str(run), "--resume", str(run / "checkpoint.pt"), "--config", str(other), "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith(
        f"contrique-train: error: {other}: init_from '{run / 'checkpoint.pt'}' starts a new run from a checkpoint's "
        f"weights, and --resume continues the run of {run / 'checkpoint.pt'}, which started from random weights; "
        f"remove init_from from {other} to resume, or leave out --resume to start a new run from it\n")
    assert (run / "checkpoint.pt").read_bytes() == before
    same = tmp_path / "same.json"
    same.write_text('{"init_from": null}')
    assert main(["--out", str(run), "--resume", str(run / "checkpoint.pt"), "--config", str(same), "--no-progress"]) == 0
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 2 and ckpt["config"]["init_from"] is None
    assert "note" not in capsys.readouterr().err


@broken_stderrs
def test_a_stderr_that_cannot_be_written_stops_no_run(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch, stderr: object) -> None:
    """contrique-train's own lines on stderr (the run's summary, the progress bar, a resume's note) are
    best-effort, as contrique-score's: a full stderr (``2>/dev/full``) used to end the run with exit 1
    before its first step, and a closed one (``2>&-``) sent the summary to stdout, before the
    checkpoint's path that scripts read from there."""
    run = tmp_path / "run"
    assert main(["--preset", "smoke", "--data", str(photos), "--out", str(run), "--no-progress", "--steps", "2",
                 "--stop-at", "1"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(["--out", str(run), "--resume", str(run / "checkpoint.pt"), "--steps", "3"]) == 0  # a note, a bar
    monkeypatch.undo()
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 3
    assert capsys.readouterr().out == f"{run / 'checkpoint.pt'}\n"


@broken_stdouts
def test_a_stdout_that_fails_ends_the_run_quietly_with_its_checkpoint(photos: Path, tmp_path: Path, capsys,
                                                                      monkeypatch, stdout: object) -> None:
    """The checkpoint's path is the run's one line on stdout: a full or closed stdout there gave a
    traceback after the whole run; now one line and exit 1, the checkpoint written."""
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["--preset", "smoke", "--data", str(photos), "--out", str(tmp_path / "run"), "--no-progress",
                 "--steps", "1"]) == 1
    monkeypatch.undo()
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        "contrique-train: error: cannot write the results to stdout (")
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == 1
