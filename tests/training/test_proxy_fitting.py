"""Ridge heads on standardised features, group weights and blends (:mod:`contrique_training.proxy.fitting`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from contrique_infer.manifest import FeatureSpec, Manifest
from contrique_training.evaluation.protocol import ProtocolConfig, fit_final, groups_of, run_protocol
from contrique_training.evaluation.ridge import fit_ridge, group_folds
from contrique_training.proxy.errors import ProxyError
from contrique_training.proxy.fitting import (
    PROXY_ALPHAS,
    Standardiser,
    column_weights,
    feature_parts,
    fit_blend,
    fit_standardised,
    parse_group_weights,
    parse_part_weights,
)

CONFIG = ProtocolConfig(splits=2, folds=2, alphas=PROXY_ALPHAS)


def test_fit_standardised_is_the_protocol_on_standardised_features_folded_back() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)) * [1, 10, 100, 1e3, 1e-3, 0]  # one constant feature: only centred
    y = x[:, 0] + 0.01 * x[:, 2] + rng.normal(scale=0.1, size=40)
    groups = [f"photo{i // 4}" for i in range(40)]
    fit = fit_standardised(x, y, groups, CONFIG)
    standardise = Standardiser.fit(x)
    z = standardise(x)
    model, selection = fit_final(z, y, groups, CONFIG)
    assert fit.selection == selection and fit.model.alpha == model.alpha
    np.testing.assert_allclose(fit.model.predict(x), model.predict(z), rtol=1e-10, atol=1e-10)
    assert fit.result.summary() == run_protocol(z, y, groups, CONFIG).summary()
    assert fit.alpha_at_edge == (selection.alpha in (min(PROXY_ALPHAS), max(PROXY_ALPHAS)))
    narrow = fit_standardised(x, y, groups, ProtocolConfig(splits=2, folds=2, alphas=(1e6,)))
    assert narrow.alpha_at_edge


def test_weights_scale_the_standardised_columns_and_zero_leaves_a_column_out() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 4)) * [1, 10, 100, 1e3]
    y = x[:, 0] + 0.01 * x[:, 1] + 0.001 * x[:, 3] + rng.normal(scale=0.1, size=40)
    groups = [f"photo{i // 4}" for i in range(40)]
    weights = np.array([1.0, 0.3, 0.0, 2.0])
    fit = fit_standardised(x, y, groups, CONFIG, weights)
    z = Standardiser.fit(x)(x) * weights  # the same as scaling the standardised columns by hand
    model, selection = fit_final(z, y, groups, CONFIG)
    assert fit.selection.alpha == selection.alpha
    np.testing.assert_allclose(fit.selection.cv_mse, selection.cv_mse, rtol=1e-10)
    np.testing.assert_allclose(fit.model.predict(x), model.predict(z), rtol=1e-10, atol=1e-10)
    assert fit.model.coef[2] == 0.0 and np.all(fit.model.coef[[0, 1, 3]] != 0)
    # what the docstring promises: a ridge on the standardised columns whose penalty on column k is
    # alpha / weight_k**2 (the weight-0 column left out)
    kept = [0, 1, 3]
    zs = Standardiser.fit(x)(x)[:, kept]
    b = np.linalg.solve(zs.T @ zs + fit.model.alpha * np.diag(1 / weights[kept] ** 2), zs.T @ (y - y.mean()))
    np.testing.assert_allclose(fit.model.predict(x), zs @ b + y.mean(), rtol=1e-8, atol=1e-8)


def test_group_weights_parse_and_map_onto_a_bundles_columns(tiny_bundle_dir: Path) -> None:
    assert parse_group_weights(["learned=0.5", "products=0"]) == {"learned": 0.5, "products": 0.0}
    for bad, why in (("learned", "GROUP=WEIGHT"), ("pixels=1", "GROUP=WEIGHT"), ("learned=-1", ">= 0"),
                     ("learned=nan", ">= 0"), ("learned=x", ">= 0")):
        with pytest.raises(ProxyError, match=why):
            parse_group_weights([bad])
    assert parse_group_weights(["learned@half=0", "learned=0.5"]) == {"learned@half": 0.0, "learned": 0.5}
    for bad in ("learned@=1", "pixels@full=1"):
        with pytest.raises(ProxyError, match="GROUP@SCALE=WEIGHT"):
            parse_group_weights([bad])
    with pytest.raises(ProxyError, match="twice"):
        parse_group_weights(["learned=1", "learned=2"])
    manifest = Manifest.load(tiny_bundle_dir)
    assert column_weights(manifest, {}) is None
    dim = manifest.feature.dim
    np.testing.assert_array_equal(column_weights(manifest, {"learned": 0.5}), np.full(dim, 0.5))
    with pytest.raises(ProxyError, match="no products columns"):  # the tiny encoder has no statistics
        column_weights(manifest, {"products": 0.3})
    with pytest.raises(ProxyError, match="every feature column"):
        column_weights(manifest, {"learned": 0})
    # a scale's block only, over the group's weight whatever the order given
    assert manifest.feature.layout == ("full", "half")
    half = dim // 2
    expected = np.r_[np.full(half, 0.5), np.zeros(dim - half)]
    np.testing.assert_array_equal(column_weights(manifest, {"learned@half": 0, "learned": 0.5}), expected)
    np.testing.assert_array_equal(column_weights(manifest, {"learned@full": 2}), np.r_[np.full(half, 2.0), np.ones(half)])
    with pytest.raises(ProxyError, match="no 'quarter' scale; its scales are full, half"):
        column_weights(manifest, {"learned@quarter": 0.5})


def _blend_data() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """60 items of 15 photos: a target explained partly by columns 0-2 and partly by columns 3-5."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 6)) * [1, 2, 3, 10, 20, 0.1]
    y = x[:, 0] + 0.5 * x[:, 1] + 0.1 * x[:, 3] + 10 * x[:, 5] + rng.normal(scale=0.5, size=60)
    return x, y, [f"photo{i // 4}" for i in range(60)]


def test_a_blend_is_the_spread_weighted_mean_of_its_ridges() -> None:
    x, y, groups = _blend_data()
    weights = np.array([1.0, 1.0, 0.5, 1.0, 1.0, 2.0])
    parts = {"nss": (np.array([0, 1, 2]), 0.25), "learned": (np.array([3, 4, 5]), 0.5)}
    blend = fit_blend(x, y, groups, CONFIG, weights, parts)
    assert list(blend.fits) == ["both", "nss", "learned"]
    columns = {"both": np.arange(6), "nss": parts["nss"][0], "learned": parts["learned"][0]}
    # each ridge is the plain fit on its columns with their weights
    for name, cols in columns.items():
        alone = fit_standardised(x[:, cols], y, groups, CONFIG, weights[cols])
        np.testing.assert_allclose(blend.fits[name].model.coef, alone.model.coef, rtol=1e-10)
    # each spread is that of the ridge's out-of-fold predictions at its chosen alpha
    folds = group_folds(groups_of(len(y), groups), CONFIG.folds, np.random.default_rng([CONFIG.seed, 2]))
    oof = {}
    for name, cols in columns.items():
        z = Standardiser.fit(x[:, cols], weights[cols])(x[:, cols])
        oof[name] = np.empty(len(y))
        for test in folds:
            train = np.setdiff1d(np.arange(len(y)), test)
            oof[name][test] = fit_ridge(z[train], y[train], blend.fits[name].selection.alpha).predict(z[test])
        assert blend.spreads[name] == pytest.approx(np.std(oof[name]), rel=1e-10)
    raw = {"both": 1 / blend.spreads["both"], "nss": 0.25 / blend.spreads["nss"],
           "learned": 0.5 / blend.spreads["learned"]}
    for name in columns:
        assert blend.shares[name] == pytest.approx(raw[name] / sum(raw.values()), rel=1e-12)
    assert sum(blend.shares.values()) == pytest.approx(1.0)
    # the blend is one linear head: the mean of the ridges' predictions with those shares
    expected = sum(blend.shares[n] * blend.fits[n].model.predict(x[:, c]) for n, c in columns.items())
    np.testing.assert_allclose(blend.model.predict(x), expected, rtol=1e-10, atol=1e-10)
    assert blend.model.alpha == blend.fits["both"].model.alpha and blend.selection is blend.fits["both"].selection
    # the head's edge flag describes the alpha it reports (the joint ridge's); each part keeps its
    # own: a part of two noise columns wants the largest alpha while the joint ridge does not
    noisy = np.hstack([x, np.random.default_rng(0).normal(size=(len(y), 2))])
    edged = fit_blend(noisy, y, groups, CONFIG, np.r_[weights, 1, 1], {"learned": (np.array([6, 7]), 1.0)})
    assert edged.fits["learned"].selection.alpha == max(CONFIG.alphas) and edged.fits["learned"].alpha_at_edge
    assert min(CONFIG.alphas) < edged.selection.alpha < max(CONFIG.alphas) and not edged.alpha_at_edge
    oof_blend = sum(blend.shares[n] * oof[n] for n in columns)
    assert blend.oof.srcc == pytest.approx(spearmanr(oof_blend, y).statistic, rel=1e-10)
    # a part with all its columns weighted 0 (or none) cannot be blended
    with pytest.raises(ProxyError, match="'learned' has no columns of weight above 0"):
        fit_blend(x, y, groups, CONFIG, np.r_[1.0, 1, 1, 0, 0, 0], parts)
    with pytest.raises(ProxyError, match="'nss' has no columns"):
        fit_blend(x, y, groups, CONFIG, None, {"nss": (np.array([], dtype=int), 1.0)})


def test_part_weights_parse_and_refuse_what_is_not_a_blend() -> None:
    assert parse_part_weights(["nss=0.25", "learned=1"]) == {"nss": 0.25, "learned": 1.0}
    assert parse_part_weights([]) == {}
    for bad, why in (("nss", "PART=WEIGHT"), ("both=1", "PART=WEIGHT"), ("products=1", "PART=WEIGHT"),
                     ("nss=0", "> 0"), ("nss=-1", "> 0"), ("nss=inf", "> 0"), ("nss=x", "> 0")):
        with pytest.raises(ProxyError, match=why):
            parse_part_weights([bad])
    with pytest.raises(ProxyError, match="twice"):
        parse_part_weights(["nss=1", "nss=2"])


def test_feature_parts_split_a_feature_with_statistics(tiny_bundle_dir: Path) -> None:
    tiny = Manifest.load(tiny_bundle_dir)
    assert feature_parts(tiny) is None  # no statistics
    per_scale = 48 + 25 + 325
    nss2 = dataclasses.replace(tiny, architecture="mobilenet_v3_small-3stages+nss2",
                               feature=FeatureSpec(dim=2 * per_scale, per_scale_dim=per_scale))
    parts = feature_parts(nss2)
    np.testing.assert_array_equal(parts["learned"], np.r_[0:48, per_scale:per_scale + 48])
    np.testing.assert_array_equal(parts["nss"], np.r_[48:per_scale, per_scale + 48:2 * per_scale])
    np.testing.assert_array_equal(parts["both"], np.arange(2 * per_scale))
