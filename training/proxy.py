"""Proxy targets for a bundle's default heads, where no human opinion scores are available.

``make``: every training photo is downscaled (Lanczos, longer side at most ``max_side``, both sides
at least 64 px) and saved as the pristine PNG; ``variants_per_photo`` distorted versions follow,
with the distortion types of :data:`.distortions.WIDE_TYPES` at their wide levels 1..5. The (type, level)
pairs come from a stream of shuffled copies of all 135 pairs, so every type, level and pair is
drawn equally often over the set. Each image (pristine included) is scored against its pristine by
a full-reference metric, mapped to a 0..100 quality, higher is better.

The metric is MDSI (``piq.mdsi(distorted, pristine, data_range=1.0)``, piq's defaults: sum
combination, c1=140, c2=55, c3=550). piq's README ("Benchmark" section, piq 0.8.0, shipped as
``piq-0.8.0.dist-info/METADATA``; https://github.com/photosynthesis-team/piq) publishes SRCC with
human opinion, PIQ's own value / the literature's: MDSI 0.89 / 0.89 on TID2013 and 0.89 / 0.89 on
KADID-10k, the only full-reference metric of the table at 0.89 or more on both (VSI 0.90 / 0.90
and 0.88 / 0.86; HaarPSI 0.87 / 0.87 and 0.89 / 0.89; MS-GMSDc 0.89 / 0.89 and 0.87 / -; FSIMc
0.85 / 0.85 and 0.85 / 0.85; GMSD 0.80 / 0.80 and 0.85 / 0.85). KADID-10k's 25 distortion types are
the ones generated here. MDSI is 0 for identical images and grows with the distortion (lower is
better); the mapping is ``quality = clip(100 * (1 - MDSI / 0.7), 0, 100)``, so pristine photos score
100. On all 276 training photos (384 px, 12 variants each, seed 0) the distorted images' qualities
had 5th, 25th, 50th, 75th and 95th percentiles 22, 37, 49, 62 and 80 (2 of 3312 clipped at 0; an
MDSI of 0, quality 100, for colour distortions of greyscale photos) and means 66, 57, 49, 42 and 35
at levels 1..5; each set's figures are in its ``proxy.json``.

Output folder::

    proxy.json     metric, mapping, settings, counts, score distribution, and every image's record
    quality.csv    path,score,content_id   (0..100, higher is better)
    level.csv      path,score,content_id   (0 = pristine .. 5 = most severe; higher is WORSE)
    images/<photo>/00-pristine.png, 01-<type>-l<level>.png, ...

The CSVs are the generic format of :func:`contrique_training.evaluation.datasets.read_csv` (paths
relative to the CSV, content id = the source photo's path under the photos folder), so
``contrique-eval run --dataset csv`` reads them too.

``heads``: :func:`add_proxy_heads` fits the ``quality`` and ``level`` heads on a bundle's features
of a proxy set and adds them to the bundle (``quality`` the default). Ridge is fitted on
standardised features (each feature's mean and standard deviation over the set; the statistics
see no targets), alpha chosen by photo-separated k-fold cross-validation, and the standardisation
is folded back into the head, so it stays ``feature @ coef + intercept`` on raw features. The
figures reported are the evaluation protocol's (:func:`~.evaluation.protocol.run_protocol`):
medians over random 80/20 splits by photo, alpha chosen again inside each training part.

Usage::

    python -m contrique_training.proxy make --data ../shared/photos/train --out proxy/train
    python -m contrique_training.proxy heads --bundle bundles/default --proxy proxy/train

Use training photos only: validation photos must stay unseen by the heads.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from contrique_infer.commands import EXIT_USAGE, fail, parse, positive_int
from contrique_infer.errors import ContriqueError, DependencyError
from contrique_infer.inputs import list_images
from contrique_infer.jsonfile import loads

from .data import load_rgb
from .errors import TrainingError
from .evaluation.features import DEFAULT_CACHE
from .evaluation.protocol import ProtocolConfig
from .evaluation.ridge import RidgeModel

PROG = "python -m contrique_training.proxy"

PROXY_FORMAT_VERSION = 1
METRIC = "mdsi"
MDSI_MAX = 0.7
"""MDSI mapped to quality 0; larger values (rare) are clipped there."""
MIN_SIDE = 64
HEAD_NAMES = ("quality", "level")
QUALITY_SCALE = "0-100"
LEVEL_SCALE = "0-5 (distortion level)"
PROXY_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-1, 7, 17))
"""Ridge alpha candidates for standardised features (their Gram matrix has trace items x dim, far
above that of the L2-normalised raw features that the evaluation's default candidates suit)."""
PUBLISHED_SRCC = {
    "source": "piq 0.8.0 README, section Benchmark (https://github.com/photosynthesis-team/piq)",
    "TID2013": {"piq": 0.89, "reference": 0.89},
    "KADID-10k": {"piq": 0.89, "reference": 0.89},
}


class ProxyError(TrainingError):
    """A proxy set cannot be made or read, or its heads cannot be fitted (the message says what to do)."""


@dataclass(frozen=True)
class ProxyImage:
    """One image of a proxy set.

    Attributes:
        path: The PNG, relative to the proxy folder (POSIX separators).
        content_id: The source photo, relative to the photos folder.
        distortion: The distortion type, or None for the pristine photo.
        level: 0 for the pristine photo, else the wide level 1..5.
        seed: The distortion's random seed.
        mdsi: MDSI against the pristine photo (0 = identical, higher is worse).
        quality: The proxy quality, 0..100, higher is better.
    """

    path: str
    content_id: str
    distortion: str | None
    level: int
    seed: int
    mdsi: float
    quality: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "content_id": self.content_id, "distortion": self.distortion, "level": self.level,
            "seed": self.seed, "mdsi": self.mdsi, "quality": self.quality,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProxyImage:
        return cls(str(data["path"]), str(data["content_id"]), data["distortion"], int(data["level"]),
                   int(data["seed"]), float(data["mdsi"]), float(data["quality"]))


@dataclass(frozen=True)
class ProxySet:
    """A proxy set on disk (see the module docstring for the layout).

    Attributes:
        folder: The proxy folder.
        name: The dataset name heads record, ``proxy-mdsi-<last two parts of the photos folder>``.
        photos: The photos folder it was made from.
        settings: ``variants_per_photo``, ``max_side``, ``seed`` and ``limit``.
        images: Every image, photo by photo, the pristine first.
    """

    folder: Path
    name: str
    photos: str
    settings: dict[str, Any]
    images: tuple[ProxyImage, ...]

    @property
    def quality_csv(self) -> Path:
        return self.folder / "quality.csv"

    @property
    def level_csv(self) -> Path:
        return self.folder / "level.csv"

    def distribution(self) -> dict[str, Any]:
        """Quality percentiles of all images and of the distorted ones, per-level means, and counts."""
        quality = np.array([im.quality for im in self.images])
        distorted = np.array([im.quality for im in self.images if im.level > 0])
        pct = (0, 5, 25, 50, 75, 95, 100)
        levels = sorted({im.level for im in self.images})
        return {
            "quality_percentiles": dict(zip(map(str, pct), np.percentile(quality, pct).round(2).tolist())),
            "distorted_quality_percentiles": (
                dict(zip(map(str, pct), np.percentile(distorted, pct).round(2).tolist())) if distorted.size else {}
            ),
            "mean_quality_by_level": {
                str(lv): round(float(np.mean([im.quality for im in self.images if im.level == lv])), 2)
                for lv in levels
            },
            "clipped_at_0": int(np.sum(quality <= 0)),
            "deciles_used": int(np.unique(np.minimum(quality // 10, 9)).size),
        }

    def summary(self) -> dict[str, Any]:
        """Everything of proxy.json but the image records."""
        return {
            "format_version": PROXY_FORMAT_VERSION,
            "name": self.name,
            "photos": self.photos,
            "metric": {
                "name": METRIC,
                "call": "piq.mdsi(distorted, pristine, data_range=1.0, reduction='none') on RGB in [0, 1]",
                "library": f"piq {_piq_version()}",
                "lower_is_better": True,
                "published_srcc": PUBLISHED_SRCC,
            },
            "mapping": {
                "formula": f"quality = clip(100 * (1 - mdsi / {MDSI_MAX}), 0, 100)",
                "mdsi_max": MDSI_MAX,
                "higher_is_better": True,
            },
            "settings": self.settings,
            "counts": {
                "photos": len({im.content_id for im in self.images}),
                "images": len(self.images),
                "per_type": dict(sorted(Counter(im.distortion or "pristine" for im in self.images).items())),
                "per_level": {str(k): v for k, v in sorted(Counter(im.level for im in self.images).items())},
            },
            "distribution": self.distribution(),
            "files": {"quality": "quality.csv", "level": "level.csv"},
        }


def _piq_version() -> str:
    from importlib.metadata import version

    return version("piq")


def mdsi_to_quality(mdsi: np.ndarray) -> np.ndarray:
    """The proxy quality of MDSI values: ``clip(100 * (1 - mdsi / MDSI_MAX), 0, 100)``."""
    return np.clip(100.0 * (1.0 - np.asarray(mdsi, dtype=np.float64) / MDSI_MAX), 0.0, 100.0)


def mdsi(distorted: Sequence[Image.Image], pristine: Image.Image) -> np.ndarray:
    """MDSI of each RGB image against ``pristine`` (same size), computed with piq.

    Raises:
        DependencyError: piq is not installed.
    """
    try:
        import piq
        import torch
    except ImportError as exc:
        raise DependencyError(f"proxy scores need piq and torch ({exc}); install them: pip install 'piq>=0.8'") from exc

    def tensor(images: Sequence[Image.Image]) -> torch.Tensor:
        arrays = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) / 255 for im in images])
        return torch.from_numpy(arrays).permute(0, 3, 1, 2)

    x = tensor(distorted)
    y = tensor([pristine]).expand_as(x)
    with torch.no_grad():
        return piq.mdsi(x, y, data_range=1.0, reduction="none").double().numpy()


def prepare_photo(image: Image.Image, max_side: int) -> Image.Image:
    """Downscale (Lanczos) so the longer side is at most ``max_side``; upscale so both sides are at least 64."""
    w, h = image.size
    scale = max(min(1.0, max_side / max(w, h)), MIN_SIDE / min(w, h))
    if scale == 1.0:
        return image
    size = (max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def assignments(photos: int, per_photo: int, seed: int, chains: bool = False) -> list[list[tuple[str, int]]]:
    """(type, wide level) of each photo's distorted versions: consecutive draws from a stream of
    shuffled copies of all (type, level) pairs of the wide types (and the composite chains when
    ``chains``), so every pair occurs equally often (up to one) over the set."""
    from .distortions import LEVELS, SERIES_TYPES, WIDE_TYPES

    pairs = [(d.name, level) for d in (SERIES_TYPES if chains else WIDE_TYPES) for level in range(1, LEVELS + 1)]
    rng = np.random.default_rng([seed, 0])
    stream: list[tuple[str, int]] = []
    while len(stream) < photos * per_photo:
        stream += [pairs[i] for i in rng.permutation(len(pairs))]
    return [stream[i * per_photo : (i + 1) * per_photo] for i in range(photos)]


def select_photos(paths: Sequence[Path], limit: int | None) -> list[Path]:
    """All ``paths``, or ``limit`` of them evenly spaced over the sorted list (so every source folder shows)."""
    if limit is None or limit >= len(paths):
        return list(paths)
    return [paths[i] for i in np.unique(np.linspace(0, len(paths) - 1, limit).round().astype(int))]


def _image_folder(content_id: str) -> str:
    rel = Path(content_id)
    return (Path("images") / rel.parent / rel.name.replace(".", "_")).as_posix()


def make_proxy_set(
    photos: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    variants_per_photo: int = 12,
    max_side: int = 384,
    seed: int = 0,
    limit: int | None = None,
    chains: bool = False,
    progress: bool = True,
) -> ProxySet:
    """Make a proxy set: pristine and distorted PNGs, their MDSI proxy scores, CSVs and proxy.json.

    Args:
        photos: A folder of training photos (searched recursively).
        out_dir: A new or empty folder for the set.
        variants_per_photo: Distorted versions per photo.
        max_side: Longer side of the pristine PNGs (photos are only downscaled to it).
        seed: Seed of the (type, level) draws and the distortions' randomness; the set is a
            function of the photos and the settings.
        limit: Use only this many photos, evenly spaced over the sorted list (None: all).
        chains: Draw from the composite chains of :mod:`.chains` too, not only the wide types.
        progress: A progress bar on stderr.

    Returns:
        The set.

    Raises:
        ProxyError: Bad settings, or ``out_dir`` is not empty.
        DataError: The folder holds no images, or one cannot be read.
        DependencyError: piq is not installed.
    """
    from tqdm import tqdm

    from .distortions import distort_image

    if variants_per_photo < 1 or max_side < MIN_SIDE or (limit is not None and limit < 1):
        raise ProxyError(
            f"variants_per_photo and limit must be >= 1 and max_side >= {MIN_SIDE}; "
            f"got {variants_per_photo}, {limit} and {max_side}"
        )
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ProxyError(f"{out}: exists and is not an empty folder; choose a new folder or delete it")
    root = Path(photos)
    paths = select_photos(list_images(root), limit)
    plan = assignments(len(paths), variants_per_photo, seed, chains)
    images: list[ProxyImage] = []
    for index, (path, pairs) in enumerate(tqdm(list(zip(paths, plan)), desc="proxy set", unit="photo",
                                                file=sys.stderr, disable=not progress)):
        content = path.relative_to(root).as_posix()
        folder = _image_folder(content)
        (out / folder).mkdir(parents=True, exist_ok=True)
        pristine = prepare_photo(load_rgb(path), max_side)
        seeds = [int(s) for s in np.random.SeedSequence([seed, index]).generate_state(len(pairs))]
        made = [pristine] + [distort_image(pristine, t, lv, seed=s) for (t, lv), s in zip(pairs, seeds)]
        names = ["00-pristine.png"] + [f"{k:02d}-{t}-l{lv}.png" for k, (t, lv) in enumerate(pairs, 1)]
        scores = mdsi(made, pristine).round(6)  # as stored: the quality is that of the stored value
        for image, name, (kind, level), s, m, q in zip(
            made, names, [(None, 0), *pairs], [0, *seeds], scores, mdsi_to_quality(scores).round(4)
        ):
            image.save(out / folder / name)
            images.append(ProxyImage(f"{folder}/{name}", content, kind, level, s, float(m), float(q)))
    settings = {"variants_per_photo": variants_per_photo, "max_side": max_side, "seed": seed, "limit": limit}
    if chains:
        settings["chains"] = True
    name = "proxy-" + METRIC + "-" + "-".join(root.resolve().parts[-2:])
    proxy = ProxySet(out, name, str(root.resolve()), settings, tuple(images))
    for target, csv_path in (("quality", proxy.quality_csv), ("level", proxy.level_csv)):
        with open(csv_path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "score", "content_id"])
            writer.writerows([im.path, getattr(im, target), im.content_id] for im in images)
    document = {**proxy.summary(), "images": [im.to_dict() for im in images]}
    (out / "proxy.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return proxy


def load_proxy_set(folder: str | os.PathLike[str]) -> ProxySet:
    """Read a proxy set's proxy.json.

    Raises:
        ProxyError: The folder has no readable proxy.json of this format (make it with ``make``).
    """
    path = Path(folder) / "proxy.json"
    try:
        data = loads(path.read_bytes())
        if data.get("format_version") != PROXY_FORMAT_VERSION:
            raise ValueError(f"format_version {data.get('format_version')!r}, expected {PROXY_FORMAT_VERSION}")
        images = tuple(ProxyImage.from_dict(d) for d in data["images"])
        return ProxySet(Path(folder), str(data["name"]), str(data["photos"]), dict(data["settings"]), images)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProxyError(
            f"{path}: not a readable proxy set ({exc}); make one with python -m contrique_training.proxy make"
        ) from exc


# --- heads --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Standardiser:
    """Per-feature centring and scaling; features with (almost) no spread are only centred."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardiser:
        """Mean and standard deviation of each column of ``x`` (n, dim); a deviation below 1e-6 of
        the largest one counts as none (scale 1), so near-constant features are not blown up."""
        x = np.asarray(x, dtype=np.float64)
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 1e-6 * std.max(initial=0.0), std, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale

    def unfold(self, model: RidgeModel) -> RidgeModel:
        """The ridge ``model`` fitted on standardised features, as the same function of raw features."""
        coef = model.coef / self.scale
        return RidgeModel(coef, float(model.intercept - self.mean @ coef), model.alpha)


def _descriptions(proxy: ProxySet, images: int, photos: int) -> dict[str, str]:
    fit = (f"Ridge on standardised features (folded into coef and intercept) of {images} images of {photos} photos "
           f"({proxy.name}): pristine and the synthetic distortion types (WIDE_TYPES) of contrique_training.distortions at "
           "wide levels 1-5. Features are clipped to the range of those images and scores to the range of the "
           "targets (no extrapolation)")
    return {
        "quality": f"Proxy quality 0-100, higher is better (pristine 100). {fit}; target "
                   f"clip(100 * (1 - MDSI / {MDSI_MAX}), 0, 100), piq's MDSI against the pristine photo. "
                   "Not fitted on human opinion scores.",
        "level": f"Predicted distortion level, 0 = pristine .. 5 = most severe: higher is WORSE "
                 f"(higher_is_better false). {fit}; target the level. Not fitted on human opinion scores.",
    }


def add_proxy_heads(
    bundle_dir: str | os.PathLike[str],
    proxy_dir: str | os.PathLike[str],
    *,
    default: str = "quality",
    force: bool = False,
    config: ProtocolConfig = ProtocolConfig(alphas=PROXY_ALPHAS),
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
        proxy_dir: A folder made by :func:`make_proxy_set`.
        default: The head made the bundle's default (``quality`` or ``level``).
        force: Replace existing heads of those names.
        config: The evaluation protocol's settings (splits, folds, alpha candidates, seed); the
            candidates should suit standardised features (:data:`PROXY_ALPHAS`).
        cache_dir: The evaluation feature cache root (None: no cache).
        variant, device: Passed to :meth:`QualityScorer.from_pretrained`.
        batch_size, workers: Feature extraction settings of :meth:`QualityScorer.features_many`.
        progress: A progress bar on stderr.

    Returns:
        A JSON-ready report: per head its file, alpha (and whether it is the smallest or largest
        candidate, a sign the candidates should be widened), the protocol's cross-validated SRCC and PLCC
        (splits by photo) and alpha selection; the default head; counts and timings.

    Raises:
        ProxyError: ``default`` is not one of the two heads, or the proxy set is unreadable.
        HeadExistsError: The bundle has such a head and ``force`` is False.
        ProtocolError: Too few photos for the splits and folds.
        FeatureError, ContriqueError: Features could not be computed, or the bundle is invalid.
    """
    from contrique_infer.bundle import load_bundle

    from .evaluation.api import open_scorer
    from .evaluation.datasets import read_csv
    from .evaluation.features import compute_features
    from .evaluation.heads import add_head, check_new_head, make_head
    from .evaluation.protocol import fit_final, run_protocol

    if default not in HEAD_NAMES:
        raise ProxyError(f"default head must be one of {', '.join(HEAD_NAMES)}, got {default!r}")
    proxy = load_proxy_set(proxy_dir)
    datasets = {
        "quality": read_csv(proxy.quality_csv, name=proxy.name, scale=QUALITY_SCALE),
        "level": read_csv(proxy.level_csv, name=proxy.name, higher_is_better=False, score_kind="DMOS",
                          scale=LEVEL_SCALE),
    }
    if datasets["quality"].paths != datasets["level"].paths:
        raise ProxyError(f"{proxy.folder}: quality.csv and level.csv list different images; make the set again")
    for name in HEAD_NAMES:  # fail before the feature computation, not after it
        check_new_head(bundle_dir, name, force=force)
    start = time.perf_counter()
    scorer = open_scorer(bundle_dir, variant=variant, device=device)
    features = compute_features(datasets["quality"].paths, scorer, cache_dir=cache_dir, batch_size=batch_size,
                                workers=workers, progress=progress)
    feature_s = time.perf_counter() - start
    start = time.perf_counter()
    standardise = Standardiser.fit(features)
    z = standardise(features)
    photos = len(set(datasets["quality"].content_ids or ()))
    descriptions = _descriptions(proxy, len(features), photos)
    heads, report = [], {}
    for name in sorted(HEAD_NAMES, key=lambda n: n == default):  # the default last: add_head keeps it
        dataset = datasets[name]
        result = run_protocol(z, dataset.scores, dataset.content_ids, config)
        model, selection = fit_final(z, dataset.scores, dataset.content_ids, config)
        summary = result.summary()
        head = make_head(standardise.unfold(model), name, dataset, descriptions[name])
        # No extrapolation: features clip to the proxy set's range and scores to the targets' range,
        # so a frame unlike any photo (one flat colour) scores like the worst images it resembles.
        heads.append(replace(head, feature_range=(features.min(axis=0), features.max(axis=0)),
                             score_range=(float(np.min(dataset.scores)), float(np.max(dataset.scores)))))
        report[name] = {
            "file": f"heads/{name}.json",
            "alpha": selection.alpha,
            "alpha_at_edge": selection.alpha in (min(config.alphas), max(config.alphas)),
            "cv": {m: summary[m] for m in ("srcc", "plcc", "rmse")},
            "cv_splits": [s.to_dict() for s in result.splits],
            "alpha_selection": selection.to_dict(),
        }
    fit_s = time.perf_counter() - start
    for head in heads:
        add_head(bundle_dir, head, force=force, make_default=head.name == default)
    bundle = load_bundle(bundle_dir)  # verifies every file's hash, the new heads' included
    return {
        "bundle": str(bundle_dir),
        "proxy": str(proxy.folder),
        "dataset": proxy.name,
        "images": len(features),
        "photos": photos,
        "feature_dim": int(features.shape[1]),
        "variant": scorer.variant,
        "default_head": bundle.manifest.default_head,
        "protocol": config.to_dict(),
        "heads": {name: report[name] for name in HEAD_NAMES},
        "timing_s": {"features": round(feature_s, 3), "fit": round(fit_s, 3)},
    }


# --- command line -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Proxy targets (MDSI of synthetically distorted training photos) and the default heads they fit.",
        epilog="Results go to stdout as JSON, progress to stderr. Exit codes: 0 ok, 1 failed, 2 usage error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make", help="make a proxy set from a folder of TRAINING photos")
    make.add_argument("--data", required=True, help="folder of training photos (never the validation photos)")
    make.add_argument("--out", required=True, help="new or empty folder for the set")
    make.add_argument("--variants", type=positive_int, default=12, help="distorted versions per photo (default 12)")
    make.add_argument("--max-side", type=positive_int, default=384, help="longer side of the PNGs (default 384)")
    make.add_argument("--seed", type=int, default=0, help="seed of the distortions (default 0)")
    make.add_argument("--limit", type=positive_int, help="use only this many photos, evenly spaced (default all)")
    make.add_argument("--chains", action="store_true", help="draw from the composite chains too (contrique_training.chains)")
    make.add_argument("--quiet", action="store_true", help="no progress bar")
    heads = sub.add_parser("heads", help="fit the quality and level heads on a proxy set and add them to a bundle")
    heads.add_argument("--bundle", required=True, help="local bundle folder")
    heads.add_argument("--proxy", required=True, help="folder made by the make command")
    heads.add_argument("--default", choices=HEAD_NAMES, default="quality", help="the bundle's default head")
    heads.add_argument("--force", action="store_true", help="replace existing heads of those names")
    heads.add_argument("--splits", type=positive_int, default=10, help="random 80/20 splits by photo (default 10)")
    heads.add_argument("--folds", type=positive_int, default=5, help="cross-validation folds for alpha (default 5)")
    heads.add_argument("--seed", type=int, default=0, help="seed of the splits and folds (default 0)")
    heads.add_argument("--alphas", type=float, nargs="+", default=list(PROXY_ALPHAS),
                       help="ridge alpha candidates, for standardised features (default 0.1 .. 1e7)")
    heads.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"feature cache folder (default {DEFAULT_CACHE})")
    heads.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    heads.add_argument("--variant", default="auto", choices=["auto", "fp32", "fp16", "int8"],
                       help="encoder variant (default auto)")
    heads.add_argument("--device", choices=["cpu", "cuda"], help="where onnxruntime runs (default: CUDA if available)")
    heads.add_argument("--batch-size", type=positive_int, default=8, help="images per encoder run (default 8)")
    heads.add_argument("--workers", type=positive_int, help="image decoding threads (default: min(4, CPUs))")
    heads.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _make(args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    proxy = make_proxy_set(args.data, args.out, variants_per_photo=args.variants, max_side=args.max_side,
                           seed=args.seed, limit=args.limit, chains=args.chains, progress=not args.quiet)
    return {**proxy.summary(), "folder": str(proxy.folder), "seconds": round(time.perf_counter() - start, 1)}


def _heads(args: argparse.Namespace, config: ProtocolConfig) -> dict[str, Any]:
    result = add_proxy_heads(
        args.bundle, args.proxy, default=args.default, force=args.force, config=config,
        cache_dir=None if args.no_cache else args.cache, variant=args.variant, device=args.device,
        batch_size=args.batch_size, workers=args.workers, progress=not args.quiet,
    )
    for name, head in result["heads"].items():
        cv = head["cv"]
        edge = " (the smallest or largest candidate: widen --alphas)" if head["alpha_at_edge"] else ""
        print(f"{name}: alpha {head['alpha']:g}{edge}, SRCC {cv['srcc']['median']:.3f}, "
              f"PLCC {cv['plcc']['median']:.3f} (medians of {config.splits} splits by photo)", file=sys.stderr)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the proxy command; returns the exit code (0 ok, 1 failed, 2 usage error)."""
    args = parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        config = (ProtocolConfig(splits=args.splits, folds=args.folds, alphas=tuple(args.alphas), seed=args.seed)
                  if args.command == "heads" else None)
    except ContriqueError as exc:  # the protocol's settings
        return fail(PROG, exc, EXIT_USAGE)
    try:
        result = _make(args) if config is None else _heads(args, config)
    except ContriqueError as exc:
        return fail(PROG, exc)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
