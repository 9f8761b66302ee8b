"""The measurements of the ``transition`` scenario, per arm, from the saved tables.

:func:`analyse_arm` measures one SGD arm: the Kramers-Moyal diffusion against the SGD
prediction (and on the replica-shuffled null), the weak-form Madelung fit per window before the
quench, the three hbar routes, the real-time signatures and the Schrödinger-vs-Fokker-Planck
prediction of the density after the quench, the quantisation of neuron moves, and the
consistency regime: the gap ln(hbar_2mD / (|mu_c| / 2 pi)) in each analysis window
(:func:`regime_windows`, :func:`consistency_gap`), how long each controller sat at a bound
(:func:`bound_time`) and how settled gamma and M are before the quench (:func:`settling`).
:func:`analyse_positive` measures the Nelson positive control with the same instruments, and
:func:`analyse_worlds` the real-time statistic and the zero-point floor of the ``worlds`` arm
and its coupling-off control (coupling put in by hand). All append tidy diagnostic rows and
return the numbers the claims are judged on (:mod:`scenarios.transition.claims`).

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
from analysis.controls import ou_trajectories, replica_shuffled
from analysis.thermodynamics import kramers_moyal
from analysis.trajectory import to_array, to_frame
from scenarios.transition.arms import (
    COORDS,
    MU_C,
    POSITIVE_DT,
    POSITIVE_HBAR,
    WORLDS_ARMS,
)
from scenarios.worlds.known_answers import HAND, units
from scenarios.worlds.measures import var_g

__all__ = [
    "EFFORT",
    "SETTLE_FRACTION",
    "analyse_arm",
    "analyse_positive",
    "analyse_worlds",
    "bound_time",
    "consistency_gap",
    "gap_series",
    "gap_statistic",
    "hbar_magnitude",
    "madelung_fit",
    "planted_diffusion",
    "quadratic_potential",
    "regime_windows",
    "route_gap",
    "settling",
    "sgd_diffusion",
    "shuffled_gap",
    "step_diffusion",
    "zero_point_floor",
]

SETTLE_FRACTION = 0.2
"""Fraction of the window after the quench left out of the regime test (T_settle)."""
GAP_BLOCK = 10
"""Steps per block of the consistency gap's standard error (D_t is correlated in time)."""


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
    real-time window; the consistency gap |ln(2 m D / hbar)| (m = 1) is measured in both halves.
    Appends diagnostic rows to ``rows``; returns the claims' numbers (``momentum_residual``,
    ``madelung_ratio``, ``hbar_over_m``, ``gap``, ``route_gap``, ``routes_spread``,
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
    # the consistency condition holds by construction here: 2 m D = hbar (m = 1)
    gaps = consistency_gap(
        pos,
        {"first half": (0, half), "second half": (half, steps + 1)},
        POSITIVE_HBAR,
        mass=1.0,
        dt=dt,
    )
    out = {
        "momentum_residual": fit_dt.momentum_residual,
        "madelung_ratio": fit_post.momentum_residual / fit_dt.momentum_residual,
        "hbar_over_m": hbar_magnitude(fit_dt),
        "gap": gap_statistic(gaps),
        "gaps": gaps,
        "route_gap": route_gap(routes),
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
            "diagnostic": "hbar_routes",
            "quantity": "|ln(hbar_weak / hbar_2mD)|, m = 1",
            "value": out["route_gap"][0],
            "ci_low": out["route_gap"][1],
            "ci_high": out["route_gap"][2],
        },
        {
            "arm": arm,
            "diagnostic": "consistency",
            "quantity": "max |ln(2 m D / hbar)| over both halves, m = 1",
            "value": out["gap"][0],
            "ci_low": out["gap"][1],
            "ci_high": out["gap"][2],
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


def zero_point_floor(sub: pd.DataFrame) -> float:
    """The narrowest width of a ``worlds`` breathing over its zero-point prediction.

    min_t Var(t) Var(0) / Var_g^2, Var the population variance of ``q_0`` over replicas and
    Var_g = (1 - 1/R) / 2 hbar/(m omega) the coupled replicas' ground variance
    (:func:`scenarios.worlds.measures.var_g`; hbar/(m omega) = 0.02 at the step size 0.01 of
    :func:`scenarios.worlds.known_answers.positive_trajectories`): 1 for coupled replicas
    released at rest (their width never falls below Var_g^2 / Var(0)), near 0 with the
    coupling off (the cloud collapses to a point every half period).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(0.0, 1.0, 100)
    >>> x = x / x.std() * np.sqrt(0.02)  # Var(0) = 1 hbar/(m omega)
    >>> steps = np.arange(64)
    >>> q = x[None, :] * np.cos(0.1 * steps)[:, None]  # uncoupled: collapses
    >>> bool(zero_point_floor(to_frame(q[:, :, None], steps)) < 0.01)
    True
    """
    arr = to_array(sub, ["q_0"])
    var = arr.q[:, :, 0].var(axis=1)
    ground = var_g(arr.q.shape[1]) * units(1.0, 0.01)["var_unit"]
    return float(var.min() * var[0] / ground**2)


def analyse_worlds(
    traj: pd.DataFrame, seed: int, rows: list[dict[str, Any]], quick: bool
) -> dict[str, dict[str, Any]]:
    """The real-time statistic of the ``worlds`` arm and of its coupling-off control.

    For each of :data:`~scenarios.transition.arms.WORLDS_ARMS` (rows of ``traj`` with that
    ``arm``; coupling put in by hand): the persistence of the strongest line of <q_0>, <q_0^2>,
    measured by exactly the estimator of the SGD arms' real-time claim
    (:func:`analysis.schrodinger.realtime_signatures` over the whole run, which starts at the
    release; bootstrap size from :data:`EFFORT`), and the :func:`zero_point_floor`. Appends
    diagnostic rows; returns ``{arm: {"persistence": (value, low, high), "floor": float,
    "signatures": table}}``.

    Examples
    --------
    >>> from scenarios.transition.arms import worlds_control
    >>> traj = worlds_control(coupling=False).assign(arm="worlds_coupling_off")
    >>> rows = []
    >>> out = analyse_worlds(traj, 0, rows, quick=True)
    >>> sorted(out), round(out["worlds_coupling_off"]["persistence"][0], 2)
    (['worlds_coupling_off'], 1.0)
    >>> bool(out["worlds_coupling_off"]["floor"] < 0.01), rows[0]["arm"]
    (True, 'worlds_coupling_off')
    """
    nboot = EFFORT[quick][1]
    out: dict[str, dict[str, Any]] = {}
    for arm in WORLDS_ARMS:
        sub = traj[traj.arm == arm]
        if sub.empty:
            continue
        sig = schrodinger.realtime_signatures(sub, ["q_0"], n_boot=nboot, seed=seed)
        pers = _persistence(sig)
        floor = zero_point_floor(sub)
        out[arm] = {"persistence": pers, "floor": floor, "signatures": sig.table}
        rows += [
            {
                "arm": arm,
                "diagnostic": "realtime",
                "quantity": f"persistence ({HAND})",
                "value": pers[0],
                "ci_low": pers[1],
                "ci_high": pers[2],
            },
            {
                "arm": arm,
                "diagnostic": "realtime",
                "quantity": f"zero-point floor min Var Var(0) / Var_g^2 ({HAND})",
                "value": floor,
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


def step_diffusion(sub: pd.DataFrame, dt: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Diffusion D_t of the observed coordinates from each recorded step to the next.

    D_t = 1/2 Var(dq - <dq>) over replicas, averaged over coordinates, per unit time (``dt``
    per recorded step); an increment over which a replica's ``n_neurons`` changed (a neuron
    move, a jump of the zero-padded coordinates) is left out when the column is filled.

    Returns
    -------
    steps, d : ndarray
        The step at which each increment starts, and D_t.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> q = np.cumsum(rng.normal(0, np.sqrt(2 * 0.5), (50, 400, 2)), axis=0)  # D = 0.5
    >>> steps, d = step_diffusion(to_frame(q, np.arange(50)))
    >>> steps[:2].tolist(), bool(abs(d.mean() - 0.5) < 0.02)
    ([0, 1], True)
    """
    extra = ("n_neurons",) if "n_neurons" in sub and sub["n_neurons"].notna().all() else ()
    arr = to_array(sub, COORDS, extra=extra)
    dq = np.diff(arr.q, axis=0)
    if extra:
        keep = np.diff(arr.extra["n_neurons"], axis=0) == 0
    else:
        keep = np.ones(dq.shape[:2], dtype=bool)
    w = keep[:, :, None].astype(float)
    n = np.maximum(w.sum(axis=1), 2.0)
    mean = (dq * w).sum(axis=1) / n
    var = (((dq - mean[:, None, :]) ** 2) * w).sum(axis=1) / (n - 1)
    return np.asarray(arr.steps[:-1]), 0.5 * var.mean(axis=1) / dt


def sgd_diffusion(sub: pd.DataFrame) -> tuple[float, float]:
    """Mean diffusion per coordinate from increments that keep the neuron count (no jumps).

    D = 1/2 Var(dq - <dq>) per step (:func:`step_diffusion`), averaged over coordinates, steps
    and replicas whose ``n_neurons`` did not change; returns (D, standard error over steps).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> q = np.cumsum(rng.normal(0, np.sqrt(2 * 0.5), (200, 300, 2)), axis=0)  # D = 0.5
    >>> traj = to_frame(q, np.arange(200)).assign(n_neurons=3)
    >>> d, se = sgd_diffusion(traj)
    >>> bool(abs(d - 0.5) < 3 * se)
    True
    """
    per_step = step_diffusion(sub)[1]
    return float(per_step.mean()), float(per_step.std(ddof=1) / np.sqrt(per_step.size))


def regime_windows(steps: int, t_q: int, burn: int) -> dict[str, tuple[int, int]]:
    """The analysis windows of the regime test, ``[lo, hi)`` in learning steps.

    ``before quench`` is the stationary window ``[burn, t_q)``; ``after quench`` starts
    T_settle = ``SETTLE_FRACTION`` of the post-quench window after the quench (the controllers
    respond to the new teacher meanwhile) and runs to the last step.

    Examples
    --------
    >>> regime_windows(480, 320, 106)
    {'before quench': (106, 320), 'after quench': (352, 481)}
    """
    settle = int(SETTLE_FRACTION * (steps - t_q))
    return {"before quench": (burn, t_q), "after quench": (t_q + settle, steps + 1)}


def consistency_gap(
    sub: pd.DataFrame,
    windows: dict[str, tuple[int, int]],
    target: float,
    *,
    mass: float | None = None,
    heavy_ball: bool = False,
    dt: float = 1.0,
) -> pd.DataFrame:
    """The consistency gap ln(hbar_2mD / target) in each window, with a CI.

    hbar_2mD = 2 m D, D the mean of :func:`step_diffusion` over the window (jump-free
    increments of the observed coordinates, measured from the trajectories, not by the
    controllers' meter) and m the mass: ``mass`` if given, else from the window's mean step
    size, m = 1 / (2 gamma) for SGD, m = 1 / gamma for the heavy ball. The CI is D +- 2
    standard errors over blocks of ``GAP_BLOCK`` steps.

    Returns
    -------
    DataFrame
        One row per window: ``window``, ``lo``, ``hi``, ``mass``, ``diffusion``,
        ``diffusion_se``, ``hbar_2mD``, ``gap``, ``gap_low``, ``gap_high``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> q = np.cumsum(rng.normal(0, np.sqrt(2 * 0.5), (60, 300, 2)), axis=0)  # D = 0.5
    >>> t = consistency_gap(to_frame(q, np.arange(60)), {"all": (0, 60)}, 1.0, mass=1.0)
    >>> bool(abs(t["gap"].iloc[0]) < 0.05), bool(t["gap_low"].iloc[0] < 0 < t["gap_high"].iloc[0])
    (True, True)
    """
    rows = []
    for name, (lo, hi) in windows.items():
        w = sub[(sub.step >= lo) & (sub.step < hi)]
        _, d = step_diffusion(w, dt)
        nb = d.size // GAP_BLOCK
        if nb >= 2:
            blocks = d[: nb * GAP_BLOCK].reshape(nb, GAP_BLOCK).mean(axis=1)
            se = float(blocks.std(ddof=1) / math.sqrt(nb))
        else:
            se = float(d.std(ddof=1) / math.sqrt(d.size))
        if mass is None:
            gamma = float(w.groupby("step")["step_size"].first().mean())
            m = 1.0 / gamma if heavy_ball else 1.0 / (2.0 * gamma)
        else:
            m = float(mass)
        dm = float(d.mean())
        h = 2.0 * m * dm
        rows.append(
            {
                "window": name,
                "lo": lo,
                "hi": hi,
                "mass": m,
                "diffusion": dm,
                "diffusion_se": se,
                "hbar_2mD": h,
                "gap": math.log(h / target),
                "gap_low": math.log(2.0 * m * max(dm - 2 * se, 1e-300) / target),
                "gap_high": math.log(2.0 * m * (dm + 2 * se) / target),
            }
        )
    return pd.DataFrame(rows)


def gap_statistic(gaps: pd.DataFrame) -> tuple[float, float, float]:
    """max over windows of |gap|, with the image of each window's CI under |.| (max of each).

    Examples
    --------
    >>> g = pd.DataFrame({"gap": [-0.1, 0.3], "gap_low": [-0.2, 0.2], "gap_high": [0.05, 0.5]})
    >>> gap_statistic(g)
    (0.3, 0.2, 0.5)
    """
    a = gaps["gap_low"].to_numpy(dtype=float)
    b = gaps["gap_high"].to_numpy(dtype=float)
    low = np.where(a * b <= 0, 0.0, np.minimum(np.abs(a), np.abs(b)))
    high = np.maximum(np.abs(a), np.abs(b))
    value = np.abs(gaps["gap"].to_numpy(dtype=float))
    return float(value.max()), float(low.max()), float(high.max())


def shuffled_gap(
    sub: pd.DataFrame, gaps: pd.DataFrame, target: float, seed: int
) -> tuple[float, float, float]:
    """:func:`gap_statistic` of the same windows with replicas shuffled between steps (the null).

    Each window of ``gaps`` (a :func:`consistency_gap` table) is shuffled on its own and
    measured with that window's mass: the increments then join unrelated replicas, so the gap
    must be large.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> q = np.cumsum(rng.normal(0, 1.0, (40, 200, 2)), axis=0)  # D = 0.5
    >>> f = to_frame(q, np.arange(40))
    >>> g = consistency_gap(f, {"all": (0, 40)}, 1.0, mass=1.0)
    >>> bool(shuffled_gap(f, g, 1.0, 0)[0] > 2.0)
    True
    """
    parts = []
    for g in gaps.itertuples():
        w = sub[(sub.step >= g.lo) & (sub.step < g.hi)]
        parts.append(
            consistency_gap(_shuffled(w, seed), {g.window: (g.lo, g.hi)}, target, mass=g.mass)
        )
    return gap_statistic(pd.concat(parts, ignore_index=True))


def gap_series(
    sub: pd.DataFrame, target: float, *, heavy_ball: bool = False, smooth: int = 10
) -> pd.DataFrame:
    """The consistency gap step by step: ln(2 m_t D_t / target), and its running mean.

    m_t from the step size recorded at the start of each increment (the one the step used),
    m = 1 / (2 gamma) for SGD, 1 / gamma for the heavy ball; ``smooth`` steps of running mean.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> q = np.cumsum(rng.normal(0, np.sqrt(2 * 0.5), (30, 200, 2)), axis=0)  # D = 0.5
    >>> f = to_frame(q, np.arange(30)).assign(step_size=0.5)  # m = 1, hbar_2mD = 1
    >>> s = gap_series(f, 1.0)
    >>> s.columns.tolist(), bool(abs(s["gap_smooth"].iloc[-1]) < 0.1)
    (['step', 'gap', 'gap_smooth'], True)
    """
    steps, d = step_diffusion(sub)
    gamma = sub.groupby("step")["step_size"].first().reindex(steps).to_numpy(dtype=float)
    m = 1.0 / gamma if heavy_ball else 1.0 / (2.0 * gamma)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.log(2.0 * m * d / target)
    smooth_gap = pd.Series(gap).rolling(smooth, min_periods=1).mean().to_numpy()
    return pd.DataFrame({"step": steps, "gap": gap, "gap_smooth": smooth_gap})


def _spec_bounds(spec: dict[str, Any]) -> tuple[str, float, float] | None:
    """(recorded column, lower, upper) of a step-size or batch-size controller table."""
    if spec["type"] == "step_size":
        return "step_size", spec.get("gamma_min", 1e-6), spec.get("gamma_max", 1.0)
    if spec["type"] == "batch_size":
        return "batch_size", spec.get("m_min", 2), spec.get("m_max", 1024)
    return None


def bound_time(
    sub: pd.DataFrame,
    windows: dict[str, tuple[int, int]],
    controllers: list[dict[str, Any]],
    n_max: int | None = None,
    n_min: int | None = None,
) -> pd.DataFrame:
    """Fraction of each window's steps a controlled parameter sat at one of its bounds.

    For the step-size and batch-size tables in ``controllers``: the fraction of steps with
    gamma (or M) at ``gamma_min``/``gamma_max`` (``m_min``/``m_max``). With ``n_max`` (and
    ``n_min``): the fraction of replica-steps whose neuron count is at a bound (the
    grand-canonical moves act per replica).

    Returns
    -------
    DataFrame
        ``window``, ``parameter``, ``at_bound``.

    Examples
    --------
    >>> f = pd.DataFrame({"step": [0, 1, 2, 3], "replica": 0, "step_size": [0.1, 0.3, 0.3, 0.2],
    ...                   "batch_size": 8, "n_neurons": [3, 3, 4, 4]})
    >>> specs = [{"type": "step_size", "gamma_min": 0.1, "gamma_max": 0.3}]
    >>> bound_time(f, {"w": (0, 4)}, specs, n_max=4)["at_bound"].tolist()
    [0.75, 0.5]
    """
    rows = []
    for name, (lo, hi) in windows.items():
        w = sub[(sub.step >= lo) & (sub.step < hi)]
        per_step = w.groupby("step")[["step_size", "batch_size"]].first()
        for spec in controllers:
            found = _spec_bounds(spec)
            if found is None:
                continue
            col, a, b = found
            v = per_step[col].to_numpy(dtype=float)
            at = (v <= a * (1 + 1e-9)) | (v >= b * (1 - 1e-9))
            rows.append({"window": name, "parameter": col, "at_bound": float(at.mean())})
        if n_max is not None:
            n = w["n_neurons"].to_numpy()
            at = n >= n_max
            if n_min is not None:
                at |= n <= n_min
            rows.append({"window": name, "parameter": "n_neurons", "at_bound": float(at.mean())})
    return pd.DataFrame(rows, columns=["window", "parameter", "at_bound"])


def settling(sub: pd.DataFrame, lo: int, hi: int) -> dict[str, float]:
    """Standard deviation of ln gamma and of ln M over the second half of ``[lo, hi)``.

    Examples
    --------
    >>> f = pd.DataFrame({"step": range(8), "step_size": [1, 1, 1, 1, 1, 1, 2, 2],
    ...                   "batch_size": 8})
    >>> {k: round(v, 3) for k, v in settling(f, 0, 8).items()}
    {'std_ln_gamma': 0.347, 'std_ln_M': 0.0}
    """
    mid = (lo + hi) // 2
    w = sub[(sub.step >= mid) & (sub.step < hi)].groupby("step")[["step_size", "batch_size"]]
    per_step = w.first()
    return {
        "std_ln_gamma": float(np.log(per_step["step_size"].to_numpy(dtype=float)).std()),
        "std_ln_M": float(np.log(per_step["batch_size"].to_numpy(dtype=float)).std()),
    }


def route_gap(routes: schrodinger.HbarRoutes) -> tuple[float, float, float]:
    """|ln(hbar_weak / hbar_2mD)| with the image of the routes' CIs (a missing bound: the value).

    Examples
    --------
    >>> r = schrodinger.hbar_routes(weak_form=(2.0, (1.5, 3.0)), diffusion=(0.5, (0.4, 0.6)))
    >>> [round(x, 3) for x in route_gap(r)]
    [0.693, 0.223, 1.322]
    """
    t = routes.table.set_index("route")
    vals = {}
    for route in ("weak_form", "nelson_2mD"):
        h = float(t.loc[route, "hbar"])
        lo, hi = float(t.loc[route, "ci_low"]), float(t.loc[route, "ci_high"])
        lo = lo if math.isfinite(lo) and lo > 0 else h
        hi = hi if math.isfinite(hi) and hi > 0 else h
        vals[route] = (h, min(lo, h), max(hi, h))
    w, d = vals["weak_form"], vals["nelson_2mD"]
    value = abs(math.log(w[0] / d[0]))
    a, b = math.log(w[1] / d[2]), math.log(w[2] / d[1])
    low = 0.0 if a * b <= 0 else min(abs(a), abs(b))
    return value, min(low, value), max(abs(a), abs(b), value)


def planted_diffusion(
    replicas: int, steps: int, diffusion: float, rng: np.random.Generator
) -> pd.DataFrame:
    """An Ornstein-Uhlenbeck ensemble with a planted diffusion (the Fokker-Planck control).

    ``dq = -0.02 q dt + sqrt(2 D) dW`` per coordinate (D = ``diffusion``, one time unit per
    step), started in its stationary distribution: the Kramers-Moyal estimate must return D.

    Examples
    --------
    >>> f = planted_diffusion(500, 40, 0.5, np.random.default_rng(0))
    >>> km = kramers_moyal(f, COORDS)
    >>> bool(abs(np.trace(km.diffusion) / 2 / 0.5 - 1) < 0.05)
    True
    """
    relax = 0.02
    q0 = rng.normal(0.0, math.sqrt(diffusion / relax), (replicas, len(COORDS)))
    return ou_trajectories(q0, -relax, diffusion, 1.0, steps, rng)


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
    *,
    controllers: list[dict[str, Any]] | None = None,
    n_bounds: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Measure one SGD arm from its trajectory rows ``sub`` and the run's ``events``.

    The window ``[burn, t_q)`` is stationary (Fokker-Planck check against the SGD prediction
    gamma^2 Sigma_q / 2M and against a planted diffusion, Madelung fit divided by the positive
    control's ``floor``, hbar routes), the window from ``t_q`` on follows the quench (real-time
    signatures, prediction of the density). The nulls are the same statistics on the
    replica-shuffled window. The consistency gap is measured in each of
    :func:`regime_windows`; with ``controllers`` (the arm's controller tables) and ``n_bounds``
    ((n_min, n_max) of the neuron count) also the time at a bound and the settling of gamma
    and M before the quench. Appends diagnostic rows to ``rows``; returns the claims' numbers
    and the tables the figures use.

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
    ['compare_evolution', 'consistency', 'fokker_planck']
    >>> out["gaps"]["window"].tolist()
    ['before quench', 'after quench']
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
    n_steps, n_replicas = pre["step"].nunique(), pre["replica"].nunique()
    planted = planted_diffusion(
        n_replicas, n_steps - 1, pred / 2, np.random.default_rng([seed, 131])
    )
    fp_positive = math.log(float(np.trace(kramers_moyal(planted, COORDS).diffusion)) / pred)
    fit = madelung_fit(pre, mass, seed, quick)
    fit_sh = madelung_fit(shuffled, mass, seed, quick)
    res_windows = (
        fit.windows["momentum_residual"].to_numpy()
        if "momentum_residual" in fit.windows
        else np.array([fit.momentum_residual])
    )
    d_mean, d_se = sgd_diffusion(pre)
    mu_c = MU_C
    target = abs(mu_c) / (2 * math.pi)
    windows = regime_windows(int(sub["step"].max()), t_q, burn)
    gaps = consistency_gap(sub, windows, target, heavy_ball=arm == "momentum")
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
        "fp_positive": fp_positive,
        "gap": gap_statistic(gaps),
        "gap_control": shuffled_gap(sub, gaps, target, seed),
        "gaps": gaps,
        "gap_series": gap_series(sub, target, heavy_ball=arm == "momentum"),
        "madelung_ratio": fit.momentum_residual / floor,
        "madelung_ci": tuple(v / floor for v in _ci_spread(res_windows)),
        "madelung_control": fit_sh.momentum_residual / floor,
        "hbar_over_m": hbar_magnitude(fit),
        "hbar2_over_m2": fit.hbar2_over_m2,
        "windows": fit.windows,
        "routes_spread": _routes_spread(routes),
        "route_gap": route_gap(routes),
        "routes": routes.table,
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
    convention = "m = 1/gamma" if arm == "momentum" else "m = 1/(2 gamma)"
    for w, g in enumerate(gaps.itertuples()):
        rows += [
            {
                "arm": arm,
                "diagnostic": "consistency",
                "quantity": f"hbar_2mD = 2 m D, {convention} ({g.window}, steps [{g.lo}, {g.hi}))",
                "window": w,
                "value": g.hbar_2mD,
                "ci_low": 2 * g.mass * max(g.diffusion - 2 * g.diffusion_se, 0.0),
                "ci_high": 2 * g.mass * (g.diffusion + 2 * g.diffusion_se),
            },
            {
                "arm": arm,
                "diagnostic": "consistency",
                "quantity": f"gap ln(hbar_2mD / (|mu_c|/2pi)) ({g.window})",
                "window": w,
                "value": g.gap,
                "ci_low": g.gap_low,
                "ci_high": g.gap_high,
            },
        ]
    if controllers is not None:
        bounds = bound_time(sub, windows, controllers, *(n_bounds[::-1] if n_bounds else ()))
        names = list(windows)
        for b in bounds.itertuples():
            rows.append(
                {
                    "arm": arm,
                    "diagnostic": "controller_bounds",
                    "quantity": f"fraction of {b.window} at a bound: {b.parameter}",
                    "window": names.index(b.window),
                    "value": b.at_bound,
                }
            )
        settled = settling(sub, burn, t_q)
        for key, value in settled.items():
            rows.append(
                {
                    "arm": arm,
                    "diagnostic": "controller_settling",
                    "quantity": f"{key} over [{(burn + t_q) // 2}, {t_q})",
                    "value": value,
                }
            )
        out["bounds"] = bounds
        out["settling"] = settled
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
            "diagnostic": "fokker_planck",
            "quantity": "ln(trD/trPred) on a planted diffusion (positive control)",
            "value": fp_positive,
        },
        {
            "arm": arm,
            "diagnostic": "hbar_routes",
            "quantity": f"|ln(hbar_weak / hbar_2mD)|, {convention}",
            "value": out["route_gap"][0],
            "ci_low": out["route_gap"][1],
            "ci_high": out["route_gap"][2],
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
