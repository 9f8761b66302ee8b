"""The arms of the ``worlds`` scenario: coupled replicas and their controls (coupling put in
by hand).

Known-answer arms (``n = config.replicas`` replicas of the loss ``k q^2/2``, exact gradients,
``gamma = config.step_size``, ``c_F`` of ``config.coupling``): the ground state relaxed with
friction from normal quantiles (``hdw``, coupling off, ``calogero``, ``kernel``), squeezed
breathing from rest at the scaled ground configuration of variance 1 over two periods without
friction (``hdw``, off, ``calogero``, ``frozen``), and free spreading (``k = 0``; ``hdw``, off,
``calogero``). Head-on collision (documentation only): two packets of wave number +-pi
(:func:`~scenarios.worlds.known_answers.collision`; hdw, off, calogero), the correlation of the
replica histogram with the quantum interference term.

Decoherence-budget arms (20 replicas each): a grid of heavy-ball friction ``(1 - beta)/omega``
(:data:`FRICTIONS`) x mini-batch size M x step size gamma (one gamma in a quick run, two
otherwise), where M is chosen per friction to give the target temperatures
:data:`TEMPERATURES` (:data:`QUICK_TEMPERATURES` in a quick run; in ``hbar omega``) through
the SGD noise of the quadratic loss, ``T = gamma sigma^2 / (2 M (1 - beta))`` with per-sample
gradient variance ``sigma^2 = 1`` (M = 0: noise-free); each cell runs a squeezed start (the
2-omega line) and a ground start (the width shift) for two trap periods, over seeds. One
labelled arm uses an explicit noise temperature instead of SGD noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

from models import SystemConfig
from runner import arm_tables, concat_arms, run_arm
from scenarios.worlds.known_answers import (
    C_F,
    GAMMA,
    RELAX_ACCURACY,
    RELAX_FRICTION,
    RELAX_TIME,
    collision,
    recorder_of,
    units,
    world_config,
    world_run,
)
from scenarios.worlds.measures import var_g

__all__ = [
    "BUDGET_REPLICAS",
    "COLLISION_REPLICAS",
    "FRICTIONS",
    "QUICK_TEMPERATURES",
    "TEMPERATURES",
    "ArmSetting",
    "arm_settings",
    "default_config",
    "simulate",
]

FRICTIONS = (0.03, 0.1, 0.3, 1.0, 3.0)
"""Heavy-ball friction ``(1 - beta) / omega`` of the budget grid."""

TEMPERATURES = (0.0, 0.01, 0.03, 0.1, 0.3)
"""Target noise temperatures ``T / (hbar omega)`` of the budget grid (0: noise-free)."""

QUICK_TEMPERATURES = (0.0, 0.03, 0.3)
"""The quick run's temperatures."""

BUDGET_REPLICAS = 20
"""Replicas of every budget run."""

COLLISION_REPLICAS = (100, 400)
"""Replicas of the collision arms (quick, full)."""

BUDGET_TIME = 4 * math.pi
"""Duration of a budget run: two trap periods (four breathing periods), units 1/omega."""


@dataclass(frozen=True)
class ArmSetting:
    """One arm: its family, estimator, start and SGD ingredients."""

    arm: str
    family: str
    estimator: str = "hdw"
    coupling: bool = True
    n: int = 20
    var0: float = 1.0
    start: str = "ground"
    start_kind: str = "squeezed"
    duration: float = 2 * math.pi
    friction: float = 0.0
    k: float = 1.0
    gamma: float = GAMMA
    batch_size: int = 0
    temperature: float = 0.0
    noise: str = "none"
    T_over_hbar_omega: float = 0.0
    seed: int = 0


def default_config(quick: bool) -> SystemConfig:
    """The base config: 20 (quick) or 100 HDW-coupled replicas of ``q^2 / 2``, frictionless.

    Examples
    --------
    >>> cfg = default_config(True)
    >>> cfg.replicas, cfg.coupling["estimator"], cfg.momentum
    (20, 'hdw', 1.0)
    """
    return world_config(20 if quick else 100)


def _sgd_batch(friction: float, gamma: float, tau: float) -> tuple[int, float]:
    """The mini-batch M giving ``T / (hbar omega)`` close to ``tau`` and the T it gives."""
    u = units(1.0, gamma, C_F)
    one_minus_beta = friction * u["omega"]
    hw = u["hbar"] * u["omega"]
    m = max(1, round(gamma / (2.0 * one_minus_beta * tau * hw)))
    return m, gamma / (2.0 * m * one_minus_beta) / hw


def arm_settings(base: SystemConfig, quick: bool) -> list[ArmSetting]:
    """Every arm of a run (known answers at ``base.replicas``, then the budget grid).

    Examples
    --------
    >>> s = arm_settings(default_config(True), True)
    >>> [a.arm for a in s][:3], sum(a.family == "budget" for a in s)
    (['ground_hdw', 'ground_off', 'ground_calogero'], 54)
    """
    n, gamma, seed = base.replicas, base.step_size, base.seed
    relax = dict(
        family="ground",
        n=n,
        start="quantiles",
        start_kind="quantiles",
        duration=RELAX_TIME,
        friction=RELAX_FRICTION,
        gamma=gamma,
        seed=seed,
    )
    out = [
        ArmSetting("ground_hdw", **relax),
        ArmSetting("ground_off", coupling=False, **relax),
        ArmSetting("ground_calogero", estimator="calogero", **relax),
        ArmSetting("ground_kernel", estimator="kernel", **relax),
    ]
    for est, on in (("hdw", True), ("off", False), ("calogero", True), ("frozen", True)):
        out.append(
            ArmSetting(
                f"breathing_{est}",
                "breathing",
                estimator="hdw" if est == "off" else est,
                coupling=on,
                n=n,
                gamma=gamma,
                seed=seed,
            )
        )
    for est, on in (("hdw", True), ("off", False), ("calogero", True)):
        out.append(
            ArmSetting(
                f"spreading_{est}",
                "spreading",
                estimator="hdw" if est == "off" else est,
                coupling=on,
                n=n,
                k=0.0,
                duration=2.0,
                gamma=gamma,
                seed=seed,
            )
        )
    gammas = (GAMMA,) if quick else (GAMMA, 4 * GAMMA)
    seeds = 2 if quick else 3
    for g in gammas:
        for friction in FRICTIONS:
            for tau in QUICK_TEMPERATURES if quick else TEMPERATURES:
                m, t_real = _sgd_batch(friction, g, tau) if tau else (0, 0.0)
                for s in range(seeds if tau else 1):
                    kind = "sgd" if tau else "none"
                    out.extend(_budget_pair(friction, g, m, t_real, kind, s, 1000 * seed + s))
    for s in range(seeds):  # the labelled explicit-noise arm
        out.extend(_budget_pair(0.1, GAMMA, 0, 0.01, "explicit", s, 1000 * seed + s))
    return out


def _budget_pair(
    friction: float, gamma: float, m: int, tau: float, noise: str, index: int, seed: int
) -> list[ArmSetting]:
    name = f"budget_f{friction:g}_g{gamma:g}_m{m}_{noise}_s{index}"
    common = dict(
        family="budget",
        n=BUDGET_REPLICAS,
        duration=BUDGET_TIME,
        friction=friction,
        gamma=gamma,
        batch_size=m,
        temperature=tau if noise == "explicit" else 0.0,
        noise=noise,
        T_over_hbar_omega=tau,
        seed=seed,
    )
    return [
        ArmSetting(f"{name}_squeezed", var0=1.0, start_kind="squeezed", **common),
        ArmSetting(
            f"{name}_ground", var0=var_g(BUDGET_REPLICAS), start_kind="ground_start", **common
        ),
    ]


def _build(setting: ArmSetting, c_f: float):
    options = {}
    if setting.family == "ground":
        options["accuracy"] = RELAX_ACCURACY
    return world_run(
        setting.n,
        setting.var0,
        setting.duration,
        start=setting.start,
        estimator=setting.estimator,
        coupling=setting.coupling,
        friction=setting.friction,
        k=setting.k,
        gamma=setting.gamma,
        temperature=setting.temperature,
        batch_size=setting.batch_size,
        c_F=c_f,
        seed=setting.seed,
        **options,
    )


def simulate(
    base: SystemConfig, quick: bool, steps: int, progress: bool
) -> dict[str, pd.DataFrame]:
    """Run every arm; the standard tables of the known-answer arms, ``worlds`` (every arm's
    recorder table), ``arms`` (the settings) and ``collision`` (one row per collision arm:
    ``corr``, ``positive``, ``t``), each with an ``arm`` column. Each arm runs
    its own physical duration (``steps`` is not used)."""
    c_f = float(base.coupling["c_F"]) if base.coupling else C_F
    per_arm = []
    worlds = []
    settings = arm_settings(base, quick)
    for setting in settings:
        build, _, n_steps = _build(setting, c_f)
        model = run_arm(setting.arm, build, n_steps, progress)
        if setting.family != "budget":
            per_arm.append(arm_tables(model, setting.arm))
        worlds.append(recorder_of(model).frame().assign(arm=setting.arm))
    rows = []
    n_c = COLLISION_REPLICAS[0 if quick else 1]
    for est, on in (("hdw", True), ("off", False), ("calogero", True)):
        arm = f"collision_{est}"
        out = collision(n_c, estimator="hdw" if est == "off" else est, coupling=on, arm=arm)
        rows.append({"arm": arm, "n": n_c, **out})
    tables = concat_arms(per_arm)
    tables["worlds"] = pd.concat(worlds, ignore_index=True)
    tables["collision"] = pd.DataFrame(rows)
    tables["arms"] = pd.DataFrame([asdict(s) for s in settings])
    return tables
