"""Correlation metrics of IQA: SRCC, KRCC, PLCC after the VQEG logistic mapping, and RMSE.

PLCC follows the VQEG convention (FR-TV Phase II; Sheikh et al., 2006): predictions are first
mapped to the human scale by the monotonic 4-parameter logistic

    q(x) = b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|))

fitted by least squares (``scipy.optimize.curve_fit``), then Pearson's r is taken between the
mapped predictions and the human scores, signed by the curve's direction (negative for a
decreasing fit, in agreement with SRCC). If the fit does not converge (or gives non-finite
values), or there are only 3 values (fewer than its parameters), PLCC falls back to Pearson's r of the
raw predictions and the result says so (``logistic_fit`` False).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from .errors import ProtocolError


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """The VQEG 4-parameter logistic (monotonic; increasing when b1 > b2)."""
    z = np.clip(-(np.asarray(x, dtype=np.float64) - b3) / (abs(b4) + 1e-12), -500.0, 500.0)
    return b2 + (b1 - b2) / (1.0 + np.exp(z))


def fit_logistic(pred: np.ndarray, human: np.ndarray) -> tuple[float, float, float, float] | None:
    """Least-squares fit of :func:`logistic4` mapping ``pred`` to ``human``.

    Returns:
        (b1, b2, b3, b4), or None if the fit fails to converge or maps everything to one value, or there
        are fewer values than its four parameters (``curve_fit`` raises a ``TypeError`` then).
    """
    pred = np.asarray(pred, dtype=np.float64)
    human = np.asarray(human, dtype=np.float64)
    if pred.size < 4:
        return None
    spread = float(np.std(pred)) or 1.0
    increasing = stats.pearsonr(pred, human)[0] >= 0 if np.std(human) > 0 and np.std(pred) > 0 else True
    hi, lo = float(human.max()), float(human.min())
    p0 = (hi, lo, float(np.median(pred)), spread) if increasing else (lo, hi, float(np.median(pred)), spread)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # a failed fit is reported, not warned about
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            params, _ = optimize.curve_fit(logistic4, pred, human, p0=p0, maxfev=20000)
    except (RuntimeError, ValueError):
        return None
    mapped = logistic4(pred, *params)
    if not np.all(np.isfinite(params)) or not np.all(np.isfinite(mapped)) or np.ptp(mapped) == 0:
        return None
    return tuple(float(p) for p in params)  # type: ignore[return-value]


@dataclass(frozen=True)
class Correlation:
    """Agreement of predictions with human scores on one set of images."""

    srcc: float
    krcc: float
    plcc: float
    plcc_linear: float
    rmse: float
    logistic_fit: bool
    logistic_params: tuple[float, float, float, float] | None
    n: int

    def to_dict(self) -> dict[str, object]:
        return {
            "srcc": self.srcc,
            "krcc": self.krcc,
            "plcc": self.plcc,
            "plcc_linear": self.plcc_linear,
            "rmse": self.rmse,
            "logistic_fit": self.logistic_fit,
            "logistic_params": None if self.logistic_params is None else list(self.logistic_params),
            "n": self.n,
        }


def correlate(pred: np.ndarray, human: np.ndarray) -> Correlation:
    """SRCC, KRCC, PLCC (after the logistic mapping; see the module docstring), linear PLCC and RMSE.

    RMSE is between the human scores and the logistic-mapped predictions (raw predictions when the
    fit fell back).

    Raises:
        ProtocolError: Fewer than 3 items, different lengths, or constant inputs.
    """
    pred = np.asarray(pred, dtype=np.float64).ravel()
    human = np.asarray(human, dtype=np.float64).ravel()
    if pred.shape != human.shape or pred.size < 3:
        raise ProtocolError(
            f"correlations need two equal-length arrays of >= 3 values, got {pred.size} and {human.size}"
        )
    if np.ptp(pred) == 0 or np.ptp(human) == 0:
        raise ProtocolError("correlations are undefined for constant predictions or constant human scores")
    params = fit_logistic(pred, human)
    mapped = logistic4(pred, *params) if params is not None else pred
    plcc_linear = float(stats.pearsonr(pred, human)[0])
    if params is not None:  # signed by the curve's direction, so a decreasing relation reads negative like SRCC
        plcc = float(np.sign(params[0] - params[1]) * stats.pearsonr(mapped, human)[0])
    else:
        plcc = plcc_linear
    return Correlation(
        srcc=float(stats.spearmanr(pred, human)[0]),
        krcc=float(stats.kendalltau(pred, human)[0]),
        plcc=plcc,
        plcc_linear=plcc_linear,
        rmse=float(np.sqrt(np.mean((mapped - human) ** 2))),
        logistic_fit=params is not None,
        logistic_params=params,
        n=int(pred.size),
    )
