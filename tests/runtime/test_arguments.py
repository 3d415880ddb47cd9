"""The one rule for count arguments (contrique_infer.arguments)."""

from __future__ import annotations

import numpy as np
import pytest

from contrique_infer.arguments import optional_callable, positive_count, positive_number, switch


def test_positive_integers_come_back_as_python_ints() -> None:
    for value in (1, 7, np.int64(3), np.uint8(2)):
        got = positive_count(value, "threads")
        assert got == value and type(got) is int
    assert positive_count(None, "threads", optional=True) is None


@pytest.mark.parametrize("value", [0, -2, True, False, 2.0, "2", np.float32(2), None])
def test_anything_else_is_refused_with_the_name_and_the_value(value: object) -> None:
    with pytest.raises(ValueError, match=r"^workers must be a positive integer; got ") as caught:
        positive_count(value, "workers")
    assert repr(value) in str(caught.value)


def test_optional_counts_say_that_none_is_allowed() -> None:
    with pytest.raises(ValueError, match=r"^max_pixels must be a positive integer or None; got 0$"):
        positive_count(0, "max_pixels", optional=True)


def test_a_callback_is_callable_or_none() -> None:
    assert optional_callable(None, "progress") is None
    assert optional_callable(len, "progress") is len
    for bad in (5, "png", True):
        with pytest.raises(TypeError, match=r"^thumbnail must be a function \(or None\); got ") as caught:
            optional_callable(bad, "thumbnail")
        assert repr(bad) in str(caught.value) and "cannot be called" in str(caught.value)


def test_a_switch_is_a_bool() -> None:
    assert switch(np.True_, "apply_exif") is True and switch(False, "apply_exif") is False
    for bad in (1, 0, "no", None, 1.0):
        with pytest.raises(TypeError, match=r"^local_files_only must be True or False; got "):
            switch(bad, "local_files_only")


def test_a_maximum_is_named_and_an_integer_too_long_to_print_is_described() -> None:
    """An integer of thousands of digits made the message itself fail (Python refuses to print one of
    more than 4300 digits): ``ValueError: Exceeds the limit (4300 digits) for integer string conversion``."""
    assert positive_count(np.int64(1024), "threads", maximum=1024) == 1024
    with pytest.raises(ValueError, match=r"^threads must be an integer from 1 to 1,024 or None; got 2147483648$"):
        positive_count(2**31, "threads", optional=True, maximum=1024)
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer; got an integer of about 5000 "
                                         r"digits$"):
        positive_count(-10**5000, "batch_size")
    with pytest.raises(ValueError, match=r"^threads must be an integer from 1 to 1,024; got an integer of about 5000 "
                                         r"digits$"):
        positive_count(10**5000, "threads", maximum=1024)


def test_a_positive_number_is_a_finite_real_above_zero() -> None:
    for value, want in ((0.5, 0.5), (2, 2.0), (np.float32(0.25), 0.25), (np.int64(3), 3.0)):
        got = positive_number(value, "num_cpus")
        assert got == want and type(got) is float
    assert positive_number(None, "num_cpus") is None
    for value in (0, -1.0, True, "1", float("nan"), float("inf"), np.nan):
        with pytest.raises(ValueError, match=r"^num_cpus must be a positive number or None; got "):
            positive_number(value, "num_cpus")
