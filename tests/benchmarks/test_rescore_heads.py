"""benchmarks/rescore_heads.py and what it reads of bench_quality.py: saved features, series and the
measures recomputed from them, checked against an independent computation."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
bench_quality = pytest.importorskip("bench_quality", reason="needs the bench and export extras")
import rescore_heads  # noqa: E402

from contrique_infer.head import Head  # noqa: E402
from contrique_infer.manifest import HeadInfo  # noqa: E402
from contrique_training.fullref import METRICS  # noqa: E402

KINDS = ("k1", "k2")
PHOTOS = ("p0.png", "p1.png", "p2.png", "p3.png")


@dataclass(frozen=True)
class _Contender:
    label: str
    higher_is_better: bool


class _Scorer:
    """features_many of a scorer whose feature of an image is its first three pixels; a 1-pixel-wide image fails."""

    def features_many(self, images: list[np.ndarray]) -> list[SimpleNamespace]:
        return [SimpleNamespace(feature=None, error="too small") if image.shape[1] == 1 else
                SimpleNamespace(feature=image[0, :3, 0].astype(np.float32), error=None) for image in images]


def _run(tmp_path: Path) -> tuple[Path, Path, np.ndarray, list[dict]]:
    """A report of 4 photos x 2 kinds x levels 0..5 with full-reference values that fall with the level,
    and features: column 0 the quality the metrics see plus noise, column 1 noise, column 2 the level."""
    rng = np.random.default_rng(7)
    images, rows = [], []
    for p, photo in enumerate(PHOTOS):
        entries = [(None, None, 0)] + [("x", kind, level) for kind in KINDS for level in range(1, 6)]
        for set_, kind, level in entries:
            quality = 90 - p * 7 - level * (12 if kind == "k1" else 6) + rng.normal(0, 3)
            fr = {m.name: (quality if m.higher_is_better else -quality) + rng.normal(0, 2) for m in METRICS}
            images.append({"photo": photo, "set": set_, "kind": kind, "level": level, "fr": fr, "scores": {}})
            rows.append([quality + rng.normal(0, 5), rng.normal(), level])
    report = tmp_path / "run.json"
    report.write_text(json.dumps({"images": images, "sets": {"x": {"kinds": list(KINDS), "parameters": {}}}}))
    source = bench_quality.FeatureSource(_Scorer(), keep=True)
    source.kept = [np.asarray(r, dtype=np.float32) for r in rows]
    source.kept[5] = None  # an image that failed in the run
    features = tmp_path / "run.features"  # no .npz: the name is kept as given
    bench_quality.save_features(features, {"net": source, "same-net": source}, len(images))
    return report, features, np.asarray(rows, dtype=np.float32), images


def _head(tmp_path: Path, name: str, coef: list[float], higher_is_better: bool = True) -> Path:
    info = HeadInfo(name, f"heads/{name}.json", "nr", "d", "s", higher_is_better, "")
    return Head(info, np.asarray(coef, dtype=np.float64), 0.0).save(tmp_path / f"{name}.json")


def test_saved_features_keep_every_image_in_the_reports_order(tmp_path: Path) -> None:
    report, features, rows, _ = _run(tmp_path)
    with np.load(features) as data:
        assert str(data["format"]) == bench_quality.FEATURES_FORMAT
        assert data["labels_0"].tolist() == ["net", "same-net"] and "features_1" not in data.files
        saved = data["features_0"]
    assert np.isnan(saved[5]).all() and np.array_equal(np.delete(saved, 5, axis=0), np.delete(rows, 5, axis=0))
    source = bench_quality.FeatureSource(_Scorer(), keep=True)
    images = [np.full((2, 3, 3), 4, np.uint8), np.zeros((2, 1, 3), np.uint8)]
    assert source(images) is source(images)  # one photo's list: computed once, kept once
    assert [None if f is None else f.tolist() for f in source.kept] == [[4.0, 4.0, 4.0], None]
    with pytest.raises(RuntimeError, match="2 features kept for 3 images"):
        bench_quality.save_features(tmp_path / "bad.npz", {"a": source}, 3)


def test_series_of_orders_levels_negates_lower_is_better_and_leaves_out_failed_images() -> None:
    rec = bench_quality.Record
    records = [rec("p", None, None, 0, {}, {"up": 9.0, "down": 0.0})]
    records += [rec("p", "x", "k", level, {}, {"up": 9.0 - level, "down": float(level)}) for level in (3, 1, 2, 5, 4)]
    records += [rec("p", "x", "j", level, {}, {"up": float(level), "down": None if level == 2 else 1.0})
                for level in range(1, 6)]
    k, j = bench_quality.series_of(records, [_Contender("up", True), _Contender("down", False)])
    assert (k.kind, j.kind) == ("k", "j") and k.scores["up"] == [9.0, 8.0, 7.0, 6.0, 5.0, 4.0]
    assert k.rho == {"up": 1.0, "down": 1.0}  # the level head (lower is better) negated
    assert j.rho["up"] == pytest.approx(-spearmanr([0, 1, 2, 3, 4, 5], [9, 1, 2, 3, 4, 5])[0])
    assert j.scores["down"] is None and "down" not in j.rho  # an image without a score: the series is left out


def test_rescored_figures_match_an_independent_computation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, features, rows, images = _run(tmp_path)
    level = _head(tmp_path, "level", [0.0, 0.0, 1.0], higher_is_better=False)
    noise = _head(tmp_path, "noise", [0.0, 1.0, 0.0])
    out = tmp_path / "out.json"
    assert rescore_heads.main([str(report), str(features), "--head", f"lvl={level}", "--head", f"noise={noise}",
                               "--baseline", "lvl", "--resamples", "20", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| x | **mean over all series** |" in printed and "Against lvl" in printed
    figures = json.loads(out.read_text())["heads"]
    # image 5 (photo p0, kind k1, level 5) has no feature: its series is left out, it is left out across photos
    assert figures["lvl"]["summary"]["x"]["mean"] == 1.0 and figures["lvl"]["summary"]["x"]["left_out"] == 1
    series = {}
    for i, image in enumerate(images):
        key = (image["photo"], image["kind"])
        if image["set"] is not None and i != 5 and (image["photo"], image["kind"]) != ("p0.png", "k1"):
            series.setdefault(key, [(0, rows[[j for j, m in enumerate(images) if m["photo"] == image["photo"]][0], 1])])
            series[key].append((image["level"], rows[i, 1]))
    expected = np.mean([spearmanr([-lv for lv, _ in s], [v for _, v in s])[0] for s in series.values()])
    assert figures["noise"]["summary"]["x"]["mean"] == pytest.approx(expected, abs=1e-12)
    oriented = np.array([[im["fr"][m.name] * (1 if m.higher_is_better else -1) for m in METRICS] for im in images])
    proxy = np.mean([rankdata(oriented[:, k]) for k in range(len(METRICS))], axis=0)
    kept = [i for i in range(len(images)) if i != 5]
    assert figures["noise"]["cross_content"]["x"]["srcc"] == pytest.approx(
        spearmanr(rows[kept, 1], proxy[kept])[0], abs=1e-12)
    assert figures["lvl"]["cross_content"]["x"]["srcc"] == pytest.approx(
        spearmanr(-rows[kept, 2], proxy[kept])[0], abs=1e-12)


def test_unusable_files_and_heads_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, features, _, _ = _run(tmp_path)
    wide = _head(tmp_path, "wide", [1.0, 2.0, 3.0, 4.0])
    good = _head(tmp_path, "good", [1.0, 0.0, 0.0])
    assert rescore_heads.main([str(report), str(features), "--head", f"w={wide}"]) == 2
    assert "--head w: " in (err := capsys.readouterr().err) and "has 4 coefficients but the features 3" in err
    other = tmp_path / "other.npz"
    with open(other, "wb") as file:
        np.savez(file, format=np.array(bench_quality.FEATURES_FORMAT), features_0=np.zeros((3, 3), np.float32),
                 labels_0=np.array(["a"]), features_1=np.zeros((3, 3), np.float32), labels_1=np.array(["b"]))
    assert rescore_heads.main([str(report), str(other), "--head", f"g={good}"]) == 2
    assert "several encoders (a; b): name one with --features-of" in capsys.readouterr().err
    assert rescore_heads.main([str(report), str(other), "--head", f"g={good}", "--features-of", "b"]) == 2
    assert "has 3 rows but the report 44 images" in capsys.readouterr().err
    assert rescore_heads.main([str(report), str(other), "--head", f"g={good}", "--features-of", "c"]) == 2
    assert "holds no features of 'c'; it holds those of a; b" in capsys.readouterr().err
    assert rescore_heads.main([str(features), str(features), "--head", f"g={good}"]) == 2
    assert "not a readable bench_quality.py --json report" in capsys.readouterr().err
    assert rescore_heads.main([str(report), str(report), "--head", f"g={good}"]) == 2
    assert "cannot read it" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        rescore_heads.main([str(report), str(features), "--head", f"g={good}", "--baseline", "h"])
    assert "--baseline h: no such --head" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_quality.main(["--no-brisque", "--photos", str(tmp_path), "--save-features", str(tmp_path / "f.npz")])
    assert "--save-features needs --json" in capsys.readouterr().err


def test_a_features_file_of_another_shape_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: TypeError (an .npy file has no context manager), IndexError (features of one dimension) tracebacks
    report, _, _, _ = _run(tmp_path)
    good = _head(tmp_path, "good", [1.0, 0.0, 0.0])
    one = tmp_path / "one.npy"
    np.save(one, np.zeros((44, 3)))
    assert rescore_heads.main([str(report), str(one), "--head", f"g={good}"]) == 2
    assert f"{one}: holds one array, not a bench_quality.py --save-features file" in capsys.readouterr().err
    flat = tmp_path / "flat.npz"
    np.savez(flat, format=np.array(bench_quality.FEATURES_FORMAT), features_0=np.zeros(44), labels_0=np.array(["a"]))
    assert rescore_heads.main([str(report), str(flat), "--head", f"g={good}"]) == 2
    assert f"{flat}: its features are not a table of a row per image" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_an_output_that_cannot_be_written_is_refused_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                    where: str) -> None:
    # was: a FileNotFoundError / IsADirectoryError traceback once the whole run was done, its JSON lost
    report, features, _, _ = _run(tmp_path)
    good = _head(tmp_path, "good", [1.0, 0.0, 0.0])
    out = tmp_path / "no" / "out.json" if where == "missing folder" else tmp_path
    said = f"cannot be written: there is no folder {out.parent}" if where == "missing folder" else "is a folder"
    with pytest.raises(SystemExit) as stop:
        rescore_heads.main([str(report), str(features), "--head", f"g={good}", "--json", str(out)])
    assert stop.value.code == 2 and f"--json {out}: {said}; the run writes it at its end" in capsys.readouterr().err
    for option in ("--json", "--markdown", "--save-features"):
        given = {"--json": tmp_path / "ok.json", option: out}
        argv = ["--no-brisque", "--photos", str(tmp_path), *(str(v) for kv in given.items() for v in kv)]
        with pytest.raises(SystemExit) as stop:
            bench_quality.main(argv)
        assert stop.value.code == 2 and f"{option} {out}: {said}" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["[]", '{"format": "bench-quality-fullref-1"}', '{"values": [1, 2]}'])
def test_a_full_reference_cache_of_another_shape_starts_a_new_one(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 text: str) -> None:
    # was: AttributeError ('list' object has no attribute 'get') / KeyError tracebacks before the run
    cache = tmp_path / "fr.json"
    cache.write_text(text)
    assert bench_quality.FullReferenceCache(cache).values == {}
    assert f"note: full-reference cache {cache} is not such a cache: starting a new one" in capsys.readouterr().err


def test_runs_side_by_side_keep_each_others_full_reference_values(tmp_path: Path) -> None:
    # was: each run wrote the values it had loaded at its start plus its own, so the last run to save dropped
    # what the runs beside it had computed meanwhile (three runs of 2026-12-07 left one set's values)
    cache = tmp_path / "fr.json"
    first, second = bench_quality.FullReferenceCache(cache), bench_quality.FullReferenceCache(cache)
    first.values["a/1"] = [0.1] * 6
    first.save()
    second.values["b/2"] = [0.2] * 6
    second.save()
    assert bench_quality.FullReferenceCache(cache).values == {"a/1": [0.1] * 6, "b/2": [0.2] * 6}
    assert second.values == {"a/1": [0.1] * 6, "b/2": [0.2] * 6}
    first.values["a/1"] = [0.3] * 6  # a run's own value of a key stands over the file's
    first.save()
    assert bench_quality.FullReferenceCache(cache).values["a/1"] == [0.3] * 6
