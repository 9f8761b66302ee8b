"""Schedules of the controllers: a value interpolated between (step, value) points.

A schedule (``policy = "schedule"``) is given as ``steps`` (increasing) and ``values``: the
value is interpolated between the points, linearly (``interpolation = "linear"``) or
geometrically (``"exponential"``: linear in log value, i.e. exponential decay or growth between
points), and held constant before the first and after the last point. The tables are checked by
:func:`agents.params.check_schedule`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["schedule_value"]


def schedule_value(
    step: int, steps: Sequence[int], values: Sequence[float], interpolation: str = "linear"
) -> float:
    """Value of a piecewise linear or piecewise exponential schedule at ``step``.

    Examples
    --------
    >>> schedule_value(5, [0, 10], [1.0, 0.0])
    0.5
    >>> round(schedule_value(5, [0, 10], [1.0, 0.01], "exponential"), 6)
    0.1
    >>> schedule_value(50, [0, 10], [1.0, 0.0])
    0.0
    """
    xs = np.asarray(steps, dtype=float)
    ys = np.asarray(values, dtype=float)
    if interpolation == "exponential":
        return float(np.exp(np.interp(step, xs, np.log(ys))))
    return float(np.interp(step, xs, ys))
