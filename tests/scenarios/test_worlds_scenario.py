"""The ``worlds`` scenario: its contract, its labels and one quick run (slow).

Every output says "coupling put in by hand": the claims (name and statistic), the summary and
its notes, the figure titles. The quick run decides every claim with its positive control
passing, and the decoherence budget has at least 5 frictions x 3 temperatures with intervals.
"""

from __future__ import annotations

import inspect

import pandas as pd
import pytest

from analysis.verdicts import VERDICT_COLUMNS
from scenarios.worlds import CLAIMS, HAND, SCENARIO, run
from scenarios.worlds.arms import FRICTIONS, TEMPERATURES, arm_settings, default_config
from scenarios.worlds.figures import figures


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
    arms = arm_settings(default_config(True), True)
    budget = [a for a in arms if a.family == "budget"]
    assert {a.noise for a in budget} == {"none", "sgd", "explicit"}
    assert all(a.n == 20 for a in budget)


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
