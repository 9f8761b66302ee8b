"""Known answers of the neuron-particle picture: non-interacting particles in a frozen potential.

:func:`frozen` runs the frozen-potential mode of :class:`~models.LearningSystem` (one replica of
``n`` particles, ``langevin`` noise, exact gradients) with the real ``neuron_count`` controller
agent in its ``clone`` policy, through :func:`runner.run_arm`, and returns the particle
positions and the population trace. Its answers are known in closed form for a harmonic
potential (:func:`analysis.imaginary_time.harmonic`) and on a grid for any other
(:func:`analysis.imaginary_time.solve`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from models import LearningSystem, SystemConfig
from models.particles import initial_variance
from models.potentials import make_potential
from runner import run_arm

__all__ = ["PopulationRecorder", "frozen", "frozen_config"]

POSITION_EVERY = 10
"""Steps between recorded particle positions."""


class PopulationRecorder:
    """A step hook keeping particle positions every ``every`` steps and the population trace.

    Stored in ``model.step_hooks`` (so it travels with the model in checkpoints). ``positions``
    holds ``(step, theta of replica 0)`` snapshots; the trace holds, every step, ``mu_c`` of
    the model's first neuron-count controller and the particle count of replica 0.
    """

    def __init__(self, every: int = POSITION_EVERY) -> None:
        self.every = int(every)
        self.snapshots: list[tuple[int, np.ndarray]] = []
        self.trace: list[tuple[int, float, int]] = []

    def __call__(self, model: LearningSystem) -> None:
        """Record the model's current step."""
        step = int(model.steps)
        if step % self.every == 0:
            self.snapshots.append((step, model.particles.positions(0)))
        mu = math.nan
        for c in model.controllers:
            if getattr(c, "kind", None) == "neuron_count":
                mu = float(c.mu_c)
                break
        self.trace.append((step, mu, int(model.particles.counts()[0])))

    def positions(self) -> pd.DataFrame:
        """Long table ``step, theta`` (``theta_0, theta_1 ...`` in 2-D/3-D)."""
        steps = np.concatenate([np.full(t.shape[0], s, dtype=np.int64) for s, t in self.snapshots])
        theta = np.concatenate([t for _, t in self.snapshots])
        data: dict[str, np.ndarray] = {"step": steps}
        if theta.shape[1] == 1:
            data["theta"] = theta[:, 0]
        else:
            for j in range(theta.shape[1]):
                data[f"theta_{j}"] = theta[:, j]
        return pd.DataFrame(data)

    def population(self) -> pd.DataFrame:
        """Table ``step, mu_c, n_neurons`` (one row per step)."""
        steps, mu, n = zip(*self.trace, strict=True)
        return pd.DataFrame(
            {
                "step": np.asarray(steps, dtype=np.int64),
                "mu_c": np.asarray(mu, dtype=float),
                "n_neurons": np.asarray(n, dtype=np.int64),
            }
        )


def frozen_config(
    potential: dict[str, Any],
    *,
    D: float,
    eta: float,
    alpha: float,
    n: int,
    seed: int,
    population_control: bool = True,
    mu_c: float | None = None,
    zeta: float = 0.1,
    interval: int = 1,
    replicas: int = 1,
    variant: str = "loss",
    noise_mode: str = "langevin",
) -> SystemConfig:
    """The config of a frozen-potential run with a ``clone`` neuron-count controller.

    Examples
    --------
    >>> cfg = frozen_config({"type": "polynomial", "coefficients": [0, 0, 0.5]}, D=1e-3,
    ...                     eta=0.01, alpha=0.05, n=100, seed=0)
    >>> cfg.n_hidden, cfg.controllers[0]["policy"], cfg.controllers[0]["alpha"]
    (100, 'clone', 0.05)
    """
    spec: dict[str, Any] = {
        "type": "neuron_count",
        "policy": "clone",
        "alpha": float(alpha),
        "zeta": float(zeta),
        "interval": int(interval),
        "variant": variant,
    }
    if not population_control:
        spec["population_control"] = False
        if mu_c is not None:
            spec["mu_c"] = mu_c
    return SystemConfig(
        replicas=replicas,
        n_input=1,
        n_output=1,
        n_hidden=int(n),
        potential=potential,
        noise_mode=noise_mode,
        diffusion=float(D),
        step_size=float(eta),
        seed=int(seed),
        record_every=POSITION_EVERY,
        controllers=[spec],
    )


def frozen(
    coefficients: Sequence[float],
    *,
    D: float,
    eta: float,
    alpha: float,
    n: int,
    steps: int,
    seed: int,
    population_control: bool = True,
    mu_c: float | None = None,
    zeta: float = 0.1,
    interval: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Particles in the frozen polynomial potential ``V = sum_k c_k theta^k``, with branching.

    ``n`` particles start at the minimum of V, Gaussian with the Boltzmann width
    ``sqrt(T / k)`` (``T = D / eta``, ``k = V''`` at the minimum; with ``eta = 0`` the
    branching ground-state width ``(2 D / omega_E)^(1/2)``, ``omega_E = sqrt(2 alpha D k)``),
    and move by ``theta <- theta - eta V'(theta) + sqrt(2 D) xi`` (independent ``xi`` per
    particle); every ``interval`` steps the ``neuron_count`` controller agent (policy
    ``clone``) replaces each particle by ``floor(exp(-alpha interval (V - mu_c)) + U)``
    copies. ``mu_c`` follows the population (``mu_c(t) = <V> - (zeta / alpha) ln(N / n)``) or,
    with ``population_control=False``, is the given ``mu_c`` (a ``mu_c`` given with population
    control is refused: ConfigError). With ``alpha = 0`` nothing branches and ``mu_c`` is NaN.

    Parameters
    ----------
    coefficients : sequence of float
        ``c_0, c_1, ...`` (bounded below: even degree >= 2, positive leading coefficient).
    D, eta, alpha : float
        Diffusion per step, drift step and birth-death rate constant (per step, unit of V).
    n : int
        Initial and target population.
    steps : int
        Steps to run.
    seed : int
    population_control : bool
    mu_c : float, optional
        The fixed chemical potential (``population_control=False``).
    zeta : float
        Population-control gain.
    interval : int
        Steps between branching events (K).

    Returns
    -------
    positions : DataFrame
        ``step, theta``: every particle every 10 steps (from step 0).
    population : DataFrame
        ``step, mu_c, n_neurons``: every step (from step 0).

    Examples
    --------
    >>> pos, pop = frozen([0, 0, 0.5], D=1e-3, eta=0.01, alpha=0.05, n=2000, steps=300, seed=1)
    >>> list(pos.columns), list(pop.columns), int(pos.step.max()), len(pop)
    (['step', 'theta'], ['step', 'mu_c', 'n_neurons'], 300, 301)
    >>> bool(0.03 < pop.mu_c.iloc[-100:].mean() < 0.055)
    True
    """
    potential = {"type": "polynomial", "coefficients": [float(c) for c in coefficients]}
    cfg = frozen_config(
        potential,
        D=D,
        eta=eta,
        alpha=alpha,
        n=n,
        seed=seed,
        population_control=population_control,
        mu_c=mu_c,
        zeta=zeta,
        interval=interval,
    )

    def build() -> LearningSystem:
        model = LearningSystem(cfg)
        if eta == 0:  # no Boltzmann width: start with the branching ground-state width
            pot = make_potential(potential)
            var = initial_variance(pot, D, 0.0, alpha)
            sd = np.sqrt(np.where(np.isfinite(var), var, 0.0))
            rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
            model.particles.place(pot.minimum() + sd * rng.standard_normal((n, 1)))
        recorder = PopulationRecorder()
        model.step_hooks.append(recorder)
        recorder(model)
        return model

    model = run_arm("frozen", build, int(steps))
    recorder = next(h for h in model.step_hooks if isinstance(h, PopulationRecorder))
    return recorder.positions(), recorder.population()
