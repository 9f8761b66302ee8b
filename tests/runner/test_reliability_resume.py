"""Kill a ``dualsim run`` subprocess (SIGKILL at a random step, SIGINT, SIGTERM), resume it, and
compare every Parquet table with an uninterrupted run of the same seed (pandas.testing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from scenarios import scenario_names

ROOT = Path(__file__).resolve().parents[2]
EVERY = 3
TRAIN = ["--steps", "90", "--replicas", "16"]  # with --quick: about 2 s of stepping
# long enough that a signal sent right after the first checkpoint always lands mid-run, even on
# an idle fast machine (about 10 s of stepping there)
TRAIN_LONG = ["--steps", "900", "--replicas", "16"]


def _cmd(name: str, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dualsim",
        "run",
        name,
        "--quick",
        "--out",
        str(out),
        "--no-progress",
        "--checkpoint-every",
        str(EVERY),
        *extra,
    ]


def _size(name: str) -> list[str]:
    return TRAIN if name == "train" else []


def _run(cmd: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def _assert_same(a: Path, b: Path) -> None:
    ta, tb = _tables(a), _tables(b)
    assert sorted(ta) == sorted(tb)
    for name in ta:
        pdt.assert_frame_equal(ta[name], tb[name], obj=name)
    if (a / "verdicts.csv").exists():
        assert (a / "verdicts.csv").read_bytes() == (b / "verdicts.csv").read_bytes()


def _start_and_signal(
    name: str, out: Path, signum: int, delay: float, size: list[str] | None = None
) -> subprocess.Popen:
    """Start a run, wait for its first checkpoint, wait ``delay`` s more, send ``signum``.

    (Keeping finished arms of multi-arm scenarios is tested in process, in test_reliability.)"""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _cmd(name, out, *(_size(name) if size is None else size)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    ckpt = out / "checkpoints"
    deadline = time.monotonic() + 300
    while not (ckpt.is_dir() and any(ckpt.glob("*.pkl"))):
        if proc.poll() is not None or time.monotonic() > deadline:
            _, err = proc.communicate()
            pytest.fail(f"run ended before its first checkpoint: {err[-500:]}")
        time.sleep(0.02)
    time.sleep(delay)
    assert proc.poll() is None, "the run finished before the signal; make it longer"
    proc.send_signal(signum)
    return proc


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {}


def _reference(
    name: str, references: dict[str, Path], root: Path, size: list[str] | None = None
) -> Path:
    key = name if size is None else f"{name}:{' '.join(size)}"
    if key not in references:
        out = root / f"ref-{name}"
        res = _run(_cmd(name, out, *(_size(name) if size is None else size)))
        if res.returncode != 0:
            pytest.skip(f"the uninterrupted {name} run itself failed: {res.stderr.strip()[-300:]}")
        assert not (out / "checkpoints").exists()
        references[key] = out
    return references[key]


PARAMS = [
    pytest.param(n, marks=[] if n == "train" else [pytest.mark.slow]) for n in scenario_names()
]


@pytest.mark.parametrize("name", PARAMS)
def test_sigkill_at_a_random_step_then_resume_is_identical(
    name: str, references: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp(f"kill-{name}")
    ref = _reference(name, references, root)
    delay = float(np.random.default_rng(sum(map(ord, name))).uniform(0.0, 0.8))
    out = root / "run"
    proc = _start_and_signal(name, out, signal.SIGKILL, delay)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert any((out / "checkpoints").glob("*.pkl"))
    res = _run(_cmd(name, out, "--resume"))
    assert res.returncode == 0, res.stderr
    assert not (out / "checkpoints").exists()
    _assert_same(ref, out)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_sigterm_flush_parquet_and_resume(
    signum: int, code: int, references: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp(f"sig{signum}")
    ref = _reference("train", references, root, TRAIN_LONG)
    out = root / "run"
    proc = _start_and_signal("train", out, signum, 0.3, TRAIN_LONG)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert f"resume with: dualsim run train --out {out} --resume" in lines[0]
    step = int(lines[0].split(" at step ")[1].split()[0])
    tables = _tables(out)  # valid Parquet, up to the step where the signal was handled
    assert {"trajectories", "model", "events"} <= set(tables)
    assert tables["trajectories"]["step"].max() == step
    assert len(tables["trajectories"]) == (step + 1) * 16
    res = _run(_cmd("train", out, "--resume"))
    assert res.returncode == 0, res.stderr
    _assert_same(ref, out)
