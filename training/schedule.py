"""The learning-rate schedule: linear warm-up, then cosine decay to zero, as a pure function of the step."""

from __future__ import annotations

import math


def warmup_steps(total_steps: int, warmup_fraction: float) -> int:
    """Number of warm-up steps: ``round(warmup_fraction * total_steps)``, at least 1 when the fraction is > 0."""
    if warmup_fraction <= 0:
        return 0
    return max(1, round(warmup_fraction * total_steps))


def learning_rate(step: int, total_steps: int, peak_lr: float, warmup_fraction: float = 0.1) -> float:
    """The learning rate for optimizer step ``step`` (0-based) of ``total_steps``.

    Warm-up: ``peak_lr * (step + 1) / W`` for the first W = :func:`warmup_steps` steps, then
    ``peak_lr * (1 + cos(pi * (step - W) / (total_steps - W))) / 2``.

    Args:
        step: The step about to be taken, 0 <= step < total_steps.
        total_steps: Total optimizer steps of the run.
        peak_lr: The learning rate at the end of warm-up.
        warmup_fraction: Share of the steps spent warming up, in [0, 1).

    Returns:
        The learning rate.

    Raises:
        ValueError: ``step`` is outside the run.
    """
    if not 0 <= step < total_steps:
        raise ValueError(f"step {step} is outside 0..{total_steps - 1}")
    w = warmup_steps(total_steps, warmup_fraction)
    if step < w:
        return peak_lr * (step + 1) / w
    progress = (step - w) / max(1, total_steps - w)
    return peak_lr * 0.5 * (1 + math.cos(math.pi * progress))
