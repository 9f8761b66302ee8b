"""Activation maps f and their derivatives f'.

Each entry is ``(f, df)`` where ``df(y, fy)`` returns f'(y) given y and f(y) (so tanh and
sigmoid reuse f(y) and cost one multiply).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["activation", "activation_into"]

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


def _tanh_into(y: np.ndarray, fy: np.ndarray, dfy: np.ndarray) -> None:
    np.tanh(y, out=fy)
    np.multiply(fy, fy, out=dfy)
    np.subtract(1.0, dfy, out=dfy)


def _sigmoid_into(y: np.ndarray, fy: np.ndarray, dfy: np.ndarray) -> None:
    np.multiply(y, 0.5, out=fy)
    np.tanh(fy, out=fy)
    fy += 1.0
    fy *= 0.5
    np.subtract(1.0, fy, out=dfy)
    dfy *= fy


def _relu_into(y: np.ndarray, fy: np.ndarray, dfy: np.ndarray) -> None:
    np.maximum(y, 0.0, out=fy)
    np.greater(y, 0.0, out=dfy, casting="unsafe")


def _linear_into(y: np.ndarray, fy: np.ndarray, dfy: np.ndarray) -> None:
    fy[...] = y
    dfy[...] = 1.0


_INTO = {"tanh": _tanh_into, "sigmoid": _sigmoid_into, "relu": _relu_into, "linear": _linear_into}


def activation_into(name: str) -> Callable[[np.ndarray, np.ndarray, np.ndarray], None]:
    """In-place form: ``g(y, fy, dfy)`` writes f(y) into ``fy`` and f'(y) into ``dfy``.

    Examples
    --------
    >>> y = np.array([0.0, 1.0]); fy = np.empty(2); dfy = np.empty(2)
    >>> activation_into("relu")(y, fy, dfy); dfy.tolist()
    [0.0, 1.0]
    """
    activation(name)
    return _INTO[name]


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
