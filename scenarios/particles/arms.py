"""The arms of the ``particles`` scenario: frozen-potential particles with clone/kill births.

Every arm is one frozen-potential :class:`~models.LearningSystem` (non-interacting particles in
``V = k theta^2 / 2``, ``langevin`` noise unless stated, the ``neuron_count`` controller in its
``clone`` policy with population control), run through :func:`runner.run_arm` with a
:class:`~models.particles.ParticleRecorder`:

``crossover_<i>_<a|b>``
    The crossover sweep: ``r = 2 alpha D / (eta^2 k)`` log-spaced in ``[0.01, 100]``, each
    reached by one (quick) or two (full) ``(alpha, D, eta)`` triples with
    ``eta k sqrt(1 + r)`` fixed (0.02 with ``T = 0.1``; 0.01 with ``T = 0.025``), so that every
    arm relaxes equally fast and the discrete-time forms differ from the continuous ones by
    at most 1 %.
``grand_canonical``
    ``eta = 0.01``, ``D = 1e-3``, ``alpha = 0.05`` (``r = 1``; Perron variance 0.0828).
``entropy_aware``, ``shuffled``, ``fixed_n``, ``common_noise``
    Null controls at the same settings: births on ``Psi + T ln rho_hat`` (Boltzmann), births
    on ``Psi`` permuted across particles (Boltzmann shape), ``alpha = 0`` (Boltzmann), and one
    noise draw per replica shared by all particles (clones never separate).
``pure_branching``
    The positive control: ``eta = 0``, ``alpha = 0.05`` (``Var = sqrt(2 D / alpha k) = 0.2``,
    ``mu* = 0.1``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import pandas as pd

from analysis.imaginary_time import harmonic
from models import LearningSystem, SystemConfig
from models.particles import ParticleRecorder
from runner import arm_tables, concat_arms, run_arm

__all__ = [
    "ALPHA",
    "D0",
    "ETA",
    "ArmSetting",
    "K",
    "arm_settings",
    "crossover_triples",
    "default_config",
    "simulate",
]

K = 1.0
"""Curvature of the frozen harmonic potential."""
ETA, D0, ALPHA = 0.01, 1e-3, 0.05
"""The r = 1 settings of the null controls and the grand-canonical arm."""
RECORD_EVERY = 250
"""Steps between particle snapshots (``particles`` table)."""


@dataclass(frozen=True)
class ArmSetting:
    """One arm: its name, ``(alpha, D, eta)``, ``T = D / eta``, r, the clone variant, noise."""

    arm: str
    alpha: float
    D: float
    eta: float
    T: float
    r: float
    variant: str = "loss"
    noise_mode: str = "langevin"
    family: str = "control"


def crossover_triples(r: float, both: bool) -> list[tuple[float, float, float, float]]:
    """``(alpha, D, eta, T)`` reaching ``r`` (``eta k sqrt(1 + r)`` = 0.02 / 0.01).

    Examples
    --------
    >>> [round(v, 4) for v in crossover_triples(1.0, both=False)[0]]
    [0.0707, 0.0014, 0.0141, 0.1]
    """
    out = []
    for omega, T in ((0.02, 0.1), (0.01, 0.025))[: 2 if both else 1]:
        eta = omega / (K * math.sqrt(1 + r))
        D = T * eta
        out.append((r * eta**2 * K / (2 * D), D, eta, T))
    return out


def arm_settings(quick: bool) -> list[ArmSetting]:
    """Every arm of the scenario, in run order.

    Examples
    --------
    >>> [a.arm for a in arm_settings(quick=True)][:2], len(arm_settings(quick=False))
    (['crossover_0_a', 'crossover_1_a'], 24)
    """
    out = []
    rs = np.logspace(-2, 2, 5 if quick else 9)
    for i, r in enumerate(rs):
        for label, (alpha, D, eta, T) in zip(
            "ab", crossover_triples(float(r), not quick), strict=False
        ):
            name = f"crossover_{i}_{label}"
            out.append(ArmSetting(name, alpha, D, eta, T, float(r), family="crossover"))
    r1 = 2 * ALPHA * D0 / (ETA**2 * K)
    T = D0 / ETA
    out += [
        ArmSetting("grand_canonical", ALPHA, D0, ETA, T, r1, family="grand_canonical"),
        ArmSetting("entropy_aware", ALPHA, D0, ETA, T, r1, variant="entropy_aware"),
        ArmSetting("shuffled", ALPHA, D0, ETA, T, r1, variant="shuffled"),
        ArmSetting("fixed_n", 0.0, D0, ETA, T, 0.0),
        ArmSetting("common_noise", ALPHA, D0, ETA, T, r1, noise_mode="common"),
        ArmSetting("pure_branching", ALPHA, D0, 0.0, math.inf, math.inf, family="positive"),
    ]
    return out


def default_config(quick: bool) -> SystemConfig:
    """The base config: one replica of 3000 (quick) or 10 000 particles in ``V = theta^2/2``.

    Examples
    --------
    >>> default_config(True).n_hidden, default_config(True).potential["coefficients"]
    (3000, [0.0, 0.0, 0.5])
    """
    return SystemConfig(
        replicas=1,
        n_input=1,
        n_output=1,
        n_hidden=3000 if quick else 10_000,
        potential={"type": "polynomial", "coefficients": [0.0, 0.0, K / 2]},
        noise_mode="langevin",
        diffusion=D0,
        step_size=ETA,
        record_every=10,
        seed=0,
    )


def arm_config(base: SystemConfig, setting: ArmSetting, index: int) -> SystemConfig:
    """The config of one arm (its own seed: ``base.seed * 1000 + index``)."""
    spec = {
        "type": "neuron_count",
        "policy": "clone",
        "alpha": setting.alpha,
        "variant": setting.variant,
    }
    return base.replace(
        step_size=setting.eta,
        diffusion=setting.D,
        noise_mode=setting.noise_mode,
        controllers=[spec],
        seed=base.seed * 1000 + index,
    )


def _build(cfg: SystemConfig, setting: ArmSetting) -> LearningSystem:
    model = LearningSystem(cfg)
    if setting.eta == 0:  # no Boltzmann width: start with the branching ground-state width
        var = harmonic(K, D=setting.D, eta=0.0, alpha=setting.alpha).variance
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 17]))
        model.particles.place(math.sqrt(var) * rng.standard_normal((cfg.n_hidden, 1)))
    rec = ParticleRecorder(RECORD_EVERY, events=True)
    model.step_hooks.append(rec)
    rec(model)
    return model


def particles_of(model: LearningSystem, arm: str) -> dict[str, pd.DataFrame]:
    """The standard tables of an arm plus its ``particles`` table."""
    tables = arm_tables(model, arm)
    rec = next(h for h in model.step_hooks if isinstance(h, ParticleRecorder))
    tables["particles"] = rec.table().assign(arm=arm)
    return tables


def simulate(
    base: SystemConfig, quick: bool, steps: int, progress: bool
) -> dict[str, pd.DataFrame]:
    """Run every arm; the tables (``model``, ``trajectories``, ``neurons``, ``neuron_states``,
    ``events``, ``particles``, ``arms``), each with an ``arm`` column."""
    per_arm = []
    settings = arm_settings(quick)
    for i, setting in enumerate(settings):
        cfg = arm_config(base, setting, i)
        model = run_arm(
            setting.arm, partial(_build, cfg, setting), steps, progress, tables=particles_of
        )
        per_arm.append(particles_of(model, setting.arm))
    tables = concat_arms(per_arm)
    tables["arms"] = pd.DataFrame([asdict(s) for s in settings])
    return tables
