"""Shared argument checks of the analysis package: one-line ``ValueError`` messages.

Every message names the argument, the value and what is allowed
(``"bins: 0; expected an integer >= 2"``). Numbers carry no units here; each caller states its
own.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "as_generator",
    "check_generator",
    "check_integer",
    "check_points",
    "check_positive",
    "check_window",
    "rng_arg",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def check_integer(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` as an ``int`` if it is an integer (not a bool) ``>= minimum``.

    Parameters
    ----------
    name : str
        Argument name used in the error message.
    value : Any
        The value to check (Python or numpy integer).
    minimum : int
        Smallest allowed value.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        ``"<name>: <value!r>; expected an integer >= <minimum>"``.

    Examples
    --------
    >>> check_integer("bins", 4, 2)
    4
    >>> try:
    ...     check_integer("bins", 0, 2)
    ... except ValueError as err:
    ...     print(err)
    bins: 0; expected an integer >= 2
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}: {value!r}; expected an integer >= {minimum}")
    return int(value)


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a ``float`` if it is a finite number ``> 0``.

    Parameters
    ----------
    name : str
        Argument name used in the error message.
    value : Any
        Anything ``float()`` accepts.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        ``"<name>: <value!r>; expected a positive finite number"``.

    Examples
    --------
    >>> check_positive("dt", 0.5)
    0.5
    >>> try:
    ...     check_positive("dt", float("nan"))
    ... except ValueError as err:
    ...     print(err)
    dt: nan; expected a positive finite number
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r}; expected a positive finite number") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name}: {value!r}; expected a positive finite number")
    return v


def check_window(window: tuple[int, int] | None, T: int) -> tuple[int, int]:
    """Return the steps ``(t0, t1)`` of a time window of a record of ``T`` steps.

    The window holds the steps ``t0 .. t1-1`` whose ensembles and increments (to ``t + 1``) are
    used, so ``0 <= t0 < t1 <= T - 1``; ``None`` means all of them, ``(0, T - 1)``.

    Parameters
    ----------
    window : (int, int) or None
        The window ``(t0, t1)``.
    T : int
        Number of recorded steps.

    Returns
    -------
    tuple of int

    Raises
    ------
    ValueError
        ``"window: <window!r>; expected (t0, t1) with 0 <= t0 < t1 <= T-1 = <T - 1>"``.

    Examples
    --------
    >>> check_window(None, 10), check_window((2, 5), 10)
    ((0, 9), (2, 5))
    >>> try:
    ...     check_window((2, 10), 10)
    ... except ValueError as err:
    ...     print(err)
    window: (2, 10); expected (t0, t1) with 0 <= t0 < t1 <= T-1 = 9
    """
    if window is None:
        return 0, T - 1
    t0, t1 = (int(w) for w in window)
    if not (0 <= t0 < t1 <= T - 1):
        raise ValueError(
            f"window: {window!r}; expected (t0, t1) with 0 <= t0 < t1 <= T-1 = {T - 1}"
        )
    return t0, t1


def check_points(a: Any, name: str) -> np.ndarray:
    """Return samples as a finite float array of shape ``(n, d)`` (a 1-D input becomes d = 1).

    Parameters
    ----------
    a : array_like, shape (n, d) or (n,)
        Sample points, one per row.
    name : str
        Argument name used in the error message.

    Returns
    -------
    ndarray, shape (n, d)

    Raises
    ------
    ValueError
        Wrong shape (``"<name>: array of shape ...; expected (n, d)"``) or NaN/Inf values.

    Examples
    --------
    >>> check_points([1.0, 2.0, 3.0], "samples").shape
    (3, 1)
    >>> try:
    ...     check_points([[1.0, float("nan")]], "samples")
    ... except ValueError as err:
    ...     print(err)
    samples: 1 NaN/Inf value(s); expected finite coordinates
    """
    x = np.asarray(a, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"{name}: array of shape {np.shape(a)}; expected (n, d)")
    if not np.all(np.isfinite(x)):
        bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name}: {bad} NaN/Inf value(s); expected finite coordinates")
    return x


def as_generator(
    seed: int | np.random.Generator | np.random.SeedSequence | None,
) -> np.random.Generator:
    """A numpy ``Generator`` from a ``seed`` argument: a Generator is used as it is.

    Parameters
    ----------
    seed : int, SeedSequence, Generator or None
        Anything ``numpy.random.default_rng`` accepts; a Generator is passed through (so
        callers that share one stream keep sharing it).

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> as_generator(rng) is rng
    True
    >>> float(as_generator(0).random()) == float(np.random.default_rng(0).random())
    True
    """
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def check_generator(name: str, value: Any) -> np.random.Generator:
    """Return ``value`` if it is a ``numpy.random.Generator``.

    Functions that draw from their caller's stream take a Generator, never a seed: a seed would
    start a new stream and change every draw the caller makes after the call.

    Parameters
    ----------
    name : str
        Argument name used in the error message.
    value : Any
        The value to check.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    ValueError
        ``"<name>: got <type>; expected a numpy.random.Generator (numpy.random.default_rng(...))"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> check_generator("rng", rng) is rng
    True
    >>> try:
    ...     check_generator("rng", 0)
    ... except ValueError as err:
    ...     print(err)
    rng: got int; expected a numpy.random.Generator (numpy.random.default_rng(...))
    """
    if not isinstance(value, np.random.Generator):
        raise ValueError(
            f"{name}: got {type(value).__name__}; "
            "expected a numpy.random.Generator (numpy.random.default_rng(...))"
        )
    return value


def rng_arg(name: str = "seed") -> Callable[[_F], _F]:
    """Decorator: the argument ``name`` arrives in the function as a numpy ``Generator``.

    The value the caller passed (int, SeedSequence, Generator or None) goes through
    :func:`as_generator` before the call: a Generator is passed on as it is (the caller's
    stream), anything else seeds a new one. Functions document the argument as::

        seed : int, SeedSequence, Generator or None
            Random state; a Generator is used as it is (draws continue the caller's stream).

    Parameters
    ----------
    name : str
        Name of the seed argument of the decorated function.

    Returns
    -------
    callable
        The decorator.

    Examples
    --------
    >>> import numpy as np
    >>> @rng_arg("seed")
    ... def draw(n, seed=0):
    ...     return seed.random(n)
    >>> bool(np.array_equal(draw(3, seed=5), np.random.default_rng(5).random(3)))
    True
    >>> rng = np.random.default_rng(1)
    >>> a, b = draw(2, rng), draw(2, rng)  # one stream, continued
    >>> bool(np.array_equal(np.r_[a, b], np.random.default_rng(1).random(4)))
    True
    """

    def decorate(func: _F) -> _F:
        signature = inspect.signature(func)
        if name not in signature.parameters:
            raise ValueError(f"name: {name!r} is not an argument of {func.__qualname__}")

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            bound.arguments[name] = as_generator(bound.arguments[name])
            return func(*bound.args, **bound.kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
