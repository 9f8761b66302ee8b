"""Benchmark: one step of the A3 mean-field network (neurons as particles) through
:class:`~models.LearningSystem` against a bare-numpy step of the same arithmetic.

The A3 settings: one network of N0 = 400 periodic RBF units (only the centres trained), label
noise 1, ``per_neuron`` mini-batches of M = 2 from a pool of 64, ``eta = 0.05``, clone/kill
births every step at ``alpha = 2`` with a fixed ``mu_c = -0.004`` (Psi by quadrature on 256
points). The bare step does the same arithmetic on plain arrays (pool, per-neuron subsets,
gradient, move, Psi by quadrature, branching by ``np.repeat``), with no agents, recorder,
observables, lineage or slots. Both run side by side in one process (interleaved repeats, the
median of each); the ratio is printed (the issue asks for <= 2).
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy import special

from models import LearningSystem

__all__ = ["bare_step", "run"]

N0, M, POOL, ETA, ALPHA, MU_C, NOISE = 400, 2, 64, 0.05, 2.0, -0.004, 1.0
WIDTH, KAPPA, Q = 0.3, 8.0, 256
TWO_PI = 2 * math.pi


def _model() -> LearningSystem:
    return LearningSystem(
        replicas=1,
        n_input=1,
        n_output=1,
        n_hidden=N0,
        potential={"type": "rbf_network", "n0": N0},
        noise_mode="per_neuron",
        step_size=ETA,
        batch_size=M,
        noise=NOISE,
        seed=41,
        controllers=[
            {
                "type": "neuron_count",
                "policy": "clone",
                "alpha": ALPHA,
                "population_control": False,
                "mu_c": MU_C,
            }
        ],
    )


def _target_fn(weights: np.ndarray, centres: np.ndarray):
    inv = 1.0 / WIDTH**2

    def g(x: np.ndarray) -> np.ndarray:
        out = np.zeros_like(x)
        for w, mu in zip(weights, centres, strict=True):
            z = np.sqrt(inv * inv + KAPPA * KAPPA + 2 * inv * KAPPA * np.cos(x - mu))
            out += w * np.exp(z - inv - KAPPA) * special.i0e(z) / special.i0e(KAPPA)
        return out

    return g


def bare_step(c: np.ndarray, rng: np.random.Generator, g, xq: np.ndarray, gq: np.ndarray):
    """One mean-field step of centres ``c`` (amplitude 1) in plain numpy; the new centres.

    Examples
    --------
    >>> g = _target_fn(np.array([1.0]), np.array([2.0]))
    >>> xq = np.arange(Q) * (TWO_PI / Q)
    >>> c = bare_step(np.linspace(0, 6, 50), np.random.default_rng(0), g, xq, g(xq))
    >>> bool(np.all((c >= 0) & (c < TWO_PI)))
    True
    """
    inv = 1.0 / WIDTH**2
    n = c.size
    # move: per-neuron M-subsets of one pool
    x = rng.uniform(0.0, TWO_PI, POOL)
    y = g(x) + NOISE * rng.standard_normal(POOL)
    e = y - np.exp((np.cos(x[None, :] - c[:, None]) - 1.0) * inv).sum(axis=0) / N0
    idx = np.argpartition(rng.random((n, POOL)), M - 1, axis=1)[:, :M]
    d = x[idx] - c[:, None]
    phi = np.exp((np.cos(d) - 1.0) * inv)
    grad = -np.mean(e[idx] * phi * np.sin(d) * inv, axis=1)
    c = np.mod(c - ETA * grad, TWO_PI)
    # branch: Psi by quadrature, copies = floor(exp(-alpha (Psi - mu_c)) + U)
    phq = np.exp((np.cos(xq[None, :] - c[:, None]) - 1.0) * inv)
    resid = gq - phq.sum(axis=0) / N0
    psi = -(phq @ resid) / Q
    copies = np.floor(np.exp(-ALPHA * (psi - MU_C)) + rng.random(n)).astype(np.int64)
    return np.repeat(c, copies)


def _time(fn, steps: int) -> float:
    t0 = time.perf_counter()
    fn(steps)
    return (time.perf_counter() - t0) / steps


def run(steps: int = 300, repeats: int = 3) -> list[str]:
    """Time the A3 step both ways (interleaved, median of ``repeats``); printable lines.

    Examples
    --------
    >>> lines = run(steps=5, repeats=1)
    >>> lines[0].startswith("particles (A3 mean-field step")
    True
    """
    model = _model()
    model.run(50, progress=False)  # warm up, N settles near its stationary value
    net = model.particles.potential
    g = _target_fn(net.weights, net.centres)
    xq = np.arange(Q) * (TWO_PI / Q)
    gq = g(xq)
    state = {"c": model.particles.positions(0)[:, 0].copy()}
    rng = np.random.default_rng(7)

    def bare(n: int) -> None:
        for _ in range(n):
            state["c"] = bare_step(state["c"], rng, g, xq, gq)

    def real(n: int) -> None:
        model.run(n, progress=False)

    t_model, t_bare = [], []
    for _ in range(repeats):
        t_model.append(_time(real, steps))
        t_bare.append(_time(bare, steps))
    tm, tb = float(np.median(t_model)), float(np.median(t_bare))
    return [
        f"particles (A3 mean-field step, N0 = {N0}, per_neuron M = {M}, clone alpha = {ALPHA}),"
        f" median of {repeats} x {steps} steps:",
        f"  LearningSystem step (N = {int(model.particles.counts()[0])})   {1e3 * tm:7.3f} ms",
        f"  bare-numpy step     (N = {state['c'].size})   {1e3 * tb:7.3f} ms",
        f"  ratio model / bare                  {tm / tb:7.2f}   (asked: <= 2)",
    ]


if __name__ == "__main__":
    print("\n".join(run()))
