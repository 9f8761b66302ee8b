"""``dualsim sweep NAME --grid key=v1,v2 ...``: a parameter sweep; ``--collect DIR`` joins it.

Every run gets the ``dualsim run`` options (``--quick``, ``--steps``, ``--set``, ``--config``,
...) and one grid point; ``--engine local`` (default, a process pool), ``serial`` or ``dask``
(``--scheduler tcp://HOST:8786`` for a running scheduler, else a loopback LocalCluster).
Running the same command again resumes: complete runs are skipped. SIGINT/SIGTERM stop the
sweep cleanly (its workers end, the index is written, exit 130/143), and a killed sweep takes its
worker processes with it.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import scenarios
from dualsim.commands import load_scenario, set_output
from dualsim.commands.run import add_run_options, build_config
from models import SystemConfig
from runner.errors import RunFailed, UsageError
from runner.experiment import default_out
from runner.sweep import collect, run_sweep

__all__ = ["HELP", "NAME", "execute", "parse_grid", "register", "well_posed"]

NAME = "sweep"
HELP = "run a scenario over a parameter grid (resumable), or collect a sweep's results"


def parse_grid(pairs: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``key=v1,v2,...`` (or ``key=[v1, v2]``) pairs; values are read as TOML.

    Examples
    --------
    >>> parse_grid(["step_size=0.01,0.02", "task=linear,teacher", "learning=[true, false]"])
    {'step_size': [0.01, 0.02], 'task': ['linear', 'teacher'], 'learning': [True, False]}
    >>> parse_grid(["batch_size="])
    {'batch_size': []}
    """
    out: dict[str, list[Any]] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--grid: {pair!r}; expected key=value1,value2,...")
        key, raw = (part.strip() for part in pair.split("=", 1))
        if not key:
            raise UsageError(f"--grid: {pair!r}; expected a non-empty key")
        if not key.isprintable():
            raise UsageError(f"--grid: {pair!r}; expected a parameter name as the key")
        if key in out:
            raise UsageError(f"--grid: {key!r}; expected each key once")
        if raw.startswith("["):
            try:
                values = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError as exc:
                raise UsageError(f"--grid: {pair!r}; expected a TOML list ({exc})") from None
        else:
            values = [_value(v.strip()) for v in raw.split(",")] if raw else []
        out[key] = list(values)
    return out


def _value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def well_posed(
    module: ModuleType, quick: bool, steps: int | None
) -> Callable[[SystemConfig], object] | None:
    """The scenario's well-posedness check of one run's config (``SCENARIO.setup``), which the
    sweep applies to every run before any runs; None for a scenario without one.

    Examples
    --------
    >>> from scenarios import load
    >>> well_posed(load("train"), True, 3) is None
    True
    """
    scn = getattr(module, "SCENARIO", None)
    if scn is None or not hasattr(scn, "setup"):
        return None
    n_steps = steps if steps is not None else (scn.quick_steps if quick else scn.default_steps)
    return partial(scn.setup, quick=bool(quick), steps=int(n_steps))


def register(parser: argparse.ArgumentParser) -> None:
    """Add the sweep's arguments and the ``dualsim run`` options."""
    names = ", ".join(scenarios.scenario_names())
    parser.add_argument("name", nargs="?", help=f"scenario: {names}")
    parser.add_argument(
        "--grid", action="append", metavar="KEY=V1,V2", help="a swept parameter (repeatable)"
    )
    parser.add_argument("--replicates", type=int, default=1, help="runs per grid point")
    parser.add_argument(
        "--engine", choices=("local", "serial", "dask"), help="executor (default local)"
    )
    parser.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, tcp://HOST:8786")
    parser.add_argument("--workers", type=int, help="pool size / LocalCluster workers")
    parser.add_argument(
        "--ship", action="store_true", help="runs send files back (workers without shared disk)"
    )
    parser.add_argument("--collect", type=Path, metavar="DIR", help="collect a sweep folder")
    parser.add_argument("--table", default="model", help="table to collect (default model)")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write the collected table")
    add_run_options(parser)


def execute(args: argparse.Namespace) -> int:
    """Run the sweep (resuming what an earlier call left), or collect one with ``--collect``."""
    if args.collect is not None:
        frame = collect(args.collect, table=args.table)
        n_runs = frame["run_id"].nunique()
        if args.csv is not None:
            args.csv.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(args.csv, index=False)
            print(f"collected {len(frame)} rows from {n_runs} runs into {args.csv}")
        else:
            print(f"collected {len(frame)} rows x {frame.shape[1]} columns from {n_runs} runs")
            print(frame.head(10).to_string(index=False))
        return 0
    if not args.name:
        raise UsageError("name: missing; expected a scenario name or --collect DIR")
    module = load_scenario(args.name)
    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps: {args.steps}; expected an integer >= 1")
    config = build_config(args)
    grid = parse_grid(args.grid or [])
    out = args.out if args.out is not None else default_out(f"sweep-{args.name}")
    set_output(args, out)
    engine = args.engine or ("dask" if args.scheduler else "local")
    result = run_sweep(
        config,
        grid,
        replicates=args.replicates,
        executor=engine,
        out=out,
        scenario=f"{scenarios.CATALOGUE[args.name]}:run",
        quick=args.quick,
        steps=args.steps,
        workers=args.workers,
        scheduler=args.scheduler,
        ship=args.ship,
        progress=not args.no_progress,
        check=well_posed(module, args.quick, args.steps),
    )
    n = len(result.index)
    print(
        f"sweep {args.name}: {n} runs in {result.out} "
        f"({len(result.ran)} ran, {len(result.skipped)} already complete, "
        f"{len(result.failed)} failed)"
    )
    if result.failed:
        first = result.index.loc[result.index["status"] == "failed", "error"].iloc[0]
        raise RunFailed(
            f"{len(result.failed)} of {n} runs failed (first: {first}); see "
            f"{result.out}/failed/ and rerun the same command to retry them"
        )
    return 0
