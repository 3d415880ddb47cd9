"""Parity at export: the ONNX graph must give torch's features, input by input.

Every scale of every image runs through both torch and onnxruntime (batch 1), and one batch of
two runs through onnxruntime to check the dynamic batch axis. The largest absolute difference of
any feature value is the parity figure recorded in the manifest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from contrique_infer.preprocessing import PreparedImage

from .errors import ExportError, ParityError
from .model import ContriqueNet
from .onnx_export import INPUT_NAME

TOLERANCE = 1e-4


@dataclass(frozen=True)
class ParityReport:
    """Result of a parity check: the maximum absolute feature difference and what was compared."""

    max_abs_diff: float
    images: int
    inputs: int
    tolerance: float
    provider: str

    def to_dict(self) -> dict[str, float | int | str]:
        """The manifest's ``parity`` entry."""
        return {
            "max_abs_diff": self.max_abs_diff,
            "images": self.images,
            "inputs": self.inputs,
            "tolerance": self.tolerance,
            "provider": self.provider,
            "reference": f"torch {torch.__version__}",
        }


def cpu_session(path: str | os.PathLike[str]) -> ort.InferenceSession:
    """An onnxruntime CPU session for an exported graph."""
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def check_parity(
    model: ContriqueNet,
    onnx_path: str | os.PathLike[str],
    inputs: Sequence[PreparedImage],
    *,
    tolerance: float = TOLERANCE,
) -> ParityReport:
    """Compare torch and onnxruntime features on every scale of every input.

    Args:
        model: The torch network the graph was exported from.
        onnx_path: The exported graph.
        inputs: Prepared images (at least one).
        tolerance: The largest acceptable absolute difference.

    Returns:
        The report (also when it passes narrowly).

    Raises:
        ParityError: A difference exceeds ``tolerance``, or the batch-of-two run disagrees.
        ExportError: No inputs were given.
    """
    if not inputs:
        raise ExportError("parity needs at least one image")
    session = cpu_session(onnx_path)
    model = model.eval()
    worst, where = 0.0, ""
    count = 0
    for item in inputs:
        for index, array in enumerate(item.scales):
            with torch.inference_mode():
                expected = model(torch.from_numpy(array[None])).numpy()
            got = session.run(None, {INPUT_NAME: array[None]})[0]
            diff = float(np.max(np.abs(got.astype(np.float64) - expected)))
            count += 1
            if diff > worst:
                worst, where = diff, f"{item.source} scale {index}"
    first = inputs[0].scales[0]
    batched = session.run(None, {INPUT_NAME: np.stack([first, first[:, ::-1, :].copy()])})[0]
    single = session.run(None, {INPUT_NAME: first[None]})[0]
    batch_diff = float(np.max(np.abs(batched[0] - single[0])))
    if batch_diff > tolerance:
        raise ParityError(f"{onnx_path}: a batch of two gives features {batch_diff:.3g} away from batch 1")
    if worst > tolerance:
        raise ParityError(
            f"{Path(onnx_path).name}: ONNX features differ from torch by {worst:.3g} on {where} "
            f"(tolerance {tolerance:g}); the export is not faithful, report this with your torch/onnx versions"
        )
    return ParityReport(worst, len(inputs), count, tolerance, "CPUExecutionProvider")
