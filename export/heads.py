"""Linear heads for export: the official pickled scikit-learn ``Ridge`` files, and our head JSON.

The official ``*.save`` files are pickles. They are read with a restricted unpickler that knows
exactly the globals those files reference (the ``Ridge`` class, numpy's array reconstruction,
``dtype`` and ``scalar``) and maps each to a harmless stand-in that only collects data; any
other global, and any persistent id, is refused before anything is called. scikit-learn is not
needed, and nothing in the file is executed.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from contrique_infer.errors import HeadError
from contrique_infer.head import Head, head_name_problem
from contrique_infer.jsonfile import read_json
from contrique_infer.manifest import HeadInfo
from contrique_infer.regularfile import FileTooLargeError, read_regular

from .errors import ExportError, HeadFileError, OptionError, UnsafePickleError


@dataclass(frozen=True)
class OfficialHead:
    """Metadata of one official CONTRIQUE head (from the official release's dataset conventions)."""

    kind: str
    dataset: str
    score_scale: str
    higher_is_better: bool


OFFICIAL_HEADS: dict[str, OfficialHead] = {
    "Koniq": OfficialHead("nr", "KonIQ-10k", "MOS, about 0..100", True),
    "CLIVE": OfficialHead("nr", "LIVE In the Wild Challenge (CLIVE)", "MOS, about 0..100", True),
    "LIVE": OfficialHead("nr", "LIVE IQA", "DMOS, about 0..100", False),
    "CSIQ": OfficialHead("nr", "CSIQ", "DMOS, about 0..1", False),
    "LIVE_FR": OfficialHead("fr", "LIVE IQA", "DMOS", False),
    "CSIQ_FR": OfficialHead("fr", "CSIQ", "DMOS", False),
}

MAX_PICKLE_BYTES = 16 * 1024 * 1024
"""The largest pickled head read (the official Ridge heads, 4096 features each, are 17 kB)."""
_SAFE_DTYPE = re.compile(r"^[<>|=]?[fiub][1248]$")


@dataclass(frozen=True)
class RidgeState:
    """The parts of a pickled scikit-learn ``Ridge`` that a linear head needs."""

    coef: np.ndarray
    intercept: float
    alpha: float | None


# --- restricted unpickling ------------------------------------------------------------------------


class _RidgeStub:
    """Stands in for ``sklearn.linear_model._ridge.Ridge``: keeps the pickled state dict, nothing else."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("Ridge state is not a dict")
        self.state = state


class _DTypeStub:
    """Stands in for ``numpy.dtype``: only plain numeric dtypes (no objects, no fields)."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = True) -> None:
        if not isinstance(spec, str) or not _SAFE_DTYPE.match(spec):
            raise pickle.UnpicklingError(f"dtype {spec!r} is not a plain numeric dtype")
        self.dtype = np.dtype(spec)

    def __setstate__(self, state: Any) -> None:
        # (version, byteorder, subarray, names, fields, elsize, alignment, flags) of a plain dtype
        if not (isinstance(state, tuple) and len(state) >= 8 and state[2:5] == (None, None, None)):
            raise pickle.UnpicklingError("dtype state describes a structured or subarray dtype")
        order = state[1]
        if order not in ("<", ">", "|", "="):
            raise pickle.UnpicklingError(f"dtype byte order {order!r} is invalid")
        self.dtype = self.dtype.newbyteorder(order) if order in "<>" else self.dtype


class _ArrayStub:
    """Stands in for ``numpy.ndarray`` reconstruction: builds the array from raw bytes only."""

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError("ndarray state has an unexpected form")
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DTypeStub) or not isinstance(raw, bytes):
            raise pickle.UnpicklingError("ndarray state must hold a numeric dtype and raw bytes")
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
            raise pickle.UnpicklingError("ndarray shape is invalid")
        count = int(np.prod(shape)) if shape else 1
        if count * dtype.dtype.itemsize != len(raw):
            raise pickle.UnpicklingError("ndarray byte count does not match its shape")
        array = np.frombuffer(raw, dtype=dtype.dtype, count=count)
        self.array = array.reshape(shape, order="F" if fortran else "C").copy()


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> _ArrayStub:
    if cls is not _NDARRAY_MARKER:
        raise pickle.UnpicklingError("_reconstruct may only build numpy arrays")
    return _ArrayStub()


def _scalar(dtype: Any, raw: Any) -> float:
    if not isinstance(dtype, _DTypeStub) or not isinstance(raw, bytes) or len(raw) != dtype.dtype.itemsize:
        raise pickle.UnpicklingError("numpy scalar must be a numeric dtype and its raw bytes")
    return float(np.frombuffer(raw, dtype=dtype.dtype)[0])


class _Callable:
    """Wraps an allowed callable so that a pickle cannot alter it (no ``__dict__``, no state)."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn

    def __call__(self, *args: Any) -> Any:
        return self._fn(*args)

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError("refusing to set state on an allowed global")


_NDARRAY_MARKER = object()

# Exactly the globals the official Ridge pickles reference (numpy 1 and numpy 2 module paths).
# Classes are the stubs themselves (NEWOBJ needs a type; their __setstate__ needs an instance).
_ALLOWED: dict[tuple[str, str], Any] = {
    ("sklearn.linear_model._ridge", "Ridge"): _RidgeStub,
    ("sklearn.linear_model.ridge", "Ridge"): _RidgeStub,
    ("numpy.core.multiarray", "_reconstruct"): _Callable(_reconstruct),
    ("numpy._core.multiarray", "_reconstruct"): _Callable(_reconstruct),
    ("numpy.core.multiarray", "scalar"): _Callable(_scalar),
    ("numpy._core.multiarray", "scalar"): _Callable(_scalar),
    ("numpy", "ndarray"): _NDARRAY_MARKER,
    ("numpy", "dtype"): _Callable(_DTypeStub),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, source: str) -> None:
        super().__init__(io.BytesIO(data))
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                self.source,
                f"references {module}.{name}, which a Ridge head file does not contain; refusing to load it "
                "(only scikit-learn Ridge objects holding numpy arrays are accepted)",
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(self.source, "uses persistent ids, which a Ridge head file does not contain")


def read_sklearn_ridge(path: str | os.PathLike[str]) -> RidgeState:
    """Read a pickled scikit-learn ``Ridge`` without scikit-learn and without running its code.

    Args:
        path: The pickle file (e.g. the official ``Koniq.save``).

    Returns:
        Coefficients (float64, 1-d), intercept and alpha.

    Raises:
        UnsafePickleError: The pickle references anything but a Ridge object and numpy arrays.
        HeadFileError: The file is missing, not a pickle, or not a fitted single-target Ridge.
    """
    path = Path(path)
    try:
        data = read_regular(path, MAX_PICKLE_BYTES)  # a FIFO or device is refused, not waited on
    except FileTooLargeError as exc:
        raise HeadFileError(path, f"{exc}; a pickled Ridge head of 4096 features is about 17 kB") from None
    except OSError as exc:
        raise HeadFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    unpickler = _RestrictedUnpickler(data, str(path))
    try:
        obj = unpickler.load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # any malformed pickle: report it as a bad head file
        raise HeadFileError(path, f"is not a readable pickled Ridge head ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, _RidgeStub) or not hasattr(obj, "state"):
        raise HeadFileError(path, f"holds a {type(obj).__name__}, not a scikit-learn Ridge object")
    return _ridge_state(path, obj.state)


def _ridge_state(path: Path, state: dict[str, Any]) -> RidgeState:
    coef = state.get("coef_")
    if not isinstance(coef, _ArrayStub):
        raise HeadFileError(path, "the Ridge object has no coef_ array: was it fitted?")
    values = coef.array
    if values.ndim == 2 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 1:
        raise HeadFileError(path, f"coef_ has shape {coef.array.shape}; only single-target Ridge heads are supported")
    intercept = state.get("intercept_", 0.0)
    if isinstance(intercept, _ArrayStub):
        if intercept.array.size != 1:
            raise HeadFileError(path, "intercept_ has more than one value; only single-target heads are supported")
        intercept = float(intercept.array.reshape(-1)[0])
    if isinstance(intercept, bool) or not isinstance(intercept, (int, float)):
        raise HeadFileError(path, f"intercept_ is a {type(intercept).__name__}, not a number")
    alpha = state.get("alpha")
    alpha = float(alpha) if isinstance(alpha, (int, float)) and not isinstance(alpha, bool) else None
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)) or not np.isfinite(intercept):
        raise HeadFileError(path, "coefficients or intercept are not finite")
    return RidgeState(coef=values, intercept=float(intercept), alpha=alpha)


# --- heads for a bundle -----------------------------------------------------------------------------


def official_head_info(name: str) -> tuple[str, OfficialHead] | None:
    """The canonical name and metadata of an official head (case-insensitive), or None."""
    for official, meta in OFFICIAL_HEADS.items():
        if official.lower() == name.lower():
            return official, meta
    return None


def check_head_name(name: str) -> str:
    """Return ``name`` if it can name a head (:func:`contrique_infer.head.head_name_problem`).

    Raises:
        OptionError: It cannot (a slash, a line break, a space, ...; or too long).
    """
    problem = head_name_problem(name)
    if problem is not None:
        raise OptionError(f"head name {name!r} is not usable: {problem}; choose another name")
    return name


def read_head(name: str, path: str | os.PathLike[str], *, feature_dim: int) -> Head:
    """Read a head for a bundle from a pickled Ridge (official heads) or our head JSON.

    Args:
        name: The head's name in the bundle. A pickled Ridge must be one of the official heads
            (Koniq, CLIVE, LIVE, CSIQ, LIVE_FR, CSIQ_FR; any case), whose metadata is known.
        path: ``*.json`` (our head format) or a pickle (``*.save``, ``*.pkl``, ...).
        feature_dim: The bundle's feature length; the head must have as many coefficients.

    Returns:
        The head, with ``info.file`` = ``heads/<name>.json``.

    Raises:
        OptionError: ``name`` cannot name a head (:func:`check_head_name`).
        HeadFileError: The file is unreadable, malformed, unsafe, of the wrong length, has a negative
            ``alpha``, or is a pickled head whose name is not an official head.
    """
    check_head_name(name)
    path = Path(path)
    file = f"heads/{name}.json"
    if path.suffix.lower() == ".json":
        head = _read_json_head(path, name, file)
    else:
        found = official_head_info(name)
        if found is None:
            raise HeadFileError(
                path,
                f"head name {name!r} is not an official head ({', '.join(OFFICIAL_HEADS)}), so its dataset, scale and "
                "direction are unknown; name it after the official head or convert it to a head JSON file",
            )
        canonical, meta = found
        ridge = read_sklearn_ridge(path)
        file = f"heads/{canonical}.json"
        info = HeadInfo(
            name=canonical,
            file=file,
            kind=meta.kind,
            dataset=meta.dataset,
            score_scale=meta.score_scale,
            higher_is_better=meta.higher_is_better,
            description=f"official CONTRIQUE {'full-reference' if meta.kind == 'fr' else 'no-reference'} "
            f"Ridge head trained on {meta.dataset}",
        )
        head = Head(info=info, coef=ridge.coef, intercept=ridge.intercept, alpha=ridge.alpha)
    if head.coef.shape != (feature_dim,):
        raise HeadFileError(
            path, f"has {head.coef.shape[0]} coefficients but the model's feature has {feature_dim}: a head of "
            "another architecture, or fitted on features of another number of scales than --scales gives (the "
            "feature holds one block per scale)"
        )
    if head.alpha is not None and not head.alpha >= 0:
        raise HeadFileError(path, f"alpha (the ridge penalty) is {head.alpha:g}; a ridge penalty is 0 or more, so the "
                            "head was not fitted by a ridge: fit it again, or remove alpha if it is not known")
    return head


def _read_json_head(path: Path, name: str, file: str) -> Head:
    data = read_json(path, HeadFileError)
    try:
        head = Head.from_dict(data, path, file)
    except HeadError as exc:
        raise HeadFileError(path, exc.reason) from exc
    return replace(head, info=replace(head.info, name=name, file=file))  # the ranges come along


def check_scores(heads: Sequence[Head], features: np.ndarray) -> None:
    """Refuse a head that cannot score: its score of one of ``features`` (the parity images') is not finite.

    A full-reference head scores the absolute differences of the features from the first one.

    Args:
        heads: The bundle's heads.
        features: The bundle's features of the parity images, shape ``(n, dim)`` (``n >= 2``), finite.

    Raises:
        ExportError: A head's score of a parity image is NaN or infinite (its coefficients overflow).
    """
    for head in heads:
        scores = head(np.abs(features[1:] - features[0]) if head.kind == "fr" else features)
        if not np.isfinite(scores).all():
            raise ExportError(
                f"head {head.name!r} scores {int(np.count_nonzero(~np.isfinite(scores)))} of {len(scores)} parity images NaN or "
                "infinite (its coefficients or intercept are too large for float64), so it could never score an "
                "image; fit the head again, or leave it out"
            )
