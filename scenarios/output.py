"""Output folders of runs."""

from __future__ import annotations

import time
from pathlib import Path


def default_out(name: str, root: str | Path = "results") -> Path:
    """A new folder name ``results/NAME-YYYYmmdd-HHMMSS`` (suffixed if it exists).

    Examples
    --------
    >>> default_out("train").name.startswith("train-")
    True
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    return path
