"""Well-posedness of the ``madelung`` scenario, checked before any simulation.

The scenario needs an isolated minimum of F whose basin holds every ensemble it runs.

Refused configurations (:class:`~models.ConfigError`, exit 2, one line naming the field):

- fewer than ``MIN_REPLICAS`` replicas or ``MIN_STEPS`` steps (what the estimators need,
  measured on a quick run with its main arms cut down);

- ``activation`` linear or relu: a f(b x) then depends on a·b only (relu: for each sign of b),
  so F has no minimum along a·b = const (:data:`~scenarios.madelung.exact.NO_ISOLATED_MINIMUM`);
  for larger networks the same rescaling symmetry holds neuron by neuron.
- ``observed`` other than 2 (the analysis reads q_0, q_1).
- Two-parameter network: ``noise`` <= 0 (every per-example gradient vanishes at the teacher:
  no stationary ensemble); a ``noise`` (with ``task_params.teacher_scale``) at which none of
  :data:`~scenarios.common.draws.MAX_DRAWS` drawn teachers has an acceptable minimum;
  ``step_size`` at which SGD is unstable at the minimum (gamma lambda_max >= 2), and
  ``step_size``, ``batch_size`` whose stationary ensemble (SGD, or the heavy ball of the
  momentum arms) reaches beyond the minimum's basin.

The teacher is a conditioned draw (:func:`scenarios.common.draws.conditioned_draw`):
candidate 0 is the config's own teacher (the model's task stream, as an unconditioned run
would use: a seed whose first teacher is accepted runs exactly as before); rejected candidates
are redrawn from the stream ``SeedSequence([seed, 8101])`` with the task's distribution
(b*, a* ~ N(0, teacher_scale), teacher_scale 1.5 by default). A teacher is accepted when

1. F has an isolated minimum q* next to it (:func:`~scenarios.madelung.exact.minimum_2p`:
   BFGS from the teacher ends within half the teacher's norm, Hessian positive definite), and
2. every (gamma, M) cell of the scenario's grid (quick and full sizes: the teacher does not
   depend on ``--quick``) is stable at q* with margin (gamma lambda_max < 1) and its stationary
   ensemble lies in the basin (:func:`basin_reason`: F increases along the Hessian's axes out
   to ``REACH`` stationary standard deviations).

The config's own (gamma, M) cell is then judged against the accepted teacher (refused, not
redrawn: a step-size sweep keeps its teacher). The larger-network path (projected coordinates)
draws nothing: its starts are the model's own initialisation.

Units: q in weight units, gamma per learning step, M in examples.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import linalg

from models import ConfigError, SystemConfig
from models.learning_system import STREAMS
from models.tasks import make_task
from scenarios.common.draws import MAX_DRAWS, Draw, conditioned_draw
from scenarios.madelung.arms import MOMENTUM, SIZES, is_two_param
from scenarios.madelung.exact import (
    CLOSED_FORM,
    NO_ISOLATED_MINIMUM,
    grad_free_energy_2p,
    gradient_covariance_2p,
    hessian_2p,
    minimum_2p,
    stationary_covariance,
)

__all__ = [
    "GRID_CELLS",
    "MIN_REPLICAS",
    "MIN_STEPS",
    "REACH",
    "RELAX_TOL",
    "TEACHER_SCALE",
    "basin_reason",
    "check",
    "config_teacher",
    "draw_teacher",
    "heavy_ball_covariance",
    "landscape",
    "relaxation_error",
    "teacher_reason",
]

#: stationary standard deviations along each Hessian axis that must lie inside the basin
REACH = 6.0
#: fewest replicas of the main arms (measured: the score fit needs 42 samples)
MIN_REPLICAS = 50
#: fewest steps of the main arms (measured: 4 entropy windows of 4 steps need 16)
MIN_STEPS = 20
#: largest relative per-example gradient error the unfinished relaxation may leave
RELAX_TOL = 0.02
#: default teacher scale of the ``teacher`` task (b*, a* ~ N(0, scale))
TEACHER_SCALE = 1.5
#: every (gamma, M) cell of the scenario's grid, quick and full sizes
GRID_CELLS = tuple(
    sorted(
        {
            (float(g), int(m))
            for sizes in SIZES.values()
            for g in sizes["grid_gamma"]
            for m in sizes["grid_M"]
        }
    )
)
_RAY = np.linspace(0.0, 1.0, 17)[1:, None]
_ANGLES = np.linspace(0.0, 2.0 * np.pi, 16, endpoint=False)


def heavy_ball_covariance(
    H: np.ndarray, sigma_g: np.ndarray, gamma: float, batch: int, beta: float
) -> np.ndarray:
    """Stationary covariance of q under the linearised heavy ball v <- beta v - gamma (H q + xi),
    q <- q + v, Cov xi = Sigma_g / M (the q block of the joint (q, v) Lyapunov solution).

    Examples
    --------
    >>> C = heavy_ball_covariance(np.eye(1), np.eye(1), 0.01, 1, 0.0)
    >>> round(float(C[0, 0]), 6)  # beta = 0: plain SGD, gamma / (2 - gamma)
    0.005025
    """
    k = H.shape[0]
    eye = np.eye(k)
    A = np.block([[eye - gamma * H, beta * eye], [-gamma * H, beta * eye]])
    B = np.vstack([-gamma * eye, -gamma * eye])
    return linalg.solve_discrete_lyapunov(A, B @ (sigma_g / batch) @ B.T)[:k, :k]


@functools.lru_cache(maxsize=256)
def landscape(
    teacher: tuple[float, float], noise: float, activation: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The minimum q* of F next to ``teacher``, the Hessian and Sigma_g there (cached).

    Raises
    ------
    ValueError
        F has no isolated minimum next to the teacher
        (:func:`~scenarios.madelung.exact.minimum_2p`).

    Examples
    --------
    >>> q, H, S = landscape((2.16, -1.34), 0.1, "tanh")
    >>> q.shape, H.shape, S.shape
    ((2,), (2, 2), (2, 2))
    """
    center = minimum_2p(teacher, noise, activation)
    H = hessian_2p(center, teacher, noise, activation)
    sigma_g = gradient_covariance_2p(center, teacher, noise, activation)
    for a in (center, H, sigma_g):
        a.setflags(write=False)
    return center, H, sigma_g


def basin_reason(
    teacher: tuple[float, float],
    noise: float,
    activation: str,
    center: np.ndarray,
    covariances: list[np.ndarray],
) -> str | None:
    """Why the ensembles of ``covariances`` do not fit the basin of ``center`` (None: they do).

    On rays from the minimum (``len(_ANGLES)`` even directions plus both ways along every
    covariance's axes), each out to the largest ``REACH``-standard-deviation ellipse of the
    covariances in its direction, the radial derivative of F must stay positive: F keeps rising
    away from the minimum, so no other critical point (saddle, ridge, the valley towards
    |a| -> infinity) lies within reach of the ensembles.

    Examples
    --------
    >>> from scenarios.madelung.exact import stationary_covariance
    >>> t = (2.16, -1.34); q = minimum_2p(t, 0.1); H = hessian_2p(q, t, 0.1)
    >>> C = stationary_covariance(H, gradient_covariance_2p(q, t, 0.1), 0.1, 16)
    >>> basin_reason(t, 0.1, "tanh", q, [C]) is None
    True
    >>> basin_reason(t, 0.1, "tanh", q, [1e4 * C]).split(" at ")[0]  # 100 times wider
    'F stops rising'
    """
    dirs = [np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1)]
    inverses = []
    for C in covariances:
        w, V = np.linalg.eigh(0.5 * (C + C.T))
        dirs.append(np.concatenate([V.T, -V.T]))
        inverses.append(V @ np.diag(1.0 / np.clip(w, 1e-300, None)) @ V.T)
    u = np.concatenate(dirs)  # (A, 2) unit directions
    radius = REACH / np.sqrt(np.min([np.einsum("ak,kl,al->a", u, Ci, u) for Ci in inverses], 0))
    rays = u * radius[:, None]
    pts = center + _RAY[:, None, :] * rays[None, :, :]  # (S, A, 2)
    slope = np.einsum("sak,ak->sa", grad_free_energy_2p(pts, teacher, noise, activation), rays)
    bad = np.argwhere(slope <= 0)
    if bad.size == 0:
        return None
    s, a = bad[np.argmin(bad[:, 0])]
    return (
        f"F stops rising at {_RAY[s, 0]:.2g} of the {REACH:g}-sd ellipse of the stationary "
        f"ensemble, towards ({rays[a, 0]:+.3g}, {rays[a, 1]:+.3g}) from the minimum: the "
        "ensemble reaches beyond its basin"
    )


def relaxation_error(a: np.ndarray, rate: float, steps: int) -> float:
    """Largest relative error of the per-example gradient left by the hidden neuron's
    relaxation, over output weights ``a`` (inf when the relaxation diverges).

    With a linear output the relaxation energy is quadratic in the hidden state, curvature
    1 + a^2: descent at ``rate`` shrinks the distance to the relaxed state by
    rho = |1 - rate (1 + a^2)| per step, from the forward-sweep start; after ``steps`` steps the
    b-gradient is off by rho^steps and the a-gradient (through the output error) by
    rho^steps a^2 relative to the relaxed values the closed form uses.

    Examples
    --------
    >>> round(relaxation_error(np.array([0.0, 1.3]), 0.2, 20), 4)  # rho = 0.8 at a = 0
    0.0115
    >>> relaxation_error(np.array([3.4]), 0.2, 20)  # rate (1 + a^2) > 2: diverges
    inf
    """
    a2 = np.asarray(a, dtype=float) ** 2
    c = rate * (1.0 + a2)
    if np.any(c >= 2.0):
        return float("inf")
    return float(np.max(np.abs(1.0 - c) ** int(steps) * np.maximum(1.0, a2)))


def teacher_reason(
    teacher: tuple[float, float],
    noise: float,
    activation: str,
    relax: tuple[float, int] = (0.2, 20),
) -> tuple[str | None, np.ndarray | None]:
    """Why a teacher is rejected (None: accepted) and its minimum q* (None if there is none).

    ``relax`` is the network's (relax_rate, relax_steps): the hidden neuron must relax to
    within ``RELAX_TOL`` (:func:`relaxation_error`) everywhere the grid ensembles reach, or
    the closed form (T_x -> 0, fully relaxed) does not describe the simulated network.

    Examples
    --------
    >>> teacher_reason((2.16, -1.34), 0.1, "tanh")[0] is None
    True
    >>> teacher_reason((-0.24, -0.70), 0.1, "tanh")[0][:31]
    'teacher (b*, a*) = (-0.24, -0.7'
    >>> teacher_reason((-2.46, 3.31), 0.1, "tanh")[0][:40]
    'relaxation: the hidden neuron does not r'
    """
    try:
        center, H, sigma_g = landscape(teacher, noise, activation)
    except ValueError as exc:
        return str(exc), None
    lam = float(np.linalg.eigvalsh(H)[-1])
    worst = max(g for g, _ in GRID_CELLS)
    if worst * lam >= 1.0:
        return f"grid step size {worst:g} x lambda_max {lam:.3g} >= 1 (no stable grid)", center
    covs = [stationary_covariance(H, sigma_g, g, m) for g, m in GRID_CELLS]
    half = REACH * max(float(np.sqrt(C[1, 1])) for C in covs)
    err = relaxation_error(center[1] + np.linspace(-half, half, 21), *relax)
    if err > RELAX_TOL:
        return (
            f"relaxation: the hidden neuron does not relax (relative gradient error {err:.2g} "
            f"> {RELAX_TOL:g} for a in {center[1]:.3g} +- {half:.2g}, relax_rate {relax[0]:g}, "
            f"relax_steps {relax[1]})",
            center,
        )
    reason = basin_reason(teacher, noise, activation, center, covs)
    return (None if reason is None else f"grid: {reason}"), center


def config_teacher(config: SystemConfig) -> tuple[float, float]:
    """The teacher (b*, a*) the config's own task stream draws (candidate 0): the teacher of
    ``LearningSystem(config).task``, drawn here without building the model.

    Examples
    --------
    >>> from scenarios.madelung.arms import default_config
    >>> cfg = default_config(True).replace(seed=1)
    >>> [round(v, 4) for v in config_teacher(cfg)]
    [2.1636, -1.3352]
    >>> LearningSystem(cfg.replace(replicas=1)).task.params["w2"][0, 0] == config_teacher(cfg)[1]
    np.True_
    """
    streams = np.random.SeedSequence(config.seed).spawn(len(STREAMS))
    task = make_task(config, np.random.default_rng(streams[STREAMS.index("task")]))
    return float(task.params["w1"][0, 0]), float(task.params["w2"][0, 0])


def draw_teacher(config: SystemConfig) -> Draw:
    """The conditioned teacher draw of a two-parameter config (see the module docstring).

    Raises
    ------
    models.ConfigError
        No teacher of :data:`~scenarios.common.draws.MAX_DRAWS` is accepted (names ``noise``).

    Examples
    --------
    >>> from scenarios.madelung.arms import default_config
    >>> d = draw_teacher(default_config(True).replace(seed=5))
    >>> d.rejected, d.stream.startswith("redraw 3 of"), d.reasons[0][:31]
    (3, True, 'teacher (b*, a*) = (-0.2435, -0')
    """
    noise, act = float(config.noise), config.activation
    scale = float(config.task_params.get("teacher_scale", TEACHER_SCALE))

    def redraw(rng: np.random.Generator) -> dict[str, float]:
        b, a = rng.normal(0.0, scale, 2)
        return {"b": float(b), "a": float(a)}

    relax = (float(config.relax_rate), int(config.relax_steps))

    def reject(c: dict[str, float]) -> str | None:
        return teacher_reason((c["b"], c["a"]), noise, act, relax)[0]

    def ill_posed(reasons: list[str]) -> ConfigError:
        if sum(r.startswith("relaxation") for r in reasons) > len(reasons) // 2:
            return ConfigError(
                "relax_rate, relax_steps",
                (config.relax_rate, config.relax_steps),
                f"a relaxation that converges: for none of {len(reasons)} drawn teachers does "
                f"the hidden neuron relax where the ensembles reach (first: {reasons[0]})",
            )
        return ConfigError(
            "noise",
            config.noise,
            f"a label noise at which a drawn teacher y = a* {act}(b* x) "
            f"(b*, a* ~ N(0, {scale:g})) has an isolated minimum of F whose basin holds the "
            f"scenario's ensembles; none of {len(reasons)} did (first: {reasons[0]})",
        )

    b, a = config_teacher(config)
    return conditioned_draw(
        "teacher",
        {"b": b, "a": a},
        redraw,
        reject,
        int(config.seed),
        "madelung teacher",
        ill_posed,
        first_stream="the config's task stream",
        condition="an isolated minimum of F whose basin holds every grid ensemble",
        max_draws=MAX_DRAWS,
    )


def _check_network(config: SystemConfig) -> None:
    if config.activation in NO_ISOLATED_MINIMUM:
        two = is_two_param(config.replace(activation="tanh"))
        why = (
            NO_ISOLATED_MINIMUM[config.activation]
            if two
            else f"a {config.activation} network's loss is unchanged when a hidden neuron's "
            "input weights are scaled by c > 0 and its output weights by 1/c, so F has no "
            "isolated minimum"
        )
        raise ConfigError(
            "activation",
            config.activation,
            f"{' or '.join(CLOSED_FORM)}: the madelung scenario needs an isolated minimum of "
            f"F, and {why}; use tanh",
        )
    if config.observed != 2:
        raise ConfigError("observed", config.observed, "2: madelung analyses q_0, q_1 only")


def _check_cell(config: SystemConfig, teacher: tuple[float, float]) -> None:
    """Refuse the config's (gamma, M) for the accepted teacher."""
    noise, act = float(config.noise), config.activation
    gamma, batch = float(config.step_size), int(config.batch_size)
    center, H, sigma_g = landscape(teacher, noise, act)
    lam = float(np.linalg.eigvalsh(H)[-1])
    if gamma * lam >= 2.0:
        raise ConfigError(
            "step_size",
            config.step_size,
            f"< {2.0 / lam:.3g}: SGD is unstable at the minimum of F when gamma x lambda_max "
            f">= 2 (lambda_max = {lam:.3g} for this seed's teacher b* = {teacher[0]:.4g}, "
            f"a* = {teacher[1]:.4g})",
        )
    covs = [
        stationary_covariance(H, sigma_g, gamma, batch),
        heavy_ball_covariance(H, sigma_g, gamma, batch, MOMENTUM),
    ]
    reason = basin_reason(teacher, noise, act, center, covs)
    half = REACH * max(float(np.sqrt(C[1, 1])) for C in covs)
    err = relaxation_error(
        center[1] + np.linspace(-half, half, 21), config.relax_rate, config.relax_steps
    )
    if reason is None and err > RELAX_TOL:
        reason = (
            f"there the hidden neuron does not relax: relative gradient error {err:.2g} > "
            f"{RELAX_TOL:g}"
        )
    if reason is not None:
        raise ConfigError(
            "step_size, batch_size",
            (config.step_size, config.batch_size),
            f"a smaller gamma / M: at this one the stationary ensemble (SGD or the momentum "
            f"arms' heavy ball) reaches beyond the basin of the minimum of F ({reason})",
        )


def check(config: SystemConfig, steps: int | None = None, quick: bool = False) -> Draw | None:
    """Refuse an ill-posed config; the accepted teacher draw (None for a larger network).

    Parameters
    ----------
    config : models.SystemConfig
        The run's config.
    steps : int, optional
        Steps of the main arms (at least :data:`MIN_STEPS`).
    quick : bool
        The quick size (the check does not depend on it).

    Returns
    -------
    Draw or None
        The two-parameter network's teacher (values ``b``, ``a``); None on the projected path.

    Raises
    ------
    models.ConfigError
        One line naming the field, the value and why (see the module docstring).

    Examples
    --------
    >>> from scenarios.madelung.arms import default_config
    >>> {k: round(v, 4) for k, v in check(default_config(True).replace(seed=1)).values.items()}
    {'b': 2.1636, 'a': -1.3352}
    >>> try:
    ...     check(default_config(True).replace(activation="linear"))
    ... except ConfigError as err:
    ...     print(str(err)[:69])
    activation: 'linear'; expected tanh or sigmoid: the madelung scenario
    >>> try:
    ...     check(default_config(True).replace(step_size=50.0))
    ... except ConfigError as err:
    ...     print(str(err).split(":")[0])
    step_size
    """
    del quick
    _check_network(config)
    if config.replicas < MIN_REPLICAS:
        raise ConfigError(
            "replicas",
            config.replicas,
            f">= {MIN_REPLICAS}: the weak-form Madelung fit of the sgd arm (score sm4 in d = 2) "
            "needs 42 samples per time",
        )
    if steps is not None and steps < MIN_STEPS:
        raise ConfigError(
            "steps",
            steps,
            f">= {MIN_STEPS}: the entropy budget needs 4 windows of at least 4 recorded steps",
        )
    if not config.learning:
        raise ConfigError(
            "learning", config.learning, "true: the madelung scenario measures learning dynamics"
        )
    if config.potential is not None:
        raise ConfigError(
            "potential",
            dict(config.potential),
            "none: the madelung scenario runs the network, not frozen-potential particles",
        )
    if not is_two_param(config):
        return None
    if config.neuron_temperature > 0:
        raise ConfigError(
            "neuron_temperature",
            config.neuron_temperature,
            "0: the closed form of F is the T_x -> 0 free energy of the two-parameter network",
        )
    slow = relaxation_error(np.zeros(1), config.relax_rate, config.relax_steps)
    if slow > RELAX_TOL:
        raise ConfigError(
            "relax_rate, relax_steps",
            (config.relax_rate, config.relax_steps),
            f"a relaxation that converges: (1 - relax_rate)^relax_steps = {slow:.2g} > "
            f"{RELAX_TOL:g} leaves the hidden neuron unrelaxed, and the closed form of F is "
            "the relaxed one",
        )
    if not config.noise > 0:
        raise ConfigError(
            "noise",
            config.noise,
            "> 0: the madelung scenario's stationary ensemble is driven by the label noise; "
            "with noise 0 every per-example gradient vanishes at the teacher",
        )
    draw = draw_teacher(config)
    _check_cell(config, (draw.values["b"], draw.values["a"]))
    return draw
