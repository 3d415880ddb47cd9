"""torch -> ONNX: the encoder's pooled, L2-normalised feature as one self-contained graph.

The graph takes ``image`` float32 [N, 3, H, W] (N, H, W dynamic) and returns ``feature`` float32
[N, C]. It is exported with the dynamo-based exporter (torch.export), the default of torch 2.14,
with the weights embedded in the ``.onnx`` file (no external data).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import onnx
import torch

from contrique_infer.manifest import InputContract

from .errors import ExportError
from .model import ContriqueNet
from .model_config import check_opset

INPUT_NAME = InputContract.input_name
"""The graph's input name: the bundle format's default (the manifest's ``input.input_name``)."""
OUTPUT_NAME = InputContract.output_name
_TRACE_SIZE = (2, 3, 96, 128)  # batch 2, non-square: nothing may be specialised to 1 or H == W


def export_onnx(
    model: ContriqueNet, path: str | os.PathLike[str], *, opset: int | None = None, min_size: int = 32
) -> Path:
    """Export ``model.forward`` to a single ONNX file with dynamic batch, height and width.

    Args:
        model: The network (eval mode is set here).
        path: The ``.onnx`` file to write.
        opset: ONNX opset; None uses the exporter's default.
        min_size: The smallest height/width the graph must accept (half of it is also run).

    Returns:
        ``path``.

    Raises:
        ExportError: The exporter failed, the graph does not pass ``onnx.checker``, or the
            requested opset could not be produced.
        ModelConfigError: ``opset`` is outside the range the export produces (:func:`check_opset`).
    """
    if opset is not None:
        check_opset(opset)
    path = Path(path)
    model = model.eval()
    example = torch.rand(_TRACE_SIZE, generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1)
    height = torch.export.Dim("height", min=max(1, min_size // 2))
    width = torch.export.Dim("width", min=max(1, min_size // 2))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model,
                (example,),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes={"x": {0: batch, 2: height, 3: width}},
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
            program.save(str(path), external_data=False)
        _drop_source_locations(path)
    except Exception as exc:  # the exporter raises many types; report them as one
        raise ExportError(f"ONNX export of {model.config.arch} failed: {type(exc).__name__}: {exc}") from exc
    try:
        onnx.checker.check_model(str(path), full_check=False)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{path}: the exported graph is not valid ONNX: {exc}") from exc
    if opset is not None and graph_opset(path) != opset:  # the exporter falls back silently
        raise ExportError(
            f"ONNX opset {opset} is not supported for {model.config.arch} (the exporter produced opset "
            f"{graph_opset(path)}); omit --opset"
        )
    return path


def _drop_source_locations(path: Path) -> None:
    """Remove the exporter's per-node stack traces: they name files of the machine that exported
    (absolute paths of the checkout and the site-packages), which a shipped model must not carry."""
    model = onnx.load(str(path), load_external_data=False)
    for node in model.graph.node:
        kept = [p for p in node.metadata_props if not p.key.endswith("stack_trace")]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)
    onnx.save(model, str(path))


def graph_opset(path: str | os.PathLike[str]) -> int:
    """The default-domain opset of an ONNX file."""
    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
