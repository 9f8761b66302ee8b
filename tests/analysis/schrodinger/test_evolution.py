"""Known-answer tests and controls for analysis.schrodinger."""

from types import SimpleNamespace

import numpy as np
import pytest

from analysis.controls import nelson_trajectories, ou_trajectories
from analysis.schrodinger import (
    compare_evolution,
    consistency_gap,
    hbar_routes,
    quantization_score,
    realtime_signatures,
    schrodinger_residual,
    split_step,
    wavefunction,
)

X = np.linspace(-20, 20, 1024, endpoint=False)
DX = X[1] - X[0]


def coherent(x, t, x0=3.0):
    """HO coherent state (hbar = m = omega = 1) including its phase."""
    xc, pc = x0 * np.cos(t), -x0 * np.sin(t)
    phase = pc * x - 0.5 * t - 0.5 * xc * pc
    return np.pi**-0.25 * np.exp(-((x - xc) ** 2) / 2 + 1j * phase)


# ---------------------------------------------------------------- split_step


def test_split_step_coherent_state_one_period_and_off_period():
    psi0 = coherent(X, 0.0)
    steps = 2000
    out = split_step(psi0, X, 0.5 * X**2, 1.0, 1.0, 2 * np.pi / steps, steps)
    l2 = np.sqrt(np.sum(np.abs(out - coherent(X, 2 * np.pi)) ** 2) * DX)
    assert l2 < 1e-3
    # not only at a full period (errors cancel there): t = 2.3
    mid = split_step(psi0, X, 0.5 * X**2, 1.0, 1.0, 0.0023, 1000)
    assert np.sum(np.abs(np.abs(mid) ** 2 - np.abs(coherent(X, 2.3)) ** 2)) * DX < 1e-4
    # control: a wrong mass (omega = 1/sqrt(1.2)) does not return (any hbar would: HO is periodic)
    bad = split_step(psi0, X, 0.5 * X**2, 1.0, 1.2, 2 * np.pi / steps, steps)
    assert np.sqrt(np.sum(np.abs(bad - coherent(X, 2 * np.pi)) ** 2) * DX) > 0.1


def test_split_step_norm_and_snapshots():
    psi0 = coherent(X, 0.0) * (1 + 0.3j * np.sin(X))
    snaps = split_step(psi0, X, 0.1 * X**4 - X**2, 1.0, 1.0, 0.01, 3000, every=500)
    assert snaps.shape == (7, X.size)
    norms = np.sum(np.abs(snaps) ** 2, axis=1) * DX
    assert np.max(np.abs(norms - norms[0])) < 1e-10


@pytest.mark.parametrize("hbar", [1.0, 0.5])
def test_split_step_free_width_law(hbar):
    s0 = 0.8
    psi0 = (2 * np.pi * s0**2) ** -0.25 * np.exp(-(X**2) / (4 * s0**2))
    snaps = split_step(psi0, X, None, hbar, 2.0, 0.01, 600, every=100)
    t = np.arange(7) * 1.0
    var = np.sum(np.abs(snaps) ** 2 * X**2, axis=1) * DX
    exact = s0**2 + (hbar * t / (2 * 2.0 * s0)) ** 2
    assert np.allclose(var, exact, rtol=1e-6)
    # control: the diffusive law with the same D = hbar/2m is wrong
    assert np.max(np.abs(var - (s0**2 + 2 * hbar / 4.0 * t)) / var) > 0.1


def test_split_step_2d_free_width():
    g = np.linspace(-12, 12, 128, endpoint=False)
    X2, Y2 = np.meshgrid(g, g, indexing="ij")
    psi0 = np.exp(-(X2**2 + Y2**2) / 4) / np.sqrt(2 * np.pi)
    out = split_step(psi0, (g, g), None, 1.0, 1.0, 0.01, 200)
    d2 = (g[1] - g[0]) ** 2
    assert abs(np.sum(np.abs(out) ** 2) * d2 - 1) < 1e-10
    assert abs(np.sum(np.abs(out) ** 2 * X2**2) * d2 - 2.0) < 1e-5  # 1 + (t/2)^2, t = 2


def test_split_step_bad_input():
    psi0 = coherent(X, 0.0)
    with pytest.raises(ValueError, match="psi0"):
        split_step(psi0[:-1], X, None, 1, 1, 0.1, 1)
    with pytest.raises(ValueError, match="hbar"):
        split_step(psi0, X, None, -1, 1, 0.1, 1)
    with pytest.raises(ValueError, match="dt"):
        split_step(psi0, X, None, 1, 1, np.nan, 1)
    with pytest.raises(ValueError, match="every"):
        split_step(psi0, X, None, 1, 1, 0.1, 4, every=0)
    with pytest.raises(ValueError, match="V"):
        split_step(psi0, X, np.full(X.size, np.inf), 1, 1, 0.1, 1)
    with pytest.raises(ValueError, match="grid"):
        split_step(psi0, X**3, None, 1, 1, 0.1, 1)


def test_wavefunction_roundtrip_and_bad_input():
    p = np.abs(coherent(X, 0.7)) ** 2
    S = -3.0 * np.sin(0.7) * X
    psi = wavefunction(p, S, 1.0)
    assert np.allclose(np.abs(psi) ** 2, p)
    assert np.allclose(np.angle(psi[512]), np.angle(np.exp(1j * S[512])))
    with pytest.raises(ValueError, match="p"):
        wavefunction(-p, S, 1.0)
    with pytest.raises(ValueError, match="phase"):
        wavefunction(p, S[:10], 1.0)


# ---------------------------------------------------------------- residual


def test_residual_truncation_level_for_exact_psi_and_large_for_diffusion():
    snaps = split_step(coherent(X, 0.0), X, 0.5 * X**2, 1.0, 1.0, 0.001, 400, every=10)
    dens, phase = np.abs(snaps) ** 2, np.unwrap(np.angle(snaps), axis=1)
    r_exact = schrodinger_residual(dens, X, 0.01, 0.5 * X**2, 1.0, 1.0, phase=phase)
    r_exact_c = schrodinger_residual(snaps, X, 0.01, 0.5 * X**2, 1.0, 1.0)
    assert r_exact < 1e-3 and r_exact_c < 1e-3
    # central-difference truncation: doubling the snapshot spacing quadruples the residual
    r_half = schrodinger_residual(snaps[::2], X, 0.02, 0.5 * X**2, 1.0, 1.0)
    assert 3.0 < r_half / r_exact_c < 5.0
    # a diffusing density (heat kernel, D = 1/2) with the phase set to zero
    t = 1 + 0.02 * np.arange(20)
    heat = np.exp(-(X[None, :] ** 2) / (2 * t[:, None])) / np.sqrt(2 * np.pi * t[:, None])
    assert schrodinger_residual(heat, X, 0.02, None, 1.0, 1.0) > 0.3
    with pytest.raises(ValueError, match="density"):
        schrodinger_residual(heat[:2], X, 0.02, None, 1.0, 1.0)


# ---------------------------------------------------------------- ensembles

XN = np.linspace(-12, 12, 512, endpoint=False)
PHI0 = np.exp(-(XN**2) / 2) / np.pi**0.25
SUPER = (PHI0 + np.sqrt(2) * XN * PHI0) / np.sqrt(2)


def V_ho(x):
    return 0.5 * x**2


@pytest.fixture(scope="module")
def nelson_super():
    return nelson_trajectories(SUPER, XN, V_ho(XN), 1.0, 1.0, 0.1, 150, 2000, seed=3)


@pytest.fixture(scope="module")
def ou_release():
    rng = np.random.default_rng(11)
    return ou_trajectories(rng.normal(2.0, 0.3, (2000, 1)), -1.0, 0.5, 0.1, 150, seed=12)


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


# ---------------------------------------------------------------- hbar routes, quantisation


def test_hbar_routes_agree_on_consistent_planted_values():
    rng = np.random.default_rng(0)
    hbar, m = 0.7, 2.0
    kappa = 2 * np.pi * hbar / m
    n = rng.integers(-2, 3, 150)
    gam = n * kappa + rng.normal(0, 0.05 * kappa, 150)
    r = hbar_routes(
        weak_form=SimpleNamespace(hbar_over_m=0.36, hbar_over_m_ci=(0.33, 0.38)),
        diffusion=(hbar / (2 * m), (0.17, 0.18)),
        circulations=gam,
        mu_c=2 * np.pi * hbar,
        mass=m,
    )
    circ = r.table.set_index("route").loc["circulation"]
    assert circ.hbar == pytest.approx(hbar, rel=0.02)
    assert circ.ci_low <= hbar <= circ.ci_high
    assert r.agree and r.weighted_mean == pytest.approx(hbar, rel=0.05)


def test_hbar_routes_disagreement_is_flagged():
    r = hbar_routes(weak_form=(0.70, (0.66, 0.74)), diffusion=(0.10, (0.09, 0.11)), mass=1.0)
    assert not r.agree and r.p_value < 1e-6
    with pytest.raises(ValueError, match="routes"):
        hbar_routes(weak_form=0.7)
    with pytest.raises(ValueError, match="circulations"):
        hbar_routes(weak_form=0.7, circulations=[1.0, np.nan, 2, 3, 4])


def test_quantization_score_planted_vs_controls():
    rng = np.random.default_rng(1)
    mu = 0.3
    n = rng.integers(-3, 4, 300)
    good = quantization_score(n * mu + rng.normal(0, 0.03 * mu, 300), n, mu)
    assert good.quantized and good.rayleigh > 0.9 and good.r2 > 0.99
    assert good.slope_ci[0] <= 1 <= good.slope_ci[1]
    assert good.rayleigh > 10 * good.rayleigh_null
    # continuous values, same counts: no quantisation
    cont = quantization_score(rng.uniform(-1, 1, 300), n, mu)
    assert not cont.quantized and cont.rayleigh < 3 * cont.rayleigh_null
    # fixed-N control: every loop has counts == 0 and values ~ 0; nothing may count
    fixed = quantization_score(rng.normal(0, 1e-3, 300), np.zeros(300, int), mu)
    assert not fixed.quantized and fixed.n_loops == 0 and fixed.n_excluded == 300
    # zero-count loops mixed with random ones must not lift the score
    vals = np.concatenate([np.zeros(500), rng.uniform(-1, 1, 50)])
    cnt = np.concatenate([np.zeros(500, int), rng.integers(1, 3, 50)])
    mix = quantization_score(vals, cnt, mu)
    assert mix.n_loops == 50 and not mix.quantized
    # a given control (counts shuffled) scores worse than the data
    ctrl = quantization_score(
        n * mu + rng.normal(0, 0.03 * mu, 300), n, mu, control=(n * mu, rng.permutation(n))
    )
    assert abs(ctrl.control_slope - 1) > abs(ctrl.slope - 1)


def test_quantization_score_bad_input():
    with pytest.raises(ValueError, match="counts"):
        quantization_score([1.0, 2.0], [1, 2, 3], 1.0)
    with pytest.raises(ValueError, match="counts"):
        quantization_score([1.0, 2.0], [1.5, 2], 1.0)
    with pytest.raises(ValueError, match="values"):
        quantization_score([np.nan, 2.0], [1, 2], 1.0)
    with pytest.raises(ValueError, match="unit"):
        quantization_score([1.0, 2.0], [1, 2], 0.0)


def test_consistency_gap():
    assert consistency_gap(1.0, 2 * np.pi) == pytest.approx(0.0)
    assert consistency_gap(SimpleNamespace(hbar_over_m=0.5), -4 * np.pi, mass=2.0) == (
        pytest.approx(-0.5)
    )
    with pytest.raises(ValueError, match="mass"):
        consistency_gap(SimpleNamespace(hbar_over_m=0.5), 1.0)
    with pytest.raises(ValueError, match="mu_c"):
        consistency_gap(1.0, 0.0)
