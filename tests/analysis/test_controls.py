"""Known-answer tests for analysis.controls (reference ensembles in trajectory-table format)."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis.controls import (
    block_shuffle,
    bohmian_trajectories,
    harmonic_nelson,
    increment_shuffled,
    nelson_trajectories,
    noise_floor,
    ou_trajectories,
    replica_shuffled,
)
from analysis.schrodinger import split_step
from analysis.spacetime import entropy_production_tensor
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


# ------------------------------------------------------------------ shared nulls and controls
# Each shared control is compared, draw for draw, with a literal copy of the scenario code it
# replaces (same seeds, same stream), then checked on a known answer.


def _old_transition_shuffled(q: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = q.copy()
    for t in range(q.shape[0]):
        q[t] = q[t, rng.permutation(q.shape[1])]
    return q


def _old_madelung_shuffled(q: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 55]))
    return np.stack([x[rng.permutation(x.shape[0])] for x in q])


def _old_madelung_joint_null(both: np.ndarray, seed: int, n_null: int) -> list[np.ndarray]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 77]))
    return [np.stack([row[rng.permutation(row.size)] for row in both]) for _ in range(n_null)]


def _old_increment_shuffled(X: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 19])
    inc = np.diff(X, axis=0)
    perm = np.argsort(rng.random(inc.shape[:2]), axis=1)
    inc = np.take_along_axis(inc, perm[:, :, None], axis=1)
    return np.concatenate([X[:1], X[:1] + np.cumsum(inc, axis=0)])


def _old_block_shuffle(replicas: int, n_steps: int, seed: int, blocks: int) -> np.ndarray:
    block_id = np.empty(replicas, dtype=int)
    for b, rows in enumerate(np.array_split(np.arange(replicas), blocks)):
        block_id[rows] = b
    rng = np.random.default_rng([seed, 23])
    keys = rng.random((n_steps, replicas)) + block_id[None, :]
    return np.argsort(keys, axis=1)


def _old_positive_control(replicas: int, steps: int, seed: int) -> pd.DataFrame:
    n, hbar, dt = 64, 0.05, 0.2
    sx = math.sqrt(hbar)
    x = np.linspace(-8 * sx, 8 * sx, n)
    y = np.linspace(-8 * sx, 8 * sx, n)
    X, Y = np.meshgrid(x, y, indexing="ij")
    wx, wy = 1.0, math.sqrt(2.0)
    g0x = np.exp(-wx * X**2 / (2 * hbar))
    g1x = X * g0x * math.sqrt(2 * wx / hbar)
    g0y = np.exp(-wy * Y**2 / (2 * hbar))
    psi = (g0x + g1x) * g0y
    dA = (x[1] - x[0]) * (y[1] - y[0])
    psi = psi / np.sqrt((np.abs(psi) ** 2).sum() * dA)
    V = 0.5 * (wx**2 * X**2 + wy**2 * Y**2)
    return nelson_trajectories(
        psi.astype(complex), (x, y), V, hbar, 1.0, dt, steps, replicas, seed, substeps=20
    )


@pytest.mark.parametrize("shape", [(7, 13, 2), (5, 9), (1, 4, 1)])
def test_replica_shuffled_is_draw_for_draw_the_scenario_copies(shape):
    q = np.random.default_rng(3).normal(size=shape)
    for seed in (0, 11):
        got = replica_shuffled(q, np.random.default_rng(seed))
        assert np.array_equal(got, _old_transition_shuffled(q, seed))
        rng = np.random.default_rng(np.random.SeedSequence([seed, 55]))
        assert np.array_equal(replica_shuffled(q, rng), _old_madelung_shuffled(q, seed))
    both = q.reshape(q.shape[0], -1)
    rng = np.random.default_rng(np.random.SeedSequence([4, 77]))
    got = [replica_shuffled(both, rng) for _ in range(3)]
    for a, b in zip(got, _old_madelung_joint_null(both, 4, 3), strict=True):
        assert np.array_equal(a, b)


def test_replica_shuffled_keeps_densities_and_cuts_trajectories():
    """OU ensemble: lag-1 correlation across replicas exp(-k dt) = 0.905 before, 0 after."""
    traj = ou_trajectories(np.zeros((3000, 1)), -1.0, 0.5, 0.1, 30, seed=2)
    q = to_array(traj).q
    s = replica_shuffled(q, np.random.default_rng(0))
    assert np.array_equal(np.sort(s, axis=1), np.sort(q, axis=1))

    def lag1(a):
        return np.corrcoef(a[20, :, 0], a[21, :, 0])[0, 1]

    assert lag1(q) == pytest.approx(np.exp(-0.1), abs=0.02)
    assert abs(lag1(s)) < 4 / np.sqrt(3000)


def test_increment_shuffled_is_draw_for_draw_the_scenario_copy():
    X = np.cumsum(np.random.default_rng(5).normal(size=(40, 17, 3)), axis=0)
    for seed in (0, 9):
        got = increment_shuffled(X, np.random.default_rng([seed, 19]))
        assert np.array_equal(got, _old_increment_shuffled(X, seed))


def test_increment_shuffled_removes_the_drift_but_keeps_the_noise():
    """Known answer: a Lorentzian production form (one contracting axis) becomes positive
    definite (free diffusion), with the same increments at every step."""

    rng = np.random.default_rng(1)
    x = np.empty((41, 800, 2))
    x[0] = rng.normal(size=(800, 2))
    for t in range(40):
        x[t + 1] = x[t] + 0.01 * np.array([-3.0, -0.1]) * x[t] + 0.1 * rng.normal(size=(800, 2))
    y = increment_shuffled(x, np.random.default_rng(2))
    inc_x, inc_y = np.diff(x, axis=0), np.diff(y, axis=0)
    assert np.allclose(np.sort(inc_y, axis=1), np.sort(inc_x, axis=1))
    on = entropy_production_tensor(x, dt=0.01, bootstrap=50)
    null = entropy_production_tensor(y, dt=0.01, bootstrap=50)
    assert on.signature == (1, 0, 1)
    assert null.signature[0] == 0
    assert np.abs(null.drift_jacobian).max() < 0.5 < np.abs(on.drift_jacobian).max()


@pytest.mark.parametrize(("replicas", "blocks"), [(16, 2), (64, 4), (10, 3)])
def test_block_shuffle_is_draw_for_draw_the_scenario_copy(replicas, blocks):
    parts = np.array_split(np.arange(replicas), blocks)
    for seed in (0, 8):
        got = block_shuffle(parts, 12, np.random.default_rng([seed, 23]))
        assert np.array_equal(got, _old_block_shuffle(replicas, 12, seed, blocks))


def test_block_shuffle_keeps_block_densities_and_cuts_trajectories():
    parts = np.array_split(np.arange(300), 3)
    perms = block_shuffle(parts, 30, np.random.default_rng(0))
    for row in perms:
        for b in parts:
            assert np.array_equal(np.sort(row[b]), b)  # each block maps onto itself
    q = np.cumsum(np.random.default_rng(1).normal(size=(30, 300)), axis=0)
    s = np.take_along_axis(q, perms, axis=1)
    for b in parts:
        assert np.allclose(s[:, b].mean(axis=1), q[:, b].mean(axis=1))
    c = [np.corrcoef(a[20, b], a[21, b])[0, 1] for a in (q, s) for b in parts[:1]]
    assert c[0] > 0.95 and abs(c[1]) < 4 / np.sqrt(100)
    # one block: a uniform random permutation at every step (new index 0 takes every old one)
    first = block_shuffle([np.arange(5)], 5000, np.random.default_rng(2))[:, 0]
    assert np.bincount(first, minlength=5) == pytest.approx(np.full(5, 1000), abs=150)


def test_harmonic_nelson_is_draw_for_draw_the_scenario_copy():
    for seed in (0, 3):
        got = harmonic_nelson(40, 3, np.random.default_rng(seed), hbar=0.05, dt=0.2)
        pd.testing.assert_frame_equal(got, _old_positive_control(40, 3, seed), check_exact=True)


def test_harmonic_nelson_oscillates_with_the_known_hbar():
    """<x>(t) = sqrt(hbar / 2) cos t, Var y = hbar / (2 sqrt 2) (ground state along y)."""
    hbar, dt = 0.05, 0.2
    q = to_array(harmonic_nelson(3000, 16, np.random.default_rng(1), hbar=hbar, dt=dt)).q
    t = np.arange(17) * dt
    mean_x = q[:, :, 0].mean(axis=1)
    se = q[:, :, 0].std(axis=1) / np.sqrt(q.shape[1])
    assert np.all(np.abs(mean_x - np.sqrt(hbar / 2) * np.cos(t)) < 4 * se + 0.005)
    assert q[:, :, 1].var(axis=1) == pytest.approx(np.full(17, hbar / (2 * np.sqrt(2))), rel=0.1)


def test_shared_controls_take_a_generator_not_a_seed():
    q = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"rng: got int; expected a numpy\.random\.Generator"):
        replica_shuffled(q, 0)
    with pytest.raises(ValueError, match="rng"):
        increment_shuffled(q[:, :, None], 0)
    with pytest.raises(ValueError, match="rng"):
        block_shuffle([np.arange(4)], 3, 0)
    with pytest.raises(ValueError, match="blocks"):
        block_shuffle([np.array([1, 0])], 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="q: shape"):
        replica_shuffled(np.zeros(3), np.random.default_rng(0))
    with pytest.raises(ValueError, match="X: shape"):
        increment_shuffled(np.zeros((1, 4, 2)), np.random.default_rng(0))
