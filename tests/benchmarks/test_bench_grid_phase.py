"""benchmarks/bench_grid_phase.py: a model's response to the phase of a JPEG's block grid, measured."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_grid_phase  # noqa: E402


def _grid_detector(image: np.ndarray) -> np.ndarray:
    """Blockiness at the picture's own 8-row grid: the mean step between rows 8k-1 and 8k over the mean
    step elsewhere, so it responds to a JPEG's grid only where the grid's phase matches the picture's corner."""
    steps = np.abs(np.diff(image.astype(np.float64).mean(axis=2), axis=0)).mean(axis=1)  # step i: rows i, i+1
    at_grid = np.arange(len(steps)) % 8 == 7
    return np.array([steps[at_grid].mean() / steps[~at_grid].mean(), 0.0])


def _blockiness_score(feature: np.ndarray) -> float:
    return -10 * float(feature[0])


def _brightness(image: np.ndarray) -> np.ndarray:
    """Mean brightness: blind to the grid; a crop moves it a little."""
    return np.array([image.mean(), 1.0])


def _photo(seed: int = 0) -> Image.Image:
    """A smooth picture with some texture, which JPEG at low quality turns blocky."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:96, 0:128]
    base = 128 + 60 * np.sin(x / 9 + seed) * np.cos(y / 11) + rng.normal(0, 12, (96, 128))
    return Image.fromarray(np.repeat(np.clip(base, 0, 255)[..., None], 3, axis=2).astype(np.uint8))


def test_versions_keep_the_pixels_and_never_enlarge() -> None:
    photo = _photo()
    got = bench_grid_phase.versions(photo, 64, 85)
    assert got["lossless"].size == got["jpeg"].size == (64, 48)
    small = bench_grid_phase.versions(photo, 512, 85)
    assert np.array_equal(np.asarray(small["lossless"]), np.asarray(photo))  # smaller than --size: as it is
    assert 0 < np.abs(np.asarray(small["jpeg"], dtype=int) - np.asarray(photo, dtype=int)).mean() < 10


def test_phase_ratio_reads_the_0_mod_8_crops_against_the_others() -> None:
    features = np.zeros((17, 2))
    features[[0, 8, 16], 0] = 1.0  # away from the others only at the grid's own phase
    mean = features.mean(axis=0)
    aligned = np.linalg.norm(features[0] - mean)
    other = np.linalg.norm(features[1] - mean)
    assert bench_grid_phase.phase_ratio(features) == pytest.approx(aligned / other)
    assert bench_grid_phase.phase_ratio(features) > 4
    drift = np.stack([np.arange(17.0), np.zeros(17)], axis=1)  # content moving evenly with the crop
    assert bench_grid_phase.phase_ratio(drift) == pytest.approx(
        np.abs(np.array([0, 8, 16]) - 8).mean() / np.abs(np.delete(np.arange(17), [0, 8, 16]) - 8).mean())
    assert bench_grid_phase.aligned_shift(np.where(np.arange(17) % 8 == 0, 1.0, 4.0)) == -3.0


def test_a_grid_detector_is_found_on_the_jpeg_and_not_on_the_lossless_copy() -> None:
    photos = [bench_grid_phase.versions(_photo(seed), 512, 20) for seed in range(3)]
    got = bench_grid_phase.measure(_grid_detector, _blockiness_score, photos, 16, np.array([0]))
    assert got["jpeg"]["ratio"] > 2 and got["jpeg"]["above_one"] == 1.0
    assert got["jpeg"]["shift_median"] < -1  # the aligned crops look blockier, so they score lower
    scores = [_blockiness_score(_grid_detector(np.asarray(photo["jpeg"]))) for photo in photos]
    assert got["jpeg"]["swing_share"] == pytest.approx(got["jpeg"]["swing_median"] / np.std(scores))
    assert got["lossless"]["ratio"] < 1.5 and got["lossless"]["swing_median"] < got["jpeg"]["swing_median"]
    blind = bench_grid_phase.measure(_brightness, None, photos, 16, np.array([0]))
    assert blind["jpeg"]["ratio"] == pytest.approx(blind["lossless"]["ratio"], abs=0.1)  # the control's value
    assert "swing_median" not in blind["jpeg"]


def test_main_measures_a_bundle(tiny_bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in range(2):
        _photo(seed).save(photos / f"p{seed}.png")
    out = tmp_path / "g.json"
    assert bench_grid_phase.main(["--bundle", f"tiny={tiny_bundle_dir}", "--photos", str(photos), "--size", "64",
                                  "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| tiny | jpeg |" in table and "| tiny | lossless |" in table
    report = json.loads(out.read_text())
    assert len(report["photos"]) == 2 and set(report["results"]["tiny"]) == {"jpeg", "lossless"}
    assert report["results"]["tiny"]["jpeg"]["swing_max"] >= report["results"]["tiny"]["jpeg"]["swing_median"] >= 0


def test_main_refuses_bad_arguments_and_a_missing_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench_grid_phase.main(["--bundle", f"x={tmp_path}", "--rows", "4"])
    assert exc.value.code == 2
    assert bench_grid_phase.main(["--bundle", f"x={tmp_path / 'none'}", "--photos", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err
