"""Executing the runs of a sweep: one run, and the engines that run many.

:func:`execute_run` runs one :class:`RunSpec` (one plain, picklable call) and writes its
complete run folder atomically. Engines: ``"serial"`` (in this process), ``"local"`` (a
``concurrent.futures.ProcessPoolExecutor``, one worker per core, ``forkserver`` context),
``"dask"`` (``Client(scheduler).get_executor()`` for a running Dask scheduler, or a
``LocalCluster`` on 127.0.0.1 without dashboard, closed afterwards) or any
``concurrent.futures.Executor``. A run never starts a pool itself: a sweep started inside a run
(a scenario's internal grid) runs serially in that run's process.

The processes of a pool die with the sweep process (:mod:`runner.lifeline`): the workers and
the forkserver get the parent-death signal and the workers watch the sweep process, so a
``kill -9`` of the sweep leaves no process behind. When the sweep is stopped (a signal, an
error, the caller closing the generator of :func:`execute`) the pool's workers are terminated
at once instead of finishing their runs.

The scenario of a run is a callable with the scenario signature
``run(config, out, quick, steps, progress, **options)``, or its import string
``"module:attr"`` (resolved in the worker).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models import ConfigError, SystemConfig
from runner.errors import Interrupted
from runner.experiment import resolve
from runner.lifeline import worker_init
from runner.sweep.grid import plain
from runner.sweep.index import RUN_RECORD, TMP_PREFIX, install

__all__ = [
    "ENGINES",
    "RunSpec",
    "choose_engine",
    "default_workers",
    "error_line",
    "execute",
    "execute_run",
    "in_run",
    "scenario_label",
    "terminate_pool",
]

ENGINES = ("serial", "local", "dask")

# in_run is True while this thread executes a run: a nested sweep then runs serially (a run
# never starts a pool). Thread-local because Dask workers may run several tasks in threads.
STATE = threading.local()


def in_run() -> bool:
    """True while this thread executes a sweep run.

    Examples
    --------
    >>> in_run()
    False
    """
    return getattr(STATE, "in_run", False)


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs; picklable, sent to a worker as the argument of
    :func:`execute_run`.

    Attributes
    ----------
    run_id, index, point, replicate : run identity (index = position in the sweep)
    params : mapping of the grid key -> applied value
    seed : the run's config seed (from the root ``SeedSequence``)
    scenario : a top-level callable with the scenario signature, or its ``"module:attr"``
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
    >>> import pandas as pd
    >>> from runner.io import write_tables
    >>> def write(config, out, quick, steps, progress):
    ...     write_tables(out, {"model": pd.DataFrame({"seed": [config.seed]})}, csv_max_rows=0)
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> spec = RunSpec("r00000", 0, 0, 0, {}, 7, write, SystemConfig(replicas=4, seed=7),
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
    previous, STATE.in_run = in_run(), True
    try:
        run = resolve(spec.scenario)
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
            "summary": {k: plain(v) for k, v in summary.items()},
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
            install(tmp, final)
    except Interrupted:  # the sweep (or the run around it) is being stopped: not a failure
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        text = error_line(exc)
        record.update(
            status="failed",
            wall_time_s=time.perf_counter() - started,
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
            error=text,
            traceback=traceback.format_exc(),
        )
    finally:
        STATE.in_run = previous
    return record


def error_line(exc: BaseException) -> str:
    """The index's one-line error: the exception type and the first line of its message.

    Examples
    --------
    >>> error_line(ValueError("bad value\\nmore"))
    'ValueError: bad value'
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def scenario_label(scenario: str | Callable[..., Any]) -> str:
    """How the manifest names a scenario: its import string ``"module:qualname"``.

    Examples
    --------
    >>> scenario_label(error_line), scenario_label("scenarios.train:run")
    ('runner.sweep.engines:error_line', 'scenarios.train:run')
    """
    if isinstance(scenario, str):
        return scenario
    return f"{scenario.__module__}:{scenario.__qualname__}"


def choose_engine(executor: str | cf.Executor | None, scheduler: str | None) -> str:
    """The engine of a sweep: ``"serial"``, ``"local"``, ``"dask"`` or ``"external"`` (an
    Executor passed in); ``None`` is ``"dask"`` with a scheduler, ``"serial"`` inside a run,
    else ``"local"``.

    Examples
    --------
    >>> choose_engine(None, None), choose_engine(None, "tcp://host:8786")
    ('local', 'dask')
    """
    if isinstance(executor, cf.Executor):
        if scheduler:
            raise ConfigError("scheduler", scheduler, "no scheduler with an Executor instance")
        return "external"
    if executor is None:
        executor = "dask" if scheduler else ("serial" if in_run() else "local")
    if executor not in ENGINES:
        raise ConfigError("executor", executor, f"one of {', '.join(ENGINES)} or an Executor")
    if scheduler and executor != "dask":
        raise ConfigError("scheduler", scheduler, "only with executor 'dask'")
    if in_run() and executor != "serial":
        raise ConfigError(
            "executor", executor, "'serial' or None inside a sweep run (a run never starts a pool)"
        )
    return executor


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


def execute(
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
            initializer=worker_init,
            initargs=(os.getpid(),),
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
        except BaseException:  # stopped early (a signal, an error, the generator closed)
            terminate_pool(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        remaining = sorted(broken, key=lambda s: s.index)
        restarts += 1 if broken else 0


def terminate_pool(pool: cf.ProcessPoolExecutor, timeout: float = 5.0) -> None:
    """Stop a process pool now: cancel what has not started, terminate the workers (SIGTERM,
    then SIGKILL after ``timeout`` seconds) and wait for them.

    Examples
    --------
    >>> pool = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    >>> terminate_pool(pool); pool.submit(int, "1")
    Traceback (most recent call last):
    ...
    RuntimeError: cannot schedule new futures after shutdown
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(timeout)


def _mp_context(scenario: str | Callable[..., Any]) -> multiprocessing.context.BaseContext:
    """``forkserver`` (workers fork from a server that imported the runner and the scenario
    once: no fork of this possibly threaded process, fast pool (re)starts), else ``spawn``.
    The forkserver first imports :mod:`runner.sweep.forkserver_preload`, which ties its life
    to this process."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    if isinstance(scenario, str):
        module = scenario.partition(":")[0]
    else:
        module = getattr(scenario, "__module__", None)
    preload = ("runner.sweep.forkserver_preload", __name__, module)
    ctx.set_forkserver_preload([m for m in preload if m])
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
    text = error_line(exc)
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
            # a run's own errors reach the index; the workers' shutdown chatter stays out of stderr
            silence_logs=logging.CRITICAL,
        )
        client = Client(cluster)
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
