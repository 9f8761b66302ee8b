"""Known-answer tests (with failing controls) for analysis.spacetime.signature."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import solve_discrete_lyapunov

from analysis.spacetime import (
    entropy_production_tensor,
    signature_from_intervals,
    signature_test,
    tensor_signature,
)


def test_tensor_signature_constructed() -> None:
    rng = np.random.default_rng(0)
    for D in (1, 2, 3, 4):
        a = rng.normal(size=(D + 1, D + 1)) + 3 * np.eye(D + 1)  # random coordinates
        lor = a.T @ np.diag([-0.7] + [1.0] * D) @ a
        pos = a.T @ np.diag([0.7] + [1.0] * D) @ a
        assert tensor_signature(lor) == (1, 0, D)
        assert tensor_signature(pos) == (0, 0, D + 1)
        assert tensor_signature(lor, reference=pos) == (1, 0, D)  # Sylvester
    # control: two destroyed directions are not Lorentzian
    assert tensor_signature(np.diag([-1.0, -0.5, 1.0, 1.0])) == (2, 0, 2)
    with pytest.raises(ValueError, match="symmetric"):
        tensor_signature(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        tensor_signature(np.ones((2, 3)))
    assert signature_from_intervals(np.array([[-1, -0.5], [-0.1, 0.1], [0.2, 0.3]])) == (1, 1, 1)


def _euler_ou(
    K: np.ndarray, D: float, S0: np.ndarray, T: int, R: int, dt: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Euler-Maruyama ensemble of dX = -K X dt + sqrt(2D) dW and its exact covariances."""
    rng = np.random.default_rng(seed)
    d = len(K)
    F = np.eye(d) - K * dt
    x = np.empty((T, R, d))
    x[0] = rng.normal(size=(R, d)) @ np.linalg.cholesky(S0).T
    S = np.empty((T, d, d))
    S[0] = S0
    for t in range(T - 1):
        x[t + 1] = x[t] @ F.T + np.sqrt(2 * D * dt) * rng.normal(size=(R, d))
        S[t + 1] = F @ S[t] @ F.T + 2 * D * dt * np.eye(d)
    return x, S


def _rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


def _analytic_c(K: np.ndarray, D: float, S: np.ndarray) -> np.ndarray:
    """C = -sym(K) + sym(D S^{-1}) averaged over the ensembles S[t] (increments from t)."""
    sinv = np.linalg.inv(S[:-1]).mean(axis=0)
    return -0.5 * (K + K.T) + D * sinv


def test_entropy_production_ou_transient_known_answer() -> None:
    # one strongly contracting direction (destroys entropy) and two slowly relaxing ones that
    # still spread (produce). Exact: E[grad A] = -K, E[s s^T] = S(t)^{-1}, C = -K + D S^{-1}.
    q = _rotation(3, 1)
    K = q @ np.diag([3.0, 0.2, 0.1]) @ q.T
    D, dt = 0.5, 0.01
    x, S = _euler_ou(K, D, np.eye(3), T=31, R=4000, dt=dt, seed=2)
    truth = _analytic_c(K, D, S)
    pt = entropy_production_tensor(x, dt, reference="identity", bootstrap=100, seed=0)
    err = np.abs(pt.C - truth).max()
    assert err < 0.15, (err, pt.C, truth)
    np.testing.assert_allclose(pt.drift_jacobian, -K, atol=0.15)
    np.testing.assert_allclose(pt.diffusion, D * np.eye(3), atol=0.01)
    lam_true = np.linalg.eigvalsh(truth)
    assert lam_true[0] < -1.0 and lam_true[1] > 0.25
    np.testing.assert_allclose(pt.eigenvalues, lam_true, atol=0.15)
    assert np.all(
        (pt.eigenvalue_ci[:, 0] <= lam_true + 0.05) & (lam_true - 0.05 <= pt.eigenvalue_ci[:, 1])
    )
    assert pt.signature == (1, 0, 2) and pt.lorentzian
    assert pt.timelike_stability > 0.9
    # the trace is the entropy production: 1/2 d ln det S / dt of the Gaussian ensemble,
    # computed independently of the C formula
    logdet = np.linalg.slogdet(S)[1]
    ds_dt = 0.5 * np.mean(np.diff(logdet)) / dt
    assert abs(pt.entropy_production - ds_dt) < 0.15, (pt.entropy_production, ds_dt)
    assert pt.learning_rate < 0 < pt.stochastic_rate
    # the generalized (diffusion-whitened) eigenproblem gives the same inertia
    assert entropy_production_tensor(x, dt, bootstrap=100).signature == (1, 0, 2)


def test_entropy_production_ou_controls() -> None:
    q = _rotation(3, 4)
    K = q @ np.diag([3.0, 0.2, 0.1]) @ q.T
    D, dt = 0.5, 0.01
    # stationary ensemble (exact Euler stationary covariance): C = 0 up to O(K dt)
    F = np.eye(3) - K * dt
    s_inf = solve_discrete_lyapunov(F, 2 * D * dt * np.eye(3))
    x, S = _euler_ou(K, D, s_inf, T=31, R=4000, dt=dt, seed=5)
    truth = _analytic_c(K, D, S)
    assert np.abs(truth).max() < 0.05
    pt = entropy_production_tensor(x, dt, reference="identity", bootstrap=100)
    assert np.abs(pt.C - truth).max() < 0.15
    assert not pt.lorentzian  # control: no destroyed direction is detected
    assert np.all(np.abs(pt.eigenvalues) < 0.2)
    lo, hi = pt.entropy_production_ci
    assert lo < np.trace(truth) < hi  # the stationary ensemble produces no net entropy
    # every direction spreading from a narrow start: positive definite, (0, 0, 3)
    x, S = _euler_ou(K, D, 0.05 * np.eye(3), T=31, R=4000, dt=dt, seed=6)
    pt = entropy_production_tensor(x, dt, bootstrap=100)
    assert pt.signature == (0, 0, 3)
    assert np.abs(pt.C - _analytic_c(K, D, S)).max() < 0.2 * np.abs(_analytic_c(K, D, S)).max()


def test_stationary_current_gives_indefinite_traceless_form() -> None:
    # a caveat of the statistic, measured: a stationary non-equilibrium OU (non-normal K) has
    # C = -sym(K) + sym(D S^-1) traceless but indefinite, exactly (-1/sqrt 2, +1/sqrt 2) here
    K = np.array([[1.0, 2.0], [0.0, 1.0]])
    dt = 0.01
    F = np.eye(2) - K * dt
    s_inf = solve_discrete_lyapunov(F, 2 * dt * np.eye(2))
    x, S = _euler_ou(K, 1.0, s_inf, T=31, R=4000, dt=dt, seed=12)
    truth = _analytic_c(K, 1.0, S)
    np.testing.assert_allclose(np.linalg.eigvalsh(truth), [-0.7071, 0.7071], atol=0.02)
    pt = entropy_production_tensor(x, dt, reference="identity", bootstrap=100)
    np.testing.assert_allclose(pt.eigenvalues, np.linalg.eigvalsh(truth), atol=0.15)
    assert pt.signature == (1, 0, 1)  # "Lorentzian" without learning ...
    # ... but next to no net entropy production (exact trace -0.02 for the Euler chain): the
    # trace is small compared with the eigenvalues (seed-to-seed spread of the trace ~0.05)
    assert abs(pt.entropy_production - np.trace(truth)) < 0.15
    assert abs(pt.entropy_production) < 0.25 * np.abs(pt.eigenvalues).max()
    # control: the transient contracting ensemble has a trace interval excluding 0
    x2, _ = _euler_ou(np.diag([3.0, 0.1]), 1.0, np.diag([1.0, 3.0]), T=31, R=4000, dt=dt, seed=13)
    pt2 = entropy_production_tensor(x2, dt, bootstrap=100)
    assert pt2.entropy_production_ci[1] < 0
    assert abs(pt2.entropy_production) > 0.5 * np.abs(pt2.eigenvalues).max()


def test_entropy_production_quadratic_drift_and_score_methods() -> None:
    q = _rotation(2, 7)
    K = q @ np.diag([3.0, 0.1]) @ q.T
    x, S = _euler_ou(K, 0.5, np.eye(2), T=21, R=3000, dt=0.01, seed=8)
    truth = _analytic_c(K, 0.5, S)
    quad = entropy_production_tensor(x, 0.01, drift="quadratic", bootstrap=0)
    assert np.abs(quad.C - truth).max() < 0.2
    sm = entropy_production_tensor(x[:6], 0.01, score="sm2", bootstrap=0, reference="identity")
    gauss = entropy_production_tensor(x[:6], 0.01, bootstrap=0, reference="identity")
    np.testing.assert_allclose(sm.score_moment, gauss.score_moment, rtol=0.05, atol=0.02)


def test_signature_test_on_versus_off() -> None:
    q = _rotation(3, 9)
    K_on = q @ np.diag([3.0, 0.2, 0.1]) @ q.T
    x_on, _ = _euler_ou(K_on, 0.5, np.eye(3), T=21, R=3000, dt=0.01, seed=10)
    x_off, _ = _euler_ou(np.zeros((3, 3)), 0.5, np.eye(3), T=21, R=3000, dt=0.01, seed=11)
    res = signature_test(x_on, x_off, dt=0.01, bootstrap=60)
    assert res.lorentzian_on and res.negative_off == 0 and res.supports_claim
    # control: swapping the roles must not support the claim
    swapped = signature_test(x_off, x_on, dt=0.01, bootstrap=60)
    assert not swapped.supports_claim


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dt": 0.0}, "dt"),
        ({"drift": "cubic"}, "drift"),
        ({"bootstrap": 5}, "bootstrap"),
        ({"window": (3, 2)}, "window"),
        ({"reference": "euclid"}, "reference"),
        ({"level": 1.5}, "level"),
        ({"score": 3}, "score"),
    ],
)
def test_entropy_production_bad_input(kwargs: dict, match: str) -> None:
    x = np.random.default_rng(0).normal(size=(5, 50, 2))
    with pytest.raises(ValueError, match=match):
        entropy_production_tensor(x, **kwargs)


def test_entropy_production_bad_data() -> None:
    x = np.random.default_rng(0).normal(size=(5, 50, 2))
    bad = x.copy()
    bad[2, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        entropy_production_tensor(bad)
    with pytest.raises(ValueError, match="step"):
        entropy_production_tensor(x[:1])
    with pytest.raises(ValueError, match="replicas"):
        entropy_production_tensor(x[:, :4])
    with pytest.raises(ValueError, match="expected"):
        entropy_production_tensor(x[:, :, 0])
