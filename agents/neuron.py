"""NeuronAgent: a Mesa agent that is a view over one neuron slot of the ensemble's arrays.

The arrays are the single source of truth. A NeuronAgent holds only its slot index; its
properties read and write the arrays of all replicas at once, so writing through an agent changes
what the next ``step()`` sees. Agents are never stepped one by one on the hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import Cell, FixedAgent

if TYPE_CHECKING:
    from models.learning_system import LearningSystem

__all__ = ["NeuronAgent"]


class NeuronAgent(FixedAgent):
    """One neuron slot (input, hidden or output) on its node of the model's graph.

    Parameters
    ----------
    model : LearningSystem
    index : int
        Slot index in the ensemble arrays (and node id in ``model.graph``).
    cell : mesa.discrete_space.Cell
        The slot's cell in ``model.space``.

    Examples
    --------
    >>> model = LearningSystem(replicas=4, n_hidden=3, seed=1)
    >>> agent = model.neuron(2)
    >>> agent.kind, agent.state.shape, bool(agent.active.all())
    ('hidden', (4,), True)
    """

    def __init__(self, model: LearningSystem, index: int, cell: Cell) -> None:
        super().__init__(model)
        self.index = int(index)
        self.kind: str = model.architecture.kinds[self.index]
        self.cell = cell

    @property
    def _ens(self):
        return self.model.ensemble

    @property
    def state(self) -> np.ndarray:
        """Batch-mean state of this neuron in each replica, shape (R,) (after the last step)."""
        if self.model.last_state is None:  # before the first step: no (R, n) array per neuron
            return np.zeros(self.model.config.replicas)
        return self.model.batch_mean_states()[:, self.index].copy()

    @property
    def state_std(self) -> np.ndarray:
        """Within-batch standard deviation of the state in each replica, shape (R,)."""
        x = self.model.last_states
        if x is None:
            return np.zeros(self._ens.replicas)
        return x[:, :, self.index].std(axis=1)

    @property
    def bias(self) -> np.ndarray:
        """Bias in each replica, shape (R,). Writable (inputs have no bias)."""
        return self._ens.b[:, self.index].copy()

    @bias.setter
    def bias(self, value: np.ndarray | float) -> None:
        if self.kind == "input" or not self.model.config.bias:
            raise ValueError(f"bias: neuron {self.index} ({self.kind}) has no trainable bias")
        self._ens.b[:, self.index] = value
        self._ens.b[:, self.index] *= self._ens.act[:, self.index]

    @property
    def in_weights(self) -> np.ndarray:
        """Incoming weights w[:, index, :] of each replica, shape (R, n). Writable.

        Writes are restricted to the wiring: entries off the adjacency or from inactive neurons
        are set to zero.
        """
        return self._ens.in_weights(self.index)

    @in_weights.setter
    def in_weights(self, value: np.ndarray) -> None:
        self._ens.set_in_weights(self.index, value)

    @property
    def active(self) -> np.ndarray:
        """Per-replica mask: is this slot in use in replica r. Shape (R,), read-only view."""
        view = self._ens.active[:, self.index].view()
        view.flags.writeable = False
        return view

    @property
    def predecessors(self) -> list[int]:
        """Slots that feed this neuron (from the graph, the record of the wiring)."""
        return [u for u in self.model.graph.predecessors(self.index) if isinstance(u, int)]
