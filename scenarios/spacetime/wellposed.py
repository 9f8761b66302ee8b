"""Well-posedness of the ``spacetime`` scenario, checked before any simulation.

Refused configurations (:class:`~models.ConfigError`, exit 2, one line naming the field):
fewer than 4 hidden neurons or states not recorded every step
(:func:`scenarios.common.check_network`), fewer than ``MIN_REPLICAS`` replicas (measured on a
quick run cut down to fewer replicas: with 16 a neuron-count target's X admits no metric, with
8 the ensemble covariance of X is singular), fewer steps than the spectrum's segments need
(32 each: 2 segments quick, 4 otherwise), and a label noise no drawn teacher's signal stands
above.

What the scenario's validity depends on is either fixed or conditioned: the packets (amplitude,
width, decay, one per replica block on the 4 neuron groups) are fixed constants of
:mod:`scenarios.common.perturbations`; the teacher is a conditioned draw
(:func:`scenarios.common.teacher.draw_teacher`: the config's own teacher when its signal
stands above the label noise, Var(teacher) / noise^2 >= 1, else redrawn from the separate
stream ``SeedSequence([seed, 8102])``), so that the network learns for every seed.
"""

from __future__ import annotations

from models import ConfigError, SystemConfig
from scenarios.common import check_network
from scenarios.common.draws import Draw
from scenarios.common.teacher import draw_teacher
from scenarios.spacetime.claims import effort

__all__ = ["MIN_REPLICAS", "check"]

#: fewest replicas (measured: 16 leave a neuron-count target without a metric)
MIN_REPLICAS = 24


def check(config: SystemConfig, steps: int | None = None, quick: bool = False) -> Draw | None:
    """Refuse an ill-posed config; the accepted teacher draw (None for another task).

    Examples
    --------
    >>> from scenarios.spacetime.arms import default_config
    >>> check(default_config(True).replace(seed=1)).rejected
    0
    >>> try:
    ...     check(default_config(True).replace(replicas=2))
    ... except ConfigError as err:
    ...     print(err)
    replicas: 2; expected >= 24 (the metric of every neuron-count target)
    """
    check_network(config)
    if config.replicas < MIN_REPLICAS:
        raise ConfigError(
            "replicas",
            config.replicas,
            f">= {MIN_REPLICAS} (the metric of every neuron-count target)",
        )
    segments = effort(quick)["segments"]
    if steps is not None and steps < 32 * segments:
        raise ConfigError(
            "steps", steps, f">= {32 * segments} (the spectrum's {segments} segments of 32 steps)"
        )
    return draw_teacher(config)
