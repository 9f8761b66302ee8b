"""The tidy trajectory table shared by every diagnostic, and its conversion to arrays.

A trajectory table has one row per (``step``, ``replica``) and the observed coordinates
``q_0 ... q_{k-1}``; optional columns are ``n_neurons``, ``step_size``, ``batch_size``,
``loss`` and ``free_energy``. ``LearningSystem.trajectories()`` returns one, and so do the
reference generators in :mod:`analysis.controls`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["TrajectoryArray", "coordinate_columns", "to_array", "to_frame"]

_COORD = re.compile(r"^q_(\d+)$")


def coordinate_columns(traj: pd.DataFrame) -> list[str]:
    """Return the ``q_i`` columns of a trajectory table in index order.

    Examples
    --------
    >>> import pandas as pd
    >>> coordinate_columns(pd.DataFrame(columns=["step", "replica", "q_1", "q_0"]))
    ['q_0', 'q_1']
    """
    found = [(int(m.group(1)), c) for c in traj.columns if (m := _COORD.match(str(c)))]
    return [c for _, c in sorted(found)]


@dataclass(frozen=True)
class TrajectoryArray:
    """A trajectory table as a dense array.

    Attributes
    ----------
    steps : ndarray, shape (T,)
        The recorded steps, increasing.
    replicas : ndarray, shape (R,)
        The replica labels.
    q : ndarray, shape (T, R, k)
        Coordinates; ``q[t, r]`` is replica ``replicas[r]`` at step ``steps[t]``.
    coords : tuple of str
        The column names of the k coordinates.
    extra : dict of str to ndarray, shape (T, R)
        Optional per-row columns (``free_energy``, ``n_neurons`` ...) present in the table.
    """

    steps: np.ndarray
    replicas: np.ndarray
    q: np.ndarray
    coords: tuple[str, ...]
    extra: dict[str, np.ndarray]


def to_array(
    traj: pd.DataFrame | np.ndarray,
    coords: Sequence[str] | None = None,
    *,
    min_replicas: int = 2,
    min_steps: int = 1,
    extra: Sequence[str] = ("free_energy", "n_neurons", "step_size", "batch_size", "loss"),
) -> TrajectoryArray:
    """Convert a trajectory table (or a ``(T, R, k)`` array) to a :class:`TrajectoryArray`.

    Parameters
    ----------
    traj : DataFrame or ndarray
        A tidy table with ``step``, ``replica`` and coordinate columns, or an array of shape
        ``(T, R, k)`` (or ``(T, R)`` for one coordinate) whose steps are ``0 .. T-1``.
    coords : sequence of str, optional
        Coordinate columns to use; default all ``q_i`` columns.
    min_replicas, min_steps : int
        Fewer replicas or steps raise ``ValueError``.
    extra : sequence of str
        Optional columns to carry along when present.

    Returns
    -------
    TrajectoryArray

    Raises
    ------
    ValueError
        One line naming what is wrong: missing columns, NaN/Inf coordinates, a ragged table
        (some replica missing at some step), too few samples.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"step": [0, 0, 1, 1], "replica": [0, 1, 0, 1],
    ...                    "q_0": [0.0, 1.0, 0.5, 1.5]})
    >>> to_array(df).q.shape
    (2, 2, 1)
    """
    if isinstance(traj, np.ndarray):
        arr = np.asarray(traj, dtype=float)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3:
            raise ValueError(f"traj: array of shape {arr.shape}; expected (T, R, k) or (T, R)")
        _check_finite(arr, "traj")
        _check_sizes(arr.shape[0], arr.shape[1], min_steps, min_replicas)
        names = tuple(f"q_{i}" for i in range(arr.shape[2]))
        return TrajectoryArray(np.arange(arr.shape[0]), np.arange(arr.shape[1]), arr, names, {})
    if not isinstance(traj, pd.DataFrame):
        raise ValueError(f"traj: got {type(traj).__name__}; expected a DataFrame or an ndarray")
    missing = [c for c in ("step", "replica") if c not in traj.columns]
    if missing:
        raise ValueError(
            f"traj: missing column(s) {missing}; a trajectory table needs step, replica, q_i"
        )
    cols = list(coords) if coords is not None else coordinate_columns(traj)
    if not cols:
        raise ValueError("traj: no coordinate columns q_0 ... q_{k-1} found")
    absent = [c for c in cols if c not in traj.columns]
    if absent:
        raise ValueError(
            f"coords: column(s) {absent} not in the table; it has {coordinate_columns(traj)}"
        )
    s_idx, steps = pd.factorize(traj["step"], sort=True)
    r_idx, reps = pd.factorize(traj["replica"], sort=True)
    steps, reps = np.asarray(steps), np.asarray(reps)
    T, R = len(steps), len(reps)
    if len(traj) != T * R:
        raise ValueError(
            f"traj: {len(traj)} rows for {T} steps x {R} replicas; "
            "every replica must appear once at every step"
        )
    flat = s_idx * R + r_idx
    if np.bincount(flat, minlength=T * R).max() > 1:
        raise ValueError("traj: duplicate (step, replica) rows")
    q = np.empty((T * R, len(cols)))
    q[flat] = traj[cols].to_numpy(dtype=float)
    q = q.reshape(T, R, len(cols))
    _check_finite(q, "traj coordinates")
    _check_sizes(T, R, min_steps, min_replicas)
    carried: dict[str, np.ndarray] = {}
    for name in extra:
        if name in traj.columns:
            v = np.empty(T * R)
            v[flat] = traj[name].to_numpy(dtype=float)
            carried[name] = v.reshape(T, R)
    return TrajectoryArray(steps, reps, q, tuple(cols), carried)


def to_frame(q: np.ndarray, steps: np.ndarray | None = None, **extra: np.ndarray) -> pd.DataFrame:
    """Build a tidy trajectory table from a ``(T, R, k)`` array.

    Parameters
    ----------
    q : ndarray, shape (T, R, k)
    steps : ndarray, shape (T,), optional
        Step labels; default ``0 .. T-1``.
    **extra : ndarray, shape (T, R)
        Further per-row columns.

    Examples
    --------
    >>> import numpy as np
    >>> to_frame(np.zeros((3, 2, 1))).columns.tolist()
    ['step', 'replica', 'q_0']
    """
    q = np.asarray(q, dtype=float)
    if q.ndim == 2:
        q = q[:, :, None]
    T, R, k = q.shape
    steps = np.arange(T) if steps is None else np.asarray(steps)
    data: dict[str, np.ndarray] = {
        "step": np.repeat(steps, R),
        "replica": np.tile(np.arange(R), T),
    }
    for i in range(k):
        data[f"q_{i}"] = q[:, :, i].ravel()
    for name, v in extra.items():
        data[name] = np.asarray(v).reshape(T * R)
    return pd.DataFrame(data)


def _check_finite(arr: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{what}: {bad} NaN/Inf value(s); drop diverged replicas first")


def _check_sizes(T: int, R: int, min_steps: int, min_replicas: int) -> None:
    if R < min_replicas:
        raise ValueError(f"traj: {R} replica(s); this estimator needs at least {min_replicas}")
    if T < min_steps:
        raise ValueError(f"traj: {T} step(s); this estimator needs at least {min_steps}")
