"""Paired bootstrap over photos (contrique_training.evaluation.bootstrap)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from contrique_training.evaluation.bootstrap import Difference, photo_bootstrap
from contrique_training.evaluation.errors import ProtocolError


def test_observed_is_the_statistic_of_all_photos_and_draws_are_repeatable():
    gain = {"a": 0.3, "b": -0.1, "c": 0.05, "d": 0.2}

    def statistic(photos):
        values = [gain[p] for p in photos]
        return np.array([np.mean(values), np.max(values)])

    first = photo_bootstrap(list(gain), statistic, resamples=200, seed=3)
    assert first[0].observed == pytest.approx(0.1125)
    assert first[1].observed == pytest.approx(0.3)
    assert first == photo_bootstrap(list(gain), statistic, resamples=200, seed=3)
    assert first != photo_bootstrap(list(gain), statistic, resamples=200, seed=4)
    mean = first[0]
    assert -0.1 <= mean.low <= mean.observed <= mean.high <= 0.3
    assert 0.0 < mean.below < 0.5  # some draws are mostly photo b
    assert (mean.level, mean.resamples) == (0.9, 200)


def test_interval_and_share_below_match_the_exact_resampling_distribution():
    # two photos, differences -1 and +1: the mean of a draw is -1, 0 or +1 with probabilities 1/4, 1/2, 1/4
    value = {"x": -1.0, "y": 1.0}
    out, = photo_bootstrap(["x", "y"], lambda ps: [np.mean([value[p] for p in ps])], resamples=4000, seed=0)
    assert out.observed == 0.0
    assert (out.low, out.high) == (-1.0, 1.0)
    assert out.below == pytest.approx(0.25, abs=0.03)
    exact = [np.mean(d) for d in itertools.product([-1.0, 1.0], repeat=2)]
    assert np.mean(np.array(exact) < 0) == 0.25


def test_a_photo_drawn_twice_is_passed_twice():
    seen = []

    def statistic(photos):
        seen.append(list(photos))
        return [0.0]

    photo_bootstrap(["p", "q", "r"], statistic, resamples=50, seed=1)
    assert seen[0] == ["p", "q", "r"]
    assert all(len(draw) == 3 for draw in seen)
    assert any(len(set(draw)) < 3 for draw in seen[1:])


def test_undefined_values_are_left_out_of_the_spread_and_written_as_null():
    draws = iter(range(100))

    def statistic(photos):
        return [np.nan if next(draws) % 2 else 0.5]

    out, = photo_bootstrap(["a", "b"], statistic, resamples=20)
    assert out.observed == 0.5 and out.low == out.high == 0.5 and out.below == 0.0
    never, = photo_bootstrap(["a"], lambda ps: [np.nan], resamples=5)
    assert never.to_dict() == {"observed": None, "low": None, "high": None, "below": None, "level": 0.9,
                               "resamples": 5}
    assert isinstance(out, Difference) and out.to_dict()["observed"] == 0.5


@pytest.mark.parametrize("kwargs, message", [
    ({"photos": []}, "no photos"),
    ({"resamples": 0}, "resamples must be >= 1"),
    ({"level": 1.0}, "level must be in"),
])
def test_bad_arguments_say_what_to_give(kwargs, message):
    args = {"photos": ["a"], "statistic": lambda ps: [0.0], **kwargs}
    with pytest.raises(ProtocolError, match=message):
        photo_bootstrap(**args)


def test_a_statistic_of_changing_length_is_refused():
    lengths = iter([2, 3])
    with pytest.raises(ProtocolError, match="one value per measure"):
        photo_bootstrap(["a", "b"], lambda ps: [0.0] * next(lengths), resamples=1)
