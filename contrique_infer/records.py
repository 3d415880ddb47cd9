"""What every bundle record shares: the typed field reader its ``from_dict`` validates with, and
the JSON form its ``to_dict`` gives.

The manifest's records (:mod:`contrique_infer.manifest`) and the head files
(:mod:`contrique_infer.head`) read their fields with :class:`FieldReader`: a missing field, a wrong
type or a value out of range raises the caller's :class:`~contrique_infer.errors.BundleError`
subclass, naming the file and the field. (Reading the JSON text itself, within limits, is
:mod:`contrique_infer.jsonfile`'s job.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from .errors import BundleError


class FieldReader:
    """Reads typed fields from a JSON object, raising ``error_cls(path, ...)`` on any problem."""

    def __init__(self, data: Any, path: str, where: str, error_cls: type[BundleError]):
        self.path, self.where, self.error_cls = path, where, error_cls
        if not isinstance(data, Mapping):
            raise self.fail(f"must be a JSON object, got {type(data).__name__}")
        self.data = data

    def fail(self, reason: str) -> BundleError:
        prefix = f"{self.where}: " if self.where else ""
        return self.error_cls(self.path, prefix + reason)

    def section(self, key: str) -> FieldReader:
        """A required nested object."""
        return FieldReader(self._get(key, False), self.path, self._name(key), self.error_cls)

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str, optional: bool, default: Any = None) -> Any:
        if key not in self.data or self.data[key] is None:
            if optional:
                return default
            raise self.error_cls(self.path, f"missing required field '{self._name(key)}'")
        return self.data[key]

    def typed(self, key: str, types: type | tuple[type, ...], *, optional: bool = False, default: Any = None) -> Any:
        value = self._get(key, optional, default)
        if value is default and optional:
            return value
        # bool is an int subclass: never accept it where a number is wanted, and vice versa.
        wants_bool = types is bool or (isinstance(types, tuple) and bool in types)
        if isinstance(value, bool) != wants_bool or not isinstance(value, types):
            expected = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
            raise self.error_cls(
                self.path, f"field '{self._name(key)}' must be {expected}, got {type(value).__name__}"
            )
        return value

    def string(self, key: str, *, optional: bool = False, default: str | None = None) -> Any:
        return self.typed(key, str, optional=optional, default=default)

    def integer(self, key: str, *, optional: bool = False, default: int | None = None, minimum: int = 0) -> Any:
        value = self.typed(key, int, optional=optional, default=default)
        if value is not None and value < minimum:
            raise self.error_cls(self.path, f"field '{self._name(key)}' must be >= {minimum}, got {value}")
        return value

    def number(self, key: str, *, optional: bool = False, default: float | None = None) -> Any:
        value = self.typed(key, (int, float), optional=optional, default=default)
        if value is not None:
            value = to_float(value)
            if not math.isfinite(value):
                raise self.error_cls(self.path, f"field '{self._name(key)}' must be finite, got {value}")
        return value

    def boolean(self, key: str, *, optional: bool = False, default: bool | None = None) -> Any:
        return self.typed(key, bool, optional=optional, default=default)

    def choice(self, key: str, choices: Sequence[str], *, optional: bool = False, default: str | None = None) -> Any:
        value = self.string(key, optional=optional, default=default)
        if value is not None and value not in choices:
            raise self.error_cls(
                self.path, f"field '{self._name(key)}' must be one of {', '.join(choices)}; got {value!r}"
            )
        return value

    def strings(self, key: str, *, optional: bool = False) -> tuple[str, ...]:
        value = self.typed(key, list, optional=optional, default=[])
        if not all(isinstance(v, str) for v in value):
            raise self.error_cls(self.path, f"field '{self._name(key)}' must be a list of strings")
        return tuple(value)

    def objects(self, key: str, *, optional: bool = False) -> list[FieldReader]:
        value = self.typed(key, list, optional=optional, default=[])
        return [FieldReader(v, self.path, f"{self._name(key)}[{i}]", self.error_cls) for i, v in enumerate(value)]

    def mapping(self, key: str, *, optional: bool = False) -> dict[str, Any]:
        return dict(self.typed(key, dict, optional=optional, default={}))


def to_float(value: int | float) -> float:
    """``float(value)``, except that an integer too large for a float (JSON allows any number of
    digits) becomes an infinity, which the finiteness checks then refuse, instead of raising
    ``OverflowError``."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


class JsonRecord:
    """``to_dict`` for dataclasses whose JSON form is their fields, in order."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready data (tuples as lists, as ``json.loads`` gives them back)."""
        return json_ready(asdict(self))  # type: ignore[call-overload]


def json_ready(value: Any) -> Any:
    """``value`` with every tuple turned into a list, as ``json.loads`` gives them back."""
    if isinstance(value, (tuple, list)):
        return [json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    return value

