"""Known-answer tests (with controls) for analysis.schrodinger.signatures: lines, ballistic
spreading, fringes and energy on quantum and classical ensembles.
"""

import numpy as np
import pytest

from analysis.controls import nelson_trajectories, ou_trajectories
from analysis.schrodinger import realtime_signatures


def V_ho(x):
    """Harmonic potential, omega = m = 1 (the potential of the nelson_super fixture)."""
    return 0.5 * x**2


def test_signatures_oscillation_and_energy(nelson_super, ou_release):
    q = realtime_signatures(nelson_super, dt=0.1, hbar=1.0, potential=V_ho, n_boot=30)
    c = realtime_signatures(ou_release, dt=0.1, hbar=1.0, potential=V_ho, n_boot=30)
    assert q.oscillation and not c.oscillation
    assert q.energy_conserved and c.energy_conserved is False
    line = q.table[q.table.series == "<q_0>"].iloc[0]
    assert "omega=1.0" in line.note  # (E1 - E0) / hbar = 1
    e_q = q.table[q.table.signature == "energy_change"].iloc[0]
    e_c = c.table[c.table.signature == "energy_change"].iloc[0]
    assert abs(e_q.value) < 0.1 and e_c.ci_high < -0.5


def test_signatures_ballistic_spreading():
    xf = np.linspace(-30, 30, 1024, endpoint=False)
    s0 = 0.3
    nel = nelson_trajectories(
        np.exp(-(xf**2) / (4 * s0**2)), xf, None, 1.0, 1.0, 0.02, 60, 2000, seed=4
    )
    rng = np.random.default_rng(5)
    ou = ou_trajectories(rng.normal(0, s0, (2000, 1)), 0.0, 0.5, 0.02, 60, seed=6)
    q = realtime_signatures(nel, dt=0.02, spread_window=25, n_boot=30)
    c = realtime_signatures(ou, dt=0.02, spread_window=25, n_boot=30)
    aq = q.table[q.table.signature == "spreading_exponent"].iloc[0]
    ac = c.table[c.table.signature == "spreading_exponent"].iloc[0]
    assert q.ballistic and not c.ballistic
    assert abs(aq.value - 2) < 0.25 and aq.ci_low <= 2 <= aq.ci_high
    assert abs(ac.value - 1) < 0.15 and ac.ci_low <= 1 <= ac.ci_high


def test_signatures_fringes():
    xc = np.linspace(-20, 20, 1024, endpoint=False)
    g = lambda y: np.exp(-(y**2) / (4 * 0.7**2))  # noqa: E731
    psi = g(xc + 4) * np.exp(4j * xc) + g(xc - 4) * np.exp(-4j * xc)
    nel = nelson_trajectories(psi, xc, None, 1.0, 1.0, 0.05, 40, 2000, seed=5, substeps=20)
    rng = np.random.default_rng(7)
    q0 = np.concatenate([rng.normal(-4, 0.7, 1000), rng.normal(4, 0.7, 1000)])
    ou = ou_trajectories(q0, -1.0, 0.5, 0.05, 40, seed=8)
    q = realtime_signatures(nel, dt=0.05, n_boot=10)
    c = realtime_signatures(ou, dt=0.05, n_boot=10)
    assert q.fringes and not c.fringes
    fq = q.table[q.table.signature == "fringe_excess"].iloc[0]
    assert fq.ci_low > 3.0


def test_signatures_bad_input(ou_release):
    with pytest.raises(ValueError, match="fringe_window"):
        realtime_signatures(ou_release, fringe_window=4)
    with pytest.raises(ValueError, match="step"):
        realtime_signatures(ou_release[ou_release.step < 5])
    with pytest.raises(ValueError, match="potential"):
        realtime_signatures(ou_release, hbar=1.0, potential=np.zeros(3))
