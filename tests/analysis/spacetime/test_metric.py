"""Known-answer tests for analysis.spacetime.metric: the local production form on a grid."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.geometry import grid_coordinates, ricci_scalar
from analysis.spacetime import local_metric


def _local_process(sign: float, R: int, seed: int, dt: float) -> np.ndarray:
    """X0 ~ N(0, S), one Euler step of a quadratic drift with constant diffusion."""
    rng = np.random.default_rng(seed)
    S = np.diag([1.0, 0.6])
    Dm = np.diag([0.5, 0.8])
    x0 = rng.normal(size=(R, 2)) @ np.sqrt(S)
    a = np.stack(
        [
            -x0[:, 0] + sign * 0.4 * x0[:, 1] ** 2,
            -0.5 * x0[:, 1] + sign * 0.3 * x0[:, 0] * x0[:, 1],
        ],
        1,
    )
    x1 = x0 + a * dt + rng.normal(size=(R, 2)) @ np.sqrt(2 * Dm * dt)
    return np.stack([x0, x1])


def _local_truth(centres: np.ndarray, spacing: np.ndarray, smoothing: float) -> np.ndarray:
    """Exact local C for Gaussian density N(0, S) seen through a Gaussian kernel H.

    The kernel-weighted density is Gaussian (covariance S', mean m'), so the weighted drift
    regression slope is grad A(m') (Stein) and E_w[s s^T] = S^-1 (S' + m' m'^T) S^-1.
    """
    s_inv = np.diag([1.0, 1 / 0.6])
    dm = np.diag([0.5, 0.8])
    h_inv = np.diag(1 / ((smoothing**2 + 1 / 12) * spacing**2))
    sp = np.linalg.inv(s_inv + h_inv)
    m = centres @ (sp @ h_inv).T
    out = np.empty((*centres.shape[:-1], 2, 2))
    jac = np.zeros_like(out)
    jac[..., 0, 0] = -1.0
    jac[..., 0, 1] = 0.8 * m[..., 1]
    jac[..., 1, 0] = 0.3 * m[..., 1]
    jac[..., 1, 1] = -0.5 + 0.3 * m[..., 0]
    mm = sp + m[..., :, None] * m[..., None, :]
    stoch = dm @ s_inv @ mm @ s_inv
    out = 0.5 * (jac + np.swapaxes(jac, -1, -2)) + 0.5 * (stoch + np.swapaxes(stoch, -1, -2))
    return out


def test_local_metric_known_field() -> None:
    lim = [(-2.5, 2.5), (-2.0, 2.0)]
    lm = local_metric(_local_process(1.0, 400_000, 0, 0.2), 0.2, bins=10, limits=lim)
    truth = _local_truth(grid_coordinates(lm.g.shape[:2], lm.spacing, lm.origin), lm.spacing, 1.0)
    inner = (slice(2, -2),) * 2
    scale = np.abs(truth[inner]).max()
    err = lm.g[inner] - truth[inner]
    rms, mx = np.sqrt(np.mean(err**2)), np.abs(err).max()
    assert rms < 0.04 * scale and mx < 0.15 * scale, (rms, mx, scale)
    assert lm.valid[inner].all()
    # control: the same estimator on a process with the opposite nonlinearity misses the field
    other = local_metric(_local_process(-1.0, 400_000, 1, 0.2), 0.2, bins=10, limits=lim)
    rms_c = np.sqrt(np.mean((other.g[inner] - truth[inner]) ** 2))
    assert rms_c > 5 * rms and rms_c > 0.15 * scale


def test_local_metric_is_usable_by_geometry_and_fills_empty_patches() -> None:
    x = _local_process(1.0, 50_000, 2, 0.2)
    lm = local_metric(x, 0.2, bins=8, min_weight=2000.0)
    assert not lm.valid.all() and lm.valid.any()
    assert np.all(np.isfinite(lm.g)) and np.allclose(lm.g, np.swapaxes(lm.g, -1, -2))
    assert np.all(np.isfinite(ricci_scalar(lm.g, lm.spacing)))
    with pytest.raises(ValueError, match="bins"):
        local_metric(x, 0.2, bins=3)
    with pytest.raises(ValueError, match="limits"):
        local_metric(x, 0.2, limits=[(1, 0), (0, 1)])
    with pytest.raises(ValueError, match="smoothing"):
        local_metric(x, 0.2, smoothing=0)
    with pytest.raises(ValueError, match="min_weight"):
        local_metric(x, 0.2, min_weight=1e9)
