"""Argument checks shared by the configuration and the controllers, and :class:`ConfigError`.

Every reader takes a mapping (a controller table, or the fields of a config), a ``key`` and
the ``where`` of the mapping (``"controllers[0]"``; empty for top-level fields), and returns the
checked, normalised value or raises :class:`ConfigError` naming ``where.key``, the value and
what is allowed, in one line. This module imports only the standard library and numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "INTERPOLATIONS",
    "ConfigError",
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_keys",
    "check_schedule",
]

INTERPOLATIONS = ("linear", "exponential")


class ConfigError(ValueError):
    """An invalid configuration value: the message names the field, the value and what is allowed.

    Parameters
    ----------
    field : str
        The field (``replicas``, ``controllers[0].interval`` ...).
    value : object
        The value given (shown by ``repr``, cut at 60 characters).
    allowed : str
        What the field accepts.

    Examples
    --------
    >>> err = ConfigError("replicas", 0, "an integer >= 1")
    >>> print(err)
    replicas: 0; expected an integer >= 1
    >>> isinstance(err, ValueError), err.field, err.exit_code
    (True, 'replicas', 2)
    >>> import pickle
    >>> print(pickle.loads(pickle.dumps(err)))
    replicas: 0; expected an integer >= 1
    """

    #: the ``dualsim`` command's exit code for it (bad input; :mod:`runner.errors`)
    exit_code: int = 2

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        shown = value if isinstance(value, str) and len(value) > 60 else _short(value)
        super().__init__(f"{field}: {shown}; expected {allowed}")

    def __reduce__(self) -> tuple:  # picklable (rebuilt from its arguments, not its message)
        return (type(self), (self.field, self.value, self.allowed))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def check_int(
    spec: Mapping[str, Any],
    key: str,
    where: str,
    default: int | None,
    lo: int,
    hi: int | None = None,
) -> int | None:
    """Read an integer ``spec[key]`` in ``[lo, hi]`` (or ``default`` when absent).

    A float with an integer value is accepted; a bool is not.

    Examples
    --------
    >>> check_int({"interval": 5}, "interval", "controllers[0]", 1, 1)
    5
    >>> check_int({}, "interval", "controllers[0]", 1, 1)
    1
    >>> try:
    ...     check_int({"interval": 0}, "interval", "controllers[0]", 1, 1)
    ... except ConfigError as err:
    ...     print(err)
    controllers[0].interval: 0; expected an integer >= 1
    """
    if key not in spec:
        return default
    value = spec[key]
    allowed = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(_field(where, key), value, allowed)
    if value < lo or (hi is not None and value > hi):
        raise ConfigError(_field(where, key), value, allowed)
    return int(value)


def check_float(
    spec: Mapping[str, Any],
    key: str,
    where: str,
    default: float | None,
    lo: float = -math.inf,
    hi: float = math.inf,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float | None:
    """Read a finite number ``spec[key]`` in ``[lo, hi]`` (open ends with ``lo_open``/``hi_open``).

    Examples
    --------
    >>> check_float({"beta_c": 2}, "beta_c", "controllers[0]", 1.0, 0.0, lo_open=True)
    2.0
    >>> try:
    ...     check_float({"beta_c": -1.0}, "beta_c", "c[0]", 1.0, 0.0, lo_open=True)
    ... except ConfigError as err:
    ...     print(err)
    c[0].beta_c: -1.0; expected a number in (0, inf)
    >>> try:
    ...     check_float({"momentum": 1.0}, "momentum", "", None, 0.0, 1.0, hi_open=True)
    ... except ConfigError as err:
    ...     print(err)
    momentum: 1.0; expected a number in [0, 1)
    """
    if key not in spec:
        return default
    value = spec[key]
    left = "(" if lo_open else "["
    right = ")" if (hi_open or math.isinf(hi)) else "]"
    allowed = f"a number in {left}{lo:g}, {hi:g}{right}"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(_field(where, key), value, allowed)
    value = float(value)
    if (
        not math.isfinite(value)
        or value < lo
        or (lo_open and value == lo)
        or value > hi
        or (hi_open and value == hi)
    ):
        raise ConfigError(_field(where, key), value, allowed)
    return value


def check_choice(
    spec: Mapping[str, Any], key: str, where: str, default: str, options: Sequence[str]
) -> str:
    """Read ``spec[key]`` from ``options`` (``default`` when absent).

    Examples
    --------
    >>> check_choice({}, "policy", "controllers[0]", "constant", ("constant", "schedule"))
    'constant'
    >>> try:
    ...     check_choice({"dtype": "int8"}, "dtype", "", "float64", ("float64", "float32"))
    ... except ConfigError as err:
    ...     print(err)
    dtype: 'int8'; expected one of float64, float32
    """
    value = spec.get(key, default)
    if value not in options:
        raise ConfigError(_field(where, key), value, f"one of {', '.join(options)}")
    return str(value)


def check_bool(spec: Mapping[str, Any], key: str, where: str, default: bool | None) -> bool | None:
    """Read a bool ``spec[key]`` (a numpy bool is accepted; ``default`` when absent).

    Examples
    --------
    >>> check_bool({"bias": np.True_}, "bias", "", None)
    True
    >>> try:
    ...     check_bool({"learning": 1}, "learning", "", None)
    ... except ConfigError as err:
    ...     print(err)
    learning: 1; expected true or false
    """
    if key not in spec:
        return default
    value = spec[key]
    if not isinstance(value, bool | np.bool_):
        raise ConfigError(_field(where, key), value, "true or false")
    return bool(value)


def check_keys(spec: Mapping[str, Any], where: str, allowed: Sequence[str], kind: str) -> None:
    """Refuse keys of ``spec`` that are not in ``allowed`` (the parameters of ``kind``).

    Examples
    --------
    >>> try:
    ...     check_keys({"type": "x", "gain": 1}, "controllers[0]", ("type",), "x (constant)")
    ... except ConfigError as err:
    ...     print(err)
    controllers[0].gain: 1; expected a parameter of x (constant): type
    """
    for key, value in spec.items():
        if key not in allowed:
            raise ConfigError(
                _field(where, key), value, f"a parameter of {kind}: {', '.join(allowed)}"
            )


def check_schedule(
    spec: Mapping[str, Any], where: str, lo: float, hi: float = math.inf
) -> dict[str, Any]:
    """Validate ``steps`` (increasing integers >= 0), ``values`` (in [lo, hi]) and interpolation.

    With ``interpolation = "exponential"`` the values must be positive.

    Examples
    --------
    >>> check_schedule({"steps": [0, 10], "values": [1.0, 0.5]}, "c[0]", 0.0)
    {'steps': [0, 10], 'values': [1.0, 0.5], 'interpolation': 'linear'}
    >>> try:
    ...     check_schedule({"steps": [0, 0], "values": [1.0, 0.5]}, "c[0]", 0.0)
    ... except ConfigError as err:
    ...     print(err)
    c[0].steps[1]: 0; expected a step > 0 (increasing)
    """
    steps = spec.get("steps")
    values = spec.get("values")
    if not isinstance(steps, list | tuple) or len(steps) < 1:
        raise ConfigError(f"{where}.steps", steps, "a non-empty list of increasing steps >= 0")
    if not isinstance(values, list | tuple) or len(values) != len(steps):
        raise ConfigError(
            f"{where}.values", values, f"a list of {len(steps)} numbers (one per step)"
        )
    out_steps = []
    for i, s in enumerate(steps):
        s = check_int({f"steps[{i}]": s}, f"steps[{i}]", where, None, 0)
        if out_steps and s <= out_steps[-1]:
            raise ConfigError(f"{where}.steps[{i}]", s, f"a step > {out_steps[-1]} (increasing)")
        out_steps.append(s)
    interp = check_choice(spec, "interpolation", where, "linear", INTERPOLATIONS)
    positive = interp == "exponential"
    out_values = []
    for i, v in enumerate(values):
        key = f"values[{i}]"
        v = check_float(
            {key: v}, key, where, None, max(lo, 0.0) if positive else lo, hi, lo_open=positive
        )
        out_values.append(v)
    return {"steps": out_steps, "values": out_values, "interpolation": interp}
