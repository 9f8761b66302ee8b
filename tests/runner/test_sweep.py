"""Sweep runner: grids, seeds, index, collect, resume after a failing run, CLI (serial runs)."""

from __future__ import annotations

import json
import os
import signal
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dualsim.cli import main
from dualsim.commands import sweep as sweep_command
from models import ConfigError, SystemConfig
from runner.experiment import ScenarioResult
from runner.sweep import apply_point, collect, engines, grid_points, load_index, run_sweep
from scenarios import train

BASE = SystemConfig(replicas=4, record_every=1, seed=11)
GRID = {"step_size": [0.01, 0.05], "batch_size": [8, 16]}
STEPS = 5
TRAIN = "scenarios.train:run"


# --------------------------------------------------------------------------- fault injection
def flaky(config, out, quick=False, steps=None, progress=False, *, marker, mode, target):
    """The train scenario, except for the run whose config matches ``target``.

    mode "raise": that run raises while the file ``marker`` exists.
    mode "kill": on its first attempt (no ``marker`` yet) it creates the marker and SIGKILLs
    its own process (the sweep process when serial, a pool or Dask worker otherwise).
    mode "hang": on its first attempt it creates the marker and sleeps (to be killed).
    """
    hit = all(getattr(config, k) == v for k, v in target.items())
    if hit and mode == "raise" and Path(marker).exists():
        raise RuntimeError("injected failure")
    if hit and mode in ("kill", "hang") and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "model.parquet").write_bytes(b"half-written")  # a torn file
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(120)
    return train.run(config=config, out=out, quick=quick, steps=steps, progress=progress)


def nested(config, out, quick=False, steps=None, progress=False, *, inner_executor=None):
    """A scenario with an internal grid run through the sweep runner."""
    res = run_sweep(
        config,
        {"batch_size": [4, 8]},
        executor=inner_executor,
        out=Path(out) / "inner",
        steps=2,
        scenario=TRAIN,
    )
    frame = res.collect()
    tables = {"model": frame[["batch_size", "step", "free_energy"]]}
    Path(out).mkdir(parents=True, exist_ok=True)
    tables["model"].to_parquet(Path(out) / "model.parquet", index=False)
    return ScenarioResult("nested", Path(out), config, tables)


_SERIAL: dict[str, Path] = {}


def serial_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of an uninterrupted serial sweep of 4 quick runs (BASE, GRID, STEPS), run
    once per test session: the reference of the resume tests here and of the executor tests
    (tests/runner/test_sweep_engines.py). Its runs are never rewritten (a rerun skips them)."""
    if "out" not in _SERIAL:
        out = tmp_path_factory.mktemp("ref")
        res = run_sweep(BASE, GRID, executor="serial", out=out, steps=STEPS, scenario=TRAIN)
        assert res.complete and not res.failed
        _SERIAL["out"] = out
    return _SERIAL["out"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The serial reference sweep: its folder and collected tables."""
    out = serial_sweep(tmp_path_factory)
    return out, collect(out), collect(out, "trajectories")


# --------------------------------------------------------------------------- grids
def test_grid_points_product_order_and_samples():
    pts = grid_points({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(pts) == 6
    assert pts[0] == {"a": 1, "b": "x"} and pts[1] == {"a": 1, "b": "y"} and pts[3]["a"] == 2
    assert grid_points({}) == [{}]
    arr = grid_points({"step_size": np.array([0.1, 0.2])})
    assert arr == [{"step_size": 0.1}, {"step_size": 0.2}]
    assert type(arr[0]["step_size"]) is float
    frame = pd.DataFrame({"step_size": [0.1, 0.3], "batch_size": [4, 8]})
    assert grid_points(frame) == [
        {"step_size": 0.1, "batch_size": 4},
        {"step_size": 0.3, "batch_size": 8},
    ]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"step_size": []}, "step_size: []; expected a non-empty list of values"),
        ({"step_size": 0.1}, "step_size: 0.1; expected a non-empty list of values"),
        ({"step_size": "0.1"}, "step_size: '0.1'; expected a non-empty list of values"),
        ({"batch_size": [8, 8]}, "batch_size: [8, 8]; expected a list of distinct values"),
        ({"seed": [1, 2]}, "seed: [1, 2]; expected a parameter other than"),
        ([], "grid: []; expected a mapping"),
        ([{"a": 1}, {"b": 2}], "grid[1]: ['b']; expected the keys of grid[0]"),
    ],
)
def test_grid_points_refuses_bad_grids(grid, message):
    with pytest.raises(ConfigError) as err:
        grid_points(grid)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_apply_point_fields_task_params_and_controllers():
    base = SystemConfig(controllers=({"type": "step_size"}, {"type": "neuron_count"}))
    cfg = apply_point(
        base,
        {
            "step_size": 0.1,
            "task_params.input_scale": 2.0,
            "controllers.neuron_count.mu_c": 0.3,
            "controllers.0.interval": 5,
        },
    )
    assert cfg.step_size == 0.1 and cfg.task_params == {"input_scale": 2.0}
    assert cfg.controllers[1]["mu_c"] == 0.3 and cfg.controllers[0]["interval"] == 5
    assert base.controllers[1]["mu_c"] == 0.0  # base untouched
    assert apply_point(base, {}) is base


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ({"stepsize": 0.1}, "stepsize: 0.1; expected a SystemConfig field"),
        ({"step_size": -1.0}, "step_size: -1.0; expected a number in (0, inf)"),
        ({"batch_size": 0}, "batch_size: 0; expected an integer >= 1"),
        ({"controllers.3.mu_c": 1.0}, "controllers.3.mu_c: 1.0; expected a controller index"),
        ({"controllers.batch_size.x": 1}, "controllers.batch_size.x: 1; expected a controller"),
        ({"controllers.neuron_count.bogus": 1}, "controllers.neuron_count.bogus: 1; expected"),
        ({"controllers.neuron_count.beta_c": -1.0}, "controllers.neuron_count.beta_c: -1.0;"),
        ({"controllers.mu_c": 1.0}, "controllers.mu_c: 1.0; expected controllers.<index"),
        ({"task_params.bogus": 1.0}, "task_params.bogus: 1.0; expected a parameter of teacher"),
    ],
)
def test_apply_point_refuses_bad_values(point, message):
    base = SystemConfig(controllers=({"type": "step_size"}, {"type": "neuron_count"}))
    with pytest.raises(ConfigError) as err:
        apply_point(base, point)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_bad_grid_refused_before_anything_runs(tmp_path):
    out = tmp_path / "s"
    # the second point is invalid: nothing may run, no folder may appear
    with pytest.raises(ConfigError, match=r"^step_size: -0.5; expected a number"):
        run_sweep(
            BASE, {"step_size": [0.01, -0.5]}, executor="serial", out=out, steps=2, scenario=TRAIN
        )
    with pytest.raises(ConfigError, match=r"^replicates: 0; expected an integer >= 1"):
        run_sweep(BASE, GRID, replicates=0, executor="serial", out=out, scenario=TRAIN)
    with pytest.raises(ConfigError, match=r"^executor: 'threads'; expected one of"):
        run_sweep(BASE, GRID, executor="threads", out=out, scenario=TRAIN)
    with pytest.raises(ConfigError, match=r"^scheduler: 'tcp://x:1'; expected only with"):
        run_sweep(BASE, GRID, executor="local", scheduler="tcp://x:1", out=out, scenario=TRAIN)
    with pytest.raises(ValueError, match=r"^'nosuch': expected an import string 'module:attr'"):
        run_sweep(BASE, GRID, scenario="nosuch", out=out)
    with pytest.raises(ValueError, match=r"^'scenarios.nosuch:run': module 'scenarios.nosuch'"):
        run_sweep(BASE, GRID, scenario="scenarios.nosuch:run", out=out)
    with pytest.raises(ConfigError, match=r"^scenario: 'scenarios:FLAGSHIP'; expected a callable"):
        run_sweep(BASE, GRID, scenario="scenarios:FLAGSHIP", out=out)
    assert not out.exists()


# --------------------------------------------------------------------------- seeds, index, collect
def test_seeds_index_and_collect(reference):
    out, model, traj = reference
    index = load_index(out)
    assert list(index.columns) == [
        "run_id",
        "point",
        "replicate",
        "step_size",
        "batch_size",
        "seed",
        "status",
        "wall_time_s",
        "finished_at",
        "error",
    ]
    assert index["run_id"].tolist() == ["r00000", "r00001", "r00002", "r00003"]
    assert (index["status"] == "done").all() and (index["wall_time_s"] > 0).all()
    # seeds: spawned from the root SeedSequence (the base config's seed), one per run
    kids = np.random.SeedSequence(BASE.seed).spawn(4)
    expected = [int(k.generate_state(1, np.uint64)[0] >> np.uint64(1)) for k in kids]
    assert index["seed"].tolist() == expected and len(set(expected)) == 4
    # each run's folder holds its own config with that seed and the point's values
    for row in index.itertuples():
        data = tomllib.loads((out / "runs" / row.run_id / "config.toml").read_text())
        data.pop("dualsim", None)  # the scenario's provenance table
        cfg = SystemConfig.from_dict(data)
        assert (cfg.seed, cfg.step_size, cfg.batch_size) == (
            row.seed,
            row.step_size,
            row.batch_size,
        )
    # collect: parameter columns first, no paths, no timings; model's own step_size kept apart
    assert list(model.columns[:6]) == [
        "step_size",
        "batch_size",
        "run_id",
        "point",
        "replicate",
        "seed",
    ]
    assert "step_size_run" in model.columns and "batch_size_run" in model.columns
    assert not {"wall_time_s", "finished_at", "status", "error"} & set(model.columns)
    text = [str(v) for v in model.to_numpy().ravel()]
    assert not any(str(out) in v or "/" in v for v in text)
    assert len(model) == 4 * (STEPS + 1) and len(traj) == 4 * (STEPS + 1) * BASE.replicas
    assert (model["step_size"] == model["step_size_run"]).all()  # no controller changed gamma
    # different seeds give different runs; the two points differ
    assert model.groupby("run_id")["free_energy"].last().nunique() == 4
    with pytest.raises(ValueError, match=r"^table: 'nosuch'; expected one of"):
        collect(out, "nosuch")
    with pytest.raises(ValueError, match=r"expected a sweep folder"):
        collect(out / "runs")


def test_replicates_get_distinct_seeds(tmp_path):
    res = run_sweep(
        BASE,
        {"step_size": [0.02]},
        replicates=3,
        executor="serial",
        out=tmp_path,
        steps=2,
        scenario=TRAIN,
    )
    index = res.index
    assert index["replicate"].tolist() == [0, 1, 2] and index["point"].tolist() == [0, 0, 0]
    assert index["seed"].nunique() == 3
    frame = collect(tmp_path)
    assert frame.groupby("replicate")["free_energy"].last().nunique() == 3


def test_rerun_skips_complete_runs_and_keeps_files(reference, tmp_path):
    out, model, _ = reference
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*")}
    res = run_sweep(BASE, GRID, executor="serial", out=out, steps=STEPS, scenario=TRAIN)
    assert res.ran == [] and res.skipped == ["r00000", "r00001", "r00002", "r00003"]
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*")} == stamps
    pd.testing.assert_frame_equal(collect(out), model)
    # another sweep into the same folder is refused, naming what differs
    with pytest.raises(ConfigError, match=r"^out: .*differs in: steps\)$"):
        run_sweep(BASE, GRID, executor="serial", out=out, steps=STEPS + 1, scenario=TRAIN)
    with pytest.raises(ConfigError, match=r"differs in: keys, points"):
        run_sweep(
            BASE, {"step_size": [0.01]}, executor="serial", out=out, steps=STEPS, scenario=TRAIN
        )
    (tmp_path / "other.txt").write_text("not a sweep")
    with pytest.raises(ConfigError, match=r"expected an empty folder or an earlier sweep"):
        run_sweep(BASE, GRID, executor="serial", out=tmp_path, steps=STEPS, scenario=TRAIN)


def test_failing_run_then_resume_matches_uninterrupted(reference, tmp_path):
    _, model, traj = reference
    out = tmp_path / "s"
    marker = tmp_path / "fail-now"
    marker.write_text("")
    opts = {
        "marker": str(marker),
        "mode": "raise",
        "target": {"step_size": 0.05, "batch_size": 8},
    }
    res = run_sweep(BASE, GRID, executor="serial", out=out, steps=STEPS, scenario=flaky,
                    options=opts)  # fmt: skip
    assert res.failed == ["r00002"] and res.ran == ["r00000", "r00001", "r00003"]
    assert not res.complete
    index = load_index(out)
    assert index["status"].tolist() == ["done", "done", "failed", "done"]
    assert index.loc[2, "error"] == "RuntimeError: injected failure"
    assert "injected failure" in (out / "failed" / "r00002.txt").read_text()
    assert not (out / "runs" / "r00002").exists()
    assert not list((out / "runs").glob(".tmp-*"))
    done = {p: p.read_bytes() for p in (out / "runs").rglob("*.parquet")}
    part = collect(out)
    assert part["run_id"].unique().tolist() == ["r00000", "r00001", "r00003"]
    # the failure is fixed: the rerun runs only the failed run
    marker.unlink()
    res2 = run_sweep(BASE, GRID, executor="serial", out=out, steps=STEPS, scenario=flaky,
                     options=opts)  # fmt: skip
    assert res2.ran == ["r00002"] and res2.complete and not res2.failed
    assert all(p.read_bytes() == data for p, data in done.items())
    assert not (out / "failed" / "r00002.txt").exists()
    pd.testing.assert_frame_equal(collect(out), model)
    pd.testing.assert_frame_equal(collect(out, "trajectories"), traj)


def test_killed_sweep_process_resumes(reference, tmp_path):
    """SIGKILL of the sweep process in the middle of a run, then a resume."""
    import subprocess
    import sys

    _, model, _ = reference
    out = tmp_path / "s"
    marker = tmp_path / "killed-once"
    opts = {"marker": str(marker), "mode": "kill", "target": {"step_size": 0.05, "batch_size": 8}}
    code = (
        "from models.config import SystemConfig\n"
        "from runner.sweep import run_sweep\n"
        "from tests.runner.test_sweep import flaky, BASE, GRID, STEPS\n"
        f"run_sweep(BASE, GRID, executor='serial', out={str(out)!r}, steps=STEPS,"
        f" scenario=flaky, options={opts!r})\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=900
    )  # the run r00002 kills its own process: the sweep ends there, at any machine load
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    index = load_index(out)
    assert index["status"].tolist() == ["done", "done", "pending", "pending"]
    assert sorted(p.name for p in (out / "runs").iterdir() if not p.name.startswith(".")) == [
        "r00000",
        "r00001",
    ]
    assert list((out / "runs").glob(".tmp-r00002-*"))  # the killed run's partial folder
    done = {p: p.read_bytes() for p in (out / "runs").glob("r*/*.parquet")}
    res = run_sweep(BASE, GRID, executor="serial", out=out, steps=STEPS, scenario=flaky,
                    options=opts)  # fmt: skip
    assert res.skipped == ["r00000", "r00001"] and res.ran == ["r00002", "r00003"]
    assert not list((out / "runs").glob(".tmp-*"))
    assert all(p.read_bytes() == data for p, data in done.items())
    assert load_index(out)["status"].eq("done").all()
    pd.testing.assert_frame_equal(collect(out), model)


def test_ship_mode_gives_the_same_results(reference, tmp_path):
    _, model, _ = reference
    res = run_sweep(
        BASE, GRID, executor="serial", out=tmp_path, steps=STEPS, ship=True, scenario=TRAIN
    )
    assert res.complete
    pd.testing.assert_frame_equal(collect(tmp_path), model)


def test_nested_sweep_runs_serially_inside_a_run(tmp_path):
    res = run_sweep(BASE, {"step_size": [0.02]}, executor="serial", out=tmp_path / "a",
                    steps=2, scenario=nested)  # fmt: skip
    assert res.complete
    inner = load_index(tmp_path / "a" / "runs" / "r00000" / "inner")
    assert inner["status"].tolist() == ["done", "done"]
    assert not engines.in_run()
    # a run asking for a pool of its own is refused (the run fails, the sweep goes on)
    res = run_sweep(BASE, {"step_size": [0.02]}, executor="serial", out=tmp_path / "b",
                    steps=2, scenario=nested, options={"inner_executor": "local"})  # fmt: skip
    assert res.failed == ["r00000"]
    assert (
        "executor: 'local'; expected 'serial' or None inside a sweep run"
        in (res.index.loc[0, "error"])
    )


# --------------------------------------------------------------------------- CLI
def test_cli_sweep_resume_and_collect(tmp_path, capsys):
    out = tmp_path / "s"
    argv = ["sweep", "train", "--grid", "step_size=0.01,0.05", "--grid", "batch_size=[8, 16]"]
    argv += ["--steps", "3", "--replicas", "4", "--engine", "serial", "--no-progress"]
    argv += ["--out", str(out), "--set", "record_every=1"]
    assert main(argv) == 0
    assert "4 ran, 0 already complete, 0 failed" in capsys.readouterr().out
    assert main(argv) == 0
    assert "0 ran, 4 already complete" in capsys.readouterr().out
    csv = tmp_path / "all.csv"
    assert main(["sweep", "--collect", str(out), "--csv", str(csv)]) == 0
    frame = pd.read_csv(csv)
    assert frame["run_id"].nunique() == 4 and len(frame) == 16
    assert {"step_size", "batch_size", "seed", "free_energy"} <= set(frame.columns)
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["base_config"]["replicas"] == 4 and manifest["steps"] == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "stepsize=0.1"], "error: stepsize: 0.1; expected a SystemConfig field"),
        (["--grid", "step_size="], "error: step_size: []; expected a non-empty list"),
        (["--grid", "step_size=0.1,-2"], "error: step_size: -2.0; expected a number in (0, inf)"),
        (["--grid", "step_size"], "error: --grid: 'step_size'; expected key=value1,value2,..."),
        (["--grid", "batch_size=1", "--grid", "batch_size=2"], "error: --grid: 'batch_size';"),
        (["--engine", "local", "--scheduler", "tcp://127.0.0.1:1"], "error: scheduler:"),
    ],
)
def test_cli_refuses_bad_grids(tmp_path, capsys, extra, message):
    out = tmp_path / "s"
    code = main(["sweep", "train", "--steps", "2", "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message), err
    assert err.count("\n") == 1
    assert not out.exists()


def test_cli_needs_a_name_or_collect(capsys):
    assert main(["sweep"]) == 2
    assert "name: missing; expected a scenario name or --collect DIR" in capsys.readouterr().err


def test_a_folder_in_use_is_refused_a_dead_owner_taken_over(tmp_path):
    import socket
    import subprocess
    import sys

    run_sweep(BASE, {}, executor="serial", out=tmp_path, steps=2, scenario=TRAIN)
    lock = tmp_path / ".lock"
    assert not lock.exists()  # released after the sweep
    lock.write_text(f"{socket.gethostname()} {os.getppid()}")  # a live process
    with pytest.raises(ConfigError, match=r"^out: .*expected a folder no other sweep is writing"):
        run_sweep(BASE, {}, executor="serial", out=tmp_path, steps=2, scenario=TRAIN)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    lock.write_text(f"{socket.gethostname()} {dead}")
    assert run_sweep(
        BASE, {}, executor="serial", out=tmp_path, steps=2, scenario=TRAIN
    ).skipped == ["r00000"]
    assert not lock.exists()


def test_cli_failed_runs_exit_1_and_rerun_completes(tmp_path, capsys, monkeypatch):
    marker = tmp_path / "fail-now"
    marker.write_text("")
    opts = {"marker": str(marker), "mode": "raise", "target": {"step_size": 0.05}}

    def with_flaky(*args, **kwargs):
        return run_sweep(*args, **{**kwargs, "scenario": flaky, "options": opts})

    monkeypatch.setattr(sweep_command, "run_sweep", with_flaky)
    argv = ["sweep", "train", "--grid", "step_size=0.01,0.05", "--steps", "2", "--replicas", "4"]
    argv += ["--engine", "serial", "--no-progress", "--out", str(tmp_path / "s")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 1 of 2 runs failed (first: RuntimeError: injected failure)")
    assert err.count("\n") == 1
    marker.unlink()
    assert main(argv) == 0
    assert "1 ran, 1 already complete, 0 failed" in capsys.readouterr().out
