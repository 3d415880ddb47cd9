"""Features through the runtime with the tiny bundle: values, on-disk cache, resume, failures."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from contrique_infer.scorer import QualityScorer
from contrique_training.evaluation.errors import FeatureError
from contrique_training.evaluation.features import FeatureCache, ModelKey, compute_features, model_key


class Recording:
    """A scorer stand-in that records which images reach ``features_many`` and can fail on demand."""

    def __init__(self, scorer: QualityScorer, fail_on_call: int | None = None) -> None:
        self.scorer, self.fail_on_call = scorer, fail_on_call
        self.manifest, self.variant = scorer.manifest, scorer.variant
        self.seen: list[str] = []
        self.calls = 0

    def features_many(self, images: list[str], **kwargs: Any):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt  # as if the user stopped the run here
        self.seen += [Path(i).name for i in images]
        return self.scorer.features_many(images, **kwargs)


@pytest.fixture(scope="module")
def scorer(tiny_bundle_dir: Path) -> QualityScorer:
    return QualityScorer.from_pretrained(tiny_bundle_dir)


def make_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rng = np.random.default_rng(i)
        p = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (18 + i % 3, 22, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def test_features_equal_the_runtime_and_are_cached(tmp_path: Path, scorer: QualityScorer) -> None:
    paths = make_images(tmp_path / "imgs", 7)
    cache = tmp_path / "cache"
    first = Recording(scorer)
    feats = compute_features(paths + [paths[0]], first, cache_dir=cache, chunk_size=3, progress=False)
    assert feats.shape == (8, 16) and feats.dtype == np.float32
    for p, f in zip(paths, feats):
        np.testing.assert_allclose(f, scorer.features(p), rtol=0, atol=1e-7)
    np.testing.assert_array_equal(feats[7], feats[0])
    assert first.seen == [p.name for p in paths]  # the duplicate was computed once
    key = model_key(scorer)
    folder = cache / key.folder_name
    assert key.sha256 == scorer.manifest.files["encoder.onnx"].sha256 and key.variant == "fp32"
    assert sorted(p.name for p in folder.iterdir()) == ["chunk-000000.npz", "chunk-000001.npz", "chunk-000002.npz", "model.json"]

    second = Recording(scorer)
    again = compute_features(paths, second, cache_dir=cache, progress=False)
    assert second.seen == [] and second.calls == 0
    np.testing.assert_array_equal(again, feats[:7])

    # a modified image gets a new key and is recomputed; the others come from the cache
    Image.fromarray(np.zeros((20, 20, 3), dtype=np.uint8)).save(paths[2])
    os.utime(paths[2], ns=(1, 1))
    third = Recording(scorer)
    changed = compute_features(paths, third, cache_dir=cache, progress=False)
    assert third.seen == ["img2.png"]
    np.testing.assert_allclose(changed[2], scorer.features(paths[2]), atol=1e-7)


def test_a_bundle_with_the_same_graph_and_another_input_contract_has_its_own_cache(
        tmp_path: Path, scorer: QualityScorer) -> None:
    # the same encoder.onnx looking at images downscaled to 16 px computes other features: they must
    # not come from the cache of the bundle that looks at them whole
    paths = make_images(tmp_path / "imgs", 2)
    cache = tmp_path / "cache"
    whole = compute_features(paths, scorer, cache_dir=cache, progress=False)
    folder = Path(shutil.copytree(scorer.bundle_dir, tmp_path / "small"))
    manifest = json.loads((folder / "contrique.json").read_text())
    manifest["format_version"], manifest["input"]["max_side"] = 2, 16
    (folder / "contrique.json").write_text(json.dumps(manifest))
    small = QualityScorer.from_pretrained(folder, variant="fp32")
    assert model_key(small).sha256 == model_key(scorer).sha256 and model_key(small) != model_key(scorer)
    got = compute_features(paths, small, cache_dir=cache, progress=False)
    np.testing.assert_allclose(got, np.stack([small.features(p) for p in paths]), atol=1e-7)
    assert np.abs(got - whole).max() > 1e-3
    assert len(list(cache.iterdir())) == 2


def test_interrupted_run_resumes(tmp_path: Path, scorer: QualityScorer) -> None:
    paths = make_images(tmp_path / "imgs", 6)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        compute_features(paths, Recording(scorer, fail_on_call=2), cache_dir=cache, chunk_size=2, progress=False)
    resumed = Recording(scorer)
    feats = compute_features(paths, resumed, cache_dir=cache, chunk_size=2, progress=False)
    assert resumed.seen == ["img2.png", "img3.png", "img4.png", "img5.png"]
    np.testing.assert_allclose(feats, compute_features(paths, scorer, cache_dir=None, progress=False), atol=1e-7)


def test_failed_images_are_listed_and_the_rest_cached(tmp_path: Path, scorer: QualityScorer) -> None:
    paths = make_images(tmp_path / "imgs", 3)
    bad = tmp_path / "imgs" / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(FeatureError, match=r"1 of 4 images failed \(.*broken\.png") as err:
        compute_features(paths + [bad], scorer, cache_dir=tmp_path / "cache", progress=False)
    assert "the other features are cached, a rerun computes only the missing ones" in str(err.value)
    with pytest.raises(FeatureError, match="1 of 4 images failed") as err:  # it said "cached" here too
        compute_features(paths + [bad], scorer, cache_dir=None, progress=False)
    assert str(err.value).endswith("no feature cache is in use, so a rerun computes every feature again: mend or "
                                   "remove them first")
    rec = Recording(scorer)
    assert compute_features(paths, rec, cache_dir=tmp_path / "cache", progress=False).shape == (3, 16)
    assert rec.calls == 0
    with pytest.raises(FeatureError, match="missing.png: cannot be read"):
        compute_features([tmp_path / "missing.png"], scorer, cache_dir=None, progress=False)


def test_cache_refuses_another_model(tmp_path: Path) -> None:
    key = ModelKey("b", "fp32", "ab" * 32, 16, "cd" * 32)
    cache = FeatureCache(tmp_path, key)
    cache.add(["k1"], np.ones((1, 16)))
    assert list(cache.load()) == ["k1"]
    with pytest.raises(FeatureError, match="another model"):
        FeatureCache(tmp_path, ModelKey("b", "fp32", "ab" * 32, 8, "cd" * 32))
    (cache.folder / "chunk-000001.npz").write_bytes(b"garbage")
    with pytest.raises(FeatureError, match="unreadable cache chunk"):
        cache.load()


def test_cache_ignores_stray_files_and_names_a_chunk_of_non_finite_features(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, ModelKey("b", "fp32", "ab" * 32, 4, "cd" * 32))
    shutil.copy(cache.add(["k1"], np.ones((1, 4))), cache.folder / "chunk-backup.npz")
    # a copy named chunk-backup.npz was a ValueError (invalid literal for int()) once the features were computed
    assert cache.add(["k2"], np.zeros((1, 4))) == cache.folder / "chunk-000001.npz"
    assert sorted(cache.load()) == ["k1", "k2"] and list(cache.chunks()) == [0, 1]
    # NaN features were "features and scores must be finite", naming neither the cache nor what to do
    bad = cache.add(["k3"], np.full((1, 4), np.nan))
    with pytest.raises(FeatureError, match=f"{bad}: cache chunk with non-finite features .*; delete it"):
        cache.load()
