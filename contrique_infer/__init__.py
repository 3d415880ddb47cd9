"""contrique-infer: CONTRIQUE image quality assessment with onnxruntime, without torch.

``import contrique_infer`` is light: NumPy, Pillow and onnxruntime are imported when
:class:`QualityScorer` (or another public name) is first used.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from . import errors
from .errors import ContriqueError

if TYPE_CHECKING:
    from .bundle import load_bundle
    from .results import FeatureResult, ScoreResult
    from .scorer import QualityScorer

try:
    __version__ = version("contrique-infer")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_LAZY = {
    "QualityScorer": "scorer",
    "ScoreResult": "results",
    "FeatureResult": "results",
    "load_bundle": "bundle",
}

__all__ = ["ContriqueError", "FeatureResult", "QualityScorer", "ScoreResult", "__version__", "errors", "load_bundle"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
