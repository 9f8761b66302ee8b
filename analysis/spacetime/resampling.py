"""Resampling intervals that respect the dependence of the data, and bounded statistics.

The space-time statistics come from ensembles of independent replicas, each a time series:
replicas are resampled whole (:func:`replica_indices`, every replica keeps its own time
dependence), a sequence of dependent values (evaluation times of one run) by the moving-block
bootstrap (:func:`moving_block_indices`, blocks of :func:`block_length` consecutive values).
:func:`percentile_interval` and :func:`basic_interval` turn resampled values into an interval.
:func:`relative_margin` is the bounded Lorentz margin (in ``[-1, 1]``), :func:`signed_correlation`
the bounded "Lambda tracks N" statistic.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> moving_block_indices(10, 2, 3, rng).shape
(2, 10)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "basic_interval",
    "block_length",
    "moving_block_indices",
    "percentile_interval",
    "relative_margin",
    "replica_indices",
    "signed_correlation",
]


def replica_indices(R: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` replica resamples (with replacement) of ``R`` replicas, shape (n, R).

    Examples
    --------
    >>> replica_indices(4, 3, np.random.default_rng(1)).shape
    (3, 4)
    """
    if R < 1 or n < 0:
        raise ValueError(f"R={R}, n={n}; expected R >= 1 and n >= 0")
    return rng.integers(0, R, (n, R))


def block_length(n: int) -> int:
    """Block length of the moving-block bootstrap for ``n`` dependent values: ``round(n^(1/3))``.

    The usual rate for the variance of a mean (at least 1, at most ``n``).

    Examples
    --------
    >>> block_length(11), block_length(400), block_length(1)
    (2, 7, 1)
    """
    if n < 1:
        raise ValueError(f"n: {n}; expected at least 1")
    return int(min(n, max(1, round(n ** (1.0 / 3.0)))))


def moving_block_indices(
    n: int, n_resamples: int, block: int, rng: np.random.Generator
) -> np.ndarray:
    """Moving-block bootstrap indices of a sequence of ``n`` dependent values.

    Each resample concatenates blocks of ``block`` consecutive indices, each starting at a
    uniform position in ``[0, n - block]``, cut to length ``n``: the dependence within a block
    is kept. ``block = 1`` is the ordinary bootstrap. Returns shape (n_resamples, n).

    Examples
    --------
    >>> idx = moving_block_indices(8, 1, 4, np.random.default_rng(0))[0]
    >>> bool(np.all(np.diff(idx[:4]) == 1) and np.all(np.diff(idx[4:]) == 1))
    True
    """
    if n < 1 or not 1 <= block <= n or n_resamples < 0:
        raise ValueError(f"n={n}, block={block}, n_resamples={n_resamples}; expected 1<=block<=n")
    k = math.ceil(n / block)
    starts = rng.integers(0, n - block + 1, (n_resamples, k))
    idx = starts[:, :, None] + np.arange(block)[None, None, :]
    return idx.reshape(n_resamples, k * block)[:, :n]


def percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the finite resampled values at ``level`` (NaN when < 2 finite).

    Examples
    --------
    >>> [round(v, 6) for v in percentile_interval(np.arange(101.0), 0.9)]
    [5.0, 95.0]
    """
    v = np.asarray(samples, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan"), float("nan")
    lo, hi = np.percentile(v, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


def basic_interval(
    point: float,
    samples: np.ndarray,
    level: float,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> tuple[float, float]:
    """Basic (pivotal) bootstrap interval ``[2 point - q_hi, 2 point - q_lo]``, cut to ``bounds``.

    It corrects a resampling bias of the statistic (e.g. the spreading of sorted eigenvalues
    of a noisy matrix), which the percentile interval would carry over.

    Examples
    --------
    >>> [round(v, 6) for v in basic_interval(0.5, np.array([0.4, 0.6, 0.7, 0.8]), 0.5)]
    [0.275, 0.45]
    """
    lo, hi = percentile_interval(samples, level)
    a, b = 2 * point - hi, 2 * point - lo
    return float(np.clip(a, *bounds)), float(np.clip(b, *bounds))


def relative_margin(on: np.ndarray, null: np.ndarray | None = None) -> np.ndarray:
    """Lorentz margin over the eigenvalue scale: bounded in ``[-1, 1]``, scale-free.

    ``min(-lambda_0(on), lambda_1(on), lambda_0(null)) / max |lambda|`` over both spectra
    (``on`` and ``null`` hold sorted eigenvalues on their last axis; any leading axes, e.g.
    resamples, broadcast). Positive exactly when ``on`` has one negative eigenvalue and
    ``null`` none; 1 for a spectrum ``(-a, a, ..., a)`` against a null ``(a, ...)``. Without
    ``null``, the margin of ``on`` alone. 0 when every eigenvalue is 0.

    Examples
    --------
    >>> float(relative_margin(np.array([-2.0, 1.0, 3.0]), np.array([0.5, 1.0, 2.0])))
    0.16666666666666666
    >>> float(relative_margin(np.array([-2.0, 1.0, 3.0])))
    0.3333333333333333
    """
    on = np.asarray(on, dtype=float)
    parts = [-on[..., 0], np.min(on[..., 1:], axis=-1)]
    scale = np.max(np.abs(on), axis=-1)
    if null is not None:
        null = np.asarray(null, dtype=float)
        parts.append(null[..., 0])
        scale = np.maximum(scale, np.max(np.abs(null), axis=-1))
    m = np.min(np.stack(parts), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, m / np.where(scale > 0, scale, 1.0), 0.0)


def signed_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``y`` with ``x`` along the last axis (``y`` may hold resamples).

    Bounded in ``[-1, 1]`` and free of the units of both; NaN where ``y`` (or ``x``) is
    constant or not finite.

    Examples
    --------
    >>> x = np.array([12.0, 16.0, 20.0, 24.0])
    >>> float(signed_correlation(x, 3.0 - 0.5 * x))
    -1.0
    >>> signed_correlation(x, np.array([[1.0, 2.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]])).round(3)
    array([0.949,   nan])
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    xc = x - x.mean()
    yc = y - y.mean(axis=-1, keepdims=True)
    num = np.sum(xc * yc, axis=-1)
    den = np.sqrt(np.sum(xc**2) * np.sum(yc**2, axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
