"""Monomial bases in d variables: exponent tables, values and gradients.

One ordering is used everywhere in the package (score matching, the Madelung potential basis,
polynomial drifts): by total degree, then ``itertools.combinations_with_replacement`` order
(for d = 2, degree 2: ``x0, x1, x0^2, x0 x1, x1^2``). Monomials carry the units of their
arguments raised to their degree; nothing here rescales.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["monomial_exponents", "monomial_gradients", "monomial_powers", "monomial_values"]


def monomial_exponents(d: int, degree: int, *, constant: bool = False) -> np.ndarray:
    """Exponent vectors of all monomials in ``d`` variables of total degree 1..``degree``.

    Parameters
    ----------
    d : int
        Number of variables (>= 1).
    degree : int
        Largest total degree (>= 0).
    constant : bool
        Put the degree-0 monomial (all exponents 0) first.

    Returns
    -------
    ndarray of int, shape (P, d)
        One row per monomial, ordered by degree.

    Examples
    --------
    >>> monomial_exponents(2, 2).tolist()
    [[1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]
    >>> monomial_exponents(1, 2, constant=True).tolist()
    [[0], [1], [2]]
    """
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
        raise ValueError(f"d: {d!r}; expected an integer >= 1")
    if isinstance(degree, bool) or not isinstance(degree, int | np.integer) or degree < 0:
        raise ValueError(f"degree: {degree!r}; expected an integer >= 0")
    rows = [np.zeros(d, dtype=int)] if constant else []
    for deg in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(d), deg):
            e = np.zeros(d, dtype=int)
            for i in combo:
                e[i] += 1
            rows.append(e)
    return np.array(rows, dtype=int).reshape(len(rows), d)


def monomial_powers(x: np.ndarray, top: int) -> np.ndarray:
    """Powers ``x[..., i] ** p`` for ``p = 0..top``, shape ``(..., d, top + 1)``.

    Parameters
    ----------
    x : ndarray, shape (..., d)
        Points.
    top : int
        Highest power.

    Returns
    -------
    ndarray, shape (..., d, top + 1)

    Examples
    --------
    >>> import numpy as np
    >>> monomial_powers(np.array([[2.0, 3.0]]), 2).tolist()
    [[[1.0, 2.0, 4.0], [1.0, 3.0, 9.0]]]
    """
    return x[..., None] ** np.arange(top + 1)


def monomial_values(powers: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """Monomials ``prod_i x_i ** exps[p, i]`` from :func:`monomial_powers`, shape ``(..., P)``.

    Negative exponents count as 0, so ``exps - 1`` evaluates the monomials' derivatives up
    to the factor ``exps`` (which is 0 where the exponent was 0).

    Parameters
    ----------
    powers : ndarray, shape (..., d, top + 1)
        Output of :func:`monomial_powers` with ``top >= exps.max()``.
    exps : ndarray of int, shape (P, d)

    Returns
    -------
    ndarray, shape (..., P)

    Examples
    --------
    >>> import numpy as np
    >>> pw = monomial_powers(np.array([[2.0, 3.0]]), 2)
    >>> monomial_values(pw, monomial_exponents(2, 2)).tolist()
    [[2.0, 3.0, 4.0, 6.0, 9.0]]
    """
    d = exps.shape[1]
    return np.prod(powers[..., np.arange(d)[None, :], np.clip(exps, 0, None)], axis=-1)


def monomial_gradients(x: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """Gradients of the monomials at points: ``out[..., i, p] = d/dx_i prod_j x_j ** exps[p, j]``.

    Parameters
    ----------
    x : ndarray, shape (..., d)
        Points.
    exps : ndarray of int, shape (P, d)
        Exponents (e.g. from :func:`monomial_exponents`), at least one of them positive.

    Returns
    -------
    ndarray, shape (..., d, P)

    Examples
    --------
    >>> import numpy as np
    >>> g = monomial_gradients(np.array([[2.0, 3.0]]), np.array([[2, 1]]))   # x0^2 x1
    >>> g[0, :, 0].tolist()                                                  # (2 x0 x1, x0^2)
    [12.0, 4.0]
    """
    pw = monomial_powers(x, int(exps.max()))
    d = x.shape[-1]
    out = np.empty((*x.shape, len(exps)))
    for i in range(d):
        e = exps.copy()
        e[:, i] -= 1
        out[..., i, :] = exps[:, i] * monomial_values(pw, e)
    return out
