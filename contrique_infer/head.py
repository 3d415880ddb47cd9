"""A bundle's linear heads: ``score = feature @ coef + intercept``, and their JSON file format.

A no-reference (``nr``) head maps an image's feature to a score, a full-reference (``fr``) head
maps ``abs(feature(reference) - feature(distorted))``; the file format is in ``docs/bundle.md``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import HeadError
from .manifest import HeadInfo
from .records import FieldReader, to_float

HEAD_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class Head:
    """A linear head: ``score = feature @ coef + intercept`` (FR heads take the abs difference)."""

    info: HeadInfo
    coef: np.ndarray
    intercept: float
    alpha: float | None = None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def kind(self) -> str:
        return self.info.kind

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Scores for features of shape ``(dim,)`` or ``(n, dim)``, computed in float64 (silently NaN or
        infinite where the numbers overflow: the scorer turns such a score into an error)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return np.asarray(features, dtype=np.float64) @ self.coef.astype(np.float64) + self.intercept

    @classmethod
    def from_dict(cls, data: Any, path: str | os.PathLike[str], file: str) -> Head:
        """Parse a head file.

        Args:
            data: The parsed JSON object.
            path: The file's path, for error messages.
            file: The file's path relative to the bundle (recorded in ``info.file``).

        Raises:
            HeadError: A field is missing or malformed, or the coefficients are not finite numbers.
        """
        path = os.fspath(path)
        r = FieldReader(data, path, "", HeadError)
        version = r.integer("format_version")
        if version != HEAD_FORMAT_VERSION:
            raise HeadError(path, f"head format_version {version} is not supported (expected {HEAD_FORMAT_VERSION})")
        info = HeadInfo.from_dict(FieldReader({**r.data, "file": file}, path, "", HeadError))
        raw = r.typed("coef", list)
        if not raw or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
            raise HeadError(path, "field 'coef' must be a non-empty list of numbers")
        coef = np.asarray([to_float(v) for v in raw], dtype=np.float64)
        if not np.all(np.isfinite(coef)):
            raise HeadError(path, "field 'coef' holds non-finite values")
        return cls(info=info, coef=coef, intercept=r.number("intercept"), alpha=r.number("alpha", optional=True))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format_version": HEAD_FORMAT_VERSION}
        out.update({k: v for k, v in self.info.to_dict().items() if k != "file"})
        out["intercept"] = float(self.intercept)
        if self.alpha is not None:
            out["alpha"] = float(self.alpha)
        out["coef"] = [float(v) for v in self.coef]
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the head as JSON (coefficients at full float64 precision) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()) + "\n", encoding="utf-8")
        return path
