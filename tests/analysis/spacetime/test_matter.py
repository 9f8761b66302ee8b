"""Known-answer tests for analysis.spacetime.matter: ensemble fields and stress-energy."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.geometry import grid_coordinates
from analysis.spacetime import (
    ensemble_fields,
    four_velocity,
    stress_energy_dust,
    stress_energy_scalar,
)


def test_stress_energy_scalar_known_energy_density() -> None:
    # plane wave phi = A cos(k x - w t) on Minkowski: T_00 = (phi_t^2 + phi_x^2 + m2 phi^2) / 2
    h = 0.05
    x = grid_coordinates((40, 40, 6, 6), h, 0.0)
    A, k, w, m2 = 0.7, 2.0, 3.0, 1.5
    arg = k * x[..., 1] - w * x[..., 0]
    phi = A * np.cos(arg)
    eta = np.broadcast_to(np.diag([-1.0, 1, 1, 1]), (*x.shape[:-1], 4, 4))
    T = stress_energy_scalar(phi, eta, h, potential=m2)
    rho = 0.5 * A**2 * (w**2 + k**2) * np.sin(arg) ** 2 + 0.5 * m2 * phi**2
    inner = (slice(2, -2),) * 4
    np.testing.assert_allclose(T[inner][..., 0, 0], rho[inner], atol=2e-4 * rho.max())
    # T_01 = phi_t phi_x (momentum density), trace as in the Lagrangian
    flux = -(A**2) * w * k * np.sin(arg) ** 2
    np.testing.assert_allclose(T[inner][..., 0, 1], flux[inner], atol=2e-4 * rho.max())
    # control: the same field without the potential misses the m2 phi^2 / 2 part
    T0 = stress_energy_scalar(phi, eta, h)
    assert np.abs(T0[inner][..., 0, 0] - rho[inner]).max() > 0.1 * rho.max()
    with pytest.raises(ValueError, match="g"):
        stress_energy_scalar(phi, eta[..., :3, :3], h)


def test_stress_energy_dust_energy_density_and_lowering() -> None:
    rho = np.full((5, 5, 5, 5), 1.3)
    v = 0.6
    gamma = 1 / np.sqrt(1 - v**2)
    u_up = np.broadcast_to([gamma, gamma * v, 0, 0], (5, 5, 5, 5, 4))
    eta = np.broadcast_to(np.diag([-1.0, 1, 1, 1]), (5, 5, 5, 5, 4, 4))
    T = stress_energy_dust(rho, u_up, eta)
    # energy density seen by the static observer: rho gamma^2; trace -rho
    assert T[0, 0, 0, 0, 0, 0] == pytest.approx(1.3 * gamma**2)
    trace = np.einsum("...ab,...ab->...", np.linalg.inv(eta), T)
    np.testing.assert_allclose(trace, -1.3)
    # control: passing u^a as if it were u_a (no lowering) flips the sign of T_0i
    assert stress_energy_dust(rho, u_up)[0, 0, 0, 0, 0, 1] == pytest.approx(-T[0, 0, 0, 0, 0, 1])
    with pytest.raises(ValueError, match="u"):
        stress_energy_dust(rho, u_up[..., 0])


def test_ensemble_fields_known_density_velocity_and_observable() -> None:
    # X ~ N(0, I) in 2-D, one step of dX = -K X dt (no noise) with K known; observable |X|^2
    rng = np.random.default_rng(0)
    K = np.array([[1.0, 0.5], [-0.5, 1.0]])
    x0 = rng.normal(size=(800_000, 2))
    x = np.stack([x0, x0 - 0.1 * x0 @ K.T])
    obs = np.stack([np.sum(x0**2, axis=1), np.zeros(len(x0))])
    f = ensemble_fields(x, (13, 13), 0.25, -1.5, dt=0.1, observable=obs, smoothing=0.0)
    c = grid_coordinates((13, 13), 0.25, -1.5)
    pdf = np.exp(-0.5 * np.sum(c**2, -1)) / (2 * np.pi)
    core = np.sum(c**2, -1) < 1.0
    # nearest-grid-point histogram: density within 6 % (counts >= 6500: 1.2 % noise;
    # bin-averaging bias < 1 %)
    np.testing.assert_allclose(f.rho[core], pdf[core], rtol=0.06)
    np.testing.assert_allclose(f.velocity[core], -(c @ K.T)[core], atol=0.02)
    np.testing.assert_allclose(f.phi[core], np.sum(c**2, -1)[core], atol=0.03)
    # control: a rotated drift gives a velocity field that misses -K x by far more
    x_rot = np.stack([x0, x0 - 0.1 * x0 @ K])
    other = ensemble_fields(x_rot, (13, 13), 0.25, -1.5, dt=0.1, smoothing=0.0)
    assert np.abs(other.velocity[core] + (c @ K.T)[core]).max() > 0.5
    with pytest.raises(ValueError, match="observable"):
        ensemble_fields(x, (13, 13), 0.25, -1.5, observable=obs[:, :5])
    with pytest.raises(ValueError, match="shape"):
        ensemble_fields(x, (13,), 0.25, -1.5)
    with pytest.raises(ValueError, match="min_weight"):
        ensemble_fields(x, (5, 5), 0.25, 40.0)


def test_four_velocity_dust_pipeline() -> None:
    eta = np.broadcast_to(np.diag([-1.0, 1.0, 1.0, 1.0]), (5, 5, 5, 5, 4, 4))
    v = np.broadcast_to([2.0, 1.2, 0.0, 0.0], (5, 5, 5, 5, 4))  # speed 0.6: gamma = 1.25
    u, timelike = four_velocity(v, eta)
    assert timelike.all()
    np.testing.assert_allclose(u[0, 0, 0, 0], [1.25, 0.75, 0, 0])
    T = stress_energy_dust(np.ones((5, 5, 5, 5)), u, eta)
    np.testing.assert_allclose(T[..., 0, 0], 1.25**2)
    # control: a space-like velocity is flagged
    _, tl = four_velocity(np.broadcast_to([0.5, 1.0, 0.0, 0.0], (5, 5, 5, 5, 4)), eta)
    assert not tl.any()
    with pytest.raises(ValueError, match="g"):
        four_velocity(v, eta[..., :3, :3])
