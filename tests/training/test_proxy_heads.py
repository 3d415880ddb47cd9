"""The quality and level heads fitted on proxy sets (:mod:`contrique_training.proxy.heads`)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contrique_infer.bundle import load_bundle
from contrique_infer.manifest import Manifest
from contrique_infer.scorer import QualityScorer
from contrique_training.evaluation import api as evaluation_api
from contrique_training.evaluation.datasets import read_csv
from contrique_training.evaluation.errors import HeadExistsError
from contrique_training.evaluation.protocol import ProtocolConfig
from contrique_training.evaluation.ridge import fit_ridge
from contrique_training.proxy import heads as heads_module
from contrique_training.proxy.errors import ProxyError
from contrique_training.proxy.fitting import PROXY_ALPHAS, Standardiser, fit_blend
from contrique_training.proxy.heads import _descriptions, add_proxy_heads
from contrique_training.proxy.make import load_proxy_set

CONFIG = ProtocolConfig(splits=2, folds=2, alphas=PROXY_ALPHAS)


def test_add_proxy_heads_fits_loads_and_becomes_default(proxy_dir: Path, tiny_bundle_dir: Path,
                                                       tmp_path: Path) -> None:
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    with pytest.raises(HeadExistsError, match="quality"):  # the tiny bundle has a head 'quality'
        add_proxy_heads(bundle, proxy_dir, config=CONFIG, cache_dir=None, progress=False)
    assert Manifest.load(bundle) == Manifest.load(tiny_bundle_dir)
    with pytest.raises(ProxyError, match="default head"):
        add_proxy_heads(bundle, proxy_dir, default="fr_quality", force=True, cache_dir=None, progress=False)

    report = add_proxy_heads(bundle, proxy_dir, force=True, config=CONFIG, cache_dir=None, progress=False)
    loaded = load_bundle(bundle)  # every hash checked, the new heads' included
    assert loaded.manifest.default_head == report["default_head"] == "quality"
    assert set(loaded.heads) == {"quality", "level", "fr_quality"}
    quality, level = loaded.heads["quality"].info, loaded.heads["level"].info
    assert (quality.kind, quality.dataset, quality.score_scale, quality.higher_is_better) == (
        "nr", "proxy-mdsi-val-skimage", "0-100", True)
    assert (level.kind, level.dataset, level.score_scale, level.higher_is_better) == (
        "nr", "proxy-mdsi-val-skimage", "0-5 (distortion level)", False)
    assert "higher is WORSE" in level.description and "MDSI" in quality.description

    scorer = QualityScorer.from_pretrained(bundle)
    data = {n: read_csv(proxy_dir / f"{n}.csv") for n in ("quality", "level")}
    x = np.stack([scorer.features(p) for p in data["quality"].paths]).astype(np.float64)
    z = (x - x.mean(axis=0)) / x.std(axis=0)  # the tiny encoder has no constant feature
    assert report["images"] == len(x) and report["photos"] == 5 and report["feature_dim"] == x.shape[1]
    for name in ("quality", "level"):
        entry = report["heads"][name]
        assert entry["alpha"] in PROXY_ALPHAS and loaded.heads[name].alpha == entry["alpha"]
        assert set(entry["cv"]) == {"srcc", "plcc", "rmse"} and len(entry["cv_splits"]) == CONFIG.splits
        head, targets = loaded.heads[name], data[name].scores
        np.testing.assert_array_equal(head.feature_range[0], x.min(axis=0))  # fitted on these features
        np.testing.assert_array_equal(head.feature_range[1], x.max(axis=0))
        assert head.score_range == (min(targets), max(targets))
        expected = np.clip(fit_ridge(z, targets, entry["alpha"]).predict(z), min(targets), max(targets))
        np.testing.assert_allclose(head(x), expected, rtol=1e-8, atol=1e-8)
        assert (head.feature_clip, head.fade) == ("box", (2.0, 4.0)) and report["fade"] == [2.0, 4.0]
        centre = (x.min(axis=0) + x.max(axis=0)) / 2
        away = x[0] - centre
        worst = min(targets) if head.info.higher_is_better else max(targets)
        assert float(head(centre + 1e6 * away)) == pytest.approx(worst, abs=1e-9)  # far outside every fitted image
        clipped = dataclasses.replace(head, fade=None)  # box clipping alone: the corner of the range
        assert float(clipped(x.min(axis=0) - 1e6)) == pytest.approx(float(clipped(x.min(axis=0))))
        ray = dataclasses.replace(clipped, feature_clip="ray")
        far, farther = ray(centre + 1e6 * away), ray(centre + 1e9 * away)
        assert min(targets) <= float(far) <= max(targets)
        assert float(far) == pytest.approx(float(farther))  # the same point of the range's edge, on the same line

    assert scorer.head is not None and scorer.head.name == "quality"
    image = Image.open(data["quality"].paths[1])
    assert scorer.score(image) == pytest.approx(float(loaded.heads["quality"](scorer.features(image))), rel=1e-9)
    assert scorer.score(image, head="level") == pytest.approx(float(loaded.heads["level"](scorer.features(image))))


def test_group_weights_reach_the_heads_and_the_report(proxy_dir: Path, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    report = add_proxy_heads(bundle, proxy_dir, force=True, config=CONFIG, group_weights={"learned": 0.5},
                             cache_dir=None, progress=False)
    assert report["group_weights"] == {"learned": 0.5}
    quality = load_bundle(bundle).heads["quality"]
    assert "with feature groups weighted learned 0.5" in quality.info.description
    # every column weighs 0.5: the same fit as the plain one at a quarter of the alpha
    scorer = QualityScorer.from_pretrained(bundle)
    x = np.stack([scorer.features(p) for p in read_csv(proxy_dir / "quality.csv").paths]).astype(np.float64)
    z = Standardiser.fit(x)(x)
    y = read_csv(proxy_dir / "quality.csv").scores
    expected = np.clip(fit_ridge(z, y, report["heads"]["quality"]["alpha"] / 0.25).predict(z), min(y), max(y))
    np.testing.assert_allclose(quality(x), expected, rtol=1e-7, atol=1e-7)


@pytest.mark.slow
def test_the_quality_head_can_fit_the_six_metric_target(skimage_dir: Path, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    from contrique_training.proxy.make import make_proxy_set, target_csv

    proxy = make_proxy_set(skimage_dir, tmp_path / "set", variants_per_photo=3, max_side=256, seed=1, limit=4,
                           progress=False)
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    report = add_proxy_heads(bundle, proxy.folder, target="fr6", force=True, config=CONFIG, cache_dir=None,
                             progress=False)
    quality = load_bundle(bundle).heads["quality"]
    targets = read_csv(target_csv(proxy, "fr6")).scores
    assert report["target"] == "fr6" and quality.info.dataset == report["dataset"] == f"{proxy.name}-fr6"
    assert "six piq full-reference metrics" in quality.info.description
    assert quality.score_range == (min(targets), max(targets)) == (0.0, 100.0)
    with pytest.raises(ProxyError, match="unknown proxy target"):
        add_proxy_heads(bundle, proxy.folder, target="psnr", force=True, config=CONFIG, cache_dir=None, progress=False)


def test_descriptions_name_the_second_implementations_supplements_and_each_set(proxy_dir: Path) -> None:
    proxy = load_proxy_set(proxy_dir)
    plain = _descriptions([proxy], 10, 2, "mdsi", {})["quality"]
    assert "second implementation" not in plain and "(proxy-mdsi-val-skimage, 80 px)" in plain
    assert "within that set" not in plain
    assert "Features are clipped to the range of those images and scores to the range of the targets" in plain
    assert "ray" not in plain and "faded" not in plain  # the words of every head fitted before feature_clip, v2.4's too
    ray = _descriptions([proxy], 10, 2, "mdsi", {}, feature_clip="ray")["quality"]
    assert "range of those images along the line to its centre (feature_clip ray" in ray
    faded = _descriptions([proxy], 10, 2, "mdsi", {}, fade=(2.0, 4.0))["quality"]
    assert ("targets (no extrapolation); beyond 2 times the range's half-width from its centre in any value (range "
            "distance d, contrique_infer.head.Head.range_distance) a score keeps the share (2 / d)^4 of its way from the "
            "worst end of that range (fade_from, fade_power)") in faded
    mixed = dataclasses.replace(proxy, settings={**proxy.settings, "alt_fraction": 0.5})
    assert "a share up to 0.5 of the types with a second implementation rendered by it" in _descriptions(
        [mixed], 10, 2, "mdsi", {})["quality"]
    assert "square blocks" not in plain and "flat frame" not in plain and "linear contrast" not in plain
    supplemented = dataclasses.replace(proxy, settings={**proxy.settings, "block_fraction": 0.3333,
                                                        "flat_fraction": 0.25, "contrast_fraction": 0.5})
    text = _descriptions([supplemented], 10, 2, "mdsi", {})["quality"]
    assert "for a share up to 0.3333 of the photos one more version pixelated as square blocks" in text
    assert "for a share up to 0.25 of the photos a flat frame of its mean colour at level 5" in text
    assert "for a share up to 0.5 of the photos one more version with linear contrast loss towards the mean grey" in text
    small = dataclasses.replace(proxy, settings={**proxy.settings, "max_side": 48})
    both = _descriptions([proxy, small], 10, 2, "mdsi", {})["quality"]
    assert "(proxy-mdsi-val-skimage, 80 px and proxy-mdsi-val-skimage, 48 px)" in both
    assert "each set's images with the targets computed within that set" in both


def test_a_blend_reaches_the_heads_the_report_and_the_description(proxy_dir: Path, tiny_bundle_dir: Path,
                                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    with pytest.raises(ProxyError, match="tiny-conv has no statistics"):
        add_proxy_heads(bundle, proxy_dir, force=True, config=CONFIG, blend={"nss": 0.5}, cache_dir=None,
                        progress=False)
    assert Manifest.load(bundle) == Manifest.load(tiny_bundle_dir)
    # the tiny encoder as if its first 3 channels of each scale were statistics
    split = {"nss": np.r_[0:3, 8:11], "learned": np.r_[3:8, 11:16], "both": np.arange(16)}
    monkeypatch.setattr(heads_module, "feature_parts", lambda manifest: split)
    report = add_proxy_heads(bundle, proxy_dir, force=True, config=CONFIG, blend={"learned": 0.5}, cache_dir=None,
                             progress=False)
    scorer = QualityScorer.from_pretrained(bundle)
    data = read_csv(proxy_dir / "quality.csv")
    x = np.stack([scorer.features(p) for p in data.paths]).astype(np.float64)
    expected = fit_blend(x, data.scores, data.content_ids, CONFIG, None, {"learned": (split["learned"], 0.5)})
    quality = load_bundle(bundle).heads["quality"]
    np.testing.assert_allclose(quality(x), np.clip(expected.model.predict(x), min(data.scores), max(data.scores)),
                               rtol=1e-7, atol=1e-7)
    assert report["blend"] == {"learned": 0.5}
    parts = report["heads"]["quality"]["blend"]["parts"]
    assert list(parts) == ["both", "learned"]
    assert parts["learned"]["share"] == pytest.approx(expected.shares["learned"])
    assert report["heads"]["quality"]["blend"]["oof"]["srcc"] == pytest.approx(expected.oof.srcc)
    assert "ridges on the learned feature alone (weight 0.5)" in quality.info.description
    assert "ridges on" in load_bundle(bundle).heads["level"].info.description


def test_orientation_invariant_heads_are_averaged_over_the_moves(proxy_dir: Path, tiny_bundle_dir: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    plain = shutil.copytree(tiny_bundle_dir, tmp_path / "plain")
    # the tiny encoder as if columns 0 and 1 (and 8 and 9) of its 16 were two directions' statistics
    swap = np.arange(16)
    swap[[0, 1, 8, 9]] = [1, 0, 9, 8]
    monkeypatch.setattr(heads_module, "orientation_permutations", lambda *args: [np.arange(16), swap])
    report = add_proxy_heads(bundle, proxy_dir, force=True, config=CONFIG, orientation_invariant=True, cache_dir=None,
                             progress=False)
    add_proxy_heads(plain, proxy_dir, force=True, config=CONFIG, cache_dir=None, progress=False)
    assert report["orientation_invariant"] is True
    for name in ("quality", "level"):
        head, before = load_bundle(bundle).heads[name], load_bundle(plain).heads[name]
        np.testing.assert_allclose(head.coef, (before.coef + before.coef[swap]) / 2)
        assert head.coef[0] == head.coef[1] and head.coef[8] == head.coef[9]
        low, high = before.feature_range
        np.testing.assert_array_equal(head.feature_range[0], np.minimum(low, low[swap]))
        np.testing.assert_array_equal(head.feature_range[1], np.maximum(high, high[swap]))
        assert "mirroring, flipping and 90-degree turns" in head.info.description


def test_heads_fitted_at_a_second_size_see_each_image_at_both(proxy_dir: Path, tiny_bundle_dir: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    report = add_proxy_heads(bundle, proxy_dir, force=True, config=CONFIG, also_max_side=[40], cache_dir=None,
                             progress=False)
    scorer = QualityScorer.from_pretrained(bundle)
    assert scorer.manifest.input.max_side is None  # the bundle's own contract does not change
    small = heads_module.at_max_side(scorer, 40)
    assert small.manifest.input.max_side == 40 and heads_module.at_max_side(scorer, None) is scorer
    data = {n: read_csv(proxy_dir / f"{n}.csv") for n in ("quality", "level")}
    full = np.stack([scorer.features(p) for p in data["quality"].paths]).astype(np.float64)
    halved = np.stack([small.features(p) for p in data["quality"].paths]).astype(np.float64)
    assert max(Image.open(data["quality"].paths[0]).size) == 80 and not np.allclose(full, halved)
    x = np.concatenate([full, halved])
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    assert report["images"] == len(x) == 2 * len(data["quality"]) and report["photos"] == 5
    assert report["also_max_side"] == [40]
    loaded = load_bundle(bundle)
    for name in ("quality", "level"):
        head, targets = loaded.heads[name], np.tile(data[name].scores, 2)
        alpha = report["heads"][name]["alpha"]
        np.testing.assert_array_equal(head.feature_range[0], x.min(axis=0))
        np.testing.assert_allclose(head(x), np.clip(fit_ridge(z, targets, alpha).predict(z), min(targets), max(targets)),
                                   rtol=1e-8, atol=1e-8)
        assert "again downscaled to a longer side of at most 40 px" in head.info.description
        assert f"of {len(data['quality'])} images of 5 photos" in head.info.description
    with pytest.raises(ProxyError, match="below the .* pixels"):
        heads_module.at_max_side(scorer, 1)
    def no_features(*args: object, **kwargs: object) -> None:
        raise AssertionError("features computed before every size was checked")

    monkeypatch.setattr(evaluation_api, "timed_features", no_features)
    with pytest.raises(ProxyError, match="below the .* pixels"):  # refused before any feature is computed
        add_proxy_heads(bundle, proxy_dir, force=True, config=CONFIG, also_max_side=[40, 1], cache_dir=None,
                        progress=False)


def test_heads_fitted_on_two_proxy_sets_keep_each_sets_targets(proxy_dir: Path, skimage_dir: Path, tiny_bundle_dir: Path,
                                                               tmp_path: Path) -> None:
    from contrique_training.proxy.make import make_proxy_set

    small = make_proxy_set(skimage_dir, tmp_path / "small", variants_per_photo=2, max_side=64, seed=4,
                           progress=False).folder
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    report = add_proxy_heads(bundle, proxy_dir, also_proxy=[small], force=True, config=CONFIG, cache_dir=None,
                             progress=False)
    scorer = QualityScorer.from_pretrained(bundle)
    data = {n: [read_csv(folder / f"{n}.csv") for folder in (proxy_dir, small)] for n in ("quality", "level")}
    paths = data["quality"][0].paths + data["quality"][1].paths
    assert max(Image.open(data["quality"][1].paths[0]).size) == 64
    x = np.stack([scorer.features(p) for p in paths]).astype(np.float64)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    assert report["images"] == len(x) == 5 * 6 + 5 * 3
    assert report["photos"] == 5  # a photo's images in both sets count (and fold) as one photo
    assert report["proxy"] == str(proxy_dir) and report["also_proxy"] == [str(small)]
    loaded = load_bundle(bundle)
    for name in ("quality", "level"):
        head = loaded.heads[name]
        targets = np.concatenate([d.scores for d in data[name]])  # each set's own targets, not recomputed
        alpha = report["heads"][name]["alpha"]
        np.testing.assert_allclose(head(x), np.clip(fit_ridge(z, targets, alpha).predict(z), min(targets), max(targets)),
                                   rtol=1e-8, atol=1e-8)
        assert head.info.dataset == "proxy-mdsi-val-skimage"  # both sets were made of one photos folder
        assert "80 px and proxy-mdsi-val-skimage, 64 px" in head.info.description
    with pytest.raises(ProxyError, match="named twice"):
        add_proxy_heads(bundle, proxy_dir, also_proxy=[small, tmp_path / "small" / "."], force=True, config=CONFIG,
                        cache_dir=None, progress=False)


def _edited(folder: Path, name: str, edit) -> None:  # noqa: ANN001 - a function of the CSV's lines
    lines = (folder / name).read_text().splitlines(keepends=True)
    (folder / name).write_text("".join(edit(lines)))


@pytest.mark.parametrize(("name", "edit", "found"), [
    ("quality.csv", lambda lines: [lines[0], lines[1], lines[2].replace(lines[2].split(",")[1], "99.5"), *lines[3:]],
     "row 3 holds images/"),
    ("level.csv", lambda lines: lines[:1] + lines[4:], "row 2 holds images/"),
    ("level.csv", lambda lines: lines[:-1], "rows for the 30 images proxy.json records"),
])
def test_a_csv_that_disagrees_with_proxy_json_is_refused_before_the_features(
        proxy_dir: Path, tiny_bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, edit,  # noqa: ANN001
        found: str) -> None:
    # was: the edited rows were fitted on without a word (proxy.json recorded other images or targets)
    folder = shutil.copytree(proxy_dir, tmp_path / "set")
    _edited(folder, name, edit)
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    monkeypatch.setattr(evaluation_api, "timed_features", lambda *a, **k: pytest.fail("features computed"))
    with pytest.raises(ProxyError, match=rf"^{folder}: {name} does not list the images of proxy.json \(.*{found}.*\): "
                                         "the set was edited, or its files mixed with another set's; make the set again"):
        add_proxy_heads(bundle, folder, force=True, config=CONFIG, cache_dir=None, progress=False)
    assert Manifest.load(bundle) == Manifest.load(tiny_bundle_dir)


def test_a_copy_of_a_set_given_as_another_set_is_refused(proxy_dir: Path, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    # was: every image counted twice (the check compared the folders only)
    copy = shutil.copytree(proxy_dir, tmp_path / "copy")
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    with pytest.raises(ProxyError, match=rf"^{copy}: holds the set {proxy_dir} holds \(made of the same photos, .*: a "
                                         "copy\\), whose images would count twice; give each set once"):
        add_proxy_heads(bundle, proxy_dir, also_proxy=[copy], force=True, config=CONFIG, cache_dir=None, progress=False)


def test_sets_made_from_nested_photo_folders_fold_a_photo_as_one(skimage_dir: Path, tiny_bundle_dir: Path,
                                                                tmp_path: Path) -> None:
    # was: a photo was 'sub/a.png' in one set and 'a.png' in the other, so a split could test one photo's images
    # on what it trained on with the other's, and the heads counted 10 photos of 5
    from contrique_training.proxy.make import make_proxy_set

    shutil.copytree(skimage_dir, tmp_path / "photos" / "sub")
    outer = make_proxy_set(tmp_path / "photos", tmp_path / "outer", variants_per_photo=2, max_side=64, seed=1,
                           progress=False).folder
    inner = make_proxy_set(tmp_path / "photos" / "sub", tmp_path / "inner", variants_per_photo=2, max_side=64, seed=2,
                           progress=False).folder
    seen: list[list[str] | None] = []
    fit = heads_module.fit_standardised

    def recorded(features, scores, content_ids, *args, **kwargs):  # noqa: ANN001, ANN202
        seen.append(content_ids)
        return fit(features, scores, content_ids, *args, **kwargs)

    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(heads_module, "fit_standardised", recorded)
        report = add_proxy_heads(bundle, inner, also_proxy=[outer], force=True, config=CONFIG, cache_dir=None,
                                 progress=False)
    assert report["photos"] == 5 and report["images"] == 2 * 5 * 3
    assert seen and all(set(ids) == {f"sub/{p.name}" for p in skimage_dir.iterdir()} for ids in seen)
    assert load_proxy_set(inner).images[0].content_id == sorted(p.name for p in skimage_dir.iterdir())[0]  # unchanged
