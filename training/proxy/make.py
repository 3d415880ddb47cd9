"""Make a proxy set: training photos, distorted versions of them, and a full-reference quality of each.

Every training photo is downscaled (Lanczos, longer side at most ``max_side``, both sides at least
64 px) and saved as the pristine PNG; ``variants_per_photo`` distorted versions follow, with the
distortion types of :data:`contrique_training.distortions.WIDE_TYPES` (with ``chains``, also the
composite chains of ``CHAIN_TYPES``) at their wide levels 1..5. The (type, level) pairs come from
a stream of shuffled copies of all 145 pairs (175 with the chains), so every type,
level and pair is drawn equally often over the set. With ``alt_fraction``, that share of the versions
whose type has a second implementation (:mod:`contrique_training.alternates`, OpenCV) is rendered by
it instead, from the same draws. With ``block_fraction``, that share of the photos gets one more
version: pixelation at a random wide level rendered as square blocks of whole pixels
(:func:`contrique_training.alternates.block_pixelate`), from draws of its own, so the other versions
stay those of the set without it. With ``flat_fraction``, that share of the photos gets one more
version after those: a flat frame of the photo's mean colour (:func:`flat_image`, type ``flat`` at
level 5), the end of contrast loss and blur, so that heads fitted on the set see frames without
structure (without them, a head's terms in the squared statistics extrapolate, and scored a blank
white frame 100 for one network). With ``contrast_fraction``, that share of the photos gets one more
version after those: linear contrast loss towards the photo's mean grey at a random wide level
(:func:`contrique_training.alternates.contrast_change`, gain 0.72 to 0.15), which the types above
do not make (their contrast change is a tone curve that keeps black and white). Each image
(pristine included) is scored against its pristine by MDSI (``piq.mdsi(distorted, pristine,
data_range=1.0)``, 0 for identical images, growing with the distortion), mapped to a 0..100
quality, higher is better:
``quality = clip(100 * (1 - MDSI / 0.7), 0, 100)``, so pristine photos score 100. MDSI because it
is the only full-reference metric of piq's published benchmark that agrees with human opinion at
SRCC 0.89 or more on both TID2013 and KADID-10k, whose distortion types are the ones generated
here; docs/default-model.md ("The proxy targets") has that table and the default model's set's figures.

Output folder::

    proxy.json     metric, mapping, settings, counts, score distribution, and every image's record
    quality.csv    path,score,content_id   (0..100, higher is better)
    level.csv      path,score,content_id   (0 = pristine .. 5 = most severe; higher is WORSE)
    images/<photo>/00-pristine.png, 01-<type>-l<level>.png, ...
    fullref.json, quality-fr6.csv   the second target, made on first use by :func:`target_csv`

Two quality targets (:data:`TARGETS`): ``mdsi``, the mapping above, and ``fr6``, the mean rank over
the set of the six piq metrics of :mod:`contrique_training.fullref` (MDSI, GMSD, VSI, HaarPSI,
MS-SSIM, FSIMc), scaled to 0..100: a steadier target than any one metric, and the one the quality
benchmark's cross-content measure uses.

The CSVs are the generic format of :func:`contrique_training.evaluation.datasets.read_csv` (paths
relative to the CSV, content id = the source photo's path under the photos folder), so
``contrique-eval run --dataset csv`` reads them too.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from contrique_infer.commands import BestEffortStderr
from contrique_infer.errors import ContriqueError, DependencyError
from contrique_infer.inputs import list_images
from contrique_infer.jsonfile import loads
from contrique_infer.paths import new_or_empty
from contrique_infer.regularfile import read_regular

from ..data import check_photos, check_upscaled, load_rgb
from .errors import ProxyError

PROXY_FORMAT_VERSION = 1
METRIC = "mdsi"
TARGETS = ("mdsi", "fr6")
MAX_PROXY_JSON_BYTES = 256 * 1024 * 1024
"""The largest proxy.json read (about 250 bytes per image: a million images)."""
"""Quality targets of a set: MDSI mapped to 0..100, or the six-metric rank proxy scaled to 0..100."""
MDSI_MAX = 0.7
"""MDSI mapped to quality 0; larger values (rare) are clipped there."""
MIN_SIDE = 64
PUBLISHED_SRCC = {
    "source": "piq 0.8.0 README, section Benchmark (https://github.com/photosynthesis-team/piq)",
    "TID2013": {"piq": 0.89, "reference": 0.89},
    "KADID-10k": {"piq": 0.89, "reference": 0.89},
}


_FIELD_KINDS: dict[str, type | tuple[type, ...]] = {
    "path": str, "content_id": str, "distortion": (str, type(None)), "level": int, "seed": int,
    "mdsi": (int, float), "quality": (int, float), "implementation": (str, type(None)),
}
"""The JSON kinds of an image record's fields (:meth:`ProxyImage.from_dict`); all but ``implementation`` required."""
_REQUIRED = tuple(_FIELD_KINDS)[:-1]
_FIELD_NAMES = {str: "a string", (str, type(None)): "a string or null", int: "an integer",
                (int, float): "a finite number"}


@dataclass(frozen=True)
class ProxyImage:
    """One image of a proxy set.

    Attributes:
        path: The PNG, relative to the proxy folder (POSIX separators).
        content_id: The source photo, relative to the photos folder.
        distortion: The distortion type, or None for the pristine photo.
        level: 0 for the pristine photo, else the wide level 1..5.
        seed: The distortion's random seed.
        implementation: ``"opencv"`` when the second implementation
            (:mod:`contrique_training.alternates`) rendered it, ``"blocks"`` for
            :func:`~contrique_training.alternates.block_pixelate`, None for the training code's own.
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
    implementation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The image's record in proxy.json (``implementation`` only where it is set)."""
        record = {
            "path": self.path, "content_id": self.content_id, "distortion": self.distortion, "level": self.level,
            "seed": self.seed, "mdsi": self.mdsi, "quality": self.quality,
        }
        return record if self.implementation is None else {**record, "implementation": self.implementation}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProxyImage:
        """The image of a proxy.json record (:meth:`to_dict`).

        Raises:
            KeyError: A field is missing. TypeError: The record is not an object, or a field is of the
                wrong kind (``level`` and ``seed`` integers, ``mdsi`` and ``quality`` finite numbers).
        """
        if not isinstance(data, dict):
            raise TypeError(f"an image record is {type(data).__name__}, not an object")
        for key, kinds in _FIELD_KINDS.items():
            value = data[key] if key in _REQUIRED else data.get(key)
            if isinstance(value, bool) or not isinstance(value, kinds) or (
                    isinstance(value, float) and not math.isfinite(value)):
                raise TypeError(f"image {data.get('path')!r}: {key} {value!r} is not {_FIELD_NAMES[kinds]}")
        return cls(data["path"], data["content_id"], data["distortion"], data["level"], data["seed"],
                   float(data["mdsi"]), float(data["quality"]), data.get("implementation"))


@dataclass(frozen=True)
class ProxySet:
    """A proxy set on disk (the module docstring has the layout).

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
        """The quality targets: ``path,score,content_id``, 0..100, higher is better."""
        return self.folder / "quality.csv"

    def target_name(self, target: str) -> str:
        """The dataset name heads fitted on ``target`` record: the set's name, ``-fr6`` appended for that target."""
        return self.name if target == "mdsi" else f"{self.name}-{target}"

    @property
    def level_csv(self) -> Path:
        """The level targets: ``path,score,content_id``, 0 = pristine .. 5, higher is worse."""
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
                "second_implementation": sum(im.implementation is not None for im in self.images),
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


def prepare_photo(image: Image.Image, max_side: int, source: object = "photo") -> Image.Image:
    """Downscale (Lanczos) so the longer side is at most ``max_side``; upscale so both sides are at least 64.

    Raises:
        DataError: Upscaling makes too many pixels (``source`` names the photo; see :func:`check_upscaled`).
    """
    w, h = image.size
    scale = max(min(1.0, max_side / max(w, h)), MIN_SIDE / min(w, h))
    if scale == 1.0:
        return image
    size = (max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale)))
    check_upscaled(source, image, size)
    return image.resize(size, Image.Resampling.LANCZOS)


def assignments(photos: int, per_photo: int, seed: int, chains: bool = False) -> list[list[tuple[str, int]]]:
    """(type, wide level) of each photo's distorted versions: consecutive draws from a stream of
    shuffled copies of all (type, level) pairs of the wide types (and the composite chains when
    ``chains``), so every pair occurs equally often (up to one) over the set."""
    from ..distortions import LEVELS, SERIES_TYPES, WIDE_TYPES

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


FLAT_TYPE = "flat"
"""The type name of :func:`flat_image`'s versions in a proxy set (``flat_fraction``)."""
CONTRAST_TYPE = "contrast_change"
"""The type of the linear contrast loss versions (``contrast_fraction``), rendered by its OpenCV implementation."""


def flat_image(image: Image.Image) -> Image.Image:
    """An RGB frame of ``image``'s size filled with its mean colour, rounded (what contrast loss and blur
    tend to at their extreme)."""
    pixels = np.asarray(image.convert("RGB"))
    mean = np.round(pixels.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
    return Image.fromarray(np.broadcast_to(mean, pixels.shape).copy(), "RGB")


def make_proxy_set(
    photos: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    variants_per_photo: int = 12,
    max_side: int = 384,
    seed: int = 0,
    limit: int | None = None,
    chains: bool = False,
    alt_fraction: float = 0.0,
    block_fraction: float = 0.0,
    flat_fraction: float = 0.0,
    contrast_fraction: float = 0.0,
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
        chains: Draw from the composite chains of :mod:`..chains` too, not only the wide types.
        alt_fraction: Share (0..1) of the versions whose type has a second implementation
            (:data:`contrique_training.alternates.ALTERNATES`) that are rendered by it instead, so
            heads fitted on the set do not learn one implementation's artefacts. The draws are
            separate from the types' and seeds', so the same settings with 0 make the same set.
        block_fraction: Share (0..1) of the photos that get one more version, pixelated as square
            blocks of whole pixels at a random wide level; the images of the set without it are
            unchanged.
        flat_fraction: Share (0..1) of the photos that get one more version (after the block version):
            a flat frame of the photo's mean colour (:func:`flat_image`); the other images are unchanged.
        contrast_fraction: Share (0..1) of the photos that get one more version (the last): linear contrast
            loss at a random wide level (the OpenCV ``contrast_change``); the other images are unchanged.
        progress: A progress bar on stderr.

    Returns:
        The set.

    Raises:
        ProxyError: Bad settings, or ``out_dir`` is not empty (saying so when it looks like a failed
            run's leftover); or the run failed and what it made cannot be removed (see below).
        DataError: The folder holds no images, or photos cannot be read: all of them named at once,
            before anything is made (:func:`check_photos`), or one whose pixel data is damaged, met later.
        DependencyError: piq is not installed.

    A run that fails (or is interrupted) once it has started to make the set removes what it made,
    and ``out_dir`` itself if it made it, so that the same command can be run again.
    """
    from tqdm import tqdm

    from ..alternates import ALTERNATES, BLOCK_IMPLEMENTATION, BLOCK_TYPE, IMPLEMENTATION, alternate_image, block_image
    from ..distortions import LEVELS, distort_image

    if (variants_per_photo < 1 or max_side < MIN_SIDE or (limit is not None and limit < 1)
            or not all(0 <= f <= 1 for f in (alt_fraction, block_fraction, flat_fraction, contrast_fraction))):
        raise ProxyError(
            f"variants_per_photo and limit must be >= 1, max_side >= {MIN_SIDE}, alt_fraction, block_fraction, "
            f"flat_fraction and contrast_fraction in 0..1; got {variants_per_photo}, {limit}, {max_side}, "
            f"{alt_fraction}, {block_fraction}, {flat_fraction} and {contrast_fraction}"
        )
    out = Path(out_dir)
    if not new_or_empty(out):
        leftover = ((out / "images").is_dir() and not (out / "proxy.json").exists()
                    and not set(os.listdir(out)) - set(MADE))
        raise ProxyError(f"{out}: exists and is not an empty folder" + (
            " (it holds images but no proxy.json: the leftover of a run that failed or was stopped, which may be "
            "deleted)" if leftover else "") + "; choose a new folder or delete it")
    root = Path(photos)
    paths = select_photos(list_images(root), limit)
    check_photos(root, paths, progress)
    with _removed_on_failure(out):  # a failed or interrupted run leaves no half-made set
        plan = assignments(len(paths), variants_per_photo, seed, chains)
        images: list[ProxyImage] = []
        for index, (path, pairs) in enumerate(tqdm(list(zip(paths, plan)), desc="proxy set", unit="photo",
                                                    file=BestEffortStderr(), disable=not progress)):
            content = path.relative_to(root).as_posix()
            folder = _image_folder(content)
            (out / folder).mkdir(parents=True, exist_ok=True)
            pristine = prepare_photo(load_rgb(path), max_side, path)
            seeds = [int(s) for s in np.random.SeedSequence([seed, index]).generate_state(len(pairs))]
            draws = np.random.default_rng([seed, index, 1]).random(len(pairs))
            second: list[str | None] = [
                IMPLEMENTATION if alt_fraction and t in ALTERNATES and d < alt_fraction else None
                for (t, _), d in zip(pairs, draws)
            ]
            made = [pristine] + [
                alternate_image(pristine, t, lv, s) if alt else distort_image(pristine, t, lv, seed=s)
                for (t, lv), s, alt in zip(pairs, seeds, second)
            ]
            if block_fraction:  # draws of its own: the versions above are those of the set without blocks
                block_rng = np.random.default_rng([seed, index, 2])
                if block_rng.random() < block_fraction:
                    level, block_seed = int(block_rng.integers(1, LEVELS + 1)), int(block_rng.integers(2**31))
                    pairs, seeds = [*pairs, (BLOCK_TYPE, level)], [*seeds, block_seed]
                    second = [*second, BLOCK_IMPLEMENTATION]
                    made.append(block_image(pristine, level, block_seed))
            if flat_fraction and np.random.default_rng([seed, index, 3]).random() < flat_fraction:
                pairs, seeds, second = [*pairs, (FLAT_TYPE, LEVELS)], [*seeds, 0], [*second, None]
                made.append(flat_image(pristine))
            if contrast_fraction:  # draws of its own, as the block version's
                contrast_rng = np.random.default_rng([seed, index, 4])
                if contrast_rng.random() < contrast_fraction:
                    level, contrast_seed = int(contrast_rng.integers(1, LEVELS + 1)), int(contrast_rng.integers(2**31))
                    pairs, seeds = [*pairs, (CONTRAST_TYPE, level)], [*seeds, contrast_seed]
                    second = [*second, IMPLEMENTATION]
                    made.append(alternate_image(pristine, CONTRAST_TYPE, level, contrast_seed))
            names = ["00-pristine.png"] + [
                f"{k:02d}-{t}{'-' + alt if alt else ''}-l{lv}.png"
                for k, ((t, lv), alt) in enumerate(zip(pairs, second), 1)
            ]
            scores = mdsi(made, pristine).round(6)  # as stored: the quality is that of the stored value
            qualities = mdsi_to_quality(scores).round(4)
            for image, name, (kind, level), s, alt, m, q in zip(
                made, names, [(None, 0), *pairs], [0, *seeds], [None, *second], scores, qualities
            ):
                image.save(out / folder / name)
                images.append(ProxyImage(f"{folder}/{name}", content, kind, level, s, float(m), float(q), alt))
        settings = {"variants_per_photo": variants_per_photo, "max_side": max_side, "seed": seed, "limit": limit}
        if chains:
            settings["chains"] = True
        if alt_fraction:
            settings["alt_fraction"] = alt_fraction
        if block_fraction:
            settings["block_fraction"] = block_fraction
        if flat_fraction:
            settings["flat_fraction"] = flat_fraction
        if contrast_fraction:
            settings["contrast_fraction"] = contrast_fraction
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


MADE = ("images", "quality.csv", "level.csv", "proxy.json")
"""What :func:`make_proxy_set` makes in its folder (:func:`target_csv` adds more later)."""


@contextmanager
def _removed_on_failure(out: Path) -> Iterator[None]:
    """Run the block that makes a set in ``out`` (new or empty); if it fails or is interrupted, remove
    what it made (:data:`MADE`), and ``out`` itself when it did not exist before (if nothing else is in it).

    Raises:
        ProxyError: The block's :class:`ContriqueError` when what it made cannot be removed: its
            message, then that ``out`` is the failed run's leftover and may be deleted (other
            exceptions get that as a note).
    """
    existed = out.exists()
    try:
        yield
    except BaseException as exc:
        try:
            for name in MADE:
                made = out / name
                if made.is_dir() and not made.is_symlink():
                    shutil.rmtree(made)
                else:
                    made.unlink(missing_ok=True)
            if not existed and out.is_dir():
                with suppress(OSError):  # something else was put there meanwhile: it stays, and so does out
                    out.rmdir()
        except OSError as left:
            leftover = (f"{out}: is this failed run's leftover, which could not be removed ({left}); "
                        "it may be deleted")
            if isinstance(exc, ContriqueError):
                raise ProxyError(f"{exc}; {leftover}") from exc
            exc.add_note(leftover)
        raise


def target_csv(proxy: ProxySet, target: str = "mdsi", *, progress: bool = False) -> Path:
    """The CSV of a quality target of the set (``path,score,content_id``, 0..100, higher is better).

    ``mdsi`` is quality.csv, made with the set. ``fr6`` is quality-fr6.csv, made on first use: the
    six metrics of :mod:`contrique_training.fullref` of every image against its pristine PNG
    (kept in fullref.json; MS-SSIM is left out, null, for photos under 161 px, which the other five
    rank), ranked over the whole set by :func:`~contrique_training.fullref.rank_proxy` and scaled so
    that the worst image is 0 and the best 100.

    Raises:
        ProxyError: An unknown target, or an image of the set cannot be read.
        DependencyError: piq is not installed.
    """
    from tqdm import tqdm

    from ..fullref import MIN_SIDE as FR_MIN_SIDE
    from ..fullref import METRICS, full_reference, rank_proxy

    if target not in TARGETS:
        raise ProxyError(f"unknown proxy target {target!r}; choose one of {', '.join(TARGETS)}")
    if target == "mdsi":
        return proxy.quality_csv
    out = proxy.folder / "quality-fr6.csv"
    if out.is_file():
        return out
    by_photo: dict[str, list[ProxyImage]] = {}
    for image in proxy.images:
        by_photo.setdefault(image.content_id, []).append(image)
    values: dict[str, list[float]] = {m.name: [] for m in METRICS}
    order: list[ProxyImage] = []
    for content, images in tqdm(list(by_photo.items()), desc="six metrics", unit="photo", file=BestEffortStderr(),
                                disable=not progress):
        try:
            arrays = [np.asarray(load_rgb(proxy.folder / im.path)) for im in images]
        except ContriqueError as exc:
            raise ProxyError(f"{proxy.folder}: {exc}; make the set again") from exc
        pristine = next(a for a, im in zip(arrays, images) if im.level == 0)
        # MS-SSIM needs both sides >= FR_MIN_SIDE px: a smaller photo is ranked by the other five.
        usable = [m for m in METRICS if m.name != "ms_ssim" or min(pristine.shape[:2]) >= FR_MIN_SIDE]
        metrics = full_reference(arrays, pristine, metrics=usable)
        for name in values:
            values[name] += metrics[name].tolist() if name in metrics else [float("nan")] * len(images)
        order += images
    ranks = rank_proxy(values)
    quality = 100.0 * (ranks - ranks.min()) / max(float(ranks.max() - ranks.min()), 1e-12)
    records = [{"path": im.path, **{k: None if np.isnan(v[i]) else v[i] for k, v in values.items()},
                "quality": round(float(quality[i]), 4)} for i, im in enumerate(order)]
    document = {"metrics": [m.to_dict() for m in METRICS], "images": records}
    (proxy.folder / "fullref.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    partial = out.with_suffix(".csv.partial")
    with open(partial, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "score", "content_id"])
        writer.writerows([im.path, round(float(q), 4), im.content_id] for im, q in zip(order, quality))
    partial.replace(out)
    return out


def load_proxy_set(folder: str | os.PathLike[str]) -> ProxySet:
    """Read a proxy set's proxy.json.

    Raises:
        ProxyError: The folder has no readable proxy.json of this format (make it with ``make``).
    """
    path = Path(folder) / "proxy.json"
    try:
        data = loads(read_regular(path, MAX_PROXY_JSON_BYTES))  # a pipe or device is refused, not waited on
        if not isinstance(data, dict):
            raise TypeError(f"it holds a JSON {type(data).__name__}, not an object")
        if data.get("format_version") != PROXY_FORMAT_VERSION:
            raise ValueError(f"format_version {data.get('format_version')!r}, expected {PROXY_FORMAT_VERSION}")
        if not isinstance(data["images"], list):
            raise TypeError(f"its images are a JSON {type(data['images']).__name__}, not a list")
        images = tuple(ProxyImage.from_dict(d) for d in data["images"])
        pristine = Counter(im.content_id for im in images if im.level == 0)
        lacking = next((im.content_id for im in images if pristine[im.content_id] != 1), None)
        if lacking is not None:
            raise ValueError(f"photo {lacking!r} has {pristine[lacking]} pristine images (level 0), not one")
        return ProxySet(Path(folder), str(data["name"]), str(data["photos"]), dict(data["settings"]), images)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProxyError(
            f"{path}: not a readable proxy set ({exc}); make one with python -m contrique_training.proxy make"
        ) from exc
