"""Fitted heads added to a copy of the tiny bundle load with the runtime and reproduce predictions."""

from __future__ import annotations

import dataclasses
import errno
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contrique_infer.bundle import load_bundle
from contrique_infer.errors import BundleFileError, HeadError
from contrique_infer.manifest import Manifest
from contrique_infer.scorer import QualityScorer
from contrique_training.evaluation.datasets import Dataset, Item
from contrique_training.evaluation.errors import HeadExistsError, ProtocolError
from contrique_training.evaluation import heads as heads_module
from contrique_training.evaluation.heads import add_head, make_head
from contrique_training.evaluation.ridge import fit_ridge
from tiny_bundle import edit_manifest


def dmos_dataset(tmp_path: Path) -> Dataset:
    return Dataset("My DMOS set", (Item(tmp_path / "a.png", 1.0, "r"),), "DMOS", False, "DMOS, 0..1", tmp_path)


def test_added_head_loads_and_reproduces_predictions(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 16))
    model = fit_ridge(x, x @ rng.standard_normal(16) + 3, 0.5)
    head = make_head(model, "mydmos", dmos_dataset(tmp_path))
    assert head.info.file == "heads/mydmos.json" and not head.info.higher_is_better
    assert head.info.dataset == "My DMOS set" and head.info.score_scale == "DMOS, 0..1" and head.alpha == 0.5
    path = add_head(bundle, head)
    assert path == bundle / "heads" / "mydmos.json"

    loaded = load_bundle(bundle)  # verifies every hash, including the new head's
    assert set(loaded.heads) == {"quality", "fr_quality", "mydmos"}
    assert loaded.manifest.default_head == "quality"
    np.testing.assert_allclose(loaded.heads["mydmos"](x), model.predict(x), rtol=1e-12, atol=1e-12)
    assert loaded.heads["mydmos"].info == head.info
    scorer = QualityScorer.from_pretrained(bundle, head="MyDMOS")
    img = (rng.random((20, 24, 3)) * 255).astype(np.uint8)
    assert scorer.score(img) == pytest.approx(float(model.predict(scorer.features(img)[None])[0]), rel=1e-9)

    with pytest.raises(HeadExistsError, match="already has a head 'mydmos'.*--force"):
        add_head(bundle, make_head(model, "MYDMOS", dmos_dataset(tmp_path)))
    replacement = make_head(fit_ridge(x, -x[:, 0], 1.0), "MyDmos", dmos_dataset(tmp_path))
    add_head(bundle, replacement, force=True, make_default=True)
    manifest = Manifest.load(bundle)
    assert [h.name for h in manifest.heads] == ["quality", "fr_quality", "MyDmos"]
    assert manifest.default_head == "MyDmos"
    assert "heads/mydmos.json" not in manifest.files and not (bundle / "heads" / "mydmos.json").exists()
    np.testing.assert_allclose(load_bundle(bundle).heads["MyDmos"](x), replacement(x))


def test_a_head_added_to_a_bundle_without_heads_is_its_default(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    """Added without --default to a head-less export (a contrastive-only run's), the head was left without a
    default: contrique-score then failed with 'has no default head; pass head=NAME', the API's words."""
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    edit_manifest(bundle, lambda d: d.update(heads=[], default_head=None))
    x = np.random.default_rng(3).standard_normal((20, 16))
    add_head(bundle, make_head(fit_ridge(x, x[:, 0], 1.0), "mos", dmos_dataset(tmp_path)))
    assert Manifest.load(bundle).default_head == "mos"
    assert QualityScorer.from_pretrained(bundle).head.name == "mos"


def test_head_checks(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    model = fit_ridge(np.random.default_rng(1).standard_normal((10, 4)), np.arange(10.0), 1.0)
    with pytest.raises(HeadError, match="4 coefficients but the bundle's feature has 16"):
        add_head(bundle, make_head(model, "small", dmos_dataset(tmp_path)))
    with pytest.raises(ProtocolError, match="head name"):
        make_head(model, "../evil", dmos_dataset(tmp_path))
    assert Manifest.load(bundle) == Manifest.load(tiny_bundle_dir)  # nothing changed
    model16 = fit_ridge(np.random.default_rng(2).standard_normal((10, 16)), np.arange(10.0), 1.0)
    odd = make_head(model16, "a", dmos_dataset(tmp_path))
    add_head(bundle, dataclasses.replace(odd, info=dataclasses.replace(odd.info, file="heads/b.json")))
    with pytest.raises(HeadError, match="already another file of the bundle"):
        add_head(bundle, make_head(model16, "b", dmos_dataset(tmp_path)))
    assert set(load_bundle(bundle).heads) == {"quality", "fr_quality", "a"}


def test_a_full_disk_leaves_the_bundle_as_it_was(tmp_path: Path, tiny_bundle_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    model = fit_ridge(np.random.default_rng(3).standard_normal((10, 16)), np.arange(10.0), 1.0)
    real_stage = heads_module.stage

    def stage_until_full(path: Path, write: Any) -> Path:
        if path.name == "contrique.json":  # the head was written in full; the manifest no longer fits
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_stage(path, write)

    monkeypatch.setattr(heads_module, "stage", stage_until_full)
    for name, force in (("new", False), ("quality", True)):  # a new head, and one that replaces a head's file
        with pytest.raises(BundleFileError, match="cannot be written \\(No space left on device\\); the bundle is unchanged"):
            add_head(bundle, make_head(model, name, dmos_dataset(tmp_path)), force=force)
        assert {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()} == before  # no temporary file either
    monkeypatch.undo()
    add_head(bundle, make_head(model, "quality", dmos_dataset(tmp_path)), force=True)
    assert load_bundle(bundle).heads["quality"].info.dataset == "My DMOS set"


def test_the_packaged_models_are_never_changed_in_place(tmp_path: Path) -> None:
    from contrique_infer.location import MODELS, packaged_models

    model = fit_ridge(np.random.default_rng(4).standard_normal((10, 16)), np.arange(10.0), 1.0)
    assert "default" in packaged_models()
    for spelling in [MODELS / name for name in packaged_models()] + [MODELS / "default" / "heads" / ".."]:
        with pytest.raises(ProtocolError, match="is a model packaged with contrique-infer.*copy the folder"):
            add_head(spelling, make_head(model, "mine", dmos_dataset(tmp_path)))
