"""Replicas coupled through a shared density neuron, and the inertial integrator of coupled runs.

With ``SystemConfig.coupling`` set, a frozen-potential
:class:`~models.learning_system.LearningSystem` with one particle per replica gets a
non-trainable *density neuron*: a Mesa agent on the node ``density:<coordinate>`` of
``model.graph``, with one edge (attribute ``coordinate``) to the node ``particle:0`` of the
particle slot that carries ``q_j``, that reads the declared 1-D coordinate ``q_j`` of all R
replicas at once, estimates their density ``p_hat`` and adds to the ensemble's loss

    U = c_F sum_r |d/dq ln p_hat(q_r)|^2,

whose gradient acts on every replica through the arrays. This coupling, its coefficient ``c_F``,
the frictionless inertia and the irrotational (at rest) starts are put in by hand: nothing in SGD
produces them. Estimators (``estimator``):

``hdw``
    sorted replicas, ``p_hat`` from the order statistics (nearest-neighbour gaps), O(R log R):
    ``U = c_F sum_n [1/(x_{n+1} - x_n) - 1/(x_n - x_{n-1})]^2`` with ``x_0 = -inf`` and
    ``x_{R+1} = +inf`` (the Hall-Deckert-Wiseman interworld potential in 1-D).
``kernel``
    Gaussian kernel density of bandwidth ``bandwidth`` (default Silverman's rule, fixed within a
    learning step), O(R^2); for stationary (ground-state) runs.
``calogero``
    control: a generic scale-invariant nearest-neighbour repulsion ``g sum 1/gap^2`` (``g`` given,
    or tuned so that its harmonic ground width equals the HDW one).
``frozen``
    control: the density neuron reads a frozen snapshot (a Gaussian of mean ``reference_mean``
    and variance ``reference_variance``, default the replicas at the first step) and each replica
    feels the first variation ``Q_ref = -c_F (|d ln p|^2 + 2 d^2 ln p)`` of the Fisher functional
    at that snapshot: no self-consistency.

Inertial integrator (one learning step, dt = 1, mass ``m = 1 / step_size``, momentum
``p = m v``): Strang splitting -- a half-kick with the step's loss gradient, ``n_sub``
velocity-Verlet sub-steps of the coupling force, a half-kick -- then friction ``p <- beta p``
(``beta = momentum``) and the explicit noise ``p <- p + sqrt(2 D) m xi`` (D = ``diffusion``, one
draw per replica and coordinate), once per learning step. In these units ``hbar = sqrt(8 m c_F)``,
``omega = sqrt(step_size k)`` per step for a curvature k, and the noise temperature is
``T = D / (step_size (1 - beta))``. The interworld modes are about ``2 R^2`` times faster than
``omega``; ``n_sub`` is chosen every learning step from the smallest gap (or the bandwidth) so that
the fastest mode turns by at most ``accuracy`` radians per sub-step, unless ``n_sub`` is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
from mesa.discrete_space import Cell, FixedAgent

from agents.params import ConfigError, check_choice, check_float, check_int
from models.divergence import Diverged
from models.particles import ParticleObservables

if TYPE_CHECKING:
    from models.learning_system import LearningSystem

__all__ = [
    "ESTIMATORS",
    "DensityNeuron",
    "calogero_coefficient",
    "calogero_energy",
    "calogero_force",
    "check_coupling",
    "coupled_step",
    "coupling_energy",
    "coupling_force",
    "ground_configuration",
    "hdw_energy",
    "hdw_force",
    "kernel_energy",
    "kernel_force",
]

ESTIMATORS = ("hdw", "kernel", "calogero", "frozen")
# the fastest mode: omega_max = STIFF sqrt(c / m) / d_min^2 (measured at the harmonic ground
# state: 5.3 (R = 20) and 5.6 (R = 100) for hdw, 4.8 and 4.9 for calogero); kernel: d_min -> h
_STIFF = {"hdw": 6.0, "calogero": 5.0, "kernel": 6.0}


# --------------------------------------------------------------------------- validation
def check_coupling(spec: Any, fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """Check a ``coupling`` table against the other fields of a config; return it normalised.

    Keys: ``coordinate`` (``"q_j"``, j < the potential's dimension), ``estimator`` (one of
    :data:`ESTIMATORS`), ``c_F`` (>= 0; 0 is the coupling-off control, the same
    integrator with no coupling force; for ``calogero`` the HDW coefficient it is tuned
    against), ``g`` (calogero strength, default tuned), ``bandwidth`` (kernel, default
    Silverman), ``reference_mean`` and ``reference_variance`` (frozen), ``n_sub`` (sub-steps,
    default automatic) and ``accuracy`` (radians of the fastest mode per sub-step, default 0.25).
    A coupling needs a potential (frozen-potential mode), one particle per replica
    (``n_hidden = 1``), at least two replicas and no controllers.

    Examples
    --------
    >>> fields = {"potential": {"type": "polynomial", "coefficients": [0, 0, 0.5]},
    ...           "n_hidden": 1, "n_hidden_max": 1, "replicas": 10, "controllers": ()}
    >>> check_coupling({"estimator": "hdw", "c_F": 5e-5}, fields)["coordinate"]
    'q_0'
    >>> try:
    ...     check_coupling({"estimator": "sph", "c_F": 1.0}, fields)
    ... except ConfigError as err:
    ...     print(err)
    coupling.estimator: 'sph'; expected one of hdw, kernel, calogero, frozen
    """
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError("coupling", spec, "a table with estimator and c_F")
    where = "coupling"
    known = {
        "coordinate",
        "estimator",
        "c_F",
        "g",
        "bandwidth",
        "reference_mean",
        "reference_variance",
        "n_sub",
        "accuracy",
    }
    for key in spec:
        if key not in known:
            raise ConfigError(f"{where}.{key}", spec[key], f"a key of {', '.join(sorted(known))}")
    pot = fields.get("potential")
    if pot is None:
        raise ConfigError(where, dict(spec), "a potential (coupled replicas are particles)")
    dim = len(pot["axes"]) if pot.get("type") == "separable" else 1
    if pot.get("type") == "rbf_network":
        raise ConfigError(where, dict(spec), "a frozen polynomial/cosine/separable potential")
    if fields.get("n_hidden") != 1 or fields.get("n_hidden_max") != 1:
        raise ConfigError("n_hidden", fields.get("n_hidden"), "1 with a coupling (one per replica)")
    if int(fields.get("replicas", 0)) < 2:
        raise ConfigError("replicas", fields.get("replicas"), "an integer >= 2 with a coupling")
    if fields.get("controllers"):
        raise ConfigError("controllers", fields["controllers"], "none with a coupling")
    out: dict[str, Any] = {}
    coord = spec.get("coordinate", "q_0")
    if not isinstance(coord, str) or not coord.startswith("q_") or not coord[2:].isdigit():
        raise ConfigError(f"{where}.coordinate", coord, f"q_j with j in [0, {dim})")
    if int(coord[2:]) >= dim:
        raise ConfigError(f"{where}.coordinate", coord, f"q_j with j in [0, {dim})")
    out["coordinate"] = coord
    out["estimator"] = check_choice(spec, "estimator", where, "hdw", ESTIMATORS)
    out["c_F"] = check_float(spec, "c_F", where, None, 0.0)
    for key in ("g", "bandwidth", "reference_variance"):
        if spec.get(key) is not None:
            out[key] = check_float(spec, key, where, None, 0.0, lo_open=True)
    if spec.get("reference_mean") is not None:
        out["reference_mean"] = check_float(spec, "reference_mean", where, None, -math.inf)
    if spec.get("n_sub") is not None:
        out["n_sub"] = check_int(spec, "n_sub", where, None, 1, 10**7)
    out["accuracy"] = check_float(spec, "accuracy", where, 0.25, 0.0, 2.0, lo_open=True)
    return out


# --------------------------------------------------------------------------- estimators
def hdw_energy(x: np.ndarray, c: float) -> float:
    """The HDW interworld energy ``c sum_n [1/gap_n - 1/gap_{n-1}]^2`` of positions ``x``.

    Examples
    --------
    >>> round(hdw_energy(np.array([-1.0, 1.0]), 1.0), 12)
    0.5
    """
    g = 1.0 / np.diff(np.sort(x))
    a = np.diff(g, prepend=0.0, append=0.0)
    return float(c * np.dot(a, a))


def hdw_force(xs: np.ndarray, c: float) -> np.ndarray:
    """``-dU/dx`` of the HDW energy for positions ``xs`` sorted ascending (same order).

    Examples
    --------
    >>> hdw_force(np.array([-1.0, 1.0]), 1.0).tolist()
    [-0.5, 0.5]
    """
    g = 1.0 / np.diff(xs)
    a = np.diff(g, prepend=0.0, append=0.0)
    h = (2.0 * c) * (a[:-1] - a[1:]) * g * g
    return -np.diff(h, prepend=0.0, append=0.0)


def calogero_energy(x: np.ndarray, g: float) -> float:
    """Nearest-neighbour repulsion ``g sum 1/gap^2``."""
    d = np.diff(np.sort(x))
    return float(g * np.sum(1.0 / (d * d)))


def calogero_force(xs: np.ndarray, g: float) -> np.ndarray:
    """``-dU/dx`` of ``g sum 1/gap^2`` for positions sorted ascending."""
    inv = 1.0 / np.diff(xs)
    h = (2.0 * g) * inv * inv * inv  # -dU/dgap
    return -np.diff(h, prepend=0.0, append=0.0)


def _kernel_parts(x: np.ndarray, h: float) -> tuple[np.ndarray, ...]:
    z = x[:, None] - x[None, :]
    k = np.exp(-0.5 * (z / h) ** 2)
    k1 = -z / (h * h) * k
    k2 = (z * z / h**4 - 1.0 / (h * h)) * k
    return k, k1, k2


def kernel_energy(x: np.ndarray, c: float, h: float) -> float:
    """``c sum_r |d ln p_hat(x_r)|^2`` with a Gaussian kernel density of bandwidth ``h``."""
    k, k1, _ = _kernel_parts(x, h)
    u = k1.sum(axis=1) / k.sum(axis=1)
    return float(c * np.dot(u, u))


def kernel_force(x: np.ndarray, c: float, h: float) -> np.ndarray:
    """``-dU/dx`` of :func:`kernel_energy` (bandwidth held fixed)."""
    k, k1, k2 = _kernel_parts(x, h)
    s = k.sum(axis=1)
    u = k1.sum(axis=1) / s
    w = 2.0 * c * u / s
    grad = w * (k2.sum(axis=1) - u * k1.sum(axis=1)) - (w[:, None] * (k2 - u[:, None] * k1)).sum(
        axis=0
    )
    return -grad


def frozen_energy(x: np.ndarray, c: float, mean: float, var: float) -> float:
    """``sum_r Q_ref(x_r)`` for a frozen Gaussian snapshot.

    ``Q_ref = c (2/var - (x - mean)^2 / var^2)``, the Fisher first variation of the snapshot.
    """
    return float(np.sum(c * (2.0 / var - (x - mean) ** 2 / var**2)))


def frozen_force(x: np.ndarray, c: float, mean: float, var: float) -> np.ndarray:
    """``-dQ_ref/dx`` of :func:`frozen_energy`."""
    return 2.0 * c * (x - mean) / var**2


def calogero_coefficient(c: float, n: int) -> float:
    """The Calogero strength ``g`` whose harmonic ground width equals the HDW one at ``c``, n.

    Both couplings are homogeneous of degree -2, so at curvature ``m omega^2`` a strength
    ``g`` gives the width ``Var_1 sqrt(g / (m omega^2))`` (Var_1 at unit strength and
    curvature); HDW at ``c = hbar^2 / 8m`` gives ``Var_g = hbar/(2 m omega) (1 - 1/n)``.
    The returned value holds for ``m omega^2 = 1``: ``g = (Var_g / Var_1)^2`` with
    ``Var_g = sqrt(8 c) (1 - 1/n) / 2`` (so it scales as ``c`` for every curvature).

    Examples
    --------
    >>> round(calogero_coefficient(1 / 8, 20), 4) > 0
    True
    """
    x1 = ground_configuration(n, "calogero", strength=1.0)
    var1 = float(np.var(x1))
    xg = ground_configuration(n, "hdw", strength=c)
    return (float(np.var(xg)) / var1) ** 2


_GROUND: dict[tuple[int, str, float], np.ndarray] = {}


def ground_configuration(n: int, estimator: str = "hdw", strength: float = 0.125) -> np.ndarray:
    """The minimum of ``sum x^2/2 + U(x)`` (unit mass and frequency), sorted, shape ``(n,)``.

    ``U`` is the HDW energy with ``c = strength`` (``hbar = m = omega = 1`` at 1/8) or the
    Calogero energy with ``g = strength``. Found by damped Newton steps from Gaussian quantiles
    (the banded Hessian by finite differences of the analytic force); cached.

    Examples
    --------
    >>> x = ground_configuration(20)
    >>> round(float(np.var(x)), 6)
    0.475
    """
    key = (int(n), estimator, float(strength))
    if key in _GROUND:
        return _GROUND[key].copy()
    from_quantiles = np.sort(_normal_quantiles(n)) * math.sqrt(0.5)
    force = (
        (lambda x: hdw_force(x, strength))
        if estimator == "hdw"
        else (lambda x: calogero_force(x, strength))
    )
    energy = (
        (lambda x: hdw_energy(x, strength))
        if estimator == "hdw"
        else (lambda x: calogero_energy(x, strength))
    )
    if estimator == "calogero":  # widths scale as strength ** (1/2)
        from_quantiles *= (8.0 * strength) ** 0.25
    x = from_quantiles

    def grad(y: np.ndarray) -> np.ndarray:
        return y - force(y)

    def total(y: np.ndarray) -> float:
        if np.any(np.diff(y) <= 0):
            return math.inf
        return 0.5 * float(np.dot(y, y)) + energy(y)

    for _ in range(60):
        gvec = grad(x)
        eps = 1e-6 * float(np.min(np.diff(x)))
        hess = np.zeros((n, n))
        for colour in range(5):  # the Hessian is banded (|i - j| <= 2): 5 colours suffice
            e = np.zeros(n)
            e[colour::5] = eps
            col = (grad(x + e) - grad(x - e)) / (2 * eps)
            for j in range(colour, n, 5):
                lo, hi = max(0, j - 2), min(n, j + 3)
                hess[lo:hi, j] = col[lo:hi]
        hess = 0.5 * (hess + hess.T)
        step = np.linalg.solve(hess, gvec)
        f0, t = total(x), 1.0
        while t > 1e-8 and not total(x - t * step) <= f0 + 1e-15 * abs(f0):
            t *= 0.5
        x = x - t * step
        if np.max(np.abs(t * step)) < 1e-14 * float(np.max(np.abs(x))):
            break
    _GROUND[key] = x.copy()
    return x


def _normal_quantiles(n: int) -> np.ndarray:
    nd = NormalDist()
    return np.array([nd.inv_cdf((i + 0.5) / n) for i in range(n)])


def coupling_energy(x: np.ndarray, spec: Mapping[str, Any], state: Mapping[str, float]) -> float:
    """The coupling energy U of positions ``x`` (any order) for a normalised spec.

    ``state`` holds ``g`` (calogero), ``bandwidth`` (kernel) or ``mean``/``var`` (frozen).

    Examples
    --------
    >>> spec = {"estimator": "hdw", "c_F": 1.0}
    >>> coupling_energy(np.array([1.0, -1.0]), spec, {})
    0.5
    """
    est, c = spec["estimator"], spec["c_F"]
    if est == "hdw":
        return hdw_energy(x, c)
    if est == "calogero":
        return calogero_energy(x, state["g"])
    if est == "kernel":
        return kernel_energy(x, c, state["bandwidth"])
    return frozen_energy(x, c, state["mean"], state["var"])


def coupling_force(
    x: np.ndarray, spec: Mapping[str, Any], state: Mapping[str, float]
) -> np.ndarray:
    """``-dU/dx`` at positions ``x`` (any order; returned in the same order).

    Examples
    --------
    >>> spec = {"estimator": "hdw", "c_F": 1.0}
    >>> coupling_force(np.array([1.0, -1.0]), spec, {}).tolist()
    [0.5, -0.5]
    """
    est, c = spec["estimator"], spec["c_F"]
    if est in ("hdw", "calogero"):
        order = np.argsort(x, kind="stable")
        xs = x[order]
        f = hdw_force(xs, c) if est == "hdw" else calogero_force(xs, state["g"])
        out = np.empty_like(f)
        out[order] = f
        return out
    if est == "kernel":
        return kernel_force(x, c, state["bandwidth"])
    return frozen_force(x, c, state["mean"], state["var"])


# --------------------------------------------------------------------------- the agent
class DensityNeuron(FixedAgent):
    """The shared, non-trainable density neuron of a coupled run (node ``density:<coordinate>``).

    It reads coordinate ``q_j`` of every replica, estimates their density and moves all
    replicas by one learning step of the inertial integrator (:meth:`advance`); its node has an
    edge to ``particle:0``, the slot whose coordinate j it reads. It holds the
    replicas' momenta ``p`` (``(R, dim)``, ``p = m v``) and the last step's sub-step count.

    Parameters
    ----------
    model : LearningSystem
        A model whose config has a ``coupling`` table.

    Examples
    --------
    >>> model = LearningSystem(replicas=20, n_hidden=1, step_size=0.01, diffusion=0.0,
    ...     noise_mode="langevin", momentum=1.0, seed=0,
    ...     potential={"type": "polynomial", "coefficients": [0, 0, 0.5]},
    ...     coupling={"estimator": "hdw", "c_F": 5e-5})
    >>> neuron = model.density
    >>> neuron.node, model.graph.nodes[neuron.node]["kind"]
    ('density:q_0', 'density')
    >>> list(model.graph.successors(neuron.node))
    ['particle:0']
    >>> round(neuron.hbar(), 6), round(neuron.mass(), 6)
    (0.2, 100.0)
    """

    def __init__(self, model: LearningSystem) -> None:
        super().__init__(model)
        spec = dict(model.config.coupling)
        self.spec = spec
        self.estimator: str = spec["estimator"]
        self.coordinate: str = spec["coordinate"]
        self.axis = int(self.coordinate[2:])
        self.node = f"density:{self.coordinate}"
        cell = Cell(self.node, random=model.space.random)
        model.space.add_cell(cell)
        model.graph.nodes[self.node].update(
            kind="density",
            estimator=self.estimator,
            coordinate=self.coordinate,
            c_F=spec["c_F"],
            label=self.node,
            note="coupling put in by hand",
        )
        # the slot that carries q_j: particle slot 0 (a coupling has one particle per replica,
        # whose coordinate j is q_j), a node of its own (the boundary network has no hidden
        # neuron); the edge density:q_j -> particle:0 names the coordinate
        self.slot = "particle:0"
        if self.slot not in model.graph:
            model.space.add_cell(Cell(self.slot, random=model.space.random))
            model.graph.nodes[self.slot].update(
                kind="particle", slot=0, dim=int(model.particles.dim), label=self.slot
            )
        model.space.add_connection(cell, model.space[self.slot])
        model.graph.edges[self.node, self.slot]["coordinate"] = self.coordinate
        self.cell = cell
        parts = model.particles
        self.p = np.zeros((parts.replicas, parts.dim), dtype=parts.dtype)
        x = self.positions()
        if np.any(np.diff(np.sort(x)) <= 0):
            # coinciding replicas (a noise-free start): spread them on the normal quantiles of
            # the harmonic zero-point variance sqrt(2 c_F / k) around the coordinate's minimum
            k = float(parts.potential.curvatures()[self.axis])
            var = math.sqrt(2.0 * spec["c_F"] / k) if k > 0 else math.sqrt(spec["c_F"])
            centre = float(parts.potential.minimum()[self.axis])
            x[:] = centre + math.sqrt(var) * _normal_quantiles(x.size)
        self.n_sub = 0
        self.state: dict[str, float] = {}
        if "g" in spec:
            self.state["g"] = spec["g"]
        if "bandwidth" in spec:
            self.state["bandwidth"] = spec["bandwidth"]

    # ------------------------------------------------------------------ units
    def mass(self) -> float:
        """``m = 1 / step_size`` (the heavy ball's mass in step units)."""
        return 1.0 / float(self.model.step_size)

    def hbar(self) -> float:
        """``hbar = sqrt(8 m c_F)``."""
        return math.sqrt(8.0 * self.mass() * self.spec["c_F"])

    def positions(self) -> np.ndarray:
        """The coupled coordinate of every replica, ``(R,)`` (a view)."""
        return self.model.particles.theta[:, 0, self.axis]

    # ------------------------------------------------------------------ energy
    def _prepare(self, x: np.ndarray) -> None:
        est, spec, st = self.estimator, self.spec, self.state
        if est == "calogero" and "g" not in st:
            # tuned to the HDW ground width at the same c_F in a harmonic loss k q^2 / 2: both
            # energies are homogeneous of degree -2, so the tuned g is linear in c_F and
            # independent of k and of the mass
            st["g"] = 8.0 * spec["c_F"] * calogero_coefficient(0.125, x.size)
        elif est == "frozen" and "var" not in st:
            st["mean"] = float(spec.get("reference_mean", np.mean(x)))
            st["var"] = float(spec.get("reference_variance", np.var(x)))
        elif est == "kernel" and "bandwidth" not in spec:
            st["bandwidth"] = 1.06 * float(np.std(x)) * x.size ** (-0.2)

    def coupling_energy(self) -> float:
        """U of the replicas now."""
        x = self.positions().astype(float)
        self._prepare(x)
        if self.spec["c_F"] == 0 and self.state.get("g", 0.0) == 0:
            return 0.0
        return coupling_energy(x, self.spec, self.state)

    def energy(self) -> dict[str, float]:
        """Kinetic, loss (``sum V``), coupling and total energy of the ensemble now.

        Examples
        --------
        >>> model = LearningSystem(replicas=4, n_hidden=1, step_size=0.01, diffusion=0.0,
        ...     noise_mode="langevin", momentum=1.0,
        ...     potential={"type": "polynomial", "coefficients": [0, 0, 0.5]},
        ...     coupling={"estimator": "hdw", "c_F": 5e-5})
        >>> sorted(model.density.energy())
        ['coupling', 'kinetic', 'loss', 'total']
        """
        parts = self.model.particles
        kin = 0.5 * float(np.sum(self.p * self.p)) / self.mass()
        loss = float(np.sum(parts.potential.value(parts.theta[:, 0, :])))
        u = self.coupling_energy()
        return {"kinetic": kin, "loss": loss, "coupling": u, "total": kin + loss + u}

    # ------------------------------------------------------------------ dynamics
    def sub_steps(self, x: np.ndarray, v: np.ndarray | None = None) -> int:
        """Velocity-Verlet sub-steps for this learning step (``n_sub`` or automatic).

        Automatic: the fastest mode ``STIFF sqrt(c/m) / d^2`` at the smallest gap ``d`` (or
        the bandwidth), with ``d`` lowered to the turning gap of replicas closing head-on at
        velocities ``v`` (per step), and at least 4 sub-steps per gap-closing time; each turns
        the fastest mode by at most ``accuracy`` radians (with a safety factor 1.5).
        """
        if "n_sub" in self.spec:
            return int(self.spec["n_sub"])
        if self.estimator == "frozen":
            return 1
        m = self.mass()
        closing = 0.0
        if self.estimator == "kernel":
            scale = self.state["bandwidth"] ** 2
            c = self.spec["c_F"]
        else:
            order = np.argsort(x)
            d = np.diff(x[order])
            c = self.spec["c_F"] if self.estimator == "hdw" else self.state["g"]
            if not d.size or not np.min(d) > 0:
                return 1
            gap = float(np.min(d))
            if v is not None:
                dv = -np.diff(v[order])  # > 0: neighbours approach
                fast = dv > 0
                if fast.any():
                    closing = float(np.max(dv[fast] / d[fast]))
                    # turning gap of a head-on pair: 4 c / d^2 = m dv^2 / 4
                    turn = np.sqrt(16.0 * c / (m * dv[fast] ** 2))
                    gap = min(gap, float(np.min(turn)))
            scale = gap**2
        if not scale > 0:
            return 1
        omega_max = 1.5 * _STIFF[self.estimator] * math.sqrt(c / m) / scale
        need = max(omega_max / self.spec["accuracy"], 4.0 * closing)
        return max(1, math.ceil(need))

    def advance(self) -> None:
        """One learning step of every replica (Strang splitting; see the module docstring)."""
        model = self.model
        cfg = model.config
        parts = model.particles
        pot = parts.potential
        q = parts.theta[:, 0, :].astype(float)
        p = self.p.astype(float)
        m = self.mass()
        j = self.axis
        x = q[:, j]
        self._prepare(x)
        p -= 0.5 * pot.gradient(q)
        off = self.spec["c_F"] == 0 and self.state.get("g", 0.0) == 0
        n_sub = 1 if off else self.sub_steps(x, p[:, j] / m)
        self.n_sub = n_sub
        h = 1.0 / n_sub
        if off:  # the coupling-off control: a free drift between the half-kicks
            x += p[:, j] / m
        # coupled coordinate: velocity Verlet of the coupling force (sorted order is kept
        # by the infinite nearest-neighbour barriers of hdw and calogero)
        elif self.estimator in ("hdw", "calogero"):
            order = np.argsort(x, kind="stable")
            xs, ps = x[order], p[order, j]
            c = self.spec["c_F"] if self.estimator == "hdw" else self.state["g"]
            _leapfrog(xs, ps, self.estimator, c, h, m, n_sub)
            if not np.all(np.diff(xs) > 0):
                raise Diverged(
                    model.steps,
                    list(range(cfg.replicas)),
                    ["positions"],
                    f"coupled replicas crossed with n_sub = {n_sub} (sub-step too large)",
                    cfg.replicas,
                )
            x[order], p[order, j] = xs, ps
        else:
            f = coupling_force(x, self.spec, self.state)
            for _ in range(n_sub):
                p[:, j] += 0.5 * h * f
                x += (h / m) * p[:, j]
                f = coupling_force(x, self.spec, self.state)
                p[:, j] += 0.5 * h * f
        others = [a for a in range(q.shape[1]) if a != j]
        if others:
            q[:, others] += p[:, others] / m
        q[:, j] = x
        p -= 0.5 * pot.gradient(q)
        p *= float(cfg.momentum)
        D = float(cfg.diffusion or 0.0)
        if D:
            p += (math.sqrt(2.0 * D) * m) * model.streams["particles"].standard_normal(p.shape)
        parts.theta[:, 0, :] = q
        pot.wrap(parts.theta)
        self.p[...] = p


def coupled_step(model: LearningSystem) -> None:
    """One step of a coupled model: the density neuron moves the replicas, then observe, hooks,
    record (controllers are refused with a coupling).

    A replica that leaves the finite numbers raises :class:`~models.divergence.Diverged`.
    """
    model.density.advance()
    model.last_state = None
    model.observables = ParticleObservables(model)
    parts = model.particles
    bad = ~np.isfinite(parts.theta[:, 0, :]).all(axis=1)
    if bad.any():
        raise Diverged(
            model.steps,
            np.nonzero(bad)[0].tolist(),
            ["positions"],
            f"step_size {model.step_size:g} too large for the coupled dynamics",
            model.config.replicas,
        )
    model.observables.refresh()
    for hook in model.step_hooks:
        hook(model)
    model.recorder.record()


def _leapfrog(
    xs: np.ndarray, ps: np.ndarray, kind: str, c: float, h: float, m: float, n: int
) -> None:
    """``n`` velocity-Verlet sub-steps of length ``h`` of the hdw or calogero force, in place.

    Positions ``xs`` are sorted ascending (and stay so for a stable sub-step); buffers are
    allocated once, so a sub-step costs a handful of array operations on R numbers.
    """
    size = xs.size
    gap = np.empty(size - 1)
    g = np.zeros(size + 1)  # 1/gap padded with the two zero (infinite-gap) ends
    a = np.empty(size)
    hpad = np.zeros(size + 1)
    kick = np.empty(size)
    inner = g[1:-1]
    body = hpad[1:-1]

    def force_times(scale: float) -> np.ndarray:  # scale * (-dU/dx), into kick
        np.subtract(xs[1:], xs[:-1], out=gap)
        np.divide(1.0, gap, out=inner)
        if kind == "hdw":
            np.subtract(g[1:], g[:-1], out=a)
            np.subtract(a[:-1], a[1:], out=body)
        else:
            np.copyto(body, inner)
        np.multiply(body, inner, out=body)
        np.multiply(body, inner, out=body)
        np.multiply(body, 2.0 * c * scale, out=body)
        np.subtract(hpad[:-1], hpad[1:], out=kick)
        return kick

    hm = h / m
    ps += force_times(0.5 * h)
    for _ in range(n - 1):
        xs += hm * ps
        ps += force_times(h)
    xs += hm * ps
    ps += force_times(0.5 * h)
