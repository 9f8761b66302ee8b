"""Timing of the gridded differential geometry: ``einstein_tensor`` and friends on 24^4 points.

The metric is 4-D de Sitter in flat slicing (``H = 0.7``, spacing 0.05) so the run doubles as
an accuracy check: the lines report ``max |G + 3 H^2 g| / max |3 H^2 g|`` over interior points
next to the median wall-clock and CPU time of a few repeats. ``run()`` returns printable lines
and asserts nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from analysis.geometry import (
    bianchi_residual,
    christoffel,
    einstein_tensor,
    geodesic,
    grid_coordinates,
    interior,
)

__all__ = ["run"]


def _de_sitter(n: int, h: float, H: float) -> np.ndarray:
    x = grid_coordinates((n,) * 4, h, 0.0)
    g = np.zeros((*x.shape[:-1], 4, 4))
    g[..., 0, 0] = -1.0
    for k in (1, 2, 3):
        g[..., k, k] = np.exp(2.0 * H * x[..., 0])
    return g


def _median_time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds (CPU time is the figure to trust on a loaded box)."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def run(repeats: int = 3, n: int = 24) -> list[str]:
    """Time ``einstein_tensor`` (and Christoffels, Bianchi, a geodesic) on an ``n^4`` grid.

    Examples
    --------
    >>> lines = run(repeats=1, n=12)  # doctest: +SKIP
    """
    H, h = 0.7, 0.05
    g = _de_sitter(n, h, H)
    lam = 3.0 * H**2
    G = einstein_tensor(g, h)
    err = np.abs(interior(G + lam * g, 2)).max() / np.abs(interior(lam * g, 2)).max()
    lines = [
        f"geometry: 4-D de Sitter on {n}^4 = {n**4:,} points, "
        f"max|G + 3H^2 g| / max|3H^2 g| (interior) = {err:.2e}"
    ]
    x0 = np.array([0.3, 0.5, 0.5, 0.5])
    v0 = np.array([1.0, 0.1, 0.0, 0.0])
    cases: list[tuple[str, Callable[[], object]]] = [
        (f"einstein_tensor {n}^4", lambda: einstein_tensor(g, h)),
        (f"christoffel {n}^4", lambda: christoffel(g, h)),
        (f"bianchi_residual {n}^4", lambda: bianchi_residual(g, h)),
        (f"geodesic {n}^4, 200 RK4 steps", lambda: geodesic(g, h, 0.0, x0, v0, 200, 0.002)),
    ]
    for name, fn in cases:
        wall, cpu = _median_time(fn, repeats)
        lines.append(f"  {name:<36s} wall {wall:7.2f} s   cpu {cpu:7.2f} s (median of {repeats})")
    lines.append(f"  bianchi_residual (relative) = {bianchi_residual(g, h):.2e}")
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
