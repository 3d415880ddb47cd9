"""What describes a CONTRIQUE network, without torch: the architectures, the input scales and :class:`ModelConfig`.

Config checks (``contrique-train --help``, training config files, checkpoint metadata) read this
module, so they do not pay for importing torch; :mod:`contrique_export.model` builds the network.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from contrique_infer.manifest import InputContract, Scale

from .errors import ModelConfigError

# Output channels of stages 1..4 of each supported torchvision network: a ResNet's residual stages,
# or MobileNetV3-small's blocks cut at strides 4, 8, 16 and 32 (MOBILENET_CUTS).
ARCHITECTURES: dict[str, tuple[int, int, int, int]] = {
    "resnet18": (64, 128, 256, 512),
    "resnet34": (64, 128, 256, 512),
    "resnet50": (256, 512, 1024, 2048),
    "mobilenet_v3_small": (16, 24, 48, 576),
}
MOBILENET_CUTS = (2, 4, 9, 13)
"""How many of MobileNetV3-small's ``features`` blocks stages 1..4 keep (the last ends at its 576-channel conv)."""
SCALES = (*InputContract.scales, Scale("quarter", 4), Scale("eighth", 8))
"""The input scales a bundle can have, in order: the first two are the input contract's default, the
official computation's (full and half size)."""
SCALE_COUNTS = tuple(range(len(InputContract.scales), len(SCALES) + 1))
"""How many of :data:`SCALES` a bundle may run on (``contrique_export.export_bundle(scales=...)``, ``--scales``)."""
MIN_SIZE = 32
"""The smallest height and width a bundle's graph accepts (the manifest's ``input.min_size``)."""
MAX_SIDE = 65535
"""The largest ``max_side`` (the longer side photos are downscaled to) a checkpoint may record: the largest
side a JPEG can have."""
MIN_OPSET = 18
"""The oldest ONNX opset the export produces (torch's exporter converts to older ones unreliably)."""
NSS_DIM = 25
"""Length of the natural-scene statistics (:mod:`contrique_export.nss`) appended when ``nss`` is on."""
NSS_PAIRS = NSS_DIM * (NSS_DIM + 1) // 2
"""Length of their standardised pairwise products, appended after them when ``nss_pairs`` is on."""
MAX_PROJECTION_DIM = 16384
"""The largest projector output a :class:`ModelConfig` accepts (the official network's is 128): a bound on
the memory a checkpoint's config can make the network allocate."""
_KIND_WORDS = {str: "a string", int: "an integer", bool: "true or false"}


def statistics_dim(architecture: str) -> int:
    """How many values of each per-scale block are statistics, from an architecture name
    (:attr:`ModelConfig.name`, a manifest's ``architecture``): the last ones; 0 without statistics."""
    if architecture.endswith("+nss2"):
        return NSS_DIM + NSS_PAIRS
    return NSS_DIM if architecture.endswith("+nss") else 0


FEATURE_GROUPS = ("learned", "statistics", "squares", "products")
"""What the columns of a feature hold: the pooled CNN channels, the statistics, the squares ``z_i*z_i``
of the standardised statistics and their products ``z_i*z_j`` with ``i < j``."""


def feature_groups(architecture: str, per_scale_dim: int, scales: int) -> dict[str, np.ndarray]:
    """The columns of each of :data:`FEATURE_GROUPS` in a feature of ``scales`` blocks of ``per_scale_dim``.

    Args:
        architecture: :attr:`ModelConfig.name` or a manifest's ``architecture``.
        per_scale_dim: Length of one scale's block (a manifest's ``feature.per_scale_dim``).
        scales: How many blocks the feature has.

    Returns:
        Sorted column indices per group, over every scale; a group the architecture lacks is empty.

    Raises:
        ModelConfigError: ``per_scale_dim`` is smaller than the architecture's statistics.
    """
    width = statistics_dim(architecture)
    if per_scale_dim < width:
        raise ModelConfigError(f"{architecture} has {width} statistics per scale, more than the {per_scale_dim} "
                               "values of a block: the manifest does not describe this architecture")
    i, j = np.triu_indices(NSS_DIM)
    products = np.arange(NSS_PAIRS) if width > NSS_DIM else np.arange(0)
    offsets = {  # within one block
        "learned": np.arange(per_scale_dim - width),
        "statistics": per_scale_dim - width + np.arange(min(width, NSS_DIM)),
        "squares": per_scale_dim - width + NSS_DIM + products[(i == j)[products]],
        "products": per_scale_dim - width + NSS_DIM + products[(i != j)[products]],
    }
    return {name: np.concatenate([s * per_scale_dim + offsets[name] for s in range(scales)]).astype(np.int64)
            for name in FEATURE_GROUPS}


GLOBAL_CONTRAST = 5
"""Which statistic is the global contrast, the log standard deviation of the luminance (:mod:`contrique_export.nss`)."""
NEIGHBOUR_STATISTICS = {"horizontal": 6, "vertical": 10, "main_diagonal": 14, "anti_diagonal": 18}
"""Where the four statistics of each direction's MSCN neighbour products start (:mod:`contrique_export.nss`, 6+4k)."""


def orientation_permutations(architecture: str, per_scale_dim: int, scales: int) -> list[np.ndarray]:
    """How a feature's columns move when the photo is mirrored, flipped or turned by 90 degrees.

    Mirroring or flipping a photo swaps the main- and anti-diagonal neighbour statistics; a turn by
    90 degrees swaps the horizontal and vertical ones too (and the diagonals). The statistics move
    exactly so; their squares and products only nearly, as each statistic is standardised by its own
    reference mean and scale (:data:`contrique_export.nss.REFERENCE_MEAN`), which differ little
    between the two diagonals (at most 0.02 of a scale) and more between horizontal and vertical
    (0.4 of a scale for statistic 6). The learned columns have no such rule and stay where they are.

    Args:
        architecture: :attr:`ModelConfig.name` or a manifest's ``architecture``.
        per_scale_dim: Length of one scale's block.
        scales: How many blocks the feature has.

    Returns:
        The four permutations of the group (the identity first): ``feature[:, p]`` is the feature the
        changed photo has, for the statistics. Only the identity without statistics.

    Raises:
        ModelConfigError: ``per_scale_dim`` is smaller than the architecture's statistics.
    """
    width = statistics_dim(architecture)
    groups = feature_groups(architecture, per_scale_dim, 1)  # checks the widths
    if not width:
        return [np.arange(per_scale_dim * scales)]
    learned = len(groups["learned"])
    diagonals = {NEIGHBOUR_STATISTICS["main_diagonal"] + k: NEIGHBOUR_STATISTICS["anti_diagonal"] + k for k in range(4)}
    axes = {NEIGHBOUR_STATISTICS["horizontal"] + k: NEIGHBOUR_STATISTICS["vertical"] + k for k in range(4)}
    i, j = np.triu_indices(NSS_DIM)
    pair = {(int(a), int(b)): n for n, (a, b) in enumerate(zip(i, j))}
    permutations = []
    for swaps in ({}, diagonals, axes, {**diagonals, **axes}):
        swap = {**swaps, **{b: a for a, b in swaps.items()}}
        stat = np.array([swap.get(k, k) for k in range(NSS_DIM)])
        block = [*range(learned), *(learned + stat)]
        if width > NSS_DIM:
            block += [learned + NSS_DIM + pair[tuple(sorted((int(stat[a]), int(stat[b]))))] for a, b in zip(i, j)]
        permutations.append(np.concatenate([s * per_scale_dim + np.array(block) for s in range(scales)]))
    return permutations


@dataclass(frozen=True)
class ModelConfig:
    """What is needed to rebuild a network: architecture, residual stages kept, NSS, projection size.

    ``nss_pairs`` appends the statistics' pairwise products (:mod:`contrique_export.nss`); it needs ``nss``.
    Every field must have its exact type (``arch`` a string, ``projection_dim`` and ``stages`` integers,
    ``nss`` and ``nss_pairs`` booleans): nothing is converted, so ``"false"`` is not read as true nor
    ``128.9`` cut to 128.

    Raises:
        ModelConfigError: A field of the wrong type, an unknown architecture, a projection size out of
            1..:data:`MAX_PROJECTION_DIM` or a stage count out of 1..4, or ``nss_pairs`` without ``nss``.
    """

    arch: str = "resnet50"
    projection_dim: int = 128
    stages: int = 4
    nss: bool = False
    nss_pairs: bool = False

    def __post_init__(self) -> None:
        for name, kind in (("arch", str), ("projection_dim", int), ("stages", int), ("nss", bool), ("nss_pairs", bool)):
            value = getattr(self, name)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ModelConfigError(f"{name} must be {_KIND_WORDS[kind]}, got {value!r} ({type(value).__name__})")
        if self.arch not in ARCHITECTURES:
            raise ModelConfigError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        if not 1 <= self.projection_dim <= MAX_PROJECTION_DIM:
            raise ModelConfigError(f"projection_dim must be 1..{MAX_PROJECTION_DIM}, got {self.projection_dim}")
        if not 1 <= self.stages <= 4:
            raise ModelConfigError(f"stages must be 1..4 (residual stages kept), got {self.stages}")
        if self.nss_pairs and not self.nss:
            raise ModelConfigError("nss_pairs needs nss (the products are of the statistics): set nss too")

    @property
    def channels(self) -> int:
        """Channels of the last feature map (what the projector and the pooled CNN feature have)."""
        return ARCHITECTURES[self.arch][self.stages - 1]

    @property
    def feature_dim(self) -> int:
        """Length of the feature per scale: the pooled channels, plus the statistics (and their products) if enabled."""
        return self.channels + statistics_dim(self.name)

    @property
    def name(self) -> str:
        """The architecture in words, e.g. ``resnet50``, ``resnet18-3stages+nss`` or, with the pairwise
        products, ``mobilenet_v3_small-3stages+nss2``."""
        statistics = "+nss2" if self.nss_pairs else "+nss" if self.nss else ""
        return self.arch + (f"-{self.stages}stages" if self.stages != 4 else "") + statistics

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """A config from a checkpoint's ``model_config`` (missing keys take the defaults), values taken as they are.

        Raises:
            ModelConfigError: A value of the wrong type or out of range (see the class).
        """
        return cls(**{f.name: data.get(f.name, f.default) for f in fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        """The plain dict a checkpoint records as ``model_config``."""
        return {"arch": self.arch, "projection_dim": self.projection_dim, "stages": self.stages, "nss": self.nss,
                "nss_pairs": self.nss_pairs}


def check_max_side(value: object) -> int:
    """Return ``value`` if it can be a bundle's ``max_side``: 0 (photos scored at their own size) or an
    integer from :data:`MIN_SIZE` to :data:`MAX_SIDE`.

    Raises:
        ModelConfigError: It is not such an integer (the message starts "must be", for the caller's subject).
    """
    if type(value) is not int or not (value == 0 or MIN_SIZE <= value <= MAX_SIDE):
        raise ModelConfigError(f"must be 0 (photos not downscaled) or an integer from {MIN_SIZE} (the smallest side "
                               f"a bundle accepts) to {MAX_SIDE}, got {value!r}")
    return value


def check_opset(opset: int) -> int:
    """Return ``opset`` if the export can produce it: from :data:`MIN_OPSET` to the installed onnx's newest.

    Raises:
        ModelConfigError: ``opset`` is outside that range.
    """
    import onnx.defs  # only when an opset is asked for: the rest of this module needs no onnx

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ModelConfigError(f"ONNX opset {opset} cannot be produced: choose one from {MIN_OPSET} to {newest} "
                               "(the installed onnx's newest), or omit it for the exporter's default")
    return opset
