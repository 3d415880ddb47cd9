"""Fit a bundle's ``quality`` and ``level`` heads on a proxy set (:mod:`.make`) and add them to the bundle.

Ridge is fitted on standardised features (each feature's mean and standard deviation over the set;
the statistics see no targets), alpha chosen by photo-separated k-fold cross-validation, and the
standardisation is folded back into the head, so it stays ``feature @ coef + intercept`` on raw
features. The figures reported are the evaluation protocol's
(:func:`~contrique_training.evaluation.protocol.run_protocol`): medians over random 80/20 splits by
photo, alpha chosen again inside each training part. Fit heads on proxy sets of training photos
only: validation photos must stay unseen by the heads.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from contrique_export.model_config import FEATURE_GROUPS, feature_groups

from ..evaluation.features import DEFAULT_CACHE
from ..evaluation.protocol import ProtocolConfig, ProtocolResult, fit_final, run_protocol
from ..evaluation.ridge import AlphaSelection, RidgeModel
from .errors import ProxyError
from .make import MDSI_MAX, ProxySet, load_proxy_set, target_csv

if TYPE_CHECKING:
    from contrique_infer.manifest import Manifest

HEAD_NAMES = ("quality", "level")
QUALITY_SCALE = "0-100"
LEVEL_SCALE = "0-5 (distortion level)"
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
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and weight >= 0):
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


def _descriptions(proxy: ProxySet, images: int, photos: int, target: str,
                  group_weights: Mapping[str, float]) -> dict[str, str]:
    types = "WIDE_TYPES and CHAIN_TYPES" if proxy.settings.get("chains") else "WIDE_TYPES"
    if proxy.settings.get("alt_fraction"):
        types += (f"; a share {proxy.settings['alt_fraction']:g} of the types with a second implementation rendered "
                  "by it, contrique_training.alternates")
    weighted = ("" if not group_weights else " with feature groups weighted "
                + ", ".join(f"{name} {weight:g}" for name, weight in group_weights.items()))
    fit = (f"Ridge on standardised features{weighted} (folded into coef and intercept) of {images} images of {photos} photos "
           f"({proxy.name}): pristine and the synthetic distortion types ({types}) of contrique_training.distortions "
           "at wide levels 1-5. Features are clipped to the range of those images and scores to the range of the "
           "targets (no extrapolation)")
    quality = (f"clip(100 * (1 - MDSI / {MDSI_MAX}), 0, 100), piq's MDSI against the pristine photo" if target == "mdsi"
               else "the mean rank over the set of six piq full-reference metrics against the pristine photo (MDSI, "
                    "GMSD, VSI, HaarPSI, MS-SSIM, FSIMc; contrique_training.fullref), scaled to 0-100")
    return {
        "quality": f"Proxy quality 0-100, higher is better. {fit}; target {quality}. Not fitted on human opinion scores.",
        "level": f"Predicted distortion level, 0 = pristine .. 5 = most severe: higher is WORSE "
                 f"(higher_is_better false). {fit}; target the level. Not fitted on human opinion scores.",
    }


def add_proxy_heads(
    bundle_dir: str | os.PathLike[str],
    proxy_dir: str | os.PathLike[str],
    *,
    default: str = "quality",
    target: str = "mdsi",
    force: bool = False,
    config: ProtocolConfig = ProtocolConfig(alphas=PROXY_ALPHAS),
    group_weights: Mapping[str, float] | None = None,
    cache_dir: str | os.PathLike[str] | None = DEFAULT_CACHE,
    variant: str = "auto",
    device: str | None = None,
    batch_size: int = 8,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit the ``quality`` and ``level`` heads on a proxy set and add them to a local bundle.

    Args:
        bundle_dir: The bundle folder; its manifest gains the heads (file table with sha256 and
            size, heads list) and ``default`` becomes its default head.
        proxy_dir: A folder made by :func:`~.make.make_proxy_set`.
        default: The head made the bundle's default (``quality`` or ``level``).
        target: The ``quality`` head's target (:data:`~.make.TARGETS`): ``mdsi`` or ``fr6``, the
            six-metric rank proxy (computed once and kept in the proxy folder).
        force: Replace existing heads of those names.
        config: The evaluation protocol's settings (splits, folds, alpha candidates, seed); the
            candidates should suit standardised features (:data:`PROXY_ALPHAS`).
        group_weights: Prior weights of feature groups (:func:`column_weights`), e.g.
            ``{"learned": 0.5, "products": 0.3}``: a group weighed below 1 must explain more of the
            target to get the same coefficients. None or empty: every column weighs 1.
        cache_dir: The evaluation feature cache root (None: no cache).
        variant, device: Passed to :meth:`QualityScorer.from_pretrained`.
        batch_size, workers: Feature extraction settings of :meth:`QualityScorer.features_many`.
        progress: A progress bar on stderr.

    Returns:
        A JSON-ready report: per head its file, alpha (and whether it is the smallest or largest
        candidate, a sign the candidates should be widened), the protocol's cross-validated SRCC and PLCC
        (splits by photo) and alpha selection; the default head; counts and timings.

    Raises:
        ProxyError: ``default`` is not one of the two heads, the proxy set is unreadable, or a group
            weight names a group the bundle's feature lacks.
        HeadExistsError: The bundle has such a head and ``force`` is False.
        ProtocolError: Too few photos for the splits and folds.
        FeatureError, ContriqueError: Features could not be computed, or the bundle is invalid.
    """
    from contrique_infer.bundle import load_bundle

    from ..evaluation.api import open_scorer, timed_features
    from ..evaluation.datasets import read_csv
    from ..evaluation.heads import add_head, check_new_head, make_head

    if default not in HEAD_NAMES:
        raise ProxyError(f"default head must be one of {', '.join(HEAD_NAMES)}, got {default!r}")
    proxy = load_proxy_set(proxy_dir)
    quality_csv = target_csv(proxy, target, progress=progress)
    datasets = {
        "quality": read_csv(quality_csv, name=proxy.target_name(target),
                            scale=QUALITY_SCALE),
        "level": read_csv(proxy.level_csv, name=proxy.name, higher_is_better=False, score_kind="DMOS",
                          scale=LEVEL_SCALE),
    }
    if datasets["quality"].paths != datasets["level"].paths:
        raise ProxyError(f"{proxy.folder}: {quality_csv.name} and level.csv list different images; make the set again")
    for name in HEAD_NAMES:  # fail before the feature computation, not after it
        check_new_head(bundle_dir, name, force=force)
    scorer = open_scorer(bundle_dir, variant=variant, device=device)
    group_weights = dict(group_weights or {})
    weights = column_weights(scorer.manifest, group_weights)
    features, feature_s = timed_features(scorer, datasets["quality"], cache_dir=cache_dir, progress=progress,
                                         batch_size=batch_size, workers=workers)
    start = time.perf_counter()
    photos = len(set(datasets["quality"].content_ids or ()))
    descriptions = _descriptions(proxy, len(features), photos, target, group_weights)
    heads, report = [], {}
    for name in sorted(HEAD_NAMES, key=lambda n: n == default):  # the default last: add_head keeps it
        dataset = datasets[name]
        fit = fit_standardised(features, dataset.scores, dataset.content_ids, config, weights)
        summary = fit.result.summary()
        head = make_head(fit.model, name, dataset, descriptions[name])
        # No extrapolation: features clip to the proxy set's range and scores to the targets' range,
        # so a frame unlike any photo (one flat colour) scores like the worst images it resembles.
        heads.append(replace(head, feature_range=(features.min(axis=0), features.max(axis=0)),
                             score_range=(float(np.min(dataset.scores)), float(np.max(dataset.scores)))))
        report[name] = {
            "file": f"heads/{name}.json",
            "alpha": fit.selection.alpha,
            "alpha_at_edge": fit.alpha_at_edge,
            "cv": {m: summary[m] for m in ("srcc", "plcc", "rmse")},
            "cv_splits": [s.to_dict() for s in fit.result.splits],
            "alpha_selection": fit.selection.to_dict(),
        }
    fit_s = time.perf_counter() - start
    for head in heads:
        add_head(bundle_dir, head, force=force, make_default=head.name == default)
    bundle = load_bundle(bundle_dir)  # verifies every file's hash, the new heads' included
    return {
        "bundle": str(bundle_dir),
        "proxy": str(proxy.folder),
        "dataset": datasets["quality"].name,
        "target": target,
        "images": len(features),
        "photos": photos,
        "feature_dim": int(features.shape[1]),
        "variant": scorer.variant,
        "default_head": bundle.manifest.default_head,
        "protocol": config.to_dict(),
        "group_weights": group_weights,
        "heads": {name: report[name] for name in HEAD_NAMES},
        "timing_s": {"features": round(feature_s, 3), "fit": round(fit_s, 3)},
    }
