"""Performance benchmarks of dualsim (``make bench``); not part of the installed package.

Each ``bench_*`` module has ``run() -> list[str]`` returning printable lines and asserts
nothing; :mod:`benchmarks.bench` runs them one after the other. Measured figures are kept in
``benchmarks/README.md``.
"""

__all__: list[str] = []
