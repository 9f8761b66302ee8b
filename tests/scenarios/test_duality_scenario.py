"""Scenario ``duality``: known answers of its two scores with controls, and ``--quick`` end to
end (files, ``arm`` columns, the verdict row, figures, byte-identical ``report``)."""

import numpy as np
import pandas as pd
import pytest

from analysis.controls import block_shuffle, ou_trajectories
from analysis.schrodinger import compare_evolution
from analysis.verdicts import VERDICT_COLUMNS
from runner import report
from scenarios import duality, transition
from scenarios.common import replica_blocks
from scenarios.duality import measures


def test_block_shuffle_permutes_within_blocks_only():
    """The control's permutations (as the scenario draws them) keep every packet block."""
    R = 40
    blocks = replica_blocks(R, duality.BLOCKS)
    perms = block_shuffle(blocks, 30, np.random.default_rng([0, 23]))
    assert perms.shape == (30, R)
    for t in range(30):
        assert sorted(perms[t].tolist()) == list(range(R))
        for rows in blocks:
            assert set(perms[t, rows].tolist()) == set(rows.tolist())
    # it does shuffle (not the identity) and differs between steps
    assert np.mean(perms != np.arange(R)) > 0.5
    assert np.mean(perms[0] != perms[1]) > 0.5
    assert np.array_equal(perms, block_shuffle(blocks, 30, np.random.default_rng([0, 23])))


@pytest.fixture(scope="module")
def nelson():
    """Positive control: Nelson trajectories of an oscillating 2-D superposition (known hbar)."""
    return transition.positive_control(400, 120, 0).assign(step_size=0.5)


def test_quantum_score_positive_control_beats_frozen(nelson):
    pre, post = nelson[nelson.step < 60], nelson[nelson.step >= 60]
    score, _, rf, d = measures.quantum_score(pre, post, 0, quick=True)
    # Schrödinger with the first half's hbar and potential predicts the oscillation better than
    # the best static density (measured: 0.82)
    assert score < 0.9
    assert np.median(rf) > 1.3  # the density does move: the frozen null misses it
    # hbar per recorded step = hbar * dt = 0.05 * 0.2 (mass 1): the fit recovers it within 2x
    assert 0.005 < d["hbar"] < 0.02


def test_quantum_score_stationary_control_does_not_beat_frozen():
    """A stationary Ornstein-Uhlenbeck ensemble: nothing moves, no prediction beats 'frozen'."""
    rng = np.random.default_rng(0)
    ou = ou_trajectories(rng.normal(0, np.sqrt(0.5), (400, 2)), -1.0, 0.5, 0.2, 120, seed=1)
    ou = ou.assign(step_size=0.5)
    score, _, rf, _ = measures.quantum_score(ou[ou.step < 60], ou[ou.step >= 60], 0, quick=True)
    assert score > 0.9  # measured 0.98
    assert np.median(rf) < 1.2  # the pooled frozen density sits near its sampling floor


def test_frozen_null_detects_a_moved_density():
    rng = np.random.default_rng(1)
    still = ou_trajectories(rng.normal(0, 0.7, (300, 2)), -1.0, 0.5, 0.2, 40, seed=2)
    moved = still.copy()
    moved.loc[moved.step >= 20, "q_0"] += 1.0  # a jump the pre window cannot know
    for frame, expect_big in ((still, False), (moved, True)):
        pre, post = frame[frame.step < 20], frame[frame.step >= 20]

        comp = compare_evolution(post, measures.COORDS, hbar=0.1, n_times=4, floor_draws=10)
        r = measures.frozen_null(pre, post, comp, 0)
        assert (np.median(r) > 1.6) == expect_big, np.median(r)


def test_bootstrap_statistic_is_the_max_of_both_scores():
    rs = np.full(10, 0.5)
    rf = np.full(10, 1.0)
    chi = np.array([1.0, 2.0, 3.0])
    boots = measures._boot_statistic(rs, rf, chi, 2 * chi, 0)
    assert np.allclose(boots[0], 0.5) and np.allclose(boots[1], 0.5)
    boots = measures._boot_statistic(rs, rf, chi, 0.5 * chi, 0)
    assert np.allclose(boots[2], 2.0)  # one side fails: the statistic fails


def test_bad_config_is_refused():
    cfg = duality.SCENARIO.default_config(True)
    with pytest.raises(ValueError, match="record_every"):
        duality.SCENARIO.simulate(cfg.replace(record_every=2), True, 40, False)
    with pytest.raises(ValueError, match="replicas"):
        duality.SCENARIO.simulate(cfg.replace(replicas=8), True, 40, False)
    with pytest.raises(ValueError, match="steps"):
        duality.SCENARIO.simulate(cfg, True, 10, False)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("duality_quick")
    return duality.run(out=out, quick=True), out


def test_quick_end_to_end(quick_run):
    result, out = quick_run
    for name in ("config.toml", "summary.md", "verdicts.csv", "diagnostics.parquet"):
        assert (out / name).is_file()
    for name in ("model", "trajectories", "neurons", "neuron_states", "events", "edges"):
        frame = pd.read_parquet(out / f"{name}.parquet")
        assert "arm" in frame.columns and len(frame) > 0
        assert set(frame["arm"]) == {duality.ARM}
    events = pd.read_parquet(out / "events.parquet")
    inj = events[events["action"] == "inject_packet"]
    assert len(inj) == duality.BLOCKS
    assert set(inj["step"]) == {duality.mid_step(duality.SCENARIO.quick_steps)}
    # the teacher quench is one set_task model event at the same step
    tasks = events[events["action"] == "set_task"]
    assert tasks["step"].tolist() == [duality.mid_step(duality.SCENARIO.quick_steps)]
    # the conditioned teacher draw: one row (the default seed keeps its own teacher)
    draws = events[events["action"] == "draw_setup"]
    assert len(draws) == 1 and draws["detail"].iloc[0].startswith("teacher snr = ")
    assert "0 rejected draws" in draws["detail"].iloc[0]
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert list(verdicts.columns) == VERDICT_COLUMNS
    assert verdicts["claim"].tolist() == [c.name for c in duality.CLAIMS] == ["duality"]
    num = ["value", "ci_low", "ci_high", "control_value"]
    assert verdicts[num].notna().all().all()
    row = verdicts.iloc[0]
    assert row["ci_low"] <= row["value"] <= row["ci_high"]
    assert row["verdict"] in ("supported", "not supported", "inconclusive")
    claim = duality.CLAIMS[0]
    assert row["threshold"] == f"{claim.sense} {claim.threshold:g}" == "< 0"
    assert row["statistic"] == claim.statistic and row["control"] == claim.control
    diag = pd.read_parquet(out / "diagnostics.parquet")
    scores = diag[(diag.diagnostic == "duality") & (diag.quantity != "statistic")]
    assert set(scores["arm"]) == {"adaptive", "block_shuffled", "positive_control"}
    pos = scores[scores.arm == "positive_control"].set_index("quantity")["value"]
    assert pos["score_q"] < 0.9  # the Nelson superposition: Schrödinger beats frozen
    run_scores = scores[scores.arm == "adaptive"].set_index("quantity")["value"]
    assert row["value"] == pytest.approx(np.log(max(run_scores["score_q"], run_scores["score_x"])))
    figures = sorted((out / "figures").glob("*.png"))
    assert {p.stem for p in figures} == {"duality_predictions", "duality_scores"}
    for p in figures:
        assert p.stat().st_size > 5000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(result.verdicts) == 1
    # x comes from probe states (no mini-batch noise): it moves smoothly from step to step
    # (mini-batch-mean states gave about 0.17 at the default size)
    assert result.summary["state_source"] == "probe"
    assert result.summary["lag1_autocorr_x"] > 0.5


def test_report_rewrites_identical_verdicts(quick_run):
    _, out = quick_run
    before = (out / "verdicts.csv").read_bytes()
    report(out, duality.SCENARIO)
    assert (out / "verdicts.csv").read_bytes() == before
