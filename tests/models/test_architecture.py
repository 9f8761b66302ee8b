"""The wiring stored by edges: consistent views, memory in proportion to the edges."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from models.architecture import build_architecture
from models.config import SystemConfig


def _graph() -> nx.DiGraph:
    g = nx.DiGraph()
    kinds = {"in0": "input", "in1": "input", "h0": "hidden", "h1": "hidden", "h2": "hidden"}
    for name, kind in {**kinds, "out0": "output"}.items():
        g.add_node(name, kind=kind)
    g.add_edges_from(
        [("in0", "h0"), ("in1", "h1"), ("h0", "h1"), ("h1", "h2"), ("h2", "h0"), ("h2", "out0")]
    )
    g.add_edges_from([("h1", "out0"), ("out0", "h0")])
    return g


CONFIGS = [
    SystemConfig(n_input=3, n_hidden=5, n_output=2),
    SystemConfig(n_input=1, n_hidden=0, n_output=1),
    SystemConfig(topology="recurrent", n_hidden=30, n_hidden_max=40, connectivity=0.1),
    SystemConfig(topology="small_world", n_hidden=200, small_world_k=4),
    SystemConfig(topology=_graph(), n_input=2, n_hidden=3, n_output=1),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_edge_views_agree(config):
    arch = build_architecture(config, np.random.default_rng(3))
    adj = arch.adjacency_matrix()
    dst, src = np.nonzero(adj)
    assert np.array_equal(dst, arch.edge_dst) and np.array_equal(src, arch.edge_src)
    assert np.array_equal(arch.fan_in(), adj.sum(axis=1))
    slots = np.arange(arch.n)
    assert np.array_equal(arch.in_rows(slots), adj)
    assert np.array_equal(
        arch.out_rows(np.r_[slots, slots[::-1]]), adj.T[np.r_[slots, slots[::-1]]]
    )
    for i in slots:
        assert np.array_equal(arch.sources(i), np.nonzero(adj[i])[0])
        assert np.array_equal(arch.targets(i), np.nonzero(adj[:, i])[0])
    # every edge into a bulk group sits in exactly one block
    in_blocks = sum(b.n_edges for b in arch.blocks)
    assert in_blocks == int(adj[arch.n_input :].sum())
    for b in arch.blocks:
        sub = adj[b.rows, b.cols]
        assert np.array_equal(np.nonzero(sub)[0], b.edge_rows)
        assert np.array_equal(np.nonzero(sub)[1], b.edge_cols)
        assert arch.connects(b.dst, b.src)


def test_wide_wiring_takes_memory_in_proportion_to_edges():
    config = SystemConfig(replicas=1, n_input=1, n_hidden=16384, n_output=1)
    arch = build_architecture(config, np.random.default_rng(0))
    held = sum(
        a.nbytes for a in [arch.edge_dst, arch.edge_src, arch.indptr, arch.out_indptr, arch.out_dst]
    )
    held += sum(
        a.nbytes
        for b in arch.blocks
        for a in (b.edge_rows, b.edge_cols, b.edge_slot)
        if a is not None
    )
    assert arch.n_edges == 2 * 16384
    assert held <= 64 * (arch.n_edges + arch.n + 1)  # a dense adjacency would take n^2 bytes
    with pytest.raises(ValueError, match="adjacency"):
        build_architecture(
            SystemConfig(replicas=1, n_input=1, n_hidden=9000, n_output=1),
            np.random.default_rng(0),
        ).adjacency_matrix()
