"""The two descriptions of the ``duality`` run, each scored against its own null.

Quantum side (:func:`quantum_score`): the Madelung fit of the first half predicts the density of
``q`` after the event by Schrödinger evolution, against the frozen density
(:func:`frozen_null`). Gravity side (:func:`gravity_score`): geodesics of the first half's local
metric predict the packet paths of ``x``, against straight lines. :func:`measure` scores one saved
run both ways, its block-shuffled control and the positive control (:func:`positive_control`),
with joint bootstrap resamples; :func:`diagnostic_rows`, :func:`summary_numbers` and
:func:`run_notes` turn the result into the report's diagnostics, summary and notes.

Random streams: ``default_rng([seed, salt])`` with salts 23 (block shuffle), 29 (bootstrap), 31
(frozen-null floor) and 37 (positive-control noise); the Nelson positive control draws from
``default_rng(seed)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis import schrodinger
from analysis.controls import block_shuffle, harmonic_nelson
from analysis.geometry import geodesic
from analysis.spacetime import (
    block_length,
    geodesic_test,
    local_metric,
    moving_block_indices,
    polynomial_metric,
)
from analysis.trajectory import to_array, to_frame
from models import SystemConfig
from runner import AnalysisFailed
from scenarios.common import QUENCH_SCALE, arm_coordinates, replica_blocks
from scenarios.common.geometry import (
    METRIC_BINS,
    METRIC_DEGREE,
    hidden_groups,
    lag1,
    metric_box,
)
from scenarios.duality.arms import ARM, BLOCKS, mid_step
from scenarios.transition import (
    COORDS,
    POSITIVE_DT,
    POSITIVE_HBAR,
    hbar_magnitude,
    madelung_fit,
    quadratic_potential,
)

__all__ = [
    "BOOTSTRAP",
    "CI_LEVEL",
    "COORDS",
    "FLOOR_DRAWS",
    "NULL_STEPS",
    "N_TIMES",
    "PATH_STEPS",
    "PATH_STEPS_QUICK",
    "PATH_STRIDE",
    "POSITIVE_REPLICAS",
    "POSITIVE_STEPS",
    "diagnostic_rows",
    "frozen_null",
    "gravity_score",
    "measure",
    "positive_control",
    "quantum_score",
    "run_notes",
    "summary_numbers",
]

PATH_STEPS = 40
PATH_STEPS_QUICK = 16
PATH_STRIDE = 2
N_TIMES = 12
NULL_STEPS = 20
POSITIVE_REPLICAS = 400
POSITIVE_STEPS = 120
FLOOR_DRAWS = 20
BOOTSTRAP = 400
CI_LEVEL = 0.99
"""Level of the statistic's percentile interval. The score is a median over ``N_TIMES - 1``
dependent evaluation times: the nominal 95 % interval of such a median covers its planted value
in about 81 % of runs at lag-1 correlation 0.5 between times (measured, moving blocks of 2), the
nominal 99 % interval in about 87 %."""


def frozen_null(
    pre: pd.DataFrame, post: pd.DataFrame, comp: schrodinger.EvolutionComparison, seed: int
) -> np.ndarray:
    """Hellinger / floor of the frozen-density null at the comparison's evaluation steps.

    The null density is the histogram of q pooled over the last ``NULL_STEPS`` recorded steps
    of ``pre`` (known before the event; pooling keeps its own sampling noise small, so that it
    is the best time-independent description, not a noisy single snapshot). It is binned on the
    comparison's grid (``bins`` per axis over the box of ``post`` from ``t0`` on, padded by a
    quarter of the range, as in :func:`analysis.schrodinger.compare_evolution`) and compared
    with the ensemble at every evaluation step of ``comp.table``; the floor is the median
    Hellinger distance of R exact samples from it.

    Examples
    --------
    >>> from analysis.controls import ou_trajectories
    >>> rng = np.random.default_rng(0)
    >>> ou = ou_trajectories(rng.normal(0, 0.7, (200, 2)), -1.0, 0.5, 0.2, 40, seed=1)
    >>> comp = schrodinger.compare_evolution(ou[ou.step >= 20], COORDS, hbar=0.1,
    ...                                      n_times=4, floor_draws=10)
    >>> r = frozen_null(ou[ou.step < 20], ou[ou.step >= 20], comp, 0)
    >>> r.shape, bool(np.all(r < 1.5))
    ((4,), True)
    """
    s = comp.settings
    bins = int(s["bins"])
    qa = to_array(post, COORDS)
    q = qa.q
    seg = q[s["t0"] :]
    lo, hi = seg.min(axis=(0, 1)), seg.max(axis=(0, 1))
    span = np.maximum(hi - lo, 1e-12)
    lo, hi = lo - 0.25 * span, hi + 0.25 * span
    h = (hi - lo) / bins
    shape = (bins,) * q.shape[-1]
    nb = bins ** q.shape[-1]
    ref = to_array(pre, COORDS).q[-NULL_STEPS:].reshape(-1, q.shape[-1])
    p0 = np.bincount(schrodinger.bin_index(ref, lo, h, shape), minlength=nb) / len(ref)
    idx = np.searchsorted(qa.steps, comp.table["step"].to_numpy())
    R = q.shape[1]
    emp = np.stack(
        [np.bincount(schrodinger.bin_index(q[i], lo, h, shape), minlength=nb) / R for i in idx]
    )
    rng = np.random.default_rng([seed, 31])
    floor = schrodinger.hellinger_floor(p0, R, FLOOR_DRAWS, rng)
    return schrodinger.hellinger(emp, p0[None, :]) / floor


def quantum_score(
    pre: pd.DataFrame, post: pd.DataFrame, seed: int, quick: bool
) -> tuple[float, np.ndarray, np.ndarray, dict[str, Any]]:
    """Out-of-sample Schrödinger prediction of q over the frozen-density null.

    ``pre`` (fit window) gives the Madelung fit (hbar, quadratic potential, mass
    ``1 / (2 <step_size>)``) and the null (:func:`frozen_null`); ``post`` (from the event on)
    is predicted from its state at the comparison's ``t0``. Returns ``score_q`` (median
    Hellinger/floor of the Schrödinger prediction over that of the null, evaluation times after
    the start), the per-time ratios (Schrödinger, null) and the details (fit, comparison).

    Examples
    --------
    >>> from analysis.controls import ou_trajectories
    >>> rng = np.random.default_rng(0)
    >>> ou = ou_trajectories(rng.normal(0, 0.7, (200, 2)), -1.0, 0.5, 0.2, 60, seed=1)
    >>> ou = ou.assign(step_size=0.5)
    >>> score, rs, rf, _ = quantum_score(ou[ou.step < 30], ou[ou.step >= 30], 0, quick=True)
    >>> rs.shape == rf.shape == (N_TIMES - 1,)
    True
    """
    gamma = float(pre["step_size"].mean())
    mass = 1.0 / (2.0 * gamma)
    fit = madelung_fit(pre, mass, seed, quick)
    hbar = hbar_magnitude(fit) * mass
    if not np.isfinite(hbar) or hbar <= 0:
        raise AnalysisFailed(f"Madelung fit: hbar = {hbar}; expected a positive number")
    comp = schrodinger.compare_evolution(
        post,
        COORDS,
        hbar=hbar,
        mass=mass,
        potential=quadratic_potential(fit),
        n_times=N_TIMES,
        floor_draws=FLOOR_DRAWS,
        seed=seed,
    )
    rs = comp.table["ratio_schrodinger"].to_numpy(dtype=float)[1:]
    rf = frozen_null(pre, post, comp, seed)[1:]
    score = float(np.median(rs) / np.median(rf))
    details = {"fit": fit, "comparison": comp, "mass": mass, "hbar": hbar, "rs": rs, "rf": rf}
    return score, rs, rf, details


def gravity_score(
    X: np.ndarray, t_fit: tuple[int, int], t_mid: int, path_steps: int, min_weight: float
) -> tuple[float, np.ndarray, np.ndarray, dict[str, Any]]:
    """Geodesics of the first half's metric over straight lines for the packet paths.

    ``X`` is (T, R, 4) with ``X[i]`` = step ``i + 1``; ``t_fit`` the fit window (steps);
    the paths are the block means from step ``t_mid + 1`` on. Returns ``score_x``, the per-path
    chi^2 on the metric and flat, and the details.
    """
    blocks = replica_blocks(X.shape[1], BLOCKS)
    a, b = t_fit[0] - 1, t_fit[1] - 1
    fit_X = X[a:b]
    seg = X[t_mid : t_mid + path_steps + 1 : PATH_STRIDE]
    paths = [seg[:, rows].mean(axis=1) for rows in blocks]
    ref = fit_X[::PATH_STRIDE]
    noise = np.array(
        [float(np.std(np.diff(ref[:, rows].mean(axis=1), axis=0)) / np.sqrt(2)) for rows in blocks]
    )
    noise = np.maximum(noise, 1e-12)
    limits = metric_box(fit_X, paths)
    # a small run may leave every patch below min_weight (7^4 patches for about 1400 samples at
    # quick size): the threshold halves until some patch reaches it, down to one sample
    while True:
        try:
            lm = local_metric(fit_X, 1.0, bins=METRIC_BINS, limits=limits, min_weight=min_weight)
            break
        except ValueError as exc:
            if "no patch has weight" not in str(exc) or min_weight <= 1.0:
                raise
            min_weight = max(min_weight / 2, 1.0)
    gpoly = polynomial_metric(lm.g, METRIC_DEGREE)
    geo = geodesic_test(paths, gpoly, lm.spacing, lm.origin, noise, PATH_STRIDE, substeps=1)
    d = X.shape[-1]
    dofs = geo.n_samples * d - 2 * d
    chi = geo.per_path * dofs
    chi_flat = geo.per_path_flat * dofs
    score = float(np.median(chi / chi_flat))
    details = {"geo": geo, "paths": paths, "noise": noise, "lm": lm, "g": gpoly}
    return score, chi, chi_flat, {**details, "min_weight": min_weight}


def positive_control(xd: dict[str, Any], seed: int, quick: bool) -> tuple[float, float]:
    """Both scores on synthetic data where both descriptions hold (the positive control).

    Quantum: Nelson trajectories of an oscillating 2-D harmonic superposition with a known hbar
    (:func:`analysis.controls.harmonic_nelson` with the transition scenario's ``POSITIVE_HBAR`` and
    ``POSITIVE_DT``, ``POSITIVE_REPLICAS`` replicas,
    ``POSITIVE_STEPS`` steps, mass 1), split in halves exactly as the run. Gravity: exact
    geodesics of the run's first-half metric from the fitted starts (``xd`` from
    :func:`gravity_score`), sampled like the packet paths, with Gaussian noise of the paths'
    size, through the same fit; fitted starts outside the box are skipped and paths that (noise
    included) leave the box within 5 samples are dropped (``score_x`` is NaN when none is
    left). Returns ``(score_q, score_x)``.
    """
    n = POSITIVE_STEPS // 2 if quick else POSITIVE_STEPS
    rng = np.random.default_rng(seed)
    nelson = harmonic_nelson(POSITIVE_REPLICAS, n, rng, hbar=POSITIVE_HBAR, dt=POSITIVE_DT)
    nelson = nelson.assign(step_size=0.5)
    half = n // 2
    sq = quantum_score(nelson[nelson.step < half], nelson[nelson.step >= half], seed, quick)[0]
    geo, paths, noise = xd["geo"], xd["paths"], xd["noise"]
    n_max = max(len(p) for p in paths)
    lm = xd["lm"]
    lo = np.asarray(lm.origin, dtype=float)
    hi = lo + np.asarray(lm.spacing, dtype=float) * (np.asarray(xd["g"].shape[: lo.size]) - 1)
    # fitted starts may lie outside the box (a best-fit geodesic may leave it): start only
    # from the ones inside
    inside0 = np.all((geo.x0 >= lo) & (geo.x0 <= hi), axis=1)
    idx = np.nonzero(inside0)[0]
    if idx.size == 0:
        return sq, float("nan")
    synth = geodesic(
        xd["g"], lm.spacing, lm.origin, geo.x0[idx], geo.v0[idx], n_max - 1, PATH_STRIDE
    ).path
    rng = np.random.default_rng([seed, 37])
    keep, sig = [], []
    for j, i in enumerate(idx):
        p = synth[:, j] + noise[i] * rng.normal(size=synth[:, j].shape)
        ok = np.all(np.isfinite(p) & (p >= lo) & (p <= hi), axis=1)
        n_ok = int(np.argmin(ok)) if not ok.all() else len(p)
        if n_ok >= 5:  # a noisy sample outside the box ends the path, as for the data
            keep.append(p[:n_ok])
            sig.append(noise[i])
    if not keep:
        return sq, float("nan")
    try:
        res = geodesic_test(
            keep, xd["g"], lm.spacing, lm.origin, np.array(sig), PATH_STRIDE, substeps=1
        )
    except ValueError:
        return sq, float("nan")
    return sq, float(np.median(res.per_path / res.per_path_flat))


def _boot_statistic(
    rs: np.ndarray, rf: np.ndarray, chi: np.ndarray, chi_flat: np.ndarray, seed: int
) -> np.ndarray:
    """Joint resamples of max(score_q, score_x): evaluation times and paths resampled.

    The evaluation times of one run are a dependent sequence: they are resampled by the
    moving-block bootstrap (blocks of :func:`analysis.spacetime.block_length` consecutive
    times); the packet paths, means of independent replica blocks, one by one. Rows:
    score_q, score_x, statistic; ``BOOTSTRAP`` columns.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> rs, rf = 1 + 0.1 * rng.random(11), 2 + 0.1 * rng.random(11)
    >>> b = _boot_statistic(rs, rf, np.full(4, 10.0), np.full(4, 20.0), 0)
    >>> b.shape, bool(np.all(b[2] == np.maximum(b[0], b[1])))
    ((3, 400), True)
    """
    rng = np.random.default_rng([seed, 29])
    ti = moving_block_indices(rs.size, BOOTSTRAP, block_length(rs.size), rng)
    pi = rng.integers(0, chi.size, (BOOTSTRAP, chi.size))
    sq = np.median(rs[ti], axis=1) / np.median(rf[ti], axis=1)
    sx = np.median((chi / chi_flat)[pi], axis=1)
    return np.stack([sq, sx, np.maximum(sq, sx)])


def _active_edges(
    edges: pd.DataFrame, states: pd.DataFrame, window: tuple[int, int]
) -> pd.DataFrame:
    """The wiring among the hidden slots active at every step of ``window`` (``adaptive`` arm).

    A slot the neuron-count controller has not filled yet has state 0 in every replica; a
    coordinate made of such slots alone is constant over those steps (a singular ensemble
    covariance in the fit window), so the groups are built from the slots active (in some
    replica) at every step of the fit window ``[window[0], window[1])``.

    Examples
    --------
    >>> e = pd.DataFrame({"src": [2, 3], "dst": [3, 4], "weight_mean": 1.0,
    ...                   "src_kind": "hidden", "dst_kind": "hidden"})
    >>> st = pd.DataFrame({"arm": ARM, "step": 1, "neuron": [2, 3, 4], "state": [0.1, 0.2, 0]})
    >>> _active_edges(e, st, (1, 2))[["src", "dst"]].values.tolist()
    [[2, 3]]
    """
    st = states[states["arm"] == ARM] if "arm" in states else states
    st = st[(st["step"] >= window[0]) & (st["step"] < window[1])]
    on = st.assign(on=st["state"] != 0).groupby(["neuron", "step"])["on"].any()
    per = on.groupby(level="neuron").agg(["all", "size"])
    n_steps = st["step"].nunique()
    active = set(per.index[per["all"] & (per["size"] == n_steps)].astype(int))
    hidden = (edges["src_kind"] == "hidden") | (edges["dst_kind"] == "hidden")
    keep = ~hidden | (
        ((edges["src_kind"] != "hidden") | edges["src"].astype(int).isin(active))
        & ((edges["dst_kind"] != "hidden") | edges["dst"].astype(int).isin(active))
    )
    return edges[keep]


def _shuffle_frame(traj: pd.DataFrame, perms: np.ndarray) -> pd.DataFrame:
    arr = to_array(traj, COORDS, extra=("step_size",))
    rows = perms[arr.steps]
    q = np.take_along_axis(arr.q, rows[:, :, None], axis=1)
    return to_frame(q, arr.steps, step_size=arr.extra["step_size"])


def measure(
    tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
) -> dict[str, Any]:
    """Both scores of the saved run, of its block-shuffled control and of the positive control.

    The fit window is steps ``[t_mid // 3, t_mid)``, the event at ``t_mid = mid_step(steps)``;
    the gravity side follows the packets ``PATH_STEPS`` (quick ``PATH_STEPS_QUICK``) steps. The
    control permutes the replicas within their packet block at every step
    (:func:`analysis.controls.block_shuffle`). Returns a dict: the statistic ``value`` with its
    bootstrap interval (``lo``, ``hi``: rows score_q, score_x, statistic), ``control``,
    ``positive``, both sides' scores and details for the run (``run``) and the control
    (``control_sides``), the positive control's scores and the windows.
    """
    quick = bool(meta.get("quick", False))
    steps = int(meta["steps"])
    seed = int(config.seed)
    t_mid = mid_step(steps)
    t_fit = (max(1, t_mid // 3), t_mid)
    path_steps = min(PATH_STEPS_QUICK if quick else PATH_STEPS, steps - t_mid - 1)
    min_weight = 5.0 if quick else 20.0

    ev = tables["events"]
    inj = ev[(ev["arm"] == ARM) & (ev["action"] == "inject_packet")]
    if inj.empty:
        raise AnalysisFailed("events: no inject_packet event in the adaptive arm")
    t_inj = int(inj["step"].min())
    if t_inj != t_mid:
        raise AnalysisFailed(f"events: packet injected at step {t_inj}; expected {t_mid}")

    traj = tables["trajectories"]
    traj = traj[traj["arm"] == ARM].drop(columns="arm")
    groups = hidden_groups(_active_edges(tables["edges"], tables["neuron_states"], t_fit), seed)
    X = arm_coordinates(tables, ARM, groups)  # X[i] = step i + 1
    R = X.shape[1]
    lag1_x = float(np.nanmean(lag1(X[t_fit[0] - 1 : t_fit[1] - 1])))

    def sides(tj: pd.DataFrame, XX: np.ndarray) -> tuple:
        pre = tj[(tj["step"] >= t_fit[0]) & (tj["step"] < t_fit[1])]
        post = tj[tj["step"] >= t_mid]
        q = quantum_score(pre, post, seed, quick)
        x = gravity_score(XX, t_fit, t_mid, path_steps, min_weight)
        return q, x

    (sq, rs, rf, qd), (sx, chi, chi_flat, xd) = sides(traj, X)
    boots = _boot_statistic(rs, rf, chi, chi_flat, seed)
    lo, hi = np.percentile(boots, [(1 - CI_LEVEL) / 2 * 100, (1 + CI_LEVEL) / 2 * 100], axis=1)
    value = max(sq, sx)

    # control: the same run with replicas permuted within their block at every step
    n_steps = int(max(traj["step"].max(), X.shape[0])) + 1
    perms = block_shuffle(replica_blocks(R, BLOCKS), n_steps, np.random.default_rng([seed, 23]))
    traj_c = _shuffle_frame(traj, perms)
    X_c = np.take_along_axis(X, perms[1 : X.shape[0] + 1, :, None], axis=1)
    (sq_c, rs_c, rf_c, qd_c), (sx_c, chi_c, chi_flat_c, xd_c) = sides(traj_c, X_c)
    control = max(sq_c, sx_c)
    pos_q, pos_x = positive_control(xd, seed, quick)
    positive = max(pos_q, pos_x) if np.isfinite(pos_x) else np.nan
    return {
        "value": value,
        "lo": lo,
        "hi": hi,
        "control": control,
        "positive": positive,
        "pos_q": pos_q,
        "pos_x": pos_x,
        "run": (qd, xd, rs, rf, chi, chi_flat, sq, sx),
        "control_sides": (qd_c, xd_c, rs_c, rf_c, chi_c, chi_flat_c, sq_c, sx_c),
        "boots": boots,
        "traj": traj,
        "groups": groups,
        "lag1_x": lag1_x,
        "replicas": R,
        "steps": steps,
        "t_mid": t_mid,
        "t_fit": t_fit,
        "path_steps": path_steps,
    }


def diagnostic_rows(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Diagnostics rows of a :func:`measure` result: scores, both sides' details, per time and
    per path."""
    qd, xd, _, _, chi, _, sq, sx = res["run"]
    qd_c, xd_c, _, _, _, _, sq_c, sx_c = res["control_sides"]
    lo, hi, value, control = res["lo"], res["hi"], res["value"], res["control"]
    pos_q, pos_x, positive = res["pos_q"], res["pos_x"], res["positive"]
    rows: list[dict[str, Any]] = []
    for quantity, v in (("score_q", pos_q), ("score_x", pos_x), ("statistic", positive)):
        rows.append(
            {"arm": "positive_control", "diagnostic": "duality", "quantity": quantity, "value": v}
        )
    for arm, vals, ci in (
        ("adaptive", (sq, sx, value), (lo, hi)),
        ("block_shuffled", (sq_c, sx_c, control), None),
    ):
        for i, name in enumerate(("score_q", "score_x", "statistic")):
            row = {"arm": arm, "diagnostic": "duality", "quantity": name, "value": vals[i]}
            if ci is not None:
                row["ci_low"], row["ci_high"] = float(ci[0][i]), float(ci[1][i])
            rows.append(row)
    for arm, q, x in (("adaptive", qd, xd), ("block_shuffled", qd_c, xd_c)):
        comp, geo = q["comparison"], x["geo"]
        for quantity, v in (
            ("hbar", q["hbar"]),
            ("mass", q["mass"]),
            ("hbar2_over_m2 (signed)", q["fit"].hbar2_over_m2),
            ("madelung_momentum_residual", q["fit"].momentum_residual),
            ("median_ratio_schrodinger", float(np.median(q["rs"]))),
            ("median_ratio_frozen", float(np.median(q["rf"]))),
            ("median_ratio_fokker_planck", comp.fokker_planck_ratio),
        ):
            rows.append({"arm": arm, "diagnostic": "quantum", "quantity": quantity, "value": v})
        for quantity, v in (
            ("chi2_dof", geo.chi2_dof),
            ("chi2_dof_flat", geo.chi2_dof_flat),
            ("chi2_dof_shuffled_metric", geo.chi2_dof_shuffled),
            ("dof", float(geo.dof)),
            ("metric_valid_patches", float(x["lm"].valid.mean())),
        ):
            rows.append({"arm": arm, "diagnostic": "gravity", "quantity": quantity, "value": v})
        t_steps = comp.table["step"].to_numpy()[1:]
        for name, vals in (("ratio_schrodinger", q["rs"]), ("ratio_frozen", q["rf"])):
            for step, v in zip(t_steps, vals, strict=True):
                rows.append(
                    {
                        "arm": arm,
                        "diagnostic": "quantum_time",
                        "quantity": name,
                        "window": int(step),
                        "value": float(v),
                    }
                )
        for i in range(len(chi)):
            for quantity, v in (
                ("chi2_dof_metric", x["geo"].per_path[i]),
                ("chi2_dof_flat", x["geo"].per_path_flat[i]),
            ):
                rows.append(
                    {
                        "arm": arm,
                        "diagnostic": "gravity_path",
                        "quantity": quantity,
                        "window": i,
                        "value": float(v),
                    }
                )
    return rows


def summary_numbers(
    res: dict[str, Any], model: pd.DataFrame, config: SystemConfig
) -> dict[str, float | int | str]:
    """The report's summary numbers of a :func:`measure` result (``model``: the model table)."""
    qd, xd, _, _, _, _, sq, sx = res["run"]
    sq_c, sx_c = res["control_sides"][6:]
    model = model[model["arm"] == ARM]
    return {
        "score_q": sq,
        "score_x": sx,
        "score_q_control": sq_c,
        "score_x_control": sx_c,
        "hbar_fit": qd["hbar"],
        "mass_fit": qd["mass"],
        "chi2_dof_metric": xd["geo"].chi2_dof,
        "chi2_dof_flat": xd["geo"].chi2_dof_flat,
        "final_n_neurons": float(model["n_neurons"].iloc[-1]),
        "final_step_size": float(model["step_size"].iloc[-1]),
        "final_batch_size": float(model["batch_size"].iloc[-1]),
        "mid_step": res["t_mid"],
        "replicas": res["replicas"],
        "groups": " | ".join(",".join(map(str, g)) for g in res["groups"]),
        "state_source": str(config.state_source),
        "lag1_autocorr_x": res["lag1_x"],
    }


def run_notes(res: dict[str, Any], config: SystemConfig) -> list[str]:
    """The report's notes on a :func:`measure` result."""
    t_fit, t_mid, steps = res["t_fit"], res["t_mid"], res["steps"]
    pos_q, pos_x = res["pos_q"], res["pos_x"]
    return [
        f"Fit window: steps [{t_fit[0]}, {t_fit[1]}); at step {t_mid} the teacher is quenched "
        f"(x {QUENCH_SCALE}) and {BLOCKS} packets are injected; the quantum side predicts "
        f"steps {t_mid}..{steps}, the gravity side {res['path_steps']} steps after the "
        "injection.",
        "The adaptive step-size controller enforces hbar(gamma, M) = |mu_c| / 2 pi (a setting); "
        "the hbar used here is the Madelung fit's, not the setting.",
        "Both nulls are measured on the same run: the frozen density (q) and straight lines (x). "
        "score < 1 means the description predicts better than its null.",
        f"x from {config.state_source} states: lag-1 autocorrelation of x in the fit window "
        f"{res['lag1_x']:.3f} (mean over axes; near 0 means step-to-step sampling noise).",
        f"Positive control: score_q {pos_q:.3g} (Nelson superposition), score_x {pos_x:.3g} "
        "(exact geodesics of the first-half metric with path noise; NaN when all leave the box).",
    ]
