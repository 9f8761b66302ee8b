"""Controller: the base of the agents that adapt N, gamma and M while the system learns.

A controller is a Mesa agent on its own node of ``model.graph`` (node id ``"controller:<name>"``,
``kind = "controller"``) with a cell on ``model.space``; its edges go to the neurons it acts on, so
the graph records who controls what. It acts every ``interval`` steps (when ``model.steps`` is a
multiple of ``interval``), after the step's SGD update, reading the step's shared
:class:`models.observables.Observables` (computed once per step, never per controller).

Every action is logged as an event row (step, controller, replica, action, before, after, delta_F,
accepted); ensemble-wide controllers log ``replica = -1``. Time is in learning steps (dt = 1).

Schedules (``policy = "schedule"``) are given as ``steps`` (increasing) and ``values``: the value
is interpolated between the points, linearly (``interpolation = "linear"``) or geometrically
(``"exponential"``: linear in log value, i.e. exponential decay or growth between points), and
held constant before the first and after the last point.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from mesa.discrete_space import Cell, FixedAgent

from models.config import ConfigError

if TYPE_CHECKING:
    from models.learning_system import LearningSystem
    from models.network import State

EVENT_COLUMNS = (
    "step",
    "controller",
    "replica",
    "action",
    "before",
    "after",
    "delta_F",
    "accepted",
)
COMMON_KEYS = ("type", "name", "policy", "interval")
INTERPOLATIONS = ("linear", "exponential")
# per-step diffusion of the SGD displacement, shared by every controller that asks
_SGD_DIFFUSION: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sgd_diffusion(model: LearningSystem) -> float:
    """Diffusion of this step's SGD displacement of the observed coordinates, per step.

    D_t = 1/2 x (across-replica variance of dq), averaged over the k coordinates, where dq is the
    displacement of q made by this step's update only (-gamma g projected, or the heavy-ball
    velocity), so neuron moves made by controllers do not enter. Computed once per step (shared
    by every controller). NaN when learning is off.

    Examples
    --------
    >>> from models import LearningSystem
    >>> model = LearningSystem(replicas=8, n_hidden=2, seed=0)
    >>> model.step()
    >>> q0 = model.recent_coordinates(1)[0]
    >>> d = sgd_diffusion(model)
    >>> model.step()  # compare with the recorded coordinates (no neuron moves here)
    >>> dq = model.coordinates() - model.recent_coordinates(2)[0]
    >>> bool(np.isclose(sgd_diffusion(model), 0.5 * dq.var(axis=0, ddof=1).mean()))
    True
    """
    obs = model.observables
    if obs in _SGD_DIFFUSION:
        return _SGD_DIFFUSION[obs]
    ens = model.ensemble
    if obs.gw is None:
        value = math.nan
    else:
        if ens.momentum:
            full_w, full_b = ens.vw, ens.vb
            scale = 1.0
        else:
            full_w = np.zeros_like(ens.w)
            for blk, g in zip(ens.arch.blocks, obs.gw, strict=True):
                full_w[:, blk.rows, blk.cols] = g
            full_b, scale = obs.gb, -obs.step_size
        vec = full_w[:, ens.param_rows, ens.param_cols]
        if ens.bias_index.size:
            vec = np.concatenate([vec, full_b[:, ens.bias_index]], axis=1)
        dq = scale * (vec @ model.projection)
        value = float(0.5 * dq.var(axis=0, ddof=1).mean()) if dq.shape[0] > 1 else math.nan
    _SGD_DIFFUSION[obs] = value
    return value


# ---------------------------------------------------------------------- validation helpers
def check_int(
    spec: Mapping[str, Any],
    key: str,
    where: str,
    default: int | None,
    lo: int,
    hi: int | None = None,
) -> int | None:
    """Read an integer ``spec[key]`` in ``[lo, hi]`` (or ``default`` when absent).

    Examples
    --------
    >>> check_int({"interval": 5}, "interval", "controllers[0]", 1, 1)
    5
    >>> try:
    ...     check_int({"interval": 0}, "interval", "controllers[0]", 1, 1)
    ... except ConfigError as err:
    ...     print(err)
    controllers[0].interval: 0; expected an integer >= 1
    """
    if key not in spec:
        return default
    value = spec[key]
    allowed = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{where}.{key}", value, allowed)
    if value < lo or (hi is not None and value > hi):
        raise ConfigError(f"{where}.{key}", value, allowed)
    return int(value)


def check_float(
    spec: Mapping[str, Any],
    key: str,
    where: str,
    default: float | None,
    lo: float = -math.inf,
    hi: float = math.inf,
    *,
    lo_open: bool = False,
) -> float | None:
    """Read a finite number ``spec[key]`` in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``).

    Examples
    --------
    >>> check_float({"beta_c": 2}, "beta_c", "controllers[0]", 1.0, 0.0, lo_open=True)
    2.0
    >>> try:
    ...     check_float({"beta_c": -1.0}, "beta_c", "c[0]", 1.0, 0.0, lo_open=True)
    ... except ConfigError as err:
    ...     print(err)
    c[0].beta_c: -1.0; expected a number in (0, inf)
    """
    if key not in spec:
        return default
    value = spec[key]
    left = "(" if lo_open else "["
    right = ")" if math.isinf(hi) else "]"
    allowed = f"a number in {left}{lo:g}, {hi:g}{right}"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{where}.{key}", value, allowed)
    value = float(value)
    if not math.isfinite(value) or value < lo or value > hi or (lo_open and value == lo):
        raise ConfigError(f"{where}.{key}", value, allowed)
    return value


def check_choice(
    spec: Mapping[str, Any], key: str, where: str, default: str, options: Sequence[str]
) -> str:
    """Read ``spec[key]`` from ``options``.

    Examples
    --------
    >>> check_choice({}, "policy", "controllers[0]", "constant", ("constant", "schedule"))
    'constant'
    """
    value = spec.get(key, default)
    if value not in options:
        raise ConfigError(f"{where}.{key}", value, f"one of {', '.join(options)}")
    return str(value)


def check_keys(spec: Mapping[str, Any], where: str, allowed: Sequence[str], kind: str) -> None:
    """Refuse keys that are not parameters of this controller type and policy.

    Examples
    --------
    >>> try:
    ...     check_keys({"type": "x", "gain": 1}, "controllers[0]", ("type",), "x (constant)")
    ... except ConfigError as err:
    ...     print(err)
    controllers[0].gain: 1; expected a parameter of x (constant): type
    """
    for key, value in spec.items():
        if key not in allowed:
            raise ConfigError(
                f"{where}.{key}", value, f"a parameter of {kind}: {', '.join(allowed)}"
            )


def check_schedule(
    spec: Mapping[str, Any], where: str, lo: float, hi: float = math.inf
) -> dict[str, Any]:
    """Validate ``steps`` (increasing integers >= 0), ``values`` (in [lo, hi]) and interpolation.

    Examples
    --------
    >>> check_schedule({"steps": [0, 10], "values": [1.0, 0.5]}, "c[0]", 0.0)
    {'steps': [0, 10], 'values': [1.0, 0.5], 'interpolation': 'linear'}
    """
    steps = spec.get("steps")
    values = spec.get("values")
    if not isinstance(steps, list | tuple) or len(steps) < 1:
        raise ConfigError(f"{where}.steps", steps, "a non-empty list of increasing steps >= 0")
    if not isinstance(values, list | tuple) or len(values) != len(steps):
        raise ConfigError(
            f"{where}.values", values, f"a list of {len(steps)} numbers (one per step)"
        )
    out_steps = []
    for i, s in enumerate(steps):
        s = check_int({f"steps[{i}]": s}, f"steps[{i}]", where, None, 0)
        if out_steps and s <= out_steps[-1]:
            raise ConfigError(f"{where}.steps[{i}]", s, f"a step > {out_steps[-1]} (increasing)")
        out_steps.append(s)
    interp = check_choice(spec, "interpolation", where, "linear", INTERPOLATIONS)
    positive = interp == "exponential"
    out_values = []
    for i, v in enumerate(values):
        key = f"values[{i}]"
        v = check_float(
            {key: v}, key, where, None, max(lo, 0.0) if positive else lo, hi, lo_open=positive
        )
        out_values.append(v)
    return {"steps": out_steps, "values": out_values, "interpolation": interp}


def schedule_value(
    step: int, steps: Sequence[int], values: Sequence[float], interpolation: str = "linear"
) -> float:
    """Value of a piecewise linear or piecewise exponential schedule at ``step``.

    Examples
    --------
    >>> schedule_value(5, [0, 10], [1.0, 0.0])
    0.5
    >>> round(schedule_value(5, [0, 10], [1.0, 0.01], "exponential"), 6)
    0.1
    >>> schedule_value(50, [0, 10], [1.0, 0.0])
    0.0
    """
    xs = np.asarray(steps, dtype=float)
    ys = np.asarray(values, dtype=float)
    if interpolation == "exponential":
        return float(np.exp(np.interp(step, xs, np.log(ys))))
    return float(np.interp(step, xs, ys))


# ---------------------------------------------------------------------- base class
class Controller(FixedAgent):
    """Base of the controllers: graph node, Mesa cell, policy, interval, bounds and event log.

    Subclasses set ``kind`` (the registry name), ``POLICIES``, implement :meth:`act` and
    :meth:`targets`, and extend :meth:`validate`.

    Parameters
    ----------
    model : LearningSystem
    policy : str
    interval : int
        Act when ``model.steps % interval == 0``.
    name : str, optional
        Node name suffix; defaults to ``kind`` (made unique with ``_1``, ``_2`` ...).

    Examples
    --------
    >>> from models import LearningSystem
    >>> model = LearningSystem(replicas=2, n_hidden=2, controllers=[{"type": "step_size"}])
    >>> c = model.controllers[0]
    >>> c.node, model.graph.nodes[c.node]["kind"], sorted(c.controlled)
    ('controller:step_size', 'controller', [2, 3, 4])
    >>> c.cell.coordinate == c.node
    True
    """

    kind: ClassVar[str] = "controller"
    POLICIES: ClassVar[tuple[str, ...]] = ()
    ACTIONS: ClassVar[tuple[str, ...]] = ("set",)

    def __init__(
        self, model: LearningSystem, policy: str, interval: int = 1, name: str | None = None
    ) -> None:
        super().__init__(model)
        self.where = "controllers[{}]".format(
            sum(1 for _, kind in model.graph.nodes(data="kind") if kind == "controller")
        )
        base = name or self.kind
        node = f"controller:{base}"
        k = 1
        while node in model.graph:
            node = f"controller:{base}_{k}"
            k += 1
        self.name = node.split(":", 1)[1]
        self.node = node
        self.policy = policy
        self.interval = int(interval)
        cell = Cell(node, random=model.space.random)
        model.space.add_cell(cell)
        model.graph.nodes[node].update(
            kind="controller", controller=self.kind, policy=policy, label=node
        )
        self.cell = cell
        self._log: dict[str, list[np.ndarray]] = {c: [] for c in EVENT_COLUMNS if c != "controller"}
        self.rewire()

    # ------------------------------------------------------------------ configuration
    @classmethod
    def validate_common(cls, spec: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Validate ``policy``, ``interval`` and ``name`` (shared by every controller)."""
        out: dict[str, Any] = {
            "policy": check_choice(spec, "policy", where, cls.POLICIES[0], cls.POLICIES),
            "interval": check_int(spec, "interval", where, 1, 1),
        }
        if "name" in spec:
            name = spec["name"]
            if not isinstance(name, str) or not name or ":" in name:
                raise ConfigError(f"{where}.name", name, "a non-empty string without ':'")
            out["name"] = name
        return out

    @classmethod
    def validate(cls, spec: dict, where: str) -> dict:
        """Check a controller table; return the normalised parameters (without ``type``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ graph
    def targets(self) -> list[int]:
        """Neuron nodes this controller acts on (edges ``controller -> neuron``)."""
        return []

    def rewire(self) -> None:
        """Make the controller's edges match :meth:`targets` (graph and Mesa space together).

        Removing a neuron's cell removes its edges; a neuron added back is reconnected here.
        """
        space = self.model.space
        graph = self.model.graph
        want = {t for t in self.targets() if t in graph}
        have = set(graph.successors(self.node))
        for t in sorted(have - want, key=str):
            space.remove_connection(self.cell, space[t])
        for t in sorted(want - have, key=str):
            space.add_connection(self.cell, space[t])

    @property
    def controlled(self) -> list:
        """Nodes this controller has edges to (from the graph)."""
        return list(self.model.graph.successors(self.node))

    # ------------------------------------------------------------------ stepping
    def step(self) -> None:
        """Act when the step count is a multiple of ``interval`` (called by the model)."""
        if self.model.steps % self.interval == 0:
            self.act()

    def act(self) -> None:
        """Apply the policy once (subclasses)."""
        raise NotImplementedError

    def before_update(self, state: State) -> State:
        """Act on the step's relaxed mini-batch, before the learning update.

        Called by the model every step, between the relaxation and the gradients; returns the
        state the update uses. Most controllers act after the step (:meth:`step`) and return
        ``state`` unchanged.
        """
        return state

    # ------------------------------------------------------------------ events
    def log(
        self,
        replica: np.ndarray | int,
        action: np.ndarray | str,
        before: np.ndarray | float,
        after: np.ndarray | float,
        delta_F: np.ndarray | float = np.nan,
        accepted: np.ndarray | bool = True,
    ) -> None:
        """Append event rows (arrays broadcast together) at the current step.

        ``action`` is a name from ``ACTIONS`` or an integer array of indices into it. Rows are
        stored compactly (codes, int32 replicas) and expanded by :meth:`events`.
        """
        replica = np.atleast_1d(np.asarray(replica, dtype=np.int32))
        k = replica.size
        if isinstance(action, str):
            action = self.ACTIONS.index(action)
        self._log["step"].append(np.array([self.model.steps, k], dtype=np.int64))
        self._log["replica"].append(replica)
        self._log["action"].append(np.broadcast_to(np.asarray(action, dtype=np.int8), (k,)))
        self._log["before"].append(np.broadcast_to(np.asarray(before, dtype=float), (k,)))
        self._log["after"].append(np.broadcast_to(np.asarray(after, dtype=float), (k,)))
        self._log["delta_F"].append(np.broadcast_to(np.asarray(delta_F, dtype=float), (k,)))
        self._log["accepted"].append(np.broadcast_to(np.asarray(accepted, dtype=bool), (k,)))

    def events(self) -> pd.DataFrame:
        """This controller's events, one row per proposal or setting.

        Columns: step, controller, replica (-1 for ensemble-wide settings), action, before,
        after, delta_F (NaN where no free-energy difference was computed), accepted.
        """
        if not self._log["step"]:
            return pd.DataFrame({c: [] for c in EVENT_COLUMNS})
        chunks = np.stack(self._log["step"])
        data: dict[str, Any] = {"step": np.repeat(chunks[:, 0], chunks[:, 1])}
        data["controller"] = np.full(data["step"].size, self.name)
        for c in ("replica", "action", "before", "after", "delta_F", "accepted"):
            data[c] = np.concatenate(self._log[c])
        data["replica"] = data["replica"].astype(np.int64)
        data["action"] = np.asarray(self.ACTIONS)[data["action"]]
        return pd.DataFrame(data, columns=list(EVENT_COLUMNS))

    def reporters(self) -> dict[str, Any]:
        """Model reporters (name -> callable(model)) merged into the DataCollector."""
        return {}


def trainable_targets(model: LearningSystem) -> list[int]:
    """Present non-input neuron nodes (the slots whose weights gamma and M act on).

    Examples
    --------
    >>> from models import LearningSystem
    >>> trainable_targets(LearningSystem(replicas=2, n_hidden=2))
    [2, 3, 4]
    """
    return [
        int(i)
        for i, kind in model.graph.nodes(data="kind")
        if kind in ("hidden", "output") and isinstance(i, int | np.integer)
    ]


class ScalarController(Controller):
    """A controller of one ensemble-wide parameter of the model (``step_size`` or ``batch_size``).

    Subclasses set ``attribute`` and ``integer`` and implement :meth:`proposal`, returning the
    wanted value (before clipping to ``[lower, upper]``). Every act logs one row
    (``replica = -1``, ``action = "set"``).

    Examples
    --------
    >>> from models import LearningSystem
    >>> spec = {"type": "batch_size", "value": 5}
    >>> model = LearningSystem(replicas=2, n_hidden=2, controllers=[spec])
    >>> model.step()
    >>> model.controller_events()[["controller", "replica", "action", "after"]].values.tolist()
    [['batch_size', -1, 'set', 5.0]]
    """

    attribute: ClassVar[str] = ""
    integer: ClassVar[bool] = False

    def __init__(
        self,
        model: LearningSystem,
        policy: str,
        lower: float,
        upper: float,
        interval: int = 1,
        name: str | None = None,
    ) -> None:
        self.lower = lower
        self.upper = upper
        super().__init__(model, policy, interval, name)
        model.graph.nodes[self.node]["controls"] = self.attribute

    def targets(self) -> list[int]:
        return trainable_targets(self.model)

    def clip(self, value: float) -> float | int:
        """Clip to the bounds (and round to an integer for integer parameters)."""
        if not math.isfinite(value):
            value = float(getattr(self.model, self.attribute))
        value = min(max(value, self.lower), self.upper)
        if self.integer:
            return int(min(max(round(value), math.ceil(self.lower)), math.floor(self.upper)))
        return float(value)

    def proposal(self) -> float:
        """The value the policy wants now (subclasses)."""
        raise NotImplementedError

    def act(self) -> None:
        before = getattr(self.model, self.attribute)
        after = self.clip(self.proposal())
        setattr(self.model, self.attribute, after)
        self.log(-1, "set", before, after)


class HbarMeter:
    """The Madelung hbar set by (gamma, M) through the measured diffusion of the coordinates.

    Reading (PHYSICS.md section 3, reconstructed): hbar = (D / gamma)^p, with m = 1/(2 gamma);
    p = 1 is Nelson's hbar = 2 m D, p = 1/2 the reading hbar^2 ~ D / gamma. D is measured every
    step from the SGD displacement of the observed coordinates (:func:`sgd_diffusion`; neuron
    moves excluded), and the constant c of D = c gamma^2 / M is measured as the mean of D over the
    last ``window`` steps divided by the mean of gamma^2 / M over the same steps (never assumed).
    Then hbar(gamma, M) = (c gamma / M)^p, and the (gamma, M) giving a target hbar follow in
    closed form.

    Parameters
    ----------
    window : int
        Steps averaged.
    exponent : float
        p above.

    Examples
    --------
    >>> meter = HbarMeter(window=2, exponent=1.0)
    >>> meter.add(0.5 * 0.1**2 / 10, 0.1, 10); meter.add(0.5 * 0.1**2 / 10, 0.1, 10)
    >>> meter.measure()
    0.5
    >>> round(meter.hbar(0.1, 10), 6), round(meter.ratio_for(0.005), 6)
    (0.005, 0.01)
    """

    def __init__(self, window: int, exponent: float) -> None:
        self.window = int(window)
        self.exponent = float(exponent)
        self._d: list[float] = []
        self._g2m: list[float] = []
        self.constant = math.nan
        self.diffusion = math.nan

    def add(self, diffusion: float, step_size: float, batch_size: int) -> None:
        """Remember one step's measured D and its gamma^2 / M (keeps the last ``window``)."""
        self._d.append(float(diffusion))
        self._g2m.append(step_size * step_size / batch_size)
        if len(self._d) > self.window:
            del self._d[0], self._g2m[0]

    def observe(self, model: LearningSystem) -> None:
        """Add this step's D (:func:`sgd_diffusion`) with the gamma and M the step used."""
        obs = model.observables
        self.add(sgd_diffusion(model), obs.step_size, obs.batch_size)

    def measure(self) -> float:
        """The constant c = mean D / mean(gamma^2 / M) over the window (NaN until it is full)."""
        d = np.asarray(self._d)
        if d.size < self.window or not np.isfinite(d).any():
            self.constant = math.nan
            return self.constant
        ok = np.isfinite(d)
        self.diffusion = float(d[ok].mean())
        g2m = float(np.asarray(self._g2m)[ok].mean())
        self.constant = self.diffusion / g2m if g2m > 0 else math.nan
        return self.constant

    def hbar(self, step_size: float, batch_size: float) -> float:
        """hbar(gamma, M) = (c gamma / M)^p with the measured c (NaN before it is measured)."""
        c = self.constant
        if not math.isfinite(c) or c <= 0:
            return math.nan
        return (c * step_size / batch_size) ** self.exponent

    def ratio_for(self, target: float) -> float:
        """gamma / M that gives hbar = ``target``: (target^(1/p)) / c."""
        c = self.constant
        if not math.isfinite(c) or c <= 0:
            return math.nan
        return target ** (1.0 / self.exponent) / c


def chemical_potential(model: LearningSystem, given: float | None) -> float:
    """|mu_c|: ``given`` or, when None, the current mu_c of the model's neuron-count controller.

    Examples
    --------
    >>> from models import LearningSystem
    >>> spec = {"type": "neuron_count", "mu_c": -0.02}
    >>> model = LearningSystem(replicas=2, n_hidden=2, n_hidden_max=3, controllers=[spec])
    >>> chemical_potential(model, None), chemical_potential(model, 0.5)
    (0.02, 0.5)
    """
    if given is not None:
        return abs(given)
    for c in model.controllers:
        if getattr(c, "kind", None) == "neuron_count":
            return abs(c.mu_c)
    return math.nan
