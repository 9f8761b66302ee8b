"""The thread count of the BLAS libraries loaded in this process (OpenBLAS builds).

numpy and scipy each load their own OpenBLAS; both are found among the shared objects this
process has mapped and set through their ``*_set_num_threads*`` entry points, so a run fixes its
BLAS thread count when its model is built (``SystemConfig.blas_threads``), identically in every
executor, whatever the environment variables said when numpy was imported.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import numpy.linalg  # noqa: F401 - numpy's BLAS, loaded before it is looked up
import scipy.linalg  # noqa: F401 - scipy's own BLAS, likewise

__all__ = ["blas_threads", "one_blas_thread", "set_blas_threads"]

_NAMES = ("openblas",)
_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
_GETTERS = tuple(name.replace("set_", "get_") for name in _SETTERS)


@cache
def _libraries() -> tuple[tuple[ctypes._CFuncPtr, ctypes._CFuncPtr], ...]:
    """(setter, getter) of every loaded OpenBLAS (none off Linux)."""
    if not sys.platform.startswith("linux"):
        return ()
    paths = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if line.strip() else ""
            name = path.rsplit("/", 1)[-1].lower()
            if path.startswith("/") and any(k in name for k in _NAMES) and path not in paths:
                paths.append(path)
    found = []
    for path in paths:
        lib = ctypes.CDLL(path)
        for setter, getter in zip(_SETTERS, _GETTERS, strict=True):
            if hasattr(lib, setter) and hasattr(lib, getter):
                set_fn, get_fn = getattr(lib, setter), getattr(lib, getter)
                get_fn.restype = ctypes.c_int
                found.append((set_fn, get_fn))
                break
    return tuple(found)


def blas_threads() -> int | None:
    """The thread count of the first loaded OpenBLAS (None when none is found).

    Examples
    --------
    >>> n = blas_threads()
    >>> n is None or n >= 1
    True
    """
    libs = _libraries()
    return int(libs[0][1]()) if libs else None


def set_blas_threads(n: int) -> int | None:
    """Set every loaded OpenBLAS to ``n`` threads; returns the count before (None: no OpenBLAS).

    Examples
    --------
    >>> before = set_blas_threads(1)
    >>> blas_threads() in (1, None)
    True
    >>> _ = set_blas_threads(before or 1)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: {n!r}; expected an integer >= 1")
    before = blas_threads()
    for set_fn, _ in _libraries():
        set_fn(ctypes.c_int(n))
    return before


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with every loaded OpenBLAS on one thread, then restore the count.

    For many small products issued one after another (one replica each), where threads
    that wake and wait for every call cost more than they share, most of all on a loaded
    machine. OpenBLAS splits a product's outputs, never its sums, across threads, so the
    results are the same bits.

    Examples
    --------
    >>> before = blas_threads()
    >>> with one_blas_thread():
    ...     blas_threads() in (1, None)
    True
    >>> blas_threads() == before
    True
    """
    before = blas_threads()
    if before is None or before == 1:
        yield
        return
    set_blas_threads(1)
    try:
        yield
    finally:
        set_blas_threads(before)
