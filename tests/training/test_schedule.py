"""The warm-up + cosine learning-rate schedule, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from contrique_training.schedule import learning_rate, warmup_steps


def test_warmup_is_linear_then_cosine_to_zero() -> None:
    total, peak = 100, 0.6
    assert warmup_steps(total, 0.1) == 10
    assert [learning_rate(s, total, peak) for s in (0, 4, 9)] == pytest.approx([0.06, 0.3, 0.6])
    assert learning_rate(10, total, peak) == pytest.approx(0.6)  # cosine starts at the peak
    assert learning_rate(55, total, peak) == pytest.approx(0.3)  # half-way through the 90 cosine steps
    assert learning_rate(99, total, peak) == pytest.approx(0.6 * 0.5 * (1 + math.cos(math.pi * 89 / 90)))
    values = [learning_rate(s, total, peak) for s in range(10, 100)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_no_warmup_and_short_runs() -> None:
    assert warmup_steps(100, 0.0) == 0
    assert learning_rate(0, 100, 1.0, warmup_fraction=0.0) == pytest.approx(1.0)
    assert warmup_steps(4, 0.1) == 1  # at least one warm-up step when the fraction is > 0
    assert learning_rate(0, 1, 0.5) == pytest.approx(0.5)


def test_pure_function_of_step() -> None:
    assert learning_rate(37, 200, 0.3) == learning_rate(37, 200, 0.3)
    with pytest.raises(ValueError, match="outside"):
        learning_rate(100, 100, 0.6)
    with pytest.raises(ValueError, match="outside"):
        learning_rate(-1, 100, 0.6)
