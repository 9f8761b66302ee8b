"""Parameter sweeps: one scenario run per (grid point, replicate), resumable and bit-identical.

``grid`` expands grids and applies points to a config, ``engines`` executes runs (serial,
process pool, Dask), ``index`` keeps the sweep folder (manifest, index, lock), ``collect``
reads it back, and ``driver`` ties them together in :func:`run_sweep`.

Examples
--------
>>> from runner.sweep import collect, run_sweep
>>> callable(run_sweep), callable(collect)
(True, True)
"""

from runner.sweep.collect import collect, load_index
from runner.sweep.driver import SweepResult, run_sweep
from runner.sweep.engines import ENGINES, RunSpec, default_workers, execute_run
from runner.sweep.grid import apply_point, grid_points

__all__ = [
    "ENGINES",
    "RunSpec",
    "SweepResult",
    "apply_point",
    "collect",
    "default_workers",
    "execute_run",
    "grid_points",
    "load_index",
    "run_sweep",
]
