"""The linear probe: ridge classifiers and level regression with leave-one-photo-out folds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from broken_stderr import broken_stderrs
from PIL import Image

from contrique_training.distortions import LEVELS, NUM_CLASSES
from contrique_training.probe import main, probe


def _labels(photos: int) -> tuple[np.ndarray, np.ndarray]:
    return np.tile(np.arange(NUM_CLASSES), photos), np.repeat(np.arange(photos), NUM_CLASSES)


def test_informative_features_score_high_and_noise_near_chance() -> None:
    classes, groups = _labels(4)
    rng = np.random.default_rng(1)
    informative = np.eye(NUM_CLASSES)[classes] * 5 + 0.1 * rng.standard_normal((len(classes), NUM_CLASSES))
    levels = np.where(classes > 0, (classes - 1) % LEVELS + 1, 0)
    informative = np.concatenate([informative, levels[:, None].astype(float)], axis=1)
    good = probe(informative, classes, groups)
    assert good["type_accuracy"] == 1.0 and good["class_accuracy"] == 1.0
    assert good["level_spearman"] > 0.95
    noise = probe(rng.standard_normal((len(classes), 64)), classes, groups)
    assert noise["type_accuracy"] < 0.15 and abs(noise["level_spearman"]) < 0.2


@pytest.mark.slow
def test_cli_on_three_tiny_photos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((40, 40)).save(tmp_path / f"{i}.png")
    assert main(["--data", str(tmp_path), "--random", "resnet18", "--size", "32"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["encoder"] == "random resnet18" and result["photos"] == 3
    assert 0 <= result["type_accuracy"] <= 1 and -1 <= result["level_spearman"] <= 1
    assert main(["--data", str(tmp_path)]) == 2
    (tmp_path / "2.png").unlink()
    assert main(["--data", str(tmp_path), "--random", "resnet18", "--size", "32"]) == 1


@pytest.mark.parametrize("size", ["0", "-5", "31", "1025", "40000"])
def test_cli_refuses_square_sizes_out_of_range(tmp_path: Path, capsys: pytest.CaptureFixture[str], size: str) -> None:
    assert main(["--data", str(tmp_path), "--random", "resnet18", "--size", size]) == 2
    assert "probe: error: --size must be from 32 to 1024" in capsys.readouterr().err


@broken_stderrs
def test_a_stderr_that_cannot_be_written_stops_no_probe(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch, stderr: object) -> None:
    """The probe's progress lines and errors are best-effort (commands.say, fail), as contrique-train's: a
    full stderr (``2>/dev/full``) ended the run with exit 1 before any result (a usage error too, instead
    of 2), and a closed one (``2>&-``) put the progress lines and errors on stdout, among the JSON results."""
    rng = np.random.default_rng(2)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((40, 40)).save(tmp_path / f"{i}.png")
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(["--data", str(tmp_path)]) == 2  # no encoder
    assert main(["--data", str(tmp_path / "missing"), "--random", "resnet18", "--size", "32"]) == 1
    assert main(["--data", str(tmp_path), "--random", "mobilenet_v3_small", "--size", "32"]) == 0
    monkeypatch.undo()
    out, err = capsys.readouterr()
    assert err == "" and json.loads(out)["encoder"] == "random mobilenet_v3_small"  # one line of JSON, alone
