"""Acceptance: the RULE checkpoint (official format, rebuilt from the shared README) exported with
the six official heads reproduces the official code's golden features and scores through QualityScorer.

This is the only test that exports a ResNet-50 (one export, shared by the module).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from reference import rule_state_dict

from contrique_export.checkpoint import OFFICIAL_TRAINING_DATA
from contrique_export.cli import main
from contrique_infer.bundle import load_bundle
from contrique_infer.manifest import Manifest
from contrique_infer.scorer import QualityScorer

pytestmark = pytest.mark.slow

HEADS = ("Koniq", "CLIVE", "LIVE", "CSIQ", "LIVE_FR", "CSIQ_FR")


@pytest.fixture(scope="module")
def official_bundle(official_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("official")
    ckpt = root / "CONTRIQUE_checkpoint25.tar"
    torch.save(rule_state_dict(official_dir / "checkpoint_keys.tsv"), ckpt)
    out = root / "contrique-official"
    heads = [f"--head={name}={official_dir / 'regressors' / f'{name}.save'}" for name in HEADS]
    code = main(["--ckpt", str(ckpt), "--out", str(out), "--parity-images", str(official_dir / "sample_images"),
                 "--name", "contrique-official-rule", "--quiet", *heads])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def scorer(official_bundle):
    return QualityScorer.from_pretrained(official_bundle, variant="fp32")


@pytest.fixture(scope="module")
def golden(official_dir):
    features = np.load(official_dir / "golden_features.npz")
    return {k: features[k] for k in features.files}, json.loads((official_dir / "golden_scores.json").read_text())


def test_manifest_of_official_bundle(official_bundle):
    manifest = Manifest.load(official_bundle)
    assert manifest.architecture == "resnet50" and manifest.default_head == "Koniq"
    assert (manifest.feature.dim, manifest.feature.per_scale_dim) == (4096, 2048)
    assert [(h.name, h.kind, h.higher_is_better) for h in manifest.heads] == [
        ("Koniq", "nr", True), ("CLIVE", "nr", True), ("LIVE", "nr", False), ("CSIQ", "nr", False),
        ("LIVE_FR", "fr", False), ("CSIQ_FR", "fr", False),
    ]
    assert manifest.provenance.training_data == OFFICIAL_TRAINING_DATA
    assert manifest.provenance.source_checkpoint == "CONTRIQUE_checkpoint25.tar"
    assert manifest.parity.images == 3 + 7 and manifest.parity.max_abs_diff < 1e-5


@pytest.fixture(scope="module")
def features(official_dir, scorer, golden):
    """QualityScorer features of every sample image (computed once for the module)."""
    return {name: scorer.features(official_dir / "sample_images" / name) for name in golden[0]}


def test_golden_features(features, golden):
    expected_all, _ = golden
    assert len(expected_all) == 7
    for name, expected in expected_all.items():
        assert features[name].shape == (4096,)
        assert np.max(np.abs(features[name] - expected)) < 1e-5, name


def test_golden_scores(official_dir, official_bundle, scorer, features, golden):
    _, scores = golden
    images = official_dir / "sample_images"
    heads = load_bundle(official_bundle).heads  # the exported head files
    for head, per_image in scores["nr"].items():
        for name, expected in per_image.items():
            assert float(heads[head](features[name])) == pytest.approx(expected, abs=1e-3), (head, name)
        # and once per head through QualityScorer.score (head lookup is case-insensitive)
        assert scorer.score(images / "60.bmp", head=head.lower()) == pytest.approx(per_image["60.bmp"], abs=1e-3)
    for head, per_pair in scores["fr"].items():
        for pair, expected in per_pair.items():
            ref, dist = pair.split("|")
            diff = np.abs(features[ref] - features[dist])
            assert float(heads[head](diff)) == pytest.approx(expected, abs=1e-3), (head, pair)
        ref, dist = next(iter(per_pair)).split("|")
        got = scorer.score_fr(images / ref, images / dist, head=head)
        assert got == pytest.approx(per_pair[f"{ref}|{dist}"], abs=1e-3), head
    assert scorer.score(images / "33.bmp") == pytest.approx(scores["nr"]["Koniq"]["33.bmp"], abs=1e-3)  # default head
