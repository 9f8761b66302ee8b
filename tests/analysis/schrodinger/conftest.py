"""Shared ensembles of the analysis.schrodinger tests (computed once for the folder)."""

import numpy as np
import pytest

from analysis.controls import nelson_trajectories, ou_trajectories

XN = np.linspace(-12, 12, 512, endpoint=False)
PHI0 = np.exp(-(XN**2) / 2) / np.pi**0.25
SUPER = (PHI0 + np.sqrt(2) * XN * PHI0) / np.sqrt(2)


def V_ho(x):
    """Harmonic potential, omega = m = 1."""
    return 0.5 * x**2


@pytest.fixture(scope="package")
def nelson_super():
    """Nelson ensemble of the superposition (phi_0 + phi_1) / sqrt 2 (hbar = m = omega = 1)."""
    return nelson_trajectories(SUPER, XN, V_ho(XN), 1.0, 1.0, 0.1, 150, 2000, seed=3)


@pytest.fixture(scope="package")
def ou_release():
    """Ornstein-Uhlenbeck ensemble released from a cluster at 2 (k = 1, D = 0.5)."""
    rng = np.random.default_rng(11)
    return ou_trajectories(rng.normal(2.0, 0.3, (2000, 1)), -1.0, 0.5, 0.1, 150, seed=12)
