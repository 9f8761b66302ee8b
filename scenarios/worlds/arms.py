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

The decoherence budget (:mod:`scenarios.worlds.budget`) runs through the sweep runner: one
run of :func:`~scenarios.worlds.budget.budget_cell` per grid point of heavy-ball friction,
mini-batch size M and step size gamma (and seed), its rows collected into ``worlds`` and
``arms``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

from models import SystemConfig
from runner import arm_tables, concat_arms, run_arm
from scenarios.worlds.budget import run_budget
from scenarios.worlds.known_answers import (
    C_F,
    GAMMA,
    RELAX_ACCURACY,
    RELAX_FRICTION,
    RELAX_TIME,
    collision,
    recorder_of,
    world_config,
    world_run,
)

__all__ = [
    "COLLISION_REPLICAS",
    "ArmSetting",
    "arm_settings",
    "default_config",
    "simulate",
]

COLLISION_REPLICAS = (100, 400)
"""Replicas of the collision arms (quick, full)."""


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


def arm_settings(base: SystemConfig, quick: bool) -> list[ArmSetting]:
    """The known-answer arms of a run (``base.replicas`` replicas; the budget is
    :func:`~scenarios.worlds.budget.run_budget`).

    Examples
    --------
    >>> s = arm_settings(default_config(True), True)
    >>> [a.arm for a in s][:3], len(s)
    (['ground_hdw', 'ground_off', 'ground_calogero'], 11)
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
    return out


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
    ``corr``, ``positive``, ``t``), each with an ``arm`` column. The decoherence budget runs
    through the sweep runner (:func:`~scenarios.worlds.budget.run_budget`, serially in this
    process); its rows follow the known-answer arms'. Each arm runs its own physical duration
    (``steps`` is not used)."""
    c_f = float(base.coupling["c_F"]) if base.coupling else C_F
    per_arm = []
    worlds = []
    settings = arm_settings(base, quick)
    for setting in settings:
        build, _, n_steps = _build(setting, c_f)
        model = run_arm(setting.arm, build, n_steps, progress)
        per_arm.append(arm_tables(model, setting.arm))
        worlds.append(recorder_of(model).frame().assign(arm=setting.arm))
    budget_worlds, budget_arms = run_budget(
        seed=int(base.seed), quick=quick, c_F=c_f, progress=progress
    )
    rows = []
    n_c = COLLISION_REPLICAS[0 if quick else 1]
    for est, on in (("hdw", True), ("off", False), ("calogero", True)):
        arm = f"collision_{est}"
        out = collision(n_c, estimator="hdw" if est == "off" else est, coupling=on, arm=arm)
        rows.append({"arm": arm, "n": n_c, **out})
    tables = concat_arms(per_arm)
    tables["worlds"] = pd.concat([*worlds, budget_worlds], ignore_index=True)
    tables["collision"] = pd.DataFrame(rows)
    tables["arms"] = pd.concat(
        [pd.DataFrame([asdict(s) for s in settings]), budget_arms], ignore_index=True
    )
    return tables
