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
from scenarios.common import check_network, inject_block_packets, quench, tidy_events
from scenarios.common.geometry import hidden_groups, small_world_config, wiring_table
from scenarios.transition import adaptive_controllers

__all__ = ["ARM", "BLOCKS", "N_HIDDEN_MAX", "default_config", "mid_step", "perturb", "simulate"]

ARM = "adaptive"
N_HIDDEN_MAX = 28
BLOCKS = 8


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


def simulate(config: SystemConfig, steps: int, progress: bool) -> dict[str, pd.DataFrame]:
    """Run the arm ``adaptive`` and return its tables and the ``edges`` table.

    Raises ValueError for a config that cannot be analysed: fewer than ``2 * BLOCKS`` replicas,
    fewer than 2 observed coordinates, fewer than 20 steps, or states that do not give the 4
    coarse coordinates every step.

    Examples
    --------
    >>> simulate(default_config(quick=True), 10, False)
    Traceback (most recent call last):
    ...
    ValueError: steps: 10; expected >= 20 (fit and prediction halves)
    """
    check_network(config)
    if config.replicas < 2 * BLOCKS:
        raise ValueError(f"replicas: {config.replicas}; expected >= {2 * BLOCKS}")
    if config.observed < 2:
        raise ValueError(f"observed: {config.observed}; expected >= 2 (q_0, q_1)")
    if steps < 20:
        raise ValueError(f"steps: {steps}; expected >= 20 (fit and prediction halves)")
    build = partial(LearningSystem, config)
    edges = wiring_table(build(), ARM)
    groups = hidden_groups(edges, config.seed)
    model = run_arm(
        ARM, build, steps, progress, actions={mid_step(steps): partial(perturb, groups=groups)}
    )
    tables = concat_arms([{"edges": edges}, arm_tables(model, ARM)])
    tables["events"] = tidy_events(tables["events"])
    return tables
