"""Timing of analysis.schrodinger.compare_evolution on 1000 replicas x 1000 steps x 2 coords."""

from __future__ import annotations

import time

import numpy as np

from analysis.controls import ou_trajectories
from analysis.schrodinger import compare_evolution

__all__ = ["run"]


def run(repeats: int = 3) -> list[str]:
    """Time compare_evolution (median of ``repeats``) on a 10^6-row, 2-coordinate table."""
    rng = np.random.default_rng(0)
    traj = ou_trajectories(rng.normal(1.0, 0.3, (1000, 2)), -0.05, 0.01, 1.0, 999, seed=1)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        compare_evolution(
            traj, hbar=0.02, potential=lambda x, y: 0.5 * 0.05**2 * (x**2 + y**2), n_times=30
        )
        times.append(time.perf_counter() - t)
    return [
        f"compare_evolution 2-D, {len(traj)} rows (1000 replicas x 1000 steps), 30 eval times: "
        f"median {np.median(times):.2f} s over {repeats}"
    ]


if __name__ == "__main__":
    print("\n".join(run()))
