"""Activation maps f and their derivatives f'.

Each entry is ``(f, df)`` where ``df(y, fy)`` returns f'(y) given y and f(y) (so tanh and
sigmoid reuse f(y) and cost one multiply).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Fn = Callable[[np.ndarray], np.ndarray]
DFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _sigmoid(y: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * y))


def _identity(y: np.ndarray) -> np.ndarray:
    return y


_TABLE: dict[str, tuple[Fn, DFn]] = {
    "tanh": (np.tanh, lambda y, fy: 1.0 - fy * fy),
    "sigmoid": (_sigmoid, lambda y, fy: fy * (1.0 - fy)),
    "relu": (lambda y: np.maximum(y, 0.0), lambda y, fy: (y > 0).astype(y.dtype)),
    "linear": (_identity, lambda y, fy: np.ones_like(y)),
}


def activation(name: str) -> tuple[Fn, DFn]:
    """Return ``(f, df)`` for an activation name.

    Examples
    --------
    >>> f, df = activation("tanh")
    >>> float(df(np.array(0.0), f(np.array(0.0))))
    1.0
    """
    try:
        return _TABLE[name]
    except KeyError:
        raise ValueError(f"activation: {name!r}; expected one of {', '.join(_TABLE)}") from None
