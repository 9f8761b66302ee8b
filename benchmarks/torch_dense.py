"""The torch half of :mod:`benchmarks.bench_torch`: the naive dense step in PyTorch.

This module needs only numpy and torch (not the project), so it also runs as a script in another
Python that has torch: ``python -P torch_dense.py --worker STATE.npz --threads 2,1`` reads the
initial arrays, verification batches and numpy reference results from the .npz file, prints one
JSON line (the largest difference from the numpy reference, torch and Python versions), then for
each input line ``n threads`` times ``n`` torch steps at that thread count and prints the seconds;
``0 0`` ends it. torch is imported only where a torch step is built.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

__all__ = [
    "VERIFY_STEPS",
    "TorchDenseStep",
    "main",
    "numpy_threads",
    "thread_arms",
    "torch_round",
    "torch_verify",
    "worker",
]

VERIFY_STEPS = 12
"""Steps on shared batches before timing, after which torch and numpy are compared."""


def numpy_threads() -> int:
    """numpy's BLAS thread count as OpenBLAS picks it (environment, else the core count).

    Examples
    --------
    >>> numpy_threads() >= 1
    True
    """
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


class TorchDenseStep:
    """The dense step of ``benchmarks.bench_step.BareStep`` in torch: float64, CPU, no autograd."""

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


def torch_verify(step: TorchDenseStep, batches: list[tuple], ref: dict) -> float:
    """Max |torch - numpy| over W, b and the loss, q, free energy of the last probe step."""
    sink: tuple = ()
    for i, batch in enumerate(batches, start=1):
        step.step(batch)
        if i % 10 == 0:
            sink = step._sink
    got = [step.W, step.b, *sink]
    names = ("ref_W", "ref_b", "ref_loss", "ref_q", "ref_free")
    return max(float(np.max(np.abs(g.numpy() - ref[k]))) for g, k in zip(got, names, strict=True))


def thread_arms() -> list[int]:
    """Torch thread counts timed: numpy's BLAS thread count, and 1 if that differs.

    Examples
    --------
    >>> thread_arms()[-1]
    1
    """
    n = numpy_threads()
    return [n] if n == 1 else [n, 1]


def torch_round(step: TorchDenseStep, n: int, threads: int) -> float:
    """Seconds for ``n`` torch steps at ``threads`` threads."""
    step.torch.set_num_threads(threads)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return time.perf_counter() - t0


def worker(npz: str, arms: list[int]) -> int:
    """Serve a benchmark from another process: verify, then per line "n threads" time n steps."""
    import torch

    data = np.load(npz)
    state = {k: data[k] for k in data.files}
    batches = [(state[f"batch_x_{i}"], state[f"batch_y_{i}"]) for i in range(VERIFY_STEPS)]
    diff = torch_verify(TorchDenseStep(state, arms[0]), batches, state)
    steps = {n: TorchDenseStep(state, n) for n in arms}
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
        print(torch_round(steps[threads], n, threads), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line of the worker process: ``--worker STATE.npz [--threads N,M]``.

    Examples
    --------
    >>> callable(main)
    True
    """
    parser = argparse.ArgumentParser(prog="torch_dense.py")
    parser.add_argument("--worker", required=True, help="the .npz file of bench_torch")
    parser.add_argument("--threads", default="", help="torch thread counts, comma-separated")
    args = parser.parse_args(argv)
    arms = [int(n) for n in args.threads.split(",") if n] or thread_arms()
    return worker(args.worker, arms)


if __name__ == "__main__":
    raise SystemExit(main())
