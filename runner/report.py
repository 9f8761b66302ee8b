"""Run a scenario and write its report: tables, ``verdicts.csv``, figures, ``summary.md``.

:func:`run_scenario` simulates every arm of an :class:`~runner.experiment.Experiment`, saves
the tables, analyses what was saved and writes the report; :func:`report` re-runs only the
analysis of a saved folder. :func:`scenario_run` makes the module-level ``run`` function every
scenario module exposes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from numpy.linalg import LinAlgError

from analysis.verdicts import verdict_frame
from models import SystemConfig
from runner.errors import AnalysisFailed, UsageError
from runner.experiment import (
    REQUIRED_TABLES,
    Analysis,
    Experiment,
    ScenarioResult,
    analyse,
    default_out,
    resolve,
)
from runner.io import atomic_write, load_tables, read_config, write_config, write_table

__all__ = [
    "markdown_table",
    "report",
    "run_scenario",
    "scenario_run",
    "summary_markdown",
    "write_report",
]

FIGURE_ERRORS = (ValueError, ArithmeticError, LinAlgError, IndexError, KeyError)


def write_report(
    scn: Experiment,
    out: Path,
    config: SystemConfig,
    meta: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    analysis: Analysis,
) -> ScenarioResult:
    """Write ``diagnostics.parquet``, ``verdicts.csv``, ``figures/*.png`` and ``summary.md``.

    A figure that fails to draw is a failed run (:class:`AnalysisFailed`); the tables and
    verdicts written before it are kept.
    """
    write_table(out / "diagnostics.parquet", analysis.diagnostics)
    verdicts = verdict_frame(analysis.verdicts)
    atomic_write(out / "verdicts.csv", verdicts.to_csv(index=False).encode())
    fig_dir = out / "figures"
    fig_dir.mkdir(exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for name, draw in analysis.figures.items():
        path = fig_dir / f"{name}.png"
        try:
            draw(path)
        except FIGURE_ERRORS as exc:
            raise AnalysisFailed(
                f"figure {name} of {scn.name} failed ({type(exc).__name__}: {exc}); the "
                f"tables and verdicts are kept in {out}"
            ) from exc
        plt.close("all")
        paths.append(path)
    summary_md = summary_markdown(scn, config, meta, verdicts, paths, analysis)
    atomic_write(out / "summary.md", summary_md.encode())
    all_tables = dict(tables)
    all_tables["diagnostics"] = analysis.diagnostics
    return ScenarioResult(
        scn.name,
        out,
        config,
        all_tables,
        verdicts=verdicts,
        figures=paths,
        summary=dict(analysis.summary),
    )


def summary_markdown(
    scn: Experiment,
    config: SystemConfig,
    meta: dict[str, Any],
    verdicts: pd.DataFrame,
    figures: list[Path],
    analysis: Analysis,
) -> str:
    """The text of ``summary.md``: the scenario's docstring, the verdict table, the summary
    numbers, the notes and the figures."""
    lines = [f"# dualsim `{scn.name}`", ""]
    doc = (type(scn).__doc__ or "").strip()
    if doc:
        lines += [doc, ""]
    lines += [
        f"Seed {config.seed}, {config.replicas} replicas, {meta.get('steps')} steps"
        f"{' (quick)' if meta.get('quick') else ''}. Time unit: one learning step.",
        "",
        "## Verdicts",
        "",
        markdown_table(verdicts),
        "",
        "Verdict rule: `supported` when the whole CI is on the claim's side of the threshold, "
        "`not supported` when it is wholly on the other side, `inconclusive` when it straddles.",
        "",
    ]
    if analysis.summary:
        lines += ["## Numbers", ""]
        lines += [
            f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}"
            for k, v in analysis.summary.items()
        ]
        lines.append("")
    if analysis.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in analysis.notes] + [""]
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{p.stem}](figures/{p.name})" for p in figures]
        lines.append("")
    return "\n".join(lines)


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (floats to 4 significant digits, NaN blank).

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"a": [1.23456, float("nan")], "b": ["x", "y"]})))
    | a | b |
    | --- | --- |
    | 1.235 | x |
    |  | y |
    """

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.4g}"
        return str(v)

    head = "| " + " | ".join(frame.columns) + " |"
    sep = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def run_scenario(
    scn: Experiment,
    config: SystemConfig | None = None,
    out: str | Path | None = None,
    quick: bool = False,
    steps: int | None = None,
    progress: bool = False,
    **overrides: Any,
) -> ScenarioResult:
    """Simulate every arm, save the tables, analyse them, write verdicts/figures/summary.

    ``config`` defaults to the scenario's default config; ``overrides`` are applied on top.
    """
    base = config if config is not None else scn.default_config(quick)
    if overrides:
        base = base.replace(**overrides)
    n_steps = steps if steps is not None else (scn.quick_steps if quick else scn.default_steps)
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise UsageError(f"steps: {n_steps!r}; expected an integer >= 1")
    drawn = scn.setup(base, quick, n_steps)  # an ill-posed config is refused before simulating
    folder = Path(out) if out is not None else default_out(scn.name)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"scenario": scn.name, "quick": bool(quick), "steps": int(n_steps), **drawn}
    write_config(folder, base, meta)
    tables = scn.simulate(base, quick, n_steps, progress)
    for name in REQUIRED_TABLES:
        if name not in tables:
            raise AnalysisFailed(f"scenario {scn.name} produced no {name!r} table")
    for name, frame in tables.items():
        if "arm" not in frame.columns:
            raise AnalysisFailed(f"table {name!r} of {scn.name} has no 'arm' column")
        write_table(folder / f"{name}.parquet", frame)
    # analyse what was saved, exactly as `dualsim report` will
    saved = load_tables(folder, list(tables))
    result = analyse(scn, saved, base, meta, folder)
    return write_report(scn, folder, base, meta, saved, result)


def report(out: str | Path, experiment: Experiment | str) -> ScenarioResult:
    """Re-run the analysis of a saved result folder (no simulation) and rewrite its report.

    Parameters
    ----------
    out : path
        A folder written by :func:`run_scenario`.
    experiment : Experiment or str
        The scenario that wrote it, or its import string (``"scenarios.transition:SCENARIO"``).
        Its name must be the ``[dualsim] scenario`` entry of ``config.toml``.
    """
    folder = Path(out)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder; expected a dualsim result folder")
    config, meta = read_config(folder)
    name = meta.get("scenario")
    if not name:
        raise UsageError(f"{folder / 'config.toml'}: no [dualsim] scenario entry")
    scn = resolve(experiment)
    if not isinstance(scn, Experiment):
        raise UsageError(f"experiment: {experiment!r}; expected an Experiment")
    if scn.name != name:
        raise UsageError(f"{folder}: a {name!r} result folder; expected one of {scn.name!r}")
    tables = load_tables(folder)
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise UsageError(f"{folder / (missing[0] + '.parquet')}: missing")
    result = analyse(scn, tables, config, meta, folder)
    return write_report(scn, folder, config, meta, tables, result)


def scenario_run(
    scn: Experiment, summary: str, quick_size: str = ""
) -> Callable[..., ScenarioResult]:
    """The module-level ``run`` of scenario ``scn`` (docstring: ``summary`` and the parameters).

    ``quick_size`` describes the quick size in the docstring (e.g. ``" (64 replicas)"``).

    Examples
    --------
    >>> class Demo(Experiment):
    ...     name = "demo"
    >>> run = scenario_run(Demo(), "Run the demo scenario.")
    >>> run.__doc__.splitlines()[0], run.__name__
    ('Run the demo scenario.', 'run')
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
