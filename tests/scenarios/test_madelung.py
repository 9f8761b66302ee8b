"""Scenario ``madelung``: the closed-form landscape (known answers against the simulator and
finite differences), the spreading and interference statistics, and ``--quick`` end to end
(files, schemas, set_task events, verdicts against the declared claims, figures, report)."""

import numpy as np
import pandas as pd
import pytest

from analysis.verdicts import VERDICT_COLUMNS
from dualsim.cli import main
from models import ConfigError, LearningSystem
from runner import report
from scenarios import madelung
from scenarios.madelung import arms, claims, exact, measures, wellposed

TEACHER = (1.4, -1.05)


def test_free_energy_matches_the_simulator():
    """F of the relaxed 1-1-1 network (closed form) equals the model's probe-set F."""
    cfg = arms.default_config(True).replace(replicas=3, n_probe=40000, seed=2)
    pts = np.array([[1.3, -1.1], [0.8, -1.6], [1.6, -0.7]])
    model = arms.build_two_param(cfg, TEACHER, pts)
    sim = model.free_energy()
    closed = exact.free_energy_2p(pts, TEACHER, cfg.noise)
    assert np.allclose(sim, closed, rtol=0.03)
    # control: the plain MSE/2 (no relaxation factor 1/(1 + a^2)) is far off
    mse = (exact.free_energy_2p(pts, TEACHER, cfg.noise)) * (1 + pts[:, 1] ** 2)
    assert np.all(np.abs(sim / mse - 1) > 0.3)


def test_gradient_hessian_minimum_and_sigma_known_answers():
    noise = 0.1
    q = np.array([1.2, -0.9])
    h = 1e-6
    fd = [
        (
            exact.free_energy_2p(q + h * e, TEACHER, noise)
            - exact.free_energy_2p(q - h * e, TEACHER, noise)
        )
        / (2 * h)
        for e in np.eye(2)
    ]
    assert np.allclose(exact.grad_free_energy_2p(q, TEACHER, noise), fd, atol=1e-8)
    # without noise the minimum is the teacher, with zero gradient noise there
    q0 = exact.minimum_2p(TEACHER, 0.0)
    assert np.allclose(q0, TEACHER, atol=1e-5)
    assert np.allclose(exact.gradient_covariance_2p(q0, TEACHER, 0.0), 0.0, atol=1e-12)
    # with noise the minimum moves and Sigma_g > 0 (control: differs from the teacher)
    q1 = exact.minimum_2p(TEACHER, 0.1)
    assert np.linalg.norm(q1 - np.array(TEACHER)) > 0.01
    assert np.allclose(exact.grad_free_energy_2p(q1, TEACHER, 0.1), 0.0, atol=1e-8)
    assert np.all(np.linalg.eigvalsh(exact.gradient_covariance_2p(q1, TEACHER, 0.1)) > 0)
    with pytest.raises(ValueError, match="noise"):
        exact.minimum_2p((1.0, 1.0), 0.6)


def test_gradient_covariance_matches_the_simulator():
    """Sigma_g (closed form) against the model's per-sample gradient covariance."""
    cfg = arms.default_config(True).replace(replicas=64, batch_size=512, seed=5)
    q = exact.minimum_2p(TEACHER, cfg.noise)
    model = arms.build_two_param(cfg, TEACHER, np.tile(q, (64, 1)))
    model.step()
    sim = model.ensemble.projected_gradient_covariance(model.last_state, model.projection)
    closed = exact.gradient_covariance_2p(q, TEACHER, cfg.noise)
    assert np.allclose(sim.mean(axis=0), closed, rtol=0.05, atol=1e-7)


def test_sigmoid_closed_form_matches_the_simulated_stationary_covariance():
    """F of y = a sigmoid(b x): the closed-form stationary covariance stays stationary under
    the simulated SGD, and a displaced mean relaxes at gamma lambda_stiff of the sigmoid
    Hessian; control: the tanh closed form predicts half that rate."""
    cfg = arms.default_config(True).replace(activation="sigmoid", replicas=300, seed=3)
    teacher = (2.16, -1.34)
    q, H, S = wellposed.landscape(teacher, cfg.noise, "sigmoid")
    C = exact.stationary_covariance(H, S, cfg.step_size, cfg.batch_size)
    lam, vec = np.linalg.eigh(H)
    stiff = vec[:, 1]
    offset = 10 * np.sqrt(stiff @ C @ stiff)
    start = arms.gaussian_start(q + offset * stiff, C, cfg.replicas, 3, 7)
    model = arms.build_two_param(cfg, teacher, start)
    model.run(100, progress=False)
    traj = model.trajectories()
    last = traj[traj["step"] == 100][["q_0", "q_1"]].to_numpy()
    ratio = np.diag(np.cov(last.T)) / np.diag(C)
    assert np.all(np.abs(ratio - 1) < 0.2), ratio
    moved = float((last.mean(axis=0) - q) @ stiff) / offset
    predicted = (1 - cfg.step_size * lam[1]) ** 100
    assert abs(moved / predicted - 1) < 0.15, (moved, predicted)
    _, H_tanh, _ = wellposed.landscape(teacher, cfg.noise, "tanh")
    wrong = (1 - cfg.step_size * np.linalg.eigvalsh(H_tanh)[1]) ** 100
    assert abs(moved / wrong - 1) > 0.5


def test_ill_posed_configs_are_refused_before_any_simulation(tmp_path, capsys):
    """exit 2, one line naming the field; nothing simulated (no tables written)."""
    cases = {
        ("activation=linear",): "activation: 'linear'",
        ("activation=linear", "step_size=50"): "activation: 'linear'",
        ("activation=relu",): "activation: 'relu'",
        ("noise=0",): "noise: 0",
        ("step_size=50",): "step_size: 50",
        ("relax_steps=2",): "relax_rate, relax_steps",
        ("neuron_temperature=0.1",): "neuron_temperature: 0.1",
    }
    for k, (sets, field) in enumerate(cases.items()):
        out = tmp_path / f"r{k}"
        argv = ["run", "madelung", "--quick", "--seed", "5", "--no-progress", "--out", str(out)]
        for pair in sets:
            argv += ["--set", pair]
        assert main(argv) == 2, sets
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {field}"), (sets, err)
        assert not list(out.glob("*.parquet")), sets
    line = "activation: 'linear'; expected tanh or sigmoid: the madelung scenario needs an "
    with pytest.raises(ConfigError, match=line):
        wellposed.check(arms.default_config(True).replace(activation="linear"))


def test_teacher_draw_is_conditioned_and_recorded():
    """Seeds whose own teacher has no isolated minimum redraw from the separate stream; the
    config's own teacher is kept whenever it is accepted (so those runs are unchanged)."""
    cfg = arms.default_config(True)
    for seed in (1, 2, 5, 24):
        c = cfg.replace(seed=seed)
        draw = wellposed.check(c)
        own = wellposed.config_teacher(c)
        model_teacher = LearningSystem(c.replace(replicas=1)).task.params
        assert own == (model_teacher["w1"][0, 0], model_teacher["w2"][0, 0])
        if draw.rejected == 0:
            assert (draw.values["b"], draw.values["a"]) == own
        else:
            assert draw.stream.startswith("redraw") and len(draw.reasons) == draw.rejected
            assert wellposed.teacher_reason(own, c.noise, "tanh")[0] == draw.reasons[0]
        teacher = (draw.values["b"], draw.values["a"])
        assert wellposed.teacher_reason(teacher, c.noise, "tanh")[0] is None
        meta = draw.meta()
        assert meta["draw_rejected"] == draw.rejected and meta["draw_teacher_b"] == teacher[0]
    assert wellposed.check(cfg.replace(seed=1)).rejected == 0
    assert wellposed.check(cfg.replace(seed=5)).rejected > 0
    # the relaxation does not converge at |a*| = 3.3: seed 24's own teacher is redrawn
    assert wellposed.check(cfg.replace(seed=24)).reasons[0].startswith("relaxation")


def test_width_exponent_known_answers():
    rng = np.random.default_rng(0)
    widths = (0.25, 0.5, 1.0)
    # quantum free packet: Var(t) = s0^2 + (t / 2 s0)^2 -> beta = 2
    quantum = []
    for s0 in widths:
        x0 = rng.normal(size=(4000, 1))
        t = np.array([0.0, 2.0])
        quantum.append(x0[None] * np.sqrt(s0**2 + (t / (2 * s0)) ** 2)[:, None, None])
    beta = measures.width_exponent(quantum, 1, 50, 0)
    assert abs(beta[0] - 2.0) < 0.1 and beta[1] < 2.0 < beta[2] + 0.1
    # diffusion: growth 2 D t independent of s0 -> beta = 0
    diff = []
    for s0 in widths:
        x0 = rng.normal(0.0, s0, size=(4000, 1))
        diff.append(np.stack([x0, x0 + rng.normal(0.0, 1.0, size=x0.shape)]))
    b0 = measures.width_exponent(diff, 1, 50, 0)
    assert abs(b0[0]) < 0.3 and b0[1] < claims.REALTIME.threshold


def test_joint_vs_separate_detects_interference_only_when_present():
    rng = np.random.default_rng(1)
    x = np.linspace(-4, 4, 20001)
    fringe = np.exp(-(x**2) / 2) * (1 + 0.9 * np.cos(6 * x))
    p = fringe / fringe.sum()
    joint = rng.choice(x, size=(3, 2000), p=p)
    mix = rng.normal(size=(3, 2000))
    chi, q99 = measures.joint_vs_separate(joint, mix, 0)
    assert chi > q99
    chi0, q990 = measures.joint_vs_separate(rng.normal(size=(3, 2000)), mix, 0)
    assert chi0 < q990


def test_larger_network_runs_on_projected_coordinates_with_a_warning(tmp_path):
    cfg = arms.default_config(True).replace(n_hidden=4, bias=True)
    assert not arms.is_two_param(cfg)
    res = madelung.run(config=cfg, out=tmp_path / "larger", quick=True)
    verdicts = pd.read_csv(tmp_path / "larger" / "verdicts.csv")
    assert list(verdicts["claim"]) == [
        "Fokker-Planck form",
        "entropy budget",
        "Madelung (fixed N)",
        "real-time signatures",
    ]
    for col in ("value", "ci_low", "ci_high", "control_value"):
        assert np.isfinite(verdicts[col]).all(), col
    assert verdicts["statistic"].str.contains("not Markov").all()
    summary = (tmp_path / "larger" / "summary.md").read_text()
    assert "projected coordinates: not Markov" in summary
    assert set(res.tables["trajectories"]["arm"]) >= {"sgd", "momentum"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("madelung_quick")
    return madelung.run(out=out, quick=True), out


def test_quick_end_to_end(quick_run):
    _, out = quick_run
    for name in ("config.toml", "summary.md", "verdicts.csv", "diagnostics.parquet"):
        assert (out / name).is_file()
    for name in ("model", "trajectories", "neurons", "events", "setup", "diagnostics"):
        frame = pd.read_parquet(out / f"{name}.parquet")
        assert "arm" in frame.columns and len(frame) > 0
    traj = pd.read_parquet(out / "trajectories.parquet")
    assert {"step", "replica", "q_0", "q_1", "arm"} <= set(traj.columns)
    names = set(traj["arm"])
    for arm in (
        "sgd",
        "momentum",
        "quench_sgd",
        "no_change",
        "collision_sgd",
        "spread_sgd_0",
        "nelson_spread_0",
        "nelson_collision",
    ):
        assert arm in names
    assert sum(a.startswith("grid_") for a in names) >= 4
    # every teacher installed is one set_task model event: at the start and at the quench
    events = pd.read_parquet(out / "events.parquet")
    tasks = events[events["action"] == "set_task"]
    assert set(tasks["arm"]) == names - {a for a in names if a.startswith(("grid_", "nelson_"))}
    qa = arms.SIZES[True]["quench_at"]
    assert tasks[tasks["arm"] == "quench_sgd"]["step"].tolist() == [0, qa]
    assert tasks[tasks["arm"] == "no_change"]["step"].tolist() == [0]
    assert (tasks["source"] == "model").all() and events["step"].dtype == "int64"
    draws = events[events["action"] == "draw_setup"]
    assert len(draws) == 1 and draws["arm"].tolist() == ["setup"]
    assert draws["detail"].iloc[0].startswith("teacher b = ")
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert list(verdicts.columns) == VERDICT_COLUMNS
    mine = ["Fokker-Planck form", "entropy budget", "Madelung (fixed N)", "real-time signatures"]
    assert verdicts["claim"].tolist() == mine == [c.name for c in madelung.CLAIMS]
    declared = {c.name: f"{c.sense} {c.threshold:g}" for c in madelung.CLAIMS}
    assert verdicts.set_index("claim")["threshold"].to_dict() == declared
    num = ["value", "ci_low", "ci_high", "control_value"]
    assert verdicts[num].notna().all().all()
    assert verdicts["verdict"].isin(["supported", "not supported", "inconclusive"]).all()
    rt = verdicts.set_index("claim").loc["real-time signatures"]
    assert np.isfinite(rt["positive_control_value"])
    figures = sorted((out / "figures").glob("*.png"))
    names = {p.stem for p in figures}
    assert {
        "density_sgd",
        "density_momentum",
        "hbar_residual",
        "fokker_planck_D",
        "realtime",
        "entropy_budget",
    } <= names
    for p in figures:
        assert p.stat().st_size > 5000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_numbers_and_controls(quick_run):
    _, out = quick_run
    v = pd.read_csv(out / "verdicts.csv").set_index("claim")
    # the Fokker-Planck law holds on the grid; its control (wrong law) fails
    assert v.loc["Fokker-Planck form", "control_value"] > claims.FOKKER_PLANCK.threshold
    # the Nelson positive control shows sigma0-dependent spreading (beta near 2)
    assert v.loc["real-time signatures", "positive_control_value"] > 1.5
    diag = pd.read_parquet(out / "diagnostics.parquet")
    ratio = diag[(diag.diagnostic == "kramers_moyal") & (diag.quantity == "D_over_predicted")]
    assert ratio["value"].between(0.85, 1.15).all()


def test_report_rewrites_identical_verdicts(quick_run):
    _, out = quick_run
    before = (out / "verdicts.csv").read_bytes()
    report(out, madelung.SCENARIO)
    assert (out / "verdicts.csv").read_bytes() == before
