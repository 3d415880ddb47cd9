"""Fit a bundle's ``quality`` and ``level`` heads on proxy sets (:mod:`.make`) and add them to the bundle.

Each head is a ridge on standardised features (:mod:`.fitting`), fitted on the bundle's features of
the proxy images and their full-reference targets, clipped to the ranges it was fitted on, and
described in the bundle's manifest. Fit heads on proxy sets of training photos only: validation
photos must stay unseen by the heads.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from contrique_export.model_config import orientation_permutations

from ..evaluation.features import DEFAULT_CACHE
from ..evaluation.protocol import ProtocolConfig
from .errors import ProxyError
from .fitting import (
    PROXY_ALPHAS,
    BlendedFit,
    StandardisedFit,
    column_weights,
    feature_parts,
    fit_blend,
    fit_standardised,
)
from .make import MDSI_MAX, ProxySet, load_proxy_set, target_csv

if TYPE_CHECKING:
    from contrique_infer import QualityScorer

    from ..evaluation.datasets import Dataset

HEAD_NAMES = ("quality", "level")
BLEND_NAMES = {"nss": "the statistics", "learned": "the learned feature"}
"""How a head's description names each of :data:`~.fitting.BLEND_PARTS`."""
QUALITY_SCALE = "0-100"
LEVEL_SCALE = "0-5 (distortion level)"

def at_max_side(scorer: QualityScorer, max_side: int | None) -> QualityScorer:
    """``scorer``'s bundle and variant with its input contract's ``max_side`` set (None: ``scorer`` itself).

    Raises:
        ProxyError: ``max_side`` is below the pixels the bundle's contract needs on each side.
    """
    if max_side is None:
        return scorer
    from contrique_infer import QualityScorer
    from contrique_infer.bundle import load_bundle
    from contrique_infer.preprocessing import min_side

    contract = scorer.manifest.input
    if max_side < min_side(contract):
        raise ProxyError(f"max_side {max_side} is below the {min_side(contract)} pixels {scorer.manifest.name} "
                         "needs on each side; give a larger one")
    manifest = replace(scorer.manifest, input=replace(contract, max_side=max_side))
    return QualityScorer(load_bundle(scorer.bundle_dir, variant=scorer.variant, manifest=manifest))


def _proxy_datasets(proxy: ProxySet, target: str, progress: bool) -> dict[str, Dataset]:
    """The ``quality`` (on ``target``) and ``level`` datasets of one proxy set.

    Raises:
        ProxyError: The two CSVs list different images.
    """
    from ..evaluation.datasets import read_csv

    quality_csv = target_csv(proxy, target, progress=progress)
    datasets = {
        "quality": read_csv(quality_csv, name=proxy.target_name(target), scale=QUALITY_SCALE),
        "level": read_csv(proxy.level_csv, name=proxy.name, higher_is_better=False, score_kind="DMOS",
                          scale=LEVEL_SCALE),
    }
    _check_rows(proxy, datasets["quality"], quality_csv.name,
                [im.quality for im in proxy.images] if target == "mdsi" else None)
    _check_rows(proxy, datasets["level"], proxy.level_csv.name, [im.level for im in proxy.images])
    return datasets


def _check_rows(proxy: ProxySet, dataset: Dataset, csv_name: str, targets: Sequence[float] | None) -> None:
    """Refuse a CSV of ``proxy`` whose rows are not the images of its proxy.json in order (path and photo), with
    ``targets`` (None: not compared) as their scores.

    Raises:
        ProxyError: A row differs, or the CSV has more or fewer rows: the set was edited or mixed with another.
    """
    records = [(proxy.folder / im.path, im.content_id, None if targets is None else float(targets[i]))
               for i, im in enumerate(proxy.images)]
    rows = [(item.path, item.content_id, None if targets is None else item.score) for item in dataset.items]
    if rows == records:
        return
    at = next((i for i, (row, record) in enumerate(zip(rows, records)) if row != record), None)
    if at is None:
        found = f"it has {len(rows)} rows for the {len(records)} images proxy.json records"
    else:
        def shown(entry: tuple[Path, str | None, float | None]) -> str:
            return (f"{entry[0].relative_to(proxy.folder).as_posix()} of photo {entry[1]}"
                    + ("" if entry[2] is None else f", score {entry[2]:g}"))

        found = f"row {at + 2} holds {shown(rows[at])} where proxy.json records {shown(records[at])}"
    raise ProxyError(f"{proxy.folder}: {csv_name} does not list the images of proxy.json ({found}): the set was "
                     "edited, or its files mixed with another set's; make the set again")


def _joined(datasets: Sequence[Dataset]) -> Dataset:
    """One dataset of the items of ``datasets`` in turn, named as the first (the names joined by ``+`` where they differ)."""
    names = list(dict.fromkeys(d.name for d in datasets))
    return replace(datasets[0], name="+".join(names), items=tuple(it for d in datasets for it in d.items))


def _load_proxy_sets(folders: Sequence[str | os.PathLike[str]]) -> list[ProxySet]:
    """The proxy sets in ``folders``, each folder once.

    Raises:
        ProxyError: A folder is named twice or is not a readable proxy set.
    """
    proxies = [load_proxy_set(folder) for folder in folders]
    seen: set[Path] = set()
    made: dict[tuple[str, str], Path] = {}
    for proxy in proxies:
        folder = Path(proxy.folder).resolve()
        if folder in seen:
            raise ProxyError(f"{proxy.folder}: proxy set named twice; give each set once")
        seen.add(folder)
        same = made.setdefault((proxy.photos, json.dumps(proxy.settings, sort_keys=True)), proxy.folder)
        if same != proxy.folder:
            raise ProxyError(f"{proxy.folder}: holds the set {same} holds (made of the same photos, {proxy.photos}, "
                             "with the same settings: a copy), whose images would count twice; give each set once")
    return proxies


def _in_photos_of(proxies: Sequence[ProxySet], datasets: Sequence[Dataset]) -> list[Dataset]:
    """``datasets`` (one per set of ``proxies``) with content ids that name one photo alike in every set.

    A set's content ids are its photos' paths under the folder it was made from, so a set made from a
    folder inside another set's (``photos/val/skimage`` and ``photos/val``) would name a photo otherwise,
    and its images could fall on the other side of a split than the same photo's in the other set. Such a
    set's ids get the path from the outermost of those folders put before them; sets made from one
    folder, or from folders apart, keep theirs.
    """
    roots = [Path(proxy.photos) for proxy in proxies]
    out = []
    for root, dataset in zip(roots, datasets):
        outer = min((r for r in roots if root.is_relative_to(r)), key=lambda r: len(r.parts))
        prefix = "" if root == outer else root.relative_to(outer).as_posix() + "/"
        out.append(dataset if not prefix else replace(dataset, items=tuple(
            replace(item, content_id=None if item.content_id is None else prefix + item.content_id)
            for item in dataset.items)))
    return out


_SUPPLEMENTS = (
    ("alt_fraction", "a share up to {share:g} of the types with a second implementation rendered by it, "
                     "contrique_training.alternates"),
    ("block_fraction", "for a share up to {share:g} of the photos one more version pixelated as square blocks, "
                       "contrique_training.alternates.block_image"),
    ("flat_fraction", "for a share up to {share:g} of the photos a flat frame of its mean colour at level 5, "
                      "contrique_training.proxy.make.flat_image"),
    ("contrast_fraction", "for a share up to {share:g} of the photos one more version with linear contrast loss "
                          "towards the mean grey, contrique_training.alternates.contrast_change"),
)
"""A proxy set's settings that change what its images are, and how a head's description names each (the
largest share over the sets)."""


_CLIPS = {
    "box": "Features are clipped to the range of those images",
    "ray": ("Features are clipped to the range of those images along the line to its centre (feature_clip ray: a "
            "feature outside it moves towards the centre until within it, its values keeping their proportions)"),
}
"""How a head's description says what its ``feature_clip`` does (:data:`contrique_infer.head.FEATURE_CLIPS`)."""
DEFAULT_FADE = (2.0, 4.0)
"""The heads' fade (:attr:`contrique_infer.head.Head.fade`): beyond range distance 2 a score keeps ``(2 / distance)
** 4`` of its way from the worst end. Real photos lie within distance 1.74 of the default model's range, icons and
diagrams 2.25, photos blurred to mush at about 6, where a score of 100 keeps about 1 (``docs/default-model.md``,
measured 2026-12-07)."""


def fade_words(fade: tuple[float, float] | None) -> str:
    """What a fade does, as the clause a head's description carries (empty without a fade)."""
    if fade is None:
        return ""
    return (f"; beyond {fade[0]:g} times the range's half-width from its centre in any value (range distance d, "
            "contrique_infer.head.Head.range_distance) a score keeps the share "
            f"({fade[0]:g} / d)^{fade[1]:g} of its way from the worst end of that range (fade_from, fade_power)")


def _descriptions(proxies: Sequence[ProxySet], images: int, photos: int, target: str, group_weights: Mapping[str, float],
                  blend: Mapping[str, float] | None = None, orientation_invariant: bool = False,
                  also_max_side: Sequence[int] = (), feature_clip: str = "box",
                  fade: tuple[float, float] | None = None) -> dict[str, str]:
    settings = [proxy.settings for proxy in proxies]
    types = "WIDE_TYPES and CHAIN_TYPES" if any(s.get("chains") for s in settings) else "WIDE_TYPES"
    for key, what in _SUPPLEMENTS:
        share = max(s.get(key) or 0 for s in settings)
        if share:
            types += f"; {what.format(share=share)}"
    names = " and ".join(f"{proxy.name}, {proxy.settings.get('max_side')} px" for proxy in proxies)
    weighted = ("" if not group_weights else " with feature groups weighted "
                + ", ".join(f"{name} {weight:g}" for name, weight in group_weights.items()))
    ridge = "Ridge" if not blend else (
        "The mean of a ridge on every column and ridges on "
        + " and ".join(f"{BLEND_NAMES[part]} alone (weight {weight:g})" for part, weight in blend.items())
        + ", each prediction divided by the spread of its out-of-fold predictions (one linear head; "
          "contrique_training.proxy.fit_blend); each ridge")
    fit = (f"{ridge} on standardised features{weighted} (folded into coef and intercept) of {images} images of {photos} "
           f"photos ({names}): pristine and the synthetic distortion types ({types}) of "
           "contrique_training.distortions at wide levels 1-5. " + _CLIPS[feature_clip] + " and scores to the range of the "
           "targets (no extrapolation)" + fade_words(fade))
    if len(proxies) > 1:
        fit += "; each set's images with the targets computed within that set, a photo's images in every set in one fold"
    if also_max_side:
        fit += ("; each image counted at the bundle's input contract and again downscaled to a longer side of at most "
                + ", ".join(map(str, also_max_side)) + " px (its photo's rows in one fold)")
    if orientation_invariant:
        fit += ("; the coefficients averaged over the moves of the statistics that mirroring, flipping and 90-degree "
                "turns make, and the feature ranges joined over them (contrique_export.model_config."
                "orientation_permutations), so those changes of a photo barely move the statistics' part of the score (the 25 "
                "statistics not at all, their products a little: each is standardised by its own reference values)")
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
    blend: Mapping[str, float] | None = None,
    orientation_invariant: bool = False,
    also_max_side: Sequence[int] = (),
    also_proxy: Sequence[str | os.PathLike[str]] = (),
    feature_clip: str = "box",
    fade: tuple[float, float] | None = DEFAULT_FADE,
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
            candidates should suit standardised features (:data:`~.fitting.PROXY_ALPHAS`).
        group_weights: Prior weights of feature groups (:func:`~.fitting.column_weights`), e.g.
            ``{"learned": 0.5, "products": 0.3}``: a group weighed below 1 must explain more of the
            target to get the same coefficients. None or empty: every column weighs 1.
        blend: Weights of :data:`~.fitting.BLEND_PARTS` (:func:`~.fitting.parse_part_weights`), e.g. ``{"nss": 0.25,
            "learned": 0.25}``: each head is then :func:`~.fitting.fit_blend` of the ridge on every column and
            ridges on those parts alone. None or empty: one ridge on every column.
        orientation_invariant: Average each fitted head's coefficients over
            :func:`~contrique_export.model_config.orientation_permutations` (and join its feature ranges over
            them), so that mirroring, flipping or turning a photo by 90 degrees, which swap the
            neighbour statistics of two directions, barely moves the statistics' part of its score;
            the reported cross-validation figures are the fit's before the averaging.
        also_max_side: Fit on the proxy images at the bundle's input contract and, once more for
            each of these sides, downscaled as a contract with that ``max_side`` would (each image
            a row per size, its photo's rows in one fold), so the heads suit photos the bundle's
            contract sees at those sizes too; empty: the bundle's contract only.
        also_proxy: More proxy sets whose images join ``proxy_dir``'s, each with the targets
            computed within its own set, e.g. one made at 512 px for a 1024 px contract, so that
            smaller photos come with targets measured at their own size (not the larger
            image's, as with ``also_max_side``). A photo's images in every set share one fold.
        feature_clip: How the heads bring a feature outside the proxy set's range into it
            (:attr:`contrique_infer.head.Head.feature_clip`): ``"box"`` each value to its own bounds,
            ``"ray"`` along the line to the range's centre; the fit is the same.
        fade: ``(start, power)``: how the heads' scores fade towards the worst end of their range far
            outside the proxy set's range (:attr:`contrique_infer.head.Head.fade`); None: no fade. The fit
            is the same.
        cache_dir: The evaluation feature cache root (None: no cache).
        variant, device: Passed to :meth:`QualityScorer.from_pretrained`.
        batch_size, workers: Feature extraction settings of :meth:`QualityScorer.features_many`.
        progress: A progress bar on stderr.

    Returns:
        A JSON-ready report: per head its file, alpha (and whether it is the smallest or largest
        candidate, a sign the candidates should be widened), the protocol's cross-validated SRCC and PLCC
        (splits by photo) and alpha selection; the default head; counts and timings. With ``blend``,
        those figures are the ridge's on every column, and ``blend`` adds each ridge's alpha,
        figures, out-of-fold spread and share of the mean, and the blend's out-of-fold SRCC, PLCC
        and RMSE.

    Raises:
        ProxyError: ``default`` is not one of the two heads, a proxy set is unreadable or named twice, a group
            weight names a group the bundle's feature lacks, or ``blend`` is given for a bundle
            without statistics.
        HeadExistsError: The bundle has such a head and ``force`` is False.
        ProtocolError: Too few photos for the splits and folds.
        FeatureError, ContriqueError: Features could not be computed, or the bundle is invalid.
    """
    from contrique_infer.bundle import load_bundle

    from ..evaluation.api import open_scorer, timed_features
    from ..evaluation.heads import add_head, check_new_head, make_head

    if default not in HEAD_NAMES:
        raise ProxyError(f"default head must be one of {', '.join(HEAD_NAMES)}, got {default!r}")
    proxies = _load_proxy_sets([proxy_dir, *also_proxy])
    per_set = [_proxy_datasets(proxy, target, progress) for proxy in proxies]
    datasets = {name: _joined(_in_photos_of(proxies, [sets[name] for sets in per_set])) for name in HEAD_NAMES}
    for name in HEAD_NAMES:  # fail before the feature computation, not after it
        check_new_head(bundle_dir, name, force=force)
    scorer = open_scorer(bundle_dir, variant=variant, device=device)
    group_weights = dict(group_weights or {})
    weights = column_weights(scorer.manifest, group_weights)
    blend = dict(blend or {})
    parts = feature_parts(scorer.manifest) if blend else None
    if blend and parts is None:
        raise ProxyError(f"{scorer.manifest.architecture} has no statistics: a blend of parts needs a bundle exported "
                         "with them (contrique-export of a network trained with --nss); fit it without --blend")
    scorers = [at_max_side(scorer, side) for side in (None, *also_max_side)]  # every size checked before the work
    sized = [timed_features(s, datasets["quality"], cache_dir=cache_dir, progress=progress, batch_size=batch_size,
                            workers=workers) for s in scorers]
    features, feature_s = np.concatenate([f for f, _ in sized]), sum(s for _, s in sized)
    images = len(datasets["quality"])
    datasets = {name: _joined([dataset] * len(sized)) for name, dataset in datasets.items()}  # a row per size
    start = time.perf_counter()
    photos = len(set(datasets["quality"].content_ids or ()))
    descriptions = _descriptions(proxies, images, photos, target, group_weights, blend, orientation_invariant,
                                 also_max_side, feature_clip, fade)
    feature = scorer.manifest.feature
    moves = (orientation_permutations(scorer.manifest.architecture, feature.per_scale_dim, len(feature.layout))
             if orientation_invariant else [np.arange(features.shape[1])])
    # No extrapolation: features clip to the proxy set's range (joined over the moves) and scores to the
    # targets' range, so a frame unlike any photo (one flat colour) scores like the worst images it resembles.
    lowest, highest = features.min(axis=0), features.max(axis=0)
    feature_range = (np.min([lowest[move] for move in moves], axis=0), np.max([highest[move] for move in moves], axis=0))
    heads, report = [], {}
    for name in sorted(HEAD_NAMES, key=lambda n: n == default):  # the default last: add_head keeps it
        dataset = datasets[name]
        fit: StandardisedFit | BlendedFit = (
            fit_blend(features, dataset.scores, dataset.content_ids, config, weights,
                      {part: (parts[part], weight) for part, weight in blend.items()}) if parts
            else fit_standardised(features, dataset.scores, dataset.content_ids, config, weights)
        )
        summary = fit.result.summary()
        model = replace(fit.model, coef=np.mean([fit.model.coef[move] for move in moves], axis=0))
        head = make_head(model, name, dataset, descriptions[name])
        heads.append(replace(head, feature_range=feature_range, feature_clip=feature_clip, fade=fade,
                             score_range=(float(np.min(dataset.scores)), float(np.max(dataset.scores)))))
        report[name] = {
            "file": f"heads/{name}.json",
            "alpha": fit.selection.alpha,
            "alpha_at_edge": fit.alpha_at_edge,
            "cv": {m: summary[m] for m in ("srcc", "plcc", "rmse")},
            "cv_splits": [s.to_dict() for s in fit.result.splits],
            "alpha_selection": fit.selection.to_dict(),
        }
        if isinstance(fit, BlendedFit):
            report[name]["blend"] = _blend_report(fit)
    fit_s = time.perf_counter() - start
    for head in heads:
        add_head(bundle_dir, head, force=force, make_default=head.name == default)
    bundle = load_bundle(bundle_dir)  # verifies every file's hash, the new heads' included
    return {
        "bundle": str(bundle_dir),
        "proxy": str(proxies[0].folder),
        "also_proxy": [str(proxy.folder) for proxy in proxies[1:]],
        "dataset": datasets["quality"].name,
        "target": target,
        "images": len(features),
        "photos": photos,
        "feature_dim": int(features.shape[1]),
        "variant": scorer.variant,
        "default_head": bundle.manifest.default_head,
        "protocol": config.to_dict(),
        "group_weights": group_weights,
        "blend": blend,
        "orientation_invariant": orientation_invariant,
        "also_max_side": list(also_max_side),
        "feature_clip": feature_clip,
        "fade": None if fade is None else list(fade),
        "heads": {name: report[name] for name in HEAD_NAMES},
        "timing_s": {"features": round(feature_s, 3), "fit": round(fit_s, 3)},
    }


def _blend_report(fit: BlendedFit) -> dict[str, Any]:
    """The JSON-ready parts of a blend: each ridge's alpha, cross-validated figures, spread and share."""
    parts = {}
    for name, part in fit.fits.items():
        summary = part.result.summary()
        parts[name] = {"alpha": part.selection.alpha, "alpha_at_edge": part.alpha_at_edge,
                       "cv": {m: summary[m] for m in ("srcc", "plcc", "rmse")},
                       "oof_spread": fit.spreads[name], "share": fit.shares[name]}
    return {"parts": parts, "oof": {m: getattr(fit.oof, m) for m in ("srcc", "plcc", "rmse")}}
