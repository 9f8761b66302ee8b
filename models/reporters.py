"""The DataCollector reporters of a :class:`~models.learning_system.LearningSystem`.

Model reporters give one scalar per recorded step, neuron reporters one value per recorded step
and :class:`~agents.neuron.NeuronAgent`. They are module-level functions (so a model pickles) and
take means over the live replicas only (replicas dropped after diverging are left out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from agents.neuron import NeuronAgent

if TYPE_CHECKING:
    from models.learning_system import LearningSystem

__all__ = ["MODEL_REPORTERS", "NEURON_REPORTERS", "live", "make_datacollector"]


def live(m: LearningSystem, values: np.ndarray) -> np.ndarray:
    """``values`` (first axis: replicas) of the replicas still in the run.

    Examples
    --------
    >>> model = LearningSystem(replicas=3, n_hidden=1)
    >>> model.drop_replicas([1])
    >>> live(model, np.arange(3)).tolist()
    [0, 2]
    """
    values = np.asarray(values)
    return values if m.alive.all() else values[m.alive]


def _rep_step(m: LearningSystem) -> int:
    return m.steps


def _rep_n_neurons(m: LearningSystem) -> float:
    return float(live(m, m.observables.n_neurons).mean())


def _rep_step_size(m: LearningSystem) -> float:
    return m.step_size


def _rep_batch_size(m: LearningSystem) -> int:
    return m.batch_size


def _rep_loss_mean(m: LearningSystem) -> float:
    return float(np.mean(live(m, m.observables.loss)))


def _rep_loss_std(m: LearningSystem) -> float:
    return float(np.std(live(m, m.observables.loss)))


def _rep_free_energy(m: LearningSystem) -> float:
    return float(np.mean(live(m, m.observables.free_energy)))


def _rep_prediction_error(m: LearningSystem) -> float:
    return float(np.mean(live(m, m.prediction_error())))


def _rep_trace_sigma(m: LearningSystem) -> float:
    return float(np.mean(live(m, m.observables.trace_sigma)))


def _rep_t_eff(m: LearningSystem) -> float:
    return float(np.mean(live(m, m.observables.t_eff)))


def _rep_n_neurons_min(m: LearningSystem) -> int:
    return int(live(m, m.observables.n_neurons).min())


def _rep_n_neurons_max(m: LearningSystem) -> int:
    return int(live(m, m.observables.n_neurons).max())


MODEL_REPORTERS = {
    "step": _rep_step,
    "n_neurons": _rep_n_neurons,
    "step_size": _rep_step_size,
    "batch_size": _rep_batch_size,
    "loss_mean": _rep_loss_mean,
    "loss_std": _rep_loss_std,
    "free_energy": _rep_free_energy,
    "prediction_error": _rep_prediction_error,
    "trace_sigma": _rep_trace_sigma,
    "t_eff": _rep_t_eff,
    "n_neurons_min": _rep_n_neurons_min,
    "n_neurons_max": _rep_n_neurons_max,
}
"""Columns of the model table (name -> reporter), in order."""


def _agent_state_mean(a: NeuronAgent) -> float:
    return float(np.mean(live(a.model, a.state)))


def _agent_state_std(a: NeuronAgent) -> float:
    return float(np.std(live(a.model, a.state)))


def _agent_bias_mean(a: NeuronAgent) -> float:
    return float(np.mean(live(a.model, a.bias)))


def _agent_active_fraction(a: NeuronAgent) -> float:
    return float(np.mean(live(a.model, a.active)))


NEURON_REPORTERS: dict[str, Any] = {
    "neuron": "index",
    "kind": "kind",
    "state_mean": _agent_state_mean,
    "state_std": _agent_state_std,
    "bias_mean": _agent_bias_mean,
    "active_fraction": _agent_active_fraction,
}
"""Columns of the neuron table (name -> attribute or reporter), in order."""


def make_datacollector(controllers: list[Any]) -> mesa.DataCollector:
    """The DataCollector of a model: :data:`MODEL_REPORTERS`, then the controllers' reporters.

    Each controller's ``reporters()`` (name -> callable(model)) add model columns after the
    built-in ones, in controller order; NeuronAgents report :data:`NEURON_REPORTERS`.

    Examples
    --------
    >>> dc = make_datacollector([])
    >>> list(dc.model_reporters)[:3]
    ['step', 'n_neurons', 'step_size']
    """
    return mesa.DataCollector(
        model_reporters={
            **MODEL_REPORTERS,
            **{
                name: reporter
                for c in controllers
                for name, reporter in getattr(c, "reporters", dict)().items()
            },
        },
        agenttype_reporters={NeuronAgent: dict(NEURON_REPORTERS)},
    )
