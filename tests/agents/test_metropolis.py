"""The penalty method: with a noisy Delta F estimated from n samples, the penalised rule keeps
the stationary distribution exp(-beta (F(N) - mu N)); the plain rule (the control) does not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from agents.metropolis import acceptance, noise_penalty

LEVELS = np.arange(6)
F = 0.4 * np.array([0.0, 1.0, 0.5, 2.0, 1.0, 1.5])  # an arbitrary F(N), units of 1/beta


def noisy_chain(penalty: bool, chains: int = 8000, steps: int = 300, sd: float = 4.0, n: int = 16):
    """Final N of ``chains`` independent chains on LEVELS with +-1 proposals; Delta F is the
    mean of n samples N(Delta F, sd^2) (sd / sqrt(n) = 1: noise of order 1/beta) and its
    variance is estimated from the same samples."""
    rng = np.random.default_rng(7)
    beta, mu = 1.0, 0.0
    N = rng.integers(0, LEVELS.size, chains)
    for _ in range(steps):
        dn = np.where(rng.random(chains) < 0.5, 1, -1)
        new = N + dn
        ok = (new >= 0) & (new < LEVELS.size)
        true = np.where(ok, F[np.clip(new, 0, LEVELS.size - 1)] - F[N], 0.0)
        samples = true[:, None] + sd * rng.standard_normal((chains, n))
        est = samples.mean(axis=1)
        var = samples.var(axis=1, ddof=1) / n if penalty else 0.0
        p = acceptance(est, dn, beta, mu, var, n)
        move = ok & (rng.random(chains) < p)
        N = np.where(move, new, N)
    counts = np.bincount(N, minlength=LEVELS.size)
    want = np.exp(-beta * F)
    want /= want.sum()
    return counts, stats.chisquare(counts, want * chains).pvalue


def test_penalised_rule_samples_the_boltzmann_distribution_of_n():
    counts, p = noisy_chain(penalty=True)
    assert p > 0.01, (counts, p)


def test_plain_rule_with_the_same_noise_fails_the_chi_square():
    counts, p = noisy_chain(penalty=False)
    assert p < 1e-3, (counts, p)


def test_penalty_is_the_gaussian_correction_for_a_known_variance():
    # for Gaussian noise of variance v: E[min(1, exp(-d - v/2))] satisfies detailed balance;
    # check the ratio of forward to backward mean acceptance equals exp(-Delta) exactly
    rng = np.random.default_rng(3)
    delta, v = 0.7, 2.0
    noise = np.sqrt(v) * rng.standard_normal(2_000_000)
    fwd = np.minimum(1.0, np.exp(-(delta + noise) - v / 2)).mean()
    bwd = np.minimum(1.0, np.exp(-(-delta + noise) - v / 2)).mean()
    assert fwd / bwd == pytest.approx(np.exp(-delta), rel=5e-3)
    plain = np.minimum(1.0, np.exp(-(delta + noise))).mean()
    plain_b = np.minimum(1.0, np.exp(-(-delta + noise))).mean()
    assert abs(plain / plain_b - np.exp(-delta)) > 0.05  # the control


def test_penalty_rejects_too_few_samples_and_is_zero_without_noise():
    assert float(noise_penalty(0.0, 2)) == 0.0
    with pytest.raises(ValueError, match="n: 1; expected an integer >= 2"):
        noise_penalty(1.0, 1)
