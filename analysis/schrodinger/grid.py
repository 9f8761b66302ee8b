"""Uniform periodic grids: axes, spacing, wavenumbers, potentials, interpolation, sampling.

A 1-D grid is a coordinate array; a 2-D grid is a tuple ``(x, y)`` and 2-D fields are indexed
``[ix, iy]`` (``numpy.meshgrid(x, y, indexing="ij")``). Every axis is uniform and increasing
with at least 8 points; the box is periodic with length ``N dx`` (the split-step box).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "Grid",
    "Potential",
    "grid_axes",
    "grid_interpolate",
    "grid_mesh",
    "grid_spacing",
    "grid_wavenumbers",
    "potential_on_grid",
    "sample_grid",
    "spectral_gradient",
]


#: A grid: a 1-D coordinate array or a tuple of two (``(x, y)``).
Grid = np.ndarray | Sequence[np.ndarray]

#: A potential: values on the grid, ``V(x)`` / ``V(X, Y)``, a constant, or None (zero).
Potential = np.ndarray | Callable[..., np.ndarray] | float | None


def grid_axes(grid: Grid, name: str = "grid") -> tuple[np.ndarray, ...]:
    """Validate a 1-D grid or a tuple of two; return a tuple of uniform 1-D axes.

    Parameters
    ----------
    grid : ndarray or tuple of one or two ndarrays
        Coordinate axes, each uniform, increasing, finite, with at least 8 points.
    name : str
        Argument name used in error messages.

    Returns
    -------
    tuple of ndarray

    Examples
    --------
    >>> import numpy as np
    >>> [ax.size for ax in grid_axes((np.arange(8.0), np.arange(10.0)))]
    [8, 10]
    >>> try:
    ...     grid_axes(np.arange(4.0))
    ... except ValueError as err:
    ...     print(err)
    grid[0]: shape (4,); expected a 1-D array of >= 8 points
    """
    if isinstance(grid, np.ndarray) and grid.ndim == 1:
        axes: tuple[np.ndarray, ...] = (np.asarray(grid, dtype=float),)
    elif isinstance(grid, list | tuple) and len(grid) in (1, 2):
        axes = tuple(np.asarray(g, dtype=float) for g in grid)
    else:
        shape = getattr(grid, "shape", type(grid).__name__)
        raise ValueError(f"{name}: got {shape}; expected a 1-D coordinate array or a tuple of two")
    for i, ax in enumerate(axes):
        if ax.ndim != 1 or ax.size < 8:
            raise ValueError(f"{name}[{i}]: shape {ax.shape}; expected a 1-D array of >= 8 points")
        if not np.all(np.isfinite(ax)):
            raise ValueError(f"{name}[{i}]: NaN/Inf values; expected finite coordinates")
        d = np.diff(ax)
        if d[0] <= 0 or np.max(np.abs(d - d[0])) > 1e-6 * abs(d[0]):
            raise ValueError(
                f"{name}[{i}]: spacing not uniform and increasing; expected a uniform grid"
            )
    return axes


def grid_spacing(axes: tuple[np.ndarray, ...]) -> np.ndarray:
    """Spacing of each axis, shape (d,).

    Examples
    --------
    >>> import numpy as np
    >>> grid_spacing((np.linspace(0, 1, 11),)).round(12).tolist()
    [0.1]
    """
    return np.array([ax[1] - ax[0] for ax in axes])


def grid_mesh(axes: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Coordinate arrays of every grid point (``numpy.meshgrid`` with ``indexing="ij"``).

    Examples
    --------
    >>> import numpy as np
    >>> X, Y = grid_mesh((np.arange(3.0), np.arange(2.0)))
    >>> X.shape, X[2, 1], Y[2, 1]
    ((3, 2), np.float64(2.0), np.float64(1.0))
    """
    return tuple(np.meshgrid(*axes, indexing="ij"))


def grid_wavenumbers(axes: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Angular wavenumbers ``2 pi fftfreq(n, dx)`` of the periodic box on the grid (``ij``).

    Examples
    --------
    >>> import numpy as np
    >>> (k,) = grid_wavenumbers((np.arange(8.0),))
    >>> (k / (np.pi / 4)).round(12).tolist()
    [0.0, 1.0, 2.0, 3.0, -4.0, -3.0, -2.0, -1.0]
    """
    ks = [2 * np.pi * np.fft.fftfreq(ax.size, ax[1] - ax[0]) for ax in axes]
    return tuple(np.meshgrid(*ks, indexing="ij"))


def potential_on_grid(V: Potential, axes: tuple[np.ndarray, ...], name: str = "V") -> np.ndarray:
    """A potential evaluated on the grid (finite values checked).

    Parameters
    ----------
    V : ndarray, callable, float or None
        Values with the grid shape, ``V(x)`` / ``V(X, Y)`` (called on :func:`grid_mesh`), a
        constant, or None (zero).
    axes : tuple of ndarray
        Grid axes (:func:`grid_axes`).
    name : str
        Argument name used in error messages.

    Returns
    -------
    ndarray
        The grid shape.

    Examples
    --------
    >>> import numpy as np
    >>> potential_on_grid(lambda x: 0.5 * x**2, (np.arange(4.0),)).tolist()
    [0.0, 0.5, 2.0, 4.5]
    >>> potential_on_grid(None, (np.arange(3.0), np.arange(2.0))).shape
    (3, 2)
    """
    shape = tuple(ax.size for ax in axes)
    if V is None:
        return np.zeros(shape)
    if callable(V):
        out = np.asarray(V(*grid_mesh(axes)), dtype=float)
        out = np.broadcast_to(out, shape).copy()
    elif np.ndim(V) == 0:
        out = np.full(shape, float(V))
    else:
        out = np.asarray(V, dtype=float)
        if out.shape != shape:
            raise ValueError(f"{name}: shape {out.shape}; expected the grid shape {shape}")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name}: NaN/Inf on the grid; expected a finite potential")
    return out


def spectral_gradient(psi: np.ndarray, kmesh: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Spectral gradient of a periodic field, one complex array per axis.

    Parameters
    ----------
    psi : ndarray
        Field on the grid.
    kmesh : tuple of ndarray
        Wavenumbers of the grid (:func:`grid_wavenumbers`).

    Returns
    -------
    list of ndarray

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    >>> (d,) = spectral_gradient(np.sin(x), grid_wavenumbers((x,)))
    >>> bool(np.allclose(d.real, np.cos(x)))
    True
    """
    f = np.fft.fftn(psi)
    return [np.fft.ifftn(1j * k * f) for k in kmesh]


def grid_interpolate(
    fields: Sequence[np.ndarray], axes: tuple[np.ndarray, ...], x: np.ndarray
) -> list:
    """Linear (1-D) or bilinear (2-D) interpolation of gridded fields at points ``x`` (n, d).

    Points outside the grid are clamped to the edge cells.

    Parameters
    ----------
    fields : sequence of ndarray
        Fields with the grid shape (real or complex).
    axes : tuple of ndarray
        Grid axes (:func:`grid_axes`).
    x : ndarray, shape (n, d)
        Points.

    Returns
    -------
    list of ndarray
        One array of shape (n,) per field.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(8.0)
    >>> grid_interpolate([x**2], (x,), np.array([[1.5], [20.0]]))[0].round(6).tolist()
    [2.5, 49.0]
    """
    d = len(axes)
    idx, w = [], []
    for a, ax in enumerate(axes):
        dx = ax[1] - ax[0]
        u = np.clip((x[:, a] - ax[0]) / dx, 0.0, ax.size - 1 - 1e-9)
        i = np.floor(u).astype(np.intp)
        idx.append(i)
        w.append(u - i)
    out = []
    for f in fields:
        if d == 1:
            i, t = idx[0], w[0]
            out.append(f[i] * (1 - t) + f[i + 1] * t)
        else:
            i, j = idx
            s, t = w
            out.append(
                f[i, j] * (1 - s) * (1 - t)
                + f[i + 1, j] * s * (1 - t)
                + f[i, j + 1] * (1 - s) * t
                + f[i + 1, j + 1] * s * t
            )
    return out


def sample_grid(
    density: np.ndarray, axes: tuple[np.ndarray, ...], n: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``n`` points from a gridded density: pick a cell, then a uniform point in it.

    Parameters
    ----------
    density : ndarray
        Non-negative weights with the grid shape (normalised here).
    axes : tuple of ndarray
        Grid axes (:func:`grid_axes`); a cell is centred on its grid point.
    n : int
        Number of points.
    rng : numpy.random.Generator
        Source of the draws (one ``choice`` of the cells, then one ``random`` array).

    Returns
    -------
    ndarray, shape (n, d)

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(8.0)
    >>> pts = sample_grid(np.eye(1, 8, 3)[0], (x,), 1000, np.random.default_rng(0))
    >>> bool(np.all(np.abs(pts - 3.0) <= 0.5))  # all mass in the cell of x = 3
    True
    """
    p = np.clip(np.asarray(density, dtype=float).ravel(), 0.0, None)
    if p.sum() <= 0:
        raise ValueError("density: no positive mass on the grid; expected a non-zero density")
    cells = rng.choice(p.size, size=n, p=p / p.sum())
    sub = np.unravel_index(cells, density.shape)
    h = grid_spacing(axes)
    pts = np.stack([axes[a][sub[a]] for a in range(len(axes))], axis=1)
    return pts + (rng.random((n, len(axes))) - 0.5) * h
