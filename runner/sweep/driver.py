"""Parameter sweeps: one scenario run per (grid point, replicate), resumable and bit-identical.

:func:`run_sweep` expands a grid (or an explicit list of points), derives every run's seed from
one root ``numpy.random.SeedSequence`` (``spawn``), and hands each run to an executor as one plain,
picklable call of :func:`execute_run`. A run writes its Parquet tables, ``config.toml`` and
``run.json`` into a temporary folder and renames it into place the moment it ends, so a run
folder either is complete or does not exist. The parent keeps the index ``sweep.parquet`` (run
id, parameters, seed, status, wall time) up to date, replacing it atomically. Running the same
sweep into the same folder again skips complete runs and runs only the missing or failed ones;
the results are identical to an uninterrupted sweep because a run's seed depends only on the
root seed and its position in the sweep.

The scenario is a callable with the scenario signature
``run(config, out, quick, steps, progress, **options)`` or its import string ``"module:attr"``;
the sweep knows no catalogue of scenarios. Engines (:mod:`runner.sweep.engines`): ``"serial"``,
``"local"`` (a process pool), ``"dask"`` or any ``concurrent.futures.Executor``. The folder
layout is described in :mod:`runner.sweep.index`; :func:`~runner.sweep.collect.collect` joins
one table of every finished run with the parameter columns.
Time is wall-clock seconds in the index only; the collected tables carry the scenarios' own
units (learning steps).

SIGINT and SIGTERM stop a sweep cleanly: the pool's workers are terminated, the index is
written (the runs that were running stay ``pending``) and :class:`~runner.errors.Interrupted`
is raised (exit code 130/143); running the same sweep again continues it. Inside a
``dualsim run`` the run's own signal handling applies instead.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import ConfigError, SystemConfig
from runner.checkpoint import current
from runner.errors import SIGNAL_EXIT_CODES, Interrupted
from runner.experiment import default_out, resolve
from runner.sweep.collect import collect
from runner.sweep.engines import (
    RunSpec,
    choose_engine,
    execute,
    scenario_label,
)
from runner.sweep.grid import apply_point, grid_points, read_param
from runner.sweep.index import (
    INDEX,
    RUNS,
    IndexWriter,
    check_manifest,
    folder_lock,
    initial_index,
    is_done,
    note_failure,
    remove_stale,
    write_shipped,
)

__all__ = ["SweepResult", "run_sweep"]


@dataclass
class SweepResult:
    """Outcome of :func:`run_sweep`.

    Attributes
    ----------
    out : Path
        The sweep folder.
    index : DataFrame
        The index as written to ``sweep.parquet``.
    ran, skipped, failed : list of str
        Run ids executed now, found complete and skipped, failed now.
    """

    out: Path
    index: pd.DataFrame
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every run of the sweep is done."""
        return bool((self.index["status"] == "done").all())

    @property
    def first_error(self) -> str | None:
        """The error text of the first run in the index that is not done (None when all are).

        Examples
        --------
        >>> index = pd.DataFrame({"status": ["done", "failed"], "error": [None, "boom"]})
        >>> SweepResult(Path("."), index).first_error
        'boom'
        """
        errors = self.index.loc[self.index["status"] != "done", "error"]
        return None if errors.empty else errors.iloc[0]

    def collect(self, table: str = "model") -> pd.DataFrame:
        """:func:`collect` of this sweep's folder."""
        return collect(self.out, table=table)


def run_sweep(
    base_config: SystemConfig | None = None,
    grid_or_samples: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None = None,
    replicates: int = 1,
    executor: str | cf.Executor | None = None,
    out: str | Path | None = None,
    *,
    scenario: str | Callable[..., Any],
    quick: bool = False,
    steps: int | None = None,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    ship: bool = False,
    progress: bool = False,
    max_restarts: int = 2,
    check: Callable[[SystemConfig], object] | None = None,
) -> SweepResult:
    """Run a scenario once per (grid point, replicate); resume what an earlier call left.

    Parameters
    ----------
    base_config : SystemConfig, optional
        Config every point starts from (default ``SystemConfig()``).
    grid_or_samples : mapping or list of mappings
        See :func:`grid_points`; default ``{}`` (replicates of the base config).
    replicates : int
        Runs per point, each with its own seed.
    executor : {"serial", "local", "dask"}, Executor or None
        None means "local" (a process pool with one worker per core), or "serial" when called
        inside a run. An Executor you pass is used as is and not shut down.
    out : path, optional
        Sweep folder; default ``results/sweep-<scenario>-YYYYmmdd-HHMMSS``.
    scenario : str or callable
        A picklable top-level function with the scenario signature
        ``run(config, out, quick, steps, progress, **options)``, or its import string
        ``"module:attr"`` (e.g. ``"scenarios.train:run"``).
    quick, steps, options :
        Passed to every run (``options`` as keyword arguments of the scenario's ``run``).
    seed : int, optional
        Root of the ``SeedSequence`` the run seeds are spawned from; default
        ``base_config.seed``.
    workers : int, optional
        Pool size or LocalCluster workers (default: the cores, at most the runs to do).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); implies ``executor="dask"``.
    ship : bool
        Runs send their files back instead of writing ``out`` themselves (workers that do not
        share the sweep folder's disk).
    progress : bool
        A tqdm bar over runs.
    max_restarts : int
        How often a process pool we own is rebuilt after a worker died (its runs resubmitted).
    check : callable, optional
        ``check(config)`` is called with every run's config (its seed included) before anything
        runs; the :class:`ConfigError` it raises for an ill-posed config refuses the sweep
        (e.g. the scenario's own well-posedness check, ``Experiment.setup``).

    Returns
    -------
    SweepResult
        Failed runs do not raise: they are listed in ``failed`` and the index.

    Raises
    ------
    ConfigError
        A bad grid (unknown key, empty list, invalid value), a run's config that ``check``
        refuses, or a folder holding a different sweep, before anything runs.

    Examples
    --------
    >>> import tempfile
    >>> from models import LearningSystem
    >>> from runner.io import write_tables
    >>> def train(config, out, quick, steps, progress):
    ...     model = LearningSystem(config); model.run(steps, progress=False)
    ...     write_tables(out, {"model": model.model_frame()}, csv_max_rows=0)
    >>> res = run_sweep(SystemConfig(replicas=4), {"step_size": [0.01, 0.02]}, executor="serial",
    ...                 out=tempfile.mkdtemp(), steps=3, scenario=train)
    >>> print(res.index[["run_id", "step_size", "status"]].to_string(index=False))
    run_id  step_size status
    r00000       0.01   done
    r00001       0.02   done
    >>> run_sweep(SystemConfig(replicas=4), {"step_size": [0.01, 0.02]}, executor="serial",
    ...           out=res.out, steps=3, scenario=train).skipped
    ['r00000', 'r00001']
    """
    base = SystemConfig() if base_config is None else base_config
    if not isinstance(base, SystemConfig):
        raise ConfigError("base_config", base, "a SystemConfig")
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise ConfigError("replicates", replicates, "an integer >= 1")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ConfigError("steps", steps, "an integer >= 1")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ConfigError("workers", workers, "an integer >= 1")
    root_seed = base.seed if seed is None else seed
    if isinstance(root_seed, bool) or not isinstance(root_seed, int) or root_seed < 0:
        raise ConfigError("seed", root_seed, "an integer >= 0")
    engine = choose_engine(executor, scheduler)
    if not callable(resolve(scenario)):  # an import string that does not resolve is refused
        raise ConfigError("scenario", scenario, "a callable or its import string 'module:attr'")
    points = grid_points({} if grid_or_samples is None else grid_or_samples)
    configs = [apply_point(base, p) for p in points]  # every bad value refused here
    keys = list(points[0]) if points else []
    opts = dict(options or {})

    if out is None:
        out = default_out(f"sweep-{_short_name(scenario_label(scenario))}")
    folder = Path(out)
    n_runs = len(points) * replicates
    width = max(5, len(str(n_runs - 1)))
    children = np.random.SeedSequence(root_seed).spawn(n_runs)
    specs = []
    for k, (p, r) in enumerate(itertools.product(range(len(points)), range(replicates))):
        run_seed = int(children[k].generate_state(1, np.uint64)[0] >> np.uint64(1))
        cfg = configs[p].replace(seed=run_seed)
        run_id = f"r{k:0{width}d}"
        specs.append(
            RunSpec(
                run_id=run_id,
                index=k,
                point=p,
                replicate=r,
                params={key: read_param(cfg, key) for key in keys},
                seed=run_seed,
                scenario=scenario,
                config=cfg,
                folder=str(folder.absolute() / RUNS / run_id),  # workers' cwd may differ
                steps=steps,
                quick=bool(quick),
                options=opts,
                ship=bool(ship),
            )
        )
    manifest = {
        "version": 1,
        "scenario": scenario_label(scenario),
        "base_config": base.to_dict(),
        "keys": keys,
        "points": points,
        "replicates": replicates,
        "root_seed": root_seed,
        "steps": steps,
        "quick": bool(quick),
        "options": opts,
    }
    if check is not None:
        for spec in specs:
            check(spec.config)  # an ill-posed run refuses the whole sweep, before any runs
    check_manifest(folder, manifest)
    with folder_lock(folder):
        return _run_all(folder, specs, keys, engine, executor, workers, scheduler, max_restarts,
                        progress)  # fmt: skip


def _run_all(
    folder: Path,
    specs: list[RunSpec],
    keys: list[str],
    engine: str,
    executor: str | cf.Executor | None,
    workers: int | None,
    scheduler: str | None,
    max_restarts: int,
    progress: bool,
) -> SweepResult:
    n_runs = len(specs)
    (folder / RUNS).mkdir(parents=True, exist_ok=True)
    remove_stale(folder)
    index = initial_index(folder, specs, keys)
    skipped = [s.run_id for s in specs if is_done(Path(s.folder))]
    done_ids = set(skipped)
    todo = [s for s in specs if s.run_id not in done_ids]
    writer = IndexWriter(folder / INDEX, index, throttle=0.0 if n_runs <= 1000 else 1.0)
    writer.flush()
    ran: list[str] = []
    failed: list[str] = []
    if todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), disable=not progress, unit="run", desc="sweep")
        runs = execute(engine, executor, todo, workers, scheduler, max_restarts)
        try:
            with _signals_stop_the_sweep(), contextlib.closing(runs):
                for spec, record in runs:
                    if record.get("files") is not None:
                        write_shipped(folder, spec, record.pop("files"))
                    if record["status"] == "done" and not is_done(Path(spec.folder)):
                        record = {**record, "status": "failed", "error": "run folder missing"}
                    writer.update(spec.index, record)
                    (ran if record["status"] == "done" else failed).append(spec.run_id)
                    note_failure(folder, spec.run_id, record)
                    bar.update(1)
                    bar.set_postfix(done=len(ran), failed=len(failed), refresh=False)
        except _Stop as exc:
            done = len(skipped) + len(ran)
            raise Interrupted(
                exc.signum,
                f"{signal.Signals(exc.signum).name}: the sweep in {folder} stopped with {done} of "
                f"{n_runs} runs done ({len(failed)} failed); the same command continues it",
            ) from None
        finally:
            bar.close()
            writer.flush(force=True)
            if engine != "external":
                remove_stale(folder)
    return SweepResult(folder, writer.frame.copy(), ran, skipped, failed)


class _Stop(Interrupted):
    """Raised by the sweep's signal handler (the message is made where it is caught)."""


@contextlib.contextmanager
def _signals_stop_the_sweep() -> Iterator[None]:
    """SIGINT/SIGTERM raise :class:`_Stop` in the main thread (once: a second signal during the
    shutdown is ignored). Nothing is installed outside the main thread or inside a ``dualsim
    run`` session (whose handlers stop the run)."""
    if threading.current_thread() is not threading.main_thread() or current() is not None:
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        del frame
        for other in SIGNAL_EXIT_CODES:
            signal.signal(other, signal.SIG_IGN)
        raise _Stop(signum, signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, stop) for signum in SIGNAL_EXIT_CODES}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _short_name(label: str) -> str:
    """A folder-name stem for a scenario label (``"scenarios.train:run"`` -> ``"train"``).

    Examples
    --------
    >>> _short_name("scenarios.train:run"), _short_name("scenarios.spacetime:target_run")
    ('train', 'target_run')
    """
    module, _, attr = label.rpartition(":")
    return module.rsplit(".", 1)[-1] if attr == "run" and module else attr
