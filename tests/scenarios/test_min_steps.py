"""The smallest run a scenario accepts also finishes.

A scenario refuses a step count that is too small for its analysis before anything is
simulated (exit 2 naming ``steps``). The boundary is found here from the scenario's own
pre-simulation check, one step below is refused, and a ``--quick`` run at the boundary
exits 0 with a verdict table: an accepted count whose analysis then fails (exit 1) is a bug.
"""

from __future__ import annotations

import pandas as pd
import pytest

import scenarios
from dualsim.cli import main
from models.config import ConfigError


def _experiments() -> list[str]:
    out = []
    for name in scenarios.scenario_names():
        scn = getattr(scenarios.load(name), "SCENARIO", None)
        if scn is not None and smallest_steps(name) < scn.quick_steps:
            out.append(name)
    return out


def smallest_steps(name: str) -> int:
    """The smallest step count the scenario's quick configuration accepts (no stepping)."""
    scn = scenarios.load(name).SCENARIO
    config = scn.default_config(True)
    for steps in range(1, scn.quick_steps + 1):
        try:
            scn.setup(config, True, steps)
        except ConfigError:
            continue
        return steps
    return scn.quick_steps


def _argv(name: str, steps: int, out) -> list[str]:
    argv = ["run", name, "--quick", "--steps", str(steps), "--seed", "2", "--no-progress"]
    return [*argv, "--out", str(out)]


@pytest.mark.parametrize("name", ["duality", "madelung", "transition", "particles"])
def test_one_step_below_the_smallest_run_is_refused_naming_steps(tmp_path, capsys, name):
    steps = smallest_steps(name)
    assert steps > 1, f"{name}: accepts a single step"
    assert main(_argv(name, steps - 1, tmp_path / "below")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "steps" in err[0], err
    assert not list((tmp_path / "below").glob("*.parquet"))


@pytest.mark.slow
@pytest.mark.parametrize("name", _experiments())
def test_the_smallest_accepted_run_finishes(tmp_path, name):
    steps = smallest_steps(name)
    out = tmp_path / name
    code = main(_argv(name, steps, out))
    assert code == 0, f"{name} --quick --steps {steps} --seed 2: exit {code}"
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert len(verdicts) > 0, f"{name} --steps {steps}: empty verdict table"
