"""The batch-size half of the adiabatic arm: M moves the network's crossover number r slowly.

On the mean-field network in ``per_neuron`` mode every neuron's gradient is the mean of M
per-sample gradients, so its diffusion is ``D = eta^2 sigma^2 / (2 M)`` and the crossover
number ``r = 2 alpha D / (eta^2 k) = alpha sigma^2 / (M k)`` moves with M (the ``batch_size``
controller's ``schedule`` policy) at fixed birth rate alpha; the birth-rate half moves alpha
(:func:`scenarios.particles.arms.adiabatic_schedule`).

The predicted stationary state at ``(alpha, M)`` is the self-consistent Perron state at the
fixed ``mu_c`` (:func:`analysis.self_consistent.self_consistent` on the network's affine
``Psi[nu]``, :meth:`models.mean_field.RBFNetwork.field`); r uses the local curvature k of its
``Psi`` at the deepest point. The rate that sets how fast r may move is the slowest relaxation
rate of the population PDE linearised about that state (:func:`linear_rates`), with the
potential's response to the density included: each well's depth follows its own population, so
the frozen potential's Perron gap (the tunnelling rate between near-degenerate wells: 2.3e-5
per step at M = 2, against a linearised gap of 3.4e-3) is not a relaxation rate of the
network.

M is an integer: :func:`batch_schedule` moves it one unit at a time and holds each value long
enough that every jump's ``|Delta ln r|`` over the time since the previous change is at most
``rate`` x the smaller gap of its two ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.imaginary_time import generator, quadrature_weights
from analysis.self_consistent import SelfConsistentState, self_consistent
from models.mean_field import RBFNetwork
from models.potentials import check_potential
from scenarios.particles.arms import NET_MU_C, NET_N0, NET_NOISE, NETWORK_GRID

__all__ = [
    "ADIABATIC_ALPHA",
    "ADIABATIC_BATCHES",
    "ADIABATIC_ETA",
    "NetworkPoint",
    "batch_schedule",
    "curvature_at_minimum",
    "linear_rates",
    "network",
    "network_point",
    "per_neuron_diffusion",
]

ADIABATIC_ALPHA, ADIABATIC_ETA = 0.5, 0.05
"""Birth rate and step of the batch-size arm (fixed ``mu_c`` = ``NET_MU_C``)."""
ADIABATIC_BATCHES = (2, 4, 2)
"""Per-neuron batch sizes of its plateaus (predicted r 4.19, 3.49, 4.19)."""


def network(n0: int = NET_N0, noise: float = NET_NOISE) -> RBFNetwork:
    """The scenario's mean-field network (default ``rbf_network`` table, ``N0``, label noise).

    Examples
    --------
    >>> net = network()
    >>> net.n0, net.width, net.noise
    (400, 0.3, 1.0)
    """
    return RBFNetwork(check_potential({"type": "rbf_network", "n0": n0}), n0, noise)


def per_neuron_diffusion(net: RBFNetwork, eta: float, batch: int) -> float:
    """The label-noise diffusion of a centre with per-neuron batches: ``eta^2 sigma^2 / (2 M)``.

    ``sigma^2 = sigma_y^2 a^2 E_x[(d phi / dc)^2]`` (quadrature over x; the residual's share,
    of order ``(g - f)^2 / sigma_y^2``, is left out), close to
    ``eta^2 sigma_y^2 / (8 sqrt(pi) l M)`` for a narrow unit.

    Examples
    --------
    >>> D = per_neuron_diffusion(network(), 0.05, 2)
    >>> round(D / (0.05**2 / (8 * 2 * math.sqrt(math.pi) * 0.3)), 2)
    0.98
    """
    _, dphi = net.unit(net.xq, 0.0)
    sigma2 = net.noise**2 * net.amplitude**2 * float(np.mean(dphi**2))
    return eta**2 * sigma2 / (2 * int(batch))


def curvature_at_minimum(psi: np.ndarray, x: np.ndarray = NETWORK_GRID) -> float:
    """Second difference of a periodic ``psi`` on the uniform grid ``x`` at its minimum.

    Examples
    --------
    >>> x = np.arange(64) * (2 * np.pi / 64)
    >>> round(curvature_at_minimum(-np.cos(x - 1.0), x), 2)
    1.0
    """
    i = int(np.argmin(psi))
    h = float(x[1] - x[0])
    return float((psi[(i + 1) % psi.size] - 2 * psi[i] + psi[i - 1]) / h**2)


def linear_rates(
    x: np.ndarray,
    psi0: np.ndarray,
    kernel: np.ndarray,
    nu: np.ndarray,
    *,
    D: float,
    eta: float,
    alpha: float,
    mu: float = 0.0,
    boundary: str = "periodic",
) -> np.ndarray:
    """Relaxation rates of the population PDE linearised about a stationary density ``nu``.

    ``d nu / dt = F(nu) = A[Psi[nu]] nu`` (:func:`analysis.imaginary_time.generator`,
    ``Psi[nu] = psi0 + kernel (w nu)``, ``nu`` normalised to the mass); the rates are
    ``-Re`` of the eigenvalues of the Jacobian of F at ``nu`` (central differences),
    ascending. Without births (``alpha = 0``) the conserved mass gives one zero rate, dropped.

    Examples
    --------
    A frozen potential (``kernel = 0``) has the frozen operator's gaps:

    >>> from analysis.imaginary_time import solve
    >>> x = np.arange(64) * (2 * np.pi / 64)
    >>> V = -np.cos(x)
    >>> s = solve(x, V, D=0.05, eta=0.1, alpha=0.0, boundary="periodic")
    >>> rates = linear_rates(x, V, np.zeros((64, 64)), s.density, D=0.05, eta=0.1, alpha=0.0)
    >>> bool(np.isclose(rates[0], s.rates[0], rtol=1e-4))
    True
    """
    nu = np.asarray(nu, dtype=float)
    w = quadrature_weights(x, boundary)

    def F(v: np.ndarray) -> np.ndarray:
        A, _ = generator(
            x, psi0 + kernel @ (w * v), D=D, eta=eta, alpha=alpha, mu=mu, boundary=boundary
        )
        return A @ v

    h = 1e-6 * float(np.max(nu))
    J = np.empty((nu.size, nu.size))
    for j in range(nu.size):
        e = np.zeros_like(nu)
        e[j] = h
        J[:, j] = (F(nu + e) - F(nu - e)) / (2 * h)
    rates = np.sort(-np.linalg.eigvals(J).real)
    if alpha == 0:
        rates = np.delete(rates, int(np.argmin(np.abs(rates))))
    return rates


@dataclass(frozen=True, eq=False)
class NetworkPoint:
    """The predicted stationary network at one ``(alpha, M)``: D, the self-consistent state,
    the curvature k of its Psi at the deepest point, r and the linearised gap."""

    alpha: float
    batch: int
    D: float
    state: SelfConsistentState
    k: float
    r: float
    gap: float


def network_point(
    net: RBFNetwork,
    alpha: float,
    batch: int,
    *,
    eta: float = ADIABATIC_ETA,
    mu_c: float = NET_MU_C,
    D: float | None = None,
) -> NetworkPoint:
    """The prediction at ``(alpha, M)`` (``D`` given, e.g. measured, or
    :func:`per_neuron_diffusion`).

    Examples
    --------
    >>> p = network_point(network(), 0.5, 2)
    >>> round(p.r, 2), round(400 * p.state.mass), 0.003 < p.gap < 0.004
    (4.19, 357, True)
    """
    D = per_neuron_diffusion(net, eta, batch) if D is None else float(D)
    psi0, kernel = net.field(NETWORK_GRID)
    state = self_consistent(NETWORK_GRID, psi0, kernel, D=D, eta=eta, alpha=alpha, mu=mu_c)
    rates = linear_rates(
        NETWORK_GRID,
        psi0,
        kernel,
        state.density * state.mass,
        D=D,
        eta=eta,
        alpha=alpha,
        mu=mu_c,
    )
    k = curvature_at_minimum(state.psi)
    r = 2 * alpha * D / (eta**2 * k) if k > 0 else math.nan
    return NetworkPoint(float(alpha), int(batch), D, state, k, r, float(rates[0]))


def batch_schedule(
    batches: tuple[int, ...] | list[int],
    *,
    plateau: int,
    first: int | None = None,
    alpha: float = ADIABATIC_ALPHA,
    eta: float = ADIABATIC_ETA,
    rate: float = 0.1,
    net: RBFNetwork | None = None,
) -> tuple[list[int], list[int], list[tuple[int, int, int, float, float]]]:
    """A ``batch_size`` schedule through the plateaus ``batches``, adiabatic in r.

    Plateaus of ``plateau`` steps (the first ``first``, default ``plateau``) at each M; between
    them M moves one unit at a time, each value held ``ceil(|Delta ln r| / (rate x gap))``
    steps before the jump, ``gap`` the smaller linearised gap of the two ends
    (:func:`network_point` at the predicted D). Returns the knots (``steps``, ``values``;
    interpolation ``linear``: a staircase) and the plateaus
    ``(first step, last step, M, r, gap)``.

    Examples
    --------
    >>> steps, values, plateaus = batch_schedule([2, 3], plateau=100)
    >>> steps, values
    ([0, 100, 495, 496, 596], [2, 2, 2, 3, 3])
    >>> [(a, b, m, round(r, 2)) for a, b, m, r, _ in plateaus]
    [(0, 100, 2, 4.19), (496, 596, 3, 3.74)]
    """
    net = network() if net is None else net
    points: dict[int, NetworkPoint] = {}

    def point(m: int) -> NetworkPoint:
        if m not in points:
            points[m] = network_point(net, alpha, m, eta=eta)
        return points[m]

    steps, values, plateaus = [0], [int(batches[0])], []
    for i, m in enumerate(batches):
        m = int(m)
        if i:
            now = int(batches[i - 1])
            sign = 1 if m > now else -1
            while now != m:
                a, b = point(now), point(now + sign)
                hold = math.ceil(abs(math.log(b.r / a.r)) / (rate * min(a.gap, b.gap)))
                if hold > 1:  # hold M, then one step to the next integer
                    steps.append(steps[-1] + hold - 1)
                    values.append(now)
                steps.append(steps[-1] + 1)
                values.append(now + sign)
                now += sign
        length = plateau if (i or first is None) else int(first)
        p = point(m)
        plateaus.append((steps[-1], steps[-1] + length, m, p.r, p.gap))
        steps.append(steps[-1] + length)
        values.append(m)
    return steps, values, plateaus
