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

Executors: ``"serial"`` (in this process), ``None``/``"local"`` (a
``concurrent.futures.ProcessPoolExecutor``, one worker per core, ``forkserver`` context), ``"dask"``
(``Client(scheduler).get_executor()`` for a running Dask scheduler, or a ``LocalCluster`` on
127.0.0.1 without dashboard, closed afterwards) or any ``concurrent.futures.Executor``. A run
never starts a pool itself: a sweep started inside a run (a scenario's internal grid) runs
serially in that run's process.

Layout of a sweep folder::

    DIR/sweep.json            what the sweep is (scenario, base config, points, seeds, steps)
    DIR/sweep.parquet         the index: run_id, point, replicate, parameters, seed, status,
                              wall_time_s, finished_at, error
    DIR/runs/<run_id>/        one complete run: <table>.parquet, config.toml, run.json, ...
    DIR/failed/<run_id>.txt   traceback of a failed run (removed when it later succeeds)

:func:`collect` joins one table of every finished run with the parameter columns.
Time is wall-clock seconds in the index only; the collected tables carry the scenarios' own
units (learning steps).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import io
import itertools
import json
import math
import multiprocessing
import os
import shutil
import socket
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.config import _FIELDS, ConfigError, SystemConfig

MANIFEST = "sweep.json"
INDEX = "sweep.parquet"
RUNS = "runs"
FAILED = "failed"
RUN_RECORD = "run.json"
LOCK = ".lock"
TMP_PREFIX = ".tmp-"
ENGINES = ("serial", "local", "dask")
INDEX_COLUMNS = ("status", "wall_time_s", "finished_at", "error")
RESERVED = ("run_id", "point", "replicate", "seed", *INDEX_COLUMNS)

# in_run is True while this thread executes a run: a nested sweep then runs serially (a run
# never starts a pool). Thread-local because Dask workers may run several tasks in threads.
_STATE = threading.local()


def _in_run() -> bool:
    return getattr(_STATE, "in_run", False)


# ---------------------------------------------------------------------------- grid handling
def grid_points(grid_or_samples: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]) -> list:
    """Expand a grid (Cartesian product, last key fastest) or check a list of sample points.

    Parameters
    ----------
    grid_or_samples : mapping or sequence of mappings or DataFrame
        ``{key: [values...]}`` for a full grid, or explicit points ``[{key: value}, ...]`` (a
        DataFrame counts as one point per row). Keys are :class:`SystemConfig` fields, dotted
        ``task_params.<name>`` or ``controllers.<index or type>.<parameter>``. An empty mapping
        is one point (the base config).

    Returns
    -------
    list of dict
        One ``{key: value}`` per point, numpy scalars turned into Python values.

    Raises
    ------
    ConfigError
        Empty value lists, repeated values, scalars instead of lists, points with different
        keys, or ``seed`` as a key (seeds come from the root seed).

    Examples
    --------
    >>> grid_points({"step_size": [0.01, 0.02], "batch_size": [8, 32]})[:2]
    [{'step_size': 0.01, 'batch_size': 8}, {'step_size': 0.01, 'batch_size': 32}]
    >>> grid_points([{"step_size": 0.1}, {"step_size": 0.2}])
    [{'step_size': 0.1}, {'step_size': 0.2}]
    """
    if isinstance(grid_or_samples, pd.DataFrame):
        grid_or_samples = grid_or_samples.to_dict(orient="records")
    if isinstance(grid_or_samples, Mapping):
        axes: dict[str, list[Any]] = {}
        for key, values in grid_or_samples.items():
            _check_key(key, values)
            if isinstance(values, np.ndarray):
                values = values.tolist()
            if isinstance(values, str | bytes) or not isinstance(values, Sequence):
                raise ConfigError(key, values, "a non-empty list of values")
            values = [_plain(v) for v in values]
            if not values:
                raise ConfigError(key, values, "a non-empty list of values")
            if len({json.dumps(v, sort_keys=True) for v in values}) < len(values):
                raise ConfigError(key, values, "a list of distinct values")
            axes[key] = values
        keys = list(axes)
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes.values())]
    if isinstance(grid_or_samples, str | bytes) or not isinstance(grid_or_samples, Sequence):
        raise ConfigError(
            "grid", grid_or_samples, "a mapping of parameter -> values or a list of points"
        )
    if not grid_or_samples:
        raise ConfigError("grid", [], "a mapping of parameter -> values or a non-empty list")
    points = []
    keys0: list[str] | None = None
    for i, sample in enumerate(grid_or_samples):
        if not isinstance(sample, Mapping):
            raise ConfigError(f"grid[{i}]", sample, "a mapping of parameter -> value")
        keys = list(sample)
        if keys0 is None:
            keys0 = keys
        elif sorted(keys) != sorted(keys0):
            raise ConfigError(f"grid[{i}]", sorted(keys), f"the keys of grid[0] {sorted(keys0)}")
        for key, value in sample.items():
            _check_key(key, value)
        points.append({k: _plain(sample[k]) for k in keys0})
    return points


def _check_key(key: Any, value: Any) -> None:
    if not isinstance(key, str) or not key:
        raise ConfigError("grid key", key, "a SystemConfig field name (dotted for parameters)")
    if key in RESERVED:
        raise ConfigError(
            key,
            value,
            "a parameter other than run_id, point, replicate, seed or index columns "
            "(run seeds derive from the root seed; use replicates)",
        )


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def apply_point(base: SystemConfig, point: Mapping[str, Any]) -> SystemConfig:
    """Return ``base`` with one grid point's values applied (validated).

    Plain keys are :class:`SystemConfig` fields; ``task_params.<name>`` sets a task parameter;
    ``controllers.<i>.<param>`` (index) or ``controllers.<type>.<param>`` (the one controller of
    that type) sets a controller table's parameter.

    Raises
    ------
    ConfigError
        Unknown fields, controllers missing from ``base``, or invalid values (one line naming the
        key, the value and what is allowed).

    Examples
    --------
    >>> apply_point(SystemConfig(), {"step_size": 0.1, "batch_size": 4}).batch_size
    4
    >>> apply_point(SystemConfig(), {"task_params.input_scale": 2.0}).task_params
    {'input_scale': 2.0}
    """
    changes: dict[str, Any] = {}
    task_params: dict[str, Any] | None = None
    controllers: list[dict[str, Any]] | None = None
    for key, value in point.items():
        head, dot, rest = key.partition(".")
        if not dot:
            if head not in _FIELDS:
                raise ConfigError(
                    key,
                    value,
                    "a SystemConfig field, task_params.<name> or controllers.<i|type>.<parameter>",
                )
            if head == "seed":
                _check_key(key, value)
            changes[head] = value
        elif head == "task_params" and rest:
            task_params = dict(base.task_params) if task_params is None else task_params
            task_params[rest] = value
        elif head == "controllers":
            controllers = (
                [dict(c) for c in base.controllers] if controllers is None else controllers
            )
            i, param = _controller_slot(controllers, key, value)
            controllers[i][param] = value
        else:
            raise ConfigError(
                key, value, "a SystemConfig field, task_params.<name> or controllers.<i|type>.<p>"
            )
    if task_params is not None:
        changes["task_params"] = task_params
    if controllers is not None:
        changes["controllers"] = tuple(controllers)
    if not changes:
        return base
    try:
        return base.replace(**changes)
    except ConfigError as err:
        # name the grid key (controllers.mu_c...) rather than the table slot (controllers[1].mu_c)
        for key in point:
            if key.startswith("controllers."):
                i, param = _controller_slot(controllers or [], key, point[key])
                if err.field == f"controllers[{i}].{param}":
                    raise ConfigError(key, err.value, err.allowed) from None
        raise


def _controller_slot(controllers: list[dict[str, Any]], key: str, value: Any) -> tuple[int, str]:
    parts = key.split(".")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise ConfigError(key, value, "controllers.<index or type>.<parameter>")
    _, sel, param = parts
    types = [c.get("type") for c in controllers]
    shown = ", ".join(f"{i}={t}" for i, t in enumerate(types)) or "none in the base config"
    if sel.isdigit():
        i = int(sel)
        if i >= len(controllers):
            raise ConfigError(key, value, f"a controller index of the base config ({shown})")
    else:
        hits = [i for i, t in enumerate(types) if t == sel]
        if len(hits) != 1:
            why = "exactly one controller of that type" if hits else "a controller type"
            raise ConfigError(key, value, f"{why} in the base config ({shown}); or use its index")
        i = hits[0]
    if param == "type":
        raise ConfigError(key, value, "a controller parameter (not its type)")
    return i, param


def _read_param(config: SystemConfig, key: str) -> Any:
    head, _, rest = key.partition(".")
    if not rest:
        value = getattr(config, head)
    elif head == "task_params":
        value = config.task_params.get(rest)
    else:
        sel, param = rest.split(".")
        if sel.isdigit():
            value = config.controllers[int(sel)].get(param)
        else:
            value = next(c for c in config.controllers if c["type"] == sel).get(param)
    return _plain(value)


# ---------------------------------------------------------------------------- one run
@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs; picklable, sent to a worker as the argument of
    :func:`execute_run`.

    Attributes
    ----------
    run_id, index, point, replicate : run identity (index = position in the sweep)
    params : mapping of the grid key -> applied value
    seed : the run's config seed (from the root ``SeedSequence``)
    scenario : registered scenario name or a top-level callable with the scenario signature
    config : the run's full config (seed included)
    folder : final run folder (``DIR/runs/<run_id>``)
    steps, quick, options : passed to the scenario's ``run``
    ship : return the files to the caller instead of writing ``folder`` (no shared disk)
    """

    run_id: str
    index: int
    point: int
    replicate: int
    params: dict[str, Any]
    seed: int
    scenario: str | Callable[..., Any]
    config: SystemConfig
    folder: str
    steps: int | None = None
    quick: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    ship: bool = False


def execute_run(spec: RunSpec) -> dict[str, Any]:
    """Run one scenario and write its complete folder atomically; return its index record.

    The scenario writes into ``<runs>/.tmp-<run_id>-<uuid>``; ``run.json`` is written last and
    the folder is renamed to ``spec.folder``. If the final folder already exists (the same run
    finished twice, e.g. after a Dask retry) the new copy is discarded. Exceptions in the
    scenario are caught: the record then has ``status = "failed"``, the error line and the
    traceback. With ``spec.ship`` the files are returned in the record (``files``) instead.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> spec = RunSpec("r00000", 0, 0, 0, {}, 7, "train", SystemConfig(replicas=4, seed=7),
    ...                str(d / "runs" / "r00000"), steps=3)
    >>> rec = execute_run(spec)
    >>> rec["status"], (d / "runs" / "r00000" / "model.parquet").is_file()
    ('done', True)
    """
    final = Path(spec.folder)
    if spec.ship:
        tmp = Path(tempfile.mkdtemp(prefix=f"dualsim-{spec.run_id}-"))
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f"{TMP_PREFIX}{spec.run_id}-{uuid.uuid4().hex[:12]}"
    record: dict[str, Any] = {"run_id": spec.run_id, "index": spec.index}
    started = time.perf_counter()
    previous, _STATE.in_run = _in_run(), True
    try:
        run = _scenario_callable(spec.scenario)
        result = run(
            config=spec.config,
            out=tmp,
            quick=spec.quick,
            steps=spec.steps,
            progress=False,
            **spec.options,
        )
        wall = time.perf_counter() - started
        summary = getattr(result, "summary", {}) or {}
        info = {
            "run_id": spec.run_id,
            "index": spec.index,
            "point": spec.point,
            "replicate": spec.replicate,
            "params": spec.params,
            "seed": spec.seed,
            "status": "done",
            "wall_time_s": wall,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "summary": {k: _plain(v) for k, v in summary.items()},
        }
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / RUN_RECORD).write_text(json.dumps(info, indent=1, default=str))
        record.update(status="done", wall_time_s=wall, finished_at=info["finished_at"])
        if spec.ship:
            record["files"] = {
                str(p.relative_to(tmp)): p.read_bytes()
                for p in sorted(tmp.rglob("*"))
                if p.is_file()
            }
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            _install(tmp, final)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        text = _error_line(exc)
        record.update(
            status="failed",
            wall_time_s=time.perf_counter() - started,
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
            error=text,
            traceback=traceback.format_exc(),
        )
    finally:
        _STATE.in_run = previous
    return record


def _error_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def _install(tmp: Path, final: Path) -> None:
    """Rename a finished temporary run folder into place (keep an existing complete one)."""
    try:
        os.rename(tmp, final)
    except OSError:
        if (final / RUN_RECORD).is_file():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            raise


def _scenario_callable(scenario: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(scenario):
        return scenario
    from scenarios.registry import load

    return load(scenario).run


def _scenario_label(scenario: str | Callable[..., Any]) -> str:
    if isinstance(scenario, str):
        return scenario
    return f"{scenario.__module__}:{scenario.__qualname__}"


# ---------------------------------------------------------------------------- the sweep
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
    scenario: str | Callable[..., Any] = "train",
    quick: bool = False,
    steps: int | None = None,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    ship: bool = False,
    progress: bool = False,
    max_restarts: int = 2,
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
        A registered scenario name, or a picklable top-level function with the scenario
        signature ``run(config, out, quick, steps, progress, **options)``.
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

    Returns
    -------
    SweepResult
        Failed runs do not raise: they are listed in ``failed`` and the index.

    Raises
    ------
    ConfigError
        A bad grid (unknown key, empty list, invalid value) or a folder holding a different
        sweep, before anything runs.

    Examples
    --------
    >>> import tempfile
    >>> res = run_sweep(SystemConfig(replicas=4), {"step_size": [0.01, 0.02]}, executor="serial",
    ...                 out=tempfile.mkdtemp(), steps=3)
    >>> print(res.index[["run_id", "step_size", "status"]].to_string(index=False))
    run_id  step_size status
    r00000       0.01   done
    r00001       0.02   done
    >>> run_sweep(SystemConfig(replicas=4), {"step_size": [0.01, 0.02]}, executor="serial",
    ...           out=res.out, steps=3).skipped
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
    engine = _engine(executor, scheduler)
    if isinstance(scenario, str):
        from scenarios.registry import load

        load(scenario)  # ValueError naming the scenarios
    elif not callable(scenario):
        raise ConfigError("scenario", scenario, "a scenario name or a callable")
    points = grid_points({} if grid_or_samples is None else grid_or_samples)
    configs = [apply_point(base, p) for p in points]  # every bad value refused here
    keys = list(points[0]) if points else []
    opts = dict(options or {})

    if out is None:
        from scenarios.output import default_out

        out = default_out(f"sweep-{_scenario_label(scenario).split(':')[-1]}")
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
                params={key: _read_param(cfg, key) for key in keys},
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
        "scenario": _scenario_label(scenario),
        "base_config": base.to_dict(),
        "keys": keys,
        "points": points,
        "replicates": replicates,
        "root_seed": root_seed,
        "steps": steps,
        "quick": bool(quick),
        "options": opts,
    }
    _check_manifest(folder, manifest)
    with _folder_lock(folder):
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
    _remove_stale(folder)
    index = _initial_index(folder, specs, keys)
    skipped = [s.run_id for s in specs if _is_done(Path(s.folder))]
    done_ids = set(skipped)
    todo = [s for s in specs if s.run_id not in done_ids]
    writer = _IndexWriter(folder / INDEX, index, throttle=0.0 if n_runs <= 1000 else 1.0)
    writer.flush()
    ran: list[str] = []
    failed: list[str] = []
    if todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), disable=not progress, unit="run", desc="sweep")
        try:
            for spec, record in _execute(engine, executor, todo, workers, scheduler, max_restarts):
                if record.get("files") is not None:
                    _write_shipped(folder, spec, record.pop("files"))
                if record["status"] == "done" and not _is_done(Path(spec.folder)):
                    record = {**record, "status": "failed", "error": "run folder missing"}
                writer.update(spec.index, record)
                (ran if record["status"] == "done" else failed).append(spec.run_id)
                _note_failure(folder, spec.run_id, record)
                bar.update(1)
                bar.set_postfix(done=len(ran), failed=len(failed), refresh=False)
        finally:
            bar.close()
            writer.flush(force=True)
            if engine != "external":
                _remove_stale(folder)
    return SweepResult(folder, writer.frame.copy(), ran, skipped, failed)


def _engine(executor: str | cf.Executor | None, scheduler: str | None) -> str:
    if isinstance(executor, cf.Executor):
        if scheduler:
            raise ConfigError("scheduler", scheduler, "no scheduler with an Executor instance")
        return "external"
    if executor is None:
        executor = "dask" if scheduler else ("serial" if _in_run() else "local")
    if executor not in ENGINES:
        raise ConfigError("executor", executor, f"one of {', '.join(ENGINES)} or an Executor")
    if scheduler and executor != "dask":
        raise ConfigError("scheduler", scheduler, "only with executor 'dask'")
    if _in_run() and executor != "serial":
        raise ConfigError(
            "executor", executor, "'serial' or None inside a sweep run (a run never starts a pool)"
        )
    return executor


def _check_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    path = folder / MANIFEST
    canon = json.loads(json.dumps(manifest, default=str))
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError("out", str(folder), f"a readable sweep.json ({exc})") from None
        if old != canon:
            diff = sorted(k for k in set(old) | set(canon) if old.get(k) != canon.get(k))
            raise ConfigError(
                "out",
                str(folder),
                f"an empty folder or one holding this same sweep (differs in: {', '.join(diff)})",
            )
        return
    if folder.is_dir() and any(folder.iterdir()):
        raise ConfigError("out", str(folder), "an empty folder or an earlier sweep's folder")
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write_bytes(path, (json.dumps(canon, indent=1) + "\n").encode())


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """One sweep process per folder: ``DIR/.lock`` holds "host pid"; a dead owner's lock (same
    host) is taken over, a live one is refused."""
    path = folder / LOCK
    me = f"{socket.gethostname()} {os.getpid()}"
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                owner = path.read_text().strip()
            except OSError:
                owner = ""
            if _lock_is_stale(owner):
                path.unlink(missing_ok=True)
                continue
            raise ConfigError(
                "out",
                str(folder),
                f"a folder no other sweep is writing (locked by {owner or 'unknown'}; delete "
                f"{path} if that sweep is gone)",
            ) from None
        with os.fdopen(fd, "w") as fh:
            fh.write(me)
        break
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if path.read_text().strip() == me:
                path.unlink()


def _lock_is_stale(owner: str) -> bool:
    host, _, pid = owner.partition(" ")
    if not owner:
        return True
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _is_done(run_folder: Path) -> bool:
    return (run_folder / RUN_RECORD).is_file()


def _remove_stale(folder: Path) -> None:
    for tmp in folder.glob(f"{TMP_PREFIX}*"):  # torn index writes
        tmp.unlink(missing_ok=True)
    runs = folder / RUNS
    if runs.is_dir():
        for tmp in runs.glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(tmp, ignore_errors=True)


def _initial_index(folder: Path, specs: list[RunSpec], keys: list[str]) -> pd.DataFrame:
    old = None
    path = folder / INDEX
    if path.is_file():
        with contextlib.suppress(Exception):
            old = pd.read_parquet(path).set_index("run_id")
    rows = []
    for s in specs:
        row: dict[str, Any] = {"run_id": s.run_id, "point": s.point, "replicate": s.replicate}
        row.update(s.params)
        row.update(seed=s.seed, status="pending", wall_time_s=math.nan, finished_at="", error="")
        if _is_done(Path(s.folder)):
            row["status"] = "done"
            row["error"] = ""
            info = _read_record(Path(s.folder))
            row["wall_time_s"] = float(info.get("wall_time_s", math.nan))
            row["finished_at"] = str(info.get("finished_at", ""))
        elif old is not None and s.run_id in old.index and old.loc[s.run_id, "status"] == "failed":
            row["status"] = "failed"
            row["error"] = str(old.loc[s.run_id, "error"])
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["wall_time_s"] = frame["wall_time_s"].astype(float)
    return frame


def _read_record(run_folder: Path) -> dict[str, Any]:
    try:
        return json.loads((run_folder / RUN_RECORD).read_text())
    except (OSError, ValueError):
        return {}


class _IndexWriter:
    """The index frame, replaced atomically on disk after updates (optionally throttled)."""

    def __init__(self, path: Path, frame: pd.DataFrame, throttle: float) -> None:
        self.path = path
        self.frame = frame
        self.throttle = throttle
        self.last = -math.inf
        self.dirty = True

    def update(self, row: int, record: dict[str, Any]) -> None:
        for col in INDEX_COLUMNS:
            if col in record:
                self.frame.at[row, col] = record[col]
        if record["status"] == "done":
            self.frame.at[row, "error"] = ""
        self.dirty = True
        self.flush()

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.dirty or (not force and now - self.last < self.throttle):
            return
        buf = io.BytesIO()
        self.frame.to_parquet(buf, index=False)
        _atomic_write_bytes(self.path, buf.getvalue())
        self.last = now
        self.dirty = False


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _write_shipped(folder: Path, spec: RunSpec, files: dict[str, bytes]) -> None:
    tmp = folder / RUNS / f"{TMP_PREFIX}{spec.run_id}-{uuid.uuid4().hex[:12]}"
    for rel, data in files.items():
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    _install(tmp, Path(spec.folder))


def _note_failure(folder: Path, run_id: str, record: dict[str, Any]) -> None:
    path = folder / FAILED / f"{run_id}.txt"
    if record["status"] == "done":
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(exist_ok=True)
    path.write_text(record.get("traceback") or record.get("error", "") + "\n")


# ---------------------------------------------------------------------------- executors
def default_workers() -> int:
    """Cores available to this process.

    Examples
    --------
    >>> default_workers() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _execute(
    engine: str,
    executor: str | cf.Executor | None,
    todo: list[RunSpec],
    workers: int | None,
    scheduler: str | None,
    max_restarts: int,
) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
    """Yield (spec, record) as runs end, in completion order."""
    if engine == "serial":
        for spec in todo:
            yield spec, execute_run(spec)
        return
    n_workers = min(workers or default_workers(), len(todo))
    if engine == "external":
        assert isinstance(executor, cf.Executor)
        yield from _drain(executor, todo)
        return
    if engine == "dask":
        with _dask_executor(scheduler, n_workers) as pool:
            yield from _drain(pool, todo)
        return
    remaining = list(todo)
    restarts = 0
    while remaining:
        pool = cf.ProcessPoolExecutor(
            max_workers=min(n_workers, len(remaining)),
            mp_context=_mp_context(todo[0].scenario),
        )
        broken: list[RunSpec] = []
        try:
            for spec, outcome in _drain(pool, remaining, raw=True):
                if isinstance(outcome, BrokenProcessPool) and restarts < max_restarts:
                    broken.append(spec)
                    continue
                yield (
                    spec,
                    (_failure(spec, outcome) if isinstance(outcome, BaseException) else outcome),
                )
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        remaining = sorted(broken, key=lambda s: s.index)
        restarts += 1 if broken else 0


def _mp_context(scenario: str | Callable[..., Any]) -> multiprocessing.context.BaseContext:
    """``forkserver`` (workers fork from a server that imported the runner and the scenario
    once: no fork of this possibly threaded process, fast pool (re)starts), else ``spawn``."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    if isinstance(scenario, str):
        from scenarios.registry import SCENARIOS

        module = SCENARIOS.get(scenario)
    else:
        module = getattr(scenario, "__module__", None)
    ctx.set_forkserver_preload([m for m in ("scenarios.sweep", module) if m])
    return ctx


def _drain(pool: cf.Executor, specs: list[RunSpec], raw: bool = False) -> Iterator[tuple]:
    futures = {pool.submit(execute_run, spec): spec for spec in specs}
    for fut in cf.as_completed(futures):
        spec = futures[fut]
        try:
            outcome: Any = fut.result()
        except Exception as exc:  # the worker died or the executor broke
            outcome = exc if raw else _failure(spec, exc)
        yield spec, outcome


def _failure(spec: RunSpec, exc: BaseException) -> dict[str, Any]:
    text = _error_line(exc)
    return {
        "run_id": spec.run_id,
        "index": spec.index,
        "status": "failed",
        "wall_time_s": math.nan,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "error": text,
        "traceback": "".join(traceback.format_exception(exc)),
    }


@contextlib.contextmanager
def _dask_executor(scheduler: str | None, n_workers: int) -> Iterator[cf.Executor]:
    """``Client(scheduler).get_executor()``, or a loopback LocalCluster closed afterwards."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "executor", "dask", "the dask extra installed (pip install 'dualsim[dask]')"
        ) from None
    import logging

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise ConfigError(
                "scheduler", scheduler, f"the address of a running Dask scheduler ({exc})"
            ) from None
    else:
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------------- results
def load_index(out: str | Path) -> pd.DataFrame:
    """The index ``sweep.parquet`` of a sweep folder (status and wall time of every run).

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = run_sweep(SystemConfig(replicas=4), {}, executor="serial", out=d, steps=2)
    >>> load_index(d)["status"].tolist()
    ['done']
    """
    path = Path(out) / INDEX
    if not path.is_file():
        raise ValueError(f"out: {str(out)!r}; expected a sweep folder with {INDEX}")
    return pd.read_parquet(path)


def collect(out: str | Path, table: str = "model") -> pd.DataFrame:
    """One table of every finished run, with the parameter columns joined.

    Columns: the grid keys (applied values), ``run_id``, ``point``, ``replicate``, ``seed``,
    then the run's table. A table column named like a parameter (e.g. ``step_size`` in
    ``model``, the current gamma) is kept as ``<name>_run``. No file paths; timings stay in the
    index. Rows are in run order, then table order, so the frame is the same whatever executor
    produced the runs.

    Parameters
    ----------
    out : path
        The sweep folder.
    table : str
        Table name (a ``<table>.parquet`` in every run folder), default ``model``.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = run_sweep(SystemConfig(replicas=4, record_every=1), {"batch_size": [4, 8]},
    ...               executor="serial", out=d, steps=2)
    >>> frame = collect(d)
    >>> print(frame[["batch_size", "run_id", "step"]].to_string(index=False))
     batch_size run_id  step
              4 r00000     0
              4 r00000     1
              4 r00000     2
              8 r00001     0
              8 r00001     1
              8 r00001     2
    """
    folder = Path(out)
    path = folder / MANIFEST
    if not path.is_file():
        raise ValueError(f"out: {str(out)!r}; expected a sweep folder with {MANIFEST}")
    keys = json.loads(path.read_text())["keys"]
    runs = (
        sorted(
            p
            for p in (folder / RUNS).iterdir()
            if not p.name.startswith(TMP_PREFIX) and _is_done(p)
        )
        if (folder / RUNS).is_dir()
        else []
    )
    if not runs:
        raise ValueError(f"out: {str(out)!r}; expected a sweep folder with finished runs")
    frames = []
    for run in runs:
        file = run / f"{table}.parquet"
        if not file.is_file():
            names = sorted(p.stem for p in run.glob("*.parquet"))
            raise ValueError(f"table: {table!r}; expected one of {', '.join(names)}")
        info = _read_record(run)
        frame = pd.read_parquet(file)
        frame = frame.rename(columns={c: f"{c}_run" for c in frame.columns if c in keys})
        head = {k: info["params"][k] for k in keys}
        head.update(
            run_id=info["run_id"],
            point=info["point"],
            replicate=info["replicate"],
            seed=info["seed"],
        )
        for pos, (name, value) in enumerate(head.items()):
            frame.insert(pos, name, [value] * len(frame))
        frames.append(frame)
    total = pd.concat(frames, ignore_index=True)
    for col in ("point", "replicate", "seed"):
        total[col] = total[col].astype("int64")
    return total
