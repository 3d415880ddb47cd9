"""SRCC/KRCC/PLCC against scipy, and the logistic PLCC."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from contrique_training.evaluation import metrics
from contrique_training.evaluation.errors import ProtocolError
from contrique_training.evaluation.metrics import correlate, fit_logistic, logistic4


def test_correlations_match_scipy() -> None:
    rng = np.random.default_rng(0)
    pred = rng.standard_normal(200)
    human = pred + 0.7 * rng.standard_normal(200)
    c = correlate(pred, human)
    assert c.srcc == pytest.approx(stats.spearmanr(pred, human)[0], abs=1e-12)
    assert c.krcc == pytest.approx(stats.kendalltau(pred, human)[0], abs=1e-12)
    assert c.plcc_linear == pytest.approx(stats.pearsonr(pred, human)[0], abs=1e-12)
    assert c.n == 200 and c.logistic_fit
    # hand-checked small case: one swapped pair out of 5
    c = correlate([1, 2, 3, 4, 5], [1, 3, 2, 4, 5])
    assert c.srcc == pytest.approx(0.9) and c.krcc == pytest.approx(0.8)


def test_logistic_plcc_linearises_a_monotone_nonlinearity() -> None:
    rng = np.random.default_rng(1)
    pred = np.sort(rng.uniform(-3, 3, 300))
    true = (8.0, 1.0, 0.5, 0.6)
    human = logistic4(pred, *true) + 0.01 * rng.standard_normal(300)
    c = correlate(pred, human)
    assert c.logistic_fit
    assert c.plcc > 0.999
    assert c.plcc_linear < 0.97  # the raw relation is clearly not linear
    np.testing.assert_allclose(c.logistic_params[:3], true[:3], atol=0.05)
    assert abs(c.logistic_params[3]) == pytest.approx(0.6, abs=0.02)
    assert c.rmse == pytest.approx(0.01, abs=0.003)
    # a decreasing relation (DMOS-like) is fitted too
    d = correlate(pred, -human)
    assert d.plcc < -0.999 and d.srcc == pytest.approx(-c.srcc)


def test_logistic_fallback_is_linear_pearson(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr(metrics.optimize, "curve_fit", fail)
    rng = np.random.default_rng(2)
    pred = rng.standard_normal(50)
    human = pred**3
    assert fit_logistic(pred, human) is None
    c = correlate(pred, human)
    assert not c.logistic_fit and c.logistic_params is None
    assert c.plcc == c.plcc_linear == pytest.approx(stats.pearsonr(pred, human)[0])


def test_correlate_rejects_degenerate_input() -> None:
    with pytest.raises(ProtocolError, match="constant"):
        correlate([1, 1, 1, 1], [1, 2, 3, 4])
    with pytest.raises(ProtocolError, match=">= 3"):
        correlate([1, 2], [1, 2])


def test_three_values_fall_back_to_linear_pearson() -> None:
    """correlate takes 3 values, but the 4-parameter logistic cannot be fitted to them: curve_fit's TypeError
    ended the protocol with a traceback (a test split of one photo's 3 images in ``proxy heads``)."""
    pred, human = np.array([0.1, 0.5, 0.2]), np.array([1.0, 3.0, 2.5])
    assert fit_logistic(pred, human) is None
    c = correlate(pred, human)
    assert not c.logistic_fit and c.n == 3 and c.plcc == pytest.approx(stats.pearsonr(pred, human)[0])
