"""Well-posedness of the ``transition`` scenario, checked before any simulation.

The scenario needs a network that learns: its teacher (a random 1-H-1 network, task
``teacher``) must carry a signal above the label noise. The teacher is a conditioned draw
(:func:`scenarios.common.teacher.draw_teacher`): the config's own teacher when
Var(teacher) / noise^2 >= :data:`MIN_SNR`, else the first accepted redraw from the separate
stream ``SeedSequence([seed, 8102])`` with the task's own distribution. A label noise that no
drawn teacher stands above is refused (:class:`~models.ConfigError` naming ``noise``, exit 2),
as are fewer than 2 observed coordinates, fewer than ``MIN_REPLICAS`` replicas (measured on
a quick run cut down to fewer replicas: the score fit sm4 in d = 2 needs 42) and fewer than
``MIN_STEPS`` learning steps (measured: the real-time signatures need 12 steps after the
quench at 2/3 of the run, which 31 steps give and 30 do not).

Every arm whose config has the scenario's network shape learns the accepted teacher
(:func:`scenarios.common.teacher.build`); an arm of another shape (``canonical_at_final`` with
a different hidden count) draws its own conditioned teacher (:func:`check` on its config).
"""

from __future__ import annotations

from models import ConfigError, SystemConfig
from scenarios.common.draws import Draw
from scenarios.common.teacher import MIN_SNR, draw_teacher

__all__ = ["MIN_REPLICAS", "MIN_SNR", "MIN_STEPS", "check"]

#: fewest replicas (measured: the score fit sm4 in d = 2 needs 42 samples)
MIN_REPLICAS = 42
#: fewest learning steps (measured: the real-time signatures need 12 steps after the quench)
MIN_STEPS = 31


def check(config: SystemConfig, steps: int | None = None, quick: bool = False) -> Draw | None:
    """Refuse an ill-posed config; the accepted teacher draw (None for another task).

    Examples
    --------
    >>> cfg = SystemConfig(n_input=1, n_hidden=3, n_hidden_max=6, noise=0.3, observed=2)
    >>> check(cfg.replace(seed=1)).rejected
    0
    >>> d = check(cfg.replace(seed=10))  # its own teacher's output hardly varies
    >>> d.rejected > 0, d.values["snr"] >= MIN_SNR
    (True, True)
    >>> try:
    ...     check(cfg.replace(seed=1), steps=30)
    ... except ConfigError as err:
    ...     print(str(err).split(" (")[0])
    steps: 30; expected >= 31
    """
    del quick
    if steps is not None and steps < MIN_STEPS:
        raise ConfigError(
            "steps",
            steps,
            f">= {MIN_STEPS} (the real-time signatures need 12 steps after the quench at 2/3)",
        )
    if config.observed < 2:
        raise ConfigError("observed", config.observed, ">= 2 (q_0, q_1)")
    if config.replicas < MIN_REPLICAS:
        raise ConfigError(
            "replicas", config.replicas, f">= {MIN_REPLICAS} (the score fit sm4 in d = 2)"
        )
    return draw_teacher(config)
