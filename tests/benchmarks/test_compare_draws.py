"""benchmarks/compare_draws.py: recipes compared by their means over draws, paired by draw."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "compare_draws.py"


def _load() -> ModuleType:
    """The script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_compare_draws", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _contender(series: float, across: float, pixelate: float = 0.5) -> dict:
    return {"summary": {"e": {"mean": series, "per_kind": {"pixelate": pixelate}}},
            "cross_content": {"e": {"srcc": across}}}


RESULT = {"sets": ["e"], "contenders": {
    # per series: B above on 2 of 3 draws and in the mean; across photos: B's mean above, but below on 2 of 3
    "v0": _contender(0.90, 0.60, 0.6), "v1": _contender(0.86, 0.50, 0.4), "v2": _contender(0.87, 0.55, 0.3),
    "b0": _contender(0.93, 0.59, 0.9), "b1": _contender(0.85, 0.70, 0.9), "b2": _contender(0.90, 0.54, 0.95),
}}


def test_rows_are_paired_by_draw_and_read_by_mean_and_majority() -> None:
    compare_draws = _load()
    series, across = compare_draws.compare(RESULT, ["v0", "v1", "v2"], ["b0", "b1", "b2"])
    assert series["differences"] == pytest.approx([0.03, -0.01, 0.03])
    assert series["mean_first"] == pytest.approx(0.87666667) and series["mean_second"] == pytest.approx(0.89333333)
    assert series["better"] is True
    assert across["mean_second"] > across["mean_first"] and across["better"] is False  # below on two of three draws
    table = compare_draws.markdown([series, across], ("V", "B"))
    assert ("| (e) | per series | 0.900 / 0.860 / 0.870 | 0.877 | 0.930 / 0.850 / 0.900 | 0.893 | "
            "+0.030 / -0.010 / +0.030 | yes |") in table
    assert table.endswith("B is better in expectation on 1 of 2 measures")


def test_cli_prints_the_table_and_kinds_and_refuses_bad_recipes(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    compare_draws = _load()
    path = tmp_path / "quality.json"
    path.write_text(json.dumps(RESULT))
    recipes = ["--recipe", "V=v0,v1,v2", "--recipe", "B=b0,b1,b2"]
    assert compare_draws.main([str(path), *recipes, "--kind", "e:pixelate"]) == 0
    out = capsys.readouterr().out
    assert "(e) pixelate per series: V 0.600 / 0.400 / 0.300; B 0.900 / 0.900 / 0.950" in out
    assert compare_draws.main([str(path), "--recipe", "V=v0,v1,v2", "--recipe", "B=b0,b1,b9"]) == 2
    assert "has no 'b9' (check the contender labels" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare_draws.main([str(path), "--recipe", "V=v0,v1", "--recipe", "B=b0,b1,b2"])
    assert "the same number of draws" in capsys.readouterr().err
