"""Coverage of the gravity-side intervals: each CI covers a planted known value.

Every statistic of ``spacetime`` and ``duality`` is run through its own interval procedure on
20 synthetic replicates with a known value; the interval must cover it in at least 17 of 20
(85 %). The fast ones build the statistic's inputs directly (per-target Lambda replicas,
per-path chi^2, per-time prediction errors, per-replica Einstein residual contributions through
:func:`scenarios.spacetime.claims.einstein_equations` with its ensemble fit stubbed); the slow
ones go through the ensemble estimator (Lorentz margin) and the spectrum (dispersion fraction:
:func:`analysis.spacetime.dispersion` on a planted field of known modes, with the claim's
replica resamples and percentile interval).
"""

from types import SimpleNamespace

import numpy as np
import pytest

from analysis.spacetime import dispersion, relative_margin, signature_test, signed_correlation
from scenarios.duality import measures
from scenarios.spacetime import claims

REPLICATES = 20
MIN_HITS = 17  # 85 % of 20


def _ar1(rng: np.random.Generator, n: int, phi: float, scale: float) -> np.ndarray:
    x = np.empty(n)
    x[0] = rng.normal() * scale / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + scale * rng.normal()
    return x


def test_lambda_correlation_interval_covers_the_planted_r():
    """Per-target Lambda = mean of 64 replica values around planted means (r = 0.967 with N);
    the resamples redraw the replicas of every target, as the scenario's do."""
    n = np.array([12.0, 16.0, 20.0, 24.0])
    mu = np.array([0.0, 1.0, 1.2, 2.5])
    truth = float(signed_correlation(n, mu))
    hits = 0
    for rep in range(REPLICATES):
        rng = np.random.default_rng(rep)
        vals = mu[:, None] + 1.5 * rng.normal(size=(4, 64))
        boot = np.stack([vals[j, rng.integers(0, 64, (80, 64))].mean(axis=1) for j in range(4)])
        _, lo, hi, r = claims.lambda_correlation(n, vals.mean(axis=1), boot)
        lo_r, hi_r = (lo, hi) if r >= 0 else (-hi, -lo)  # back to the signed r
        hits += lo_r <= truth <= hi_r
    assert hits >= MIN_HITS, hits


def test_geodesic_score_interval_covers_the_planted_score():
    """Four paths whose chi^2/dof scatter as chi^2_dof / dof around a planted noise scale 1.5
    (metric) and 10 (straight lines): the log score is ln max(1.5 / 2, 0.15 / 0.5)."""
    d, ns = 4, np.array([21, 21, 21, 21])
    dof = ns * d - 2 * d
    truth = np.log(max(1.5 / claims.GEODESIC_CHI2_MAX, 0.15 / claims.GEODESIC_RATIO_MAX))
    hits = 0
    for rep in range(REPLICATES):
        rng = np.random.default_rng(100 + rep)
        geo = SimpleNamespace(
            per_path=1.5 * rng.chisquare(dof) / dof,
            per_path_flat=10.0 * rng.chisquare(dof) / dof,
            n_samples=ns,
        )
        _, lo, hi = claims.geodesic_score(geo, d, rep)
        hits += lo <= truth <= hi
    assert hits >= MIN_HITS, hits


def test_duality_interval_covers_the_planted_ratio():
    """Prediction errors over 11 evaluation times, lognormal with AR(1) dependence (lag-1
    0.3) around planted medians 1 (Schrödinger) and e^0.7 (frozen); the paths' ratios sit far
    below: the statistic's planted value is e^-0.7, read through the moving-block resamples."""
    truth = np.exp(-0.7)
    hits = 0
    for rep in range(REPLICATES):
        rng = np.random.default_rng(200 + rep)
        rs = np.exp(_ar1(rng, 11, 0.3, 0.3))
        rf = np.exp(0.7 + _ar1(rng, 11, 0.3, 0.3))
        chi = np.exp(-1.5 + 0.3 * rng.normal(size=4))
        boots = measures._boot_statistic(rs, rf, chi, np.ones(4), rep)
        level = measures.CI_LEVEL
        lo, hi = np.percentile(boots[2], [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
        hits += lo <= truth <= hi
    assert hits >= MIN_HITS, hits


def _ou(T: int, R: int, rate: list[float], s0: np.ndarray, seed: int, dt: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.empty((T, R, len(rate)))
    x[0] = rng.normal(size=(R, len(rate))) * s0
    kick = np.sqrt(2 * 0.5 * dt)
    for t in range(T - 1):
        x[t + 1] = x[t] - dt * np.array(rate) * x[t] + kick * rng.normal(size=x[t].shape)
    return x


@pytest.mark.slow
def test_relative_lorentz_margin_interval_covers_the_large_sample_value():
    """One contracting and three freely spreading axes (distinct start widths, so the spectrum
    is not degenerate) against free diffusion: the planted value is the margin of 8192
    replicas; 128-replica runs with 100 joint resamples must cover it.

    With three equal spreading axes (the scenario's positive control) the smallest of them is
    biased low at 128 replicas (margin 0.2 against 0.33): conservative, reported in the docs."""
    dt, T = 0.02, 100
    on_rate, on_s0 = [5.0, 0.0, 0.0, 0.0], np.array([1.0, 0.6, 1.0, 1.6])
    off_rate, off_s0 = [0.0] * 4, np.array([0.6, 1.0, 1.4, 1.8])
    big = signature_test(
        _ou(T, 8192, on_rate, on_s0, 999, dt), _ou(T, 8192, off_rate, off_s0, 998, dt), dt,
        bootstrap=0,
    )  # fmt: skip
    truth = float(relative_margin(big.on.eigenvalues, big.off.eigenvalues))
    hits = 0
    for rep in range(REPLICATES):
        on = _ou(T, 128, on_rate, on_s0, 2 * rep, dt)
        off = _ou(T, 128, off_rate, off_s0, 2 * rep + 1, dt)
        res = signature_test(on, off, dt, bootstrap=100, level=0.99, seed=rep)
        _, lo, hi = claims.relative_lorentz_margin(res.on, res.off)
        hits += lo <= truth <= hi
    assert hits >= MIN_HITS, (hits, truth)


def _einstein_stub(X, limits, min_weight, seed):
    """Ensemble fit whose ln residual ratio is the mean of the replicas' values in ``X[..., 0]``."""
    fit = SimpleNamespace(
        Lambda=0.0,
        kappa=1.0,
        residual=float(np.exp(np.mean(X[..., 0]))),
        residual_control=1.0,
        condition=1.0,
        trace_residual=0.0,
    )
    return {"fit": fit}


def test_einstein_ratio_interval_covers_the_planted_ln_ratio(monkeypatch):
    """64 replicas with skewed (centred exponential, sd 0.5) contributions around a planted ln
    residual ratio of -1.2; the ensemble fit is stubbed to the mean of the replicas'
    contributions, so :func:`claims.einstein_equations` resamples the replicas and refits
    (``EINSTEIN_BOOTSTRAP`` = 20 resamples) as the scenario does. Measured: 19 of 20 here;
    0.90 over 200 replicates (0.84 with 128 replicas), below the nominal 0.95 as a
    percentile interval of 20 resamples is."""
    monkeypatch.setattr(claims, "_einstein", _einstein_stub)
    shape = (6, 6, 6, 6)
    g = np.broadcast_to(np.diag([-1.0, 1.0, 1.0, 1.0]), (*shape, 4, 4))
    lm = SimpleNamespace(g=g, valid=np.ones(shape, dtype=bool))
    truth = -1.2
    hits = 0
    for rep in range(REPLICATES):
        rng = np.random.default_rng(300 + rep)
        X = np.zeros((8, 64, 4))
        X[..., 0] = truth + 0.5 * (rng.exponential(size=64) - 1.0)
        run = SimpleNamespace(
            seed=rep,
            X_on=X,
            effort={"min_weight": 1.0, "einstein_bootstrap": claims.EINSTEIN_BOOTSTRAP},
        )
        metric = {"lm": lm, "gpoly": g, "fit": _einstein_stub(X, None, 1.0, rep)["fit"]}
        v = claims.einstein_equations(run, np.zeros((4, 2)), metric).verdict
        hits += v.ci_low <= truth <= v.ci_high
    assert hits >= MIN_HITS, hits


# planted modes of the dispersion field: damped oscillators (AR(2), radius RADIUS, frequency
# FREQ) at wavenumbers 1-5 and 8, relaxing modes (AR(1), 0.8) at 6 and 7
FREQ = np.array([0.6, 0.8, 1.0, 1.2, 1.4, 0.0, 0.0, 0.9])
RADIUS = np.array([0.97, 0.95, 0.9, 0.85, 0.75, 0.0, 0.0, 0.6])


def _mode_field(R: int, seed: int, T: int = 256, N: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    nk = FREQ.size
    osc = (FREQ > 0)[:, None]
    a1, a2 = (2 * RADIUS * np.cos(FREQ))[:, None], (-(RADIUS**2))[:, None]
    a = np.zeros((T, R, nk, 2))
    e = rng.normal(size=a.shape)
    for t in range(2, T):
        a[t] = np.where(osc, a1 * a[t - 1] + a2 * a[t - 2], 0.8 * a[t - 1]) + e[t]
    kx = np.outer(2 * np.pi * np.arange(1, nk + 1) / N, np.arange(N))
    f = np.einsum("trk,kn->trn", a[..., 0], np.cos(kx))
    f += np.einsum("trk,kn->trn", a[..., 1], np.sin(kx))
    return f + 0.5 * rng.normal(size=f.shape)


@pytest.mark.slow
def test_dispersion_fraction_interval_covers_the_planted_fraction():
    """32 neurons on a line carry eight planted plane-wave modes: five sharp damped oscillators
    (propagating peaks), two relaxing modes and one broad oscillator (radius 0.6) whose peak
    stands below the ratio cut (1.6 against 2 at 1024 replicas; some replica resamples lift it
    over). The planted fraction is 5/8, checked on 1024 replicas; 32-replica runs with the
    claim's resamples (``DISPERSION_BOOTSTRAP`` replica resamples, salt 3) and percentile
    interval, widened to the point as the verdict does, must cover it (measured: 20 of 20;
    a planted 6/8 is covered 5 times).

    With a broader peak nearer the cut (radius 0.65, ratio 1.9) the 32-replica fraction is
    biased up (6/8 in 9 of 20 runs): the peak-to-floor ratio of a noisy spectrum is inflated
    at few replicas."""
    emb = np.arange(32, dtype=float)[:, None]
    big = dispersion(_mode_field(1024, 999), emb, segments=4)
    truth = float(big.propagating.mean())
    assert truth == 5 / 8, big.propagating
    hits = 0
    for rep in range(REPLICATES):
        f = _mode_field(32, rep)
        frac = float(dispersion(f, emb, segments=4).propagating.mean())
        boots = [
            float(dispersion(f[:, idx], emb, segments=4).propagating.mean())
            for idx in claims._boot_indices(32, claims.DISPERSION_BOOTSTRAP, rep, 3)
        ]
        lo, hi = claims._ci(np.array(boots), frac)
        hits += min(lo, frac) <= truth <= max(hi, frac)
    assert hits >= MIN_HITS, hits
