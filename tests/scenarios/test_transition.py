"""The flagship scenario end to end in --quick mode, and report reproducibility."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.verdicts import NOTES, VERDICT_COLUMNS
from runner import report
from scenarios import transition
from scenarios.transition import claims
from scenarios.worlds.known_answers import HAND

CLAIMS = {c.name for c in transition.CLAIMS}
ARMS = {"canonical", "adaptive", "canonical_at_final", "momentum", "no_change"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("transition")
    return transition.run(quick=True, out=out)


def test_output_folder_and_schemas(quick_run):
    out = quick_run.out
    for name in (
        "config.toml",
        "model.parquet",
        "trajectories.parquet",
        "neurons.parquet",
        "events.parquet",
        "diagnostics.parquet",
        "verdicts.csv",
        "summary.md",
    ):
        assert (out / name).is_file(), name
    for name in ("model", "trajectories", "neurons", "events", "diagnostics"):
        frame = pd.read_parquet(out / f"{name}.parquet")
        assert "arm" in frame.columns, name
    traj = pd.read_parquet(out / "trajectories.parquet")
    assert set(traj["arm"]) == ARMS | {"positive_control", "worlds", "worlds_coupling_off"}
    model = pd.read_parquet(out / "model.parquet")
    assert set(model["arm"]) == ARMS
    adaptive = model[model.arm == "adaptive"]
    # the controllers acted: N, gamma or M moved in the adaptive arm only
    assert adaptive["n_neurons"].nunique() > 1
    assert model[model.arm == "canonical"]["n_neurons"].nunique() == 1
    events = pd.read_parquet(out / "events.parquet")
    assert {"add", "remove"} <= set(events[events.arm == "adaptive"]["action"])


def test_quench_is_one_set_task_event_per_quenched_arm(quick_run):
    events = pd.read_parquet(quick_run.out / "events.parquet")
    quenches = events[events.action == "set_task"]
    assert sorted(quenches["arm"]) == sorted(ARMS - {"no_change"})
    assert set(quenches["step"]) == {transition.quench_step(transition.SCENARIO.quick_steps)}
    assert set(quenches["source"]) == {"model"}


def test_the_teacher_draw_is_recorded(quick_run):
    """One ``draw_setup`` row (arm ``setup``) and the draw in ``config.toml``'s [dualsim]."""
    events = pd.read_parquet(quick_run.out / "events.parquet")
    draws = events[events.action == "draw_setup"]
    assert len(draws) == 1 and draws["arm"].tolist() == ["setup"]
    assert events["step"].dtype == "int64"
    toml = (quick_run.out / "config.toml").read_text()
    assert 'draw = "teacher"' in toml and "draw_rejected = 0" in toml


def test_verdict_table_is_complete(quick_run):
    verdicts = pd.read_csv(quick_run.out / "verdicts.csv", keep_default_na=False)
    assert list(verdicts.columns) == VERDICT_COLUMNS
    assert set(verdicts["claim"]) == CLAIMS
    assert set(verdicts["verdict"]) <= {"supported", "not supported", "inconclusive"}
    assert set(verdicts["note"]) <= set(NOTES)
    assert ((verdicts["note"] == "") == (verdicts["verdict"] != "inconclusive")).all()
    for col in ("value", "ci_low", "ci_high", "control_value", "positive_control_value"):
        assert verdicts[col].map(float).map(math.isfinite).all(), col
    # ci brackets the value
    assert (
        (verdicts.ci_low <= verdicts.value + 1e-12) & (verdicts.value <= verdicts.ci_high + 1e-12)
    ).all()


def test_the_regime_is_a_precondition_of_the_adaptive_claims(quick_run):
    """The gap row comes first; outside the regime the adaptive-arm verdicts are withheld."""
    v = pd.read_csv(quick_run.out / "verdicts.csv", keep_default_na=False)
    first = v.iloc[0]
    assert first["claim"] == claims.REGIME.name == "consistency regime (precondition)"
    assert first["threshold"] == "< 0.405465"
    dependent = v[v.claim.isin([c.name for c in claims.DEPENDENT])]
    assert len(dependent) == 3
    if first["verdict"] != "supported":
        assert (dependent["verdict"] == "inconclusive").all()
        assert (dependent["note"] == "regime not reached").all()
    # the gap per window is in the diagnostics, with the time at the controllers' bounds
    diag = pd.read_parquet(quick_run.out / "diagnostics.parquet")
    ada = diag[diag.arm == "adaptive"]
    gaps = ada[ada.quantity.str.startswith("gap ln(hbar_2mD")]
    assert len(gaps) == 2 and gaps["value"].map(math.isfinite).all()
    bounds = ada[ada.diagnostic == "controller_bounds"]
    assert set(bounds["window"]) == {0, 1} and bounds["value"].between(0, 1).all()
    # a gap held by controllers pinned at a bound is no regime: the row is then withheld
    if (bounds["value"] > claims.BOUND_LIMIT).any():
        assert first["verdict"] == "inconclusive" and first["note"] == "regime not reached"
        assert "not held: " in first["statistic"]


def test_figures_are_nonempty_pngs(quick_run):
    figs = sorted((quick_run.out / "figures").glob("*.png"))
    assert len(figs) >= 6
    for f in figs:
        data = f.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, f.name


def test_positive_control_is_detected(quick_run):
    """The instruments see Schrödinger behaviour where it is (Nelson trajectories)."""
    v = pd.read_csv(quick_run.out / "verdicts.csv").set_index("claim")
    for claim in transition.CLAIMS:
        value = v.loc[claim.name, "positive_control_value"]
        assert value < claim.threshold if claim.sense == "<" else value > claim.threshold


def test_realtime_needs_both_positive_controls(quick_run):
    """Nelson and the worlds arm (coupling put in by hand) both pass; the coupling-off control
    of the worlds arm does not; every output naming the worlds arm says coupling put in by hand."""
    v = pd.read_csv(quick_run.out / "verdicts.csv").set_index("claim")
    row = v.loc[claims.REALTIME.name]
    assert HAND in row["statistic"] and "failing" not in row["statistic"]
    assert row["positive_control_value"] > claims.REALTIME.threshold
    diag = pd.read_parquet(quick_run.out / "diagnostics.parquet")
    worlds = diag[diag.arm.isin(["worlds", "worlds_coupling_off"])]
    assert len(worlds) == 4 and worlds["quantity"].str.contains(HAND, regex=False).all()
    floor = worlds[worlds.quantity.str.startswith("zero-point")].set_index("arm")["value"]
    assert floor["worlds"] >= claims.WORLDS_FLOOR > floor["worlds_coupling_off"]
    summary = (quick_run.out / "summary.md").read_text()
    assert "Real-time positive controls" in summary and f"{HAND}): persistence" in summary
    assert (quick_run.out / "figures" / "worlds_control.png").is_file()


def test_report_rewrites_identical_verdicts(quick_run):
    before = (quick_run.out / "verdicts.csv").read_bytes()
    (quick_run.out / "verdicts.csv").unlink()
    again = report(quick_run.out, transition.SCENARIO)
    assert (quick_run.out / "verdicts.csv").read_bytes() == before
    assert again.name == "transition"
