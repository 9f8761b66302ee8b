"""Real-time signatures that tell Schrödinger dynamics from diffusion: undamped lines,
ballistic spreading, interference fringes and a conserved energy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, signal

from analysis.schrodinger.density import kde_grid, scott_bandwidth
from analysis.schrodinger.grid import potential_on_grid
from analysis.schrodinger.hbar import resolve_hbar
from analysis.trajectory import to_array
from analysis.validation import check_integer, check_positive, rng_arg

__all__ = ["RealtimeSignatures", "realtime_signatures"]


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
    bw = scott_bandwidth(x)
    lo = x.min(axis=0) - 4 * bw
    hi = x.max(axis=0) + 4 * bw
    h = (hi - lo) / n_grid
    shape = (n_grid,) * k
    axes = tuple(lo[a] + (np.arange(n_grid) + 0.5) * h[a] for a in range(k))
    rho = kde_grid(x, lo, h, shape, bw)
    vb = np.stack([kde_grid(x, lo, h, shape, bw, weights=v[:, a]) for a in range(k)], axis=-1)
    ok = rho > 1e-4 * rho.max()
    vbar = np.where(ok[..., None], vb / np.where(ok, rho, 1.0)[..., None], 0.0)
    cell = float(np.prod(h))
    rho = rho / (rho.sum() * cell)
    grads = np.gradient(rho, *h) if k > 1 else [np.gradient(rho, h[0])]
    fisher = np.sum(np.where(ok, sum(g**2 for g in grads) / np.where(ok, rho, 1.0), 0.0)) * cell
    Vg = potential_on_grid(potential, axes, "potential")
    kin = 0.5 * mass * np.sum(rho * np.sum(vbar**2, axis=-1)) * cell
    pot = np.sum(rho * Vg) * cell
    return float(kin + pot + hbar**2 * fisher / (8 * mass))


@rng_arg("seed")
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
    """Real-time discriminators between Schrödinger and diffusive dynamics
    (docs/methods.md#real-time-signatures).

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
      (docs/physics.md#imaginary-time-versus-real-time), ``v`` the kernel-regressed
      central-difference velocity, ``I_F`` the Fisher information of a KDE; value = relative
      change ``slope * t_record / |mean E|``.
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
    seed : int, SeedSequence, Generator or None
        Random state; a Generator is used as it is (draws continue the caller's stream).

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
    rng: np.random.Generator = seed
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
        hb, m = resolve_hbar(hbar, mass, fit)
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
