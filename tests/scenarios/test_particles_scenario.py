"""The ``particles`` scenario: its tables, verdicts and report (a small, fast run)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.verdicts import VERDICT_COLUMNS
from models.particles import PARTICLE_COLUMNS
from runner import report
from scenarios.particles import CLAIMS, SCENARIO, arm_settings, run


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("particles") / "out"
    run(quick=True, steps=300, out=out, n_hidden=800)
    return out


def test_small_run_writes_every_table_and_both_verdicts(small: Path) -> None:
    for name in ("model", "trajectories", "events", "particles", "arms", "diagnostics"):
        assert (small / f"{name}.parquet").is_file(), name
    for fig in ("crossover", "densities", "population"):
        assert (small / "figures" / f"{fig}.png").is_file()
    verdicts = pd.read_csv(small / "verdicts.csv")
    assert list(verdicts.columns) == VERDICT_COLUMNS
    assert verdicts.claim.tolist() == [c.name for c in CLAIMS]
    arms = pd.read_parquet(small / "arms.parquet")
    assert arms.arm.tolist() == [a.arm for a in arm_settings(quick=True)]
    parts = pd.read_parquet(small / "particles.parquet")
    assert set(PARTICLE_COLUMNS) | {"theta", "arm"} == set(parts.columns)
    alive = parts[parts.event == "alive"]
    assert alive.groupby(["arm", "step"]).neuron_id.agg(lambda s: s.is_unique).all()
    # clone/kill events: every birth has a new id and a parent; the counts match events.parquet
    births = parts[parts.event == "birth"]
    assert births.groupby("arm").neuron_id.agg(lambda s: s.is_unique).all()
    assert (births.parent_id >= 0).all()
    events = pd.read_parquet(small / "events.parquet")
    branch = events[events.action == "branch"]
    gc = branch[branch.arm == "grand_canonical"]
    change = int((gc.after - gc.before).sum())
    mine = parts[parts.arm == "grand_canonical"]
    assert change == (mine.event == "birth").sum() - (mine.event == "death").sum()


def test_controls_behave_and_no_birth_is_refused(small: Path) -> None:
    diag = pd.read_parquet(small / "diagnostics.parquet")
    value = diag.set_index(["arm", "diagnostic"]).value
    assert (diag[diag.diagnostic == "refused_births"].value == 0).all()
    # A5: one noise draw per replica: clones never separate from their parents (float64)
    assert value[("common_noise", "clone_separation_max")] <= 1e-12
    assert value[("grand_canonical", "clone_separation_median")] > 1e-4
    # fixed N is Boltzmann, clone/kill is below it
    assert value[("fixed_n", "variance")] > value[("grand_canonical", "variance")] * 1.1


def test_report_rewrites_the_same_verdicts(small: Path) -> None:
    before = (small / "verdicts.csv").read_bytes()
    report(small, SCENARIO)
    assert (small / "verdicts.csv").read_bytes() == before
