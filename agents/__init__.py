"""Mesa agents of dualsim: neurons (views over the ensemble arrays) and controllers.

Importing the package registers the controller types (``neuron_count``, ``step_size``,
``batch_size``) with :mod:`agents.registry`.
"""

from agents.batch_size import BatchSizeController
from agents.controller import Controller
from agents.neuron import NeuronAgent
from agents.neuron_count import NeuronCountController
from agents.step_size import StepSizeController

__all__ = [
    "BatchSizeController",
    "Controller",
    "NeuronAgent",
    "NeuronCountController",
    "StepSizeController",
]
