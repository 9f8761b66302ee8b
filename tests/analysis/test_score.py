"""Known-answer tests for analysis.score: Gaussian and quartic double-well densities."""

import numpy as np
import pytest

from analysis.score import fit_score

COV = np.array([[1.0, 0.6], [0.6, 0.5]])
MU = np.array([1.0, -2.0])


def _gaussian(n: int = 2000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).multivariate_normal(MU, COV, size=n)


def _double_well(n: int = 3000, seed: int = 1) -> np.ndarray:
    """Exact samples of p(x) ~ exp(-x^4 + x^2) by inverse CDF on a fine grid."""
    grid = np.linspace(-3.0, 3.0, 200_001)
    logp = -(grid**4) + grid**2
    cdf = np.cumsum(np.exp(logp - logp.max()))
    cdf /= cdf[-1]
    return np.interp(np.random.default_rng(seed).random(n), cdf, grid)[:, None]


def _rel_l2(est: np.ndarray, exact: np.ndarray) -> float:
    return float(np.sqrt(np.sum((est - exact) ** 2) / np.sum(exact**2)))


def _bulk(x: np.ndarray, mu: np.ndarray, cov: np.ndarray, radius: float = 2.0) -> np.ndarray:
    d = x - mu
    return np.einsum("nd,de,ne->n", d, np.linalg.inv(cov), d) < radius**2


@pytest.mark.parametrize(
    ("method", "tol"), [("gaussian", 0.05), ("sm2", 0.05), ("sm3", 0.08), ("sm4", 0.10)]
)
def test_gaussian_2d_score_and_laplacian(method, tol):
    x = _gaussian()
    model = fit_score(x, method)
    s, lap = model.score_and_laplacian(x)
    prec = np.linalg.inv(COV)
    exact = -(x - MU) @ prec
    bulk = _bulk(x, MU, COV)
    assert _rel_l2(s[bulk], exact[bulk]) < tol
    assert abs(np.mean(lap[bulk]) / -np.trace(prec) - 1) < tol


def test_kde_gaussian_2d_oversmoothed_known_bias_and_control():
    x = _gaussian()
    bulk = _bulk(x, MU, COV)
    errs = {}
    for factor in (2.0, 1.0, 0.25):
        model = fit_score(x, "kde", bandwidth=factor)
        # a Gaussian KDE of a Gaussian is (for large n) the Gaussian with covariance
        # (1 + h^2) Sigma, h the whitened bandwidth: its score is the known answer
        smoothed = -(x - MU) @ np.linalg.inv((1 + model.bandwidth**2) * COV)
        errs[factor] = _rel_l2(model.score(x)[bulk], smoothed[bulk])
    assert errs[2.0] < 0.10
    # control: a quarter of Scott's bandwidth is far worse in 2-D at n = 2000
    # (docs/methods.md#score-estimation)
    assert errs[0.25] > 3 * errs[2.0]


def test_double_well_sm4_recovers_and_sm2_fails():
    x = _double_well()
    exact = -4 * x**3 + 2 * x
    lap_exact = (-12 * x**2 + 2)[:, 0]
    bulk = np.abs(x[:, 0]) < 1.3
    s4, l4 = fit_score(x, "sm4").score_and_laplacian(x)
    err4 = _rel_l2(s4[bulk], exact[bulk])
    assert err4 < 0.08
    assert _rel_l2(l4[bulk], lap_exact[bulk]) < 0.12
    # control: the Gaussian (degree-2) model cannot represent the double well
    err2 = _rel_l2(fit_score(x, "sm2").score(x)[bulk], exact[bulk])
    assert err2 > 0.5
    assert err2 > 5 * err4


def test_kde_leave_one_out_differs_from_off_sample_points():
    x = _double_well(n=500)
    model = fit_score(x, "kde", bandwidth=1.0)
    at_samples = model.score(x[:5])
    nudged = model.score(x[:5] + 1e-3)  # self-term included there
    assert not np.allclose(at_samples, nudged, atol=1e-3)


def test_one_d_input_and_translation_equivariance():
    x = _double_well(n=2000)
    a = fit_score(x[:, 0], "sm4")
    b = fit_score(x + 5.0, "sm4")
    pts = np.linspace(-1, 1, 7)[:, None]
    np.testing.assert_allclose(a.score(pts), b.score(pts + 5.0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.laplacian(pts), b.laplacian(pts + 5.0), rtol=1e-6, atol=1e-8)


def test_four_dimensional_sm4_gaussian():
    rng = np.random.default_rng(3)
    cov = np.diag([1.0, 2.0, 0.5, 0.3])
    x = rng.multivariate_normal(np.zeros(4), cov, size=4000)
    s = fit_score(x, "sm4").score(x)
    exact = -x @ np.linalg.inv(cov)
    bulk = _bulk(x, np.zeros(4), cov)
    assert _rel_l2(s[bulk], exact[bulk]) < 0.15


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "sm5"}, "method"),
        ({"method": "kde", "bandwidth": 0.0}, "bandwidth"),
        ({"method": "sm4", "bandwidth": 1.0}, "bandwidth"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_score(_gaussian(200), **kwargs)


def test_bad_samples():
    x = _gaussian(200)
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="samples: 1 NaN"):
        fit_score(x)
    with pytest.raises(ValueError, match="samples: 20 rows"):
        fit_score(_gaussian(20), "sm4")
    with pytest.raises(ValueError, match="singular covariance"):
        fit_score(np.ones((100, 2)), "sm2")
    with pytest.raises(ValueError, match="samples: array of shape"):
        fit_score(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="points: 3 coordinate"):
        fit_score(_gaussian(200), "sm2").score(np.zeros((4, 3)))
