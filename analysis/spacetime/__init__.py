"""Emergent space-time of neuron states."""

from .signature import *  # noqa: F403
