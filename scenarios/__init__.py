"""The experiments of dualsim: one package per scenario, each an :class:`runner.Experiment`.

A scenario with claims is a small package: ``arms`` (the simulated arms and controls),
``claims`` (its claims as :class:`analysis.verdicts.Claim` data, one verdict function each),
``figures``, and its measurements; the package's docstring states the scenario's contract.
``train`` (a plain training run, no claims) is a single module. :mod:`scenarios.common` holds
the pieces several scenarios share.

:data:`CATALOGUE` names every scenario and the module that holds it, in the order of the claims
tables; the module exposes ``run(config, out, quick, steps, progress, **overrides)`` (``dualsim
run NAME`` calls it) and, for scenarios with verdicts, ``SCENARIO`` (the experiment, which
``dualsim report`` re-runs) and ``CLAIMS``. :data:`FLAGSHIP` is the scenario the README leads
with.

Examples
--------
>>> scenario_names()
['duality', 'madelung', 'particles', 'spacetime', 'train', 'transition', 'worlds']
>>> load("train").__name__
'scenarios.train'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from runner.errors import UsageError

__all__ = ["CATALOGUE", "FLAGSHIP", "describe", "load", "scenario_names"]

CATALOGUE: dict[str, str] = {
    "train": "scenarios.train",
    "transition": "scenarios.transition",
    "madelung": "scenarios.madelung",
    "spacetime": "scenarios.spacetime",
    "duality": "scenarios.duality",
    "particles": "scenarios.particles",
    "worlds": "scenarios.worlds",
}
FLAGSHIP = "transition"


def scenario_names() -> list[str]:
    """Names of the available scenarios, sorted.

    Examples
    --------
    >>> "train" in scenario_names()
    True
    """
    return sorted(CATALOGUE)


def describe(name: str) -> str:
    """First line of a scenario module's docstring.

    Examples
    --------
    >>> describe("train").startswith("Scenario ``train``")
    True
    """
    doc = (load(name).__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""


def load(name: str) -> ModuleType:
    """Import a scenario module by name (a :class:`~runner.errors.UsageError` naming the valid
    ones otherwise).

    Examples
    --------
    >>> try:
    ...     load("nope")
    ... except UsageError as err:
    ...     print(err)  # doctest: +NORMALIZE_WHITESPACE
    scenario: 'nope'; expected one of duality, madelung, particles, spacetime, train, transition,
    worlds
    """
    if name not in CATALOGUE:
        raise UsageError(f"scenario: {name!r}; expected one of {', '.join(scenario_names())}")
    return importlib.import_module(CATALOGUE[name])
