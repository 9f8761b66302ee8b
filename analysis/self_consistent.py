"""Self-consistent stationary states of an interacting (mean-field) particle population.

When the potential felt by a particle depends on the population itself, as the first
variation ``Psi`` of a wide network's loss does, a stationary density is a fixed point: the
stationary state (Boltzmann null vector, or Perron ground state with births) of the population
PDE of :mod:`analysis.imaginary_time` in the potential that this same density produces,

    0 = div(eta nu grad Psi[nu]) + Laplacian(D nu) - alpha (Psi[nu] - mu) nu,

for an affine potential ``Psi[nu] = psi0 + kernel (w nu)`` (``w`` the grid's quadrature
weights; ``nu`` the particle density normalised to the mass ``N / N0``). With ``alpha = 0`` the
mass is given; with ``alpha > 0`` either ``mu`` is given and the mass follows (a fixed-``mu_c``
population settles at the mass whose ground energy is ``mu_c``) or the mass is given and ``mu``
follows.

This is the mean-field (``N -> infinity``) prediction. The stationary state of one frozen
potential, even the time average of the measured ``Psi``, is not: when each of several wells'
depth is set by its own population the wells are degenerate to within the finite-``N``
fluctuation corrections, and the Perron vector of a frozen potential moves the whole
population between them at a shift of ``Psi`` far below the sampling error of the average.
The fixed point instead fixes the split through the feedback.

Solver: at a given mass, Newton's method (MINPACK ``hybr``, finite-difference Jacobian) on
the stationarity equations, started from the fixed-number state (optionally after relaxing the
nonlinear PDE in time, each step ``nu <- exp(dt A[nu]) nu`` with the generator frozen over the
step, at that mass); for a given ``mu``, secant steps on ``ln mass`` around it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg, optimize

from analysis.imaginary_time import (
    ImaginaryTimeSolution,
    generator,
    quadrature_weights,
    solve,
)

__all__ = ["SelfConsistentState", "self_consistent"]


@dataclass(frozen=True, eq=False)
class SelfConsistentState:
    """A self-consistent stationary population (see :func:`self_consistent`).

    Attributes
    ----------
    density : ndarray
        The stationary density, normalised to 1 on the grid.
    mass : float
        Its mass ``N / N0`` (given, or found from ``mu``).
    psi : ndarray
        ``Psi[nu]``, the potential this population produces.
    mu : float
        The chemical potential (given, or ``lambda_0 / alpha`` at the given mass; NaN when
        ``alpha = 0``).
    solution : ImaginaryTimeSolution
        :func:`analysis.imaginary_time.solve` in the frozen potential ``psi`` (its density is
        ``density``, its ``mu`` is ``mu``; its rates are the frozen-potential gaps).
    residual : float
        ``max |A[nu] nu| / (max nu * max |diag A|)`` at the solution (relative).
    """

    density: np.ndarray
    mass: float
    psi: np.ndarray
    mu: float
    solution: ImaginaryTimeSolution
    residual: float


def _check(psi0: Any, kernel: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(psi0, dtype=float).ravel()
    k = np.asarray(kernel, dtype=float)
    if p.shape != (n,) or k.shape != (n, n):
        raise ValueError(
            f"psi0, kernel: shapes {p.shape}, {k.shape}; expected ({n},) and ({n}, {n})"
        )
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(k))):
        raise ValueError("psi0, kernel: NaN/Inf values; expected finite values")
    return p, k


def self_consistent(
    x: np.ndarray,
    psi0: Any,
    kernel: Any,
    *,
    D: Any,
    eta: float,
    alpha: float,
    mu: float | None = None,
    mass: float | None = None,
    boundary: str = "periodic",
    start: np.ndarray | None = None,
    relax: float = 0.0,
    dt: float = 100.0,
) -> SelfConsistentState:
    """The stationary density that is the stationary state of its own potential.

    Parameters
    ----------
    x : ndarray
        1-D grid nodes (periodic: uniform, without the repeated end point).
    psi0, kernel : array_like
        ``Psi[nu] = psi0 + kernel @ (w * nu)`` on the grid (e.g.
        :meth:`models.mean_field.RBFNetwork.field`).
    D, eta, alpha, boundary
        As in :func:`analysis.imaginary_time.solve`.
    mu : float, optional
        The fixed chemical potential (``alpha > 0``): the mass is found.
    mass : float, optional
        The mass ``N / N0``: required when ``alpha = 0`` (default 1) or when ``mu`` is None.
    start : ndarray, optional
        Initial density (any positive shape; scaled to the mass); default uniform, and with
        ``alpha > 0`` the self-consistent fixed-number state.
    relax, dt : float
        Time (in steps) of the nonlinear relaxation before Newton's method, and its step.

    Returns
    -------
    SelfConsistentState

    Examples
    --------
    Two wells whose depth rises with their own population: the frozen Perron vector of the
    self-consistent potential keeps both occupied.

    >>> x = np.arange(64) * (2 * np.pi / 64)
    >>> psi0 = -0.05 * (np.exp(4 * (np.cos(x - 2.0) - 1)) + 0.8 * np.exp(4 * (np.cos(x - 4.4) - 1)))
    >>> kernel = 0.05 * np.exp(4 * (np.cos(x[:, None] - x[None, :]) - 1))
    >>> st = self_consistent(x, psi0, kernel, D=3e-4, eta=0.05, alpha=2.0, mu=-0.004)
    >>> st.residual < 1e-9, round(st.solution.mu, 6)
    (True, -0.004)
    >>> fn = self_consistent(x, psi0, kernel, D=3e-4, eta=0.05, alpha=0.0, mass=1.0)
    >>> fn.residual < 1e-9, round(fn.mass, 6)
    (True, 1.0)
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"x: shape {x.shape}; expected a 1-D grid")
    n = x.size
    p0, K = _check(psi0, kernel, n)
    w = quadrature_weights(x, boundary)
    length = float(np.sum(w))
    if alpha < 0 or not math.isfinite(alpha):
        raise ValueError(f"alpha: {alpha!r}; expected a finite number >= 0")
    if alpha == 0:
        if mu is not None:
            raise ValueError("mu: given with alpha = 0; a fixed-number population has no mu")
        mass = 1.0 if mass is None else mass
    elif (mu is None) == (mass is None):
        raise ValueError("mu, mass: give exactly one of them when alpha > 0")
    if mass is not None and not (math.isfinite(mass) and mass > 0):
        raise ValueError(f"mass: {mass!r}; expected a finite number > 0")
    m0 = 1.0 if mass is None else float(mass)
    nu = np.full(n, m0 / length) if start is None else np.asarray(start, dtype=float).ravel()
    if nu.shape != (n,) or np.any(nu < 0) or not np.any(nu > 0):
        raise ValueError(f"start: shape {nu.shape}; expected ({n},) non-negative, not all 0")
    nu = nu * (m0 / float(np.sum(w * nu)))
    if alpha > 0 and start is None:
        # the fixed-number state is a robust start for Newton's method with births
        nu = (
            m0
            * self_consistent(
                x, p0, K, D=D, eta=eta, alpha=0.0, mass=m0, boundary=boundary, relax=relax, dt=dt
            ).density
        )

    def gen(v: np.ndarray, m: float) -> np.ndarray:
        A, _ = generator(x, p0 + K @ (w * v), D=D, eta=eta, alpha=alpha, mu=m, boundary=boundary)
        return A.toarray()

    def mean_psi(v: np.ndarray, m_target: float) -> float:
        return float(np.sum(w * (p0 + K @ (w * v)) * v) / m_target) if alpha > 0 else 0.0

    def relaxed(v: np.ndarray, m_target: float, time: float) -> np.ndarray:
        for _ in range(int(time / dt)):
            v = np.maximum(linalg.expm(dt * gen(v, mean_psi(v, m_target))) @ v, 0.0)
            v *= m_target / float(np.sum(w * v))
        return v

    def newton(v: np.ndarray, m_target: float) -> tuple[np.ndarray, float, float]:
        scale = float(np.max(v))

        def equations(z: np.ndarray) -> np.ndarray:
            u = z[:n] * scale
            r = gen(u, float(z[n]) if alpha > 0 else 0.0) @ u / scale
            c = (float(np.sum(w * u)) - m_target) / m_target
            if alpha == 0:
                r[0] = c  # the mass-conservation row is redundant
                return r
            return np.append(r, c)

        z0 = v / scale if alpha == 0 else np.append(v / scale, mean_psi(v, m_target))
        sol = optimize.root(equations, z0, method="hybr", options={"xtol": 1e-13})
        worst = float(np.max(np.abs(equations(sol.x))))
        return sol.x[:n] * scale, (float(sol.x[n]) if alpha > 0 else math.nan), worst

    def at_mass(m_target: float, v: np.ndarray) -> tuple[np.ndarray, float]:
        """Solve ``A[nu] nu = 0`` with the mass ``m_target`` (mu unknown when alpha > 0);
        when Newton's method stalls, relax in time and retry."""
        v = relaxed(v * (m_target / float(np.sum(w * v))), m_target, relax)
        for _ in range(4):
            u, m_mu, worst = newton(v, m_target)
            if worst < 1e-10 and np.min(u) > -1e-8 * np.max(u):
                return u, m_mu
            v = relaxed(v, m_target, max(relax, 50 * dt))
        raise RuntimeError(
            f"self_consistent: no fixed point found at mass {m_target:.4g} (residual {worst:.2e})"
        )

    if mu is None:
        nu, mu_now = at_mass(m0, nu)
    else:
        # the mass whose ground energy is mu: secant steps on ln(mass), warm-started
        target = float(mu)
        m_a = m0
        nu, mu_a = at_mass(m_a, nu)
        m_b = m_a * (1.1 if mu_a < target else 0.9)
        nu_b, mu_b = at_mass(m_b, nu)
        for _ in range(40):
            if abs(mu_b - target) <= 1e-12 * max(1.0, abs(target)) or mu_b == mu_a:
                break
            slope = (mu_b - mu_a) / (math.log(m_b) - math.log(m_a))
            step = (target - mu_b) / slope if slope else 0.0
            m_next = m_b * math.exp(min(max(step, -0.5), 0.5))
            m_a, mu_a = m_b, mu_b
            m_b = m_next
            nu_b, mu_b = at_mass(m_b, nu_b)
        if abs(mu_b - target) > 1e-9 * max(1e-3, abs(target)):
            raise RuntimeError(f"self_consistent: no mass found with mu = {target!r}")
        nu, mu_now = nu_b, mu_b
    nu = np.maximum(nu, 0.0)
    m_final = float(np.sum(w * nu))
    psi = p0 + K @ (w * nu)
    A = gen(nu, mu_now if alpha > 0 else 0.0)
    residual = float(np.max(np.abs(A @ nu)) / (np.max(nu) * np.max(np.abs(np.diag(A)))))
    frozen = solve(x, psi, D=D, eta=eta, alpha=alpha, boundary=boundary)
    return SelfConsistentState(
        density=nu / m_final,
        mass=m_final,
        psi=psi,
        mu=mu_now if alpha > 0 else math.nan,
        solution=frozen,
        residual=residual,
    )
