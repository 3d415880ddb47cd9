"""Parity at export: the ONNX graph must give torch's features, input by input.

Every scale of every image runs through both torch and the runtime's encoder session
(:class:`contrique_infer.session.Encoder`, batch 1), and one batch of two runs through the session
to check the dynamic batch axis. The largest absolute difference of any feature value is the
parity figure recorded in the manifest.
"""

from __future__ import annotations

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
        model: The torch network the graph was exported from.
        encoder: The runtime's session on the exported graph.
        inputs: Prepared images (at least one).
        tolerance: The largest acceptable absolute difference.

    Returns:
        The manifest's parity record (also when it passes narrowly).

    Raises:
        ParityError: A difference exceeds ``tolerance``, or the batch-of-two run disagrees.
        ExportError: No inputs were given.
    """
    if not inputs:
        raise ExportError("parity needs at least one image")
    model = model.eval()
    worst, where = 0.0, ""
    count = 0
    for item in inputs:
        for index, array in enumerate(item.scales):
            with torch.inference_mode():
                expected = model(torch.from_numpy(array[None])).numpy()
            got = encoder.run(array[None])
            diff = float(np.max(np.abs(got.astype(np.float64) - expected)))
            count += 1
            if diff > worst:
                worst, where = diff, f"{item.source} scale {index}"
    first = inputs[0].scales[0]
    batched = encoder.run(np.stack([first, first[:, ::-1, :].copy()]))
    single = encoder.run(first[None])
    batch_diff = float(np.max(np.abs(batched[0] - single[0])))
    if batch_diff > tolerance:
        raise ParityError(f"{encoder.path}: a batch of two gives features {batch_diff:.3g} away from batch 1")
    if worst > tolerance:
        raise ParityError(
            f"{encoder.path.name}: ONNX features differ from torch by {worst:.3g} on {where} "
            f"(tolerance {tolerance:g}); the export is not faithful, report this with your torch/onnx versions"
        )
    return Parity(worst, len(inputs), count, tolerance, encoder.providers[0], f"torch {torch.__version__}")
