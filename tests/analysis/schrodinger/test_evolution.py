"""Known-answer tests (with controls) for analysis.schrodinger.evolution: Schrödinger against
Fokker-Planck on Nelson (quantum) and Ornstein-Uhlenbeck (classical) ensembles.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from analysis.controls import ou_trajectories
from analysis.schrodinger import compare_evolution


def V_ho(x):
    """Harmonic potential, omega = m = 1 (the potential of the nelson_super fixture)."""
    return 0.5 * x**2


def test_compare_evolution_schrodinger_wins_on_nelson(nelson_super):
    res = compare_evolution(nelson_super, dt=0.1, hbar=1.0, potential=V_ho, n_times=20, t0=4, lag=2)
    assert res.winner == "schrodinger"
    assert res.schrodinger_ratio < 2.0
    assert res.fokker_planck_ratio > 2 * res.schrodinger_ratio
    # the same through a fit object exposing hbar_over_m
    res2 = compare_evolution(
        nelson_super,
        dt=0.1,
        fit=SimpleNamespace(hbar_over_m=1.0),
        mass=1.0,
        potential=V_ho,
        n_times=20,
        t0=4,
        lag=2,
    )
    assert res2.schrodinger_ratio == pytest.approx(res.schrodinger_ratio)


def test_compare_evolution_fokker_planck_wins_on_ou(ou_release):
    # the Schrödinger candidate is the imaginary-time partner: hbar = 2 m D, V = m k^2 q^2 / 2
    res = compare_evolution(ou_release, dt=0.1, hbar=1.0, potential=V_ho, n_times=20)
    assert res.winner == "fokker_planck"
    assert res.fokker_planck_ratio < 2.0
    assert res.schrodinger_ratio > 2 * res.fokker_planck_ratio
    assert res.drift_matrix[0, 0] == pytest.approx(-1.0, rel=0.1)
    assert res.diffusion[0, 0] == pytest.approx(0.5 * (1 - np.exp(-0.2)) / 0.2 / 1, rel=0.1)


def test_compare_evolution_2d_runs(ou_release):
    rng = np.random.default_rng(1)
    traj = ou_trajectories(rng.normal(1.0, 0.3, (600, 2)), -1.0, 0.5, 0.1, 30, seed=2)
    res = compare_evolution(
        traj,
        dt=0.1,
        hbar=1.0,
        potential=lambda x, y: 0.5 * (x**2 + y**2),
        n_times=6,
        floor_draws=10,
    )
    assert res.winner == "fokker_planck"
    assert res.diffusion.shape == (2, 2)


def test_compare_evolution_bad_input(ou_release):
    with pytest.raises(ValueError, match="hbar"):
        compare_evolution(ou_release, potential=V_ho)
    with pytest.raises(ValueError, match="t0"):
        compare_evolution(ou_release, hbar=1.0, potential=V_ho, t0=0)
    with pytest.raises(ValueError, match="drift"):
        compare_evolution(ou_release, hbar=1.0, potential=V_ho, drift="guess")
    with pytest.raises(ValueError, match="coords"):
        compare_evolution(ou_release, coords=["q_5"], hbar=1.0, potential=V_ho)
    bad = ou_release.copy()
    bad.loc[3, "q_0"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        compare_evolution(bad, hbar=1.0, potential=V_ho)
    with pytest.raises(ValueError, match="replica"):
        compare_evolution(ou_release[ou_release.replica < 5], hbar=1.0, potential=V_ho)
