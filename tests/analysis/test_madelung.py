"""Known-answer tests for analysis.madelung on exact Bohmian trajectories, with controls.

The reference data are generated here analytically (no dependence on other modules):
* free Gaussian packet, |psi0|^2 = N(0, s0^2): each Bohmian trajectory is x(t) = x0 s(t)/s0
  with s(t) = s0 sqrt(1 + (hbar t / (2 m s0^2))^2);
* harmonic-oscillator coherent state: the packet (width s0^2 = hbar / (2 m w)) translates
  rigidly, x(t) = x0 + A (cos wt - 1);
* harmonic-oscillator ground state: every trajectory is at rest.
"""

import numpy as np
import pandas as pd
import pytest

from analysis.madelung import fit, hbar_scaling
from analysis.trajectory import to_frame


def free_packet(hbar_m=1.0, s0=(1.0,), R=2000, T=120, dt=0.05, seed=0):
    s0 = np.asarray(s0, dtype=float)
    x0 = np.random.default_rng(seed).normal(size=(R, len(s0))) * s0
    t = np.arange(T) * dt
    scale = np.sqrt(1 + (hbar_m * t[:, None] / (2 * s0**2)) ** 2)  # (T, d)
    return x0[None, :, :] * scale[:, None, :], t


def brownian(D, s0=1.0, R=2000, T=120, dt=0.05, seed=1):
    rng = np.random.default_rng(seed)
    x0 = rng.normal(0.0, s0, size=(1, R, 1))
    steps = rng.normal(0.0, np.sqrt(2 * D * dt), size=(T - 1, R, 1))
    return x0 + np.concatenate([np.zeros((1, R, 1)), np.cumsum(steps, axis=0)])


@pytest.fixture(scope="module")
def free_fit():
    q, _ = free_packet()
    return fit(q, dt=0.05, potential="none", bootstrap=100, seed=3)


def test_free_packet_1d_recovers_hbar_over_m_with_plateau(free_fit):
    f = free_fit
    assert abs(f.hbar_over_m - 1.0) < 0.10  # issue-4 bar; measured 0.99
    assert f.hbar_over_m_ci[0] <= 1.0 <= f.hbar_over_m_ci[1]
    # plateau across score estimators sm2, sm3, sm4 and 2x-Scott KDE
    assert set(f.bandwidth_plateau) == {"sm2", "sm3", "sm4", "kde"}
    for value in f.bandwidth_plateau.values():
        assert abs(value - 1.0) < 0.10
    assert f.plateau_spread < 0.10
    assert f.continuity_residual < 0.02  # exact trajectories: continuity holds
    assert f.momentum_residual < 0.2  # noise floor of the residual at n = 2000
    assert f.window_spread < 0.1
    assert f.kinetic_fraction > 0.5  # a moving state: kinetic terms matter
    frame = f.to_frame()
    assert len(frame) == 4
    assert np.all(np.abs(frame["hbar_over_m"] - 1.0) < 0.1)


def test_brownian_control_fails_where_bohmian_passes(free_fit):
    q = brownian(D=0.25)
    g = fit(q, dt=0.05, potential="none", bootstrap=50, plateau=False)
    # measured: Bohmian residual ~0.08, Brownian ~0.9; demand a factor 5
    assert g.momentum_residual > 5 * free_fit.momentum_residual
    assert g.momentum_residual > 0.5
    # a free diffusion decelerates (v = D x / s^2): hbar^2 comes out negative (about -4 D^2)
    # or, at best, inconsistent between windows
    assert g.hbar2_over_m2 < 0 or g.window_spread > 0.5
    assert g.window_spread > 0.5


def test_continuity_control_shuffled_replicas_fails(free_fit):
    """Continuity holds for any diffusion once v is the current velocity, so its control must
    break the velocities: replica identities scrambled between rows pair unrelated points."""
    q, _ = free_packet()
    rng = np.random.default_rng(2)
    perm = np.argsort(rng.random(q.shape[:2]), axis=1)
    shuffled = np.take_along_axis(q, perm[:, :, None], axis=1)
    g = fit(shuffled, dt=0.05, potential="none", bootstrap=0, plateau=False)
    assert free_fit.continuity_residual < 0.02  # measured 2e-4
    assert g.continuity_residual > 0.3  # measured 0.68
    assert g.momentum_residual > 0.5  # measured 0.99


def test_free_packet_2d_anisotropic():
    q, _ = free_packet(hbar_m=0.8, s0=(1.0, 0.6), R=2000, T=100)
    f = fit(q, dt=0.05, potential="none", bootstrap=50, plateau=("sm2", "sm4"))
    assert abs(f.hbar_over_m / 0.8 - 1) < 0.10
    assert f.hbar_over_m_ci[0] <= 0.8 <= f.hbar_over_m_ci[1]
    assert abs(f.bandwidth_plateau["sm2"] / 0.8 - 1) < 0.10
    assert f.momentum_residual < 0.2


def test_coherent_state_with_fitted_quadratic_potential():
    w, hbar, m, A, dt, T, R = 1.0, 0.5, 1.0, 2.0, 0.05, 260, 2000
    s0 = np.sqrt(hbar / (2 * m * w))
    x0 = np.random.default_rng(5).normal(0.0, s0, size=(R, 1))
    t = np.arange(T) * dt
    q = x0[None] + A * (np.cos(w * t) - 1)[:, None, None]
    f = fit(q, dt=dt, potential="quadratic", mass=m, bootstrap=50, plateau=("sm2",))
    assert abs(f.hbar_over_m / (hbar / m) - 1) < 0.10  # measured within 1%
    assert abs(f.potential["q_0^2"] / (0.5 * m * w**2) - 1) < 0.10
    assert f.identifiability > 0.3  # the motion separates hbar from the fitted potential
    assert f.momentum_residual < 0.2


def test_ground_state_known_potential_and_the_stationary_trap():
    hbar, m = 0.5, 1.0
    w = np.array([1.0, 2.0])
    s0 = np.sqrt(hbar / (2 * m * w))
    x = np.random.default_rng(7).normal(size=(1, 2000, 2)) * s0
    q = np.repeat(x, 40, axis=0)
    f = fit(q, potential=lambda p: m * p * w**2, mass=m, bootstrap=50, plateau=False)
    assert abs(f.hbar / hbar - 1) < 0.10
    assert f.kinetic_fraction < 1e-6  # a pure force-against-quantum-pressure fit
    # control: with the quadratic potential fitted freely, a stationary Gaussian cannot
    # separate hbar from V (docs/physics.md#imaginary-time-versus-real-time); the fit says so
    g = fit(q, potential="quadratic", mass=m, bootstrap=0, plateau=False)
    assert g.identifiability < 0.1


def test_phase_coefficient_sign_and_size_from_free_energy():
    hbar_m, a_true, m = 1.0, -2.0, 1.0
    q, t = free_packet(hbar_m=hbar_m, R=2000, T=80)
    s = q[..., 0] / q[0:1, :, 0]  # s(t)/s0 per replica (all equal)
    tau = hbar_m / 2
    sdot_over_s = (tau**2 * t / (1 + (tau * t) ** 2))[:, None] * np.ones_like(s)
    phase = 0.5 * m * q[..., 0] ** 2 * sdot_over_s  # S with grad S / m = v
    table = to_frame(q, free_energy=phase / a_true)
    f = fit(table, dt=0.05, potential="none", mass=m, bootstrap=50, plateau=False)
    assert abs(f.phase_coefficient / a_true - 1) < 0.05
    assert f.phase_coefficient_ci[0] <= a_true <= f.phase_coefficient_ci[1]
    assert f.phase_r2 > 0.9
    # control: free energies shuffled across replicas (independently at each step) carry
    # no phase
    rng = np.random.default_rng(0)
    perm = np.argsort(rng.random(phase.shape), axis=1)
    shuffled = np.take_along_axis(phase / a_true, perm, axis=1)
    g = fit(
        to_frame(q, free_energy=shuffled), dt=0.05, potential="none", bootstrap=50, plateau=False
    )
    assert g.phase_r2 < 0.3  # measured 0.003 (known answer: 0.999)
    assert g.phase_coefficient_ci[0] < 0 < g.phase_coefficient_ci[1]


def test_sgd_mass_convention_and_scaling_from_fits():
    q, _ = free_packet(R=600, T=40)
    fits = []
    for gamma, M in ((0.05, 4), (0.1, 4), (0.2, 4), (0.1, 16)):
        table = to_frame(
            q, step_size=np.full(q.shape[:2], gamma), batch_size=np.full(q.shape[:2], M)
        )
        f = fit(table, dt=0.05, potential="none", mass="sgd", bootstrap=0, plateau=False)
        assert f.mass == pytest.approx(1 / (2 * gamma))
        assert f.hbar == pytest.approx(f.mass * f.hbar_over_m)
        assert "1/(2 gamma)" in f.mass_convention
        fits.append(f)
    out = hbar_scaling(fits).set_index("convention")
    # hbar/m is the same in every run here: exponent 0 with m fixed, and hbar^2 ~ gamma^-2
    assert abs(out.loc["m fixed", "exponent"]) < 1e-6
    assert out.loc["m = 1/(2 gamma)", "gamma_exponent"] == pytest.approx(-2.0, abs=1e-6)


def test_hbar_scaling_known_exponent_and_control():
    rng = np.random.default_rng(11)
    gamma = np.repeat([0.02, 0.05, 0.1, 0.2], 3)
    M = np.tile([2.0, 8.0, 32.0], 4)
    noise = np.exp(rng.normal(0, 0.02, size=gamma.size))
    runs = pd.DataFrame({"hbar_over_m": (gamma / M) ** 0.5 * noise, "gamma": gamma, "M": M})
    out = hbar_scaling(runs).set_index("convention")
    fixed = out.loc["m fixed"]
    assert fixed["exponent_low"] <= 1.0 <= fixed["exponent_high"]
    assert abs(fixed["exponent"] - 1) < 0.05
    # m = 1/(2 gamma): hbar^2 ~ gamma^-1 M^-1, so the exponents differ by convention
    sgd = out.loc["m = 1/(2 gamma)"]
    assert sgd["gamma_exponent"] == pytest.approx(-1.0, abs=0.05)
    assert sgd["M_exponent"] == pytest.approx(-1.0, abs=0.05)
    # control: hbar independent of gamma/M gives an interval excluding 1
    flat = runs.assign(hbar_over_m=noise)
    ctrl = hbar_scaling(flat).set_index("convention").loc["m fixed"]
    assert not (ctrl["exponent_low"] <= 1.0 <= ctrl["exponent_high"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"potential": "cubic"}, "potential: 'cubic'"),
        ({"potential": "polynomial:x"}, "potential"),
        ({"mass": -1.0}, "mass: -1.0"),
        ({"mass": "sgd"}, "mass: 'sgd' needs"),
        ({"lag": 0}, "lag: 0"),
        ({"windows": 30}, "windows: window"),
        ({"windows": 0}, "windows: 0"),
        ({"times_per_window": 1}, "times_per_window: 1"),
        ({"score": "histogram"}, "score: 'histogram'"),
        ({"bootstrap": -1}, "bootstrap: -1"),
        ({"dt": 0.0}, "dt: 0.0"),
        ({"ci": 1.5}, "ci: 1.5"),
        ({"coords": ["q_7"]}, "coords"),
        ({"plateau": ["nope"]}, "plateau: 'nope'"),
    ],
)
def test_bad_arguments(kwargs, match):
    q, _ = free_packet(R=200, T=40)
    table = to_frame(q)
    with pytest.raises(ValueError, match=match):
        fit(table, **{"potential": "none", "bootstrap": 0, **kwargs})


def test_bad_data():
    q, _ = free_packet(R=200, T=40)
    bad = q.copy()
    bad[3, 5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit(bad, potential="none")
    with pytest.raises(ValueError, match="replica"):
        fit(q[:, :10], potential="none")
    with pytest.raises(ValueError, match="coords: 5 coordinates"):
        fit(np.random.default_rng(0).normal(size=(20, 200, 5)), potential="none")
    with pytest.raises(ValueError, match="traj: missing column"):
        fit(pd.DataFrame({"q_0": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="potential: grad_V returned"):
        fit(q, potential=lambda p: p[:, :0], bootstrap=0, plateau=False)


def test_hbar_scaling_bad_input():
    runs = pd.DataFrame({"hbar_over_m": [1.0, 2.0], "gamma": [0.1, 0.2], "M": [1, 1]})
    with pytest.raises(ValueError, match="fits: 2 run"):
        hbar_scaling(runs)
    with pytest.raises(ValueError, match="gamma: not given"):
        hbar_scaling(pd.DataFrame({"hbar_over_m": [1.0, 2.0, 3.0]}))
    neg = pd.DataFrame({"hbar_over_m": [1.0, -2.0, 3.0], "gamma": [0.1, 0.2, 0.3], "M": [1] * 3})
    with pytest.raises(ValueError, match="hbar_over_m"):
        hbar_scaling(neg)
