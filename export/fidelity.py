"""Fidelity of a reduced-precision variant: agreement with fp32 on held-out images.

Measured on the full feature (all scales concatenated, as the runtime builds it), with both
variants opened by the runtime's session code (:class:`contrique_infer.session.Encoder`): the mean
and the minimum cosine similarity to the fp32 feature, and for each no-reference head the
Spearman rank correlation between the scores of the two variants. Features that are not finite,
on either side, and a measure that comes out NaN fail the measurement: no NaN is recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from contrique_infer.head import Head
from contrique_infer.manifest import Fidelity
from contrique_infer.preprocessing import PreparedImage
from contrique_infer.session import Encoder

from .errors import ExportError


def bundle_features(encoder: Encoder, item: PreparedImage) -> np.ndarray:
    """The feature of one image as the runtime computes it (:meth:`Encoder.features`), in float64."""
    return encoder.features([item])[0].astype(np.float64)


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float | None:
    """Spearman rank correlation (average ranks for ties); None when it is undefined (fewer than two
    values, or one side constant). The project's one implementation: scipy's where scipy is
    installed (the ``eval`` extra), the same computation in NumPy where it is not (the ``export``
    extra alone)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    try:
        from scipy.stats import spearmanr
    except ImportError:
        return float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])
    return float(spearmanr(x, y).statistic)


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=np.float64)
    for value in np.unique(x):  # ties share their average rank
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def measure_fidelity(
    reference: Encoder,
    candidate: Encoder,
    inputs: Sequence[PreparedImage],
    heads: Sequence[Head] = (),
) -> Fidelity:
    """Compare a variant with the fp32 graph on held-out images.

    Args:
        reference: The runtime's session on the fp32 graph.
        candidate: The runtime's session on the variant's graph.
        inputs: Held-out images (not used for calibration).
        heads: Heads whose score rankings are compared (no-reference heads only).

    Returns:
        The variant's fidelity record, with a Spearman correlation for each no-reference head
        (when there are at least 3 images).

    Raises:
        ExportError: No held-out images, either graph's features are not finite, or a measure is
            undefined (a feature of length 0, head scores that are not finite).
    """
    if not inputs:
        raise ExportError(f"fidelity of {candidate.path} needs held-out images; pass --parity-images DIR")
    f_ref = np.stack([bundle_features(reference, item) for item in inputs])
    f_cand = np.stack([bundle_features(candidate, item) for item in inputs])
    if not np.isfinite(f_ref).all():
        raise ExportError(
            f"{reference.path}: the fp32 graph computes non-finite features on held-out images, so its weights are "
            "damaged; export the bundle again from a sound checkpoint"
        )
    if not np.isfinite(f_cand).all():
        raise ExportError(
            f"{candidate.path}: the variant computes non-finite features on held-out images; do not ship it"
        )
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # NaN and infinity are refused below
        cosine = np.sum(f_ref * f_cand, axis=1) / (np.linalg.norm(f_ref, axis=1) * np.linalg.norm(f_cand, axis=1))
    rhos = {}
    if len(inputs) >= 3:
        for head in heads:
            if head.kind == "nr":
                rho = spearman(head(f_ref), head(f_cand))
                if rho is not None:
                    rhos[head.name] = rho
    fidelity = Fidelity(images=len(inputs), cosine_mean=float(cosine.mean()), cosine_min=float(cosine.min()),
                        feature_max_abs_diff=float(np.max(np.abs(f_ref - f_cand))), spearman=rhos)
    measures = [fidelity.cosine_mean, fidelity.cosine_min, fidelity.feature_max_abs_diff, *rhos.values()]
    if not all(math.isfinite(m) for m in measures):
        raise ExportError(
            f"{candidate.path}: its fidelity to fp32 is undefined (a feature of length 0, or head scores that are not "
            "finite); do not ship it"
        )
    return fidelity
