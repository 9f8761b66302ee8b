"""The run layer of dualsim: run an experiment's arms, checkpoint them, save and report.

``experiment`` (the protocol every scenario follows), ``arms`` (the one stepping loop),
``checkpoint`` (checkpoints, resume, signals, divergence as an observer of that loop), ``io``
(the one atomic writer, tables, ``config.toml``), ``report`` (verdicts, figures,
``summary.md``), ``sweep`` (parameter sweeps), ``lifeline`` (child processes that die with
their parent) and ``errors`` (exceptions with exit codes).
The run layer imports :mod:`models` and :mod:`analysis`, never a scenario or the CLI.

Examples
--------
>>> from models import LearningSystem
>>> run_arm("demo", lambda: LearningSystem(replicas=2, n_hidden=2), 2).steps
2
"""

from runner.arms import arm_tables, concat_arms, run_arm
from runner.checkpoint import Session, current, prepare_output, session
from runner.errors import (
    AnalysisFailed,
    ArmFailed,
    ConfigError,
    Diverged,
    DualsimError,
    Interrupted,
    RunFailed,
    UsageError,
    exit_code_for,
)
from runner.experiment import (
    REQUIRED_TABLES,
    Analysis,
    Experiment,
    ScenarioResult,
    default_out,
    resolve,
)
from runner.io import (
    atomic_write,
    load_tables,
    read_config,
    versions,
    write_config,
    write_table,
    write_tables,
)
from runner.report import report, run_scenario, scenario_run
from runner.sweep import collect, default_workers, load_index, run_sweep

__all__ = [
    "REQUIRED_TABLES",
    "Analysis",
    "AnalysisFailed",
    "ArmFailed",
    "ConfigError",
    "Diverged",
    "DualsimError",
    "Experiment",
    "Interrupted",
    "RunFailed",
    "ScenarioResult",
    "Session",
    "UsageError",
    "arm_tables",
    "atomic_write",
    "collect",
    "concat_arms",
    "current",
    "default_out",
    "default_workers",
    "exit_code_for",
    "load_index",
    "load_tables",
    "prepare_output",
    "read_config",
    "report",
    "resolve",
    "run_arm",
    "run_scenario",
    "run_sweep",
    "scenario_run",
    "session",
    "versions",
    "write_config",
    "write_table",
    "write_tables",
]
