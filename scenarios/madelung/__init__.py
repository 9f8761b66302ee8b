"""Fixed N: Fokker-Planck form, entropy budget, Madelung fit, hbar exponents, real-time tests.

Scenario ``madelung`` (``dualsim run madelung``). The default model is the two-parameter
network y = a tanh(b x) (1-1-1, no biases, linear output; q_0 = b, q_1 = a: the observed
coordinates are the whole trainable vector, so they are Markov) trained on a fixed teacher
(b*, a*) with Gaussian label noise (``--set activation=sigmoid`` gives y = a sigmoid(b x), its
closed form and a sigmoid teacher). Time is in learning steps (dt = 1 per step); D is per
step (the gamma^2 Sigma / (2 M) convention), hbar / m is in coordinate^2 per step.

The free energy of this network is known in closed form (docs/physics.md#free-energy, T_x -> 0:
the hidden neuron relaxes with the output clamped):
F(b, a) = (E_x[(a* f(b* x) - a f(b x))^2] + sigma^2) / (2 (1 + a^2)), x ~ N(0, 1), f = tanh
(Gauss-Hermite quadrature, :mod:`scenarios.madelung.exact`). It fixes V = F in advance for
the Madelung fit, gives the minimum q* and Hessian H, and with the per-example gradient
covariance Sigma_g at q* the stationary SGD covariance (discrete Lyapunov equation), used only to
start ensembles near equilibrium (every number below is measured from the dynamics).

Seeds vary the noise, never the scenario's validity. The teacher is a conditioned draw
(:mod:`scenarios.madelung.wellposed`): the config's own teacher when F has an isolated
minimum next to it whose basin holds every grid ensemble, otherwise the first accepted
redraw from the separate stream ``SeedSequence([seed, 8101])`` (same distribution). The
accepted teacher and the number of rejected draws are recorded in ``config.toml``
(``[dualsim]`` ``draw_*`` entries) and as one ``draw_setup`` row of ``events.parquet`` (arm
``setup``). A configuration that makes the scenario ill-posed (a linear or relu activation,
noise <= 0, a step size unstable at the minimum ...) is refused before any simulation (exit 2).

Arms (every table has an ``arm`` column)
---------------------------------------
``sgd``
    Main arm: 2000 replicas (quick: 300), gamma = 0.1, M = 16, started displaced from q* along
    the stiff Hessian direction with half the stationary width; relaxes.
``momentum``
    The classical control: heavy ball (beta = 0.9), same gamma, M and start.
``grid_g<gamma>_M<M>``
    The (gamma, M) grid for the Fokker-Planck check and the hbar exponents, run through
    :func:`runner.sweep.run_sweep` (started at q* with the stationary covariance, burn-in
    dropped).
``quench_sgd``, ``quench_momentum``, ``no_change``
    Equilibrated ensembles whose teacher changes (b* -> 0.8 b*) at step ``quench_at`` of
    ``SIZES`` (one ``set_task`` event in ``events.parquet``); the no-change control keeps it.
``collision_<sgd|momentum>``, ``collision_<sgd|momentum>_a/_b``
    Two narrow clusters at q* -+ offset along the stiff direction, run jointly and separately.
``spread_<sgd|momentum>_<k>``
    Narrow starts of widths ``SPREAD_WIDTHS`` at q*.
``nelson_spread_<k>``, ``nelson_collision``
    Positive control: Nelson trajectories with known hbar = m = 1 (free packets of widths
    ``NELSON_WIDTHS``; two packets sent into each other), through the same pipeline.
Step 0 of every simulated arm holds the start the scenario set (the model records its own
random initialisation there before the start is set; the scenario overwrites those rows).

Claims (declared with their thresholds in :mod:`scenarios.madelung.claims`)
-------------------------------------------------------------------------
``Fokker-Planck form``
    ``|slope - 1|`` of D_KM (trace, drift polynomial of degree 2 removed) on
    gamma^2 tr(Sigma_hat) / (2 M) across the grid, 95 % CI from the slope's t interval;
    supported when the CI is below the threshold. Control: the same against
    gamma tr(Sigma_hat) / (2 M) (the per-time law read as per-step). Positive control:
    Ornstein-Uhlenbeck ensembles with the planted diffusion at every cell, same fit.
``entropy budget``
    RMS over windows of the relative closure error (dS/dt - E[div A] - E[s^T D s]) /
    (|E[div A]| + |E[s^T D s]|) on the ``sgd`` arm; CI from a parametric bootstrap of the
    dS/dt slopes; supported below the threshold. Control: the same closure
    without the production term E[s^T D s]. Positive control: a linear Gaussian process with
    the arm's linear drift and diffusion (its budget closes exactly), same closure.
``Madelung (fixed N)``
    Momentum residual of the weak-form fit (V = F fixed, m = 1/(2 gamma)) on the ``sgd`` arm
    divided by its noise floor: the residual of the same fit on exact samples of the same size
    (an exact harmonic ground state, Bohmian trajectories at rest, with the same replicas,
    steps, windows, mean and covariance);
    supported below the threshold. CI: the ratio over the floor draws' range.
    Control: the ``sgd`` arm with replica labels shuffled between steps (same densities, no
    flow). Positive control: Nelson trajectories of a harmonic superposition with known hbar in
    a known quadratic V (m = 1/(2 gamma)), same fit and floor. Diagnostics: the same state
    sampled by Nelson's process (diffusive velocities).
``real-time signatures``
    Width exponent of early spreading, beta = -d log(Var(t_s) - Var(0)) / d log sigma0 over the
    narrow starts (quantum free packet 2, diffusion 0), bootstrap CI over replicas; supported
    above the threshold. Control: the momentum arm; positive control: Nelson.
    Quench lines and collision fringes are reported as diagnostics beside it.

Every claim is decided only when its positive control passes the claim's own threshold in the
same run (:mod:`scenarios.madelung.positive`: the planted data at the run's sizes, each on its
own stream ``SeedSequence([seed, 8201..8203])``, through the claim's estimator; no table is
written, the values are in ``verdicts.csv`` and the summary).

Diagnostics (``diagnostics.parquet``): per-cell D, prediction and ratio; exponents of D in gamma
and M; stationarity (variance ratio); entropy-budget windows; Madelung fits per arm and window
(hbar / m, residual, kinetic fraction, phase coefficient a in S = a F, bandwidth plateau);
hbar^2-vs-gamma/M exponents for each mass convention (``m fixed`` and ``m = 1/(2 gamma)``);
Nelson-route hbar/m = 2 D per axis per cell; real-time signatures per arm; collision
joint-vs-separate histogram distance with its permutation null.

Any other network (more hidden neurons, biases) runs on its observed coordinates q_0, q_1:
fixed random projections of the parameter vector, which are not Markov. It has no closed form:
starts are the model's own initialisation after a burn-in, V is a quadratic fitted on an
earlier window, the quench changes the step size, and every verdict carries the warning
``(projected coordinates: not Markov)``.

Modules: :mod:`~scenarios.madelung.exact` (closed form), :mod:`~scenarios.madelung.arms`
(building and running the arms), :mod:`~scenarios.madelung.measures` (the statistics),
:mod:`~scenarios.madelung.positive` (the positive controls),
:mod:`~scenarios.madelung.claims` (the claims and their verdicts),
:mod:`~scenarios.madelung.analyse` (summary and notes) and :mod:`~scenarios.madelung.figures`.
Every teacher installed on a model (at the start of an arm and at the quench) is one
``set_task`` event of ``events.parquet``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from models import SystemConfig
from runner import Analysis, Experiment, scenario_run
from scenarios.madelung import analyse, arms, wellposed
from scenarios.madelung.claims import CLAIMS

__all__ = ["CLAIMS", "SCENARIO", "MadelungScenario", "run"]


class MadelungScenario(Experiment):
    """Fixed N: Fokker-Planck form, entropy budget, Madelung fit against its noise floor,
    hbar exponents per mass convention, real-time tests (momentum arm as the classical
    control, Nelson trajectories as the positive control)."""

    name = "madelung"
    quick_steps = 100
    default_steps = 400

    def default_config(self, quick: bool) -> SystemConfig:
        """The two-parameter network on its teacher.

        See :func:`scenarios.madelung.arms.default_config`.
        """
        return arms.default_config(quick)

    def setup(self, config: SystemConfig, quick: bool, steps: int | None = None) -> dict[str, Any]:
        """Refuse an ill-posed config; the teacher draw's ``[dualsim]`` entries.

        See :func:`scenarios.madelung.wellposed.check`.
        """
        draw = wellposed.check(config, steps, quick)
        return {} if draw is None else draw.meta()

    def simulate(
        self, config: SystemConfig, quick: bool, steps: int, progress: bool
    ) -> dict[str, pd.DataFrame]:
        """Every arm and control, after the well-posedness check and the teacher draw
        (:func:`scenarios.madelung.wellposed.check`, :func:`scenarios.madelung.arms.simulate`)."""
        draw = wellposed.check(config, steps, quick)
        return arms.simulate(config, quick, steps, progress, draw)

    def analyse(
        self, tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
    ) -> Analysis:
        """Verdicts, diagnostics, summary and figures of saved tables.

        See :func:`scenarios.madelung.analyse.analyse`.
        """
        return analyse.analyse(tables, config, meta)


SCENARIO = MadelungScenario()

run = scenario_run(
    SCENARIO,
    "Run the ``madelung`` scenario (see :mod:`scenarios.madelung`) and write its output folder.",
)
