"""Neurons as particles: the per-replica particle arrays of the frozen-potential mode.

With ``SystemConfig.potential`` set, a :class:`~models.learning_system.LearningSystem` has no
hidden network: its ``n_hidden`` neurons are non-interacting particles theta_i (one per slot
of a per-replica array, ``dim`` coordinates each) in the frozen potential V, the known-answer
system of the neuron-particle picture. One step moves every particle of every replica at once,

    theta <- theta - eta grad V(theta) + sqrt(2 D) xi,

with ``eta = model.step_size``, ``D = config.diffusion`` and standard normal ``xi``: one draw
per particle (``noise_mode = "langevin"``) or one per replica shared by all its particles
(``"common"``: clones never separate). Periodic (cosine) coordinates are wrapped into
``[0, 2 pi)``. The per-neuron first variation is ``Psi_i = V(theta_i)``.

Births and deaths (the ``clone`` policy of the neuron-count controller) act through
:meth:`Particles.branch`: every slot holds ``copies`` identical particles afterwards; slots of
dead particles are recycled, and the capacity grows when a birth finds no free slot. Each
particle carries a ``neuron_id`` unique within the run (never reused), its parent's id and its
birth step; clones copy every per-neuron array of the parent (:attr:`Particles.arrays`).

The network machinery of the model stays in place with no hidden neurons (a boundary-only
network, :func:`boundary_config`), so recorders and the DataCollector run unchanged: in this
mode ``q_j`` is the population mean of coordinate j, ``loss`` the population mean of V and
``n_neurons`` the number of particles of each replica; the network's free energy and
prediction error are NaN.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.divergence import Diverged
from models.mean_field import RBFNetwork
from models.observables import Observables
from models.potentials import Potential, make_potential

if TYPE_CHECKING:
    from models.config import SystemConfig
    from models.learning_system import LearningSystem

__all__ = [
    "PARTICLE_COLUMNS",
    "ParticleObservables",
    "ParticleRecorder",
    "Particles",
    "boundary_config",
    "initial_variance",
    "particle_step",
]


def boundary_config(config: SystemConfig) -> SystemConfig:
    """The network part of a frozen-potential config: boundary neurons only, no particles.

    Examples
    --------
    >>> cfg = SystemConfig(n_hidden=100, potential={"type": "polynomial",
    ...                    "coefficients": [0, 0, 0.5]}, diffusion=1e-3, noise_mode="langevin")
    >>> net = boundary_config(cfg)
    >>> net.n_hidden, net.potential, net.n_neurons_max
    (0, None, 3)
    """
    return config.replace(
        n_hidden=0,
        n_hidden_max=0,
        potential=None,
        noise_mode="common",
        diffusion=None,
        controllers=(),
        step_size=1.0,
        observed=1,
    )


def initial_variance(potential: Potential, D: float, eta: float, alpha: float = 0.0) -> np.ndarray:
    """Variance per axis of the start: the harmonic stationary width at the minimum of V.

    ``2 D / (eta k + omega_E)`` with ``k`` the curvature of V at its minimum and
    ``omega_E = sqrt(eta^2 k^2 + 2 alpha D k)``: the Boltzmann width ``T / k`` (``T = D/eta``)
    when ``alpha = 0``, the branching ground-state width when ``eta = 0``. An axis with
    ``k <= 0`` (flat at the minimum) gets ``inf`` (uniform on a circle).

    Examples
    --------
    >>> pot = make_potential({"type": "polynomial", "coefficients": [0, 0, 0.5]})
    >>> initial_variance(pot, 1e-3, 0.01).round(6).tolist()
    [0.1]
    >>> initial_variance(pot, 1e-3, 0.0, alpha=0.05).round(6).tolist()
    [0.2]
    """
    k = potential.curvatures()
    out = np.full(k.shape, np.inf)
    ok = k > 0
    omega = np.sqrt(eta**2 * k[ok] ** 2 + 2 * alpha * D * k[ok])
    denom = eta * k[ok] + omega
    with np.errstate(divide="ignore"):
        out[ok] = np.where(denom > 0, 2 * D / np.where(denom > 0, denom, 1.0), np.inf)
    return out


class Particles:
    """The particles (neurons) of every replica: positions, lineage and slot bookkeeping.

    Parameters
    ----------
    potential : Potential or RBFNetwork
        A frozen potential, or the mean-field network whose first variation the particles
        feel.
    replicas, n : int
        R and the initial particles per replica.
    capacity : int
        Initial slots per replica (>= n); grows when births need more.
    dtype : str or numpy dtype

    Attributes
    ----------
    arrays : dict of str to ndarray
        The per-neuron arrays, each ``(R, capacity, ...)``, that a clone copies from its
        parent: ``theta`` (positions, ``(R, capacity, dim)``) and any array added with
        :meth:`register`.
    active : ndarray of bool, (R, capacity)
        Slots holding a particle.
    neuron_id, parent_id, birth_step : ndarray of int64, (R, capacity)
        Lineage: unique id, the parent's id (-1 for the initial particles) and birth step.
    births, deaths, refused : ndarray of int64, (R,)
        Totals since the start (``refused``: births refused at the ``n_max`` cap).
    events : list of dict, optional
        When a list (set by :class:`ParticleRecorder` with ``events=True``), every
        :meth:`branch` appends its births and deaths to it (one row each: the new or dead
        particle's replica, step, ids, birth step and position).

    Examples
    --------
    >>> pot = make_potential({"type": "polynomial", "coefficients": [0, 0, 0.5]})
    >>> p = Particles(pot, replicas=2, n=3, capacity=3)
    >>> copies = np.array([[0, 1, 3], [1, 1, 1]])
    >>> p.branch(copies, step=5)
    (array([2, 0]), array([1, 0]), array([0, 0]))
    >>> p.counts().tolist(), p.capacity
    ([4, 3], 5)
    >>> p.neuron_id[0][p.active[0]].tolist(), p.parent_id[0][p.active[0]].tolist()
    ([6, 1, 2, 7], [2, -1, -1, 2])
    """

    def __init__(
        self,
        potential: Potential | RBFNetwork,
        replicas: int,
        n: int,
        capacity: int,
        dtype: Any = "float64",
    ) -> None:
        R, C = int(replicas), max(int(capacity), int(n), 1)
        self.potential = potential
        self.dim = potential.dim
        self.replicas = R
        self.dtype = np.dtype(dtype)
        self.arrays: dict[str, np.ndarray] = {"theta": np.zeros((R, C, self.dim), self.dtype)}
        self.active = np.zeros((R, C), dtype=bool)
        self.active[:, :n] = True
        self.neuron_id = np.full((R, C), -1, dtype=np.int64)
        self.neuron_id[:, :n] = np.arange(R * n, dtype=np.int64).reshape(R, n)
        self.parent_id = np.full((R, C), -1, dtype=np.int64)
        self.birth_step = np.zeros((R, C), dtype=np.int64)
        self.next_id = R * n
        self.births = np.zeros(R, dtype=np.int64)
        self.deaths = np.zeros(R, dtype=np.int64)
        self.refused = np.zeros(R, dtype=np.int64)
        self.events: list[dict[str, np.ndarray]] | None = None

    # ------------------------------------------------------------------ views
    @property
    def theta(self) -> np.ndarray:
        """Positions, ``(R, capacity, dim)`` (slots without a particle hold stale values)."""
        return self.arrays["theta"]

    @property
    def capacity(self) -> int:
        """Slots per replica."""
        return self.active.shape[1]

    def counts(self) -> np.ndarray:
        """Particles per replica, (R,)."""
        return self.active.sum(axis=1)

    def positions(self, replica: int = 0) -> np.ndarray:
        """The positions of one replica's particles, ``(n_r, dim)`` (a copy, slot order)."""
        return self.theta[replica][self.active[replica]].copy()

    def psi(self) -> np.ndarray:
        """``Psi_i`` of every slot, (R, capacity) (stale where not active): ``V(theta_i)``, or
        the network's first variation (:meth:`models.mean_field.RBFNetwork.psi`)."""
        return self.potential.psi(self.theta, self.active)

    def mean_position(self) -> np.ndarray:
        """Population mean of each coordinate per replica, (R, dim) (NaN when extinct)."""
        n = self.counts()
        total = np.sum(self.theta, axis=1, where=self.active[:, :, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / n[:, None]

    def register(self, name: str, array: np.ndarray) -> None:
        """Add a per-neuron array ``(R, capacity, ...)`` that clones copy from their parent."""
        if name in self.arrays:
            raise ValueError(f"register: {name!r} is already a per-neuron array")
        if array.shape[:2] != self.active.shape:
            raise ValueError(f"{name}: shape {array.shape}; expected {self.active.shape} + (...)")
        self.arrays[name] = array

    def place(self, theta: np.ndarray) -> None:
        """Set the positions of the active particles: ``(R, n, dim)``, ``(n, dim)`` or ``(n,)``.

        The particles of each replica are taken in slot order; every replica must hold ``n``.
        """
        t = np.asarray(theta, dtype=self.dtype)
        if t.ndim == 1:
            t = t[:, None]
        if t.ndim == 2:
            t = np.broadcast_to(t, (self.replicas, *t.shape))
        n = self.counts()
        if t.shape[0] != self.replicas or t.shape[2] != self.dim or np.any(n != t.shape[1]):
            raise ValueError(
                f"theta: shape {np.shape(theta)}; expected (R, n, {self.dim}) with the current "
                f"particle counts {sorted(set(n.tolist()))}"
            )
        r, c = np.nonzero(self.active)
        self.theta[r, c] = t.reshape(-1, self.dim)
        self.potential.wrap(self.theta)

    # ------------------------------------------------------------------ kernels
    def move(
        self, eta: float, D: float, rng: np.random.Generator, mode: str, batch: int = 1
    ) -> None:
        """One step of every slot: ``theta <- theta - eta g + sqrt(2 D) xi``.

        ``g`` is the exact ``grad Psi``, except for a network in ``per_neuron`` or ``common``
        mode, where it is the mini-batch estimate of
        :meth:`models.mean_field.RBFNetwork.sgd_gradient` (``batch`` = M) and ``D`` is 0.
        ``xi`` has one standard normal draw per slot and coordinate (``langevin``), or one per
        replica and coordinate shared by all its slots (``common``).
        """
        theta = self.theta
        pot = self.potential
        if isinstance(pot, Potential) or mode == "langevin":
            if eta:
                theta -= eta * pot.exact_gradient(theta, self.active)
            if D:
                shape = (self.replicas, 1, self.dim) if mode == "common" else theta.shape
                theta += math.sqrt(2.0 * D) * rng.standard_normal(shape, dtype=self.dtype)
        elif eta:
            per_neuron = mode == "per_neuron"
            theta -= eta * pot.sgd_gradient(theta, self.active, rng, batch, per_neuron)
        pot.wrap(theta)

    def grow(self, capacity: int) -> None:
        """Enlarge every per-slot array to ``capacity`` slots per replica (new slots empty)."""
        C = self.capacity
        if capacity <= C:
            return

        def wider(a: np.ndarray, fill: Any) -> np.ndarray:
            out = np.full((a.shape[0], capacity, *a.shape[2:]), fill, dtype=a.dtype)
            out[:, :C] = a
            return out

        self.arrays = {k: wider(v, 0) for k, v in self.arrays.items()}
        self.active = wider(self.active, False)
        self.neuron_id = wider(self.neuron_id, -1)
        self.parent_id = wider(self.parent_id, -1)
        self.birth_step = wider(self.birth_step, 0)

    def branch(
        self, copies: np.ndarray, step: int, n_max: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Replace the particle of every active slot by ``copies`` identical particles.

        ``copies == 0`` kills the particle; ``copies = c >= 2`` keeps it and adds ``c - 1``
        clones (new ids, ``parent_id`` = its id, ``birth_step = step``, every per-neuron array
        copied) in free slots, in (replica, parent slot) order, lowest free slot first. When a
        replica has too few free slots the capacity grows (by a quarter beyond the need). With
        ``n_max``
        the births that would take a replica beyond ``n_max`` particles are refused (the
        lowest-slot parents keep theirs) and counted.

        Returns
        -------
        births, deaths, refused : ndarray of int64, (R,)
        """
        active = self.active
        R, C = active.shape
        copies = np.asarray(copies) * active  # nothing lives in empty slots
        n_before = active.sum(axis=1)
        if self.events is not None:
            self._log_event("death", np.flatnonzero(active & (copies == 0)), step)
        np.greater(copies, 0, out=active)
        deaths = n_before - active.sum(axis=1)
        extra = np.maximum(copies - 1, 0)
        births = extra.sum(axis=1)
        refused = np.zeros(R, dtype=np.int64)
        if n_max is not None:
            room = np.maximum(n_max - (n_before - deaths), 0)
            over = births > room
            if over.any():
                # keep the first `room` births of each over-full replica (slot order)
                csum = np.cumsum(extra, axis=1)
                keep = np.clip(room[:, None] - (csum - extra), 0, extra)
                extra = np.where(over[:, None], keep, extra)
                refused = births - extra.sum(axis=1)
                births = extra.sum(axis=1)
        total = int(births.sum())
        if total:
            need = int((n_before - deaths + births).max())
            if need > C:
                self.grow(max(need + need // 4, C + 1))
                extra = np.pad(extra, ((0, 0), (0, self.capacity - C)))
                C = self.capacity
            parents = np.flatnonzero(extra)  # flat (replica * C + slot), replica-major
            pf = np.repeat(parents, extra.ravel()[parents])
            rb = pf // C
            start = np.concatenate(([0], np.cumsum(births)[:-1]))
            k = np.arange(total) - start[rb]
            free = np.flatnonzero(~self.active)
            free_start = np.searchsorted(free, np.arange(R) * C)
            sf = free[free_start[rb] + k]  # the k-th free slot of the replica
            for arr in self.arrays.values():
                flat = arr.reshape(R * C, *arr.shape[2:])
                flat[sf] = flat[pf]
            self.active.reshape(-1)[sf] = True
            ids = self.neuron_id.reshape(-1)
            self.parent_id.reshape(-1)[sf] = ids[pf]
            ids[sf] = self.next_id + np.arange(total, dtype=np.int64)
            self.birth_step.reshape(-1)[sf] = step
            self.next_id += total
            if self.events is not None:
                self._log_event("birth", sf, step)
        self.births += births
        self.deaths += deaths
        self.refused += refused
        return births.astype(np.int64), deaths.astype(np.int64), refused

    def _log_event(self, kind: str, flat: np.ndarray, step: int) -> None:
        C = self.capacity
        self.events.append(
            {
                "replica": flat // C,
                "step": np.full(flat.size, int(step), dtype=np.int64),
                "neuron_id": self.neuron_id.reshape(-1)[flat],
                "parent_id": self.parent_id.reshape(-1)[flat],
                "birth_step": self.birth_step.reshape(-1)[flat],
                "theta": self.theta.reshape(-1, self.dim)[flat].astype(float),
                "psi": np.full(flat.size, np.nan),
                "event": np.full(flat.size, kind),
            }
        )

    @classmethod
    def for_config(cls, config: SystemConfig, rng: np.random.Generator) -> Particles:
        """The particles of a config with a potential, started at the minimum of V.

        A network (``rbf_network``) starts with its centres uniform on the circle
        (:meth:`models.mean_field.RBFNetwork.initial`).

        Each coordinate starts Gaussian around the minimum with the Boltzmann variance
        ``T / k`` (``T = D / step_size``; :func:`initial_variance` with ``alpha = 0``), or
        uniform on a circle where that is infinite or wider than the circle; on the real line
        an infinite variance (``step_size = 0`` or a flat minimum) starts all particles at the
        minimum.
        """
        n = config.n_hidden
        if config.potential["type"] == "rbf_network":
            net = RBFNetwork(config.potential, config.potential.get("n0", n), config.noise)
            parts = cls(net, config.replicas, n, config.n_hidden_max, config.dtype)
            parts.place(net.initial(rng, (config.replicas, n)))
            return parts
        pot = make_potential(config.potential)
        parts = cls(pot, config.replicas, n, config.n_hidden_max, config.dtype)
        var = initial_variance(pot, float(config.diffusion), float(config.step_size))
        centre = pot.minimum()
        draws = rng.standard_normal((config.replicas, n, pot.dim))
        theta = centre + draws * np.sqrt(np.where(np.isfinite(var), var, 0.0))
        for j, period in enumerate(pot.periods):
            if period is not None and not (np.isfinite(var[j]) and var[j] < (period / 6) ** 2):
                theta[..., j] = rng.uniform(0.0, period, (config.replicas, n))
        parts.place(theta)
        return parts


class ParticleObservables(Observables):
    """The observables of a frozen-potential step (see the module docstring).

    ``loss`` is the population mean of ``Psi = V`` per replica, ``n_neurons`` the particle
    count; ``psi`` holds ``V`` of every slot. After births and deaths :meth:`refresh` drops
    what depends on the population.

    Examples
    --------
    >>> model = LearningSystem(replicas=2, n_hidden=50, diffusion=1e-3, step_size=0.01,
    ...                        noise_mode="langevin", seed=0,
    ...                        potential={"type": "polynomial", "coefficients": [0, 0, 0.5]})
    >>> model.step()
    >>> obs = model.observables
    >>> obs.n_neurons.tolist(), obs.loss.shape, obs.psi.shape
    ([50, 50], (2,), (2, 50))
    """

    def __init__(self, model: LearningSystem) -> None:
        super().__init__(model, None, None, None, model.step_size, model.batch_size)

    @cached_property
    def quadrature(self) -> tuple[np.ndarray, np.ndarray] | None:
        """A network's quadrature units and residual (shared by ``psi`` and ``loss``)."""
        parts = self.model.particles
        if isinstance(parts.potential, Potential):
            return None
        return parts.potential.quadrature(parts.theta, parts.active)

    @cached_property
    def psi(self) -> np.ndarray:
        """``Psi`` of every slot, (R, capacity)."""
        parts = self.model.particles
        if self.quadrature is None:
            return parts.psi()
        return parts.potential.psi(parts.theta, parts.active, self.quadrature)

    @cached_property
    def loss(self) -> np.ndarray:
        """Population mean of ``Psi = V`` per replica (NaN when extinct); for a network its
        loss R (:meth:`models.mean_field.RBFNetwork.loss`), (R,)."""
        parts = self.model.particles
        if self.quadrature is not None:
            return parts.potential.loss(parts.theta, parts.active, self.quadrature)
        total = np.sum(self.psi, axis=1, where=parts.active)
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / parts.counts()

    @cached_property
    def n_neurons(self) -> np.ndarray:
        """Particles per replica, (R,)."""
        return self.model.particles.counts()

    @cached_property
    def free_energy(self) -> np.ndarray:
        """NaN per replica (no network free energy in this mode)."""
        return np.full(self.model.config.replicas, np.nan)

    def refresh(self) -> None:
        """Forget the population-dependent values (after births and deaths)."""
        for key in ("quadrature", "psi", "loss", "n_neurons"):
            self.__dict__.pop(key, None)


PARTICLE_COLUMNS = ("replica", "step", "neuron_id", "parent_id", "birth_step", "psi", "event")
"""Columns of :meth:`ParticleRecorder.table` (the coordinates ``theta`` or ``theta_0 ..``
follow ``birth_step``)."""
_KEYS = PARTICLE_COLUMNS[:5]


class ParticleRecorder:
    """A step hook keeping every live particle every ``every`` steps (a long table).

    Append it to ``model.step_hooks`` (it then travels with the model in checkpoints); it
    records the model's current state when called at a multiple of ``every`` (call it once
    after building to record the start). One row per (replica, step, particle): ``replica,
    step, neuron_id, parent_id, birth_step, theta (theta_0, theta_1 ... in 2-D/3-D), psi,
    event`` with ``event = "alive"``. With ``events=True`` every birth and death in between is
    a row too (``event`` ``"birth"`` or ``"death"``, at the step it happened, with the
    particle's position then; ``psi`` NaN). ``neuron_id`` is unique within a run and never
    reused; lineage is keyed by (replica, neuron_id).

    Examples
    --------
    >>> model = LearningSystem(replicas=2, n_hidden=5, diffusion=1e-3, step_size=0.01,
    ...                        noise_mode="langevin",
    ...                        potential={"type": "polynomial", "coefficients": [0, 0, 0.5]})
    >>> rec = ParticleRecorder(every=2)
    >>> model.step_hooks.append(rec); rec(model)
    >>> model.run(4, progress=False)
    >>> tab = rec.table()
    >>> len(tab), list(tab.columns)
    (30, ['replica', 'step', 'neuron_id', 'parent_id', 'birth_step', 'theta', 'psi', 'event'])
    """

    def __init__(self, every: int = 10, events: bool = False) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every: {every!r}; expected an integer >= 1")
        self.every = every
        self.events = bool(events)
        self.chunks: list[dict[str, np.ndarray]] = []
        self.dim = 0

    def __call__(self, model: LearningSystem) -> None:
        """Record the live particles when ``model.steps`` is a multiple of ``every`` (and, with
        ``events``, the births and deaths since the last call)."""
        parts = model.particles
        if self.events:
            if parts.events is None:
                parts.events = []
            self.chunks.extend(parts.events)
            parts.events.clear()
        if model.steps % self.every:
            return
        r, c = np.nonzero(parts.active)
        psi = model.observables.psi if isinstance(model.observables, ParticleObservables) else None
        if psi is None or psi.shape != parts.active.shape:
            psi = parts.psi()
        self.dim = parts.dim
        self.chunks.append(
            {
                "replica": r.astype(np.int64),
                "step": np.full(r.size, int(model.steps), dtype=np.int64),
                "neuron_id": parts.neuron_id[r, c],
                "parent_id": parts.parent_id[r, c],
                "birth_step": parts.birth_step[r, c],
                "theta": parts.theta[r, c].astype(float),
                "psi": np.asarray(psi[r, c], dtype=float),
                "event": np.full(r.size, "alive"),
            }
        )

    def table(self) -> pd.DataFrame:
        """The long particle table (see the class docstring)."""
        if not self.chunks:
            return pd.DataFrame({c: [] for c in (*_KEYS, "theta", "psi", "event")})
        data: dict[str, np.ndarray] = {}
        for key in _KEYS:
            data[key] = np.concatenate([ch[key] for ch in self.chunks]).astype(np.int64)
        theta = np.concatenate([ch["theta"] for ch in self.chunks])
        if theta.shape[1] == 1:
            data["theta"] = theta[:, 0]
        else:
            for j in range(theta.shape[1]):
                data[f"theta_{j}"] = theta[:, j]
        data["psi"] = np.concatenate([ch["psi"] for ch in self.chunks])
        data["event"] = np.concatenate([ch["event"] for ch in self.chunks]).astype(object)
        return pd.DataFrame(data)


def particle_step(model: LearningSystem) -> None:
    """One step of a model with a potential: move, observe, controllers, hooks, record.

    A replica whose particles leave the finite numbers raises
    :class:`~models.divergence.Diverged` (nothing of that step is recorded).
    """
    parts = model.particles
    cfg = model.config
    D = float(cfg.diffusion or 0.0)
    parts.move(model.step_size, D, model.streams["particles"], cfg.noise_mode, model.batch_size)
    model.last_state = None
    model.observables = ParticleObservables(model)
    mean = parts.mean_position()
    bad = (parts.counts() > 0) & ~np.isfinite(mean).all(axis=1)
    if bad.any():
        raise Diverged(
            model.steps,
            np.nonzero(bad)[0].tolist(),
            ["positions"],
            f"step_size {model.step_size:g} too large for the potential's curvature",
            cfg.replicas,
        )
    for controller in model.controllers:
        controller.step()
    model.observables.refresh()
    for hook in model.step_hooks:
        hook(model)
    model.recorder.record()
