"""Pieces shared by several scenarios: coarse neuron coordinates and mid-run perturbations.

:mod:`scenarios.common.coordinates` reads one arm's neuron states from its tables and builds
coarse coordinates; :mod:`scenarios.common.perturbations` holds the teacher quench and the
packets injected per replica block. Every public name is re-exported here.

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
    "PACKET_AMPLITUDE",
    "PACKET_DECAY",
    "PACKET_WIDTH",
    "QUENCH_SCALE",
    "TEACHER_WEIGHTS",
    "arm_coordinates",
    "arm_states",
    "check_network",
    "inject_block_packets",
    "quench",
    "replica_blocks",
    "states_array",
    "tidy_events",
]
