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
    at most 1 %. The sweep runs through the sweep runner (:func:`run_crossover`: one
    :func:`crossover_cell` per triple, grid keys ``controllers.neuron_count.alpha``,
    ``diffusion`` and ``step_size``, run seeds spawned by the sweep runner from the run's seed).
``grand_canonical``
    ``eta = 0.01``, ``D = 1e-3``, ``alpha = 0.05`` (``r = 1``; Perron variance 0.0828).
``entropy_aware``, ``shuffled``, ``fixed_n``, ``common_noise``
    Null controls at the same settings: births on ``Psi + T ln rho_hat`` (Boltzmann), births
    on ``Psi`` permuted across particles (Boltzmann shape), ``alpha = 0`` (Boltzmann), and one
    noise draw per replica shared by all particles (clones never separate).
``pure_branching``
    The positive control: ``eta = 0``, ``alpha = 0.05`` (``Var = sqrt(2 D / alpha k) = 0.2``,
    ``mu* = 0.1``).
``displaced_<arm>``
    The real-time null: ``fixed_n``, ``grand_canonical``, ``entropy_aware``, ``shuffled`` and
    ``pure_branching`` started displaced by ``DISPLACEMENT`` (0.8, about three stationary
    widths): their mean must relax without a significant extremum.
``collision_left``, ``collision_right``, ``collision_both``
    The collision: clone/kill at r = 1 with ``mu_c`` fixed at the predicted ``mu*`` (no
    population control, so the dynamics is linear), ``COLLISION_REPLICAS`` replicas; a narrow
    packet of ``COLLISION_N`` particles at ``-0.8``, one at ``+0.8``, and both together. The
    packets meet at the centre; the joint run's histograms must be the sum of the separate
    runs' (no interference). They run ``min(steps, COLLISION_STEPS)`` steps, particles
    recorded every ``COLLISION_EVERY`` steps.
``network_a``, ``network_b``
    One network pair: the mean-field network of periodic RBF units (``N0 = 400``, only the
    centres trained, label noise 1, ``per_neuron`` mini-batches) with clone/kill births at a
    fixed ``mu_c = -0.004``, at ``(alpha, M, eta) = (2, 2, 0.05)`` and ``(4, 4, 0.1)``: the same
    ``r = alpha sigma^2 / (M k)``, the same ``T = D / eta`` and the same ``alpha / eta``, so the
    second arm's continuous-time generator is twice the first's and both relax to one density
    (the second in half the steps: ``network_a`` runs 4 x ``steps``, ``network_b`` 2 x).
    Positions every 10 steps from a quarter of the run (and at steps ``1 mod 50`` for
    Kramers-Moyal pairs) go to the ``particles`` table, ``Psi`` on a 64-point grid every 10
    steps to the ``psi_grid`` table.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.imaginary_time import harmonic
from models import LearningSystem, SystemConfig
from models.particles import ParticleRecorder
from runner import RunFailed, arm_tables, concat_arms, run_arm, write_tables
from runner.sweep import collect, run_sweep

__all__ = [
    "ALPHA",
    "COLLISION_EVERY",
    "COLLISION_N",
    "COLLISION_REPLICAS",
    "COLLISION_STEPS",
    "CROSSOVER_TABLES",
    "D0",
    "DISPLACEMENT",
    "ETA",
    "NETWORK_GRID",
    "NET_EVERY",
    "NET_KM_EVERY",
    "NET_MU_C",
    "NET_PAIR",
    "ArmSetting",
    "K",
    "NetworkRecorder",
    "adiabatic_schedule",
    "arm_settings",
    "crossover_cell",
    "crossover_tables",
    "crossover_triples",
    "default_config",
    "run_crossover",
    "simulate",
]

K = 1.0
"""Curvature of the frozen harmonic potential."""
ETA, D0, ALPHA = 0.01, 1e-3, 0.05
"""The r = 1 settings of the null controls and the grand-canonical arm."""
RECORD_EVERY = 250
"""Steps between particle snapshots (``particles`` table)."""
DISPLACEMENT = 0.8
"""Start offset of the displaced arms and the packets' distance from the centre."""
COLLISION_N, COLLISION_REPLICAS, COLLISION_STEPS, COLLISION_EVERY = 500, 16, 400, 25
"""Collision arms: particles per packet and replica, replicas, steps, record spacing."""
COLLISION_WIDTH = 0.1
"""Standard deviation of a packet at the start."""
NET_N0, NET_NOISE, NET_MU_C = 400, 1.0, -0.004
"""The network pair: N0 (and the starting number of neurons), label noise, fixed mu_c."""
NET_PAIR = ((2.0, 2, 0.05, 4), (4.0, 4, 0.1, 2))
"""``(alpha, M, eta, steps factor)`` of ``network_a`` and ``network_b``."""
NET_EVERY, NET_KM_EVERY = 10, 50
"""Network arms: steps between recorded positions and Psi grids; Kramers-Moyal pairs
``(s, s + 1)`` at every multiple ``s`` of ``NET_KM_EVERY``."""
NETWORK_GRID = np.arange(64) * (2 * math.pi / 64)
"""Centres at which Psi is recorded (the grid of the predictions)."""


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
    batch_size: int = 0
    steps_factor: int = 1
    start: str = ""


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


def adiabatic_schedule(
    rs: list[float], *, D: float, eta: float, k: float = K, plateau: int, rate: float = 0.1
) -> tuple[list[int], list[float], list[tuple[int, int, float]]]:
    """An alpha schedule through the crossover numbers ``rs`` of a frozen harmonic, adiabatic.

    Plateaus of ``plateau`` steps at each ``r`` (``alpha = r eta^2 k / (2 D)``), joined by
    exponential ramps with ``d ln r / dt = rate x`` the smaller gap of the two ends
    (``omega_E = eta k sqrt(1 + r)``, the slowest relaxation rate of the harmonic Perron
    state). Returns the knots (``steps``, ``values``; interpolation ``exponential``) and the
    plateaus ``(first step, last step, r)``.

    Examples
    --------
    >>> steps, values, plateaus = adiabatic_schedule([0.25, 1.0], D=1e-3, eta=0.01, plateau=500)
    >>> steps, [round(v, 4) for v in values], plateaus[1]
    ([0, 500, 1740, 2240], [0.0125, 0.0125, 0.05, 0.05], (1740, 2240, 1.0))
    """
    steps, values, plateaus = [0], [], []
    for i, r in enumerate(rs):
        alpha = r * eta**2 * k / (2 * D)
        if i:
            gap = eta * k * math.sqrt(1 + min(r, rs[i - 1]))
            ramp = math.ceil(abs(math.log(r / rs[i - 1])) / (rate * gap))
            steps.append(steps[-1] + ramp)
        values.append(alpha)
        plateaus.append((steps[-1], steps[-1] + plateau, float(r)))
        steps.append(steps[-1] + plateau)
        values.append(alpha)
    return steps, values, plateaus


def arm_settings(quick: bool) -> list[ArmSetting]:
    """Every arm of the scenario, in run order.

    Examples
    --------
    >>> [a.arm for a in arm_settings(quick=True)][:2], len(arm_settings(quick=False))
    (['crossover_0_a', 'crossover_1_a'], 34)
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
    by_name = {a.arm: a for a in out}
    for name in ("fixed_n", "grand_canonical", "entropy_aware", "shuffled", "pure_branching"):
        base = by_name[name]
        out.append(replace(base, arm=f"displaced_{name}", family="realtime", start="displaced"))
    for packets in ("left", "right", "both"):
        out.append(
            ArmSetting(
                f"collision_{packets}", ALPHA, D0, ETA, T, r1, family="collision", start=packets
            )
        )
    for label, (alpha, m, eta, factor) in zip("ab", NET_PAIR, strict=True):
        out.append(
            ArmSetting(
                f"network_{label}",
                alpha,
                math.nan,
                eta,
                math.nan,
                math.nan,
                noise_mode="per_neuron",
                family="network",
                batch_size=m,
                steps_factor=factor,
            )
        )
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
    spec: dict = {
        "type": "neuron_count",
        "policy": "clone",
        "alpha": setting.alpha,
        "variant": setting.variant,
    }
    sizes = {}
    if setting.family == "collision":
        mu = harmonic(K, D=setting.D, eta=setting.eta, alpha=setting.alpha).mu
        spec.update(population_control=False, mu_c=mu)
        n = COLLISION_N * (2 if setting.start == "both" else 1)
        sizes = {"replicas": COLLISION_REPLICAS, "n_hidden": n}
    return base.replace(
        step_size=setting.eta,
        diffusion=setting.D,
        noise_mode=setting.noise_mode,
        controllers=[spec],
        seed=base.seed * 1000 + index,
        **sizes,
    )


def network_config(base: SystemConfig, setting: ArmSetting, index: int) -> SystemConfig:
    """The config of a network arm: one replica of ``N0`` RBF units, clone/kill at fixed
    ``mu_c`` (its own seed: ``base.seed * 1000 + index``).

    Examples
    --------
    >>> s = arm_settings(quick=True)[-1]
    >>> cfg = network_config(default_config(True), s, 12)
    >>> cfg.n_hidden, cfg.batch_size, cfg.step_size, cfg.controllers[0]["alpha"]
    (400, 4, 0.1, 4.0)
    """
    spec = {
        "type": "neuron_count",
        "policy": "clone",
        "alpha": setting.alpha,
        "population_control": False,
        "mu_c": NET_MU_C,
    }
    return SystemConfig(
        replicas=1,
        n_input=1,
        n_output=1,
        n_hidden=NET_N0,
        potential={"type": "rbf_network", "n0": NET_N0},
        noise_mode="per_neuron",
        step_size=setting.eta,
        batch_size=setting.batch_size,
        noise=NET_NOISE,
        record_every=base.record_every,
        seed=base.seed * 1000 + index,
        controllers=[spec],
    )


class NetworkRecorder(ParticleRecorder):
    """A step hook for a network arm: the live neurons every ``NET_EVERY`` steps and at steps
    ``1 mod NET_KM_EVERY`` from ``start`` on (rows of the ``particles`` table), and ``Psi`` on
    :data:`NETWORK_GRID` every ``NET_EVERY`` steps (rows ``step, theta, psi``)."""

    def __init__(self, start: int) -> None:
        super().__init__(1)
        self.start = int(start)
        self.psi_rows: list[tuple[int, np.ndarray]] = []

    def __call__(self, model: LearningSystem) -> None:
        """Record the current step when it is in the window and on the schedule."""
        s = int(model.steps)
        if s < self.start or (s % NET_EVERY and s % NET_KM_EVERY != 1):
            return
        super().__call__(model)
        if s % NET_EVERY == 0:
            parts = model.particles
            psi = parts.potential.psi_grid(parts.theta, parts.active, NETWORK_GRID)[0]
            self.psi_rows.append((s, np.asarray(psi, dtype=float)))

    def psi_table(self) -> pd.DataFrame:
        """Long table ``step, theta, psi`` (Psi at every grid centre of every record step)."""
        if not self.psi_rows:
            return pd.DataFrame({"step": [], "theta": [], "psi": []})
        g = NETWORK_GRID.size
        return pd.DataFrame(
            {
                "step": np.repeat([s for s, _ in self.psi_rows], g).astype(np.int64),
                "theta": np.tile(NETWORK_GRID, len(self.psi_rows)),
                "psi": np.concatenate([p for _, p in self.psi_rows]),
            }
        )


def _build_network(cfg: SystemConfig, start: int) -> LearningSystem:
    model = LearningSystem(cfg)
    model.step_hooks.append(NetworkRecorder(start))
    return model


def _build(cfg: SystemConfig, setting: ArmSetting) -> LearningSystem:
    model = LearningSystem(cfg)
    if setting.eta == 0:  # no Boltzmann width: start with the branching ground-state width
        var = harmonic(K, D=setting.D, eta=0.0, alpha=setting.alpha).variance
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 17]))
        model.particles.place(math.sqrt(var) * rng.standard_normal((cfg.n_hidden, 1)))
    if setting.start == "displaced":
        model.particles.place(model.particles.positions(0) + DISPLACEMENT)
    elif setting.family == "collision":
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 19]))
        shape = (cfg.replicas, COLLISION_N, 1)
        packets = {"left": (-1.0,), "right": (1.0,), "both": (-1.0, 1.0)}[setting.start]
        theta = np.concatenate(
            [
                side * DISPLACEMENT + COLLISION_WIDTH * rng.standard_normal(shape)
                for side in packets
            ],
            axis=1,
        )
        model.particles.place(theta)
    every = COLLISION_EVERY if setting.family == "collision" else RECORD_EVERY
    rec = ParticleRecorder(every, events=setting.family != "collision")
    model.step_hooks.append(rec)
    rec(model)
    return model


def particles_of(model: LearningSystem, arm: str) -> dict[str, pd.DataFrame]:
    """The standard tables of an arm plus its ``particles`` table."""
    tables = arm_tables(model, arm)
    rec = next(h for h in model.step_hooks if isinstance(h, ParticleRecorder))
    tables["particles"] = rec.table().assign(arm=arm)
    if isinstance(rec, NetworkRecorder):
        tables["psi_grid"] = rec.psi_table().assign(arm=arm)
    return tables


CROSSOVER_TABLES = ("model", "trajectories", "neurons", "neuron_states", "events", "particles")
"""Tables every crossover cell writes (each with its arm column)."""
CROSSOVER_KEYS = ("controllers.neuron_count.alpha", "diffusion", "step_size")
"""Grid keys of the crossover sweep."""


def _setting_of(config: SystemConfig) -> ArmSetting:
    """The crossover setting of a cell's config (arm named by its ``alpha, D, eta``)."""
    alpha = float(config.controllers[0]["alpha"])
    D, eta = float(config.diffusion), float(config.step_size)
    arm = f"crossover_alpha{alpha:.6g}_D{D:.6g}_eta{eta:.6g}"
    return ArmSetting(arm, alpha, D, eta, D / eta, 2 * alpha * D / (eta**2 * K), family="crossover")


def crossover_cell(
    config: SystemConfig,
    out: str | Path,
    quick: bool = False,
    steps: int | None = None,
    progress: bool = False,
) -> None:
    """One arm of the crossover sweep (a :func:`runner.sweep.run_sweep` scenario callable).

    ``config`` is an arm config of the frozen harmonic (:func:`arm_config`) whose ``alpha``
    (the ``clone`` controller's), ``diffusion`` and ``step_size`` define the triple; runs
    ``steps`` steps (default the scenario's quick length) and writes the
    :data:`CROSSOVER_TABLES` to ``out``, arm ``crossover_alpha<a>_D<D>_eta<eta>``. ``quick``
    is not used.

    Examples
    --------
    >>> import tempfile
    >>> s = arm_settings(quick=True)[2]
    >>> cfg = arm_config(default_config(True).replace(n_hidden=50), s, 0)
    >>> d = Path(tempfile.mkdtemp())
    >>> crossover_cell(cfg, d, steps=20)
    >>> pd.read_parquet(d / "model.parquet").arm.iloc[0]
    'crossover_alpha0.0707107_D0.00141421_eta0.0141421'
    """
    del quick
    setting = _setting_of(config)
    n = 1500 if steps is None else int(steps)
    model = run_arm(setting.arm, partial(_build, config, setting), n, progress, tables=particles_of)
    write_tables(out, particles_of(model, setting.arm), csv_max_rows=0)


def crossover_tables(folder: str | Path, names: Sequence[str]) -> list[dict[str, pd.DataFrame]]:
    """The per-arm tables of a sweep folder of :func:`crossover_cell` runs, point ``i`` named
    ``names[i]`` (the sweep's columns dropped), in point order.

    Examples
    --------
    >>> import tempfile
    >>> s = arm_settings(quick=True)[:2]
    >>> d = tempfile.mkdtemp()
    >>> out = run_crossover(default_config(True).replace(n_hidden=50), s, 20, out=d)
    >>> [t["model"].arm.iloc[0] for t in crossover_tables(d, ["x", "y"])]
    ['x', 'y']
    """
    frames = {}
    for table in CROSSOVER_TABLES:
        frame = collect(folder, table)
        head = list(frame.columns[: list(frame.columns).index("run_id")])
        point = frame["point"].to_numpy()
        frame = frame.drop(columns=[*head, "run_id", "point", "replicate", "seed"])
        frames[table] = (frame.rename(columns={f"{k}_run": k for k in head}), point)
    out = []
    for i, name in enumerate(names):
        arm = {}
        for table, (frame, point) in frames.items():
            arm[table] = frame[point == i].reset_index(drop=True).assign(arm=name)
        out.append(arm)
    return out


def run_crossover(
    base: SystemConfig,
    settings: Sequence[ArmSetting],
    steps: int,
    progress: bool = False,
    *,
    executor: str = "serial",
    out: str | Path | None = None,
) -> list[dict[str, pd.DataFrame]]:
    """Run the crossover arms ``settings`` through the sweep runner; their per-arm tables.

    One :func:`crossover_cell` per setting (grid keys :data:`CROSSOVER_KEYS`) into ``out``
    (default a temporary folder), the root seed drawn from ``SeedSequence([base.seed, 37])``;
    ``executor`` is the sweep runner's (``serial`` inside a run).

    Raises
    ------
    RunFailed
        A cell failed (its error).
    """
    points = [dict(zip(CROSSOVER_KEYS, (s.alpha, s.D, s.eta), strict=True)) for s in settings]
    root = int(np.random.SeedSequence([int(base.seed), 37]).generate_state(1, np.uint64)[0] >> 1)
    cfg = arm_config(base, settings[0], 0)
    with tempfile.TemporaryDirectory(prefix="dualsim-particles-crossover-") as tmp:
        folder = Path(tmp) if out is None else Path(out)
        res = run_sweep(
            cfg,
            points,
            executor=executor,
            out=folder,
            scenario=crossover_cell,
            steps=int(steps),
            seed=root,
            progress=progress,
        )
        if res.failed:
            raise RunFailed(f"crossover cell failed: {res.first_error}")
        return crossover_tables(folder, [s.arm for s in settings])


def simulate(
    base: SystemConfig, quick: bool, steps: int, progress: bool
) -> dict[str, pd.DataFrame]:
    """Run every arm (the crossover sweep through :func:`run_crossover`); the tables
    (``model``, ``trajectories``, ``neurons``, ``neuron_states``, ``events``, ``particles``,
    ``psi_grid``, ``arms``), each with an ``arm`` column."""
    settings = arm_settings(quick)
    sweep = [s for s in settings if s.family == "crossover"]
    per_arm = run_crossover(base, sweep, steps, progress)
    for i, setting in enumerate(settings):
        if setting.family == "crossover":
            continue
        if setting.family == "network":
            n = steps * setting.steps_factor
            cfg = network_config(base, setting, i)
            build = partial(_build_network, cfg, n // 4)
        else:
            n = min(steps, COLLISION_STEPS) if setting.family == "collision" else steps
            build = partial(_build, arm_config(base, setting, i), setting)
        model = run_arm(setting.arm, build, n, progress, tables=particles_of)
        per_arm.append(particles_of(model, setting.arm))
    tables = concat_arms(per_arm)
    tables["arms"] = pd.DataFrame([asdict(s) for s in settings])
    return tables
