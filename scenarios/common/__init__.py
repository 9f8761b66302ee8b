"""Pieces shared by several scenarios: coordinates, geometry setup and mid-run perturbations.

:mod:`scenarios.common.coordinates` reads one arm's neuron states from its tables and builds
coarse coordinates; :mod:`scenarios.common.geometry` holds the small-world network, its wiring
and neuron groups and the metric's grid box; :mod:`scenarios.common.perturbations` holds the
teacher quench and the packets injected per replica block. Every public name is re-exported
here.

Examples
--------
>>> from scenarios.common import D_GROUPS, QUENCH_SCALE
>>> D_GROUPS, QUENCH_SCALE
(4, 0.6)
"""

from __future__ import annotations

from scenarios.common.coordinates import (
    D_GROUPS,
    arm_coordinates,
    arm_states,
    check_network,
    states_array,
    tidy_events,
)
from scenarios.common.geometry import (
    METRIC_BINS,
    METRIC_DEGREE,
    METRIC_QUANTILE,
    hidden_groups,
    lag1,
    metric_box,
    small_world_config,
    wiring_graph,
    wiring_table,
)
from scenarios.common.perturbations import (
    PACKET_AMPLITUDE,
    PACKET_DECAY,
    PACKET_WIDTH,
    QUENCH_SCALE,
    TEACHER_WEIGHTS,
    inject_block_packets,
    quench,
    replica_blocks,
)

__all__ = [
    "D_GROUPS",
    "METRIC_BINS",
    "METRIC_DEGREE",
    "METRIC_QUANTILE",
    "PACKET_AMPLITUDE",
    "PACKET_DECAY",
    "PACKET_WIDTH",
    "QUENCH_SCALE",
    "TEACHER_WEIGHTS",
    "arm_coordinates",
    "arm_states",
    "check_network",
    "hidden_groups",
    "inject_block_packets",
    "lag1",
    "metric_box",
    "quench",
    "replica_blocks",
    "small_world_config",
    "states_array",
    "tidy_events",
    "wiring_graph",
    "wiring_table",
]
