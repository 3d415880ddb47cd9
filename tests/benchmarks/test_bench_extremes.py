"""benchmarks/bench_extremes.py: scores of ever stronger distortions beyond the benchmark's level 5, measured and tabled."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_extremes  # noqa: E402


def _detail(image: np.ndarray) -> float:
    """Mean absolute difference of neighbouring pixels: what every ladder takes away, or (noise) adds."""
    x = image.astype(np.float64)
    return float(np.abs(np.diff(x, axis=0)).mean() + np.abs(np.diff(x, axis=1)).mean())


class _Sharp:
    def score(self, image: np.ndarray) -> float:
        return _detail(image)


class _Blunt:
    """Higher the more detail is lost (in thousandths): the score of a model that climbs back up."""

    def score(self, image: np.ndarray) -> float:
        return -1000 * _detail(image)


def _photos() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    smooth = [np.kron(rng.integers(0, 256, (12, 16, 3)), np.ones((8, 8, 1))) for _ in range(3)]
    return [Image.fromarray(p.astype(np.uint8)) for p in smooth]


def test_ladders_keep_the_size_and_get_stronger() -> None:
    photo = _photos()[0]
    for ladder in bench_extremes.LADDERS:
        versions = [ladder.apply(photo, v) for v in ladder.strengths]
        assert {v.size for v in versions} == {photo.size} and {v.mode for v in versions} == {"RGB"}
        errors = [np.abs(np.asarray(v, dtype=np.float64) - np.asarray(photo)).mean() for v in versions]
        assert errors[-1] > errors[0] > 0, ladder.name


def test_a_score_that_keeps_falling_and_one_that_climbs_back() -> None:
    photos = _photos()
    blurs = [ladder for ladder in bench_extremes.LADDERS if "blur" in ladder.name]
    falling = bench_extremes.extremes(_Sharp(), photos, blurs)
    climbing = bench_extremes.extremes(_Blunt(), photos, blurs)
    for name in falling:
        assert falling[name]["srcc"] == pytest.approx(1.0) and falling[name]["rises"] == 0.0
        assert falling[name]["max_rise"] == 0.0 and falling[name]["end"] < falling[name]["start"]
        assert climbing[name]["srcc"] == pytest.approx(-1.0) and climbing[name]["rises"] == 1.0
    ladder = blurs[0]
    first_steps = [1000 * (_detail(np.asarray(p)) - _detail(np.asarray(ladder.apply(p, ladder.strengths[0]))))
                   for p in photos]
    assert climbing[ladder.name]["max_rise"] >= max(first_steps) > 0
    assert climbing[ladder.name]["start"] == pytest.approx(-1000 * np.mean([_detail(np.asarray(p)) for p in photos]))


def test_table_has_a_row_per_ladder_and_a_column_per_contender() -> None:
    cell = {"srcc": 0.5, "rises": 0.25, "max_rise": 3.0, "start": 60.0, "end": 40.0}
    text = bench_extremes.table({"a": {"blur": cell}, "b": {"blur": cell}})
    assert text.splitlines()[0] == "| kind | a | b |"
    assert "| blur | 0.500 / 0.25 / 3.0 (60.0 -> 40.0) | 0.500 / 0.25 / 3.0 (60.0 -> 40.0) |" in text


def test_main_measures_a_bundle(tiny_bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, p in enumerate(_photos()):
        p.save(photos / f"p{i}.png")
    out = tmp_path / "e.json"
    assert bench_extremes.main(["--bundle", f"tiny={tiny_bundle_dir}", "--photos", str(photos), "--max-side", "64",
                                "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "longer side <= 64 px" in table and "| kind | tiny |" in table and "| JPEG (Pillow, quality) |" in table
    report = json.loads(out.read_text())
    assert len(report["photos"]) == 3 and set(report["results"]["tiny"]) == {ladder.name for ladder in bench_extremes.LADDERS}


def test_main_refuses_a_missing_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_extremes.main(["--bundle", f"x={tmp_path / 'none'}", "--photos", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err


def test_main_refuses_two_bundles_of_one_label_and_an_unwritable_json_before_the_work(
        tiny_bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: the second bundle's column replaced the first's without a word; a --json under a missing folder failed
    # with a traceback after the whole run
    for extra, said in (
        (["--bundle", f"a={tiny_bundle_dir}"], "--bundle labels must be unique (each is a column of the results); got a, a"),
        (["--json", str(tmp_path / "no" / "e.json")], f"--json {tmp_path / 'no' / 'e.json'}: cannot be written: there is "
                                                       f"no folder {tmp_path / 'no'}"),
    ):
        with pytest.raises(SystemExit) as stop:
            bench_extremes.main(["--bundle", f"a={tiny_bundle_dir}", "--photos", str(tmp_path), *extra])
        assert stop.value.code == 2 and said in capsys.readouterr().err
