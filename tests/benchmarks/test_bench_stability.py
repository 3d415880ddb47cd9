"""benchmarks/bench_stability.py: score changes under quality-keeping changes, measured and tabled."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_stability  # noqa: E402


class _Mean:
    """Mean brightness: no change but resizing moves it, and the photos keep their order."""

    def score(self, image: np.ndarray) -> float:
        return float(image.mean())


class _Corner:
    """The top-left pixel: mirroring and turning move it to another pixel."""

    def score(self, image: np.ndarray) -> float:
        return float(image[0, 0].mean())


def _photos() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)) for _ in range(5)]


def test_changes_keep_the_size_within_a_pixel() -> None:
    image = _photos()[0]
    sizes = {name: change(image).size for name, change in bench_stability.CHANGES.items()}
    assert sizes == {"crop 1 column": (59, 40), "crop 1 row": (60, 39), "mirror": (60, 40), "turn 180": (60, 40),
                     "1 px narrower": (59, 39), "1 px wider": (61, 41)}


def test_a_score_of_the_whole_picture_barely_moves() -> None:
    got = bench_stability.stability(_Mean(), _photos())
    for name in ("mirror", "turn 180"):
        assert got[name]["median"] == got[name]["max"] == 0.0 and got[name]["tau"] == 1.0
    assert 0 < got["crop 1 column"]["max"] < 2  # one column of 60 taken out of the mean


def test_a_score_of_one_pixel_is_measured_as_unstable() -> None:
    photos = _photos()
    got = bench_stability.stability(_Corner(), photos)
    corners = np.array([np.asarray(p)[0, 0].mean() for p in photos])
    mirrored = np.array([np.asarray(p)[0, -1].mean() for p in photos])
    assert got["mirror"]["max"] == pytest.approx(np.abs(corners - mirrored).max())
    assert got["mirror"]["median_share"] == pytest.approx(np.median(np.abs(corners - mirrored)) / corners.std())
    assert got["mirror"]["tau"] == pytest.approx(bench_stability.kendall_tau(corners, mirrored))


def test_kendall_tau() -> None:
    assert bench_stability.kendall_tau(np.array([1.0, 2, 3]), np.array([1.0, 2, 3])) == 1.0
    assert bench_stability.kendall_tau(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == -1.0
    assert bench_stability.kendall_tau(np.array([1.0, 2, 3]), np.array([1.0, 3, 2])) == pytest.approx(1 / 3)


def test_main_measures_a_bundle(tiny_bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, p in enumerate(_photos()):
        p.resize((96, 64)).save(photos / f"p{i}.png")
    out = tmp_path / "s.json"
    assert bench_stability.main(["--bundle", f"tiny={tiny_bundle_dir}", "--photos", str(photos), "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| change | tiny |" in table and "| turn 180 |" in table
    report = json.loads(out.read_text())
    assert len(report["photos"]) == 5 and set(report["results"]["tiny"]) == set(bench_stability.CHANGES)


def test_main_refuses_a_missing_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_stability.main(["--bundle", f"x={tmp_path / 'none'}", "--photos", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err
