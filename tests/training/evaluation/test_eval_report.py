"""Reports: JSON and Markdown written and parseable, scatter PNG written, via the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contrique_training.evaluation import ProtocolConfig, cross_evaluate, evaluate, load_dataset
from contrique_training.evaluation.report import markdown, scatter_plot
from eval_fixtures import write_labelled_set

CONFIG = ProtocolConfig(splits=3, folds=3, alphas=(1e-3, 1e-2, 0.1, 1.0), seed=0)


def test_evaluate_writes_reports_plot_and_head(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    dataset = load_dataset("csv", write_labelled_set(tmp_path / "set"), name="blur set", scale="100 - 25 * level")
    out = tmp_path / "out"
    ev = evaluate(tiny_bundle_dir, dataset, config=CONFIG, out_dir=out, cache_dir=tmp_path / "cache", progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["heads", "report.json", "report.md", "scatter.png"]
    report = json.loads((out / "report.json").read_text())
    assert report == json.loads(json.dumps(ev.report))
    assert report["mode"] == "within" and report["dataset"]["items"] == 40 and report["dataset"]["contents"] == 10
    assert report["bundle"]["sha256"] == json.loads((tiny_bundle_dir / "contrique.json").read_text())["files"]["encoder.onnx"]["sha256"]
    splits = report["result"]["splits"]
    assert len(splits) == 3 and all(s["test_size"] == 8 and s["train_size"] == 32 for s in splits)
    assert report["result"]["summary"]["srcc"]["median"] == pytest.approx(float(np.median([s["srcc"] for s in splits])))
    assert report["paper_srcc"] is None
    head_file = out / "heads" / "blur_set.json"
    assert report["head"]["path"] == str(head_file) and report["head"]["bundle_path"] is None
    head = json.loads(head_file.read_text())
    assert head["name"] == "blur_set" and len(head["coef"]) == 16 and head["alpha"] in CONFIG.alphas
    assert ev.head is not None and ev.head.alpha == report["final_alpha_selection"]["alpha"]

    md = (out / "report.md").read_text()
    assert md.startswith("# CONTRIQUE evaluation: blur set")
    assert f"| SRCC | {report['result']['summary']['srcc']['median']:.4f} |" in md
    assert "3 random 80%/20% splits separated by content" in md
    with Image.open(out / "scatter.png") as png:
        assert png.format == "PNG" and png.size == (720, 600)


def test_cross_report(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    a = load_dataset("csv", write_labelled_set(tmp_path / "a"), name="A")
    b = load_dataset("csv", write_labelled_set(tmp_path / "b", contents=4), name="B", higher_is_better=False)
    ev = cross_evaluate(tiny_bundle_dir, a, b, config=CONFIG, out_dir=tmp_path / "out", cache_dir=None, progress=False)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["mode"] == "cross" and report["result"]["flipped"] is True
    assert report["result"]["n"] == 16 and report["train_dataset"]["name"] == "A"
    assert report["result"]["srcc"] == pytest.approx(ev.result.correlation.srcc)
    md = markdown(report)
    assert "with predictions negated" in md and f"| {report['result']['srcc']:.4f} |" in md
    assert (tmp_path / "out" / "scatter.png").stat().st_size > 1000


def test_scatter_without_curve(tmp_path: Path) -> None:
    path = scatter_plot(tmp_path / "s.png", np.arange(5.0), np.arange(5.0) ** 2, title="t", logistic_params=None)
    with Image.open(path) as png:
        assert png.format == "PNG"
