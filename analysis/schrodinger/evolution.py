"""Schrödinger against Fokker-Planck: both propagate the ensemble's state from one time, and
each prediction is compared with the ensemble relative to its sampling-noise floor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.schrodinger.density import (
    bin_index,
    hellinger,
    hellinger_floor,
    kde_grid,
    phase_from_velocity,
    scott_bandwidth,
)
from analysis.schrodinger.grid import (
    Potential,
    grid_mesh,
    grid_spacing,
    grid_wavenumbers,
    potential_on_grid,
)
from analysis.schrodinger.hbar import resolve_hbar
from analysis.schrodinger.propagation import split_step, wavefunction
from analysis.trajectory import to_array
from analysis.validation import check_integer, check_positive, rng_arg

__all__ = ["EvolutionComparison", "compare_evolution"]


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
        self.h = grid_spacing(axes)
        self.faces = []
        mesh = grid_mesh(axes)
        pts = np.stack(mesh, axis=-1)
        for a in range(len(axes)):
            shifted = pts.copy()
            shifted[..., a] += 0.5 * self.h[a]
            self.faces.append(np.asarray(drift(shifted), dtype=float)[..., a])
        amax = max(float(np.max(np.abs(f))) / h for f, h in zip(self.faces, self.h, strict=True))
        self.amax = amax
        kmesh = grid_wavenumbers(axes)
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


def _linear_drift(q: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``dq/tau = B q + c`` over all (t, replica); residual covariance / (2 tau)."""
    x = q[:-1].reshape(-1, q.shape[2])
    y = (q[1:] - q[:-1]).reshape(-1, q.shape[2])
    X = np.hstack([x, np.ones((x.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(X, y / tau, rcond=None)
    resid = y - tau * X @ coef
    D = resid.T @ resid / (resid.shape[0] * 2 * tau)
    return coef.T, np.atleast_2d(D)  # coef.T: (k, k+1) = [B | c]


@rng_arg("seed")
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
    kernel-regressed central-difference velocity; docs/methods.md#ensemble-to-wave-function). Then
    (a) ``psi0 = sqrt(rho0) exp(i S0/hbar)`` is propagated by :func:`split_step` in ``potential``
    and (b) ``rho0`` by a Fokker-Planck equation with the drift and (constant) diffusion given or
    measured (global linear drift ``B q + c`` and residual diffusion from the forward increments).
    At ``n_times`` evaluation steps the Hellinger distance between the ensemble histogram and each
    prediction (``bins`` per axis) is divided by its sampling floor: the median Hellinger distance
    of ``R`` exact samples from that prediction (docs/methods.md#noise-floors).

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
    seed : int, SeedSequence, Generator or None
        Random state; a Generator is used as it is (draws continue the caller's stream).

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
    rng: np.random.Generator = seed
    hbar, mass = resolve_hbar(hbar, mass, fit)
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
        0.5 * scott_bandwidth(x0)
        if bandwidth is None
        else np.broadcast_to(np.asarray(bandwidth, dtype=float), (k,)).copy()
    )
    if np.any(~np.isfinite(bw)) or np.any(bw <= 0):
        raise ValueError(f"bandwidth: {bandwidth!r}; expected positive numbers")
    rho0 = kde_grid(x0, lo, h, shape, bw)
    rho0 = rho0 / rho0.sum()

    if use_vel:
        vs = (q[t0 + lag] - q[t0 - lag]) / (2 * lag * tau)
        den = kde_grid(x0, lo, h, shape, 2 * bw)
        vg = np.stack(
            [kde_grid(x0, lo, h, shape, 2 * bw, weights=vs[:, a]) for a in range(k)], axis=-1
        )
        ok = den > 1e-3 * den.max()
        vg = np.where(ok[..., None], vg / np.where(ok, den, 1.0)[..., None], 0.0)
        S0 = phase_from_velocity(vg, axes, mass)
    else:
        S0 = np.broadcast_to(np.asarray(phase0, dtype=float), shape)
        if not np.all(np.isfinite(S0)):
            raise ValueError("phase0: NaN/Inf values; expected a finite phase")
    psi = wavefunction(rho0 / cell, S0, hbar)
    Vg = potential_on_grid(potential, axes, "potential")

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
    flat_all = bin_index(q[evals], lo, h * refine, coarse)  # (E, R)
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
        hs, hf = hellinger(emp[e], ps), hellinger(emp[e], pf)
        fs = hellinger_floor(ps, R, floor_draws, rng)
        ff = hellinger_floor(pf, R, floor_draws, rng)
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
