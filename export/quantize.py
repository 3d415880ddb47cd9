"""Reduced-precision variants of the fp32 graph: int8 (static QDQ) and fp16.

int8: onnxruntime's static quantization in QDQ format, per-channel int8 weights and uint8
activations, with activation ranges calibrated (min/max) on real images at every scale the
runtime uses. Weights use 7 bits (``reduce_range``): on x86 CPUs without VNNI (AVX2, AVX-512
without VNNI) onnxruntime multiplies uint8 by int8 with ``VPMADDUBSW``, whose 16-bit sums
saturate with full-range weights; on the default model this halved the int8 feature error (minimum
cosine with fp32 on 24 training photos 0.99952 -> 0.99999, largest `quality` score difference
10.2 -> 2.5 points) and ran no slower. Only convolutions, additions, ReLU and max-pooling are
quantized: the pooling and L2 normalisation at the end stay float32, and so does the
natural-scene-statistics branch (:mod:`contrique_export.nss`), whose small differences of
luminance 8 bits cannot hold: its nodes read the float input image, not its quantized copy.
fp16: weights and activations in float16 with float32
input and output (casts inside the graph), meant for GPU providers. (Keeping the natural-scene
statistics in float32 there with the converter's ``node_block_list`` produced NaN features, so
fp16 converts them too; its recorded fidelity says how much that costs.)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from onnxruntime.transformers.float16 import convert_float_to_float16

from contrique_infer.manifest import InputContract
from contrique_infer.preprocessing import PreparedImage

from .errors import ExportError

INT8_OP_TYPES = ("Conv", "Add", "Relu", "MaxPool")
QUANTIZED_MODULE = "ContriqueNet/encoder:"
"""The convolutional trunk, the only module int8 quantizes (found by the exporter's ``namespace``
metadata on each node of the exported fp32 graph). Every other node stays float32, including the
natural-scene statistics and any node the quantizer's pre-processing made: a node is quantized only
when the fp32 graph names it as the trunk's. (The pre-processing drops every node's metadata on
MobileNetV3's graph, so excluding the statistics by their metadata there excluded nothing, and the
int8 statistics went to -inf.)"""


class _Calibration(CalibrationDataReader):
    """Feeds every scale of every calibration image, batch 1."""

    def __init__(self, inputs: Sequence[PreparedImage]) -> None:
        self._arrays: Iterator[np.ndarray] = (a for item in inputs for a in item.scales)

    def get_next(self) -> dict[str, np.ndarray] | None:
        array = next(self._arrays, None)
        return None if array is None else {InputContract.input_name: array[None]}


def quantize_int8(fp32: str | os.PathLike[str], out: str | os.PathLike[str], calibration: Sequence[PreparedImage]) -> Path:
    """Write a static int8 QDQ version of the fp32 graph.

    Args:
        fp32: The fp32 graph.
        out: The file to write.
        calibration: Images whose activations set the quantization ranges (at least one).

    Returns:
        ``out``.

    Raises:
        ExportError: No calibration images, or onnxruntime's quantizer failed.
    """
    if not calibration:
        raise ExportError("int8 quantization needs calibration images; pass --calibration DIR")
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="contrique-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:
            # Symbolic shape inference cannot follow the normalisation's Expand: use ONNX's.
            quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
            float_only = float_only_nodes(prepared, fp32)
            quantize_static(
                str(prepared),
                str(out),
                _Calibration(calibration),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=True,
                calibrate_method=CalibrationMethod.MinMax,
                op_types_to_quantize=list(INT8_OP_TYPES),
                nodes_to_exclude=float_only,
            )
            _unquantized_inputs(out, float_only)
        except Exception as exc:  # onnxruntime's quantizer raises many types
            raise ExportError(f"int8 quantization of {fp32} failed: {type(exc).__name__}: {exc}") from exc
    return out


def float_only_nodes(path: str | os.PathLike[str], fp32: str | os.PathLike[str]) -> list[str]:
    """Names of the nodes of graph ``path`` that stay float32: all but those the exported ``fp32``
    graph places in :data:`QUANTIZED_MODULE` (``path`` is ``fp32`` after pre-processing)."""
    exported = onnx.load(str(fp32), load_external_data=False)
    trunk = {
        node.name for node in exported.graph.node
        if any(p.key == "namespace" and QUANTIZED_MODULE in p.value for p in node.metadata_props)
    }
    model = onnx.load(str(path), load_external_data=False)
    return [node.name for node in model.graph.node if node.name not in trunk]


def _unquantized_inputs(path: Path, nodes: Sequence[str]) -> None:
    """Let ``nodes`` read the graph's float input where the quantizer gave them its quantized copy.

    The quantizer quantizes the input image once for all its consumers, the float-only nodes
    included. (Only graph inputs are restored: inside the graph the tensor before a quantization
    may lack a ReLU the quantizer folded into it.)
    """
    model = onnx.load(str(path))
    producers = {output: node for node in model.graph.node for output in node.output}
    graph_inputs = {value.name for value in model.graph.input}
    names = set(nodes)
    for node in model.graph.node:
        if node.name not in names:
            continue
        for i, tensor in enumerate(node.input):
            dequantize = producers.get(tensor)
            if dequantize is None or dequantize.op_type != "DequantizeLinear":
                continue
            quantize = producers.get(dequantize.input[0])
            if quantize is not None and quantize.op_type == "QuantizeLinear" and quantize.input[0] in graph_inputs:
                node.input[i] = quantize.input[0]
    onnx.save(model, str(path))


def convert_fp16(fp32: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write a float16 version of the fp32 graph that keeps float32 input and output.

    Raises:
        ExportError: The conversion failed.
    """
    out = Path(out)
    try:
        model = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
        onnx.save(model, str(out))
    except Exception as exc:  # the converter raises many types
        raise ExportError(f"fp16 conversion of {fp32} failed: {type(exc).__name__}: {exc}") from exc
    return out
