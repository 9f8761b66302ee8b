"""Mesa agents of dualsim: neurons (views over the ensemble arrays) and controllers."""

from agents.neuron import NeuronAgent

__all__ = ["NeuronAgent"]
