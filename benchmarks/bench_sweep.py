"""Benchmark of the sweep runner: one 4-run sweep, serially, on the process pool and on Dask.

Wall-clock seconds for the whole call (executor start-up and shutdown included), median of a
few repeats, for a tiny sweep (train, 5 steps, 4 replicas: start-up dominated) and a working
sweep (train, 100 steps, 32 replicas), plus the cost of a rerun that finds every run complete.
Run it with ``python -m benchmarks.bench_sweep``.
"""

from __future__ import annotations

import statistics
import tempfile
import time

from models import SystemConfig
from runner.sweep import collect, default_workers, run_sweep

__all__ = ["GRID", "SCENARIO", "run"]

GRID = {"step_size": [0.01, 0.05], "batch_size": [8, 16]}
SCENARIO = "scenarios.train:run"


def _time(engine: str, base: SystemConfig, steps: int, repeats: int) -> tuple[float, str]:
    times = []
    out = ""
    for _ in range(repeats):
        out = tempfile.mkdtemp(prefix=f"bench-sweep-{engine}-")
        start = time.perf_counter()
        res = run_sweep(
            base, GRID, executor=engine, out=out, scenario=SCENARIO, steps=steps, workers=2
        )
        times.append(time.perf_counter() - start)
        if not res.complete:
            raise RuntimeError(f"{engine}: runs failed: {res.failed}")
    return statistics.median(times), out


def run(repeats: int = 3) -> list[str]:
    """Time the 4-run sweep per executor; returns printable lines.

    Examples
    --------
    >>> callable(run)
    True
    """
    lines = [f"sweep of 4 train runs, 2 workers ({default_workers()} cores), median of {repeats}"]
    sizes = [("tiny (5 steps, R=4)", 4, 5), ("work (100 steps, R=32)", 32, 100)]
    for label, replicas, steps in sizes:
        base = SystemConfig(replicas=replicas, record_every=1, seed=1)
        row = {}
        folders = {}
        for engine in ("serial", "local", "dask"):
            row[engine], folders[engine] = _time(engine, base, steps, repeats)
        same = all(
            collect(folders["serial"]).equals(collect(folders[e])) for e in ("local", "dask")
        )
        start = time.perf_counter()
        run_sweep(
            base, GRID, executor="local", out=folders["local"], scenario=SCENARIO, steps=steps
        )
        rerun = time.perf_counter() - start
        lines.append(
            f"  {label}: serial {row['serial']:.2f} s, pool {row['local']:.2f} s "
            f"({row['serial'] / row['local']:.2f}x), dask LocalCluster {row['dask']:.2f} s "
            f"({row['serial'] / row['dask']:.2f}x); bit-identical: {same}; "
            f"rerun skipping all 4: {rerun:.3f} s"
        )
    return lines


if __name__ == "__main__":  # pragma: no cover
    for line in run():
        print(line)
