"""The mean-field network mode: neurons as interacting particles of one wide two-layer network.

Each replica is one network of periodic RBF units on the circle,

    f(x) = (1 / N0) sum_i a_i phi(x; c_i),   phi(x; c) = exp((cos(x - c) - 1) / l^2),

with a fixed ``N0`` (so adding a neuron changes f), inputs ``x ~ U[0, 2 pi)`` and labels
``y = g(x) + sigma_y xi`` (``sigma_y = config.noise``) from a realisable teacher
``g = int phi rho*``, ``rho*`` a von Mises mixture. The loss is ``R = E (y - f)^2 / 2``; the
first variation felt by a neuron (its potential) is

    Psi(theta) = -E_x[(g(x) - f(x)) a phi(x; c)],   theta = c  or  (a, c),

computed exactly by quadrature over x on ``quadrature`` points (label noise averages out). A
neuron moves by ``-eta`` times an estimate of ``grad Psi`` (plain SGD on R with raw rate
``N0 eta``, ``eta = step_size``):

``per_neuron``
    one pool of ``32 M`` inputs per replica and step; each neuron's gradient uses its own
    random M-subset of it (``M = batch_size``), so the neurons' noises are independent;
``common``
    every neuron uses the same M inputs (clones never separate);
``langevin``
    the exact (quadrature) gradient plus explicit ``sqrt(2 D) xi``.

``train = "center"`` trains ``c`` only (``a = amplitude``, a 1-D particle);
``"amplitude_center"`` trains ``theta = (a, c)`` (2-D; ``c`` periodic).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import special

__all__ = ["POOL_FACTOR", "RBFNetwork"]

POOL_FACTOR = 32
"""Pool size per replica and step in ``per_neuron`` mode, in units of M."""
TWO_PI = 2.0 * math.pi


class RBFNetwork:
    """A mean-field network of periodic RBF units (see the module docstring).

    Parameters
    ----------
    spec : mapping
        A checked ``rbf_network`` potential table (:func:`models.potentials.check_potential`).
    n0 : int
        N0, the fixed normalisation of the output.
    noise : float
        sigma_y, the label noise.

    Examples
    --------
    >>> net = RBFNetwork({"type": "rbf_network", "width": 0.3, "train": "center",
    ...                   "amplitude": 1.0, "weights": [1.0], "centres": [2.0],
    ...                   "concentration": 8.0, "quadrature": 256}, n0=2, noise=0.0)
    >>> theta = np.array([[[2.0], [2.0]]])           # two neurons at the teacher's centre
    >>> active = np.ones((1, 2), dtype=bool)
    >>> net.psi(theta, active).shape, net.dim, net.periods
    ((1, 2), 1, (6.283185307179586,))
    """

    def __init__(self, spec: Mapping[str, Any], n0: int, noise: float) -> None:
        self.width = float(spec["width"])
        self.inv = 1.0 / self.width**2
        self.train = spec["train"]
        self.amplitude = float(spec["amplitude"])
        self.weights = np.asarray(spec["weights"], dtype=float)
        self.centres = np.asarray(spec["centres"], dtype=float)
        self.kappa = float(spec["concentration"])
        self.n0 = int(n0)
        self.noise = float(noise)
        q = int(spec["quadrature"])
        self.xq = np.arange(q) * (TWO_PI / q)
        self.cq, self.sq = np.cos(self.xq), np.sin(self.xq)
        self.gq = self.target(self.xq)
        self.dim = 1 if self.train == "center" else 2
        self.periods: tuple[float | None, ...] = (TWO_PI,) if self.dim == 1 else (None, TWO_PI)

    def raw_rate(self, eta: float) -> float:
        """The raw SGD rate on R of a per-neuron step ``eta``: ``gamma = N0 eta``.

        Examples
        --------
        >>> from models.potentials import check_potential
        >>> RBFNetwork(check_potential({"type": "rbf_network"}), n0=400, noise=1.0).raw_rate(0.05)
        20.0
        """
        return self.n0 * float(eta)

    # ------------------------------------------------------------------ pieces
    def target(self, x: np.ndarray) -> np.ndarray:
        """``g(x) = int phi(x; c) rho*(c) dc`` for the von Mises mixture ``rho*`` (closed form)."""
        x = np.asarray(x, dtype=float)
        a, k = self.inv, self.kappa
        out = np.zeros_like(x)
        for w, mu in zip(self.weights, self.centres, strict=True):
            z = np.sqrt(a * a + k * k + 2 * a * k * np.cos(x - mu))
            out += w * np.exp(z - a - k) * special.i0e(z) / special.i0e(k)
        return out

    def unit(
        self, x: np.ndarray, c: np.ndarray, derivative: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``phi(x; c)`` and ``d phi / dc`` (None unless ``derivative``), broadcast."""
        d = x - c
        phi = np.exp((np.cos(d) - 1.0) * self.inv)
        return phi, (phi * np.sin(d) * self.inv if derivative else None)

    def split(self, theta: np.ndarray) -> tuple[np.ndarray | float, np.ndarray]:
        """Amplitudes and centres of ``theta`` (``(..., dim)``)."""
        if self.dim == 1:
            return self.amplitude, theta[..., 0]
        return theta[..., 0], theta[..., 1]

    def quadrature_units(self, theta: np.ndarray) -> np.ndarray:
        """``phi(x_q; c_i)`` of every slot on the quadrature points, (R, capacity, Q)."""
        _, c = self.split(theta)
        cos = np.cos(c)[..., None] * self.cq + np.sin(c)[..., None] * self.sq  # cos(x_q - c)
        cos -= 1.0
        cos *= self.inv
        return np.exp(cos, out=cos)

    def quadrature(self, theta: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The quadrature units (R, capacity, Q) and the residual ``g - f`` on them (R, Q)."""
        a, _ = self.split(theta)
        phi = self.quadrature_units(theta)
        w = np.where(active, a, 0.0) / self.n0
        return phi, self.gq[None, :] - np.einsum("rc,rcq->rq", w, phi)

    def output(self, theta: np.ndarray, active: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``f`` at inputs ``x`` (``(P,)`` shared or ``(R, P)`` per replica), shape (R, P)."""
        a, c = self.split(theta)
        w = np.where(active, a, 0.0) / self.n0  # (R, C)
        xs = x[:, None, :] if x.ndim == 2 else x[None, None, :]
        phi, _ = self.unit(xs, c[:, :, None], derivative=False)
        return np.einsum("rc,rcp->rp", w, phi)

    # ------------------------------------------------------------------ the potential
    def residual(self, theta: np.ndarray, active: np.ndarray) -> np.ndarray:
        """``g - f`` on the quadrature points, (R, Q)."""
        return self.quadrature(theta, active)[1]

    def psi(
        self,
        theta: np.ndarray,
        active: np.ndarray,
        state: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """``Psi_i`` of every slot by quadrature over x, (R, capacity); ``state`` is a
        :meth:`quadrature` of the same positions (computed when not given)."""
        phi, r = self.quadrature(theta, active) if state is None else state
        a, _ = self.split(theta)
        return -a * np.einsum("rq,rcq->rc", r, phi) / self.xq.size

    def psi_grid(self, theta: np.ndarray, active: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """``Psi`` at centres ``grid`` (amplitude ``amplitude``) from each replica's residual,
        (R, G)."""
        r = self.residual(theta, active)
        phi, _ = self.unit(self.xq[None, :], np.asarray(grid, dtype=float)[:, None], False)
        return -self.amplitude * (r @ phi.T) / self.xq.size

    def field(self, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``Psi`` of a continuous population as an affine map of its density on ``grid``.

        A density ``nu`` of centres (amplitude ``amplitude``), normalised to ``N / N0``, gives
        ``f(x) = a int nu(c) phi(x; c) dc`` and

            Psi(c_i) = psi0_i + sum_j kernel_ij w_j nu_j,

        ``psi0(c) = -a E_x[g phi(x; c)]``, ``kernel(c, c') = a^2 E_x[phi(x; c) phi(x; c')]``
        (quadrature over x), ``w_j`` the quadrature weights of the grid in c (uniform
        ``2 pi / G`` on the periodic ``grid``). Only for ``train = "center"``.

        Returns
        -------
        psi0 : ndarray, (G,)
        kernel : ndarray, (G, G)

        Examples
        --------
        >>> from models.potentials import check_potential
        >>> net = RBFNetwork(check_potential({"type": "rbf_network"}), n0=4, noise=1.0)
        >>> grid = np.arange(64) * (2 * np.pi / 64)
        >>> theta = np.broadcast_to(grid[:, None], (1, 64, 1)).copy()  # 64 neurons, N / N0 = 16
        >>> psi0, kernel = net.field(grid)
        >>> nu = np.full(64, 16 / (2 * np.pi))
        >>> exact = net.psi_grid(theta, np.ones((1, 64), bool), grid)[0]
        >>> bool(np.allclose(psi0 + kernel @ (nu * 2 * np.pi / 64), exact))
        True
        """
        if self.dim != 1:
            raise ValueError(f"train: {self.train!r}; the density field needs train = 'center'")
        c = np.asarray(grid, dtype=float)
        phi, _ = self.unit(self.xq[None, :], c[:, None], False)  # (G, Q)
        q = self.xq.size
        psi0 = -self.amplitude * (phi @ self.gq) / q
        kernel = self.amplitude**2 * (phi @ phi.T) / q
        return psi0, kernel

    def loss(
        self,
        theta: np.ndarray,
        active: np.ndarray,
        state: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """``R = E (y - f)^2 / 2`` per replica (quadrature, label noise included), (R,)."""
        r = (self.quadrature(theta, active) if state is None else state)[1]
        return 0.5 * (np.mean(r * r, axis=1) + self.noise**2)

    def exact_gradient(self, theta: np.ndarray, active: np.ndarray) -> np.ndarray:
        """``grad Psi`` of every slot by quadrature, (R, capacity, dim)."""
        phi, r = self.quadrature(theta, active)
        a, c = self.split(theta)
        # d phi / dc = phi sin(x - c) / l^2
        sin = self.sq * np.cos(c)[..., None] - self.cq * np.sin(c)[..., None]
        dphi = phi * sin * self.inv
        q = self.xq.size
        out = np.empty((*c.shape, self.dim))
        out[..., -1] = -a * np.einsum("rq,rcq->rc", r, dphi) / q
        if self.dim == 2:
            out[..., 0] = -np.einsum("rq,rcq->rc", r, phi) / q
        return out

    def sgd_gradient(
        self,
        theta: np.ndarray,
        active: np.ndarray,
        rng: np.random.Generator,
        batch: int,
        per_neuron: bool,
    ) -> np.ndarray:
        """A mini-batch estimate of ``grad Psi`` of every slot, (R, capacity, dim).

        ``per_neuron``: a pool of ``POOL_FACTOR * batch`` inputs per replica, each slot on its
        own random ``batch``-subset (without replacement); otherwise one mini-batch of
        ``batch`` inputs per replica shared by every slot.
        """
        R, C = active.shape
        B = POOL_FACTOR * batch if per_neuron else batch
        x = rng.uniform(0.0, TWO_PI, (R, B))
        y = self.target(x) + self.noise * rng.standard_normal((R, B))
        e = y - self.output(theta, active, x)  # (R, B)
        a, c = self.split(theta)
        if per_neuron:
            keys = rng.random((R, C, B))
            idx = np.argpartition(keys, batch - 1, axis=2)[:, :, :batch]  # (R, C, M)
            rows = np.arange(R)[:, None, None]
            xs, es = x[rows, idx], e[rows, idx]
        else:
            xs, es = x[:, None, :], e[:, None, :]
        phi, dphi = self.unit(xs, c[:, :, None])
        out = np.empty((R, C, self.dim))
        out[..., -1] = -a * np.mean(es * dphi, axis=2)
        if self.dim == 2:
            out[..., 0] = -np.mean(es * phi, axis=2)
        return out

    def wrap(self, theta: np.ndarray) -> None:
        """Map the centres into ``[0, 2 pi)`` in place."""
        np.mod(theta[..., -1], TWO_PI, out=theta[..., -1])

    def initial(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        """Start: centres uniform on the circle, amplitudes ``amplitude``; ``shape + (dim,)``."""
        out = np.empty((*shape, self.dim))
        out[..., -1] = rng.uniform(0.0, TWO_PI, shape)
        if self.dim == 2:
            out[..., 0] = self.amplitude
        return out
