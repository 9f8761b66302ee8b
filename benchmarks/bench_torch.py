"""Benchmark: the LearningSystem step against the same dense arithmetic in PyTorch on the CPU.

The goal: one ``LearningSystem.step()`` at ``benchmarks.bench_step.BENCH_CONFIG``
(R = 1024 replicas, layered 4-32-2 tanh with linear output, batch 32, relax_steps 3, relax_rate
0.2, record/probe every 10 steps, 64 probe samples) be faster than the naive dense step --
``BareStep(dense=True)``: dense masked 38 x 38 weights -- written in PyTorch (float64, CPU, no
autograd, ``torch.set_num_threads`` equal to numpy's BLAS thread count). Torch is not a project
dependency.

The torch step is a line-by-line translation of ``BareStep._step_dense`` (batch draw with torch's
own generator, forward sweep, ``relax_steps`` relaxation steps, masked weight gradient, update,
loss, the q projection every step, and every 10 steps the probe relaxation and free energy).
Before timing, both are stepped from the same weights on the same batches (drawn once with numpy)
and the largest absolute difference of the weights, biases, losses, q and free energies is
reported. Then ``model.step()``, the numpy dense step and the torch dense step are timed
alternately, ``per_round`` steps per round (a multiple of 10, so every round holds one probe
pass), and the medians over rounds are printed.

Where this interpreter has no torch, ``run()`` uses the Python named by the environment variable
``DUALSIM_TORCH_PYTHON`` (or its ``python`` argument) to run the torch half as a worker process
(:mod:`benchmarks.torch_dense` run as a script; it needs only numpy and torch there): the worker
gets the initial arrays, verification batches and numpy reference results in an .npz file, checks
them, then times torch rounds on request over a pipe, so the rounds still alternate with those of
this process, one process computing while the other waits. Without either it returns a skip line.

The measured figures are in ``benchmarks/README.md``.

Usage: ``python -m benchmarks.bench_torch [--python /path/to/python-with-torch]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import torch_dense
from benchmarks.bench_step import BENCH_CONFIG, BareStep
from benchmarks.torch_dense import (
    VERIFY_STEPS,
    TorchDenseStep,
    numpy_threads,
    thread_arms,
    torch_round,
    torch_verify,
)
from models import LearningSystem, SystemConfig

__all__ = ["ENV_PYTHON", "main", "run"]

ENV_PYTHON = "DUALSIM_TORCH_PYTHON"

_SCALARS = ("R", "M", "n_in", "n_h", "rate", "steps", "gamma", "noise")


def _export_state(model) -> dict[str, np.ndarray]:
    """The arrays and constants that ``BareStep(model, dense=True)`` starts from."""
    ens, cfg, p = model.ensemble, model.config, model.task.params
    state = {
        "W": ens.w,
        "A": ens.arch.adjacency_matrix().astype(ens.dtype),
        "b": ens.b,
        "task_w1": p["w1"],
        "task_b1": p["b1"],
        "task_w2": p["w2"],
        "task_b2": p["b2"],
        "probe_x": model.data.probe_x,
        "probe_y": model.data.probe_y,
        "U": model.projection,
        "rows": ens.param_rows,
        "cols": ens.param_cols,
        "bias_idx": ens.bias_index,
    }
    values = (
        cfg.replicas,
        cfg.batch_size,
        cfg.n_input,
        cfg.n_hidden,
        cfg.relax_rate,
        cfg.relax_steps,
        cfg.step_size,
        cfg.noise,
    )
    state.update({k: np.asarray(v) for k, v in zip(_SCALARS, values, strict=True)})
    return {k: np.array(v, copy=True) for k, v in state.items()}


def _numpy_batches(state: dict[str, np.ndarray], n: int, seed: int) -> list[tuple]:
    """``n`` batches drawn like ``BareStep._batch`` (numpy), shared by both implementations."""
    rng = np.random.default_rng(seed)
    R, M, n_in = int(state["R"]), int(state["M"]), int(state["n_in"])
    out = []
    for _ in range(n):
        x = rng.normal(0.0, 1.0, (R, M, n_in))
        y = np.tanh(x @ state["task_w1"].T + state["task_b1"]) @ state["task_w2"].T
        y = y + state["task_b2"]
        out.append((x, y + rng.normal(0.0, float(state["noise"]), y.shape)))
    return out


def _reference(model, batches: list[tuple]) -> dict[str, np.ndarray]:
    """``BareStep(model, dense=True)`` stepped on ``batches``: final W, b and the last sinks."""
    dense = BareStep(model, dense=True)
    feed = iter(batches)
    dense._batch = lambda: next(feed)
    for _ in batches:
        dense()
    loss, q, free = dense._sink  # the last step with a probe pass (step 10)
    moved = np.abs(dense.W - model.ensemble.w).max()  # scale against which to judge the diff
    return {
        "ref_W": dense.W,
        "ref_b": dense.b,
        "ref_loss": loss,
        "ref_q": q,
        "ref_free": free,
        "ref_moved": np.asarray(moved),
    }


def _lines(
    med: dict[str, float], diff: float, moved: float, how: str, torch_version: str
) -> list[str]:
    m, d = med["model"], med["dense"]
    out = [
        "torch benchmark: R=1024, layered 4-32-2 tanh, M=32, relax_steps=3, record_every=10",
        f"  torch {torch_version}, float64, CPU, inference_mode; {how}",
        f"  LearningSystem.step()            {m * 1e3:8.2f} ms",
        f"  naive dense numpy 38x38          {d * 1e3:8.2f} ms   ratio model/dense = {m / d:.2f}",
    ]
    for key in sorted((k for k in med if k.startswith("torch")), key=lambda k: -int(k[5:])):
        n, t = int(key[5:]), med[key]
        label = f"same dense step in torch, {n} thr"
        ratio = f"ratio model/torch = {m / t:.2f}  (goal < 1)"
        out.append(f"  {label:<32s} {t * 1e3:8.2f} ms   {ratio}")
    out.append(
        f"  torch vs numpy dense after {VERIFY_STEPS} steps on the same batches: "
        f"max |diff| = {diff:.1e} (W, b, loss, q, free energy; the weights moved by up to "
        f"{moved:.1e})"
    )
    return out


def _median(times: dict[str, list[float]]) -> dict[str, float]:
    return {k: float(np.median(v)) for k, v in times.items()}


def _numpy_round(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - t0


def _run_in_process(rounds: int, per_round: int) -> list[str]:
    import torch

    model = LearningSystem(SystemConfig(**BENCH_CONFIG))
    state = _export_state(model)
    batches = _numpy_batches(state, VERIFY_STEPS, seed=2)
    ref = _reference(model, batches)
    diff = torch_verify(TorchDenseStep(state, numpy_threads()), batches, ref)
    arms = thread_arms()
    tsteps = {n: TorchDenseStep(state, n) for n in arms}
    dense = BareStep(model, dense=True)
    times: dict[str, list[float]] = {"model": [], "dense": [], **{f"torch{n}": [] for n in arms}}
    for r in range(rounds + 1):  # round 0 is warm-up
        got = {"model": _numpy_round(model.step, per_round)}
        got["dense"] = _numpy_round(dense, per_round)
        for n in arms:
            got[f"torch{n}"] = torch_round(tsteps[n], per_round, n)
        if r:
            for k, v in got.items():
                times[k].append(v / per_round)
    how = f"same process, median of {rounds} rounds x {per_round} steps, alternating"
    return _lines(_median(times), diff, float(ref["ref_moved"]), how, torch.__version__)


def _run_with_worker(python: str, rounds: int, per_round: int) -> list[str]:
    model = LearningSystem(SystemConfig(**BENCH_CONFIG))
    state = _export_state(model)
    batches = _numpy_batches(state, VERIFY_STEPS, seed=2)
    arrays = {**state, **_reference(model, batches)}
    for i, (x, y) in enumerate(batches):
        arrays[f"batch_x_{i}"], arrays[f"batch_y_{i}"] = x, y
    arms = thread_arms()
    dense = BareStep(model, dense=True)
    times: dict[str, list[float]] = {"model": [], "dense": [], **{f"torch{n}": [] for n in arms}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.npz"
        np.savez(path, **arrays)
        cmd = [python, "-P", torch_dense.__file__, "--worker", str(path)]
        cmd += ["--threads", ",".join(map(str, arms))]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            hello = json.loads(proc.stdout.readline())
            for r in range(rounds + 1):  # round 0 is warm-up
                got = {"model": _numpy_round(model.step, per_round)}
                got["dense"] = _numpy_round(dense, per_round)
                for n in arms:  # the worker computes while this process waits
                    proc.stdin.write(f"{per_round} {n}\n")
                    proc.stdin.flush()
                    got[f"torch{n}"] = float(proc.stdout.readline())
                if r:
                    for k, v in got.items():
                        times[k].append(v / per_round)
            proc.stdin.write("0 0\n")
            proc.stdin.flush()
        finally:
            proc.stdin.close()
            proc.wait(timeout=60)
    how = (
        f"separate processes (model and numpy: Python {sys.version.split()[0]}; torch: Python "
        f"{hello['python']} worker), median of {rounds} rounds x {per_round} steps, alternating"
    )
    moved = float(arrays["ref_moved"])
    return _lines(_median(times), hello["diff"], moved, how, hello["torch"])


def run(rounds: int = 15, per_round: int = 10, python: str | None = None) -> list[str]:
    """Time ``LearningSystem.step()`` against the dense step in numpy and in torch; lines.

    Parameters
    ----------
    rounds : int
        Timed rounds (after one warm-up round); medians over them are reported.
    per_round : int
        Steps per round and implementation; a multiple of 10 (one probe pass per round).
    python : str, optional
        A Python with numpy and torch for the torch half when this interpreter has no torch;
        default: the environment variable ``DUALSIM_TORCH_PYTHON``.

    Returns
    -------
    list[str]
        Printable lines: ms per step, ratios, the numerical agreement -- or, without torch, a
        skip line.

    Examples
    --------
    >>> lines = run(rounds=2)  # doctest: +SKIP
    """
    if rounds < 1:
        raise ValueError(f"rounds: {rounds}; expected an integer >= 1")
    if per_round < 10 or per_round % 10:
        raise ValueError(f"per_round: {per_round}; expected a positive multiple of 10")
    try:
        import torch  # noqa: F401
    except ImportError:
        python = python or os.environ.get(ENV_PYTHON)
        if python:
            return _run_with_worker(python, rounds, per_round)
        return [
            f"torch benchmark: skipped, torch is not installed (not a project dependency; set "
            f"{ENV_PYTHON} to a Python with numpy and torch to measure); last measured figures: "
            "benchmarks/README.md"
        ]
    return _run_in_process(rounds, per_round)


def main(argv: list[str] | None = None) -> int:
    """Command line: print :func:`run`'s lines.

    Examples
    --------
    >>> callable(main)
    True
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_torch")
    parser.add_argument("--python", help="a Python with numpy and torch for the torch half")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=10)
    args = parser.parse_args(argv)
    print("\n".join(run(args.rounds, args.per_round, args.python)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
