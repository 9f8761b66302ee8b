"""Reading a sweep folder: its index and one table of every finished run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from runner.errors import UsageError
from runner.sweep.index import INDEX, MANIFEST, RUNS, TMP_PREFIX, is_done, read_record

__all__ = ["collect", "load_index"]


def load_index(out: str | Path) -> pd.DataFrame:
    """The index ``sweep.parquet`` of a sweep folder (status and wall time of every run).

    Examples
    --------
    >>> import tempfile
    >>> from models import SystemConfig
    >>> from runner.io import write_tables
    >>> from runner.sweep import run_sweep
    >>> def write(config, out, quick, steps, progress):
    ...     write_tables(out, {"model": pd.DataFrame({"step": range(steps + 1)})})
    >>> d = tempfile.mkdtemp()
    >>> _ = run_sweep(SystemConfig(replicas=4), {}, executor="serial", out=d, steps=2,
    ...               scenario=write)
    >>> load_index(d)["status"].tolist()
    ['done']
    """
    path = Path(out) / INDEX
    if not path.is_file():
        raise UsageError(f"out: {str(out)!r}; expected a sweep folder with {INDEX}")
    # one read of the whole file: the sweep replaces its index atomically, but a Parquet reader
    # given the path opens it more than once and can mix two versions of a live sweep's index
    return pd.read_parquet(io.BytesIO(path.read_bytes()))


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
    >>> from models import SystemConfig
    >>> from runner.io import write_tables
    >>> from runner.sweep import run_sweep
    >>> def write(config, out, quick, steps, progress):
    ...     write_tables(out, {"model": pd.DataFrame({"step": range(steps + 1)})})
    >>> d = tempfile.mkdtemp()
    >>> _ = run_sweep(SystemConfig(replicas=4), {"batch_size": [4, 8]},
    ...               executor="serial", out=d, steps=2, scenario=write)
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
        raise UsageError(f"out: {str(out)!r}; expected a sweep folder with {MANIFEST}")
    keys = json.loads(path.read_text())["keys"]
    runs = (
        sorted(
            p for p in (folder / RUNS).iterdir() if not p.name.startswith(TMP_PREFIX) and is_done(p)
        )
        if (folder / RUNS).is_dir()
        else []
    )
    if not runs:
        raise UsageError(f"out: {str(out)!r}; expected a sweep folder with finished runs")
    frames = []
    for run in runs:
        file = run / f"{table}.parquet"
        if not file.is_file():
            names = sorted(p.stem for p in run.glob("*.parquet"))
            raise UsageError(f"table: {table!r}; expected one of {', '.join(names)}")
        info = read_record(run)
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
