"""Closed-form Ridge against a direct solve, and k-fold selection of alpha."""

from __future__ import annotations

import numpy as np
import pytest

from contrique_training.evaluation.errors import ProtocolError
from contrique_training.evaluation.ridge import RidgePath, fit_ridge, group_folds, select_alpha


def direct_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """scikit-learn's Ridge(fit_intercept=True) by its normal equations."""
    xm, ym = x.mean(axis=0), y.mean()
    xc = x - xm
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - ym))
    return w, ym - xm @ w


@pytest.mark.parametrize("n, d", [(60, 8), (12, 30)])  # primal (n >= d) and dual (n < d) forms
def test_ridge_matches_direct_solve(n: int, d: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, d)) + 3.0
    y = x @ rng.standard_normal(d) + 5 + rng.standard_normal(n)
    path = RidgePath.fit(x, y)
    for alpha in (1e-3, 0.1, 7.0):
        w, b = direct_ridge(x, y, alpha)
        model = fit_ridge(x, y, alpha)
        np.testing.assert_allclose(model.coef, w, rtol=1e-7, atol=1e-9)
        assert model.intercept == pytest.approx(b, rel=1e-9, abs=1e-9)
        np.testing.assert_allclose(path.coef(alpha), w, rtol=1e-7, atol=1e-9)
    x_new = rng.standard_normal((5, d))
    preds = path.predict(x_new, [0.1, 7.0])
    for row, alpha in zip(preds, [0.1, 7.0]):
        w, b = direct_ridge(x, y, alpha)
        np.testing.assert_allclose(row, x_new @ w + b, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("n, d", [(40, 5), (10, 30)])
def test_several_targets_are_fitted_as_each_alone(n: int, d: int) -> None:
    # The training probe fits one-hot classes and levels at once, shape (n, k).
    rng = np.random.default_rng(d)
    x = rng.standard_normal((n, d))
    y = np.stack([x @ rng.standard_normal(d) + 4.0, rng.standard_normal(n), np.ones(n)], axis=1)
    path = RidgePath.fit(x, y)
    x_new, alphas = rng.standard_normal((3, d)), [1e-3, 0.5, 10.0]
    preds = path.predict(x_new, alphas)
    assert preds.shape == (3, 3, 3) and path.coef(0.5).shape == (d, 3)
    for j in range(3):
        alone = RidgePath.fit(x, y[:, j])
        np.testing.assert_allclose(preds[:, :, j], alone.predict(x_new, alphas), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(path.coef(0.5)[:, j], alone.coef(0.5), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(preds[:, :, 2], 1.0)  # a constant target is its mean, whatever the penalty


def test_tiny_penalty_fits_exactly_and_a_large_one_shrinks_to_the_mean() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 4.0
    exact, shrunk = RidgePath.fit(x, y).predict(x[:3], [1e-8, 1e4])
    np.testing.assert_allclose(exact, y[:3], atol=1e-5)
    assert np.abs(shrunk - y.mean()).max() < np.abs(y[:3] - y.mean()).max()


def test_rank_deficient_features_have_no_negative_eigenvalues() -> None:
    # Repeated columns (dead or duplicated channels) make round-off eigenvalues of about -1e-14.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 4))
    x = np.concatenate([x, x, 3 * x[:, :1]], axis=1)
    assert RidgePath.fit(x, x[:, 0]).eigenvalues.min() >= 0.0


def test_ridge_rejects_bad_input() -> None:
    with pytest.raises(ProtocolError, match="alpha must be > 0"):
        fit_ridge(np.ones((3, 2)), np.arange(3.0), 0.0)
    with pytest.raises(ProtocolError, match="n >= 2"):
        RidgePath.fit(np.ones((3, 2)), np.arange(4.0))
    with pytest.raises(ProtocolError, match=r"targets \(n,\) or \(n, k\)"):
        RidgePath.fit(np.ones((3, 2)), np.ones((3, 2, 2)))


@pytest.mark.parametrize("noise, expected", [(2.0, 4.0), (0.2, 0.04)])
def test_cv_picks_the_bayes_optimal_alpha(noise: float, expected: float) -> None:
    # w ~ N(0, I), noise N(0, noise^2): the expected-MSE-optimal ridge alpha is noise^2 / 1.
    rng = np.random.default_rng(7)
    n, d = 600, 40
    x = rng.standard_normal((n, d))
    y = x @ rng.standard_normal(d) + noise * rng.standard_normal(n)
    alphas = [expected * f for f in (0.01, 0.1, 1.0, 10.0, 100.0)]
    sel = select_alpha(x, y, [str(i) for i in range(n)], alphas=alphas, k=5, rng=np.random.default_rng(0))
    assert sel.alpha == pytest.approx(expected)
    assert len(sel.cv_mse) == 5 and min(sel.cv_mse) == sel.cv_mse[2]


def test_group_folds_keep_contents_together() -> None:
    groups = [f"ref{i % 13}" for i in range(130)] + [f"big{i % 2}" for i in range(40)]
    folds = group_folds(groups, 5, np.random.default_rng(3))
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(groups)))
    contents = [{groups[i] for i in f} for f in folds]
    for a in range(5):
        for b in range(a + 1, 5):
            assert not contents[a] & contents[b]
    assert max(len(f) for f in folds) - min(len(f) for f in folds) <= 20  # balanced by greedy assignment
    with pytest.raises(ProtocolError, match="at least 5 distinct contents"):
        group_folds(["a", "b", "c", "a"], 5, np.random.default_rng(0))
