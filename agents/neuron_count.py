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
clone
    DMC branching of the neurons of a frozen-potential model (particles): every ``interval``
    steps each neuron is replaced by floor(exp(-alpha K (Psi_i - mu_c)) + U) copies, with a
    fixed mu_c (units of Psi) or population control; see :mod:`agents.cloning`.
schedule
    Every replica's N is set to round(schedule(step)) (clipped to the bounds) by adding or
    removing uniformly chosen hidden neurons, with no Metropolis test (delta_F is NaN).

Every proposal is logged (``action`` add/remove, ``before``/``after`` N, ``delta_F``,
``accepted``); a proposal rejected by the bounds has ``delta_F = NaN``.

Delta F (``source``)
--------------------
probe (default)
    On the whole probe set (``probe_samples = n_probe``, the default): exact, noise-free. With
    ``probe_samples = S < n_probe`` each replica draws its own S probe samples without
    replacement for each move (the same samples before and after): an unbiased estimate of the
    probe-set Delta F whose variance, s^2 (1 - S/P) / S from the per-sample differences, enters
    the acceptance as the penalty of :mod:`agents.metropolis`, so that the stationary
    distribution stays exp(-beta_c (F - mu_c N)) for Gaussian noise.
batch
    On the step's own mini-batch (M samples of the task distribution, variance s^2 / M,
    penalty as above; needs M >= 2 and learning on). The move is made inside the learning step,
    between the relaxation and the update (:meth:`NeuronCountController.before_update`): the
    "before" relaxation continues from the states the step has just relaxed (nearly free), and
    the update then uses the new network's relaxed states where the move was accepted. The
    target is the task-distribution F rather than the probe-set F; the learning update is a
    separate kernel applied after the move.

Both relaxations (before and after the proposal) run at T_x = 0 with the outputs clamped to
the targets and stop once converged within ``relax_tol`` (capped at ``WARM_RELAX_MAX`` descent
steps): F is the relaxed free energy, not H after a fixed number of steps. The default makes the
error of beta_c Delta F about 1e-3 on the whole probe set (``relax_tol = 1e-3 / beta_c``) and
1e-2 for the noisy estimates (``1e-2 / beta_c``), where the noise of beta_c Delta F is of order 1
and is penalised anyway; the error tilts the stationary distribution of N by that factor per
neuron at most. The "after" relaxation starts from the forward sweep: measured on the benchmark
network, a start from the "before" states (the new neuron from f(w x + b)) excites slow modes
and needs about twice the steps. Cost per move: two relaxations over replicas x samples (with
``batch``, about one); ``make bench`` (``benchmarks/bench_controllers.py``) measures each source.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from agents.cloning import CLONE_KEYS, Cloning, validate_clone
from agents.controller import COMMON_KEYS, Controller
from agents.metropolis import acceptance, noise_penalty
from agents.params import ConfigError, check_float, check_int, check_keys, check_schedule
from agents.registry import register
from agents.schedule import schedule_value

if TYPE_CHECKING:
    from models.ensemble import State
    from models.learning_system import LearningSystem

__all__ = ["MOVE_KEYS", "POLICY_KEYS", "SOURCES", "WARM_RELAX_MAX", "NeuronCountController"]

POLICY_KEYS = {
    "grand_canonical": (),
    "target": ("target", "gain"),
    "schedule": ("steps", "values", "interpolation"),
    "clone": CLONE_KEYS,
}
WARM_RELAX_MAX = 500
"""Cap on the descent steps of one Delta F relaxation (it stops at ``relax_tol``)."""
MOVE_KEYS = ("mu_c", "beta_c", "n_min", "n_max", "probe_samples", "relax_tol", "source")
SOURCES = ("probe", "batch")


@register("neuron_count")
class NeuronCountController(Controller):
    """Controller of the number of neurons N of each replica (grand-canonical moves).

    Parameters
    ----------
    model : LearningSystem
    policy : {"grand_canonical", "target", "schedule", "clone"}
    mu_c : float
        Chemical potential (units of F).
    beta_c : float
        Inverse temperature of the acceptance rule.
    n_min, n_max : int, optional
        Bounds on N (boundary included); defaults: one hidden neuron, and all slots.
    probe_samples : int, optional
        Probe samples per replica and move for Delta F (default: the whole probe set, exact);
        fewer are drawn at random and their noise is penalised (``source = "probe"`` only).
    relax_tol : float, optional
        Convergence tolerance of the Delta F relaxations (units of F; default 1e-3 / beta_c on
        the whole probe set, 1e-2 / beta_c for the noisy estimates).
    source : {"probe", "batch"}
        Samples of Delta F: the probe set, or the step's own mini-batch (see the module
        docstring).
    interval : int
    name : str, optional
    **params
        ``target``, ``gain`` (policy target); ``steps``, ``values``, ``interpolation``
        (policy schedule, values in units of N).

    Examples
    --------
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
    ACTIONS: ClassVar[tuple[str, ...]] = ("add", "remove", "branch")
    PARTICLE_POLICIES: ClassVar[tuple[str, ...]] = ("clone",)
    """Policies that act on the particles of a frozen-potential model only."""

    def __init__(
        self,
        model: LearningSystem,
        policy: str = "grand_canonical",
        mu_c: float = 0.0,
        beta_c: float = 1.0,
        n_min: int | None = None,
        n_max: int | None = None,
        probe_samples: int | None = None,
        relax_tol: float | None = None,
        source: str = "probe",
        interval: int = 1,
        name: str | None = None,
        **params: Any,
    ) -> None:
        cfg = model.config
        self.n_boundary = cfg.n_input + cfg.n_output
        super().__init__(model, policy, interval, name)
        if policy == "clone":  # branching of particles (agents.cloning)
            self.mu_c = math.nan
            self.engine = Cloning(self, mu_c=mu_c, n_max=n_max, **params)
            return
        if getattr(model, "particles", None) is not None:
            raise ConfigError(f"{self.where}.policy", policy, "'clone' in a frozen-potential model")
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
        if not 2 <= p <= cfg.n_probe:
            raise ConfigError(
                f"{self.where}.probe_samples", p, f"an integer in [2, n_probe = {cfg.n_probe}]"
            )
        self.probe_samples = p
        exact = source == "probe" and p == cfg.n_probe
        default_tol = (1e-3 if exact else 1e-2) / self.beta_c
        self.relax_tol = default_tol if relax_tol is None else float(relax_tol)
        self.source = source
        if source == "batch" and (cfg.batch_size < 2 or not cfg.learning):
            raise ConfigError(
                f"{self.where}.source",
                source,
                "'probe' when batch_size < 2 or learning is off (the move reuses the learning "
                "step's clamped mini-batch and needs 2 samples for its variance)",
            )
        self.last_relax_steps = (0, 0)
        self.last_penalty = math.nan
        self.last_variance = np.full(cfg.replicas, np.nan)
        self.params = params
        self.proposed = 0
        self.accepted = 0
        self.last_acceptance = math.nan

    @classmethod
    def validate(cls, spec: dict, where: str) -> dict:
        """Check a ``neuron_count`` table (see the class docstring for its keys)."""
        out = cls.validate_common(spec, where)
        if out["policy"] == "clone":
            return {**out, **validate_clone(spec, where, COMMON_KEYS)}
        policy = out["policy"]
        allowed = (*COMMON_KEYS, *MOVE_KEYS, *POLICY_KEYS[policy])
        check_keys(spec, where, allowed, f"neuron_count ({policy})")
        out["mu_c"] = check_float(spec, "mu_c", where, 0.0)
        out["beta_c"] = check_float(spec, "beta_c", where, 1.0, 0.0, lo_open=True)
        for key in ("n_min", "n_max", "probe_samples"):
            value = check_int(spec, key, where, None, 2 if key == "probe_samples" else 1)
            if value is not None:
                out[key] = value
        if "source" in spec:
            if spec["source"] not in SOURCES:
                raise ConfigError(f"{where}.source", spec["source"], f"one of {list(SOURCES)}")
            out["source"] = spec["source"]
        if "relax_tol" in spec:
            out["relax_tol"] = check_float(spec, "relax_tol", where, None, 0.0)
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
    def acceptance_probability(
        self,
        delta_f: np.ndarray,
        delta_n: np.ndarray,
        var: np.ndarray | float = 0.0,
        samples: int = 2,
    ) -> np.ndarray:
        """min(1, exp(-beta_c (Delta F - mu_c Delta N) - u(var))), elementwise.

        ``var`` is the variance of the Delta F estimate, made from ``samples`` per-sample
        differences; u is the penalty of :func:`agents.metropolis.noise_penalty` (0 when
        ``var`` is 0).

        Examples
        --------
        >>> c = NeuronCountController.__new__(NeuronCountController)
        >>> c.beta_c, c.mu_c = 2.0, 0.5
        >>> c.acceptance_probability(np.array([0.0, 0.0]), np.array([1, -1])).round(4).tolist()
        [1.0, 0.3679]
        """
        return acceptance(delta_f, delta_n, self.beta_c, self.mu_c, var, samples)

    # ------------------------------------------------------------------ Delta F
    def _samples(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Probe inputs (R, S, n_in) and targets (R, S, n_out) of this move's Delta F.

        The whole probe set, or per replica ``probe_samples`` of it drawn without replacement.
        """
        model = self.model
        R = model.config.replicas
        px, py = model.data.probe_x, model.data.probe_y
        P = model.config.n_probe
        if self.probe_samples == P:
            return np.broadcast_to(px, (R, *px.shape)), np.broadcast_to(py, (R, *py.shape))
        keys = rng.random((R, P))
        idx = np.argpartition(keys, self.probe_samples - 1, axis=1)[:, : self.probe_samples]
        return px[idx], py[idx]

    def _relaxed(self, xin: np.ndarray, tgt: np.ndarray, state: State | None = None) -> State:
        """Relaxed states (outputs clamped, T_x = 0) converged to ``relax_tol``, from the
        forward sweep or from the evaluated ``state`` of the same samples."""
        model = self.model
        cap = max(WARM_RELAX_MAX, model.config.relax_steps)
        return model.ensemble.minimize(xin, tgt, self.relax_tol, steps=cap, state=state)

    def _pick(self, candidates: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Slot per replica chosen uniformly among ``candidates[r]`` (row of the hidden mask)."""
        hid = self.model.ensemble.slices["hidden"]
        return hid.start + np.where(candidates, keys, -1.0).argmax(axis=1)

    def act(self) -> None:
        if self.policy == "clone":
            self.engine.act()
            return
        if self.policy == "schedule":
            self._follow_schedule()
            return
        if self.source == "batch":
            return  # acted in before_update, on the step's relaxed batch
        self._adapt_mu()
        self.metropolis()

    def before_update(self, state: State) -> State:
        """With ``source = "batch"``: the move, on the step's relaxed mini-batch.

        Returns the state the learning update uses: the step's own for replicas whose move was
        rejected, the relaxed state of the new network for those whose move was accepted.
        """
        if (
            self.source != "batch"
            or self.policy == "schedule"
            or self.model.steps % self.interval != 0
        ):
            return state
        self._adapt_mu()
        return self.metropolis(state)

    def _adapt_mu(self) -> None:
        if self.policy == "target":
            mean_n = float(self.model.ensemble.n_active().mean())
            self.mu_c += self.params["gain"] / self.beta_c * (self.params["target"] - mean_n)

    def metropolis(self, state: State | None = None) -> State | None:
        """One grand-canonical proposal per replica, all replicas at once.

        Delta F is the mean, over the replica's samples (``source``), of the per-sample change
        of the relaxed H; the variance of that mean (zero on the whole probe set) enters the
        acceptance as the penalty of :mod:`agents.metropolis`.
        """
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
        if state is None:
            xin, tgt = self._samples(rng)
            before = self._relaxed(xin, tgt, None)
        else:  # the step's mini-batch, converged at T_x = 0 from the step's own relaxation
            xin = state.X["input"].transpose(0, 2, 1)
            tgt = state.X["output"].transpose(0, 2, 1)  # clamped to the batch's targets
            before = self._relaxed(xin, tgt, state)
        h_before = before.energy()
        ra = np.nonzero(valid & add)[0]
        sa = slot[ra]
        rr = np.nonzero(valid & ~add)[0]
        sr = slot[rr]
        saved = ens.slot_parameters(rr, sr)
        ens.activate(ra, sa, model.streams["growth"])
        ens.deactivate(rr, sr)
        # a cold start (forward sweep) converges faster than the "before" states here: those
        # excite the slow modes of the perturbation a new or missing neuron makes
        after = self._relaxed(xin, tgt)
        d = after.energy() - h_before
        S = d.shape[1]
        if self.source == "batch":  # a sample of the task distribution
            if S < 2:
                raise ValueError(f"batch_size: {S}; source 'batch' needs mini-batches of >= 2")
            var = d.var(axis=1, ddof=1) / S
        else:  # drawn without replacement from the fixed probe set (exact on all of it)
            P = model.config.n_probe
            var = d.var(axis=1, ddof=1) / S * (1.0 - S / P) if S < P else np.zeros(R)
        delta_f = np.where(valid, d.mean(axis=1), 0.0)
        var = np.where(valid, var, 0.0)
        prob = self.acceptance_probability(delta_f, dn, var, max(S, 2))
        accept = valid & (u < prob)
        delta_f[~valid] = np.nan

        back_a = ~accept[ra]
        ens.deactivate(ra[back_a], sa[back_a])
        back_r = ~accept[rr]
        if back_r.any():
            ens.restore(rr[back_r], sr[back_r], [a[back_r] for a in saved])
        model.structure_changed()
        if state is not None:  # the update uses the new network's states where accepted
            keep = ~accept[:, None, None]
            for part in ("X", "FY", "DFY", "E", "D"):
                mine, step = getattr(after, part), getattr(state, part)
                for g in mine:
                    np.copyto(mine[g], step[g], where=keep)

        self.proposed += R
        self.accepted += int(accept.sum())
        self.last_acceptance = float(accept.mean())
        self.last_relax_steps = (0 if before is state else before.steps_done, after.steps_done)
        self.last_variance = np.where(valid, var, np.nan)
        penalty = noise_penalty(self.beta_c**2 * var, max(S, 2))
        self.last_penalty = float(penalty[valid].mean()) if valid.any() else 0.0
        replicas = np.arange(R)
        self.log(
            replicas,
            (~add).astype(np.int8),
            n,
            np.where(accept, n + dn, n),
            delta_f,
            accept,
        )
        return after if state is not None else None

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
            model.structure_changed()

    # ------------------------------------------------------------------ reporting
    @property
    def acceptance_rate(self) -> float:
        """Accepted / proposed moves since the start (NaN before any proposal)."""
        return self.accepted / self.proposed if self.proposed else math.nan

    def reporters(self) -> dict[str, Any]:
        if self.policy == "clone":
            return self.engine.reporters()
        return {
            f"{self.name}_acceptance": lambda m: self.last_acceptance,
            f"{self.name}_acceptance_total": lambda m: self.acceptance_rate,
            f"{self.name}_mu_c": lambda m: self.mu_c,
            f"{self.name}_penalty": lambda m: self.last_penalty,
        }
