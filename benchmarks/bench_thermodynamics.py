"""Timing of the thermodynamics diagnostics on a 10^6-row trajectory table.

The table is 1000 replicas x 1000 steps x 2 coordinates of an exactly sampled
Ornstein-Uhlenbeck ensemble. ``run()`` returns printable
lines; the median of a few repeats is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from scipy import linalg

from analysis.thermodynamics import entropy_trajectory, kramers_moyal
from analysis.trajectory import to_frame

__all__ = ["run"]


def _ou_table(steps: int = 1000, replicas: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)
    jac = np.array([[-0.05, 0.02], [-0.01, -0.03]])
    dif = np.array([[0.02, 0.005], [0.005, 0.01]])
    phi = linalg.expm(jac)
    s_inf = linalg.solve_continuous_lyapunov(jac, -2 * dif)
    chol = np.linalg.cholesky(s_inf - phi @ s_inf @ phi.T)
    q = np.empty((steps, replicas, 2))
    q[0] = rng.standard_normal((replicas, 2)) @ np.linalg.cholesky(s_inf).T
    noise = rng.standard_normal((steps - 1, replicas, 2)) @ chol.T
    for t in range(1, steps):
        q[t] = q[t - 1] @ phi.T + noise[t - 1]
    return q, to_frame(q), jac, dif


def _median_time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds (CPU time is the figure to trust on a loaded box)."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def run(repeats: int = 3) -> list[str]:
    """Time ``kramers_moyal`` (and the per-step KL entropy) on 10^6 rows.

    Examples
    --------
    >>> lines = run(repeats=1)  # doctest: +SKIP
    """
    q, df, jac, dif = _ou_table()
    lines = [f"thermodynamics: OU table {len(df):,} rows (1000 steps x 1000 replicas x 2 coords)"]
    km = kramers_moyal(df)
    err_j = np.linalg.norm(km.jacobian_log - jac) / np.linalg.norm(jac)
    err_d = np.linalg.norm(km.diffusion_continuous - dif) / np.linalg.norm(dif)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("kramers_moyal(DataFrame, bins=20)", lambda: kramers_moyal(df)),
        ("kramers_moyal(ndarray, bins=20)", lambda: kramers_moyal(q)),
        ("kramers_moyal(DataFrame, grid 20x20)", lambda: kramers_moyal(df, grid=True)),
        ("kramers_moyal(ndarray, degree=3)", lambda: kramers_moyal(q, degree=3)),
        ("entropy_trajectory(ndarray, every=10)", lambda: entropy_trajectory(q, every=10)),
    ]
    for name, fn in cases:
        wall, cpu = _median_time(fn, repeats)
        lines.append(f"  {name:<40s} wall {wall:6.3f} s  cpu {cpu:6.3f} s (median of {repeats})")
    lines.append(f"  recovered: rel. error J {err_j:.3%}, D {err_d:.3%}")
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
