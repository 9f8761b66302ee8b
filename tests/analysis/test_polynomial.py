"""Tests of analysis.polynomial: exponent tables, values and gradients against direct formulas."""

import itertools

import numpy as np
import pytest

from analysis.polynomial import (
    monomial_exponents,
    monomial_gradients,
    monomial_powers,
    monomial_values,
)


@pytest.mark.parametrize(("d", "degree"), [(1, 4), (2, 3), (3, 2), (4, 4)])
def test_exponents_count_order_and_uniqueness(d, degree):
    e = monomial_exponents(d, degree)
    # number of monomials of degree 1..k in d variables: C(d + k, k) - 1
    assert len(e) == len(list(itertools.combinations_with_replacement(range(d + 1), degree))) - 1
    assert len({tuple(r) for r in e}) == len(e)
    assert np.all(np.diff(e.sum(axis=1)) >= 0)  # ordered by total degree
    assert e.sum(axis=1).min() == 1 and e.sum(axis=1).max() == degree
    c = monomial_exponents(d, degree, constant=True)
    assert c[0].sum() == 0 and np.array_equal(c[1:], e)
    assert monomial_exponents(d, 0).shape == (0, d)


def test_values_and_gradients_match_direct_formulas():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 7, 3))
    e = monomial_exponents(3, 3)
    vals = monomial_values(monomial_powers(x, 3), e)
    direct = np.stack([np.prod(x**row, axis=-1) for row in e], axis=-1)
    np.testing.assert_allclose(vals, direct, rtol=1e-13)
    grad = monomial_gradients(x, e)  # (..., d, P)
    h = 1e-6
    for i in range(3):
        step = np.zeros(3)
        step[i] = h
        fd = (
            monomial_values(monomial_powers(x + step, 3), e)
            - monomial_values(monomial_powers(x - step, 3), e)
        ) / (2 * h)
        np.testing.assert_allclose(grad[..., i, :], fd, rtol=1e-6, atol=1e-8)
    # control: the gradient is not the value (a wrong table would pass neither check)
    assert not np.allclose(grad[..., 0, :], vals)


@pytest.mark.parametrize(
    ("args", "match"),
    [((0, 2), "d: 0; expected an integer >= 1"), ((2, -1), "degree: -1"), ((2, 1.5), "degree")],
)
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        monomial_exponents(*args)
