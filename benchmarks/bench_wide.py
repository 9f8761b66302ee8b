"""Benchmark: wide networks against the machine's own peaks, memory, and scaling with the width.

Every shape runs in a fresh worker process (``python -m benchmarks.bench_wide --worker``), so
its peak resident memory is its own; the worker also times the peaks it is compared with, on the
same operand shapes, alternating with the steps, under the same BLAS settings.

* **compute-bound** ``R = 16 x 32-2048-32``, M = 128: useful FLOP/s of the step over the
  batched-GEMM peak, the FLOP/s of ``np.matmul`` on the step's own products (pre-activations of
  hidden and output neurons, the transposed product of the relaxation, the two weight
  gradients), the faster of the BLAS thread count as set and one thread. Goal >= 40 % in
  float64.
* **bandwidth-bound** ``R = 64 x 1-2048-1``, M = 128 (rank-one products): the step's state
  traffic per second over a stream copy of an ``(R, n, M)`` array (bytes read + written per
  second). Goal >= 40 %.
* **memory**: (peak RSS - RSS after the imports, before the model is built) over the useful
  bytes, parameters + two ``(R, M, n)`` state arrays + one mini-batch, at both wide shapes (the
  graph, the agents and the probe set count). Goal <= 4.
* **scaling**: R = 64, layered 1-N-1, tanh, M = 128, relax 3, N = 512 ... 8192: the fitted
  exponents of step time and of the peak RSS above the import baseline against N. Goal <= 1.1.

Definitions (s: the relaxation steps the step ran, read off the relaxed state).

* Useful FLOPs per step = 2 R M E (2 s + 3), E the weights (edges): one product with the
  weights per pre-activation (the forward sweep and each step's evaluation, s + 1), one with
  their transpose per relaxation step (s), and the two gradient products (2). A layered network
  does fewer: the hidden pre-activations read only the clamped inputs (computed once) and the
  inputs take no transposed product, so the step performs 2 R M (2 E_in + (2 s + 2) E_out)
  FLOPs (E_in, E_out: the edges into the hidden and into the output neurons); both ratios are
  printed, the goal is stated for the first.
* State traffic per step, counted per kernel (each kernel reads or writes each ``(R, n, M)``
  state array it touches once) = 8 R M n (4 s + 12) bytes in float64: the forward sweep writes
  x, f(y), f'(y) and the output pre-activation reads x (4); each relaxation step reads x and
  f(y), writes x, and the output pre-activation reads x (4 s); the last step writes e and delta
  and reads f'(y) (3); the gradients read delta (weights), x (weights) and delta (biases) (3);
  the loss reads e and the divergence guard reads x (2). The weights (2 R n values) add under
  1 %. A coarser count, 8 R M n (4 s + 6), is printed too (the benchmarks README tabulates
  both): it charges a relaxation step a read of f'(y) that a layered relaxation does not make,
  and leaves out the output pre-activation after the sweep, the last step's f'(y) read, the
  bias gradient, the loss and the guard.
* The bandwidth ratio is printed in wall-clock time and in CPU time (step and copy both in
  process CPU time; the bandwidth-bound step runs on one thread): on a shared machine the wall
  time of a long step includes the time other processes hold the core, while the short copy
  often runs uninterrupted.

The wide shapes learn the ``linear`` task (the teacher task draws its targets through a hidden
layer as wide as the student's, which times the data, not the network), at step size 1e-4 (the
SGD stability bound falls with the width), and record nothing while timed
(``record_every = probe_every = 10**6``; two probe samples).

Nothing here asserts: :func:`run` returns printable lines, including the ratios to the goals.
The measured figures are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from models import LearningSystem, SystemConfig
from models.blas import one_blas_thread

__all__ = ["SCALING_WIDTHS", "WIDE_SHAPES", "run", "useful_bytes", "useful_flops", "worker"]

_COMMON = dict(
    activation="tanh",
    output_activation="linear",
    task="linear",
    step_size=1e-4,
    relax_steps=3,
    relax_rate=0.2,
    batch_size=128,
    n_probe=2,
    observed=2,
    record_every=10**6,
    probe_every=10**6,
    seed=0,
    memory_limit_gb=64.0,
)

WIDE_SHAPES: dict[str, dict] = {
    "compute": dict(_COMMON, replicas=16, n_input=32, n_hidden=2048, n_output=32),
    "bandwidth": dict(_COMMON, replicas=64, n_input=1, n_hidden=2048, n_output=1),
}
"""The two wide shapes (SystemConfig keywords)."""

SCALING_WIDTHS = (512, 1024, 2048, 4096, 8192)
"""Hidden widths N of the scaling series R = 64 x 1-N-1."""


def useful_flops(config, edges: int, sweeps: int) -> float:
    """2 R M E (2 s + 3): the arithmetic of one step that touches the weights.

    Examples
    --------
    >>> useful_flops(SystemConfig(replicas=2, batch_size=4), edges=10, sweeps=3)
    1440.0
    """
    return 2.0 * config.replicas * config.batch_size * edges * (2 * sweeps + 3)


def useful_bytes(config) -> float:
    """Parameters + two ``(R, M, n)`` state arrays + one mini-batch, in bytes.

    Examples
    --------
    >>> useful_bytes(SystemConfig(replicas=1, n_input=1, n_hidden=1, n_output=1, batch_size=1))
    96.0
    """
    item = np.dtype(config.dtype).itemsize
    R, M, n = config.replicas, config.batch_size, config.n_neurons_max
    batch = R * M * (config.n_input + config.n_output)
    return float(item * (R * config.n_parameters_max() + 2 * R * M * n + batch))


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _peak_rss() -> int:
    """This process's own peak resident set (VmHWM of its address space). ``ru_maxrss`` is not
    used: after a (v)fork and exec it keeps the parent's peak, so a worker started by a large
    ``make bench`` process would report the parent's memory."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _gemm_shapes(model) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The (a, b) operand shapes of the step's batched products with the weights."""
    R, M = model.config.replicas, model.batch_size
    shapes = []
    for blk in model.ensemble.arch.blocks:
        r, c = blk.n_rows, blk.n_cols
        shapes.append(((R, r, c), (R, c, M)))  # pre-activation
        shapes.append(((R, c, r), (R, r, M)))  # transposed product in the relaxation
        shapes.append(((R, r, M), (R, M, c)))  # weight gradient
    return shapes


def _performed_products(model) -> float:
    """Weights touched by the step's products, in units of edges, for s relaxation steps
    (s = ``model.last_state.steps_done``): per block, one gradient product, one pre-activation
    (s + 1 when the block's target moves during the relaxation, as outputs' pre-activations do),
    and s transposed products when its source neurons relax."""
    s = int(model.last_state.steps_done)
    total = 0.0
    for blk in model.ensemble.arch.blocks:
        fixed_target = blk.dst == "hidden" and blk.src == "input"
        products = 1 + (1 if fixed_target else s + 1) + (s if blk.src == "hidden" else 0)
        total += products * blk.n_edges
    return total


def worker(spec: dict) -> dict:
    """Build one shape, time its steps alternately with its peaks, and read its memory.

    ``spec``: ``config`` (SystemConfig keywords), ``rounds``, ``steps`` (per round),
    ``peaks`` (also time the GEMM and stream-copy peaks). Returns a JSON-able dict.
    """
    base = _rss()
    config = SystemConfig(**spec["config"])
    model = LearningSystem(config)
    model.step()  # warm-up (and the first step's allocations)
    model.step()
    peak_rss = _peak_rss()  # before the peaks' operands exist
    edges = int(model.ensemble.param_rows.size)
    step_times, gemm_times, gemm1_times, copy_times = [], [], [], []
    step_cpu, copy_cpu = [], []
    load = [os.getloadavg()[0]]
    operands = []
    if spec.get("peaks"):
        rng = np.random.default_rng(0)
        operands = [(rng.normal(size=a), rng.normal(size=b)) for a, b in _gemm_shapes(model)]
        n = config.n_neurons_max
        src = np.ones((config.replicas, n, config.batch_size))
        dst = np.empty_like(src)
    for _ in range(spec["rounds"]):
        t0, c0 = time.perf_counter(), time.process_time()
        model.run(spec["steps"], progress=False)
        step_times.append((time.perf_counter() - t0) / spec["steps"])
        step_cpu.append((time.process_time() - c0) / spec["steps"])
        if operands:
            t0 = time.perf_counter()
            for a, b in operands:
                np.matmul(a, b)
            gemm_times.append(time.perf_counter() - t0)
            with one_blas_thread():
                t0 = time.perf_counter()
                for a, b in operands:
                    np.matmul(a, b)
                gemm1_times.append(time.perf_counter() - t0)
            t0, c0 = time.perf_counter(), time.process_time()
            np.copyto(dst, src)
            copy_times.append(time.perf_counter() - t0)
            copy_cpu.append(time.process_time() - c0)
    load.append(os.getloadavg()[0])
    gemm_flops = sum(2.0 * np.prod(a.shape) * b.shape[-1] for a, b in operands)
    return {
        "base": base,
        "peak": peak_rss,
        "step": float(np.median(step_times)),
        "step_cpu": float(np.median(step_cpu)),
        "copy_cpu": float(np.median(copy_cpu)) if copy_cpu else None,
        "load": load,
        "performed_products": _performed_products(model),
        "gemm": float(np.median(gemm_times)) if gemm_times else None,
        "gemm_one_thread": float(np.median(gemm1_times)) if gemm1_times else None,
        "gemm_flops": gemm_flops,
        "copy": float(np.median(copy_times)) if copy_times else None,
        "copy_bytes": 2.0 * 8 * config.replicas * config.n_neurons_max * config.batch_size,
        "edges": edges,
        "sweeps": int(model.last_state.steps_done),
    }


def _spawn(spec: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_wide", "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "worker failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _slope(x: list[float], y: list[float]) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def run(
    rounds: int = 7,
    steps: int = 3,
    widths: tuple[int, ...] = SCALING_WIDTHS,
    scaling_rounds: int = 3,
) -> list[str]:
    """Run the wide shapes and the scaling series; printable lines.

    Examples
    --------
    >>> lines = run(rounds=1, steps=1, widths=(64, 128), scaling_rounds=1)  # doctest: +SKIP
    """
    lines = ["wide networks (float64; each shape in its own process; medians of rounds)"]
    for name, cfg in WIDE_SHAPES.items():
        res = _spawn({"config": cfg, "rounds": rounds, "steps": steps, "peaks": True})
        config = SystemConfig(**cfg)
        s = res["sweeps"]
        flops = useful_flops(config, res["edges"], s)
        performed = 2.0 * config.replicas * config.batch_size * res["performed_products"]
        R, M, n = config.replicas, config.batch_size, config.n_neurons_max
        traffic = 8.0 * R * M * n * (4 * s + 12)
        coarse = 8.0 * R * M * n * (4 * s + 6)
        mem = (res["peak"] - res["base"]) / useful_bytes(config)
        shape = f"R={R} x {config.n_input}-{config.n_hidden}-{config.n_output}, M={M}"
        lines.append(
            f"  {name}: {shape}, relax steps run s={s}, E={res['edges']}, "
            f"1-min load {res['load'][0]:.1f} -> {res['load'][1]:.1f}"
        )
        speed, done = flops / res["step"] / 1e9, performed / res["step"] / 1e9
        lines.append(
            f"    step {res['step'] * 1e3:9.1f} ms wall, {res['step_cpu'] * 1e3:9.1f} ms CPU   "
            f"useful 2RME(2s+3) {speed:6.2f} GFLOP/s, performed {done:6.2f} GFLOP/s"
        )
        # the peak is the faster of the BLAS thread count as set and one thread (the step runs
        # its per-replica products on one thread)
        peak = res["gemm_flops"] / min(res["gemm"], res["gemm_one_thread"])
        bw = res["copy_bytes"] / res["copy"]
        bw_cpu = res["copy_bytes"] / res["copy_cpu"]
        if name == "compute":
            lines.append(
                f"    batched-GEMM peak on the step's shapes {peak / 1e9:6.2f} GFLOP/s   "
                f"ratio {flops / res['step'] / peak:.2f}  (goal >= 0.40); "
                f"performed FLOPs {performed / res['step'] / peak:.2f}"
            )
        else:
            lines.append(
                f"    state traffic (4s+12 passes) {traffic / res['step'] / 1e9:6.2f} GB/s, "
                f"stream copy {bw / 1e9:6.2f} GB/s   ratio {traffic / res['step'] / bw:.2f}  "
                f"(goal >= 0.40); coarse count (4s+6) {coarse / res['step'] / bw:.2f}"
            )
            lines.append(
                f"    in CPU time: traffic {traffic / res['step_cpu'] / 1e9:6.2f} GB/s, copy "
                f"{bw_cpu / 1e9:6.2f} GB/s   ratio {traffic / res['step_cpu'] / bw_cpu:.2f}; "
                f"coarse count {coarse / res['step_cpu'] / bw_cpu:.2f}"
            )
        lines.append(
            f"    memory: peak RSS above imports {(res['peak'] - res['base']) / 2**20:7.1f} MiB, "
            f"useful {useful_bytes(config) / 2**20:7.1f} MiB   ratio {mem:.2f}  (goal <= 4)"
        )
    times, cpu_times, mems = [], [], []
    for N in widths:
        cfg = dict(WIDE_SHAPES["bandwidth"], n_hidden=N)
        res = _spawn({"config": cfg, "rounds": scaling_rounds, "steps": 1})
        times.append(res["step"])
        mems.append(res["peak"] - res["base"])
        cpu_times.append(res["step_cpu"])
        lines.append(
            f"  scaling N={N:5d}: step {res['step'] * 1e3:9.1f} ms wall, "
            f"{res['step_cpu'] * 1e3:9.1f} ms CPU, "
            f"peak RSS above imports {mems[-1] / 2**20:8.1f} MiB"
        )
    if len(widths) > 1:
        lines.append(
            f"  scaling exponents: step time {_slope(list(widths), times):.2f} wall, "
            f"{_slope(list(widths), cpu_times):.2f} CPU, "
            f"memory {_slope(list(widths), mems):.2f}  (goal <= 1.1)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """``--worker SPEC`` runs one worker and prints its JSON; otherwise prints :func:`run`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_wide")
    parser.add_argument("--worker", help="JSON spec of one worker run")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
    else:
        print("\n".join(run()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
