"""int8 (static QDQ) and fp16 variants, and their fidelity measurement (ResNet-18, tiny images)."""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np
import onnx
import pytest
import torch
from graph_session import open_graph
from PIL import Image

from contrique_export.errors import ExportError
from contrique_export.fidelity import bundle_features, measure_fidelity, spearman
from contrique_export.images import synthetic_inputs
from contrique_export.model import build_model
from contrique_export.onnx_export import export_onnx
from contrique_export.quantize import quantize_int8
from contrique_infer.head import Head
from contrique_infer.manifest import HeadInfo, InputContract
from contrique_infer.preprocessing import PreparedImage, to_scales

CONTRACT = InputContract()


def photo_like(seed: int, size: tuple[int, int]) -> PreparedImage:
    """A smooth random image (low-frequency noise, upsampled), prepared like the runtime does."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = Image.fromarray(small, "RGB").resize(size, Image.BICUBIC)
    return PreparedImage(f"img{seed}", img.width, img.height, to_scales(img, CONTRACT))


@pytest.fixture(scope="module")
def fp32(resnet18_bundle):
    """The session's ResNet-18 graph (tests/conftest.py), with its int8 and fp16 variants next to it."""
    return resnet18_bundle / "encoder.onnx"


@pytest.fixture(scope="module")
def held_out():
    return [photo_like(seed, (72 + 8 * seed, 64)) for seed in range(10, 16)]


@pytest.fixture(scope="module")
def head():
    coef = np.random.default_rng(5).standard_normal(1024)
    return Head(HeadInfo("q", "heads/q.json", "nr", "test", "MOS", True), coef, 50.0)


@pytest.fixture(scope="module")
def int8(fp32):
    return fp32.parent / "encoder.int8.onnx"  # quantize_int8, calibrated on 3 photos


@pytest.fixture(scope="module")
def fp16(fp32):
    return fp32.parent / "encoder.fp16.onnx"  # convert_fp16


def _io(path):
    graph = onnx.load(str(path)).graph
    return [(v.name, v.type.tensor_type.elem_type) for v in [*graph.input, *graph.output]]


def test_int8_is_qdq_with_float_io(fp32, int8):
    model = onnx.load(str(int8))
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > ops["Conv"] > 0
    assert _io(int8) == _io(fp32) == [("image", onnx.TensorProto.FLOAT), ("feature", onnx.TensorProto.FLOAT)]
    # The tail (pooling and L2 normalisation) stays float: the output is not requantized.
    last = {n.output[0]: n for n in model.graph.node}["feature"]
    assert last.op_type == "Div"
    assert int8.stat().st_size < 0.3 * fp32.stat().st_size


def test_int8_fidelity(fp32, int8, held_out, head):
    fidelity = measure_fidelity(open_graph(fp32), open_graph(int8), held_out, [head])
    assert fidelity.images == 6
    assert 0.99 < fidelity.cosine_min <= fidelity.cosine_mean <= 1.0
    assert 0.0 < fidelity.feature_max_abs_diff < 0.05
    assert fidelity.spearman["q"] > 0.6
    features = bundle_features(open_graph(int8), held_out[0])
    assert features.shape == (1024,)
    np.testing.assert_allclose(np.linalg.norm(features[:512]), 1.0, atol=1e-5)


@pytest.mark.slow  # exports and quantizes a second ResNet-18
def test_int8_keeps_the_statistics_branch_on_the_float_image(tmp_path, held_out):
    torch.manual_seed(4)
    fp32 = export_onnx(build_model("resnet18", stages=3, nss=True).eval(), tmp_path / "encoder.onnx")
    calibration = [photo_like(seed, (96, 80)) for seed in range(4)]
    int8 = quantize_int8(fp32, tmp_path / "encoder.int8.onnx", calibration)
    graph = onnx.load(str(int8)).graph
    producers = {output: node.op_type for node in graph.node for output in node.output}
    nss_nodes = [n for n in graph.node if any("NaturalSceneStatistics" in p.value for p in n.metadata_props)]
    assert nss_nodes and not any(producers.get(x) == "DequantizeLinear" for n in nss_nodes for x in n.input)
    assert any("image" in n.input for n in nss_nodes)
    # Per scale: 256 pooled channels, then the 25 statistics; the statistics are fp32's to float precision.
    for item in held_out[:3]:
        a, b = (bundle_features(open_graph(g), item).reshape(2, 281) for g in (fp32, int8))
        np.testing.assert_allclose(b[:, 256:], a[:, 256:], atol=1e-5)
        assert np.abs(b[:, :256] - a[:, :256]).max() > 1e-5  # the convolutions are quantized


def test_int8_of_mobilenet_quantizes_the_trunk_alone(tmp_path, held_out):
    """The quantizer's pre-processing drops MobileNetV3's node metadata: the trunk is still found (by
    name, in the exported graph) and the statistics stay fp32's (they went to -inf when excluded by
    their own metadata)."""
    torch.manual_seed(4)
    fp32 = export_onnx(build_model("mobilenet_v3_small", stages=2, nss=True).eval(), tmp_path / "encoder.onnx")
    int8 = quantize_int8(fp32, tmp_path / "encoder.int8.onnx", [photo_like(seed, (96, 80)) for seed in range(4)])
    for item in held_out[:3]:
        a, b = (bundle_features(open_graph(g), item).reshape(2, 24 + 25) for g in (fp32, int8))
        assert np.isfinite(b).all()
        np.testing.assert_allclose(b[:, 24:], a[:, 24:], atol=1e-5)
        assert np.abs(b[:, :24] - a[:, :24]).max() > 1e-5  # the convolutions are quantized


def test_fp16_keeps_float_io_and_agrees(fp32, fp16, held_out, head):
    model = onnx.load(str(fp16))
    types = Counter(t.data_type for t in model.graph.initializer)
    assert types[onnx.TensorProto.FLOAT16] > 0 and types[onnx.TensorProto.FLOAT] == 0
    assert _io(fp16) == _io(fp32)
    assert fp16.stat().st_size < 0.55 * fp32.stat().st_size
    fidelity = measure_fidelity(open_graph(fp32), open_graph(fp16), held_out, [head])
    assert fidelity.cosine_min > 0.9999
    assert fidelity.feature_max_abs_diff < 1e-3
    assert fidelity.spearman["q"] > 0.9


def test_fidelity_of_identical_graphs(fp32, held_out, head):
    session = open_graph(fp32)
    fidelity = measure_fidelity(session, session, held_out[:3], [head])
    assert fidelity.to_dict() == {
        "images": 3, "cosine_mean": pytest.approx(1.0), "cosine_min": pytest.approx(1.0),
        "feature_max_abs_diff": 0.0, "spearman_q": pytest.approx(1.0),
    }
    assert measure_fidelity(session, session, held_out[:2], [head]).spearman == {}  # too few images to rank
    with pytest.raises(ExportError, match="needs held-out images"):
        measure_fidelity(session, session, [], [head])


def test_variant_with_non_finite_features_is_refused(fp32, held_out, head, monkeypatch):
    from contrique_export import fidelity as fidelity_module

    real, calls = fidelity_module.bundle_features, []

    def features(session, item):  # the reference's features first, then the candidate's, made NaN
        calls.append(item)
        return real(session, item) * (np.nan if len(calls) > 3 else 1.0)

    monkeypatch.setattr(fidelity_module, "bundle_features", features)
    with pytest.raises(ExportError, match="non-finite features"):
        measure_fidelity(open_graph(fp32), open_graph(fp32), held_out[:3], [head])


def test_int8_needs_calibration(fp32, tmp_path):
    with pytest.raises(ExportError, match="needs calibration images; pass --calibration DIR"):
        quantize_int8(fp32, tmp_path / "x.onnx", [])


@pytest.mark.parametrize("scipy", [True, False], ids=["scipy", "numpy"])
def test_spearman_matches_definition(scipy: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not scipy:  # the export extra alone: no scipy
        monkeypatch.setitem(sys.modules, "scipy.stats", None)
    a = np.array([1.0, 2.0, 2.0, 5.0, 4.0])
    b = np.array([10.0, 30.0, 20.0, 50.0, 40.0])
    # Average ranks: a -> [0, 1.5, 1.5, 4, 3], b -> [0, 2, 1, 4, 3]; Pearson of the ranks.
    ra, rb = np.array([0, 1.5, 1.5, 4, 3]), np.array([0, 2, 1, 4, 3.0])
    assert spearman(a, b) == pytest.approx(np.corrcoef(ra, rb)[0, 1], abs=1e-12)
    assert spearman(a, -a) == pytest.approx(-1.0, abs=1e-12)
    assert spearman(np.ones(4), np.arange(4.0)) is None and spearman([1.0], [2.0]) is None
    x = np.random.default_rng(0).standard_normal(30)
    y = x + np.random.default_rng(1).standard_normal(30)
    assert spearman(x, y) == pytest.approx(0.6115684093437151, abs=1e-12)  # scipy.stats.spearmanr


def test_synthetic_inputs_are_deterministic():
    a, b = synthetic_inputs(CONTRACT), synthetic_inputs(CONTRACT)
    assert all(np.array_equal(x, y) for p, q in zip(a, b, strict=True) for x, y in zip(p.scales, q.scales, strict=True))
