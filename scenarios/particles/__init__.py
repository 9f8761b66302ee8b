"""Scenario ``particles``: neurons as particles, grand-canonical clone/kill births.

The neurons of a network are particles theta_i. With a fixed number of them, noisy gradient
descent makes their density relax to the Boltzmann state ``exp(-Psi / T)`` (Fokker-Planck);
with clone/kill births at rate ``alpha (Psi_i - mu_c)`` the density follows an
imaginary-time Schrodinger equation with hbar = 1/alpha, mass ``1 / (2 alpha D)`` and the loss
first variation Psi as potential, and relaxes to its Perron ground state, with ``mu_c`` at the
ground energy. The crossover number ``r = 2 alpha D / (eta^2 k)`` (k the curvature of Psi)
sets the regime, with no fitted parameter: ``Var / (T/k) = 2 / (1 + sqrt(1 + r))`` for a
harmonic Psi. It is imaginary time: real-time signatures stay null.

Arms (:mod:`scenarios.particles.arms`): the crossover sweep of a frozen harmonic Psi (9 r in
[0.01, 100], two (alpha, D, eta) triples each; quick: 5 r, one triple; through the sweep runner,
:func:`scenarios.particles.arms.run_crossover`, one run per triple), the grand-canonical arm
at r = 1, its null controls (entropy-aware births, shuffled Psi, alpha = 0, common noise) and
the positive control (pure branching, eta = 0); five of those arms started displaced and
three collision arms (the real-time null); and one network pair: the real mean-field network
of RBF units with clone/kill births at two (alpha, M) pairs with the same r. Claims
(:mod:`scenarios.particles.claims`): the Perron state at r = 1, and the crossover law over the
sweep, both within 3 % in ``ln Var``; one network density per r (the pair's L1 below twice
its split-half floor); and the real-time null (a displaced population relaxes without an
extremum beyond 6 standard errors; two colliding packets add up, chi2/dof in [0.8, 1.25]).
Tables: the standard ones plus ``particles`` (every live particle every
250 steps, every 10 steps in the network arms' windows: ``replica, step, neuron_id,
parent_id, birth_step, theta, psi, event``, plus one row per birth and death), ``psi_grid``
(the network's Psi on its grid) and ``arms`` (the settings). Runs shorter than
:data:`MIN_STEPS` steps are refused before anything is simulated.

The adiabatic arm moves r slowly enough (``d ln r / dt <= 0.1 x`` the current gap) that the
density stays at the predicted stationary state of every r it passes: by the birth rate alpha
on the frozen harmonic (the ``clone`` schedule of
:func:`scenarios.particles.arms.adiabatic_schedule`) and by the per-neuron batch M on the
network (the ``batch_size`` schedule of :func:`scenarios.particles.adiabatic.batch_schedule`,
against the self-consistent Perron state at each M). It runs in the slow tests, not in
``dualsim run particles``.

:func:`frozen` is the known-answer entry point (non-interacting particles in a frozen
polynomial potential, through the real ``neuron_count`` controller agent in its ``clone``
policy).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.verdicts import diagnostics_frame
from models import ConfigError, SystemConfig
from runner import Analysis, Experiment, scenario_run
from scenarios.particles.arms import arm_settings, default_config, simulate
from scenarios.particles.claims import CLAIMS, verdicts
from scenarios.particles.figures import figures
from scenarios.particles.known_answers import PopulationRecorder, frozen, frozen_config
from scenarios.particles.measures import (
    measure_arms,
    measure_collision,
    measure_network,
    measure_realtime,
)

__all__ = [
    "CLAIMS",
    "MIN_STEPS",
    "SCENARIO",
    "ParticlesScenario",
    "PopulationRecorder",
    "arm_settings",
    "frozen",
    "frozen_config",
    "run",
]

MIN_STEPS = 40
"""Fewest steps a run may have: the late windows (from a quarter of the run) need snapshots."""

NETWORK_DIAGNOSTICS = (
    ("network_D", "D"),
    ("network_T", "T"),
    ("network_k", "k"),
    ("crossover_r", "r"),
    ("mu_c_predicted", "mu_predicted"),
    ("network_l1_perron", "l1_perron"),
    ("network_l1_boltzmann", "l1_boltzmann"),
    ("network_floor", "floor"),
    ("n_final", "n_final"),
    ("refused_births", "refused"),
)

DIAGNOSTICS = (
    ("variance", "variance", "variance_low", "variance_high"),
    ("variance_predicted", "predicted", None, None),
    ("variance_predicted_discrete", "predicted_discrete", None, None),
    ("variance_boltzmann", "boltzmann", None, None),
    ("mu_c", "mu_c", "mu_c_low", "mu_c_high"),
    ("mu_c_predicted", "mu_predicted", None, None),
    ("mu_c_predicted_discrete", "mu_predicted_discrete", None, None),
    ("crossover_r", "r", None, None),
    ("n_final", "n_final", None, None),
    ("refused_births", "refused", None, None),
    ("clone_separation_max", "clone_separation_max", None, None),
    ("clone_separation_median", "clone_separation_median", None, None),
)


class ParticlesScenario(Experiment):
    """Neurons as particles: the frozen-Psi crossover from Boltzmann to the Perron state."""

    name = "particles"
    quick_steps = 1500
    default_steps = 2000

    def default_config(self, quick: bool) -> SystemConfig:
        return default_config(quick)

    def setup(self, config: SystemConfig, quick: bool, steps: int | None = None) -> dict[str, Any]:
        """Refuse runs shorter than :data:`MIN_STEPS` (nothing to measure); no draw."""
        if steps is not None and steps < MIN_STEPS:
            raise ConfigError(
                "steps", steps, f">= {MIN_STEPS} (the late windows start at a quarter of the run)"
            )
        return {}

    def simulate(
        self, config: SystemConfig, quick: bool, steps: int, progress: bool
    ) -> dict[str, pd.DataFrame]:
        return simulate(config, quick, steps, progress)

    def analyse(
        self, tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
    ) -> Analysis:
        steps = int(meta["steps"])
        m = measure_arms(tables, steps)
        rows = []
        for row in m.itertuples(index=False):
            for diagnostic, col, lo, hi in DIAGNOSTICS:
                rows.append(
                    {
                        "arm": row.arm,
                        "diagnostic": diagnostic,
                        "quantity": col,
                        "window": row.window,
                        "value": float(getattr(row, col)),
                        "ci_low": float(getattr(row, lo)) if lo else float("nan"),
                        "ci_high": float(getattr(row, hi)) if hi else float("nan"),
                    }
                )
        net = measure_network(tables)
        rt = measure_realtime(tables, config.seed)
        col = measure_collision(tables)
        for arm, row in net.items():
            if arm == "pair":
                continue
            for diagnostic, key in NETWORK_DIAGNOSTICS:
                rows.append(
                    {
                        "arm": arm,
                        "diagnostic": diagnostic,
                        "quantity": key,
                        "window": int(row["steps"].min()),
                        "value": float(row[key]),
                        "ci_low": float("nan"),
                        "ci_high": float("nan"),
                    }
                )
        gc = m[m.arm == "grand_canonical"].iloc[0]
        summary = {
            "variance_r1_measured": float(gc.variance),
            "variance_r1_perron": float(gc.predicted),
            "variance_r1_boltzmann": float(gc.boltzmann),
            "mu_c_r1_measured": float(gc.mu_c),
            "mu_c_r1_predicted": float(gc.mu_predicted),
            "refused_births_total": int(m.refused.sum()),
        }
        if net:
            pair = net["pair"]
            for arm in ("network_a", "network_b"):
                a = net[arm]
                summary[f"{arm}_r"] = float(a["r"])
                summary[f"{arm}_l1_perron_over_floor"] = float(a["l1_perron"] / a["floor"])
                summary[f"{arm}_l1_boltzmann_over_floor"] = float(a["l1_boltzmann"] / a["floor"])
                summary[f"{arm}_mu_c_predicted"] = float(a["mu_predicted"])
            summary["network_mu_c_set"] = float(pair["mu_c_set"])
            summary["network_pair_l1_over_floor"] = float(pair["ratio"])
        for key, v in rt.items():
            summary[f"realtime_extremum_se_{key}"] = float(v)
        for key in ("ratio", "dof", "control", "positive"):
            if key in col:
                summary[f"collision_chi2_dof_{key}"] = float(col[key])
        notes = [
            "Frozen harmonic Psi = k theta^2/2 with k = 1; one step is an exact discrete map "
            "whose stationary variance (diagnostic variance_predicted_discrete) differs from "
            "the continuous law by at most 1 % at every setting here.",
            "hbar = 1/alpha here is the particles' (imaginary-time) hbar; it is not the "
            "consistency-condition hbar = |mu_c|/2pi of the transition scenario.",
            "The common_noise arm moves all particles of a replica with one noise draw: its "
            "clones never separate (clone_separation_max = 0), which is why per-neuron noise "
            "is needed.",
            "Network pair: (alpha, M, eta) = (2, 2, 0.05) and (4, 4, 0.1) share r, T = D / eta "
            "and alpha / eta, so their generators differ by a factor 2 in time only; their "
            "densities are compared with each other (the claim) and with the Perron and "
            "Boltzmann densities of their own time-averaged Psi and Kramers-Moyal D "
            "(diagnostics network_l1_*, beside network_floor; the Perron prediction of the "
            "frozen average misses where the two wells of Psi are nearly degenerate).",
        ]
        judged = verdicts(m, net, rt, col)
        return Analysis(
            diagnostics_frame(rows), judged, figures(tables, m, net, judged), summary, notes
        )


SCENARIO = ParticlesScenario()

run = scenario_run(
    SCENARIO, "Run the particles scenario (see the package docstring) and write its output folder."
)
