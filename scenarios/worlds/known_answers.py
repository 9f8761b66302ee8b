"""Known answers of replicas coupled through a density neuron (coupling put in by hand).

Every function here runs the learning system's real coupled replicas: a
:class:`~models.LearningSystem` in frozen-potential mode with one particle per replica, a
quadratic loss ``k q^2 / 2`` with exact, noise-free gradients, the density neuron of
:mod:`models.coupling` on ``q_0`` and the inertial integrator (mass ``m = 1 / gamma``,
``hbar = sqrt(8 m c_F)``, ``omega = sqrt(gamma k)`` per step), stepped by
:func:`runner.run_arm`. Results are in units of ``hbar / (m omega)`` (variances) and
``1 / omega`` (time); a free run (``k = 0``) uses the units of ``k = 1``.

Starts are the estimator's harmonic ground configuration
(:func:`models.coupling.ground_configuration`: HDW for ``hdw``, ``kernel``, ``frozen`` and
coupling off; Calogero for ``calogero``) scaled to the requested variance, at rest; ``seed``
drives only noise and kernel bandwidths. Known answers
(``Var_g = (1 - 1/N) / 2``): the ground variance ``Var_g``; from rest at ``Var0`` the undamped
breathing ``Var(t) = Var0 cos^2 t + (Var_g^2 / Var0) sin^2 t``; free spreading
``(Var(t) - Var0) Var0 / (t/2)^2 = 4 Var_g^2``. The 2-omega breathing and the spreading law follow
from scale invariance alone (the Calogero control shares them); only the ground shape (excess
kurtosis -0.17 against the semicircle's -1.0) is specific to the Fisher (Schrodinger) coupling.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from analysis.trajectory import to_frame
from models import LearningSystem, SystemConfig
from models.coupling import calogero_coefficient, ground_configuration
from runner import run_arm

__all__ = [
    "C_F",
    "FREE",
    "GAMMA",
    "HAND",
    "KERNEL_BANDWIDTH",
    "RELAX_ACCURACY",
    "RELAX_FRICTION",
    "RELAX_TIME",
    "WorldRecorder",
    "collision",
    "packet_density",
    "positive_trajectories",
    "recorder_of",
    "relax",
    "spread",
    "trajectory",
    "units",
    "world_config",
    "world_run",
]

HAND = "coupling put in by hand"
"""The label of every coupled-replica output."""

GAMMA = 0.0025
"""Step size of the known-answer runs: ``omega = sqrt(gamma k) = 0.05`` rad per step at k = 1."""

C_F = 5e-5
"""The coupling constant: ``hbar / (m omega) = sqrt(8 c_F / k) = 0.02`` at k = 1."""

KERNEL_BANDWIDTH = 0.12
"""Kernel bandwidth of the known-answer runs, in units of ``sqrt(hbar / (m omega))``."""

FREE = 1e-12
"""The curvature a free run (``k = 0``) uses: a potential table needs a minimum."""

RELAX_FRICTION = 4.0
"""Friction ``(1 - beta) / omega`` of the ground-state relaxation (the 2-omega mode is damped)."""

RELAX_TIME = 12.0
"""Duration of the ground-state relaxation, in units of 1/omega (converged to 1e-6 by 10)."""

RELAX_ACCURACY = 1.0
"""Radians of the fastest mode per sub-step while relaxing (stable below 2; friction damps)."""


def units(k: float = 1.0, gamma: float = GAMMA, c_F: float = C_F) -> dict[str, float]:
    """The natural units of a coupled run: ``m``, ``omega`` (per step), ``hbar``, variance unit.

    Examples
    --------
    >>> u = units(1.0, 0.01, 5e-5)
    >>> round(u["hbar"], 6), round(u["omega"], 6), round(u["var_unit"], 6)
    (0.2, 0.1, 0.02)
    """
    k_ref = k if k > 0 else 1.0
    m = 1.0 / gamma
    omega = math.sqrt(gamma * k_ref)
    hbar = math.sqrt(8.0 * m * c_F)
    return {"m": m, "omega": omega, "hbar": hbar, "var_unit": hbar / (m * omega)}


def world_config(
    n: int,
    *,
    estimator: str = "hdw",
    coupling: bool = True,
    friction: float = 0.0,
    k: float = 1.0,
    gamma: float = GAMMA,
    c_F: float = C_F,
    temperature: float = 0.0,
    batch_size: int = 0,
    gradient_variance: float = 1.0,
    seed: int = 0,
    **coupling_options: Any,
) -> SystemConfig:
    """The config of ``n`` coupled replicas of the 1-parameter loss ``k q^2 / 2``.

    ``friction`` is ``(1 - beta) / omega`` (``momentum = 1 - friction omega``). Noise, one
    velocity kick ``sqrt(2 D) xi`` per replica and step, comes either from a mini-batch of
    ``batch_size`` M > 0 samples whose per-sample gradient has variance ``gradient_variance
    k^2`` (SGD noise: ``D = gamma^2 sigma^2 k^2 / (2 M)``, temperature
    ``T = gamma sigma^2 k^2 / (2 M (1 - beta))``), or from an explicit ``temperature`` T in
    units of ``hbar omega`` (``D = T gamma (1 - beta)``; T needs friction). ``coupling=False``
    keeps the density neuron and the integrator with ``c_F = 0`` (the coupling-off control).

    Examples
    --------
    >>> cfg = world_config(10, friction=0.5)
    >>> cfg.coupling["estimator"], cfg.momentum, cfg.step_size
    ('hdw', 0.975, 0.0025)
    """
    u = units(k, gamma, c_F)
    beta = 1.0 - friction * u["omega"]
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"friction: {friction!r}; expected (1 - beta) / omega in [0, 1/omega]")
    if temperature and batch_size:
        raise ValueError("temperature and batch_size: one noise source at a time")
    diffusion = temperature * u["hbar"] * u["omega"] * gamma * (1.0 - beta)
    if temperature and beta == 1.0:
        raise ValueError("temperature: explicit noise needs friction > 0 (T = D/(gamma(1-beta)))")
    if batch_size:
        diffusion = gamma**2 * gradient_variance * k**2 / (2.0 * batch_size)
    spec: dict[str, Any] = {"estimator": estimator, "c_F": c_F if coupling else 0.0}
    spec.update(coupling_options)
    return SystemConfig(
        replicas=int(n),
        n_input=1,
        n_output=1,
        n_hidden=1,
        potential={"type": "polynomial", "coefficients": [0.0, 0.0, 0.5 * max(k, FREE)]},
        noise_mode="langevin",
        diffusion=float(diffusion),
        step_size=float(gamma),
        momentum=float(beta),
        batch_size=int(batch_size) if batch_size else 1,
        coupling=spec,
        record_every=10**6,
        seed=int(seed),
    )


class WorldRecorder:
    """A step hook recording, every step, the coupled coordinate's variance, excess kurtosis,
    mean and the ensemble's energy (kinetic + loss + coupling).

    Examples
    --------
    >>> rec = WorldRecorder(var_unit=1.0, omega=1.0)
    >>> rec.frame().columns.tolist()
    ['step', 't', 'var', 'mean', 'kurtosis', 'energy', 'n_sub']
    """

    def __init__(self, var_unit: float, omega: float, keep: bool = False) -> None:
        self.var_unit = float(var_unit)
        self.omega = float(omega)
        self.rows: list[tuple[int, float, float, float, float, int]] = []
        self.keep = bool(keep)
        self.kept: list[np.ndarray] = []

    def __call__(self, model: LearningSystem) -> None:
        """Record the model's current step (and its positions when ``keep``)."""
        x = model.density.positions().astype(float)
        if self.keep:
            self.kept.append(x.copy())
        mean = float(np.mean(x))
        var = float(np.var(x))
        kurt = float(np.mean((x - mean) ** 4) / var**2 - 3.0) if var > 0 else math.nan
        energy = model.density.energy()["total"]
        self.rows.append((int(model.steps), var, mean, kurt, energy, int(model.density.n_sub)))

    def frame(self) -> pd.DataFrame:
        """Table ``step, t, var, mean, kurtosis, energy, n_sub`` (t in 1/omega, var in
        ``hbar/(m omega)``, mean in its square root)."""
        cols = ["step", "var", "mean", "kurtosis", "energy", "n_sub"]
        df = pd.DataFrame(self.rows, columns=cols)
        df.insert(1, "t", df["step"] * self.omega)
        df["var"] = df["var"] / self.var_unit
        df["mean"] = df["mean"] / math.sqrt(self.var_unit)
        return df[["step", "t", "var", "mean", "kurtosis", "energy", "n_sub"]]


def start_configuration(n: int, var0: float, estimator: str = "hdw") -> np.ndarray:
    """The harmonic ground configuration of ``estimator`` scaled to variance ``var0`` (units
    ``hbar / (m omega)``), sorted.

    Examples
    --------
    >>> round(float(np.var(start_configuration(20, 1.0))), 12)
    1.0
    """
    if estimator == "calogero":
        x = ground_configuration(n, "calogero", calogero_coefficient(0.125, n))
    else:
        x = ground_configuration(n, "hdw", 0.125)
    return x * math.sqrt(var0 / float(np.var(x)))


def recorder_of(model: LearningSystem) -> WorldRecorder:
    """The :class:`WorldRecorder` among a model's step hooks (the model's own copy, also after
    a resume from a checkpoint).

    Examples
    --------
    >>> build, rec, _ = world_run(4, 1.0, 0.1)
    >>> recorder_of(build()) is rec
    True
    """
    for hook in model.step_hooks:
        if isinstance(hook, WorldRecorder):
            return hook
    raise ValueError("model: no WorldRecorder among its step hooks")


def world_run(
    n: int,
    var0: float,
    duration: float,
    *,
    start: str = "ground",
    estimator: str = "hdw",
    k: float = 1.0,
    gamma: float = GAMMA,
    positions: np.ndarray | None = None,
    velocities: np.ndarray | None = None,
    config: SystemConfig | None = None,
    **options: Any,
) -> tuple[Any, WorldRecorder, int]:
    """The pieces of one coupled run: ``(build, recorder, steps)`` for :func:`runner.run_arm`.

    ``build()`` makes the model of :func:`world_config` (``options``: its keywords and
    coupling options), places the start at rest and attaches ``recorder``; ``steps`` covers
    ``duration`` (units 1/omega). ``start`` is ``ground`` (the estimator's scaled ground
    configuration) or ``quantiles`` (normal quantiles, not a ground configuration); explicit
    ``positions`` (units ``sqrt(hbar/(m omega))``) replace it, and ``velocities`` (units
    ``sqrt(hbar omega / m)``) replace the start at rest. An explicit ``config`` (a
    :func:`world_config` of ``n`` replicas, e.g. a sweep's grid point) replaces
    ``world_config(n, ...)``: its step size, estimator and ``c_F`` (> 0) set the units.

    Examples
    --------
    >>> build, rec, steps = world_run(10, 1.0, 1.0)
    >>> model = build(); steps, model.density.node, len(rec.rows)
    (20, 'density:q_0', 1)
    """
    if config is not None:
        gamma, estimator = float(config.step_size), config.coupling["estimator"]
        options = {"c_F": float(config.coupling["c_F"])}
    u = units(k, gamma, options.get("c_F", C_F))
    if estimator == "kernel":
        options.setdefault("bandwidth", KERNEL_BANDWIDTH * math.sqrt(u["var_unit"]))
    if estimator == "frozen":  # the snapshot: the continuum ground state N(0, hbar/(2 m omega))
        options.setdefault("reference_mean", 0.0)
        options.setdefault("reference_variance", 0.5 * u["var_unit"])
    cfg = config or world_config(n, estimator=estimator, k=k, gamma=gamma, **options)
    if positions is not None:
        x0 = np.asarray(positions, dtype=float)
    elif start == "ground":
        x0 = start_configuration(n, var0, "calogero" if estimator == "calogero" else "hdw")
    elif start == "quantiles":
        nd = NormalDist()
        z = np.array([nd.inv_cdf((i + 0.5) / n) for i in range(n)])
        x0 = z * math.sqrt(var0 / float(np.var(z)))
    else:
        raise ValueError(f"start: {start!r}; expected 'ground' or 'quantiles'")
    recorder = WorldRecorder(u["var_unit"], u["omega"])
    length = math.sqrt(u["var_unit"])
    placed = (x0 * length)[:, None, None]
    momenta = None
    if velocities is not None:  # p = m v, v in parameter units per step
        momenta = u["m"] * np.asarray(velocities, dtype=float) * length * u["omega"]

    def build() -> LearningSystem:
        model = LearningSystem(cfg)
        model.particles.place(placed)
        if momenta is not None:
            model.density.p[:, 0] = momenta
        model.step_hooks.append(recorder)
        recorder.rows.clear()
        recorder.kept.clear()
        recorder(model)
        return model

    return build, recorder, math.ceil(duration / u["omega"] - 1e-9)


def trajectory(
    n: int, var0: float, duration: float, *, arm: str = "worlds", **options: Any
) -> pd.DataFrame:
    """Run ``n`` coupled replicas for ``duration`` (units 1/omega) from rest; return the
    :class:`WorldRecorder` table (step 0 included). ``options``: those of :func:`world_run`.

    Examples
    --------
    >>> df = trajectory(10, 1.0, 0.5)
    >>> df["var"].iloc[0].round(9), bool(df["var"].iloc[-1] < 1.0)
    (np.float64(1.0), True)
    """
    build, _, steps = world_run(n, var0, duration, **options)
    return recorder_of(run_arm(arm, build, steps)).frame()


def relax(
    n: int,
    *,
    estimator: str = "hdw",
    coupling: bool = True,
    seed: int = 0,
    duration: float = RELAX_TIME,
    **coupling_options: Any,
) -> pd.DataFrame:
    """Relax ``n`` replicas with friction :data:`RELAX_FRICTION` from normal quantiles of
    variance 1 at rest (not a ground configuration); the :func:`trajectory` table.

    Examples
    --------
    >>> df = relax(10, duration=1.0)
    >>> bool(df["var"].iloc[-1] < 1.0)
    True
    """
    coupling_options.setdefault("accuracy", RELAX_ACCURACY)
    return trajectory(
        n,
        1.0,
        duration,
        start="quantiles",
        estimator=estimator,
        coupling=coupling,
        friction=RELAX_FRICTION,
        seed=seed,
        **coupling_options,
    )


def spread(
    n: int, var0: float, duration: float, *, coupling: bool = True, seed: int = 0
) -> pd.DataFrame:
    """Free spreading (``k = 0``) of ``n`` HDW-coupled replicas from the scaled ground
    configuration at rest; the :func:`trajectory` table (units of ``k = 1``).

    Examples
    --------
    >>> df = spread(10, 1.0, 0.5)
    >>> bool(df["var"].iloc[-1] > 1.0)
    True
    """
    return trajectory(n, var0, duration, k=0.0, coupling=coupling, seed=seed)


def packet_density(
    x: np.ndarray, t: float, centres: tuple[float, float], k0: float, sigma0: float
) -> tuple[np.ndarray, np.ndarray]:
    """Two free Gaussian packets (``hbar = m = 1``) of width ``sigma0`` starting at
    ``centres`` with wave numbers ``+k0`` and ``-k0``: ``(|psi_1|^2 + |psi_2|^2, interference)``
    at time ``t``, each normalised so that the sum of both parts integrates to 1.

    Examples
    --------
    >>> x = np.linspace(-8, 8, 4001)
    >>> smooth, fringes = packet_density(x, 0.0, (-3.0, 3.0), np.pi, 0.5)
    >>> round(float(np.trapezoid(smooth, x)), 6), round(float(np.abs(fringes).max()), 6)
    (1.0, 0.0)
    """
    c = 1.0 + 1j * t / (2.0 * sigma0**2)

    def psi(x0: float, k: float) -> np.ndarray:
        z = x - x0 - k * t
        phase = 1j * k * (x - x0) - 1j * k * k * t / 2.0
        return (
            (2 * math.pi * sigma0**2) ** -0.25
            / np.sqrt(c)
            * np.exp(-(z**2) / (4 * sigma0**2 * c) + phase)
        )

    a, b = psi(centres[0], k0), psi(centres[1], -k0)
    return 0.5 * (np.abs(a) ** 2 + np.abs(b) ** 2), np.real(np.conj(a) * b)


def collision(
    n: int,
    *,
    k0: float = math.pi,
    separation: float = 6.0,
    sigma0: float = 0.5,
    estimator: str = "hdw",
    coupling: bool = True,
    seed: int = 0,
    arm: str = "collision",
) -> dict[str, float]:
    """Head-on collision of two packets of ``n/2`` replicas each (documentation only).

    Replicas start at the normal quantiles of two packets of width ``sigma0`` at
    ``-+separation/2`` with velocities ``+-k0`` (irrotational, ``hbar = m = 1``; free loss),
    and run until the packets overlap (``t = separation / (2 k0)``). Returned: ``corr``, the
    correlation over bins of the replica histogram minus the smooth density with the quantum
    interference term (fringe spacing ``pi / k0``), and ``positive``, the same statistic for
    ``n`` quantiles of the exact quantum density (the fringes planted).

    Examples
    --------
    >>> out = collision(20, coupling=False)
    >>> sorted(out)
    ['corr', 'positive', 't']
    """
    half = n // 2
    nd = NormalDist()
    z = np.array([nd.inv_cdf((i + 0.5) / half) for i in range(half)]) * sigma0
    x0 = np.concatenate([z - separation / 2, z + separation / 2])
    v0 = np.concatenate([np.full(half, k0), np.full(half, -k0)])
    t_c = separation / (2.0 * k0)
    build, _, steps = world_run(
        2 * half,
        1.0,
        t_c,
        estimator=estimator,
        coupling=coupling,
        k=0.0,
        seed=seed,
        positions=x0,
        velocities=v0,
    )
    model = run_arm(arm, build, steps)
    u = units(0.0)
    t = steps * u["omega"]
    x = model.density.positions() / math.sqrt(u["var_unit"])
    # hbar = m = 1 in these units: the packet formulas apply with t in 1/omega
    edges = np.linspace(-3.0, 3.0, 61)
    mid = 0.5 * (edges[1:] + edges[:-1])
    smooth, fringes = packet_density(mid, t, (-separation / 2, separation / 2), k0, sigma0)
    width = edges[1] - edges[0]

    def corr(sample: np.ndarray) -> float:
        hist = np.histogram(sample, edges)[0] / (sample.size * width)
        return float(np.corrcoef(hist - smooth, fringes)[0, 1])

    grid = np.linspace(-12.0, 12.0, 24001)
    s2, f2 = packet_density(grid, t, (-separation / 2, separation / 2), k0, sigma0)
    cdf = np.cumsum(s2 + f2)
    cdf /= cdf[-1]
    planted = np.interp((np.arange(x.size) + 0.5) / x.size, cdf, grid)
    return {"corr": corr(x), "positive": corr(planted), "t": float(t)}


def positive_trajectories(
    replicas: int,
    steps: int,
    *,
    var0: float = 1.0,
    seed: int = 0,
    arm: str = "worlds",
    coupling: bool = True,
) -> pd.DataFrame:
    """A real-time positive control in SGD units (coupling put in by hand): ``replicas``
    HDW-coupled replicas of the 1-parameter loss ``q^2/2``, step size 0.01, ``beta = 1``, no
    noise, ``c_F = 5e-5`` (``hbar = 0.2``, breathing period 31.4 steps), released at rest from
    the ground configuration scaled to ``var0`` (units ``hbar/(m omega)``, 0.02 in ``q``);
    the trajectory table ``step, replica, q_0`` (steps 0 .. ``steps``). ``coupling=False``
    runs the same replicas from the same start with ``c_F = 0`` (the coupling-off control).

    Examples
    --------
    >>> df = positive_trajectories(6, 2)
    >>> df.columns.tolist(), len(df)
    (['step', 'replica', 'q_0'], 18)
    """
    build, recorder, _ = world_run(replicas, var0, 1.0, gamma=0.01, seed=seed, coupling=coupling)
    recorder.keep = True
    kept = recorder_of(run_arm(arm, build, int(steps))).kept
    return to_frame(np.asarray(kept)[:, :, None])
