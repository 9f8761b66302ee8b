"""What every scenario shares: simulate -> save -> analyse -> verdicts, figures, report.

A scenario is a :class:`Scenario` subclass with two halves:

``simulate(config, quick, steps, progress) -> dict[str, DataFrame]``
    runs all its arms and controls and returns the raw tables (every table has an ``arm``
    column): at least ``model``, ``trajectories``, ``neurons`` and ``events``.
``analyse(tables, config, meta) -> Analysis``
    pure analysis of those tables (never simulates): the ``diagnostics`` table, the verdicts,
    the figures and a few summary numbers.

:func:`run_scenario` does both and writes the output folder; :func:`report` re-runs only the
analysis on a saved folder. Because the analysis is deterministic given the saved tables and the
config (its random streams are seeded from ``config.seed``), ``dualsim report DIR`` rewrites a
byte-identical ``verdicts.csv``.

Output folder
-------------
``config.toml``
    The resolved :class:`~models.config.SystemConfig` plus a ``[dualsim]`` table: scenario,
    quick, steps, package versions.
``<table>.parquet``
    Every table ``simulate`` returned (``model``, ``trajectories``, ``neurons``, ``events`` ...).
``diagnostics.parquet``
    Tidy: ``arm, diagnostic, quantity, window, value, ci_low, ci_high``.
``verdicts.csv``
    Columns exactly :data:`VERDICT_COLUMNS`.
``figures/*.png``, ``summary.md``
    The figures and a readable report (verdict table, figures, notes).

Verdicts
--------
Each verdict compares a statistic's confidence interval with a threshold fixed in code:
``supported`` when the whole CI is on the claim's side, ``not supported`` when it is wholly on
the other side, ``inconclusive`` when it straddles the threshold -- or when the CI is on the
claim's side but the null control passes the same test too (then the run is not told apart from
its control, which is no evidence). A missing (NaN) number is never a verdict: it raises
:class:`AnalysisFailed` (the run failed).
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.linalg import LinAlgError

from models.config import ConfigError, SystemConfig
from scenarios.commands import RunFailed
from scenarios.result import ScenarioResult

VERDICT_COLUMNS = [
    "claim",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "control",
    "control_value",
    "positive_control_value",
    "threshold",
    "verdict",
]
DIAGNOSTIC_COLUMNS = ["arm", "diagnostic", "quantity", "window", "value", "ci_low", "ci_high"]
CLAIMS = (
    "Fokker-Planck form",
    "entropy budget",
    "Madelung (fixed N)",
    "Schrödinger (adaptive)",
    "independent hbar routes agree",
    "real-time signatures",
    "Lorentz signature",
    "emergent locality/dispersion",
    "geodesic motion",
    "Einstein equations with Lambda",
    "Lambda tracks N",
    "duality",
)
REQUIRED_TABLES = ("model", "trajectories", "neurons", "events")


class AnalysisFailed(RunFailed):
    """The analysis could not produce a number it needs (a failed run, exit 1)."""


def judge(ci_low: float, ci_high: float, threshold: float, sense: str) -> str:
    """Verdict of a CI against a threshold.

    Parameters
    ----------
    ci_low, ci_high : float
        The statistic's confidence interval.
    threshold : float
    sense : {">", "<"}
        The claim holds when the statistic is above (``">"``) or below (``"<"``) the threshold.

    Examples
    --------
    >>> judge(0.2, 0.4, 1.0, "<"), judge(0.8, 1.2, 1.0, "<"), judge(1.5, 2.0, 1.0, "<")
    ('supported', 'inconclusive', 'not supported')
    """
    if sense not in (">", "<"):
        raise ValueError(f"sense: {sense!r}; expected '>' or '<'")
    for name, v in (("ci_low", ci_low), ("ci_high", ci_high), ("threshold", threshold)):
        if v is None or not math.isfinite(float(v)):
            raise AnalysisFailed(f"{name}: {v}; a verdict needs finite numbers")
    lo, hi = sorted((float(ci_low), float(ci_high)))
    if sense == ">":
        if lo > threshold:
            return "supported"
        if hi < threshold:
            return "not supported"
    else:
        if hi < threshold:
            return "supported"
        if lo > threshold:
            return "not supported"
    return "inconclusive"


@dataclass
class Verdict:
    """One row of the verdict table.

    ``value`` with CI (``ci_low``, ``ci_high``) is the statistic on the run; ``control`` names
    the null control and ``control_value`` is the same statistic on it;
    ``positive_control_value`` the statistic on a positive control (NaN when the claim has
    none); the claim holds when the statistic is on the ``sense`` side of ``threshold``.
    """

    claim: str
    statistic: str
    value: float
    ci_low: float
    ci_high: float
    control: str
    control_value: float
    threshold: float
    sense: str
    positive_control_value: float = float("nan")
    verdict: str = ""

    def __post_init__(self) -> None:
        if self.claim not in CLAIMS:
            raise ValueError(f"claim: {self.claim!r}; expected one of {', '.join(CLAIMS)}")
        for name in ("value", "control_value"):
            v = getattr(self, name)
            if v is None or not math.isfinite(float(v)):
                raise AnalysisFailed(
                    f"{self.claim}: {name} is {v}; a missing number is a failed run"
                )
        # a (biased) percentile interval can miss its own point estimate: widen it to include
        # the value, which only makes the verdict more cautious
        if math.isfinite(float(self.ci_low)) and math.isfinite(float(self.ci_high)):
            self.ci_low = min(float(self.ci_low), float(self.value))
            self.ci_high = max(float(self.ci_high), float(self.value))
        self.verdict = judge(self.ci_low, self.ci_high, self.threshold, self.sense)
        control_passes = (
            self.control_value < self.threshold
            if self.sense == "<"
            else self.control_value > self.threshold
        )
        if self.verdict == "supported" and control_passes:
            # the null control passes the same test: the run is not told apart from it
            self.verdict = "inconclusive"

    def row(self) -> dict[str, Any]:
        """The verdict-table row.

        Examples
        --------
        >>> v = Verdict("entropy budget", "closure", 0.05, 0.02, 0.08, "shuffled", 0.5, 0.1, "<")
        >>> v.row()["verdict"], Verdict("entropy budget", "closure", 0.05, 0.02, 0.08,
        ...                             "shuffled", 0.06, 0.1, "<").verdict
        ('supported', 'inconclusive')
        """
        return {
            "claim": self.claim,
            "statistic": self.statistic,
            "value": float(self.value),
            "ci_low": float(self.ci_low),
            "ci_high": float(self.ci_high),
            "control": self.control,
            "control_value": float(self.control_value),
            "positive_control_value": float(self.positive_control_value),
            "threshold": f"{self.sense} {self.threshold:g}",
            "verdict": self.verdict,
        }


def verdict_frame(verdicts: list[Verdict]) -> pd.DataFrame:
    """The verdict table (columns exactly :data:`VERDICT_COLUMNS`)."""
    return pd.DataFrame([v.row() for v in verdicts], columns=VERDICT_COLUMNS)


@dataclass
class Analysis:
    """What ``Scenario.analyse`` returns."""

    diagnostics: pd.DataFrame
    verdicts: list[Verdict]
    figures: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    summary: dict[str, float | int | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def diagnostics_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Tidy diagnostics table from row dicts (missing CI -> NaN, window -> -1).

    Examples
    --------
    >>> diagnostics_frame([{"arm": "a", "diagnostic": "km", "quantity": "D", "value": 1.0}]).shape
    (1, 7)
    """
    frame = pd.DataFrame(rows)
    for col, default in (("window", -1), ("ci_low", np.nan), ("ci_high", np.nan)):
        if col not in frame:
            frame[col] = default
    frame["window"] = frame["window"].fillna(-1).astype(int)
    frame["value"] = frame["value"].astype(float)
    return frame[DIAGNOSTIC_COLUMNS]


def run_arm(
    arm: str,
    build: Callable[[], Any],
    steps: int,
    progress: bool = False,
    actions: dict[int, Callable[[Any], None]] | None = None,
) -> Any:
    """Build one arm's model and run it; the one place where scenarios step models.

    Parameters
    ----------
    arm : str
        The arm's name (shown on the progress bar; the reliability layer keys checkpoints on it).
    build : callable
        Returns a fresh :class:`~models.LearningSystem` for the arm (deterministic: the same
        call must give the same model, so an arm can be re-created on resume).
    steps : int
        Steps to run.
    progress : bool
        Show a progress bar.
    actions : dict of int to callable, optional
        ``{k: fn}`` calls ``fn(model)`` when ``model.steps == k``, before the next step (a quench,
        an injected packet ...). Actions must be deterministic functions of the model.

    Returns
    -------
    LearningSystem
        The model after ``steps`` steps.

    Examples
    --------
    >>> from models import LearningSystem
    >>> m = run_arm("demo", lambda: LearningSystem(replicas=2, n_hidden=2), 3,
    ...             actions={1: lambda mm: setattr(mm, "step_size", 0.2)})
    >>> m.steps, m.step_size
    (3, 0.2)
    """
    from scenarios.checkpoint import current

    sess = current()  # a dualsim run: checkpoints, resume, signals, divergence handling
    if sess is not None:
        return sess.run_arm(arm, build, steps, progress, actions)
    model = build()
    actions = dict(actions or {})
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=arm, leave=False)
    try:
        while model.steps < steps:
            action = actions.get(model.steps)
            if action is not None:
                action(model)
            model.step()
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return model


def arm_tables(model: Any, arm: str) -> dict[str, pd.DataFrame]:
    """The standard tables of one arm, each with an ``arm`` column.

    ``model`` (DataCollector model table), ``trajectories``, ``neurons`` (DataCollector
    NeuronAgent table), ``neuron_states`` and ``events`` (controller events and model events,
    with a ``source`` column).
    """
    controller_events = model.controller_events().assign(source="controller")
    model_events = model.events().rename(columns={"event": "action"}).assign(source="model")
    events = pd.concat([controller_events, model_events], ignore_index=True, sort=False)
    out = {
        "model": model.model_frame(),
        "trajectories": model.trajectories(),
        "neurons": model.neuron_frame(),
        "neuron_states": model.neuron_states(),
        "events": events,
    }
    return {k: v.assign(arm=arm) for k, v in out.items()}


def concat_arms(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Concatenate per-arm table dicts into one table per name (arms in order)."""
    names: list[str] = []
    for part in parts:
        names.extend(n for n in part if n not in names)
    return {
        n: pd.concat([p[n] for p in parts if n in p], ignore_index=True, sort=False) for n in names
    }


class Scenario:
    """Base class of the scenarios (see the module docstring)."""

    name: str = ""
    quick_steps: int = 100
    default_steps: int = 1000

    def default_config(self, quick: bool) -> SystemConfig:
        """The scenario's default config (before user overrides)."""
        return SystemConfig()

    def simulate(
        self, config: SystemConfig, quick: bool, steps: int, progress: bool
    ) -> dict[str, pd.DataFrame]:
        raise NotImplementedError

    def analyse(
        self, tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
    ) -> Analysis:
        raise NotImplementedError


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("dualsim", "mesa", "numpy", "scipy", "pandas", "networkx"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_table(path: Path, frame: pd.DataFrame) -> None:
    """Write a Parquet table atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_config(out: Path, config: SystemConfig, meta: dict[str, Any]) -> None:
    """``config.toml``: the resolved config plus a ``[dualsim]`` table of run metadata."""
    text = config.to_toml()
    lines = ["", "[dualsim]"]
    for key, value in meta.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value!r}")
        else:
            lines.append(f'{key} = "{value}"')
    lines.append("")
    lines.append("[dualsim.versions]")
    lines.extend(f'{k} = "{v}"' for k, v in _versions().items())
    _atomic_write_bytes(out / "config.toml", (text + "\n".join(lines) + "\n").encode())


def read_config(out: Path) -> tuple[SystemConfig, dict[str, Any]]:
    """Read ``config.toml`` of a result folder: the config and the ``[dualsim]`` metadata."""
    path = out / "config.toml"
    if not path.is_file():
        raise ValueError(f"{path}: missing; expected a dualsim result folder with config.toml")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    meta = data.pop("dualsim", {})
    meta.pop("versions", None)
    try:
        config = SystemConfig.from_dict(data)
    except ConfigError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return config, meta


def load_tables(out: Path, names: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Load the Parquet tables of a result folder; a missing or corrupt file is named."""
    names = names or sorted(p.stem for p in out.glob("*.parquet") if p.stem != "diagnostics")
    tables = {}
    for name in names:
        path = out / f"{name}.parquet"
        if not path.is_file():
            raise ValueError(f"{path}: missing; the run did not finish or the folder is incomplete")
        try:
            tables[name] = pd.read_parquet(path)
        except Exception as exc:
            raise ValueError(f"{path}: unreadable Parquet ({type(exc).__name__}: {exc})") from None
    return tables


def _write_analysis(
    scn: Scenario,
    out: Path,
    config: SystemConfig,
    meta: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    analysis: Analysis,
) -> ScenarioResult:
    write_table(out / "diagnostics.parquet", analysis.diagnostics)
    verdicts = verdict_frame(analysis.verdicts)
    _atomic_write_bytes(out / "verdicts.csv", verdicts.to_csv(index=False).encode())
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
        except (ValueError, ArithmeticError, LinAlgError, IndexError, KeyError) as exc:
            raise AnalysisFailed(
                f"figure {name} of {scn.name} failed ({type(exc).__name__}: {exc}); the "
                f"tables and verdicts are kept in {out}"
            ) from exc
        plt.close("all")
        paths.append(path)
    summary_md = _summary_markdown(scn, config, meta, verdicts, paths, analysis)
    _atomic_write_bytes(out / "summary.md", summary_md.encode())
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


def _summary_markdown(
    scn: Scenario,
    config: SystemConfig,
    meta: dict[str, Any],
    verdicts: pd.DataFrame,
    figures: list[Path],
    analysis: Analysis,
) -> str:
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
        _markdown_table(verdicts),
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


def _markdown_table(frame: pd.DataFrame) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.4g}"
        return str(v)

    head = "| " + " | ".join(frame.columns) + " |"
    sep = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def _analyse(
    scn: Scenario,
    tables: dict[str, pd.DataFrame],
    config: SystemConfig,
    meta: dict[str, Any],
    folder: Path,
) -> Analysis:
    """Run the analysis; any error in it is a failed run (exit 1), with the tables kept."""
    try:
        return scn.analyse(tables, config, meta)
    except AnalysisFailed:
        raise
    except (ValueError, ArithmeticError, LinAlgError, IndexError, KeyError) as exc:
        raise AnalysisFailed(
            f"analysis of {scn.name} failed ({type(exc).__name__}: {exc}); the simulated "
            f"tables are kept in {folder}; `dualsim report {folder}` retries the analysis"
        ) from exc


def run_scenario(
    scn: Scenario,
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
    from scenarios.output import default_out

    base = config if config is not None else scn.default_config(quick)
    if overrides:
        base = base.replace(**overrides)
    n_steps = steps if steps is not None else (scn.quick_steps if quick else scn.default_steps)
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"steps: {n_steps!r}; expected an integer >= 1")
    folder = Path(out) if out is not None else default_out(scn.name)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"scenario": scn.name, "quick": bool(quick), "steps": int(n_steps)}
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
    analysis = _analyse(scn, saved, base, meta, folder)
    return _write_analysis(scn, folder, base, meta, saved, analysis)


def report(out: str | Path) -> ScenarioResult:
    """Re-run the analysis of a saved result folder (no simulation) and rewrite its report."""
    from scenarios.registry import load

    folder = Path(out)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder; expected a dualsim result folder")
    config, meta = read_config(folder)
    name = meta.get("scenario")
    if not name:
        raise ValueError(f"{folder / 'config.toml'}: no [dualsim] scenario entry")
    module = load(str(name))
    scn: Scenario = module.SCENARIO
    tables = load_tables(folder)
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise ValueError(f"{folder / (missing[0] + '.parquet')}: missing")
    analysis = _analyse(scn, tables, config, meta, folder)
    return _write_analysis(scn, folder, config, meta, tables, analysis)
