"""Sweep executors: serial, process pool and Dask give bit-identical results; dead workers and a
killed sweep process lose no run. Clusters bind 127.0.0.1 and are shut down by the tests."""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from runner.sweep import collect, load_index, run_sweep
from tests.runner.sessions import start_session, wait_for
from tests.runner.test_sweep import BASE, GRID, STEPS, TRAIN, flaky, serial_sweep

TARGET = {"step_size": 0.05, "batch_size": 8}  # run r00002


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The tables of the serial reference sweep (run once per session, shared with test_sweep)."""
    out = serial_sweep(tmp_path_factory)
    return {t: collect(out, t) for t in ("model", "trajectories", "neurons")}


def _same(out: Path, reference: dict[str, pd.DataFrame]) -> None:
    for table, expected in reference.items():
        got = collect(out, table)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        assert got.equals(expected)  # bit-identical, dtypes included


def test_process_pool_is_bit_identical(serial, tmp_path):
    res = run_sweep(
        BASE, GRID, executor="local", workers=2, out=tmp_path, steps=STEPS, scenario=TRAIN
    )
    assert res.complete and sorted(res.ran) == ["r00000", "r00001", "r00002", "r00003"]
    _same(tmp_path, serial)


def test_dask_local_cluster_is_bit_identical(serial, tmp_path):
    pytest.importorskip("distributed")
    res = run_sweep(
        BASE, GRID, executor="dask", workers=2, out=tmp_path, steps=STEPS, scenario=TRAIN
    )
    assert res.complete and not res.failed
    _same(tmp_path, serial)


@pytest.mark.slow
def test_any_executor_instance_is_used_as_is(serial, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        res = run_sweep(BASE, GRID, executor=pool, out=tmp_path / "a", steps=STEPS, scenario=TRAIN)
        assert pool.submit(int, "7").result() == 7  # not shut down by the sweep
    assert res.complete
    _same(tmp_path / "a", serial)


@pytest.mark.slow
def test_pool_worker_killed_mid_run_pool_is_rebuilt(serial, tmp_path):
    opts = {"marker": str(tmp_path / "killed"), "mode": "kill", "target": TARGET}
    out = tmp_path / "s"
    res = run_sweep(BASE, GRID, executor="local", workers=2, out=out, steps=STEPS,
                    scenario=flaky, options=opts)  # fmt: skip
    assert (tmp_path / "killed").exists()  # a worker really died
    assert res.complete and not res.failed and len(res.ran) == 4
    _same(out, serial)


@pytest.mark.slow
def test_pool_sweep_process_group_killed_then_resumed(serial, tmp_path):
    """SIGKILL the sweep process and its pool from outside while a run hangs; resume."""
    out = tmp_path / "s"
    marker = tmp_path / "hanging"
    opts = {"marker": str(marker), "mode": "hang", "target": TARGET}
    code = (
        "from runner.sweep import run_sweep\n"
        "from tests.runner.test_sweep import flaky, BASE, GRID, STEPS\n"
        "if __name__ == '__main__':\n"
        f"    run_sweep(BASE, GRID, executor='local', workers=2, out={str(out)!r}, steps=STEPS,"
        f" scenario=flaky, options={opts!r})\n"
    )
    script = tmp_path / "sweep_script.py"
    script.write_text(code)
    log = tmp_path / "sweep.log"
    proc = start_session([str(script)], log)

    def reached() -> bool:  # the run r00002 hangs and two other runs are done
        if not (marker.exists() and (out / "sweep.parquet").exists()):
            return False
        return bool((load_index(out)["status"] == "done").sum() >= 2)

    try:
        wait_for(reached, "the hanging run and two finished ones", proc, log, timeout=600)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    index = load_index(out)
    assert index.loc[2, "status"] == "pending"  # the hanging run is reported missing
    done = {p: p.read_bytes() for p in (out / "runs").glob("r*/*.parquet")}
    res = run_sweep(BASE, GRID, executor="local", workers=2, out=out, steps=STEPS,
                    scenario=flaky, options=opts)  # fmt: skip
    assert "r00002" in res.ran and res.complete
    assert set(res.ran) | set(res.skipped) == {"r00000", "r00001", "r00002", "r00003"}
    assert all(p.read_bytes() == data for p, data in done.items())  # finished runs intact
    assert not list((out / "runs").glob(".tmp-*"))
    _same(out, serial)


def test_dask_worker_killed_mid_sweep_loses_no_run(serial, tmp_path):
    """A worker of a running scheduler dies in a run; Dask reruns it elsewhere."""
    distributed = pytest.importorskip("distributed")
    import logging

    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    )
    try:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        opts = {"marker": str(tmp_path / "killed"), "mode": "kill", "target": TARGET}
        out = tmp_path / "s"
        res = run_sweep(BASE, GRID, out=out, steps=STEPS, scheduler=cluster.scheduler_address,
                        scenario=flaky, options=opts)  # fmt: skip
    finally:
        cluster.close()
    assert (tmp_path / "killed").exists()  # a worker really died
    assert res.complete and not res.failed
    assert sorted(res.ran) == ["r00000", "r00001", "r00002", "r00003"]
    _same(out, serial)
