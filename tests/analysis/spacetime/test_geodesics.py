"""Known-answer tests (with failing controls) for analysis.spacetime.geodesics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from analysis.geometry import metric_from_function
from analysis.spacetime import geodesic_test


def _sphere_metric(x: np.ndarray) -> np.ndarray:
    f = 4.0 / (1.0 + np.sum(x**2, axis=-1)) ** 2
    return f[..., None, None] * np.eye(2)


def _sphere_geodesic(t: float, y: np.ndarray) -> np.ndarray:
    """Geodesic ODE of g = e^{2 phi} delta, phi = ln 2 - ln(1 + r^2) (independent of geometry)."""
    x, v = y[:2], y[2:]
    dphi = -2 * x / (1 + x @ x)
    return np.concatenate([v, -(2 * (dphi @ v) * v - (v @ v) * dphi)])


def test_geodesic_test_on_sphere_versus_controls() -> None:
    n, h, o = 41, 0.075, -1.5
    g = metric_from_function(_sphere_metric, (n, n), h, o)
    rng = np.random.default_rng(0)
    dt, nt, sigma = 0.05, 30, 2e-3
    paths = []
    for _ in range(6):
        x0 = rng.uniform(-0.5, 0.5, 2)
        ang = rng.uniform(0, 2 * np.pi)
        y0 = np.concatenate([x0, 0.5 * np.array([np.cos(ang), np.sin(ang)])])
        sol = solve_ivp(
            _sphere_geodesic,
            (0, dt * (nt - 1)),
            y0,
            t_eval=dt * np.arange(nt),
            rtol=1e-11,
            atol=1e-12,
        )
        paths.append(sol.y[:2].T + sigma * rng.normal(size=(nt, 2)))
    res = geodesic_test(paths, g, h, o, sigma, dt=dt)
    assert 0.7 < res.chi2_dof < 1.4, res
    assert res.chi2_dof_flat > 30 * res.chi2_dof
    assert res.chi2_dof_shuffled > 10 * res.chi2_dof
    assert res.dof == 6 * (nt * 2 - 4) and np.all(res.n_samples == nt)
    with pytest.raises(ValueError, match="paths"):
        geodesic_test([paths[0][:2]], g, h, o, sigma)
    with pytest.raises(ValueError, match="path_noise"):
        geodesic_test(paths, g, h, o, 0.0)


def test_geodesic_test_cuts_paths_at_the_grid_box() -> None:
    g = np.broadcast_to(np.eye(2), (9, 9, 2, 2))
    t = np.arange(12)[:, None] * 1.0
    path = np.array([0.5, 1.0]) + t * np.array([0.7, 0.2])  # x = 8.2 > 8 at sample 11
    noisy = path + 1e-3 * np.random.default_rng(1).normal(size=path.shape)
    res = geodesic_test([noisy], g, 1.0, 0.0, 1e-3)
    assert res.n_samples.tolist() == [11] and 0.2 < res.chi2_dof < 3
    with pytest.raises(ValueError, match="inside the metric grid box"):
        geodesic_test([path + 20.0], g, 1.0, 0.0, 1e-3)


def _de_sitter_2d(x: np.ndarray, H: float) -> np.ndarray:
    g = np.zeros((*x.shape[:-1], 2, 2))
    g[..., 0, 0] = -1.0
    g[..., 1, 1] = np.exp(2 * H * x[..., 0])
    return g


def test_geodesic_test_recovers_geodesics_whose_start_guess_leaves_the_box() -> None:
    """Exact geodesics of 2-D de Sitter space (-dt^2 + e^{2 H t} dx^2, H = 4; indefinite and
    strongly curved: Gamma^t_xx = H e^{2 H t} reaches ~1e5 in the box), time-like. Late paths
    barely move in x, so the velocity guessed from their noisy samples flings the first trial
    geodesic out of the box within one sample (the former fit stayed at chi^2/dof ~ 1e8 there);
    early paths decelerate visibly in x, so straight lines fail on them."""
    H, h, o, shape = 4.0, 0.05, np.array([-0.5, -0.5]), (61, 31)  # t in [-0.5, 2.5], x < 1
    g = metric_from_function(lambda x: _de_sitter_2d(x, H), shape, h, o)

    def rhs(_t: float, y: np.ndarray) -> list[float]:
        t, _, vt, vx = y
        return [vt, vx, -H * np.exp(2 * H * t) * vx**2, -2 * H * vt * vx]

    rng = np.random.default_rng(3)
    dt, nt = 0.1, 8
    sigma = np.repeat([1e-2, 2e-4], 5)  # known noise per path
    paths = []
    for i, late in enumerate((True,) * 5 + (False,) * 5):
        t0 = rng.uniform(1.5, 1.8) if late else rng.uniform(0.3, 0.6)
        vx = rng.uniform(1e-5, 1e-4) if late else rng.uniform(0.6, 0.95) * np.exp(-H * t0)
        y0 = [t0, rng.uniform(0.1, 0.5), 1.0, vx]
        sol = solve_ivp(
            rhs, (0, dt * (nt - 1)), y0, t_eval=dt * np.arange(nt), rtol=1e-11, atol=1e-13
        )
        paths.append(sol.y[:2].T + sigma[i] * rng.normal(size=(nt, 2)))
    res = geodesic_test(paths, g, h, o, sigma, dt=dt, substeps=4)
    assert 0.6 < res.chi2_dof < 1.6, res
    assert np.all(res.per_path < 5), res.per_path
    early = slice(5, None)  # visibly curved: straight lines fail there
    assert np.median(res.per_path_flat[early]) > 30 * np.median(res.per_path[early]), res
    assert res.chi2_dof_shuffled > 10 * res.chi2_dof
    assert res.dof == int(np.sum(res.n_samples * 2 - 4))
