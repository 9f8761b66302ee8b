"""Benchmark: the learning step with controllers on, against the controller-free step.

Setting: the default system (R = 64, layered 2-8-1 with 16 hidden slots, M = 16, probe set 256,
20 relaxation steps), the recorders' probe pass switched off so that the step is the step.
Arms, all controllers at interval 1 unless stated:

- ``none``: no controllers;
- ``gamma+M``: step size (``temperature`` policy, target T_eff = 4e-6, which holds gamma near
  its default 0.05) and batch size (noise_scale, M pinned to 16 by its bounds, so the step's
  own cost does not change);
- ``all three, whole probe set``: plus the grand-canonical neuron-count move with the exact
  Delta F on all 256 probe samples;
- ``all three, probe_samples=16``: Delta F on 16 random probe samples per replica and move,
  noise penalised;
- ``all three, source=batch``: Delta F on the step's own mini-batch, inside the step;
- ``all three, N every 10``: the whole-probe move at interval 10.

Time per step is the median over repeats of the mean over ``steps`` timed steps (after two
warm-up steps). Columns: the ratio to ``none`` (separate runs, sensitive to load drift) and the
in-run ratio total / (total - time inside the controllers), measured in the same steps. Use
``steps`` a multiple of 10 so the interval-10 arm acts the right number of times. The goal is a
ratio <= 1.5 with all three controllers at interval 1.
"""

from __future__ import annotations

import time

import numpy as np

from models import LearningSystem, SystemConfig

__all__ = ["ARMS", "run", "time_step"]

GAMMA = {"type": "step_size", "policy": "temperature", "target": 4e-6, "gamma_max": 0.3}
BATCH = {"type": "batch_size", "policy": "noise_scale", "m_min": 16, "m_max": 16}


def _neuron(interval: int = 1, **params: object) -> dict:
    return {"type": "neuron_count", "mu_c": 0.0, "beta_c": 100.0, "interval": interval, **params}


ARMS = {
    "none": [],
    "gamma+M": [GAMMA, BATCH],
    "all three, whole probe set": [_neuron(), GAMMA, BATCH],
    "all three, probe_samples=16": [_neuron(probe_samples=16), GAMMA, BATCH],
    "all three, source=batch": [_neuron(source="batch"), GAMMA, BATCH],
    "all three, N every 10": [_neuron(interval=10), GAMMA, BATCH],
}


def _timed(controller, clock: list[float]) -> None:
    """Wrap ``controller.step`` and ``before_update`` so their wall time adds to ``clock[0]``."""
    inner_step, inner_before = controller.step, controller.before_update

    def step() -> None:
        t0 = time.perf_counter()
        inner_step()
        clock[0] += time.perf_counter() - t0

    def before_update(state):
        t0 = time.perf_counter()
        out = inner_before(state)
        clock[0] += time.perf_counter() - t0
        return out

    controller.step = step
    controller.before_update = before_update


def time_step(
    controllers: list[dict], steps: int = 10, repeats: int = 3, seed: int = 0
) -> tuple[float, float]:
    """Median over ``repeats`` of the wall time of one step and of its controllers (seconds).

    The controllers' share is timed inside the same steps, so ``total / (total - share)`` is a
    ratio that machine-load drift between runs does not affect.

    Examples
    --------
    >>> total, share = time_step([], steps=1, repeats=1)
    >>> total > 0 and share == 0
    True
    """
    cfg = SystemConfig(
        replicas=64,
        n_hidden=8,
        n_hidden_max=16,
        record_every=10**6,
        probe_every=10**6,
        controllers=controllers,
        seed=seed,
    )
    totals, shares = [], []
    for r in range(repeats):
        model = LearningSystem(cfg.replace(seed=seed + r))
        clock = [0.0]
        for c in model.controllers:
            _timed(c, clock)
        model.run(2, progress=False)
        clock[0] = 0.0
        t0 = time.perf_counter()
        model.run(steps, progress=False)
        totals.append((time.perf_counter() - t0) / steps)
        shares.append(clock[0] / steps)
    return float(np.median(totals)), float(np.median(shares))


def run(steps: int = 20, repeats: int = 5) -> list[str]:
    """Time every arm; return printable lines.

    Columns: ms per step, ms of it spent in the controllers, ratio to the controller-free arm
    (separate runs), and the in-run ratio total / (total - controllers).

    Examples
    --------
    >>> lines = run(steps=1, repeats=1)  # doctest: +SKIP
    """
    base, _ = time_step(ARMS["none"], steps, repeats)
    lines = [
        "controllers (interval 1 unless stated), R=64, 2-8(16)-1, M=16, probe 256; goal <= 1.5x",
        f"{'arm':<30} {'ms/step':>9} {'ctrl ms':>8} {'vs none':>8} {'in-run':>7}",
    ]
    for name, specs in ARMS.items():
        t, share = (base, 0.0) if name == "none" else time_step(specs, steps, repeats)
        lines.append(
            f"{name:<30} {1e3 * t:9.2f} {1e3 * share:8.2f} {t / base:7.2f}x {t / (t - share):6.2f}x"
        )
    return lines


if __name__ == "__main__":  # pragma: no cover
    print("\n".join(run()))
