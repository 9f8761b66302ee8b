"""Schrödinger-side diagnostics: propagation, residuals, real-time signatures, hbar routes.

Units and conventions (stated once for the whole module)
--------------------------------------------------------
* Time is ``t = step * dt`` (``dt = 1`` for simulator data, one learning step per unit of time).
* ``hbar`` has units of [potential] x [time]; ``mass`` is the inertia in ``v = grad S / m``.
  Only ``hbar / mass`` and ``V / hbar`` enter the dynamics, so a fit that gives ``hbar_over_m``
  is used with an explicit ``mass`` (default 1): ``hbar = hbar_over_m * mass``.
* The Nelson diffusion constant is ``D = hbar / (2 m)``; the circulation quantum is
  ``kappa = 2 pi hbar / m``; the free-energy branch spacing gives ``hbar = |mu_c| / (2 pi)``.
* Grids are uniform and periodic (the split-step box); a 2-D grid is a tuple ``(x, y)`` and
  2-D fields are indexed ``[ix, iy]`` (``numpy.meshgrid(x, y, indexing="ij")``).
* Densities on a grid are probability densities (``sum(rho) * cell_volume = 1``).

Every comparison between an ensemble and a predicted density is reported divided by its
sampling-noise floor (NUMERICS.md 1.6): the same metric between that many exact samples of the
prediction and the prediction itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage, optimize, signal, stats

from analysis.trajectory import to_array
from analysis.validation import as_generator, check_integer, check_positive

__all__ = [
    "EvolutionComparison",
    "HbarRoutes",
    "QuantizationScore",
    "RealtimeSignatures",
    "compare_evolution",
    "consistency_gap",
    "hbar_routes",
    "quantization_score",
    "realtime_signatures",
    "schrodinger_residual",
    "split_step",
    "wavefunction",
]

Grid = np.ndarray | Sequence[np.ndarray]
Potential = np.ndarray | Callable[..., np.ndarray] | float | None


# ----------------------------------------------------------------------------------------------
# grid helpers (shared with analysis.controls)
# ----------------------------------------------------------------------------------------------


def _axes(grid: Grid, name: str = "grid") -> tuple[np.ndarray, ...]:
    """Validate a 1-D grid or a tuple of two; return a tuple of uniform 1-D axes."""
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


def _spacing(axes: tuple[np.ndarray, ...]) -> np.ndarray:
    return np.array([ax[1] - ax[0] for ax in axes])


def _mesh(axes: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    return tuple(np.meshgrid(*axes, indexing="ij"))


def _wavenumbers(axes: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    ks = [2 * np.pi * np.fft.fftfreq(ax.size, ax[1] - ax[0]) for ax in axes]
    return tuple(np.meshgrid(*ks, indexing="ij"))


def _potential(V: Potential, axes: tuple[np.ndarray, ...], name: str = "V") -> np.ndarray:
    shape = tuple(ax.size for ax in axes)
    if V is None:
        return np.zeros(shape)
    if callable(V):
        out = np.asarray(V(*_mesh(axes)), dtype=float)
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


def _gradient(psi: np.ndarray, kmesh: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Spectral gradient of a periodic field, one array per axis."""
    f = np.fft.fftn(psi)
    return [np.fft.ifftn(1j * k * f) for k in kmesh]


def _interp(fields: Sequence[np.ndarray], axes: tuple[np.ndarray, ...], x: np.ndarray) -> list:
    """Linear (1-D) or bilinear (2-D) interpolation of gridded fields at points ``x`` (n, d).

    Points outside the grid are clamped to the edge cells.
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


def _sample_grid(
    density: np.ndarray, axes: tuple[np.ndarray, ...], n: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``n`` points from a gridded density: pick a cell, then a uniform point in it."""
    p = np.clip(np.asarray(density, dtype=float).ravel(), 0.0, None)
    if p.sum() <= 0:
        raise ValueError("density: no positive mass on the grid; expected a non-zero density")
    cells = rng.choice(p.size, size=n, p=p / p.sum())
    sub = np.unravel_index(cells, density.shape)
    h = _spacing(axes)
    pts = np.stack([axes[a][sub[a]] for a in range(len(axes))], axis=1)
    return pts + (rng.random((n, len(axes))) - 0.5) * h


# ----------------------------------------------------------------------------------------------
# propagation
# ----------------------------------------------------------------------------------------------


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
    order in time (NUMERICS.md 1.1).

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
    axes = _axes(grid)
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
    v = _potential(V, axes)
    kmesh = _wavenumbers(axes)
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
    axes = _axes(grid)
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
    v = _potential(V, axes)
    kmesh = _wavenumbers(axes)
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


# ----------------------------------------------------------------------------------------------
# Fokker-Planck propagator (finite volume drift, spectral diffusion)
# ----------------------------------------------------------------------------------------------


def _minmod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(a * b > 0, np.sign(a) * np.minimum(np.abs(a), np.abs(b)), 0.0)


class _FokkerPlanck:
    """``d rho/dt = -div(A rho) + sum_ab D_ab d_a d_b rho`` on a periodic grid.

    Drift: conservative finite volumes, minmod-limited upwind reconstruction, Heun (SSP-RK2)
    with CFL sub-cycling: positivity-preserving and mass-conserving. Diffusion (constant D):
    exact in Fourier space, Strang-split around the drift.
    """

    def __init__(self, axes: tuple[np.ndarray, ...], drift: Callable, D: np.ndarray):
        self.axes = axes
        self.h = _spacing(axes)
        self.faces = []
        mesh = _mesh(axes)
        pts = np.stack(mesh, axis=-1)
        for a in range(len(axes)):
            shifted = pts.copy()
            shifted[..., a] += 0.5 * self.h[a]
            self.faces.append(np.asarray(drift(shifted), dtype=float)[..., a])
        amax = max(float(np.max(np.abs(f))) / h for f, h in zip(self.faces, self.h, strict=True))
        self.amax = amax
        kmesh = _wavenumbers(axes)
        self.kDk = sum(
            D[a, b] * kmesh[a] * kmesh[b] for a in range(len(axes)) for b in range(len(axes))
        )

    def _rhs(self, rho: np.ndarray) -> np.ndarray:
        out = np.zeros_like(rho)
        for a, (A, h) in enumerate(zip(self.faces, self.h, strict=True)):
            slope = _minmod(rho - np.roll(rho, 1, a), np.roll(rho, -1, a) - rho)
            left = rho + 0.5 * slope
            right = np.roll(rho - 0.5 * slope, -1, a)
            flux = np.where(A > 0, A * left, A * right)
            out -= (flux - np.roll(flux, 1, a)) / h
        return out

    def advance(self, rho: np.ndarray, tau: float) -> np.ndarray:
        diff = np.exp(-0.5 * tau * self.kDk)
        rho = np.real(np.fft.ifftn(diff * np.fft.fftn(rho)))
        n_sub = max(1, int(np.ceil(tau * self.amax / 0.5)))
        s = tau / n_sub
        for _ in range(n_sub):
            r1 = rho + s * self._rhs(rho)
            rho = 0.5 * (rho + r1 + s * self._rhs(r1))
        rho = np.real(np.fft.ifftn(diff * np.fft.fftn(rho)))
        rho = np.clip(rho, 0.0, None)
        return rho / rho.sum()


# ----------------------------------------------------------------------------------------------
# compare_evolution
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvolutionComparison:
    """Result of :func:`compare_evolution`.

    Attributes
    ----------
    table : DataFrame
        Per evaluation time: ``step``, ``t``, ``hellinger_schrodinger``, ``floor_schrodinger``,
        ``ratio_schrodinger``, and the same three for ``fokker_planck``.
    schrodinger_ratio, fokker_planck_ratio : float
        Median over evaluation times after t0 of Hellinger / floor (1 = as good as exact samples).
    winner : str
        ``"schrodinger"`` or ``"fokker_planck"`` (smaller median ratio).
    hbar, mass : float
        Constants used for the Schrödinger prediction.
    drift_matrix : ndarray or None
        ``[B | c]`` of the linear drift ``A(q) = B q + c`` when linear (measured or given).
    diffusion : ndarray
        Diffusion matrix used for the Fokker-Planck prediction.
    """

    table: pd.DataFrame
    schrodinger_ratio: float
    fokker_planck_ratio: float
    winner: str
    hbar: float
    mass: float
    drift_matrix: np.ndarray | None
    diffusion: np.ndarray
    settings: dict = field(default_factory=dict)


def _resolve_hbar(hbar: float | None, mass: float | None, fit: Any) -> tuple[float, float]:
    mass = 1.0 if mass is None else check_positive("mass", mass)
    if fit is not None:
        if hbar is not None:
            raise ValueError("hbar: given together with fit; pass one of them")
        if not hasattr(fit, "hbar_over_m"):
            raise ValueError(f"fit: {type(fit).__name__} has no attribute hbar_over_m")
        return check_positive("fit.hbar_over_m", fit.hbar_over_m) * mass, mass
    if hbar is None:
        raise ValueError("hbar: None; expected a positive number (or a fit with hbar_over_m)")
    return check_positive("hbar", hbar), mass


def _scott(q: np.ndarray) -> np.ndarray:
    n, d = q.shape
    return np.std(q, axis=0) * n ** (-1.0 / (d + 4))


def _bin_index(q: np.ndarray, lo: np.ndarray, h: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Flat cell index of points ``q`` (..., d) on a grid (lower edge ``lo``, spacing ``h``)."""
    idx = np.floor((q - lo) / h).astype(np.intp)
    idx = np.clip(idx, 0, np.array(shape) - 1)
    return np.ravel_multi_index(tuple(np.moveaxis(idx, -1, 0)), shape)


def _kde_grid(
    q: np.ndarray,
    lo: np.ndarray,
    h: np.ndarray,
    shape: tuple[int, ...],
    bw: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Binned Gaussian smoothing of (weighted) point counts onto a grid (unnormalised)."""
    flat = _bin_index(q, lo, h, shape)
    counts = np.bincount(flat, weights=weights, minlength=int(np.prod(shape))).reshape(shape)
    # float: gaussian_filter keeps the input dtype, and integer counts would be truncated
    return ndimage.gaussian_filter(counts.astype(float), sigma=tuple(bw / h), mode="constant")


def _phase_from_velocity(
    v_grid: np.ndarray, axes: tuple[np.ndarray, ...], mass: float
) -> np.ndarray:
    """Phase S with grad S = m v: trapezoid integral in 1-D, least-squares (FFT Poisson) in 2-D."""
    h = _spacing(axes)
    if len(axes) == 1:
        v = v_grid[..., 0]
        S = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * h[0])])
        return mass * S
    kmesh = _wavenumbers(axes)
    k2 = sum(k**2 for k in kmesh)
    k2[(0,) * len(axes)] = 1.0
    div = sum(1j * k * np.fft.fftn(v_grid[..., a]) for a, k in enumerate(kmesh))
    S_hat = -div / k2
    S_hat[(0,) * len(axes)] = 0.0
    return mass * np.real(np.fft.ifftn(S_hat))


def _hellinger(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(1.0 - np.sum(np.sqrt(p * q), axis=-1), 0.0, None))


def _hellinger_floor(q: np.ndarray, n: int, draws: int, rng: np.random.Generator) -> float:
    """Median Hellinger distance between n exact samples of q (multinomial) and q."""
    q = np.clip(q, 0.0, None)
    q = q / q.sum()
    samp = rng.multinomial(n, q, size=draws) / n
    return float(np.median(_hellinger(samp, q[None, :])))


def _linear_drift(q: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``dq/tau = B q + c`` over all (t, replica); residual covariance / (2 tau)."""
    x = q[:-1].reshape(-1, q.shape[2])
    y = (q[1:] - q[:-1]).reshape(-1, q.shape[2])
    X = np.hstack([x, np.ones((x.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(X, y / tau, rcond=None)
    resid = y - tau * X @ coef
    D = resid.T @ resid / (resid.shape[0] * 2 * tau)
    return coef.T, np.atleast_2d(D)  # coef.T: (k, k+1) = [B | c]


def compare_evolution(
    traj: pd.DataFrame | np.ndarray,
    coords: Sequence[str] | None = None,
    dt: float = 1.0,
    *,
    hbar: float | None = None,
    mass: float | None = None,
    potential: Potential = None,
    fit: Any = None,
    drift: str | Callable | np.ndarray | tuple = "measured",
    diffusion: str | float | np.ndarray = "measured",
    t0: int | None = None,
    phase0: str | float | np.ndarray = "velocity",
    lag: int = 1,
    bins: int | None = None,
    refine: int | None = None,
    bandwidth: float | Sequence[float] | None = None,
    n_times: int = 30,
    substeps: int = 4,
    floor_draws: int = 50,
    pad: float = 0.25,
    seed: int | np.random.Generator | None = 0,
) -> EvolutionComparison:
    """Propagate the empirical state at t0 by Schrödinger and by Fokker-Planck; compare both.

    From the ensemble at recorded step index ``t0`` a density is estimated on a grid (binned
    Gaussian KDE) and, for the Schrödinger branch, a phase ``S0`` (``grad S0 = m v``, ``v`` the
    kernel-regressed central-difference velocity; NUMERICS.md 1.5). Then (a) ``psi0 =
    sqrt(rho0) exp(i S0/hbar)`` is propagated by :func:`split_step` in ``potential`` and (b)
    ``rho0`` by a Fokker-Planck equation with the drift and (constant) diffusion given or measured
    (global linear drift ``B q + c`` and residual diffusion from the forward increments). At
    ``n_times`` evaluation steps the Hellinger distance between the ensemble histogram and each
    prediction (``bins`` per axis) is divided by its sampling floor: the median Hellinger
    distance of ``R`` exact samples from that prediction (NUMERICS.md 1.6).

    Parameters
    ----------
    traj : DataFrame or ndarray
        Trajectory table (1 or 2 coordinates), recorded steps equally spaced.
    coords : sequence of str, optional
    dt : float
        Time per learning step.
    hbar, mass : float, optional
        Schrödinger constants (``mass`` default 1). Or ``fit``: any object with ``hbar_over_m``
        (e.g. a ``MadelungFit``); then ``hbar = fit.hbar_over_m * mass``.
    potential : ndarray, callable or float
        ``V(x)`` or ``V(X, Y)`` (callable; the grid is built from the data), fixed in advance.
    drift : "measured", callable, ndarray (k, k) or tuple (B, c)
        Fokker-Planck drift ``A(q)``; a callable takes ``q`` of shape (..., k).
    diffusion : "measured", float or ndarray (k, k)
    t0 : int, optional
        Index of the starting recorded step; default ``lag`` (needed for a central velocity).
    phase0 : "velocity", float or ndarray
        Initial phase: estimated from velocities, a constant (e.g. 0: released at rest) or an
        array on the comparison grid (advanced use).
    lag : int
        Lag (in recorded steps) of the central-difference velocity.
    bins, refine : int, optional
        Histogram bins per axis and grid cells per bin (defaults 48 and 8 in 1-D, 20 and 4 in 2-D).
    bandwidth : float or sequence, optional
        KDE bandwidth per axis for the initial density (default half of Scott's: a wider kernel
        inflates the variance by ``h^2``, which the Schrödinger branch turns into breathing).
    n_times : int
        Number of evaluation times (evenly spaced from t0 to the end).
    substeps : int
        Split-step steps per recorded step.
    floor_draws : int
        Parametric-bootstrap draws for each floor.
    pad : float
        Fraction of the data range added on each side of the box.
    seed : int or Generator

    Returns
    -------
    EvolutionComparison

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.controls import ou_trajectories
    >>> rng = np.random.default_rng(0)
    >>> traj = ou_trajectories(rng.normal(2.0, 0.3, (400, 1)), -np.eye(1), 0.5, 0.05, 40, seed=1)
    >>> res = compare_evolution(traj, dt=0.05, hbar=1.0, potential=lambda x: 0.5 * x**2,
    ...                         n_times=5, floor_draws=10)
    >>> res.winner
    'fokker_planck'
    """
    rng = as_generator(seed)
    hbar, mass = _resolve_hbar(hbar, mass, fit)
    dt = check_positive("dt", dt)
    lag = check_integer("lag", lag, 1)
    n_times = check_integer("n_times", n_times, 2)
    substeps = check_integer("substeps", substeps, 1)
    floor_draws = check_integer("floor_draws", floor_draws, 5)
    if not 0 <= pad <= 5:
        raise ValueError(f"pad: {pad!r}; expected a fraction in [0, 5]")
    ta = to_array(traj, coords, min_replicas=20, min_steps=3)
    q = ta.q
    T, R, k = q.shape
    if k not in (1, 2):
        raise ValueError(f"coords: {k} coordinates; compare_evolution works in 1-D or 2-D")
    dsteps = np.diff(ta.steps)
    if np.any(dsteps != dsteps[0]):
        raise ValueError("traj: recorded steps are not equally spaced; resample first")
    tau = float(dsteps[0]) * dt
    if isinstance(phase0, str) and phase0 != "velocity":
        raise ValueError(f"phase0: {phase0!r}; expected 'velocity', a number or an array")
    use_vel = isinstance(phase0, str)
    if t0 is None:
        t0 = lag if use_vel else 0
    t0 = check_integer("t0", t0, 0)
    if t0 > T - 2 or (use_vel and (t0 < lag or t0 + lag > T - 1)):
        raise ValueError(
            f"t0: {t0}; expected lag <= t0 <= T-1-lag for a velocity phase (T = {T}, lag = {lag})"
        )
    d_bins = 48 if k == 1 else 20
    d_ref = 8 if k == 1 else 4
    bins = d_bins if bins is None else check_integer("bins", bins, 4)
    refine = d_ref if refine is None else check_integer("refine", refine, 1)

    seg = q[t0:]
    lo = seg.min(axis=(0, 1))
    hi = seg.max(axis=(0, 1))
    span = np.maximum(hi - lo, 1e-12)
    lo, hi = lo - pad * span, hi + pad * span
    nf = bins * refine
    h = (hi - lo) / nf
    axes = tuple(lo[a] + (np.arange(nf) + 0.5) * h[a] for a in range(k))
    shape = (nf,) * k
    cell = float(np.prod(h))

    x0 = q[t0]
    bw = (
        0.5 * _scott(x0)
        if bandwidth is None
        else np.broadcast_to(np.asarray(bandwidth, dtype=float), (k,)).copy()
    )
    if np.any(~np.isfinite(bw)) or np.any(bw <= 0):
        raise ValueError(f"bandwidth: {bandwidth!r}; expected positive numbers")
    rho0 = _kde_grid(x0, lo, h, shape, bw)
    rho0 = rho0 / rho0.sum()

    if use_vel:
        vs = (q[t0 + lag] - q[t0 - lag]) / (2 * lag * tau)
        den = _kde_grid(x0, lo, h, shape, 2 * bw)
        vg = np.stack(
            [_kde_grid(x0, lo, h, shape, 2 * bw, weights=vs[:, a]) for a in range(k)], axis=-1
        )
        ok = den > 1e-3 * den.max()
        vg = np.where(ok[..., None], vg / np.where(ok, den, 1.0)[..., None], 0.0)
        S0 = _phase_from_velocity(vg, axes, mass)
    else:
        S0 = np.broadcast_to(np.asarray(phase0, dtype=float), shape)
        if not np.all(np.isfinite(S0)):
            raise ValueError("phase0: NaN/Inf values; expected a finite phase")
    psi = wavefunction(rho0 / cell, S0, hbar)
    Vg = _potential(potential, axes, "potential")

    # Fokker-Planck drift and diffusion
    lin = None
    if isinstance(drift, str):
        if drift != "measured":
            raise ValueError(f"drift: {drift!r}; expected 'measured', a callable, B or (B, c)")
        lin, D_meas = _linear_drift(seg, tau)
    elif callable(drift):
        D_meas = None
    else:
        if isinstance(drift, tuple):
            B, c = (
                np.atleast_2d(np.asarray(drift[0], dtype=float)),
                np.asarray(drift[1], dtype=float).reshape(-1),
            )
        else:
            B, c = np.atleast_2d(np.asarray(drift, dtype=float)), np.zeros(k)
        if B.shape != (k, k) or c.shape != (k,):
            raise ValueError(
                f"drift: matrix shape {B.shape}; expected ({k}, {k}) and offset ({k},)"
            )
        lin, D_meas = np.hstack([B, c[:, None]]), None
    if lin is not None:
        Bm, cm = lin[:, :k], lin[:, k]

        def drift_fn(x: np.ndarray) -> np.ndarray:
            return x @ Bm.T + cm
    else:
        drift_fn = drift  # type: ignore[assignment]
    if isinstance(diffusion, str):
        if diffusion != "measured":
            raise ValueError(f"diffusion: {diffusion!r}; expected 'measured', a number or a matrix")
        if D_meas is None:
            incr = (seg[1:] - seg[:-1]).reshape(-1, k)
            resid = incr - tau * np.asarray(drift_fn(seg[:-1].reshape(-1, k)))
            D_meas = resid.T @ resid / (resid.shape[0] * 2 * tau)
        Dm = np.atleast_2d(D_meas)
    else:
        Dm = np.asarray(diffusion, dtype=float)
        Dm = Dm * np.eye(k) if Dm.ndim == 0 else np.atleast_2d(Dm)
        if (
            Dm.shape != (k, k)
            or not np.all(np.isfinite(Dm))
            or np.any(np.linalg.eigvalsh(0.5 * (Dm + Dm.T)) < 0)
        ):
            raise ValueError(f"diffusion: {diffusion!r}; expected a number >= 0 or a PSD ({k},{k})")
    fp = _FokkerPlanck(axes, drift_fn, Dm)

    # propagate and compare
    evals = np.unique(np.round(np.linspace(t0, T - 1, n_times)).astype(int))
    coarse = (bins,) * k
    flat_all = _bin_index(q[evals], lo, h * refine, coarse)  # (E, R)
    nb = bins**k
    emp = np.stack([np.bincount(f, minlength=nb) for f in flat_all]) / R

    def coarsen(p: np.ndarray) -> np.ndarray:
        if k == 1:
            return p.reshape(bins, refine).sum(axis=1)
        return p.reshape(bins, refine, bins, refine).sum(axis=(1, 3)).ravel()

    rows = []
    rho = rho0.copy()
    cur = t0
    for e, idx in enumerate(evals):
        gap = int(idx - cur)
        if gap > 0:
            psi = split_step(psi, axes, Vg, hbar, mass, tau / substeps, gap * substeps)
            rho = fp.advance(rho, gap * tau)
            cur = idx
        ps = coarsen(np.abs(psi) ** 2 * cell)
        ps = ps / ps.sum()
        pf = coarsen(rho)
        hs, hf = _hellinger(emp[e], ps), _hellinger(emp[e], pf)
        fs = _hellinger_floor(ps, R, floor_draws, rng)
        ff = _hellinger_floor(pf, R, floor_draws, rng)
        rows.append(
            (ta.steps[idx], (ta.steps[idx] - ta.steps[0]) * dt, hs, fs, hs / fs, hf, ff, hf / ff)
        )
    table = pd.DataFrame(
        rows,
        columns=[
            "step",
            "t",
            "hellinger_schrodinger",
            "floor_schrodinger",
            "ratio_schrodinger",
            "hellinger_fokker_planck",
            "floor_fokker_planck",
            "ratio_fokker_planck",
        ],
    )
    later = table.iloc[1:]
    rs = float(later["ratio_schrodinger"].median())
    rf = float(later["ratio_fokker_planck"].median())
    return EvolutionComparison(
        table=table,
        schrodinger_ratio=rs,
        fokker_planck_ratio=rf,
        winner="schrodinger" if rs < rf else "fokker_planck",
        hbar=hbar,
        mass=mass,
        drift_matrix=lin,
        diffusion=Dm,
        settings={
            "t0": t0,
            "bins": bins,
            "refine": refine,
            "bandwidth": bw,
            "tau": tau,
            "phase0": "velocity" if use_vel else "given",
            "lag": lag,
        },
    )


# ----------------------------------------------------------------------------------------------
# real-time signatures
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RealtimeSignatures:
    """Result of :func:`realtime_signatures`.

    Attributes
    ----------
    table : DataFrame
        One row per signature and series: ``signature``, ``series``, ``value``, ``ci_low``,
        ``ci_high``, ``diffusion_value`` (what plain diffusion gives), ``shows`` (bool), ``note``.
    oscillation : bool
        Some moment series carries a significant, undamped line.
    ballistic : bool
        Spreading exponent of the total variance near 2 (CI excludes 1).
    fringes : bool
        Fine structure above the no-fringe null in some marginal at some time.
    energy_conserved : bool or None
        Energy functional conserved (None when no potential/hbar was given).
    """

    table: pd.DataFrame
    oscillation: bool
    ballistic: bool
    fringes: bool
    energy_conserved: bool | None


def _damped_grid(t: np.ndarray, Y: np.ndarray, n_w: int = 160, n_lam: int = 48) -> np.ndarray:
    """Variable-projection grid fit of ``c + exp(-lam t)(a cos wt + b sin wt)`` to each row of Y.

    (c, a, b) are linear; (w, lam) are searched on a grid (w from half a cycle per record to
    Nyquist/2, lam t_rec in [-1, 6]). Returns (rows, 5) = (c, a, b, w, lam).
    """
    tr = t[-1]
    w_hi = min(np.pi / (t[1] - t[0]) / 2, 60 * 2 * np.pi / tr)
    ws = np.linspace(np.pi / tr, w_hi, n_w)
    lams = np.linspace(-1.0, 6.0, n_lam) / tr
    W_, L_ = np.meshgrid(ws, lams, indexing="ij")
    W_, L_ = W_.ravel(), L_.ravel()
    env = np.exp(-L_[:, None] * t[None, :])
    X = np.stack(
        [np.ones((W_.size, t.size)), env * np.cos(W_[:, None] * t), env * np.sin(W_[:, None] * t)],
        axis=2,
    )  # (G, T, 3)
    Q, Rm = np.linalg.qr(X)
    proj = np.einsum("gtj,bt->gbj", Q, Y)  # (G, B, 3)
    best = np.argmax(np.sum(proj**2, axis=2), axis=0)  # min SSE = max projected norm
    coef = np.linalg.solve(Rm[best], proj[best, np.arange(Y.shape[0])][..., None])[..., 0]
    return np.column_stack([coef, W_[best], L_[best]])


def _damped_refine(t: np.ndarray, y: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """Least-squares refinement (analytic Jacobian) of a grid fit."""

    def parts(p: np.ndarray) -> tuple:
        c, a, b, w, lam = p
        e = np.exp(-lam * t)
        co, si = np.cos(w * t), np.sin(w * t)
        return c, a, b, e, co, si

    def resid(p: np.ndarray) -> np.ndarray:
        c, a, b, e, co, si = parts(p)
        return c + e * (a * co + b * si) - y

    def jac(p: np.ndarray) -> np.ndarray:
        _, a, b, e, co, si = parts(p)
        osc = a * co + b * si
        return np.stack(
            [np.ones_like(t), e * co, e * si, e * t * (-a * si + b * co), -t * e * osc], axis=1
        )

    out = optimize.least_squares(resid, p0, jac=jac, max_nfev=100)
    return out.x if out.success else p0


def _fringe_stat(x: np.ndarray, bins: int, window: int) -> float:
    """Pearson chi2/dof of a histogram about its Savitzky-Golay (cubic) smooth."""
    lo, hi = np.quantile(x, [0.005, 0.995])
    c = np.histogram(x, np.linspace(lo, hi, bins + 1))[0].astype(float)
    e = signal.savgol_filter(c, window, 3, mode="interp")
    ok = e >= 5
    if ok.sum() < window:
        return float("nan")
    return float(np.sum((c[ok] - e[ok]) ** 2 / e[ok]) / ok.sum())


def _energy(
    x: np.ndarray, v: np.ndarray, hbar: float, mass: float, potential: Callable, n_grid: int
) -> float:
    """E = E[m |v|^2 / 2 + V] + hbar^2 I_F / 8m from a KDE density and kernel-regressed velocity."""
    k = x.shape[1]
    bw = _scott(x)
    lo = x.min(axis=0) - 4 * bw
    hi = x.max(axis=0) + 4 * bw
    h = (hi - lo) / n_grid
    shape = (n_grid,) * k
    axes = tuple(lo[a] + (np.arange(n_grid) + 0.5) * h[a] for a in range(k))
    rho = _kde_grid(x, lo, h, shape, bw)
    vb = np.stack([_kde_grid(x, lo, h, shape, bw, weights=v[:, a]) for a in range(k)], axis=-1)
    ok = rho > 1e-4 * rho.max()
    vbar = np.where(ok[..., None], vb / np.where(ok, rho, 1.0)[..., None], 0.0)
    cell = float(np.prod(h))
    rho = rho / (rho.sum() * cell)
    grads = np.gradient(rho, *h) if k > 1 else [np.gradient(rho, h[0])]
    fisher = np.sum(np.where(ok, sum(g**2 for g in grads) / np.where(ok, rho, 1.0), 0.0)) * cell
    Vg = _potential(potential, axes, "potential")
    kin = 0.5 * mass * np.sum(rho * np.sum(vbar**2, axis=-1)) * cell
    pot = np.sum(rho * Vg) * cell
    return float(kin + pot + hbar**2 * fisher / (8 * mass))


def realtime_signatures(
    traj: pd.DataFrame | np.ndarray,
    coords: Sequence[str] | None = None,
    dt: float = 1.0,
    *,
    hbar: float | None = None,
    mass: float | None = None,
    potential: Callable | None = None,
    fit: Any = None,
    spread_window: int | None = None,
    fringe_bins: int | None = None,
    fringe_window: int = 15,
    n_times: int = 40,
    energy_times: int = 12,
    lag: int = 1,
    n_boot: int = 40,
    seed: int | np.random.Generator | None = 0,
) -> RealtimeSignatures:
    """Real-time discriminators between Schrödinger and diffusive dynamics (NUMERICS.md 2.8).

    * **Lines**: ``<q_i>(t)`` and ``<q_i^2>(t)`` fitted by ``c + e^{-lam t}(a cos wt + b sin wt)``
      (start from the periodogram peak). Reported value: persistence ``exp(-lam t_record)`` (1 =
      undamped). A line "shows" when its amplitude is significant (CI excludes 0, > 4 bootstrap
      SE), it completes >= 1.5 cycles and the persistence CI reaches 0.8. Plain diffusion: no line
      (relaxation has real rates only; persistence of a line 0).
    * **Spreading**: exponent ``alpha`` of ``Var_total(t) - Var_total(0) = A t^alpha`` over the
      first ``spread_window`` steps (least squares on the linear scale, alpha in [0.2, 4]).
      Ballistic 2 (quantum free packet, ``(hbar t / 2 m sigma0)^2``) vs diffusive 1.
    * **Fringes**: per coordinate, the largest over ``n_times`` times of the Pearson chi2/dof of the
      histogram about a cubic Savitzky-Golay smooth (``fringe_window`` bins), divided by the same
      statistic's mean on exact multinomial draws from the smooth (the no-fringe null, 1).
      It "shows" above the null's 99% quantile of the maximum over times (family-wise).
    * **Energy** (only with ``hbar``, ``potential``): ``E = E[m v^2/2 + V] + hbar^2 I_F / 8m``
      (NUMERICS.md 2.1), ``v`` the kernel-regressed central-difference velocity, ``I_F`` the
      Fisher information of a KDE; value = relative change ``slope * t_record / |mean E|``.
      Conserved when its magnitude is below 0.1; a relaxing diffusion gives a negative value.

    CIs are bootstrap 2.5-97.5% over replicas (fringes: the null's spread).

    Parameters
    ----------
    traj : DataFrame or ndarray
    coords : sequence of str, optional
    dt : float
        Time per learning step.
    hbar, mass, potential, fit :
        For the energy functional only (``fit.hbar_over_m`` like :func:`compare_evolution`).
    spread_window : int, optional
        Steps used for the spreading exponent (default a quarter of the record, >= 8).
    fringe_bins : int, optional
        Histogram bins for fringes (default ``clip(R / 25, 30, 200)``).
    fringe_window : int
        Savitzky-Golay window (odd, bins); fringes finer than about a third of it are detected.
    n_times, energy_times : int
        Evaluation times for fringes and energy.
    lag : int
        Central-difference lag for velocities.
    n_boot : int
    seed : int or Generator

    Returns
    -------
    RealtimeSignatures

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.controls import ou_trajectories
    >>> traj = ou_trajectories(np.zeros((500, 1)), 0.0, 0.5, 0.1, 60, seed=0)
    >>> sig = realtime_signatures(traj, dt=0.1, n_boot=10)
    >>> sig.oscillation, sig.ballistic, sig.fringes
    (False, False, False)
    """
    rng = as_generator(seed)
    dt = check_positive("dt", dt)
    n_boot = check_integer("n_boot", n_boot, 5)
    n_times = check_integer("n_times", n_times, 1)
    lag = check_integer("lag", lag, 1)
    fringe_window = check_integer("fringe_window", fringe_window, 5)
    if fringe_window % 2 == 0:
        raise ValueError(f"fringe_window: {fringe_window}; expected an odd integer >= 5")
    ta = to_array(traj, coords, min_replicas=20, min_steps=12)
    q = ta.q
    T, R, k = q.shape
    t = (ta.steps - ta.steps[0]) * dt
    rows: list[tuple] = []
    W = rng.multinomial(R, np.full(R, 1.0 / R), size=n_boot) / R  # bootstrap weights (B, R)

    # --- lines of <q> and <q^2>
    osc = False
    series = {}
    for a in range(k):
        series[f"<{ta.coords[a]}>"] = q[:, :, a]
        series[f"<{ta.coords[a]}^2>"] = q[:, :, a] ** 2
    for name, Y in series.items():
        y = Y.mean(axis=1)
        boots = W @ Y.T  # (B, T)
        grid_fit = _damped_grid(t, np.vstack([y[None, :], boots]))
        p = _damped_refine(t, y, grid_fit[0])
        bp = grid_fit[1:]
        amp = np.hypot(p[1], p[2])
        bamp = np.hypot(bp[:, 1], bp[:, 2])
        pers = np.exp(-p[4] * t[-1])
        bpers = np.exp(-bp[:, 4] * t[-1])
        cycles = p[3] * t[-1] / (2 * np.pi)
        se_amp = np.std(bamp)
        lo_p, hi_p = np.quantile(bpers, [0.025, 0.975])
        shows = bool(amp > 4 * se_amp and cycles >= 1.5 and hi_p >= 0.8 and lo_p > 0.3)
        osc |= shows
        note = f"omega={p[3]:.4g}, amplitude={amp:.3g}+-{se_amp:.2g}, cycles={cycles:.2f}"
        rows.append(
            ("line_persistence", name, float(pers), float(lo_p), float(hi_p), 0.0, shows, note)
        )

    # --- spreading exponent of the total variance
    Wn = T // 4 if spread_window is None else check_integer("spread_window", spread_window, 4)
    Wn = int(min(max(Wn, 8), T - 1))
    pts = np.arange(1, Wn + 1)
    qs = q[: Wn + 1]

    grid_a = np.linspace(0.2, 4.0, 381)
    tt = t[pts]
    basis = tt[None, :] ** grid_a[:, None]  # (A, P)

    def alpha_of(wts: np.ndarray) -> float:
        m1 = np.einsum("r,trk->tk", wts, qs)
        m2 = np.einsum("r,trk->tk", wts, qs**2)
        var = np.sum(m2 - m1**2, axis=1)
        dv = var[pts] - var[0]
        if np.max(dv) <= 0:
            return float("nan")
        # least squares of dv = A t^alpha on the linear scale (noise-robust at small t)
        amp = basis @ dv / np.sum(basis**2, axis=1)
        sse = np.sum((amp[:, None] * basis - dv[None, :]) ** 2, axis=1)
        return float(grid_a[int(np.argmin(sse))])

    alpha = alpha_of(np.full(R, 1.0 / R))
    ba = np.array([alpha_of(w) for w in W])
    ba = ba[np.isfinite(ba)]
    a_lo, a_hi = np.quantile(ba, [0.025, 0.975]) if ba.size >= 5 else (np.nan, np.nan)
    ballistic = bool(np.isfinite(alpha) and alpha > 1.5 and a_lo > 1.0)
    rows.append(
        (
            "spreading_exponent",
            "Var_total",
            alpha,
            float(a_lo),
            float(a_hi),
            1.0,
            ballistic,
            f"first {Wn} steps; ballistic 2, diffusive 1",
        )
    )

    # --- fringes
    fb = (
        int(np.clip(R // 25, 30, 200))
        if fringe_bins is None
        else check_integer("fringe_bins", fringe_bins, 10)
    )
    if fringe_window >= fb:
        raise ValueError(f"fringe_window: {fringe_window}; expected < fringe_bins = {fb}")
    times = np.unique(np.round(np.linspace(0, T - 1, min(n_times, T))).astype(int))
    n_null = 100
    fringes = False
    for a in range(k):
        obs = np.array([_fringe_stat(q[i, :, a], fb, fringe_window) for i in times])
        null = np.empty((n_null, times.size))
        for j, i in enumerate(times):
            x = q[i, :, a]
            lo, hi = np.quantile(x, [0.005, 0.995])
            c = np.histogram(x, np.linspace(lo, hi, fb + 1))[0].astype(float)
            e = np.clip(signal.savgol_filter(c, fringe_window, 3, mode="interp"), 0.0, None)
            draws = rng.multinomial(int(c.sum()), e / e.sum(), size=n_null).astype(float)
            es = signal.savgol_filter(draws, fringe_window, 3, axis=1, mode="interp")
            ok = es >= 5
            null[:, j] = np.sum(
                np.where(ok, (draws - es) ** 2 / np.where(ok, es, 1.0), 0.0), axis=1
            ) / np.maximum(ok.sum(axis=1), 1)
        mean_null = null.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = obs / mean_null
        if not np.any(np.isfinite(ratio)):
            # e.g. two far-apart clusters: every bin between them is too sparse to test
            rows.append(
                (
                    "fringe_excess",
                    ta.coords[a],
                    float("nan"),
                    float("nan"),
                    float("nan"),
                    1.0,
                    False,
                    "not computable: no histogram bin has enough counts at any time",
                )
            )
            continue
        jmax = int(np.nanargmax(ratio))
        val = float(ratio[jmax])
        null_max = np.nanmax(null / mean_null, axis=1)
        q99 = float(np.quantile(null_max, 0.99))
        spread = null[:, jmax] / mean_null[jmax]
        lo_f, hi_f = val - (np.quantile(spread, 0.975) - 1), val + (1 - np.quantile(spread, 0.025))
        shows = bool(val > q99)
        fringes |= shows
        rows.append(
            (
                "fringe_excess",
                ta.coords[a],
                val,
                float(lo_f),
                float(hi_f),
                1.0,
                shows,
                f"max at step {ta.steps[times[jmax]]}; null 99% of max = {q99:.3g}",
            )
        )

    # --- energy functional
    energy_ok: bool | None = None
    if potential is not None and (hbar is not None or fit is not None):
        hb, m = _resolve_hbar(hbar, mass, fit)
        if not callable(potential):
            raise ValueError("potential: not callable; expected V(x) or V(X, Y) for the energy")
        et = np.unique(np.round(np.linspace(lag, T - 1 - lag, energy_times)).astype(int))
        if et.size < 3:
            raise ValueError(f"traj: {T} steps; the energy functional needs >= 3 + 2 lag steps")
        te = t[et]
        idx_b = np.stack([rng.integers(0, R, R) for _ in range(n_boot)])
        E = np.empty(et.size)
        Eb = np.empty((n_boot, et.size))
        for j, i in enumerate(et):
            x = q[i]
            v = (q[i + lag] - q[i - lag]) / (2 * lag * (t[i + lag] - t[i]))
            E[j] = _energy(x, v, hb, m, potential, 96 if k == 1 else 40)
            for b in range(n_boot):
                Eb[b, j] = _energy(x[idx_b[b]], v[idx_b[b]], hb, m, potential, 96 if k == 1 else 40)
        span = te[-1] - te[0]

        def rel(e: np.ndarray) -> float:
            return float(np.polyfit(te, e, 1)[0] * span / abs(np.mean(e)))

        val = rel(E)
        bv = np.array([rel(e) for e in Eb])
        lo_e, hi_e = np.quantile(bv, [0.025, 0.975])
        energy_ok = bool(abs(val) < 0.1)
        rows.append(
            (
                "energy_change",
                "E",
                val,
                float(lo_e),
                float(hi_e),
                float("nan"),
                energy_ok,
                f"E mean {np.mean(E):.4g}; conserved 0, relaxing diffusion < 0",
            )
        )
    table = pd.DataFrame(
        rows,
        columns=[
            "signature",
            "series",
            "value",
            "ci_low",
            "ci_high",
            "diffusion_value",
            "shows",
            "note",
        ],
    )
    return RealtimeSignatures(table, osc, ballistic, fringes, energy_ok)


# ----------------------------------------------------------------------------------------------
# hbar routes, quantisation, consistency
# ----------------------------------------------------------------------------------------------


def _value_ci(x: Any, name: str) -> tuple[float, float, float]:
    """Accept ``v`` or ``(v, (lo, hi))``; return (v, lo, hi) (NaN bounds when absent)."""
    if isinstance(x, tuple) and len(x) == 2:
        v = float(x[0])
        lo, hi = (float(b) for b in x[1])
    else:
        v, lo, hi = float(x), np.nan, np.nan
    if not np.isfinite(v):
        raise ValueError(f"{name}: {x!r}; expected a finite value or (value, (low, high))")
    return v, lo, hi


def _circulation_quantum(G: np.ndarray, iters: int = 50) -> float:
    """Integer-label least squares for the quantum of circulations G (NUMERICS.md 3.4)."""
    a = np.abs(G)
    if a.max() <= 0:
        return float("nan")
    low = a[a <= np.quantile(a, 0.25)]
    sigma0 = 1.4826 * float(np.median(low)) if a.size >= 8 and low.size else 0.0
    big = a[a > max(5 * sigma0, 0.05 * a.max())]
    kappa = float(np.median(big))

    def iterate(k: float) -> float:
        for _ in range(iters):
            n = np.round(G / k)
            if not np.any(n):
                return float("nan")
            k_new = float(np.sum(n * G) / np.sum(n**2))
            if abs(k_new - k) < 1e-12 * abs(k):
                break
            k = k_new
        return k

    kappa = iterate(kappa)
    if not np.isfinite(kappa):
        return kappa
    win = np.linspace(0.67, 1.5, 167) * kappa
    Rw = np.abs(np.mean(np.exp(2j * np.pi * G[None, :] / win[:, None]), axis=1))
    return iterate(float(win[int(np.argmax(Rw))]))


@dataclass(frozen=True)
class HbarRoutes:
    """Result of :func:`hbar_routes`.

    Attributes
    ----------
    table : DataFrame
        ``route``, ``hbar``, ``ci_low``, ``ci_high``, ``se`` (from the CI), ``note``.
    weighted_mean : float
        Inverse-variance mean over routes with a CI (plain mean if none has one).
    chi2_dof : float
        Scatter of routes with a CI about the weighted mean / dof (1 = agreement within errors).
    p_value : float
        Chi-square p-value of that scatter (NaN with fewer than two routes with CIs).
    max_rel_spread : float
        (max - min) / weighted mean over all routes.
    agree : bool
        ``p_value > 0.01`` (or, without CIs, ``max_rel_spread < 0.1``).
    """

    table: pd.DataFrame
    weighted_mean: float
    chi2_dof: float
    p_value: float
    max_rel_spread: float
    agree: bool


def hbar_routes(
    *,
    weak_form: Any = None,
    diffusion: Any = None,
    circulations: np.ndarray | None = None,
    mu_c: Any = None,
    mass: float = 1.0,
    n_boot: int = 200,
    seed: int | np.random.Generator | None = 0,
) -> HbarRoutes:
    """hbar from independent routes side by side; their agreement is the test.

    Routes (each optional; at least two needed):

    * ``weak_form``: ``hbar`` or ``(hbar, (lo, hi))``, or a fit with ``hbar_over_m`` (and
      ``hbar_over_m_ci``): ``hbar = hbar_over_m * mass``.
    * ``diffusion`` (Nelson): ``D`` (float or (k, k) matrix: mean eigenvalue) or ``(D, (lo, hi))``;
      ``hbar = 2 m D``.
    * ``circulations``: loop circulations ``Gamma_C``; quantum ``kappa`` by integer-label least
      squares (NUMERICS.md 3.4), ``hbar = m kappa / 2 pi``, bootstrap CI over loops.
    * ``mu_c``: free-energy branch spacing: ``hbar = |mu_c| / 2 pi``.

    Parameters
    ----------
    weak_form, diffusion, circulations, mu_c : see above
    mass : float
        The mass convention (state it: e.g. ``m = 1 / (2 gamma)`` or ``m = 1``).
    n_boot : int
    seed : int or Generator

    Returns
    -------
    HbarRoutes

    Examples
    --------
    >>> r = hbar_routes(weak_form=(0.70, (0.66, 0.74)), diffusion=(0.35, (0.33, 0.37)),
    ...                 mu_c=2 * 3.141592653589793 * 0.7)
    >>> r.agree, round(r.weighted_mean, 2)
    (True, 0.7)
    """
    mass = check_positive("mass", mass)
    n_boot = check_integer("n_boot", n_boot, 10)
    rng = as_generator(seed)
    rows = []
    if weak_form is not None:
        if hasattr(weak_form, "hbar_over_m"):
            v = check_positive("weak_form.hbar_over_m", weak_form.hbar_over_m)
            ci = getattr(weak_form, "hbar_over_m_ci", (np.nan, np.nan))
            lo, hi = (float(c) for c in ci)
            rows.append(("weak_form", v * mass, lo * mass, hi * mass, "hbar_over_m * mass"))
        else:
            v, lo, hi = _value_ci(weak_form, "weak_form")
            rows.append(("weak_form", v, lo, hi, "given"))
    if diffusion is not None:
        if isinstance(diffusion, tuple):
            v, lo, hi = _value_ci(diffusion, "diffusion")
        else:
            Dm = np.asarray(diffusion, dtype=float)
            if not np.all(np.isfinite(Dm)) or Dm.ndim not in (0, 2):
                raise ValueError(f"diffusion: {diffusion!r}; expected a number or a (k, k) matrix")
            v = float(Dm) if Dm.ndim == 0 else float(np.mean(np.linalg.eigvalsh(Dm)))
            lo = hi = np.nan
        if v <= 0:
            raise ValueError(f"diffusion: {diffusion!r}; expected a positive diffusion constant")
        rows.append(("nelson_2mD", 2 * mass * v, 2 * mass * lo, 2 * mass * hi, "hbar = 2 m D"))
    if circulations is not None:
        G = np.asarray(circulations, dtype=float).ravel()
        if G.size < 5 or not np.all(np.isfinite(G)):
            raise ValueError(f"circulations: {G.size} values (or NaN); expected >= 5 finite loops")
        kap = _circulation_quantum(G)
        idx = rng.integers(0, G.size, (n_boot, G.size))
        bk = np.array([_circulation_quantum(G[i]) for i in idx])
        bk = bk[np.isfinite(bk)]
        lo, hi = np.quantile(bk, [0.025, 0.975]) if bk.size >= 10 else (np.nan, np.nan)
        f = mass / (2 * np.pi)
        rows.append(("circulation", kap * f, lo * f, hi * f, "hbar = m kappa / 2 pi"))
    if mu_c is not None:
        v, lo, hi = _value_ci(mu_c, "mu_c")
        if v == 0:
            raise ValueError("mu_c: 0; expected a non-zero chemical potential")
        b = sorted([abs(lo), abs(hi)]) if np.isfinite(lo) else [np.nan, np.nan]
        rows.append(
            (
                "branch_spacing",
                abs(v) / (2 * np.pi),
                b[0] / (2 * np.pi),
                b[1] / (2 * np.pi),
                "hbar = |mu_c| / 2 pi",
            )
        )
    if len(rows) < 2:
        raise ValueError(
            f"routes: {len(rows)} given; expected at least two of weak_form, "
            "diffusion, circulations, mu_c"
        )
    tab = pd.DataFrame(rows, columns=["route", "hbar", "ci_low", "ci_high", "note"])
    tab.insert(4, "se", (tab["ci_high"] - tab["ci_low"]) / (2 * 1.96))
    vals = tab["hbar"].to_numpy()
    se = tab["se"].to_numpy()
    has = np.isfinite(se) & (se > 0)
    if has.sum() >= 1:
        w = 1 / se[has] ** 2
        mean = float(np.sum(w * vals[has]) / np.sum(w))
    else:
        mean = float(np.mean(vals))
    if has.sum() >= 2:
        chi2 = float(np.sum((vals[has] - mean) ** 2 / se[has] ** 2))
        dof = int(has.sum() - 1)
        chi2_dof, p = chi2 / dof, float(stats.chi2.sf(chi2, dof))
    else:
        chi2_dof, p = float("nan"), float("nan")
    spread = float((vals.max() - vals.min()) / abs(mean)) if np.all(np.isfinite(vals)) else np.nan
    agree = bool(p > 0.01) if np.isfinite(p) else bool(spread < 0.1)
    return HbarRoutes(tab, mean, chi2_dof, p, spread, agree)


@dataclass(frozen=True)
class QuantizationScore:
    """Result of :func:`quantization_score`.

    Attributes
    ----------
    n_loops, n_excluded : int
        Loops with counts != 0 (used) and with counts == 0 (excluded: trivially "quantised").
    slope, slope_ci : float, tuple
        Least-squares slope (through the origin) of values on counts * unit (1 if quantised),
        bootstrap CI over loops.
    r2 : float
        R^2 of that fit (uncentred).
    rayleigh : float
        ``|mean exp(2 pi i values / unit)|`` over the used loops.
    rayleigh_null : float
        ``sqrt(pi / (4 n))``: its expectation for phases uniform on the circle.
    rayleigh_p : float
        Rayleigh-test p-value.
    control_rayleigh, control_slope : float
        The same statistics on the control (the given ``control`` or counts shuffled across loops).
    quantized : bool
        ``n >= 5``, ``rayleigh_p < 0.01``, slope CI containing 1, ``r2 > 0.9``, and the slope
        beating the control.
    """

    n_loops: int
    n_excluded: int
    slope: float
    slope_ci: tuple[float, float]
    r2: float
    rayleigh: float
    rayleigh_null: float
    rayleigh_p: float
    control_rayleigh: float
    control_slope: float
    quantized: bool


def _rayleigh(values: np.ndarray, unit: float) -> tuple[float, float]:
    n = values.size
    if n == 0:
        return float("nan"), float("nan")
    R = float(np.abs(np.mean(np.exp(2j * np.pi * values / unit))))
    Rn = n * R
    p = float(np.exp(np.sqrt(1 + 4 * n + 4 * (n**2 - Rn**2)) - (1 + 2 * n)))  # Zar (1999)
    return R, min(max(p, 0.0), 1.0)


def _slope_r2(values: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    if x.size == 0 or not np.any(x):
        return float("nan"), float("nan")
    s = float(np.sum(x * values) / np.sum(x**2))
    ss = float(np.sum(values**2))
    r2 = 1 - float(np.sum((values - s * x) ** 2)) / ss if ss > 0 else float("nan")
    return s, r2


def quantization_score(
    values: np.ndarray,
    counts: np.ndarray,
    unit: float,
    *,
    control: tuple[np.ndarray, np.ndarray] | None = None,
    n_boot: int = 500,
    seed: int | np.random.Generator | None = 0,
) -> QuantizationScore:
    """Are loop free-energy changes integer multiples of ``unit`` (mu_c) times the neuron change?

    Only loops with ``counts != 0`` count: values near 0 from loops without neuron change are
    trivially "on the comb" and are excluded (NUMERICS.md 3.5, FEASIBILITY.md 5). Statistics:
    slope and R^2 of values against ``counts * unit`` (through the origin), and the Rayleigh
    statistic of ``exp(2 pi i values / unit)`` against its uniform-phase null ``sqrt(pi/(4n))``.
    The control is a fixed-N or shuffled run ``(values, counts)``; without one, the counts are
    shuffled across loops (it breaks the value-count link but keeps both distributions).

    Parameters
    ----------
    values : ndarray
        Free-energy change around each loop.
    counts : ndarray of int
        Net neuron change on each loop.
    unit : float
        The quantum (mu_c), non-zero.
    control : (values, counts), optional
    n_boot : int
    seed : int or Generator

    Returns
    -------
    QuantizationScore

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> n = rng.integers(-3, 4, 200)
    >>> s = quantization_score(n * 0.5 + rng.normal(0, 0.02, 200), n, 0.5)
    >>> s.quantized, round(s.slope, 2)
    (True, 1.0)
    """
    rng = as_generator(seed)
    v = np.asarray(values, dtype=float).ravel()
    c = np.asarray(counts).ravel()
    if v.shape != c.shape:
        raise ValueError(f"counts: {c.size} entries; expected one per value ({v.size})")
    if not np.all(np.isfinite(v)):
        raise ValueError("values: NaN/Inf entries; expected finite free-energy changes")
    cf = c.astype(float) if c.dtype.kind in "biuf" else np.full(c.shape, np.nan)
    if not np.all(np.isfinite(cf)) or np.any(cf != np.round(cf)):
        raise ValueError("counts: non-integer entries; expected net neuron changes (integers)")
    unit = float(unit)
    if not np.isfinite(unit) or unit == 0:
        raise ValueError(f"unit: {unit!r}; expected a finite non-zero quantum (mu_c)")
    n_boot = check_integer("n_boot", n_boot, 10)
    c = c.astype(float)
    use = c != 0
    vu, cu = v[use], c[use]
    n = int(use.sum())
    slope, r2 = _slope_r2(vu, cu * unit)
    R, p = _rayleigh(vu, unit)
    if n >= 3:
        idx = rng.integers(0, n, (n_boot, n))
        xs = cu[idx] * unit
        den = np.sum(xs**2, axis=1)
        bs = np.sum(xs * vu[idx], axis=1)[den > 0] / den[den > 0]
        ci = tuple(float(b) for b in np.quantile(bs, [0.025, 0.975]))
    else:
        ci = (float("nan"), float("nan"))
    if control is not None:
        cv = np.asarray(control[0], dtype=float).ravel()
        cc = np.asarray(control[1], dtype=float).ravel()
        if cv.shape != cc.shape or not np.all(np.isfinite(cv)):
            raise ValueError("control: expected (values, counts) of equal length, finite")
        cu_mask = cc != 0
        c_slope, _ = _slope_r2(cv[cu_mask], cc[cu_mask] * unit)
        c_R, _ = _rayleigh(cv[cu_mask], unit)
    else:
        c_slope, _ = _slope_r2(vu, rng.permutation(cu) * unit) if n else (np.nan, np.nan)
        c_R, _ = _rayleigh(rng.permutation(v)[:n], unit) if n else (np.nan, np.nan)
    beats = not np.isfinite(c_slope) or abs(slope - 1) < abs(c_slope - 1)
    quantized = bool(n >= 5 and p < 0.01 and ci[0] <= 1 <= ci[1] and r2 > 0.9 and beats)
    return QuantizationScore(
        n_loops=n,
        n_excluded=int(v.size - n),
        slope=slope,
        slope_ci=ci,
        r2=r2,
        rayleigh=R,
        rayleigh_null=float(np.sqrt(np.pi / (4 * n))) if n else float("nan"),
        rayleigh_p=p,
        control_rayleigh=c_R,
        control_slope=c_slope,
        quantized=quantized,
    )


def consistency_gap(hbar_madelung: Any, mu_c: float, mass: float | None = None) -> float:
    """Relative gap ``(hbar - |mu_c|/2pi) / (|mu_c|/2pi)`` between the Madelung hbar and mu_c.

    Parameters
    ----------
    hbar_madelung : float or object
        hbar itself, or a fit with ``hbar_over_m`` (then ``mass`` is required).
    mu_c : float
        Configured chemical potential (non-zero).
    mass : float, optional
        The mass convention used to turn ``hbar_over_m`` into hbar.

    Returns
    -------
    float
        0 when the two definitions agree (PHYSICS.md 4); signed.

    Examples
    --------
    >>> round(consistency_gap(1.1, 2 * 3.141592653589793), 6)
    0.1
    """
    if hasattr(hbar_madelung, "hbar_over_m"):
        if mass is None:
            raise ValueError("mass: None; a fit gives hbar_over_m, so state the mass convention")
        hbar = check_positive(
            "hbar_madelung.hbar_over_m", hbar_madelung.hbar_over_m
        ) * check_positive("mass", mass)
    else:
        hbar = check_positive("hbar_madelung", hbar_madelung)
    mu = float(mu_c)
    if not np.isfinite(mu) or mu == 0:
        raise ValueError(f"mu_c: {mu_c!r}; expected a finite non-zero chemical potential")
    ref = abs(mu) / (2 * np.pi)
    return float((hbar - ref) / ref)
