"""Checks of the public API's arguments: counts (threads, workers, batch sizes, pixel limits),
amounts (a Ray worker's CPUs), switches and callbacks.

One rule for every function that takes a count: a positive integer, Python's or NumPy's
(``numbers.Integral``), never a bool (``True`` is not one thread), at most a maximum where one
is set (onnxruntime's ``threads``); the value comes back as a Python
``int``, so that it serialises to JSON and pickles alike wherever it was given. A switch is a bool
(a NumPy bool is taken as one; ``1`` or ``"no"`` are refused, not taken as true or false). A callback
(``thumbnail``, ``progress``) is callable or None, checked when it is passed, not when it is first
called, deep in a batch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, Literal, TypeVar, overload

import numpy as np


@overload
def positive_count(value: object, name: str, *, optional: Literal[False] = ..., maximum: int | None = ...) -> int: ...
@overload
def positive_count(value: object, name: str, *, optional: bool, maximum: int | None = ...) -> int | None: ...
def positive_count(value: object, name: str, *, optional: bool = False, maximum: int | None = None) -> int | None:
    """``value`` as an ``int`` if it is a positive integer (or None when ``optional``).

    Args:
        value: The argument as given.
        name: Its name, for the message.
        optional: Whether None is allowed (and returned as None).
        maximum: The largest value allowed (None: no limit).

    Returns:
        ``int(value)``, or None for None when ``optional``.

    Raises:
        ValueError: ``value`` is a bool, not an integer, below 1 or above ``maximum`` (or None, unless
            ``optional``).
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= (maximum or value):
        wanted = "a positive integer" if maximum is None else f"an integer from 1 to {maximum:,}"
        raise ValueError(f"{name} must be {wanted}{' or None' if optional else ''}; got {_shown(value)}")
    return int(value)


def positive_number(value: object, name: str) -> float | None:
    """``value`` as a ``float`` if it is a positive finite number (Python's or NumPy's, never a bool), or None.

    Raises:
        ValueError: ``value`` is a bool, not a real number, NaN, infinite, or not above 0.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < float(value) < math.inf:
        raise ValueError(f"{name} must be a positive number or None; got {_shown(value)}")
    return float(value)


def _shown(value: object) -> str:
    """``repr(value)``, or for an integer too long to print (Python refuses to turn one of more than
    4300 digits into text) its size."""
    if isinstance(value, numbers.Integral) and abs(int(value)).bit_length() > 1000:
        return f"an integer of about {int(abs(int(value)).bit_length() * 0.30103)} digits"
    return repr(value)


def switch(value: object, name: str) -> bool:
    """``value`` as a ``bool`` if it is one (Python's or NumPy's).

    Raises:
        TypeError: ``value`` is anything else (``1``, ``"no"``, None), which would be taken as true or false
            by its truth, silently.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__})")
    return bool(value)


_F = TypeVar("_F", bound=Callable[..., Any])


def optional_callable(value: _F | None, name: str) -> _F | None:
    """``value`` if it is callable or None.

    Raises:
        TypeError: ``value`` cannot be called (it would fail only when first called, for each image).
    """
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be a function (or None); got {value!r} ({type(value).__name__}), "
                        "which cannot be called")
    return value
