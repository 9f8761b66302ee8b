"""Validated, frozen configuration of a learning system.

Every field is checked when a :class:`SystemConfig` is built; an invalid value raises
:class:`ConfigError` (a ``ValueError``) whose one-line message names the field, the value and
what is allowed. A config whose arrays would not fit in memory is refused the same way, before
anything is allocated.

Glossary (paper symbol -> field): R -> ``replicas``, gamma -> ``step_size``, M -> ``batch_size``,
N -> active neurons (``n_input + n_hidden + n_output`` at the start), T_x -> ``neuron_temperature``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from agents.params import (
    ConfigError,
    check_bool,
    check_choice,
    check_float,
    check_int,
)
from agents.registry import validate_specs
from models.coupling import check_coupling
from models.potentials import NOISE_MODES, check_particle_fields

__all__ = [
    "ACTIVATIONS",
    "DATA_MODES",
    "DTYPES",
    "MAX_FORWARD_SWEEPS",
    "MAX_RELAX_STEPS",
    "NOISE_MODES",
    "STATE_SOURCES",
    "TASKS",
    "TASK_PARAMS",
    "TOPOLOGIES",
    "ConfigError",
    "SystemConfig",
    "load_graph",
]

TOPOLOGIES = ("layered", "recurrent", "small_world")
ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")
TASKS = ("teacher", "linear", "gaussian_mixture", "sine", "parity")
DATA_MODES = ("online", "finite")
DTYPES = ("float64", "float32")
# iteration counts per step: beyond these a single step would run for hours
MAX_RELAX_STEPS = 10_000
MAX_FORWARD_SWEEPS = 1_000
STATE_SOURCES = ("batch", "probe")
TASK_PARAMS = {
    "teacher": {"teacher_scale": float, "input_scale": float},
    "linear": {"teacher_scale": float, "input_scale": float},
    "gaussian_mixture": {"separation": float, "input_scale": float},
    "sine": {"frequency": float, "input_scale": float},
    "parity": {},
}


@dataclasses.dataclass(frozen=True)
class SystemConfig:
    """Configuration of a replica ensemble of neural networks.

    Parameters
    ----------
    replicas : int
        R, independently seeded replicas of the network (the ensemble that gives p(q, t)).
    n_input, n_hidden, n_output : int
        Boundary (input, output) and bulk (hidden) neurons active at the start.
    n_hidden_max : int, optional
        Capacity of hidden slots for later growth; defaults to ``n_hidden``.
    topology : str or networkx.DiGraph
        ``layered`` (input -> hidden -> output), ``recurrent`` (random directed graph with
        edge probability ``connectivity``), ``small_world`` (Watts-Strogatz hidden layer with
        ``small_world_k`` neighbours and rewiring ``small_world_p``), a DiGraph whose nodes carry
        ``kind`` in {input, hidden, output}, or a path to a node-link ``.json`` file or an
        edge-list file whose node names start with ``in``, ``h`` or ``out``.
    activation, output_activation : str
        f of hidden and output neurons: tanh, sigmoid, relu, linear.
    task : str
        ``teacher``, ``linear``, ``gaussian_mixture``, ``sine``, ``parity`` (see models.tasks).
    task_params : mapping
        Task parameters (``teacher_scale``, ``input_scale``, ``separation``, ``frequency``).
    noise : float
        Label noise (standard deviation for regression, flip probability for classification).
    data : str
        ``online`` (fresh samples from p_d every step) or ``finite`` (``n_data`` samples drawn
        with replacement).
    step_size, batch_size : float, int
        gamma and M, ensemble-wide.
    relax_steps, relax_rate : int, float
        Relaxation of the fast variables x by descent on H (docs/physics.md#learning-system).
    forward_sweeps : int
        Sweeps of x <- f(w x + b) before relaxing, for graphs with hidden -> hidden edges.
    neuron_temperature : float
        T_x; Langevin noise in the relaxation when > 0.
    learning : bool
        False is the learning-off control: weights frozen, everything else runs.
    momentum : float
        Heavy-ball coefficient beta in [0, 1) (in [0, 1] with a ``coupling``).
    bias : bool
        Trainable biases on non-input neurons.
    init_scale : float
        Initial weights ~ N(0, init_scale^2 / fan_in).
    observed : int
        k, number of tracked coordinates q_0..q_{k-1} of the parameter vector.
    record_every, probe_every : int
        DataCollector/neuron-state period, and probe-set (free energy) period (default
        ``record_every``).
    record_noise : bool
        Also record, every step, the per-sample gradient covariance projected on q
        (``sigma_i_j`` columns of the trajectory table).
    state_source : str
        What ``neuron_states()`` records: ``batch`` (the mean state over the step's own
        mini-batch: it carries the input-sampling noise of every step) or ``probe`` (the mean
        free-running state over the first ``min(n_probe, 64)`` fixed probe inputs: it changes only
        as the weights learn).
    n_data, n_probe : int
        Finite dataset size and probe-set size.
    dtype : str
        float64 or float32.
    seed : int
        Root of the run's ``numpy.random.SeedSequence``.
    controllers : tuple of mapping
        Controller specifications (see agents).
    memory_limit_gb : float, optional
        Refuse configs whose arrays exceed this; default half the machine's memory.
    blas_threads : int, optional
        Threads of the BLAS libraries, set when the model is built (the same in every
        executor of a sweep); default: as the process has them (not recorded).
    noise_mode : str
        ``common`` (every neuron of a replica sees the step's one mini-batch; with a potential,
        one noise draw per replica and step), ``langevin`` (explicit ``sqrt(2 D) xi`` per
        neuron, with a potential) or ``per_neuron`` (not available yet); see
        :mod:`models.potentials`.
    diffusion : float, optional
        D, the per-step diffusion of the particles (with a potential).
    potential : mapping, optional
        A frozen potential V(theta) (``polynomial``, ``cosine`` or ``separable`` table, see
        :mod:`models.potentials`): the frozen-potential mode, whose ``n_hidden`` neurons are
        non-interacting particles moving by ``theta <- theta - step_size grad V + noise``
        (``step_size`` may be 0 there); ``n_hidden_max`` is their initial slot capacity.
    coupling : mapping, optional
        A density neuron coupling the replicas on a 1-D coordinate, with the inertial
        integrator (mass ``1 / step_size``; ``momentum = 1`` is frictionless): see
        :mod:`models.coupling` (the coupling is put in by hand).

    Examples
    --------
    >>> cfg = SystemConfig(replicas=8, n_hidden=4)
    >>> cfg.n_hidden_max, cfg.replace(step_size=0.1).step_size
    (4, 0.1)
    """

    replicas: int = 64
    n_input: int = 2
    n_hidden: int = 8
    n_output: int = 1
    n_hidden_max: int | None = None
    topology: Any = "layered"
    connectivity: float = 0.3
    small_world_k: int = 4
    small_world_p: float = 0.1
    activation: str = "tanh"
    output_activation: str = "linear"
    task: str = "teacher"
    task_params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    noise: float = 0.1
    data: str = "online"
    n_data: int = 1024
    n_probe: int = 256
    step_size: float = 0.05
    batch_size: int = 16
    relax_steps: int = 20
    relax_rate: float = 0.2
    forward_sweeps: int = 5
    neuron_temperature: float = 0.0
    learning: bool = True
    momentum: float = 0.0
    bias: bool = True
    init_scale: float = 1.0
    observed: int = 2
    record_every: int = 10
    probe_every: int | None = None
    record_noise: bool = False
    state_source: str = "batch"
    dtype: str = "float64"
    seed: int = 0
    controllers: tuple[Mapping[str, Any], ...] = ()
    memory_limit_gb: float | None = None
    blas_threads: int | None = None
    noise_mode: str = "common"
    diffusion: float | None = None
    potential: Mapping[str, Any] | None = None
    coupling: Mapping[str, Any] | None = None

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        _int(self, "replicas", 1)
        _int(self, "n_input", 1)
        _int(self, "n_output", 1)
        _int(self, "seed", 0)
        topo = self.topology
        if isinstance(topo, nx.DiGraph):
            counts = _graph_counts(topo)
            object.__setattr__(self, "n_input", counts["input"])
            object.__setattr__(self, "n_hidden", counts["hidden"])
            object.__setattr__(self, "n_output", counts["output"])
            object.__setattr__(self, "n_hidden_max", counts["hidden"])
        elif isinstance(topo, str) and topo not in TOPOLOGIES:
            path = Path(topo)
            if not path.is_file():
                raise ConfigError(
                    "topology", topo, f"one of {', '.join(TOPOLOGIES)}, a DiGraph or a graph file"
                )
            graph = load_graph(path)
            counts = _graph_counts(graph)
            object.__setattr__(self, "n_input", counts["input"])
            object.__setattr__(self, "n_hidden", counts["hidden"])
            object.__setattr__(self, "n_output", counts["output"])
            object.__setattr__(self, "n_hidden_max", counts["hidden"])
        elif not isinstance(topo, str):
            raise ConfigError(
                "topology", topo, f"one of {', '.join(TOPOLOGIES)}, a DiGraph or a graph file"
            )
        _int(self, "n_hidden", 0)
        if self.n_hidden_max is None:
            object.__setattr__(self, "n_hidden_max", self.n_hidden)
        _int(self, "n_hidden_max", 0)
        if self.n_hidden_max < self.n_hidden:
            raise ConfigError(
                "n_hidden_max", self.n_hidden_max, f"an integer >= n_hidden ({self.n_hidden})"
            )
        if self.topology in ("recurrent", "small_world") and self.n_hidden_max < 1:
            raise ConfigError("n_hidden_max", self.n_hidden_max, f"an integer >= 1 for {topo}")
        _float(self, "connectivity", 0.0, 1.0, lo_open=True)
        _int(self, "small_world_k", 2)
        if self.topology == "small_world" and self.small_world_k >= max(self.n_hidden_max, 1):
            raise ConfigError(
                "small_world_k",
                self.small_world_k,
                f"an integer in [2, n_hidden_max) = [2, {self.n_hidden_max})",
            )
        _float(self, "small_world_p", 0.0, 1.0)
        _choice(self, "activation", ACTIVATIONS)
        _choice(self, "output_activation", ACTIVATIONS)
        _choice(self, "task", TASKS)
        if not isinstance(self.task_params, Mapping):
            raise ConfigError("task_params", self.task_params, "a mapping of task parameters")
        allowed = TASK_PARAMS[self.task]
        params = dict(self.task_params)
        for key, value in params.items():
            if key not in allowed:
                names = ", ".join(allowed) or "none"
                raise ConfigError(
                    f"task_params.{key}", value, f"a parameter of {self.task}: {names}"
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"task_params.{key}", value, "a positive number")
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"task_params.{key}", value, "a positive finite number")
            params[key] = float(value)
        object.__setattr__(self, "task_params", params)
        if self.task == "sine" and (self.n_input != 1 or self.n_output != 1):
            raise ConfigError(
                "task", "sine", f"n_input = n_output = 1 (got {self.n_input}, {self.n_output})"
            )
        if self.task == "parity" and self.n_output != 1:
            raise ConfigError("task", "parity", f"n_output = 1 (got {self.n_output})")
        _float(self, "noise", 0.0, math.inf)
        if self.task in ("gaussian_mixture", "parity") and self.noise > 0.5:
            raise ConfigError("noise", self.noise, "a label-flip probability in [0, 0.5]")
        _choice(self, "data", DATA_MODES)
        _int(self, "n_data", 1)
        _int(self, "n_probe", 2)
        _float(self, "step_size", 0.0, math.inf, lo_open=self.potential is None)
        _int(self, "batch_size", 1)
        _int(self, "relax_steps", 0, MAX_RELAX_STEPS)
        _float(self, "relax_rate", 0.0, 1.0, lo_open=True)
        _int(self, "forward_sweeps", 1, MAX_FORWARD_SWEEPS)
        _float(self, "neuron_temperature", 0.0, math.inf)
        _bool(self, "learning")
        if self.coupling is None and self.momentum == 1:
            raise ConfigError("momentum", self.momentum, "a number in [0, 1) (1 needs a coupling)")
        _float(self, "momentum", 0.0, 1.0, hi_open=self.coupling is None)
        _bool(self, "bias")
        _float(self, "init_scale", 0.0, math.inf)
        _int(self, "observed", 1)
        n_params = self.n_parameters_max()
        if self.observed > n_params:
            raise ConfigError(
                "observed", self.observed, f"an integer in [1, {n_params}] (trainable parameters)"
            )
        _int(self, "record_every", 1)
        if self.probe_every is None:
            object.__setattr__(self, "probe_every", self.record_every)
        _int(self, "probe_every", 1)
        _bool(self, "record_noise")
        _choice(self, "state_source", STATE_SOURCES)
        _choice(self, "dtype", DTYPES)
        fields = vars(self) if self.coupling is None else {**vars(self), "momentum": 0.0}
        for key, value in check_particle_fields(fields).items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "coupling", check_coupling(self.coupling, vars(self)))
        if isinstance(self.controllers, Mapping) or not isinstance(self.controllers, list | tuple):
            raise ConfigError("controllers", self.controllers, "a list of controller tables")
        for i, spec in enumerate(self.controllers):
            if not isinstance(spec, Mapping) or "type" not in spec:
                raise ConfigError(f"controllers[{i}]", spec, "a table with a 'type' key")
        if self.controllers:
            object.__setattr__(self, "controllers", validate_specs(self.controllers))
        else:
            object.__setattr__(self, "controllers", ())
        if self.memory_limit_gb is not None:
            _float(self, "memory_limit_gb", 0.0, math.inf, lo_open=True)
        if self.blas_threads is not None:
            _int(self, "blas_threads", 1)
        self._check_memory()

    # ------------------------------------------------------------------ derived sizes
    @property
    def n_neurons_max(self) -> int:
        """Neuron slots: inputs, hidden capacity, outputs."""
        return self.n_input + self.n_hidden_max + self.n_output

    def n_parameters_max(self) -> int:
        """Upper bound of trainable parameters per replica (layered: exact)."""
        n_in, n_h, n_out = self.n_input, self.n_hidden_max, self.n_output
        if isinstance(self.topology, str) and self.topology == "layered":
            edges = n_in * n_h + n_h * n_out if n_h else n_in * n_out
        else:
            edges = (n_in + n_h) * n_h + n_h * n_out + n_in * n_out
        return edges + (n_h + n_out if self.bias else 0)

    def estimated_bytes(self) -> int:
        """Bytes of the ensemble's arrays (states, weights, probe states, working copies)."""
        item = float(np.dtype(self.dtype).itemsize)
        if self.potential is not None:  # particles: positions, ids and working copies per slot
            return int(self.replicas * self.n_hidden_max * (48 + 32 * item))
        n = float(self.n_neurons_max)
        r = float(self.replicas)
        states = r * self.batch_size * n * 8  # x, f, f', e, delta, gradient, scratch
        probe = r * self.n_probe * n * 8
        # weights are stored by edges (a small world's ring as ~2k per neuron); with the
        # gradient, the update's scratch and the transposed copies (and the velocities)
        n_in, n_h, n_out = self.n_input, self.n_hidden_max, self.n_output
        edges = float(self.n_parameters_max())
        if isinstance(self.topology, str) and self.topology == "small_world":
            edges = n_h * (n_in + n_out + min(n_h, 2 * self.small_world_k)) + n_h + n_out
        elif isinstance(self.topology, nx.DiGraph):
            edges = self.topology.number_of_edges() + n_h + n_out
        weights = r * edges * (4 + (1 if self.momentum else 0))
        data = self.n_data * (self.n_input + self.n_output) * 2 if self.data == "finite" else 0
        total = (states + probe + weights + data) * item
        return int(min(total, 2.0**62))

    def _check_memory(self) -> None:
        limit = self.memory_limit_gb
        if limit is None:
            try:
                limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 / 2
            except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
                limit = 8.0
        need = self.estimated_bytes() / 2**30
        if need > limit:
            raise ConfigError(
                "replicas",
                self.replicas,
                f"a size whose arrays fit in memory: this config needs ~{need:.1f} GiB "
                f"(replicas x batch_size x neurons), the limit is {limit:.1f} GiB; "
                "reduce replicas, batch_size, n_probe or n_hidden_max",
            )

    # ------------------------------------------------------------------ conversion
    def replace(self, **changes: Any) -> SystemConfig:
        """Return a copy with ``changes`` applied (validated).

        Examples
        --------
        >>> SystemConfig().replace(batch_size=4).batch_size
        4
        """
        unknown = [k for k in changes if k not in _FIELDS]
        if unknown:
            raise ConfigError(
                unknown[0], changes[unknown[0]], f"a field of SystemConfig ({_field_list()})"
            )
        data = {f: getattr(self, f) for f in _FIELDS}
        if "n_hidden" in changes and "n_hidden_max" not in changes:
            if data["n_hidden_max"] == self.n_hidden:
                data["n_hidden_max"] = None
        if "record_every" in changes and "probe_every" not in changes:
            if data["probe_every"] == self.record_every:
                data["probe_every"] = None
        data.update(changes)
        return SystemConfig(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data dictionary (TOML/JSON friendly); a DiGraph topology becomes node-link data.

        Examples
        --------
        >>> SystemConfig.from_dict(SystemConfig().to_dict()) == SystemConfig()
        True
        """
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if name == "topology" and isinstance(value, nx.DiGraph):
                value = nx.node_link_data(value, edges="links")
            elif name == "controllers":
                value = [dict(c) for c in value]
            elif name == "task_params":
                value = dict(value)
            if value is None or (name == "noise_mode" and value == "common"):
                continue
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SystemConfig:
        """Build from a mapping; unknown keys raise :class:`ConfigError`.

        Examples
        --------
        >>> SystemConfig.from_dict({"replicas": 4}).replicas
        4
        """
        if not isinstance(data, Mapping):
            raise ConfigError("config", data, "a mapping of SystemConfig fields")
        data = dict(data)
        if "system" in data and isinstance(data["system"], Mapping):
            inner = dict(data.pop("system"))
            inner.update(data)
            data = inner
        unknown = [k for k in data if k not in _FIELDS]
        if unknown:
            raise ConfigError(
                unknown[0], data[unknown[0]], f"a field of SystemConfig ({_field_list()})"
            )
        topo = data.get("topology")
        if isinstance(topo, Mapping):
            try:
                data["topology"] = nx.node_link_graph(topo, directed=True, edges="links")
            except Exception as exc:
                raise ConfigError(
                    "topology", "<node-link data>", f"valid node-link data ({exc})"
                ) from None
        if "controllers" in data and isinstance(data["controllers"], list):
            data["controllers"] = tuple(data["controllers"])
        return cls(**data)

    @classmethod
    def from_toml(cls, path: str | Path) -> SystemConfig:
        """Read a TOML file: top-level keys (or a ``[system]`` table) and ``[[controllers]]``.

        Syntax errors are reported as a :class:`ConfigError` with the line number.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.toml"
        >>> _ = p.write_text("replicas = 16\\nstep_size = 0.1\\n")
        >>> SystemConfig.from_toml(p).replicas
        16
        """
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(
                "config", str(path), f"a readable TOML file ({exc.strerror})"
            ) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config", str(path), f"valid TOML ({exc})") from None
        data.pop("dualsim", None)  # run metadata written by the scenarios, not a field
        topo = data.get("topology", data.get("system", {}).get("topology"))
        if isinstance(topo, str) and topo not in TOPOLOGIES and not Path(topo).is_absolute():
            resolved = (path.parent / topo).resolve()
            if resolved.is_file():
                target = data["system"] if "topology" not in data else data
                target["topology"] = str(resolved)
        return cls.from_dict(data)

    def to_toml(self) -> str:
        """Serialise as TOML text (controllers as ``[[controllers]]`` tables).

        Examples
        --------
        >>> "replicas = 64" in SystemConfig().to_toml()
        True
        """
        data = self.to_dict()
        controllers = data.pop("controllers", [])
        task_params = data.pop("task_params", {})
        topo = data.get("topology")
        if not isinstance(topo, str):
            raise ConfigError(
                "topology", "<DiGraph>", "a named topology or a graph file path to write TOML"
            )
        lines = [f"{k} = {_toml_value(v)}" for k, v in data.items()]
        if task_params:
            lines.append("")
            lines.append("[task_params]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in task_params.items())
        for spec in controllers:
            lines.append("")
            lines.append("[[controllers]]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in spec.items())
        return "\n".join(lines) + "\n"


_FIELDS = tuple(f.name for f in dataclasses.fields(SystemConfig))


def _field_list() -> str:
    return ", ".join(_FIELDS[:6]) + ", ..."


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError("config", value, "TOML-representable values")


def _int(cfg: SystemConfig, name: str, lo: int, hi: int | None = None) -> None:
    object.__setattr__(cfg, name, check_int(vars(cfg), name, "", None, lo, hi))


def _float(
    cfg: SystemConfig,
    name: str,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> None:
    value = check_float(vars(cfg), name, "", None, lo, hi, lo_open=lo_open, hi_open=hi_open)
    object.__setattr__(cfg, name, value)


def _choice(cfg: SystemConfig, name: str, options: tuple[str, ...]) -> None:
    check_choice(vars(cfg), name, "", options[0], options)


def _bool(cfg: SystemConfig, name: str) -> None:
    object.__setattr__(cfg, name, check_bool(vars(cfg), name, "", None))


def _graph_counts(graph: nx.DiGraph) -> dict[str, int]:
    counts = {"input": 0, "hidden": 0, "output": 0}
    for node, attrs in graph.nodes(data=True):
        kind = attrs.get("kind")
        if kind not in counts:
            raise ConfigError(f"topology node {node!r} kind", kind, "'input', 'hidden' or 'output'")
        counts[kind] += 1
    if counts["input"] < 1 or counts["output"] < 1:
        raise ConfigError(
            "topology", f"graph with {counts}", "at least one input and one output node"
        )
    for u, v in graph.edges():
        if graph.nodes[v]["kind"] == "input":
            raise ConfigError("topology edge", f"{u!r}->{v!r}", "no edges into input neurons")
    return counts


def load_graph(path: str | Path) -> nx.DiGraph:
    """Read a user graph: node-link ``.json`` (nodes carry ``kind``) or an edge list.

    In an edge list ("u v" per line) the node names carry the kind: ``in*`` input, ``out*``
    output, ``h*`` hidden.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "g.edgelist"
    >>> _ = p.write_text("in0 h0\\nh0 out0\\n")
    >>> sorted(load_graph(p).nodes(data="kind"))
    [('h0', 'hidden'), ('in0', 'input'), ('out0', 'output')]
    """
    path = Path(path)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
            graph = nx.node_link_graph(data, directed=True, edges="links")
        except Exception as exc:
            raise ConfigError("topology", str(path), f"a node-link JSON graph ({exc})") from None
        return nx.DiGraph(graph)
    try:
        graph = nx.read_edgelist(path, create_using=nx.DiGraph, nodetype=str, data=False)
    except Exception as exc:
        raise ConfigError("topology", str(path), f"an edge list 'u v' per line ({exc})") from None
    for node in graph.nodes:
        if node.startswith("in"):
            graph.nodes[node]["kind"] = "input"
        elif node.startswith("out"):
            graph.nodes[node]["kind"] = "output"
        elif node.startswith("h"):
            graph.nodes[node]["kind"] = "hidden"
        else:
            raise ConfigError("topology node", node, "a name starting with in, h or out")
    return graph
