"""Fidelity measurement (:func:`contrique_export.fidelity.measure_fidelity`) with stand-in sessions: no
measure that comes out NaN is recorded (no real graph needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contrique_export.errors import ExportError
from contrique_export.fidelity import measure_fidelity
from contrique_export.images import synthetic_inputs
from contrique_infer.head import Head
from contrique_infer.manifest import HeadInfo, InputContract


class Session:
    """A stand-in session whose feature of every image is ``feature``."""

    def __init__(self, name: str, feature: list[float]) -> None:
        self.path, self.feature = Path(name), np.asarray(feature, dtype=np.float32)

    def features(self, items: list) -> np.ndarray:
        return np.stack([self.feature for _ in items])


@pytest.fixture(scope="module")
def inputs():
    return synthetic_inputs(InputContract())


def test_agreeing_sessions(inputs):
    fidelity = measure_fidelity(Session("encoder.onnx", [0.6, 0.8]), Session("encoder.int8.onnx", [0.6, 0.8]), inputs)
    assert fidelity.cosine_min == pytest.approx(1.0) and fidelity.feature_max_abs_diff == 0.0


def test_a_reference_with_features_that_are_not_finite_is_refused(inputs):
    # a damaged bundle given to --from-bundle: the cosine would be NaN
    with pytest.raises(ExportError, match="encoder.onnx: the fp32 graph computes non-finite features on held-out"):
        measure_fidelity(Session("encoder.onnx", [np.nan, 0.8]), Session("encoder.int8.onnx", [0.6, 0.8]), inputs)


def test_a_cosine_of_a_feature_of_length_0_is_refused(inputs):
    # a feature of length 0 has no cosine: NaN, which the manifest cannot hold
    with pytest.raises(ExportError, match=r"encoder.int8.onnx: its fidelity to fp32 is undefined \(a feature of "
                                          r"length 0"):
        measure_fidelity(Session("encoder.onnx", [0.6, 0.8]), Session("encoder.int8.onnx", [0.0, 0.0]), inputs)


@pytest.mark.filterwarnings("ignore")  # numpy's and scipy's on infinite scores: what the test is about
def test_a_spearman_correlation_of_infinite_scores_is_refused(inputs):
    overflowing = Head(HeadInfo("q", "heads/q.json", "nr", "synthetic", "MOS", True, "test"),
                       np.array([1.5e308, 1.5e308]), 0.0)  # scores overflow to infinity
    with pytest.raises(ExportError, match="or head scores that are not finite"):
        measure_fidelity(Session("encoder.onnx", [0.6, 0.8]), Session("encoder.int8.onnx", [0.6, 0.8]), inputs,
                         [overflowing])
