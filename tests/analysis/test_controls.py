"""Known-answer tests for analysis.controls (reference ensembles in trajectory-table format)."""

import numpy as np
import pytest

from analysis.controls import (
    bohmian_trajectories,
    nelson_trajectories,
    noise_floor,
    ou_trajectories,
)
from analysis.schrodinger import split_step
from analysis.trajectory import to_array

X = np.linspace(-12, 12, 512, endpoint=False)
DX = X[1] - X[0]
PHI0 = np.exp(-(X**2) / 2) / np.pi**0.25
PHI1 = np.sqrt(2) * X * PHI0
SUPER = (PHI0 + PHI1) / np.sqrt(2)

XC = np.linspace(-20, 20, 1024, endpoint=False)
A0, V0, SG = 4.0, 4.0, 0.7


def _collide_psi() -> np.ndarray:
    g = lambda y: np.exp(-(y**2) / (4 * SG**2))  # noqa: E731
    return g(XC + A0) * np.exp(1j * V0 * XC) + g(XC - A0) * np.exp(-1j * V0 * XC)


def _hellinger(p, q):
    return np.sqrt(max(0.0, 1 - np.sum(np.sqrt(p * q))))


def _binned(x, dens, dx, edges):
    idx = np.clip(np.searchsorted(edges, x) - 1, 0, len(edges) - 2)
    inside = (x >= edges[0]) & (x < edges[-1])
    q = np.bincount(idx, weights=dens * dx * inside, minlength=len(edges) - 1)
    return q / q.sum()


def _floor(q, edges, n):
    """95% Hellinger floor of n exact samples from the binned reference q."""
    centres = edges[:-1] + np.diff(edges) / 2
    return noise_floor(
        lambda smp: _hellinger(np.histogram(smp[:, 0], edges)[0] / len(smp), q),
        n,
        lambda rng, m: centres[rng.choice(q.size, m, p=q)][:, None],
        draws=40,
        seed=1,
    ).q95


def _check_matches(ta, snaps, grid, dxg, times, edges):
    """Hellinger(hist, |psi|^2) / floor_q95 at the given recorded steps."""
    ratios = []
    for s in times:
        q = _binned(grid, np.abs(snaps[s]) ** 2, dxg, edges)
        x = ta.q[s, :, 0]
        c = np.histogram(x, edges)[0] / x.size
        ratios.append(_hellinger(c, q) / _floor(q, edges, x.size))
    return np.array(ratios)


def test_nelson_superposition_matches_psi_squared():
    df = nelson_trajectories(SUPER, X, 0.5 * X**2, 1.0, 1.0, 0.1, 120, 3000, seed=3)
    assert list(df.columns) == ["step", "replica", "q_0"]
    ta = to_array(df)
    snaps = split_step(SUPER, X, 0.5 * X**2, 1.0, 1.0, 0.01, 1200, every=10)
    edges = np.linspace(-5, 5, 41)
    ratios = _check_matches(ta, snaps, X, DX, [0, 15, 40, 80, 120], edges)
    assert np.all(ratios < 1.3), ratios
    # undamped oscillation of the mean: <x>(t) = cos(t) / sqrt(2)
    t = np.arange(121) * 0.1
    err = ta.q[:, :, 0].mean(axis=1) - np.cos(t) / np.sqrt(2)
    assert np.max(np.abs(err)) < 5 * np.sqrt(0.75 / 3000)
    # control: the ground state alone (no superposition) is far outside the floor
    q_ground = _binned(X, np.abs(PHI0) ** 2, DX, edges)
    c = np.histogram(ta.q[40, :, 0], edges)[0] / 3000
    assert _hellinger(c, q_ground) / _floor(q_ground, edges, 3000) > 5


def test_nelson_colliding_packets_show_fringes_and_match():
    psi = _collide_psi()
    df = nelson_trajectories(psi, XC, None, 1.0, 1.0, 0.05, 30, 4000, seed=5, substeps=40)
    ta = to_array(df)
    dxg = XC[1] - XC[0]
    snaps = split_step(
        psi / np.sqrt(np.sum(np.abs(psi) ** 2) * dxg), XC, None, 1.0, 1.0, 0.05 / 40, 1200, every=40
    )
    edges = np.linspace(-8, 8, 129)  # 0.125 wide: fringes (spacing pi / 4) resolved
    ratios = _check_matches(ta, snaps, XC, dxg, [0, 10, 20, 30], edges)
    assert np.all(ratios < 1.3), ratios
    # at the collision (t = 1, step 20) the incoherent sum of the two packets is rejected
    inc = (
        np.abs(
            split_step(
                np.exp(-((XC + A0) ** 2) / (4 * SG**2)) * np.exp(1j * V0 * XC),
                XC,
                None,
                1,
                1,
                0.05 / 40,
                800,
            )
        )
        ** 2
    )
    inc = inc + inc[::-1]
    q_inc = _binned(XC, inc, dxg, edges)
    c = np.histogram(ta.q[20, :, 0], edges)[0] / 4000
    q_true = _binned(XC, np.abs(snaps[20]) ** 2, dxg, edges)
    assert _hellinger(c, q_inc) > 3 * _hellinger(c, q_true)


def test_bohmian_free_packet_width_law():
    x = np.linspace(-20, 20, 512, endpoint=False)
    s0 = 1.0
    psi0 = np.exp(-(x**2) / (4 * s0**2))
    df = bohmian_trajectories(psi0, x, None, 1.0, 1.0, 0.5, 8, 4000, seed=0)
    ta = to_array(df)
    t = np.arange(9) * 0.5
    var = ta.q[:, :, 0].var(axis=1)
    exact = s0**2 + (t / (2 * s0)) ** 2
    # Bohmian flow is a deterministic dilation: the ratio var(t)/var(0) is exact
    assert np.allclose(var / var[0], exact / exact[0], rtol=2e-3)


def test_bohmian_2d_runs_and_is_deterministic_given_seed():
    g = np.linspace(-8, 8, 64, endpoint=False)
    X2, Y2 = np.meshgrid(g, g, indexing="ij")
    psi0 = np.exp(-(X2**2 + Y2**2) / 4) * np.exp(1j * X2)
    a = bohmian_trajectories(psi0, (g, g), None, 1.0, 1.0, 0.2, 5, 200, seed=2)
    b = bohmian_trajectories(psi0, (g, g), None, 1.0, 1.0, 0.2, 5, 200, seed=2)
    assert list(a.columns) == ["step", "replica", "q_0", "q_1"]
    assert a.equals(b)
    ta = to_array(a)
    # group velocity 1 along x
    assert abs(ta.q[5, :, 0].mean() - ta.q[0, :, 0].mean() - 1.0) < 0.02


def test_ou_exact_moments():
    rng = np.random.default_rng(0)
    q0 = rng.normal(2.0, 0.1, (20000, 1))
    df = ou_trajectories(q0, -0.5, 0.3, 0.5, 8, seed=1)
    ta = to_array(df)
    t = 4.0
    m_exact = 2.0 * np.exp(-0.5 * t)
    v_exact = 0.01 * np.exp(-t) + 0.3 / 0.5 * (1 - np.exp(-t))
    assert abs(ta.q[8, :, 0].mean() - m_exact) < 4 * np.sqrt(v_exact / 20000)
    assert abs(ta.q[8, :, 0].var() / v_exact - 1) < 0.04


def test_ou_2d_anisotropic_covariance():
    D = np.array([[0.5, 0.2], [0.2, 0.3]])
    df = ou_trajectories(np.zeros((20000, 2)), 0.0, D, 1.0, 2, seed=3)
    cov = np.cov(to_array(df).q[2].T)
    assert np.allclose(cov, 2 * D * 2.0, atol=0.06)


def test_noise_floor_scales_as_inverse_sqrt_n():
    def stat(s):
        return abs(float(s.mean()))

    def ref(rng, n):
        return rng.normal(size=(n, 1))

    a = noise_floor(stat, 100, ref, draws=400, seed=0)
    b = noise_floor(stat, 10000, ref, draws=400, seed=0)
    assert 0.8 < a.median / (10 * b.median) < 1.25
    assert abs(a.median - 0.6745 / 10) < 0.012
    # gridded reference
    fl = noise_floor(lambda s: float(s.var()), 50000, (X, np.abs(PHI0) ** 2), draws=10)
    assert abs(fl.median - 0.5) < 0.01


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"psi0": np.zeros(10)}, "psi0"),
        ({"hbar": 0.0}, "hbar"),
        ({"steps": 0}, "steps"),
        ({"replicas": -1}, "replicas"),
        ({"grid": np.array([0.0, 1.0, 3.0] * 4)}, "grid"),
        ({"psi0": np.full(512, np.nan)}, "psi0"),
    ],
)
def test_nelson_bad_input(kwargs, match):
    args = {
        "psi0": PHI0,
        "grid": X,
        "V": None,
        "hbar": 1.0,
        "mass": 1.0,
        "dt": 0.1,
        "steps": 2,
        "replicas": 10,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        nelson_trajectories(**args)


def test_ou_and_floor_bad_input():
    with pytest.raises(ValueError, match="q0"):
        ou_trajectories(np.array([np.nan, 1.0]), -1.0, 0.5, 0.1, 3)
    with pytest.raises(ValueError, match="diffusion"):
        ou_trajectories(np.zeros((5, 2)), -1.0, np.array([[1.0, 0], [0, -1.0]]), 0.1, 3)
    with pytest.raises(ValueError, match="drift"):
        ou_trajectories(np.zeros((5, 2)), np.ones((3, 3)), 0.5, 0.1, 3)
    with pytest.raises(ValueError, match="n"):
        noise_floor(lambda s: 0.0, 1, lambda r, n: r.normal(size=(n, 1)))
    with pytest.raises(ValueError, match="reference"):
        noise_floor(lambda s: 0.0, 10, "gauss")
