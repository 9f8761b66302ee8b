"""Shared pieces of the scenarios: coordinates from tables, packets per replica block."""

import numpy as np
import pandas as pd
import pytest

from models import LearningSystem, SystemConfig
from runner import AnalysisFailed
from scenarios.common import (
    D_GROUPS,
    arm_coordinates,
    arm_states,
    check_network,
    inject_block_packets,
    replica_blocks,
    tidy_events,
)


def _table(T: int, R: int, neurons: list[int], arm: str, seed: int) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    vals = rng.normal(size=(T + 1, R, len(neurons)))
    t, r, n = np.meshgrid(np.arange(T + 1), np.arange(R), np.arange(len(neurons)), indexing="ij")
    frame = pd.DataFrame(
        {
            "step": t.ravel(),
            "replica": r.ravel(),
            "neuron": np.asarray(neurons)[n.ravel()],
            "state": vals.ravel(),
            "arm": arm,
        }
    )
    return frame, {"vals": vals}


def test_arm_coordinates_are_group_means_from_step_one():
    """Known answer: X^mu = mean of group mu's states, rows from step 1; the control arm's
    rows never leak in."""
    neurons = [3, 4, 5, 6, 7]
    a, truth = _table(6, 4, neurons, "a", 0)
    b, _ = _table(6, 4, neurons, "b", 1)
    tables = {"neuron_states": pd.concat([b, a], ignore_index=True)}
    groups = [[5, 3], [4], [6, 7]]
    X = arm_coordinates(tables, "a", groups)
    v = truth["vals"][1:]
    expect = np.stack([v[..., [2, 0]].mean(-1), v[..., 1], v[..., [3, 4]].mean(-1)], axis=-1)
    assert X.shape == (6, 4, 3)
    assert np.allclose(X, expect)
    assert not np.allclose(arm_coordinates(tables, "b", groups), expect)
    assert arm_states(tables, "a", [4]).shape == (6, 4, 1)
    with pytest.raises(AnalysisFailed, match="no rows for arm 'c'"):
        arm_coordinates(tables, "c", groups)


def test_check_network_names_the_field():
    check_network(SystemConfig(n_hidden=D_GROUPS, record_every=1))
    with pytest.raises(ValueError, match="n_hidden: 3"):
        check_network(SystemConfig(n_hidden=3, record_every=1))
    with pytest.raises(ValueError, match="record_every: 5"):
        check_network(SystemConfig(n_hidden=8, record_every=5))


def test_block_packets_drive_their_own_block_only():
    m = LearningSystem(replicas=6, n_hidden=8, seed=0)
    hidden = list(range(2, 10))
    groups = [hidden[:2], hidden[2:4], hidden[4:6], hidden[6:]]
    inject_block_packets(m, groups, 3)
    drive = m.ensemble.drive
    for k, rows in enumerate(replica_blocks(6, 3)):
        on = drive[np.ix_(rows, groups[k])]
        assert np.all(on > 0)
        assert np.count_nonzero(drive[rows]) == on.size  # nothing outside group k
    assert (m.events()["event"] == "inject_packet").sum() == 3


def test_tidy_events_types():
    ev = pd.DataFrame({"x": [1, "2", None], "y": ["a", 3, None], "z": [1.0, 2.0, 3.0]})
    ev = ev.astype({"x": object, "y": object})
    out = tidy_events(ev)
    assert out["x"].dtype == float and out["z"].dtype == float
    assert out["y"].iloc[:2].tolist() == ["a", "3"] and out["y"].isna().iloc[2]
    assert ev["x"].dtype == object  # the input is not changed
