"""Ridge heads on standardised features, with prior weights of feature groups and blends of parts.

Ridge is fitted on standardised features (each feature's mean and standard deviation over the set;
the statistics see no targets), alpha chosen by photo-separated k-fold cross-validation, and the
standardisation is folded back into the head, so it stays ``feature @ coef + intercept`` on raw
features. The figures reported are the evaluation protocol's
(:func:`~contrique_training.evaluation.protocol.run_protocol`): medians over random 80/20 splits by
photo, alpha chosen again inside each training part. :mod:`.heads` fits a bundle's proxy heads
this way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from contrique_export.model_config import FEATURE_GROUPS, feature_groups

from ..evaluation.metrics import Correlation, correlate
from ..evaluation.protocol import ProtocolConfig, ProtocolResult, fit_final, groups_of, run_protocol
from ..evaluation.ridge import AlphaSelection, RidgeModel, fit_ridge, group_folds
from .errors import ProxyError

if TYPE_CHECKING:
    from contrique_infer.manifest import Manifest


PARTS = ("nss", "learned", "both")
"""Parts of a feature with statistics (:func:`feature_parts`): the statistics with their squares and
products, the learned CNN channels, and all columns."""
BLEND_PARTS = PARTS[:2]
"""The parts whose own heads :func:`fit_blend` can average with the head on every column."""
PROXY_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-1, 7, 33))
"""Ridge alpha candidates for standardised features, 0.1 to 1e7 in quarter decades (their Gram matrix
has trace items x dim, far above that of the L2-normalised raw features that the evaluation's default
candidates suit). Quarter decades, not half: with the products of the statistics, the benchmark's
figures moved by up to 0.04 between neighbouring half-decade alphas."""


@dataclass(frozen=True, eq=False)
class Standardiser:
    """Per-feature centring and scaling; features with (almost) no spread are only centred."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, weights: np.ndarray | None = None) -> Standardiser:
        """Mean and standard deviation of each column of ``x`` (n, dim); a deviation below 1e-6 of
        the largest one counts as none (scale 1), so near-constant features are not blown up.

        Args:
            x: (n, dim) raw features.
            weights: (dim,) optional prior weight of each column: its standardised values are multiplied
                by it, so a ridge penalises its coefficient by ``1 / weight**2`` more; 0 leaves it out.
        """
        x = np.asarray(x, dtype=np.float64)
        std = x.std(axis=0)
        scale = np.where(std > 1e-6 * std.max(initial=0.0), std, 1.0)
        if weights is not None:
            with np.errstate(divide="ignore"):
                scale = scale / np.asarray(weights, dtype=np.float64)  # weight 0: infinite scale, values 0, coef 0
        return cls(x.mean(axis=0), scale)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale

    def unfold(self, model: RidgeModel) -> RidgeModel:
        """The ridge ``model`` fitted on standardised features, as the same function of raw features."""
        coef = model.coef / self.scale
        return RidgeModel(coef, float(model.intercept - self.mean @ coef), model.alpha)


@dataclass(frozen=True, eq=False)
class StandardisedFit:
    """A ridge fitted on standardised features, as a function of the raw features, and its validation.

    Attributes:
        model: The ridge on raw features (the standardisation folded in), fitted on every item.
        selection: The cross-validated choice of its alpha.
        result: The protocol's splits (alpha chosen again inside each training part).
    """

    model: RidgeModel
    selection: AlphaSelection
    result: ProtocolResult

    @property
    def alpha_at_edge(self) -> bool:
        """Whether the alpha is the smallest or largest candidate, a sign the candidates should be widened."""
        return self.selection.alpha in (min(self.selection.alphas), max(self.selection.alphas))


def parse_group_weights(items: Sequence[str]) -> dict[str, float]:
    """``GROUP=WEIGHT`` or ``GROUP@SCALE=WEIGHT`` items (``proxy heads --group-weight``) as a dict.

    ``GROUP@SCALE`` weighs the group's columns in one scale's block only (a scale named in the
    bundle's feature layout, e.g. ``learned@half``), over any weight of the whole group.

    Raises:
        ProxyError: An item without ``=``, a group not in :data:`~contrique_export.model_config.FEATURE_GROUPS`,
            an empty scale name, a key named twice, or a weight that is not a finite number >= 0.
    """
    weights: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        group, at, scale = key.partition("@")
        if not sep or group not in FEATURE_GROUPS or (at and not scale):
            raise ProxyError(f"group weight {item!r}: write GROUP=WEIGHT or GROUP@SCALE=WEIGHT with GROUP one of "
                             f"{', '.join(FEATURE_GROUPS)} and SCALE one of the bundle's scales (e.g. full, half)")
        if key in weights:
            raise ProxyError(f"group weight {item!r}: {key} is weighted twice; give each group once")
        weight = _finite(value)
        if not weight >= 0:
            raise ProxyError(f"group weight {item!r}: the weight must be a number >= 0 (0 leaves the group out)")
        weights[key] = weight
    return weights


def column_weights(manifest: Manifest, group_weights: Mapping[str, float]) -> np.ndarray | None:
    """The prior weight of each feature column of a bundle from weights of its feature groups.

    Args:
        manifest: The bundle's manifest (its architecture and feature layout say which column is what).
        group_weights: Weights by group name or ``group@scale`` (:func:`parse_group_weights`); a
            group's weight applies at every scale, then a ``group@scale`` weight at that scale; a
            column not named weighs 1.

    Returns:
        (dim,) weights for :func:`fit_standardised`, or None when ``group_weights`` is empty.

    Raises:
        ProxyError: A named group has no columns in this bundle's feature, a scale is not in its
            layout, or every column weighs 0.
    """
    if not group_weights:
        return None
    layout = manifest.feature.layout
    per_scale = manifest.feature.per_scale_dim
    groups = feature_groups(manifest.architecture, per_scale, len(layout))
    weights = np.ones(per_scale * len(layout))
    for key, weight in sorted(group_weights.items(), key=lambda item: "@" in item[0]):  # groups, then group@scale
        name, _, scale = key.partition("@")
        if not groups[name].size:
            raise ProxyError(f"group weight {key}={weight:g}: {manifest.architecture} has no {name} columns; "
                             f"weigh only the groups it has ({', '.join(g for g in FEATURE_GROUPS if groups[g].size)})")
        columns = groups[name]
        if scale:
            if scale not in layout:
                raise ProxyError(f"group weight {key}={weight:g}: the bundle has no {scale!r} scale; its scales are "
                                 f"{', '.join(layout)}")
            block = layout.index(scale)
            columns = columns[(columns >= block * per_scale) & (columns < (block + 1) * per_scale)]
        weights[columns] = weight
    if not weights.any():
        raise ProxyError("every feature column has group weight 0: leave at least one group above 0")
    return weights


def feature_parts(manifest: Manifest) -> dict[str, np.ndarray] | None:
    """Columns of each of :data:`PARTS` in a bundle's feature, or None when it has no statistics.

    Args:
        manifest: The bundle's manifest (its ``architecture`` and feature layout,
            :func:`~contrique_export.model_config.feature_groups`).

    Returns:
        Sorted column indices of ``nss`` (statistics, squares and products), ``learned`` and ``both``.
    """
    groups = feature_groups(manifest.architecture, manifest.feature.per_scale_dim, len(manifest.feature.layout))
    if not groups["statistics"].size:
        return None
    nss = np.sort(np.concatenate([groups["statistics"], groups["squares"], groups["products"]]))
    return {"nss": nss, "learned": groups["learned"], "both": np.arange(manifest.feature.dim)}


def parse_part_weights(items: Sequence[str]) -> dict[str, float]:
    """``PART=WEIGHT`` items (``proxy heads --blend``) as a dict, PART one of :data:`BLEND_PARTS`.

    Raises:
        ProxyError: An item without ``=``, an unknown part, a part named twice, or a weight that is
            not a finite number > 0.
    """
    weights: dict[str, float] = {}
    for item in items:
        part, sep, value = item.partition("=")
        if not sep or part not in BLEND_PARTS:
            raise ProxyError(f"blend weight {item!r}: write PART=WEIGHT with PART one of {', '.join(BLEND_PARTS)}")
        if part in weights:
            raise ProxyError(f"blend weight {item!r}: {part} is weighted twice; give each part once")
        weight = _finite(value)
        if not weight > 0:
            raise ProxyError(f"blend weight {item!r}: the weight must be a number > 0 (leave the part out instead of 0)")
        weights[part] = weight
    return weights


def _finite(text: str) -> float:
    """``text`` as a float, NaN when it is not a finite number."""
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


@dataclass(frozen=True, eq=False)
class BlendedFit:
    """A head that is the weighted mean of ridges on every column and on parts of the feature.

    Attributes:
        model: The blend as one linear function of the raw features (coef over every column; alpha
            that of the head on every column).
        fits: Each ridge's own fit (:func:`fit_standardised`, on its part's columns), ``both`` first.
        spreads: The standard deviation of each ridge's out-of-fold predictions.
        shares: Each ridge's share of the mean (they sum to 1): its blend weight (1 for ``both``)
            divided by its spread, normalised.
        oof: Agreement of the blend's out-of-fold predictions with the targets (each ridge at the
            alpha chosen on every item, so slightly optimistic), for the report.
    """

    model: RidgeModel
    fits: Mapping[str, StandardisedFit]
    spreads: Mapping[str, float]
    shares: Mapping[str, float]
    oof: Correlation

    @property
    def selection(self) -> AlphaSelection:
        """The alpha selection of the head on every column."""
        return self.fits["both"].selection

    @property
    def result(self) -> ProtocolResult:
        """The protocol's splits of the head on every column."""
        return self.fits["both"].result

    @property
    def alpha_at_edge(self) -> bool:
        """Whether the alpha of the head on every column is the smallest or largest candidate (each
        part's own flag is in :attr:`fits`)."""
        return self.fits["both"].alpha_at_edge


def fit_blend(
    features: np.ndarray, scores: np.ndarray, content_ids: Sequence[str] | None, config: ProtocolConfig,
    weights: np.ndarray | None, parts: Mapping[str, tuple[np.ndarray, float]],
) -> BlendedFit:
    """A ridge on every column averaged with ridges on parts of the feature alone.

    Each ridge is :func:`fit_standardised` on its columns (with their ``weights``). Out-of-fold
    predictions (the protocol's ``folds`` folds by photo, each ridge at its chosen alpha) give each
    ridge's spread; the blend is ``sum(w * pred / spread) / sum(w / spread)`` with ``w`` 1 for the
    ridge on every column and the part's weight for the others: a mean of predictions on the
    targets' scale in which each part counts by its weight whatever the spread of its predictions.

    Args:
        features: (n, dim) raw features.
        scores: (n,) targets.
        content_ids: The source photo of each item.
        config: The protocol's settings (:func:`fit_standardised`).
        weights: (dim,) optional prior weight of each column.
        parts: Per part name (not ``both``), its column indices and its weight (> 0) in the blend.

    Returns:
        The blend and its parts.

    Raises:
        ProxyError: A part named ``both`` or with no columns of weight above 0.
        ProtocolError: Bad shapes, or too few photos for the splits and folds.
    """
    features = np.asarray(features, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    columns = {"both": np.arange(features.shape[1])}
    blend_weights = {"both": 1.0}
    for name, (cols, weight) in parts.items():
        cols = np.asarray(cols, dtype=np.int64)
        if name == "both" or not cols.size or (weights is not None and not weights[cols].any()):
            raise ProxyError(f"blend part {name!r} has no columns of weight above 0 in this feature; "
                             "leave it out of the blend or give its groups a weight")
        columns[name], blend_weights[name] = cols, float(weight)
    fits, oof = {}, {}
    folds = group_folds(groups_of(len(scores), content_ids), config.folds, np.random.default_rng([config.seed, 2]))
    for name, cols in columns.items():
        part_weights = None if weights is None else weights[cols]
        fits[name] = fit_standardised(features[:, cols], scores, content_ids, config, part_weights)
        z = Standardiser.fit(features[:, cols], part_weights)(features[:, cols])
        oof[name] = np.empty(len(scores))
        for test in folds:
            train = np.setdiff1d(np.arange(len(scores)), test, assume_unique=True)
            oof[name][test] = fit_ridge(z[train], scores[train], fits[name].selection.alpha).predict(z[test])
    spreads = {name: float(np.std(pred)) for name, pred in oof.items()}
    raw = {name: blend_weights[name] / spreads[name] if spreads[name] > 0 else 0.0 for name in columns}
    total = sum(raw.values())
    if total <= 0:
        raise ProxyError("every ridge of the blend predicts a constant; the features do not explain the targets")
    shares = {name: value / total for name, value in raw.items()}
    coef = np.zeros(features.shape[1])
    for name, share in shares.items():
        coef[columns[name]] += share * fits[name].model.coef
    intercept = float(sum(share * fits[name].model.intercept for name, share in shares.items()))
    model = RidgeModel(coef, intercept, fits["both"].model.alpha)
    return BlendedFit(model, fits, spreads, shares, correlate(sum(s * oof[n] for n, s in shares.items()), scores))


def fit_standardised(
    features: np.ndarray, scores: np.ndarray, content_ids: Sequence[str] | None, config: ProtocolConfig,
    weights: np.ndarray | None = None,
) -> StandardisedFit:
    """Fit a ridge on standardised ``features`` and validate it with the evaluation protocol.

    Args:
        features: (n, dim) raw features.
        scores: (n,) targets.
        content_ids: The source photo of each item (splits and folds keep a photo's items together).
        config: The protocol's settings; the alpha candidates should suit standardised features
            (:data:`PROXY_ALPHAS`).
        weights: (dim,) optional prior weight of each column (:meth:`Standardiser.fit`; :func:`column_weights`).

    Returns:
        The ridge on raw features, its alpha selection and the protocol's result.

    Raises:
        ProtocolError: Bad shapes, or too few photos for the splits and folds.
    """
    standardise = Standardiser.fit(features, weights)
    z = standardise(features)
    model, selection = fit_final(z, scores, content_ids, config)
    return StandardisedFit(standardise.unfold(model), selection, run_protocol(z, scores, content_ids, config))
