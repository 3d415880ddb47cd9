"""Give a bundle's heads a floor on global contrast, measured on training photos (head format 5).

The natural-scene statistics normalise each pixel by its neighbourhood's contrast, and a linear
head cannot bend where its proxy set has few images: the default model v2.4.1 scored a photo whose
contrast was cut to 2 % about 38, against about 70 for the photo itself, and ordered strong linear
contrast loss badly. :func:`add_contrast_floor` measures the global contrast (statistic 5 of
:mod:`contrique_export.nss`, the log standard deviation of the luminance, at full scale) of every
photo of a folder through the bundle itself, at its input contract, and gives the chosen heads a
:class:`contrique_infer.head.Floor` at the lowest value: below it a score keeps ``(contrast /
lowest) ** rate`` of its way from the worst end. Use training photos: the floor is a fact about
the photos the heads stand for, never about a benchmark.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from contrique_export.model_config import GLOBAL_CONTRAST, feature_groups
from contrique_infer.head import Floor, floor_rate_problem
from contrique_infer.inputs import list_images
from contrique_infer.manifest import Manifest

from .amend import heads_to_amend, write_heads
from .errors import ProxyError
from .heads import HEAD_NAMES

CONTRAST_NAME = "global contrast (log standard deviation of the luminance at full scale)"
"""The floor's name (:attr:`contrique_infer.head.Floor.name`), which notes on faded scores show."""
FLOOR_WORDS = " Below the lowest "
"""Where a head's description says what its floor does: the sentence starting here is the floor's, and the last."""
DEFAULT_RATE = 2.0
"""How fast a score falls below the floor: a photo at half the lowest contrast keeps a quarter of its way."""


def contrast_index(manifest: Manifest) -> int:
    """Where a bundle's feature holds the global contrast at full scale.

    Raises:
        ProxyError: The bundle's feature has no statistics or no full scale.
    """
    layout = manifest.feature.layout
    statistics = feature_groups(manifest.architecture, manifest.feature.per_scale_dim, len(layout))["statistics"]
    if not statistics.size or "full" not in layout:
        raise ProxyError(f"{manifest.architecture} has no natural-scene statistics at full scale, so no global contrast "
                         "to floor: export the network with them (contrique-export of a network trained with --nss)")
    per_scale = statistics.size // len(layout)
    return int(statistics[layout.index("full") * per_scale + GLOBAL_CONTRAST])


def add_contrast_floor(
    bundle_dir: str | os.PathLike[str],
    photos: str | os.PathLike[str],
    *,
    rate: float = DEFAULT_RATE,
    heads: Sequence[str] = HEAD_NAMES,
    variant: str = "auto",
    device: str | None = None,
    batch_size: int = 8,
    workers: int | None = None,
) -> dict[str, Any]:
    """Give heads of a local bundle a floor at the lowest global contrast of a folder of photos.

    Args:
        bundle_dir: The bundle folder; the heads' files and the manifest's file table are rewritten.
        photos: A folder of TRAINING photos (searched recursively), measured through the bundle at its
            input contract.
        rate: :attr:`contrique_infer.head.Floor.rate` (above 0).
        heads: The heads given the floor; each must be a no-reference head with a score range.
        variant, device: Passed to :meth:`QualityScorer.from_pretrained`.
        batch_size, workers: Feature extraction settings of :meth:`QualityScorer.features_many`.

    Returns:
        A JSON-ready report: the feature index, the floor and the photo at it, the standard deviation
        it stands for, the photos' median, the rate and the heads.

    Raises:
        ProxyError: A head that cannot take a floor, a bad rate, a bundle without statistics, or a photo
            that fails.
        HeadNotFoundError: The bundle has no such head.
        ProtocolError: The folder is the packaged default model (copy it first).
        BundleError, ContriqueError: The bundle is invalid.
    """
    from ..evaluation.api import open_scorer

    problem = floor_rate_problem(rate)
    if problem is not None:
        raise ProxyError(problem)
    index = contrast_index(Manifest.load(bundle_dir))
    bundle, chosen = heads_to_amend(bundle_dir, heads, "a floor")
    paths = list_images(photos)
    scorer = open_scorer(bundle_dir, variant=variant, device=device)
    results = scorer.features_many(paths, batch_size=batch_size, workers=workers)
    failed = [r for r in results if r.feature is None]
    if failed:
        raise ProxyError(f"{len(failed)} of {len(paths)} photos failed, the first {failed[0].source}: {failed[0].error}")
    values = np.array([r.feature[index] for r in results], dtype=np.float64)
    lowest = int(np.argmin(values))
    floor = Floor(index, float(values[lowest]), float(rate), CONTRAST_NAME)
    words = (f"{FLOOR_WORDS}{CONTRAST_NAME} of {len(paths)} training photos ({floor.value:.3f}, standard deviation "
             f"{np.exp(floor.value):.4f}) a score keeps the share (contrast / that contrast)^{rate:g} of its way from "
             "the worst end (floor_index, floor_value, floor_rate; contrique_training.proxy.floor).")
    write_heads(bundle_dir, bundle, [
        replace(head, floor=floor, info=replace(head.info, description=head.info.description.split(FLOOR_WORDS)[0] + words))
        for head in chosen])
    return {
        "bundle": str(bundle_dir),
        "photos": len(paths),
        "index": index,
        "floor": floor.value,
        "floor_std": float(np.exp(floor.value)),
        "lowest_photo": str(Path(results[lowest].source)),
        "median": float(np.median(values)),
        "rate": floor.rate,
        "heads": list(heads),
        "variant": scorer.variant,
    }
