"""Parity at export: the ONNX graph must give torch's features, input by input.

Every scale of every image runs through torch and through the runtime's encoder session
(:class:`contrique_infer.session.Encoder`, batch 1), and one batch of two runs through the session
to check the dynamic batch axis. The graph (float32) is compared with the same network computed by
torch in float64: the definition both float32 computations approximate, each with its own rounding
(on a 500x500 validation photo the statistics' products of torch's float32 were 1.5e-3 from it, the
graph's 4.9e-4, so comparing the two float32 results failed a graph closer to the definition than
torch). Torch's float32 run checks that the weights give finite features at all. The largest
absolute difference of any feature value is the parity figure recorded in the manifest (its
``reference``: ``torch <version> in float64``). The tolerance holds for the largest difference of a feature
vector relative to its largest value, ``max|onnx - torch| / max(1, max|torch|)``: absolute for
features whose values stay within 1 (the L2-normalised CNN feature), relative for features with
larger values (the statistics' logarithms and pairwise products: the products of standardised
statistics amplify float32 differences of about 1e-5 in a statistic by the inverse of its reference
scale and by the other factor, to about 1e-4 for products near 10).

A feature value that is not finite (NaN or infinity) fails the check: torch's mean that the
checkpoint's weights overflow or its training diverged, the graph's alone that the export is not
faithful. No comparison lets a NaN pass (``nan > tolerance`` is false; ``max(0.0, nan)`` is 0.0).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch

from contrique_infer.manifest import Parity
from contrique_infer.preprocessing import PreparedImage
from contrique_infer.session import Encoder

from .errors import ExportError, ParityError
from .model import ContriqueNet

TOLERANCE = 1e-4


def check_parity(
    model: ContriqueNet,
    encoder: Encoder,
    inputs: Sequence[PreparedImage],
    *,
    tolerance: float = TOLERANCE,
) -> Parity:
    """Compare torch and onnxruntime features on every scale of every input.

    Args:
        model: The torch network the graph was exported from (not changed: a float64 copy is the reference).
        encoder: The runtime's session on the exported graph.
        inputs: Prepared images (at least one).
        tolerance: The largest acceptable difference, relative to the feature's largest value when it is above 1.

    Returns:
        The manifest's parity record (also when it passes narrowly).

    Raises:
        ParityError: A difference exceeds ``tolerance``, the batch-of-two run disagrees, or the graph
            computes a feature value that is not finite where torch's is.
        ExportError: No inputs were given, or torch computes a feature value that is not finite
            (the checkpoint is unusable).
    """
    if not inputs:
        raise ExportError("parity needs at least one image")
    model = model.eval()
    reference = copy.deepcopy(model).double()
    worst = worst_scaled = 0.0
    where = ""
    count = 0
    for item in inputs:
        for index, array in enumerate(item.scales):
            with torch.inference_mode():
                float32 = model(torch.from_numpy(array[None])).numpy()
                expected = reference(torch.from_numpy(array[None]).double()).numpy()
            if not np.isfinite(float32).all():
                raise ExportError(
                    f"{item.source} scale {index}: the checkpoint's network computes {_not_finite(float32)} feature "
                    "values that are not finite (NaN or infinity): its weights overflow float32 or its training "
                    "diverged; export an earlier checkpoint of the run"
                )
            actual = encoder.run(array[None]).astype(np.float64)
            if not np.isfinite(actual).all():
                raise ParityError(
                    f"{encoder.path.name}: the ONNX graph computes {_not_finite(actual)} feature values that are not "
                    f"finite on {item.source} scale {index}, where torch's are finite; the export is not faithful, "
                    "report this with your torch/onnx versions"
                )
            diff = np.abs(actual - expected)
            size = max(1.0, float(np.abs(expected).max()))
            count += 1
            worst = max(worst, float(diff.max()))
            if diff.max() / size > worst_scaled:
                at = int(diff.argmax())
                worst_scaled = float(diff.flat[at]) / size
                where = (f"{item.source} scale {index} (value {at}: {float(expected.flat[at]):.6g}, off by "
                         f"{float(diff.flat[at]):.3g}; largest value {size:.6g})")
    first = inputs[0].scales[0]
    batched = encoder.run(np.stack([first, first[:, ::-1, :].copy()]))
    single = encoder.run(first[None])
    batch_diff = float(np.max(np.abs(batched[0] - single[0]))) / max(1.0, float(np.abs(single[0]).max()))
    if not batch_diff <= tolerance:  # NaN too
        raise ParityError(f"{encoder.path}: a batch of two gives features {batch_diff:.3g} away from batch 1")
    if worst_scaled > tolerance:
        raise ParityError(
            f"{encoder.path.name}: ONNX features differ from torch by {worst_scaled:.3g} on {where} "
            f"(tolerance {tolerance:g}, relative to a largest value above 1); the export is not faithful, report "
            "this with your torch/onnx versions"
        )
    return Parity(worst, len(inputs), count, tolerance, encoder.providers[0], f"torch {torch.__version__} in float64")


def _not_finite(values: np.ndarray) -> str:
    """``N of M``: how many of ``values`` are NaN or infinite."""
    return f"{int(np.count_nonzero(~np.isfinite(values)))} of {values.size}"
