"""Grids of a sweep: expanding a grid into points and applying a point to a config.

A grid maps keys to lists of values (a Cartesian product, last key fastest) or is an explicit
list of points. Keys are :class:`~models.SystemConfig` fields, dotted ``task_params.<name>``
or ``controllers.<index or type>.<parameter>``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from models import ConfigError, SystemConfig
from models.config import _FIELDS
from runner.sweep.index import INDEX_COLUMNS

__all__ = ["RESERVED", "apply_point", "check_key", "grid_points", "plain", "read_param"]

RESERVED = ("run_id", "point", "replicate", "seed", *INDEX_COLUMNS)


def grid_points(grid_or_samples: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]) -> list:
    """Expand a grid (Cartesian product, last key fastest) or check a list of sample points.

    Parameters
    ----------
    grid_or_samples : mapping or sequence of mappings or DataFrame
        ``{key: [values...]}`` for a full grid, or explicit points ``[{key: value}, ...]`` (a
        DataFrame counts as one point per row). Keys are :class:`SystemConfig` fields, dotted
        ``task_params.<name>`` or ``controllers.<index or type>.<parameter>``. An empty mapping
        is one point (the base config).

    Returns
    -------
    list of dict
        One ``{key: value}`` per point, numpy scalars turned into Python values.

    Raises
    ------
    ConfigError
        Empty value lists, repeated values, scalars instead of lists, points with different
        keys, or ``seed`` as a key (seeds come from the root seed).

    Examples
    --------
    >>> grid_points({"step_size": [0.01, 0.02], "batch_size": [8, 32]})[:2]
    [{'step_size': 0.01, 'batch_size': 8}, {'step_size': 0.01, 'batch_size': 32}]
    >>> grid_points([{"step_size": 0.1}, {"step_size": 0.2}])
    [{'step_size': 0.1}, {'step_size': 0.2}]
    """
    if isinstance(grid_or_samples, pd.DataFrame):
        grid_or_samples = grid_or_samples.to_dict(orient="records")
    if isinstance(grid_or_samples, Mapping):
        axes: dict[str, list[Any]] = {}
        for key, values in grid_or_samples.items():
            check_key(key, values)
            if isinstance(values, np.ndarray):
                values = values.tolist()
            if isinstance(values, str | bytes) or not isinstance(values, Sequence):
                raise ConfigError(key, values, "a non-empty list of values")
            values = [plain(v) for v in values]
            if not values:
                raise ConfigError(key, values, "a non-empty list of values")
            if len({json.dumps(v, sort_keys=True) for v in values}) < len(values):
                raise ConfigError(key, values, "a list of distinct values")
            axes[key] = values
        keys = list(axes)
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes.values())]
    if isinstance(grid_or_samples, str | bytes) or not isinstance(grid_or_samples, Sequence):
        raise ConfigError(
            "grid", grid_or_samples, "a mapping of parameter -> values or a list of points"
        )
    if not grid_or_samples:
        raise ConfigError("grid", [], "a mapping of parameter -> values or a non-empty list")
    points = []
    keys0: list[str] | None = None
    for i, sample in enumerate(grid_or_samples):
        if not isinstance(sample, Mapping):
            raise ConfigError(f"grid[{i}]", sample, "a mapping of parameter -> value")
        keys = list(sample)
        if keys0 is None:
            keys0 = keys
        elif sorted(keys) != sorted(keys0):
            raise ConfigError(f"grid[{i}]", sorted(keys), f"the keys of grid[0] {sorted(keys0)}")
        for key, value in sample.items():
            check_key(key, value)
        points.append({k: plain(sample[k]) for k in keys0})
    return points


def check_key(key: Any, value: Any) -> None:
    if not isinstance(key, str) or not key:
        raise ConfigError("grid key", key, "a SystemConfig field name (dotted for parameters)")
    if key in RESERVED:
        raise ConfigError(
            key,
            value,
            "a parameter other than run_id, point, replicate, seed or index columns "
            "(run seeds derive from the root seed; use replicates)",
        )


def plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def apply_point(base: SystemConfig, point: Mapping[str, Any]) -> SystemConfig:
    """Return ``base`` with one grid point's values applied (validated).

    Plain keys are :class:`SystemConfig` fields; ``task_params.<name>`` sets a task parameter;
    ``controllers.<i>.<param>`` (index) or ``controllers.<type>.<param>`` (the one controller of
    that type) sets a controller table's parameter.

    Raises
    ------
    ConfigError
        Unknown fields, controllers missing from ``base``, or invalid values (one line naming the
        key, the value and what is allowed).

    Examples
    --------
    >>> apply_point(SystemConfig(), {"step_size": 0.1, "batch_size": 4}).batch_size
    4
    >>> apply_point(SystemConfig(), {"task_params.input_scale": 2.0}).task_params
    {'input_scale': 2.0}
    """
    changes: dict[str, Any] = {}
    task_params: dict[str, Any] | None = None
    controllers: list[dict[str, Any]] | None = None
    for key, value in point.items():
        head, dot, rest = key.partition(".")
        if not dot:
            if head not in _FIELDS:
                raise ConfigError(
                    key,
                    value,
                    "a SystemConfig field, task_params.<name> or controllers.<i|type>.<parameter>",
                )
            if head == "seed":
                check_key(key, value)
            changes[head] = value
        elif head == "task_params" and rest:
            task_params = dict(base.task_params) if task_params is None else task_params
            task_params[rest] = value
        elif head == "controllers":
            controllers = (
                [dict(c) for c in base.controllers] if controllers is None else controllers
            )
            i, param = _controller_slot(controllers, key, value)
            controllers[i][param] = value
        else:
            raise ConfigError(
                key, value, "a SystemConfig field, task_params.<name> or controllers.<i|type>.<p>"
            )
    if task_params is not None:
        changes["task_params"] = task_params
    if controllers is not None:
        changes["controllers"] = tuple(controllers)
    if not changes:
        return base
    try:
        return base.replace(**changes)
    except ConfigError as err:
        # name the grid key (controllers.mu_c...) rather than the table slot (controllers[1].mu_c)
        for key in point:
            if key.startswith("controllers."):
                i, param = _controller_slot(controllers or [], key, point[key])
                if err.field == f"controllers[{i}].{param}":
                    raise ConfigError(key, err.value, err.allowed) from None
        raise


def _controller_slot(controllers: list[dict[str, Any]], key: str, value: Any) -> tuple[int, str]:
    parts = key.split(".")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise ConfigError(key, value, "controllers.<index or type>.<parameter>")
    _, sel, param = parts
    types = [c.get("type") for c in controllers]
    shown = ", ".join(f"{i}={t}" for i, t in enumerate(types)) or "none in the base config"
    if sel.isdigit():
        i = int(sel)
        if i >= len(controllers):
            raise ConfigError(key, value, f"a controller index of the base config ({shown})")
    else:
        hits = [i for i, t in enumerate(types) if t == sel]
        if len(hits) != 1:
            why = "exactly one controller of that type" if hits else "a controller type"
            raise ConfigError(key, value, f"{why} in the base config ({shown}); or use its index")
        i = hits[0]
    if param == "type":
        raise ConfigError(key, value, "a controller parameter (not its type)")
    return i, param


def read_param(config: SystemConfig, key: str) -> Any:
    head, _, rest = key.partition(".")
    if not rest:
        value = getattr(config, head)
    elif head == "task_params":
        value = config.task_params.get(rest)
    else:
        sel, param = rest.split(".")
        if sel.isdigit():
            value = config.controllers[int(sel)].get(param)
        else:
            value = next(c for c in config.controllers if c["type"] == sel).get(param)
    return plain(value)
