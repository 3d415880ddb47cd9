"""Ridge regression in closed form, cheap for many alphas, and k-fold selection of alpha.

The model is scikit-learn's ``Ridge(alpha, fit_intercept=True)``: centre the features and the
targets, solve ``(Xc^T Xc + alpha I) w = Xc^T yc``, ``intercept = mean(y) - mean(X) @ w``. One
symmetric eigendecomposition (of ``Xc^T Xc`` when there are more items than features, of
``Xc Xc^T`` otherwise) gives ``w`` for every alpha as ``D @ (p / (lambda + alpha))``.

This is the project's one ridge: the evaluation protocol fits heads with it, and the training
probe (:mod:`contrique_training.probe`) fits many targets at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ProtocolError

DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-4, 3, 15))


@dataclass(frozen=True, eq=False)
class RidgePath:
    """Ridge solutions for any alpha, from one eigendecomposition of the centred training data.

    Targets are one column, shape (n,), or several fitted at once, shape (n, k); ``y_mean``,
    ``projections``, coefficients and predictions carry that trailing ``k`` axis when it exists.
    """

    x_mean: np.ndarray
    y_mean: np.ndarray  # () or (k,)
    directions: np.ndarray  # (dim, rank)
    eigenvalues: np.ndarray  # (rank,)
    projections: np.ndarray  # (rank,) or (rank, k)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> RidgePath:
        """Decompose the training data.

        Args:
            x: Features, shape (n, dim).
            y: Targets, shape (n,) or (n, k).

        Raises:
            ProtocolError: Shapes disagree or there are fewer than 2 items.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or y.ndim not in (1, 2) or y.shape[0] != x.shape[0] or x.shape[0] < 2:
            raise ProtocolError(
                f"ridge needs features (n, dim) and targets (n,) or (n, k) with n >= 2; got {x.shape} and {y.shape}"
            )
        x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
        xc, yc = x - x_mean, y - y_mean
        if x.shape[0] >= x.shape[1]:
            lam, vecs = np.linalg.eigh(xc.T @ xc)
            directions, proj = vecs, vecs.T @ (xc.T @ yc)
        else:
            lam, vecs = np.linalg.eigh(xc @ xc.T)
            directions, proj = xc.T @ vecs, vecs.T @ yc
        lam = np.clip(lam, 0.0, None)  # round-off can make tiny eigenvalues negative
        return cls(x_mean, y_mean, directions, lam, proj)

    def coef(self, alpha: float) -> np.ndarray:
        """The weights for ``alpha`` (> 0): shape (dim,), or (dim, k) for several targets."""
        if not alpha > 0:
            raise ProtocolError(f"ridge alpha must be > 0, got {alpha}")
        return self.directions @ self._shrunk(alpha)

    def intercept(self, coef: np.ndarray) -> float:
        """The intercept of one target's weights ``coef`` (dim,)."""
        return float(self.y_mean - self.x_mean @ coef)

    def predict(self, x: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
        """Predictions for ``x`` (m, dim) under each alpha: shape (len(alphas), m), or (len(alphas), m, k)."""
        z = (np.asarray(x, dtype=np.float64) - self.x_mean) @ self.directions
        return np.stack([z @ self._shrunk(alpha) for alpha in alphas]) + self.y_mean

    def _shrunk(self, alpha: float) -> np.ndarray:
        """The projections divided by ``eigenvalues + alpha``, for each target."""
        return (self.projections.T / (self.eigenvalues + alpha)).T


@dataclass(frozen=True, eq=False)
class RidgeModel:
    """A fitted ridge: ``predict(x) = x @ coef + intercept``."""

    coef: np.ndarray
    intercept: float
    alpha: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.coef + self.intercept


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> RidgeModel:
    """Fit one ridge regression (see the module docstring for the model)."""
    path = RidgePath.fit(x, y)
    coef = path.coef(alpha)
    return RidgeModel(coef, path.intercept(coef), float(alpha))


def group_folds(groups: Sequence[str], k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Split item indices into ``k`` folds with no group (content) in two folds.

    Groups are shuffled, then each goes to the fold with the fewest items so far, so folds are
    balanced even when groups differ in size.

    Raises:
        ProtocolError: Fewer than ``k`` groups.
    """
    names, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    if len(names) < k or k < 2:
        raise ProtocolError(f"{k}-fold cross-validation needs at least {max(k, 2)} distinct contents, got {len(names)}")
    order = rng.permutation(len(names))
    sizes = np.bincount(inverse, minlength=len(names))
    fold_of_group = np.empty(len(names), dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for g in order:
        f = int(np.argmin(load))
        fold_of_group[g] = f
        load[f] += sizes[g]
    fold_of_item = fold_of_group[inverse]
    return [np.flatnonzero(fold_of_item == f) for f in range(k)]


@dataclass(frozen=True)
class AlphaSelection:
    """The alpha chosen by cross-validation and the mean squared error of every candidate."""

    alpha: float
    alphas: tuple[float, ...]
    cv_mse: tuple[float, ...]
    folds: int

    def to_dict(self) -> dict[str, object]:
        return {"alpha": self.alpha, "alphas": list(self.alphas), "cv_mse": list(self.cv_mse), "folds": self.folds}


def select_alpha(
    x: np.ndarray,
    y: np.ndarray,
    groups: Sequence[str],
    *,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    k: int = 5,
    rng: np.random.Generator,
) -> AlphaSelection:
    """Choose alpha by group k-fold cross-validation (lowest pooled mean squared error).

    Args:
        x: Features (n, dim).
        y: Targets (n,).
        groups: Content id per item; no content is in two folds.
        alphas: Candidates (> 0).
        k: Number of folds.
        rng: Random generator for the fold assignment.

    Raises:
        ProtocolError: Too few contents for ``k`` folds, or a non-positive alpha.
    """
    if not alphas or min(alphas) <= 0:
        raise ProtocolError(f"alpha candidates must be a non-empty list of positive numbers, got {list(alphas)}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    sq_err = np.zeros(len(alphas))
    folds = group_folds(groups, k, rng)
    for test in folds:
        train = np.setdiff1d(np.arange(len(y)), test, assume_unique=True)
        pred = RidgePath.fit(x[train], y[train]).predict(x[test], alphas)
        sq_err += ((pred - y[test][None, :]) ** 2).sum(axis=1)
    mse = sq_err / len(y)
    best = int(np.argmin(mse))
    return AlphaSelection(float(alphas[best]), tuple(float(a) for a in alphas), tuple(float(m) for m in mse), k)
