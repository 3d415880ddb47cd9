"""Tests of contrique_infer.bundle: manifest and head parsing, validation and hash checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from contrique_infer.bundle import MANIFEST_NAME, Head, HeadInfo, Manifest, load_bundle, needed_files
from contrique_infer.errors import (
    BundleFileError,
    HashMismatchError,
    HeadError,
    HeadNotFoundError,
    ManifestError,
    VariantNotFoundError,
)
from tiny_bundle import CHANNELS, make_heads


@pytest.fixture()
def bundle(tiny_bundle_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle_dir, tmp_path / "b"))


def _edit_manifest(folder: Path, edit) -> None:
    path = folder / MANIFEST_NAME
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_manifest_round_trip(bundle: Path) -> None:
    manifest = Manifest.load(bundle)
    assert Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest
    assert manifest.feature.dim == 2 * CHANNELS
    assert [s.divisor for s in manifest.input.scales] == [1, 2]


def test_max_side_round_trip_and_format_version(bundle: Path) -> None:
    manifest = Manifest.load(bundle)
    assert manifest.input.max_side is None and "max_side" not in manifest.input.to_dict()
    assert manifest.input.format_version == 1
    _edit_manifest(bundle, lambda d: d.update(format_version=2) or d["input"].update(max_side=512))
    wide = Manifest.load(bundle)
    assert wide.input.max_side == 512 and wide.input.format_version == 2
    assert Manifest.from_dict(json.loads(json.dumps(wide.to_dict()))) == wide


def test_head_ranges_clip_features_and_scores(tmp_path: Path) -> None:
    info = HeadInfo("q", "heads/q.json", "nr", "d", "0-100", True, "")
    head = Head(info, np.array([2.0, -1.0]), 10.0, feature_range=(np.array([0.0, 0.0]), np.array([1.0, 5.0])),
                score_range=(0.0, 100.0))
    assert head.format_version == 2 and Head(info, head.coef, 1.0).format_version == 1
    assert float(head(np.array([0.5, 1.0]))) == 10.0  # inside the ranges: the plain product
    assert float(head(np.array([-50.0, 1.0]))) == 9.0  # feature 0 clipped to 0
    assert float(head(np.array([1e9, -1e9]))) == 12.0  # both clipped: 2 + 0 + 10
    big = Head(info, np.array([100.0, 0.0]), 10.0, score_range=(0.0, 100.0))
    assert float(big(np.array([5.0, 0.0]))) == 100.0 and np.isnan(big(np.array([np.nan, 0.0])))
    assert np.isinf(Head(info, np.array([1e308, 1e308]), 0.0, score_range=(0.0, 1.0))(np.array([1e10, 1e10])))
    path = head.save(tmp_path / "q.json")
    again = Head.from_dict(json.loads(path.read_text()), path, "heads/q.json")
    assert json.loads(path.read_text())["format_version"] == 2
    assert again.score_range == (0.0, 100.0) and np.array_equal(again.feature_range[1], [1.0, 5.0])
    for edit, message in ((lambda d: d.update(feature_min=[0.0]), "list of 2 numbers"),
                          (lambda d: d.update(feature_min=[2.0, 0.0]), "must not exceed"),
                          (lambda d: d.update(score_min=200.0), "must not exceed"),
                          (lambda d: d.update(format_version=3), "format_version 3 is not supported")):
        data = json.loads(path.read_text())
        edit(data)
        with pytest.raises(HeadError, match=message):
            Head.from_dict(data, path, "heads/q.json")


def test_load_bundle_heads_values(bundle: Path) -> None:
    loaded = load_bundle(bundle)
    assert set(loaded.heads) == {"quality", "fr_quality"}
    expected = {h.name: h for h in make_heads()}
    feature = np.linspace(-1, 1, 2 * CHANNELS)
    for name, head in loaded.heads.items():
        ref = expected[name]
        assert head(feature) == pytest.approx(float(feature @ ref.coef + ref.intercept), abs=1e-12)
    assert loaded.manifest.head_info("QUALITY").name == "quality"
    assert loaded.manifest.head_info().name == "quality"
    assert needed_files(loaded.manifest, "fp32", ["quality"]) == ["encoder.onnx", "heads/quality.json"]


def test_unknown_head_and_variant(bundle: Path) -> None:
    manifest = Manifest.load(bundle)
    with pytest.raises(HeadNotFoundError, match="fr_quality"):
        manifest.head_info("koniq")
    with pytest.raises(VariantNotFoundError, match="int8"):
        load_bundle(bundle, variant="int8")


def test_altered_file_is_refused(bundle: Path) -> None:
    head_file = bundle / "heads" / "quality.json"
    data = json.loads(head_file.read_text())
    data["intercept"] += 1.0
    head_file.write_text(json.dumps(data))
    with pytest.raises(HashMismatchError, match="quality.json"):
        load_bundle(bundle)


def test_truncated_model_is_refused(bundle: Path) -> None:
    model = bundle / "encoder.onnx"
    model.write_bytes(model.read_bytes()[:-10])
    with pytest.raises(HashMismatchError, match="truncated"):
        load_bundle(bundle)


@pytest.mark.parametrize("bad", ["../outside.onnx", "/etc/passwd", "a/../../b", "C:/x.onnx", "a\\b.onnx", ""])
def test_paths_outside_bundle_are_refused(bundle: Path, bad: str) -> None:
    def edit(data):
        data["variants"]["fp32"]["file"] = bad
        data["files"][bad] = data["files"].pop("encoder.onnx")

    _edit_manifest(bundle, edit)
    with pytest.raises(BundleFileError, match="relative path"):
        Manifest.load(bundle)


def test_symlink_escaping_bundle_is_refused(bundle: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.onnx"
    shutil.copy(bundle / "encoder.onnx", outside)
    (bundle / "encoder.onnx").unlink()
    (bundle / "encoder.onnx").symlink_to(outside)
    with pytest.raises(BundleFileError, match="outside the bundle"):
        load_bundle(bundle)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("name"), "missing required field 'name'"),
        (lambda d: d.update(format_version=3), "format_version 3 is not supported"),
        (lambda d: d["input"].update(min_size="32"), "'input.min_size' must be int"),
        (lambda d: d["heads"][0].update(higher_is_better=1), "must be bool"),
        (lambda d: d["heads"][0].update(kind="xx"), "must be one of nr, fr"),
        (lambda d: d.update(default_head="nope"), "default_head 'nope'"),
        (lambda d: d["feature"].update(dim=17), "feature.dim 17"),
        (lambda d: d["files"].pop("encoder.onnx"), "no entry"),
        (lambda d: d["variants"].pop("fp32"), "must include 'fp32'"),
        (lambda d: d["variants"].update(bf16={"file": "encoder.onnx"}), "unknown variant"),
        (lambda d: d["files"]["encoder.onnx"].update(sha256="xyz"), "64 hexadecimal"),
        (lambda d: d.update(input=[]), "must be a JSON object"),
        (lambda d: d.update(format_version=1) or d["input"].update(max_side=512), "max_side needs format_version 2"),
        (lambda d: d["input"].update(max_side=0), "'input.max_side' must be >= 1"),
    ],
)
def test_invalid_manifests(bundle: Path, edit, message: str) -> None:
    _edit_manifest(bundle, edit)
    with pytest.raises(ManifestError, match=message) as info:
        Manifest.load(bundle)
    assert MANIFEST_NAME in str(info.value)


def test_missing_manifest_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(BundleFileError, match="contrique-export"):
        Manifest.load(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ManifestError, match="JSON"):
        Manifest.load(tmp_path)


def test_head_length_must_match_feature(bundle: Path) -> None:
    head = make_heads()[0]
    Head(head.info, head.coef[:-1], head.intercept).save(bundle / head.info.file)
    from contrique_infer.bundle import file_table

    _edit_manifest(bundle, lambda d: d["files"].update({k: v.to_dict() for k, v in file_table(bundle, [head.info.file]).items()}))
    with pytest.raises(HeadError, match=f"has {2 * CHANNELS - 1} coefficients"):
        load_bundle(bundle)


def test_head_metadata_must_match_manifest(bundle: Path) -> None:
    _edit_manifest(bundle, lambda d: d["heads"][0].update(dataset="KonIQ"))
    with pytest.raises(HeadError, match="differs from the manifest"):
        load_bundle(bundle)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format_version": 1, "name": "x", "kind": "nr", "dataset": "d", "score_scale": "s", "higher_is_better": True, "intercept": 0.0, "coef": []}, "non-empty"),
        ({"format_version": 1, "name": "x", "kind": "nr", "dataset": "d", "score_scale": "s", "higher_is_better": True, "intercept": 0.0, "coef": ["a"]}, "numbers"),
        ({"format_version": 1, "name": "x", "kind": "nr", "dataset": "d", "score_scale": "s", "higher_is_better": True, "intercept": float("nan"), "coef": [1.0]}, "finite"),
        ({"format_version": 1, "name": "x", "kind": "nr", "dataset": "d", "score_scale": "s", "higher_is_better": True, "coef": [1.0]}, "intercept"),
        ([1, 2], "JSON object"),
    ],
)
def test_invalid_heads(data, message: str) -> None:
    with pytest.raises(HeadError, match=message):
        Head.from_dict(data, "h.json", "h.json")
