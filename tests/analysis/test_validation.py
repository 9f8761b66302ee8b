"""Tests of analysis.validation: accepted values pass through, bad ones raise one-line errors."""

import numpy as np
import pytest

from analysis.validation import as_generator, check_integer, check_points, check_positive


def test_accepted_values():
    assert check_integer("n", np.int64(3), 2) == 3
    assert isinstance(check_integer("n", np.int64(3), 2), int)
    assert check_positive("dt", "0.25") == 0.25
    assert check_points(np.arange(4.0), "x").shape == (4, 1)
    assert check_points(np.ones((3, 2)), "x").shape == (3, 2)
    rng = np.random.default_rng(5)
    assert as_generator(rng) is rng
    assert as_generator(7).random() == np.random.default_rng(7).random()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: check_integer("bins", True, 1), "bins: True; expected an integer >= 1"),
        (lambda: check_integer("bins", 2.0, 1), "bins: 2.0; expected an integer >= 1"),
        (lambda: check_integer("bins", 1, 2), "bins: 1; expected an integer >= 2"),
        (lambda: check_positive("dt", 0), "dt: 0; expected a positive finite number"),
        (lambda: check_positive("dt", "x"), "dt: 'x'; expected a positive finite number"),
        (lambda: check_positive("dt", np.inf), "dt: inf; expected a positive finite number"),
        (lambda: check_points(np.ones((2, 2, 2)), "x"), r"x: array of shape \(2, 2, 2\)"),
        (lambda: check_points(np.ones((2, 0)), "x"), r"x: array of shape \(2, 0\)"),
        (lambda: check_points([[np.nan, 1.0]], "x"), "x: 1 NaN/Inf value"),
    ],
)
def test_bad_values_raise_one_line(call, message):
    with pytest.raises(ValueError, match=message) as err:
        call()
    assert "\n" not in str(err.value)
