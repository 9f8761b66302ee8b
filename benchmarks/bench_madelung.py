"""Benchmark: a 10^6-row trajectory table (1000 replicas x 1000 steps x 2 coordinates)
through :func:`analysis.madelung.fit`."""

from __future__ import annotations

import time

import numpy as np

from analysis.madelung import fit
from analysis.trajectory import to_array, to_frame

__all__ = ["run"]


def _median_time(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run() -> list[str]:
    """Time ``madelung.fit`` on a 1000 x 1000 x 2 Ornstein-Uhlenbeck table; printable lines.

    Examples
    --------
    >>> isinstance(run, object)
    True
    """
    rng = np.random.default_rng(0)
    T, R = 1000, 1000
    q = np.empty((T, R, 2))
    q[0] = rng.normal(size=(R, 2))
    noise = rng.normal(0.0, 0.1, size=(T, R, 2))
    for t in range(1, T):  # OU: q <- 0.99 q + noise (loop over time only)
        q[t] = 0.99 * q[t - 1] + noise[t]
    table = to_frame(q)
    arr = to_array(table).q
    lines = [f"madelung.fit on {T * R} rows ({R} replicas x {T} steps x 2 coords), median of 3:"]
    t_conv = _median_time(lambda: to_array(table))
    lines.append(f"  to_array (table -> array)                      {t_conv:6.2f} s")
    for label, kw in (
        ("fit(array), bootstrap=200, plateau off", {"plateau": False}),
        ("fit(array), bootstrap=200, plateau sm2/3/4+kde", {}),
    ):
        dt = _median_time(lambda kw=kw: fit(arr, potential="quadratic", **kw))
        lines.append(f"  {label:46s} {dt:6.2f} s")
    t_full = _median_time(lambda: fit(table, potential="quadratic", plateau=False))
    lines.append(f"  fit(table) end to end, plateau off             {t_full:6.2f} s")
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
