"""The wiring of a network over all its neuron slots, and its block structure.

Slots are ordered inputs, hidden (capacity ``n_hidden_max``), outputs. ``adjacency[i, j]`` is
True when neuron j feeds neuron i (y_i = sum_j w_ij x_j + b_i). The wiring covers every slot in
capacity, so a hidden neuron that is activated later is wired by the topology's rule already.

The adjacency is split into blocks between the three groups (input, hidden, output); a block
that is fully connected carries no mask, so layered networks spend no time on masked zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from models.config import SystemConfig, load_graph

__all__ = ["GROUPS", "Architecture", "Block", "build_architecture"]

GROUPS = ("input", "hidden", "output")


@dataclass(frozen=True)
class Block:
    """Weights from group ``src`` into group ``dst``.

    Attributes
    ----------
    dst, src : str
        Group names.
    rows, cols : slice
        Slot ranges of the two groups.
    mask : ndarray or None
        ``(len(rows), len(cols))`` float mask of the edges, or None when fully connected.
    """

    dst: str
    src: str
    rows: slice
    cols: slice
    mask: np.ndarray | None


@dataclass(frozen=True)
class Architecture:
    """Wiring of one network (shared by all replicas).

    Attributes
    ----------
    n_input, n_hidden_max, n_output, n : int
    kinds : tuple of str
        Kind of each slot.
    labels : tuple
        Name of each slot (a user graph's node names, else the slot index).
    adjacency : ndarray of bool, shape (n, n)
    blocks : tuple of Block
    recurrent : bool
        True when hidden -> hidden or output -> non-output edges exist (the forward sweep is
        then iterated and the free-running prediction relaxed).
    """

    n_input: int
    n_hidden_max: int
    n_output: int
    n: int
    kinds: tuple[str, ...]
    labels: tuple
    adjacency: np.ndarray
    blocks: tuple[Block, ...]
    recurrent: bool

    def group(self, name: str) -> slice:
        """Slot range of a group.

        Examples
        --------
        >>> arch = build_architecture(SystemConfig(), np.random.default_rng(0))
        >>> arch.group("hidden")
        slice(2, 10, None)
        """
        a, h = self.n_input, self.n_hidden_max
        return {
            "input": slice(0, a),
            "hidden": slice(a, a + h),
            "output": slice(a + h, self.n),
        }[name]

    def fan_in(self) -> np.ndarray:
        """Number of incoming edges of each slot."""
        return self.adjacency.sum(axis=1)


def build_architecture(config: SystemConfig, rng: np.random.Generator) -> Architecture:
    """Wire all slots by the config's topology rule.

    Parameters
    ----------
    config : SystemConfig
    rng : numpy.random.Generator
        The run's graph stream (random topologies draw from it).

    Examples
    --------
    >>> arch = build_architecture(SystemConfig(n_input=4, n_hidden=32, n_output=2),
    ...                           np.random.default_rng(0))
    >>> int(arch.adjacency.sum()), [b.mask is None for b in arch.blocks]
    (192, [True, True])
    """
    n_in, n_h, n_out = config.n_input, config.n_hidden_max, config.n_output
    n = n_in + n_h + n_out
    adj = np.zeros((n, n), dtype=bool)
    hid = slice(n_in, n_in + n_h)
    out = slice(n_in + n_h, n)
    labels: list = list(range(n))
    topo = config.topology
    if isinstance(topo, str) and topo == "layered":
        if n_h:
            adj[hid, :n_in] = True
            adj[out, hid] = True
        else:
            adj[out, :n_in] = True
    elif isinstance(topo, str) and topo == "recurrent":
        p = config.connectivity
        adj[hid, :n_in] = rng.random((n_h, n_in)) < p
        hh = rng.random((n_h, n_h)) < p
        np.fill_diagonal(hh, False)
        adj[hid, hid] = hh
        adj[out, hid] = rng.random((n_out, n_h)) < p
        # every hidden neuron hears an input, every output hears a hidden neuron
        for i in range(n_h):
            if not adj[n_in + i, :n_in].any():
                adj[n_in + i, rng.integers(n_in)] = True
        for o in range(n_out):
            if not adj[n_in + n_h + o, hid].any():
                adj[n_in + n_h + o, n_in + rng.integers(n_h)] = True
    elif isinstance(topo, str) and topo == "small_world":
        ws = nx.watts_strogatz_graph(
            n_h, config.small_world_k, config.small_world_p, seed=int(rng.integers(2**31))
        )
        for u, v in ws.edges():
            adj[n_in + u, n_in + v] = True
            adj[n_in + v, n_in + u] = True
        adj[hid, :n_in] = True
        adj[out, hid] = True
    else:
        graph = topo if isinstance(topo, nx.DiGraph) else load_graph(topo)
        order = {
            k: sorted((nd for nd, kd in graph.nodes(data="kind") if kd == k), key=str)
            for k in GROUPS
        }
        names = order["input"] + order["hidden"] + order["output"]
        index = {name: i for i, name in enumerate(names)}
        labels = names
        for u, v in graph.edges():
            if u != v:
                adj[index[v], index[u]] = True
    kinds = ("input",) * n_in + ("hidden",) * n_h + ("output",) * n_out
    slices = {"input": slice(0, n_in), "hidden": hid, "output": out}
    blocks = []
    for dst in ("hidden", "output"):
        for src in GROUPS:
            sub = adj[slices[dst], slices[src]]
            if sub.size == 0 or not sub.any():
                continue
            mask = None if sub.all() else sub.astype(float)
            blocks.append(Block(dst, src, slices[dst], slices[src], mask))
    recurrent = any(
        (b.dst == "hidden" and b.src in ("hidden", "output"))
        or (b.dst == "output" and b.src == "output")
        for b in blocks
    )
    return Architecture(
        n_input=n_in,
        n_hidden_max=n_h,
        n_output=n_out,
        n=n,
        kinds=kinds,
        labels=tuple(labels),
        adjacency=adj,
        blocks=tuple(blocks),
        recurrent=recurrent,
    )
