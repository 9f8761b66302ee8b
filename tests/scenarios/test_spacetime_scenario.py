"""Scenario ``spacetime``: known answers of its helpers with controls, and ``--quick`` end to end
(files, ``arm`` columns, verdicts, figures, byte-identical ``report``)."""

import numpy as np
import pandas as pd
import pytest

from analysis.controls import increment_shuffled
from analysis.spacetime import dispersion, signature_test, spectral_embedding
from analysis.verdicts import VERDICT_COLUMNS
from runner import AnalysisFailed, report
from scenarios import spacetime
from scenarios.common import D_GROUPS, states_array
from scenarios.common.geometry import hidden_groups, lag1
from scenarios.spacetime import arms as st_arms
from scenarios.spacetime import claims, controls
from scenarios.spacetime.claims import lorentz_margin

MINE = [
    "Lorentz signature",
    "emergent locality/dispersion",
    "Einstein equations with Lambda",
    "geodesic motion",
    "Lambda tracks N",
]


def _ring_edges(n: int = 24, k: int = 2) -> pd.DataFrame:
    src, dst = [], []
    for i in range(n):
        for j in range(1, k + 1):
            src += [i, (i + j) % n]
            dst += [(i + j) % n, i]
    return pd.DataFrame(
        {"src": src, "dst": dst, "weight_mean": 1.0, "src_kind": "hidden", "dst_kind": "hidden"}
    )


def test_states_pivot_fills_inactive_slots_with_zero():
    frame = pd.DataFrame(
        {
            "step": [1, 1, 1, 2, 2],
            "replica": [0, 0, 1, 0, 1],
            "neuron": [3, 4, 3, 4, 3],
            "state": [0.1, 0.2, 0.3, 0.4, 0.5],
        }
    )
    arr, steps = states_array(frame, [3, 4])
    assert steps.tolist() == [1, 2]
    assert arr.tolist() == [[[0.1, 0.2], [0.3, 0.0]], [[0.0, 0.4], [0.5, 0.0]]]


def test_hidden_groups_are_contiguous_arcs_of_a_ring():
    groups = hidden_groups(_ring_edges(), 0)
    assert len(groups) == D_GROUPS
    assert sorted(n for g in groups for n in g) == list(range(24))
    for g in groups:  # an arc: consecutive labels on the ring (up to one wrap)
        gaps = np.diff(sorted(g))
        assert np.sum(gaps > 1) <= 1


def test_lorentz_margin_positive_control_and_diffusion_null():
    """The synthetic Lorentzian ensemble has a positive margin; free diffusion (on and off) has
    none (its lambda_0 is positive, so -lambda_0 < 0)."""
    on, off = controls.synthetic_signature(200, 128, 4, 0)
    kw = {"bootstrap": 200, "level": 0.99, "seed": 0}
    res = signature_test(on, off, controls.SYN_DT, **kw)
    value, lo, hi = lorentz_margin(res.on, res.off)
    assert lo > 0 and lo <= value <= hi
    null = signature_test(off, off, controls.SYN_DT, **kw)
    value0, _, hi0 = lorentz_margin(null.on, null.off)
    assert hi0 < 0 and value0 < 0
    # the bounded form: same sign, in [-1, 1], its interval from the joint replica resamples
    rel, rlo, rhi = claims.relative_lorentz_margin(res.on, res.off)
    assert 0 < rlo <= rel <= rhi <= 1
    rel0, _, rhi0 = claims.relative_lorentz_margin(null.on, null.off)
    assert -1 <= rel0 <= rhi0 < 0


def test_increment_shuffled_null_loses_the_negative_eigenvalue():
    """Known answer: the synthetic Lorentzian ensemble (one contracting axis) has lambda_0 < 0;
    its increment-shuffled copy (the probe-state null) keeps every step's increments but not the
    contraction: lambda_0 > 0, so its margin fails, while the original's passes."""
    on, _ = controls.synthetic_signature(200, 128, 4, 0)
    null = increment_shuffled(on, np.random.default_rng([0, 19]))
    inc, inc0 = np.diff(null, axis=0), np.diff(on, axis=0)
    assert np.allclose(np.sort(inc, axis=1), np.sort(inc0, axis=1))  # same increments per step
    assert np.array_equal(null[0], on[0])
    kw = {"bootstrap": 200, "level": 0.99, "seed": 0}
    res = signature_test(on, null, controls.SYN_DT, **kw)
    assert res.on.eigenvalue_ci[0, 1] < 0  # contraction: one negative eigenvalue
    assert res.off.eigenvalue_ci[0, 0] > 0  # shuffled: none
    value, lo, _ = lorentz_margin(res.on, res.off)
    assert lo > 0 and value > 0
    ctrl = lorentz_margin(res.off, None)[0]
    assert ctrl < 0
    # control: shuffling increments of free diffusion changes nothing (no eigenvalue < 0)
    _, off = controls.synthetic_signature(200, 128, 4, 1)
    shuffled = increment_shuffled(off, np.random.default_rng([1, 19]))
    res0 = signature_test(shuffled, off, controls.SYN_DT, **kw)
    assert res0.on.eigenvalue_ci[0, 0] > 0


def test_graph_wave_propagates_and_graph_diffusion_does_not():
    edges = _ring_edges()
    hidden = list(range(24))
    a = claims._hidden_weights(edges, hidden)
    emb = spectral_embedding(a, dim=2)
    lap = controls.graph_laplacian(a)
    assert np.allclose(lap.sum(axis=1), 0) and np.allclose(np.diag(lap), 4)
    wave = dispersion(controls.graph_field(lap, 256, 64, "wave", 0), emb, segments=4)
    diff = dispersion(controls.graph_field(lap, 256, 64, "diffusing", 0), emb, segments=4)
    assert wave.propagating.mean() > claims.DISPERSION.threshold
    assert diff.propagating.mean() < 0.2


def test_lag1_autocorrelation_known_answer_and_white_noise_control():
    rng = np.random.default_rng(3)
    x = np.zeros((2000, 16, 2))
    for t in range(1999):  # AR(1) with phi = 0.8 around replica-specific means
        x[t + 1] = 0.8 * x[t] + rng.normal(size=(16, 2))
    x += rng.normal(size=(1, 16, 2)) * 5
    assert np.allclose(lag1(x), 0.8, atol=0.03)
    assert np.all(np.abs(lag1(rng.normal(size=(2000, 16, 2)))) < 0.03)
    still = np.broadcast_to(rng.normal(size=(1, 16, 1)), (50, 16, 1)) / 3  # never moves
    assert np.isnan(lag1(still)).all()


def test_de_sitter_positive_control_passes_the_einstein_threshold():
    assert np.log(controls.de_sitter_ratio((7, 7, 7, 7))) < claims.EINSTEIN.threshold


def test_de_sitter_lambdas_track_n_and_pass_the_lambda_claim():
    """Lambda = 3 H^2 with H^2 = N / max N: the fitted Lambda is within 15 % of it and its
    correlation with N passes the claim's threshold; N without a trend in Lambda does not."""
    n = np.array([12.0, 16.0, 20.0, 24.0])
    lam = controls.de_sitter_lambdas((7, 7, 7, 7), n)
    assert np.allclose(lam, 3 * n / n.max(), rtol=0.15)
    boot = lam[:, None] * (1 + 0.01 * np.random.default_rng(0).normal(size=(4, 20)))
    value, lo, hi, r = claims.lambda_correlation(n, lam, boot)
    assert value == abs(r) and lo <= value <= hi
    assert r > 0.99 and lo > claims.LAMBDA_N.threshold
    flat = np.array([1.0, 1.0 + 1e-3, 1.0 - 1e-3, 1.0])[:, None] + 0.1 * np.random.default_rng(
        1
    ).normal(size=(4, 50))
    _, lo0, hi0, _ = claims.lambda_correlation(n, flat[:, 0], flat)
    assert lo0 < claims.LAMBDA_N.threshold < hi0  # noise only: the interval straddles 0


def test_basic_interval_and_failure_on_missing_numbers():
    lo, hi = claims._ci(np.array([0.9, 1.0, 1.1] * 10), 1.0)
    assert lo < 1.0 < hi
    with pytest.raises(AnalysisFailed, match="bootstrap"):
        claims._ci(np.array([np.nan, 1.0]), 1.0)


def test_bad_config_is_refused():
    cfg = spacetime.SCENARIO.default_config(True)
    with pytest.raises(ValueError, match="n_hidden"):
        spacetime.SCENARIO.simulate(cfg.replace(n_hidden=3), True, 10, False)
    with pytest.raises(ValueError, match="record_every"):
        spacetime.SCENARIO.simulate(cfg.replace(record_every=2), True, 10, False)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("spacetime_quick")
    return spacetime.run(out=out, quick=True), out


def test_quick_end_to_end(quick_run):
    result, out = quick_run
    for name in ("config.toml", "summary.md", "verdicts.csv", "diagnostics.parquet"):
        assert (out / name).is_file()
    for name in ("model", "trajectories", "neurons", "neuron_states", "events", "edges"):
        frame = pd.read_parquet(out / f"{name}.parquet")
        assert "arm" in frame.columns and len(frame) > 0
    arms = set(pd.read_parquet(out / "neuron_states.parquet")["arm"])
    assert {"learning_on", "learning_off", "packet"} <= arms
    assert {"learning_on_batch", "learning_off_batch"} <= arms  # the comparison arms
    assert sum(a.startswith("target_") for a in arms) == len(st_arms.TARGETS_QUICK)
    events = pd.read_parquet(out / "events.parquet")
    assert (events["action"] == "inject_packet").sum() == st_arms.PACKET_BLOCKS
    # the conditioned teacher draw: one row (the default seed keeps its own teacher)
    draws = events[events["action"] == "draw_setup"]
    assert draws["arm"].tolist() == ["setup"] and "0 rejected draws" in draws["detail"].iloc[0]
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert list(verdicts.columns) == VERDICT_COLUMNS
    assert verdicts["claim"].tolist() == MINE
    # one verdict per declared claim, judged against the declared threshold
    declared = {c.name: f"{c.sense} {c.threshold:g}" for c in spacetime.CLAIMS}
    assert declared == dict(zip(verdicts["claim"], verdicts["threshold"], strict=True))
    assert {c.scenario for c in spacetime.CLAIMS} == {"spacetime"}
    num = ["value", "ci_low", "ci_high", "control_value"]
    assert verdicts[num].notna().all().all()
    assert verdicts["verdict"].isin(["supported", "not supported", "inconclusive"]).all()
    pos = verdicts.set_index("claim")["positive_control_value"]
    # the geodesic positive control may be empty when exact geodesics leave the box (noted)
    assert pos.drop(["Lambda tracks N", "geodesic motion"]).notna().all()
    figures = sorted((out / "figures").glob("*.png"))
    assert {p.stem for p in figures} == {
        "signature",
        "metric",
        "geodesic",
        "lambda_vs_n",
        "dispersion",
    }
    for p in figures:
        assert p.stat().st_size > 5000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(result.verdicts) == len(verdicts)


def test_quick_controls(quick_run):
    _, out = quick_run
    v = pd.read_csv(out / "verdicts.csv").set_index("claim")
    # the diffusing control shows no propagating peaks; the de Sitter positive control fits
    assert v.loc["emergent locality/dispersion", "control_value"] < 0.2
    assert v.loc["Einstein equations with Lambda", "positive_control_value"] < 0.5
    diag = pd.read_parquet(out / "diagnostics.parquet")
    mean_n = diag[(diag.diagnostic == "lambda") & (diag.quantity == "mean_N")]["value"]
    assert np.ptp(mean_n.to_numpy()) > 4  # the targets separate N
    # probe states (the default source) are smooth in time; mini-batch means are not; with
    # learning off probe states do not move at all
    coords = diag[diag.diagnostic == "coordinates"].pivot_table(
        index="arm", columns="quantity", values="value"
    )
    lag = coords.filter(like="lag1").mean(axis=1)
    assert lag["learning_on"] > 0.5 > 0.2 > lag["learning_on_batch"]
    assert coords.filter(like="step_rms").loc["learning_off"].max() == 0.0
    arms = set(diag[diag.diagnostic == "signature"]["arm"])
    assert {"increment_shuffled", "learning_on_batch", "learning_off_batch"} <= arms


def test_report_rewrites_identical_verdicts(quick_run):
    _, out = quick_run
    before = (out / "verdicts.csv").read_bytes()
    report(out, spacetime.SCENARIO)
    assert (out / "verdicts.csv").read_bytes() == before
