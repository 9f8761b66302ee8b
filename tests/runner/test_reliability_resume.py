"""Kill a ``dualsim run`` subprocess (SIGKILL at a random step, SIGINT, SIGTERM), resume it, and
compare every Parquet table with an uninterrupted run of the same seed (pandas.testing); the
resumed run must step less than the uninterrupted one (it continued from its checkpoints).

The interrupted runs go through :mod:`tests.runner.steppause`: the run writes a step counter
and waits at the chosen step until it has been signalled, so every signal lands at a known step
however loaded the machine is (the tests wait on the counter, never on a delay)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from scenarios import scenario_names
from tests.runner.sessions import start_session, wait_for
from tests.runner.steppause import read_counter

ROOT = Path(__file__).resolve().parents[2]
EVERY = 3
MAX_PAUSE = 40  # every run below steps at least this often (all arms together)
TRAIN_REPLICAS = 16
#: each scenario's shortest accepted run (``--steps``; worlds' arms have their own durations):
#: resume is checked for bit-identity, so the science needs no more, and every run still has
#: more than MAX_PAUSE steps and several checkpoints
SIZES = {
    "train": ["--steps", "45", "--replicas", str(TRAIN_REPLICAS)],
    "transition": ["--steps", "31"],
    "madelung": ["--steps", "20"],
    "spacetime": ["--steps", "64"],
    "duality": ["--steps", "40"],
    "particles": ["--steps", "40"],
}


def _args(name: str, out: Path, *extra: str) -> list[str]:
    return [
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
    return SIZES.get(name, [])


def _run(args: list[str], counter: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``dualsim args`` to its end, counting its steps (all arms) in the file ``counter``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tests.runner.steppause", str(counter), "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _steps(counter: Path) -> int:
    """The steps (all arms) a run counted in ``counter``; 0 if it stepped none."""
    seen = read_counter(counter)
    return 0 if seen is None else seen[0]


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def _assert_same(a: Path, b: Path) -> None:
    ta, tb = _tables(a), _tables(b)
    assert sorted(ta) == sorted(tb)
    for name in ta:
        pdt.assert_frame_equal(ta[name], tb[name], obj=name)
    if (a / "verdicts.csv").exists():
        assert (a / "verdicts.csv").read_bytes() == (b / "verdicts.csv").read_bytes()


def _start_paused(name: str, root: Path, pause_at: int) -> tuple[subprocess.Popen, Path, Path]:
    """Start the run; return once it waits at its ``pause_at``-th step (all arms counted)."""
    out, counter, log = root / "run", root / "counter", root / "run.log"
    argv = ["-m", "tests.runner.steppause", str(counter), str(pause_at)]
    proc = start_session([*argv, *_args(name, out, *_size(name))], log)

    def paused() -> bool:
        seen = read_counter(counter)
        return seen is not None and seen[0] >= pause_at

    try:
        wait_for(paused, f"step {pause_at} (counter {counter})", proc, log, timeout=600)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, out, log


@pytest.fixture(scope="module")
def references() -> dict[str, tuple[Path, int]]:
    """Uninterrupted runs shared by the tests of this module: name -> (folder, steps run)."""
    return {}


def _reference(name: str, references: dict[str, tuple[Path, int]], root: Path) -> tuple[Path, int]:
    if name not in references:
        out = root / f"ref-{name}"
        res = _run(_args(name, out, *_size(name)), root / f"ref-{name}.counter")
        assert res.returncode == 0, f"the uninterrupted {name} run failed: {res.stderr[-2000:]}"
        assert not (out / "checkpoints").exists()
        references[name] = (out, _steps(root / f"ref-{name}.counter"))
    return references[name]


def _resume(name: str, out: Path, root: Path, total: int, seen: str) -> None:
    """Resume the run in ``out``; it must end well, from its checkpoints (fewer steps than the
    uninterrupted run's ``total``), and leave no checkpoint behind."""
    res = _run(_args(name, out, "--resume"), root / "resume.counter")
    assert res.returncode == 0, f"{seen}\nresume: {res.stderr[-2000:]}"
    redone = _steps(root / "resume.counter")
    assert redone < total, f"{seen}\nthe resume ran {redone} of {total} steps: it started over"
    assert not (out / "checkpoints").exists()


PARAMS = [
    pytest.param(n, marks=[] if n == "train" else [pytest.mark.slow]) for n in scenario_names()
]


@pytest.mark.parametrize("name", PARAMS)
def test_sigkill_at_a_random_step_then_resume_is_identical(
    name: str, references: dict[str, tuple[Path, int]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp(f"kill-{name}")
    ref, total_steps = _reference(name, references, root)
    pause_at = int(np.random.default_rng(sum(map(ord, name))).integers(EVERY, MAX_PAUSE))
    proc, out, log = _start_paused(name, root, pause_at)
    total, arm, step = read_counter(root / "counter") or (0, "?", 0)
    proc.kill()
    proc.wait(timeout=60)
    seen = f"killed at step {step} of arm {arm!r} ({total} steps in all); output:\n"
    seen += log.read_text(errors="replace")[-1000:]
    assert proc.returncode == -signal.SIGKILL, seen
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pkl")), seen
    _resume(name, out, root, total_steps, seen)
    _assert_same(ref, out)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_sigterm_flush_parquet_and_resume(
    signum: int,
    code: int,
    references: dict[str, tuple[Path, int]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = tmp_path_factory.mktemp(f"sig{signum}")
    ref, total_steps = _reference("train", references, root)
    pause_at = 7 if signum == signal.SIGINT else 12
    proc, out, log = _start_paused("train", root, pause_at)
    proc.send_signal(signum)
    proc.wait(timeout=120)
    err = log.read_text(errors="replace")
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"{signal.Signals(signum).name} at step {pause_at} of arm 'train'" in lines[0], err
    assert f"resume with: dualsim run train --out {out} --resume" in lines[0]
    tables = _tables(out)  # valid Parquet, up to the step where the signal was handled
    assert {"trajectories", "model", "events"} <= set(tables)
    assert tables["trajectories"]["step"].max() == pause_at
    assert len(tables["trajectories"]) == (pause_at + 1) * TRAIN_REPLICAS
    _resume("train", out, root, total_steps, err)
    _assert_same(ref, out)
