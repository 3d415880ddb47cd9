"""Loading a bundle folder (contrique_infer.bundle): files checked against the manifest, heads that fit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tiny_bundle import CHANNELS, edit_manifest, make_heads, rehash

from contrique_infer.bundle import load_bundle, needed_files
from contrique_infer.errors import (
    BundleFileError,
    HashMismatchError,
    HeadError,
    HeadNotFoundError,
    VariantNotFoundError,
)
from contrique_infer.head import Head


@pytest.fixture()
def bundle(tiny_bundle_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle_dir, tmp_path / "b"))


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
    with pytest.raises(HeadNotFoundError, match="fr_quality"):
        load_bundle(bundle, heads=["koniq"])
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


def test_symlink_escaping_bundle_is_refused(bundle: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.onnx"
    shutil.copy(bundle / "encoder.onnx", outside)
    (bundle / "encoder.onnx").unlink()
    (bundle / "encoder.onnx").symlink_to(outside)
    with pytest.raises(BundleFileError, match="outside the bundle"):
        load_bundle(bundle)


def test_head_length_must_match_feature(bundle: Path) -> None:
    head = make_heads()[0]
    Head(head.info, head.coef[:-1], head.intercept).save(bundle / head.info.file)
    rehash(bundle)
    with pytest.raises(HeadError, match=f"has {2 * CHANNELS - 1} coefficients"):
        load_bundle(bundle)


def test_head_metadata_must_match_manifest(bundle: Path) -> None:
    edit_manifest(bundle, lambda d: d["heads"][0].update(dataset="KonIQ"))
    with pytest.raises(HeadError, match="differs from the manifest"):
        load_bundle(bundle)
