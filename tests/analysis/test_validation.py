"""Tests of analysis.validation: accepted values pass through, bad ones raise one-line errors."""

import numpy as np
import pytest

from analysis.validation import as_generator, check_integer, check_points, check_positive, rng_arg


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


def test_rng_arg_normalises_the_seed_argument():
    @rng_arg("seed")
    def draw(n, seed=0, *, scale=1.0):
        return scale * seed.random(n)

    assert np.array_equal(draw(3), np.random.default_rng(0).random(3))
    assert np.array_equal(draw(3, 4), np.random.default_rng(4).random(3))
    ss = np.random.SeedSequence([4, 19])
    assert np.array_equal(draw(2, seed=ss), np.random.default_rng([4, 19]).random(2))
    rng = np.random.default_rng(2)
    got = np.r_[draw(2, rng), draw(1, seed=rng, scale=2.0) / 2.0]
    assert np.array_equal(got, np.random.default_rng(2).random(3))  # the caller's stream
    assert draw.__name__ == "draw"
    with pytest.raises(ValueError, match="'rng' is not an argument of"):
        rng_arg("rng")(lambda seed=0: seed)
