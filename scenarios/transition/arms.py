"""The arms of the ``transition`` scenario: configs, controllers, the quench and the runs.

Five SGD arms run on the same task and seed (:data:`SGD_ARMS`); every arm except ``no_change``
gets the teacher quench (:func:`scenarios.common.quench`) at :func:`quench_step`. The
``positive_control`` arm is not simulated by the network: it is Nelson trajectories of a 2-D
harmonic superposition with a known hbar (:func:`positive_control`). The ``worlds`` arm is the
second positive control of the real-time claim, inside the learning system (coupling put in by
hand): replicas of a 1-parameter quadratic loss coupled through a density neuron on ``q_0``
(beta = 1, no noise), beside the same replicas with the coupling off
(``worlds_coupling_off``); :func:`worlds_control`.

Units: time in learning steps (the positive control in its own time unit, ``POSITIVE_DT`` per
recorded step); ``MU_C`` in loss units per neuron.

The adaptive arm's controllers (:func:`adaptive_controllers`) are chosen so that the run reaches
and holds the consistency condition hbar_2mD = 2 m D = |mu_c| / 2 pi (m = 1 / (2 gamma); D the
diffusion of the observed coordinates; docs/physics.md#wave-function-and-consistency-condition):
with this network, D is about c gamma^2 / M with c of order 1e-3, so hbar_2mD = c gamma / M, and
``MU_C`` puts the target |mu_c| / 2 pi = 1.6e-5 at gamma / M of about 0.016, reachable at a step
size of 0.1-0.4 (larger steps let single replicas make excursions that dominate D) with a
batch size inside [2, 64]. The batch size carries the condition (gain 0.5 every step); the step
size trims what the integer batch size leaves (gain 0.03); ``BETA_C`` keeps beta_c |mu_c| =
0.04.

The neuron count has no equilibrium inside its slots: the relaxed free energy F falls as
neurons are added (a trained neuron costs Delta F of about 0.01 to remove, a new one about
0.001 to add; measured, seed 1), while a |mu_c| that the batch and step sizes can match is
1e-5 to 1e-3 (hbar_2mD = c gamma / M within the bounds). A grand-canonical N therefore drifts
up to the slot bound ``n_hidden_max`` (with one proposal every 5 steps it sat at a bound in
about half of the replica-steps), and greedier moves (larger beta_c) only speed the drift.
``NEURON_INTERVAL`` = 100 steps (4 proposals per replica in the default 480 steps) keeps the
drift inside the slots over the run: the replica-steps at a bound stay below 10% in each
analysis window (measured, default size, seeds 1-3: 0.2-0.4% before the quench, 3.5-5.2%
after it; gamma and M never at a bound); the summary reports the fraction per window and
controller (``adaptive_at_bound_*``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.controls import harmonic_nelson
from models import LearningSystem, SystemConfig
from runner import arm_tables, concat_arms, run_arm
from scenarios.common import quench
from scenarios.common.draws import Draw
from scenarios.common.teacher import builder
from scenarios.transition import wellposed
from scenarios.worlds.known_answers import positive_trajectories

__all__ = [
    "ADAPTIVE_STEP_SIZE",
    "BATCH_BOUNDS",
    "BETA_C",
    "COORDS",
    "GAMMA_BOUNDS",
    "MOMENTUM",
    "MU_C",
    "NEURON_INTERVAL",
    "POSITIVE_DT",
    "POSITIVE_HBAR",
    "SGD_ARMS",
    "WORLDS_ARMS",
    "WORLDS_REPLICAS",
    "WORLDS_STEPS",
    "adaptive_controllers",
    "default_config",
    "final_setting",
    "positive_control",
    "quench_step",
    "simulate",
    "worlds_control",
]

COORDS = ["q_0", "q_1"]
SGD_ARMS = ("canonical", "adaptive", "canonical_at_final", "momentum", "no_change")
MU_C = -1e-4
BETA_C = 400.0
GAMMA_BOUNDS = (0.1, 0.4)
BATCH_BOUNDS = (2, 64)
ADAPTIVE_STEP_SIZE = 0.2
NEURON_INTERVAL = 100
MOMENTUM = 0.9
POSITIVE_HBAR = 0.05
POSITIVE_DT = 0.2
WORLDS_ARMS = ("worlds", "worlds_coupling_off")
"""The coupled-replica positive control (coupling put in by hand) and its coupling-off control."""
WORLDS_REPLICAS = 100
"""Replicas of the ``worlds`` arm (the coupled replicas' known answers are checked at 100)."""
WORLDS_STEPS = 63
"""Learning steps of the ``worlds`` arm: two periods of its 2-omega breathing (31.4 steps)."""


def default_config(quick: bool) -> SystemConfig:
    """The scenario's network: a 1-H-1 tanh network (H <= 6) on a random 1-3-1 teacher.

    Examples
    --------
    >>> cfg = default_config(quick=True)
    >>> cfg.replicas, cfg.n_hidden, cfg.n_hidden_max, cfg.task, cfg.observed
    (200, 3, 6, 'teacher', 2)
    """
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


def adaptive_controllers(mu_c: float = MU_C) -> list[dict[str, Any]]:
    """The controller tables of the adaptive arm.

    A grand-canonical neuron count (``mu_c``, ``BETA_C``, one proposal per replica every
    ``NEURON_INTERVAL`` steps) and two ``consistency`` policies driving hbar_2mD toward
    |mu_c| / 2 pi with the diffusion measured over the last 20 steps: the batch size fast (gain
    0.5 every step, within ``BATCH_BOUNDS``), the step size slowly (gain 0.03, within
    ``GAMMA_BOUNDS``), so that the step size trims what the integer batch size leaves and
    takes a share of slow drifts.
    The arm starts at gamma = ``ADAPTIVE_STEP_SIZE`` (:func:`simulate`).

    Examples
    --------
    >>> [c["type"] for c in adaptive_controllers()]
    ['neuron_count', 'step_size', 'batch_size']
    >>> adaptive_controllers()[2]["m_max"], adaptive_controllers()[1]["gamma_max"]
    (64, 0.4)
    """
    return [
        {
            "type": "neuron_count",
            "policy": "grand_canonical",
            "mu_c": mu_c,
            "beta_c": BETA_C,
            "interval": NEURON_INTERVAL,
        },
        {
            "type": "step_size",
            "policy": "consistency",
            "gain": 0.03,
            "window": 20,
            "gamma_min": GAMMA_BOUNDS[0],
            "gamma_max": GAMMA_BOUNDS[1],
        },
        {
            "type": "batch_size",
            "policy": "consistency",
            "gain": 0.5,
            "window": 20,
            "m_min": BATCH_BOUNDS[0],
            "m_max": BATCH_BOUNDS[1],
        },
    ]


def quench_step(steps: int) -> int:
    """The step at which the teacher changes (2/3 of the run).

    Examples
    --------
    >>> quench_step(600)
    400
    """
    return max(2, (2 * steps) // 3)


def final_setting(model: LearningSystem) -> dict[str, Any]:
    """The adaptive arm's final mean hidden-neuron count, gamma and M.

    Examples
    --------
    >>> final_setting(LearningSystem(replicas=2, n_hidden=3, seed=0))["n_hidden"]
    3
    """
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
    hbar = ``POSITIVE_HBAR``; ``POSITIVE_DT`` time units per recorded step; all draws from
    ``numpy.random.default_rng(seed)`` (:func:`analysis.controls.harmonic_nelson`).

    Examples
    --------
    >>> df = positive_control(50, 3, 0)
    >>> df.columns.tolist(), int(df["step"].max())
    (['step', 'replica', 'q_0', 'q_1'], 3)
    """
    rng = np.random.default_rng(seed)
    return harmonic_nelson(replicas, steps, rng, hbar=POSITIVE_HBAR, dt=POSITIVE_DT)


def simulate(
    config: SystemConfig, steps: int, progress: bool, draw: Draw | None = None
) -> dict[str, pd.DataFrame]:
    """Run the five SGD arms and the positive control; the raw tables with an ``arm`` column.

    ``canonical_at_final`` is built from the adaptive arm's :func:`final_setting`, so the arms
    run in the order of :data:`SGD_ARMS`. Each arm is one :func:`runner.run_arm` call (so a
    ``dualsim run`` session checkpoints it); the positive control's trajectories and those of
    the :data:`WORLDS_ARMS` (:func:`worlds_control`, coupling put in by hand) are appended to
    ``trajectories``. Every arm learns the teacher of ``draw``
    (:func:`scenarios.transition.wellposed.check`; None: the config's own teacher), recorded as
    one ``draw_setup`` row of the events (arm ``setup``); ``canonical_at_final`` with another
    hidden count than ``config`` learns the conditioned teacher of its own shape.

    Examples
    --------
    >>> cfg = default_config(quick=True).replace(replicas=8, n_probe=8)
    >>> tables = simulate(cfg, 6, progress=False)
    >>> sorted(set(tables["trajectories"]["arm"]))  # doctest: +NORMALIZE_WHITESPACE
    ['adaptive', 'canonical', 'canonical_at_final', 'momentum', 'no_change',
     'positive_control', 'worlds', 'worlds_coupling_off']
    """
    quench_at = {quench_step(steps): quench}
    parts = []
    canonical = run_arm("canonical", builder(config, draw), steps, progress, quench_at)
    parts.append(arm_tables(canonical, "canonical"))
    adaptive_cfg = config.replace(controllers=adaptive_controllers(), step_size=ADAPTIVE_STEP_SIZE)
    adaptive = run_arm("adaptive", builder(adaptive_cfg, draw), steps, progress, quench_at)
    parts.append(arm_tables(adaptive, "adaptive"))
    final = final_setting(adaptive)
    final_cfg = config.replace(
        n_hidden=min(final["n_hidden"], config.n_hidden_max),
        step_size=final["step_size"],
        batch_size=final["batch_size"],
    )
    final_draw = draw if final_cfg.n_hidden == config.n_hidden else wellposed.check(final_cfg)
    at_final = run_arm(
        "canonical_at_final", builder(final_cfg, final_draw), steps, progress, quench_at
    )
    parts.append(arm_tables(at_final, "canonical_at_final"))
    mom_cfg = config.replace(momentum=MOMENTUM, step_size=config.step_size * (1 - MOMENTUM))
    mom = run_arm("momentum", builder(mom_cfg, draw), steps, progress, quench_at)
    parts.append(arm_tables(mom, "momentum"))
    still = run_arm("no_change", builder(config, draw), steps, progress)
    parts.append(arm_tables(still, "no_change"))
    tables = concat_arms(parts)
    if draw is not None:
        tables["events"] = pd.concat(
            [tables["events"], pd.DataFrame([draw.event("setup")])], ignore_index=True
        )
    # an integer column: an arm whose only events are model events (the quench) would make it
    # float, its empty controller-event frame having float columns
    tables["events"]["step"] = tables["events"]["step"].astype("int64")
    positive = positive_control(config.replicas, steps, config.seed)
    worlds = [worlds_control(arm == WORLDS_ARMS[0], config.seed) for arm in WORLDS_ARMS]
    tables["trajectories"] = pd.concat(
        [
            tables["trajectories"],
            positive.assign(arm="positive_control"),
            *(w.assign(arm=arm) for arm, w in zip(WORLDS_ARMS, worlds, strict=True)),
        ],
        ignore_index=True,
        sort=False,
    )
    return tables


def worlds_control(coupling: bool = True, seed: int = 0) -> pd.DataFrame:
    """The ``worlds`` arm (coupling put in by hand): its trajectory table ``step, replica, q_0``.

    :data:`WORLDS_REPLICAS` real replicas of the learning system on the 1-parameter loss
    ``q^2 / 2`` (gamma = 0.01, beta = 1, no noise), coupled through one density neuron on
    ``q_0`` (HDW estimator, c_F = 5e-5: hbar = 0.2 with m = 1/gamma), released at rest from
    their ground configuration scaled to twice its variance, for :data:`WORLDS_STEPS` steps
    (:func:`scenarios.worlds.known_answers.positive_trajectories`). The run is a breathing with
    an undamped 2-omega line whose narrowest width is the zero-point floor Var_g^2 / Var0.
    ``coupling=False`` is the same replicas and start with c_F = 0: the same undamped line, but
    the cloud collapses to a point. ``seed`` drives nothing here (no noise, no kernel).

    Examples
    --------
    >>> df = worlds_control(coupling=False)
    >>> df.columns.tolist(), int(df["step"].max()), df["replica"].nunique()
    (['step', 'replica', 'q_0'], 63, 100)
    """
    arm = WORLDS_ARMS[0] if coupling else WORLDS_ARMS[1]
    return positive_trajectories(
        WORLDS_REPLICAS, WORLDS_STEPS, seed=seed, arm=arm, coupling=coupling
    )
