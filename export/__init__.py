"""contrique_export: turn CONTRIQUE checkpoints into ONNX model bundles (needs the export extra).

``from contrique_export import export_bundle`` (checkpoint -> bundle) and ``derive_variants``
(a bundle's int8/fp16 rebuilt from its fp32 graph, torch-free) are the Python API, imported
lazily so that modules such as :mod:`contrique_export.heads` and
:mod:`contrique_export.model_config` stay usable without importing torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["derive_variants", "export_bundle"]


def __getattr__(name: str) -> Any:
    if name == "export_bundle":
        from .exporter import export_bundle

        return export_bundle
    if name == "derive_variants":
        from .variants import derive_variants

        return derive_variants
    raise AttributeError(f"module 'contrique_export' has no attribute {name!r}")
