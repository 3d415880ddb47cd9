"""Training configuration: the frozen :class:`TrainConfig`, its presets, and config files.

A configuration is built in layers: a preset, then a JSON or TOML file, then command-line flags;
each layer overrides the one before. ``TrainConfig.to_dict()`` is what a checkpoint records.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contrique_export.errors import ModelConfigError
from contrique_export.model_config import ARCHITECTURES, MIN_SIZE, ModelConfig
from contrique_infer.commands import MAX_SEED
from contrique_infer.jsonfile import MAX_BYTES, read_json
from contrique_infer.regularfile import FileTooLargeError, NotRegularFileError, read_regular

from .classes import NUM_CLASSES
from .errors import ConfigError, ConfigFileError

AMP_MODES = ("auto", "bf16", "fp16", "none")
OPTIMIZERS = ("sgd", "adamw")
DEVICES = ("auto", "cpu", "cuda")


def _f(default: Any, help: str) -> Any:  # noqa: A002 - the argparse word
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (the defaults are the paper's settings)."""

    data: str = _f("", "folder of pristine photos (searched recursively); they get synthetic distortions")
    data_authentic: str | None = _f(None, "folder of authentically distorted photos; each image is its own class")
    data_description: str | None = _f(None, "provenance of the training data, recorded in checkpoints")
    data_license: str = _f("unspecified", "licence(s) of the training data, recorded in checkpoints")
    arch: str = _f("resnet50", f"encoder: {', '.join(ARCHITECTURES)}")
    stages: int = _f(4, "residual stages of the encoder kept (1..4; 4 = the whole ResNet)")
    nss: bool = _f(False, "append 25 natural-scene statistics (MSCN moments, brightness, contrast, exposure) to the feature")
    nss_pairs: bool = _f(False, "also append the statistics' 325 standardised pairwise products (needs --nss)")
    freeze_stages: int = _f(0, "keep the encoder's first N stages at their random initialisation: not trained, "
                               "BatchNorm statistics fixed (0..stages-1)")
    fixed_norm: bool = _f(False, "the encoder's BatchNorm layers normalise with their initial statistics (mean 0, "
                                 "variance 1) in training too, as in a random-initialised network, and learn only "
                                 "their scale and shift")
    freeze_norm_at: float = _f(0.0, "from this share of the steps on (0 < f < 1; 0 = never), the BatchNorm layers that "
                                    "inference uses (the encoder's, the series head's) normalise with their running "
                                    "statistics, as at inference, instead of each batch's")
    rank_learned_only: bool = _f(False, "the ranking head reads only the learned feature, not the statistics, so the "
                                        "encoder must learn to rank on its own (series training)")
    projection_dim: int = _f(128, "output size of the projector")
    contrastive_weight: float = _f(1.0, "weight of the contrastive (NT-Xent) loss")
    rank_weight: float = _f(
        0.0, "weight of the ranking loss; > 0 trains on series (one crop, pristine + 5 wide levels of one type) "
        "with a linear quality head, batch_size counting images (a multiple of 6)"
    )
    proxy_weight: float = _f(
        0.0, "weight of the cross-photo ranking loss (series training): every pair of images in a batch, from any "
        "photos, ordered by a full-reference proxy (mean rank of GMSD and MDSI against each series' pristine crop)"
    )
    chain_fraction: float = _f(
        0.0, "share of the series (series training) that are composite chains of blur, resizing, noise, denoising "
        "and compression (contrique_training.chains) instead of one distortion type"
    )
    alt_fraction: float = _f(
        0.0, "share of the single-type series (series training) whose type has a second implementation, in OpenCV "
        "(contrique_training.alternates), rendered with it instead, so that no one implementation's artefacts "
        "become the cue"
    )
    block_fraction: float = _f(
        0.0, "share of the pixelation series (series training) rendered as square blocks of whole pixels, each the "
        "mean of its square on a randomly shifted grid (contrique_training.alternates.block_pixelate: the mosaic of "
        "image editors and libvips), instead of by the other implementations"
    )
    phase_jitter: int = _f(
        0, "series training: render each series on a region this many pixels larger and cut the crop at a random "
        "offset below it, so that the 8x8 and 16x16 grids of codecs and block pixelation fall at every phase of the "
        "network's strides rather than always at the crop's corner (16 covers JPEG's chroma blocks; 0 = off)"
    )
    init_from: str | None = _f(
        None, "a checkpoint (contrique-train's, or the official one) whose encoder weights start a new run instead "
        "of a random initialisation: a fine-tune, with its own schedule; the architecture settings must match it"
    )
    optimizer: str = _f("sgd", "sgd (momentum, the paper's) or adamw")
    ema_decay: float = _f(0.0, "exponential moving average of the weights (0 = off); checkpoints hold the average")
    keep_every: int = _f(0, "also keep a copy of the checkpoint every N steps as checkpoint-<step>.pt (0 = off)")
    crop_size: int = _f(256, "side of the square training crops, in pixels")
    max_side: int = _f(
        0, "downscale each photo so that its longer side is at most this before cropping (0 = keep its size); "
        "set it to the runtime's input contract (contrique-export records it) so training sees photos as scoring does"
    )
    batch_size: int = _f(1024, "images per optimizer step, over all processes and accumulation steps")
    grad_accum: int = _f(1, "micro-batches accumulated per optimizer step")
    steps: int = _f(0, "optimizer steps; 0 = epochs x steps per epoch")
    epochs: int = _f(25, "passes over the synthetic data (used when steps is 0)")
    variants_per_image: int = _f(5, "distorted samples per pristine photo per epoch; 126 = every class once")
    images_per_class: int = _f(
        0, "class-grouped synthetic batches: each class in a batch gets this many images (0 = plain shuffling); "
        "needs variants_per_image 126"
    )
    authentic_fraction: float = _f(0.5, "share of each batch taken from --data-authentic (when given)")
    base_lr: float = _f(0.6, "learning rate at a batch of lr_reference_batch images")
    lr_reference_batch: int = _f(1024, "batch size at which the learning rate is base_lr (linear scaling)")
    warmup_fraction: float = _f(0.1, "share of the steps with linear warm-up before the cosine decay")
    momentum: float = _f(0.9, "SGD momentum")
    weight_decay: float = _f(1e-4, "weight decay (not applied to BatchNorm parameters and biases)")
    temperature: float = _f(0.1, "temperature of the NT-Xent loss")
    patch_grid: int = _f(2, "the feature map is pooled to patch_grid x patch_grid patch projections")
    amp: str = _f("auto", "mixed precision on CUDA: auto (bf16 where supported, else fp16), bf16, fp16, none")
    channels_last: bool = _f(True, "use the channels-last memory format on CUDA")
    device: str = _f("auto", "auto (CUDA when available), cpu or cuda")
    workers: int = _f(8, "data loader worker processes per training process")
    seed: int = _f(0, "random seed: crops, augmentations and distortions all derive from it")
    log_every: int = _f(10, "write a CSV/TensorBoard row every N steps")
    checkpoint_every: int = _f(1000, "write a checkpoint every N steps (0 = only at the end)")
    tensorboard: bool = _f(False, "also log to TensorBoard (needs the tensorboard package)")

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value}")
        positive = ("projection_dim", "crop_size", "batch_size", "grad_accum", "epochs", "variants_per_image")
        for name in positive + ("lr_reference_batch", "patch_grid", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("steps", "workers", "checkpoint_every", "images_per_class", "keep_every", "max_side"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be from 0 to {MAX_SEED}, got {self.seed}")
        if self.images_per_class and self.variants_per_image != NUM_CLASSES:
            raise ConfigError(
                f"images_per_class {self.images_per_class} needs variants_per_image {NUM_CLASSES} (every class of "
                f"every photo once per epoch), got {self.variants_per_image}"
            )
        try:
            self.model_config
        except ModelConfigError as exc:
            raise ConfigError(str(exc)) from None
        if self.crop_size < MIN_SIZE:
            raise ConfigError(f"crop_size must be >= {MIN_SIZE} (the smallest input the network and its bundle take), "
                              f"got {self.crop_size}")
        # a stage's feature map has 1 / 2**(stage + 1) of the input's side (ResNet stages; MobileNet's cuts)
        feature_side = self.crop_size // 2 ** (self.stages + 1)
        if self.patch_grid > feature_side:
            raise ConfigError(f"patch_grid {self.patch_grid} is more than the {feature_side} x {feature_side} feature "
                              f"map of a {self.crop_size} px crop after {self.stages} stage(s); use a patch_grid of at "
                              f"most {feature_side}, or a larger crop_size")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.freeze_stages < self.stages:
            raise ConfigError(f"freeze_stages {self.freeze_stages} must be in 0..{self.stages - 1} (stages - 1)")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer {self.optimizer!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")
        if self.contrastive_weight < 0 or self.rank_weight < 0 or self.contrastive_weight + self.rank_weight <= 0:
            raise ConfigError(
                f"contrastive_weight {self.contrastive_weight} and rank_weight {self.rank_weight} must be >= 0, "
                "and one of them > 0"
            )
        if self.rank_weight > 0 and (self.batch_size // self.grad_accum) % 6:
            raise ConfigError(
                f"with rank_weight > 0 a micro-batch (batch_size / grad_accum = {self.batch_size // self.grad_accum}) "
                "must be whole series of 6 images; use a multiple of 6"
            )
        if self.proxy_weight < 0 or (self.proxy_weight > 0 and self.rank_weight <= 0):
            raise ConfigError(f"proxy_weight {self.proxy_weight} must be >= 0, and needs series training (rank_weight > 0)")
        if not 0.0 <= self.chain_fraction <= 1.0 or (self.chain_fraction > 0 and self.rank_weight <= 0):
            raise ConfigError(f"chain_fraction {self.chain_fraction} must be in [0, 1], and needs series training (rank_weight > 0)")
        if not 0.0 <= self.alt_fraction <= 1.0 or (self.alt_fraction > 0 and self.rank_weight <= 0):
            raise ConfigError(f"alt_fraction {self.alt_fraction} must be in [0, 1], and needs series training (rank_weight > 0)")
        if not 0.0 <= self.block_fraction <= 1.0 or (self.block_fraction > 0 and self.rank_weight <= 0):
            raise ConfigError(f"block_fraction {self.block_fraction} must be in [0, 1], and needs series training "
                              "(rank_weight > 0)")
        if not 0 <= self.phase_jitter <= self.crop_size or (self.phase_jitter > 0 and self.rank_weight <= 0):
            raise ConfigError(f"phase_jitter {self.phase_jitter} must be in 0..crop_size ({self.crop_size}), and needs "
                              "series training (rank_weight > 0)")
        if not 0.0 <= self.freeze_norm_at < 1.0 or (self.freeze_norm_at > 0 and self.fixed_norm):
            raise ConfigError(f"freeze_norm_at {self.freeze_norm_at} must be in [0, 1), and cannot go with fixed_norm "
                              "(whose statistics are fixed from the start)")
        if self.max_side and self.max_side < self.crop_size:
            raise ConfigError(f"max_side {self.max_side} is smaller than crop_size {self.crop_size}")
        if self.data_authentic and self.data and os.path.realpath(self.data_authentic) == os.path.realpath(self.data):
            raise ConfigError(f"data_authentic {self.data_authentic!r} is the data folder itself: each photo would be "
                              "a pristine photo and its own authentic class; give a folder of authentically distorted "
                              "photos, or leave data_authentic out")
        if self.rank_weight > 0 and self.data_authentic:
            raise ConfigError("series batches (rank_weight > 0) use pristine photos only; drop --data-authentic")
        if self.rank_weight > 0 and self.images_per_class:
            raise ConfigError("images_per_class groups contrastive batches; series batches (rank_weight > 0) need 0")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.amp not in AMP_MODES:
            raise ConfigError(f"amp {self.amp!r} is unknown; choose one of {', '.join(AMP_MODES)}")
        if self.device not in DEVICES:
            raise ConfigError(f"device {self.device!r} is unknown; choose one of {', '.join(DEVICES)}")
        if not 0.0 <= self.authentic_fraction < 1.0:
            raise ConfigError(f"authentic_fraction must be in [0, 1), got {self.authentic_fraction}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ConfigError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        for name in ("base_lr", "temperature"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not math.isfinite(self.peak_lr):
            raise ConfigError(f"base_lr {self.base_lr} x batch_size {self.batch_size} / lr_reference_batch "
                              f"{self.lr_reference_batch} is not a finite learning rate; lower base_lr")
        if self.batch_size % self.grad_accum:
            raise ConfigError(f"batch_size {self.batch_size} is not a multiple of grad_accum {self.grad_accum}")

    @property
    def model_config(self) -> ModelConfig:
        """The network these settings train (architecture, stages, statistics, projection size).

        Raises:
            ModelConfigError: One of those settings is invalid.
        """
        return ModelConfig(self.arch, self.projection_dim, self.stages, self.nss, self.nss_pairs)

    @property
    def peak_lr(self) -> float:
        """The learning rate after warm-up: ``base_lr * batch_size / lr_reference_batch``."""
        return self.base_lr * self.batch_size / self.lr_reference_batch

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build a config from a plain dict, checking names and types.

        Raises:
            ConfigError: An unknown key, a value of the wrong type, or an invalid value.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(fields)}")
        values = {}
        for name, value in data.items():
            values[name] = _coerce(source, name, value, cls.__dataclass_fields__[name].default)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain dict of str/int/float/bool/None (safe for JSON and ``weights_only``)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated like :meth:`from_dict`)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes}, source="overrides")


def _coerce(source: str, name: str, value: Any, default: Any) -> Any:
    optional_str = name in ("data_authentic", "data_description", "init_from")
    if value is None and optional_str:
        return None
    kind = str if optional_str else type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{source}: {name} must be {kind.__name__}, got {value!r} ({type(value).__name__})")
    return value


# The CPU recipe of the first default model: a 3-stage ResNet-18 with NSS statistics, trained to
# rank series (pristine > mild > severe, wide levels) with a linear head on the runtime's feature,
# plus the contrastive loss at a lower weight; AdamW and an EMA of the weights. A micro-batch
# is 8 series of 6 images (128 px crops and their halves). docs/training.md has the figures.
_CPU: dict[str, Any] = {
    "arch": "resnet18",
    "stages": 3,
    "nss": True,
    "crop_size": 128,
    "batch_size": 48,
    "steps": 1200,
    "variants_per_image": 25,
    "rank_weight": 1.0,
    "contrastive_weight": 0.2,
    "optimizer": "adamw",
    "base_lr": 1e-3,
    "lr_reference_batch": 48,
    "warmup_fraction": 0.03,
    "weight_decay": 0.05,
    "ema_decay": 0.998,
    "workers": 1,
    "log_every": 10,
    "checkpoint_every": 50,
    "keep_every": 100,
}


PRESETS: dict[str, dict[str, Any]] = {
    # The paper: ResNet-50, 256 px crops, batch 1024 at lr 0.6, 25 epochs of KADIS-700k-like data.
    "paper": {},
    # A small encoder for CPU runs (docs/training.md, "Measured on the development machine", has its
    # time on 2 cores and what the probe measured after it, which is little: real training needs
    # GPUs). Its batches are class-grouped (8 classes x 4 images) so that every image has 3
    # same-class partners, as in the paper's 512 synthetic images per batch; shuffled, 32 images
    # would have 0.25.
    "small": {
        "arch": "resnet18",
        "crop_size": 128,
        "batch_size": 32,
        "steps": 600,
        "variants_per_image": 126,
        "images_per_class": 4,
        "lr_reference_batch": 256,
        "workers": 2,
        "log_every": 5,
        "checkpoint_every": 100,
    },
    "cpu": _CPU,
    # The CPU recipe of the default model v2: _CPU with MobileNetV3-small (3 stages) on photos at
    # the runtime's input contract (longer side 512), and a cross-photo ranking ordered by a
    # full-reference proxy besides the ranking within series, so that scores compare across photos.
    "cpu-fast": {
        **_CPU,
        "arch": "mobilenet_v3_small",
        "max_side": 512,
        "steps": 900,
        "proxy_weight": 1.0,
        "base_lr": 2e-3,
        "keep_every": 150,
    },
    # Seconds on a CPU: the end-to-end check of CI.
    "smoke": {
        "arch": "resnet18",
        "crop_size": 64,
        "batch_size": 8,
        "steps": 4,
        "variants_per_image": 126,
        "images_per_class": 4,
        "lr_reference_batch": 256,
        "workers": 0,
        "log_every": 1,
        "checkpoint_every": 0,
        "amp": "none",
    },
}


def preset(name: str) -> dict[str, Any]:
    """The overrides of a named preset.

    Raises:
        ConfigError: No preset has that name.
    """
    if name not in PRESETS:
        raise ConfigError(f"preset {name!r} is unknown; choose one of {', '.join(PRESETS)}")
    return dict(PRESETS[name])


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON (``.json``) or TOML (any other suffix) config file into a dict.

    JSON is read by :func:`contrique_infer.jsonfile.read_json` (size, depth and integer limits), TOML
    within the same size limit; either must be a regular file (a FIFO or device is refused, never
    waited on) of UTF-8 text.

    Raises:
        ConfigFileError: The file is missing, unreadable, not a regular file, too large, not UTF-8,
            not valid JSON/TOML within those limits, or not a table of settings.
    """
    if Path(path).suffix.lower() == ".json":
        data = read_json(path, ConfigFileError)
    else:
        data = _read_toml(path)
    if not isinstance(data, dict):
        raise ConfigFileError(path, f"must hold a table/object of settings, not {type(data).__name__}")
    return data


def _read_toml(path: str | os.PathLike[str]) -> Any:
    """Parse a TOML config file (see :func:`read_config_file`); raises ConfigFileError."""
    try:
        raw = read_regular(path, MAX_BYTES)
    except NotRegularFileError as exc:
        raise ConfigFileError(path, str(exc)) from None
    except FileTooLargeError:
        raise ConfigFileError(path, f"is more than the {MAX_BYTES} bytes a config file may have") from None
    except OSError as exc:
        raise ConfigFileError(path, f"cannot read the config file ({exc.strerror or exc}); check the path") from exc
    try:
        return tomllib.loads(raw.decode("utf-8").removeprefix("\ufeff"))  # a byte-order mark: some editors write one
    except UnicodeDecodeError as exc:
        raise ConfigFileError(path, f"is not UTF-8 text ({exc}); save it as UTF-8") from None
    except RecursionError:
        raise ConfigFileError(path, "cannot be read as TOML (nested too deep); a config is a flat table") from None
    except ValueError as exc:  # TOMLDecodeError, or an integer of more than 4,300 digits
        raise ConfigFileError(path, f"cannot be read as TOML ({exc})") from None


def build_config(
    preset_name: str | None = None, file: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """Layer preset, file and overrides (in that order of increasing priority) into a config.

    Raises:
        ConfigError: An unknown preset, an unreadable file, or an invalid setting.
    """
    values: dict[str, Any] = preset(preset_name) if preset_name else {}
    if file is not None:
        values.update(read_config_file(file))
        source = str(file)
    else:
        source = f"preset {preset_name}" if preset_name else "config"
    values.update(overrides or {})
    return TrainConfig.from_dict(values, source=source)
