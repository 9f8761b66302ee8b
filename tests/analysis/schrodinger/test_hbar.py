"""Known-answer tests for analysis.schrodinger.hbar: hbar routes, quantisation, consistency gap."""

from types import SimpleNamespace

import numpy as np
import pytest

from analysis.schrodinger import consistency_gap, hbar_routes, quantization_score


def test_hbar_routes_agree_on_consistent_planted_values():
    rng = np.random.default_rng(0)
    hbar, m = 0.7, 2.0
    kappa = 2 * np.pi * hbar / m
    n = rng.integers(-2, 3, 150)
    gam = n * kappa + rng.normal(0, 0.05 * kappa, 150)
    r = hbar_routes(
        weak_form=SimpleNamespace(hbar_over_m=0.36, hbar_over_m_ci=(0.33, 0.38)),
        diffusion=(hbar / (2 * m), (0.17, 0.18)),
        circulations=gam,
        mu_c=2 * np.pi * hbar,
        mass=m,
    )
    circ = r.table.set_index("route").loc["circulation"]
    assert circ.hbar == pytest.approx(hbar, rel=0.02)
    assert circ.ci_low <= hbar <= circ.ci_high
    assert r.agree and r.weighted_mean == pytest.approx(hbar, rel=0.05)


def test_hbar_routes_disagreement_is_flagged():
    r = hbar_routes(weak_form=(0.70, (0.66, 0.74)), diffusion=(0.10, (0.09, 0.11)), mass=1.0)
    assert not r.agree and r.p_value < 1e-6
    with pytest.raises(ValueError, match="routes"):
        hbar_routes(weak_form=0.7)
    with pytest.raises(ValueError, match="circulations"):
        hbar_routes(weak_form=0.7, circulations=[1.0, np.nan, 2, 3, 4])


def test_quantization_score_planted_vs_controls():
    rng = np.random.default_rng(1)
    mu = 0.3
    n = rng.integers(-3, 4, 300)
    good = quantization_score(n * mu + rng.normal(0, 0.03 * mu, 300), n, mu)
    assert good.quantized and good.rayleigh > 0.9 and good.r2 > 0.99
    assert good.slope_ci[0] <= 1 <= good.slope_ci[1]
    assert good.rayleigh > 10 * good.rayleigh_null
    # continuous values, same counts: no quantisation
    cont = quantization_score(rng.uniform(-1, 1, 300), n, mu)
    assert not cont.quantized and cont.rayleigh < 3 * cont.rayleigh_null
    # fixed-N control: every loop has counts == 0 and values ~ 0; nothing may count
    fixed = quantization_score(rng.normal(0, 1e-3, 300), np.zeros(300, int), mu)
    assert not fixed.quantized and fixed.n_loops == 0 and fixed.n_excluded == 300
    # zero-count loops mixed with random ones must not lift the score
    vals = np.concatenate([np.zeros(500), rng.uniform(-1, 1, 50)])
    cnt = np.concatenate([np.zeros(500, int), rng.integers(1, 3, 50)])
    mix = quantization_score(vals, cnt, mu)
    assert mix.n_loops == 50 and not mix.quantized
    # a given control (counts shuffled) scores worse than the data
    ctrl = quantization_score(
        n * mu + rng.normal(0, 0.03 * mu, 300), n, mu, control=(n * mu, rng.permutation(n))
    )
    assert abs(ctrl.control_slope - 1) > abs(ctrl.slope - 1)


def test_quantization_score_bad_input():
    with pytest.raises(ValueError, match="counts"):
        quantization_score([1.0, 2.0], [1, 2, 3], 1.0)
    with pytest.raises(ValueError, match="counts"):
        quantization_score([1.0, 2.0], [1.5, 2], 1.0)
    with pytest.raises(ValueError, match="values"):
        quantization_score([np.nan, 2.0], [1, 2], 1.0)
    with pytest.raises(ValueError, match="unit"):
        quantization_score([1.0, 2.0], [1, 2], 0.0)


def test_consistency_gap():
    assert consistency_gap(1.0, 2 * np.pi) == pytest.approx(0.0)
    assert consistency_gap(SimpleNamespace(hbar_over_m=0.5), -4 * np.pi, mass=2.0) == (
        pytest.approx(-0.5)
    )
    with pytest.raises(ValueError, match="mass"):
        consistency_gap(SimpleNamespace(hbar_over_m=0.5), 1.0)
    with pytest.raises(ValueError, match="mu_c"):
        consistency_gap(1.0, 0.0)
