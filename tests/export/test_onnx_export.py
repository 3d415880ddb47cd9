"""torch -> ONNX export and the parity check (the session's ResNet-18, tiny images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from graph_session import open_graph

from contrique_export.errors import ExportError, ParityError
from contrique_export.images import synthetic_inputs
from contrique_export.model import build_model
from contrique_export.onnx_export import export_onnx, graph_opset
from contrique_export.parity import check_parity
from contrique_infer.manifest import InputContract
from contrique_infer.preprocessing import PreparedImage


@pytest.fixture(scope="module")
def model(resnet18):
    return resnet18.model


@pytest.fixture(scope="module")
def exported(resnet18_bundle):
    """The session's ResNet-18 graph, exported with opset 18 (tests/conftest.py)."""
    return resnet18_bundle / "encoder.onnx"


@pytest.fixture(scope="module")
def session(exported):
    return open_graph(exported)


def test_graph_interface(exported):
    graph = onnx.load(str(exported)).graph
    (inp,) = graph.input
    (out,) = graph.output
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert inp.name == "image" and inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert out.name == "feature" and out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    in_dims, out_dims = dims(inp), dims(out)
    assert in_dims[1] == 3 and all(isinstance(d, str) for d in (in_dims[0], in_dims[2], in_dims[3]))
    assert out_dims[1] == 512 and isinstance(out_dims[0], str)
    assert graph_opset(exported) == 18


def test_single_self_contained_file(exported):
    # (the bundle folder holds no other file: tests/export/test_exporter.py::test_manifest)
    model = onnx.load(str(exported), load_external_data=False)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


def test_no_path_of_the_exporting_machine(exported):
    """The exporter's stack traces (absolute paths of this checkout and its site-packages) are removed."""
    import contrique_export

    data = exported.read_bytes()
    checkout = str(Path(contrique_export.__file__).resolve().parents[1]).encode()
    assert checkout not in data and b"site-packages" not in data and b"stack_trace" not in data
    model = onnx.load(str(exported))
    assert any(p.key == "namespace" for n in model.graph.node for p in n.metadata_props)  # int8 reads these


@pytest.mark.parametrize("shape", [(1, 3, 16, 16), (1, 3, 33, 47), (3, 3, 45, 29), (2, 3, 130, 64)])
def test_dynamic_shapes_match_torch(model, session, shape):
    x = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    got = session.run(x)
    assert got.shape == (shape[0], 512)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    assert np.max(np.abs(got - expected)) < 1e-5


def test_parity_report(model, session):
    inputs = synthetic_inputs(InputContract())
    report = check_parity(model, session, inputs)
    assert report.images == 3 and report.inputs == 6
    assert 0.0 <= report.max_abs_diff < 1e-5
    entry = report.to_dict()
    assert entry["tolerance"] == 1e-4 and entry["provider"] == "CPUExecutionProvider"
    assert entry["reference"].startswith("torch ")


def test_parity_fails_for_a_different_model(session):
    torch.manual_seed(2)
    other = build_model("resnet18").eval()
    with pytest.raises(ParityError, match=r"encoder.onnx: ONNX features differ from torch by .* on synthetic-"):
        check_parity(other, session, synthetic_inputs(InputContract()))


class _Scaled:
    """A stand-in session: the torch model's features times ``factor`` (plus ``offset``)."""

    def __init__(self, model, factor: float, offset: float = 0.0) -> None:
        self.model, self.factor, self.offset = model, factor, offset
        self.path, self.providers = Path("encoder.onnx"), ["CPUExecutionProvider"]

    def run(self, batch):
        with torch.inference_mode():
            return (self.model(torch.from_numpy(batch)).numpy() * self.factor + self.offset).astype(np.float32)


def test_parity_tolerance_is_relative_to_the_largest_value_above_one():
    # a feature with values in the hundreds (the statistics' pairwise products) passes with
    # float32-sized differences that exceed 1e-4 in absolute terms; one whose values stay within 1
    # fails at 2e-4, as before
    class Big(torch.nn.Module):
        def forward(self, x):
            return torch.stack((x.mean(dim=(1, 2, 3)) * 400, x.mean(dim=(1, 2, 3)) * 0.5), dim=1)

    class Small(Big):
        def forward(self, x):
            return super().forward(x) / 1000

    inputs = synthetic_inputs(InputContract())
    report = check_parity(Big(), _Scaled(Big(), 1.0, offset=2e-4), inputs)
    assert 1e-4 < report.max_abs_diff < 1e-3  # recorded as the absolute difference
    with pytest.raises(ParityError, match=r"by 0.0002.*tolerance 0.0001, relative to a largest value above 1"):
        check_parity(Small(), _Scaled(Small(), 1.0, offset=2e-4), inputs)


def test_parity_needs_images(model, session):
    with pytest.raises(ExportError, match="at least one image"):
        check_parity(model, session, [])


def test_unsupported_opset_is_an_export_error(tmp_path):
    model = build_model("resnet18")
    with pytest.raises(ExportError, match=r"ONNX opset 3 cannot be produced: choose one from 18 to \d+"):
        export_onnx(model, tmp_path / "x.onnx", opset=3)  # refused before torch's exporter runs
    assert not (tmp_path / "x.onnx").exists()


def test_prepared_inputs_follow_the_contract():
    (first, *_rest) = synthetic_inputs(InputContract())
    assert isinstance(first, PreparedImage) and first.source == "synthetic-97x65"
    assert [a.shape for a in first.scales] == [(3, 65, 97), (3, 32, 48)]
    assert all(a.dtype == np.float32 and 0.0 <= a.min() and a.max() <= 1.0 for a in first.scales)
