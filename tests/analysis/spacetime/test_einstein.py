"""Known-answer tests (with failing controls) for analysis.spacetime.einstein."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.geometry import grid_coordinates
from analysis.spacetime import fit_einstein, polynomial_metric, stress_energy_dust


def _de_sitter(x: np.ndarray, H: float, bump: float = 0.0) -> np.ndarray:
    g = np.zeros((*x.shape[:-1], 4, 4))
    g[..., 0, 0] = -1.0
    pert = bump * np.exp(-np.sum((x[..., 1:] - 0.55) ** 2, axis=-1) / 0.1)
    for k in (1, 2, 3):
        g[..., k, k] = np.exp(2 * H * x[..., 0]) * (1 + (pert if k == 1 else 0))
    return g


def test_fit_einstein_de_sitter_and_perturbed() -> None:
    H, h = 0.7, 0.1
    x = grid_coordinates((12, 12, 12, 12), h, 0.0)
    fit = fit_einstein(_de_sitter(x, H), None, h)
    assert abs(fit.Lambda / (3 * H**2) - 1) < 0.02
    assert np.isnan(fit.kappa) and fit.residual < 1e-4 and fit.trace_residual < 1e-4
    assert fit.residual_control > 1000 * fit.residual
    pert = fit_einstein(_de_sitter(x, H, bump=0.05), None, h)
    assert pert.residual > 100 * fit.residual and pert.residual > 0.01
    zeros = fit_einstein(_de_sitter(x, H), np.zeros((*x.shape[:-1], 4, 4)), h)
    assert np.isnan(zeros.kappa) and zeros.Lambda == pytest.approx(fit.Lambda)


def test_fit_einstein_lambda_cdm_dust_recovers_lambda_and_kappa() -> None:
    # a(t) = sinh^(2/3)(3 H t / 2): G + Lambda g = kappa rho u u with Lambda = 3 H^2 and
    # rho = 3 H^2 / (kappa a^3) for any kappa; T is built by the dust helper from rho and u.
    H, kappa, h = 0.8, 2.0, 0.08
    x = grid_coordinates((12, 10, 10, 10), h, (0.6, 0.0, 0.0, 0.0))
    a = np.sinh(1.5 * H * x[..., 0]) ** (2 / 3)
    g = np.zeros((*x.shape[:-1], 4, 4))
    g[..., 0, 0] = -1.0
    for k in (1, 2, 3):
        g[..., k, k] = a**2
    u_up = np.zeros(x.shape)
    u_up[..., 0] = 1.0
    T = stress_energy_dust(3 * H**2 / (kappa * a**3), u_up, g)
    fit = fit_einstein(g, T, h)
    assert abs(fit.Lambda / (3 * H**2) - 1) < 0.02 and abs(fit.kappa / kappa - 1) < 0.02
    assert fit.residual < 1e-3 and fit.residual_control > 100 * fit.residual
    # control: dust with the wrong density profile (rho ~ a^-4) does not fit
    wrong = stress_energy_dust(3 * H**2 / (kappa * a**4), u_up, g)
    assert fit_einstein(g, wrong, h).residual > 30 * fit.residual


def test_fit_einstein_noisy_metric_needs_global_model() -> None:
    H, h = 0.7, 0.1
    x = grid_coordinates((12, 12, 12, 12), h, 0.0)
    rng = np.random.default_rng(0)
    g = _de_sitter(x, H) + 1e-3 * rng.normal(size=(*x.shape[:-1], 4, 4))
    g = 0.5 * (g + np.swapaxes(g, -1, -2))
    raw = fit_einstein(g, None, h)
    smooth = fit_einstein(g, None, h, model="polynomial", degree=5)
    assert abs(smooth.Lambda / (3 * H**2) - 1) < 0.02
    assert smooth.residual < raw.residual / 5, (smooth.residual, raw.residual)


def test_polynomial_metric_and_einstein_bad_input() -> None:
    g = np.broadcast_to(np.eye(4), (6, 6, 6, 6, 4, 4)).copy()
    with pytest.raises(ValueError, match="T"):
        fit_einstein(g, np.zeros((6, 6, 6, 6, 3, 3)), 0.1)
    with pytest.raises(ValueError, match="width"):
        fit_einstein(g, None, 0.1, width=1)
    with pytest.raises(ValueError, match="model"):
        fit_einstein(g, None, 0.1, model="spline")
    with pytest.raises(ValueError, match="symmetric"):
        bad = g.copy()
        bad[..., 0, 1] = 0.3
        fit_einstein(bad, None, 0.1)
    with pytest.raises(ValueError, match="degenerate"):
        fit_einstein(np.zeros_like(g), None, 0.1)
    with pytest.raises(ValueError, match="degree"):
        polynomial_metric(g, 40)
    with pytest.raises(ValueError, match="shape"):
        polynomial_metric(np.zeros((5, 5, 3, 3)))
