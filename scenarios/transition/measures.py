"""The measurements of the ``transition`` scenario, per arm, from the saved tables.

:func:`analyse_arm` measures one SGD arm: the Kramers-Moyal diffusion against the SGD
prediction (and on the replica-shuffled null), the weak-form Madelung fit per window before the
quench, the three hbar routes, the real-time signatures and the Schrödinger-vs-Fokker-Planck
prediction of the density after the quench, and the quantisation of neuron moves.
:func:`analyse_positive` measures the Nelson positive control with the same instruments. Both
append tidy diagnostic rows and return the numbers the claims are judged on
(:mod:`scenarios.transition.claims`).

Mass convention: m = 1 / (2 gamma) for SGD arms, m = 1/gamma for the heavy ball (the fitted
hbar_over_m does not depend on it); time unit: one learning step (the positive control's:
``POSITIVE_DT`` per recorded step).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from analysis import madelung, schrodinger
from analysis.controls import replica_shuffled
from analysis.thermodynamics import kramers_moyal
from analysis.trajectory import to_array, to_frame
from scenarios.transition.arms import COORDS, MU_C, POSITIVE_DT, POSITIVE_HBAR

__all__ = [
    "EFFORT",
    "analyse_arm",
    "analyse_positive",
    "hbar_magnitude",
    "madelung_fit",
    "quadratic_potential",
    "sgd_diffusion",
]


def _ci_spread(values: np.ndarray) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.min()), float(v.max())


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Replicas permuted independently at every step (destroys trajectories, keeps densities)."""
    arr = to_array(frame, COORDS)
    return to_frame(replica_shuffled(arr.q, np.random.default_rng(seed)), arr.steps)


def quadratic_potential(
    fit: madelung.MadelungFit,
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The fitted potential V(q_0, q_1) as a function of two coordinate meshes.

    ``fit.potential`` maps monomial labels (``"q_0^2"``, ``"q_0*q_1"`` ...) to coefficients.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> V = quadratic_potential(SimpleNamespace(potential={"q_0^2": 0.5, "q_0*q_1": 2.0}))
    >>> V(np.array([2.0]), np.array([3.0])).tolist()
    [14.0]
    """
    coef = dict(fit.potential)

    def V(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        out = np.zeros_like(X)
        for label, c in coef.items():
            term = np.ones_like(X)
            for factor in label.split("*"):
                name, _, power = factor.partition("^")
                base = X if name == "q_0" else Y
                term = term * base ** (int(power) if power else 1)
            out = out + c * term
        return out

    return V


EFFORT: dict[bool, tuple[int, int, int, int]] = {
    False: (40, 20, 12, 20),
    True: (15, 8, 12, 10),
}
"""Analysis effort by ``quick``: (Madelung bootstrap, signature bootstrap, prediction times,
floor draws)."""


def madelung_fit(frame: pd.DataFrame, mass: float, seed: int, quick: bool) -> madelung.MadelungFit:
    """The scenario's weak-form Madelung fit of (q_0, q_1): quadratic potential, 4 windows.

    Bootstrap size from :data:`EFFORT` (``quick`` or not); time unit one recorded step.

    Examples
    --------
    >>> from scenarios.transition.arms import positive_control
    >>> fit = madelung_fit(positive_control(400, 40, 0), 1.0, 0, quick=True)
    >>> len(fit.windows), bool(fit.momentum_residual > 0)
    (4, True)
    """
    return madelung.fit(
        frame,
        COORDS,
        potential="quadratic",
        mass=mass,
        windows=4,
        bootstrap=EFFORT[quick][0],
        plateau=False,
        seed=seed,
    )


def analyse_positive(
    pos: pd.DataFrame, steps: int, seed: int, rows: list[dict[str, Any]], quick: bool
) -> dict[str, Any]:
    """Measure the positive control (Nelson trajectories with known hbar) like an SGD arm.

    The first half of the steps is the stationary window (Madelung fit, whose residual is the
    noise floor of the SGD arms' fits, and the Kramers-Moyal diffusion), the second half the
    real-time window. Appends diagnostic rows to ``rows``; returns the claims' numbers
    (``momentum_residual``, ``madelung_ratio``, ``hbar_over_m``, ``routes_spread``,
    ``persistence``, ``ratio``) and the tables the figures use.

    Examples
    --------
    >>> from scenarios.transition.arms import positive_control
    >>> rows = []
    >>> out = analyse_positive(positive_control(300, 40, 0), 40, 0, rows, quick=True)
    >>> bool(out["madelung_ratio"] < 2.0), rows[0]["arm"]
    (True, 'positive_control')
    """
    boot, nboot, ntimes, draws = EFFORT[quick]
    half = steps // 2
    pre, post = pos[pos.step < half], pos[pos.step >= half]
    dt = POSITIVE_DT
    fit_dt = madelung.fit(
        pre,
        COORDS,
        dt=dt,
        potential="quadratic",
        mass=1.0,
        windows=4,
        bootstrap=boot,
        plateau=False,
        seed=seed,
    )
    # an independent exact sample of the same size: the Madelung test on it, against the floor
    fit_post = madelung.fit(
        post,
        COORDS,
        dt=dt,
        potential="quadratic",
        mass=1.0,
        windows=4,
        bootstrap=0,
        plateau=False,
        seed=seed,
    )
    km = kramers_moyal(pre, COORDS, dt=dt)
    d_mean = float(np.trace(km.diffusion) / 2)
    routes = schrodinger.hbar_routes(
        weak_form=_weak_route(fit_dt, 1.0),
        diffusion=d_mean,
        mu_c=2 * math.pi * POSITIVE_HBAR,
        mass=1.0,
        seed=seed,
    )
    sig = schrodinger.realtime_signatures(post, COORDS, n_boot=nboot, seed=seed)
    comp = schrodinger.compare_evolution(
        post,
        COORDS,
        dt=dt,
        hbar=hbar_magnitude(fit_dt),
        mass=1.0,
        potential=quadratic_potential(fit_dt),
        n_times=ntimes,
        floor_draws=draws,
        seed=seed,
    )
    out = {
        "momentum_residual": fit_dt.momentum_residual,
        "madelung_ratio": fit_post.momentum_residual / fit_dt.momentum_residual,
        "hbar_over_m": hbar_magnitude(fit_dt),
        "routes_spread": _routes_spread(routes),
        "persistence": _persistence(sig),
        "ratio": comp.schrodinger_ratio / comp.fokker_planck_ratio,
        "comparison": comp.table,
        "signatures": sig.table,
        "windows": fit_dt.windows,
    }
    arm = "positive_control"
    rows += [
        {
            "arm": arm,
            "diagnostic": "madelung",
            "quantity": f"|hbar_over_m| (time unit dt={POSITIVE_DT})",
            "value": hbar_magnitude(fit_dt),
            "ci_low": fit_dt.hbar_over_m_ci[0],
            "ci_high": fit_dt.hbar_over_m_ci[1],
        },
        {
            "arm": arm,
            "diagnostic": "madelung",
            "quantity": "momentum_residual",
            "value": fit_dt.momentum_residual,
        },
        {
            "arm": arm,
            "diagnostic": "hbar_routes",
            "quantity": "max_abs_log_spread",
            "value": out["routes_spread"][0],
        },
        {
            "arm": arm,
            "diagnostic": "compare_evolution",
            "quantity": "schrodinger_over_fp",
            "value": out["ratio"],
        },
        {
            "arm": arm,
            "diagnostic": "realtime",
            "quantity": "persistence",
            "value": out["persistence"][0],
        },
    ]
    return out


def hbar_magnitude(fit: madelung.MadelungFit) -> float:
    """|hbar/m| from the signed fitted hbar^2/m^2 (negative for a decelerating, diffusive fit).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> hbar_magnitude(SimpleNamespace(hbar2_over_m2=-0.25))
    0.5
    """
    return math.sqrt(abs(float(fit.hbar2_over_m2)))


def _weak_route(fit: madelung.MadelungFit, mass: float) -> tuple[float, tuple[float, float]]:
    """The weak-form hbar route: magnitude, with a CI clipped away from 0 (1e-6 of the value)."""
    value = hbar_magnitude(fit) * mass
    lo, hi = fit.hbar_over_m_ci
    lo = lo * mass if math.isfinite(lo) and lo > 0 else value * 1e-6
    hi = hi * mass if math.isfinite(hi) and hi > 0 else value
    return value, (min(lo, value), max(hi, value))


def _routes_spread(routes: schrodinger.HbarRoutes) -> tuple[float, float, float]:
    """max |ln(hbar_route / mean)| with an interval from the routes' own CIs."""
    t = routes.table
    mean = routes.weighted_mean
    h = t["hbar"].to_numpy(dtype=float)
    lo = t["ci_low"].to_numpy(dtype=float)
    hi = t["ci_high"].to_numpy(dtype=float)
    lo = np.where(np.isfinite(lo), lo, h)
    hi = np.where(np.isfinite(hi), hi, h)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.abs(np.log(np.abs(h) / abs(mean)))
        a = np.log(np.abs(lo) / abs(mean))
        b = np.log(np.abs(hi) / abs(mean))
    low = np.where(a * b <= 0, 0.0, np.minimum(np.abs(a), np.abs(b)))
    high = np.maximum(np.abs(a), np.abs(b))
    return float(np.nanmax(val)), float(np.nanmax(low)), float(np.nanmax(high))


def _persistence(sig: schrodinger.RealtimeSignatures) -> tuple[float, float, float]:
    """Persistence exp(-lambda t) of the strongest significant line (0 when no line shows)."""
    lines = sig.table[sig.table.signature.str.startswith("line") & sig.table.shows.astype(bool)]
    if lines.empty:
        return 0.0, 0.0, 0.0
    vals = lines["value"].to_numpy(dtype=float)
    k = int(np.nanargmax(vals))
    row = lines.iloc[k]
    lo = row["ci_low"] if np.isfinite(row["ci_low"]) else row["value"]
    hi = row["ci_high"] if np.isfinite(row["ci_high"]) else row["value"]
    return float(vals[k]), float(min(lo, vals[k])), float(max(hi, vals[k]))


def sgd_diffusion(sub: pd.DataFrame) -> tuple[float, float]:
    """Mean diffusion per coordinate from increments that keep the neuron count (no jumps).

    D = 1/2 Var(dq - <dq>) per step, averaged over coordinates, steps and replicas whose
    ``n_neurons`` did not change; returns (D, standard error over steps).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> q = np.cumsum(rng.normal(0, np.sqrt(2 * 0.5), (200, 300, 2)), axis=0)  # D = 0.5
    >>> traj = to_frame(q, np.arange(200)).assign(n_neurons=3)
    >>> d, se = sgd_diffusion(traj)
    >>> bool(abs(d - 0.5) < 3 * se)
    True
    """
    arr = to_array(sub, COORDS, extra=("n_neurons",))
    dq = np.diff(arr.q, axis=0)
    keep = np.diff(arr.extra["n_neurons"], axis=0) == 0
    w = keep[:, :, None].astype(float)
    n = np.maximum(w.sum(axis=1), 2.0)
    mean = (dq * w).sum(axis=1) / n
    var = (((dq - mean[:, None, :]) ** 2) * w).sum(axis=1) / (n - 1)
    per_step = 0.5 * var.mean(axis=1)
    return float(per_step.mean()), float(per_step.std(ddof=1) / np.sqrt(per_step.size))


def analyse_arm(
    arm: str,
    sub: pd.DataFrame,
    burn: int,
    t_q: int,
    floor: float,
    seed: int,
    rows: list[dict[str, Any]],
    events: pd.DataFrame,
    quick: bool,
) -> dict[str, Any]:
    """Measure one SGD arm from its trajectory rows ``sub`` and the run's ``events``.

    The window ``[burn, t_q)`` is stationary (Fokker-Planck check against the SGD prediction
    gamma^2 Sigma_q / 2M, Madelung fit divided by the positive control's ``floor``, hbar
    routes), the window from ``t_q`` on follows the quench (real-time signatures, prediction
    of the density). The nulls are the same statistics on the replica-shuffled window. Appends
    diagnostic rows to ``rows``; returns the claims' numbers and the tables the figures use.

    Examples
    --------
    >>> from models import LearningSystem
    >>> from runner import arm_tables
    >>> from scenarios.transition.arms import default_config
    >>> m = LearningSystem(default_config(quick=True).replace(replicas=100, record_every=1))
    >>> m.run(60, progress=False)
    >>> t, rows = arm_tables(m, "canonical"), []
    >>> out = analyse_arm("canonical", t["trajectories"], 4, 40, 1.0, 0, rows, t["events"], True)
    >>> sorted({r["diagnostic"] for r in rows})[:3]
    ['compare_evolution', 'fokker_planck', 'hbar_routes']
    """
    _boot, nboot, ntimes, draws = EFFORT[quick]
    pre = sub[(sub.step >= burn) & (sub.step < t_q)]
    post = sub[sub.step >= t_q]
    gamma = float(pre["step_size"].mean())
    mass = 1.0 / gamma if arm == "momentum" else 1.0 / (2.0 * gamma)
    km = kramers_moyal(pre, COORDS)
    g2m = (pre["step_size"] ** 2 / pre["batch_size"]).to_numpy()
    pred = 0.5 * np.nanmean((pre["sigma_0_0"] + pre["sigma_1_1"]).to_numpy() * g2m)
    tr_d = float(np.trace(km.diffusion))
    tr_se = float(np.sqrt(np.sum(np.diag(km.diffusion_se) ** 2)))
    fp = math.log(tr_d / pred)
    fp_ci = (math.log(max(tr_d - 2 * tr_se, 1e-300) / pred), math.log((tr_d + 2 * tr_se) / pred))
    shuffled = _shuffled(pre, seed)
    km_sh = kramers_moyal(shuffled, COORDS)
    fp_control = math.log(float(np.trace(km_sh.diffusion)) / pred)
    fit = madelung_fit(pre, mass, seed, quick)
    fit_sh = madelung_fit(shuffled, mass, seed, quick)
    res_windows = (
        fit.windows["momentum_residual"].to_numpy()
        if "momentum_residual" in fit.windows
        else np.array([fit.momentum_residual])
    )
    d_mean, d_se = sgd_diffusion(pre)
    mu_c = MU_C
    routes = schrodinger.hbar_routes(
        weak_form=_weak_route(fit, mass),
        diffusion=(d_mean, (max(d_mean - 2 * d_se, 1e-300), d_mean + 2 * d_se)),
        mu_c=mu_c,
        mass=mass,
        seed=seed,
    )
    sig = schrodinger.realtime_signatures(post, COORDS, n_boot=nboot, seed=seed)
    comp = schrodinger.compare_evolution(
        post,
        COORDS,
        hbar=hbar_magnitude(fit) * mass,
        mass=mass,
        potential=quadratic_potential(fit),
        n_times=ntimes,
        floor_draws=draws,
        seed=seed,
    )
    ratios = (comp.table["ratio_schrodinger"] / comp.table["ratio_fokker_planck"]).to_numpy()
    ratios = ratios[np.isfinite(ratios)]
    rng = np.random.default_rng(seed)
    boots = [np.median(rng.choice(ratios, ratios.size)) for _ in range(200)] if ratios.size else [0]
    out: dict[str, Any] = {
        "fp": fp,
        "fp_ci": fp_ci,
        "fp_control": fp_control,
        "madelung_ratio": fit.momentum_residual / floor,
        "madelung_ci": tuple(v / floor for v in _ci_spread(res_windows)),
        "madelung_control": fit_sh.momentum_residual / floor,
        "hbar_over_m": hbar_magnitude(fit),
        "hbar2_over_m2": fit.hbar2_over_m2,
        "windows": fit.windows,
        "routes_spread": _routes_spread(routes),
        "persistence": _persistence(sig),
        "ratio": float(np.median(ratios)) if ratios.size else float("nan"),
        "ratio_ci": (float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))),
        "comparison": comp.table,
        "signatures": sig.table,
        "mass": mass,
    }
    ev = events[(events.arm == arm) & (events.action.isin(["add", "remove"]))]
    if len(ev):
        dn = np.where(ev["action"] == "add", 1, -1)
        acc = ev["accepted"].astype(bool).to_numpy()
        dF = ev["delta_F"].to_numpy(dtype=float)
        ok = acc & np.isfinite(dF)
        if ok.sum() >= 5:
            q = schrodinger.quantization_score(dF[ok], dn[ok], abs(mu_c), seed=seed)
            out["rayleigh"] = q.rayleigh
            out["quantization_slope"] = q.slope
            rows += [
                {
                    "arm": arm,
                    "diagnostic": "quantization",
                    "quantity": "rayleigh",
                    "value": q.rayleigh,
                },
                {
                    "arm": arm,
                    "diagnostic": "quantization",
                    "quantity": "rayleigh_null",
                    "value": q.rayleigh_null,
                },
                {
                    "arm": arm,
                    "diagnostic": "quantization",
                    "quantity": "slope",
                    "value": q.slope,
                    "ci_low": q.slope_ci[0],
                    "ci_high": q.slope_ci[1],
                },
            ]
        out["delta_F"] = dF
        out["delta_N"] = dn
        out["accepted"] = acc
    rows += [
        {
            "arm": arm,
            "diagnostic": "fokker_planck",
            "quantity": "ln(trD/trPred)",
            "value": fp,
            "ci_low": fp_ci[0],
            "ci_high": fp_ci[1],
        },
        {
            "arm": arm,
            "diagnostic": "madelung",
            "quantity": "hbar2_over_m2 (signed)",
            "value": fit.hbar2_over_m2,
        },
        {
            "arm": arm,
            "diagnostic": "madelung",
            "quantity": "|hbar_over_m|",
            "value": hbar_magnitude(fit),
            "ci_low": fit.hbar_over_m_ci[0],
            "ci_high": fit.hbar_over_m_ci[1],
        },
        {
            "arm": arm,
            "diagnostic": "madelung",
            "quantity": "momentum_residual",
            "value": fit.momentum_residual,
        },
        {
            "arm": arm,
            "diagnostic": "madelung",
            "quantity": "phase_coefficient",
            "value": fit.phase_coefficient,
            "ci_low": fit.phase_coefficient_ci[0],
            "ci_high": fit.phase_coefficient_ci[1],
        },
        {
            "arm": arm,
            "diagnostic": "hbar_routes",
            "quantity": "max_abs_log_spread",
            "value": out["routes_spread"][0],
            "ci_low": out["routes_spread"][1],
            "ci_high": out["routes_spread"][2],
        },
        {
            "arm": arm,
            "diagnostic": "compare_evolution",
            "quantity": "schrodinger_over_fp",
            "value": out["ratio"],
            "ci_low": out["ratio_ci"][0],
            "ci_high": out["ratio_ci"][1],
        },
        {
            "arm": arm,
            "diagnostic": "realtime",
            "quantity": "persistence",
            "value": out["persistence"][0],
            "ci_low": out["persistence"][1],
            "ci_high": out["persistence"][2],
        },
    ]
    for w, (_, row) in enumerate(fit.windows.iterrows()):
        for col in ("hbar_over_m", "momentum_residual"):
            if col in row:
                rows.append(
                    {
                        "arm": arm,
                        "diagnostic": "madelung_window",
                        "quantity": col,
                        "window": w,
                        "value": float(row[col]),
                    }
                )
    return out
