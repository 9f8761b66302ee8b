"""Well-posedness of the ``spacetime`` scenario, checked before any simulation.

Refused configurations (:class:`~models.ConfigError`, exit 2, one line naming the field):
fewer than 4 hidden neurons or states not recorded every step
(:func:`scenarios.common.check_network`), fewer replicas than packet blocks (every block needs
a replica to carry its packet), fewer than 2 steps (the packet is injected at ``steps // 2``),
and a label noise no drawn teacher's signal stands above.

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
from scenarios.spacetime.arms import PACKET_BLOCKS

__all__ = ["check"]


def check(config: SystemConfig, steps: int | None = None) -> Draw | None:
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
    replicas: 2; expected >= 4 (one per packet block)
    """
    check_network(config)
    if config.replicas < PACKET_BLOCKS:
        raise ConfigError("replicas", config.replicas, f">= {PACKET_BLOCKS} (one per packet block)")
    if steps is not None and steps < 2:
        raise ConfigError("steps", steps, ">= 2 (the packet is injected at steps // 2)")
    return draw_teacher(config)
