"""The arms of the ``madelung`` scenario: building the models, starting them and running them.

Every arm runs through :func:`runner.run_arm` and yields tables with an ``arm`` column
(:func:`simulate`). The two-parameter network (:func:`is_two_param`) starts its replicas from
the closed form of :mod:`scenarios.madelung.exact`; a larger network runs on projected
coordinates (:func:`simulate_projected`). Step 0 of every simulated arm holds the start the
scenario set (the model records its own random initialisation there before the start is set;
:func:`simulate` overwrites those rows).

Units: learning steps (dt = 1 per step); q in weight units (or projection units for a larger
network).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import controls
from models import LearningSystem, SystemConfig
from runner import AnalysisFailed, arm_tables, concat_arms, run_arm
from runner.sweep import collect, run_sweep
from scenarios.common.draws import Draw
from scenarios.madelung.exact import (
    CLOSED_FORM,
    gradient_covariance_2p,
    hessian_2p,
    minimum_2p,
    stationary_covariance,
    teacher_task,
)

__all__ = [
    "MOMENTUM",
    "NELSON_DT",
    "NELSON_WIDTHS",
    "PROJECTED_BURN",
    "PROJECTED_WARNING",
    "QUENCH_FACTOR",
    "SIZES",
    "SPREAD_T",
    "SPREAD_WIDTHS",
    "build_two_param",
    "default_config",
    "gaussian_start",
    "grid_cell",
    "grid_cell_projected",
    "install_teacher",
    "is_two_param",
    "simulate",
    "simulate_projected",
]

MOMENTUM = 0.9
QUENCH_FACTOR = 0.8
SPREAD_WIDTHS = (1e-5, 1e-4, 1e-3)
SPREAD_T = 10
NELSON_WIDTHS = (0.25, 0.5, 1.0)
NELSON_DT = 0.2

SIZES = {
    False: {
        "replicas": 2000,
        "grid_gamma": (0.05, 0.1, 0.2),
        "grid_M": (4, 8, 16),
        "grid_replicas": 400,
        "grid_burn": 100,
        "grid_record": 300,
        "rt_replicas": 1000,
        "quench_at": 100,
        "quench_steps": 400,
        "collision_steps": 120,
        "spread_steps": 30,
        "floor_draws": 5,
        "bootstrap": 100,
        "rt_boot": 20,
        "executor": "local",
    },
    True: {
        "replicas": 300,
        "grid_gamma": (0.1, 0.2),
        "grid_M": (4, 16),
        "grid_replicas": 150,
        "grid_burn": 20,
        "grid_record": 60,
        "rt_replicas": 200,
        "quench_at": 30,
        "quench_steps": 80,
        "collision_steps": 50,
        "spread_steps": 14,
        "floor_draws": 3,
        "bootstrap": 10,
        "rt_boot": 8,
        "executor": "serial",
    },
}


def default_config(quick: bool) -> SystemConfig:
    """The scenario's default config: the two-parameter network y = a tanh(b x) on a teacher.

    Parameters
    ----------
    quick : bool
        The quick size (fewer replicas).

    Returns
    -------
    models.SystemConfig

    Examples
    --------
    >>> default_config(True).replicas, is_two_param(default_config(False))
    (300, True)
    """
    return SystemConfig(
        n_input=1,
        n_hidden=1,
        n_output=1,
        bias=False,
        observed=2,
        task="teacher",
        output_activation="linear",
        noise=0.1,
        replicas=SIZES[quick]["replicas"],
        step_size=0.1,
        batch_size=16,
        record_every=10,
    )


def install_teacher(model: LearningSystem, b: float, a: float) -> None:
    """Give the model the teacher (b, a) (:func:`~scenarios.madelung.exact.teacher_task`).

    The teacher has the model's own hidden activation. The task changes through
    :meth:`models.LearningSystem.set_task`: the new probe set is drawn from the model's task
    stream, continued, and one ``set_task`` event records the teacher (a quench when mid-run).
    Weights and every other random stream are untouched.

    Parameters
    ----------
    model : models.LearningSystem
        A 1-1-1 model.
    b, a : float
        The teacher's input and output weight.

    Examples
    --------
    >>> m = LearningSystem(default_config(True).replace(replicas=2)); install_teacher(m, 1.0, -2.0)
    >>> float(m.task.params["w2"][0, 0]), m.events()["detail"].tolist()
    (-2.0, ['teacher (b*, a*) -> (1, -2)'])
    """
    model.set_task(
        teacher_task(b, a, model.config.noise, model.config.activation),
        detail=f"teacher (b*, a*) -> ({b:.6g}, {a:.6g})",
    )


def _set_start(model: LearningSystem, start: np.ndarray) -> None:
    """Set every replica's (b, a) = start[r] (edges input -> hidden and hidden -> output)."""
    model.ensemble.set_edges([1, 2], [0, 1], start)


def build_two_param(
    config: SystemConfig, teacher: tuple[float, float], start: np.ndarray
) -> LearningSystem:
    """A 1-1-1 model with the teacher installed and the replicas at ``start`` (R, 2).

    Examples
    --------
    >>> cfg = default_config(True).replace(replicas=2)
    >>> m = build_two_param(cfg, (1.0, -1.0), np.array([[0.5, -0.5], [1.5, -1.5]]))
    >>> m.coordinates().tolist()
    [[0.5, -0.5], [1.5, -1.5]]
    """
    model = LearningSystem(config)
    install_teacher(model, *teacher)
    _set_start(model, start)
    return model


def gaussian_start(
    center: np.ndarray, cov: np.ndarray, replicas: int, seed: int, tag: int
) -> np.ndarray:
    """Deterministic Gaussian start (R, 2) from ``SeedSequence([seed, tag])``.

    Examples
    --------
    >>> gaussian_start(np.zeros(2), np.eye(2), 4, 0, 1).shape
    (4, 2)
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(tag)]))
    L = np.linalg.cholesky(cov + 1e-300 * np.eye(len(center)))
    return center + rng.standard_normal((replicas, len(center))) @ L.T


def _clean(tables: dict[str, pd.DataFrame], start: np.ndarray) -> dict[str, pd.DataFrame]:
    """Step 0 rows hold the set start (R, 2), not the model's own initialisation; drop unused
    columns and the neuron-state table."""
    out = {}
    for name, frame in tables.items():
        if name == "neuron_states":
            continue
        if name == "trajectories":
            frame = frame.drop(
                columns=[c for c in ("loss", "free_energy", "n_neurons") if c in frame]
            ).copy()
            first = np.flatnonzero(frame["step"].to_numpy() == 0)
            order = frame["replica"].to_numpy()[first]
            frame.loc[frame.index[first], "q_0"] = start[order, 0]
            frame.loc[frame.index[first], "q_1"] = start[order, 1]
        out[name] = frame.reset_index(drop=True)
    return out


def grid_cell(
    config: SystemConfig,
    out: str | Path,
    quick: bool = False,
    steps: int | None = None,
    progress: bool = False,
    *,
    teacher: tuple[float, float] = (1.0, 1.0),
    center: tuple[float, float] = (1.0, 1.0),
    burn: int = 100,
) -> None:
    """One (gamma, M) cell of the grid (a :func:`runner.sweep.run_sweep` scenario callable).

    Starts the replicas at ``center`` with the stationary covariance of the cell, runs
    ``burn + steps`` steps and writes ``trajectories.parquet`` and ``model.parquet`` (steps after
    the burn-in) to ``out``.

    Examples
    --------
    >>> import tempfile
    >>> cfg = default_config(True).replace(replicas=8, seed=1)
    >>> d = Path(tempfile.mkdtemp())
    >>> grid_cell(cfg, d, steps=5, teacher=(1.4, -1.05), center=(1.34, -1.08), burn=2)
    >>> sorted(p.name for p in d.iterdir())
    ['model.parquet', 'trajectories.parquet']
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    noise, act = config.noise, config.activation
    c = np.asarray(center, dtype=float)
    H = hessian_2p(c, teacher, noise, act)
    cov = stationary_covariance(
        H, gradient_covariance_2p(c, teacher, noise, act), config.step_size, config.batch_size
    )
    start = gaussian_start(c, cov, config.replicas, config.seed, 7)
    record = int(steps or 300)
    label = f"grid_g{config.step_size:g}_M{config.batch_size}"
    model = run_arm(
        label, partial(build_two_param, config, teacher, start), burn + record, progress
    )
    traj = model.trajectories()
    traj = traj[traj["step"] >= burn].drop(columns=["loss", "free_energy", "n_neurons"])
    frame = model.model_frame()
    frame = frame[frame["step"] >= burn]
    traj.to_parquet(out / "trajectories.parquet", index=False)
    frame.to_parquet(out / "model.parquet", index=False)


def _grid_tables(
    base: SystemConfig,
    sizes: dict,
    teacher: tuple[float, float],
    center: np.ndarray | None,
    progress: bool,
    cell: Callable[..., None] | None = None,
) -> dict[str, pd.DataFrame]:
    if cell is None:
        cell = grid_cell
        options = {
            "teacher": tuple(float(v) for v in teacher),
            "center": tuple(float(v) for v in center),
            "burn": sizes["grid_burn"],
        }
    else:
        options = {"burn": sizes["grid_burn"]}

    cfg = base.replace(replicas=sizes["grid_replicas"], record_every=10)
    grid = {"step_size": list(sizes["grid_gamma"]), "batch_size": list(sizes["grid_M"])}
    with tempfile.TemporaryDirectory(prefix="dualsim-madelung-grid-") as tmp:
        res = run_sweep(
            cfg,
            grid,
            executor=sizes["executor"],
            out=tmp,
            scenario=cell,
            steps=sizes["grid_record"],
            options=options,
            progress=progress,
        )
        if res.failed:
            raise AnalysisFailed(f"grid cell failed: {res.first_error}")
        out = {}
        for name in ("trajectories", "model"):
            frame = collect(tmp, name)
            arm = [
                f"grid_g{g:g}_M{int(m)}"
                for g, m in zip(frame["step_size"], frame["batch_size"], strict=True)
            ]
            frame = frame.drop(columns=["step_size", "batch_size", "run_id", "point", "replicate"])
            frame = frame.rename(
                columns={"step_size_run": "step_size", "batch_size_run": "batch_size"}
            )
            frame = frame.rename(columns={"seed": "cell_seed"})
            out[name] = frame.assign(arm=arm)
    return out


def _nelson_tables(sizes: dict, seed: int) -> pd.DataFrame:
    """Positive-control trajectories (hbar = m = 1): free packets and a two-packet collision."""
    R = sizes["rt_replicas"]
    x = np.linspace(-30.0, 30.0, 1024, endpoint=False)
    frames = []
    for k, s0 in enumerate(NELSON_WIDTHS):
        psi0 = np.exp(-(x**2) / (4 * s0**2))
        df = controls.nelson_trajectories(
            psi0, x, None, 1.0, 1.0, NELSON_DT, sizes["spread_steps"], R, seed=seed + k
        )
        frames.append(df.assign(arm=f"nelson_spread_{k}"))
    k0 = 3.0
    left = np.exp(-((x + 5) ** 2) / 4 + 1j * k0 * x)
    right = np.exp(-((x - 5) ** 2) / 4 - 1j * k0 * x)
    half = R // 2
    for k, (arm, psi0, n) in enumerate(
        (
            ("nelson_collision", left + right, 2 * half),
            ("nelson_collision_a", left, half),
            ("nelson_collision_b", right, half),
        )
    ):
        df = controls.nelson_trajectories(psi0, x, None, 1.0, 1.0, 0.1, 40, n, seed=seed + 10 + k)
        frames.append(df.assign(arm=arm))
    return pd.concat(frames, ignore_index=True)


def simulate(
    config: SystemConfig, quick: bool, steps: int, progress: bool, draw: Draw | None = None
) -> dict[str, pd.DataFrame]:
    """Every arm of the scenario (see :mod:`scenarios.madelung`); the raw tables.

    The two-parameter network starts from the closed form: the teacher is the accepted
    ``draw`` (:func:`scenarios.madelung.wellposed.check`, recorded as one ``draw_setup`` row of
    the events, arm ``setup``), the centre the minimum q* of F, widths from the stationary
    covariance. Any other network runs :func:`simulate_projected`.

    Parameters
    ----------
    config : models.SystemConfig
        The run's config.
    quick : bool
        The quick sizes of :data:`SIZES`.
    steps : int
        Steps of the ``sgd`` and ``momentum`` arms.
    progress : bool
        Progress bars.
    draw : scenarios.common.draws.Draw, optional
        The teacher (values ``b``, ``a``); required by the two-parameter network.

    Returns
    -------
    dict of pandas.DataFrame
        ``trajectories, model, neurons, events, setup``, each with an ``arm`` column; the
        trajectories include the grid cells and the Nelson positive control.

    Examples
    --------
    ``dualsim run madelung --quick`` runs every arm (about a minute). A network other than the
    two-parameter one goes to :func:`simulate_projected`, which analyses two observed
    coordinates only:

    >>> try:
    ...     simulate(default_config(True).replace(n_hidden=3, observed=3), True, 9, False)
    ... except ValueError as err:
    ...     print(err)
    observed: 3; madelung analyses observed = 2 only
    """
    if not is_two_param(config):
        return simulate_projected(config, quick, steps, progress)
    if draw is None:
        raise ValueError(
            "draw: None; the two-parameter network needs its teacher draw "
            "(scenarios.madelung.wellposed.check)"
        )
    sizes = SIZES[quick]
    teacher = (float(draw.values["b"]), float(draw.values["a"]))
    noise, act = config.noise, config.activation
    center = minimum_2p(teacher, noise, act)
    H = hessian_2p(center, teacher, noise, act)
    evals, evecs = np.linalg.eigh(H)
    stiff = evecs[:, 1]
    sig_g = gradient_covariance_2p(center, teacher, noise, act)
    gamma, M = config.step_size, config.batch_size
    cov = stationary_covariance(H, sig_g, gamma, M)
    sd_stiff = float(np.sqrt(stiff @ cov @ stiff))
    parts: list[dict[str, pd.DataFrame]] = []
    R = config.replicas

    # main arms: displaced narrow start, relaxation
    start = gaussian_start(center + 4 * sd_stiff * stiff, 0.25 * cov, R, config.seed, 1)
    for arm, cfg in (("sgd", config), ("momentum", config.replace(momentum=MOMENTUM))):
        model = run_arm(arm, partial(build_two_param, cfg, teacher, start), steps, progress)
        parts.append(_clean(arm_tables(model, arm), start))

    # quench and its no-change control
    Rt = sizes["rt_replicas"]
    rt = config.replace(replicas=Rt)
    eq_start = gaussian_start(center, cov, Rt, config.seed, 2)
    new_teacher = (QUENCH_FACTOR * teacher[0], teacher[1])
    qa = sizes["quench_at"]
    for arm, cfg, act in (
        ("quench_sgd", rt, True),
        ("quench_momentum", rt.replace(momentum=MOMENTUM), True),
        ("no_change", rt, False),
    ):
        actions = {qa: partial(_quench, teacher=new_teacher)} if act else None
        model = run_arm(
            arm,
            partial(build_two_param, cfg, teacher, eq_start),
            sizes["quench_steps"],
            progress,
            actions,
        )
        parts.append(_clean(arm_tables(model, arm), eq_start))

    # two clusters sent into each other, joint and separate
    off = 6 * sd_stiff * stiff
    narrow = 0.01 * cov
    half = Rt // 2
    ca = gaussian_start(center - off, narrow, half, config.seed, 3)
    cb = gaussian_start(center + off, narrow, half, config.seed, 4)
    for kind, cfg in (("sgd", rt), ("momentum", rt.replace(momentum=MOMENTUM))):
        joint = np.vstack([ca, cb])
        runs = (
            (f"collision_{kind}", cfg.replace(replicas=2 * half), joint),
            (f"collision_{kind}_a", cfg.replace(replicas=half, seed=config.seed + 1), ca),
            (f"collision_{kind}_b", cfg.replace(replicas=half, seed=config.seed + 2), cb),
        )
        for arm, c2, st in runs:
            model = run_arm(
                arm,
                partial(build_two_param, c2, teacher, st),
                sizes["collision_steps"],
                progress,
            )
            parts.append(_clean(arm_tables(model, arm), st))

    # spreading from narrow starts of different widths
    for kind, cfg in (("sgd", rt), ("momentum", rt.replace(momentum=MOMENTUM))):
        for k, w in enumerate(SPREAD_WIDTHS):
            st = gaussian_start(center, w**2 * np.eye(2), Rt, config.seed, 10 + k)
            arm = f"spread_{kind}_{k}"
            model = run_arm(
                arm, partial(build_two_param, cfg, teacher, st), sizes["spread_steps"], progress
            )
            parts.append(_clean(arm_tables(model, arm), st))

    tables = concat_arms(parts)
    arms = list(dict.fromkeys(tables["trajectories"]["arm"]))
    scenario_events = [
        {
            "step": 0,
            "action": "set_start",
            "source": "scenario",
            "arm": a,
            "detail": "replicas placed at the scenario's start (see module docstring)",
        }
        for a in arms
    ]
    scenario_events.append(draw.event("setup"))
    tables["events"] = _event_schema(
        pd.concat([tables["events"], pd.DataFrame(scenario_events)], ignore_index=True, sort=False)
    )
    grid = _grid_tables(config, sizes, teacher, center, progress)
    nelson = _nelson_tables(sizes, config.seed)
    tables["trajectories"] = pd.concat(
        [tables["trajectories"], grid["trajectories"], nelson], ignore_index=True, sort=False
    )
    tables["model"] = pd.concat([tables["model"], grid["model"]], ignore_index=True, sort=False)
    setup_rows = {
        "arm": "setup",
        "network": "two_param",
        "teacher_b": teacher[0],
        "teacher_a": teacher[1],
        "new_teacher_b": new_teacher[0],
        "noise": noise,
        "min_b": center[0],
        "min_a": center[1],
        "hess_soft": evals[0],
        "hess_stiff": evals[1],
        "stiff_b": stiff[0],
        "stiff_a": stiff[1],
        "quench_at": qa,
        "spread_t": SPREAD_T,
        "floor_draws": sizes["floor_draws"],
        "bootstrap": sizes["bootstrap"],
        "rt_boot": sizes["rt_boot"],
    }
    tables["setup"] = pd.DataFrame([setup_rows])
    return tables


def _quench(model: LearningSystem, teacher: tuple[float, float]) -> None:
    install_teacher(model, *teacher)


_MODEL_EVENT_FIELDS = ("neurons", "amplitude", "width", "decay", "replicas")


def _event_schema(events: pd.DataFrame) -> pd.DataFrame:
    """The event table with integer steps and the packet fields of model events as objects
    (None where absent): ``set_task`` rows carry no packet fields, and an arm without
    controller events would otherwise turn ``step`` into floats."""
    events = events.assign(step=events["step"].astype("int64"))
    for name in _MODEL_EVENT_FIELDS:
        column = events[name].astype(object)
        events[name] = column.where(column.notna(), None)
    return events


# ----------------------------------------------------------------------------------------------
# the larger-network option (projected coordinates: not Markov)
# ----------------------------------------------------------------------------------------------

PROJECTED_WARNING = "(projected coordinates: not Markov)"
PROJECTED_BURN = {False: 300, True: 60}


def is_two_param(config: SystemConfig) -> bool:
    """True when the closed form applies: the 1-1-1 network without biases observed whole
    (observed = 2), with a linear output, a hidden activation of
    :data:`~scenarios.madelung.exact.CLOSED_FORM` and the teacher task.

    Examples
    --------
    >>> is_two_param(default_config(True)), is_two_param(default_config(True).replace(
    ...     activation="sigmoid"))
    (True, True)
    >>> is_two_param(default_config(True).replace(n_hidden=4))
    False
    >>> is_two_param(default_config(True).replace(output_activation="tanh"))
    False
    """
    return (
        config.n_input == 1
        and config.n_hidden == 1
        and config.n_output == 1
        and not config.bias
        and config.observed == 2
        and config.output_activation == "linear"
        and config.activation in CLOSED_FORM
        and config.task == "teacher"
    )


def _set_parameters(model: LearningSystem, theta: np.ndarray) -> None:
    """Set every replica's parameter vector (R, P) (order of ``parameter_vector``) at rest."""
    model.ensemble.set_parameter_vector(theta)
    model.ensemble.reset_momentum()


def _burned(config: SystemConfig, burn: int, start: Callable | None = None) -> LearningSystem:
    """The model from its own initialisation after ``burn`` steps; ``start(model, rng)`` may
    then replace the parameters (narrow starts, clusters) from ``SeedSequence([seed, 31])``."""
    model = LearningSystem(config)
    model.run(burn, progress=False)
    if start is not None:
        rng = np.random.default_rng(np.random.SeedSequence([int(config.seed), 31]))
        _set_parameters(model, start(model, rng))
    return model


def _narrow(model: LearningSystem, rng: np.random.Generator, width: float) -> np.ndarray:
    theta = model.ensemble.parameter_vector()
    return theta.mean(axis=0) + width * rng.standard_normal(theta.shape)


def _clusters(model: LearningSystem, rng: np.random.Generator, half: int) -> np.ndarray:
    """Two narrow clusters at the ensemble mean -+ 6 sd(q_0) along the q_0 projection."""
    theta = model.ensemble.parameter_vector()
    u = model.projection[:, 0]
    off = 6.0 * float((theta @ u).std()) * u
    narrow = 0.1 * float((theta @ u).std())
    c = theta.mean(axis=0)
    out = c + narrow * rng.standard_normal(theta.shape)
    out[:half] -= off
    out[half:] += off
    return out


def _cluster_side(
    model: LearningSystem, rng: np.random.Generator, joint: SystemConfig, burn: int, side: int
) -> np.ndarray:
    """One cluster of the joint run's start (side 0: -offset, 1: +offset), for separate runs."""
    half = joint.replicas // 2
    g = np.random.default_rng(np.random.SeedSequence([int(joint.seed), 31]))
    both = _clusters(_burned(joint, burn), g, half)
    return both[:half] if side == 0 else both[half:]


def _projected_tables(model: LearningSystem, arm: str, burn: int) -> dict[str, pd.DataFrame]:
    """Arm tables from step ``burn`` on; the rows at ``burn`` hold the start that was set."""
    tables = arm_tables(model, arm)
    out = {}
    for name, frame in tables.items():
        if name == "neuron_states":
            continue
        if name in ("trajectories", "model") and "step" in frame:
            frame = frame[frame["step"] >= burn].copy()
        if name == "trajectories":
            frame = frame.drop(columns=[c for c in ("loss", "n_neurons") if c in frame])
        out[name] = frame.reset_index(drop=True)
    return out


def _reset_rows(tables: dict[str, pd.DataFrame], model: LearningSystem, start: np.ndarray, burn):
    """Overwrite the step-``burn`` coordinates by the projected start (set after recording)."""
    frame = tables["trajectories"]
    q = start @ model.projection
    first = np.flatnonzero(frame["step"].to_numpy() == burn)
    order = frame["replica"].to_numpy()[first]
    for i in range(q.shape[1]):
        frame.loc[frame.index[first], f"q_{i}"] = q[order, i]


def grid_cell_projected(
    config: SystemConfig,
    out: str | Path,
    quick: bool = False,
    steps: int | None = None,
    progress: bool = False,
    *,
    burn: int = 100,
) -> None:
    """One (gamma, M) cell for a larger network: own initialisation, ``burn`` steps dropped.

    Records the projected gradient covariance (``record_noise``); the model table's
    ``trace_sigma_q`` is its trace on q averaged over replicas per recorded step.

    Examples
    --------
    >>> import tempfile
    >>> cfg = default_config(True).replace(replicas=8, n_hidden=3, seed=1)
    >>> d = Path(tempfile.mkdtemp())
    >>> grid_cell_projected(cfg, d, steps=4, burn=2)
    >>> sorted(p.name for p in d.iterdir())
    ['model.parquet', 'trajectories.parquet']
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = int(steps or 300)
    label = f"grid_g{config.step_size:g}_M{config.batch_size}"
    cfg = config.replace(record_noise=True)
    model = run_arm(label, partial(LearningSystem, cfg), burn + record, progress)
    traj = model.trajectories()
    traj = traj[traj["step"] >= burn]
    tr = (traj["sigma_0_0"] + traj["sigma_1_1"]).groupby(traj["step"]).mean()
    traj = traj.drop(
        columns=["loss", "free_energy", "n_neurons"] + [c for c in traj if c.startswith("sigma_")]
    )
    frame = model.model_frame()
    frame = frame[frame["step"] >= burn].copy()
    frame["trace_sigma_q"] = tr.reindex(frame["step"]).to_numpy()
    traj.to_parquet(out / "trajectories.parquet", index=False)
    frame.to_parquet(out / "model.parquet", index=False)


def _heavy_ball_step(config: SystemConfig) -> float:
    """Step size of the heavy-ball arms of the projected path: gamma (1 - beta), so that their
    effective learning rate gamma / (1 - beta) equals the SGD arm's (at the full gamma a larger
    network's heavy ball diverges within a few dozen steps)."""
    return float(config.step_size * (1.0 - MOMENTUM))


def simulate_projected(
    config: SystemConfig, quick: bool, steps: int, progress: bool
) -> dict[str, pd.DataFrame]:
    """Every arm for a larger network on its observed projections q_0, q_1 (no closed form).

    Starts are the model's own initialisation after ``PROJECTED_BURN[quick]`` steps (dropped);
    narrow starts and collision clusters are set in parameter space about the burned-in
    ensemble mean; the quench arms double the step size (a step-size quench, recorded as a
    scenario event ``quench``); heavy-ball arms run at gamma (1 - beta).

    Parameters
    ----------
    config : models.SystemConfig
        A network other than the two-parameter one, with ``observed = 2``.
    quick : bool
        The quick sizes of :data:`SIZES`.
    steps : int
        Steps of the main arms after the burn-in.
    progress : bool
        Progress bars.

    Returns
    -------
    dict of pandas.DataFrame
        ``trajectories, model, neurons, events, setup`` (``arm`` column in each).

    Raises
    ------
    ValueError
        ``observed`` is not 2.

    Examples
    --------
    The whole path runs in the scenario's tests; only two observed coordinates are analysed:

    >>> try:
    ...     simulate_projected(default_config(True).replace(n_hidden=3, observed=3), True, 9, False)
    ... except ValueError as err:
    ...     print(err)
    observed: 3; madelung analyses observed = 2 only
    """
    if config.observed != 2:
        raise ValueError(f"observed: {config.observed}; madelung analyses observed = 2 only")
    sizes = SIZES[quick]
    burn = PROJECTED_BURN[quick]
    parts: list[dict[str, pd.DataFrame]] = []
    for arm, cfg in (
        ("sgd", config),
        ("momentum", config.replace(momentum=MOMENTUM, step_size=_heavy_ball_step(config))),
    ):
        model = run_arm(arm, partial(_burned, cfg, 0), burn + steps, progress)
        parts.append(_projected_tables(model, arm, burn))

    Rt = sizes["rt_replicas"]
    rt = config.replace(replicas=Rt)
    qa = sizes["quench_at"]
    new_gamma = 2.0 * config.step_size
    for arm, cfg, act in (
        ("quench_sgd", rt, True),
        (
            "quench_momentum",
            rt.replace(momentum=MOMENTUM, step_size=_heavy_ball_step(config)),
            True,
        ),
        ("no_change", rt, False),
    ):
        actions = {burn + qa: partial(_step_quench, gamma=new_gamma)} if act else None
        model = run_arm(
            arm, partial(_burned, cfg, burn), burn + sizes["quench_steps"], progress, actions
        )
        parts.append(_projected_tables(model, arm, burn))

    half = Rt // 2
    for kind, cfg in (
        ("sgd", rt),
        ("momentum", rt.replace(momentum=MOMENTUM, step_size=_heavy_ball_step(config))),
    ):
        c2 = cfg.replace(replicas=2 * half)
        start = partial(_clusters, half=half)
        model = run_arm(
            f"collision_{kind}",
            partial(_burned, c2, burn, start),
            burn + sizes["collision_steps"],
            progress,
        )
        tab = _projected_tables(model, f"collision_{kind}", burn)
        rng = np.random.default_rng(np.random.SeedSequence([int(c2.seed), 31]))
        _reset_rows(tab, model, _clusters(_burned(c2, burn), rng, half), burn)
        parts.append(tab)
        for side, h in enumerate(("a", "b")):
            arm = f"collision_{kind}_{h}"
            ch = cfg.replace(replicas=half, seed=config.seed + 1 + side)
            start = partial(_cluster_side, joint=c2, burn=burn, side=side)
            model = run_arm(
                arm, partial(_burned, ch, burn, start), burn + sizes["collision_steps"], progress
            )
            tab = _projected_tables(model, arm, burn)
            _reset_rows(tab, model, _cluster_side(model, None, c2, burn, side), burn)
            parts.append(tab)
        for k, w in enumerate(SPREAD_WIDTHS):
            arm = f"spread_{kind}_{k}"
            model = run_arm(
                arm,
                partial(_burned, cfg, burn, partial(_narrow, width=w)),
                burn + sizes["spread_steps"],
                progress,
            )
            tab = _projected_tables(model, arm, burn)
            rng = np.random.default_rng(np.random.SeedSequence([int(cfg.seed), 31]))
            _reset_rows(tab, model, _narrow(_burned(cfg, burn), rng, w), burn)
            parts.append(tab)

    tables = concat_arms(parts)
    tables["events"] = pd.concat(
        [
            tables["events"],
            pd.DataFrame(
                [
                    {
                        "step": burn + qa,
                        "action": "quench",
                        "source": "scenario",
                        "arm": a,
                        "detail": f"step size {config.step_size:g} -> {new_gamma:g}",
                    }
                    for a in ("quench_sgd", "quench_momentum")
                ]
            ),
        ],
        ignore_index=True,
        sort=False,
    )
    grid = _grid_tables(
        config,
        {**sizes, "grid_burn": max(sizes["grid_burn"], burn)},
        None,
        None,
        progress,
        cell=grid_cell_projected,
    )
    nelson = _nelson_tables(sizes, config.seed)
    tables["trajectories"] = pd.concat(
        [tables["trajectories"], grid["trajectories"], nelson], ignore_index=True, sort=False
    )
    tables["model"] = pd.concat([tables["model"], grid["model"]], ignore_index=True, sort=False)
    n_par = LearningSystem(config.replace(replicas=1)).ensemble.parameter_vector().shape[1]
    tables["setup"] = pd.DataFrame(
        [
            {
                "arm": "setup",
                "network": "projected",
                "shape": f"{config.n_input}-{config.n_hidden}-{config.n_output}",
                "bias": bool(config.bias),
                "n_parameters": n_par,
                "noise": config.noise,
                "burn": burn,
                "fit_steps": max(steps // 3, 10),
                "new_step_size": new_gamma,
                "stiff_b": 1.0,
                "stiff_a": 0.0,
                "quench_at": burn + qa,
                "spread_t": SPREAD_T,
                "floor_draws": sizes["floor_draws"],
                "bootstrap": sizes["bootstrap"],
                "rt_boot": sizes["rt_boot"],
            }
        ]
    )
    return tables


def _step_quench(model: LearningSystem, gamma: float) -> None:
    model.step_size = gamma
