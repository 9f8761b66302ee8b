"""Scenario ``transition`` (flagship): Madelung (fixed N) to Schrödinger (adaptive N, gamma, M)?

Arms, all on the same task and seed (a 1-H-1 tanh network learning a random 1-3-1 teacher with
label noise, H <= 6 hidden slots, observed coordinates q_0, q_1 = two fixed random unit
projections of the zero-padded parameter vector):

``canonical``
    N, gamma, M fixed.
``adaptive``
    grand-canonical neuron count (mu_c, beta_c), the step-size controller with the
    ``consistency`` policy (drives the Madelung hbar set by (gamma, M) toward |mu_c| / 2 pi) and
    the batch-size controller with the ``noise_scale`` policy. The consistency condition is a
    *setting* here: it holds by construction and is never counted as evidence.
``canonical_at_final``
    fixed at the adaptive arm's final (mean N, gamma, M): tests adaptation itself, not where it
    ends.
``momentum``
    heavy ball (beta = 0.9, gamma (1 - beta)): the classical control that can oscillate.
``no_change``
    the canonical arm without the quench: the control of the real-time test.
``positive_control``
    Nelson trajectories of a 2-D harmonic superposition with a known hbar
    (:func:`analysis.controls.nelson_trajectories`), through exactly the same pipeline.

Every SGD arm (except ``no_change``) gets the same quench at 2/3 of the run: the teacher's
weights are scaled by 0.6. The stationary window before it is used for the Fokker-Planck check
and the Madelung fit; the window after it for the real-time signatures and the
Schrödinger-vs-Fokker-Planck prediction (potential fitted before the quench, fixed in advance).

Verdicts (thresholds fixed here, not tuned per run):

- *Fokker-Planck form* (canonical): |ln(tr D_KM / tr gamma^2 Sigma_q / 2M)| < 0.15. Control:
  replicas shuffled between steps.
- *Madelung (fixed N)* (canonical): weak-form momentum residual / noise floor < 2, the floor being
  the same fit on the positive control's exact samples (same replicas and steps). Control:
  replicas shuffled between steps.
- *Schrödinger (adaptive)*: median Hellinger/floor of the Schrödinger prediction divided by that
  of the Fokker-Planck prediction after the quench < 1 (Schrödinger predicts better). Control:
  ``canonical_at_final``.
- *independent hbar routes agree* (adaptive): max |ln(hbar_route / weighted mean)| over the
  weak-form, Nelson 2mD and |mu_c| / 2 pi routes < ln 1.5. Control: ``canonical_at_final``.
- *real-time signatures* (adaptive): persistence of the strongest oscillation of <q> or <q^2>
  after the quench > 0.8 (undamped). Control: ``no_change``.

Mass convention: m = 1 / (2 gamma) for SGD arms, m = 1/gamma for the heavy ball (the fitted
hbar_over_m does not depend on it); time unit: one learning step.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import madelung, schrodinger
from analysis.controls import nelson_trajectories
from analysis.thermodynamics import kramers_moyal
from analysis.trajectory import to_array, to_frame
from analysis.verdicts import Verdict, diagnostics_frame
from models import LearningSystem, SystemConfig
from models.tasks import DataSource
from runner import Analysis, Experiment, arm_tables, concat_arms, run_arm, scenario_run

COORDS = ["q_0", "q_1"]
SGD_ARMS = ("canonical", "adaptive", "canonical_at_final", "momentum", "no_change")
QUENCH_SCALE = 0.6
MU_C = -2e-4
BETA_C = 200.0
MOMENTUM = 0.9
FP_THRESHOLD = 0.15
MADELUNG_THRESHOLD = 2.0
SCHRODINGER_THRESHOLD = 1.0
ROUTES_THRESHOLD = math.log(1.5)
REALTIME_THRESHOLD = 0.8
POSITIVE_HBAR = 0.05
POSITIVE_DT = 0.2


def adaptive_controllers(mu_c: float = MU_C) -> list[dict[str, Any]]:
    """The controller tables of the adaptive arm.

    Examples
    --------
    >>> [c["type"] for c in adaptive_controllers()]
    ['neuron_count', 'step_size', 'batch_size']
    """
    return [
        {
            "type": "neuron_count",
            "policy": "grand_canonical",
            "mu_c": mu_c,
            "beta_c": BETA_C,
            "interval": 10,
        },
        {"type": "step_size", "policy": "consistency", "gain": 0.3, "window": 20, "gamma_max": 0.3},
        {"type": "batch_size", "policy": "noise_scale", "m_min": 4, "m_max": 32},
    ]


class TransitionScenario(Experiment):
    """Madelung-to-Schrödinger transition: canonical vs adaptive arms, with controls."""

    name = "transition"
    quick_steps = 150
    default_steps = 480

    def default_config(self, quick: bool) -> SystemConfig:
        return SystemConfig(
            replicas=200 if quick else 800,
            n_input=1,
            n_hidden=3,
            n_hidden_max=6,
            n_output=1,
            task="teacher",
            noise=0.3,
            step_size=0.1,
            batch_size=16,
            relax_steps=5,
            relax_rate=0.3,
            observed=2,
            record_every=10,
            probe_every=10,
            n_probe=64,
            record_noise=True,
            seed=1,
        )

    # ------------------------------------------------------------------ simulation
    def simulate(
        self, config: SystemConfig, quick: bool, steps: int, progress: bool
    ) -> dict[str, pd.DataFrame]:
        t_q = quench_step(steps)
        quench = {t_q: _quench}
        parts = []
        canonical = run_arm("canonical", lambda: LearningSystem(config), steps, progress, quench)
        parts.append(arm_tables(canonical, "canonical"))
        adaptive_cfg = config.replace(controllers=adaptive_controllers())
        adaptive = run_arm(
            "adaptive", lambda: LearningSystem(adaptive_cfg), steps, progress, quench
        )
        parts.append(arm_tables(adaptive, "adaptive"))
        final = final_setting(adaptive)
        final_cfg = config.replace(
            n_hidden=min(final["n_hidden"], config.n_hidden_max),
            step_size=final["step_size"],
            batch_size=final["batch_size"],
        )
        at_final = run_arm(
            "canonical_at_final", lambda: LearningSystem(final_cfg), steps, progress, quench
        )
        parts.append(arm_tables(at_final, "canonical_at_final"))
        mom_cfg = config.replace(momentum=MOMENTUM, step_size=config.step_size * (1 - MOMENTUM))
        mom = run_arm("momentum", lambda: LearningSystem(mom_cfg), steps, progress, quench)
        parts.append(arm_tables(mom, "momentum"))
        still = run_arm("no_change", lambda: LearningSystem(config), steps, progress)
        parts.append(arm_tables(still, "no_change"))
        tables = concat_arms(parts)
        positive = positive_control(config.replicas, steps, config.seed)
        tables["trajectories"] = pd.concat(
            [tables["trajectories"], positive.assign(arm="positive_control")],
            ignore_index=True,
            sort=False,
        )
        return tables

    # ------------------------------------------------------------------ analysis
    def analyse(
        self, tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
    ) -> Analysis:
        steps = int(meta["steps"])
        t_q = quench_step(steps)
        burn = t_q // 3
        traj = tables["trajectories"]
        rows: list[dict[str, Any]] = []
        res: dict[str, dict[str, Any]] = {}
        seed = config.seed
        pos = traj[traj.arm == "positive_control"]
        quick = bool(meta.get("quick", False))
        pos_res = _analyse_positive(pos, steps, seed, rows, quick)
        floor = pos_res["momentum_residual"]
        for arm in SGD_ARMS:
            sub = traj[traj.arm == arm]
            res[arm] = _analyse_arm(arm, sub, burn, t_q, floor, seed, rows, tables["events"], quick)
        verdicts = _verdicts(res, pos_res)
        model = tables["model"]
        summary = {
            "adaptive_final_n_neurons": float(model[model.arm == "adaptive"]["n_neurons"].iloc[-1]),
            "adaptive_final_step_size": float(model[model.arm == "adaptive"]["step_size"].iloc[-1]),
            "adaptive_final_batch_size": float(
                model[model.arm == "adaptive"]["batch_size"].iloc[-1]
            ),
            "hbar_over_m_canonical": res["canonical"]["hbar_over_m"],
            "hbar_over_m_adaptive": res["adaptive"]["hbar_over_m"],
            "hbar_target_mu_c_over_2pi": abs(MU_C) / (2 * math.pi),
            "madelung_noise_floor": floor,
            "quantization_rayleigh_adaptive": res["adaptive"].get("rayleigh", float("nan")),
        }
        notes = [
            "The adaptive arm's step-size controller enforces the consistency condition "
            "hbar(gamma, M) = |mu_c| / 2 pi: that is a setting, not evidence.",
            "Independent replicas make the ensemble density a linear Markov evolution "
            "(FEASIBILITY.md section 6): interference and undamped lines are not expected for "
            "the SGD arms; the positive control shows what the instruments detect when present.",
            f"Quench at step {t_q}: teacher weights x {QUENCH_SCALE}. Stationary window "
            f"[{burn}, {t_q}), real-time window [{t_q}, {steps}].",
        ]
        figures = _figures(tables, res, pos_res, t_q)
        return Analysis(diagnostics_frame(rows), verdicts, figures, summary, notes)


# ---------------------------------------------------------------------- simulation helpers
def quench_step(steps: int) -> int:
    """The step at which the teacher changes (2/3 of the run).

    Examples
    --------
    >>> quench_step(600)
    400
    """
    return max(2, (2 * steps) // 3)


def _quench(model: LearningSystem) -> None:
    """Scale the teacher's weights (the sampler reads them by reference) and redraw the probe."""
    for key in ("w1", "w2", "w"):
        if key in model.task.params:
            model.task.params[key] *= QUENCH_SCALE
    rng = np.random.default_rng(np.random.SeedSequence([model.config.seed, 7919]))
    model.data = DataSource(model.task, model.config, rng)
    model.structure_changed()


def final_setting(model: LearningSystem) -> dict[str, Any]:
    """The adaptive arm's final mean hidden-neuron count, gamma and M."""
    cfg = model.config
    hidden = model.ensemble.active[:, model.ensemble.slices["hidden"]].sum(axis=1)
    return {
        "n_hidden": max(1, round(float(hidden.mean()))),
        "step_size": float(model.step_size),
        "batch_size": int(model.batch_size),
        "boundary": cfg.n_input + cfg.n_output,
    }


def positive_control(replicas: int, steps: int, seed: int) -> pd.DataFrame:
    """Nelson trajectories of a 2-D harmonic superposition (known hbar), as a trajectory table.

    psi0 = (phi_0(x) + phi_1(x)) phi_0(y) / sqrt(2) in V = (x^2 + 2 y^2) / 2, mass 1,
    hbar = POSITIVE_HBAR; POSITIVE_DT time units per recorded step.
    """
    n = 64
    hbar = POSITIVE_HBAR
    sx = math.sqrt(
        hbar
    )  # ground-state width for omega = 1, m = 1 is sqrt(hbar / 2 m omega) * sqrt2
    x = np.linspace(-8 * sx, 8 * sx, n)
    y = np.linspace(-8 * sx, 8 * sx, n)
    X, Y = np.meshgrid(x, y, indexing="ij")
    wx, wy = 1.0, math.sqrt(2.0)
    g0x = np.exp(-wx * X**2 / (2 * hbar))
    g1x = X * g0x * math.sqrt(2 * wx / hbar)
    g0y = np.exp(-wy * Y**2 / (2 * hbar))
    psi = (g0x + g1x) * g0y
    dA = (x[1] - x[0]) * (y[1] - y[0])
    psi = psi / np.sqrt((np.abs(psi) ** 2).sum() * dA)
    V = 0.5 * (wx**2 * X**2 + wy**2 * Y**2)
    return nelson_trajectories(
        psi.astype(complex), (x, y), V, hbar, 1.0, POSITIVE_DT, steps, replicas, seed, substeps=20
    )


# ---------------------------------------------------------------------- analysis helpers
def _ci_spread(values: np.ndarray) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.min()), float(v.max())


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Replicas permuted independently at every step (destroys trajectories, keeps densities)."""
    arr = to_array(frame, COORDS)
    rng = np.random.default_rng(seed)
    q = arr.q.copy()
    for t in range(q.shape[0]):
        q[t] = q[t, rng.permutation(q.shape[1])]
    return to_frame(q, arr.steps)


def _quadratic_potential(fit: madelung.MadelungFit):
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


EFFORT = {  # analysis effort: (Madelung bootstrap, signature bootstrap, times, floor draws)
    False: (40, 20, 12, 20),
    True: (15, 8, 12, 10),
}


def _fit(frame: pd.DataFrame, mass: float, seed: int, quick: bool) -> madelung.MadelungFit:
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


def _analyse_positive(
    pos: pd.DataFrame, steps: int, seed: int, rows: list, quick: bool
) -> dict[str, Any]:
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
        potential=_quadratic_potential(fit_dt),
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


def _analyse_arm(
    arm: str,
    sub: pd.DataFrame,
    burn: int,
    t_q: int,
    floor: float,
    seed: int,
    rows: list,
    events: pd.DataFrame,
    quick: bool,
) -> dict[str, Any]:
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
    fit = _fit(pre, mass, seed, quick)
    fit_sh = _fit(shuffled, mass, seed, quick)
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
        potential=_quadratic_potential(fit),
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


def _verdicts(res: dict[str, dict[str, Any]], pos: dict[str, Any]) -> list[Verdict]:
    can, ada, fin, still = (
        res["canonical"],
        res["adaptive"],
        res["canonical_at_final"],
        res["no_change"],
    )
    fp_abs = abs(can["fp"])
    fp_lo, fp_hi = can["fp_ci"]
    fp_ci = (
        0.0 if fp_lo * fp_hi <= 0 else min(abs(fp_lo), abs(fp_hi)),
        max(abs(fp_lo), abs(fp_hi)),
    )
    return [
        Verdict(
            "Fokker-Planck form",
            "|ln(tr D_KM / tr gamma^2 Sigma_q/2M)|, canonical",
            fp_abs,
            fp_ci[0],
            fp_ci[1],
            "replicas shuffled between steps",
            abs(can["fp_control"]),
            FP_THRESHOLD,
            "<",
        ),
        Verdict(
            "Madelung (fixed N)",
            "momentum residual / noise floor, canonical",
            can["madelung_ratio"],
            *_finite_ci(can["madelung_ci"], can["madelung_ratio"]),
            "replicas shuffled between steps",
            can["madelung_control"],
            MADELUNG_THRESHOLD,
            "<",
            positive_control_value=pos["madelung_ratio"],
        ),
        Verdict(
            "Schrödinger (adaptive)",
            "Hellinger/floor Schrödinger over Fokker-Planck after quench, adaptive",
            ada["ratio"],
            *ada["ratio_ci"],
            "canonical_at_final",
            fin["ratio"],
            SCHRODINGER_THRESHOLD,
            "<",
            positive_control_value=pos["ratio"],
        ),
        Verdict(
            "independent hbar routes agree",
            "max |ln(hbar_route / mean)|: weak form, 2mD, |mu_c|/2pi; adaptive",
            ada["routes_spread"][0],
            ada["routes_spread"][1],
            ada["routes_spread"][2],
            "canonical_at_final",
            fin["routes_spread"][0],
            ROUTES_THRESHOLD,
            "<",
            positive_control_value=pos["routes_spread"][0],
        ),
        Verdict(
            "real-time signatures",
            "persistence of the strongest line of <q>, <q^2> after quench, adaptive",
            ada["persistence"][0],
            ada["persistence"][1],
            ada["persistence"][2],
            "no_change",
            still["persistence"][0],
            REALTIME_THRESHOLD,
            ">",
            positive_control_value=pos["persistence"][0],
        ),
    ]


def _finite_ci(ci: tuple[float, float], value: float) -> tuple[float, float]:
    lo, hi = ci
    lo = lo if math.isfinite(lo) else value
    hi = hi if math.isfinite(hi) else value
    return min(lo, value), max(hi, value)


# ---------------------------------------------------------------------- figures
def _figures(tables, res, pos, t_q):
    model = tables["model"]
    traj = tables["trajectories"]

    def controls_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for arm in ("canonical", "adaptive", "canonical_at_final"):
            m = model[model.arm == arm]
            axes[0].plot(m["step"], m["n_neurons"], label=arm)
            axes[1].plot(m["step"], m["step_size"], label=arm)
            axes[2].plot(m["step"], m["batch_size"], label=arm)
        for ax, lab in zip(
            axes, ("mean active neurons N", "step size gamma", "batch size M"), strict=True
        ):
            ax.axvline(t_q, color="grey", ls=":", lw=1)
            ax.set_xlabel("learning step")
            ax.set_ylabel(lab)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle("Controlled parameters over time (dotted: quench)")
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def hbar_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for arm in SGD_ARMS:
            w = res[arm]["windows"]
            x = np.arange(len(w))
            if "hbar_over_m" in w:
                axes[0].plot(x, w["hbar_over_m"], "o-", label=arm)
            if "momentum_residual" in w:
                axes[1].plot(x, w["momentum_residual"], "o-", label=arm)
        axes[1].axhline(
            pos["momentum_residual"], color="k", ls="--", label="noise floor (exact samples)"
        )
        axes[0].set_ylabel("fitted hbar / m (steps^-1)")
        axes[1].set_ylabel("weak-form momentum residual")
        for ax in axes:
            ax.set_xlabel("window (stationary part, before the quench)")
            ax.grid(alpha=0.3)
        axes[1].legend(fontsize=7)
        axes[0].set_yscale("symlog", linthresh=1e-6)
        fig.suptitle("Madelung fit per window and arm")
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def prediction_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        arms = ("adaptive", "canonical_at_final", "canonical")
        fig, axes = plt.subplots(1, len(arms) + 1, figsize=(15, 3.6), sharey=True)
        for ax, arm in zip(axes, arms, strict=False):
            c = res[arm]["comparison"]
            ax.semilogy(c["step"], c["ratio_schrodinger"], "o-", label="Schrödinger")
            ax.semilogy(c["step"], c["ratio_fokker_planck"], "s-", label="Fokker-Planck")
            ax.set_title(arm)
            ax.set_xlabel("learning step")
        c = pos["comparison"]
        axes[-1].semilogy(c["step"], c["ratio_schrodinger"], "o-", label="Schrödinger")
        axes[-1].semilogy(c["step"], c["ratio_fokker_planck"], "s-", label="Fokker-Planck")
        axes[-1].set_title("positive control (Nelson)")
        axes[-1].set_xlabel("recorded step")
        axes[0].set_ylabel("Hellinger distance / sampling floor")
        for ax in axes:
            ax.axhline(1.0, color="grey", ls=":")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle("Prediction of the ensemble density after the quench")
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def density_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        arms = ("canonical", "adaptive", "momentum", "positive_control")
        fig, axes = plt.subplots(1, len(arms), figsize=(15, 3.4))
        for ax, arm in zip(axes, arms, strict=True):
            sub = traj[traj.arm == arm]
            steps = np.unique(sub["step"])
            picks = steps[[len(steps) * 2 // 3, (len(steps) * 5) // 6, -1]]
            for s in picks:
                v = sub[sub.step == s]["q_0"].to_numpy()
                ax.hist(v, bins=40, density=True, histtype="step", label=f"step {s}")
            ax.set_title(arm)
            ax.set_xlabel("q_0")
        axes[0].set_ylabel("density over replicas")
        axes[0].legend(fontsize=7)
        fig.suptitle("Ensemble density of q_0 after the quench")
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def moves_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 4))
        a = res["adaptive"]
        if "delta_F" in a:
            dF = a["delta_F"] / abs(MU_C)
            dn = a["delta_N"]
            acc = a["accepted"]
            ok = np.isfinite(dF)
            rng = np.random.default_rng(0)
            jitter = rng.uniform(-0.15, 0.15, dn.size)
            ax.scatter(
                dn[ok & ~acc] + jitter[ok & ~acc],
                dF[ok & ~acc],
                s=3,
                alpha=0.2,
                label="proposed, rejected",
            )
            ax.scatter(
                dn[ok & acc] + jitter[ok & acc], dF[ok & acc], s=5, alpha=0.6, label="accepted"
            )
            ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel("net neuron change Delta N of the move")
        ax.set_ylabel("Delta F / |mu_c|")
        ax.set_xticks([-1, 1])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("Free-energy changes of neuron moves (adaptive arm)")
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def quench_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for arm in ("canonical", "adaptive", "momentum", "no_change"):
            sub = traj[(traj.arm == arm) & (traj.step >= t_q - 20)]
            mean = sub.groupby("step")["q_1"].mean()
            ax.plot(mean.index, mean.to_numpy(), label=arm)
        ax.axvline(t_q, color="grey", ls=":")
        ax.set_xlabel("learning step")
        ax.set_ylabel("ensemble mean <q_1>")
        ax.set_title("Response to the quench (teacher weights x 0.6)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    return {
        "controls_over_time": controls_fig,
        "madelung_windows": hbar_fig,
        "prediction_distances": prediction_fig,
        "densities": density_fig,
        "neuron_moves": moves_fig,
        "quench_response": quench_fig,
    }


SCENARIO = TransitionScenario()


run = scenario_run(
    SCENARIO, "Run the transition scenario (see the module docstring) and write its output folder."
)
