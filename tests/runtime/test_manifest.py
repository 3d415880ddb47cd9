"""The manifest (contrique_infer.manifest): parsing, validation, and the paths it may name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tiny_bundle import CHANNELS, edit_manifest

from contrique_infer.errors import BundleFileError, HeadNotFoundError, ManifestError
from contrique_infer.manifest import MANIFEST_NAME, Manifest


@pytest.fixture()
def bundle(tiny_bundle_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle_dir, tmp_path / "b"))


def test_manifest_round_trip(bundle: Path) -> None:
    manifest = Manifest.load(bundle)
    assert Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest
    assert manifest.feature.dim == 2 * CHANNELS
    assert [s.divisor for s in manifest.input.scales] == [1, 2]
    assert manifest.head_info("QUALITY").name == manifest.head_info().name == "quality"
    with pytest.raises(HeadNotFoundError, match="has no head 'koniq'; available heads: quality, fr_quality"):
        manifest.head_info("koniq")
    with pytest.raises(HeadNotFoundError, match="a head is named by a string, not int 5; available heads"):
        manifest.head_info(5)  # type: ignore[arg-type]


def test_a_head_given_as_its_head_info_says_to_pass_its_name(bundle: Path) -> None:
    """scorer.score(image, head=scorer.head) (a HeadInfo, what scorer.head and scorer.heads give) said `a head is
    named by a string, not HeadInfo HeadInfo(name='quality', file=..., description=...)`, the whole record."""
    manifest = Manifest.load(bundle)
    with pytest.raises(HeadNotFoundError) as refused:
        manifest.head_info(manifest.heads[1])  # type: ignore[arg-type]
    assert str(refused.value) == ("a head is named by a string, not by its HeadInfo: pass head='fr_quality' (its "
                                  "name); available heads: quality, fr_quality")


def test_a_bundle_without_heads_says_how_to_add_one(bundle: Path) -> None:
    edit_manifest(bundle, lambda d: d.update(heads=[], default_head=None))  # as a contrastive-only run's export
    manifest = Manifest.load(bundle)
    with pytest.raises(HeadNotFoundError, match="has no heads, so it gives features but no scores: .* "
                                                "contrique-eval run --add-head NAME --default"):
        manifest.head_info()


def test_max_side_round_trip_and_format_version(bundle: Path) -> None:
    manifest = Manifest.load(bundle)
    assert manifest.input.max_side is None and "max_side" not in manifest.input.to_dict()
    assert manifest.input.format_version == 1
    edit_manifest(bundle, lambda d: d.update(format_version=2) or d["input"].update(max_side=512))
    wide = Manifest.load(bundle)
    assert wide.input.max_side == 512 and wide.input.format_version == 2
    assert Manifest.from_dict(json.loads(json.dumps(wide.to_dict()))) == wide


@pytest.mark.parametrize("bad", ["../outside.onnx", "/etc/passwd", "a/../../b", "C:/x.onnx", "a\\b.onnx", ""])
def test_paths_outside_bundle_are_refused(bundle: Path, bad: str) -> None:
    def edit(data):
        data["variants"]["fp32"]["file"] = bad
        data["files"][bad] = data["files"].pop("encoder.onnx")

    edit_manifest(bundle, edit)
    with pytest.raises(BundleFileError, match="relative path"):
        Manifest.load(bundle)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("name"), "missing required field 'name'"),
        (lambda d: d.update(format_version=3), "format_version 3 is not supported"),
        (lambda d: d.update(format_version=1) or d["input"].update(max_side=512), "max_side needs format_version 2"),
        (lambda d: d["input"].update(max_side=0), "'input.max_side' must be >= 1"),
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
        # every image scored 0, upside down, or a misleading NonFiniteError (hostile round 10)
        (lambda d: d["input"].update(value_range=[0.0, 0.0]), r"input: field 'value_range' must be \[low, high\] with"),
        (lambda d: d["input"].update(value_range=[0.0, 1e-30]), "high - low >= 0.001"),
        (lambda d: d["input"].update(value_range=[1.0, 0.0]), "upside down"),
        (lambda d: d["input"].update(value_range=[-1e30, 1e30]), r"within \+-1e\+06"),
        (lambda d: d.update(name="m" * 257), "'name' must be 1 to 256 characters, got 257"),
        (lambda d: d.update(name=""), "'name' must be 1 to 256"),
    ],
)
def test_invalid_manifests(bundle: Path, edit, message: str) -> None:
    edit_manifest(bundle, edit)
    with pytest.raises(ManifestError, match=message) as info:
        Manifest.load(bundle)
    assert MANIFEST_NAME in str(info.value)


def test_missing_manifest_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(BundleFileError, match="contrique-export"):
        Manifest.load(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ManifestError, match="JSON"):
        Manifest.load(tmp_path)
