"""Full-reference quality of images against their pristine source, and a proxy that combines several metrics.

Six metrics of piq that need no downloaded weights (:data:`METRICS`), each called with
``data_range=1.0, reduction='none'`` and piq's other defaults on RGB in [0, 1]:

=========  ==============================  ======================================================
name       piq call                        direction
=========  ==============================  ======================================================
mdsi       ``piq.mdsi``                    0 for identical images, grows with distortion (lower is better)
gmsd       ``piq.gmsd``                    0 for identical images (lower is better)
vsi        ``piq.vsi``                     1 for identical images (higher is better)
haarpsi    ``piq.haarpsi``                 1 for identical images (higher is better)
ms_ssim    ``piq.multi_scale_ssim``        1 for identical images (higher is better)
fsim       ``piq.fsim`` (chromatic FSIMc)  1 for identical images (higher is better)
=========  ==============================  ======================================================

:func:`rank_proxy` combines them: over a set of images, each metric is oriented so that higher is
better (lower-is-better ones negated), ranked with ``scipy.stats.rankdata`` (ties get their mean
rank), and the proxy of an image is the mean of its ranks over the metrics, so no metric's scale
weighs more than another's. A higher proxy is better; it depends on the set it was ranked in.

MS-SSIM's 5 scales with an 11-px window need both sides of an image to be at least
:data:`MIN_SIDE` px.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from contrique_infer.errors import DependencyError

from .errors import TrainingError

MIN_SIDE = 161
"""Smallest side MS-SSIM accepts: ``(11 - 1) * 2 ** (5 - 1) + 1``."""


class FullReferenceError(TrainingError, ValueError):
    """Images cannot be compared: different sizes, too small, or not 8-bit RGB (the message says which)."""


@dataclass(frozen=True)
class FullReferenceMetric:
    """A piq metric: its name here, piq's function name and keyword arguments, and its direction."""

    name: str
    function: str
    higher_is_better: bool
    options: tuple[tuple[str, object], ...] = ()

    @property
    def call(self) -> str:
        """The call in words, for reports."""
        extra = "".join(f", {k}={v!r}" for k, v in self.options)
        return f"piq.{self.function}(x, y, data_range=1.0, reduction='none'{extra})"

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "call": self.call, "higher_is_better": self.higher_is_better}


METRICS: tuple[FullReferenceMetric, ...] = (
    FullReferenceMetric("mdsi", "mdsi", False),
    FullReferenceMetric("gmsd", "gmsd", False),
    FullReferenceMetric("vsi", "vsi", True),
    FullReferenceMetric("haarpsi", "haarpsi", True),
    FullReferenceMetric("ms_ssim", "multi_scale_ssim", True),
    FullReferenceMetric("fsim", "fsim", True, (("chromatic", True),)),
)


def full_reference(
    images: Sequence[np.ndarray], pristine: np.ndarray, *, batch_size: int = 8,
    metrics: Sequence[FullReferenceMetric] = METRICS,
) -> dict[str, np.ndarray]:
    """Every metric of ``metrics`` (default :data:`METRICS`) for each image against ``pristine``.

    Args:
        images: uint8 RGB arrays (H, W, 3), all of the pristine's shape (the pristine itself may be
            among them: it gets the metrics' values for identical images).
        pristine: The uint8 RGB source (H, W, 3), both sides at least :data:`MIN_SIDE` when
            ``metrics`` holds MS-SSIM.
        batch_size: Images compared at once (memory grows with it: FSIM and VSI hold several
            float copies of each image).
        metrics: The metrics to compute.

    Returns:
        Metric name -> float64 values, one per image, in the metric's own direction.

    Raises:
        FullReferenceError: An image is not uint8 RGB of the pristine's shape, or the pristine is too small.
        DependencyError: piq or torch is not installed.
    """
    try:
        import piq
        import torch
    except ImportError as exc:
        raise DependencyError(f"full-reference metrics need piq and torch ({exc}); pip install 'piq>=0.8'") from exc

    pristine = np.asarray(pristine)
    if pristine.dtype != np.uint8 or pristine.ndim != 3 or pristine.shape[2] != 3:
        raise FullReferenceError(f"the pristine image must be uint8 RGB (H, W, 3); got {pristine.dtype} {pristine.shape}")
    if min(pristine.shape[:2]) < MIN_SIDE and any(m.name == "ms_ssim" for m in metrics):
        raise FullReferenceError(
            f"the pristine image is {pristine.shape[1]}x{pristine.shape[0]}; MS-SSIM needs both sides >= {MIN_SIDE} px: "
            "use larger images"
        )
    for i, image in enumerate(images):
        if np.asarray(image).dtype != np.uint8 or np.shape(image) != pristine.shape:
            raise FullReferenceError(
                f"image {i} is {np.asarray(image).dtype} {np.shape(image)}; expected uint8 {pristine.shape} like the pristine"
            )

    def tensor(arrays: Sequence[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(arrays).astype(np.float32) / 255).permute(0, 3, 1, 2)

    reference = tensor([pristine])
    out: dict[str, list[np.ndarray]] = {m.name: [] for m in metrics}
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = tensor(images[start : start + batch_size])
            y = reference.expand_as(x)
            for metric in metrics:
                values = getattr(piq, metric.function)(x, y, data_range=1.0, reduction="none", **dict(metric.options))
                out[metric.name].append(values.double().numpy().reshape(-1))
    return {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in out.items()}


def rank_proxy(values: Mapping[str, Sequence[float]]) -> np.ndarray:
    """The mean over metrics of each image's rank, every metric oriented so that higher is better.

    A NaN is a value the metric could not give (MS-SSIM of an image under :data:`MIN_SIDE` px): that
    metric ranks the other images, its ranks stretched to span 1 .. number of images, and the
    image's mean is over its other metrics. Without NaNs, the ranks are plain ranks.

    Args:
        values: Metric name (of :data:`METRICS`) -> one value per image, in the metric's own direction.

    Returns:
        One proxy value per image (1 .. number of images; higher is better).

    Raises:
        FullReferenceError: No metrics, an unknown metric name, or metrics of different lengths.
    """
    directions = {m.name: m.higher_is_better for m in METRICS}
    unknown = sorted(set(values) - set(directions))
    lengths = {len(v) for v in values.values()}
    if not values or unknown or len(lengths) != 1:
        raise FullReferenceError(
            f"rank_proxy needs values of the same length for metrics among {', '.join(directions)}; "
            f"got {', '.join(f'{k} ({len(v)})' for k, v in values.items()) or 'none'}"
        )
    n = lengths.pop()
    ranks = np.full((len(values), n), np.nan)
    for row, (name, v) in enumerate(values.items()):
        oriented = np.asarray(v, dtype=np.float64) * (1.0 if directions[name] else -1.0)
        defined = ~np.isnan(oriented)
        if defined.sum() > 1:
            ranks[row, defined] = 1 + (rankdata(oriented[defined]) - 1) * (n - 1) / (defined.sum() - 1)
        elif defined.any():
            ranks[row, defined] = (n + 1) / 2
    if np.isnan(ranks).all(axis=0).any():
        raise FullReferenceError("rank_proxy: an image has no value of any metric")
    return np.nanmean(ranks, axis=0)
