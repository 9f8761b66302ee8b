"""Known-answer tests for analysis.spacetime.coordinates: neuron groups and coarse coordinates."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from analysis.spacetime import coarse_coordinates, neuron_groups, neuron_nodes


def _planted(seed: int = 3) -> tuple[nx.DiGraph, list[set[int]]]:
    """4 planted communities of 10 neurons (dense inside, sparse across) plus a controller."""
    und = nx.planted_partition_graph(4, 10, 0.7, 0.03, seed=seed)
    rng = np.random.default_rng(seed)
    g = nx.DiGraph()
    for n in und.nodes:
        g.add_node(n, kind="hidden" if n % 3 else "input")
    for u, v in und.edges:
        g.add_edge(u, v, weight=float(rng.choice([-1, 1]) * rng.uniform(0.5, 1.5)))
    g.add_node("ctl", kind="controller")
    for n in und.nodes:  # the controller touches everything; it must not glue communities
        g.add_edge("ctl", n, weight=5.0)
    planted = [set(range(10 * i, 10 * i + 10)) for i in range(4)]
    return g, planted


def test_neuron_groups_recovers_planted_communities() -> None:
    g, planted = _planted()
    groups = neuron_groups(g, 4, seed=0)
    assert "ctl" not in {n for grp in groups for n in grp}
    assert sorted(map(frozenset, groups), key=min) == sorted(map(frozenset, planted), key=min)
    # control: a random partition does not recover them (best overlap well below 1)
    rnd = neuron_groups(g, 4, method="random", seed=0)
    best = [max(len(set(r) & p) / 10 for p in planted) for r in rnd]
    assert max(best) < 0.8


def test_neuron_groups_merges_and_splits_to_exact_count() -> None:
    g, planted = _planted()
    for k in (2, 3, 6, 7):
        groups = neuron_groups(g, k, seed=1)
        assert len(groups) == k
        assert sorted(n for grp in groups for n in grp) == list(range(40))
    three = neuron_groups(g, 3, seed=1)
    # merging keeps planted communities whole
    assert all(any(p <= set(grp) for grp in three) for p in planted)


def test_neuron_groups_given_and_kinds() -> None:
    g, _ = _planted()
    mapping = {n: n % 2 for n in neuron_nodes(g)}
    groups = neuron_groups(g, 2, method=mapping)
    assert groups[0] == list(range(0, 40, 2))
    hidden = neuron_groups(g, 2, kinds=("hidden",))
    assert all(n % 3 for grp in hidden for n in grp)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_groups": 1}, "n_groups"),
        ({"n_groups": 41}, "n_groups"),
        ({"n_groups": 2, "method": "spectral"}, "method"),
        ({"n_groups": 2, "method": [[0, 1], [1, 2]]}, "overlap"),
        ({"n_groups": 3, "method": [[0, 1], [2]]}, "method"),
        ({"n_groups": 2, "method": [[0, "ctl"], [2]]}, "not neurons"),
    ],
)
def test_neuron_groups_bad_input(kwargs: dict, match: str) -> None:
    g, _ = _planted()
    with pytest.raises(ValueError, match=match):
        neuron_groups(g, **kwargs)


def test_coarse_coordinates_table_and_array_agree() -> None:
    rng = np.random.default_rng(0)
    arr = rng.normal(size=(3, 2, 5))
    t, r, n = np.meshgrid(np.arange(3), np.arange(2), np.arange(5), indexing="ij")
    df = pd.DataFrame(
        {"step": t.ravel(), "replica": r.ravel(), "neuron": n.ravel(), "state": arr.ravel()}
    )
    df = df.sample(frac=1.0, random_state=0)  # row order must not matter
    groups = [[0, 3], [1, 2, 4]]
    x = coarse_coordinates(df, groups)
    np.testing.assert_allclose(x, coarse_coordinates(arr, groups))
    np.testing.assert_allclose(x[..., 0], arr[..., [0, 3]].mean(-1))
    with pytest.raises(ValueError, match="missing column"):
        coarse_coordinates(df.drop(columns="state"), groups)
    with pytest.raises(ValueError, match="rows for"):
        coarse_coordinates(df.iloc[1:], groups)
    with pytest.raises(ValueError, match="not in states"):
        coarse_coordinates(arr, [[0, 9]])
    with pytest.raises(ValueError, match="NaN"):
        coarse_coordinates(np.full((2, 2, 3), np.nan), [[0]])
