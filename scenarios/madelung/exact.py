"""Closed-form theory of the two-parameter network y = a f(b x) (f = tanh or sigmoid).

The network is 1-1-1 without biases and with a linear output; its trainable vector is
q = (q_0, q_1) = (b, a). It learns a teacher y = a* f(b* x) + noise, x ~ N(0, 1), with
Gaussian label noise of standard deviation sigma, f being the network's own hidden activation
(:data:`CLOSED_FORM`). At T_x -> 0 the hidden neuron relaxes with the output clamped
(docs/physics.md#free-energy), which gives the free energy

    F(b, a) = (E_x[(a* f(b* x) - a f(b x))^2] + sigma^2) / (2 (1 + a^2)),

evaluated here by 64-point Gauss-Hermite quadrature. From it: the gradient, the Hessian, the
local minimum q* next to the teacher, the per-example gradient covariance Sigma_g and the
stationary covariance of linearised SGD (discrete Lyapunov equation). The scenario uses them to
fix V = F in advance and to place its starts; every verdict is measured from the dynamics.

A linear or relu activation has no closed form here because its F has no isolated minimum:
a f(b x) depends on a b only (relu: for each sign of b), so F is constant or decreasing along
a b = const (:data:`NO_ISOLATED_MINIMUM` says why, in words).

Units: q in weight units, F in loss units, gamma (step size) per learning step, M in examples.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import linalg, optimize

from models.activations import activation as activation_pair
from models.tasks import Task

__all__ = [
    "CLOSED_FORM",
    "NO_ISOLATED_MINIMUM",
    "free_energy_2p",
    "grad_free_energy_2p",
    "gradient_covariance_2p",
    "hessian_2p",
    "minimum_2p",
    "stationary_covariance",
    "teacher_task",
]

#: hidden activations whose F has an isolated minimum next to a generic teacher
CLOSED_FORM = ("tanh", "sigmoid")
#: why F of the other activations has no isolated minimum (reason stated in a ConfigError)
NO_ISOLATED_MINIMUM = {
    "linear": "with a linear activation the loss depends on a·b only, so F has no minimum "
    "along a·b = const",
    "relu": "with a relu activation a relu(b x) = a·b relu(x) for b > 0 (and a·|b| relu(-x) for "
    "b < 0), so the loss depends on a·b only and F has no minimum along a·b = const",
}

#: a minimum search that moves this many teacher norms away has left for |a| -> infinity
_RUNAWAY = 10.0
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(64)
_GH_W = _GH_W / _GH_W.sum()


def _hidden(activation: str) -> tuple[Callable, Callable]:
    """``(f, df)`` of a closed-form activation; ``df(y, fy)`` is f'(y) given y and f(y)."""
    if activation == "tanh":
        return np.tanh, lambda y, fy: 1.0 - fy**2
    if activation not in CLOSED_FORM:
        raise ValueError(
            f"activation: {activation!r}; expected one of {', '.join(CLOSED_FORM)} "
            f"({NO_ISOLATED_MINIMUM.get(activation, 'no closed form')})"
        )
    return activation_pair(activation)


def free_energy_2p(
    q: np.ndarray, teacher: tuple[float, float], noise: float, activation: str = "tanh"
) -> np.ndarray:
    """Free energy F(b, a) of the relaxed 1-1-1 network y = a f(b x) (T_x -> 0).

    Parameters
    ----------
    q : ndarray, shape (..., 2)
        Points (b, a) = (q_0, q_1).
    teacher : (float, float)
        (b*, a*) of the teacher y = a* f(b* x) + noise, x ~ N(0, 1).
    noise : float
        Label-noise standard deviation.
    activation : str
        The hidden activation f, one of :data:`CLOSED_FORM`.

    Returns
    -------
    ndarray, shape (...)

    Examples
    --------
    >>> float(free_energy_2p(np.array([1.0, 2.0]), (1.0, 2.0), 0.5))  # 0.25 / (2 * 5)
    0.025
    >>> float(free_energy_2p(np.array([1.0, 2.0]), (1.0, 2.0), 0.5, "sigmoid"))
    0.025
    """
    f = _hidden(activation)[0]
    q = np.asarray(q, dtype=float)
    b, a = q[..., 0, None], q[..., 1, None]
    r = teacher[1] * f(teacher[0] * _GH_X) - a * f(b * _GH_X)
    return ((r**2) @ _GH_W + noise**2) / (2.0 * (1.0 + q[..., 1] ** 2))


def grad_free_energy_2p(
    q: np.ndarray, teacher: tuple[float, float], noise: float, activation: str = "tanh"
) -> np.ndarray:
    """Gradient (dF/db, dF/da) of :func:`free_energy_2p`, shape (..., 2).

    Parameters
    ----------
    q : ndarray, shape (..., 2)
        Points (b, a).
    teacher : (float, float)
        (b*, a*).
    noise : float
        Label-noise standard deviation.
    activation : str
        The hidden activation f, one of :data:`CLOSED_FORM`.

    Returns
    -------
    ndarray, shape (..., 2)

    Examples
    --------
    >>> g = grad_free_energy_2p(np.array([[0.7, 1.3]]), (1.0, 2.0), 0.3)
    >>> h = 1e-6; e = np.array([h, 0.0])
    >>> fd = (free_energy_2p(np.array([0.7, 1.3]) + e, (1.0, 2.0), 0.3)
    ...       - free_energy_2p(np.array([0.7, 1.3]) - e, (1.0, 2.0), 0.3)) / (2 * h)
    >>> bool(abs(g[0, 0] - fd) < 1e-7)
    True
    """
    f, df = _hidden(activation)
    q = np.asarray(q, dtype=float)
    b, a = q[..., 0, None], q[..., 1, None]
    y = b * _GH_X
    t = f(y)
    r = teacher[1] * f(teacher[0] * _GH_X) - a * t
    er2 = (r**2) @ _GH_W
    d_b = -2.0 * (r * a * df(y, t) * _GH_X) @ _GH_W
    d_a = -2.0 * (r * t) @ _GH_W
    den = 1.0 + q[..., 1] ** 2
    g_b = d_b / (2.0 * den)
    g_a = d_a / (2.0 * den) - (er2 + noise**2) * q[..., 1] / den**2
    return np.stack([g_b, g_a], axis=-1)


def hessian_2p(
    q: np.ndarray, teacher: tuple[float, float], noise: float, activation: str = "tanh"
) -> np.ndarray:
    """Hessian of F at one point (central differences of the analytic gradient), (2, 2).

    Parameters
    ----------
    q : ndarray, shape (2,)
        The point (b, a).
    teacher : (float, float)
        (b*, a*).
    noise : float
        Label-noise standard deviation.
    activation : str
        The hidden activation f, one of :data:`CLOSED_FORM`.

    Returns
    -------
    ndarray, shape (2, 2)
        Symmetrised.

    Examples
    --------
    >>> H = hessian_2p(np.array([1.0, 2.0]), (1.0, 2.0), 0.0)
    >>> bool(np.all(np.linalg.eigvalsh(H) > 0))
    True
    """
    q = np.asarray(q, dtype=float)
    h = 1e-5
    rows = [
        (
            grad_free_energy_2p(q + h * e, teacher, noise, activation)
            - grad_free_energy_2p(q - h * e, teacher, noise, activation)
        )
        / (2 * h)
        for e in np.eye(2)
    ]
    H = np.array(rows)
    return 0.5 * (H + H.T)


def minimum_2p(teacher: tuple[float, float], noise: float, activation: str = "tanh") -> np.ndarray:
    """The local minimum of F next to the teacher, (b_min, a_min).

    With label noise the minimum moves away from (b*, a*) (the factor 1/(1 + a^2) rewards
    larger |a|); at larger noise, or for a teacher in the nearly linear range of f (small
    |b*|), it disappears (F decreases towards |a| -> infinity, b -> 0).

    Parameters
    ----------
    teacher : (float, float)
        (b*, a*), also the start of the search.
    noise : float
        Label-noise standard deviation.
    activation : str
        The hidden activation f, one of :data:`CLOSED_FORM`.

    Returns
    -------
    ndarray, shape (2,)

    Raises
    ------
    ValueError
        The search ends farther than half the teacher's norm from it, or at a point whose
        Hessian is not positive definite.

    Examples
    --------
    >>> minimum_2p((1.0, 2.0), 0.0).round(4).tolist()
    [1.0, 2.0]
    """
    start = np.asarray(teacher, dtype=float)
    norm = float(np.linalg.norm(start))

    def runaway(intermediate_result: optimize.OptimizeResult) -> None:
        # the search has left for |a| -> infinity: no minimum next to the teacher
        if np.linalg.norm(intermediate_result.x - start) > _RUNAWAY * norm:
            raise StopIteration

    res = optimize.minimize(
        lambda p: float(free_energy_2p(p, teacher, noise, activation)),
        start,
        jac=lambda p: grad_free_energy_2p(p, teacher, noise, activation),
        method="BFGS",
        options={"gtol": 1e-12},
        callback=runaway,
    )
    H = hessian_2p(res.x, teacher, noise, activation)
    far = np.linalg.norm(res.x - start) > 0.5 * norm
    if far or not np.all(np.linalg.eigvalsh(H) > 1e-8):
        raise ValueError(
            f"teacher (b*, a*) = ({teacher[0]:.4g}, {teacher[1]:.4g}): F ({activation}, noise "
            f"{noise:g}) has no isolated minimum next to it"
        )
    return res.x


def gradient_covariance_2p(
    q: np.ndarray, teacher: tuple[float, float], noise: float, activation: str = "tanh"
) -> np.ndarray:
    """Per-example gradient covariance Sigma_g at q (exact Gauss-Hermite expectation), (2, 2).

    The per-example gradient at the relaxed hidden state x_h = (t + a y) / (1 + a^2),
    t = f(b x): dH/db = -e_h f'(b x) x, dH/da = -e_o x_h with e_h = x_h - t, e_o = y - a x_h.

    Parameters
    ----------
    q : ndarray, shape (2,)
        The point (b, a).
    teacher : (float, float)
        (b*, a*).
    noise : float
        Label-noise standard deviation (the expectation runs over x and the label noise).
    activation : str
        The hidden activation f, one of :data:`CLOSED_FORM`.

    Returns
    -------
    ndarray, shape (2, 2)

    Examples
    --------
    >>> S = gradient_covariance_2p(np.array([1.0, 2.0]), (1.0, 2.0), 0.3)
    >>> S.shape, bool(np.all(np.linalg.eigvalsh(S) >= 0))
    ((2, 2), True)
    """
    f, df = _hidden(activation)
    b, a = float(q[0]), float(q[1])
    x = _GH_X[:, None]
    eps = _GH_X[None, :]
    w = _GH_W[:, None] * _GH_W[None, :]
    t = f(b * x)
    y = teacher[1] * f(teacher[0] * x) + noise * eps
    xh = (t + a * y) / (1.0 + a * a)
    g = np.stack([-(xh - t) * df(b * x, t) * x, -(y - a * xh) * xh])  # (2, G, G)
    mean = np.einsum("kij,ij->k", g, w)
    second = np.einsum("kij,lij,ij->kl", g, g, w)
    return second - np.outer(mean, mean)


def stationary_covariance(
    H: np.ndarray, sigma_g: np.ndarray, gamma: float, batch: int, momentum: float = 0.0
) -> np.ndarray:
    """Stationary covariance of linearised SGD q <- q - gamma (H q + xi), Cov xi = Sigma_g / M.

    Solves the discrete Lyapunov equation C = A C A^T + gamma^2 Sigma_g / M, A = I - gamma H
    (plain SGD; with momentum the SGD value is returned as a starting width only).

    Parameters
    ----------
    H : ndarray, shape (k, k)
        Hessian of F at the minimum.
    sigma_g : ndarray, shape (k, k)
        Per-example gradient covariance there.
    gamma : float
        Step size.
    batch : int
        Mini-batch size M.
    momentum : float
        Heavy-ball coefficient (not used: the SGD covariance is returned).

    Returns
    -------
    ndarray, shape (k, k)

    Examples
    --------
    >>> C = stationary_covariance(np.eye(1), np.eye(1), 0.1, 1)
    >>> round(float(C[0, 0]), 6)  # gamma / (M k (2 - gamma k)) * sigma^2
    0.052632
    """
    A = np.eye(H.shape[0]) - gamma * H
    return linalg.solve_discrete_lyapunov(A, gamma**2 * sigma_g / batch)


def teacher_task(b: float, a: float, noise: float, activation: str = "tanh") -> Task:
    """The teacher task y = a f(b x) + noise, x ~ N(0, 1), as a :class:`models.tasks.Task`.

    Parameters
    ----------
    b, a : float
        The teacher's input and output weight.
    noise : float
        Label-noise standard deviation.
    activation : str
        The hidden activation f, one of :data:`CLOSED_FORM` (the student's own).

    Returns
    -------
    models.tasks.Task
        Named ``"teacher"``, one input, one output; ``params`` holds ``w1 = [[b]]``,
        ``w2 = [[a]]`` and zero biases.

    Examples
    --------
    >>> x, y = teacher_task(1.0, 2.0, 0.0).sample(np.random.default_rng(0), (3,))
    >>> bool(np.allclose(y, 2.0 * np.tanh(x)))
    True
    """
    f = _hidden(activation)[0]

    def sampler(g: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        x = g.normal(0.0, 1.0, (*shape, 1))
        y = a * f(b * x)
        if noise > 0:
            y = y + g.normal(0.0, noise, y.shape)
        return x, y

    params = {"w1": np.array([[b]]), "b1": np.zeros(1), "w2": np.array([[a]]), "b2": np.zeros(1)}
    return Task("teacher", 1, 1, sampler, params)
