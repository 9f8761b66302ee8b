"""The decoherence budget of the ``worlds`` scenario, run through the sweep runner (coupling put
in by hand).

One budget cell is one run of :func:`budget_cell`, a :func:`runner.sweep.run_sweep` scenario
callable: :data:`BUDGET_REPLICAS` HDW-coupled replicas of the loss ``q^2/2`` whose SGD
ingredients are the run's config fields -- heavy-ball ``momentum`` beta (friction
``(1 - beta)/omega``, ``omega = sqrt(step_size)`` per step), mini-batch ``batch_size`` M and
``step_size`` gamma -- each released at rest from a squeezed start (variance 1: the 2-omega
line) and from the ground configuration (the width shift), for two trap periods. The SGD noise
of a mini-batch of M samples whose per-sample gradient has variance ``sigma^2 = 1`` is one
Gaussian velocity kick per replica and step, ``D = gamma^2 sigma^2 / (2M)``: temperature
``T = gamma sigma^2 / (2 M (1 - beta))``. The cell's ``noise`` option is ``"sgd"`` (that
noise), ``"none"`` (exact gradients, M plays no role) or ``"explicit"`` (an explicit Langevin
temperature, the labelled arm).

:func:`run_budget` runs the grid as three sweeps: the noise-free column ``(1 - beta) x gamma``
(deterministic: one run per point), the SGD grid ``(1 - beta) x M x gamma`` with M chosen per
friction for the target temperatures (:data:`TEMPERATURES`, :data:`QUICK_TEMPERATURES`;
replicates over seeds) and the explicit-noise arm; run seeds come from the sweep runner
(``SeedSequence`` children of a root derived from the run's seed), so the same seed gives the
same bits whatever the executor. :func:`budget_tables` reads any sweep folder of budget cells
back into the scenario's ``worlds`` and ``arms`` rows, which
:func:`~scenarios.worlds.measures.budget_cells` and :func:`~scenarios.worlds.measures.boundary`
analyse. A larger grid or more seeds (e.g. on a process pool)::

    from scenarios.worlds.budget import budget_tables, run_budget
    worlds, arms = run_budget(seed=1, quick=False, seeds=10, executor="local", out="budget")
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import SystemConfig
from runner import RunFailed, run_arm, write_table
from runner.sweep import collect, run_sweep
from scenarios.worlds.known_answers import (
    C_F,
    GAMMA,
    recorder_of,
    units,
    world_config,
    world_run,
)
from scenarios.worlds.measures import var_g

__all__ = [
    "BUDGET_REPLICAS",
    "BUDGET_TIME",
    "EXPLICIT",
    "FRICTIONS",
    "GRADIENT_VARIANCE",
    "NOISES",
    "QUICK_TEMPERATURES",
    "TEMPERATURES",
    "budget_cell",
    "budget_points",
    "budget_tables",
    "run_budget",
]

FRICTIONS = (0.03, 0.1, 0.3, 1.0, 3.0)
"""Heavy-ball friction ``(1 - beta) / omega`` of the budget grid."""

TEMPERATURES = (0.0, 0.01, 0.03, 0.1, 0.3)
"""Target noise temperatures ``T / (hbar omega)`` of the budget grid (0: noise-free)."""

QUICK_TEMPERATURES = (0.0, 0.03, 0.3)
"""The quick run's temperatures."""

BUDGET_REPLICAS = 20
"""Replicas of every budget run."""

BUDGET_TIME = 4 * math.pi
"""Duration of a budget run: two trap periods (four breathing periods), units 1/omega."""

GRADIENT_VARIANCE = 1.0
"""Per-sample gradient variance ``sigma^2`` of the quadratic loss (SGD noise)."""

EXPLICIT = (0.1, 0.01)
"""The labelled explicit-noise arm: ``(1 - beta)/omega`` and ``T / (hbar omega)``."""

NOISES = ("none", "sgd", "explicit")
"""Noise sources of a budget cell (the ``noise`` option of :func:`budget_cell`)."""


def _beta(friction: float, gamma: float) -> float:
    """beta for ``(1 - beta)/omega = friction`` (the expression of :func:`world_config`)."""
    return 1.0 - friction * units(1.0, gamma, C_F)["omega"]


def _sgd_batch(friction: float, gamma: float, tau: float) -> int:
    """The mini-batch M giving ``T / (hbar omega)`` closest to ``tau`` (at least 1)."""
    u = units(1.0, gamma, C_F)
    one_minus_beta = friction * u["omega"]
    hw = u["hbar"] * u["omega"]
    return max(1, round(gamma * GRADIENT_VARIANCE / (2.0 * one_minus_beta * tau * hw)))


def budget_points(quick: bool) -> dict[str, list[dict[str, Any]]]:
    """The grid points of each noise source (sweep keys ``momentum``, ``batch_size`` (SGD
    only) and ``step_size``): one gamma in a quick run, two otherwise.

    Examples
    --------
    >>> p = budget_points(True)
    >>> len(p["none"]), len(p["sgd"]), len(p["explicit"]), p["sgd"][0]
    (5, 10, 1, {'momentum': 0.9985, 'batch_size': 1389, 'step_size': 0.0025})
    """
    gammas = (GAMMA,) if quick else (GAMMA, 4 * GAMMA)
    temps = [t for t in (QUICK_TEMPERATURES if quick else TEMPERATURES) if t > 0]
    points: dict[str, list[dict[str, Any]]] = {"none": [], "sgd": [], "explicit": []}
    for g in gammas:
        for f in FRICTIONS:
            points["none"].append({"momentum": _beta(f, g), "step_size": g})
            for tau in temps:
                m = _sgd_batch(f, g, tau)
                points["sgd"].append({"momentum": _beta(f, g), "batch_size": m, "step_size": g})
    points["explicit"].append({"momentum": _beta(EXPLICIT[0], GAMMA), "step_size": GAMMA})
    return points


def budget_cell(
    config: SystemConfig,
    out: str | Path,
    quick: bool = False,
    steps: int | None = None,
    progress: bool = False,
    *,
    noise: str = "sgd",
    temperature: float = 0.0,
) -> None:
    """One cell of the decoherence budget (a :func:`runner.sweep.run_sweep` scenario callable).

    ``config`` is a :func:`~scenarios.worlds.known_answers.world_config` whose ``momentum``,
    ``batch_size``, ``step_size``, ``replicas``, ``coupling`` and ``seed`` define the cell;
    ``noise`` is ``"sgd"`` (``D = gamma^2 sigma^2 / (2M)``), ``"none"`` (exact gradients) or
    ``"explicit"`` (``temperature`` T in ``hbar omega``, ``D = T hbar omega gamma (1 - beta)``).
    Runs a squeezed start (variance 1) and a ground start for :data:`BUDGET_TIME` and writes
    ``worlds.parquet`` (the recorder tables) and ``arms.parquet`` (the two settings, the
    ``arms`` columns without ``seed``), ``arm`` ``budget_f<friction>_g<gamma>_m<M>_<noise>_<start>``
    (M = 0 without SGD noise). ``quick`` and ``steps`` are not used.

    Examples
    --------
    >>> import tempfile
    >>> cfg = world_config(6, friction=1.0)
    >>> d = Path(tempfile.mkdtemp())
    >>> budget_cell(cfg, d, noise="none")
    >>> pd.read_parquet(d / "arms.parquet")["arm"].tolist()
    ['budget_f1_g0.0025_m0_none_squeezed', 'budget_f1_g0.0025_m0_none_ground']
    """
    del quick, steps
    if noise not in NOISES:
        raise ValueError(f"noise: {noise!r}; expected one of {', '.join(NOISES)}")
    gamma, beta = float(config.step_size), float(config.momentum)
    c_f = float(config.coupling["c_F"])
    u = units(1.0, gamma, c_f)
    friction = float(f"{(1.0 - beta) / u['omega']:.12g}")
    m, tau, diffusion = 0, 0.0, 0.0
    if noise == "sgd":
        m = int(config.batch_size)
        diffusion = gamma**2 * GRADIENT_VARIANCE / (2.0 * m)
        tau = gamma * GRADIENT_VARIANCE / (2.0 * m * (1.0 - beta)) / (u["hbar"] * u["omega"])
    elif noise == "explicit":
        if beta == 1.0:
            raise ValueError("temperature: explicit noise needs friction > 0")
        tau = float(temperature)
        diffusion = tau * u["hbar"] * u["omega"] * gamma * (1.0 - beta)
    cfg = config.replace(diffusion=float(diffusion))
    n = int(cfg.replicas)
    cell = f"budget_f{friction:g}_g{gamma:g}_m{m}_{noise}"
    rows, frames = [], []
    for kind, suffix, var0 in (
        ("squeezed", "squeezed", 1.0),
        ("ground_start", "ground", var_g(n)),
    ):
        build, _, n_steps = world_run(n, var0, BUDGET_TIME, config=cfg)
        model = run_arm(f"{cell}_{suffix}_seed{cfg.seed}", build, n_steps, progress)
        arm = f"{cell}_{suffix}"
        frames.append(recorder_of(model).frame().assign(arm=arm))
        rows.append(
            {
                "arm": arm,
                "family": "budget",
                "estimator": cfg.coupling["estimator"],
                "coupling": True,
                "n": n,
                "var0": var0,
                "start": "ground",
                "start_kind": kind,
                "duration": BUDGET_TIME,
                "friction": friction,
                "k": 1.0,
                "gamma": gamma,
                "batch_size": m,
                "temperature": tau if noise == "explicit" else 0.0,
                "noise": noise,
                "T_over_hbar_omega": tau,
            }
        )
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    write_table(folder / "worlds.parquet", pd.concat(frames, ignore_index=True))
    write_table(folder / "arms.parquet", pd.DataFrame(rows))


def budget_tables(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``worlds`` and ``arms`` rows of a sweep folder of :func:`budget_cell` runs.

    Each arm gets the run's replicate, ``..._<noise>_s<replicate>_<start>``, and ``arms`` the
    run's seed; columns as in the scenario's tables.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> res = run_sweep(world_config(6), {"momentum": [0.95]}, replicates=2, executor="serial",
    ...                 out=d, scenario=budget_cell, options={"noise": "none"})
    >>> worlds, arms = budget_tables(d)
    >>> arms["arm"].tolist()[:2], len(worlds)
    (['budget_f1_g0.0025_m0_none_s0_squeezed', 'budget_f1_g0.0025_m0_none_s0_ground'], 1012)
    """
    out = []
    for table in ("worlds", "arms"):
        frame = collect(folder, table)
        head = list(frame.columns[: list(frame.columns).index("run_id")])
        named = frame["arm"].str.rpartition("_")
        arm = named[0] + "_s" + frame["replicate"].astype(str) + "_" + named[2]
        seeds = frame["seed"]
        frame = frame.drop(columns=[*head, "run_id", "point", "replicate", "seed"])
        frame = frame.assign(arm=arm).rename(columns={f"{k}_run": k for k in head})
        if table == "arms":
            frame = frame.assign(seed=seeds.astype("int64"))
        out.append(frame)
    return out[0], out[1]


def run_budget(
    *,
    seed: int = 0,
    quick: bool = True,
    c_F: float = C_F,
    seeds: int | None = None,
    points: dict[str, Sequence[dict[str, Any]]] | None = None,
    executor: str = "serial",
    out: str | Path | None = None,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the decoherence budget through the sweep runner; ``(worlds, arms)`` rows.

    Three sweeps of :func:`budget_cell` (noise ``none``: one run per point; ``sgd`` and
    ``explicit``: ``seeds`` replicates, default 2 quick and 3 otherwise) over ``points``
    (default :func:`budget_points`), into ``out/<noise>`` (default a temporary folder; the same
    call into the same ``out`` again resumes, skipping complete runs). Each
    sweep's root seed is drawn from ``SeedSequence([seed, 18])``. ``executor`` is the sweep
    runner's (``serial`` inside a run).

    Raises
    ------
    RunFailed
        A cell failed (its error).

    Examples
    --------
    >>> pts = {"none": [{"momentum": 0.95, "step_size": 0.0025}], "sgd": [], "explicit": []}
    >>> worlds, arms = run_budget(points=pts)
    >>> arms["arm"].tolist()
    ['budget_f1_g0.0025_m0_none_s0_squeezed', 'budget_f1_g0.0025_m0_none_s0_ground']
    """
    grid = budget_points(quick) if points is None else points
    n_seeds = (2 if quick else 3) if seeds is None else int(seeds)
    roots = np.random.SeedSequence([int(seed), 18]).generate_state(len(NOISES), np.uint64) >> 1
    base = world_config(BUDGET_REPLICAS, c_F=c_F, seed=int(seed))
    worlds, arms = [], []
    with tempfile.TemporaryDirectory(prefix="dualsim-worlds-budget-") as tmp:
        root_dir = Path(tmp) if out is None else Path(out)
        for noise, root in zip(NOISES, roots, strict=True):
            pts = list(grid.get(noise, []))
            if not pts:
                continue
            options: dict[str, Any] = {"noise": noise}
            if noise == "explicit":
                options["temperature"] = EXPLICIT[1]
            res = run_sweep(
                base,
                pts,
                replicates=1 if noise == "none" else n_seeds,
                executor=executor,
                out=root_dir / noise,
                scenario=budget_cell,
                seed=int(root),
                options=options,
                progress=progress,
            )
            if res.failed:
                msg = f"decoherence-budget cell ({noise} noise) failed: {res.first_error}"
                raise RunFailed(msg)
            w, a = budget_tables(root_dir / noise)
            worlds.append(w)
            arms.append(a)
    return pd.concat(worlds, ignore_index=True), pd.concat(arms, ignore_index=True)
