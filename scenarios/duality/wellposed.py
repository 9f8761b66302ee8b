"""Well-posedness of the ``duality`` scenario, checked before any simulation.

Refused configurations (:class:`~models.ConfigError`, exit 2, one line naming the field):
fewer than 4 hidden neurons or states not recorded every step
(:func:`scenarios.common.check_network`), fewer than ``MIN_REPLICAS`` replicas (measured on a
quick run cut down to fewer replicas: the score fit needs 42, the metric's patches 48), fewer
than 2 observed coordinates, fewer than 20 steps (the fit and prediction halves), and a label
noise no drawn teacher's signal stands above.

The packets and the quench are fixed constants (:mod:`scenarios.common.perturbations`); the
teacher is a conditioned draw (:func:`scenarios.common.teacher.draw_teacher`: the config's own
teacher when its signal stands above the label noise, Var(teacher) / noise^2 >= 1, else
redrawn from the separate stream ``SeedSequence([seed, 8102])``), so that the network learns
for every seed.
"""

from __future__ import annotations

from models import ConfigError, SystemConfig
from scenarios.common import check_network
from scenarios.common.draws import Draw
from scenarios.common.teacher import draw_teacher
from scenarios.duality.arms import BLOCKS, MIN_STEPS

__all__ = ["MIN_REPLICAS", "check"]

#: fewest replicas (measured: 42 leave the first-half metric without a patch of enough weight)
MIN_REPLICAS = 48


def check(config: SystemConfig, steps: int | None = None, quick: bool = False) -> Draw | None:
    """Refuse an ill-posed config; the accepted teacher draw (None for another task).

    Examples
    --------
    >>> from scenarios.duality.arms import default_config
    >>> check(default_config(True).replace(seed=1)).rejected
    0
    >>> try:
    ...     check(default_config(True), steps=10)
    ... except ConfigError as err:
    ...     print(err)
    steps: 10; expected >= 34 (the fit window before the event holds 4 Madelung windows)
    """
    del quick
    check_network(config)
    if config.replicas < MIN_REPLICAS:
        raise ConfigError(
            "replicas",
            config.replicas,
            f">= {MIN_REPLICAS} (the score fit and the metric's patches; a multiple of {BLOCKS} "
            "keeps the packet blocks equal)",
        )
    if config.observed < 2:
        raise ConfigError("observed", config.observed, ">= 2 (q_0, q_1)")
    if steps is not None and steps < MIN_STEPS:
        raise ConfigError(
            "steps",
            steps,
            f">= {MIN_STEPS} (the fit window before the event holds 4 Madelung windows)",
        )
    return draw_teacher(config)
