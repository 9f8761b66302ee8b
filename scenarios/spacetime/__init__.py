"""Emergent space-time of neuron states: signature, dispersion, metric, geodesics, Einstein, Lambda.

Scenario ``spacetime`` (``dualsim run spacetime``; docs/physics.md#emergent-space-time,
docs/methods.md#lorentz-signature and the method sections after it). The network
is a small-world hidden layer (``n_hidden = 24`` tanh neurons on a Watts-Strogatz ring, 2 inputs,
1 output, teacher task); neuron states are recorded every step (``record_every = 1``), so the
time unit is one learning step (dt = 1). Coarse coordinates ``X^mu`` (mu = 0 .. 3, d = D + 1 = 4)
are the mean states of four groups of hidden neurons: Louvain communities of the replica-mean
|w| graph of the hidden layer at the start (saved as the ``edges`` table, so that ``dualsim
report`` rebuilds the same groups; :mod:`scenarios.common.geometry`). A slot inactive in a
replica counts as state 0. The states are *probe* states (``state_source = "probe"``): the mean
free-running state over the ``n_probe`` fixed probe inputs, a function of the weights (and of an
injected packet's drive) alone. The other source, the mean over each step's own mini-batch
(``state_source = "batch"``), carries the input-sampling noise of every step: its X has a lag-1
autocorrelation of about 0.1 (measured, default size), i.e. its step-to-step motion is sampling
noise, which every drift-based statistic below then measures. ``--set state_source=batch``
runs the whole scenario on that source (then ``learning_off`` is the signature's null).

Arms (every table has an ``arm`` column)
---------------------------------------
``learning_on``
    The main ensemble (default 128 replicas, 400 steps; quick 32 replicas, 100 steps).
``learning_off``
    The same with ``learning = False`` (weights frozen). With probe states its X does not move
    at all (reported: rms step 0), so it cannot serve as the signature's null (C = D = 0); with
    batch states it is that null.
``packet``
    ``learning_on`` again (same seed, so identical up to the injection) with a localized packet
    injected at step ``steps // 2`` (:meth:`~models.LearningSystem.inject_packet`, amplitude
    ``PACKET_AMPLITUDE``, width ``PACKET_WIDTH`` neurons, decay ``PACKET_DECAY`` steps): the
    replicas are split into four blocks and block ``k`` gets the packet centred on neuron
    group ``k``; it runs ``PACKET_STEPS`` (quick ``PACKET_STEPS_QUICK``) steps past the injection.
``target_<N>``
    Neuron-count targets (``neuron_count`` controller, policy ``target``; default targets
    ``TARGETS``, quick ``TARGETS_QUICK``), run through :func:`runner.sweep.run_sweep` with the
    callable :func:`~scenarios.spacetime.arms.target_run`, with at most ``TARGET_REPLICAS``
    replicas each (their cost dominates the run). All targets share the scenario's seed
    (same network and data stream, so that only the target differs).
``learning_on_batch``, ``learning_off_batch``
    Comparison arms (only when the main source is not ``batch``): ``learning_on`` and
    ``learning_off`` again (same seed: identical weights) recording mini-batch-mean states.
    Their signature statistic and the lag-1 autocorrelation and rms step
    of their X are reported as diagnostics and in a note, not as a verdict.
The ``edges`` table (``arm = learning_on``) holds the hidden-layer wiring with the replica-mean
|w| at the start (``src, dst, weight_mean, src_kind, dst_kind``).

Statistics and verdicts (declared in :data:`scenarios.spacetime.claims.CLAIMS`)
-----------------------------------------------------------------------------
``Lorentz signature``
    Generalised eigenvalues ``lambda_0 <= lambda_1 <= ...`` of the entropy-production form C against
    the diffusion (:func:`analysis.spacetime.signature_test`, Gaussian score,
    ``SIGNATURE_BOOTSTRAP`` replica resamples, level ``SIGNATURE_LEVEL``). Statistic: the relative
    Lorentz margin ``min(-lambda_0(on), lambda_1(on), lambda_0(null)) / max |lambda|`` (over both
    spectra; in [-1, 1], free of the eigenvalues' scale), positive exactly when learning on has one
    negative eigenvalue and the null none; its interval is the basic bootstrap interval (level 0.95)
    of the joint replica resamples of both spectra (the same replica indices in the run and its
    null). Supported above 0. The null (probe states): ``learning_on`` with every step's increments
    reassigned to random replicas (:func:`analysis.controls.increment_shuffled`: the same noise and
    mean drift at every step, but no drift that depends on where a replica is, i.e. free diffusion
    along the run's own trend; the "learning off" of docs/physics.md#emergent-space-time, which with
    probe states does not move); with batch states the null is ``learning_off``. Control: the margin
    of the null alone (``min(-lambda_0, lambda_1) / max |lambda|``). Positive control: a synthetic
    Lorentzian ensemble (one contracting and three freely spreading axes, free diffusion as its
    "off", time step ``SYN_DT``) of the same size. The entropy-production traces are reported beside
    it (a stationary ensemble with currents can be indefinite without learning). Measured caveat
    (default size): the null's eigenvalue intervals are wide (lambda_0 = -12, interval [-287, 1731],
    against on-run eigenvalues of order 6000), so its control margin can come out slightly positive
    by chance; it is reported as it is.
``emergent locality/dispersion``
    Fraction of (direction, k) with a propagating spectral peak of the hidden-neuron field over
    the 2-D spectral embedding of the |w| graph (:func:`analysis.spacetime.dispersion`),
    percentile CI from ``DISPERSION_BOOTSTRAP`` replica resamples (level 0.95). Supported above
    2/3 (the analysis module's own criterion). Control: a diffusing field (graph heat equation
    with noise) on the same graph and embedding; positive control: a damped, noise-driven graph
    wave equation on it.
``geodesic motion``
    The four packet paths (block means of X after the injection, every ``PATH_STRIDE`` steps;
    noise = the step-to-step fluctuation of the same block mean in ``learning_on`` over the same
    steps, first differences over sqrt 2) are fitted by shooting geodesics of the estimated
    (polynomial) metric and by straight lines (:func:`analysis.spacetime.geodesic_test`).
    Statistic: ``ln max(chi2/dof / GEODESIC_CHI2_MAX, (chi2/dof / chi2/dof_flat) /
    GEODESIC_RATIO_MAX)`` (2 and 0.5): below 0 exactly when the paths are geodesics within
    twice their noise AND the metric halves the straight-line misfit (a packet that barely
    moves fits any metric and must not count). Its interval (percentile, level 0.95) comes
    from ``GEODESIC_BOOTSTRAP`` resamples of the paths (means of independent replica blocks)
    joint with the noise-scale factor ``s`` in ``chi^2 ~ s chi^2_dof``
    (:func:`~scenarios.spacetime.claims.geodesic_score`). Control: the same score with the
    shuffled metric. Positive control: geodesics of
    de Sitter space on the same grid box (``H = 1 / extent`` of X^0), started at the packet
    paths' first samples with their mean velocities, with Gaussian noise of the paths' size,
    through the same fit (it shows whether the test detects geodesic motion on a curved metric
    when it is there). With probe states the packet paths are smooth and their noise scale
    (first differences) is small, so chi2/dof of any smooth model is large; the half of the
    score that compares the metric with straight lines is then the informative one.
``Einstein equations with Lambda``
    ``G + Lambda g = kappa T`` on the local metric of ``learning_on``
    (:func:`analysis.spacetime.local_metric`, ``METRIC_BINS`` patches per axis, the central
    ``METRIC_QUANTILE`` range of X) with a global polynomial model of degree ``METRIC_DEGREE``;
    T is dust ``rho u u`` from the ensemble density and mean velocity
    (:func:`analysis.spacetime.ensemble_fields`), which uses g only to normalise and lower u,
    never its derivatives. Statistic: ln of the relative residual over the residual of the
    permuted-pairing control, percentile CI from ``EINSTEIN_BOOTSTRAP`` replica resamples
    (level 0.95). Supported below ln 0.5. Positive control: de Sitter space (``H = 1``, spacing
    0.2) on a grid of the same shape through the same polynomial fit. Withheld
    (``ill-conditioned``) when the fit's design condition (columns g and T at unit norm,
    :func:`analysis.spacetime.design_condition`) exceeds ``CONDITION_MAX``.
``Lambda tracks N``
    Pearson correlation ``r`` of the fitted Lambda with the mean neuron number over the
    target runs (second half of each run; bounded, free of Lambda's units, which change with
    the spread of X), percentile CI from ``4 * EINSTEIN_BOOTSTRAP`` replica resamples of every
    target (resample ``b`` of all targets gives ``r_b``; level 0.95). The sign is not fixed by
    the theory: the statistic is ``|r|`` with the interval multiplied by ``sign(r)``; supported
    above 0 (the interval excludes 0). Control: ``|r|`` of the permuted-pairing control's
    Lambda (the framework calls a verdict inconclusive when the control passes too: then
    Lambda moves with N for reasons that have nothing to do with the Einstein relation, e.g.
    the scale of X changing with N). Positive control: de Sitter spaces with ``H^2 = N / max
    N`` on the metric's grid through the same fit (:func:`~scenarios.spacetime.controls.
    de_sitter_lambdas`). Withheld (``ill-conditioned``) when any target's design condition
    exceeds ``CONDITION_MAX``.
    A target whose X admits no metric on the shared grid box (no patch reaches the minimum
    weight: its X is spread too thin) is left out with a note and a ``left_out`` diagnostic
    row; bootstrap resamples without a metric are dropped; fewer than 2 targets left fail the
    run.

Seeds vary the noise, never the scenario's validity (:mod:`scenarios.spacetime.wellposed`): the
packets (amplitude, width, decay, blocks) and the targets are fixed constants; the teacher is
a conditioned draw, the config's own when its signal stands above the label noise
(Var(teacher) / noise^2 >= 1), else redrawn from the separate stream ``SeedSequence([seed,
8102])`` (:func:`scenarios.common.teacher.draw_teacher`), recorded in ``config.toml``
(``[dualsim]`` ``draw_*``) and as one ``draw_setup`` row of ``events.parquet`` (arm ``setup``).
A configuration the analysis cannot use (too few hidden neurons, replicas or steps, states not
recorded every step) is refused before any simulation (exit 2).

Units: X in neuron-state units; time in learning steps; C, g in inverse time over the diffusion
reference (eigenvalues) or per step (grids); Lambda in inverse squared X units.

Run as ``dualsim run spacetime`` or ``spacetime.run()``. The package holds the arms
(:mod:`~scenarios.spacetime.arms`), the claims with one function each
(:mod:`~scenarios.spacetime.claims`), their known-answer controls
(:mod:`~scenarios.spacetime.controls`) and the figures (:mod:`~scenarios.spacetime.figures`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.verdicts import diagnostics_frame
from models import SystemConfig
from runner import Analysis, Experiment, scenario_run
from scenarios.spacetime import wellposed
from scenarios.spacetime.arms import default_config, simulate
from scenarios.spacetime.claims import (
    CLAIMS,
    einstein_equations,
    emergent_dispersion,
    geodesic_motion,
    lambda_tracks_n,
    lorentz_signature,
    metric_fit,
    packet_paths,
    read_run,
)
from scenarios.spacetime.figures import figures

__all__ = ["CLAIMS", "SCENARIO", "SpacetimeScenario", "analyse", "default_config", "run"]


def analyse(
    tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
) -> Analysis:
    """Judge the five claims on the saved tables (pure analysis, never simulates).

    The claims run in report order (signature, dispersion, Einstein, geodesic, Lambda); the
    packet paths and the metric of ``learning_on`` are computed once for the claims that share
    them.
    """
    run = read_run(tables, config, bool(meta.get("quick", False)))
    signature = lorentz_signature(run)
    dispersion = emergent_dispersion(run)
    packets = packet_paths(run)
    metric = metric_fit(run, packets.limits)
    results = {
        "signature": signature,
        "dispersion": dispersion,
        "metric": einstein_equations(run, packets.limits, metric),
        "geodesic": geodesic_motion(run, packets, metric),
        "lambda": lambda_tracks_n(run, packets.limits),
    }
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    summary: dict[str, float | int | str] = {
        "groups": " | ".join(",".join(map(str, g)) for g in run.groups)
    }
    for res in results.values():
        rows += res.rows
        summary.update(res.summary)
        notes += res.notes
    T, R = run.X_on.shape[:2]
    summary["replicas"] = R
    summary["steps_main"] = T
    return Analysis(
        diagnostics=diagnostics_frame(rows),
        verdicts=[res.verdict for res in results.values()],
        figures=figures({key: res.figure for key, res in results.items()}),
        summary=summary,
        notes=notes,
    )


class SpacetimeScenario(Experiment):
    """Emergent space-time: Lorentz signature, dispersion, metric, geodesics, Einstein, Lambda."""

    name = "spacetime"
    quick_steps = 100
    default_steps = 400

    def default_config(self, quick: bool) -> SystemConfig:
        return default_config(quick)

    def setup(self, config: SystemConfig, quick: bool, steps: int | None = None) -> dict[str, Any]:
        """Refuse an ill-posed config; the teacher draw's ``[dualsim]`` entries
        (:func:`scenarios.spacetime.wellposed.check`)."""
        draw = wellposed.check(config, steps, quick)
        return {} if draw is None else draw.meta()

    def simulate(
        self, config: SystemConfig, quick: bool, steps: int, progress: bool
    ) -> dict[str, pd.DataFrame]:
        """Every arm, after the well-posedness check and the teacher draw."""
        return simulate(config, quick, steps, progress, wellposed.check(config, steps, quick))

    def analyse(
        self, tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
    ) -> Analysis:
        return analyse(tables, config, meta)


SCENARIO = SpacetimeScenario()


run = scenario_run(
    SCENARIO,
    "Run the ``spacetime`` scenario (all arms), save and analyse it.",
    " (32 replicas, about 30 s)",
)
