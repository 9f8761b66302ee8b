"""One adaptive run, two descriptions: Schrödinger for q, geodesics of an emergent metric for x.

Scenario ``duality`` (``dualsim run duality``; docs/physics.md#duality). ONE adaptive run is
analysed both ways side by side, each description against its own null on the same run.

The run (arm ``adaptive``)
--------------------------
The ``spacetime`` network (small-world hidden layer of 24 tanh neurons, up to
``N_HIDDEN_MAX`` hidden slots, 2 inputs, 1 output, teacher task, neuron states recorded every
step) with the ``transition`` scenario's adaptive controllers
(:func:`scenarios.transition.adaptive_controllers`: grand-canonical neuron count, step-size
``consistency`` policy, batch-size ``noise_scale`` policy). At ``t_mid = steps // 2`` two
things happen before the next step: the teacher quench (:func:`scenarios.common.quench`,
teacher weights x 0.6) and a packet injection (the replicas are split into ``BLOCKS`` blocks;
block ``b`` gets a packet centred on neuron group ``b mod 4``,
:func:`scenarios.common.inject_block_packets`).
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
    to any smoothing prediction even on stationary data:
    :func:`~scenarios.duality.measures.frozen_null`).
    ``score_q = median(H/floor, Schrödinger) / median(H/floor, frozen)``. The measured-drift
    Fokker-Planck prediction of the same comparison is reported as a diagnostic.
Gravity side (x = ``X^0 .. X^3``, the mean states of 4 Louvain groups of hidden neurons,
:func:`scenarios.common.geometry.hidden_groups` on the saved ``edges`` table; states are probe
states, ``state_source = "probe"``: mean free-running states over the fixed probe inputs, a
function of the weights and the injected drive only, free of mini-batch sampling noise;
``--set state_source=batch`` gives mini-batch-mean states for comparison)
    The local metric of the first half (:func:`analysis.spacetime.local_metric` on steps
    ``[t_mid // 3, t_mid)``, polynomial model of degree 3, the grid settings of
    :mod:`scenarios.common.geometry`) and the path noise (step-to-step fluctuation of each
    block mean over the same window) are fixed; the ``BLOCKS`` packet paths (block means of x
    over ``PATH_STEPS`` steps after the injection, every ``PATH_STRIDE`` steps) are fitted by
    geodesics of that metric and by straight lines (flat metric, the null), both with their
    start position and velocity free (:func:`analysis.spacetime.geodesic_test`). ``score_x`` =
    median over the paths of ``chi2/dof(metric) / chi2/dof(flat)`` (a median, like the quantum
    side's over times: one geodesic that leaves the metric's box carries a 1e4-per-sample
    penalty and would otherwise set the pooled number alone; the pooled chi2/dof are reported
    as diagnostics).

Verdict ``duality`` (declared in :data:`scenarios.duality.claims.DUALITY`)
------------------------------------------------------------------------
Statistic ``ln max(score_q, score_x)``: below 0 exactly when BOTH descriptions predict better than
their nulls. Interval: percentile (level ``CI_LEVEL`` = 0.99) of ``BOOTSTRAP`` joint resamples,
evaluation times resampled for ``score_q`` by the moving-block bootstrap (they are a dependent
sequence) and packet paths for ``score_x``. Control: the same statistic on the same run with
replicas permuted within their packet block independently at every step (densities of q and
block-mean paths of x are unchanged, trajectories are destroyed: hbar, the phase and the metric lose
the dynamical information; the frozen and straight-line nulls are identical). The framework calls a
supported verdict inconclusive when the control passes too. Positive control
(:func:`~scenarios.duality.measures.positive_control`): the same statistic on synthetic data where
both descriptions hold (Nelson trajectories of a quantum superposition for q; exact geodesics of the
run's own first-half metric with noise of the paths' size for x); empty when every such geodesic
leaves the metric's box within 5 samples.

Seeds vary the noise, never the scenario's validity (:mod:`scenarios.duality.wellposed`): the
quench and the packets are fixed constants; the teacher is a conditioned draw, the config's own
when its signal stands above the label noise (Var(teacher) / noise^2 >= 1), else redrawn from
the separate stream ``SeedSequence([seed, 8102])`` (:func:`scenarios.common.teacher.draw_teacher`),
recorded in ``config.toml`` (``[dualsim]`` ``draw_*``) and as one ``draw_setup`` row of
``events.parquet``. A configuration the analysis cannot use (too few hidden neurons, replicas,
observed coordinates or steps) is refused before any simulation (exit 2).

Units: q in parameter units, x in neuron-state units, time in learning steps (dt = 1).

Run as ``dualsim run duality`` or ``duality.run()``. The package holds the arm
(:mod:`~scenarios.duality.arms`), the two scores and their controls
(:mod:`~scenarios.duality.measures`), the claim (:mod:`~scenarios.duality.claims`) and the
figures (:mod:`~scenarios.duality.figures`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.verdicts import diagnostics_frame
from models import SystemConfig
from runner import Analysis, Experiment, scenario_run
from scenarios.duality import wellposed
from scenarios.duality.arms import ARM, BLOCKS, default_config, mid_step, simulate
from scenarios.duality.claims import CLAIMS, duality
from scenarios.duality.figures import figures
from scenarios.duality.measures import diagnostic_rows, measure, run_notes, summary_numbers

__all__ = [
    "ARM",
    "BLOCKS",
    "CLAIMS",
    "SCENARIO",
    "DualityScenario",
    "analyse",
    "default_config",
    "mid_step",
    "run",
]


def analyse(
    tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
) -> Analysis:
    """Judge the claim ``duality`` on the saved tables (pure analysis, never simulates)."""
    res = measure(tables, config, meta)
    return Analysis(
        diagnostics=diagnostics_frame(diagnostic_rows(res)),
        verdicts=[duality(res)],
        figures=figures(res),
        summary=summary_numbers(res, tables["model"], config),
        notes=run_notes(res, config),
    )


class DualityScenario(Experiment):
    """Duality: one adaptive run, Schrödinger for q and geodesics for x, each against its null."""

    name = "duality"
    quick_steps = 100
    default_steps = 400

    def default_config(self, quick: bool) -> SystemConfig:
        return default_config(quick)

    def setup(self, config: SystemConfig, quick: bool, steps: int | None = None) -> dict[str, Any]:
        """Refuse an ill-posed config; the teacher draw's ``[dualsim]`` entries
        (:func:`scenarios.duality.wellposed.check`)."""
        draw = wellposed.check(config, steps, quick)
        return {} if draw is None else draw.meta()

    def simulate(
        self, config: SystemConfig, quick: bool, steps: int, progress: bool
    ) -> dict[str, pd.DataFrame]:
        """The arm ``adaptive`` after the well-posedness check and the teacher draw."""
        return simulate(config, steps, progress, wellposed.check(config, steps, quick))

    def analyse(
        self, tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
    ) -> Analysis:
        return analyse(tables, config, meta)


SCENARIO = DualityScenario()


run = scenario_run(
    SCENARIO,
    "Run the ``duality`` scenario (one adaptive run), save and analyse it.",
    " (64 replicas)",
)
