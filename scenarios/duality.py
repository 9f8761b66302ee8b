"""One adaptive run, two descriptions: Schrödinger for q, geodesics of an emergent metric for x.

Scenario ``duality`` (``dualsim run duality``; PHYSICS.md 4-6). ONE adaptive run is analysed
both ways side by side, each description against its own null on the same run.

The run (arm ``adaptive``)
--------------------------
The ``spacetime`` network (small-world hidden layer of 24 tanh neurons, up to
``N_HIDDEN_MAX`` hidden slots, 2 inputs, 1 output, teacher task, neuron states recorded every
step) with the ``transition`` scenario's adaptive controllers
(:func:`scenarios.transition.adaptive_controllers`: grand-canonical neuron count, step-size
``consistency`` policy, batch-size ``noise_scale`` policy). At ``t_mid = steps // 2`` two
things happen before the next step: the transition scenario's quench (teacher weights x 0.6)
and a packet injection (the replicas are split into ``BLOCKS`` blocks; block ``b`` gets a
packet centred on neuron group ``b mod 4``, amplitude/width/decay of the spacetime scenario).
The first half is the *fit* window, the second half the *prediction* window: every constant
a prediction uses is fixed from the first half.

Quantum side (q = ``q_0, q_1``, two fixed random projections of the parameter vector)
    The Madelung fit of the first half (steps ``[t_mid // 3, t_mid)``, quadratic potential,
    mass ``1 / (2 <gamma>)``) gives ``|hbar/m|`` and the potential; from the ensemble just
    after ``t_mid`` the density and velocity phase are propagated by Schrödinger
    (:func:`analysis.schrodinger.compare_evolution`) and compared with the ensemble's density
    at ``N_TIMES`` evaluation times (Hellinger distance over its sampling floor). Null: the
    *frozen* density, q pooled over the last ``NULL_STEPS`` steps before the event (nothing
    moves; pooled, because a single-snapshot density carries its own sampling noise and loses
    to any smoothing prediction even on stationary data: :func:`frozen_null`).
    ``score_q = median(H/floor, Schrödinger) / median(H/floor, frozen)``. The measured-drift
    Fokker-Planck prediction of the same comparison is reported as a diagnostic.
Gravity side (x = ``X^0 .. X^3``, the mean states of 4 Louvain groups of hidden neurons,
:func:`scenarios.spacetime.hidden_groups` on the saved ``edges`` table; states are probe
states, ``state_source = "probe"``: mean free-running states over the fixed probe inputs, a
function of the weights and the injected drive only, free of mini-batch sampling noise;
``--set state_source=batch`` gives the old mini-batch-mean states for comparison)
    The local metric of the first half (:func:`analysis.spacetime.local_metric` on steps
    ``[t_mid // 3, t_mid)``, polynomial model of degree 3, the spacetime scenario's grid
    settings) and the path noise (step-to-step fluctuation of each block mean over the same
    window) are fixed; the ``BLOCKS`` packet paths (block means of x over ``PATH_STEPS`` steps
    after the injection, every ``PATH_STRIDE`` steps) are fitted by geodesics of that metric and
    by straight lines (flat metric, the null), both with their start position and velocity free
    (:func:`analysis.spacetime.geodesic_test`). ``score_x`` = median over the paths of
    ``chi2/dof(metric) / chi2/dof(flat)`` (a median, like the quantum side's over times: one
    geodesic that leaves the metric's box carries a 1e4-per-sample penalty and would otherwise
    set the pooled number alone; the pooled chi2/dof are reported as diagnostics).

Verdict ``duality`` (threshold fixed here)
------------------------------------------
Statistic ``max(score_q, score_x)``: below ``THRESHOLD`` = 1 exactly when BOTH descriptions
predict better than their nulls. Interval: percentile (level ``CI_LEVEL``) of ``BOOTSTRAP``
joint resamples, evaluation times resampled for ``score_q`` and packet paths for
``score_x``. Control: the same statistic on the same run with replicas permuted within their
packet block independently at every step (densities of q and block-mean paths of x are
unchanged, trajectories are destroyed: hbar, the phase and the metric lose the dynamical
information; the frozen and straight-line nulls are identical). The framework calls a
supported verdict inconclusive when the control passes too. Positive control
(:func:`positive_control`): the same statistic on synthetic data where both descriptions hold
(Nelson trajectories of a quantum superposition for q; exact geodesics of the run's own
first-half metric with noise of the paths' size for x); empty when every such geodesic
leaves the metric's box within 5 samples.

Units: q in parameter units, x in neuron-state units, time in learning steps (dt = 1).

Run as ``dualsim run duality`` or ``duality.run()``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import schrodinger
from analysis.geometry import geodesic
from analysis.spacetime import geodesic_test, local_metric, polynomial_metric
from analysis.trajectory import to_array, to_frame
from analysis.verdicts import Verdict, diagnostics_frame
from models import LearningSystem, SystemConfig
from runner import (
    Analysis,
    AnalysisFailed,
    Experiment,
    arm_tables,
    concat_arms,
    run_arm,
    scenario_run,
)
from scenarios import transition as tr
from scenarios.common import (
    arm_coordinates,
    check_network,
    inject_block_packets,
    replica_blocks,
    tidy_events,
)
from scenarios.common.geometry import (
    METRIC_BINS,
    METRIC_DEGREE,
    hidden_groups,
    lag1,
    metric_box,
    small_world_config,
    wiring_table,
)

ARM = "adaptive"
COORDS = tr.COORDS
N_HIDDEN_MAX = 28
BLOCKS = 8
PATH_STEPS = 40
PATH_STEPS_QUICK = 16
PATH_STRIDE = 2
N_TIMES = 12
NULL_STEPS = 20
POSITIVE_REPLICAS = 400
POSITIVE_STEPS = 120
FLOOR_DRAWS = 20
BOOTSTRAP = 400
THRESHOLD = 1.0
CI_LEVEL = 0.95


# --------------------------------------------------------------------------------------------
# simulation
# --------------------------------------------------------------------------------------------


def default_config(quick: bool = False) -> SystemConfig:
    """The spacetime network with the transition scenario's adaptive controllers.

    Examples
    --------
    >>> cfg = default_config(quick=True)
    >>> cfg.replicas, cfg.record_every, cfg.state_source, [c["type"] for c in cfg.controllers][0]
    (64, 1, 'probe', 'neuron_count')
    """
    return small_world_config(quick).replace(
        replicas=64 if quick else 192,
        n_hidden_max=N_HIDDEN_MAX,
        n_probe=32,
        controllers=tuple(tr.adaptive_controllers()),
    )


def mid_step(steps: int) -> int:
    """The step of the quench and the packet injection (half the run).

    Examples
    --------
    >>> mid_step(400)
    200
    """
    return max(3, steps // 2)


def _blocks(replicas: int) -> list[np.ndarray]:
    return replica_blocks(replicas, BLOCKS)


def _perturb(model: LearningSystem, groups: list[list[int]]) -> None:
    """The mid-run event: quench the teacher and inject one packet per replica block."""
    tr._quench(model)
    inject_block_packets(model, groups, BLOCKS)


class DualityScenario(Experiment):
    """Duality: one adaptive run, Schrödinger for q and geodesics for x, each against its null."""

    name = "duality"
    quick_steps = 100
    default_steps = 400

    def default_config(self, quick: bool) -> SystemConfig:
        return default_config(quick)

    def simulate(
        self, config: SystemConfig, quick: bool, steps: int, progress: bool
    ) -> dict[str, pd.DataFrame]:
        check_network(config)
        if config.replicas < 2 * BLOCKS:
            raise ValueError(f"replicas: {config.replicas}; expected >= {2 * BLOCKS}")
        if config.observed < 2:
            raise ValueError(f"observed: {config.observed}; expected >= 2 (q_0, q_1)")
        if steps < 20:
            raise ValueError(f"steps: {steps}; expected >= 20 (fit and prediction halves)")
        build = partial(LearningSystem, config)
        edges = wiring_table(build(), ARM)
        groups = hidden_groups(edges, config.seed)
        model = run_arm(
            ARM, build, steps, progress, actions={mid_step(steps): partial(_perturb, groups=groups)}
        )
        tables = concat_arms([{"edges": edges}, arm_tables(model, ARM)])
        tables["events"] = tidy_events(tables["events"])
        return tables

    def analyse(
        self, tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
    ) -> Analysis:
        return _analyse(tables, config, meta)


SCENARIO = DualityScenario()


run = scenario_run(
    SCENARIO,
    "Run the ``duality`` scenario (one adaptive run), save and analyse it.",
    " (64 replicas)",
)


# --------------------------------------------------------------------------------------------
# analysis helpers
# --------------------------------------------------------------------------------------------


def block_shuffle(replicas: int, n_steps: int, seed: int) -> np.ndarray:
    """Per-step permutations of the replicas within their packet block, shape (n_steps, R).

    Row ``t`` maps new replica index -> old one; every block keeps its own replicas.

    Examples
    --------
    >>> p = block_shuffle(16, 3, 0)
    >>> p.shape, sorted(p[0, :2].tolist()) == [0, 1]
    ((3, 16), True)
    """
    block_id = np.empty(replicas, dtype=int)
    for b, rows in enumerate(_blocks(replicas)):
        block_id[rows] = b
    rng = np.random.default_rng([seed, 23])
    keys = rng.random((n_steps, replicas)) + block_id[None, :]
    return np.argsort(keys, axis=1)


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
    fit = tr._fit(pre, mass, seed, quick)
    hbar = tr.hbar_magnitude(fit) * mass
    if not np.isfinite(hbar) or hbar <= 0:
        raise AnalysisFailed(f"Madelung fit: hbar = {hbar}; expected a positive number")
    comp = schrodinger.compare_evolution(
        post,
        COORDS,
        hbar=hbar,
        mass=mass,
        potential=tr._quadratic_potential(fit),
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
    blocks = _blocks(X.shape[1])
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
    lm = local_metric(fit_X, 1.0, bins=METRIC_BINS, limits=limits, min_weight=min_weight)
    gpoly = polynomial_metric(lm.g, METRIC_DEGREE)
    geo = geodesic_test(paths, gpoly, lm.spacing, lm.origin, noise, PATH_STRIDE, substeps=1)
    d = X.shape[-1]
    dofs = geo.n_samples * d - 2 * d
    chi = geo.per_path * dofs
    chi_flat = geo.per_path_flat * dofs
    score = float(np.median(chi / chi_flat))
    return score, chi, chi_flat, {"geo": geo, "paths": paths, "noise": noise, "lm": lm, "g": gpoly}


def positive_control(xd: dict[str, Any], seed: int, quick: bool) -> tuple[float, float]:
    """Both scores on synthetic data where both descriptions hold (the positive control).

    Quantum: Nelson trajectories of an oscillating 2-D harmonic superposition with a known hbar
    (:func:`scenarios.transition.positive_control`, ``POSITIVE_REPLICAS`` replicas,
    ``POSITIVE_STEPS`` steps, mass 1), split in halves exactly as the run. Gravity: exact
    geodesics of the run's first-half metric from the fitted starts (``xd`` from
    :func:`gravity_score`), sampled like the packet paths, with Gaussian noise of the paths'
    size, through the same fit; fitted starts outside the box are skipped and paths that (noise
    included) leave the box within 5 samples are dropped (``score_x`` is NaN when none is
    left). Returns ``(score_q, score_x)``.
    """
    n = POSITIVE_STEPS // 2 if quick else POSITIVE_STEPS
    nelson = tr.positive_control(POSITIVE_REPLICAS, n, seed).assign(step_size=0.5)
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
    """Joint resamples of max(score_q, score_x): evaluation times and paths resampled."""
    rng = np.random.default_rng([seed, 29])
    ti = rng.integers(0, rs.size, (BOOTSTRAP, rs.size))
    pi = rng.integers(0, chi.size, (BOOTSTRAP, chi.size))
    sq = np.median(rs[ti], axis=1) / np.median(rf[ti], axis=1)
    sx = np.median((chi / chi_flat)[pi], axis=1)
    return np.stack([sq, sx, np.maximum(sq, sx)])


def _shuffle_frame(traj: pd.DataFrame, perms: np.ndarray) -> pd.DataFrame:
    arr = to_array(traj, COORDS, extra=("step_size",))
    rows = perms[arr.steps]
    q = np.take_along_axis(arr.q, rows[:, :, None], axis=1)
    return to_frame(q, arr.steps, step_size=arr.extra["step_size"])


def _analyse(
    tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
) -> Analysis:
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
    edges = tables["edges"]
    groups = hidden_groups(edges, seed)
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
    perms = block_shuffle(R, n_steps, seed)
    traj_c = _shuffle_frame(traj, perms)
    X_c = np.take_along_axis(X, perms[1 : X.shape[0] + 1, :, None], axis=1)
    (sq_c, rs_c, rf_c, qd_c), (sx_c, chi_c, chi_flat_c, xd_c) = sides(traj_c, X_c)
    control = max(sq_c, sx_c)
    pos_q, pos_x = positive_control(xd, seed, quick)
    positive = max(pos_q, pos_x) if np.isfinite(pos_x) else np.nan

    verdict = Verdict(
        "duality",
        "max(score_q, score_x): Schrödinger H/floor over frozen density (q), "
        "median per-path geodesic chi2/dof over straight lines (x); out of sample",
        value,
        float(lo[2]),
        float(hi[2]),
        "same run, replicas permuted within packet blocks at every step",
        control,
        THRESHOLD,
        "<",
        positive,
    )
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
    model = tables["model"]
    model = model[model["arm"] == ARM]
    summary: dict[str, float | int | str] = {
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
        "mid_step": t_mid,
        "replicas": R,
        "groups": " | ".join(",".join(map(str, g)) for g in groups),
        "state_source": str(config.state_source),
        "lag1_autocorr_x": lag1_x,
    }
    notes = [
        f"Fit window: steps [{t_fit[0]}, {t_fit[1]}); at step {t_mid} the teacher is quenched "
        f"(x {tr.QUENCH_SCALE}) and {BLOCKS} packets are injected; the quantum side predicts "
        f"steps {t_mid}..{steps}, the gravity side {path_steps} steps after the injection.",
        "The adaptive step-size controller enforces hbar(gamma, M) = |mu_c| / 2 pi (a setting); "
        "the hbar used here is the Madelung fit's, not the setting.",
        "Both nulls are measured on the same run: the frozen density (q) and straight lines (x). "
        "score < 1 means the description predicts better than its null.",
        f"x from {config.state_source} states: lag-1 autocorrelation of x in the fit window "
        f"{lag1_x:.3f} (mean over axes; near 0 means step-to-step sampling noise).",
        f"Positive control: score_q {pos_q:.3g} (Nelson superposition), score_x {pos_x:.3g} "
        "(exact geodesics of the first-half metric with path noise; NaN when all leave the box).",
    ]
    ctx = {
        "run": (qd, xd, rs, rf, chi, chi_flat, sq, sx),
        "control": (qd_c, xd_c, rs_c, rf_c, chi_c, chi_flat_c, sq_c, sx_c),
        "post": traj[traj["step"] >= t_mid],
        "pre": traj[(traj["step"] >= t_fit[0]) & (traj["step"] < t_fit[1])],
        "boots": boots,
        "ci": (lo, hi),
        "t_mid": t_mid,
    }
    return Analysis(
        diagnostics=diagnostics_frame(rows),
        verdicts=[verdict],
        figures=_figures(ctx),
        summary=summary,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# figures (quantum left, gravity right)
# --------------------------------------------------------------------------------------------


def _density_snapshots(
    post: pd.DataFrame, qd: dict[str, Any], idx: list[int]
) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Marginal densities of q_0 at recorded indices ``idx``: empirical, Schrödinger, frozen.

    The Schrödinger branch is redone as in :func:`analysis.schrodinger.compare_evolution`
    (same defaults) on a 1-D marginal grid for display only; the score uses the 2-D comparison.
    """
    comp = qd["comparison"]
    s = comp.settings
    q = to_array(post, COORDS).q
    t0, lag, tau, bw = s["t0"], s["lag"], s["tau"], s["bandwidth"]
    seg = q[t0:]
    lo, hi = seg.min(axis=(0, 1)), seg.max(axis=(0, 1))
    span = np.maximum(hi - lo, 1e-12)
    lo, hi = lo - 0.25 * span, hi + 0.25 * span
    nf = s["bins"] * s["refine"]
    h = (hi - lo) / nf
    axes = tuple(lo[a] + (np.arange(nf) + 0.5) * h[a] for a in range(2))
    shape = (nf, nf)
    rho0 = schrodinger.kde_grid(q[t0], lo, h, shape, bw)
    rho0 = rho0 / rho0.sum()
    vs = (q[t0 + lag] - q[t0 - lag]) / (2 * lag * tau)
    den = schrodinger.kde_grid(q[t0], lo, h, shape, 2 * bw)
    vg = np.stack(
        [schrodinger.kde_grid(q[t0], lo, h, shape, 2 * bw, weights=vs[:, a]) for a in range(2)],
        axis=-1,
    )
    ok = den > 1e-3 * den.max()
    vg = np.where(ok[..., None], vg / np.where(ok, den, 1.0)[..., None], 0.0)
    S0 = schrodinger.phase_from_velocity(vg, axes, qd["mass"])
    cell = float(np.prod(h))
    psi = schrodinger.wavefunction(rho0 / cell, S0, qd["hbar"])
    V = tr._quadratic_potential(qd["fit"])
    out = {}
    cur = t0
    for i in idx:
        if i > cur:
            psi = schrodinger.split_step(
                psi, axes, V, qd["hbar"], qd["mass"], tau / 4, (i - cur) * 4
            )
            cur = i
        ps = (np.abs(psi) ** 2).sum(axis=1)
        out[i] = (q[i, :, 0], ps / (ps.sum() * h[0]), rho0.sum(axis=1) / h[0])
    return axes[0], out


def _figures(ctx: dict[str, Any]) -> dict[str, Callable[[Path], None]]:
    import matplotlib.pyplot as plt

    qd, xd, rs, rf, chi, _, sq, sx = ctx["run"]

    def predictions_fig(path: Path) -> None:
        fig, (axq, axx) = plt.subplots(1, 2, figsize=(12, 4.6))
        comp = qd["comparison"]
        post = ctx["post"]
        n_rec = post["step"].nunique()
        t0 = comp.settings["t0"]
        idx = sorted({t0, t0 + (n_rec - 1 - t0) // 3, n_rec - 1})
        grid, snaps = _density_snapshots(post, qd, idx)
        steps = np.sort(post["step"].unique())
        for j, i in enumerate(idx):
            emp, ps, _ = snaps[i]
            c = f"C{j}"
            axq.hist(
                emp,
                bins=30,
                density=True,
                histtype="step",
                color=c,
                lw=1.2,
                label=f"ensemble, step {steps[i]}",
            )
            axq.plot(
                grid,
                ps,
                "-",
                color=c,
                lw=2,
                alpha=0.7,
                label="Schrödinger prediction" if j == 0 else None,
            )
        ref = to_array(ctx["pre"], COORDS).q[-NULL_STEPS:, :, 0].ravel()
        edges = np.linspace(grid[0], grid[-1], 41)
        frozen, _ = np.histogram(ref, bins=edges, density=True)
        centres = 0.5 * (edges[1:] + edges[:-1])
        axq.plot(centres, frozen, "k--", lw=1.2, label="frozen density (null, pooled before)")
        axq.set_xlabel("$q_0$ (parameter units)")
        axq.set_ylabel("marginal density of $q_0$")
        axq.set_title(f"Quantum side: density of q after the quench (score_q = {sq:.3g})")
        axq.legend(fontsize=7)

        geo, paths, noise = xd["geo"], xd["paths"], xd["noise"]
        d = paths[0].shape[1]
        n_max = int(geo.n_samples.max())
        lo = np.asarray(xd["lm"].origin, dtype=float)
        hi = lo + np.asarray(xd["lm"].spacing, dtype=float) * (
            np.asarray(xd["g"].shape[: lo.size]) - 1
        )
        inside0 = np.all((geo.x0 >= lo) & (geo.x0 <= hi), axis=1)
        synth = np.full((n_max, geo.x0.shape[0], geo.x0.shape[1]), np.nan)
        if inside0.any():  # a best-fit start may lie outside the box: no curve drawn for it
            synth[:, inside0] = geodesic(
                xd["g"],
                xd["lm"].spacing,
                xd["lm"].origin,
                geo.x0[inside0],
                geo.v0[inside0],
                n_max - 1,
                PATH_STRIDE,
            ).path
        for i, p in enumerate(paths[: min(4, len(paths))]):
            mu = i % d
            n_i = int(geo.n_samples[i])
            t = np.arange(n_i) * PATH_STRIDE + 1
            c = f"C{i}"
            axx.errorbar(
                t,
                p[:n_i, mu],
                yerr=noise[i],
                fmt=".",
                ms=4,
                color=c,
                label=f"packet on group {i}: $X^{mu}$",
            )
            axx.plot(
                t,
                synth[:n_i, i, mu],
                "-",
                color=c,
                label="geodesic of the first-half metric" if i == 0 else None,
            )
            design = np.stack([np.ones(n_i), t], axis=1)
            coef, *_ = np.linalg.lstsq(design, p[:n_i], rcond=None)
            axx.plot(
                t,
                (design @ coef)[:, mu],
                ":",
                color=c,
                label="straight line (null)" if i == 0 else None,
            )
        axx.set_xlabel("steps after the injection")
        axx.set_ylabel("$X^\\mu$ of the packet's own group (state units)")
        axx.set_title(f"Gravity side: packet paths 0-3 of {len(paths)} (score_x = {sx:.3g})")
        axx.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def scores_fig(path: Path) -> None:
        fig, (axq, axx, axs) = plt.subplots(1, 3, figsize=(15, 4.4))
        tab = qd["comparison"].table.iloc[1:]
        axq.plot(tab["step"], rs, "o-", label="Schrödinger prediction")
        axq.plot(tab["step"], rf, "s--", label="frozen density (null, pooled before the event)")
        tab_c = ctx["control"][0]["comparison"].table.iloc[1:]
        axq.plot(
            tab_c["step"],
            ctx["control"][2],
            "^:",
            color="grey",
            label="Schrödinger, block-shuffled control",
        )
        axq.axhline(1, color="k", lw=0.8)
        axq.set_yscale("log")
        axq.set_xlabel("learning step")
        axq.set_ylabel("Hellinger distance / sampling floor")
        axq.set_title("Quantum side: prediction error over time")
        axq.legend(fontsize=7)

        x = np.arange(len(chi))
        axx.bar(x - 0.2, xd["geo"].per_path, 0.4, label="geodesic (first-half metric)")
        axx.bar(x + 0.2, xd["geo"].per_path_flat, 0.4, label="straight line (null)")
        axx.plot(x, ctx["control"][1]["geo"].per_path, "k^", label="geodesic, control metric")
        axx.set_yscale("log")
        axx.set_xticks(x)
        axx.set_xlabel("packet path (replica block)")
        axx.set_ylabel("$\\chi^2$/dof (path noise units)")
        axx.set_title("Gravity side: misfit per path")
        axx.legend(fontsize=7)

        lo, hi = ctx["ci"]
        ctl = ctx["control"]
        labels = ["score_q", "score_x", "max (statistic)"]
        vals = [sq, sx, max(sq, sx)]
        err = np.abs(np.array([lo, hi]) - np.array(vals))
        axs.errorbar(
            np.arange(3) - 0.1,
            vals,
            yerr=err,
            fmt="o",
            capsize=4,
            label=f"run ({CI_LEVEL:.0%} bootstrap)",
        )
        axs.plot(
            np.arange(3) + 0.1,
            [ctl[6], ctl[7], max(ctl[6], ctl[7])],
            "s",
            color="grey",
            label="block-shuffled control",
        )
        axs.axhline(THRESHOLD, color="k", lw=0.8, ls="--", label="threshold (null = 1)")
        axs.set_xticks(range(3))
        axs.set_xticklabels(labels)
        axs.set_ylabel("prediction misfit / null misfit")
        every = [*vals, *np.ravel([lo, hi]), ctl[6], ctl[7]]
        if max(every) / max(min(every), 1e-300) > 20:
            axs.set_yscale("log")
        axs.set_title("Both scores: supported only when both < 1")
        axs.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    return {"duality_predictions": predictions_fig, "duality_scores": scores_fig}
