"""The wiring of a network over all its neuron slots, and its block structure.

Slots are ordered inputs, hidden (capacity ``n_hidden_max``), outputs. ``adjacency[i, j]`` is
True when neuron j feeds neuron i (y_i = sum_j w_ij x_j + b_i). The wiring covers every slot in
capacity, so a hidden neuron that is activated later is wired by the topology's rule already.

The adjacency is split into blocks between the three groups (input, hidden, output), and each
block chooses how its weights are stored:

- ``dense``: the block is fully connected (a layered network is two or three such blocks);
- ``masked``: a dense ``(rows, cols)`` rectangle with zeros off the edges and a float mask (small
  or dense random blocks, where one batched GEMM beats any sparse product);
- ``ell``: row-padded sparse (ELLPACK) storage, ``(rows, width)`` weights with the source column
  of each entry in ``index`` and a 0/1 ``valid`` mask for the padding, plus the transposed
  pattern for products with the transposed block. Chosen for large sparse blocks (a small-world
  ring, a sparse user graph), so storage and every product cost O(edges).

Every layout lists its edges in row-major (target, source) order (``edge_rows``, ``edge_cols``,
block-local), which is the order of the parameter vector within the block.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from models.config import SystemConfig, load_graph

__all__ = [
    "GROUPS",
    "LAYOUTS",
    "SPARSE_MAX_DENSITY",
    "SPARSE_MIN_ENTRIES",
    "Architecture",
    "Block",
    "build_architecture",
]

GROUPS = ("input", "hidden", "output")
LAYOUTS = ("dense", "masked", "ell")
#: a block with fewer (rows x cols) entries than this is never stored sparse
SPARSE_MIN_ENTRIES = 16384
#: a block whose edges fill more than this fraction of its rectangle is never stored sparse
SPARSE_MAX_DENSITY = 0.125


@dataclass(frozen=True, eq=False)
class Block:
    """Weights from group ``src`` into group ``dst``, and how they are stored.

    Attributes
    ----------
    dst, src : str
        Group names.
    rows, cols : slice
        Slot ranges of the two groups.
    mask : ndarray or None
        ``(len(rows), len(cols))`` float mask of the edges for the ``masked`` layout, else None.
    layout : str
        ``dense``, ``masked`` or ``ell`` (see the module docstring).
    edge_rows, edge_cols : ndarray of int
        Block-local target and source of every edge, in row-major order.
    edge_slot : ndarray of int
        Flat position of every edge in one replica's stored weights (``rows x cols`` or
        ``rows x width``), in the same order.
    index, valid : ndarray or None
        ``ell`` only: ``(rows, width)`` source column (block-local) of each stored entry and its
        0/1 float validity (padding entries point at column 0 and are invalid).
    t_index, t_slot, t_valid : ndarray or None
        ``ell`` only, the transposed pattern: for each source column, ``(cols, t_width)`` target
        rows, flat positions ``row * width + k`` into the stored weights, and validity.
    """

    dst: str
    src: str
    rows: slice
    cols: slice
    mask: np.ndarray | None
    layout: str = "dense"
    edge_rows: np.ndarray | None = None
    edge_cols: np.ndarray | None = None
    edge_slot: np.ndarray | None = None
    index: np.ndarray | None = None
    valid: np.ndarray | None = None
    t_index: np.ndarray | None = None
    t_slot: np.ndarray | None = None
    t_valid: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        """Slots in the target group."""
        return self.rows.stop - self.rows.start

    @property
    def n_cols(self) -> int:
        """Slots in the source group."""
        return self.cols.stop - self.cols.start

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of one replica's stored weights: ``(rows, cols)``, or ``(rows, width)``."""
        if self.layout == "ell":
            return self.index.shape
        return (self.n_rows, self.n_cols)

    @property
    def n_edges(self) -> int:
        """Edges in the block."""
        return int(self.edge_rows.size)


def _make_block(dst: str, src: str, rows: slice, cols: slice, sub: np.ndarray, sparse) -> Block:
    """The block of the boolean sub-adjacency ``sub``, in the layout ``sparse`` asks for."""
    er, ec = np.nonzero(sub)
    n_rows, n_cols = sub.shape
    if sub.all():
        return Block(dst, src, rows, cols, None, "dense", er, ec, er * n_cols + ec)
    degree = sub.sum(axis=1)
    width = max(int(degree.max()), 1)
    if sparse is None:
        sparse = (
            sub.size >= SPARSE_MIN_ENTRIES
            and er.size <= SPARSE_MAX_DENSITY * sub.size
            and n_rows * width <= 2 * SPARSE_MAX_DENSITY * sub.size
        )
    if not sparse:
        return Block(dst, src, rows, cols, sub.astype(float), "masked", er, ec, er * n_cols + ec)
    # ELLPACK: row i keeps its edges in columns order in positions 0..degree_i - 1
    pos = np.arange(er.size) - np.repeat(np.cumsum(degree) - degree, degree)
    index = np.zeros((n_rows, width), dtype=np.intp)
    valid = np.zeros((n_rows, width))
    index[er, pos] = ec
    valid[er, pos] = 1.0
    # the transposed pattern: for source column j, the rows that read it and where
    t_degree = sub.sum(axis=0)
    t_width = max(int(t_degree.max()), 1)
    order = np.lexsort((er, ec))
    tc, tr, tp = ec[order], er[order], pos[order]
    t_pos = np.arange(tc.size) - np.repeat(np.cumsum(t_degree) - t_degree, t_degree)
    t_index = np.zeros((n_cols, t_width), dtype=np.intp)
    t_slot = np.zeros((n_cols, t_width), dtype=np.intp)
    t_valid = np.zeros((n_cols, t_width))
    t_index[tc, t_pos] = tr
    t_slot[tc, t_pos] = tr * width + tp
    t_valid[tc, t_pos] = 1.0
    slot = er * width + pos
    return Block(
        dst, src, rows, cols, None, "ell", er, ec, slot, index, valid, t_index, t_slot, t_valid
    )


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


def build_architecture(
    config: SystemConfig, rng: np.random.Generator, sparse: bool | None = None
) -> Architecture:
    """Wire all slots by the config's topology rule.

    Parameters
    ----------
    config : SystemConfig
    rng : numpy.random.Generator
        The run's graph stream (random topologies draw from it).
    sparse : bool, optional
        Layout of blocks that are not fully connected: True stores every one as ``ell``,
        False as ``masked``; None (default) stores a block as ``ell`` when it has at least
        :data:`SPARSE_MIN_ENTRIES` entries, at most :data:`SPARSE_MAX_DENSITY` of them are
        edges and the padded rows take at most twice that fraction.

    Examples
    --------
    >>> arch = build_architecture(SystemConfig(n_input=4, n_hidden=32, n_output=2),
    ...                           np.random.default_rng(0))
    >>> int(arch.adjacency.sum()), [b.layout for b in arch.blocks]
    (192, ['dense', 'dense'])
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
            blocks.append(_make_block(dst, src, slices[dst], slices[src], sub, sparse))
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
