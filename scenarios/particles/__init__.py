"""Scenario ``particles``: neurons as particles, grand-canonical clone/kill births.

The neurons of a network are particles theta_i; with clone/kill births at rate
``alpha (Psi_i - mu_c)`` their density follows an imaginary-time Schrodinger equation with
hbar = 1/alpha and the loss first variation Psi as potential, against the Boltzmann state of
a fixed neuron number. This package holds the known-answer entry point :func:`frozen`
(non-interacting particles in a frozen polynomial potential, through the real ``neuron_count``
controller agent in its ``clone`` policy).
"""

from scenarios.particles.known_answers import PopulationRecorder, frozen, frozen_config

__all__ = ["PopulationRecorder", "frozen", "frozen_config"]
