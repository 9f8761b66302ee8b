"""Scenario ``train``: a plain training run of the learning system, its tables as Parquet.

It runs one :class:`~models.LearningSystem` for ``steps`` steps (through
:func:`runner.arms.run_arm`, so ``dualsim run`` checkpoints and resumes it) and saves
``trajectories`` (per step and replica), ``model`` (DataCollector, every ``record_every``
steps), ``neurons`` (DataCollector NeuronAgent table), ``neuron_states``,
``controller_events`` and ``events`` (model events: injected packets, dropped replicas), plus
``config.toml`` (with a ``[dualsim]`` table: scenario, quick, steps) and ``training.png``.

Run it as ``dualsim run train`` or from Python::

    from scenarios import train
    result = train.run(steps=100, replicas=32)
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from models import LearningSystem, SystemConfig
from runner import (
    ScenarioResult,
    UsageError,
    atomic_write,
    current,
    default_out,
    run_arm,
    write_config,
    write_table,
)

__all__ = ["CSV_MAX_ROWS", "DEFAULT_STEPS", "QUICK_STEPS", "TABLES", "run", "tables_of"]

DEFAULT_STEPS = 300
QUICK_STEPS = 60
TABLES = ("trajectories", "model", "neurons", "neuron_states", "controller_events", "events")
CSV_MAX_ROWS = 5000


def tables_of(model: LearningSystem, arm: str = "train") -> dict[str, pd.DataFrame]:
    """The tables this scenario saves, from a (possibly unfinished) model.

    Examples
    --------
    >>> m = LearningSystem(replicas=2, n_hidden=2); m.run(2, progress=False)
    >>> sorted(tables_of(m)) == sorted(TABLES)
    True
    """
    del arm
    return {
        "trajectories": model.trajectories(),
        "model": model.model_frame(),
        "neurons": model.neuron_frame(),
        "neuron_states": model.neuron_states(),
        "controller_events": model.controller_events(),
        "events": model.events(),
    }


def _build(cfg: SystemConfig) -> LearningSystem:
    return LearningSystem(cfg)


def run(
    config: SystemConfig | None = None,
    out: str | Path | None = None,
    quick: bool = False,
    steps: int | None = None,
    progress: bool = False,
    **overrides: Any,
) -> ScenarioResult:
    """Train the ensemble and save its tables.

    Parameters
    ----------
    config : SystemConfig, optional
        Defaults to ``SystemConfig()``; ``overrides`` are applied on top.
    out : path, optional
        Output folder (created); default ``results/train-YYYYmmdd-HHMMSS``.
    quick : bool
        Fewer steps (a smoke run).
    steps : int, optional
        Number of learning steps (default 300, quick 60).
    progress : bool
        Show a progress bar.

    Returns
    -------
    ScenarioResult

    Examples
    --------
    >>> import tempfile
    >>> res = run(out=tempfile.mkdtemp(), steps=5, replicas=4)
    >>> sorted(res.tables)[:2], res.summary["steps"]
    (['controller_events', 'events'], 5)
    """
    cfg = config or SystemConfig()
    if overrides:
        cfg = cfg.replace(**overrides)
    n_steps = steps if steps is not None else (QUICK_STEPS if quick else DEFAULT_STEPS)
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise UsageError(f"steps: {n_steps!r}; expected an integer >= 1")
    folder = Path(out) if out is not None else default_out("train")
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder, cfg, {"scenario": "train", "quick": bool(quick), "steps": int(n_steps)})
    sess = current()
    if sess is not None:
        sess.tables = tables_of  # what an interrupted or diverged run flushes
    model = run_arm("train", partial(_build, cfg), n_steps, progress=progress)
    tables = tables_of(model)
    for name, frame in tables.items():
        write_table(folder / f"{name}.parquet", frame)
        if len(frame) <= CSV_MAX_ROWS:
            atomic_write(folder / f"{name}.csv", frame.to_csv(index=False).encode())
    figures = [_plot(tables["model"], folder / "training.png")]
    frame = tables["model"]
    summary: dict[str, float | int | str] = {
        "steps": n_steps,
        "replicas": cfg.replicas,
        "prediction_error_start": float(frame["prediction_error"].iloc[0]),
        "prediction_error_end": float(frame["prediction_error"].iloc[-1]),
        "free_energy_end": float(frame["free_energy"].iloc[-1]),
        "t_eff_end": float(frame["t_eff"].iloc[-1]),
        "n_neurons_end": float(frame["n_neurons"].iloc[-1]),
    }
    return ScenarioResult("train", folder, cfg, tables, figures=figures, summary=summary)


def _plot(frame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].semilogy(frame["step"], frame["prediction_error"], label="prediction error")
    axes[0].semilogy(frame["step"], frame["free_energy"], label="free energy F")
    axes[0].set_xlabel("step")
    axes[0].legend()
    axes[1].plot(frame["step"], frame["t_eff"])
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("T_eff")
    axes[2].plot(frame["step"], frame["n_neurons"], label="N")
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("mean active neurons")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
