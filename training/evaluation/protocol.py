"""The paper's evaluation protocol on precomputed features.

Within a dataset: ``splits`` random train/test splits (80/20 by default, seeded), separated by
content where the dataset has content ids (no reference image has versions on both sides); on
each, Ridge's alpha is chosen by group k-fold cross-validation on the training part, the model is
fitted on the whole training part and scored on the test part; the medians over splits are
reported. Across datasets: fit on all of A (alpha by cross-validation on A), test on all of B.
The final head of a dataset is fitted on all of it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ProtocolError
from .metrics import Correlation, correlate
from .ridge import DEFAULT_ALPHAS, AlphaSelection, RidgeModel, fit_ridge, select_alpha

METRICS = ("srcc", "krcc", "plcc", "plcc_linear", "rmse")


MAX_SPLITS = 10_000
"""The most random splits a protocol runs (each is a ridge fit per alpha and fold; 10 is the paper's)."""
ALPHA_RANGE = (1e-8, 1e12)
"""The smallest and largest ridge alpha candidate: below, the solve overflows on near-collinear
features; above, every prediction is the mean and correlations are undefined."""


@dataclass(frozen=True)
class ProtocolConfig:
    """Settings of the protocol (the defaults are the paper's: 10 splits of 80/20)."""

    splits: int = 10
    train_fraction: float = 0.8
    folds: int = 5
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.splits <= MAX_SPLITS:
            raise ProtocolError(f"splits must be 1 to {MAX_SPLITS:,}, got {self.splits}")
        if not 0 < self.train_fraction < 1:
            raise ProtocolError(f"train_fraction must be in (0, 1), got {self.train_fraction}")
        if self.folds < 2:
            raise ProtocolError(f"folds must be >= 2, got {self.folds}")
        low, high = ALPHA_RANGE
        if not self.alphas or not all(low <= a <= high for a in self.alphas):
            raise ProtocolError(f"alphas must be numbers from {low:g} to {high:g}, got {list(self.alphas)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "splits": self.splits,
            "train_fraction": self.train_fraction,
            "folds": self.folds,
            "alphas": list(self.alphas),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProtocolConfig:
        return cls(
            splits=int(data["splits"]),
            train_fraction=float(data["train_fraction"]),
            folds=int(data["folds"]),
            alphas=tuple(float(a) for a in data["alphas"]),
            seed=int(data["seed"]),
        )


def groups_of(n: int, content_ids: Sequence[str] | None) -> list[str]:
    """Content ids, or one group per item when there are none."""
    if content_ids is None:
        return [str(i) for i in range(n)]
    if len(content_ids) != n:
        raise ProtocolError(f"{len(content_ids)} content ids for {n} items")
    return [str(c) for c in content_ids]


def content_splits(
    groups: Sequence[str], splits: int, train_fraction: float, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``splits`` random (train, test) index pairs, whole contents on one side.

    Split ``i`` draws ``round(train_fraction * contents)`` contents for training from its own
    stream of ``numpy.random.SeedSequence(seed).spawn(splits)``, so results do not depend on how
    many splits are asked for.

    Raises:
        ProtocolError: Fewer than 2 contents, a fraction leaving one side empty, or a test side of
            fewer than 3 items (a correlation needs 3).
    """
    names, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    n_train = int(round(train_fraction * len(names)))
    if not 0 < n_train < len(names):
        raise ProtocolError(
            f"a {train_fraction:.0%} split of {len(names)} contents leaves one side empty; more contents are needed"
        )
    out = []
    for seq in np.random.SeedSequence(seed).spawn(splits):
        chosen = np.zeros(len(names), dtype=bool)
        chosen[np.random.default_rng(seq).permutation(len(names))[:n_train]] = True
        test = np.flatnonzero(~chosen[inverse])
        if test.size < 3:
            raise ProtocolError(f"a {train_fraction:.0%} split of {len(names)} contents ({len(inverse)} items) leaves "
                                f"{test.size} item(s) to test on, and a correlation needs at least 3; more images "
                                "(or contents) are needed")
        out.append((np.flatnonzero(chosen[inverse]), test))
    return out


@dataclass(frozen=True, eq=False)
class SplitResult:
    """One train/test split: its indices, the chosen alpha, test predictions and correlations."""

    index: int
    train: np.ndarray
    test: np.ndarray
    selection: AlphaSelection
    predictions: np.ndarray
    correlation: Correlation

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "train_size": int(self.train.size),
            "test_size": int(self.test.size),
            "alpha": self.selection.alpha,
            **self.correlation.to_dict(),
        }


@dataclass(frozen=True, eq=False)
class ProtocolResult:
    """Every split of a within-dataset evaluation, with summary statistics."""

    config: ProtocolConfig
    splits: tuple[SplitResult, ...]
    scores: np.ndarray
    contents: int
    content_separated: bool

    def metric(self, name: str) -> np.ndarray:
        return np.array([getattr(s.correlation, name) for s in self.splits])

    def summary(self) -> dict[str, dict[str, float]]:
        """Median, mean, std, min and max of each metric over the splits."""
        out = {}
        for name in METRICS:
            v = self.metric(name)
            out[name] = {
                "median": float(np.median(v)),
                "mean": float(v.mean()),
                "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
                "min": float(v.min()),
                "max": float(v.max()),
            }
        return out

    @property
    def median_split(self) -> SplitResult:
        """The split whose SRCC is the median (the lower middle one for an even count)."""
        order = np.argsort(self.metric("srcc"), kind="stable")
        return self.splits[int(order[(len(order) - 1) // 2])]

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "contents": self.contents,
            "content_separated": self.content_separated,
            "summary": self.summary(),
            "median_split": self.median_split.index,
            "splits": [s.to_dict() for s in self.splits],
            "logistic_fallbacks": int(sum(not s.correlation.logistic_fit for s in self.splits)),
        }


def _check(features: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ProtocolError(f"features must be (n, dim) and scores (n,); got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ProtocolError("features and scores must be finite")
    return x, y


def run_protocol(
    features: np.ndarray,
    scores: np.ndarray,
    content_ids: Sequence[str] | None = None,
    config: ProtocolConfig = ProtocolConfig(),
) -> ProtocolResult:
    """Evaluate features on one dataset with repeated content-separated splits.

    Args:
        features: (n, dim) features.
        scores: (n,) human scores.
        content_ids: Content (reference image) per item, or None (every item its own content).
        config: Protocol settings.

    Returns:
        The per-split results; correlations are between test predictions and human scores, in
        the dataset's own direction (positive for a good model, MOS or DMOS alike).

    Raises:
        ProtocolError: Bad shapes, too few contents for the split or the cross-validation.
    """
    x, y = _check(features, scores)
    groups = groups_of(len(y), content_ids)
    results = []
    for i, (train, test) in enumerate(content_splits(groups, config.splits, config.train_fraction, config.seed)):
        rng = np.random.default_rng([config.seed, i, 1])
        selection = select_alpha(
            x[train], y[train], [groups[j] for j in train], alphas=config.alphas, k=config.folds, rng=rng
        )
        pred = fit_ridge(x[train], y[train], selection.alpha).predict(x[test])
        results.append(SplitResult(i, train, test, selection, pred, correlate(pred, y[test])))
    return ProtocolResult(config, tuple(results), y, len(set(groups)), content_ids is not None)


def fit_final(
    features: np.ndarray,
    scores: np.ndarray,
    content_ids: Sequence[str] | None = None,
    config: ProtocolConfig = ProtocolConfig(),
) -> tuple[RidgeModel, AlphaSelection]:
    """Fit the dataset's head on all items, alpha chosen by group k-fold cross-validation.

    Raises:
        ProtocolError: See :func:`run_protocol`.
    """
    x, y = _check(features, scores)
    groups = groups_of(len(y), content_ids)
    rng = np.random.default_rng([config.seed, 2])
    selection = select_alpha(x, y, groups, alphas=config.alphas, k=config.folds, rng=rng)
    return fit_ridge(x, y, selection.alpha), selection


@dataclass(frozen=True, eq=False)
class CrossResult:
    """Fit on one dataset, test on another."""

    selection: AlphaSelection
    model: RidgeModel
    predictions: np.ndarray
    scores: np.ndarray
    correlation: Correlation
    flipped: bool
    config: ProtocolConfig = field(default_factory=ProtocolConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "alpha": self.selection.alpha,
            "alpha_selection": self.selection.to_dict(),
            "flipped": self.flipped,
            **self.correlation.to_dict(),
        }


def cross_dataset(
    train_features: np.ndarray,
    train_scores: np.ndarray,
    test_features: np.ndarray,
    test_scores: np.ndarray,
    *,
    train_content_ids: Sequence[str] | None = None,
    flip: bool = False,
    config: ProtocolConfig = ProtocolConfig(),
) -> CrossResult:
    """Fit a head on all of dataset A and correlate its predictions with dataset B's scores.

    Args:
        flip: Negate the predictions before correlating, for datasets whose scores run in
            opposite directions (a MOS dataset and a DMOS one), so a good model still scores > 0.

    Raises:
        ProtocolError: See :func:`run_protocol`; feature dimensions differ.
    """
    model, selection = fit_final(train_features, train_scores, train_content_ids, config)
    x, y = _check(test_features, test_scores)
    if x.shape[1] != model.coef.shape[0]:
        raise ProtocolError(f"test features have {x.shape[1]} dimensions, training features {model.coef.shape[0]}")
    pred = model.predict(x)
    return CrossResult(selection, model, pred, y, correlate(-pred if flip else pred, y), flip, config)
