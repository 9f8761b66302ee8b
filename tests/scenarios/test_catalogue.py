"""Every scenario of the catalogue imports and exposes its contract (cheap: nothing is run).

One parametrised case per scenario, as Mesa's ``tests/test_examples.py`` does for its examples:
the module has ``run``; a scenario with claims also has ``SCENARIO`` (its
:class:`runner.Experiment`, named as in the catalogue) and ``CLAIMS`` (its own
:class:`analysis.verdicts.Claim` declarations).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from analysis.verdicts import Claim
from runner import Experiment
from scenarios import CATALOGUE, FLAGSHIP, describe, load

WITHOUT_CLAIMS = {"train"}


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_scenario_module_exposes_its_contract(name: str) -> None:
    module = load(name)
    assert module.__name__ == CATALOGUE[name]
    assert callable(module.run)
    assert "out" in inspect.signature(module.run).parameters
    assert describe(name), f"{name}: the module docstring states the scenario"
    assert "run" in module.__all__
    if name in WITHOUT_CLAIMS:
        assert not hasattr(module, "CLAIMS")
        return
    assert isinstance(module.SCENARIO, Experiment)
    assert module.SCENARIO.name == name
    assert {"SCENARIO", "CLAIMS"} <= set(module.__all__)
    claims = module.CLAIMS
    assert isinstance(claims, tuple) and claims, f"{name}: no claims declared"
    assert all(isinstance(c, Claim) and c.scenario == name for c in claims)
    assert len({c.name for c in claims}) == len(claims), f"{name}: a claim declared twice"


@pytest.mark.parametrize("name", sorted(set(CATALOGUE) - WITHOUT_CLAIMS))
def test_thresholds_live_only_in_the_claims(name: str) -> None:
    """No scenario module keeps a threshold constant beside its Claim declarations."""
    package = load(name)
    modules = [package]
    if hasattr(package, "__path__"):
        for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            modules.append(importlib.import_module(info.name))
    found = [f"{m.__name__}.{k}" for m in modules for k in vars(m) if k.endswith("THRESHOLD")]
    assert not found, f"threshold constants outside the claims: {found}"


def test_flagship_is_in_the_catalogue() -> None:
    assert FLAGSHIP in CATALOGUE
