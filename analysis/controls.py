"""Reference data and shared controls: positive controls, nulls and noise floors.

Every diagnostic should run on a positive control beside the simulator's data:

* :func:`nelson_trajectories` -- Nelson's stochastic mechanics driven by the split-step solution;
  its density is ``|psi(t)|^2`` at every time (quantum signatures must show).
* :func:`harmonic_nelson` -- the standard positive control of the scenarios: Nelson
  trajectories of an oscillating 2-D harmonic superposition with a known hbar.
* :func:`bohmian_trajectories` -- deterministic guidance ``v = (hbar/m) Im(grad psi / psi)``.
* :func:`ou_trajectories` -- a pure diffusion / Ornstein-Uhlenbeck ensemble (the classical null).
* :func:`noise_floor` -- the value of a statistic on exact samples of the same size.

and beside a null that keeps what the claim does not depend on and breaks what it does:

* :func:`replica_shuffled` -- replicas permuted independently at every step: the density at
  every step is kept, trajectories (and with them any flow) are destroyed.
* :func:`increment_shuffled` -- every step's increments reassigned to random replicas: the
  noise and the mean drift are kept, a position-dependent drift is destroyed.
* :func:`block_shuffle` -- per-step permutations of the replicas within blocks (one packet per
  block): each block keeps its density, trajectories are destroyed.

The nulls and :func:`harmonic_nelson` take a ``numpy.random.Generator`` from their caller and
draw from it in a fixed order, so a caller decides (and keeps) its random stream.

Units: recorded step ``s`` is time ``s * dt``; ``hbar`` and ``mass`` as in
:mod:`analysis.schrodinger` (Nelson diffusion ``D = hbar / 2m``). Tables come from
:func:`analysis.trajectory.to_frame` (columns ``step, replica, q_0[, q_1]``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
from analysis.validation import check_generator, check_integer, check_positive, rng_arg

__all__ = [
    "NoiseFloor",
    "block_shuffle",
    "bohmian_trajectories",
    "harmonic_nelson",
    "increment_shuffled",
    "nelson_trajectories",
    "noise_floor",
    "ou_trajectories",
    "replica_shuffled",
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


@rng_arg("seed")
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
    velocity, docs/methods.md#nelson-process) is taken from the split-step solution (``psi`` and its
    spectral gradient interpolated at each replica). Initial points are drawn from ``|psi0|^2``; the
    density then stays ``|psi(t)|^2`` up to the Euler-Maruyama error of the ``dt / substeps`` step.

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
    seed : int, SeedSequence, Generator or None
        Random state; a Generator is used as it is (draws continue the caller's stream).
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
    rng: np.random.Generator = seed
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


@rng_arg("seed")
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
    rng: np.random.Generator = seed
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


@rng_arg("seed")
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
    seed : int, SeedSequence, Generator or None
        Random state; a Generator is used as it is (draws continue the caller's stream).
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
    rng: np.random.Generator = seed
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


@rng_arg("seed")
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
    seed : int, SeedSequence, Generator or None
        Random state; a Generator is used as it is (draws continue the caller's stream).

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
    rng: np.random.Generator = seed
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


# ----------------------------------------------------------------------------------------------
# positive control: the oscillating harmonic superposition
# ----------------------------------------------------------------------------------------------


def harmonic_nelson(
    replicas: int,
    steps: int,
    rng: np.random.Generator,
    *,
    hbar: float,
    dt: float,
    omega: tuple[float, float] = (1.0, math.sqrt(2.0)),
    points: int = 64,
    substeps: int = 20,
) -> pd.DataFrame:
    """Nelson trajectories of an oscillating 2-D harmonic superposition with a known hbar.

    ``psi0 = (phi_0(x) + phi_1(x)) phi_0(y)`` (normalised) in ``V = (w_x^2 x^2 + w_y^2 y^2) / 2``
    with mass 1, where ``phi_n`` are the oscillator eigenstates of frequency ``w_x`` along ``x``
    and ``w_y`` along ``y``. The packet oscillates along ``x`` with
    ``<x>(t) = sqrt(hbar / (2 w_x)) cos(w_x t)`` and keeps its ground-state width
    ``Var y = hbar / (2 w_y)`` along ``y``: every quantum signature must show, and a Madelung
    fit must recover ``hbar``. The grid has ``points`` points per axis on ``[-8, 8] sqrt(hbar)``.

    Parameters
    ----------
    replicas : int
        Number of trajectories.
    steps : int
        Recorded steps after the initial one.
    rng : numpy.random.Generator
        The caller's stream; all draws (initial points, then the Brownian increments) come from
        it, as in :func:`nelson_trajectories`.
    hbar : float
        Planck's constant of the control.
    dt : float
        Time between recorded steps.
    omega : (float, float)
        Frequencies ``(w_x, w_y)``.
    points : int
        Grid points per axis.
    substeps : int
        Integrator steps per recorded step.

    Returns
    -------
    DataFrame
        Trajectory table ``step, replica, q_0, q_1``.

    Examples
    --------
    >>> import numpy as np
    >>> df = harmonic_nelson(2000, 16, np.random.default_rng(0), hbar=0.05, dt=0.2)
    >>> x = df[df.step == 16].q_0.mean()  # sqrt(hbar / 2) cos(3.2) = -0.158
    >>> bool(abs(x + 0.158) < 0.02)
    True
    """
    hbar = check_positive("hbar", hbar)
    points = check_integer("points", points, 8)
    rng = check_generator("rng", rng)
    sx = math.sqrt(hbar)
    x = np.linspace(-8 * sx, 8 * sx, points)
    y = np.linspace(-8 * sx, 8 * sx, points)
    X, Y = np.meshgrid(x, y, indexing="ij")
    wx, wy = (check_positive(f"omega[{i}]", w) for i, w in enumerate(omega))
    g0x = np.exp(-wx * X**2 / (2 * hbar))
    g1x = X * g0x * math.sqrt(2 * wx / hbar)
    g0y = np.exp(-wy * Y**2 / (2 * hbar))
    psi = (g0x + g1x) * g0y
    dA = (x[1] - x[0]) * (y[1] - y[0])
    psi = psi / np.sqrt((np.abs(psi) ** 2).sum() * dA)
    V = 0.5 * (wx**2 * X**2 + wy**2 * Y**2)
    return nelson_trajectories(
        psi.astype(complex), (x, y), V, hbar, 1.0, dt, steps, replicas, rng, substeps=substeps
    )


# ----------------------------------------------------------------------------------------------
# nulls: shuffled replicas and increments
# ----------------------------------------------------------------------------------------------


def replica_shuffled(q: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replicas permuted independently at every step: densities kept, trajectories destroyed.

    Row ``t`` of the result is ``q[t, rng.permutation(R)]``, one permutation per step drawn in
    step order. Every step keeps its set of points (so every one-time statistic is unchanged),
    while the link between a replica's positions at successive steps is cut: a flow, a
    velocity or a drift measured along trajectories becomes noise.

    Parameters
    ----------
    q : ndarray, shape (T, R, ...)
        Steps first, replicas second (e.g. ``to_array(traj).q``, or ``(T, R)`` samples).
    rng : numpy.random.Generator
        The caller's stream (``T`` calls of ``permutation(R)``).

    Returns
    -------
    ndarray
        The shape and dtype of ``q``.

    Examples
    --------
    >>> import numpy as np
    >>> q = np.cumsum(np.random.default_rng(0).normal(size=(200, 500)), axis=0)
    >>> s = replica_shuffled(q, np.random.default_rng(1))
    >>> bool(np.array_equal(np.sort(s, axis=1), np.sort(q, axis=1)))  # densities kept
    True
    >>> c = lambda a: np.corrcoef(a[100], a[101])[0, 1]
    >>> round(float(c(q)), 2), bool(abs(c(s)) < 0.15)  # successive positions: linked, then not
    (1.0, True)
    """
    q = np.asarray(q)
    if q.ndim < 2:
        raise ValueError(f"q: shape {q.shape}; expected (T, R, ...) with steps first")
    rng = check_generator("rng", rng)
    out = np.empty_like(q)
    for t in range(q.shape[0]):
        out[t] = q[t, rng.permutation(q.shape[1])]
    return out


def increment_shuffled(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each step's increments reassigned to random replicas: drift field destroyed, noise kept.

    ``Y_0 = X_0`` and ``Y_{t+1} = Y_t + (X_{t+1} - X_t)[pi_t]`` with an independent random
    permutation ``pi_t`` of the replicas at every step (``argsort`` of one ``rng.random((T - 1,
    R))`` array). Every step keeps the same set of increments (noise and mean drift), but an
    increment no longer depends on the position it is applied at, so the drift Jacobian of the
    result is zero up to sampling noise (free diffusion).

    Parameters
    ----------
    X : ndarray, shape (T, R, d)
        Steps, replicas, coordinates; ``T >= 2``.
    rng : numpy.random.Generator
        The caller's stream (one ``random((T - 1, R))`` call).

    Returns
    -------
    ndarray, shape (T, R, d)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.empty((60, 400, 1)); x[0] = rng.normal(size=(400, 1))
    >>> for t in range(59):  # contracting drift -0.5 x
    ...     x[t + 1] = x[t] - 0.5 * x[t] + rng.normal(size=(400, 1))
    >>> y = increment_shuffled(x, np.random.default_rng(1))
    >>> slope = lambda a: np.polyfit(a[:-1].ravel(), np.diff(a, axis=0).ravel(), 1)[0]
    >>> round(float(slope(x)), 1), bool(abs(slope(y)) < 0.05)
    (-0.5, True)
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 3 or X.shape[0] < 2:
        raise ValueError(f"X: shape {X.shape}; expected (T >= 2, R, d)")
    rng = check_generator("rng", rng)
    inc = np.diff(X, axis=0)
    perm = np.argsort(rng.random(inc.shape[:2]), axis=1)
    inc = np.take_along_axis(inc, perm[:, :, None], axis=1)
    return np.concatenate([X[:1], X[:1] + np.cumsum(inc, axis=0)])


def block_shuffle(
    blocks: Sequence[np.ndarray], n_steps: int, rng: np.random.Generator
) -> np.ndarray:
    """Per-step permutations of the replicas within contiguous blocks, shape (n_steps, R).

    Row ``t`` maps new replica index -> old one, and every block keeps its own replicas (for
    example one injected packet per block: each block keeps its density, its trajectories are
    destroyed). The permutations are ``argsort`` of ``rng.random((n_steps, R))`` plus the block
    number, drawn in one call. Apply them with
    ``numpy.take_along_axis(q, perms[steps][:, :, None], axis=1)``.

    Parameters
    ----------
    blocks : sequence of arrays of int
        The replica indices of each block, in order: together ``0 .. R-1``, each block
        contiguous (e.g. ``numpy.array_split(numpy.arange(R), n_blocks)``).
    n_steps : int
        Number of permutations (rows).
    rng : numpy.random.Generator
        The caller's stream.

    Returns
    -------
    ndarray of int, shape (n_steps, R)

    Examples
    --------
    >>> import numpy as np
    >>> p = block_shuffle(np.array_split(np.arange(16), 2), 3, np.random.default_rng(0))
    >>> p.shape, sorted(p[0, :8].tolist()) == list(range(8))
    ((3, 16), True)
    """
    parts = [np.asarray(b) for b in blocks]
    if not parts or any(b.ndim != 1 or b.dtype.kind not in "iu" for b in parts):
        raise ValueError("blocks: expected a non-empty sequence of 1-D integer index arrays")
    replicas = int(sum(b.size for b in parts))
    if not np.array_equal(np.concatenate(parts), np.arange(replicas)):
        raise ValueError(
            f"blocks: expected contiguous blocks that together list 0 .. {replicas - 1} in order"
        )
    n_steps = check_integer("n_steps", n_steps, 0)
    rng = check_generator("rng", rng)
    block_id = np.empty(replicas, dtype=int)
    for b, rows in enumerate(parts):
        block_id[rows] = b
    keys = rng.random((n_steps, replicas)) + block_id[None, :]
    return np.argsort(keys, axis=1)
