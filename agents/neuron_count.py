"""NeuronCountController: grand-canonical exchange of hidden neurons with a reservoir.

N is per replica (the active neurons, boundary included, as ``Observables.n_neurons``); the
controller acts on all R replicas at once, without a Python loop over replicas.

Policies
--------
grand_canonical
    Each replica proposes, with probability 1/2 each, to add a hidden neuron (a free hidden slot
    chosen uniformly, initialised by ``Ensemble.activate`` from the model's ``growth`` stream and
    wired by the topology's rule) or to remove one (an active hidden slot chosen uniformly). A
    proposal that would leave ``[n_min, n_max]`` is rejected. Delta F is the change of the free
    energy (probe-set mean of H after relaxing the fast variables with the boundary clamped,
    T_x = 0) between the current and the proposed network, and the move is accepted with
    probability min(1, exp(-beta_c (Delta F - mu_c Delta N))), uniforms from the model's
    ``controllers`` stream. All proposals are applied to the arrays together, F is evaluated
    once for all replicas, and the rejected ones are reverted exactly (removed weights are kept
    and written back). When F does not depend on N, the stationary distribution of N is
    proportional to exp(beta_c mu_c N) on [n_min, n_max] (the move is symmetric in N; at the
    level of which slots are used it is not, so no binomial factor appears).
target
    The same moves, with mu_c adapted each time the controller acts:
    mu_c <- mu_c + gain / beta_c x (target - mean N), which steers the ensemble mean of N to
    ``target`` (the chemical potential that holds it there is logged: ``<name>_mu_c``).
schedule
    Every replica's N is set to round(schedule(step)) (clipped to the bounds) by adding or
    removing uniformly chosen hidden neurons, with no Metropolis test (delta_F is NaN).

Every proposal is logged (``action`` add/remove, ``before``/``after`` N, ``delta_F``,
``accepted``); a proposal rejected by the bounds has ``delta_F = NaN``.

Cost: one move for all replicas needs two relaxations on the probe set (one when the model has
already computed F this step). ``probe_samples`` restricts Delta F to the first samples of the
probe set (the same samples before and after, so the difference is correlated and cheap).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from agents.controller import (
    COMMON_KEYS,
    Controller,
    check_float,
    check_int,
    check_keys,
    check_schedule,
    schedule_value,
)
from agents.registry import register
from models.config import ConfigError

if TYPE_CHECKING:
    from models.learning_system import LearningSystem

POLICY_KEYS = {
    "grand_canonical": (),
    "target": ("target", "gain"),
    "schedule": ("steps", "values", "interpolation"),
}
MOVE_KEYS = ("mu_c", "beta_c", "n_min", "n_max", "probe_samples")


def structure_changed(model: LearningSystem, free_energy: np.ndarray | None) -> None:
    """Tell the model its neurons changed after this step's observables were computed.

    Refreshes graph, Mesa space and agents, rewires every controller, drops the step's cached
    probe quantities (or replaces the cached F with ``free_energy`` when it is exact for the new
    network), and drops the structure-dependent observables so the recorders see the new N.

    Examples
    --------
    >>> from models import LearningSystem
    >>> model = LearningSystem(replicas=2, n_hidden=1, n_hidden_max=2)
    >>> model.step()
    >>> model.ensemble.activate(np.array([0]), np.array([3]), np.random.default_rng(0))
    >>> structure_changed(model, None)
    >>> model.observables.n_neurons.tolist(), 3 in model.graph
    ([5, 4], True)
    """
    model.structure_changed(free_energy)


@register("neuron_count")
class NeuronCountController(Controller):
    """Controller of the number of neurons N of each replica (grand-canonical moves).

    Parameters
    ----------
    model : LearningSystem
    policy : {"grand_canonical", "target", "schedule"}
    mu_c : float
        Chemical potential (units of F).
    beta_c : float
        Inverse temperature of the acceptance rule.
    n_min, n_max : int, optional
        Bounds on N (boundary included); defaults: one hidden neuron, and all slots.
    probe_samples : int, optional
        Probe samples used for Delta F (default: the whole probe set).
    interval : int
    name : str, optional
    **params
        ``target``, ``gain`` (policy target); ``steps``, ``values``, ``interpolation``
        (policy schedule, values in units of N).

    Examples
    --------
    >>> from models import LearningSystem
    >>> spec = {"type": "neuron_count", "mu_c": 0.01, "beta_c": 100.0}
    >>> model = LearningSystem(replicas=8, n_hidden=2, n_hidden_max=4, n_probe=8,
    ...                        controllers=[spec], seed=1)
    >>> model.run(3, progress=False)
    >>> ev = model.controller_events()
    >>> len(ev), sorted(set(ev["action"]))
    (24, ['add', 'remove'])
    """

    kind: ClassVar[str] = "neuron_count"
    POLICIES: ClassVar[tuple[str, ...]] = tuple(POLICY_KEYS)
    ACTIONS: ClassVar[tuple[str, ...]] = ("add", "remove")

    def __init__(
        self,
        model: LearningSystem,
        policy: str = "grand_canonical",
        mu_c: float = 0.0,
        beta_c: float = 1.0,
        n_min: int | None = None,
        n_max: int | None = None,
        probe_samples: int | None = None,
        interval: int = 1,
        name: str | None = None,
        **params: Any,
    ) -> None:
        cfg = model.config
        self.n_boundary = cfg.n_input + cfg.n_output
        super().__init__(model, policy, interval, name)
        self.mu_c = float(mu_c)
        self.beta_c = float(beta_c)
        self.n_min = self.n_boundary + 1 if n_min is None else int(n_min)
        self.n_max = cfg.n_neurons_max if n_max is None else int(n_max)
        n0 = self.n_boundary + cfg.n_hidden
        if not self.n_boundary <= self.n_min <= n0:
            raise ConfigError(
                f"{self.where}.n_min", self.n_min, f"an integer in [{self.n_boundary}, {n0}]"
            )
        if not n0 <= self.n_max <= cfg.n_neurons_max:
            raise ConfigError(
                f"{self.where}.n_max", self.n_max, f"an integer in [{n0}, {cfg.n_neurons_max}]"
            )
        p = cfg.n_probe if probe_samples is None else int(probe_samples)
        if p > cfg.n_probe:
            raise ConfigError(
                f"{self.where}.probe_samples", p, f"an integer in [1, n_probe = {cfg.n_probe}]"
            )
        self.probe_samples = p
        self.params = params
        self.proposed = 0
        self.accepted = 0
        self.last_acceptance = math.nan

    @classmethod
    def validate(cls, spec: dict, where: str) -> dict:
        """Check a ``neuron_count`` table (see the class docstring for its keys)."""
        out = cls.validate_common(spec, where)
        policy = out["policy"]
        allowed = (*COMMON_KEYS, *MOVE_KEYS, *POLICY_KEYS[policy])
        check_keys(spec, where, allowed, f"neuron_count ({policy})")
        out["mu_c"] = check_float(spec, "mu_c", where, 0.0)
        out["beta_c"] = check_float(spec, "beta_c", where, 1.0, 0.0, lo_open=True)
        for key in ("n_min", "n_max", "probe_samples"):
            value = check_int(spec, key, where, None, 1)
            if value is not None:
                out[key] = value
        if "n_min" in out and "n_max" in out and out["n_max"] < out["n_min"]:
            raise ConfigError(
                f"{where}.n_max", out["n_max"], f"an integer >= n_min ({out['n_min']})"
            )
        if policy == "target":
            if "target" not in spec:
                raise ConfigError(f"{where}.target", None, "a number (the mean N to reach)")
            out["target"] = check_float(spec, "target", where, None, 1.0)
            out["gain"] = check_float(spec, "gain", where, 0.1, 0.0, lo_open=True)
        elif policy == "schedule":
            out.update(check_schedule(spec, where, 1.0))
        return out

    # ------------------------------------------------------------------ graph
    def targets(self) -> list[int]:
        """Present hidden neuron nodes."""
        return [
            int(i)
            for i, kind in self.model.graph.nodes(data="kind")
            if kind == "hidden" and isinstance(i, int | np.integer)
        ]

    # ------------------------------------------------------------------ moves
    def acceptance_probability(self, delta_f: np.ndarray, delta_n: np.ndarray) -> np.ndarray:
        """min(1, exp(-beta_c (Delta F - mu_c Delta N))), elementwise.

        Examples
        --------
        >>> c = NeuronCountController.__new__(NeuronCountController)
        >>> c.beta_c, c.mu_c = 2.0, 0.5
        >>> c.acceptance_probability(np.array([0.0, 0.0]), np.array([1, -1])).round(4).tolist()
        [1.0, 0.3679]
        """
        x = -self.beta_c * (delta_f - self.mu_c * delta_n)
        return np.exp(np.minimum(x, 0.0))

    def free_energy(self) -> np.ndarray:
        """F per replica of the current arrays on the controller's probe samples, shape (R,)."""
        model = self.model
        p = self.probe_samples
        R = model.config.replicas
        px, py = model.data.probe_x[:p], model.data.probe_y[:p]
        st = model.ensemble.relax(
            np.broadcast_to(px, (R, *px.shape)),
            np.broadcast_to(py, (R, *py.shape)),
            temperature=0.0,
        )
        return st.energy().mean(axis=1)

    def _pick(self, candidates: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Slot per replica chosen uniformly among ``candidates[r]`` (row of the hidden mask)."""
        hid = self.model.ensemble.slices["hidden"]
        return hid.start + np.where(candidates, keys, -1.0).argmax(axis=1)

    def act(self) -> None:
        if self.policy == "schedule":
            self._follow_schedule()
            return
        if self.policy == "target":
            mean_n = float(self.model.ensemble.n_active().mean())
            self.mu_c += self.params["gain"] / self.beta_c * (self.params["target"] - mean_n)
        self.metropolis()

    def metropolis(self) -> None:
        """One grand-canonical proposal per replica, all replicas at once."""
        model = self.model
        ens = model.ensemble
        rng = model.streams["controllers"]
        R = ens.replicas
        hid = ens.slices["hidden"]
        active_h = ens.active[:, hid]
        n = ens.n_active()
        add = rng.random(R) < 0.5
        keys = rng.random(active_h.shape)
        u = rng.random(R)
        dn = np.where(add, 1, -1)
        candidates = np.where(add[:, None], ~active_h, active_h)
        valid = (n + dn >= self.n_min) & (n + dn <= self.n_max) & candidates.any(axis=1)
        slot = self._pick(candidates, keys)

        full = self.probe_samples == model.config.n_probe
        f_before = model.free_energy() if full else self.free_energy()
        ra = np.nonzero(valid & add)[0]
        sa = slot[ra]
        rr = np.nonzero(valid & ~add)[0]
        sr = slot[rr]
        saved = [ens.w[rr, sr, :].copy(), ens.w[rr, :, sr].copy(), ens.b[rr, sr].copy()]
        if ens.momentum:
            saved += [ens.vw[rr, sr, :].copy(), ens.vw[rr, :, sr].copy(), ens.vb[rr, sr].copy()]
        ens.activate(ra, sa, model.streams["growth"])
        ens.deactivate(rr, sr)
        f_after = self.free_energy()
        delta_f = np.where(valid, f_after - f_before, np.nan)
        prob = self.acceptance_probability(np.nan_to_num(delta_f), dn)
        accept = valid & (u < prob)

        back_a = ~accept[ra]
        ens.deactivate(ra[back_a], sa[back_a])
        back_r = ~accept[rr]
        if back_r.any():
            r, s = rr[back_r], sr[back_r]
            ens.activate(r, s, np.random.default_rng(0))  # mask only; weights restored below
            ens.w[r, s, :] = saved[0][back_r]
            ens.w[r, :, s] = saved[1][back_r]
            ens.b[r, s] = saved[2][back_r]
            if ens.momentum:
                ens.vw[r, s, :] = saved[3][back_r]
                ens.vw[r, :, s] = saved[4][back_r]
                ens.vb[r, s] = saved[5][back_r]
        f_new = np.where(accept, f_after, f_before)
        structure_changed(model, f_new if full else None)

        self.proposed += R
        self.accepted += int(accept.sum())
        self.last_acceptance = float(accept.mean())
        replicas = np.arange(R)
        self.log(
            replicas,
            (~add).astype(np.int8),
            n,
            np.where(accept, n + dn, n),
            delta_f,
            accept,
        )

    def _follow_schedule(self) -> None:
        model = self.model
        ens = model.ensemble
        rng = model.streams["controllers"]
        p = self.params
        want = round(schedule_value(model.steps, p["steps"], p["values"], p["interpolation"]))
        want = min(max(want, self.n_min), self.n_max)
        hid = ens.slices["hidden"]
        n = ens.n_active()
        moves = int(np.abs(want - n).max())
        for _ in range(moves):
            n = ens.n_active()
            active_h = ens.active[:, hid]
            keys = rng.random(active_h.shape)
            add = n < want
            remove = n > want
            ra = np.nonzero(add)[0]
            rr = np.nonzero(remove)[0]
            slot_add = self._pick(~active_h, keys)
            slot_rem = self._pick(active_h, keys)
            ens.activate(ra, slot_add[ra], model.streams["growth"])
            ens.deactivate(rr, slot_rem[rr])
            r = np.concatenate([ra, rr])
            action = np.repeat(np.array([0, 1], dtype=np.int8), [ra.size, rr.size])
            after = np.concatenate([n[ra] + 1, n[rr] - 1])
            self.log(r, action, n[r], after, np.nan, True)
            self.proposed += r.size
            self.accepted += r.size
        if moves:
            structure_changed(model, None)

    # ------------------------------------------------------------------ reporting
    @property
    def acceptance_rate(self) -> float:
        """Accepted / proposed moves since the start (NaN before any proposal)."""
        return self.accepted / self.proposed if self.proposed else math.nan

    def reporters(self) -> dict[str, Any]:
        return {
            f"{self.name}_acceptance": lambda m: self.last_acceptance,
            f"{self.name}_acceptance_total": lambda m: self.acceptance_rate,
            f"{self.name}_mu_c": lambda m: self.mu_c,
        }
