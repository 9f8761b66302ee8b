"""Metropolis acceptance with a noisy energy difference (the penalty method).

A grand-canonical move is accepted with probability min(1, exp(-beta (Delta F - mu Delta N))).
When Delta F is only estimated, from the mean of ``n`` per-sample differences d_i, plugging the
estimate into that rule breaks detailed balance: exp is convex, so noise inflates the
acceptance of uphill moves. The penalty method (Ceperley and Dewing, J. Chem. Phys. 110, 9812,
1999) restores it for Gaussian noise: with delta = beta (Delta F_hat - mu Delta N) and s^2 the
estimated variance of beta Delta F_hat,

    A = min(1, exp(-delta - u)),  u = s^2 / 2 + s^4 / (4 (n + 1)) + s^6 / (3 (n + 1) (n + 3)),

where the second and third terms correct for s^2 being itself estimated from the same n
samples (the series of their eq. 12, truncated). A move and its reverse then satisfy detailed
balance on average over the noise. With s = 0 this is the ordinary Metropolis rule.
"""

from __future__ import annotations

import numpy as np

__all__ = ["acceptance", "noise_penalty"]


def noise_penalty(var: np.ndarray | float, n: int) -> np.ndarray:
    """The penalty u of the acceptance exponent for an estimated variance ``var``.

    Parameters
    ----------
    var : array_like
        Estimated variance of beta Delta F (dimensionless), >= 0.
    n : int
        Number of samples the mean and the variance were estimated from (>= 2).

    Returns
    -------
    ndarray
        u = var/2 + var^2/(4(n+1)) + var^3/(3(n+1)(n+3)), elementwise.

    Examples
    --------
    >>> float(noise_penalty(0.0, 16)), round(float(noise_penalty(1.0, 16)), 4)
    (0.0, 0.5157)
    """
    if n < 2:
        raise ValueError(f"n: {n}; expected an integer >= 2 (a variance needs two samples)")
    v = np.asarray(var, dtype=float)
    return v / 2 + v**2 / (4 * (n + 1)) + v**3 / (3 * (n + 1) * (n + 3))


def acceptance(
    delta_f: np.ndarray,
    delta_n: np.ndarray,
    beta: float,
    mu: float,
    var: np.ndarray | float = 0.0,
    n: int = 2,
) -> np.ndarray:
    """Probability of accepting a move, min(1, exp(-beta (Delta F - mu Delta N) - u)).

    Parameters
    ----------
    delta_f : ndarray
        Estimated change of the free energy per move.
    delta_n : ndarray
        Change of the neuron count per move (+1 or -1).
    beta, mu : float
        Inverse temperature and chemical potential.
    var : array_like, optional
        Variance of the estimate ``delta_f`` (units of F squared); 0 means exact, and the rule
        is then the plain Metropolis rule.
    n : int, optional
        Samples behind ``delta_f`` and ``var`` (only used when ``var`` > 0).

    Returns
    -------
    ndarray

    Examples
    --------
    >>> acceptance(np.array([0.0, 0.0]), np.array([1, -1]), 2.0, 0.5).round(4).tolist()
    [1.0, 0.3679]
    >>> acceptance(np.array([0.0]), np.array([1]), 1.0, 0.0, var=1.0, n=16).round(4).tolist()
    [0.5971]
    """
    x = -beta * (np.asarray(delta_f) - mu * np.asarray(delta_n))
    v = np.asarray(var, dtype=float)
    if np.any(v > 0):
        x = x - noise_penalty(beta**2 * v, n)
    return np.exp(np.minimum(x, 0.0))
