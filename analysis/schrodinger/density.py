"""Ensemble densities on a grid: binning, kernel smoothing, a phase from velocities, and the
Hellinger distance with its sampling-noise floor.

Densities on a grid are probability densities (``sum(rho) * cell_volume = 1``) or, where said,
unnormalised smoothed counts.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from analysis.schrodinger.grid import grid_spacing, grid_wavenumbers

__all__ = [
    "bin_index",
    "hellinger",
    "hellinger_floor",
    "kde_grid",
    "phase_from_velocity",
    "scott_bandwidth",
]


def scott_bandwidth(q: np.ndarray) -> np.ndarray:
    """Scott's rule kernel bandwidth per axis, ``std * n^(-1 / (d + 4))``.

    Parameters
    ----------
    q : ndarray, shape (n, d)

    Returns
    -------
    ndarray, shape (d,)

    Examples
    --------
    >>> import numpy as np
    >>> q = np.random.default_rng(0).normal(0.0, 2.0, size=(3125, 1))
    >>> np.round(scott_bandwidth(q), 1).tolist()  # 2 * 3125^(-1/5) = 0.4
    [0.4]
    """
    n, d = q.shape
    return np.std(q, axis=0) * n ** (-1.0 / (d + 4))


def bin_index(q: np.ndarray, lo: np.ndarray, h: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Flat cell index of points ``q`` (..., d) on a grid (lower edge ``lo``, spacing ``h``).

    Points outside the grid are put in the nearest edge cell.

    Examples
    --------
    >>> import numpy as np
    >>> bin_index(np.array([[0.5, 0.5], [1.5, 0.2], [9.0, -3.0]]), np.zeros(2), np.ones(2), (2, 3))
    array([0, 3, 3])
    """
    idx = np.floor((q - lo) / h).astype(np.intp)
    idx = np.clip(idx, 0, np.array(shape) - 1)
    return np.ravel_multi_index(tuple(np.moveaxis(idx, -1, 0)), shape)


def kde_grid(
    q: np.ndarray,
    lo: np.ndarray,
    h: np.ndarray,
    shape: tuple[int, ...],
    bw: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Binned Gaussian smoothing of (weighted) point counts onto a grid (unnormalised).

    Parameters
    ----------
    q : ndarray, shape (n, d)
        Points (binned with :func:`bin_index`).
    lo, h : ndarray, shape (d,)
        Lower edge and spacing of the grid cells.
    shape : tuple of int
        Grid shape.
    bw : ndarray, shape (d,)
        Kernel standard deviation per axis, in coordinate units.
    weights : ndarray, shape (n,), optional
        Weight of each point (default 1).

    Returns
    -------
    ndarray
        The grid shape; sums to the total weight inside the grid, less what the kernel carries
        beyond the edges.

    Examples
    --------
    >>> import numpy as np
    >>> rho = kde_grid(np.array([[2.5]]), np.zeros(1), np.ones(1), (5,), np.array([1.0]))
    >>> int(np.argmax(rho)), round(float(rho.sum()), 2)
    (2, 0.99)
    """
    flat = bin_index(q, lo, h, shape)
    counts = np.bincount(flat, weights=weights, minlength=int(np.prod(shape))).reshape(shape)
    # float: gaussian_filter keeps the input dtype, and integer counts would be truncated
    return ndimage.gaussian_filter(counts.astype(float), sigma=tuple(bw / h), mode="constant")


def phase_from_velocity(
    v_grid: np.ndarray, axes: tuple[np.ndarray, ...], mass: float
) -> np.ndarray:
    """Phase S with grad S = m v: trapezoid integral in 1-D, least-squares (FFT Poisson) in 2-D.

    Parameters
    ----------
    v_grid : ndarray, shape (*grid shape, d)
        Velocity field on the grid.
    axes : tuple of ndarray
        Grid axes.
    mass : float

    Returns
    -------
    ndarray
        The grid shape; zero at the first grid point in 1-D, zero mean in 2-D.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.0, 1.0, 11)
    >>> S = phase_from_velocity(np.full((11, 1), 2.0), (x,), 0.5)  # S = m v x
    >>> S.round(12).tolist() == x.round(12).tolist()
    True
    """
    h = grid_spacing(axes)
    if len(axes) == 1:
        v = v_grid[..., 0]
        S = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * h[0])])
        return mass * S
    kmesh = grid_wavenumbers(axes)
    k2 = sum(k**2 for k in kmesh)
    k2[(0,) * len(axes)] = 1.0
    div = sum(1j * k * np.fft.fftn(v_grid[..., a]) for a, k in enumerate(kmesh))
    S_hat = -div / k2
    S_hat[(0,) * len(axes)] = 0.0
    return mass * np.real(np.fft.ifftn(S_hat))


def hellinger(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hellinger distance ``sqrt(1 - sum sqrt(p q))`` of distributions along the last axis.

    Examples
    --------
    >>> import numpy as np
    >>> float(hellinger(np.array([0.5, 0.5]), np.array([0.5, 0.5])))
    0.0
    >>> float(hellinger(np.array([1.0, 0.0]), np.array([0.0, 1.0])))
    1.0
    """
    return np.sqrt(np.clip(1.0 - np.sum(np.sqrt(p * q), axis=-1), 0.0, None))


def hellinger_floor(q: np.ndarray, n: int, draws: int, rng: np.random.Generator) -> float:
    """Median Hellinger distance between ``n`` exact samples of ``q`` and ``q``: its noise floor.

    Parameters
    ----------
    q : ndarray
        Cell probabilities (clipped at 0 and normalised here).
    n : int
        Sample size (the replicas of the ensemble being judged).
    draws : int
        Multinomial draws of ``n`` samples.
    rng : numpy.random.Generator
        Source of the draws (one ``multinomial`` call).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> q = np.full(10, 0.1)
    >>> f = hellinger_floor(q, 1000, 50, np.random.default_rng(0))
    >>> bool(0.02 < f < 0.06)  # ~ sqrt((cells - 1) / (8 n)) = 0.034
    True
    """
    q = np.clip(q, 0.0, None)
    q = q / q.sum()
    samp = rng.multinomial(n, q, size=draws) / n
    return float(np.median(hellinger(samp, q[None, :])))
