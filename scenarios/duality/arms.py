"""The one arm of the ``duality`` scenario: an adaptive run perturbed at half time.

:func:`simulate` builds the network of :func:`default_config`, saves its wiring (the ``edges``
table, from which the analysis rebuilds the hidden-neuron groups) and runs the arm ``adaptive``;
at :func:`mid_step` the teacher is quenched and one packet per replica block is injected
(:func:`perturb`).
"""

from __future__ import annotations

from functools import partial

import pandas as pd

from models import LearningSystem, SystemConfig
from runner import arm_tables, concat_arms, run_arm
from scenarios.common import inject_block_packets, quench, tidy_events
from scenarios.common.draws import Draw
from scenarios.common.geometry import hidden_groups, small_world_config, wiring_table
from scenarios.common.teacher import builder
from scenarios.transition import adaptive_controllers

__all__ = [
    "ARM",
    "BLOCKS",
    "MIN_STEPS",
    "N_HIDDEN_MAX",
    "default_config",
    "mid_step",
    "perturb",
    "simulate",
]

ARM = "adaptive"
N_HIDDEN_MAX = 28
BLOCKS = 8
MIN_STEPS = 34
"""Fewest steps a run may have: the Madelung fit's fit window ``[t_mid // 3, t_mid)`` must hold
its 4 windows of >= 2 usable steps each (central differences at lag 2 use 2 more steps at each
end), which first happens at ``t_mid = mid_step(34) = 17``."""


def default_config(quick: bool = False) -> SystemConfig:
    """The spacetime network with the transition scenario's adaptive controllers.

    Examples
    --------
    >>> cfg = default_config(quick=True)
    >>> cfg.replicas, cfg.record_every, cfg.state_source, [c["type"] for c in cfg.controllers][0]
    (64, 1, 'probe', 'neuron_count')
    """
    return small_world_config(quick).replace(
        replicas=64 if quick else 192,
        n_hidden_max=N_HIDDEN_MAX,
        n_probe=32,
        controllers=tuple(adaptive_controllers()),
    )


def mid_step(steps: int) -> int:
    """The step of the quench and the packet injection (half the run).

    Examples
    --------
    >>> mid_step(400)
    200
    """
    return max(3, steps // 2)


def perturb(model: LearningSystem, groups: list[list[int]]) -> None:
    """The mid-run event: quench the teacher and inject one packet per replica block.

    Block ``b`` of ``BLOCKS`` gets a packet centred on neuron group ``b mod 4``.

    Examples
    --------
    >>> m = LearningSystem(replicas=16, n_hidden=4, seed=0)
    >>> perturb(m, [[2], [3], [4], [5]]); m.step()
    >>> m.events()["event"].tolist().count("set_task")
    1
    """
    quench(model)
    inject_block_packets(model, groups, BLOCKS)


def simulate(
    config: SystemConfig, steps: int, progress: bool, draw: Draw | None = None
) -> dict[str, pd.DataFrame]:
    """Run the arm ``adaptive`` on the teacher of ``draw`` and return its tables and the
    ``edges`` table.

    ``draw`` is the accepted teacher of :func:`scenarios.duality.wellposed.check` (None: the
    config's own teacher); it is recorded as one ``draw_setup`` row of the events (step 0, arm
    ``adaptive``).

    Examples
    --------
    >>> tables = simulate(default_config(quick=True).replace(replicas=16, n_probe=4), 4, False)
    >>> sorted(tables)[:3], int(tables["trajectories"]["step"].max())
    (['edges', 'events', 'model'], 4)
    """
    build = builder(config, draw)
    edges = wiring_table(build(), ARM)
    groups = hidden_groups(edges, config.seed)
    model = run_arm(
        ARM, build, steps, progress, actions={mid_step(steps): partial(perturb, groups=groups)}
    )
    tables = concat_arms([{"edges": edges}, arm_tables(model, ARM)])
    if draw is not None:
        tables["events"] = pd.concat(
            [tables["events"], pd.DataFrame([draw.event(ARM)])], ignore_index=True
        )
    tables["events"] = tidy_events(tables["events"])
    return tables
