"""A4: the real-time null of the neuron-particle picture (it is imaginary time).

A displaced population relaxes with no extremum beyond 6 standard errors in every arm
(fixed N, clone/kill, entropy-aware and shuffled births, pure branching), while a planted
damped oscillation with the same noise is flagged; two packets that meet under clone/kill
births at a fixed ``mu_c`` add up: the joint run's histograms against the sum of the separate
runs give chi2/dof in [0.8, 1.25], while a planted 20 % interference term is flagged. The arms
are the scenario's own (:mod:`scenarios.particles.arms`), run through :func:`runner.run_arm`
at the full size (10 000 particles, 1500 steps).
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from functools import partial

import numpy as np
import pandas as pd
import pytest

from runner import concat_arms, run_arm
from scenarios.particles.arms import _build, arm_config, arm_settings, default_config, particles_of
from scenarios.particles.measures import (
    collision_chi2,
    measure_collision,
    measure_realtime,
    realtime_extremum,
)

STEPS = 1500


@functools.cache
def realtime_tables(seed: int) -> dict[str, pd.DataFrame]:
    base = default_config(False).replace(seed=seed)
    settings = [s for s in arm_settings(False) if s.family in ("realtime", "collision")]
    per_arm = []
    for i, s in enumerate(settings):
        n = min(STEPS, 400) if s.family == "collision" else STEPS
        build = partial(_build, arm_config(base, s, 100 + i), s)
        per_arm.append(particles_of(run_arm(s.arm, build, n), s.arm))
    tables = concat_arms(per_arm)
    tables["arms"] = pd.DataFrame([asdict(s) for s in settings])
    return tables


def test_six_se_rule_flags_an_oscillation_and_passes_a_relaxation() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(0, STEPS + 1, 10.0)
    noise = 0.004 * rng.standard_normal((2, t.size))
    assert realtime_extremum(0.8 * 0.99**t + noise[0]) < 6
    assert realtime_extremum(0.8 * np.exp(-0.01 * t) * np.cos(0.03 * t) + noise[1]) > 6


def test_chi2_of_independent_sums_is_near_one() -> None:
    rng = np.random.default_rng(4)
    lam = rng.uniform(20, 200, 300)
    left, right = rng.poisson(lam, (16, 300)), rng.poisson(lam, (16, 300))
    both = rng.poisson(2 * lam, (16, 300))
    chi2, dof = collision_chi2(both, left, right)
    assert dof == 300
    assert 0.8 < chi2 / dof < 1.25


@pytest.mark.slow
def test_a4_displaced_arms_relax_without_a_significant_extremum() -> None:
    rt = measure_realtime(realtime_tables(5), seed=5)
    print("MEASURED A4 6-SE statistic per arm:", {k: round(v, 2) for k, v in rt.items()})
    arms = [k for k in rt if k.startswith("displaced_")]
    assert len(arms) == 5
    for arm in arms:
        assert rt[arm] < 6, arm
    assert rt["control"] > 6
    assert rt["positive"] < 6


@pytest.mark.slow
def test_a4_colliding_packets_add_up_without_interference() -> None:
    col = measure_collision(realtime_tables(5))
    print(
        f"MEASURED A4 collision chi2/dof {col['ratio']:.3f} (dof {col['dof']:.0f}; predicted 1, "
        f"accepted [0.8, 1.25]); planted interference {col['control']:.2f}; replica halves "
        f"{col['positive']:.3f}"
    )
    assert 0.8 <= col["ratio"] <= 1.25
    assert col["control"] > 1.25
    assert 0.8 <= col["positive"] <= 1.25
