"""contrique-infer: CONTRIQUE image quality assessment with onnxruntime, without torch."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .errors import ContriqueError

try:
    __version__ = version("contrique-infer")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["ContriqueError", "__version__"]
