"""Known answers and failing controls of analysis.particles_stats.

Synthetic data: exact draws from grid densities, exact Ornstein-Uhlenbeck transitions, and a
small numpy branching-particle simulation (clone/kill with population control, lineage ids) of
the frozen-potential system.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from analysis.imaginary_time import harmonic, integrate, solve
from analysis.particles_stats import (
    average_on_grid,
    bin_masses,
    density_l1,
    density_report,
    kramers_moyal_bins,
    lineage_mass,
    lineage_mass_measured,
    on_grid,
    sample,
    sampling_floor,
    split_half_floor,
    transition_pairs,
    weak_form,
)

Fn = Callable[[np.ndarray], np.ndarray]


def _simulate(
    V: Fn,
    dV: Fn,
    start: np.ndarray,
    *,
    D: float,
    eta: float,
    alpha: float,
    steps: int,
    record_every: int = 10,
    zeta: float = 0.1,
    seed: int = 0,
) -> pd.DataFrame:
    """Langevin moves then DMC branching (population control); the first copy keeps its id."""
    rng = np.random.default_rng(seed)
    n0 = start.size
    theta = start.astype(float).copy()
    ids = np.arange(n0)
    parent = np.full(n0, -1)
    next_id = n0
    frames = []
    for step in range(steps + 1):
        if step % record_every == 0:
            frames.append(
                pd.DataFrame({"step": step, "neuron_id": ids, "parent_id": parent, "theta": theta})
            )
        if step == steps:
            break
        theta = theta - eta * dV(theta) + math.sqrt(2 * D) * rng.normal(size=theta.size)
        if alpha > 0:
            v = V(theta)
            mu_c = v.mean() - zeta / alpha * math.log(theta.size / n0)
            k = np.floor(np.exp(-alpha * (v - mu_c)) + rng.random(theta.size)).astype(int)
            idx = np.repeat(np.arange(theta.size), k)
            first = np.zeros(idx.size, dtype=bool)
            first[(np.cumsum(k) - k)[k > 0]] = True
            new_ids = ids[idx].copy()
            new_parent = parent[idx].copy()
            extra = ~first
            new_parent[extra] = ids[idx[extra]]
            new_ids[extra] = next_id + np.arange(extra.sum())
            next_id += int(extra.sum())
            theta, ids, parent = theta[idx], new_ids, new_parent
    return pd.concat(frames, ignore_index=True)


def _gauss(x: np.ndarray, var: float, mean: float = 0.0) -> np.ndarray:
    return np.exp(-((x - mean) ** 2) / (2 * var)) / math.sqrt(2 * math.pi * var)


# ----------------------------------------------------------------------------------------------
# bin masses, sampler, L1 and floors
# ----------------------------------------------------------------------------------------------


def test_bin_masses_exact_and_normalised() -> None:
    x = np.linspace(0.0, 2.0, 21)
    rho = 0.3 + 0.35 * x  # linear: every interpolant integral is exact
    rho /= integrate(rho, x)
    m, (e,) = bin_masses(x, rho, bins=np.array([0.0, 0.33, 1.234, 2.0]))
    F = lambda t: (0.3 * t + 0.175 * t**2) / (0.3 * 2 + 0.175 * 4)  # noqa: E731
    np.testing.assert_allclose(m, np.diff(F(e)), rtol=1e-12)
    # grid cells: masses are the trapezoid weights times the density for linear densities
    mg, _ = bin_masses(x, rho)
    assert mg.sum() == pytest.approx(1.0, abs=1e-12) and mg.size == x.size
    # periodic: bins shifted by half a cell wrap around; total mass 1
    xp = np.linspace(0.0, 2 * np.pi, 64, endpoint=False)
    rp = (1 + 0.5 * np.cos(xp)) / (2 * np.pi)
    mp, (ep,) = bin_masses(xp, rp, bins="grid", boundary="periodic")
    assert mp.sum() == pytest.approx(1.0, abs=1e-12) and ep[0] < 0
    # 2-D: product density gives the outer product of the 1-D masses
    y = np.linspace(-1.0, 1.0, 11)
    ry = 0.5 * np.ones_like(y)
    m2, _ = bin_masses((x, y), np.outer(rho, ry), bins=[4, 2])
    m1x, _ = bin_masses(x, rho, bins=4)
    m1y, _ = bin_masses(y, ry, bins=2)
    np.testing.assert_allclose(m2, np.outer(m1x, m1y), rtol=1e-12)
    with pytest.raises(ValueError, match="outside the grid range"):
        bin_masses(x, rho, bins=np.array([-1.0, 1.0]))


def test_sampler_moments() -> None:
    x = np.linspace(-3.0, 3.0, 301)
    s = solve(x, (x**2 - 1) ** 2, D=0.05, eta=0.1, alpha=0.0)
    pts = sample(x, s.density, 200_000, seed=1)
    assert pts.mean() == pytest.approx(0.0, abs=0.01)
    assert np.mean(pts**2) == pytest.approx(s.mean(x**2), rel=0.01)
    xp = np.linspace(0.0, 2 * np.pi, 50, endpoint=False)
    rp = np.exp(2 * np.cos(xp - 0.1))
    rp /= integrate(rp, xp, "periodic")
    pp = sample(xp, rp, 100_000, boundary="periodic", seed=2)
    assert pp.min() >= 0 and pp.max() < 2 * np.pi
    assert np.angle(np.mean(np.exp(1j * pp))) == pytest.approx(0.1, abs=0.01)
    y = np.linspace(-1.0, 1.0, 41)
    p2 = sample((x, y), np.outer(s.density, 0.5 * np.ones_like(y)), 50_000, seed=3)
    assert p2.shape == (50_000, 2) and abs(p2[:, 1].mean()) < 0.02


def test_density_l1_own_vs_other_double_well() -> None:
    """A2 discrimination with exact samples: L1 own < 0.05, other arm's formula > 0.3."""
    x = np.linspace(-2.5, 2.5, 1001)
    V = (x**2 - 1) ** 2
    fp = solve(x, V, D=2.5e-3, eta=0.01, alpha=0.0).density
    gc = solve(x, V, D=2.5e-3, eta=0.0, alpha=0.1).density
    for own, other, seed in ((fp, gc, 4), (gc, fp, 5)):
        pts = sample(x, own, 100_000, seed=seed)
        rep = density_report(pts, x, {"own": own, "other": other}, bins=50)
        l1_own, l1_other = rep["l1"].tolist()
        floor = rep["floor"].iloc[0]
        assert l1_own < 0.05 and l1_other > 0.3
        assert l1_own < 2.0 * floor and l1_other > 10 * floor


def test_l1_matches_sampling_floor_and_split_half() -> None:
    x = np.linspace(-5.0, 5.0, 401)
    rho = _gauss(x, 1.0)
    n = 20_000
    iid_floor = sampling_floor(x, rho, n, bins=40, draws=30, seed=7)
    # expected L1 for Poisson bins: sum_b sqrt(2 p_b / (pi n)) (small-p limit)
    p, _ = bin_masses(x, rho, bins=40)
    expected = float(np.sum(np.sqrt(2 * p * (1 - p) / (math.pi * n))))
    assert iid_floor == pytest.approx(expected, rel=0.1)
    ratios, splits = [], []
    for seed in range(8):
        pts = np.random.default_rng(seed).normal(size=n)
        ratios.append(density_l1(pts, x, rho, bins=40) / iid_floor)
        splits.append(split_half_floor(pts, x, bins=40, split="random", seed=seed) / iid_floor)
    assert 0.8 < np.mean(ratios) < 1.2
    assert 0.8 < np.mean(splits) < 1.2


def test_split_half_floor_controls() -> None:
    """Clones: a random split ignores the duplication and underestimates the error, the
    grouped split does not; a drift between halves raises the time-split floor."""
    x = np.linspace(-5.0, 5.0, 401)
    rho = _gauss(x, 1.0)
    rng = np.random.default_rng(11)
    parents = rng.normal(size=2_000)
    clones = np.repeat(parents, 10)
    family = np.repeat(np.arange(parents.size), 10)
    real = density_l1(clones, x, rho, bins=40)
    naive = split_half_floor(clones, x, bins=40, split="random", seed=1)
    grouped = split_half_floor(clones, x, bins=40, groups=family, split="random", seed=1)
    assert naive < 0.5 * real  # fails: the duplicated sample looks 10x larger
    assert 0.6 * real < grouped < 1.6 * real
    drifting = np.concatenate([rng.normal(size=10_000), rng.normal(0.3, 1.0, size=10_000)])
    steps = np.repeat([0, 1], 10_000)
    stationary = split_half_floor(rng.normal(size=20_000), x, bins=40, groups=steps)
    assert split_half_floor(drifting, x, bins=40, groups=steps) > 3 * stationary


def test_periodic_l1_wraps_samples() -> None:
    xp = np.linspace(0.0, 2 * np.pi, 64, endpoint=False)
    rp = np.exp(np.cos(xp))
    rp /= integrate(rp, xp, "periodic")
    pts = sample(xp, rp, 50_000, boundary="periodic", seed=3)
    shifted = pts + 2 * np.pi * np.random.default_rng(0).integers(-3, 3, size=pts.size)
    a = density_l1(pts, xp, rp, bins=32, boundary="periodic")
    assert density_l1(shifted, xp, rp, bins=32, boundary="periodic") == pytest.approx(a)
    assert a < 0.05
    assert density_l1(pts, xp, np.roll(rp, 32), bins=32, boundary="periodic") > 0.5


# ----------------------------------------------------------------------------------------------
# Kramers-Moyal
# ----------------------------------------------------------------------------------------------


def test_kramers_moyal_ou_lag_correction() -> None:
    """Exact OU transitions over tau = 10 steps (eta k tau = 0.1): the raw estimate is low by
    (1 - e^-0.2)/0.2 = 0.906; the correction with the known or the fitted slope removes it."""
    rng = np.random.default_rng(0)
    D, b, tau = 1e-3, -0.01, 10.0
    x0 = rng.normal(scale=math.sqrt(D / 0.01), size=400_000)
    sd = math.sqrt(D * (1 - math.exp(2 * b * tau)) / -b)
    x1 = x0 * math.exp(b * tau) + sd * rng.normal(size=x0.size)
    raw = kramers_moyal_bins(x0, x1, tau=tau, bins=10, span=(-0.6, 0.6))
    ok = raw["count"] > 2000
    assert raw.loc[ok, "D"].mean() == pytest.approx(D * (1 - math.exp(-0.2)) / 0.2, rel=0.01)
    assert raw.loc[ok, "drift"].to_numpy() == pytest.approx(
        (math.exp(b * tau) - 1) / tau * raw.loc[ok, "center"].to_numpy(), abs=3e-4
    )
    for slope in (b, "fit"):
        km = kramers_moyal_bins(x0, x1, tau=tau, bins=10, span=(-0.6, 0.6), drift_slope=slope)
        z = (km.loc[ok, "D"] - D) / km.loc[ok, "D_se"]
        assert np.all(np.abs(z) < 4), (slope, z.tolist())
        assert km.loc[ok, "D"].mean() == pytest.approx(D, rel=0.015)


def test_kramers_moyal_variable_d_on_circle_and_shuffled_control() -> None:
    rng = np.random.default_rng(1)
    P = 2 * np.pi
    prof = lambda t: 2e-3 * (1 + 0.5 * np.sin(t))  # noqa: E731
    x0 = rng.uniform(0, P, 300_000)
    # Euler step of tau = 1 with drift: Ito, the increment variance is 2 D(x0)
    x1 = x0 - 0.05 * np.sin(x0) + np.sqrt(2 * prof(x0)) * rng.normal(size=x0.size)
    x1 = np.mod(x1, P)  # positions wrapped on the circle: increments must be unwrapped
    km = kramers_moyal_bins(x0, x1, bins=12, period=P, span=(0.0, P))
    z = (km["D"] - prof(km["center"])) / km["D_se"]
    assert np.all(np.abs(z) < 4)
    grid = np.linspace(0, P, 64, endpoint=False)
    assert np.max(np.abs(on_grid(km, grid, period=P) / prof(grid) - 1)) < 0.05
    # control: shuffled pairs (no transition structure) give a diffusion ~ Var(theta)/2
    shuffled = kramers_moyal_bins(x0, rng.permutation(x1), bins=12, period=P, span=(0.0, P))
    assert shuffled["D"].min() > 50 * prof(km["center"]).max()


def test_transition_pairs_follow_ids() -> None:
    tab = pd.DataFrame(
        {
            "replica": [0, 0, 1, 0, 0, 1, 0],
            "step": [0, 0, 0, 10, 10, 10, 20],
            "neuron_id": [1, 2, 1, 1, 5, 1, 1],
            "theta": [0.0, 1.0, 5.0, 0.1, 9.0, 5.5, 0.3],
        }
    )
    pairs = transition_pairs(tab, 10)
    assert pairs[["replica", "step", "theta0", "theta1"]].values.tolist() == [
        [0, 0, 0.0, 0.1],
        [1, 0, 5.0, 5.5],
        [0, 10, 0.1, 0.3],
    ]
    assert len(transition_pairs(tab, 20)) == 1
    assert len(transition_pairs(tab, 10, start=10)) == 1
    with pytest.raises(ValueError, match="missing"):
        transition_pairs(tab.drop(columns="theta"), 10)


# ----------------------------------------------------------------------------------------------
# weak form
# ----------------------------------------------------------------------------------------------


def test_weak_form_harmonic_gc_and_fp_control() -> None:
    """A1b on exact stationary samples (D given)."""
    rng = np.random.default_rng(3)
    gc_var = harmonic(1.0, D=1e-3, eta=0.01, alpha=0.05).variance
    th = rng.normal(scale=math.sqrt(gc_var), size=200_000)
    fit = weak_form(th, th**2 / 2, th, D=1e-3, eta=0.01)
    assert fit.alpha == pytest.approx(0.05, rel=0.10)
    assert fit.mu == pytest.approx(0.0414, rel=0.05)
    assert abs(fit.alpha - 0.05) < 4 * fit.alpha_se
    assert fit.residual < 0.2
    fp = rng.normal(scale=math.sqrt(0.1), size=200_000)
    fit_fp = weak_form(fp, fp**2 / 2, fp, D=1e-3, eta=0.01)
    assert abs(fit_fp.alpha) < 0.01
    # control: a wrong D (x2) cannot give the set alpha
    wrong = weak_form(th, th**2 / 2, th, D=2e-3, eta=0.01)
    assert abs(wrong.alpha - 0.05) > 0.05


def test_weak_form_double_well_and_periodic() -> None:
    x = np.linspace(-2.5, 2.5, 1001)
    V = (x**2 - 1) ** 2
    gc = solve(x, V, D=2.5e-3, eta=0.0, alpha=0.1)
    th = sample(x, gc.density, 200_000, seed=5)
    fit = weak_form(th, (th**2 - 1) ** 2, 4 * th * (th**2 - 1), D=2.5e-3, eta=0.0, degree=6)
    assert fit.alpha == pytest.approx(0.1, rel=0.1)
    assert fit.mu == pytest.approx(gc.mu, rel=0.01)
    xp = np.linspace(0.0, 2 * np.pi, 256, endpoint=False)
    cp = solve(xp, 0.5 * np.cos(xp), D=0.02, eta=0.05, alpha=0.5, boundary="periodic")
    tp = sample(xp, cp.density, 200_000, boundary="periodic", seed=6)
    fit_p = weak_form(
        tp, 0.5 * np.cos(tp), -0.5 * np.sin(tp), D=0.02, eta=0.05, basis="fourier",
        degree=3, period=2 * np.pi,
    )  # fmt: skip
    assert fit_p.alpha == pytest.approx(0.5, rel=0.1)
    assert fit_p.mu == pytest.approx(cp.mu, abs=0.01)
    # control: the Boltzmann (fixed-N) density of the same system gives alpha ~ 0
    fp = solve(xp, 0.5 * np.cos(xp), D=0.02, eta=0.05, alpha=0.0, boundary="periodic")
    tf = sample(xp, fp.density, 200_000, boundary="periodic", seed=7)
    fit_f = weak_form(
        tf, 0.5 * np.cos(tf), -0.5 * np.sin(tf), D=0.02, eta=0.05, basis="fourier",
        degree=3, period=2 * np.pi,
    )  # fmt: skip
    assert abs(fit_f.alpha) < 0.1


def test_weak_form_on_simulated_branching_with_km_diffusion() -> None:
    """Simulated r = 1 harmonic population (moves, then clone/kill), D given and from KM."""
    D, eta, alpha = 1e-3, 0.01, 0.05
    var = harmonic(1.0, D=D, eta=eta, alpha=alpha).variance
    start = np.random.default_rng(0).normal(scale=math.sqrt(var), size=4000)
    tab = _simulate(lambda t: t**2 / 2, lambda t: t, start, D=D, eta=eta, alpha=alpha,
                    steps=1500, seed=1)  # fmt: skip
    late = tab[tab["step"] >= 500]
    th = late["theta"].to_numpy()
    # the recorded population is after branching: the discrete-time variance
    assert np.var(th) == pytest.approx(
        harmonic(1.0, D=D, eta=eta, alpha=alpha).variance_branched, rel=0.05
    )
    fit = weak_form(th, th**2 / 2, th, D=D, eta=eta, groups=late["step"])
    assert fit.alpha == pytest.approx(alpha, rel=0.15)
    assert fit.mu == pytest.approx(0.0414, rel=0.05)
    pairs = transition_pairs(late, 10)
    km = kramers_moyal_bins(pairs["theta0"], pairs["theta1"], tau=10, bins=8,
                            span=(-0.5, 0.5), drift_slope="fit")  # fmt: skip
    d_km = on_grid(km[km["count"] > 1000], th)
    assert float(np.median(d_km)) == pytest.approx(D, rel=0.1)
    fit_km = weak_form(th, th**2 / 2, th, D=d_km, eta=eta, groups=late["step"])
    assert fit_km.alpha == pytest.approx(alpha, rel=0.25)
    # control: the fixed-N run of the same system fits no births
    fixed = _simulate(lambda t: t**2 / 2, lambda t: t, start, D=D, eta=eta, alpha=0.0,
                      steps=1500, seed=2)  # fmt: skip
    fl = fixed[fixed["step"] >= 1000]["theta"].to_numpy()
    assert abs(weak_form(fl, fl**2 / 2, fl, D=D, eta=eta).alpha) < 0.015


# ----------------------------------------------------------------------------------------------
# lineages
# ----------------------------------------------------------------------------------------------


def test_lineage_mass_prediction_properties() -> None:
    x = np.linspace(-2.5, 2.5, 501)
    V = (x**2 - 1) ** 2 + 0.1 * x
    gc = solve(x, V, D=5e-3, eta=0.01, alpha=0.02)
    t = np.array([0.0, 50.0, 200.0, 1000.0, 5000.0, np.inf])
    hi = lineage_mass(gc, (0.5, 1.5), t)
    lo = lineage_mass(gc, (-1.5, -0.5), t)
    assert hi[0] == pytest.approx(1.0) and lo[0] == pytest.approx(1.0)
    assert np.all(np.diff(hi) < 1e-12) and np.all(np.diff(lo) > -1e-12)
    assert hi[-2] == pytest.approx(hi[-1], rel=1e-6) and lo[-2] == pytest.approx(lo[-1], rel=1e-6)
    # mass balance: the whole stationary population keeps mass 1
    everything = lineage_mass(gc, gc.density, [300.0])
    assert everything[0] == pytest.approx(1.0, rel=1e-8)
    # relaxation at the gap: (ratio - limit) decays like exp(-gap t) at late times
    late = lineage_mass(gc, (0.5, 1.5), [600.0, 900.0, np.inf])
    rate = math.log((late[0] - late[2]) / (late[1] - late[2])) / 300.0
    assert rate == pytest.approx(gc.rates[0], rel=0.02)
    fp = solve(x, V, D=5e-3, eta=0.01, alpha=0.0)
    np.testing.assert_array_equal(lineage_mass(fp, (0.5, 1.5), t), 1.0)


def test_lineage_mass_measured_against_prediction() -> None:
    """Branching particles in a tilted double well, tagged in the upper well at stationarity:
    measured descendant mass against the frozen-operator prediction; fixed N stays at 1."""
    x = np.linspace(-2.5, 2.5, 501)
    V = lambda t: (t**2 - 1) ** 2 + 0.1 * t  # noqa: E731
    dV = lambda t: 4 * t * (t**2 - 1) + 0.1  # noqa: E731
    D, eta, alpha = 5e-3, 0.01, 0.02
    gc = solve(x, V(x), D=D, eta=eta, alpha=alpha)
    start = sample(x, gc.density, 6000, seed=8)
    tab = _simulate(V, dV, start, D=D, eta=eta, alpha=alpha, steps=700, seed=9)
    meas = lineage_mass_measured(tab, 100, (0.5, 1.5)).set_index("t")
    pred = lineage_mass(gc, (0.5, 1.5), [100.0, 300.0, 600.0])
    got = meas.loc[[100, 300, 600], "ratio"].to_numpy()
    np.testing.assert_allclose(got, pred, atol=0.08)
    assert got[-1] < 0.6  # the effect is large: far from the fixed-N value 1
    fixed = _simulate(V, dV, start, D=D, eta=eta, alpha=0.0, steps=300, seed=10)
    ratio = lineage_mass_measured(fixed, 100, (0.5, 1.5))["ratio"]
    assert np.max(np.abs(ratio - 1)) < 0.02


def test_lineage_mass_measured_replicas_and_errors() -> None:
    tab = pd.DataFrame(
        {
            "replica": [0, 0, 1, 0, 0, 1, 1],
            "step": [0, 0, 0, 10, 10, 10, 10],
            "neuron_id": [1, 2, 1, 1, 3, 1, 3],
            "parent_id": [-1, -1, -1, -1, 1, -1, 2],
            "theta": [0.1, 0.9, 0.2, 0.1, 0.1, 0.2, 0.2],
        }
    )
    # replica 1's neuron 3 has parent 2 of replica 1 (not tagged): lineages do not cross
    out = lineage_mass_measured(tab, 0, (0.0, 0.5))
    assert out["descendants"].tolist() == [2, 3]
    with pytest.raises(ValueError, match="no particles in it"):
        lineage_mass_measured(tab, 0, (5.0, 6.0))
    with pytest.raises(ValueError, match="missing"):
        lineage_mass_measured(tab.drop(columns="parent_id"), 0, (0.0, 0.5))


# ----------------------------------------------------------------------------------------------
# time-averaged field on a grid
# ----------------------------------------------------------------------------------------------


def test_average_on_grid_recovers_the_field_and_the_transient_control() -> None:
    rng = np.random.default_rng(4)
    grid = np.linspace(0.0, 2 * np.pi, 32, endpoint=False)
    steps = np.arange(0, 3000, 10)
    f = -0.01 * np.cos(grid)
    S, G = np.meshgrid(steps, grid, indexing="ij")
    transient = 0.02 * np.exp(-S / 300.0)
    psi = f[None, :] + transient + 0.002 * rng.normal(size=S.shape)
    tab = pd.DataFrame({"step": S.ravel(), "theta": G.ravel(), "psi": psi.ravel()})
    avg = average_on_grid(tab, start=1500)
    z = (avg["psi"].to_numpy() - f) / avg["psi_se"].to_numpy()
    assert np.all(np.abs(z) < 4) and avg["n_steps"].iloc[0] == 150
    whole = average_on_grid(tab)
    zw = (whole["psi"].to_numpy() - f) / whole["psi_se"].to_numpy()
    assert np.all(zw > 5)  # including the transient biases every point
    two = pd.concat([tab.assign(replica=0), tab.assign(replica=1)])
    assert len(average_on_grid(two, start=1500, by=["replica"])) == 64
    with pytest.raises(ValueError, match="no rows"):
        average_on_grid(tab, start=10_000)
