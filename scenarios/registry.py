"""The scenario catalogue: name -> module with ``run(config, out, quick, **overrides)``."""

from __future__ import annotations

import importlib
from types import ModuleType

SCENARIOS: dict[str, str] = {
    "train": "scenarios.train",
    "transition": "scenarios.transition",
    "madelung": "scenarios.madelung",
    "spacetime": "scenarios.spacetime",
    "duality": "scenarios.duality",
}
FLAGSHIP = "transition"


def scenario_names() -> list[str]:
    """Names of the available scenarios.

    Examples
    --------
    >>> "train" in scenario_names()
    True
    """
    return sorted(SCENARIOS)


def describe(name: str) -> str:
    """First line of a scenario module's docstring."""
    doc = (load(name).__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""


def load(name: str) -> ModuleType:
    """Import a scenario module by name (ValueError naming the valid ones otherwise)."""
    if name not in SCENARIOS:
        raise ValueError(f"scenario: {name!r}; expected one of {', '.join(scenario_names())}")
    return importlib.import_module(SCENARIOS[name])
