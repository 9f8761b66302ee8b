"""Processes die with their parent: a ``dualsim sweep`` (process pool or Dask LocalCluster)
killed with SIGKILL leaves no process alive within 5 s; SIGINT/SIGTERM stop it cleanly.

Each sweep starts in its own process session; the tests wait until both runs are running (their
temporary run folders exist), signal the sweep process only, and list what is left of the
session in ``/proc`` (pool workers, the forkserver, the resource tracker, Dask workers)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from runner.sweep import load_index
from tests.runner.sessions import describe, session_processes, start_session, wait_for, wait_gone

GONE_WITHIN = 5.0  # seconds


def _start_sweep(tmp_path: Path, engine: str) -> tuple[subprocess.Popen, Path, Path]:
    """A sweep of two endless train runs; returns once both are running in their workers."""
    out, log = tmp_path / "sweep", tmp_path / "sweep.log"
    argv = ["-m", "dualsim", "sweep", "train", "--steps", "1000000", "--replicas", "4"]
    argv += ["--grid", "batch_size=8,16", "--engine", engine, "--workers", "2"]
    argv += ["--out", str(out), "--no-progress"]
    proc = start_session(argv, log)
    runs = out / "runs"

    def running() -> bool:
        return runs.is_dir() and len(list(runs.glob(".tmp-r*"))) == 2

    try:
        wait_for(running, "both runs to start", proc, log, timeout=600)
    except BaseException:
        _cleanup(proc)
        raise
    return proc, out, log


def _cleanup(proc: subprocess.Popen) -> None:
    """Kill whatever is left of the test's session (by pid), so a failure leaks nothing."""
    for pid in session_processes(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.poll() is None:
        proc.wait(timeout=30)


def _assert_nothing_left(proc: subprocess.Popen, before: dict[int, str], log: Path) -> None:
    left, waited = wait_gone(proc.pid, GONE_WITHIN)
    assert not left, (
        f"{len(left)} process(es) of the sweep's session alive {waited:.1f} s after it ended "
        f"(exit {proc.returncode}):\n{describe(left)}\nbefore the signal:\n{describe(before)}\n"
        f"output:\n{log.read_text(errors='replace')[-1500:]}"
    )


@pytest.mark.parametrize(
    "engine", ["local", pytest.param("dask", marks=pytest.mark.slow)], ids=["pool", "dask"]
)
def test_sigkill_of_a_sweep_leaves_no_process(tmp_path: Path, engine: str) -> None:
    if engine == "dask":
        pytest.importorskip("distributed")
    proc, _, log = _start_sweep(tmp_path, engine)
    try:
        before = session_processes(proc.pid)
        assert len(before) >= 3, describe(before)  # the sweep, its workers (and forkserver)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        _assert_nothing_left(proc, before, log)
    finally:
        _cleanup(proc)


@pytest.mark.parametrize(
    ("engine", "signum", "code"),
    [
        ("local", signal.SIGTERM, 143),
        pytest.param("local", signal.SIGINT, 130, marks=pytest.mark.slow),
        pytest.param("dask", signal.SIGTERM, 143, marks=pytest.mark.slow),
    ],
    ids=["pool-sigterm", "pool-sigint", "dask-sigterm"],
)
def test_sigint_sigterm_stop_a_sweep_cleanly(
    tmp_path: Path, engine: str, signum: int, code: int
) -> None:
    if engine == "dask":
        pytest.importorskip("distributed")
    proc, out, log = _start_sweep(tmp_path, engine)
    try:
        before = session_processes(proc.pid)
        os.kill(proc.pid, signum)
        proc.wait(timeout=120)
        text = log.read_text(errors="replace").strip()
        assert proc.returncode == code, text
        last = text.splitlines()[-1]
        name = signal.Signals(signum).name
        assert last == (
            f"interrupted: {name}: the sweep in {out} stopped with 0 of 2 runs done (0 failed); "
            "the same command continues it"
        ), text
        assert "Traceback" not in text, text
        _assert_nothing_left(proc, before, log)
        assert load_index(out)["status"].tolist() == ["pending", "pending"]
        assert not list((out / "runs").glob(".tmp-*"))  # the stopped runs' folders are gone
    finally:
        _cleanup(proc)
