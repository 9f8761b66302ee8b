"""The statistics of the ``madelung`` scenario, measured from its tables.

Each function reads the trajectories (and the model table or the setup row), appends its
diagnostics rows (``arm, diagnostic, quantity, window, value, ci_low, ci_high``) to ``rows`` and
returns the numbers a claim of :mod:`scenarios.madelung.claims` is judged on. The methods are
described in docs/methods.md: Kramers-Moyal drift and diffusion
(docs/methods.md#kramers-moyal-drift-and-diffusion), the entropy budget
(docs/methods.md#entropy-and-its-budget), the weak-form Madelung fit
(docs/methods.md#weak-form-madelung-fit) against its noise floor on exact samples
(docs/methods.md#noise-floors) and real-time signatures (docs/methods.md#real-time-signatures).

Time is in learning steps; D in coordinate^2 per step; hbar / m in coordinate^2 per step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from analysis import controls, madelung, schrodinger, thermodynamics
from analysis.controls import replica_shuffled
from analysis.trajectory import to_array
from runner import AnalysisFailed
from scenarios.madelung.exact import free_energy_2p, grad_free_energy_2p

__all__ = [
    "FIT_KW",
    "FLOOR_OMEGA",
    "arm_frame",
    "cell_sigma",
    "entropy_closure",
    "floor_ratios",
    "fokker_planck_grid",
    "hbar_exponents",
    "joint_vs_separate",
    "madelung_residual",
    "realtime_measures",
    "residual_over_floor",
    "width_exponent",
]

FLOOR_OMEGA = 0.05
FIT_KW: dict[str, Any] = {"windows": 4, "lag": 2, "times_per_window": 9, "score": "sm4"}
"""The weak-form Madelung fit's settings of the Madelung claim (:func:`residual_over_floor`)."""

Rows = list[dict[str, Any]]


def arm_frame(traj: pd.DataFrame, arm: str) -> pd.DataFrame:
    """The rows of one arm: ``step, replica, q_0, q_1`` (+ ``step_size, batch_size`` when set).

    Parameters
    ----------
    traj : pandas.DataFrame
        The trajectories table (``arm`` column).
    arm : str
        The arm's name.

    Raises
    ------
    runner.AnalysisFailed
        The table has no row of that arm.

    Examples
    --------
    >>> traj = pd.DataFrame({"arm": ["a", "b"], "step": [0, 0], "replica": [0, 0],
    ...                      "q_0": [1.0, 2.0], "q_1": [3.0, 4.0], "step_size": [0.1, None]})
    >>> arm_frame(traj, "b").columns.tolist()
    ['step', 'replica', 'q_0', 'q_1']
    """
    part = traj[traj["arm"] == arm]
    if part.empty:
        raise AnalysisFailed(f"trajectories: no rows for arm {arm!r}")
    cols = [c for c in ("step", "replica", "q_0", "q_1", "step_size", "batch_size") if c in part]
    return part[cols].dropna(axis=1, how="all")


def cell_sigma(mrow: pd.DataFrame) -> float:
    """A grid cell's mean recorded gradient-noise trace Sigma_hat.

    ``trace_sigma_q`` (the projected coordinates' trace) when the cell records it, else
    ``trace_sigma``.

    Parameters
    ----------
    mrow : pandas.DataFrame
        The cell's rows of the model table.

    Examples
    --------
    >>> cell_sigma(pd.DataFrame({"trace_sigma": [1.0, 3.0]}))
    2.0
    >>> cell_sigma(pd.DataFrame({"trace_sigma": [1.0], "trace_sigma_q": [0.5]}))
    0.5
    """
    projected = "trace_sigma_q" in mrow and mrow["trace_sigma_q"].notna().any()
    return float(mrow["trace_sigma_q" if projected else "trace_sigma"].mean())


def fokker_planck_grid(
    traj: pd.DataFrame, model: pd.DataFrame, rows: Rows
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Kramers-Moyal diffusion of every grid cell against gamma^2 tr(Sigma_hat) / (2 M).

    Per cell (arms ``grid_*``): D_KM = tr(D) with a drift polynomial of degree 2 removed, the
    mean recorded gradient-noise trace Sigma_hat (``trace_sigma_q`` of a projected run, else
    ``trace_sigma``) and the stationarity ratio Var(last quarter) / Var(first quarter). Across
    cells, the slope of D_KM on the prediction (:func:`analysis.thermodynamics.diffusion_scaling`);
    the control is the same slope against gamma tr(Sigma_hat) / (2 M) (the per-time law read as
    per-step).

    Parameters
    ----------
    traj, model : pandas.DataFrame
        Trajectories (with ``step_size``, ``batch_size``) and model table, ``arm`` column each.
    rows : list of dict
        Diagnostics rows, appended to.

    Returns
    -------
    stats : dict
        ``slope``, ``slope_ci`` (95 %, t interval) and ``control_slope``.
    runs : pandas.DataFrame
        One row per cell: ``arm, D, D_se, step_size, batch_size, sigma_hat, pred,
        variance_ratio``.

    Raises
    ------
    runner.AnalysisFailed
        Fewer than 3 grid cells.

    Examples
    --------
    Random walks whose diffusion is the prediction (tr Sigma = 1): the slope is near 1.

    >>> rng = np.random.default_rng(0)
    >>> frames, models = [], []
    >>> for g, m in ((0.1, 4), (0.2, 4), (0.2, 16)):
    ...     q = np.cumsum(rng.normal(0.0, g / np.sqrt(2 * m), (40, 300, 2)), axis=0)
    ...     arm = f"grid_g{g}_M{m}"
    ...     frames.append(pd.DataFrame({"arm": arm, "step": np.repeat(np.arange(40), 300),
    ...         "replica": np.tile(np.arange(300), 40), "q_0": q[..., 0].ravel(),
    ...         "q_1": q[..., 1].ravel(), "step_size": g, "batch_size": m}))
    ...     models.append(pd.DataFrame({"arm": [arm], "trace_sigma": [1.0]}))
    >>> rows = []
    >>> stats, runs = fokker_planck_grid(pd.concat(frames), pd.concat(models), rows)
    >>> round(stats["slope"], 1), len(runs), bool(abs(stats["control_slope"] - 1) > 0.5)
    (1.0, 3, True)
    """
    cells = sorted(a for a in traj["arm"].unique() if a.startswith("grid_"))
    if len(cells) < 3:
        raise AnalysisFailed(f"Fokker-Planck: {len(cells)} grid cells; need at least 3")
    recs = []
    for arm in cells:
        part = arm_frame(traj, arm)
        km = thermodynamics.kramers_moyal(part, ["q_0", "q_1"], bins=8, degree=2)
        d = float(np.trace(km.diffusion))
        d_se = float(np.hypot(km.diffusion_se[0, 0], km.diffusion_se[1, 1]))
        sigma = cell_sigma(model[model["arm"] == arm])
        g, m = float(part["step_size"].iloc[0]), int(part["batch_size"].iloc[0])
        ta = to_array(part, ["q_0", "q_1"])
        n4 = max(len(ta.steps) // 4, 1)
        vr = float(ta.q[-n4:].var(axis=1).sum(-1).mean() / ta.q[:n4].var(axis=1).sum(-1).mean())
        pred = g**2 * sigma / (2 * m)
        recs.append(
            {
                "arm": arm,
                "D": d,
                "D_se": d_se,
                "step_size": g,
                "batch_size": m,
                "sigma_hat": sigma,
                "pred": pred,
                "variance_ratio": vr,
            }
        )
        rows += [
            {
                "arm": arm,
                "diagnostic": "kramers_moyal",
                "quantity": "D_trace",
                "value": d,
                "ci_low": d - 1.96 * d_se,
                "ci_high": d + 1.96 * d_se,
            },
            {
                "arm": arm,
                "diagnostic": "kramers_moyal",
                "quantity": "predicted_gamma2_sigma_2M",
                "value": pred,
            },
            {
                "arm": arm,
                "diagnostic": "kramers_moyal",
                "quantity": "D_over_predicted",
                "value": d / pred,
            },
            {
                "arm": arm,
                "diagnostic": "stationarity",
                "quantity": "variance_ratio_last_first",
                "value": vr,
            },
        ]
    runs = pd.DataFrame(recs)
    sc = thermodynamics.diffusion_scaling(runs)
    ctrl = thermodynamics.diffusion_scaling(
        runs.assign(sigma_hat=runs["sigma_hat"] / runs["step_size"])
    )
    for name, s in (("grid", sc), ("control_gamma_sigma_2M", ctrl)):
        for r in s.to_frame().itertuples():
            rows.append(
                {
                    "arm": name,
                    "diagnostic": "diffusion_scaling",
                    "quantity": r.quantity,
                    "value": r.value,
                    "ci_low": r.ci_low,
                    "ci_high": r.ci_high,
                }
            )
    stats = {"slope": sc.slope, "slope_ci": tuple(sc.slope_ci), "control_slope": ctrl.slope}
    return stats, runs


def entropy_closure(
    traj: pd.DataFrame, rows: Rows, seed: int
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Relative closure of the entropy budget dS/dt = E[div A] + E[s^T D s] on the ``sgd`` arm.

    Per window (4 windows, score ``sm4``, drift polynomial of degree 2,
    :func:`analysis.thermodynamics.entropy_budget`): the closure error divided by
    |E[div A]| + |E[s^T D s]|; the statistic is its RMS over windows. The CI comes from a
    parametric bootstrap of the dS/dt slopes (2000 draws from ``default_rng(seed)``); the
    control is the same closure without the production term E[s^T D s].

    Parameters
    ----------
    traj : pandas.DataFrame
        Trajectories with an ``sgd`` arm.
    rows : list of dict
        Diagnostics rows, appended to.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    stats : dict
        ``closure`` (RMS), ``ci`` (95 %, widened to contain the value) and ``control``.
    windows : pandas.DataFrame
        The budget per window.

    Examples
    --------
    An Ornstein-Uhlenbeck ensemble spreading from a narrow start closes its budget; without
    the production term it does not.

    >>> from analysis import controls
    >>> q0 = np.random.default_rng(0).normal(0.0, 0.1, (400, 2))
    >>> q = controls.ou_trajectories(q0, -0.05 * np.eye(2), 0.02, 1.0, 60, seed=1)
    >>> stats, w = entropy_closure(q.assign(arm="sgd"), [], seed=0)
    >>> bool(stats["closure"] < 0.25 < stats["control"]), len(w)
    (True, 4)
    """
    part = arm_frame(traj, "sgd")
    eb = thermodynamics.entropy_budget(part, ["q_0", "q_1"], windows=4, score="sm4", drift_degree=2)
    w = eb.windows
    scale = w["drift_term"].abs() + w["production"].abs()
    closure = w["closure"].to_numpy()
    drift_only = ((w["dS_dt"] - w["drift_term"]) / scale).to_numpy()
    rng = np.random.default_rng(seed)
    draws = rng.normal(w["dS_dt"].to_numpy(), w["dS_dt_se"].to_numpy(), size=(2000, len(w)))
    boot = np.sqrt((((draws - w["predicted"].to_numpy()) / scale.to_numpy()) ** 2).mean(axis=1))
    value = float(np.sqrt(np.mean(closure**2)))
    lo, hi = np.quantile(boot, [0.025, 0.975])
    for i, r in w.iterrows():
        for q in ("dS_dt", "drift_term", "production", "predicted", "closure"):
            rows.append(
                {
                    "arm": "sgd",
                    "diagnostic": "entropy_budget",
                    "quantity": q,
                    "window": int(i),
                    "value": float(r[q]),
                    **(
                        {
                            "ci_low": r[q] - 1.96 * r["dS_dt_se"],
                            "ci_high": r[q] + 1.96 * r["dS_dt_se"],
                        }
                        if q == "dS_dt"
                        else {}
                    ),
                }
            )
    stats = {
        "closure": value,
        "ci": (float(min(lo, value)), float(max(hi, value))),
        "control": float(np.sqrt(np.mean(drift_only**2))),
    }
    return stats, w


def _floor_fit(
    part: pd.DataFrame,
    fit_kw: dict[str, Any],
    mass: float,
    draws: int,
    seed: int,
    nelson: bool = False,
) -> np.ndarray:
    """Momentum residual of the same fit on exact samples of the same size.

    The reference is an exact harmonic ground state whose density has the data's mean and
    covariance (principal axes U, variances s_i^2; V = (m/2) sum_i omega_i^2 y_i^2 with
    omega_i = (hbar/2m) / s_i^2), with the data's replicas and steps and the same windows and
    estimator. ``nelson=False``: Bohmian trajectories (at rest, the exact Madelung solution;
    the floor of docs/methods.md#noise-floors). ``nelson=True``: the same state sampled by
    Nelson's process (an Ornstein-Uhlenbeck process with isotropic D = hbar/2m set so that the
    fastest rate is ``FLOOR_OMEGA`` per step): its velocities carry diffusive noise like SGD's.
    """
    ta = to_array(part, ["q_0", "q_1"])
    T, R, _ = ta.q.shape
    pooled = ta.q.reshape(-1, 2)
    c = pooled.mean(axis=0)
    s2, U = np.linalg.eigh(np.cov(pooled, rowvar=False))
    d_f = FLOOR_OMEGA * float(s2.min())
    omega = d_f / s2
    K = mass * (U * omega**2) @ U.T

    def grad_v(x: np.ndarray) -> np.ndarray:
        return (x - c) @ K.T

    out = []
    for k in range(draws):
        g = np.random.default_rng(np.random.SeedSequence([seed, 99, k, int(nelson)]))
        q0 = c + g.standard_normal((R, 2)) @ (U * np.sqrt(s2)).T
        if nelson:
            B = -(U * omega) @ U.T
            ref = controls.ou_trajectories(q0, B, d_f, 1.0, T - 1, seed=g, center=c)
        else:
            ref = np.repeat(q0[None], T, axis=0)
        f = madelung.fit(ref, potential=grad_v, mass=mass, bootstrap=0, plateau=False, **fit_kw)
        out.append(f.momentum_residual)
    return np.array(out)


def _shuffled(part: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The arm with replica labels permuted independently at every step (densities kept)."""
    ta = to_array(part, ["q_0", "q_1"])
    q = replica_shuffled(ta.q, np.random.default_rng(np.random.SeedSequence([seed, 55])))
    out = pd.DataFrame(
        {
            "step": np.repeat(ta.steps, q.shape[1]),
            "replica": np.tile(ta.replicas, q.shape[0]),
            "q_0": q[:, :, 0].ravel(),
            "q_1": q[:, :, 1].ravel(),
        }
    )
    return out.assign(step_size=float(part["step_size"].iloc[0]))


def residual_over_floor(
    part: pd.DataFrame, grad_v: Callable, draws: int, bootstrap: int, seed: int
) -> tuple[madelung.MadelungFit, np.ndarray]:
    """The Madelung claim's estimator: the weak-form fit and its floor on exact samples.

    :func:`analysis.madelung.fit` with :data:`FIT_KW`, V held fixed (``grad_v``) and
    m = 1/(2 gamma) from the ``step_size`` column, then the momentum residual of the same fit
    on ``draws`` exact samples of the same size (Bohmian trajectories at rest of a harmonic
    ground state with the data's mean and covariance, streams ``SeedSequence([seed, 99, k,
    0])``). The claim's value is the fit's residual over the floor's median.

    Parameters
    ----------
    part : pandas.DataFrame
        ``step, replica, q_0, q_1, step_size`` (and ``free_energy`` for the phase fit).
    grad_v : callable
        grad V, held fixed.
    draws, bootstrap : int
        Floor draws; bootstrap draws of the fit's CIs.
    seed : int
        Seed of the fit's bootstrap and of the floor draws.

    Returns
    -------
    (analysis.madelung.MadelungFit, ndarray of shape (draws,))

    Examples
    --------
    >>> from analysis import controls
    >>> q0 = np.random.default_rng(0).normal(0.0, 0.5, (100, 2))
    >>> part = controls.ou_trajectories(q0, -0.05, 0.01, 1.0, 24, seed=1).assign(step_size=0.1)
    >>> f, floor = residual_over_floor(part, lambda x: x, 2, 0, 0)
    >>> f.mass, floor.shape
    (5.0, (2,))
    """
    f = madelung.fit(part, potential=grad_v, mass="sgd", bootstrap=bootstrap, seed=seed, **FIT_KW)
    return f, _floor_fit(part, FIT_KW, f.mass, draws, seed)


def floor_ratios(residual: float, floor: np.ndarray) -> tuple[float, float, float]:
    """A momentum residual over its floor draws: over their median, largest and smallest.

    The Madelung claim's value and interval (:func:`residual_over_floor` gives both inputs).

    Examples
    --------
    >>> floor_ratios(6.0, np.array([1.0, 2.0, 3.0]))
    (3.0, 2.0, 6.0)
    """
    return (
        residual / float(np.median(floor)),
        residual / float(floor.max()),
        residual / float(floor.min()),
    )


def madelung_residual(
    traj: pd.DataFrame,
    setup: dict[str, Any],
    rows: Rows,
    seed: int,
    draws: int,
    bootstrap: int,
    potential: tuple[Callable, Callable] | None = None,
    start: int | None = None,
) -> dict[str, Any]:
    """Weak-form Madelung fit of the ``sgd`` and ``momentum`` arms against its noise floor.

    The fit (:func:`analysis.madelung.fit`: 4 windows, lag 2, score ``sm4``, m = 1/(2 gamma))
    holds V fixed: V = F in closed form (:func:`~scenarios.madelung.exact.free_energy_2p` with
    the setup's teacher and noise) when ``potential`` is None, else ``potential = (V, grad V)``.
    The floor is the same fit's momentum residual on ``draws`` exact samples of the same size
    (Bohmian trajectories of a harmonic ground state with the arm's mean and covariance); one
    Nelson-sampled draw is reported beside it. The control is the ``sgd`` arm with replicas
    shuffled between steps (same densities, no flow;
    :func:`analysis.controls.replica_shuffled` on ``SeedSequence([seed, 55])``).

    Parameters
    ----------
    traj : pandas.DataFrame
        Trajectories with ``sgd`` and ``momentum`` arms (``step_size`` column).
    setup : dict
        The setup row (``teacher_b``, ``teacher_a``, ``noise`` and optionally ``activation``,
        default tanh, when ``potential`` is None).
    rows : list of dict
        Diagnostics rows, appended to.
    seed : int
        Seed of the fits' bootstrap, the floor draws and the shuffle.
    draws : int
        Exact-sample draws of the floor.
    bootstrap : int
        Bootstrap draws of the fit's CIs.
    potential : (callable, callable), optional
        V and grad V, held fixed.
    start : int, optional
        Only steps >= ``start`` are fitted.

    Returns
    -------
    dict
        ``fits`` (arm -> :class:`analysis.madelung.MadelungFit`), ``ratios`` (arm -> residual
        over the median, largest and smallest floor), ``control`` (the shuffled ``sgd`` arm's
        residual over the median floor) and ``potential`` (how V was set).

    Examples
    --------
    Two Ornstein-Uhlenbeck ensembles with V = |q|^2 / 2 held fixed:

    >>> from analysis import controls
    >>> frames = []
    >>> for k, arm in enumerate(("sgd", "momentum")):
    ...     q0 = np.random.default_rng(k).normal(0.0, 0.5, (100, 2))
    ...     q = controls.ou_trajectories(q0, -0.05 * np.eye(2), 0.01, 1.0, 24, seed=k)
    ...     frames.append(q.assign(arm=arm, step_size=0.1))
    >>> res = madelung_residual(pd.concat(frames), {}, [], 0, 2, 0,
    ...                         potential=(lambda x: 0.5 * (x**2).sum(-1), lambda x: x))
    >>> sorted(res), res["fits"]["sgd"].mass, len(res["ratios"]["sgd"])
    (['control', 'fits', 'potential', 'ratios'], 5.0, 3)
    """
    if potential is None:
        teacher = (setup["teacher_b"], setup["teacher_a"])
        noise = setup["noise"]
        act = setup.get("activation", "tanh")

        def v_fn(x: np.ndarray) -> np.ndarray:
            return free_energy_2p(x, teacher, noise, act)

        def grad_v(x: np.ndarray) -> np.ndarray:
            return grad_free_energy_2p(x, teacher, noise, act)

        v_text = "V = F fixed"
    else:
        v_fn, grad_v = potential
        v_text = "V = quadratic fitted on an earlier window, fixed"

    fits, ratios = {}, {}
    for arm in ("sgd", "momentum"):
        part = arm_frame(traj, arm)
        if start is not None:
            part = part[part["step"] >= start]
        part = part.assign(free_energy=v_fn(part[["q_0", "q_1"]].to_numpy()))
        f, floor = residual_over_floor(part, grad_v, draws, bootstrap, seed)
        nel = _floor_fit(part, FIT_KW, f.mass, 1, seed, nelson=True)
        rows.append(
            {
                "arm": arm,
                "diagnostic": "madelung_fit",
                "quantity": "residual_nelson_sampled_ground_state",
                "value": float(nel[0]),
            }
        )
        if arm == "sgd":
            shuf = _shuffled(part, seed)
            g = madelung.fit(
                shuf, potential=grad_v, mass="sgd", bootstrap=0, plateau=False, **FIT_KW
            )
            shuffled_ratio = g.momentum_residual / float(np.median(floor))
            rows.append(
                {
                    "arm": "sgd_time_shuffled",
                    "diagnostic": "madelung_fit",
                    "quantity": "residual_over_floor",
                    "value": shuffled_ratio,
                }
            )
        fits[arm] = f
        ratios[arm] = floor_ratios(f.momentum_residual, floor)
        for q, v, lo, hi in (
            ("hbar_over_m", f.hbar_over_m, *f.hbar_over_m_ci),
            ("hbar", f.hbar, *f.hbar_ci),
            ("phase_coefficient_a", f.phase_coefficient, *f.phase_coefficient_ci),
        ):
            rows.append(
                {
                    "arm": arm,
                    "diagnostic": "madelung_fit",
                    "quantity": q,
                    "value": v,
                    "ci_low": lo,
                    "ci_high": hi,
                }
            )
        for q in (
            "momentum_residual",
            "continuity_residual",
            "kinetic_fraction",
            "identifiability",
            "window_spread",
            "plateau_spread",
            "phase_r2",
            "mass",
        ):
            rows.append(
                {
                    "arm": arm,
                    "diagnostic": "madelung_fit",
                    "quantity": q,
                    "value": float(getattr(f, q)),
                }
            )
        rows.append(
            {
                "arm": arm,
                "diagnostic": "madelung_fit",
                "quantity": "residual_floor",
                "value": float(np.median(floor)),
                "ci_low": float(floor.min()),
                "ci_high": float(floor.max()),
            }
        )
        rows.append(
            {
                "arm": arm,
                "diagnostic": "madelung_fit",
                "quantity": "residual_over_floor",
                "value": ratios[arm][0],
                "ci_low": ratios[arm][1],
                "ci_high": ratios[arm][2],
            }
        )
        for name, v in f.bandwidth_plateau.items():
            rows.append(
                {"arm": arm, "diagnostic": "madelung_plateau", "quantity": name, "value": float(v)}
            )
        for w in f.windows.itertuples():
            for q in ("hbar_over_m", "momentum_residual", "kinetic_fraction"):
                rows.append(
                    {
                        "arm": arm,
                        "diagnostic": "madelung_window",
                        "quantity": q,
                        "window": int(w.window),
                        "value": float(getattr(w, q)),
                        **(
                            {"ci_low": w.hbar_over_m_low, "ci_high": w.hbar_over_m_high}
                            if q == "hbar_over_m"
                            else {}
                        ),
                    }
                )
    return {"fits": fits, "ratios": ratios, "control": shuffled_ratio, "potential": v_text}


def hbar_exponents(
    traj: pd.DataFrame, runs: pd.DataFrame, rows: Rows, summary: dict[str, Any]
) -> pd.DataFrame:
    """hbar/m per grid cell by two routes and the exponents of hbar^2 in gamma/M (reported).

    Routes: the weak-form fit with a fitted quadratic potential basis (m = 1, 2 windows) and
    Nelson's hbar/m = 2 D per coordinate (D_KM trace / 2). Exponents per mass convention from
    :func:`analysis.madelung.hbar_scaling` over the cells with hbar^2 > 0; one summary line
    each.

    Parameters
    ----------
    traj : pandas.DataFrame
        Trajectories with the grid arms.
    runs : pandas.DataFrame
        The cells of :func:`fokker_planck_grid` (``arm, D, step_size, batch_size``).
    rows : list of dict
        Diagnostics rows, appended to.
    summary : dict
        Summary lines, added to.

    Returns
    -------
    pandas.DataFrame
        Per cell: ``arm, hbar_over_m, gamma, M, nelson_hbar_over_m, residual``.

    Raises
    ------
    runner.AnalysisFailed
        Fewer than 3 cells with a positive fitted hbar^2.

    Examples
    --------
    >>> from analysis import controls
    >>> frames, cells = [], []
    >>> for k, (g, m) in enumerate(((0.1, 4), (0.2, 4), (0.2, 16))):
    ...     q0 = np.random.default_rng(k).normal(0.0, 0.5, (200, 2))
    ...     q = controls.ou_trajectories(q0, -0.05 * np.eye(2), g / m, 1.0, 30, seed=k)
    ...     frames.append(q.assign(arm=f"grid_{k}"))
    ...     cells.append({"arm": f"grid_{k}", "D": 2 * g / m, "step_size": g, "batch_size": m})
    >>> summary = {}
    >>> frame = hbar_exponents(pd.concat(frames), pd.DataFrame(cells), [], summary)
    >>> frame["nelson_hbar_over_m"].tolist(), len(summary)  # hbar/m = 2 D per axis = D_trace
    ([0.05, 0.1, 0.025], 4)
    """
    recs = []
    for rec in runs.itertuples():
        part = arm_frame(traj, rec.arm)
        f = madelung.fit(
            part,
            ["q_0", "q_1"],
            potential="quadratic",
            mass=1.0,
            windows=2,
            score="sm4",
            bootstrap=0,
            plateau=False,
        )
        hm = f.hbar_over_m
        nelson = 2.0 * rec.D / 2.0  # hbar/m = 2 D per coordinate (D_trace / 2 per axis)
        recs.append(
            {
                "arm": rec.arm,
                "hbar_over_m": hm,
                "gamma": rec.step_size,
                "M": rec.batch_size,
                "nelson_hbar_over_m": nelson,
                "residual": f.momentum_residual,
            }
        )
        rows += [
            {
                "arm": rec.arm,
                "diagnostic": "hbar_grid",
                "quantity": "hbar_over_m_weak_form",
                "value": hm,
            },
            {
                "arm": rec.arm,
                "diagnostic": "hbar_grid",
                "quantity": "hbar_over_m_nelson_2D",
                "value": nelson,
            },
            {
                "arm": rec.arm,
                "diagnostic": "hbar_grid",
                "quantity": "momentum_residual",
                "value": f.momentum_residual,
            },
        ]
    frame = pd.DataFrame(recs)
    ok = frame[np.isfinite(frame["hbar_over_m"]) & (frame["hbar_over_m"] > 0)]
    if len(ok) < 3:
        raise AnalysisFailed(f"hbar exponents: {len(ok)} grid cells with hbar^2 > 0; need 3")
    for route, col in (("weak_form", "hbar_over_m"), ("nelson_2D", "nelson_hbar_over_m")):
        sc = madelung.hbar_scaling(ok.assign(hbar_over_m=ok[col]))
        for r in sc.itertuples():
            tag = f"{route} [{r.convention}]"
            rows.append(
                {
                    "arm": "grid",
                    "diagnostic": "hbar_exponent",
                    "quantity": tag,
                    "value": r.exponent,
                    "ci_low": r.exponent_low,
                    "ci_high": r.exponent_high,
                }
            )
            rows.append(
                {
                    "arm": "grid",
                    "diagnostic": "hbar_exponent_gamma",
                    "quantity": tag,
                    "value": r.gamma_exponent,
                }
            )
            rows.append(
                {
                    "arm": "grid",
                    "diagnostic": "hbar_exponent_M",
                    "quantity": tag,
                    "value": r.M_exponent,
                }
            )
            summary[f"hbar^2 ~ (gamma/M)^alpha, {tag}"] = (
                f"alpha = {r.exponent:.3f} [{r.exponent_low:.3f}, {r.exponent_high:.3f}]; "
                f"gamma^{r.gamma_exponent:.2f} M^{r.M_exponent:.2f}"
            )
    return frame


def width_exponent(
    parts: list[np.ndarray], t_idx: int, n_boot: int, seed: int
) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """beta = -d log(Var(t) - Var(0)) / d log sigma0 with a bootstrap over replicas.

    A quantum free packet spreads as Var(t) = s0^2 + (hbar t / 2 m s0)^2 (beta = 2); diffusion
    adds 2 D t whatever the start (beta = 0).

    Parameters
    ----------
    parts : list of ndarray, shape (T, R, k)
        One ensemble per initial width.
    t_idx : int
        The row t at which the growth is read.
    n_boot : int
        Bootstrap draws (replicas resampled with ``default_rng(seed)``).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    (beta, ci_low, ci_high, sigma0, var_growth)
        The exponent, its 95 % bootstrap interval, and per ensemble the initial width and the
        variance growth.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> parts = []
    >>> for s0 in (0.25, 0.5, 1.0):  # Var(t) = s0^2 + (t / 2 s0)^2 at t = 0 and 2
    ...     width = np.sqrt(s0**2 + (np.array([0.0, 2.0]) / (2 * s0)) ** 2)
    ...     parts.append(rng.normal(size=(4000, 1))[None] * width[:, None, None])
    >>> round(width_exponent(parts, 1, 20, 0)[0], 1)
    2.0
    """
    rng = np.random.default_rng(seed)

    def one(qs: list[np.ndarray]) -> tuple[float, np.ndarray, np.ndarray]:
        s0, dv = [], []
        for q in qs:
            v0 = q[0].var(axis=0).sum()
            s0.append(np.sqrt(v0 / q.shape[2]))
            dv.append(q[t_idx].var(axis=0).sum() - v0)
        s0, dv = np.array(s0), np.array(dv)
        floor = 1e-3 * max(np.max(np.abs(dv)), 1e-300)
        slope = np.polyfit(np.log(s0), np.log(np.maximum(dv, floor)), 1)[0]
        return -float(slope), s0, dv

    beta, s0, dv = one(parts)
    boots = []
    for _ in range(n_boot):
        qs = [q[:, rng.integers(0, q.shape[1], q.shape[1])] for q in parts]
        boots.append(one(qs)[0])
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return beta, float(lo), float(hi), s0, dv


def realtime_measures(
    traj: pd.DataFrame, setup: dict[str, Any], rows: Rows, seed: int, summary: dict[str, Any]
) -> dict[str, Any]:
    """Width exponents of early spreading, collision interference and quench lines.

    Spreading: :func:`width_exponent` (200 bootstrap draws) over the narrow starts
    ``spread_<sgd|momentum>_<k>`` and the Nelson free packets ``nelson_spread_<k>`` at row
    ``setup["spread_t"]``. Collisions: :func:`analysis.schrodinger.realtime_signatures` of the
    joint ensemble along the stiff direction and :func:`joint_vs_separate`. Quench: the
    signatures after step ``setup["quench_at"]`` of ``quench_sgd``, ``quench_momentum`` and the
    ``no_change`` control (``setup["rt_boot"]`` bootstrap draws).

    Parameters
    ----------
    traj : pandas.DataFrame
        Trajectories with the spreading, collision, Nelson and quench arms.
    setup : dict
        The setup row (``spread_t``, ``stiff_b``, ``stiff_a``, ``rt_boot``, ``quench_at``).
    rows : list of dict
        Diagnostics rows, appended to.
    seed : int
        Seed of every bootstrap and null.
    summary : dict
        Summary lines, added to.

    Returns
    -------
    dict
        ``spread`` (``sgd``, ``momentum``, ``nelson`` -> the tuple of :func:`width_exponent`)
        and ``signatures`` (arm -> :class:`analysis.schrodinger.RealtimeSignatures`).

    Raises
    ------
    runner.AnalysisFailed
        Fewer than two initial widths of an ensemble, or an arm missing.

    Examples
    --------
    The whole path runs in the scenario's ``--quick`` test; without spreading arms:

    >>> try:
    ...     realtime_measures(pd.DataFrame({"arm": ["sgd"]}), {"spread_t": 10}, [], 0, {})
    ... except AnalysisFailed as err:
    ...     print(err)
    real-time: 0 arms spread_sgd_*; need at least 2 widths
    """
    t_idx = int(setup["spread_t"])
    res: dict[str, Any] = {}
    for kind in ("sgd", "momentum", "nelson"):
        prefix = f"spread_{kind}_" if kind != "nelson" else "nelson_spread_"
        arms = sorted(a for a in traj["arm"].unique() if a.startswith(prefix))
        if len(arms) < 2:
            raise AnalysisFailed(f"real-time: {len(arms)} arms {prefix}*; need at least 2 widths")
        qs = [to_array(arm_frame(traj, a)).q for a in arms]
        beta, lo, hi, s0, dv = width_exponent(qs, t_idx, 200, seed)
        res[kind] = (beta, lo, hi, s0, dv)
        rows.append(
            {
                "arm": kind,
                "diagnostic": "spreading",
                "quantity": "width_exponent_beta",
                "value": beta,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
        for k, (s, d) in enumerate(zip(s0, dv, strict=True)):
            rows.append(
                {
                    "arm": kind,
                    "diagnostic": "spreading",
                    "quantity": "sigma0",
                    "window": k,
                    "value": float(s),
                }
            )
            rows.append(
                {
                    "arm": kind,
                    "diagnostic": "spreading",
                    "quantity": "var_growth",
                    "window": k,
                    "value": float(d),
                }
            )
    # collisions: fringes on the joint ensemble, and joint vs separate histograms
    stiff = np.array([setup["stiff_b"], setup["stiff_a"]])
    rt_boot = int(setup["rt_boot"])
    sig = {}
    collide: dict[str, tuple[float, float]] = {}
    for kind in ("sgd", "momentum"):
        joint = to_array(arm_frame(traj, f"collision_{kind}")).q @ stiff
        sep = np.concatenate(
            [to_array(arm_frame(traj, f"collision_{kind}_{h}")).q @ stiff for h in ("a", "b")],
            axis=1,
        )
        s = schrodinger.realtime_signatures(joint[:, :, None], n_boot=rt_boot, seed=seed)
        sig[f"collision_{kind}"] = s
        chi, q99 = joint_vs_separate(joint, sep, seed)
        collide[kind] = (chi, q99)
    nel = {
        h: to_array(arm_frame(traj, f"nelson_collision{h}")).q[:, :, 0] for h in ("", "_a", "_b")
    }
    chi, q99 = joint_vs_separate(nel[""], np.concatenate([nel["_a"], nel["_b"]], axis=1), seed)
    collide["nelson"] = (chi, q99)
    for kind, (chi, q99) in collide.items():
        rows.append(
            {
                "arm": f"collision_{kind}",
                "diagnostic": "collision",
                "quantity": "chi2_dof_joint_vs_separate_max",
                "value": chi,
                "ci_high": q99,
            }
        )
        summary[f"collision {kind}: joint vs separate chi2/dof (null 99%)"] = (
            f"{chi:.3f} ({q99:.3f}): {'interference' if chi > q99 else 'no interference'}"
        )
    nel = to_array(arm_frame(traj, "nelson_collision")).q
    sig["nelson_collision"] = schrodinger.realtime_signatures(nel, n_boot=rt_boot, seed=seed)
    # quench: post-quench lines with the no-change control
    qa = int(setup["quench_at"])
    for arm in ("quench_sgd", "quench_momentum", "no_change"):
        part = arm_frame(traj, arm)
        part = part[part["step"] >= qa]
        sig[arm] = schrodinger.realtime_signatures(part, ["q_0", "q_1"], n_boot=rt_boot, seed=seed)
    for arm, s in sig.items():
        for r in s.table.itertuples():
            if r.signature == "energy_change":
                continue
            rows.append(
                {
                    "arm": arm,
                    "diagnostic": f"realtime_{r.signature}",
                    "quantity": r.series,
                    "value": r.value,
                    "ci_low": r.ci_low,
                    "ci_high": r.ci_high,
                }
            )
        rows.append(
            {
                "arm": arm,
                "diagnostic": "realtime_flags",
                "quantity": "oscillation",
                "value": float(s.oscillation),
            }
        )
        rows.append(
            {
                "arm": arm,
                "diagnostic": "realtime_flags",
                "quantity": "fringes",
                "value": float(s.fringes),
            }
        )
        summary[f"real-time {arm}"] = (
            f"oscillation={s.oscillation}, fringes={s.fringes}, ballistic={s.ballistic}"
        )
    return {"spread": res, "signatures": sig}


def _chi_max(joint: np.ndarray, sep: np.ndarray, bins: int) -> float:
    """Largest chi^2/dof over time between two samples' histograms (T, n) vs (T, m)."""
    worst = 0.0
    for t in range(joint.shape[0]):
        lo, hi = np.quantile(np.concatenate([joint[t], sep[t]]), [0.01, 0.99])
        if hi <= lo:
            continue
        edges = np.linspace(lo, hi, bins + 1)
        a = np.histogram(joint[t], edges)[0].astype(float)
        b = np.histogram(sep[t], edges)[0].astype(float)
        b = b * a.sum() / max(b.sum(), 1.0)
        ok = (a + b) >= 10
        if ok.sum() < 3:
            continue
        worst = max(worst, float(np.sum((a[ok] - b[ok]) ** 2 / (a[ok] + b[ok])) / ok.sum()))
    return worst


def joint_vs_separate(
    joint: np.ndarray, sep: np.ndarray, seed: int, bins: int = 40, n_null: int = 40
) -> tuple[float, float]:
    """Interference test: histograms of the joint run against the pooled separate runs.

    With independent replicas the joint density is exactly the mixture of the separate ones;
    fringes would make them differ.

    Parameters
    ----------
    joint : ndarray, shape (T, n)
        The joint run's positions along one axis.
    sep : ndarray, shape (T, m)
        The separate runs' positions, pooled.
    seed : int
        The null's stream is ``SeedSequence([seed, 77])``.
    bins : int
        Histogram bins (between the pooled 1 % and 99 % quantiles).
    n_null : int
        Null draws.

    Returns
    -------
    (chi2_dof, null_q99)
        The largest chi^2/dof over time and the 99 % quantile of the same statistic under the
        null (joint and separate samples exchangeable: labels permuted at every time,
        :func:`analysis.controls.replica_shuffled`).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> mix = rng.normal(size=(3, 2000))
    >>> chi, q99 = joint_vs_separate(rng.normal(size=(3, 2000)), mix, 0)
    >>> bool(chi < q99)
    True
    """
    obs = _chi_max(joint, sep, bins)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 77]))
    n = joint.shape[1]
    both = np.concatenate([joint, sep], axis=1)
    null = []
    for _ in range(n_null):
        perm = replica_shuffled(both, rng)
        null.append(_chi_max(perm[:, :n], perm[:, n:], bins))
    return obs, float(np.quantile(null, 0.99))
