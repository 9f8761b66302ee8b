"""Reference data in the trajectory-table format: positive and negative controls.

Every diagnostic should run on a positive control beside the simulator's data:

* :func:`nelson_trajectories` -- Nelson's stochastic mechanics driven by the split-step solution;
  its density is ``|psi(t)|^2`` at every time (quantum signatures must show).
* :func:`bohmian_trajectories` -- deterministic guidance ``v = (hbar/m) Im(grad psi / psi)``.
* :func:`ou_trajectories` -- a pure diffusion / Ornstein-Uhlenbeck ensemble (the classical null).
* :func:`noise_floor` -- the value of a statistic on exact samples of the same size.

Units: recorded step ``s`` is time ``s * dt``; ``hbar`` and ``mass`` as in
:mod:`analysis.schrodinger` (Nelson diffusion ``D = hbar / 2m``). Tables come from
:func:`analysis.trajectory.to_frame` (columns ``step, replica, q_0[, q_1]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import expm

from analysis.schrodinger import (
    Grid,
    Potential,
    grid_axes,
    grid_interpolate,
    grid_spacing,
    grid_wavenumbers,
    potential_on_grid,
    sample_grid,
    spectral_gradient,
)
from analysis.trajectory import to_frame
from analysis.validation import as_generator, check_integer, check_positive

__all__ = [
    "NoiseFloor",
    "bohmian_trajectories",
    "nelson_trajectories",
    "noise_floor",
    "ou_trajectories",
]


def _setup(psi0, grid, V, hbar, mass, dt, steps, replicas, substeps, rng):
    """Checked arguments, the split-step propagator and the first positions drawn from |psi0|^2.

    Returns ``(axes, psi, hbar, mass, h, steps, substeps, (advance, kmesh), x0, out)`` with
    ``out`` the empty ``(steps + 1, replicas, d)`` record whose row 0 is ``x0``.
    """
    axes = grid_axes(grid)
    shape = tuple(ax.size for ax in axes)
    psi = np.asarray(psi0)
    if psi.shape != shape:
        raise ValueError(f"psi0: shape {psi.shape}; expected the grid shape {shape}")
    if not np.all(np.isfinite(psi)):
        raise ValueError("psi0: NaN/Inf values; expected a finite wave function")
    norm = float(np.sum(np.abs(psi) ** 2) * np.prod(grid_spacing(axes)))
    if norm <= 0:
        raise ValueError("psi0: zero everywhere; expected a normalisable wave function")
    hbar = check_positive("hbar", hbar)
    mass = check_positive("mass", mass)
    dt = check_positive("dt", dt)
    steps = check_integer("steps", steps, 1)
    replicas = check_integer("replicas", replicas, 1)
    substeps = check_integer("substeps", substeps, 1)
    v = potential_on_grid(V, axes)
    kmesh = grid_wavenumbers(axes)
    k2 = sum(k**2 for k in kmesh)
    h = dt / substeps
    half = np.exp(-0.5j * v * h / hbar)
    kin = np.exp(-0.5j * hbar * k2 * h / mass)

    def advance(p: np.ndarray) -> np.ndarray:
        return half * np.fft.ifftn(kin * np.fft.fftn(half * p))

    psi = psi.astype(complex) / np.sqrt(norm)
    x = sample_grid(np.abs(psi) ** 2, axes, replicas, rng)
    out = np.empty((steps + 1, replicas, len(axes)))
    out[0] = x
    return axes, psi, hbar, mass, h, steps, substeps, (advance, kmesh), x, out


def _guidance(psi, kmesh, axes, x, hbar_m, osmotic: bool) -> np.ndarray:
    """(hbar/m) (Im [+ Re]) (grad psi / psi) at points x, from interpolated psi and grad psi."""
    vals = grid_interpolate([psi, *spectral_gradient(psi, kmesh)], axes, x)
    p = vals[0]
    den = np.abs(p) ** 2
    den = np.maximum(den, 1e-300)
    out = np.empty_like(x)
    for a in range(x.shape[1]):
        z = np.conj(p) * vals[1 + a] / den
        out[:, a] = hbar_m * (z.imag + (z.real if osmotic else 0.0))
    return out


def nelson_trajectories(
    psi0: np.ndarray,
    grid: Grid,
    V: Potential,
    hbar: float,
    mass: float,
    dt: float,
    steps: int,
    replicas: int,
    seed: int | np.random.Generator | None = 0,
    *,
    substeps: int = 10,
) -> pd.DataFrame:
    """Nelson's stochastic mechanics for ``psi``: ``dX = b dt + sqrt(hbar/m) dW``.

    The forward drift ``b = (hbar/m)(Im + Re)(grad psi / psi) = v + u`` (current plus osmotic
    velocity, NUMERICS.md 2.6) is taken from the split-step solution (``psi`` and its spectral
    gradient interpolated at each replica). Initial points are drawn from ``|psi0|^2``; the density
    then stays ``|psi(t)|^2`` up to the Euler-Maruyama error of the ``dt / substeps`` step.

    Parameters
    ----------
    psi0 : ndarray, complex
        Initial wave function on ``grid`` (normalised internally).
    grid : ndarray or tuple of two
        Uniform periodic grid; it must contain ``psi`` at all times.
    V : ndarray, callable, float or None
    hbar, mass : float
    dt : float
        Time between recorded steps.
    steps : int
        Number of recorded steps after the initial one (the table has ``steps + 1`` steps).
    replicas : int
    seed : int or Generator
    substeps : int
        Integrator steps per recorded step (split-step and Euler-Maruyama share them).

    Returns
    -------
    DataFrame
        Trajectory table ``step, replica, q_0[, q_1]``; step ``s`` is time ``s * dt``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(-10, 10, 256, endpoint=False)
    >>> psi0 = np.exp(-x**2 / 2) / np.pi**0.25                  # HO ground state
    >>> df = nelson_trajectories(psi0, x, 0.5 * x**2, 1.0, 1.0, 0.1, 20, 2000, seed=1)
    >>> round(float(df[df.step == 20].q_0.var()), 1)             # stays 1/2
    0.5
    """
    rng = as_generator(seed)
    axes, psi, hbar, mass, h, steps, substeps, (advance, kmesh), x, out = _setup(
        psi0, grid, V, hbar, mass, dt, steps, replicas, substeps, rng
    )
    noise = np.sqrt(hbar / mass * h)
    for s in range(1, steps + 1):
        for _ in range(substeps):
            b = _guidance(psi, kmesh, axes, x, hbar / mass, osmotic=True)
            x = x + b * h + noise * rng.standard_normal(x.shape)
            psi = advance(psi)
        out[s] = x
    return to_frame(out)


def bohmian_trajectories(
    psi0: np.ndarray,
    grid: Grid,
    V: Potential,
    hbar: float,
    mass: float,
    dt: float,
    steps: int,
    replicas: int,
    seed: int | np.random.Generator | None = 0,
    *,
    substeps: int = 10,
) -> pd.DataFrame:
    """Bohmian trajectories: ``dX/dt = (hbar/m) Im(grad psi / psi)``, Heun integration.

    Initial points are drawn from ``|psi0|^2`` (the only randomness); the density stays
    ``|psi(t)|^2`` (equivariance). Parameters and return value as in
    :func:`nelson_trajectories`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(-20, 20, 512, endpoint=False)
    >>> psi0 = np.exp(-x**2 / 4) / (2 * np.pi) ** 0.25          # free packet, sigma0 = 1
    >>> df = bohmian_trajectories(psi0, x, None, 1.0, 1.0, 0.5, 4, 3000, seed=0)
    >>> round(float(df[df.step == 4].q_0.var()), 1)             # 1 + (t / 2)^2 = 2
    2.0
    """
    rng = as_generator(seed)
    axes, psi, hbar, mass, h, steps, substeps, (advance, kmesh), x, out = _setup(
        psi0, grid, V, hbar, mass, dt, steps, replicas, substeps, rng
    )
    hm = hbar / mass
    v0 = _guidance(psi, kmesh, axes, x, hm, osmotic=False)
    for s in range(1, steps + 1):
        for _ in range(substeps):
            nxt = advance(psi)
            pred = x + h * v0
            v1 = _guidance(nxt, kmesh, axes, pred, hm, osmotic=False)
            x = x + 0.5 * h * (v0 + v1)
            psi = nxt
            v0 = _guidance(psi, kmesh, axes, x, hm, osmotic=False)
        out[s] = x
    return to_frame(out)


def ou_trajectories(
    q0: np.ndarray,
    drift: np.ndarray | float,
    diffusion: np.ndarray | float,
    dt: float,
    steps: int,
    seed: int | np.random.Generator | None = 0,
    *,
    center: np.ndarray | float = 0.0,
) -> pd.DataFrame:
    """Ornstein-Uhlenbeck / pure diffusion ``dq = B (q - c) dt + sqrt(2 D) dW``, sampled exactly.

    The transition over ``dt`` is exact (``exp(B dt)`` and the Van Loan covariance integral), so
    any ``dt`` is allowed; ``B = 0`` gives free diffusion (variance grows as ``2 D t``).

    Parameters
    ----------
    q0 : ndarray, shape (R, k) or (R,)
        Initial positions of the R replicas (e.g. one or two clusters).
    drift : ndarray (k, k) or float
        Drift matrix ``B`` (a float means ``B = drift * I``).
    diffusion : ndarray (k, k) or float
        Diffusion matrix ``D`` (symmetric positive semi-definite).
    dt : float
        Time between recorded steps.
    steps : int
        Number of recorded steps after the initial one.
    seed : int or Generator
    center : ndarray (k,) or float
        Fixed point ``c``.

    Returns
    -------
    DataFrame
        Trajectory table with ``steps + 1`` steps.

    Examples
    --------
    >>> import numpy as np
    >>> df = ou_trajectories(np.zeros((4000, 1)), 0.0, 0.5, 1.0, 4, seed=0)
    >>> bool(abs(df[df.step == 4].q_0.var() - 4.0) < 0.3)       # 2 D t = 4
    True
    """
    rng = as_generator(seed)
    x = np.asarray(q0, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"q0: shape {np.shape(q0)}; expected (replicas, k) or (replicas,)")
    if not np.all(np.isfinite(x)):
        raise ValueError("q0: NaN/Inf values; expected finite initial positions")
    R, k = x.shape
    B = np.asarray(drift, dtype=float)
    B = B * np.eye(k) if B.ndim == 0 else np.atleast_2d(B)
    D = np.asarray(diffusion, dtype=float)
    D = D * np.eye(k) if D.ndim == 0 else np.atleast_2d(D)
    if B.shape != (k, k) or not np.all(np.isfinite(B)):
        raise ValueError(f"drift: shape {B.shape}; expected a finite float or ({k}, {k}) matrix")
    if D.shape != (k, k) or not np.all(np.isfinite(D)) or not np.allclose(D, D.T):
        raise ValueError(f"diffusion: shape {D.shape}; expected a symmetric ({k}, {k}) matrix")
    if np.min(np.linalg.eigvalsh(D)) < -1e-12:
        raise ValueError("diffusion: negative eigenvalue; expected positive semi-definite")
    c = np.broadcast_to(np.asarray(center, dtype=float), (k,))
    dt = check_positive("dt", dt)
    steps = check_integer("steps", steps, 1)
    # Van Loan: expm([[-B, 2D], [0, B^T]] dt) -> F = expm(B dt), cov = F @ G12
    M = np.zeros((2 * k, 2 * k))
    M[:k, :k] = -B
    M[:k, k:] = 2 * D
    M[k:, k:] = B.T
    E = expm(M * dt)
    F = E[k:, k:].T
    cov = F @ E[:k, k:]
    cov = 0.5 * (cov + cov.T)
    w, U = np.linalg.eigh(cov)
    L = U * np.sqrt(np.clip(w, 0.0, None))
    out = np.empty((steps + 1, R, k))
    out[0] = x
    for s in range(1, steps + 1):
        x = c + (x - c) @ F.T + rng.standard_normal((R, k)) @ L.T
        out[s] = x
    return to_frame(out)


@dataclass(frozen=True)
class NoiseFloor:
    """Sampling-noise floor of a statistic: its values on exact samples of size ``n``.

    Attributes
    ----------
    median, q95 : float
        Median and 95% quantile over the draws (report ``metric / median``).
    values : ndarray
        All draws.
    n : int
    """

    median: float
    q95: float
    values: np.ndarray
    n: int


def noise_floor(
    statistic: Callable[[np.ndarray], float],
    n: int,
    reference: Callable[[np.random.Generator, int], np.ndarray] | tuple,
    *,
    draws: int = 50,
    seed: int | np.random.Generator | None = 0,
) -> NoiseFloor:
    """The value of ``statistic`` on ``n`` exact samples from the reference (parametric bootstrap).

    Parameters
    ----------
    statistic : callable
        ``statistic(samples) -> float``; samples have shape ``(n, k)``.
    n : int
        Sample size (the number of replicas of the data being judged), >= 2.
    reference : callable or tuple
        ``reference(rng, n) -> (n, k) samples``, or ``(grid, density)`` with the density on a
        1-D grid or a tuple-of-two grid (points drawn cell-uniformly).
    draws : int
        Number of bootstrap draws (>= 5).
    seed : int or Generator

    Returns
    -------
    NoiseFloor

    Examples
    --------
    >>> import numpy as np
    >>> fl = noise_floor(lambda s: abs(s.mean()), 100, lambda rng, n: rng.normal(size=(n, 1)),
    ...                  draws=200)
    >>> 0.04 < fl.median < 0.1          # ~ 0.674 / sqrt(100)
    True
    """
    rng = as_generator(seed)
    n = check_integer("n", n, 2)
    draws = check_integer("draws", draws, 5)
    if not callable(statistic):
        raise ValueError(f"statistic: {type(statistic).__name__}; expected a callable")
    if callable(reference):
        sampler = reference
    elif isinstance(reference, tuple) and len(reference) == 2:
        axes = grid_axes(reference[0], "reference grid")
        dens = np.asarray(reference[1], dtype=float)
        shape = tuple(ax.size for ax in axes)
        if dens.shape != shape or not np.all(np.isfinite(dens)) or np.any(dens < 0):
            raise ValueError(f"reference density: shape {dens.shape}; expected >= 0 on {shape}")

        def sampler(g: np.random.Generator, m: int) -> np.ndarray:
            return sample_grid(dens, axes, m, g)
    else:
        raise ValueError(
            f"reference: {type(reference).__name__}; expected a sampler or (grid, density)"
        )
    vals = np.array([float(statistic(np.asarray(sampler(rng, n)))) for _ in range(draws)])
    if not np.all(np.isfinite(vals)):
        raise ValueError("statistic: returned NaN/Inf on exact samples; expected finite values")
    return NoiseFloor(float(np.median(vals)), float(np.quantile(vals, 0.95)), vals, n)
