"""LearningSystem: the Mesa model of a replica ensemble of neural networks.

``step()``:
    1. every replica draws its own mini-batch of size M;
    2. the fast variables x relax with the boundary clamped (all replicas at once);
    3. SGD (or heavy ball) on the slow variables q = (w, b) with step size gamma;
    4. controllers (agents) read this step's :class:`~models.observables.Observables` and act;
    5. step hooks run, then the recorders: every step the observed coordinates q_0..q_{k-1}
       (fixed random unit projections of the zero-padded parameter vector), and every
       ``record_every`` steps the DataCollector and the neuron states.

With ``config.potential`` set the hidden neurons are particles in a frozen potential
(:mod:`models.particles`): a step moves them, then controllers, hooks and recorders run as above.

Time is counted in learning steps (dt = 1 per step). The wiring is kept in ``model.graph`` (a
networkx DiGraph: neuron nodes are slot indices with ``kind`` in input/hidden/output;
controllers add nodes with ``kind = "controller"``), and Mesa's
``discrete_space.Network(model.graph, layout=None)`` places one :class:`NeuronAgent` on each node
of a slot that is active in at least one replica.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mesa
import networkx as nx
import numpy as np
import pandas as pd
from mesa.discrete_space import Cell, Network
from numpy.typing import ArrayLike

from agents.neuron import NeuronAgent
from agents.registry import build_controllers
from models.architecture import build_architecture
from models.config import SystemConfig
from models.coupling import DensityNeuron, coupled_step
from models.divergence import DivergenceGuard
from models.ensemble import Ensemble, State
from models.observables import Observables
from models.particles import ParticleObservables, Particles, boundary_config, particle_step
from models.recorder import Recorder
from models.reporters import make_datacollector
from models.tasks import DataSource, Task, make_task

__all__ = ["STREAMS", "LearningSystem"]

STREAMS = (
    "graph",
    "init",
    "task",
    "batch",
    "relax",
    "controllers",
    "projection",
    "growth",
    "particles",
    "births",
)


class LearningSystem(mesa.Model):
    """A replica ensemble of neural networks, with neurons (and later controllers) as agents.

    Parameters
    ----------
    config : SystemConfig, optional
        The validated configuration; keyword ``overrides`` are applied on top of it
        (``LearningSystem(replicas=8)`` works without a config).

    Attributes
    ----------
    config : SystemConfig
    ensemble : models.ensemble.Ensemble
        The arrays (single source of truth).
    architecture : models.architecture.Architecture
    graph : networkx.DiGraph
    space : mesa.discrete_space.Network
    step_size, batch_size : float, int
        gamma and M now (controllers change them).
    observables : Observables
        This step's observables.
    recorder : models.recorder.Recorder
        The per-step buffers behind :meth:`trajectories` and :meth:`neuron_states`.
    datacollector : mesa.DataCollector
        The model and neuron reporters of :mod:`models.reporters`, run every ``record_every``
        steps.
    streams : dict of numpy.random.Generator
        Child streams of the run's SeedSequence.

    Examples
    --------
    >>> model = LearningSystem(replicas=8, n_hidden=4, seed=3)
    >>> model.run(5, progress=False)
    >>> traj = model.trajectories()
    >>> traj.shape[0], list(traj.columns[:3])
    (48, ['step', 'replica', 'n_neurons'])
    """

    def __init__(self, config: SystemConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = SystemConfig(**overrides)
        elif overrides:
            config = config.replace(**overrides)
        super().__init__(rng=config.seed)
        self.config = config
        seeds = np.random.SeedSequence(config.seed).spawn(len(STREAMS))
        self.streams = {
            name: np.random.default_rng(s) for name, s in zip(STREAMS, seeds, strict=True)
        }
        # with a potential the neurons are particles (models.particles); the network keeps
        # only its boundary neurons
        if config.potential is None:
            net = config
        elif config.coupling is None:
            net = boundary_config(config)
        else:  # coupled particles: the boundary network has neither coupling nor inertia
            net = boundary_config(config.replace(coupling=None, momentum=0.0))
        self.architecture = build_architecture(net, self.streams["graph"])
        self.task = make_task(net, self.streams["task"])
        self.data = DataSource(self.task, net, self.streams["task"])
        self.ensemble = Ensemble(net, self.architecture, self.streams["init"])
        self.particles: Particles | None = None
        if config.potential is not None:
            self.particles = Particles.for_config(config, self.streams["particles"])
        self.step_size = float(config.step_size)
        self.batch_size = int(config.batch_size)
        self.last_state: State | None = None
        self._last_cache: dict[str, np.ndarray] = {}
        self.last_targets: np.ndarray | None = None
        self.step_hooks: list[Callable[[LearningSystem], None]] = []
        self.controllers: list[Any] = []
        self._events: list[dict[str, Any]] = []
        self._drive_decay = 1.0
        self._probe_cache: tuple[int, np.ndarray] | None = None
        self._prediction_cache: tuple[int, np.ndarray] | None = None
        self._projection = self._make_projection()
        # divergence test in every step (models.divergence); replicas dropped after diverging
        self.divergence: DivergenceGuard | None = DivergenceGuard()
        self.alive = np.ones(config.replicas, dtype=bool)

        self.graph = nx.DiGraph()
        self.space: Network = Network(self.graph, layout=None, random=self.random)
        self._neurons: dict[int, NeuronAgent] = {}
        self.sync_graph()
        self.controllers = build_controllers(self, config.controllers)
        self.density = DensityNeuron(self) if config.coupling is not None else None

        self.recorder = Recorder(self)
        self.datacollector = make_datacollector(self.controllers)
        self.observables = Observables(self, None, None, None, self.step_size, self.batch_size)
        if self.particles is not None:
            self.observables = ParticleObservables(self)
        self.recorder.record(force_collect=True)

    # ------------------------------------------------------------------ structure
    def _make_projection(self) -> np.ndarray:
        p = self.ensemble.parameter_vector().shape[1]
        k = self.config.observed
        if k == p:
            return np.eye(p, dtype=self.ensemble.dtype)
        g = self.streams["projection"].standard_normal((p, k))
        q, r = np.linalg.qr(g)
        return (q * np.sign(np.diag(r))).astype(self.ensemble.dtype)

    @property
    def projection(self) -> np.ndarray:
        """The fixed (P, k) matrix with orthonormal columns mapping parameters to q."""
        return self._projection

    def neuron(self, index: int) -> NeuronAgent:
        """The NeuronAgent of slot ``index`` (KeyError when no replica uses the slot)."""
        return self._neurons[int(index)]

    @property
    def neurons(self) -> mesa.agent.AgentSet:
        """All NeuronAgents (an AgentSet)."""
        return self.agents_by_type[NeuronAgent]

    def sync_graph(self) -> None:
        """Make graph nodes, Mesa cells and NeuronAgents match the slots in use.

        A slot has a node, a cell and an agent when it is active in at least one replica; its
        edges are the architecture's edges to other present slots. Controller nodes are
        kept. Call after changing ``ensemble.active``.
        """
        used = self.ensemble.active.any(axis=0)
        arch = self.architecture
        present = {i for i in self._neurons}
        wanted = set(np.nonzero(used)[0].tolist())
        if wanted == present:
            return  # the same slots are in use somewhere: nodes, cells, agents and edges stand
        for i in sorted(present - wanted):
            agent = self._neurons.pop(i)
            cell = agent.cell
            agent.remove()
            self.space.remove_cell(cell)
        for i in sorted(wanted - present):
            self.graph.add_node(
                i, kind=self.architecture.kinds[i], index=i, label=self.architecture.labels[i]
            )
            cell = Cell(i, random=self.space.random)
            self.space.add_cell(cell)
            for j in arch.sources(i):
                j = int(j)
                if j in wanted and (j in present or j < i):
                    self.space.add_connection(self.space[j], cell)
            for j in arch.targets(i):
                j = int(j)
                if j in wanted and (j in present or j < i):
                    self.space.add_connection(cell, self.space[j])
            self._neurons[i] = NeuronAgent(self, i, cell)
        for controller in self.controllers:
            rewire = getattr(controller, "rewire", None)
            if rewire is not None:
                rewire()

    def structure_changed(self) -> None:
        """Tell the model its neurons changed after this step's observables were computed.

        Refreshes graph, Mesa space, agents and controller edges, drops the step's cached
        probe quantities, and drops the structure-dependent observables so the recorders see
        the new N.
        """
        self.sync_graph()
        self._drop_probe_caches()
        self._last_cache = {}
        cache = self.observables.__dict__
        for key in ("n_neurons", "n_parameters", "t_eff"):
            cache.pop(key, None)

    def _drop_probe_caches(self) -> None:
        """Forget this step's probe-set quantities (F, prediction error)."""
        self._probe_cache = None
        self._prediction_cache = None
        self.observables.__dict__.pop("free_energy", None)

    def activate_neurons(self, replicas: np.ndarray, slots: np.ndarray) -> None:
        """Activate hidden ``slots[k]`` in ``replicas[k]``; graph, space, agents follow."""
        self.ensemble.activate(replicas, slots, self.streams["growth"])
        self.structure_changed()

    def deactivate_neurons(self, replicas: np.ndarray, slots: np.ndarray) -> None:
        """Deactivate hidden ``slots[k]`` in ``replicas[k]`` and keep everything coherent."""
        self.ensemble.deactivate(replicas, slots)
        self.structure_changed()

    # ------------------------------------------------------------------ perturbations
    def inject_packet(
        self,
        neurons: list[int] | np.ndarray,
        amplitude: float,
        width: float = 1.0,
        decay: float = 10.0,
        replicas: np.ndarray | None = None,
    ) -> None:
        """Inject a localized packet of activity into a group of neurons.

        Adds an external drive (a non-trainable input current, added to the pre-activations
        w x + b) with a Gaussian profile over the listed neurons, centred on the middle one,
        ``amplitude * exp(-(k - k_c)^2 / (2 width^2))`` for the k-th listed neuron. The drive
        decays by ``exp(-1/decay)`` per step. Recorded in :meth:`events`.

        Examples
        --------
        >>> model = LearningSystem(replicas=4, n_hidden=6, seed=0)
        >>> model.inject_packet([2, 3, 4], amplitude=1.0, width=1.0)
        >>> model.step(); model.events()["event"].tolist()
        ['inject_packet']
        """
        idx = np.asarray(neurons, dtype=int)
        if idx.ndim != 1 or idx.size == 0:
            raise ValueError(f"neurons: {neurons!r}; expected a non-empty list of neuron slots")
        inputs = self.ensemble.slices["input"]
        if idx.min() < inputs.stop or idx.max() >= self.ensemble.n:
            raise ValueError(
                f"neurons: {idx.tolist()}; expected hidden or output slots in "
                f"[{inputs.stop}, {self.ensemble.n})"
            )
        for name, value in (("width", width), ("decay", decay)):
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name}: {value!r}; expected a positive number")
        if not np.isfinite(amplitude):
            raise ValueError(f"amplitude: {amplitude!r}; expected a finite number")
        k = np.arange(idx.size) - (idx.size - 1) / 2.0
        profile = amplitude * np.exp(-(k**2) / (2.0 * width**2))
        rows = np.arange(self.config.replicas) if replicas is None else np.asarray(replicas)
        self.ensemble.drive[np.ix_(rows, idx)] += profile
        self.ensemble.drive_on = True
        self._drive_decay = float(np.exp(-1.0 / decay))
        self._events.append(
            {
                "step": int(self.steps),
                "event": "inject_packet",
                "neurons": ",".join(map(str, idx.tolist())),
                "amplitude": float(amplitude),
                "width": float(width),
                "decay": float(decay),
                "replicas": int(rows.size),
            }
        )

    def set_task(
        self,
        task: Task | None = None,
        *,
        rng: np.random.Generator | None = None,
        detail: str | None = None,
        **params: ArrayLike,
    ) -> None:
        """Change the task p_d mid-run (a teacher quench) and draw a new probe set.

        The task's parameter arrays named in ``params`` are overwritten in place (the task's
        sampler reads them, so every later mini-batch follows the new teacher), or the task is
        replaced by ``task`` (then ``params`` apply to the new one). Then the probe set (and,
        with ``data = "finite"``, the dataset) is drawn again from ``rng`` with the new task,
        the step's probe quantities are forgotten, and one event ``set_task`` is recorded in
        :meth:`events`. The weights, the neurons and every other random stream are untouched.

        Parameters
        ----------
        task : models.tasks.Task, optional
            A task replacing ``self.task``; None keeps the current one.
        rng : numpy.random.Generator, optional
            The stream the new probe set is drawn from; default ``self.streams["task"]`` (the
            run's task stream, continued).
        detail : str, optional
            The event's ``detail``; default the task's name and what changed.
        **params : array_like
            New values of parameters of the task (keys of ``task.params``, such as the
            teacher's ``w1`` and ``w2``), each of its parameter's shape.

        Examples
        --------
        >>> model = LearningSystem(replicas=4, n_hidden=2, seed=0)
        >>> model.step()
        >>> w1 = model.task.params["w1"]
        >>> model.set_task(w1=0.5 * w1, w2=0.5 * model.task.params["w2"])
        >>> model.step(); model.events()[["step", "event", "detail"]].values.tolist()
        [[1, 'set_task', 'teacher: w1, w2 set']]
        >>> model.task.params["w1"] is w1
        True
        """
        if task is None and not params:
            raise ValueError("set_task: nothing to change; expected a task or task parameters")
        if task is not None:
            if not isinstance(task, Task):
                raise ValueError(f"task: {task!r}; expected a models.tasks.Task")
            if (task.n_input, task.n_output) != (self.config.n_input, self.config.n_output):
                raise ValueError(
                    f"task: {task.n_input} inputs, {task.n_output} outputs; expected "
                    f"{self.config.n_input} and {self.config.n_output} (the network's boundary)"
                )
        target = self.task if task is None else task
        new: dict[str, np.ndarray] = {}
        for key, value in params.items():
            if key not in target.params:
                names = ", ".join(target.params) or "none"
                raise ValueError(f"{key}: not a parameter of task {target.name}; expected {names}")
            current = target.params[key]
            value = np.asarray(value, dtype=current.dtype)
            if value.shape != current.shape:
                raise ValueError(f"{key}: shape {value.shape}; expected {current.shape}")
            new[key] = value
        if task is not None:
            self.task = task
        for key, value in new.items():
            self.task.params[key][...] = value
        self.data = DataSource(self.task, self.config, self.streams["task"] if rng is None else rng)
        self._drop_probe_caches()
        if detail is None:
            detail = f"{self.task.name}: " + (f"{', '.join(params)} set" if params else "new task")
        self._events.append({"step": int(self.steps), "event": "set_task", "detail": str(detail)})

    def drop_replicas(self, replicas: np.ndarray | list[int], reason: str = "") -> None:
        """Drop replicas from the run (after they diverged); recorded in :meth:`events`.

        A dropped replica's weights, biases and momenta are zeroed and held at zero, its
        recorded per-replica values (q, loss, free energy) are NaN from this step on, and the
        model-level means exclude it.

        Examples
        --------
        >>> model = LearningSystem(replicas=4, n_hidden=2, seed=0)
        >>> model.step(); model.drop_replicas([1], reason="test"); model.step()
        >>> int(model.alive.sum()), model.events()["event"].tolist()
        (3, ['drop_replicas'])
        """
        idx = np.asarray(replicas, dtype=int).ravel()
        if idx.size == 0 or idx.min() < 0 or idx.max() >= self.config.replicas:
            raise ValueError(
                f"replicas: {idx.tolist()}; expected replica indices in [0, {self.config.replicas})"
            )
        self.alive[idx] = False
        self._zero_dropped()
        self._events.append(
            {
                "step": int(self.steps),
                "event": "drop_replicas",
                "replicas": int(idx.size),
                "detail": f"replicas {','.join(map(str, idx.tolist()))}: {reason}",
            }
        )

    def _zero_dropped(self) -> None:
        self.ensemble.zero_replicas(~self.alive)

    def events(self) -> pd.DataFrame:
        """Model-level events (injected packets, dropped replicas ...): one row each."""
        columns = [
            "step",
            "event",
            "neurons",
            "amplitude",
            "width",
            "decay",
            "replicas",
            "detail",
        ]
        return pd.DataFrame(self._events, columns=columns)

    # ------------------------------------------------------------------ dynamics
    def step(self) -> None:
        """One learning step of every replica (see the module docstring)."""
        if self.density is not None:
            coupled_step(self)  # coupled replicas: the density neuron moves them
            return
        if self.particles is not None:
            particle_step(self)  # frozen potential: move the particles (models.particles)
            return
        cfg = self.config
        ens = self.ensemble
        inputs, targets = self.data.batch(self.streams["batch"], self.batch_size)
        learning = cfg.learning
        self.last_state, self._last_cache = None, {}  # the old batch's states go before the new
        self.observables.release()
        state = ens.relax(inputs, targets if learning else None, rng=self.streams["relax"])
        for controller in self.controllers:  # moves that reuse the relaxed batch
            state = controller.before_update(state)
        gamma, m = self.step_size, self.batch_size
        if learning:
            gw, gb = ens.gradients(state)
            ens.apply(gw, gb, gamma)
            if not self.alive.all():
                self._zero_dropped()
        else:
            gw = gb = None
        self.last_state = state
        self._last_cache = {}
        self.last_targets = targets
        self.observables = Observables(self, state, gw, gb, gamma, m)
        if self.divergence is not None:
            self.divergence.check(self)
        for controller in self.controllers:
            controller.step()
        for hook in self.step_hooks:
            hook(self)
        if ens.drive_on:
            ens.drive *= self._drive_decay
            if np.abs(ens.drive).max() < 1e-12:
                ens.drive[:] = 0.0
                ens.drive_on = False
        self.recorder.record()

    def run(self, steps: int, progress: bool = True) -> None:
        """Run ``steps`` steps, with a tqdm progress bar when ``progress``.

        Examples
        --------
        >>> model = LearningSystem(replicas=4, n_hidden=2)
        >>> model.run(3, progress=False); model.steps
        3
        """
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
            raise ValueError(f"steps: {steps!r}; expected an integer >= 0")
        if progress:
            from tqdm.auto import tqdm

            for _ in tqdm(range(int(steps)), desc="steps", leave=False):
                self.step()
        else:
            for _ in range(int(steps)):
                self.step()

    # ------------------------------------------------------------------ probe quantities
    def free_energy(self) -> np.ndarray:
        """F per replica: probe-set mean of H after relaxation with the boundary clamped, (R,)."""
        if self._probe_cache is not None and self._probe_cache[0] == self.steps:
            return self._probe_cache[1]
        if self.particles is not None:
            return np.full(self.config.replicas, np.nan)
        px, py = self.data.probe_x, self.data.probe_y
        R = self.config.replicas
        st = self.ensemble.relax(
            np.broadcast_to(px, (R, *px.shape)),
            np.broadcast_to(py, (R, *py.shape)),
            temperature=0.0,
        )
        value = st.energy().mean(axis=1)
        self._probe_cache = (self.steps, value)
        return value

    def prediction_error(self) -> np.ndarray:
        """Probe-set mean squared error of the free-running network (inputs clamped), (R,)."""
        if self._prediction_cache is not None and self._prediction_cache[0] == self.steps:
            return self._prediction_cache[1]
        if self.particles is not None:
            return np.full(self.config.replicas, np.nan)
        px, py = self.data.probe_x, self.data.probe_y
        R = self.config.replicas
        steps = None if self.architecture.recurrent else 0
        st = self.ensemble.relax(
            np.broadcast_to(px, (R, *px.shape)), None, steps=steps, temperature=0.0
        )
        out = st.X["output"].transpose(0, 2, 1)
        value = ((out - py) ** 2).mean(axis=(1, 2))
        self._prediction_cache = (self.steps, value)
        return value

    # ------------------------------------------------------------------ states
    @property
    def last_states(self) -> np.ndarray | None:
        """States x of the last step's mini-batches, shape (R, M, n) (None before a step)."""
        if self.last_state is None:
            return None
        if "x" not in self._last_cache:
            self._last_cache["x"] = self.last_state.x
        return self._last_cache["x"]

    def probe_mean_states(self, samples: int = 64) -> np.ndarray:
        """Mean free-running state of every slot over fixed probe inputs, shape (R, n).

        The first ``min(n_probe, samples)`` probe inputs are clamped, the rest of the network
        runs free (relaxed at T_x = 0), so the result changes only as the weights change.

        Examples
        --------
        >>> model = LearningSystem(replicas=3, n_hidden=2, seed=0)
        >>> model.probe_mean_states().shape
        (3, 5)
        """
        px = self.data.probe_x[:samples]
        R = self.config.replicas
        steps = None if self.architecture.recurrent else 0
        st = self.ensemble.relax(
            np.broadcast_to(px, (R, *px.shape)), None, steps=steps, temperature=0.0
        )
        return st.batch_mean()

    def batch_mean_states(self) -> np.ndarray:
        """Batch-mean state of every slot after the last step, shape (R, n) (zeros before)."""
        if self.last_state is None:
            return np.zeros((self.config.replicas, self.ensemble.n))
        if "mean" not in self._last_cache:
            self._last_cache["mean"] = self.last_state.batch_mean()
        return self._last_cache["mean"]

    # ------------------------------------------------------------------ recording
    def coordinates(self) -> np.ndarray:
        """The observed coordinates q of every replica now, shape (R, k).

        With a potential: the population mean of each particle coordinate, shape (R, dim).
        """
        if self.particles is not None:
            return self.particles.mean_position()
        return self.ensemble.parameter_vector() @ self._projection

    def recent_coordinates(self, window: int) -> np.ndarray:
        """The last ``window`` recorded q, shape (<= window, R, k)."""
        return self.recorder.recent_coordinates(window)

    def trajectories(self) -> pd.DataFrame:
        """Tidy table, one row per (step, replica), recorded every step.

        Columns: ``step``, ``replica``, ``n_neurons``, ``step_size``, ``batch_size``, ``loss``,
        ``free_energy``, ``q_0 .. q_{k-1}`` (and ``sigma_i_j`` with ``record_noise``); see
        :meth:`models.recorder.Recorder.trajectories`.
        """
        return self.recorder.trajectories()

    def neuron_states(self) -> pd.DataFrame:
        """Mean neuron states per (step, replica, neuron), every ``record_every`` steps.

        Columns: ``step``, ``replica``, ``neuron``, ``kind``, ``state``; see
        :meth:`models.recorder.Recorder.neuron_states`.
        """
        return self.recorder.neuron_states()

    def controller_events(self) -> pd.DataFrame:
        """Tidy table of every controller's events, in order.

        Columns: ``step``, ``controller``, ``replica``, ``action``, ``before``, ``after``,
        ``delta_F``, ``accepted`` (each controller's ``events()`` supplies its rows).
        """
        return self.recorder.controller_events()

    def model_frame(self) -> pd.DataFrame:
        """The DataCollector's model-level table (one row per recorded step)."""
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    def neuron_frame(self) -> pd.DataFrame:
        """The DataCollector's NeuronAgent table (one row per recorded step and neuron)."""
        frame = self.datacollector.get_agenttype_vars_dataframe(NeuronAgent)
        return frame.reset_index()
