"""contrique-infer: CONTRIQUE image quality assessment with onnxruntime, without torch.

``import contrique_infer`` is light: NumPy, Pillow and onnxruntime are imported when
:class:`QualityScorer` (or another public name) is first used, and ``__version__`` (which needs
``importlib.metadata``, about 90 ms) when it is first read.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from . import errors
from .errors import ContriqueError

if TYPE_CHECKING:
    from .bundle import load_bundle
    from .results import FeatureResult, ScoreResult
    from .scorer import QualityScorer

_LAZY = {
    "QualityScorer": "scorer",
    "ScoreResult": "results",
    "FeatureResult": "results",
    "load_bundle": "bundle",
}

__all__ = ["ContriqueError", "FeatureResult", "QualityScorer", "ScoreResult", "__version__", "errors", "load_bundle"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value = _version()
    elif name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("contrique-infer")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0.0.0+unknown"


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})
