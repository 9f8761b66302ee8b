"""The ``run(config, out, quick, steps, progress, **overrides)`` entry of a scenario module.

Every :class:`~scenarios.framework.Scenario` module exposes the same ``run`` function (the
registry and ``dualsim run`` call it): build the config, simulate every arm, save and analyse
(:func:`scenarios.framework.run_scenario`). :func:`scenario_run` makes it once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from models import SystemConfig
from scenarios.framework import Scenario, run_scenario
from scenarios.result import ScenarioResult

_PARAMETERS = """
Parameters
----------
config : SystemConfig, optional
    Defaults to the scenario's ``default_config(quick)``; ``overrides`` are applied on top.
out : path, optional
    Output folder; default ``results/{name}-YYYYmmdd-HHMMSS``.
quick : bool
    The small size{quick}.
steps : int, optional
    Steps of the main arms (default {default_steps}, quick {quick_steps}).
progress : bool
    Show a progress bar.
**overrides
    SystemConfig fields.

Returns
-------
ScenarioResult
"""


def scenario_run(
    scn: Scenario, summary: str, quick_size: str = ""
) -> Callable[..., ScenarioResult]:
    """The module-level ``run`` of scenario ``scn`` (docstring: ``summary`` and the parameters).

    ``quick_size`` describes the quick size in the docstring (e.g. ``" (64 replicas)"``).

    Examples
    --------
    >>> from scenarios import spacetime
    >>> run = scenario_run(spacetime.SCENARIO, "Run the spacetime scenario.")
    >>> run.__doc__.splitlines()[0], run.__name__
    ('Run the spacetime scenario.', 'run')
    """

    def run(
        config: SystemConfig | None = None,
        out: str | Path | None = None,
        quick: bool = False,
        steps: int | None = None,
        progress: bool = False,
        **overrides: Any,
    ) -> ScenarioResult:
        return run_scenario(scn, config, out, quick, steps, progress, **overrides)

    run.__doc__ = (
        summary.rstrip()
        + "\n"
        + _PARAMETERS.format(
            name=scn.name,
            quick=quick_size,
            default_steps=scn.default_steps,
            quick_steps=scn.quick_steps,
        )
    )
    run.__module__ = type(scn).__module__
    run.__qualname__ = "run"
    return run
