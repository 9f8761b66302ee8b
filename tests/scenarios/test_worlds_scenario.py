"""The ``worlds`` scenario: its contract, its labels and one quick run (slow).

Every output says "coupling put in by hand": the claims (name and statistic), the summary and
its notes, the figure titles. The quick run decides every claim with its positive control
passing, and the decoherence budget has at least 5 frictions x 3 temperatures with intervals.
The budget runs through the sweep runner (one sweep folder per noise source, one run per grid
point of momentum, batch_size and step_size and per seed), its folders read back give the same
rows, and the same seed gives the same bits serially and on a process pool (slow).
"""

from __future__ import annotations

import inspect

import pandas as pd
import pytest

from analysis.verdicts import VERDICT_COLUMNS
from scenarios.worlds import CLAIMS, HAND, SCENARIO, run
from scenarios.worlds.budget import (
    FRICTIONS,
    TEMPERATURES,
    budget_points,
    budget_tables,
    run_budget,
)
from scenarios.worlds.figures import figures
from scenarios.worlds.measures import boundary, budget_cells


def test_every_claim_says_coupling_put_in_by_hand():
    assert HAND == "coupling put in by hand"
    for claim in CLAIMS:
        assert HAND in claim.name and HAND in claim.statistic
        assert claim.positive_control and claim.control and claim.scenario == "worlds"


def test_every_figure_title_says_coupling_put_in_by_hand():
    source = inspect.getsource(figures)
    titles = [line for line in source.splitlines() if "set_title(" in line or "suptitle(" in line]
    assert len(titles) == 4 and all("{HAND}" in line for line in titles)


def test_budget_grid_size():
    assert len(FRICTIONS) >= 5 and len([t for t in TEMPERATURES if t > 0]) >= 3
    for quick, gammas in ((True, 1), (False, 2)):
        points = budget_points(quick)
        assert len(points["none"]) == len(FRICTIONS) * gammas
        assert len(points["sgd"]) >= len(FRICTIONS) * 2 * gammas
        assert len(points["explicit"]) == 1
        # the grid keys are the config fields the sweep runner sets: beta, M, gamma
        assert {k for p in points["sgd"] for k in p} == {"momentum", "batch_size", "step_size"}
        assert {k for p in points["none"] for k in p} == {"momentum", "step_size"}


SMALL = {
    "none": [{"momentum": 0.95, "step_size": 0.0025}],
    "sgd": [{"momentum": 0.95, "batch_size": 100, "step_size": 0.0025}],
}


def test_budget_runs_through_the_sweep_runner(tmp_path):
    worlds, arms = run_budget(seed=3, points=SMALL, out=tmp_path)
    # one sweep folder per noise source, one run per (point, replicate); noise-free runs once
    for noise, runs in (("none", 1), ("sgd", 2)):
        index = pd.read_parquet(tmp_path / noise / "sweep.parquet")
        assert len(index) == runs and (index.status == "done").all()
    assert arms.arm.tolist() == [
        f"budget_f1_g0.0025_{cell}_{start}"
        for cell in ("m0_none_s0", "m100_sgd_s0", "m100_sgd_s1")
        for start in ("squeezed", "ground")
    ]
    assert arms.columns.tolist()[-1] == "seed" and arms.seed.nunique() == 3
    assert set(worlds.arm) == set(arms.arm) and "seed" not in worlds.columns
    # the analysis reads the collected tables of a kept sweep folder the same way
    w2, a2 = budget_tables(tmp_path / "sgd")
    pd.testing.assert_frame_equal(a2, arms.iloc[2:].reset_index(drop=True))
    pd.testing.assert_frame_equal(w2, worlds[worlds.arm.isin(a2.arm)].reset_index(drop=True))
    cells = budget_cells(worlds, arms)
    assert cells.seeds.tolist() == [1, 2]
    assert (cells.q_low <= cells.q).all() and (cells.q <= cells.q_high).all()
    sgd = cells[cells.noise == "sgd"].iloc[0]
    assert sgd.q_low < sgd.q_high and sgd.T_over_hbar_omega > 0
    assert set(boundary(cells)) >= {"friction_c", "temperature_c"}


@pytest.mark.slow
def test_quick_run(tmp_path):
    result = run(quick=True, out=tmp_path)
    verdicts = pd.read_csv(tmp_path / "verdicts.csv", keep_default_na=False)
    assert list(verdicts.columns) == VERDICT_COLUMNS
    assert list(verdicts["claim"]) == [c.name for c in CLAIMS]
    assert (verdicts["verdict"] == "supported").all(), verdicts[["claim", "verdict", "note"]]
    summary = (tmp_path / "summary.md").read_text()
    assert summary.count(HAND) >= len(CLAIMS) + 1
    assert result.summary["coupling"] == HAND
    for name in ("breathing", "ground", "spreading", "budget"):
        assert (tmp_path / "figures" / f"{name}.png").is_file()
    diag = pd.read_parquet(tmp_path / "diagnostics.parquet")
    q = diag[diag.diagnostic == "budget_q"]
    assert len(q) >= 5 * 3 and (q.ci_low <= q.value).all() and (q.value <= q.ci_high).all()
    assert SCENARIO.name == "worlds"


@pytest.mark.slow
def test_budget_same_seed_same_bits_on_any_engine():
    serial = run_budget(seed=3, points=SMALL)
    pooled = run_budget(seed=3, points=SMALL, executor="local")
    pd.testing.assert_frame_equal(pooled[0], serial[0])
    pd.testing.assert_frame_equal(pooled[1], serial[1])
    # control: another seed gives other noise (the noise-free cell stays the same)
    worlds = serial[0]
    other = run_budget(seed=4, points=SMALL)[0]
    assert not other["var"].equals(worlds["var"])
    cold = worlds.arm.str.contains("none")
    assert other[cold]["var"].equals(worlds[cold]["var"])
