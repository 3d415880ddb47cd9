"""How sure a difference between two models is: a paired bootstrap over photos.

A benchmark's figures come from a dozen photos, and two models scored on the same images differ
by amounts that another dozen photos could reverse. Resampling the photos with replacement (each
photo with all of its images, both models on the same draw) and recomputing the difference gives
its spread: :func:`photo_bootstrap` returns, per measure, the observed difference, a percentile
interval and the share of draws in which it falls below zero (Efron and Tibshirani, *An
Introduction to the Bootstrap*, 1993, ch. 13). ``benchmarks/bench_quality.py --baseline`` uses it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ProtocolError


@dataclass(frozen=True)
class Difference:
    """One measure's difference (model minus baseline) and its bootstrap spread.

    ``low`` and ``high`` bound the central ``level`` share of the resampled differences; ``below``
    is the share of resamples in which the difference is negative (0: never worse on any draw).
    """

    observed: float
    low: float
    high: float
    below: float
    level: float
    resamples: int

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values (an undefined figure, NaN, as None)."""
        def number(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {"observed": number(self.observed), "low": number(self.low), "high": number(self.high),
                "below": number(self.below), "level": self.level, "resamples": self.resamples}


def photo_bootstrap(
    photos: Sequence[str], statistic: Callable[[list[str]], np.ndarray], resamples: int = 1000,
    seed: int = 0, level: float = 0.9,
) -> list[Difference]:
    """Resample ``photos`` with replacement and recompute ``statistic`` on each draw.

    Args:
        photos: The distinct photo ids of the benchmark.
        statistic: Differences (model minus baseline), one per measure, of a list of photo ids; a
            photo drawn twice appears twice and must count twice. Non-finite values are skipped
            when the spread is taken.
        resamples: Number of draws (>= 1).
        seed: Seed of the draws (same seed, same draws).
        level: Central share of the draws the interval covers, in (0, 1).

    Returns:
        One :class:`Difference` per value of ``statistic(list(photos))``.

    Raises:
        ProtocolError: No photos, ``resamples`` < 1, ``level`` outside (0, 1), or a statistic whose
            length changes between draws.
    """
    if not photos:
        raise ProtocolError("photo_bootstrap: no photos; give the benchmark's photo ids")
    if resamples < 1:
        raise ProtocolError(f"photo_bootstrap: resamples must be >= 1, got {resamples}")
    if not 0.0 < level < 1.0:
        raise ProtocolError(f"photo_bootstrap: level must be in (0, 1), got {level}")
    ids = list(photos)
    observed = np.asarray(statistic(ids), dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = np.empty((resamples, observed.size))
    for i in range(resamples):
        value = np.asarray(statistic([ids[k] for k in rng.integers(0, len(ids), len(ids))]), dtype=np.float64)
        if value.shape != observed.shape:
            raise ProtocolError(f"photo_bootstrap: the statistic gave {value.size} values on a draw and "
                                f"{observed.size} on all photos; it must give one value per measure every time")
        draws[i] = value
    tail = 100.0 * (1.0 - level) / 2.0
    out = []
    for j, value in enumerate(observed):
        column = draws[:, j][np.isfinite(draws[:, j])]
        low, high = (np.percentile(column, [tail, 100.0 - tail]) if column.size else (np.nan, np.nan))
        below = float(np.mean(column < 0)) if column.size else float("nan")
        out.append(Difference(float(value), float(low), float(high), below, level, resamples))
    return out
