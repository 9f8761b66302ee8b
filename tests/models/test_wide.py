"""Wide networks: one step of R = 64 x 1-2048-1 fits in 4x its useful bytes of address space."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from models import LearningSystem, SystemConfig
from models.blas import blas_threads, set_blas_threads
from runner.io import write_tables
from runner.sweep import collect, run_sweep

# Run in a fresh interpreter: the address-space limit (RLIMIT_AS) is set after the imports, at
# the import baseline plus 4 x (parameters + two (R, M, n) state arrays + one mini-batch).
# The probe set has the mini-batch's size (the useful bytes count one batch of states).
_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from models import LearningSystem, SystemConfig

    def address_space():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize"):
                return int(line.split()[1]) * 1024

    R, M = 64, 16
    cfg = SystemConfig(replicas=R, n_input=1, n_hidden=2048, n_output=1, batch_size=M,
                       n_probe=M, step_size=1e-3, seed=1)
    n = cfg.n_neurons_max
    useful = 8 * (R * cfg.n_parameters_max() + 2 * R * M * n + R * M * 2)
    base = address_space()
    limit = base + 4 * useful
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    model = LearningSystem(cfg)
    model.step()
    assert np.isfinite(model.observables.loss).all()
    with open("/proc/self/status") as f:
        peak = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmPeak"))
    print(f"useful {useful / 2**20:.1f} MiB, address space used {(peak - base) / useful:.2f}x")
    try:  # the control: dense (R, n, n) weights, as stored before, do not fit
        np.ones((R, n, n))
        print("control: dense weights fit")
        sys.exit(1)
    except MemoryError:
        pass
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_one_wide_step_fits_in_four_times_the_useful_bytes():
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "address space used" in out.stdout
    print(out.stdout)


def wide_run(config, out, quick, steps, progress):
    """A sweep scenario: ``steps`` steps of a wide network; its trajectories and BLAS threads."""
    model = LearningSystem(config)
    model.run(steps, progress=False)
    threads = pd.DataFrame({"blas_threads": [blas_threads() or 0]})
    write_tables(out, {"trajectories": model.trajectories(), "threads": threads}, csv_max_rows=0)


def test_blas_threads_are_a_run_setting_and_pool_equals_serial(tmp_path):
    """The config's BLAS thread count holds in every executor, and the process pool's runs
    are bit-identical to the serial ones at a wide shape (R = 8 x 4-1024-4, M = 32)."""
    base = SystemConfig(
        replicas=8,
        n_input=4,
        n_hidden=1024,
        n_output=4,
        batch_size=32,
        relax_steps=3,
        task="linear",
        step_size=1e-4,
        n_probe=4,
        record_every=2,
        blas_threads=2,
    )
    grid = {"step_size": [1e-4, 2e-4]}
    scenario = "tests.models.test_wide:wide_run"
    before = blas_threads()
    serial = run_sweep(
        base, grid, executor="serial", out=tmp_path / "s", steps=3, scenario=scenario
    )
    pool = run_sweep(
        base, grid, executor="local", workers=2, out=tmp_path / "p", steps=3, scenario=scenario
    )
    if before is not None:
        set_blas_threads(before)
    assert serial.complete and pool.complete
    for table in ("trajectories", "threads"):
        a, b = collect(tmp_path / "s", table), collect(tmp_path / "p", table)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    if before is not None:
        assert set(collect(tmp_path / "p", "threads")["blas_threads"]) == {2}
    assert "blas_threads = 2" in base.to_toml()
