"""Reliability in process: divergence, checkpoints and resume, signals, output-folder safety,
corrupt result files. (Subprocess kill/resume tests: test_reliability_resume.py.)"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from dualsim.cli import main
from models import LearningSystem, SystemConfig
from models.divergence import Diverged, DivergenceGuard
from runner import checkpoint
from runner.arms import arm_tables, concat_arms, run_arm
from runner.errors import RunFailed
from runner.io import read_config

SMALL = dict(replicas=4, n_hidden=3, batch_size=4, n_probe=8, record_every=2)


# ---------------------------------------------------------------- divergence
def test_huge_step_size_stops_in_the_step_with_the_cause() -> None:
    model = LearningSystem(activation="linear", step_size=20.0, seed=1, **SMALL)
    with pytest.raises(Diverged) as info:
        model.run(100, progress=False)
    err = info.value
    assert 1 <= err.step < 100
    msg = str(err)
    assert "\n" not in msg and f"diverged at step {err.step}" in msg
    assert "step_size 20 too large for this task; try <=" in msg
    suggested = float(msg.split("try <=")[1].split()[0])
    assert 0 < suggested < 20.0
    traj = model.trajectories()  # recorded up to the last good step
    assert traj["step"].max() == err.step - 1
    assert np.isfinite(traj[["q_0", "q_1"]]).all().all()


def test_suggested_step_size_runs_where_the_huge_one_diverged() -> None:
    """Control: the suggested step size (tanh) and the default one do not trip the guard."""
    model = LearningSystem(step_size=20.0, seed=1, **SMALL)
    with pytest.raises(Diverged) as info:
        model.run(100, progress=False)
    suggested = float(str(info.value).split("try <=")[1].split()[0])
    assert suggested < 20.0
    for gamma, act in ((suggested, "tanh"), (0.05, "linear")):
        ok = LearningSystem(activation=act, step_size=gamma, seed=1, **SMALL)
        ok.run(200, progress=False)
        assert ok.steps == 200


def _poison(replica: int, where: str = "w"):
    def act(model: LearningSystem) -> None:
        if where == "w":
            w = model.ensemble.w.copy()
            w[replica] = np.nan
            model.ensemble.set_w(w)
        else:
            getattr(model.ensemble, where)[replica] = np.nan

    return act


@pytest.mark.parametrize("where", ["w", "b"])
def test_nan_in_weights_is_caught_in_that_step_naming_the_replica(where: str) -> None:
    with pytest.raises(Diverged) as info:
        run_arm("a", lambda: LearningSystem(seed=2, **SMALL), 20, actions={7: _poison(2, where)})
    err = info.value
    assert err.step == 8 and err.replicas == [2]
    assert "weights NaN/Inf" in str(err)


def test_loss_growth_factor() -> None:
    guard = DivergenceGuard(factor=10.0)
    model = LearningSystem(seed=3, **SMALL)
    model.divergence = guard
    model.run(2, progress=False)
    assert guard.reference is not None and guard.reference > 0

    def blow(m: LearningSystem) -> None:
        w = m.ensemble.w.copy()
        w[1] *= 1e3  # finite, but the loss jumps far past 10x
        m.ensemble.set_w(w)

    with pytest.raises(Diverged) as info:
        run_arm("b", lambda: model, 10, actions={2: blow})
    assert 1 in info.value.replicas and "loss grew" in str(info.value)
    with pytest.raises(ValueError, match="factor"):
        DivergenceGuard(factor=0.5)
    with pytest.raises(ValueError, match="mode"):
        DivergenceGuard(mode="ignore")


def test_drop_mode_drops_the_replica_and_goes_on() -> None:
    def build() -> LearningSystem:
        m = LearningSystem(seed=4, **SMALL)
        m.divergence.mode = "drop"
        return m

    model = run_arm("d", build, 20, actions={5: _poison(1)})
    assert model.steps == 20 and model.alive.tolist() == [True, False, True, True]
    events = model.events()
    assert events["event"].tolist() == ["drop_replicas"]
    assert events["step"].iloc[0] == 6 and "replicas 1" in events["detail"].iloc[0]
    traj = model.trajectories()
    dead = traj[(traj.replica == 1) & (traj.step >= 6)]
    live = traj[traj.replica != 1]
    assert dead[["q_0", "loss"]].isna().all().all()
    assert np.isfinite(live[["q_0", "q_1"]]).all().all()
    assert np.isfinite(model.model_frame()["loss_mean"].iloc[1:]).all()


def test_cli_diverging_run_exit_1_and_tables_to_last_good_step(tmp_path: Path, capsys) -> None:
    out = tmp_path / "div"
    code = main(
        [
            "run",
            "train",
            "--quick",
            "--out",
            str(out),
            "--replicas",
            "4",
            "--no-progress",
            "--set",
            "activation=linear",
            "--set",
            "step_size=5.0",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "diverged at step" in err and "step_size 5 too large" in err
    step = int(err.split("diverged at step ")[1].split(":")[0])
    traj = pd.read_parquet(out / "trajectories.parquet")
    assert traj["step"].max() == step - 1
    for name in ("model", "neurons", "neuron_states", "events"):
        pd.read_parquet(out / f"{name}.parquet")


# ---------------------------------------------------------------- checkpoints and resume
def _two_arms(builds: list[str], crash_at: int | None = None) -> dict[str, pd.DataFrame]:
    """A two-arm 'scenario' with an action; optionally crashes in arm b at ``crash_at``."""

    def build(arm: str, seed: int):
        def make() -> LearningSystem:
            builds.append(arm)
            return LearningSystem(seed=seed, neuron_temperature=0.01, **SMALL)

        return make

    parts = []
    a = run_arm("a", build("a", 5), 12, actions={3: lambda m: setattr(m, "step_size", 0.1)})
    parts.append(arm_tables(a, "a"))
    actions = {6: lambda m: m.inject_packet([3, 4], amplitude=0.5)}
    if crash_at is not None:

        def crash(m: LearningSystem) -> None:
            raise RuntimeError("simulated crash")

        actions[crash_at] = crash
    b = run_arm("b", build("b", 6), 14, actions=actions)
    parts.append(arm_tables(b, "b"))
    return concat_arms(parts)


def test_resume_is_bit_identical_and_skips_finished_arms(tmp_path: Path) -> None:
    builds: list[str] = []
    with checkpoint.session(tmp_path / "ref", every=4):
        reference = _two_arms(builds)
    assert not (tmp_path / "ref" / "checkpoints").exists()  # removed after success
    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        with checkpoint.session(run, every=4):
            _two_arms(builds, crash_at=10)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["000-a.pkl", "001-b.pkl"]
    head, model = checkpoint.load_checkpoint(run / "checkpoints" / "001-b.pkl")
    assert head["step"] == 8 and not head["done"] and model.steps == 8
    builds.clear()
    with checkpoint.session(run, every=4, resume=True):
        resumed = _two_arms(builds)
    assert builds == []  # arm a kept as it ended, arm b resumed from its checkpoint
    assert sorted(resumed) == sorted(reference)
    for name in reference:
        pdt.assert_frame_equal(resumed[name], reference[name])


def test_checkpoint_restores_every_random_state(tmp_path: Path) -> None:
    model = LearningSystem(seed=7, neuron_temperature=0.1, **SMALL)
    model.run(3, progress=False)
    checkpoint.save_checkpoint(tmp_path / "c.pkl", model, arm="x")
    _, copy = checkpoint.load_checkpoint(tmp_path / "c.pkl")
    for name, gen in model.streams.items():
        assert copy.streams[name].bit_generator.state == gen.bit_generator.state, name
    assert copy.random.getstate() == model.random.getstate()
    assert copy.rng.bit_generator.state == model.rng.bit_generator.state
    model.run(4, progress=False)
    copy.run(4, progress=False)
    pdt.assert_frame_equal(copy.trajectories(), model.trajectories())
    pdt.assert_frame_equal(copy.neuron_frame(), model.neuron_frame())


def test_corrupt_checkpoint_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.pkl"
    path.write_bytes(b"\x80\x05garbage")
    with pytest.raises(ValueError, match=r"c\.pkl: corrupt checkpoint"):
        checkpoint.load_checkpoint(path)


def test_sigterm_inside_a_run_saves_and_resumes(tmp_path: Path) -> None:
    builds: list[str] = []
    with checkpoint.session(tmp_path / "ref", every=4):
        reference = _two_arms(builds)
    run = tmp_path / "run"

    def kill_me(m: LearningSystem) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(checkpoint.Interrupted) as info:
        with checkpoint.session(run, name="demo", every=4):
            run_arm("a", lambda: LearningSystem(seed=5, **SMALL), 12, actions={7: kill_me})
    assert info.value.exit_code == 143
    assert "step 8 of arm 'a'" in str(info.value)
    assert "resume with: dualsim run demo --out" in str(info.value)
    traj = pd.read_parquet(run / "trajectories.parquet")
    assert traj["step"].max() == 8
    head, _ = checkpoint.load_checkpoint(run / "checkpoints" / "000-a.pkl")
    assert head["step"] == 8
    assert signal.getsignal(signal.SIGTERM) is not None
    del reference


def test_divergence_in_a_session_writes_tables_and_fails(tmp_path: Path) -> None:
    with pytest.raises(RunFailed) as info:
        with checkpoint.session(tmp_path, every=4):
            run_arm("a", lambda: LearningSystem(seed=5, **SMALL), 12)
            run_arm("b", lambda: LearningSystem(seed=6, **SMALL), 12, actions={5: _poison(0)})
    msg = str(info.value)
    assert "diverged at step 6" in msg and "[arm b]" in msg and "up to step 5" in msg
    traj = pd.read_parquet(tmp_path / "trajectories.parquet")
    assert traj.groupby("arm")["step"].max().to_dict() == {"a": 12, "b": 5}


# ---------------------------------------------------------------- output folder, result files
def _run(out: Path, *extra: str) -> list[str]:
    return [
        "run",
        "train",
        "--steps",
        "6",
        "--replicas",
        "3",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def test_output_folder_safety(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert main(_run(out)) == 0
    first = pd.read_parquet(out / "trajectories.parquet")
    capsys.readouterr()
    assert main(_run(out, "--seed", "9")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not empty" in err and "--force" in err
    pdt.assert_frame_equal(pd.read_parquet(out / "trajectories.parquet"), first)
    (out / "notes.txt").write_text("mine")
    assert main(_run(out, "--seed", "9", "--force")) == 0
    assert (out / "notes.txt").read_text() == "mine"  # only dualsim's files are replaced
    assert not pd.read_parquet(out / "trajectories.parquet").equals(first)
    capsys.readouterr()
    assert main(_run(tmp_path / "new", "--resume")) == 2
    assert "no config.toml" in capsys.readouterr().err
    assert main(_run(out, "--resume", "--force")) == 2
    assert main(_run(out, "--resume", "--seed", "9")) == 0  # same as saved: accepted
    capsys.readouterr()
    assert main(_run(out, "--resume", "--seed", "1")) == 2
    assert "seed: 1 conflicts with the saved 9" in capsys.readouterr().err
    assert main(["run", "train", "--out", str(out), "--resume", "--steps", "7"]) == 2
    assert main(["run", "train", "--out", str(out), "--resume", "--set", "step_size=0.2"]) == 2


@pytest.fixture(scope="module")
def train_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rep") / "train"
    assert main(_run(out)) == 0
    return out


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_report_names_a_truncated_or_missing_table(
    train_folder: Path, tmp_path: Path, damage: str, capsys
) -> None:
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(train_folder, out)
    assert main(["report", str(out)]) == 0
    target = out / "neuron_states.parquet"
    if damage == "truncated":
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    else:
        target.unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert str(target) in err
    assert ("unreadable Parquet" if damage == "truncated" else "missing") in err


def test_show_names_the_verdict_file(train_folder: Path, tmp_path: Path, capsys) -> None:
    assert main(["show", str(train_folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{train_folder / 'verdicts.csv'}: missing" in err
    (tmp_path / "verdicts.csv").write_text("claim,value\nx,1\n")
    assert main(["show", str(tmp_path)]) == 2
    assert "no column 'statistic'" in capsys.readouterr().err
    cols = "claim,statistic,value,ci_low,ci_high,control,control_value,"
    cols += "positive_control_value,threshold,verdict,note"
    row = "duality,s,1,0,2,c,0,,> 0,inconclusive,no positive control"
    (tmp_path / "verdicts.csv").write_text(cols + "\n" + row + "\n")
    assert main(["show", str(tmp_path)]) == 0
    assert "inconclusive" in capsys.readouterr().out


def test_config_toml_of_a_result_round_trips(train_folder: Path, tmp_path: Path) -> None:
    """A result's config.toml (with its [dualsim] table) is usable as --config."""
    saved, meta = read_config(train_folder)
    assert meta["scenario"] == "train" and meta["steps"] == 6
    out = tmp_path / "again"
    assert (
        main(
            [
                "run",
                "train",
                "--config",
                str(train_folder / "config.toml"),
                "--steps",
                "6",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert read_config(out)[0] == saved == SystemConfig.from_dict(saved.to_dict())
    pdt.assert_frame_equal(
        pd.read_parquet(out / "trajectories.parquet"),
        pd.read_parquet(train_folder / "trajectories.parquet"),
    )


def test_cli_drop_mode_records_the_drop_and_finishes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "drop"
    argv = ["run", "train", "--steps", "30", "--replicas", "8", "--out", str(out), "--no-progress"]
    argv += ["--set", "activation=linear", "--set", "step_size=0.7", "--on-divergence", "drop"]
    assert main(argv) == 0
    events = pd.read_parquet(out / "events.parquet")
    drops = events[events["event"] == "drop_replicas"]
    assert len(drops) >= 1
    dropped = {int(r) for d in drops["detail"] for r in d.split(":")[0].split()[1].split(",")}
    traj = pd.read_parquet(out / "trajectories.parquet")
    assert traj["step"].max() == 30
    last = traj[traj["step"] == 30].set_index("replica")
    assert last.loc[sorted(dropped), "q_0"].isna().all()
    assert np.isfinite(last.drop(index=sorted(dropped))["q_0"]).all()
    assert np.isfinite(pd.read_parquet(out / "model.parquet")["loss_mean"].iloc[1:]).all()
