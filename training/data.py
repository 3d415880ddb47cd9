"""Training data: photo folders -> pairs of views, labelled for the contrastive loss.

Data workers (CPU) pick, per sample, the photo, the distortion class, two random square regions,
the colour-space augmentation and flip of each view, and apply the codec distortions (JPEG,
JPEG2000). :func:`make_views` then finishes the batch on the training device: pixel distortions,
the half-scale downsampling, colour spaces and flips. Every random choice of a worker derives
from (seed, epoch, index), so a sample is the same whichever worker or process loads it.

Views: one at full scale (a ``crop`` x ``crop`` region) and one at half scale (a ``2 crop`` region,
distorted at full resolution and then downscaled by 2, bicubic with antialiasing). A photo whose
shorter side is below a region's side is first upscaled (bicubic) until the region fits; the
official code zero-pads instead, which would put distorted black borders into the views.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm import tqdm

from contrique_infer.commands import BestEffortStderr
from contrique_infer.errors import ImageError, ImageTooLargeError
from contrique_infer.decoding import check_header, decode_rgb

from .alternates import ALTERNATES, BLOCK_TYPE, alternate_image, block_image
from .colour import AUGMENTATIONS, augment_colour
from .distortions import CHAIN_TYPES, LEVELS, NUM_CLASSES, WIDE_TYPES, apply_host, class_levels, distort, split_class
from .errors import ConfigError, DataError


_WORKER_DATA_ERROR = f"{DataError.__module__}.{DataError.__qualname__}: "
"""What precedes a DataError's message in the last line of a traceback."""
MAX_EPOCH_SAMPLES = 10_000_000
"""The most samples (photos x variants_per_image) an epoch of shuffled batches may have: its shuffled
order is held as a list, about 50 bytes a sample (0.5 GB here; KADIS-700k at 5 variants is 0.7 million)."""
MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3
"""The most pixels a photo may have (89.5 MP, 270 MB as RGB): the default of Pillow's
``PIL.Image.MAX_IMAGE_PIXELS``, above which Pillow only warns (it refuses from twice that)."""


def load_rgb(path: Path) -> Image.Image:
    """Open a photo as RGB, by the runtime's decoding (:func:`contrique_infer.decoding.decode_rgb`):
    regular files only, only the formats contrique-score reads (others, such as ICO or EPS, may decode
    pixels or run Ghostscript while opened), the pixel limit checked on the header before any pixel is
    decoded. As training has always read photos, the limit is :data:`MAX_PIXELS` and EXIF orientation
    is ignored.

    Raises:
        DataError: The file cannot be read as such an image, or has more than :data:`MAX_PIXELS`
            pixels; its message is the runtime's, and its cause the runtime's
            :class:`~contrique_infer.errors.ImageError` (``ImageDecodeError``, ``ImageTooLargeError``).
    """
    with _photo_errors():
        return decode_rgb(path, max_pixels=MAX_PIXELS, apply_exif=False, too_large_advice=_TOO_LARGE_ADVICE)


def check_photo(path: Path) -> tuple[int, int]:
    """Check a photo as :func:`load_rgb` does before it decodes any pixel, decoding none
    (:func:`contrique_infer.decoding.check_header`): cheap enough for a whole folder before work
    on it starts. A photo whose pixel data is damaged still passes; :func:`load_rgb` refuses it.

    Returns:
        Its size as its header gives it, ``(width, height)``.

    Raises:
        DataError: As :func:`load_rgb`, with the same message.
    """
    with _photo_errors():
        return check_header(path, max_pixels=MAX_PIXELS, too_large_advice=_TOO_LARGE_ADVICE)


def check_photos(root: Path, paths: Sequence[Path], progress: bool = False) -> None:
    """Check every photo as :func:`load_rgb` does before decoding it, decoding none (:func:`check_photo`,
    0.3 ms a photo), so that a proxy set or a training run is refused at once, not at its first bad
    photo minutes or hours in. A photo whose pixel data is damaged passes; its first use refuses it.

    Args:
        root: The photos folder (named in the error).
        paths: The photos.
        progress: A progress bar on stderr.

    Raises:
        DataError: Photos cannot be read: every one of them, numbered, each with its reason and what to do.
    """
    failed: list[str] = []
    for path in tqdm(paths, desc="checking photos", unit="photo", file=BestEffortStderr(), disable=not progress):
        try:
            check_photo(path)
        except DataError as exc:
            failed.append(str(exc))
    if failed:
        listed = " ".join(f"({n}) {message}" for n, message in enumerate(failed, 1))
        raise DataError(f"{root}: {len(failed)} of {len(paths)} photos cannot be read, so nothing was made; "
                        f"mend or remove each and run again: {listed}")


_TOO_LARGE_ADVICE = "downscale the photo (to the training max_side, say), or remove it"


@contextmanager
def _photo_errors() -> Iterator[None]:
    """Run the runtime's decoding of a photo: Pillow's decompression-bomb warning silenced (the pixel
    limit's error says more), the runtime's :class:`~contrique_infer.errors.ImageError` raised as a
    :class:`DataError` of the same message (telling what to do) and that cause."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except ImageTooLargeError as exc:
        raise DataError(str(exc)) from exc
    except ImageError as exc:
        raise DataError(f"{exc}; remove or replace the file") from exc


def check_upscaled(source: object, image: Image.Image, size: tuple[int, int]) -> None:
    """Refuse to upscale ``image`` (a photo whose shorter side is too short) to ``size`` if that has
    more than :data:`MAX_PIXELS` pixels: a 1x60000 PNG of 320 bytes would become gigabytes.

    Raises:
        DataError: It has.
    """
    w, h = size
    if w * h > MAX_PIXELS:
        raise DataError(f"{source}: is {image.width}x{image.height} pixels, so narrow that upscaling its shorter side "
                        f"to fit makes {w}x{h} = {w * h:,} pixels, more than the {MAX_PIXELS:,} allowed; crop the "
                        "photo closer to square, or remove it")


def random_region(image: Image.Image, size: int, rng: np.random.Generator, source: object = "photo") -> Image.Image:
    """A random ``size`` x ``size`` region; images with a shorter side below ``size`` are upscaled first
    (:func:`check_upscaled`; ``source`` names the photo in its error)."""
    w, h = image.size
    if min(w, h) < size:
        scale = size / min(w, h)
        w, h = max(size, round(w * scale)), max(size, round(h * scale))
        check_upscaled(source, image, (w, h))
        image = image.resize((w, h), Image.Resampling.BICUBIC)
    left = int(rng.integers(0, w - size + 1))
    top = int(rng.integers(0, h - size + 1))
    return image.crop((left, top, left + size, top + size))


def _to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)


class _PhotoDataset(Dataset):
    """``variants_per_image`` samples per photo, whose random choices vary with the epoch."""

    synthetic = True

    def __init__(self, paths: list[Path], crop_size: int, seed: int, variants_per_image: int = 1,
                 max_side: int = 0) -> None:
        self.paths, self.crop_size, self.seed, self.variants = paths, crop_size, seed, variants_per_image
        self.max_side = max_side
        self.epoch = 0

    def photo(self, index: int) -> Image.Image:
        """Photo ``index`` as RGB, its longer side downscaled to ``max_side`` (bicubic) when set and exceeded."""
        image = load_rgb(self.paths[index])
        w, h = image.size
        if self.max_side and max(w, h) > self.max_side:
            scale = self.max_side / max(w, h)
            image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)
        return image

    def __len__(self) -> int:
        return len(self.paths) * self.variants

    def set_epoch(self, epoch: int) -> None:
        """Vary the random choices by epoch (call before creating the epoch's iterator)."""
        self.epoch = epoch


class ContrastiveDataset(_PhotoDataset):
    """Samples for the contrastive loss from one folder of photos.

    Synthetic (pristine photos): ``len = photos * variants_per_image``; sample ``i`` is photo
    ``i // variants_per_image`` with class ``i % 126`` when ``variants_per_image`` is 126 (every
    class once per epoch), else a class drawn at random per epoch. Its label is the class.
    Authentic: ``len = photos``; no distortion; label ``126 + i``, unique to the photo.

    Each sample is a dict: ``full`` (uint8, 3 x crop x crop), ``half`` (uint8, 3 x 2crop x 2crop,
    full resolution), ``distortion`` (class id, 0 for none), ``label``, ``colour`` (augmentation
    index per view, 2) and ``flip`` (per view, 2).
    """

    def __init__(
        self, paths: list[Path], crop_size: int, seed: int, synthetic: bool, variants_per_image: int = NUM_CLASSES,
        max_side: int = 0,
    ) -> None:
        super().__init__(paths, crop_size, seed, variants_per_image if synthetic else 1, max_side)
        self.synthetic = synthetic

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, self.epoch, index, int(self.synthetic)])
        if self.synthetic:
            photo = index // self.variants
            cls = index % NUM_CLASSES if self.variants == NUM_CLASSES else int(rng.integers(NUM_CLASSES))
            label = cls
        else:
            photo, cls, label = index, 0, NUM_CLASSES + index
        image = self.photo(photo)
        type_index, level = split_class(cls)
        full = apply_host(random_region(image, self.crop_size, rng, self.paths[photo]), type_index, level, "kadid")
        half = apply_host(random_region(image, 2 * self.crop_size, rng, self.paths[photo]), type_index, level, "kadid")
        return {
            "full": _to_tensor(full),
            "half": _to_tensor(half),
            "distortion": cls,
            "label": label,
            "colour": torch.from_numpy(rng.integers(0, len(AUGMENTATIONS), size=2)),
            "flip": torch.from_numpy(rng.integers(0, 2, size=2)),
        }


def halve(x: torch.Tensor) -> torch.Tensor:
    """Images (N, 3, H, W) in [0, 1] downscaled by 2: bicubic with antialiasing, clipped to [0, 1]."""
    return F.interpolate(x, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def make_views(
    batch: dict[str, torch.Tensor], device: torch.device, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Finish a batch on ``device``: distortions, half-scale downsampling, colour spaces, flips.

    Args:
        batch: A collated batch of :class:`ContrastiveDataset` samples.
        device: The training device.
        generator: Randomness of the pixel distortions (on ``device``).

    Returns:
        ``(full_view, half_view, labels)``: two float32 (N, 3, crop, crop) tensors in [0, 1] and (N,) int64.
    """
    classes = batch["distortion"].to(device)
    views = []
    for key, index in (("full", 0), ("half", 1)):
        x = batch[key].to(device, non_blocking=True).float() / 255
        x = distort(x, *class_levels(classes), generator, "kadid")
        if key == "half":
            x = halve(x)
        x = augment_colour(x, batch["colour"][:, index].to(device))
        flip = batch["flip"][:, index].to(device).bool().view(-1, 1, 1, 1)
        views.append(torch.where(flip, x.flip(-1), x))
    return views[0], views[1], batch["label"].to(device)


class SeriesDataset(_PhotoDataset):
    """Series samples for the ranking objective (:mod:`contrique_training.ranking`).

    ``len = photos * variants_per_image``; sample ``i`` is one ``crop`` x ``crop`` region of photo
    ``i // variants_per_image`` at level 0 (pristine) and at the 5 wide levels of one type, drawn
    per (seed, epoch, index): a composite chain of
    :data:`~contrique_training.distortions.CHAIN_TYPES` with probability ``chain_fraction``, else
    a single type of :data:`~contrique_training.distortions.WIDE_TYPES`; a single type with a
    second implementation (:data:`~contrique_training.alternates.ALTERNATES`) is rendered by it
    with probability ``alt_fraction``; a pixelation series by
    :func:`~contrique_training.alternates.block_pixelate` (square blocks of whole pixels) with
    probability ``block_fraction``, before that draw. Host types (codecs, chains, second implementations) are
    applied here, at every level with the series' seed; pixel types on the training device by
    :func:`make_series`. No colour-space augmentation: the runtime sees RGB, and so does the head.
    With ``phase_jitter`` the series is rendered on a region that many pixels larger, and
    :func:`make_series` cuts the crop from it at the sample's ``offset`` (drawn below
    ``phase_jitter`` per axis), so that the block grids of codecs and pixelation, which start at the
    region's corner, fall at every phase of the network's strides (in a photo, a crop or a resize
    moves them; without it they always align with the crop).
    A sample is a dict: ``series`` (uint8, 6 x 3 x (crop + phase_jitter) x (crop + phase_jitter)),
    ``type``, ``flip``, ``hosted`` (1 when every level is already distorted here) and ``offset``
    (int64 (2,): top and left of the crop; 0 without jitter).
    """

    def __init__(self, paths: list[Path], crop_size: int, seed: int, variants_per_image: int = 1,
                 max_side: int = 0, chain_fraction: float = 0.0, alt_fraction: float = 0.0,
                 block_fraction: float = 0.0, phase_jitter: int = 0) -> None:
        super().__init__(paths, crop_size, seed, variants_per_image, max_side)
        self.chain_fraction, self.alt_fraction, self.block_fraction = chain_fraction, alt_fraction, block_fraction
        self.phase_jitter = phase_jitter

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, self.epoch, index, 2])
        chain = bool(self.chain_fraction) and rng.random() < self.chain_fraction
        type_index = len(WIDE_TYPES) + int(rng.integers(len(CHAIN_TYPES))) if chain else int(rng.integers(len(WIDE_TYPES)))
        photo = index // self.variants
        region = random_region(self.photo(photo), self.crop_size + self.phase_jitter, rng, self.paths[photo])
        seed = int(rng.integers(2**31)) if chain else 0
        distortion = WIDE_TYPES[type_index] if not chain else None
        # No draw for a setting left at 0, so that runs without it see the same series as before it existed.
        blocks = (distortion is not None and distortion.name == BLOCK_TYPE and bool(self.block_fraction)
                  and rng.random() < self.block_fraction)
        alternate = blocks or (distortion is not None and distortion.name in ALTERNATES and bool(self.alt_fraction)
                               and rng.random() < self.alt_fraction)
        if alternate:
            seed = int(rng.integers(2**31))
            render = block_image if blocks else partial(alternate_image, type_name=distortion.name)
            series = [region, *(render(region, level=level, seed=seed) for level in range(1, LEVELS + 1))]
        else:
            series = [apply_host(region, type_index, level, seed=seed) for level in range(LEVELS + 1)]
        flip = int(rng.integers(0, 2))
        # drawn last, and only with jitter, so that runs without it see the same series as before it existed
        offset = rng.integers(0, self.phase_jitter, size=2) if self.phase_jitter else np.zeros(2, dtype=np.int64)
        return {"series": torch.stack([_to_tensor(image) for image in series]), "type": type_index,
                "flip": flip, "hosted": int(alternate), "offset": torch.from_numpy(offset.astype(np.int64))}


def make_series(
    batch: dict[str, torch.Tensor], device: torch.device, generator: torch.Generator, crop_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Finish a batch of :class:`SeriesDataset` samples on ``device``: distortions, the crop at each
    series' ``offset`` (when ``crop_size`` is below the samples' side: ``phase_jitter``), flips, half scale.

    Returns:
        ``(full, half, labels)``: float32 views in [0, 1] of the B x 6 images, series after
        series with the level rising inside each (B * 6, 3, S, S) and (B * 6, 3, S/2, S/2), and
        each image's contrastive label (``type * 5 + level``, the class id for KADID types; 0 pristine).
    """
    series = batch["series"].to(device, non_blocking=True)
    b, length = series.shape[:2]
    x = series.flatten(0, 1).float() / 255
    types = batch["type"].to(device).repeat_interleave(length)
    levels = torch.arange(length, device=device).repeat(b)
    hosted = batch["hosted"].to(device).bool().repeat_interleave(length)
    x = distort(x, types, torch.where(hosted, 0, levels), generator)  # hosted series are distorted already
    if crop_size is not None and crop_size < x.shape[-1]:
        x = torch.stack([images[:, :, top : top + crop_size, left : left + crop_size]
                         for images, (top, left) in zip(x.reshape(b, length, *x.shape[1:]), batch["offset"].tolist())])
        x = x.flatten(0, 1)
    flip = batch["flip"].to(device).bool().repeat_interleave(length).view(-1, 1, 1, 1)
    x = torch.where(flip, x.flip(-1), x)
    half = halve(x)
    labels = torch.where(levels > 0, types * LEVELS + levels, 0)
    return x, half, labels


class _ResumableSampler(DistributedSampler):
    """A DistributedSampler that can start part-way through an epoch (to resume exactly)."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int, start: int = 0) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.start :])

    def __len__(self) -> int:
        return super().__len__() - self.start


def grouped_batches(photos: int, per_class: int, groups: int, batches: int, seed: int, epoch: int) -> np.ndarray:
    """One epoch of class-grouped batches of synthetic samples (``variants_per_image`` = 126).

    Each batch holds ``groups`` distinct distortion classes with ``per_class`` distinct photos
    each, group after group. Classes come in rounds (a permutation of all 126 per round, arranged
    so that no batch repeats a class); class ``c``'s photos follow a per-epoch permutation, so
    every (photo, class) sample appears about once per epoch. Deterministic from (seed, epoch).

    Args:
        photos: Pristine photos in the dataset (at least ``per_class``).
        per_class: Images per class in a batch (M).
        groups: Classes per batch (K, at most 126).
        batches: Batches in the epoch.
        seed, epoch: The randomness.

    Returns:
        Dataset indices (``photo * 126 + class``), shape (batches, groups * per_class).
    """
    rng = np.random.default_rng([seed, epoch, 2])
    order: list[int] = []  # the class of each group, in batch order
    while len(order) < batches * groups:
        open_batch = set(order[len(order) - len(order) % groups :])  # classes of a batch still being filled
        fresh = [c for c in range(NUM_CLASSES) if c not in open_batch]
        order += rng.permutation(fresh).tolist() + rng.permutation(sorted(open_batch)).tolist()
    classes = np.asarray(order[: batches * groups])
    chosen = np.empty((len(classes), per_class), dtype=np.int64)
    for c in range(NUM_CLASSES):  # the j-th group of class c: photos j*M .. j*M + M - 1 (cyclically) of c's permutation
        rows = np.flatnonzero(classes == c)
        slots = np.arange(len(rows))[:, None] * per_class + np.arange(per_class)
        chosen[rows] = rng.permutation(photos)[slots % photos]
    return (chosen * NUM_CLASSES + classes[:, None]).reshape(batches, groups * per_class)


class _GroupedSampler(Sampler[int]):
    """This process's share (whole groups) of the class-grouped batches ``start`` .. end of an epoch."""

    def __init__(self, plan: np.ndarray, batch: int, rank: int, start: int) -> None:
        self.share = plan[start:, rank * batch : (rank + 1) * batch]

    def __iter__(self) -> Iterator[int]:
        return iter(self.share.reshape(-1).tolist())

    def __len__(self) -> int:
        return self.share.size


class _Stream:
    """Endless batches from one dataset, epoch after epoch, with a resumable position.

    With ``per_class`` > 0 (synthetic data with every class per photo), batches are class-grouped
    (:func:`grouped_batches`): the batch gathered over all processes has ``world * batch /
    per_class`` classes of ``per_class`` images each, and each process holds whole groups.
    """

    def __init__(self, dataset: _PhotoDataset, batch: int, rank: int, world: int, workers: int, pin: bool,
                 per_class: int = 0) -> None:
        if not per_class and len(dataset) > MAX_EPOCH_SAMPLES:  # the sampler shuffles a list of every index
            raise ConfigError(
                f"{len(dataset.paths)} photos x variants_per_image {dataset.variants} = {len(dataset):,} samples per "
                f"epoch, more than the {MAX_EPOCH_SAMPLES:,} an epoch may have (its shuffled order alone would take "
                f"{len(dataset) * 50 / 1e9:,.1f} GB of memory); lower --variants-per-image"
            )
        per_process = len(dataset) // world
        if per_process < batch:
            raise DataError(
                f"{len(dataset)} samples from {len(dataset.paths)} photos cannot fill one batch of {batch} on each of "
                f"{world} process(es); add photos or lower --batch-size"
            )
        if per_class:
            if not dataset.synthetic or dataset.variants != NUM_CLASSES:
                raise DataError(f"class-grouped batches need synthetic data with variants_per_image {NUM_CLASSES}")
            if batch % per_class or world * batch // per_class > NUM_CLASSES:
                raise DataError(
                    f"{batch} synthetic images per process and batch cannot be split into groups of "
                    f"images_per_class {per_class} (at most {NUM_CLASSES} classes in all {world} process(es)); "
                    "change --batch-size or --images-per-class"
                )
            if len(dataset.paths) < per_class:
                raise DataError(f"{len(dataset.paths)} photos cannot give {per_class} images per class; add photos")
        self.dataset, self.batch, self.rank, self.world = dataset, batch, rank, world
        self.workers, self.pin, self.per_class = workers, pin, per_class
        self.epoch, self.done = 0, 0
        self._iterator: Iterator[dict[str, Any]] | None = None

    @property
    def batches_per_epoch(self) -> int:
        return len(self.dataset) // self.world // self.batch

    def _start(self) -> Iterator[dict[str, Any]]:
        self.dataset.set_epoch(self.epoch)
        sampler: Sampler[int]
        if self.per_class:
            groups = self.world * self.batch // self.per_class
            plan = grouped_batches(len(self.dataset.paths), self.per_class, groups, self.batches_per_epoch,
                                   self.dataset.seed, self.epoch)
            sampler = _GroupedSampler(plan, self.batch, self.rank, self.done)
        else:
            sampler = _ResumableSampler(self.dataset, self.world, self.rank, self.dataset.seed, self.done * self.batch)
            sampler.set_epoch(self.epoch)
        loader = DataLoader(
            self.dataset, batch_size=self.batch, sampler=sampler, num_workers=self.workers,
            pin_memory=self.pin, drop_last=True,
        )
        return iter(loader)

    def next(self) -> dict[str, Any]:
        if self.done >= self.batches_per_epoch:
            self.epoch, self.done, self._iterator = self.epoch + 1, 0, None
        if self._iterator is None:
            self._iterator = self._start()
        try:
            batch = next(self._iterator)
        except DataError as exc:  # raised in a loader worker, torch makes the worker's traceback its message
            raise DataError(str(exc).rsplit(_WORKER_DATA_ERROR, 1)[-1].rstrip("\n")) from None
        self.done += 1
        return batch

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_done": self.done}

    def restore(self, state: dict[str, int]) -> None:
        """Continue from a position returned by :meth:`state`.

        Raises:
            ValueError: ``state`` does not hold two whole numbers >= 0.
        """
        epoch, done = state["epoch"], state["batches_done"]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (epoch, done)):
            raise ValueError(f"the sampler position {state!r} is not two whole numbers >= 0")
        self.epoch, self.done, self._iterator = epoch, done, None


class BatchStream:
    """Micro-batches mixing synthetic and (optionally) authentic samples, resumable exactly.

    Args:
        synthetic: The dataset of pristine photos (synthetic distortions), or of series.
        authentic: The dataset of authentic photos, or ``None``.
        batch: Samples per micro-batch on this process.
        authentic_fraction: Share of each micro-batch from ``authentic`` (when given).
        rank, world: This process and the number of processes.
        workers: Data loader workers.
        pin: Pin memory (CUDA).
        images_per_class: Class-grouped synthetic batches of this many images per class (0: plain
            shuffling); see :func:`grouped_batches`.

    Raises:
        DataError: A dataset cannot fill one micro-batch per process.
    """

    def __init__(
        self, synthetic: _PhotoDataset, authentic: ContrastiveDataset | None, batch: int,
        authentic_fraction: float, rank: int, world: int, workers: int, pin: bool, images_per_class: int = 0,
    ) -> None:
        n_auth = round(batch * authentic_fraction) if authentic is not None else 0
        if authentic is not None and not 0 < n_auth < batch:
            raise DataError(
                f"a micro-batch of {batch} cannot be split {1 - authentic_fraction:.2f}/{authentic_fraction:.2f} "
                "between synthetic and authentic samples; raise --batch-size or change --authentic-fraction"
            )
        self.synthetic = _Stream(synthetic, batch - n_auth, rank, world, workers, pin, images_per_class)
        self.authentic = _Stream(authentic, n_auth, rank, world, workers, pin) if authentic is not None else None

    @property
    def epoch(self) -> int:
        """Completed passes over the synthetic data."""
        return self.synthetic.epoch

    @property
    def batches_per_epoch(self) -> int:
        return self.synthetic.batches_per_epoch

    def next(self) -> dict[str, torch.Tensor]:
        """The next micro-batch (synthetic samples first, then authentic)."""
        batch = self.synthetic.next()
        if self.authentic is None:
            return batch
        other = self.authentic.next()
        return {key: torch.cat((batch[key], other[key])) for key in batch}

    def state(self) -> dict[str, Any]:
        """The position in both streams (plain ints; saved in checkpoints)."""
        return {"synthetic": self.synthetic.state(), "authentic": self.authentic.state() if self.authentic else None}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a position returned by :meth:`state`.

        Raises:
            KeyError, TypeError, ValueError: ``state`` is not such a position (a damaged checkpoint).
        """
        self.synthetic.restore(state["synthetic"])
        if self.authentic is not None and state.get("authentic") is not None:
            self.authentic.restore(state["authentic"])
