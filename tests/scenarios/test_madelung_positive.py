"""The ``madelung`` positive controls: each passes its claim's test where the effect is planted
(at the ``--quick`` sizes, fixed seeds) and fails where it is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import controls
from scenarios.madelung import claims, measures, positive
from scenarios.madelung.arms import SIZES

QUICK = SIZES[True]


def _grid(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grid cells at the quick sizes (values only set the cells' mean and covariance)."""
    frames, models = [], []
    rng = np.random.default_rng(seed)
    for g in QUICK["grid_gamma"]:
        for m in QUICK["grid_M"]:
            arm = f"grid_g{g:g}_M{m}"
            q0 = rng.normal([2.1, -1.35], 0.01, (QUICK["grid_replicas"], 2))
            q = controls.ou_trajectories(
                q0, -0.02, 1e-6, 1.0, QUICK["grid_record"], rng, center=[2.1, -1.35]
            )
            steps = q["step"] + QUICK["grid_burn"]
            frames.append(q.assign(arm=arm, step=steps, step_size=g, batch_size=m))
            models.append(pd.DataFrame({"arm": [arm], "trace_sigma": [8.5e-4]}))
    return pd.concat(frames, ignore_index=True), pd.concat(models, ignore_index=True)


def _sgd_arm(seed: int = 0) -> pd.DataFrame:
    """A relaxing two-coordinate ensemble at the quick sizes of the sgd arm."""
    rng = np.random.default_rng(seed)
    q0 = rng.normal(0.0, 0.003, (QUICK["replicas"], 2)) + 0.01
    B = np.array([[-0.0005, 0.0], [0.0, -0.024]])
    return controls.ou_trajectories(q0, B, 3e-7, 1.0, 100, rng).assign(arm="sgd", step_size=0.1)


def test_fokker_planck_control_recovers_the_planted_diffusion_and_not_a_wrong_one():
    traj, model = _grid()
    res = positive.fokker_planck_positive(traj, model, seed=1)
    assert res["value"] < claims.FOKKER_PLANCK.threshold
    planted, pmodel = positive.planted_grid(traj, model, np.random.default_rng(5), factor=1.5)
    assert planted.groupby("arm")["replica"].nunique().eq(QUICK["grid_replicas"]).all()
    assert planted["step"].min() == QUICK["grid_burn"]
    stats, _ = measures.fokker_planck_grid(planted, pmodel, [])
    assert abs(stats["slope"] - 1.0) > claims.FOKKER_PLANCK.threshold  # wrong diffusion planted


def test_entropy_control_closes_and_its_null_does_not():
    res = positive.entropy_positive(_sgd_arm(), seed=1)
    assert res["value"] < claims.ENTROPY_BUDGET.threshold < res["null"]


def test_madelung_control_recovers_hbar_and_fails_with_a_wrong_potential():
    steps = 100  # the quick sgd arm: 300 replicas, 101 recorded steps
    draws = QUICK["floor_draws"]
    res = positive.madelung_positive(300, steps, 3, draws, 0)  # no bootstrap: value unchanged
    assert res["value"] < claims.MADELUNG.threshold  # seeds 1, 2: 2.04, 1.86 (see the report)
    assert res["hbar"] == pytest.approx(positive.NELSON_HBAR, rel=0.1)
    # the same trajectories with V held at 0 instead of the known quadratic fail the test
    rng, est_seed = positive.control_streams(3, positive.TAGS["madelung"])
    df, _, _ = positive.planted_nelson(300, steps, rng)
    wrong, floor = measures.residual_over_floor(df, lambda x: 0.0 * x, draws, 0, est_seed)
    assert wrong.momentum_residual / np.median(floor) > max(
        claims.MADELUNG.threshold, 3 * res["value"]
    )


def test_controls_use_their_own_streams():
    # new tags, none of the scenario's existing stream literals (teacher redraw 8101, starts
    # 1..7 and 31, shuffle 55, collision null 77, floor 99)
    tags = set(positive.TAGS.values())
    assert len(tags) == 3 and not tags & {*range(1, 8), 31, 55, 77, 99, 8101}
    rng, est = positive.control_streams(1, positive.TAGS["fokker_planck"])
    again, est_again = positive.control_streams(1, positive.TAGS["fokker_planck"])
    assert rng.random() == again.random() and est == est_again
