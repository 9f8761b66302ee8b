"""Positive controls of the ``madelung`` claims: each effect planted, measured by its estimator.

Each control builds data in which its claim holds by construction, at the run's own sizes (the
replicas, recorded steps and grid cells of the arms the claim is measured on), and runs them
through the very function that measures the claim:

``Fokker-Planck form`` (:func:`planted_grid`)
    One Ornstein-Uhlenbeck ensemble per (gamma, M) grid cell, with the cell's replicas, steps,
    mean and covariance, whose diffusion per step is planted at gamma^2 tr(Sigma_hat) / (2 M)
    (the cell's own recorded Sigma_hat), through
    :func:`scenarios.madelung.measures.fokker_planck_grid`; the value is |slope - 1|.
``entropy budget`` (:func:`planted_relaxation`)
    A linear Gaussian (Ornstein-Uhlenbeck) process with a known drift A(q) = J (q - c) and
    diffusion D, the linear drift and the diffusion the ``sgd`` arm's increments show (then held
    fixed), started from a Gaussian with the arm's step-0 mean and covariance, with the arm's
    replicas and steps; its Fokker-Planck equation is linear, so dS/dt = E[div A] + E[s^T D s]
    holds exactly. Through :func:`scenarios.madelung.measures.entropy_closure`; the value is the
    RMS relative closure (the same closure without the production term is reported beside it).
``Madelung (fixed N)`` (:func:`planted_nelson`)
    Nelson trajectories of an oscillating 2-D harmonic superposition with a known hbar
    (:func:`analysis.controls.harmonic_nelson`: hbar = :data:`NELSON_HBAR`, m = 1, frequencies
    (1, sqrt 2), :data:`NELSON_DT` time units per recorded step) with the ``sgd`` arm's replicas
    and recorded steps, through :func:`scenarios.madelung.measures.residual_over_floor` with V
    the known quadratic held fixed. Mass convention as in the claim, m = 1/(2 gamma) from the
    ``step_size`` column: in units of one recorded step the control has m = 1 / NELSON_DT
    (gamma = NELSON_DT / 2), V = NELSON_DT (x^2 + 2 y^2) / 2 and the same hbar. The value is the
    momentum residual over the median of its floor on exact samples of the same size.

Every control draws from its own stream, ``SeedSequence([seed, tag])`` with the tags of
:data:`TAGS` (spawned in two: the planted data, then the estimator's own seed), so no table or
random stream of the run changes. The controls are computed in the analysis and reported in the
verdicts (``positive_control_value``) and the summary; they write no table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from analysis import controls, thermodynamics
from analysis.trajectory import to_array
from runner import AnalysisFailed
from scenarios.madelung import measures
from scenarios.madelung.measures import arm_frame

__all__ = [
    "NELSON_DT",
    "NELSON_HBAR",
    "TAGS",
    "control_streams",
    "entropy_positive",
    "fokker_planck_positive",
    "madelung_positive",
    "planted_grid",
    "planted_nelson",
    "planted_relaxation",
    "positive_controls",
]

TAGS = {"fokker_planck": 8201, "entropy": 8202, "madelung": 8203}
"""The stream tag of each positive control: ``SeedSequence([seed, tag])``."""
NELSON_HBAR = 1.0
"""The Madelung control's hbar (m = 1 in its own time unit)."""
NELSON_DT = 0.1
"""The Madelung control's time per recorded step (its frequencies are 1 and sqrt 2, so
0.1 and 0.14 per step, inside the range of sqrt(h_i / m) of the two-parameter network)."""
COORDS = ["q_0", "q_1"]


def control_streams(seed: int, tag: int) -> tuple[np.random.Generator, int]:
    """A control's data stream and its estimator's integer seed.

    ``SeedSequence([seed, tag])`` spawned in two: a Generator on the first child (the planted
    data), the first 32-bit word of the second (the seed the estimator is called with).

    Examples
    --------
    >>> rng, est = control_streams(1, TAGS["entropy"])
    >>> rng2, est2 = control_streams(1, TAGS["entropy"])
    >>> bool(rng.random() == rng2.random()), est == est2, est != control_streams(2, 8202)[1]
    (True, True, True)
    """
    data, estimator = np.random.SeedSequence([int(seed), int(tag)]).spawn(2)
    return np.random.default_rng(data), int(estimator.generate_state(1)[0])


def _spacing(steps: np.ndarray, what: str) -> int:
    """The uniform spacing of recorded steps (the controls record at the same steps)."""
    gaps = np.unique(np.diff(steps))
    if len(gaps) != 1 or gaps[0] < 1:
        raise AnalysisFailed(f"positive control: {what} is not recorded at uniform steps")
    return int(gaps[0])


def _relabel(frame: pd.DataFrame, steps: np.ndarray) -> pd.DataFrame:
    """Rows 0 .. T-1 of a control table renamed to the recorded steps ``steps``."""
    return frame.assign(step=steps[frame["step"].to_numpy()])


def planted_grid(
    traj: pd.DataFrame, model: pd.DataFrame, rng: np.random.Generator, factor: float = 1.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ornstein-Uhlenbeck ensembles with a planted diffusion in place of the grid cells.

    Per cell ``grid_*``: the cell's replicas and recorded steps, a start drawn from a Gaussian
    with the cell's pooled mean c and covariance C = U diag(w) U^T, and a process sampled
    exactly (:func:`analysis.controls.ou_trajectories`) whose increments over one recorded
    spacing s have covariance 2 d s I after the linear drift, d = ``factor`` gamma^2
    tr(Sigma_hat) / (4 M) per axis (so tr D = ``factor`` times the prediction) and whose
    stationary covariance is C: along U_i the relaxation rate is -ln(1 - 2 d s / w_i) / (2 s)
    (none where 2 d s >= w_i). Sigma_hat is the cell's recorded gradient-noise trace
    (:func:`scenarios.madelung.measures.cell_sigma`); the model rows are the cell's own.

    Parameters
    ----------
    traj, model : pandas.DataFrame
        The run's trajectories and model table (grid arms with ``step_size``, ``batch_size``).
    rng : numpy.random.Generator
        The control's stream (cells in sorted order: start, then increments).
    factor : float
        The planted diffusion over the prediction (1: the claim holds by construction).

    Returns
    -------
    (trajectories, model)
        Tables of the same arms, replicas and steps.

    Examples
    --------
    >>> frames, models = [], []
    >>> for g, m in ((0.1, 4), (0.2, 4), (0.2, 16)):
    ...     arm = f"grid_g{g}_M{m}"
    ...     q = np.random.default_rng(0).normal(0.0, 0.1, (30, 50, 2))
    ...     frames.append(pd.DataFrame({"arm": arm, "step": np.repeat(np.arange(30), 50),
    ...         "replica": np.tile(np.arange(50), 30), "q_0": q[..., 0].ravel(),
    ...         "q_1": q[..., 1].ravel(), "step_size": g, "batch_size": m}))
    ...     models.append(pd.DataFrame({"arm": [arm], "trace_sigma": [1.0]}))
    >>> t, m = planted_grid(pd.concat(frames), pd.concat(models), np.random.default_rng(1))
    >>> t.groupby("arm")["replica"].nunique().tolist(), int(t["step"].max()), len(m)
    ([50, 50, 50], 29, 3)
    """
    cells = sorted(a for a in traj["arm"].unique() if a.startswith("grid_"))
    frames = []
    for arm in cells:
        part = arm_frame(traj, arm)
        ta = to_array(part, COORDS)
        T, R, _ = ta.q.shape
        s = _spacing(ta.steps, arm)
        g, m = float(part["step_size"].iloc[0]), int(part["batch_size"].iloc[0])
        d = factor * g**2 * measures.cell_sigma(model[model["arm"] == arm]) / (2 * m) / 2
        pooled = ta.q.reshape(-1, 2)
        c = pooled.mean(axis=0)
        w, U = np.linalg.eigh(np.cov(pooled, rowvar=False))
        r = 2 * d * s / w
        b = -np.log1p(-np.where(r < 1, r, 0.0)) / (2 * s)
        bb = np.where(b > 0, b, 1.0)
        dc = np.where(b > 0, 2 * d * s * bb / -np.expm1(-2 * bb * s), d)
        q0 = c + rng.standard_normal((R, 2)) @ (U * np.sqrt(w)).T
        ou = controls.ou_trajectories(
            q0, -(U * b) @ U.T, (U * dc) @ U.T, float(s), T - 1, rng, center=c
        )
        frames.append(_relabel(ou, ta.steps).assign(arm=arm, step_size=g, batch_size=m))
    return pd.concat(frames, ignore_index=True), model[model["arm"].isin(cells)].copy()


def planted_relaxation(traj: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A linear Gaussian process sampled like the ``sgd`` arm (arm ``sgd`` of the result).

    The drift A(q) = A0 + J q and diffusion D are those the arm's increments show
    (:func:`analysis.thermodynamics.kramers_moyal`, linear drift), then held fixed: the process
    dq = J (q - c) dt + sqrt(2 D) dW with J c = -A0 (least squares) is sampled exactly
    (:func:`analysis.controls.ou_trajectories`) from a Gaussian start with the arm's step-0
    mean and covariance, with the arm's replicas and recorded steps.

    Examples
    --------
    >>> q0 = np.random.default_rng(0).normal(0.0, 0.1, (200, 2))
    >>> arm = controls.ou_trajectories(q0, -0.05, 0.01, 1.0, 20, seed=1).assign(arm="sgd")
    >>> p = planted_relaxation(arm, np.random.default_rng(2))
    >>> p.shape[0] == arm.shape[0], p["arm"].unique().tolist()
    (True, ['sgd'])
    """
    part = arm_frame(traj, "sgd")
    ta = to_array(part, COORDS)
    T, R, _ = ta.q.shape
    s = _spacing(ta.steps, "the sgd arm")
    km = thermodynamics.kramers_moyal(part, COORDS, bins=8, degree=1)
    J = km.jacobian
    c = np.linalg.lstsq(J, -km.drift_offset, rcond=None)[0]
    D = 0.5 * (km.diffusion + km.diffusion.T)
    q_start = ta.q[0]
    q0 = q_start.mean(axis=0) + rng.multivariate_normal(
        np.zeros(2), np.cov(q_start, rowvar=False), size=R, method="eigh"
    )
    ou = controls.ou_trajectories(q0, J, D, float(s), T - 1, rng, center=c)
    return _relabel(ou, ta.steps).assign(arm="sgd")


def planted_nelson(
    replicas: int, steps: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """Nelson trajectories with a known hbar in a known quadratic V, in units of one step.

    :func:`analysis.controls.harmonic_nelson` (hbar = :data:`NELSON_HBAR`, m = 1, frequencies
    (1, sqrt 2), :data:`NELSON_DT` per recorded step). Measured in recorded steps the same
    dynamics has m = 1 / NELSON_DT and V = NELSON_DT (x^2 + 2 y^2) / 2 with the same hbar; the
    table's ``step_size`` is NELSON_DT / 2, so the claim's convention m = 1/(2 gamma) gives
    that m, and its ``free_energy`` column holds V.

    Returns
    -------
    (trajectories, V, grad V)

    Examples
    --------
    >>> df, v, grad_v = planted_nelson(50, 4, np.random.default_rng(0))
    >>> int(df["step"].max()), float(df["step_size"].iloc[0]), round(float(v([1.0, 1.0])), 6)
    (4, 0.05, 0.15)
    """
    w2 = np.array([1.0, 2.0])  # omega^2 of harmonic_nelson's default frequencies (1, sqrt 2)

    def v_fn(x: np.ndarray) -> np.ndarray:
        return 0.5 * NELSON_DT * (np.asarray(x, dtype=float) ** 2 @ w2)

    def grad_v(x: np.ndarray) -> np.ndarray:
        return NELSON_DT * np.asarray(x, dtype=float) * w2

    df = controls.harmonic_nelson(replicas, steps, rng, hbar=NELSON_HBAR, dt=NELSON_DT)
    df = df.assign(step_size=NELSON_DT / 2, free_energy=v_fn(df[COORDS].to_numpy()))
    return df, v_fn, grad_v


def fokker_planck_positive(traj: pd.DataFrame, model: pd.DataFrame, seed: int) -> dict[str, Any]:
    """|slope - 1| of :func:`~scenarios.madelung.measures.fokker_planck_grid` on
    :func:`planted_grid` (stream ``SeedSequence([seed, 8201])``).

    Returns
    -------
    dict
        ``value`` (|slope - 1|), ``slope``, ``slope_ci``.

    Examples
    --------
    The whole path runs in the scenario's ``--quick`` test and in
    tests/scenarios/test_madelung_positive.py; it needs grid cells:

    >>> try:
    ...     fokker_planck_positive(pd.DataFrame({"arm": ["sgd"]}), pd.DataFrame(), 0)
    ... except AnalysisFailed as err:
    ...     print(err)
    Fokker-Planck: 0 grid cells; need at least 3
    """
    rng, _ = control_streams(seed, TAGS["fokker_planck"])
    if sum(str(a).startswith("grid_") for a in traj["arm"].unique()) < 3:
        return measures.fokker_planck_grid(traj, model, [])[0]  # raises the estimator's error
    planted, pmodel = planted_grid(traj, model, rng)
    stats, _ = measures.fokker_planck_grid(planted, pmodel, [])
    return {
        "value": abs(stats["slope"] - 1.0),
        "slope": stats["slope"],
        "slope_ci": stats["slope_ci"],
    }


def entropy_positive(traj: pd.DataFrame, seed: int) -> dict[str, Any]:
    """RMS closure of :func:`~scenarios.madelung.measures.entropy_closure` on
    :func:`planted_relaxation` (stream ``SeedSequence([seed, 8202])``).

    Returns
    -------
    dict
        ``value`` (the closure), ``ci`` and ``null`` (the closure without the production term).

    Examples
    --------
    >>> q0 = np.random.default_rng(0).normal(0.0, 0.1, (300, 2))
    >>> arm = controls.ou_trajectories(q0, -0.05, 0.02, 1.0, 60, seed=1).assign(arm="sgd")
    >>> res = entropy_positive(arm, 0)
    >>> bool(res["value"] < 0.25 < res["null"])
    True
    """
    rng, est_seed = control_streams(seed, TAGS["entropy"])
    stats, _ = measures.entropy_closure(planted_relaxation(traj, rng), [], est_seed)
    return {"value": stats["closure"], "ci": stats["ci"], "null": stats["control"]}


def madelung_positive(
    replicas: int, steps: int, seed: int, draws: int, bootstrap: int
) -> dict[str, Any]:
    """Momentum residual over its floor (:func:`~scenarios.madelung.measures.residual_over_floor`)
    on :func:`planted_nelson` (stream ``SeedSequence([seed, 8203])``).

    Parameters
    ----------
    replicas, steps : int
        The ``sgd`` arm's replicas and recorded steps after the first (as fitted).
    seed : int
        The run's seed.
    draws, bootstrap : int
        Floor draws and bootstrap draws, as for the claim.

    Returns
    -------
    dict
        ``value`` (residual over the median floor), ``ci`` (over the largest and the smallest
        floor draw), ``hbar`` (fitted, m = 1 / NELSON_DT) and ``hbar_known``.

    Examples
    --------
    >>> res = madelung_positive(120, 24, 0, 2, 0)
    >>> sorted(res), res["hbar_known"]
    (['ci', 'hbar', 'hbar_known', 'value'], 1.0)
    """
    rng, est_seed = control_streams(seed, TAGS["madelung"])
    df, _, grad_v = planted_nelson(replicas, steps, rng)
    fit, floor = measures.residual_over_floor(df, grad_v, draws, bootstrap, est_seed)
    value, lo, hi = measures.floor_ratios(fit.momentum_residual, floor)
    return {
        "value": value,
        "ci": (lo, hi),
        "hbar": fit.hbar,
        "hbar_known": NELSON_HBAR,
    }


def positive_controls(
    traj: pd.DataFrame, model: pd.DataFrame, setup: dict[str, Any], seed: int, start: int = 0
) -> dict[str, dict[str, Any]]:
    """The three positive controls at the run's sizes, with one summary line each.

    Parameters
    ----------
    traj, model : pandas.DataFrame
        The run's trajectories and model table.
    setup : dict
        The setup row (``floor_draws``, ``bootstrap``).
    seed : int
        The run's seed.
    start : int
        The first step of the ``sgd`` arm the Madelung claim fits (its replicas and steps from
        there on size the Madelung control).

    Returns
    -------
    dict
        ``fokker_planck``, ``entropy``, ``madelung`` -> the dict of its control, plus
        ``summary`` (lines for the summary).

    Examples
    --------
    The whole path runs in the scenario's ``--quick`` test; without grid cells:

    >>> try:
    ...     positive_controls(pd.DataFrame({"arm": ["sgd"]}), pd.DataFrame(), {}, 0)
    ... except AnalysisFailed as err:
    ...     print(err)
    Fokker-Planck: 0 grid cells; need at least 3
    """
    fp = fokker_planck_positive(traj, model, seed)
    eb = entropy_positive(traj, seed)
    sgd = arm_frame(traj, "sgd")
    sgd = sgd[sgd["step"] >= start]
    md = madelung_positive(
        int(sgd["replica"].nunique()),
        int(sgd["step"].nunique()) - 1,
        seed,
        int(setup["floor_draws"]),
        int(setup["bootstrap"]),
    )
    lo, hi = fp["slope_ci"]
    summary = {
        "positive control, Fokker-Planck (planted OU, tr D = gamma^2 Sigma_hat/(2M)): slope": (
            f"{fp['slope']:.4f} [{lo:.4f}, {hi:.4f}]; |slope - 1| = {fp['value']:.4g}"
        ),
        "positive control, entropy budget (planted linear Gaussian process): closure": (
            f"{eb['value']:.4g} [{eb['ci'][0]:.4g}, {eb['ci'][1]:.4g}]; without the production "
            f"term {eb['null']:.4g}"
        ),
        "positive control, Madelung (Nelson, known hbar = 1, m = 1/(2 gamma) = 10 per step)": (
            f"residual / floor {md['value']:.4g} [{md['ci'][0]:.4g}, {md['ci'][1]:.4g}]; fitted "
            f"hbar {md['hbar']:.4g} (known {md['hbar_known']:g})"
        ),
    }
    return {"fokker_planck": fp, "entropy": eb, "madelung": md, "summary": summary}
