"""Quality benchmark: do scores fall as distortion rises, and order photos as full-reference metrics do? (prints figures)

A no-reference quality model should rank the same photo lower the more it is distorted, and rank
different photos as their distortion warrants. Every validation photo is distorted with each
distortion kind at levels 1..5 (barely visible to beyond KADID-10k's most severe level); with the
photo itself as level 0 that makes one series of 6 images per (photo, kind). Two measures:

- **per series**: the Spearman correlation between ``-level`` and the higher-is-better score of
  each series, +1 when the score falls at every step; the table gives the mean over photos per
  kind and over all series of a set. A series whose scores are all equal counts as 0 (the output
  says how many there were); a series with an image a contender failed on is left out for that
  contender only (counted in the output).
- **cross-content**: the Spearman correlation, over ALL images of a set (every photo, kind and
  level, the undistorted photos included), between the higher-is-better score and a
  full-reference proxy computed against each image's own undistorted photo: the mean rank of six
  piq metrics that need no downloaded weights, MDSI, GMSD, VSI, HaarPSI, MS-SSIM and FSIMc, each
  called with ``data_range=1.0, reduction='none'`` and piq's defaults, oriented so that higher is
  better (MDSI and GMSD negated) and ranked over the set's images with ties at their mean rank
  (:mod:`contrique_training.fullref` documents each call). Images a contender failed on are left
  out of its correlation (the proxy keeps its ranks over the whole set). The JSON also gives the
  correlation with each metric alone.

Scores of heads with ``higher_is_better`` False and BRISQUE scores (lower is better) are negated first.

This is a benchmark that prints figures, not a timed test: it checks nothing and fails on nothing
but bad arguments or missing models.

Photos: every image under ``../shared/photos/val`` (recursively, ``contrique_infer.inputs.list_images``;
never ``photos/train``), each first downscaled with Lanczos so that its longer side is at most
``--max-side`` (512) px to keep the run short; level 0 is that downscaled photo, shared by all
series of the photo. Every image is made once, in memory, one photo at a time, and every contender
scores the same pixels. Random distortions use a fixed seed per (photo, kind) (CRC-32 of
``"<photo path>/<kind>"``), the same at every level of a series, so reruns are identical.

Distortion sets: (a) the training package's own distortions, (b) scikit-image, SciPy and Pillow,
(c) composite chains of albumentations transforms with Pillow's WebP and AVIF encoders, (d) kornia,
(e) libvips, (f) imagecorruptions (ImageNet-C), (g) ImageMagick and (h) FFmpeg (f, g and h run
only when asked for with ``--set``: f's package is installed by hand, g needs the system's
ImageMagick, and h keeps a default run what it was). ``benchmarks/distortion_sets.py`` defines them; its docstring gives every kind's
parameter at levels 1..5 and its implementation (the JSON output has the same tables). The figures
and tables are computed by ``benchmarks/quality_report.py``.

Contenders: bundles (``--bundle LABEL=PATH`` or ``LABEL=PATH@HEAD``; the head applied to the
features of ``QualityScorer.features_many``, the same numbers as ``score_many``; bundles with the
same encoder file, by the manifest's SHA-256, and input contract share one feature pass, so head
candidates on one network cost little more than one of them), the packaged default model
(``--default``, skipped with a note if none is installed) and BRISQUE (the ``brisque`` package with
OpenCV, with a fix for NumPy >= 2.4; ``--no-brisque`` to skip; ``--jobs N`` scores it in N
processes).

Ablation heads (``--ablation PROXY_DIR``, a proxy set made from TRAINING photos with
``python -m contrique_training.proxy make``; refused when its photos folder or any of its photos is
among the benchmark's): for every bundle whose architecture has the natural-scene statistics
(``+nss`` or ``+nss2`` in the manifest's ``architecture``), three ridge heads on the bundle's features of the
proxy set, fitted as ``contrique_training.proxy`` fits its ``quality`` head (standardised features,
alpha from ``PROXY_ALPHAS`` by 5-fold cross-validation separated by photo, ``fit_final``; the
target is the set's ``quality.csv``, or with ``--ablation-target fr6`` its six-metric rank proxy,
``contrique_training.proxy.target_csv``): ``LABEL:nss`` on the statistics alone (the last
``contrique_export.model_config.statistics_dim(architecture)`` values of each per-scale block of
``feature.per_scale_dim`` values, in ``feature.layout`` order: the 25 statistics, and with ``+nss2``
their 325 pairwise products), ``LABEL:learned`` on the rest (the pooled CNN feature), ``LABEL:both``
on all of it (on the proxy set the bundle's ``quality`` head was fitted on, it is that head again).
Each is a contender of its own, on the bundle's features (computed once per image). Their proxy
cross-validated SRCC (``run_protocol``, 10 splits by photo) is in the JSON. ``--ablation-group-weight
GROUP[@SCALE]=W`` (repeatable) weighs feature groups as ``proxy heads --group-weight`` does
(``contrique_training.proxy.column_weights``), on the columns each head reads.

Random-initialised encoder (``--random-init LABEL=SPEC``, needs ``--ablation``): a network of the
architecture SPEC (a contrique-train checkpoint, whose ``model_config`` is used, or a JSON object
of ``model_config`` keys, e.g. ``{"arch": "resnet18", "stages": 3, "nss": true}``, with ``max_side``
and ``scales`` (2, 3 or 4, ``contrique-export --scales``) for the input contract), weights from
``torch.manual_seed(--random-seed)`` and torchvision's initialisation, exported (fp32) with
``contrique_export.exporter.export_bundle`` into a temporary folder, and scored with the three
heads above (``LABEL:nss``, ``LABEL:learned``, ``LABEL:both``: the random-initialised encoder with
the same heads).

Against a baseline (``--baseline LABEL``, e.g. the current default model): every other
contender's per-series mean and cross-content correlation minus the baseline's, set by set, each
with its spread over photos: the photos are resampled with replacement ``--resamples`` times
(1000; each photo with all its images, every contender on the same draw;
``contrique_training.evaluation.bootstrap.photo_bootstrap``), and the table gives the observed
difference, the interval holding the central 90 % of the resampled differences and the share of
draws in which the contender is below the baseline. With a dozen photos a difference of 0.01 is
usually inside that interval: read "at least as good on every measure" with it.

Full-reference values do not depend on the contenders: they are computed once per image (about
1.6 s per 512 px image on a busy 2-core CPU, FSIM most of it) and kept in a cache file
(``--fr-cache``, default ``bench-quality-fullref.json`` in the evaluation feature cache folder,
``$CONTRIQUE_EVAL_CACHE``) keyed by the SHA-256 of the image's and its photo's pixels, so a rerun
(another contender, same images) computes none.

Timing: per 512 px image on a busy 2-core CPU, BRISQUE about 0.15 s, a ResNet-50 bundle about 0.9 s
(2 threads), making set a about 0.025 s, b 0.03 s, c 0.1 s (AVIF 0.3 s), d 0.05 s and e 0.1 s (AVIF and
palette 0.3 to 0.5 s); a full run scores about 4,500 images per contender (13 photos x (1 + 69 kinds x
5 levels)).

Usage:
    python benchmarks/bench_quality.py --bundle default=contrique_infer/models/default --json out.json
    python benchmarks/bench_quality.py --default --ablation proxy/train \\
        --random-init 'random={"arch": "resnet18", "stages": 3, "nss": true}' --json out.json
    python benchmarks/bench_quality.py --bundle mine=path/to/bundle@koniq --set a --set c --limit-photos 2 \\
        [--default] [--no-brisque] [--jobs 2] [--max-side 512] [--markdown table.md]
    python benchmarks/bench_quality.py --bundle old=contrique_infer/models/default --bundle new=bundles/new \\
        --baseline old --no-brisque

stdout: a Markdown table (rows: distortion kinds by set, each set's mean over all series and its
cross-content correlation; columns: contenders; cells: mean Spearman over photos), photo count,
levels, max side and wall time per contender, then a summary table: per contender and set, the
per-series mean and the cross-content correlation, marked against BRISQUE's (+ above, = tied,
- below), and the set-b kinds where it is above BRISQUE; with ``--baseline``, a last table of the
differences against the baseline. Progress goes to stderr. ``--json PATH`` writes every per-series
and per-image value too (scores, full-reference values), with the parameter tables, photos, heads,
versions and date. ``--save-features PATH`` (with ``--json``) writes each bundle's feature of every
image of the report (:func:`save_features`), so that ``benchmarks/rescore_heads.py`` scores the same
images again with other heads in seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from benchlib import PHOTOS, REPO, check_outputs, load_photo, parse_bundle, split_labelled
from distortion_sets import DEFAULT_SETS, LEVELS, SETS, DistortionSet
from near_duplicates import same_pictures
from PIL import Image
from quality_report import (
    Labelled,
    baseline_markdown,
    compare,
    cross_content,
    footer_lines,
    markdown,
    summarise,
    summary_markdown,
    versus_baseline,
)

from contrique_export.fidelity import spearman
from contrique_infer.commands import positive_int
from contrique_infer.inputs import list_images

if TYPE_CHECKING:
    from contrique_infer import QualityScorer
    from contrique_training.evaluation.datasets import Dataset
    from contrique_training.evaluation.protocol import ProtocolConfig

Scored = tuple[float | None, str | None]  # (score, error message)
Featured = tuple[np.ndarray | None, str | None]  # (feature, error message)


# --- contenders -------------------------------------------------------------------------------------

_brisque: Any = None


def _init_brisque() -> None:
    """Load BRISQUE in this process (the pool initializer; also called in-process)."""
    global _brisque
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # brisque imports the deprecated scipy.ndimage.filters
        from brisque import BRISQUE

    class NumpyTwoBrisque(BRISQUE):  # type: ignore[misc,valid-type]
        """brisque 0.2.0 returns some features as 1-element arrays, which ``float()`` refuses
        from NumPy 2.4 on: flatten them to floats (the values are unchanged)."""

        def calculate_brisque_features(self, image: np.ndarray, kernel_size: int = 7,
                                       sigma: float = 7 / 6) -> np.ndarray:
            features = super().calculate_brisque_features(image, kernel_size, sigma)
            return np.array([np.asarray(f, dtype=np.float64).item() for f in features])

    _brisque = NumpyTwoBrisque(url=False)


def _brisque_score(image: np.ndarray) -> Scored:
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = float(_brisque.score(image))
    except Exception as exc:  # noqa: BLE001 - any failure of the third-party code is this image's error
        return None, f"{type(exc).__name__}: {exc}"
    return (value, None) if math.isfinite(value) else (None, f"BRISQUE returned {value}")


@dataclass
class Contender:
    """Something that scores images, with its running totals."""

    label: str
    description: dict[str, Any]
    higher_is_better: bool
    score: Callable[[list[np.ndarray]], list[Scored]]
    seconds: float = 0.0
    images: int = 0
    failed_images: list[str] = field(default_factory=list)


class FeatureSource:
    """A bundle's features of one photo's images, computed once for every head that reads them; with
    ``keep``, every image's feature (None where it failed) is kept in ``kept``, in the order computed."""

    def __init__(self, scorer: QualityScorer, keep: bool = False) -> None:
        self.scorer = scorer
        self.keep = keep
        self.kept: list[np.ndarray | None] = []
        self._images: list[np.ndarray] | None = None
        self._features: list[Featured] = []

    def __call__(self, images: list[np.ndarray]) -> list[Featured]:
        if self._images is not images:  # a new photo's list (held here, so its id cannot be reused)
            self._features = [(r.feature, r.error) for r in self.scorer.features_many(images)]
            self._images = images
            if self.keep:
                self.kept += [feature for feature, _ in self._features]
        return self._features


FEATURES_FORMAT = "bench-quality-features-1"
"""The ``format`` of a :func:`save_features` file."""


def save_features(path: Path, sources: dict[str, FeatureSource], images: int) -> None:
    """Write the features ``sources`` kept (bundle label -> its source) to ``path``, an ``.npz`` file:
    ``format`` (:data:`FEATURES_FORMAT`) and, per distinct source, ``features_<i>`` (float32, a row per
    image of the JSON report's ``images``, NaN where the image failed) and ``labels_<i>`` (the labels
    of the bundles that share it).

    Raises:
        RuntimeError: A source did not keep one feature per image (a bug: please report it).
    """
    groups: dict[int, tuple[FeatureSource, list[str]]] = {}
    for label, source in sources.items():
        groups.setdefault(id(source), (source, []))[1].append(label)
    arrays: dict[str, np.ndarray] = {"format": np.array(FEATURES_FORMAT)}
    for i, (source, labels) in enumerate(groups.values()):
        if len(source.kept) != images:
            raise RuntimeError(f"{', '.join(labels)}: {len(source.kept)} features kept for {images} images")
        dim = next((len(f) for f in source.kept if f is not None), 0)
        rows = np.full((images, dim), np.nan, dtype=np.float32)
        for row, feature in enumerate(source.kept):
            if feature is not None:
                rows[row] = feature
        arrays[f"features_{i}"], arrays[f"labels_{i}"] = rows, np.array(labels)
    with open(path, "wb") as file:  # a file object: numpy would add ".npz" to a name without it
        np.savez_compressed(file, **arrays)


def feature_key(scorer: QualityScorer) -> str:
    """What fixes a bundle's features: its encoder file's sha256 (as the manifest records it) and input
    contract, so bundles that differ only in their heads share one :class:`FeatureSource`."""
    manifest = scorer.manifest
    encoder = manifest.variants[scorer.variant].file
    return json.dumps([manifest.files[encoder].sha256, manifest.input.to_dict()], sort_keys=True)


def head_contender(label: str, description: dict[str, Any], source: FeatureSource, higher_is_better: bool,
                   head: Callable[[np.ndarray], Any]) -> Contender:
    """A contender scoring ``head(feature)`` on the features of ``source``."""

    def score(images: list[np.ndarray]) -> list[Scored]:
        return [(float(head(f)), None) if f is not None else (None, error) for f, error in source(images)]

    return Contender(label, description, higher_is_better, score)


def open_scorer(path: str | None, head: str | None, variant: str, threads: int | None) -> QualityScorer:
    """A bundle (``path`` None: the packaged default) loaded with ``head`` only (None: every head)."""
    from contrique_infer import QualityScorer

    return QualityScorer.from_pretrained(path, head=head, variant=variant, threads=threads)


def bundle_contender(label: str, scorer: QualityScorer, head: str | None, source: FeatureSource) -> Contender:
    """The bundle of ``scorer`` with its ``head`` (None: the default head), on the features of ``source``."""
    from contrique_infer.bundle import load_head

    info = scorer.resolve_head(head)
    loaded = load_head(scorer.bundle_dir, scorer.manifest, info)
    description = {
        "kind": "bundle", "path": str(scorer.bundle_dir), "name": scorer.manifest.name, "head": info.name,
        "head_dataset": info.dataset, "higher_is_better": info.higher_is_better, "variant": scorer.variant,
        "providers": scorer.providers, "architecture": scorer.manifest.architecture,
    }
    return head_contender(label, description, source, info.higher_is_better, loaded)


def brisque_contender(pool: Executor | None) -> Contender:
    """BRISQUE, in ``pool`` when given, else in this process."""
    try:
        _init_brisque()
    except ImportError as exc:
        raise SystemExit(f"BRISQUE needs the brisque package and OpenCV (pip install brisque "
                         f"opencv-python-headless), or use --no-brisque: {exc}") from exc

    def score(images: list[np.ndarray]) -> list[Scored]:
        if pool is None:
            return [_brisque_score(i) for i in images]
        return list(pool.map(_brisque_score, images, chunksize=4))

    return Contender("BRISQUE", {"kind": "brisque", "higher_is_better": False}, False, score)


def parse_random_init(spec: str) -> tuple[str, str]:
    """``LABEL=SPEC`` -> (label, spec); SPEC is a checkpoint file or a JSON object of model_config keys."""
    return split_labelled(spec, "--random-init takes LABEL=CHECKPOINT or LABEL=JSON")


# --- ablation heads and the random-initialised encoder ----------------------------------------------

def proxy_training_set(
    folder: Path, held_out: Sequence[Path], held_out_ids: Sequence[str], target: str = "mdsi"
) -> Dataset:
    """The quality targets (``mdsi`` or ``fr6``) of a proxy set, refused if it was made from the benchmark's photos.

    Raises:
        SystemExit: The proxy set's photos folder overlaps a held-out folder, or one of its photos
            has the path of a benchmark photo.
        ContriqueError: The proxy set cannot be read.
    """
    from contrique_training.evaluation.datasets import read_csv
    from contrique_training.proxy import QUALITY_SCALE, load_proxy_set, target_csv

    proxy = load_proxy_set(folder)
    source = Path(proxy.photos).resolve()
    held = [h.resolve() for h in held_out]
    overlap = [h for h in held if h == source or h in source.parents or source in h.parents]
    shared = sorted({im.content_id for im in proxy.images
                     if any(im.content_id == p or im.content_id.endswith("/" + p) for p in held_out_ids)})
    if overlap or shared:
        why = (f"it was made from {source}, which overlaps the held-out photos of {overlap[0]}" if overlap
               else f"it holds the benchmark photo {shared[0]}")
        raise SystemExit(f"--ablation {folder}: {why}; heads must never see validation photos: make a proxy set "
                         f"from training photos (python -m contrique_training.proxy make --data ../shared/photos/train "
                         f"--out DIR)")
    return read_csv(target_csv(proxy, target, progress=True), name=proxy.target_name(target), scale=QUALITY_SCALE)


@dataclass(frozen=True)
class AblationHead:
    """A ridge head on one part of a bundle's feature, fitted on the proxy set's quality."""

    part: str
    columns: np.ndarray
    coef: np.ndarray
    intercept: float
    report: dict[str, Any]

    def __call__(self, feature: np.ndarray) -> float:
        return float(np.asarray(feature, dtype=np.float64)[self.columns] @ self.coef + self.intercept)


def fit_ablation_heads(label: str, scorer: QualityScorer, dataset: Dataset, config: ProtocolConfig,
                       group_weights: dict[str, float]) -> list[AblationHead]:
    """The ``nss``, ``learned`` and ``both`` heads of a bundle (none, with a note, without statistics).

    Features of the proxy images come from the evaluation feature cache where present
    (``contrique_training.evaluation.features``); heads are fitted as the proxy's quality head is,
    with ``group_weights`` (``proxy heads --group-weight``) on the columns each reads.

    Raises:
        ContriqueError: Features cannot be computed, too few photos for the splits and folds, or a
            group weight names a group the bundle lacks.
    """
    from contrique_training.evaluation.features import DEFAULT_CACHE, compute_features
    from contrique_training.proxy import (
        PARTS,
        column_weights,
        feature_parts,
        fit_standardised,
    )

    parts = feature_parts(scorer.manifest)
    if parts is None:
        print(f"note: {label} ({scorer.manifest.architecture}) has no natural-scene statistics: no ablation heads",
              file=sys.stderr)
        return []
    print(f"{label}: features of the {len(dataset)} proxy images ({dataset.name})", file=sys.stderr)
    weights = column_weights(scorer.manifest, group_weights)
    features = compute_features(dataset.paths, scorer, cache_dir=DEFAULT_CACHE)
    y, groups = dataset.scores, dataset.content_ids
    heads = []
    for part in PARTS:
        columns = parts[part]
        fit = fit_standardised(features[:, columns], y, groups, config, None if weights is None else weights[columns])
        cv = fit.result.summary()
        heads.append(AblationHead(part, columns, fit.model.coef, fit.model.intercept, {
            "part": part, "dims": int(columns.size), "alpha": fit.selection.alpha, "alpha_at_edge": fit.alpha_at_edge,
            "cv_srcc_median": cv["srcc"]["median"], "cv_plcc_median": cv["plcc"]["median"],
        }))
        print(f"{label}:{part}: {columns.size} dims, alpha {fit.selection.alpha:g}, "
              f"proxy SRCC {cv['srcc']['median']:.3f} (median of {config.splits} splits by photo)", file=sys.stderr)
    return heads


def ablation_contenders(label: str, scorer: QualityScorer, source: FeatureSource, dataset: Dataset,
                        config: ProtocolConfig, group_weights: dict[str, float]) -> list[Contender]:
    """``LABEL:nss``, ``LABEL:learned`` and ``LABEL:both`` on the features of ``source``."""
    contenders = []
    for head in fit_ablation_heads(label, scorer, dataset, config, group_weights):
        description = {"kind": "ablation head", "bundle": str(scorer.bundle_dir), "name": scorer.manifest.name,
                       "variant": scorer.variant, "architecture": scorer.manifest.architecture,
                       "proxy": dataset.name, "proxy_images": len(dataset),
                       "proxy_photos": len(set(dataset.content_ids or ())), "higher_is_better": True, **head.report}
        contenders.append(head_contender(f"{label}:{head.part}", description, source, True, head))
    return contenders


def random_init_bundle(spec: str, seed: int, folder: Path) -> tuple[Path, dict[str, Any]]:
    """Export a randomly initialised network of the architecture ``spec`` to a fp32 bundle in ``folder``.

    Args:
        spec: A contrique-train checkpoint (its ``model_config``) or a JSON object of ``model_config`` keys.
        seed: ``torch.manual_seed`` before the network is built.
        folder: An empty folder for the checkpoint and the bundle.

    Returns:
        The bundle folder and a description (spec, model_config, seed, torch version).

    Raises:
        SystemExit: ``spec`` is neither a readable checkpoint nor a valid JSON model_config.
    """
    import torch

    from contrique_export.checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint
    from contrique_export.exporter import export_bundle
    from contrique_export.model import ContriqueNet
    from contrique_export.model_config import ModelConfig
    from contrique_infer.errors import ContriqueError

    try:
        if os.path.isfile(spec):
            source = load_checkpoint(spec)
            config, max_side, scales = source.config, source.training_config.get("max_side", 0), 2
        else:
            keys = json.loads(spec)
            config, max_side, scales = ModelConfig.from_dict(keys), keys.get("max_side", 0), int(keys.get("scales", 2))
    except (ContriqueError, ValueError, TypeError, AttributeError) as exc:
        raise SystemExit(f"--random-init {spec!r}: not a checkpoint file nor a JSON object of model_config keys "
                         f"(arch, stages, nss, projection_dim, and max_side and scales for the input contract): "
                         f"{exc}") from exc
    torch.manual_seed(seed)
    network = ContriqueNet(config)
    checkpoint = folder / f"random-{config.name}-seed{seed}.pt"
    description = f"none: random initialisation (torch.manual_seed({seed}), torchvision's initialisers), not trained"
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "model_config": config.to_dict(),
                "model": network.state_dict(), "config": {"max_side": max_side},  # the same input contract
                "data": {"description": description, "license": "none"}}, checkpoint)
    bundle = export_bundle(checkpoint, folder / "bundle", name=f"random-init-{config.name}-seed{seed}", scales=scales)
    return bundle, {"spec": spec, "model_config": config.to_dict(), "max_side": max_side, "scales": scales,
                    "architecture": config.name, "seed": seed,
                    "torch": torch.__version__}


# --- full-reference values --------------------------------------------------------------------------

class FullReferenceCache:
    """Full-reference values by the SHA-256 of (photo pixels, image pixels), kept in a JSON file between runs."""

    FORMAT = "bench-quality-fullref-1"

    def __init__(self, path: Path | None) -> None:
        from contrique_training.fullref import METRICS

        self.path = path
        self.header = {"format": self.FORMAT, "piq": _version("piq"), "metrics": [m.call for m in METRICS]}
        self.computed = self.reused = 0
        self.seconds = 0.0
        self.values, problem = self._stored()
        if problem is not None:
            print(f"note: full-reference cache {path} {problem}: starting a new one", file=sys.stderr)

    @staticmethod
    def _key(image: np.ndarray) -> str:
        return f"{hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:32]}-{image.shape[1]}x{image.shape[0]}"

    def __call__(self, images: list[np.ndarray], pristine: np.ndarray) -> list[dict[str, float]]:
        """Every metric of each image against ``pristine``, from the cache where present."""
        from contrique_training.fullref import METRICS, full_reference

        base = self._key(pristine)
        keys = [f"{base}/{self._key(image)}" for image in images]
        todo: dict[str, int] = {}  # key -> first image with it
        for i, key in enumerate(keys):
            if key not in self.values:
                todo.setdefault(key, i)
        if todo:
            start = time.perf_counter()
            values = full_reference([images[i] for i in todo.values()], pristine)
            for j, key in enumerate(todo):
                self.values[key] = [float(values[m.name][j]) for m in METRICS]
            self.seconds += time.perf_counter() - start
            self.save()
        self.computed += len(todo)
        self.reused += len(images) - len(todo)
        return [dict(zip((m.name for m in METRICS), self.values[k])) for k in keys]

    def _stored(self) -> tuple[dict[str, list[float]], str | None]:
        """The values the cache file holds now (another run may have added some), and why it holds none this
        run can use (None where it can, or where there is no file)."""
        if self.path is None or not self.path.is_file():
            return {}, None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return {}, f"unreadable ({exc})"
        if not isinstance(data, dict) or not isinstance(data.get("values"), dict):
            return {}, "is not such a cache"
        if {k: data.get(k) for k in self.header} != self.header:
            return {}, "is of other metrics or piq"
        return dict(data["values"]), None

    def save(self) -> None:
        """Write the values to the cache file, merged with what runs beside this one wrote there meanwhile."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # runs side by side share the file: none may drop another's values
            self.values = {**self._stored()[0], **self.values}
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({**self.header, "values": self.values}) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)


# --- scoring ----------------------------------------------------------------------------------------

def seed_of(photo_id: str, kind: str) -> int:
    return zlib.crc32(f"{photo_id}/{kind}".encode())


@dataclass
class Series:
    set: str
    kind: str
    photo: str
    scores: dict[str, list[float] | None] = field(default_factory=dict)  # per contender, None: left out
    rho: dict[str, float | None] = field(default_factory=dict)  # None: undefined (constant scores)


@dataclass
class Record:
    """One image: which photo, set, kind and level, its full-reference values, every contender's raw score."""

    photo: str
    set: str | None  # None: the photo itself (level 0), part of every set
    kind: str | None
    level: int
    fr: dict[str, float]
    scores: dict[str, float | None] = field(default_factory=dict)  # None: the contender failed on it

    def to_dict(self) -> dict[str, Any]:
        return {"photo": self.photo, "set": self.set, "kind": self.kind, "level": self.level, "fr": self.fr,
                "scores": self.scores}


def series_of(records: Sequence[Record], contenders: Sequence[Labelled]) -> list[Series]:
    """The (photo, set, kind) series of ``records``, in their order: each photo's record (set None,
    level 0) followed by the series' records by level, with every contender's raw scores (None where
    an image has no score) and their Spearman correlation with ``-level`` (scores negated where lower
    is better)."""
    photos: dict[str, Record] = {}
    grouped: dict[tuple[str, str, str | None], tuple[Series, list[Record]]] = {}
    for record in records:
        if record.set is None:
            photos[record.photo] = record
        else:
            key = (record.photo, record.set, record.kind)
            grouped.setdefault(key, (Series(record.set, record.kind or "", record.photo), []))[1].append(record)
    for s, members in grouped.values():
        ordered = [photos[s.photo], *sorted(members, key=lambda r: r.level)]
        for contender in contenders:
            raw = [r.scores.get(contender.label) for r in ordered]
            values = [value for value in raw if value is not None]
            if len(values) < len(raw):
                s.scores[contender.label] = None
                continue
            s.scores[contender.label] = values
            sign = 1.0 if contender.higher_is_better else -1.0
            s.rho[contender.label] = spearman(-np.arange(len(values)), [sign * v for v in values])
    return [s for s, _ in grouped.values()]


def run_photo(
    photo_id: str, photo: Image.Image, sets: list[DistortionSet], contenders: list[Contender],
    make_seconds: dict[str, float], fullref: FullReferenceCache,
) -> tuple[list[Series], list[Record]]:
    """Distort one photo with every kind of ``sets``, compare all images with the photo, score them with every contender."""
    images = [np.asarray(photo)]
    records = [Record(photo_id, None, None, 0, {})]
    for dset in sets:
        start = time.perf_counter()
        for kind in dset.kinds:
            seed = seed_of(photo_id, kind)
            for level in range(1, LEVELS + 1):
                images.append(np.asarray(dset.make(photo, kind, level, seed).convert("RGB")))
                records.append(Record(photo_id, dset.name, kind, level, {}))
        make_seconds[dset.name] += time.perf_counter() - start
    for record, values in zip(records, fullref(images, images[0])):
        record.fr = values
    for contender in contenders:
        start = time.perf_counter()
        scored = contender.score(images)
        contender.seconds += time.perf_counter() - start
        contender.images += len(images)
        for record, (value, error) in zip(records, scored):
            ok = value is not None and math.isfinite(value)
            record.scores[contender.label] = value if ok else None
            if not ok:
                where = "" if record.set is None else f" {record.set}/{record.kind}"
                contender.failed_images.append(f"{photo_id}{where} level {record.level}: {error or f'score {value}'}")
    return series_of(records, contenders), records


# --- versions ---------------------------------------------------------------------------------------

def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    out = {p: _version(p) for p in ("contrique-infer", "onnxruntime", "brisque", "scikit-image", "scipy", "numpy",
                                    "pillow", "torch", "opencv-python-headless", "albumentations", "piq")}
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True,
                               check=True).stdout.strip()
        out["git"] = head + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        out["git"] = None
    return out


def refuse_training_pictures(photos: Sequence[Path], train: Path, parser: argparse.ArgumentParser) -> None:
    """Exit (code 2) when a benchmark photo is the same picture as a training photo (:mod:`near_duplicates`).

    Args:
        photos: The benchmark photos.
        train: The training photos' folder; when it does not exist the check is skipped with a note.
        parser: The parser whose ``error`` reports the photos found.
    """
    if not train.is_dir():
        print(f"note: no training photos at {train}: benchmark photos not checked against them "
              "(give --train-photos)", file=sys.stderr)
        return
    found = same_pictures(photos, list_images(train))
    if found:
        listed = "; ".join(f"{m.photo} is {m.training} (thumbnail correlation {m.correlation:.3f})" for m in found)
        parser.error(f"{len(found)} of {len(photos)} photos are the same picture as a training photo, so the "
                     f"benchmark would measure what the model has seen: {listed}; remove them from the --photos folder or "
                     "benchmark another one")


# --- main -------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from contrique_training.evaluation.features import DEFAULT_CACHE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", action="append", default=[], type=parse_bundle, metavar="LABEL=PATH[@HEAD]",
                        help="a bundle folder (or Hub id) to score with its default head or HEAD; repeatable")
    parser.add_argument("--default", action="store_true", help="also score the packaged default model, if installed")
    parser.add_argument("--no-brisque", action="store_true", help="leave BRISQUE out")
    parser.add_argument("--set", action="append", choices=tuple(SETS), dest="sets",
                        help="a distortion set; repeatable (default: a, b, c, d, e; f needs imagecorruptions, g "
                             "Wand with ImageMagick and h imageio-ffmpeg, see benchmarks/distortion_sets.py)")
    parser.add_argument("--ablation", type=Path, metavar="PROXY_DIR",
                        help="a proxy set of TRAINING photos: add LABEL:nss, LABEL:learned and LABEL:both heads "
                             "fitted on it for every bundle with natural-scene statistics")
    parser.add_argument("--ablation-target", choices=("mdsi", "fr6"), default="mdsi",
                        help="the target of the --ablation heads: the proxy set's mdsi quality (default) or fr6, "
                             "the mean rank of six full-reference metrics (as the heads of the bundle were fitted)")
    parser.add_argument("--ablation-group-weight", action="append", default=[], metavar="GROUP[@SCALE]=WEIGHT",
                        help="weigh a feature group in the --ablation heads as proxy heads --group-weight does; "
                             "repeatable")
    parser.add_argument("--random-init", action="append", default=[], type=parse_random_init, metavar="LABEL=SPEC",
                        help="a randomly initialised encoder (SPEC: a checkpoint, whose architecture is used, or a "
                             "JSON model_config) scored with the three --ablation heads; repeatable")
    parser.add_argument("--random-seed", type=int, default=0, help="torch seed of --random-init (default 0)")
    parser.add_argument("--photos", type=Path, default=PHOTOS / "val", help="photo folder (searched recursively)")
    parser.add_argument("--train-photos", type=Path, default=PHOTOS / "train",
                        help="the training photos: a --photos photo that is the same picture as one of them (at any "
                             "size or encoding) is refused (default: %(default)s; skipped with a note if absent)")
    parser.add_argument("--limit-photos", type=positive_int, help="use only the first N photos (sorted by path)")
    parser.add_argument("--max-side", type=positive_int, default=512, help="downscale photos to this longer side")
    parser.add_argument("--variant", choices=("auto", "fp32", "fp16", "int8"), default="auto",
                        help="bundle encoder variant (default auto: what users get, int8 on CPUs where trusted)")
    parser.add_argument("--threads", type=positive_int, help="onnxruntime intra-op threads (default: onnxruntime's)")
    parser.add_argument("--jobs", type=positive_int, default=1, help="processes for BRISQUE")
    parser.add_argument("--fr-cache", type=Path, default=DEFAULT_CACHE / "bench-quality-fullref.json",
                        help="full-reference values kept between runs (default: %(default)s)")
    parser.add_argument("--no-fr-cache", action="store_true", help="compute every full-reference value, keep none")
    parser.add_argument("--json", type=Path, help="write every figure, per series and per image, to this JSON file")
    parser.add_argument("--markdown", type=Path, help="write the tables to this file too")
    parser.add_argument("--save-features", type=Path, metavar="NPZ",
                        help="with --json: write each bundle's feature of every image there too, so that "
                             "benchmarks/rescore_heads.py scores the run again with other heads in seconds")
    parser.add_argument("--baseline", metavar="LABEL",
                        help="a contender's label (e.g. the current default): report every other contender's "
                             "difference from it with a bootstrap over photos")
    parser.add_argument("--resamples", type=positive_int, default=1000,
                        help="photo resamples of the --baseline comparison (default 1000)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    train = (PHOTOS / "train").resolve()
    if args.photos.resolve() == train or train in args.photos.resolve().parents:
        parser.error(f"{args.photos} holds training photos: benchmark on held-out photos only")
    if not args.photos.is_dir():
        parser.error(f"no photo folder {args.photos}")
    if args.save_features is not None and args.json is None:
        parser.error("--save-features needs --json: the features' rows are the images of the JSON report")
    check_outputs(parser, {"--json": args.json, "--markdown": args.markdown, "--save-features": args.save_features})
    if args.random_init and args.ablation is None:
        parser.error("--random-init needs --ablation PROXY_DIR: its heads are fitted on that proxy set")
    labels = [label for label, _, _ in args.bundle] + (["default"] if args.default else [])
    labels += [label for label, _ in args.random_init]
    if len(set(labels)) != len(labels) or "BRISQUE" in labels or any(":" in label for label in labels):
        parser.error(f"contender labels must be unique, not BRISQUE and without ':'; got {', '.join(labels)}")

    from contrique_infer.errors import ContriqueError, NoDefaultModelError
    from contrique_training.evaluation.protocol import ProtocolConfig
    from contrique_training.proxy import PROXY_ALPHAS, parse_group_weights

    sets = [SETS[name]() for name in sorted(set(args.sets or DEFAULT_SETS))]
    config = ProtocolConfig(alphas=PROXY_ALPHAS)
    try:
        group_weights = parse_group_weights(args.ablation_group_weight)
    except ContriqueError as exc:
        parser.error(f"--ablation-group-weight: {exc}")
    contenders: list[Contender] = []
    random_inits: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        try:
            all_photos = list_images(args.photos)
            photos = all_photos[: args.limit_photos]
            refuse_training_pictures(photos, args.train_photos, parser)
            dataset = None if args.ablation is None else proxy_training_set(
                args.ablation, [args.photos, PHOTOS / "val"], [p.relative_to(args.photos).as_posix() for p in all_photos],
                args.ablation_target)
            sources: dict[str, FeatureSource] = {}  # bundles with the same encoder and input contract share features
            by_label: dict[str, FeatureSource] = {}  # each bundle's source, for --save-features
            bundles: list[tuple[str, str | None, str | None]] = list(args.bundle)
            if args.default:
                bundles.append(("default", None, None))
            for label, path, head in bundles:
                try:
                    scorer = open_scorer(path, head, args.variant, args.threads)
                except NoDefaultModelError:
                    print("note: no default model is installed with contrique-infer; --default skipped", file=sys.stderr)
                    continue
                source = sources.setdefault(feature_key(scorer), FeatureSource(scorer, keep=args.save_features is not None))
                by_label[label] = source
                contenders.append(bundle_contender(label, scorer, head, source))
                if dataset is not None:
                    contenders += ablation_contenders(label, scorer, source, dataset, config, group_weights)
            for label, spec in args.random_init:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-random-init-")))
                bundle, random_inits[label] = random_init_bundle(spec, args.random_seed, folder)
                scorer = open_scorer(str(bundle), None, "fp32", args.threads)
                added = ablation_contenders(label, scorer, FeatureSource(scorer), dataset,  # type: ignore[arg-type]
                                            config, group_weights)
                if not added:
                    parser.error(f"--random-init {label}: {scorer.manifest.architecture} has no statistics; "
                                 "add \"nss\": true to its model_config")
                contenders += added
        except ContriqueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        # spawned, not forked: torch's and onnxruntime's thread pools are running, and a forked child can
        # inherit one of their locks held (the BRISQUE workers then wait forever)
        pool = (ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_init_brisque)
                if not args.no_brisque and args.jobs > 1 else None)
        if pool is not None:
            stack.callback(pool.shutdown)
        if not args.no_brisque:
            contenders.append(brisque_contender(pool))
        if not contenders:
            parser.error("nothing to score: give --bundle or --default, or drop --no-brisque")
        if args.baseline is not None and args.baseline not in [c.label for c in contenders]:
            parser.error(f"--baseline {args.baseline}: no such contender; the contenders are "
                         f"{', '.join(c.label for c in contenders)}")
        fullref = FullReferenceCache(None if args.no_fr_cache else args.fr_cache)
        make_seconds = {d.name: 0.0 for d in sets}
        series: list[Series] = []
        records: list[Record] = []
        start = time.perf_counter()
        for i, path in enumerate(photos, 1):
            photo_id = path.relative_to(args.photos).as_posix()
            photo = load_photo(path, args.max_side)
            photo_series, photo_records = run_photo(photo_id, photo, sets, contenders, make_seconds, fullref)
            series += photo_series
            records += photo_records
            print(f"[{i}/{len(photos)}] {photo_id} ({photo.width}x{photo.height}) done at "
                  f"{time.perf_counter() - start:.0f} s", file=sys.stderr)

    summary = {c.label: summarise(series, sets, c.label) for c in contenders}
    cross = cross_content(records, sets, contenders)
    comparison = compare(summary, cross, sets, [c.label for c in contenders])
    total_images = len(records)
    table = markdown(summary, cross, sets, contenders, footer_lines(
        contenders, summary, cross, sets, len(photos), args.max_side, make_seconds, total_images, fullref))
    table += "\n" + summary_markdown(comparison, sets)
    versus = None
    if args.baseline is not None:
        versus = versus_baseline(series, records, sets, contenders, args.baseline, args.resamples)
        table += "\n" + baseline_markdown(versus, sets, args.baseline)
    print(table, end="")
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        from contrique_training.fullref import METRICS

        report = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "argv": list(sys.argv if argv is None else argv),
            "measure": "Spearman of (-level, higher-is-better score) per (photo, kind) series of levels 0..5; "
                       "constant scores count as 0",
            "cross_content_measure": "Spearman over all images of a set (the photos, level 0, included) of the "
                                     "higher-is-better score and contrique_training.fullref.rank_proxy of the images' "
                                     "full-reference values against their photo (mean over metrics of the rank, "
                                     "each metric oriented higher-is-better, ties averaged, ranked over the set's "
                                     "images); images a contender failed on are left out of its correlation",
            "notes": "series[].scores are raw scores per level 0..5 (null: an image failed, series left out); "
                     "series[].rho is null where the scores were constant (counted as 0 in the means); "
                     "images[] is one record per image (set null: the photo itself, in every set) with its "
                     "full-reference values (fr, each metric's own direction) and every contender's raw score",
            "photos": {"folder": str(args.photos), "max_side": args.max_side, "resample": "Lanczos",
                       "files": [p.relative_to(args.photos).as_posix() for p in photos]},
            "levels": LEVELS,
            "seed": "crc32('<photo>/<kind>'), same at every level of a series",
            "sets": {d.name: {"kinds": list(d.kinds), "parameters": d.parameters} for d in sets},
            "fullref": {"metrics": [m.to_dict() for m in METRICS], "computed": fullref.computed,
                        "from_cache": fullref.reused, "seconds": fullref.seconds,
                        "cache": None if fullref.path is None else str(fullref.path)},
            "ablation": None if args.ablation is None else {
                "proxy": str(args.ablation), "target": args.ablation_target, "protocol": config.to_dict(),
                "group_weights": group_weights,
                "parts": {"nss": "the last statistics_dim(architecture) values of each per-scale block",
                          "learned": "the other values", "both": "every value"}},
            "random_init": random_inits,
            "make_seconds": make_seconds,
            "versions": versions(),
            "contenders": {
                c.label: {**c.description, "seconds": c.seconds, "images": c.images,
                          "failed_images": c.failed_images, "summary": summary[c.label],
                          "cross_content": cross[c.label]}
                for c in contenders
            },
            "comparison": comparison,
            "versus_baseline": None if versus is None else {"baseline": args.baseline, "contenders": versus},
            "series": [{"set": s.set, "kind": s.kind, "photo": s.photo, "rho": s.rho, "scores": s.scores}
                       for s in series],
            "images": [r.to_dict() for r in records],
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if args.save_features is not None:
        save_features(args.save_features, by_label, len(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
