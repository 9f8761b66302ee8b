"""The run layer's pieces: exit codes, the atomic writer, the stepping loop's observer hooks,
``report`` and import strings."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import ConfigError, LearningSystem, SystemConfig
from models.divergence import Diverged
from runner import arms, io
from runner.errors import (
    AnalysisFailed,
    Interrupted,
    RunFailed,
    UsageError,
    exit_code_for,
)
from runner.experiment import Experiment, resolve
from runner.report import report
from scenarios import CATALOGUE, FLAGSHIP, load, scenario_names

SMALL = dict(replicas=2, n_hidden=2, seed=3)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ConfigError("replicas", 0, "an integer >= 1"), 2),
        (UsageError("--out x: a file"), 2),
        (RunFailed("failed"), 1),
        (AnalysisFailed("nan"), 1),
        (Diverged(3, [0], ["loss"], "too large", 4), 1),
        (Interrupted(signal.SIGINT, "stop"), 130),
        (Interrupted(signal.SIGTERM, "stop"), 143),
        (KeyboardInterrupt(), 130),
        (ValueError("a bug in a simulation"), 1),  # never "bad input"
        (OSError("disk full"), 1),
        (ZeroDivisionError(), 1),
    ],
)
def test_exit_codes(exc: BaseException, code: int) -> None:
    assert exit_code_for(exc) == code


def test_usage_errors_are_value_errors_and_failures_are_not() -> None:
    assert issubclass(UsageError, ValueError)
    assert not issubclass(RunFailed, ValueError) and issubclass(AnalysisFailed, RunFailed)


# --------------------------------------------------------------------------- the atomic writer
def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    io.atomic_write(path, b"old")

    def broken(fh) -> None:
        fh.write(b"half")
        raise RuntimeError("disk went away")

    with pytest.raises(RuntimeError):
        io.atomic_write(path, broken)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.bin"]


def test_write_table_bytes_equal_a_plain_parquet_write(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": np.arange(5), "b": np.linspace(0, 1, 5), "c": list("vwxyz")})
    io.write_table(tmp_path / "atomic.parquet", frame)
    frame.to_parquet(tmp_path / "plain.parquet", index=False)
    assert (tmp_path / "atomic.parquet").read_bytes() == (tmp_path / "plain.parquet").read_bytes()


def test_read_config_names_a_bad_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("replicas = 0\n")
    with pytest.raises(UsageError, match=r"config\.toml: replicas: 0; expected"):
        io.read_config(tmp_path)
    (tmp_path / "config.toml").write_text("replicas = \n")
    with pytest.raises(UsageError, match="not valid TOML"):
        io.read_config(tmp_path)


# --------------------------------------------------------------------------- the stepping loop
class _Recorder:
    """A session stand-in: hands run_arm an observer that records its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def open_arm(self, arm, build, steps, tables):
        rec = self

        class Observer:
            model = build()

            def started(self) -> None:
                rec.calls.append("started")

            def stepped(self) -> None:
                rec.calls.append(f"stepped {self.model.steps}")

            def diverged(self, error: Diverged) -> None:
                rec.calls.append(f"diverged {error.step}")

            def stopped(self) -> None:
                rec.calls.append("stopped")

            def finished(self) -> None:
                rec.calls.append("finished")

        rec.calls.append(f"open {arm} {steps} {tables.__name__}")
        return Observer()


def test_run_arm_calls_its_observer_around_every_step(monkeypatch) -> None:
    rec = _Recorder()
    monkeypatch.setattr(arms, "current", lambda: rec)
    model = arms.run_arm("a", lambda: LearningSystem(**SMALL), 2)
    assert model.steps == 2
    assert rec.calls == [
        "open a 2 arm_tables",
        "started",
        "stepped 1",
        "stepped 2",
        "stopped",
        "finished",
    ]


def test_run_arm_reports_a_divergence_to_its_observer(monkeypatch) -> None:
    rec = _Recorder()
    monkeypatch.setattr(arms, "current", lambda: rec)

    def poison(m: LearningSystem) -> None:
        w = m.ensemble.w.copy()
        w[0] = np.nan
        m.ensemble.set_w(w)

    with pytest.raises(Diverged):
        arms.run_arm("b", lambda: LearningSystem(**SMALL), 5, actions={1: poison})
    assert rec.calls == ["open b 5 arm_tables", "started", "stepped 1", "diverged 2", "stopped"]


def test_run_arm_without_a_session_equals_model_run() -> None:
    a = arms.run_arm("a", lambda: LearningSystem(**SMALL), 4)
    b = LearningSystem(**SMALL)
    b.run(4, progress=False)
    pd.testing.assert_frame_equal(a.trajectories(), b.trajectories())


# --------------------------------------------------------------------------- report, resolve
def test_report_checks_its_folder_and_experiment(tmp_path: Path) -> None:
    class Demo(Experiment):
        name = "demo"

    with pytest.raises(UsageError, match="not a folder"):
        report(tmp_path / "nope", Demo())
    io.write_config(tmp_path, SystemConfig(replicas=2), {"scenario": "other"})
    with pytest.raises(UsageError, match="a 'other' result folder; expected one of 'demo'"):
        report(tmp_path, Demo())
    with pytest.raises(UsageError, match="expected an Experiment"):
        report(tmp_path, "runner.io:versions")


def test_resolve_import_strings() -> None:
    assert resolve("runner.io:atomic_write") is io.atomic_write
    assert resolve(len) is len
    for bad, message in [
        ("runner.io", "expected an import string"),
        ("runner.nosuch:x", "not importable"),
        ("runner.io:nosuch", "has no 'nosuch'"),
    ]:
        with pytest.raises(UsageError, match=message):
            resolve(bad)


# --------------------------------------------------------------------------- the catalogue
def test_the_catalogue_names_importable_scenarios() -> None:
    assert FLAGSHIP in CATALOGUE and scenario_names() == sorted(CATALOGUE)
    for name in scenario_names():
        module = load(name)
        assert callable(module.run) and module.__name__ == CATALOGUE[name]
        scn = getattr(module, "SCENARIO", None)
        assert scn is None or (isinstance(scn, Experiment) and scn.name == name)
    with pytest.raises(UsageError, match="scenario: 'nope'; expected one of"):
        load("nope")
