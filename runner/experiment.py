"""What every scenario shares: simulate -> save -> analyse -> verdicts, figures, report.

A scenario is an :class:`Experiment` subclass with two halves:

``simulate(config, quick, steps, progress) -> dict[str, DataFrame]``
    runs all its arms and controls and returns the raw tables (every table has an ``arm``
    column): at least ``model``, ``trajectories``, ``neurons`` and ``events``.
``analyse(tables, config, meta) -> Analysis``
    pure analysis of those tables (never simulates): the ``diagnostics`` table, the verdicts,
    the figures and a few summary numbers.

:func:`runner.report.run_scenario` does both and writes the output folder;
:func:`runner.report.report` re-runs only the analysis on a saved folder. Because the analysis
is deterministic given the saved tables and the config (its random streams are seeded from
``config.seed``), ``dualsim report DIR`` rewrites a byte-identical ``verdicts.csv``.
:func:`runner.report.scenario_run` makes the module-level ``run`` function of a scenario module.

Output folder
-------------
``config.toml``
    The resolved :class:`~models.config.SystemConfig` plus a ``[dualsim]`` table: scenario,
    quick, steps, what :meth:`Experiment.setup` drew (``draw_*`` entries), package versions.
``<table>.parquet``
    Every table ``simulate`` returned (``model``, ``trajectories``, ``neurons``, ``events`` ...).
``diagnostics.parquet``
    Tidy: ``arm, diagnostic, quantity, window, value, ci_low, ci_high``.
``verdicts.csv``
    Columns exactly :data:`analysis.verdicts.VERDICT_COLUMNS`.
``figures/*.png``, ``summary.md``
    The figures and a readable report (verdict table, figures, notes).

Verdicts
--------
Each verdict compares a statistic's confidence interval with a threshold fixed in code:
``supported`` when the whole CI is on the claim's side, ``not supported`` when it is wholly on
the other side, ``inconclusive`` when it straddles the threshold -- or when the CI is on the
claim's side but the null control passes the same test too (then the run is not told apart from
its control, which is no evidence), when the claim has no positive control or its positive
control fails the same test in the same run, or when the scenario withholds it (a precondition
failed); the ``note`` column says which. A missing (NaN) number is never a verdict: it raises
:class:`~runner.errors.AnalysisFailed` (the run failed). The claims and the rule are data and
code of :mod:`analysis.verdicts`.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from numpy.linalg import LinAlgError

from analysis.verdicts import MissingNumber, Verdict
from models import SystemConfig
from runner.errors import AnalysisFailed, UsageError

__all__ = [
    "REQUIRED_TABLES",
    "Analysis",
    "Experiment",
    "ScenarioResult",
    "analyse",
    "default_out",
    "resolve",
]

REQUIRED_TABLES = ("model", "trajectories", "neurons", "events")
# errors of numerical code on bad data: inside an analysis they are a failed run (exit 1)
ANALYSIS_ERRORS = (ValueError, ArithmeticError, LinAlgError, IndexError, KeyError)


@dataclass
class Analysis:
    """What ``Experiment.analyse`` returns.

    Attributes
    ----------
    diagnostics : DataFrame
        Tidy diagnostics (:func:`analysis.verdicts.diagnostics_frame`).
    verdicts : list of Verdict
    figures : dict of str to callable
        ``{name: draw}``; ``draw(path)`` writes ``figures/<name>.png``.
    summary : dict
        A few headline numbers.
    notes : list of str
        Lines for the notes section of ``summary.md``.
    """

    diagnostics: pd.DataFrame
    verdicts: list[Verdict]
    figures: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    summary: dict[str, float | int | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class ScenarioResult:
    """Outcome of one scenario run.

    Attributes
    ----------
    name : str
        Scenario name.
    out : Path
        Folder holding the Parquet tables, ``config.toml`` and figures.
    config : SystemConfig
    tables : dict of str to DataFrame
        Every table the scenario saved (file ``<key>.parquet``).
    verdicts : DataFrame
        One row per claim: claim, statistic, value, control, threshold, verdict, note (empty
        for a plain training run).
    figures : list of Path
    summary : dict
        A few headline numbers printed by the CLI.
    """

    name: str
    out: Path
    config: SystemConfig
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    figures: list[Path] = field(default_factory=list)
    summary: dict[str, float | int | str] = field(default_factory=dict)


class Experiment:
    """Base class of the scenarios (see the module docstring).

    Examples
    --------
    >>> class Demo(Experiment):
    ...     name = "demo"
    >>> Demo().default_config(quick=True) == SystemConfig(), Demo.quick_steps
    (True, 100)
    """

    name: str = ""
    quick_steps: int = 100
    default_steps: int = 1000

    def default_config(self, quick: bool) -> SystemConfig:
        """The scenario's default config (before user overrides)."""
        return SystemConfig()

    def setup(self, config: SystemConfig, quick: bool, steps: int) -> dict[str, Any]:
        """Check, before any simulation, that ``config`` makes the scenario well-posed (a
        :class:`~models.ConfigError` naming the field otherwise) and return what the scenario
        drew to make it so, as flat entries of ``config.toml``'s ``[dualsim]`` table (none by
        default)."""
        return {}

    def simulate(
        self, config: SystemConfig, quick: bool, steps: int, progress: bool
    ) -> dict[str, pd.DataFrame]:
        """Run every arm and control; the raw tables, each with an ``arm`` column."""
        raise NotImplementedError

    def analyse(
        self, tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
    ) -> Analysis:
        """Analyse saved tables (never simulates)."""
        raise NotImplementedError


def analyse(
    scn: Experiment,
    tables: dict[str, pd.DataFrame],
    config: SystemConfig,
    meta: dict[str, Any],
    folder: Path,
) -> Analysis:
    """Run ``scn.analyse``; any error in it is a failed run (:class:`AnalysisFailed`, exit 1),
    with the tables kept in ``folder``.

    Examples
    --------
    >>> class Broken(Experiment):
    ...     name = "broken"
    ...     def analyse(self, tables, config, meta):
    ...         return {}["missing"]
    >>> try:
    ...     analyse(Broken(), {}, SystemConfig(), {}, Path("out"))
    ... except AnalysisFailed as err:
    ...     print(str(err)[:47])
    analysis of broken failed (KeyError: 'missing')
    """
    try:
        return scn.analyse(tables, config, meta)
    except AnalysisFailed:
        raise
    except MissingNumber as exc:
        raise AnalysisFailed(str(exc)) from exc
    except ANALYSIS_ERRORS as exc:
        raise AnalysisFailed(
            f"analysis of {scn.name} failed ({type(exc).__name__}: {exc}); the simulated "
            f"tables are kept in {folder}; `dualsim report {folder}` retries the analysis"
        ) from exc


def default_out(name: str, root: str | Path = "results") -> Path:
    """A new folder name ``results/NAME-YYYYmmdd-HHMMSS`` (suffixed if it exists).

    Examples
    --------
    >>> default_out("train").name.startswith("train-")
    True
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    return path


def resolve(target: str | Any) -> Any:
    """The object named by an import string ``"module:attr"`` (anything else is returned as is).

    Examples
    --------
    >>> resolve("runner.experiment:default_out").__name__
    'default_out'
    """
    if not isinstance(target, str):
        return target
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise UsageError(f"{target!r}: expected an import string 'module:attr'")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(f"{target!r}: module {module!r} not importable ({exc})") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"{target!r}: {module} has no {attr!r}") from None
    return obj
