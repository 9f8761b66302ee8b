"""The Schrödinger equation on a grid: split-step propagation, the Madelung wave function and
the residual of a time series of densities.
"""

from __future__ import annotations

import numpy as np

from analysis.schrodinger.grid import (
    Grid,
    Potential,
    grid_axes,
    grid_wavenumbers,
    potential_on_grid,
)
from analysis.validation import check_integer, check_positive

__all__ = ["schrodinger_residual", "split_step", "wavefunction"]


def split_step(
    psi0: np.ndarray,
    grid: Grid,
    V: Potential,
    hbar: float,
    mass: float,
    dt: float,
    steps: int,
    every: int | None = None,
) -> np.ndarray:
    """Propagate ``i hbar dpsi/dt = -(hbar^2/2m) lap psi + V psi`` by Strang split-step FFT.

    One step is ``exp(-iV dt/2hbar) F^-1 exp(-i hbar k^2 dt/2m) F exp(-iV dt/2hbar)``: exactly
    unitary (the norm is conserved to round-off), spectral in space on the periodic box, second
    order in time (docs/methods.md#split-step-solver).

    Parameters
    ----------
    psi0 : ndarray, complex, shape (Nx,) or (Nx, Ny)
        Initial wave function on the grid.
    grid : ndarray or tuple of two ndarrays
        Uniform coordinate axes (the box is periodic with length ``N dx``).
    V : ndarray, callable, float or None
        Time-independent potential on the grid, or ``V(x)`` / ``V(X, Y)`` (``indexing="ij"``).
    hbar, mass : float
        Positive constants.
    dt : float
        Time step (> 0).
    steps : int
        Number of steps (>= 0).
    every : int, optional
        If given, return snapshots at steps ``0, every, 2 every, ...`` (those <= ``steps``),
        shape ``(steps // every + 1, *psi0.shape)``; otherwise return the final ``psi``.

    Returns
    -------
    ndarray, complex

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(-20, 20, 256, endpoint=False)
    >>> psi = np.exp(-x**2 / 2) / np.pi**0.25
    >>> out = split_step(psi, x, 0.5 * x**2, 1.0, 1.0, 0.01, 100)   # ground state: stays put
    >>> bool(np.allclose(np.abs(out), np.abs(psi), atol=1e-5))
    True
    """
    axes = grid_axes(grid)
    psi = np.asarray(psi0)
    shape = tuple(ax.size for ax in axes)
    if psi.shape != shape:
        raise ValueError(f"psi0: shape {psi.shape}; expected the grid shape {shape}")
    if not np.all(np.isfinite(psi)):
        raise ValueError("psi0: NaN/Inf values; expected a finite wave function")
    hbar = check_positive("hbar", hbar)
    mass = check_positive("mass", mass)
    dt = check_positive("dt", dt)
    steps = check_integer("steps", steps, 0)
    if every is not None:
        every = check_integer("every", every, 1)
    v = potential_on_grid(V, axes)
    kmesh = grid_wavenumbers(axes)
    k2 = sum(k**2 for k in kmesh)
    half = np.exp(-0.5j * v * dt / hbar)
    kin = np.exp(-0.5j * hbar * k2 * dt / mass)
    psi = psi.astype(complex)
    snaps = [psi.copy()] if every is not None else None
    for n in range(1, steps + 1):
        psi = half * np.fft.ifftn(kin * np.fft.fftn(half * psi))
        if snaps is not None and n % every == 0:
            snaps.append(psi.copy())
    return np.array(snaps) if snaps is not None else psi


def wavefunction(p: np.ndarray, phase: np.ndarray | float, hbar: float) -> np.ndarray:
    """Return ``psi = sqrt(p) exp(i phase / hbar)`` on a grid (Madelung form, no normalisation).

    Parameters
    ----------
    p : ndarray
        Density on the grid (>= 0).
    phase : ndarray or float
        Phase ``S`` on the same grid (broadcastable), units of hbar.
    hbar : float

    Examples
    --------
    >>> import numpy as np
    >>> psi = wavefunction(np.array([1.0, 4.0]), np.array([0.0, np.pi]), 1.0)
    >>> np.round(psi, 12)
    array([ 1.+0.j, -2.+0.j])
    """
    p = np.asarray(p, dtype=float)
    phase = np.asarray(phase, dtype=float)
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("p: negative or NaN/Inf values; expected a density >= 0")
    if not np.all(np.isfinite(phase)):
        raise ValueError("phase: NaN/Inf values; expected a finite phase")
    try:
        np.broadcast_shapes(p.shape, phase.shape)
    except ValueError:
        raise ValueError(
            f"phase: shape {phase.shape}; expected broadcastable to {p.shape}"
        ) from None
    hbar = check_positive("hbar", hbar)
    return np.sqrt(p) * np.exp(1j * phase / hbar)


def schrodinger_residual(
    density: np.ndarray,
    grid: Grid,
    dt: float,
    V: Potential,
    hbar: float,
    mass: float,
    phase: np.ndarray | None = None,
    *,
    mask: float = 1e-3,
    free_phase_constant: bool = True,
) -> float:
    """Relative residual of ``i hbar dpsi/dt + (hbar^2/2m) lap psi - V psi`` over a time series.

    ``psi`` is ``sqrt(density) exp(i phase / hbar)`` (or ``density`` itself when it is complex and
    ``phase`` is None). Time derivatives are central differences between snapshots ``dt`` apart
    (second order), the Laplacian is spectral. The residual is
    ``||r|| / (||i hbar dpsi/dt|| + ||H psi||)`` over interior snapshots and over grid points where
    the density exceeds ``mask`` times its maximum. A fitted phase is known only up to a
    time-dependent constant ``c(t)``; with ``free_phase_constant`` the term ``-c'(t) psi`` that
    best cancels the residual is removed at each time.

    Parameters
    ----------
    density : ndarray, shape (T, *grid shape)
        Densities (real, >= 0) or complex wave functions, ``T >= 3`` snapshots.
    grid : ndarray or tuple of two
    dt : float
        Time between snapshots.
    V : ndarray, callable, float or None
    hbar, mass : float
    phase : ndarray, optional
        Phase ``S`` with the shape of ``density``.
    mask : float
        Relative density cut (in [0, 1)).
    free_phase_constant : bool

    Returns
    -------
    float
        ~ truncation error for an exact solution; O(1) for a density that merely diffuses.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(-15, 15, 256, endpoint=False)
    >>> psi0 = np.exp(-(x - 2) ** 2 / 2) / np.pi**0.25
    >>> snaps = split_step(psi0, x, 0.5 * x**2, 1.0, 1.0, 0.01, 30, every=1)
    >>> schrodinger_residual(snaps, x, 0.01, 0.5 * x**2, 1.0, 1.0) < 1e-3
    True
    """
    axes = grid_axes(grid)
    shape = tuple(ax.size for ax in axes)
    arr = np.asarray(density)
    if arr.ndim != len(shape) + 1 or arr.shape[1:] != shape or arr.shape[0] < 3:
        raise ValueError(f"density: shape {arr.shape}; expected (T >= 3, *{shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError("density: NaN/Inf values; expected finite snapshots")
    hbar = check_positive("hbar", hbar)
    mass = check_positive("mass", mass)
    dt = check_positive("dt", dt)
    if not 0 <= mask < 1:
        raise ValueError(f"mask: {mask!r}; expected a number in [0, 1)")
    if np.iscomplexobj(arr):
        if phase is not None:
            raise ValueError("phase: given with a complex density; pass a real density or no phase")
        psi = arr.astype(complex)
    else:
        if phase is None:
            phase = np.zeros_like(arr, dtype=float)
        phase = np.asarray(phase, dtype=float)
        if phase.shape != arr.shape:
            raise ValueError(f"phase: shape {phase.shape}; expected {arr.shape}")
        psi = wavefunction(arr, phase, hbar)
    v = potential_on_grid(V, axes)
    kmesh = grid_wavenumbers(axes)
    k2 = sum(k**2 for k in kmesh)
    ax_t = tuple(range(1, psi.ndim))
    lap = np.fft.ifftn(-k2 * np.fft.fftn(psi, axes=ax_t), axes=ax_t)
    mid = psi[1:-1]
    dpsi = 1j * hbar * (psi[2:] - psi[:-2]) / (2 * dt)
    hpsi = -(hbar**2) / (2 * mass) * lap[1:-1] + v * mid
    r = dpsi - hpsi
    rho = np.abs(mid) ** 2
    keep = rho >= mask * rho.max(axis=ax_t, keepdims=True)
    if free_phase_constant:
        num = np.sum(np.real(np.conj(mid) * r) * keep, axis=ax_t, keepdims=True)
        den = np.sum(rho * keep, axis=ax_t, keepdims=True)
        r = r - num / np.where(den > 0, den, 1.0) * mid
    nr = np.sqrt(np.sum(np.abs(r) ** 2 * keep))
    scale = np.sqrt(np.sum(np.abs(dpsi) ** 2 * keep)) + np.sqrt(np.sum(np.abs(hpsi) ** 2 * keep))
    return float(nr / scale) if scale > 0 else float("nan")
