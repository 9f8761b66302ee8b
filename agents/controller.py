"""Controller: the base of the agents that adapt N, gamma and M while the system learns.

A controller is a Mesa agent on its own node of ``model.graph`` (node id ``"controller:<name>"``,
``kind = "controller"``) with a cell on ``model.space``; its edges go to the neurons it acts on, so
the graph records who controls what. It acts every ``interval`` steps (when ``model.steps`` is a
multiple of ``interval``), after the step's SGD update, reading the step's shared
:class:`models.observables.Observables` (computed once per step, never per controller).

Every action is logged as an event row (step, controller, replica, action, before, after, delta_F,
accepted); ensemble-wide controllers log ``replica = -1``. Time is in learning steps (dt = 1).
The policies shared by the step-size and batch-size controllers are in :mod:`agents.policies`,
schedules in :mod:`agents.schedule`, the argument checks in :mod:`agents.params`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from mesa.discrete_space import Cell, FixedAgent

from agents.params import ConfigError, check_choice, check_int

if TYPE_CHECKING:
    # the model is imported for type hints only (agents never import models at run time)
    from models.ensemble import State
    from models.learning_system import LearningSystem

__all__ = [
    "COMMON_KEYS",
    "EVENT_COLUMNS",
    "Controller",
    "ScalarController",
    "trainable_targets",
]

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
