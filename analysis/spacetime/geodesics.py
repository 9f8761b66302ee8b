"""Do tracked localized states move on geodesics? Shooting fits on an estimated metric.

Geodesics are integrated as in :func:`analysis.geometry.geodesic` (cubic Christoffels, RK4,
affine parameter = time) and compared with straight lines and with a shuffled metric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.geometry import ChristoffelInterpolator, christoffel, rk4_step, smooth_metric
from analysis.validation import check_positive

__all__ = ["GeodesicTest", "geodesic_test"]


@dataclass(frozen=True)
class GeodesicTest:
    """Shooting fits of tracked paths by geodesics, with controls.

    Attributes
    ----------
    chi2_dof, chi2_dof_flat, chi2_dof_shuffled : float
        Pooled ``chi^2 / dof`` on the estimated metric, on a flat metric (straight lines) and on
        a shuffled metric (grid points permuted, then smoothed); about 1 means the paths are
        geodesics within the path noise. NaN when a control could not be evaluated.
    per_path, per_path_flat, per_path_shuffled : ndarray, shape (P,)
        ``chi^2 / dof`` of each path.
    x0, v0 : ndarray, shape (P, d)
        Fitted initial position and velocity ``dx/dt`` on the estimated metric.
    dof : int
        Total degrees of freedom (``sum (n_i d - 2 d)``).
    n_samples : ndarray of int, shape (P,)
        Samples of each path used: a path is cut at its first sample outside the grid box
        (the fitted geodesics themselves may leave it; see :func:`geodesic_test`).
    """

    chi2_dof: float
    chi2_dof_flat: float
    chi2_dof_shuffled: float
    per_path: np.ndarray
    per_path_flat: np.ndarray
    per_path_shuffled: np.ndarray
    x0: np.ndarray
    v0: np.ndarray
    dof: int
    n_samples: np.ndarray


_OUTSIDE = 1e4  # residuals (noise units) beyond this grow only logarithmically (no overflow)


_HUGE = 1e200  # residual of a sample whose integration overflowed (non-finite position)


_TAPER_CELLS = 2.0  # outside the box, the edge Christoffels fade as exp(-(distance / 2 cells)^2)


_STAGES = (0.25, 0.5, 1.0)  # continuation: fractions of each path fitted in turn (refits)


_RETRY_SIGMAS = 4.0  # refit a path whose chi^2 exceeds its dof by this many sd


def _extended_geodesics(
    interp: Any,
    lo: np.ndarray,
    hi: np.ndarray,
    width: np.ndarray,
    x0: np.ndarray,
    v0: np.ndarray,
    steps: int,
    dl: float,
) -> np.ndarray:
    """RK4 positions (steps + 1, ..., d) of geodesics continued smoothly beyond the grid box.

    Inside the box this is exactly :func:`analysis.geometry.geodesic` (same interpolation, same
    RK4). Outside, the Christoffels are those of the nearest box point times
    ``exp(-sum((distance / width)^2))``, so a geodesic that leaves the box keeps moving (and
    turns into a straight line far away) instead of becoming NaN: residuals grow with the
    distance to the data and the shooting fit keeps a gradient.
    """

    def accel(xx: np.ndarray, vv: np.ndarray) -> np.ndarray:
        xc = np.clip(xx, lo, hi)
        fade = np.exp(-np.sum(((xx - xc) / width) ** 2, axis=-1))
        gam = interp(np.where(np.isfinite(xc), xc, lo))
        acc = -np.einsum("...abc,...b,...c->...a", gam, vv, vv)
        return acc * fade[..., None]

    x = np.array(x0, dtype=float)
    v = np.array(v0, dtype=float)
    path = np.empty((steps + 1, *x.shape))
    path[0] = x
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(steps):
            x, v = rk4_step(accel, x, v, dl)
            path[i + 1] = x
    return path


def _levenberg_marquardt(
    integrate: Callable[[np.ndarray], np.ndarray],
    target: np.ndarray,
    mask: np.ndarray,
    sigma: np.ndarray,
    par: np.ndarray,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Batched LM of B shooting problems: target (n, B, d), mask (n, B, 1), sigma (B,),
    start par (B, 2d). Returns (chi^2, par) per problem."""
    n, B, d = target.shape

    def residuals(traj: np.ndarray) -> np.ndarray:
        """Scaled residuals (B, ..., n * d) of trajectories (n, B, ..., d)."""
        extra = traj.ndim - 3
        tgt = target.reshape(n, B, *([1] * extra), d)
        msk = mask.reshape(n, B, *([1] * extra), 1)
        sg = sigma.reshape(1, B, *([1] * extra), 1)
        with np.errstate(over="ignore", invalid="ignore"):
            r = np.where(msk, (traj - tgt) / sg, 0.0)
        r = np.where(np.isfinite(r), r, _HUGE)
        r = _OUTSIDE * np.arcsinh(r / _OUTSIDE)  # identity for |r| << _OUTSIDE, never flat
        return np.moveaxis(r, 0, -2).reshape(*traj.shape[1:-1], n * d)

    lam = np.full(B, 1e-3)
    eye = np.eye(2 * d)
    cost = np.sum(residuals(integrate(par)) ** 2, axis=-1)
    for _ in range(max_iter):
        eps = 1e-6 * np.maximum(1.0, np.abs(par))  # (B, 2d)
        pert = par[:, None, :] + eps[:, :, None] * eye[None]  # (B, 2d, 2d)
        r_all = residuals(integrate(np.concatenate([par[:, None, :], pert], axis=1)))
        r0 = r_all[:, 0]
        jac = (r_all[:, 1:] - r0[:, None]) / eps[:, :, None]  # (B, 2d, m)
        a = np.einsum("pkm,plm->pkl", jac, jac)
        grad = np.einsum("pkm,pm->pk", jac, r0)
        damp = lam[:, None, None] * (a * eye + 1e-12 * eye)
        with np.errstate(over="ignore", invalid="ignore"):
            step = -np.linalg.solve(a + damp, grad[..., None])[..., 0]
        step = np.where(np.isfinite(step), step, 0.0)
        trial = par + step
        new_cost = np.sum(residuals(integrate(trial)) ** 2, axis=-1)
        better = new_cost < cost
        change = np.abs(cost - new_cost) <= 1e-9 * np.maximum(cost, 1e-300)
        par = np.where(better[:, None], trial, par)
        cost = np.where(better, new_cost, cost)
        lam = np.where(better, lam / 3, lam * 4)
        small_step = np.max(np.abs(step) / np.maximum(1.0, np.abs(par)), axis=1) < 1e-10
        if np.all(change | small_step | (lam > 1e8)):
            break
    return cost, par


def _starts(p: np.ndarray, dt: float) -> np.ndarray:
    """Initial (x0, v0) candidates (3, 2d) of one path: a line through the first samples, a line
    through the whole path (its value at t = 0), and the first finite difference."""
    d = p.shape[1]
    t = np.arange(len(p)) * dt
    k = min(len(p), 5)
    local = np.polyfit(t[:k], p[:k], 1)  # (2, d): slope, intercept
    whole = np.polyfit(t, p, 1)
    out = np.empty((3, 2 * d))
    out[0, :d], out[0, d:] = p[0], local[0]
    out[1, :d], out[1, d:] = whole[1], whole[0]
    out[2, :d], out[2, d:] = p[0], (p[1] - p[0]) / dt
    return out


def _line_chi2(p: np.ndarray, sigma: float, dt: float) -> float:
    """chi^2 of the least-squares straight line through a path (the flat-metric fit)."""
    tt = np.arange(len(p)) * dt
    design = np.stack([np.ones_like(tt), tt], axis=1)
    coef, *_ = np.linalg.lstsq(design, p, rcond=None)
    return float(np.sum(((p - design @ coef) / sigma) ** 2))


def _shoot_all(
    g: np.ndarray,
    spacing: np.ndarray,
    origin: np.ndarray,
    paths: list[np.ndarray],
    sigma: np.ndarray,
    dt: float,
    substeps: int,
    max_iter: int = 60,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched Levenberg-Marquardt shooting of all paths; returns (chi^2, x0, v0) per path.

    Geodesics are integrated by :func:`_extended_geodesics` (smooth continuation beyond the
    grid box, so iterates that leave it still have a gradient). Every path is first fitted from
    a line through its first samples. A path whose chi^2 then exceeds its dof by more than
    ``_RETRY_SIGMAS`` standard deviations, or exceeds the straight-line chi^2, is refitted from
    all starts of :func:`_starts`, each by continuation over growing prefixes of the path
    (``_STAGES``); the smallest chi^2 on the whole path wins. Every LM iteration integrates all
    paths, starts and finite-difference perturbations at once.
    """
    gamma = christoffel(g, spacing)
    d = paths[0].shape[1]
    lengths = np.array([len(p) for p in paths])
    lo = origin
    hi = origin + spacing * (np.array(g.shape[:d]) - 1)
    width = _TAPER_CELLS * spacing
    interp = ChristoffelInterpolator(gamma, spacing, origin, 3)

    def fit(
        sel: list[np.ndarray], sg: np.ndarray, par: np.ndarray, stages: Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        lens = np.array([len(p) for p in sel])
        nmax = int(lens.max())
        target = np.zeros((nmax, len(sel), d))
        for i, p in enumerate(sel):
            target[: len(p), i] = p
        cost = np.full(len(sel), np.inf)
        for frac in stages:
            upto = np.maximum(np.minimum(lens, 3), np.ceil(frac * lens).astype(int))
            n = int(upto.max())
            mask = (np.arange(n)[:, None] < upto[None, :])[..., None]

            def integrate(q: np.ndarray, n: int = n) -> np.ndarray:
                """Positions (n, *q.shape[:-1], d) for parameter sets q (..., 2d)."""
                out = _extended_geodesics(
                    interp,
                    lo,
                    hi,
                    width,
                    q[..., :d],
                    q[..., d:],
                    (n - 1) * substeps,
                    dt / substeps,
                )
                return out[::substeps]

            cost, par = _levenberg_marquardt(integrate, target[:n], mask, sg, par, max_iter)
        return cost, par

    starts = np.stack([_starts(p, dt) for p in paths])  # (P, S, 2d)
    cost, par = fit(paths, sigma, starts[:, 0].copy(), (1.0,))
    dof = lengths * d - 2 * d
    line = np.array([_line_chi2(p, s, dt) for p, s in zip(paths, sigma, strict=True)])
    good = (cost <= dof + _RETRY_SIGMAS * np.sqrt(2.0 * np.maximum(dof, 1))) & (cost <= line)
    retry = np.flatnonzero(~good)
    if retry.size:
        S = starts.shape[1]
        sel = [paths[i] for i in retry for _ in range(S)]
        c2, p2 = fit(sel, np.repeat(sigma[retry], S), starts[retry].reshape(-1, 2 * d), _STAGES)
        c2 = np.where(np.isfinite(c2), c2, np.inf).reshape(len(retry), S)
        best = np.argmin(c2, axis=1)
        c2 = c2[np.arange(len(retry)), best]
        p2 = p2.reshape(len(retry), S, 2 * d)[np.arange(len(retry)), best]
        win = c2 < cost[retry]
        cost[retry[win]] = c2[win]
        par[retry[win]] = p2[win]
    return cost, par[:, :d], par[:, d:]


def geodesic_test(
    paths: np.ndarray | Sequence[np.ndarray],
    g: np.ndarray,
    spacing: float | Sequence[float],
    origin: float | Sequence[float],
    path_noise: float | Sequence[float],
    dt: float = 1.0,
    *,
    substeps: int = 2,
    shuffle_smoothing: float = 1.0,
    seed: int = 0,
) -> GeodesicTest:
    """Do tracked localized states move on geodesics of the estimated metric?

    Each path (positions sampled every ``dt``) is fitted by shooting (docs/methods.md#geodesic-fit):
    the initial position and velocity of a geodesic of ``g`` (RK4 as in
    :func:`analysis.geometry.geodesic`, cubic Christoffels, ``substeps`` steps per sample, affine
    parameter = time) are optimised by Levenberg-Marquardt on the position residuals divided by
    ``path_noise``. The same fit is done on a flat metric (a straight line) and on a shuffled metric
    (grid points randomly permuted, then smoothed with ``shuffle_smoothing`` cells, so that it stays
    differentiable).

    Only the samples before a path's first sample outside the grid box are fitted
    (``n_samples``). A trial geodesic may still leave the box (a poor starting guess, a
    strongly curved or near-degenerate metric): it is continued beyond the box with the
    Christoffels of the nearest box point, faded to zero over two grid cells (so it turns
    into a straight line), and keeps its own coordinates, so the residuals grow with the
    distance to the data and the fit keeps a gradient. Residuals beyond 1e4 noise units grow
    logarithmically (no overflow). The fit starts from a line through the first samples; a path
    whose chi^2 then exceeds its dof by more than 4 standard deviations, or exceeds the
    straight-line chi^2, is refitted from three
    starts (that line, a line through the whole path, the first difference), each by
    continuation over the first 25 %, 50 % and 100 % of its samples, and the best is kept.

    Parameters
    ----------
    paths : ndarray (P, n, d) or sequence of (n_i, d) arrays
        Tracked positions (replica-cluster centres or packet centroids), n_i >= 3.
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Estimated metric (e.g. :func:`local_metric` ``.g``).
    spacing, origin : float or sequence of d floats
    path_noise : float or sequence of P floats
        Standard deviation of the position noise per coordinate.
    dt : float
        Time between path samples.
    substeps : int
        RK4 steps per sample interval.
    shuffle_smoothing : float
        Smoothing (cells) of the shuffled-metric control.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    GeodesicTest

    Examples
    --------
    >>> import numpy as np
    >>> g = np.broadcast_to(np.eye(2), (9, 9, 2, 2))
    >>> t = np.arange(10)[:, None] * 0.5
    >>> path = np.array([1.0, 2.0]) + t * np.array([0.5, 0.3])
    >>> path = path + 1e-3 * np.random.default_rng(0).normal(size=path.shape)
    >>> res = geodesic_test([path], g, 1.0, 0.0, 1e-3, dt=0.5)
    >>> bool(0.3 < res.chi2_dof < 3)
    True
    """
    dt = check_positive("dt", dt)
    g = np.asarray(g, dtype=float)
    if g.ndim < 4 or g.shape[-1] != g.shape[-2] or g.ndim != g.shape[-1] + 2:
        raise ValueError(f"g: shape {g.shape}; expected (n_0, ..., n_{{d-1}}, d, d)")
    d = g.shape[-1]
    h = np.broadcast_to(np.asarray(spacing, dtype=float), (d,)).copy()
    o = np.broadcast_to(np.asarray(origin, dtype=float), (d,)).copy()
    plist = [np.asarray(p, dtype=float) for p in paths]
    if not plist:
        raise ValueError("paths: empty; expected at least one path")
    for i, p in enumerate(plist):
        if p.ndim != 2 or p.shape[1] != d or p.shape[0] < 3:
            raise ValueError(f"paths: path {i} has shape {p.shape}; expected (n >= 3, {d})")
        if not np.all(np.isfinite(p)):
            raise ValueError(f"paths: path {i} contains NaN/Inf; expected finite positions")
    sig = np.broadcast_to(np.asarray(path_noise, dtype=float), (len(plist),))
    if not np.all(np.isfinite(sig)) or np.any(sig <= 0):
        raise ValueError(f"path_noise: {np.asarray(path_noise).tolist()}; expected numbers > 0")
    if isinstance(substeps, bool) or not isinstance(substeps, (int, np.integer)) or substeps < 1:
        raise ValueError(f"substeps: {substeps!r}; expected an integer >= 1")
    lo = o
    hi = o + h * (np.array(g.shape[:d]) - 1)
    used = np.empty(len(plist), dtype=int)
    for i, p in enumerate(plist):
        out = ~np.all((p >= lo) & (p <= hi), axis=1)
        used[i] = int(np.argmax(out)) if out.any() else len(p)
        if used[i] < 3:
            raise ValueError(
                f"paths: path {i} has {used[i]} sample(s) inside the metric grid box "
                f"[{lo.tolist()}, {hi.tolist()}]; expected at least 3 before it leaves"
            )
        plist[i] = p[: used[i]]
    dofs = np.array([p.size - 2 * d for p in plist])
    chi, x0, v0 = _shoot_all(g, h, o, plist, sig, dt, substeps)
    chi_flat = np.array([_line_chi2(p, s, dt) for p, s in zip(plist, sig, strict=True)])
    rng = np.random.default_rng(seed)
    flat_g = g.reshape(-1, d, d)
    shuffled = flat_g[rng.permutation(len(flat_g))].reshape(g.shape)
    chi_shuf = np.full(len(plist), np.nan)
    try:
        shuffled = smooth_metric(shuffled, shuffle_smoothing)
        chi_shuf = _shoot_all(shuffled, h, o, plist, sig, dt, substeps)[0]
    except ValueError:  # the shuffled control is degenerate somewhere
        chi_shuf[:] = np.nan
    total = float(dofs.sum())
    return GeodesicTest(
        chi2_dof=float(chi.sum() / total),
        chi2_dof_flat=float(chi_flat.sum() / total),
        chi2_dof_shuffled=float(np.sum(chi_shuf) / total),
        per_path=chi / dofs,
        per_path_flat=chi_flat / dofs,
        per_path_shuffled=chi_shuf / dofs,
        x0=x0,
        v0=v0,
        dof=int(total),
        n_samples=used,
    )
