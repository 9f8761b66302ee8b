"""The ``dualsim`` CLI: bad input gives one line on stderr and exit code 2 with no traceback
(--debug shows it); a failed run exits 1 with its traceback saved in the output folder; an
interrupted run exits 130/143; good input runs."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import scenarios
from agents.registry import controller_types
from dualsim.cli import COMMANDS, main
from dualsim.commands import TRACEBACK_FILE
from runner.errors import Interrupted, RunFailed, UsageError


def _error(capsys, argv: list[str], code: int = 2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and err.startswith("error: ")
    return err


def _toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return str(path)


def test_unknown_scenario_lists_the_valid_ones(capsys) -> None:
    err = _error(capsys, ["run", "nosuch"])
    assert "scenario: 'nosuch'" in err
    for name in scenarios.scenario_names():
        assert name in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "step_size"], "--set: 'step_size'; expected key=value"),
        (["--set", "=3"], "expected a non-empty key"),
        (["--set", "0\r0=nan"], "--set: '0\\r0=nan'; expected a config field name"),
        (["--set", "replica=3"], "replica: 3; expected a field of SystemConfig"),
        (["--set", "step_size=-1"], "step_size: -1"),
        (["--set", "step_size=nan"], "step_size: nan"),
        (["--set", "activation=softmax"], "activation: 'softmax'; expected one of tanh"),
        (["--set", "replicas=100000000", "--set", "batch_size=4096"], "GiB"),
        (["--replicas", "0"], "replicas: 0; expected an integer >= 1"),
        (["--steps", "0"], "--steps: 0; expected an integer >= 1"),
        (["--steps", "ten"], "invalid int value: 'ten'"),
        (["--checkpoint-every", "-1"], "--checkpoint-every: -1"),
        (["--divergence-factor", "0.5"], "--divergence-factor: 0.5"),
        (["--on-divergence", "ignore"], "invalid choice: 'ignore'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_options(capsys, tmp_path: Path, args: list[str], expected: str) -> None:
    err = _error(capsys, ["run", "train", "--out", str(tmp_path / "o"), *args])
    assert expected in err


def test_toml_syntax_error_has_the_line_number(capsys, tmp_path: Path) -> None:
    path = _toml(tmp_path, "replicas = 4\nstep_size 0.1\n")
    err = _error(capsys, ["run", "train", "--config", path, "--out", str(tmp_path / "o")])
    assert path in err and "line 2" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('step_size = "big"\n', "step_size: 'big'"),
        ("[system]\nreplicas = -3\n", "replicas: -3"),
        ('[[controllers]]\ntype = "nosuch"\n', "nosuch"),
        ('[[controllers]]\ntype = "step_size"\npolicy = "wobble"\n', "wobble"),
        ('task = "parity"\nn_output = 2\n', "task: 'parity'"),
        ('topology = "no/such/graph.json"\n', "topology"),
    ],
)
def test_bad_toml_values(capsys, tmp_path: Path, text: str, expected: str) -> None:
    err = _error(capsys, ["run", "train", "--config", _toml(tmp_path, text)])
    assert expected in err


def test_unknown_controller_lists_the_types(capsys, tmp_path: Path) -> None:
    err = _error(
        capsys, ["run", "train", "--config", _toml(tmp_path, '[[controllers]]\ntype = "x"\n')]
    )
    assert all(t in err for t in controller_types())


def test_missing_config_file(capsys, tmp_path: Path) -> None:
    err = _error(capsys, ["run", "train", "--config", str(tmp_path / "none.toml")])
    assert "none.toml" in err


def test_report_and_show_on_a_missing_folder(capsys, tmp_path: Path) -> None:
    for cmd in ("report", "show"):
        err = _error(capsys, [cmd, str(tmp_path / "none")])
        assert "none: not a folder" in err


def test_report_on_a_folder_without_config(capsys, tmp_path: Path) -> None:
    err = _error(capsys, ["report", str(tmp_path)])
    assert "config.toml: missing" in err


def test_debug_shows_the_traceback() -> None:
    with pytest.raises(UsageError, match="scenario: 'nosuch'"):
        main(["run", "nosuch", "--debug"])


def test_the_commands_are_listed_once() -> None:
    assert [m.NAME for m in COMMANDS] == ["run", "sweep", "report", "show", "list", "app"]


@pytest.mark.parametrize(
    "error",
    [ValueError("bad value inside the model"), OSError("disk full"), ZeroDivisionError("x")],
)
def test_any_error_inside_a_run_is_a_failed_run(capsys, monkeypatch, tmp_path, error) -> None:
    def broken(**kwargs):
        raise error

    monkeypatch.setattr(scenarios.load("train"), "run", broken)
    out = tmp_path / "o"
    assert main(["run", "train", "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert type(error).__name__ in err and str(error) in err and "--debug" in err
    assert "the run failed before its first arm" in err
    saved = (out / TRACEBACK_FILE).read_text()
    assert saved.startswith("Traceback") and f"{type(error).__name__}: {error}" in saved
    with pytest.raises(RunFailed) as info:
        main(["run", "train", "--out", str(tmp_path / "o2"), "--debug"])
    assert info.value.__cause__ is error  # --debug shows the original traceback too


def test_run_failed_keeps_its_message(capsys, monkeypatch, tmp_path) -> None:
    def broken(**kwargs):
        raise RunFailed("diverged at step 3; tables kept")

    monkeypatch.setattr(scenarios.load("train"), "run", broken)
    assert main(["run", "train", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: diverged at step 3; tables kept; traceback in ")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_runs_exit_130_or_143(capsys, monkeypatch, tmp_path, signum, code) -> None:
    def stopped(**kwargs):
        raise Interrupted(signum, "checkpoint saved")

    monkeypatch.setattr(scenarios.load("train"), "run", stopped)
    assert main(["run", "train", "--out", str(tmp_path / "o")]) == code
    assert capsys.readouterr().err.strip() == "interrupted: checkpoint saved"
    assert not (tmp_path / "o" / TRACEBACK_FILE).exists()


def test_good_input_runs(capsys, tmp_path: Path) -> None:
    path = _toml(tmp_path, "[system]\nreplicas = 3\nn_hidden = 2\n")
    argv = ["run", "train", "--config", path, "--steps", "3", "--set", "step_size=0.02"]
    assert main([*argv, "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    assert "train: wrote" in capsys.readouterr().out
