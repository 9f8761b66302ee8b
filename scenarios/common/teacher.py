"""A teacher whose signal stands above the label noise: the conditioned teacher of a network.

The ``spacetime``, ``duality`` and ``transition`` scenarios learn a random teacher network of the
student's shape (task ``teacher``). A teacher whose output hardly varies over the inputs gives
the student nothing to learn but the label noise. :func:`draw_teacher` conditions the teacher on
its signal-to-noise ratio, Var_x[teacher(x)] / noise^2 >= :data:`MIN_SNR` (on
:data:`SNR_INPUTS` fixed inputs): candidate 0 is the config's own teacher (the model's task
stream: a seed whose own teacher is accepted runs exactly as without conditioning); rejected
candidates are redrawn with the task's own distribution (:func:`models.tasks.make_task`) from
the stream ``SeedSequence([seed, 8102])``. :func:`build` makes the model and, for a redrawn
teacher, installs it with :meth:`models.LearningSystem.set_task` (one ``set_task`` event at
step 0; the probe set is drawn again from the task stream).

Units: teacher outputs in target units; the SNR is a ratio of variances.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from models import ConfigError, LearningSystem, SystemConfig
from models.activations import activation
from models.learning_system import STREAMS
from models.tasks import Task, make_task
from scenarios.common.draws import Draw, conditioned_draw

__all__ = [
    "MIN_SNR",
    "SNR_INPUTS",
    "build",
    "builder",
    "draw_teacher",
    "own_task",
    "signal_to_noise",
]

#: smallest teacher signal variance over the label-noise variance that counts as learnable
MIN_SNR = 1.0
#: fixed inputs on which the teacher's signal variance is measured
SNR_INPUTS = 4096


def own_task(config: SystemConfig) -> Task:
    """The task the config's own task stream draws: ``LearningSystem(config).task``, drawn
    without building the model.

    Examples
    --------
    >>> cfg = SystemConfig(seed=3, n_hidden=4)
    >>> bool(np.array_equal(own_task(cfg).params["w2"], LearningSystem(cfg).task.params["w2"]))
    True
    """
    streams = np.random.SeedSequence(config.seed).spawn(len(STREAMS))
    return make_task(config, np.random.default_rng(streams[STREAMS.index("task")]))


def signal_to_noise(config: SystemConfig, task: Task) -> float:
    """Var_x[teacher(x)] / noise^2 of a ``teacher`` task (inf without label noise).

    The noiseless teacher output on ``SNR_INPUTS`` fixed inputs x ~ N(0, input_scale)
    (``default_rng(0)``, so the ratio depends on the teacher only), variance averaged over the
    outputs.

    Examples
    --------
    >>> cfg = SystemConfig(n_input=1, n_hidden=1, bias=False, noise=0.5)
    >>> t = make_task(cfg, np.random.default_rng(0))
    >>> round(signal_to_noise(cfg, t), 2)
    0.01
    """
    p = task.params
    scale = float(config.task_params.get("input_scale", 1.0))
    x = np.random.default_rng(0).normal(0.0, scale, (SNR_INPUTS, config.n_input))
    f_h, f_o = activation(config.activation)[0], activation(config.output_activation)[0]
    h = f_h(x @ p["w1"].T + p["b1"]) if p["w1"].shape[0] > 0 else x
    y = f_o(h @ p["w2"].T + p["b2"])
    noise = float(config.noise)
    var = float(y.var(axis=0).mean())
    return var / noise**2 if noise > 0 else float("inf")


def draw_teacher(config: SystemConfig, min_snr: float = MIN_SNR) -> Draw | None:
    """The conditioned teacher (see the module docstring); None for a task other than
    ``teacher``.

    Returns
    -------
    Draw or None
        ``values = {"snr": ...}``; ``payload`` the accepted :class:`models.tasks.Task`.

    Raises
    ------
    models.ConfigError
        No teacher of :data:`~scenarios.common.draws.MAX_DRAWS` reaches ``min_snr`` (names
        ``noise``).

    Examples
    --------
    >>> cfg = SystemConfig(n_input=1, n_hidden=3, noise=0.3, seed=10)
    >>> d = draw_teacher(cfg)
    >>> d.rejected, d.values["snr"] >= MIN_SNR, d.reasons[0][:22]
    (1, True, 'teacher signal-to-nois')
    """
    if config.task != "teacher":
        return None

    def snr(task: Task) -> dict[str, float]:
        return {"snr": signal_to_noise(config, task)}

    def reject(task: Task) -> str | None:
        value = snr(task)["snr"]
        if value >= min_snr:
            return None
        return f"teacher signal-to-noise Var(teacher) / noise^2 = {value:.3g} < {min_snr:g}"

    def ill_posed(reasons: list[str]) -> ConfigError:
        return ConfigError(
            "noise",
            config.noise,
            f"a label noise below the teacher's signal: none of {len(reasons)} teachers drawn "
            f"has Var(teacher) / noise^2 >= {min_snr:g} (first: {reasons[0]})",
        )

    return conditioned_draw(
        "teacher",
        own_task(config),
        partial(make_task, config),
        reject,
        int(config.seed),
        "teacher signal",
        ill_posed,
        first_stream="the config's task stream",
        condition=f"a signal above the label noise (Var(teacher) / noise^2 >= {min_snr:g})",
        values=snr,
    )


def build(config: SystemConfig, draw: Draw | None) -> LearningSystem:
    """``LearningSystem(config)`` on the accepted teacher of ``draw``.

    A teacher redrawn by :func:`draw_teacher` replaces the config's own one through
    :meth:`models.LearningSystem.set_task` (one ``set_task`` event at step 0); the config's own
    teacher (``draw.rejected == 0``) or no draw leaves the model exactly as
    ``LearningSystem(config)`` builds it.

    Examples
    --------
    >>> cfg = SystemConfig(n_input=1, n_hidden=3, noise=0.3, seed=10, replicas=2)
    >>> m = build(cfg, draw_teacher(cfg))
    >>> m.events()["event"].tolist(), signal_to_noise(cfg, m.task) >= MIN_SNR
    (['set_task'], True)
    """
    model = LearningSystem(config)
    if draw is not None and draw.rejected > 0:
        model.set_task(task=draw.payload, detail=f"conditioned {draw.detail()}")
    return model


def builder(config: SystemConfig, draw: Draw | None) -> partial:
    """A builder for :func:`runner.run_arm`: ``build(config, draw)`` when called.

    Examples
    --------
    >>> builder(SystemConfig(replicas=2), None)().config.replicas
    2
    """
    return partial(build, config, draw)
