"""A bundle's linear heads: ``score = feature @ coef + intercept``, and their JSON file format.

A no-reference (``nr``) head maps an image's feature to a score, a full-reference (``fr``) head
maps ``abs(feature(reference) - feature(distorted))``; the file format is in ``docs/bundle.md``.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .atomicfile import replace_file
from .errors import HeadError
from .manifest import HeadInfo
from .records import FieldReader, to_float

HEAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""What a new head's name may be (``contrique-export --head``, ``contrique-eval --head-name``): it names
the file ``heads/<name>.json``, so letters, digits, ``_``, ``.`` and ``-``, beginning with a letter or digit."""
MAX_HEAD_NAME = 100
"""The longest new head name: ``heads/<name>.json`` must fit a file system's 255-byte file names."""


def head_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a new head (:data:`HEAD_NAME`, :data:`MAX_HEAD_NAME`), or None if it can."""
    if HEAD_NAME.match(name) and len(name) <= MAX_HEAD_NAME:
        return None
    return (f"it names the file heads/<name>.json, so it must be 1 to {MAX_HEAD_NAME} letters, digits, '_', '.' or "
            "'-' (beginning with a letter or digit)")


HEAD_FORMAT_VERSIONS = (1, 2, 3, 4, 5)
"""Head file formats this runtime reads (2 added the optional ``feature_min``/``feature_max``/``score_min``/
``score_max``, 3 the optional ``feature_clip``, 4 the optional ``fade_from``/``fade_power``, 5 the optional
``floor_index``/``floor_value``/``floor_rate``/``floor_name``); a head is written at the oldest one that holds it."""
FLOOR_FIELDS = ("floor_index", "floor_value", "floor_rate", "floor_name")
"""The fields of a head's :class:`Floor` in its file (format 5)."""
FEATURE_CLIPS = ("box", "ray")
"""How a head brings a feature outside its ``feature_range`` into it (:attr:`Head.feature_clip`)."""


@dataclass(frozen=True)
class Floor:
    """A fade below the lowest value one feature value had on the photos a head was fitted on (format 5).

    Below ``value``, feature value ``index`` (read before any clipping) makes the score keep the share
    ``exp(rate * (x - value))`` of its way from the worst end of the head's score range; the share
    multiplies the range fade's (:attr:`Head.fade`). The default model's floor is on its global
    contrast (the log standard deviation of the luminance at full scale): the normalised statistics
    read the same texture at any contrast, so a photo whose contrast is cut to 2 % scored almost as
    one at 30 %.

    Attributes:
        index: Which value of the feature (0-based).
        value: The floor: the lowest value of the photos it was measured on.
        rate: How fast the share falls below it, per unit of the value (above 0); for a logarithm,
            ``exp(rate * (log a - log b)) = (a / b) ** rate``.
        name: What the value is, for the note on a faded score.
    """

    index: int
    value: float
    rate: float
    name: str

    def problem(self, dim: int) -> str | None:
        """Why this cannot be the floor of a head of ``dim`` coefficients, or None if it can."""
        if not 0 <= self.index < dim:
            return f"the floor's index must be a value of the feature, 0 to {dim - 1}; got {self.index}"
        if not math.isfinite(self.value):
            return f"the floor's value must be a finite number; got {self.value:g}"
        rate = floor_rate_problem(self.rate)
        if rate is not None:
            return rate
        if not self.name.strip():
            return "the floor needs a name, what its value is (it names it in notes)"
        return None

    def share(self, features: np.ndarray) -> np.ndarray:
        """The share of its way from the worst end a score keeps: 1 at or above the floor, NaN for NaN.

        Args:
            features: Shape ``(dim,)`` or ``(n, dim)``, float64, before any clipping.
        """
        below = np.minimum(0.0, features[..., self.index] - self.value)
        with np.errstate(under="ignore"):
            return np.exp(self.rate * below)


@dataclass(frozen=True, eq=False)
class Head:
    """A linear head: ``score = feature @ coef + intercept`` (FR heads take the abs difference).

    A head may record the range it was fitted on (format 2): ``feature_range`` (per-value minimum
    and maximum of the features it was fitted on) clips a feature into that range before the
    product, so that a feature far outside it (a flat frame, whose statistics are extreme) is
    scored like the most extreme images the head knows instead of being extrapolated; and
    ``score_range`` clips the score into the range of its targets (0..100 for a proxy quality).

    ``feature_clip`` says how (format 3): ``"box"`` (format 2's rule) clips each value to its own
    bounds; ``"ray"`` moves the whole feature along the straight line to the range's centre until
    every value is within its bounds, so that the values keep their proportions. Box clipping can
    make a combination no fitted image had: a photo blurred far beyond the strongest blur fitted has
    some values past their bounds (clipped) and the rest still moving, and the default model's score
    of such a photo climbed back to about 90. ``feature_range`` with a zero width (a value constant in
    the fit) is clipped as a box under either rule.

    ``fade`` (format 4) is ``(start, power)``: beyond the range distance ``start``
    (:meth:`range_distance`: 1 at the range's edge) the score moves towards the worst end of
    ``score_range`` (its minimum for a higher-is-better head, else its maximum), keeping the share
    ``(start / distance) ** power`` of its way from there. Neither clipping rule makes a linear head
    right far outside the images it was fitted on: the default model scored photos blurred to mush
    about 90 with box clipping and about 30 with ray clipping, above photos only a little less
    blurred. The share never reaches 0, so images that grow more distant as their score falls keep
    their order.

    ``floor`` (format 5, :class:`Floor`) fades the score the same way below the lowest value one
    feature value had on the photos the head was fitted on; it needs a ``score_range``.
    """

    info: HeadInfo
    coef: np.ndarray
    intercept: float
    alpha: float | None = None
    feature_range: tuple[np.ndarray, np.ndarray] | None = None
    score_range: tuple[float, float] | None = None
    feature_clip: str = "box"
    fade: tuple[float, float] | None = None
    floor: Floor | None = None

    def __post_init__(self) -> None:
        if self.feature_clip not in FEATURE_CLIPS:
            raise ValueError(f"feature_clip must be one of {', '.join(FEATURE_CLIPS)}; got {self.feature_clip!r}")
        problem = self._parts_problem()
        if problem is not None:
            raise ValueError(problem)

    def _parts_problem(self) -> str | None:
        """Why the clipping rule, the fade and the floor do not fit the ranges and the coefficients, or None.

        The words name each part both as an attribute and as the fields of a head file, since a head read
        from a file (:meth:`from_dict`) is checked here too.
        """
        if self.feature_clip != "box" and self.feature_range is None:
            return (f"feature_clip {self.feature_clip!r} needs a feature range to clip into (feature_range: the fields "
                    "'feature_min' and 'feature_max')")
        if self.fade is not None:
            problem = fade_problem(*self.fade)
            if problem is not None:
                return f"{problem} (fade: the fields 'fade_from' and 'fade_power')"
            if self.feature_range is None or self.score_range is None:
                return ("the fade needs a feature range to measure the distance from and a score range to fade into "
                        "(feature_range and score_range: the fields 'feature_min', 'feature_max', 'score_min' and "
                        "'score_max')")
        if self.floor is not None:
            problem = self.floor.problem(len(self.coef))
            if problem is not None:
                return f"{problem} (floor: the fields {', '.join(FLOOR_FIELDS)})"
            if self.score_range is None:
                return "the floor needs a score range to fade into (score_range: the fields 'score_min' and 'score_max')"
        return None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def kind(self) -> str:
        return self.info.kind

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Scores for features of shape ``(dim,)`` or ``(n, dim)``, computed in float64 and clipped
        into the head's ranges when it records them (silently NaN or infinite where the numbers
        overflow: the scorer turns such a score into an error)."""
        return self.scores_and_distances(features)[0]

    def scores_and_distances(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The scores of :meth:`__call__` and the range distances (:meth:`range_distance`) it measured on
        the way, so that a caller can tell a faded score without measuring again.

        Returns:
            The scores, and the distances (of the scores' shape), or None for a head that needs none
            (box clipping, no fade).
        """
        x = np.asarray(features, dtype=np.float64)
        # only the ray and the fade need it (both imply a feature_range): a box head without a fade skips it
        distance = self.range_distance(x) if self.feature_clip == "ray" or self.fade is not None else None
        raw = x
        if self.feature_range is not None:
            low, high = self.feature_range
            if distance is not None and self.feature_clip == "ray":  # to the centre until every value is in bounds
                centre, _ = _centre_half(low, high)
                x = centre + (x - centre) / np.maximum(distance, 1.0)[..., None]
            x = np.clip(x, low, high)  # NaN stays NaN: still an error
        with np.errstate(over="ignore", invalid="ignore"):
            scores = x @ self.coef.astype(np.float64) + self.intercept
        if self.score_range is None:
            return scores, distance
        scores = np.where(np.isfinite(scores), np.clip(scores, *self.score_range), scores)  # overflow stays an error
        if (self.fade is None or distance is None) and self.floor is None:
            return scores, distance
        share = np.ones_like(scores)
        if self.fade is not None and distance is not None:
            start, power = self.fade
            with np.errstate(divide="ignore"):  # distance 0 (every value at its centre): start / 0 = inf, a share of 1
                share = share * np.minimum(1.0, start / distance) ** power
        if self.floor is not None:
            share = share * self.floor.share(raw)
        worst = self.score_range[0] if self.info.higher_is_better else self.score_range[1]
        return worst + share * (scores - worst), distance

    def range_distance(self, features: np.ndarray) -> np.ndarray:
        """How far features lie from the range the head was fitted on: the largest ``|value - centre| /
        (width / 2)`` over the values whose range has a non-zero width; at most 1 inside the range, 2 where a
        value is as far beyond its edge as the edge is from the centre.

        Args:
            features: Shape ``(dim,)`` or ``(n, dim)``.

        Returns:
            A scalar array, or shape ``(n,)``; NaN where a feature holds NaN.

        Raises:
            ValueError: The head records no ``feature_range``.
        """
        if self.feature_range is None:
            raise ValueError(f"head {self.name!r} records no feature range to measure a distance from")
        return _range_distance(np.asarray(features, dtype=np.float64), *self.feature_range)

    @property
    def format_version(self) -> int:
        """The oldest head format that holds this head."""
        if self.floor is not None:
            return 5
        if self.fade is not None:
            return 4
        if self.feature_clip != "box":
            return 3
        return 1 if self.feature_range is None and self.score_range is None else 2

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
        if version not in HEAD_FORMAT_VERSIONS:
            raise HeadError(path, f"head format_version {version} is not supported (this contrique-infer reads "
                                  f"{', '.join(map(str, HEAD_FORMAT_VERSIONS))}); upgrade contrique-infer")
        info = HeadInfo.from_dict(FieldReader({**r.data, "file": file}, path, "", HeadError))
        raw = r.typed("coef", list)
        if not raw or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
            raise HeadError(path, "field 'coef' must be a non-empty list of numbers")
        coef = np.asarray([to_float(v) for v in raw], dtype=np.float64)
        if not np.all(np.isfinite(coef)):
            raise HeadError(path, "field 'coef' holds non-finite values")
        feature_range = score_range = None
        ranges = [key for key in ("feature_min", "feature_max", "score_min", "score_max") if key in r.data]
        if version < 2 and ranges:
            raise HeadError(path, f"format_version {version} heads have no ranges, yet this one holds "
                                  f"{', '.join(ranges)}: set format_version 2, or remove them")
        if version >= 2 and "feature_min" in r.data:
            bounds = tuple(_finite_vector(r, key, len(coef)) for key in ("feature_min", "feature_max"))
            if np.any(bounds[0] > bounds[1]):
                raise HeadError(path, "field 'feature_min' must not exceed 'feature_max' anywhere")
            feature_range = bounds
        if version >= 2 and "score_min" in r.data:
            score_range = (r.number("score_min"), r.number("score_max"))
            if not score_range[0] <= score_range[1]:
                raise HeadError(path, "field 'score_min' must not exceed 'score_max'")
        feature_clip = "box"
        if "feature_clip" in r.data:
            if version < 3:
                raise HeadError(path, f"format_version {version} heads have no 'feature_clip', yet this one holds it: "
                                      "set format_version 3, or remove it")
            feature_clip = r.choice("feature_clip", FEATURE_CLIPS)
        fade = None
        if "fade_from" in r.data or "fade_power" in r.data:
            if version < 4:
                raise HeadError(path, f"format_version {version} heads have no fade, yet this one holds 'fade_from' or "
                                      "'fade_power': set format_version 4, or remove them")
            fade = (r.number("fade_from"), r.number("fade_power"))
        floor = None
        if any(key in r.data for key in FLOOR_FIELDS):
            if version < 5:
                raise HeadError(path, f"format_version {version} heads have no floor, yet this one holds "
                                      f"{', '.join(key for key in FLOOR_FIELDS if key in r.data)}: set format_version 5, "
                                      "or remove them")
            floor = Floor(r.integer("floor_index"), r.number("floor_value"), r.number("floor_rate"),
                          r.typed("floor_name", str))
        intercept, alpha = r.number("intercept"), r.number("alpha", optional=True)
        try:  # the parts' fit to one another and to the coefficients: checked where a Head is made
            return cls(info=info, coef=coef, intercept=intercept, alpha=alpha, feature_range=feature_range,
                       score_range=score_range, feature_clip=feature_clip, fade=fade, floor=floor)
        except ValueError as exc:
            raise HeadError(path, str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format_version": self.format_version}
        out.update({k: v for k, v in self.info.to_dict().items() if k != "file"})
        out["intercept"] = float(self.intercept)
        if self.alpha is not None:
            out["alpha"] = float(self.alpha)
        if self.score_range is not None:
            out["score_min"], out["score_max"] = (float(v) for v in self.score_range)
        if self.feature_range is not None:
            out["feature_min"], out["feature_max"] = ([float(v) for v in bound] for bound in self.feature_range)
        if self.feature_clip != "box":
            out["feature_clip"] = self.feature_clip
        if self.fade is not None:
            out["fade_from"], out["fade_power"] = (float(v) for v in self.fade)
        if self.floor is not None:
            out.update(floor_index=self.floor.index, floor_value=float(self.floor.value),
                       floor_rate=float(self.floor.rate), floor_name=self.floor.name)
        out["coef"] = [float(v) for v in self.coef]
        return out

    def dumps(self) -> bytes:
        """The head as the bytes of its JSON file (coefficients at full float64 precision)."""
        return (json.dumps(self.to_dict()) + "\n").encode()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the head's JSON file (atomically, its folder made if missing) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return replace_file(path, self.dumps())


def fade_problem(start: float, power: float) -> str | None:
    """Why ``(start, power)`` cannot be a head's fade (:attr:`Head.fade`), or None if it can."""
    if not (math.isfinite(start) and start >= 1.0):
        return f"the fade must start at a finite range distance of at least 1 (the range's edge); got {start:g}"
    if not (math.isfinite(power) and power > 0):
        return f"the fade's power must be a finite number above 0; got {power:g}"
    return None


def floor_rate_problem(rate: float) -> str | None:
    """Why ``rate`` cannot be a floor's rate (:attr:`Floor.rate`), or None if it can."""
    if not (math.isfinite(rate) and rate > 0):
        return f"the floor's rate must be a finite number above 0; got {rate:g}"
    return None


def _centre_half(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centre and half-width of ``[low, high]``, halved before they are added: ``(low + high) / 2`` and
    ``(high - low) / 2`` overflow to infinity for bounds near the float64 limit (equal where they do not)."""
    return low / 2 + high / 2, high / 2 - low / 2


def _range_distance(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """:meth:`Head.range_distance` of ``x`` (one feature per row) from ``[low, high]``; a width too small to
    halve (a subnormal number) counts as zero, and a distance beyond float64 is infinite (a share of 0)."""
    centre, half = _centre_half(low, high)
    wide = half > 0
    if not wide.any():
        return np.zeros(x.shape[:-1])
    with np.errstate(over="ignore"):
        return np.max(np.abs(x[..., wide] - centre[wide]) / half[wide], axis=-1)


def _finite_vector(r: FieldReader, key: str, n: int) -> np.ndarray:
    """Field ``key``: a list of ``n`` finite numbers, as float64."""
    raw = r.typed(key, list)
    if len(raw) != n or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
        got = f"{len(raw)} values" if len(raw) != n else "values that are not all numbers"
        raise r.fail(f"field '{key}' must be a list of {n} numbers, one per value of 'coef'; got {got} (the head's "
                     "file is damaged, or 'coef' lost or gained values)")
    values = np.asarray([to_float(v) for v in raw], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise r.fail(f"field '{key}' holds non-finite values")
    return values
