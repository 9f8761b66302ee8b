"""``make bench``: every benchmark section, one after the other in one process.

``python -m benchmarks.bench [--only NAME]`` prints the lines of each section's
``run() -> list[str]``; a section that raises prints one ``failed`` line and the others still
run. Nothing here asserts: the sections print timings and ratios.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from benchmarks import (
    bench_controllers,
    bench_geometry,
    bench_madelung,
    bench_particles,
    bench_schrodinger,
    bench_step,
    bench_sweep,
    bench_thermodynamics,
    bench_torch,
    bench_wide,
)

__all__ = ["SECTIONS", "main"]

SECTIONS: tuple[tuple[str, Callable[[], list[str]]], ...] = (
    ("step", bench_step.run),
    ("bench_controllers", bench_controllers.run),
    ("bench_geometry", bench_geometry.run),
    ("bench_madelung", bench_madelung.run),
    ("bench_particles", bench_particles.run),
    ("bench_schrodinger", bench_schrodinger.run),
    ("bench_sweep", bench_sweep.run),
    ("bench_thermodynamics", bench_thermodynamics.run),
    ("bench_torch", bench_torch.run),
    ("bench_wide", bench_wide.run),
)
"""The sections in the order they run: (name for ``--only``, function returning lines)."""


def main(argv: list[str] | None = None) -> int:
    """Run the sections (or only ``--only NAME``) and print their lines; returns 0.

    Examples
    --------
    >>> [name for name, _ in SECTIONS][:2]
    ['step', 'bench_controllers']
    """
    names = [name for name, _ in SECTIONS]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench")
    parser.add_argument("--only", choices=names, help="run only this section")
    args = parser.parse_args(argv)
    for name, fn in SECTIONS:
        if args.only and args.only != name:
            continue
        try:
            lines = fn()
        except Exception as exc:
            lines = [f"{name}: failed: {type(exc).__name__}: {exc}"]
        print("\n".join(lines), flush=True)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
