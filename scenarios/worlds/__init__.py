"""Scenario ``worlds``: replicas coupled through a shared density neuron (coupling put in by hand).

Every replica's loss gets ``c_F |d ln p_hat(q_r)|^2``, where ``p_hat`` is the replicas' density
read by one shared, non-trainable density neuron (:mod:`models.coupling`); with the
nearest-neighbour (``hdw``) estimator this is the Hall-Deckert-Wiseman interworld potential. With
frictionless inertia (mass ``1/gamma``, ``hbar = sqrt(8 m c_F)``) and at-rest starts it
reproduces the zero-point width ``(1 - 1/N)/2``, undamped 2-omega breathing and the 1/sigma0^2
spreading law -- but only because the coupling, its coefficient, the inertia and the starts are
put in by hand. It is a positive control and a measuring device, never evidence for the paper.
Only the ground shape is Schrodinger-specific: 2-omega breathing and the spreading law follow
from scale invariance alone (a Calogero 1/gap^2 repulsion shares them).

The non-circular output is the decoherence budget: how fast the real-time signatures die as the
SGD ingredients come back (heavy-ball friction ``1 - beta``; the noise temperature that gamma and
M set, ``T = gamma sigma^2 / (2 M (1 - beta))``). A signature survives when the 2-omega line has
Q >= 5 and the ground-width shift is <= 10 %; the boundary is reported in ``(1 - beta)/omega``
and ``T/(hbar omega)``.

Arms (:mod:`scenarios.worlds.arms`): ground state, squeezed breathing and free spreading, each
against coupling off, ``calogero`` and ``frozen``; the budget grid
(:mod:`scenarios.worlds.budget`), run through the sweep runner (:func:`runner.sweep.run_sweep`,
serially inside the run): one run of :func:`~scenarios.worlds.budget.budget_cell` per grid
point of the config fields ``momentum`` (beta), ``batch_size`` (M) and ``step_size`` (gamma)
and per seed, the seeds spawned by the sweep runner from the run's seed, so the same seed gives
the same bits; :func:`~scenarios.worlds.budget.run_budget` reruns or extends the grid (more
points, seeds, a process pool) into a kept sweep folder, and
:func:`~scenarios.worlds.budget.budget_tables` reads such a folder back for the analysis; a
head-on collision
(documentation only): finite-N density couplings do not form the nodes that interference
fringes need (the literature on many-interacting-worlds reports the same), so fringes are no
acceptance test here.
Claims (:mod:`scenarios.worlds.claims`), tables (standard ones of the known-answer arms,
``worlds``: every arm's variance trace, ``arms``: the settings) and figures
(:mod:`scenarios.worlds.figures`) say "coupling put in by hand".

Known-answer entry points: :func:`ground_state`, :func:`breathing` and :func:`spreading`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from analysis.verdicts import diagnostics_frame
from models import SystemConfig
from runner import Analysis, Experiment, scenario_run
from scenarios.worlds.arms import default_config, simulate
from scenarios.worlds.claims import CLAIMS, verdicts
from scenarios.worlds.figures import figures
from scenarios.worlds.known_answers import HAND, relax, spread, trajectory
from scenarios.worlds.measures import boundary, budget_cells, measure_arms

__all__ = [
    "CLAIMS",
    "HAND",
    "SCENARIO",
    "WorldsScenario",
    "breathing",
    "ground_state",
    "run",
    "spreading",
]


class WorldsScenario(Experiment):
    """Replicas coupled through a density neuron (coupling put in by hand), their controls and
    the decoherence budget."""

    name = "worlds"
    quick_steps = 1
    default_steps = 1

    def default_config(self, quick: bool) -> SystemConfig:
        return default_config(quick)

    def simulate(
        self, config: SystemConfig, quick: bool, steps: int, progress: bool
    ) -> dict[str, pd.DataFrame]:
        return simulate(config, quick, steps, progress)

    def analyse(
        self, tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
    ) -> Analysis:
        m = measure_arms(tables["worlds"], tables["arms"])
        cells = budget_cells(tables["worlds"], tables["arms"])
        edge = boundary(cells)
        rows = []
        for row in m.itertuples(index=False):
            for q in ("value", "predicted", "deviation", "kurtosis", "q", "energy_drift"):
                v = float(getattr(row, q))
                rows.append(
                    {
                        "arm": row.arm,
                        "diagnostic": f"{row.family}_{q}",
                        "quantity": q,
                        "window": 0,
                        "value": v,
                        "ci_low": v,
                        "ci_high": v,
                    }
                )
        for c in cells.itertuples(index=False):
            arm = f"budget_f{c.friction:g}_g{c.gamma:g}_m{c.batch_size}_{c.noise}"
            for q in ("q", "width_shift"):
                rows.append(
                    {
                        "arm": arm,
                        "diagnostic": f"budget_{q}",
                        "quantity": q,
                        "window": 0,
                        "value": float(getattr(c, q)),
                        "ci_low": float(getattr(c, f"{q}_low")),
                        "ci_high": float(getattr(c, f"{q}_high")),
                    }
                )

        coll = tables.get("collision")
        if coll is not None:
            for c in coll.itertuples(index=False):
                rows.append(
                    {
                        "arm": c.arm,
                        "diagnostic": "collision_fringe_correlation",
                        "quantity": "corr",
                        "window": 0,
                        "value": float(c.corr),
                        "ci_low": float(c.corr),
                        "ci_high": float(c.corr),
                    }
                )

        def at(arm: str, col: str) -> float:
            return float(m[m.arm == arm][col].iloc[0])

        summary: dict[str, float | int | str] = {
            "coupling": HAND,
            "replicas": int(m.n.iloc[0]),
            "ground_var_hdw": at("ground_hdw", "value"),
            "ground_var_predicted": at("ground_hdw", "predicted"),
            "ground_var_off": at("ground_off", "value"),
            "ground_kurtosis_hdw": at("ground_hdw", "kurtosis"),
            "ground_kurtosis_calogero": at("ground_calogero", "kurtosis"),
            "ground_var_kernel": at("ground_kernel", "value"),
            "breathing_deviation_hdw": at("breathing_hdw", "deviation"),
            "breathing_deviation_off": at("breathing_off", "deviation"),
            "breathing_energy_drift_hdw": at("breathing_hdw", "energy_drift"),
            "spreading_ratio_hdw": at("spreading_hdw", "value"),
            "spreading_ratio_predicted": at("spreading_hdw", "predicted"),
            "budget_friction_c": edge["friction_c"],
            "budget_temperature_c": edge["temperature_c"],
            "budget_temperature_c_friction": edge["friction_for_temperature"],
        }
        if coll is not None:
            for c in coll.itertuples(index=False):
                summary[f"{c.arm}_fringe_correlation"] = float(c.corr)
            summary["collision_planted_fringe_correlation"] = float(coll.positive.iloc[0])
        notes = [
            f"Every number here comes from a coupling put in by hand: the Fisher functional and "
            f"its estimator, c_F, frictionless inertia and at-rest starts ({HAND}).",
            "Units: variances in hbar/(m omega), time in 1/omega; m = 1/gamma, "
            "hbar = sqrt(8 m c_F), omega = sqrt(gamma k) per step.",
            "Only the ground shape (excess kurtosis) is Schrodinger-specific; the Calogero "
            "control shares the 2-omega breathing and the spreading law (scale invariance).",
            "Budget boundary (20 replicas, two trap periods): the 2-omega line falls to Q = 5 at "
            f"(1 - beta)/omega = {edge['friction_c']:.3g} "
            f"[{edge['friction_c_low']:.3g}, {edge['friction_c_high']:.3g}] at T = 0; the "
            f"ground width shifts by 10 % at T/(hbar omega) = {edge['temperature_c']:.3g} "
            f"[{edge['temperature_c_low']:.3g}, {edge['temperature_c_high']:.3g}] at "
            f"(1 - beta)/omega = {edge['friction_for_temperature']:g}. Prediction: 1 - beta << "
            "omega and T <~ 0.01 hbar omega.",
            "Head-on collision (documentation only, no claim): the correlation of the replica "
            "histogram with the quantum interference term stays below 0.3 for the coupled "
            "replicas as for the controls (fringes absent; replicas sampled from the quantum "
            "density, with the fringes planted, give about 1): finite-N density couplings do "
            f"not form the nodes that fringes need, a known limitation ({HAND}).",
        ]
        return Analysis(
            diagnostics_frame(rows), verdicts(m, cells), figures(tables, m, cells), summary, notes
        )


SCENARIO = WorldsScenario()

run = scenario_run(
    SCENARIO,
    "Run the worlds scenario (see the package docstring; coupling put in by hand) and write its "
    "output folder.",
    " (20 replicas, one gamma in the budget)",
)


def ground_state(n: int, *, estimator: str = "hdw", seed: int = 0) -> float:
    """The stationary variance of ``n`` coupled replicas (units ``hbar / (m omega)``).

    The learning system's coupled replicas (one parameter each, loss ``q^2 / 2``, exact
    gradients, small gamma) relax with friction from normal quantiles of variance 1 at rest;
    the result is the mean variance over the last tenth of the run. HDW predicts
    ``(1 - 1/n) / 2``. The coupling is put in by hand.

    Examples
    --------
    >>> round(ground_state(5), 3)
    0.4
    """
    df = relax(n, estimator=estimator, seed=seed)
    tail = df["var"].iloc[-max(2, len(df) // 10) :]
    return float(tail.mean())


def breathing(
    n: int,
    var0: float,
    *,
    periods: float = 2,
    estimator: str = "hdw",
    coupling: bool = True,
    friction: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Breathing of ``n`` coupled replicas released at rest from the scaled ground
    configuration of variance ``var0``: DataFrame ``t, var`` (units ``1/omega`` and
    ``hbar / (m omega)``), one sample per learning step (about 63 per breathing period pi).

    ``friction`` is ``(1 - beta) / omega``; ``coupling=False`` is the coupling-off control.
    The prediction (frictionless) is ``Var0 cos^2 t + (Var_g^2 / Var0) sin^2 t``. The coupling
    is put in by hand.

    Examples
    --------
    >>> df = breathing(10, 1.0, periods=0.5)
    >>> round(float(df["var"].min()), 2)
    0.2
    """
    df = trajectory(
        n,
        var0,
        periods * math.pi,
        estimator=estimator,
        coupling=coupling,
        friction=friction,
        seed=seed,
    )
    return df[["t", "var"]].reset_index(drop=True)


def spreading(n: int, var0: float, *, duration: float = 2.0, seed: int = 0) -> pd.DataFrame:
    """Free spreading (loss switched off) of ``n`` HDW-coupled replicas from the ground
    configuration scaled to ``var0``: DataFrame ``t, var, ratio`` with
    ``ratio = (Var(t) - Var0) Var0 / (t/2)^2`` (prediction ``4 Var_g^2 = (1 - 1/n)^2``, the
    1/sigma_0^2 law). The coupling is put in by hand.

    Examples
    --------
    >>> df = spreading(10, 1.0, duration=1.0)
    >>> round(float(df["ratio"].iloc[-1]), 2)
    0.81
    """
    df = spread(n, var0, duration, seed=seed)[["t", "var"]].reset_index(drop=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        df["ratio"] = (df["var"] - var0) * var0 / (df["t"] / 2.0) ** 2
    return df
