"""The Python API: evaluate a bundle on a dataset (or across two) and write the reports and head."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contrique_infer.head import Head
from contrique_infer.scorer import QualityScorer

from .datasets import Dataset, paper_srcc
from .errors import DatasetFormatError, ProtocolError
from .features import DEFAULT_CACHE, compute_features, model_key
from .heads import add_head as add_head_to_bundle
from .heads import check_head_name, check_new_head, make_head
from .protocol import CrossResult, ProtocolConfig, ProtocolResult, cross_dataset, fit_final, run_protocol
from .report import SCATTER_PNG, scatter_plot, write_json, write_markdown


@dataclass(frozen=True, eq=False)
class Evaluation:
    """What :func:`evaluate` or :func:`cross_evaluate` produced.

    Attributes:
        report: The JSON-ready report (also written as report.json when an output folder is given).
        result: The protocol's per-split results, or the cross-dataset result.
        head: The head fitted on all of the (training) dataset; None for cross-dataset runs.
        files: The files written.
    """

    report: dict[str, Any]
    result: ProtocolResult | CrossResult
    head: Head | None
    files: tuple[Path, ...]


def open_scorer(
    bundle: str | os.PathLike[str] | QualityScorer, *, variant: str = "auto", device: str | None = None
) -> QualityScorer:
    """A runtime scorer for ``bundle`` (a folder or Hub repository id), or ``bundle`` itself if it is one."""
    if isinstance(bundle, QualityScorer):
        return bundle
    return QualityScorer.from_pretrained(bundle, variant=variant, device=device)


def _bundle_summary(bundle: str | os.PathLike[str] | QualityScorer, scorer: QualityScorer) -> dict[str, Any]:
    key = model_key(scorer)
    source = str(scorer.bundle_dir) if isinstance(bundle, QualityScorer) else os.fspath(bundle)
    return {"source": source, "name": key.bundle_name, "variant": key.variant, "sha256": key.sha256, "dim": key.dim}


def timed_features(
    scorer: QualityScorer,
    dataset: Dataset,
    *,
    cache_dir: str | os.PathLike[str] | None,
    progress: bool,
    batch_size: int,
    workers: int | None,
) -> tuple[np.ndarray, float]:
    """The features of a dataset's images (:func:`.features.compute_features`) and the seconds they took.

    Raises:
        FeatureError: Images failed.
    """
    start = time.perf_counter()
    feats = compute_features(dataset.paths, scorer, cache_dir=cache_dir, progress=progress,
                             batch_size=batch_size, workers=workers)
    return feats, time.perf_counter() - start


def head_name_for(dataset: Dataset) -> str:
    """The default head name for a dataset: its name with characters unsafe in file names replaced."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", dataset.name)


def evaluate(
    bundle: str | os.PathLike[str] | QualityScorer,
    dataset: Dataset,
    *,
    variant: str = "auto",
    device: str | None = None,
    config: ProtocolConfig = ProtocolConfig(),
    out_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = DEFAULT_CACHE,
    head_name: str | None = None,
    add_head: bool = False,
    force: bool = False,
    make_default: bool = False,
    batch_size: int = 8,
    workers: int | None = None,
    progress: bool = True,
) -> Evaluation:
    """Evaluate a bundle's encoder on one dataset with the paper's protocol, and fit its head.

    Args:
        bundle: A bundle folder, a Hub repository id, or an open :class:`QualityScorer`.
        dataset: The labelled images (see :mod:`.datasets`).
        variant, device: Passed to :meth:`QualityScorer.from_pretrained`.
        config: The protocol's settings (splits, train fraction, folds, alpha candidates, seed).
        out_dir: Where to write report.json, report.md, scatter.png and heads/<name>.json (None: nowhere).
        cache_dir: The feature cache root (None: no cache).
        head_name: Name of the final head (default: the dataset's name, made file-safe).
        add_head: Also add the final head to the bundle folder and update its manifest.
        force: Replace a head of the same name in the bundle.
        make_default: Make the added head the bundle's default.
        batch_size, workers: Feature extraction settings (see :meth:`QualityScorer.features_many`).
        progress: Progress bar on stderr.

    Raises:
        FeatureError: Images failed. ProtocolError: Too few contents or bad settings.
        HeadExistsError: ``add_head`` with an existing name and not ``force``.
        ContriqueError: The bundle could not be opened.
    """
    name = check_head_name(head_name or head_name_for(dataset))
    if add_head:  # fail before the long computation, not after it
        if isinstance(bundle, QualityScorer) or not Path(bundle).is_dir():
            raise ProtocolError(f"add_head needs a local bundle folder; {bundle!r} is not one (download it first)")
        check_new_head(bundle, name, force=force)
    scorer = open_scorer(bundle, variant=variant, device=device)
    feats, feature_s = timed_features(scorer, dataset, cache_dir=cache_dir, progress=progress,
                                      batch_size=batch_size, workers=workers)
    start = time.perf_counter()
    result = run_protocol(feats, dataset.scores, dataset.content_ids, config)
    model, selection = fit_final(feats, dataset.scores, dataset.content_ids, config)
    protocol_s = time.perf_counter() - start
    head = make_head(model, name, dataset)

    files: list[Path] = []
    head_report: dict[str, Any] = {"name": head.name, "alpha": head.alpha, "path": None, "bundle_path": None}
    if add_head:
        path = add_head_to_bundle(bundle, head, force=force, make_default=make_default)  # type: ignore[arg-type]
        head_report["bundle_path"] = str(path)
        files.append(path)
    if out_dir is not None:
        out = Path(out_dir)
        files.append(head.save(out / head.info.file))
        head_report["path"] = str(files[-1])
        split = result.median_split
        every = (
            np.concatenate([s.predictions for s in result.splits]),
            np.concatenate([dataset.scores[s.test] for s in result.splits]),
        )
        c = split.correlation
        files.append(scatter_plot(
            out / SCATTER_PNG, split.predictions, dataset.scores[split.test],
            title=f"{dataset.name}: median split {split.index} of {len(result.splits)}, "
            f"SRCC {c.srcc:.3f}, PLCC {c.plcc:.3f}",
            logistic_params=c.logistic_params, background=every,
            human_label=f"{dataset.score_kind} ({dataset.scale})", label="median split's test images",
        ))
    report: dict[str, Any] = {
        "title": dataset.name,
        "mode": "within",
        "bundle": _bundle_summary(bundle, scorer),
        "dataset": dataset.summary(),
        "paper_srcc": paper_srcc(dataset.name),
        "result": result.to_dict(),
        "final_alpha_selection": selection.to_dict(),
        "timing_s": {"features": round(feature_s, 3), "protocol": round(protocol_s, 3)},
        "head": head_report,
    }
    return _finish(report, result, head, files, out_dir)


def _finish(report: dict[str, Any], result: ProtocolResult | CrossResult, head: Head | None, files: list[Path],
            out_dir: str | os.PathLike[str] | None) -> Evaluation:
    if out_dir is not None:
        out = Path(out_dir)
        report["files"] = [str(f) for f in files] + [str(out / "report.json"), str(out / "report.md")]
        files += [write_json(report, out), write_markdown(report, out)]
    else:
        report["files"] = [str(f) for f in files]
    return Evaluation(report, result, head, tuple(files))


def _refuse_shared_images(train: Dataset, test: Dataset) -> None:
    """Refuse a test set that holds images of the training set (however named: a path through ``..``, a link):
    the head would be scored on images it was fitted on, which is no cross-dataset figure.

    Raises:
        DatasetFormatError: Some image is in both.
    """
    fitted = {os.path.realpath(item.path) for item in train.items}
    shared = [item.path for item in test.items if os.path.realpath(item.path) in fitted]
    if shared:
        raise DatasetFormatError(test.root, f"{len(shared)} of the {len(test.items)} test images of {test.name!r} are "
                                            f"images of the training set {train.name!r} too (the first: {shared[0]}): "
                                            "a head scored on images it was fitted on gives no cross-dataset figure; "
                                            "remove them from one of the sets")


def cross_evaluate(
    bundle: str | os.PathLike[str] | QualityScorer,
    train: Dataset,
    test: Dataset,
    *,
    variant: str = "auto",
    device: str | None = None,
    config: ProtocolConfig = ProtocolConfig(),
    out_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = DEFAULT_CACHE,
    batch_size: int = 8,
    workers: int | None = None,
    progress: bool = True,
) -> Evaluation:
    """Fit a head on all of ``train`` and test it on all of ``test`` (cross-dataset evaluation).

    When the datasets' scores run in opposite directions (MOS against DMOS), predictions are
    negated before correlating, so a model that generalises scores a positive SRCC.

    Args:
        See :func:`evaluate`.

    Raises:
        See :func:`evaluate`.
    """
    _refuse_shared_images(train, test)
    scorer = open_scorer(bundle, variant=variant, device=device)
    train_x, train_s = timed_features(scorer, train, cache_dir=cache_dir, progress=progress,
                                      batch_size=batch_size, workers=workers)
    test_x, test_s = timed_features(scorer, test, cache_dir=cache_dir, progress=progress,
                                    batch_size=batch_size, workers=workers)
    start = time.perf_counter()
    flip = train.higher_is_better != test.higher_is_better
    result = cross_dataset(train_x, train.scores, test_x, test.scores, train_content_ids=train.content_ids,
                           flip=flip, config=config)
    protocol_s = time.perf_counter() - start
    report: dict[str, Any] = {
        "title": f"{train.name} -> {test.name}",
        "mode": "cross",
        "bundle": _bundle_summary(bundle, scorer),
        "train_dataset": train.summary(),
        "test_dataset": test.summary(),
        "result": result.to_dict(),
        "timing_s": {"features": round(train_s + test_s, 3), "protocol": round(protocol_s, 3)},
        "head": None,
    }
    files: list[Path] = []
    if out_dir is not None:
        c = result.correlation
        files.append(scatter_plot(
            Path(out_dir) / SCATTER_PNG, -result.predictions if flip else result.predictions, test.scores,
            title=f"trained on {train.name}, tested on {test.name}: SRCC {c.srcc:.3f}, PLCC {c.plcc:.3f}",
            logistic_params=c.logistic_params,
            human_label=f"{test.name} {test.score_kind} ({test.scale})", label=f"{test.name} images",
        ))
    return _finish(report, result, None, files, out_dir)
