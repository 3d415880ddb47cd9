"""A tiny, real CONTRIQUE-format bundle for runtime tests, built with onnx.helper (no torch).

The encoder is Conv(3->8, kernel 2x3, stride 2) + ReLU + global average pool + L2 normalisation:
small enough for fast tests, asymmetric so that a transposed or mis-ordered input changes the
result, and with a NumPy reference (:func:`reference_feature`) to check values against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from contrique_infer.bundle import (
    FeatureSpec,
    Head,
    HeadInfo,
    InputContract,
    Manifest,
    Provenance,
    VariantInfo,
    file_table,
)

CHANNELS = 8
KERNEL = (2, 3)
STRIDE = 2
MIN_SIZE = 8

_rng = np.random.default_rng(1234)
WEIGHT = _rng.standard_normal((CHANNELS, 3, *KERNEL)).astype(np.float32)
BIAS = (0.5 + _rng.random(CHANNELS)).astype(np.float32)  # positive: the ReLU output is never all zero


def encoder_model(*, log_brightness: bool = False):
    """The tiny encoder as an ``onnx.ModelProto`` (input ``image`` [N,3,H,W], output ``feature`` [N,8]).

    With ``log_brightness``, ``log(mean of the image)`` is added to every value of the feature: like
    the unfloored logarithms of a natural-scene-statistics graph, it is infinite for a black image,
    and onnxruntime's ``Log`` on the per-image values rounds differently alone and in a batch.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    normalised = "normalised" if log_brightness else "feature"
    nodes = [
        helper.make_node("Conv", ["image", "W", "B"], ["conv"], kernel_shape=list(KERNEL), strides=[STRIDE, STRIDE]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("LpNormalization", ["flat"], [normalised], axis=1, p=2),
    ]
    initializers = [numpy_helper.from_array(WEIGHT, "W"), numpy_helper.from_array(BIAS, "B")]
    if log_brightness:
        nodes += [
            helper.make_node("ReduceMean", ["image"], ["brightness"], axes=[1, 2, 3], keepdims=0),
            helper.make_node("Unsqueeze", ["brightness", "last"], ["column"]),
            helper.make_node("Log", ["column"], ["log"]),
            helper.make_node("Add", [normalised, "log"], ["feature"]),
        ]
        initializers.append(numpy_helper.from_array(np.array([1], np.int64), "last"))
    graph = helper.make_graph(
        nodes,
        "tiny_contrique",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("feature", TensorProto.FLOAT, ["batch", CHANNELS])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def reference_feature(chw: np.ndarray) -> np.ndarray:
    """The tiny encoder's output for one float32 CHW image, computed in NumPy (float64)."""
    x = chw.astype(np.float64)
    kh, kw = KERNEL
    ho = (x.shape[1] - kh) // STRIDE + 1
    wo = (x.shape[2] - kw) // STRIDE + 1
    out = np.zeros((CHANNELS, ho, wo))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i : i + STRIDE * ho : STRIDE, j : j + STRIDE * wo : STRIDE]
            out += np.einsum("oc,chw->ohw", WEIGHT[:, :, i, j].astype(np.float64), patch)
    out += BIAS[:, None, None]
    pooled = np.maximum(out, 0).mean(axis=(1, 2))
    return pooled / np.linalg.norm(pooled)


def head_infos() -> tuple[HeadInfo, HeadInfo]:
    """The two heads of the tiny bundle: ``quality`` (nr, default) and ``fr_quality`` (fr)."""
    return (
        HeadInfo("quality", "heads/quality.json", "nr", "synthetic", "MOS, about 0..100", True, "test head"),
        HeadInfo("fr_quality", "heads/fr_quality.json", "fr", "synthetic", "DMOS, about 0..1", False, "test FR head"),
    )


def make_heads() -> list[Head]:
    """Deterministic heads for the tiny bundle (dimension 2 x CHANNELS)."""
    rng = np.random.default_rng(99)
    return [
        Head(info, rng.standard_normal(2 * CHANNELS), float(rng.standard_normal() * 10 + 50), alpha=0.1)
        for info in head_infos()
    ]


def write_tiny_bundle(folder: Path, *, name: str = "tiny-test-bundle", log_brightness: bool = False) -> Path:
    """Write a complete, valid bundle (fp32 only) into ``folder`` and return it (``log_brightness``:
    see :func:`encoder_model`)."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(encoder_model(log_brightness=log_brightness), folder / "encoder.onnx")
    heads = make_heads()
    for head in heads:
        head.save(folder / head.info.file)
    manifest = Manifest(
        name=name,
        architecture="tiny-conv",
        input=InputContract(min_size=MIN_SIZE),
        feature=FeatureSpec(dim=2 * CHANNELS, per_scale_dim=CHANNELS),
        variants={"fp32": VariantInfo("fp32", "encoder.onnx")},
        heads=tuple(h.info for h in heads),
        default_head="quality",
        files=file_table(folder, ["encoder.onnx"] + [h.info.file for h in heads]),
        provenance=Provenance(
            source_checkpoint="none (built by tests/tiny_bundle.py)",
            source_checkpoint_sha256="0" * 64,
            training_data="none",
            license="MIT",
            created_by="tests",
        ),
    )
    manifest.save(folder)
    return folder


def write_photos(folder: Path, count: int, seed: int) -> Path:
    """``count`` smooth random RGB PNGs (80..80+6*(count-1) x 66 px) in ``folder``, made if missing."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        small = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
        Image.fromarray(small, "RGB").resize((80 + 6 * i, 66), Image.BICUBIC).save(folder / f"p{i}.png")
    return folder
