"""Scenario ``transition`` (flagship): Madelung (fixed N) to Schrödinger (adaptive N, gamma, M)?

Arms, all on the same task and seed (a 1-H-1 tanh network learning a random 1-3-1 teacher with
label noise, H <= 6 hidden slots, observed coordinates q_0, q_1 = two fixed random unit
projections of the zero-padded parameter vector); :mod:`scenarios.transition.arms`:

``canonical``
    N, gamma, M fixed.
``adaptive``
    grand-canonical neuron count (mu_c, beta_c) and the batch-size and step-size controllers
    with the ``consistency`` policy (they drive the Madelung hbar set by (gamma, M),
    hbar_2mD = 2 m D with m = 1 / (2 gamma), toward |mu_c| / 2 pi; the batch size fast, the
    step size as a slow trim; :func:`adaptive_controllers`). The consistency condition is a
    *setting* here: it is never counted as evidence, but whether the run reached it is measured
    (the precondition below).
``canonical_at_final``
    fixed at the adaptive arm's final (mean N, gamma, M): tests adaptation itself, not where it
    ends.
``momentum``
    heavy ball (beta = 0.9, gamma (1 - beta)): the classical control that can oscillate.
``no_change``
    the canonical arm without the quench: the control of the real-time test.
``positive_control``
    Nelson trajectories of a 2-D harmonic superposition with a known hbar
    (:func:`analysis.controls.harmonic_nelson`), through exactly the same pipeline.
``worlds``
    the real-time claim's second positive control, inside the learning system (coupling put
    in by hand): 100 replicas of a 1-parameter quadratic loss (gamma = 0.01, beta = 1, no
    noise) coupled through a density neuron on q_0, released at rest from twice their ground
    width; beside it ``worlds_coupling_off``, the same replicas with the coupling off
    (:func:`scenarios.transition.arms.worlds_control`; the same tables for every seed).

Every SGD arm (except ``no_change``) gets the same quench at 2/3 of the run: the teacher's
weights are scaled by 0.6 (:func:`scenarios.common.quench`). The stationary window before it is
used for the Fokker-Planck check and the Madelung fit; the window after it for the real-time
signatures and the Schrödinger-vs-Fokker-Planck prediction (potential fitted before the quench,
fixed in advance); :mod:`scenarios.transition.measures`.

Claims (:data:`CLAIMS`, with their thresholds, in :mod:`scenarios.transition.claims`; the table
is in ``docs/claims.md``):

- *consistency regime (precondition)* (adaptive): the largest |ln(hbar_2mD / (|mu_c| / 2 pi))|
  over the analysis windows (before the quench; after it, less the first T_settle = 20% of that
  window), D measured from the trajectories' jump-free increments. Control: replicas
  shuffled between steps; positive control: the same gap on the Nelson trajectories. It is
  withheld (``regime not reached``) when the controllers did not hold the regime: a controller
  at a bound for more than 10% of a window, or a standard deviation of ln gamma or ln M of 0.1
  or more over the second half of the window before the quench. Unless it is supported, the
  three adaptive-arm claims below are ``inconclusive`` (``regime not reached``).
- *Fokker-Planck form* (canonical): |ln(tr D_KM / tr gamma^2 Sigma_q / 2M)|. Control: replicas
  shuffled between steps; positive control: an Ornstein-Uhlenbeck ensemble with that diffusion
  planted.
- *Madelung (fixed N)* (canonical): weak-form momentum residual / noise floor, the floor being
  the same fit on the positive control's exact samples (same replicas and steps). Control:
  replicas shuffled between steps.
- *Schrödinger (adaptive)*: median Hellinger/floor of the Schrödinger prediction divided by that
  of the Fokker-Planck prediction after the quench (below 1: Schrödinger predicts better).
  Control: ``canonical_at_final``.
- *independent hbar routes agree* (adaptive): |ln(hbar_weak / hbar_2mD)|, the weak-form route
  (never enforced) against the Nelson route 2 m D (enforced by the controllers). Control:
  ``canonical_at_final``.
- *real-time signatures* (adaptive): persistence of the strongest oscillation of <q> or <q^2>
  after the quench (near 1: undamped). Control: ``no_change``. Decided only if both positive
  controls pass the same test (> 0.8) in the run: the Nelson trajectories and the ``worlds``
  arm (coupling put in by hand), whose line counts only when its narrowest width keeps half of
  the zero-point floor -- its coupling-off control breathes with an equally undamped line but
  collapses to a point, so it fails (persistence alone does not tell the two apart).

Seeds vary the noise, never the scenario's validity (:mod:`scenarios.transition.wellposed`):
the network shape, the quench, mu_c, beta_c and the controllers' bounds are fixed constants; the
teacher is a conditioned draw, the config's own when its signal stands above the label noise
(Var(teacher) / noise^2 >= 1), else redrawn from the separate stream ``SeedSequence([seed,
8102])``, recorded in ``config.toml`` (``[dualsim]`` ``draw_*``) and as one ``draw_setup`` row of
``events.parquet`` (arm ``setup``). Too few observed coordinates, replicas or steps for the
analysis are refused before any simulation (exit 2).

Mass convention: m = 1 / (2 gamma) for SGD arms, m = 1/gamma for the heavy ball (the fitted
hbar_over_m does not depend on it); time unit: one learning step.

Examples
--------
>>> SCENARIO.name, SCENARIO.quick_steps, [c.name for c in CLAIMS][:2]
('transition', 150, ['consistency regime (precondition)', 'Fokker-Planck form'])
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from analysis.verdicts import diagnostics_frame
from models import SystemConfig
from runner import Analysis, Experiment, scenario_run
from scenarios.common import QUENCH_SCALE
from scenarios.transition import wellposed
from scenarios.transition.arms import (
    COORDS,
    MU_C,
    NEURON_INTERVAL,
    POSITIVE_DT,
    POSITIVE_HBAR,
    SGD_ARMS,
    WORLDS_ARMS,
    adaptive_controllers,
    default_config,
    final_setting,
    positive_control,
    quench_step,
    simulate,
)
from scenarios.transition.claims import (
    BOUND_LIMIT,
    CLAIMS,
    WORLDS_FLOOR,
    realtime_controls,
    verdicts,
)
from scenarios.transition.figures import figures
from scenarios.transition.measures import (
    analyse_arm,
    analyse_positive,
    analyse_worlds,
    hbar_magnitude,
    madelung_fit,
    quadratic_potential,
    regime_windows,
    sgd_diffusion,
)
from scenarios.worlds.known_answers import HAND

__all__ = [
    "CLAIMS",
    "COORDS",
    "MU_C",
    "POSITIVE_DT",
    "POSITIVE_HBAR",
    "SCENARIO",
    "SGD_ARMS",
    "TransitionScenario",
    "adaptive_controllers",
    "final_setting",
    "hbar_magnitude",
    "madelung_fit",
    "positive_control",
    "quadratic_potential",
    "quench_step",
    "run",
    "sgd_diffusion",
]


class TransitionScenario(Experiment):
    """Madelung-to-Schrödinger transition: canonical vs adaptive arms, with controls."""

    name = "transition"
    quick_steps = 150
    default_steps = 480

    def default_config(self, quick: bool) -> SystemConfig:
        return default_config(quick)

    def setup(self, config: SystemConfig, quick: bool, steps: int | None = None) -> dict[str, Any]:
        """Refuse an ill-posed config; the teacher draw's ``[dualsim]`` entries
        (:func:`scenarios.transition.wellposed.check`)."""
        draw = wellposed.check(config, steps, quick)
        return {} if draw is None else draw.meta()

    def simulate(
        self, config: SystemConfig, quick: bool, steps: int, progress: bool
    ) -> dict[str, pd.DataFrame]:
        """Every arm, after the well-posedness check and the teacher draw."""
        return simulate(config, steps, progress, wellposed.check(config, steps, quick))

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
        pos_res = analyse_positive(pos, steps, seed, rows, quick)
        pos_res["worlds"] = analyse_worlds(traj[traj.arm.isin(WORLDS_ARMS)], seed, rows, quick)
        floor = pos_res["momentum_residual"]
        boundary = config.n_input + config.n_output
        for arm in SGD_ARMS:
            sub = traj[traj.arm == arm]
            res[arm] = analyse_arm(
                arm,
                sub,
                burn,
                t_q,
                floor,
                seed,
                rows,
                tables["events"],
                quick,
                controllers=adaptive_controllers() if arm == "adaptive" else None,
                n_bounds=(boundary + 1, boundary + config.n_hidden_max),
            )
        model = tables["model"]
        adaptive = model[model.arm == "adaptive"]
        summary = {
            "adaptive_final_n_neurons": float(adaptive["n_neurons"].iloc[-1]),
            "adaptive_final_step_size": float(adaptive["step_size"].iloc[-1]),
            "adaptive_final_batch_size": float(adaptive["batch_size"].iloc[-1]),
            "hbar_over_m_canonical": res["canonical"]["hbar_over_m"],
            "hbar_over_m_adaptive": res["adaptive"]["hbar_over_m"],
            "hbar_target_mu_c_over_2pi": abs(MU_C) / (2 * math.pi),
            **{
                f"adaptive_gap_{g.window.replace(' ', '_')}": g.gap
                for g in res["adaptive"]["gaps"].itertuples()
            },
            **{
                f"adaptive_at_bound_{b.window.replace(' ', '_')}_{b.parameter}": b.at_bound
                for b in res["adaptive"]["bounds"].itertuples()
            },
            **{f"adaptive_{k}_before_quench": v for k, v in res["adaptive"]["settling"].items()},
            "madelung_noise_floor": floor,
            "quantization_rayleigh_adaptive": res["adaptive"].get("rayleigh", float("nan")),
            "realtime_positive_nelson_persistence": pos_res["persistence"][0],
            "realtime_positive_worlds_coupling": HAND,
            **{
                f"realtime_positive_{arm}_{key}": value
                for arm, w in pos_res["worlds"].items()
                for key, value in (("persistence", w["persistence"][0]), ("floor", w["floor"]))
            },
        }
        _, failing, _ = realtime_controls(pos_res)
        worlds = pos_res["worlds"]
        windows = regime_windows(steps, t_q, burn)
        notes = [
            "The adaptive arm's batch-size and step-size controllers enforce the consistency "
            "condition hbar_2mD = 2 m D = |mu_c| / 2 pi (m = 1/(2 gamma)): that is a setting, not "
            "evidence; the precondition row says whether the run reached it in every window "
            + ", ".join(f"[{lo}, {hi})" for lo, hi in windows.values())
            + f" (T_settle = {windows['after quench'][0] - t_q} steps after the quench).",
            "Time of the adaptive arm's controllers at a bound (the regime asks for at most "
            f"{BOUND_LIMIT:.0%} of each window; the neuron count per replica-step): "
            + "; ".join(
                f"{b.parameter} {b.at_bound:.1%} {b.window}"
                for b in res["adaptive"]["bounds"].itertuples()
            )
            + f". |mu_c| = {abs(MU_C):g} per neuron is small "
            "against the Delta F of a move (figure neuron_moves), so N has no equilibrium "
            f"inside the slots and drifts up; one proposal per replica every {NEURON_INTERVAL} "
            "steps keeps the drift inside them over the run.",
            "Independent replicas make the ensemble density a linear Markov evolution "
            "(docs/physics.md#independent-replicas): interference and undamped lines are not "
            "expected for the SGD arms; the positive control shows what the instruments detect "
            "when present.",
            "Real-time positive controls (the real-time verdict is decided only if both pass "
            f"its test, persistence > 0.8): Nelson trajectories {pos_res['persistence'][0]:.3g}; "
            "the worlds arm, replicas of a 1-parameter quadratic loss coupled through a density "
            f"neuron on q_0 (beta = 1, no noise; {HAND}): "
            + _worlds_text(worlds.get("worlds"))
            + "; its coupling-off control: "
            + _worlds_text(worlds.get("worlds_coupling_off"))
            + f". The worlds line counts only when the narrowest width keeps {WORLDS_FLOOR:g} "
            "of the zero-point floor: with the coupling off, the same cloud released at rest "
            "breathes with an equally undamped line (persistence alone does not tell them "
            "apart) but collapses to a point. "
            + (f"Failing: {', '.join(failing)}." if failing else "Nelson and worlds both pass."),
            f"Quench at step {t_q}: teacher weights x {QUENCH_SCALE}. Stationary window "
            f"[{burn}, {t_q}), real-time window [{t_q}, {steps}].",
            "Neurons as particles (imaginary time, clone/kill births): `make run` writes that "
            "crossover beside this folder: [particles summary](../particles/summary.md).",
        ]
        return Analysis(
            diagnostics_frame(rows),
            verdicts(res, pos_res),
            figures(
                tables, res, pos_res, t_q, windows, (boundary + 1, boundary + config.n_hidden_max)
            ),
            summary,
            notes,
        )


def _worlds_text(arm: dict[str, Any] | None) -> str:
    """One worlds arm's persistence and zero-point floor, for the run's notes."""
    if arm is None:
        return "not run"
    return f"persistence {arm['persistence'][0]:.3g}, zero-point floor {arm['floor']:.3g}"


SCENARIO = TransitionScenario()

run = scenario_run(
    SCENARIO, "Run the transition scenario (see the package docstring) and write its output folder."
)
