"""Benchmark: the LearningSystem step against the same dense arithmetic in PyTorch on the CPU.

Issue 2 (Performance) asks that one ``LearningSystem.step()`` at ``scenarios.bench.BENCH_CONFIG``
(R = 1024 replicas, layered 4-32-2 tanh with linear output, batch 32, relax_steps 3, relax_rate
0.2, record/probe every 10 steps, 64 probe samples) be faster than the naive dense step --
``BareStep(dense=True)``: dense masked 38 x 38 weights -- written in PyTorch (float64, CPU, no
autograd, ``torch.set_num_threads`` equal to numpy's BLAS thread count). Torch is NOT a project
dependency: it is measured once and quoted here.

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
(this file run as a script; it needs only numpy and torch there, not the project): the worker gets
the initial arrays, verification batches and numpy reference results in an .npz file, checks
them, then times torch rounds on request over a pipe, so the rounds still alternate with those of
this process, one process computing while the other waits. Without either it returns a skip line
and the last measured figures below.

Last measured 2026-11-25 (2-core x86_64, machine shared with other jobs; 1-minute load average
2.3 -> 4.5 during the run; separate processes as above, because no torch build for Python 3.13 lies
on this machine's disk and Mesa needs Python >= 3.12: model and numpy in the project venv, Python
3.13.0 + numpy 2, torch 2.13.0+cpu in a Python 3.11.7 venv), median of 15 rounds x 10 steps:

=====================================  ==========  ============
step                                   ms / step   model / it
=====================================  ==========  ============
``LearningSystem.step()``              199.7       1
naive dense numpy 38 x 38              348.7       0.57
same dense step in torch, 2 threads    923.6       0.22
same dense step in torch, 1 thread     343.2       0.58
=====================================  ==========  ============

torch vs ``BareStep(dense=True)`` after 12 steps on the same batches: max |diff| 2.2e-16 over
W, b, loss, q and free energy (the weights moved by up to 0.30 over those steps). Two more runs at
higher load (1-min load 4-10) gave model/torch 0.17 at 2 threads and 0.53-0.55 at 1 thread,
model/dense 0.50-0.54. Torch at numpy's thread count (2) is 2.7-3.3x slower than at 1 thread here,
probably because its OpenMP-parallel elementwise ops wait on a descheduled thread on a loaded
2-core machine; the goal (model faster than torch) holds against either.

Usage: ``python -m scenarios.bench_torch [--python /path/to/python-with-torch]``.
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

ENV_PYTHON = "DUALSIM_TORCH_PYTHON"
VERIFY_STEPS = 12

LAST_MEASURED: list[str] = [
    "  2026-11-25, separate processes (torch 2.13.0+cpu in Python 3.11.7), load 2.3-4.5, "
    "median of 15 x 10:",
    "  LearningSystem.step()              199.74 ms",
    "  naive dense numpy 38x38            348.68 ms   ratio model/dense = 0.57",
    "  same dense step in torch, 2 thr    923.56 ms   ratio model/torch = 0.22  (goal < 1)",
    "  same dense step in torch, 1 thr    343.22 ms   ratio model/torch = 0.58  (goal < 1)",
    "  torch vs numpy dense after 12 steps on the same batches: max |diff| = 2.2e-16",
]

_SCALARS = ("R", "M", "n_in", "n_h", "rate", "steps", "gamma", "noise")


def _numpy_threads() -> int:
    """numpy's BLAS thread count as OpenBLAS picks it (environment, else the core count)."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def _export_state(model) -> dict[str, np.ndarray]:
    """The arrays and constants that ``BareStep(model, dense=True)`` starts from."""
    ens, cfg, p = model.ensemble, model.config, model.task.params
    state = {
        "W": ens.w,
        "A": ens.adjacency,
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


class _TorchDenseStep:
    """``BareStep._step_dense`` in torch: float64, CPU, inside ``torch.inference_mode``."""

    def __init__(self, state: dict[str, np.ndarray], threads: int, seed: int = 1) -> None:
        import torch

        torch.set_num_threads(threads)
        self.torch = torch

        def t(a):
            return torch.from_numpy(np.array(a, dtype=np.float64, copy=True))

        self.W, self.A, self.b = t(state["W"]), t(state["A"]), t(state["b"])
        self.tw1, self.tb1 = t(state["task_w1"]), t(state["task_b1"])
        self.tw2, self.tb2 = t(state["task_w2"]), t(state["task_b2"])
        self.probe_x, self.probe_y = t(state["probe_x"]), t(state["probe_y"])
        self.U = t(state["U"])
        self.rows = torch.from_numpy(np.asarray(state["rows"], dtype=np.int64))
        self.cols = torch.from_numpy(np.asarray(state["cols"], dtype=np.int64))
        self.bias_idx = torch.from_numpy(np.asarray(state["bias_idx"], dtype=np.int64))
        self.R, self.M = int(state["R"]), int(state["M"])
        self.n_in, self.n_h = int(state["n_in"]), int(state["n_h"])
        self.rate, self.steps = float(state["rate"]), int(state["steps"])
        self.gamma, self.noise = float(state["gamma"]), float(state["noise"])
        self.gen = torch.Generator().manual_seed(seed)
        self.t = 0
        self._sink: tuple = ()

    def _batch(self):
        torch = self.torch
        x = torch.randn((self.R, self.M, self.n_in), generator=self.gen, dtype=torch.float64)
        y = torch.tanh(x @ self.tw1.T + self.tb1) @ self.tw2.T + self.tb2
        noise = torch.randn(y.shape, generator=self.gen, dtype=torch.float64)
        return x, y + self.noise * noise

    def _relax(self, x_in, y):
        torch = self.torch
        R, M = x_in.shape[:2]
        n = self.W.shape[1]
        Wm = self.W * self.A
        x = torch.zeros((R, M, n), dtype=torch.float64)
        x[:, :, : self.n_in] = x_in
        hid = slice(self.n_in, self.n_in + self.n_h)
        out = slice(self.n_in + self.n_h, n)
        pre = torch.matmul(x, Wm.transpose(1, 2)) + self.b[:, None, :]
        x[:, :, hid] = torch.tanh(pre[:, :, hid])
        pre = torch.matmul(x, Wm.transpose(1, 2)) + self.b[:, None, :]  # unused when clamped,
        x[:, :, out] = y  # as in BareStep._relax_dense
        mask = torch.ones(n, dtype=torch.float64)
        mask[: self.n_in] = 0.0
        bulk = torch.zeros(n, dtype=torch.float64)
        bulk[hid] = 1.0
        for k in range(self.steps + 1):
            pre = torch.matmul(x, Wm.transpose(1, 2)) + self.b[:, None, :]
            f = pre.clone()
            f[:, :, hid] = torch.tanh(pre[:, :, hid])
            df = torch.ones_like(f)
            df[:, :, hid] = 1.0 - f[:, :, hid] ** 2
            e = (x - f) * mask
            d = e * df
            if k == self.steps:
                break
            x = x - self.rate * (e - torch.matmul(d, Wm)) * bulk
        return x, e, d

    def step(self, batch=None) -> None:
        torch = self.torch
        with torch.inference_mode():
            if batch is None:
                x_in, y = self._batch()
            else:
                x_in, y = (torch.from_numpy(np.ascontiguousarray(a)) for a in batch)
            x, e, d = self._relax(x_in, y)
            gw = -torch.matmul(d.transpose(1, 2), x) / self.M * self.A
            gb = -d.mean(dim=1)
            self.W -= self.gamma * gw
            self.b -= self.gamma * gb
            loss = 0.5 * (e * e).sum(-1).mean(dim=1)
            params = torch.cat([self.W[:, self.rows, self.cols], self.b[:, self.bias_idx]], 1)
            q = params @ self.U
            self.t += 1
            if self.t % 10 == 0:
                px = self.probe_x.expand(self.R, *self.probe_x.shape)
                py = self.probe_y.expand(self.R, *self.probe_y.shape)
                _, pe, _ = self._relax(px, py)
                free = 0.5 * (pe * pe).sum(-1).mean(dim=1)
                self._sink = (loss, q, free)

    __call__ = step


def _reference(model, batches: list[tuple]) -> dict[str, np.ndarray]:
    """``BareStep(model, dense=True)`` stepped on ``batches``: final W, b and the last sinks."""
    from scenarios.bench import BareStep

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


def _torch_verify(step: _TorchDenseStep, batches: list[tuple], ref: dict) -> float:
    """Max |torch - numpy| over W, b and the loss, q, free energy of the last probe step."""
    sink: tuple = ()
    for i, batch in enumerate(batches, start=1):
        step.step(batch)
        if i % 10 == 0:
            sink = step._sink
    got = [step.W, step.b, *sink]
    names = ("ref_W", "ref_b", "ref_loss", "ref_q", "ref_free")
    return max(float(np.max(np.abs(g.numpy() - ref[k]))) for g, k in zip(got, names, strict=True))


def _thread_arms() -> list[int]:
    """Torch thread counts timed: numpy's BLAS thread count (the brief), and 1 if different."""
    n = _numpy_threads()
    return [n] if n == 1 else [n, 1]


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


def _torch_round(step: _TorchDenseStep, n: int, threads: int) -> float:
    """Seconds for ``n`` torch steps at ``threads`` threads."""
    step.torch.set_num_threads(threads)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return time.perf_counter() - t0


def _numpy_round(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - t0


def _run_in_process(rounds: int, per_round: int) -> list[str]:
    import torch

    from models import LearningSystem, SystemConfig
    from scenarios.bench import BENCH_CONFIG, BareStep

    model = LearningSystem(SystemConfig(**BENCH_CONFIG))
    state = _export_state(model)
    batches = _numpy_batches(state, VERIFY_STEPS, seed=2)
    ref = _reference(model, batches)
    diff = _torch_verify(_TorchDenseStep(state, _numpy_threads()), batches, ref)
    arms = _thread_arms()
    tsteps = {n: _TorchDenseStep(state, n) for n in arms}
    dense = BareStep(model, dense=True)
    times: dict[str, list[float]] = {"model": [], "dense": [], **{f"torch{n}": [] for n in arms}}
    for r in range(rounds + 1):  # round 0 is warm-up
        got = {"model": _numpy_round(model.step, per_round)}
        got["dense"] = _numpy_round(dense, per_round)
        for n in arms:
            got[f"torch{n}"] = _torch_round(tsteps[n], per_round, n)
        if r:
            for k, v in got.items():
                times[k].append(v / per_round)
    how = f"same process, median of {rounds} rounds x {per_round} steps, alternating"
    return _lines(_median(times), diff, float(ref["ref_moved"]), how, torch.__version__)


def _run_with_worker(python: str, rounds: int, per_round: int) -> list[str]:
    from models import LearningSystem, SystemConfig
    from scenarios.bench import BENCH_CONFIG, BareStep

    model = LearningSystem(SystemConfig(**BENCH_CONFIG))
    state = _export_state(model)
    batches = _numpy_batches(state, VERIFY_STEPS, seed=2)
    arrays = {**state, **_reference(model, batches)}
    for i, (x, y) in enumerate(batches):
        arrays[f"batch_x_{i}"], arrays[f"batch_y_{i}"] = x, y
    arms = _thread_arms()
    dense = BareStep(model, dense=True)
    times: dict[str, list[float]] = {"model": [], "dense": [], **{f"torch{n}": [] for n in arms}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.npz"
        np.savez(path, **arrays)
        cmd = [python, "-P", str(Path(__file__).resolve()), "--worker", str(path)]
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


def _worker(npz: str, arms: list[int]) -> int:
    """Torch side of ``_run_with_worker``: verify, then per line "n threads" time n steps."""
    import torch

    data = np.load(npz)
    state = {k: data[k] for k in data.files}
    batches = [(state[f"batch_x_{i}"], state[f"batch_y_{i}"]) for i in range(VERIFY_STEPS)]
    diff = _torch_verify(_TorchDenseStep(state, arms[0]), batches, state)
    steps = {n: _TorchDenseStep(state, n) for n in arms}
    hello = {
        "diff": diff,
        "torch": torch.__version__,
        "python": ".".join(map(str, sys.version_info[:3])),
    }
    print(json.dumps(hello), flush=True)
    for line in sys.stdin:
        n, threads = map(int, line.split())
        if n <= 0:
            break
        print(_torch_round(steps[threads], n, threads), flush=True)
    return 0


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
        skip line and the last measured figures.

    Examples
    --------
    >>> lines = run(rounds=2)  # doctest: +SKIP
    >>> isinstance(LAST_MEASURED, list)
    True
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
            f"{ENV_PYTHON} to a Python with numpy and torch to measure). Last measured:",
            *LAST_MEASURED,
        ]
    return _run_in_process(rounds, per_round)


def main(argv: list[str] | None = None) -> int:
    """Command line: print ``run()``'s lines, or serve as the torch worker (``--worker``).

    Examples
    --------
    >>> callable(main)
    True
    """
    parser = argparse.ArgumentParser(prog="python -m scenarios.bench_torch")
    parser.add_argument("--python", help="a Python with numpy and torch for the torch half")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        arms = [int(n) for n in args.threads.split(",") if n] or _thread_arms()
        return _worker(args.worker, arms)
    print("\n".join(run(args.rounds, args.per_round, args.python)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
