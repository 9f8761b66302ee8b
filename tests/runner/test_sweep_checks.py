"""A sweep refuses an ill-posed run before anything runs: ``run_sweep(check=...)`` and
``dualsim sweep`` applying the scenario's well-posedness check (``SCENARIO.setup``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualsim.cli import main
from models import ConfigError, SystemConfig
from runner.sweep import run_sweep

TRAIN = "scenarios.train:run"


def test_check_sees_every_run_config_and_refuses_before_anything_runs(tmp_path: Path) -> None:
    seen: list[SystemConfig] = []

    def check(config: SystemConfig) -> None:
        seen.append(config)
        if config.batch_size > 8:
            raise ConfigError("batch_size", config.batch_size, "<= 8 for this scenario")

    grid = {"batch_size": [4, 16]}
    with pytest.raises(ConfigError, match=r"^batch_size: 16; expected <= 8"):
        run_sweep(SystemConfig(replicas=4), grid, replicates=2, executor="serial",
                  out=tmp_path / "s", steps=2, scenario=TRAIN, check=check)  # fmt: skip
    assert not (tmp_path / "s").exists()
    assert [c.batch_size for c in seen] == [4, 4, 16]  # with their own seeds
    assert seen[0].seed != seen[1].seed
    res = run_sweep(SystemConfig(replicas=4), {"batch_size": [4, 8]}, executor="serial",
                    out=tmp_path / "ok", steps=2, scenario=TRAIN, check=check)  # fmt: skip
    assert res.complete


def test_cli_sweep_refuses_an_ill_posed_scenario_config(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s"
    argv = ["sweep", "madelung", "--quick", "--steps", "2", "--replicas", "4"]
    argv += ["--grid", "step_size=0.01,0.02", "--engine", "serial", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: replicas: 4; expected >= ") and len(err.splitlines()) == 1, err
    assert not out.exists()
