"""Checks of the public API's arguments: counts (threads, workers, batch sizes, pixel limits),
switches and callbacks.

One rule for every function that takes a count: a positive integer, Python's or NumPy's
(``numbers.Integral``), never a bool (``True`` is not one thread); the value comes back as a Python
``int``, so that it serialises to JSON and pickles alike wherever it was given. A switch is a bool
(a NumPy bool is taken as one; ``1`` or ``"no"`` are refused, not taken as true or false). A callback
(``thumbnail``, ``progress``) is callable or None, checked when it is passed, not when it is first
called, deep in a batch.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, Literal, TypeVar, overload

import numpy as np


@overload
def positive_count(value: object, name: str, *, optional: Literal[False] = ...) -> int: ...
@overload
def positive_count(value: object, name: str, *, optional: bool) -> int | None: ...
def positive_count(value: object, name: str, *, optional: bool = False) -> int | None:
    """``value`` as an ``int`` if it is a positive integer (or None when ``optional``).

    Args:
        value: The argument as given.
        name: Its name, for the message.
        optional: Whether None is allowed (and returned as None).

    Returns:
        ``int(value)``, or None for None when ``optional``.

    Raises:
        ValueError: ``value`` is a bool, not an integer, or below 1 (or None, unless ``optional``).
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        wanted = "a positive integer or None" if optional else "a positive integer"
        raise ValueError(f"{name} must be {wanted}; got {value!r}")
    return int(value)


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
