"""Known-answer tests and controls for analysis.geometry (gridded differential geometry)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.geometry import (
    bianchi_residual,
    christoffel,
    covariant_divergence,
    einstein_tensor,
    geodesic,
    geodesic_residual,
    grid_coordinates,
    interior,
    metric_from_function,
    ricci,
    ricci_scalar,
    riemann,
    smooth_metric,
)

# ----------------------------------------------------------------------------- metrics

R_SPHERE = 1.7
SPHERE_SPACING = (0.05, 0.05)
SPHERE_ORIGIN = (0.7, -0.5)
SPHERE_SHAPE = (36, 147)  # theta in [0.7, 2.45], phi in [-0.5, 6.8]


def sphere(x: np.ndarray, r: float = R_SPHERE) -> np.ndarray:
    g = np.zeros((*x.shape[:-1], 2, 2))
    g[..., 0, 0] = r**2
    g[..., 1, 1] = (r * np.sin(x[..., 0])) ** 2
    return g


@pytest.fixture(scope="module")
def sphere_metric() -> np.ndarray:
    return metric_from_function(sphere, SPHERE_SHAPE, SPHERE_SPACING, SPHERE_ORIGIN)


def de_sitter(d: int, n: int, h: float, H: float) -> np.ndarray:
    """Flat slicing: ds^2 = -dt^2 + exp(2 H t) (dx_1^2 + ... + dx_{d-1}^2), t in [-0.3, ...]."""
    x = grid_coordinates((n,) * d, h, (-0.3,) + (0.0,) * (d - 1))
    g = np.zeros((*x.shape[:-1], d, d))
    g[..., 0, 0] = -1.0
    for k in range(1, d):
        g[..., k, k] = np.exp(2.0 * H * x[..., 0])
    return g


def perturb(g: np.ndarray, h: float, eps: float = 0.05) -> np.ndarray:
    """Multiply g_11 by 1 + eps sin(3 x^2): smooth, no longer an Einstein space (d >= 3).

    (A factor depending on x^1 alone would only relabel x^1.)
    """
    d = g.shape[-1]
    x = grid_coordinates(g.shape[:d], h, 0.0)
    out = g.copy()
    out[..., 1, 1] *= 1.0 + eps * np.sin(3.0 * x[..., 2])
    return out


def lambda_de_sitter(d: int, H: float) -> float:
    return 0.5 * (d - 1) * (d - 2) * H**2


def to_sphere_coords(p: np.ndarray) -> np.ndarray:
    """Unit vectors -> (theta, phi) with phi unwrapped along the path."""
    theta = np.arccos(np.clip(p[..., 2], -1.0, 1.0))
    phi = np.unwrap(np.arctan2(p[..., 1], p[..., 0]))
    return np.stack([theta, phi], axis=-1)


def great_circle(s: np.ndarray, alpha: float) -> np.ndarray:
    """Great circle through (1, 0, 0) tilted by alpha from the equator (not a coordinate line)."""
    p = np.stack([np.cos(s), np.sin(s) * np.cos(alpha), np.sin(s) * np.sin(alpha)], axis=-1)
    return to_sphere_coords(p)


def small_circle(t: np.ndarray, rho: float) -> np.ndarray:
    """Circle of angular radius rho about the x axis; geodesic curvature cot(rho) / r."""
    p = np.stack(
        [np.full_like(t, np.cos(rho)), np.sin(rho) * np.cos(t), np.sin(rho) * np.sin(t)], axis=-1
    )
    return to_sphere_coords(p)


# ----------------------------------------------------------------------------- sphere


def test_sphere_ricci_scalar_known_answer(sphere_metric: np.ndarray) -> None:
    R = ricci_scalar(sphere_metric, SPHERE_SPACING)
    rel = np.abs(interior(R, 2) / (2.0 / R_SPHERE**2) - 1.0)
    assert rel.max() < 1e-4  # issue bar 1e-3; measured 6.5e-6
    # edges are finite (lower-order stencils), just less accurate
    assert np.all(np.isfinite(R))


def test_sphere_ricci_scalar_control_other_surface() -> None:
    # an oblate perturbation of the same sphere is not a constant-curvature 2/r^2 surface
    def squashed(x: np.ndarray) -> np.ndarray:
        g = sphere(x)
        g[..., 1, 1] *= 1.0 + 0.1 * np.cos(x[..., 0]) ** 2
        return g

    g = metric_from_function(squashed, SPHERE_SHAPE, SPHERE_SPACING, SPHERE_ORIGIN)
    rel = np.abs(interior(ricci_scalar(g, SPHERE_SPACING), 2) / (2.0 / R_SPHERE**2) - 1.0)
    assert rel.max() > 0.05


def test_sphere_christoffel_and_riemann_components(sphere_metric: np.ndarray) -> None:
    g = sphere_metric[:, :9]
    x = grid_coordinates(g.shape[:2], SPHERE_SPACING, SPHERE_ORIGIN)
    th = interior(x, 2)[..., 0]
    gam = interior(christoffel(g, SPHERE_SPACING), 2, d=2)
    assert np.allclose(gam[..., 0, 1, 1], -np.sin(th) * np.cos(th), atol=1e-6)
    assert np.allclose(gam[..., 1, 0, 1], np.cos(th) / np.sin(th), atol=1e-5)
    assert np.allclose(gam[..., 1, 1, 0], gam[..., 1, 0, 1])
    assert np.abs(gam[..., 0, 0, 0]).max() < 1e-12
    assert np.abs(gam[..., 1, 1, 1]).max() < 1e-12
    rie = interior(riemann(g, SPHERE_SPACING), 2, d=2)
    assert np.allclose(rie[..., 0, 1, 0, 1], np.sin(th) ** 2, atol=1e-5)
    assert np.allclose(rie[..., 0, 1, 1, 0], -(np.sin(th) ** 2), atol=1e-5)


def test_ricci_equals_contracted_riemann_and_symmetries() -> None:
    rng = np.random.default_rng(7)
    d, n, h = 3, 9, 0.1
    x = grid_coordinates((n,) * d, h, 0.0)
    g = np.broadcast_to(np.diag([-1.0, 1.0, 1.0]), (*x.shape[:-1], d, d)).copy()
    A = 0.3 * rng.normal(size=(d, d, d))
    for a in range(d):
        for b in range(d):
            g[..., a, b] += 0.15 * (np.sin(x @ A[a, b]) + np.sin(x @ A[b, a]))
    rie = riemann(g, h)
    ric = ricci(g, h)
    assert np.abs(ric).max() > 1e-3  # not trivially zero
    assert np.allclose(ric, np.einsum("...abad->...bd", rie), atol=1e-12)
    low = np.einsum("...ae,...ebcd->...abcd", g, rie)
    assert np.abs(low + np.swapaxes(low, -1, -2)).max() < 1e-12
    assert np.abs(low + np.swapaxes(low, -3, -4)).max() < 1e-12
    assert np.abs(low - np.einsum("...abcd->...cdab", low)).max() < 1e-12


# ----------------------------------------------------------------------------- flat


@pytest.mark.parametrize("d", [2, 3, 4, 5])
def test_constant_metric_has_zero_curvature(d: int) -> None:
    rng = np.random.default_rng(d)
    m = rng.normal(size=(d, d))
    eta = np.diag([-1.0] + [1.0] * (d - 1))
    const = m @ eta @ m.T  # a Lorentzian metric in skew linear coordinates
    g = np.broadcast_to(const, (5,) * d + (d, d))
    # differences of equal numbers: round-off only
    assert np.abs(christoffel(g, 0.3)).max() < 1e-10
    assert np.abs(einstein_tensor(g, 0.3)).max() < 1e-10
    assert np.abs(ricci_scalar(g, 0.3)).max() < 1e-10


def test_flat_polar_coordinates_zero_curvature_nonzero_christoffels() -> None:
    def polar(x: np.ndarray) -> np.ndarray:
        g = np.zeros((*x.shape[:-1], 2, 2))
        g[..., 0, 0] = 1.0
        g[..., 1, 1] = x[..., 0] ** 2
        return g

    g = metric_from_function(polar, (31, 21), (0.05, 0.1), (1.0, 0.0))
    assert np.abs(christoffel(g, (0.05, 0.1))[..., 1, 0, 1]).min() > 0.3
    assert np.abs(ricci_scalar(g, (0.05, 0.1))).max() < 1e-10  # exact: r^2 is a quadratic


# ----------------------------------------------------------------------------- de Sitter


@pytest.mark.parametrize("d", [2, 3, 4, 5])
def test_de_sitter_einstein_space_all_dimensions(d: int) -> None:
    H, h = 0.7, 0.1
    n = 11 if d < 5 else 8
    g = de_sitter(d, n, h, H)
    lam = lambda_de_sitter(d, H)
    G = einstein_tensor(g, h)
    R = ricci_scalar(g, h)
    assert G.shape == g.shape and R.shape == g.shape[:d]
    assert ricci(g, h).shape == g.shape
    assert christoffel(g, h).shape == (*g.shape, d)
    assert np.abs(interior(R, 2) / (d * (d - 1) * H**2) - 1.0).max() < 1e-4
    resid = np.abs(interior(G + lam * g, 2)).max() / np.abs(interior(lam * g, 2) + (d == 2)).max()
    assert resid < 1e-4  # measured ~1e-5 (d >= 3); d = 2: G vanishes to round-off
    if d == 2:
        assert np.abs(G).max() < 1e-12


def test_de_sitter_4d_pointwise_and_perturbed_control() -> None:
    H, h, d = 0.7, 0.1, 4
    g = de_sitter(d, 11, h, H)
    lam = 3.0 * H**2

    def residual(metric: np.ndarray) -> float:
        G = interior(einstein_tensor(metric, h), 2)
        return float(
            np.abs(G + lam * interior(metric, 2)).max() / np.abs(lam * interior(g, 2)).max()
        )

    exact = residual(g)
    perturbed = residual(perturb(g, h, eps=0.02))
    assert exact < 2e-5  # measured 8.4e-6: G_mu_nu = -3 H^2 g_mu_nu pointwise
    assert perturbed > 1e-2
    assert perturbed > 1000 * exact


def test_riemann_shape_5d_matches_ricci() -> None:
    g = de_sitter(5, 6, 0.1, 0.5)
    rie = riemann(g, 0.1)
    assert rie.shape == (6,) * 5 + (5,) * 4
    assert np.allclose(np.einsum("...abad->...bd", rie), ricci(g, 0.1), atol=1e-10)


# ----------------------------------------------------------------------------- Bianchi


def test_bianchi_de_sitter_truncation_level_and_noise_control() -> None:
    H, h = 0.7, 0.1
    g = de_sitter(4, 11, h, H)
    exact = bianchi_residual(g, h)
    smooth_pert = bianchi_residual(perturb(g, h, eps=0.05), h)
    rng = np.random.default_rng(3)
    noise = 1e-4 * rng.normal(size=g.shape)
    noisy = bianchi_residual(g + 0.5 * (noise + np.swapaxes(noise, -1, -2)), h)
    assert exact < 1e-4  # measured 1.4e-5 ~ h^4
    assert smooth_pert < 1e-3  # the identity holds for any smooth metric
    assert noisy > 0.03  # noise amplified by 1/h^3 breaks it; measured 0.083
    assert noisy > 1000 * exact


def test_covariant_divergence_ricci_nonzero_on_non_einstein_metric() -> None:
    h = 0.1
    g = perturb(de_sitter(4, 11, h, 0.7), h, eps=0.05)
    ric = ricci(g, h)
    div, scale = covariant_divergence(ric, g, h)
    rel = np.linalg.norm(interior(div, 4, d=4)) / np.linalg.norm(interior(scale, 4, d=4))
    assert rel > 1e-2  # nabla^a R_ab = d_b R / 2 != 0 here
    div_g, _ = covariant_divergence(g, g, h)  # metric compatibility: nabla g = 0
    assert np.abs(interior(div_g, 2, d=4)).max() < 1e-5


def test_bianchi_flat_and_2d() -> None:
    g = np.broadcast_to(np.eye(3), (9, 9, 9, 3, 3))
    assert bianchi_residual(g, 0.2) == 0.0
    sph = metric_from_function(sphere, (20, 12), SPHERE_SPACING, SPHERE_ORIGIN)
    assert bianchi_residual(sph, SPHERE_SPACING) < 1e-10


# ----------------------------------------------------------------------------- geodesics


def test_geodesic_integrates_great_circle_back_to_start(sphere_metric: np.ndarray) -> None:
    alpha, steps = 0.6, 2000
    path, vel = geodesic(
        sphere_metric,
        SPHERE_SPACING,
        SPHERE_ORIGIN,
        [np.pi / 2, 0.0],
        [-np.sin(alpha), np.cos(alpha)],
        steps,
        2 * np.pi / steps,
    )
    assert path.shape == vel.shape == (steps + 1, 2)
    end = path[-1] - np.array([np.pi / 2, 2 * np.pi])
    assert np.abs(end).max() < 1e-4  # measured 1.1e-5 with cubic interpolation
    s = np.linspace(0, 2 * np.pi, steps + 1)
    assert np.abs(path - great_circle(s, alpha)).max() < 1e-4
    # the speed g(v, v) is conserved along a geodesic
    speed = R_SPHERE**2 * (vel[:, 0] ** 2 + np.sin(path[:, 0]) ** 2 * vel[:, 1] ** 2)
    assert np.abs(speed / R_SPHERE**2 - 1.0).max() < 1e-5


def test_geodesic_control_wrong_metric_misses_start(sphere_metric: np.ndarray) -> None:
    flat = np.broadcast_to(np.diag([R_SPHERE**2, R_SPHERE**2]), sphere_metric.shape)
    alpha, steps = 0.6, 400
    path, _ = geodesic(
        flat,
        SPHERE_SPACING,
        SPHERE_ORIGIN,
        [np.pi / 2, 0.0],
        [-np.sin(alpha), np.cos(alpha)],
        steps,
        0.25 * np.pi / steps,
    )
    s = np.linspace(0, 0.25 * np.pi, steps + 1)
    assert np.abs(path - great_circle(s, alpha)).max() > 1e-2


def test_geodesic_batch_linear_order_and_leaving_grid(sphere_metric: np.ndarray) -> None:
    x0 = np.array([[np.pi / 2, 0.0], [1.2, 1.0]])
    v0 = np.array([[-0.6, 0.8], [0.0, 1.0]])
    p3, _ = geodesic(sphere_metric, SPHERE_SPACING, SPHERE_ORIGIN, x0, v0, 50, 0.01)
    p1, _ = geodesic(sphere_metric, SPHERE_SPACING, SPHERE_ORIGIN, x0, v0, 50, 0.01, order=1)
    assert p3.shape == (51, 2, 2)
    assert 0 < np.abs(p3 - p1).max() < 1e-3
    single, _ = geodesic(sphere_metric, SPHERE_SPACING, SPHERE_ORIGIN, x0[1], v0[1], 50, 0.01)
    assert np.allclose(single, p3[:, 1])
    # heading straight for the pole: leaves the grid and becomes NaN
    out, _ = geodesic(
        sphere_metric, SPHERE_SPACING, SPHERE_ORIGIN, [1.0, 1.0], [-1.0, 0.0], 50, 0.02
    )
    assert np.all(np.isfinite(out[:10])) and np.all(np.isnan(out[-1]))


def test_geodesic_residual_great_vs_small_circle(sphere_metric: np.ndarray) -> None:
    args = (sphere_metric, SPHERE_SPACING, SPHERE_ORIGIN)
    length = 2.0  # arc length / r of both curves
    great = geodesic_residual(great_circle(np.linspace(0.0, length, 201), 0.6), *args)
    rho = 0.8
    t = np.linspace(-0.5, 0.5, 201) * length / np.sin(rho)
    small = geodesic_residual(small_circle(t, rho), *args)
    assert great.shape == (201,)
    assert np.all(np.isnan(great[:2])) and np.all(np.isnan(great[-2:]))
    assert np.nanmax(great) < 1e-4  # issue bar 1e-3; measured 2.3e-6
    assert np.nanmin(small) > 100 * np.nanmax(great)
    # known answer: geodesic curvature of a small circle is cot(rho) / r
    assert np.nanmax(np.abs(small / (1 / np.tan(rho) / R_SPHERE) - 1)) < 1e-3


def test_geodesic_residual_parametrisation_invariant(sphere_metric: np.ndarray) -> None:
    args = (sphere_metric, SPHERE_SPACING, SPHERE_ORIGIN)
    u = np.linspace(0.0, 1.0, 401)
    warped = great_circle(2.0 * (u + 0.3 * u**2) / 1.3, 0.6)
    assert np.nanmax(geodesic_residual(warped, *args)) < 1e-4
    t = 2.0 * (u + 0.3 * u**2) / 1.3 / np.sin(0.8)
    small = geodesic_residual(small_circle(t - 0.5 * (t[0] + t[-1]), 0.8), *args)
    assert np.nanmax(np.abs(small * R_SPHERE * np.tan(0.8) - 1)) < 1e-3


def test_geodesic_residual_savgol_window_on_noisy_path(sphere_metric: np.ndarray) -> None:
    args = (sphere_metric, SPHERE_SPACING, SPHERE_ORIGIN)
    rng = np.random.default_rng(11)
    path = great_circle(np.linspace(0.0, 2.0, 201), 0.6) + 1e-7 * rng.normal(size=(201, 2))
    smooth = geodesic_residual(path, *args, window=31)
    raw = geodesic_residual(path, *args)
    assert np.all(np.isnan(smooth[:15])) and np.isfinite(smooth[15])
    assert np.nanmedian(smooth) < np.nanmedian(raw)


def test_geodesic_residual_lorentzian_null_timelike_spacelike() -> None:
    g = np.broadcast_to(np.diag([-1.0, 1.0]), (9, 9, 2, 2))
    s = np.linspace(0.0, 1.0, 21)
    args = (g, 0.5, (0.0, 0.0))
    for direction in ([1.0, 0.5], [1.0, 1.0], [0.5, 1.0]):  # timelike, null, spacelike
        line = 1.0 + np.outer(s + 0.5 * s**2, direction)
        res = geodesic_residual(line, *args)
        assert np.all(np.isfinite(res[2:-2])) and np.nanmax(res) < 1e-12
    tau = np.linspace(-0.8, 0.8, 41)
    hyperbola = np.stack([2.0 + np.sinh(tau), 1.0 + np.cosh(tau)], axis=-1)  # accelerated
    res = geodesic_residual(hyperbola, *args)
    assert np.all(np.isfinite(res[2:-2])) and np.nanmin(res) > 0.1
    still = np.full((9, 2), 2.0)  # zero velocity: never 0/0
    assert np.nanmax(geodesic_residual(still, *args)) == 0.0


# ----------------------------------------------------------------------------- smoothing


def test_smooth_metric_reduces_noise_amplification() -> None:
    spacing = (0.05, 0.05)
    g = metric_from_function(sphere, (41, 41), spacing, (0.6, 0.0))
    rng = np.random.default_rng(5)
    noise = 1e-3 * rng.normal(size=g.shape)
    noisy = g + 0.5 * (noise + np.swapaxes(noise, -1, -2))
    truth = 2.0 / R_SPHERE**2

    def rms(metric: np.ndarray) -> float:
        return float(np.sqrt(np.mean((interior(ricci_scalar(metric, spacing), 8) - truth) ** 2)))

    raw, smoothed = rms(noisy), rms(smooth_metric(noisy, 2.0))
    assert raw > 0.2 * truth  # noise / h^2 dominates; measured 0.38
    assert smoothed < 0.03 * truth  # measured 0.015 (sigma = 2 cells)
    assert np.allclose(smooth_metric(g, 0.0), g)


# ----------------------------------------------------------------------------- validation


def test_bad_inputs_raise_one_line_value_errors(sphere_metric: np.ndarray) -> None:
    g = sphere_metric[:9, :9]
    asym = g.copy()
    asym[..., 0, 1] += 0.1
    degenerate = g.copy()
    degenerate[3, 3] = [[1.0, 1.0], [1.0, 1.0]]
    nan = g.copy()
    nan[2, 2, 0, 0] = np.nan
    cases = [
        (lambda: ricci(asym, 0.1), "not symmetric"),
        (lambda: ricci(degenerate, 0.1), "degenerate"),
        (lambda: ricci(nan, 0.1), "NaN"),
        (lambda: ricci(g[..., 0], 0.1), "shape"),
        (lambda: ricci(np.zeros((5, 5, 3, 3)), 0.1), "shape"),
        (lambda: ricci(np.broadcast_to(np.eye(6), (5,) * 6 + (6, 6)), 0.1), "shape"),
        (lambda: ricci(g[:4], 0.1), "at least 5"),
        (lambda: ricci(g, (0.1, -0.1)), "spacing"),
        (lambda: ricci(g, (0.1, 0.1, 0.1)), "spacing"),
        (lambda: geodesic(g, 0.05, (0.0, 0.0), [10.0, 0.0], [1.0, 0.0], 3, 0.1), "x0"),
        (lambda: geodesic(g, 0.05, (0.0, 0.0), [0.1, 0.1], [1.0], 3, 0.1), "v0"),
        (lambda: geodesic(g, 0.05, (0.0, 0.0), [0.1, 0.1], [1.0, 0.0], 0, 0.1), "steps"),
        (lambda: geodesic(g, 0.05, (0.0, 0.0), [0.1, 0.1], [1.0, 0.0], 3, 0.1, order=2), "order"),
        (lambda: geodesic_residual(np.zeros((3, 2)), g, 0.05, (0.0, 0.0)), "path"),
        (lambda: geodesic_residual(np.full((9, 2), 9.0), g, 0.05, (0.0, 0.0)), "path"),
        (lambda: geodesic_residual(np.zeros((9, 2)), g, 0.05, (0.0, 0.0), window=8), "window"),
        (lambda: bianchi_residual(g[:, :8], 0.1), "points per axis"),
        (lambda: smooth_metric(g, -1.0), "sigma"),
        (lambda: metric_from_function(lambda x: np.zeros(3), (5, 5), 1.0, 0.0), "f:"),
        (lambda: covariant_divergence(g[..., 0], g, 0.1), "t:"),
    ]
    for call, word in cases:
        with pytest.raises(ValueError, match=word) as info:
            call()
        assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------- Lorentzian geodesics


@pytest.fixture(scope="module")
def de_sitter_2d() -> tuple[np.ndarray, float, tuple[float, float], float]:
    """ds^2 = -dt^2 + exp(2 H t) dx^2 on t in [-0.3, 1.7], x in [0, 2]."""
    H, h = 0.7, 0.05
    origin = (-0.3, 0.0)
    x = grid_coordinates((41, 41), h, origin)
    g = np.zeros((41, 41, 2, 2))
    g[..., 0, 0] = -1.0
    g[..., 1, 1] = np.exp(2.0 * H * x[..., 0])
    return g, h, origin, H


def test_de_sitter_null_geodesic_known_answer(de_sitter_2d) -> None:
    g, h, origin, H = de_sitter_2d
    path, vel = geodesic(g, h, origin, [0.0, 0.2], [1.0, 1.0], 300, 0.01)
    lam = 0.01 * np.arange(301)
    t, x = path[:, 0], path[:, 1]
    # photon: dt/dl = 1/a, so t(l) = ln(1 + H l) / H and x(t) = x0 + (1 - exp(-H t)) / H
    assert np.abs(t - np.log1p(H * lam) / H).max() < 1e-6
    assert np.abs(x - (0.2 + (1.0 - np.exp(-H * t)) / H)).max() < 1e-6
    norm = -(vel[:, 0] ** 2) + np.exp(2 * H * t) * vel[:, 1] ** 2
    assert np.abs(norm).max() < 1e-6  # stays null
    on_geodesic = np.nanmax(geodesic_residual(path, g, h, origin))
    assert on_geodesic < 1e-4
    # control: the flat-space light ray x = x0 + t is not a geodesic here (in 2-D the residual
    # of a curve crosses zero at isolated points where a happens to be parallel to v, so the
    # median is compared)
    ray = np.stack([t, 0.2 + t], axis=-1)
    off = np.nanmedian(geodesic_residual(ray, g, h, origin))
    assert off > 0.1 and off > 1000 * on_geodesic


def test_de_sitter_timelike_comoving_vs_drifting(de_sitter_2d) -> None:
    g, h, origin, H = de_sitter_2d
    t = np.linspace(0.0, 1.2, 61)
    comoving = np.stack([t, np.full_like(t, 0.5)], axis=-1)
    drifting = np.stack([t, 0.5 + 0.3 * t], axis=-1)  # constant coordinate velocity
    assert np.nanmax(geodesic_residual(comoving, g, h, origin)) < 1e-10
    assert np.nanmin(geodesic_residual(drifting, g, h, origin)) > 0.1
    # the geodesic with that initial velocity slows down as 1 / a^2 (p_x = a^2 dx/dtau fixed)
    path, vel = geodesic(g, h, origin, [0.0, 0.5], [np.sqrt(1 + 0.09), 0.3], 100, 0.01)
    p_x = np.exp(2 * H * path[:, 0]) * vel[:, 1]
    assert np.abs(p_x / 0.3 - 1).max() < 1e-5  # measured 1.1e-6


def test_geodesic_precomputed_gamma_and_solve_ivp_agree(sphere_metric: np.ndarray) -> None:
    from scipy.integrate import solve_ivp

    from analysis.geometry import geodesic_equation

    args = (sphere_metric, SPHERE_SPACING, SPHERE_ORIGIN)
    gam = christoffel(sphere_metric, SPHERE_SPACING)
    x0, v0 = [np.pi / 2, 0.0], [-np.sin(0.6), np.cos(0.6)]
    p1, _ = geodesic(*args, x0, v0, 100, 0.02)
    p2, _ = geodesic(*args, x0, v0, 100, 0.02, gamma=gam)
    assert np.array_equal(p1, p2)
    sol = solve_ivp(
        geodesic_equation(*args, gamma=gam),
        (0.0, 2.0),
        np.concatenate([x0, v0]),
        t_eval=0.02 * np.arange(101),
        rtol=1e-10,
        atol=1e-12,
    )
    assert np.abs(sol.y[:2].T - p1).max() < 1e-7
    assert np.abs(sol.y[:2].T - great_circle(0.02 * np.arange(101), 0.6)).max() < 1e-5
    with pytest.raises(ValueError, match="gamma"):
        geodesic(*args, x0, v0, 10, 0.02, gamma=gam[..., 0])


def test_fourth_order_convergence_interior_second_order_edges() -> None:
    interior_err, edge_err = [], []
    for h in (0.1, 0.05):
        n = round(1.6 / h) + 1
        g = metric_from_function(sphere, (n, 9), (h, 0.1), (0.7, 0.0))
        rel = np.abs(ricci_scalar(g, (h, 0.1))[:, 4] * R_SPHERE**2 / 2 - 1)
        theta = 0.7 + h * np.arange(n)
        inside = (theta > 1.0 - 1e-9) & (theta < 2.0 + 1e-9)  # same physical points
        interior_err.append(rel[inside].max())
        edge_err.append(rel.max())
    # measured 5.4e-5 -> 3.4e-6 (ratio 15.9); edges 4.2e-2 -> 8.9e-3 (ratio 4.8)
    assert 12 < interior_err[0] / interior_err[1] < 20
    assert 3 < edge_err[0] / edge_err[1] < 6


def test_helper_validation_and_finite_edges() -> None:
    with pytest.raises(ValueError, match="width"):
        interior(np.zeros((9, 9)), -1)
    with pytest.raises(ValueError, match="shape"):
        grid_coordinates((0, 5), 1.0, 0.0)
    with pytest.raises(ValueError, match="origin"):
        grid_coordinates((5, 5), 1.0, (0.0, np.nan))
    g = de_sitter(3, 7, 0.1, 0.7)
    for out in (christoffel(g, 0.1), riemann(g, 0.1), einstein_tensor(g, 0.1)):
        assert np.all(np.isfinite(out))  # edge layers: lower-order values, never NaN
