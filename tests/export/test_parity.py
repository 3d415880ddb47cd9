"""The parity check (:func:`contrique_export.parity.check_parity`) with stand-in networks and sessions:
values that are not finite fail it, whichever side computes them (no real graph needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from contrique_export.errors import ExportError, ParityError
from contrique_export.images import synthetic_inputs
from contrique_export.parity import check_parity
from contrique_infer.manifest import InputContract


class Mean(torch.nn.Module):
    """A stand-in network: two feature values per image, the mean of the image and half of it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack((x.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)) * 0.5), dim=1)


class Session:
    """A stand-in session: ``network``'s features, with ``nan_from`` (a batch size) and larger batches made NaN."""

    def __init__(self, network: torch.nn.Module, nan_from: int | None = None) -> None:
        self.network, self.nan_from = network, nan_from
        self.path, self.providers = Path("encoder.onnx"), ["CPUExecutionProvider"]

    def run(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = self.network(torch.from_numpy(batch)).numpy().astype(np.float32)
        if self.nan_from is not None and len(batch) >= self.nan_from:
            out[:, 0] = np.nan
        return out


@pytest.fixture(scope="module")
def inputs():
    return synthetic_inputs(InputContract())


def test_the_same_network_in_float32_passes(inputs):
    # the reference is torch's float64: a float32 graph of the same network differs by its rounding only
    assert 0 <= check_parity(Mean(), Session(Mean()), inputs).max_abs_diff < 1e-6


class Cancelling(Mean):
    """A network whose float32 result loses digits: (m + 1e4) - 1e4 keeps m to about 1e-3."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (super().forward(x) * 1.1 + 1e4 - 1e4) / 1.1


class Exact(Session):
    """A stand-in graph that computes in float64 and rounds once (closer to the definition than torch's float32)."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.network.double()(torch.from_numpy(batch).double()).numpy().astype(np.float32)


def test_the_reference_is_the_network_in_float64_not_torchs_float32(inputs):
    x = torch.from_numpy(inputs[0].scales[0][None])
    with torch.inference_mode():
        lost = float((Cancelling()(x) - Cancelling().double()(x.double())).abs().max())
    assert lost > 1e-4  # torch's float32 is farther from the definition than the tolerance
    assert check_parity(Cancelling(), Exact(Cancelling()), inputs).max_abs_diff < 1e-6


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_network_with_features_that_are_not_finite_is_refused(inputs, value):
    # a checkpoint whose finite weights overflow float32 (weights x 1e30) gives NaN features in both
    # torch and the graph: max(0.0, nan) is 0.0 and nan > tolerance is false, so it passed with 0.0
    class Broken(Mean):
        def forward(self, x):
            return super().forward(x) * value

    with pytest.raises(ExportError, match=r"synthetic-97x65 scale 0: the checkpoint's network computes 2 of 2 feature "
                                          r"values that are not finite \(NaN or infinity\): its weights overflow"):
        check_parity(Broken(), Session(Broken()), inputs)


def test_a_graph_with_features_that_are_not_finite_fails_parity(inputs):
    with pytest.raises(ParityError, match=r"encoder.onnx: the ONNX graph computes 1 of 2 feature values that are not "
                                          r"finite on synthetic-97x65 scale 0, where torch's are finite"):
        check_parity(Mean(), Session(Mean(), nan_from=1), inputs)


def test_a_batch_with_features_that_are_not_finite_fails_parity(inputs):
    with pytest.raises(ParityError, match="a batch of two gives features nan away from batch 1"):
        check_parity(Mean(), Session(Mean(), nan_from=2), inputs)
