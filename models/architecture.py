"""The wiring of a network over all its neuron slots, and its block structure.

Slots are ordered inputs, hidden (capacity ``n_hidden_max``), outputs. The wiring is a list of
edges ``edge_src[k] -> edge_dst[k]`` (neuron j feeds neuron i: y_i = sum_j w_ij x_j + b_i) in
row-major (target, source) order, with row pointers ``indptr`` (compressed sparse rows), so it
takes memory in proportion to the edges. The wiring covers every slot in capacity, so a hidden
neuron that is activated later is wired by the topology's rule already.

The edges are split into blocks between the three groups (input, hidden, output), and each
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

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from models.config import SystemConfig, load_graph

__all__ = [
    "DENSE_ADJACENCY_BYTES",
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


def _make_block(
    dst: str,
    src: str,
    rows: slice,
    cols: slice,
    er: np.ndarray,
    ec: np.ndarray,
    sparse: bool | None,
) -> Block:
    """The block with block-local edges ``(er, ec)`` (row-major, no repeats), in the layout
    ``sparse`` asks for."""
    n_rows, n_cols = rows.stop - rows.start, cols.stop - cols.start
    size = n_rows * n_cols
    if er.size == size:
        return Block(dst, src, rows, cols, None, "dense", er, ec, er * n_cols + ec)
    degree = np.bincount(er, minlength=n_rows)
    width = max(int(degree.max()), 1)
    if sparse is None:
        sparse = (
            size >= SPARSE_MIN_ENTRIES
            and er.size <= SPARSE_MAX_DENSITY * size
            and n_rows * width <= 2 * SPARSE_MAX_DENSITY * size
        )
    if not sparse:
        mask = np.zeros((n_rows, n_cols))
        mask[er, ec] = 1.0
        return Block(dst, src, rows, cols, mask, "masked", er, ec, er * n_cols + ec)
    # ELLPACK: row i keeps its edges in columns order in positions 0..degree_i - 1
    pos = np.arange(er.size) - np.repeat(np.cumsum(degree) - degree, degree)
    index = np.zeros((n_rows, width), dtype=np.intp)
    valid = np.zeros((n_rows, width))
    index[er, pos] = ec
    valid[er, pos] = 1.0
    # the transposed pattern: for source column j, the rows that read it and where
    t_degree = np.bincount(ec, minlength=n_cols)
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


#: largest ``n x n`` boolean matrix :meth:`Architecture.adjacency_matrix` assembles, in bytes
DENSE_ADJACENCY_BYTES = 2**26


@dataclass(frozen=True, eq=False)
class Architecture:
    """Wiring of one network (shared by all replicas), stored by edges.

    Attributes
    ----------
    n_input, n_hidden_max, n_output, n : int
    kinds : tuple of str
        Kind of each slot.
    labels : tuple
        Name of each slot (a user graph's node names, else the slot index).
    edge_dst, edge_src : ndarray of int, shape (E,)
        Target and source slot of every edge, in row-major (target, source) order.
    indptr : ndarray of int, shape (n + 1,)
        The edges into slot i are ``indptr[i]:indptr[i + 1]`` (compressed sparse rows).
    out_indptr, out_dst : ndarray of int
        The same edges by source: the targets of slot j are
        ``out_dst[out_indptr[j]:out_indptr[j + 1]]``, ascending (compressed sparse columns).
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
    edge_dst: np.ndarray
    edge_src: np.ndarray
    indptr: np.ndarray
    blocks: tuple[Block, ...]
    recurrent: bool
    out_indptr: np.ndarray = field(init=False, repr=False)
    out_dst: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        order = np.lexsort((self.edge_dst, self.edge_src))
        out_indptr = np.zeros(self.n + 1, dtype=np.intp)
        np.cumsum(np.bincount(self.edge_src, minlength=self.n), out=out_indptr[1:])
        object.__setattr__(self, "out_indptr", out_indptr)
        object.__setattr__(self, "out_dst", self.edge_dst[order])

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

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return int(self.edge_dst.size)

    def fan_in(self) -> np.ndarray:
        """Number of incoming edges of each slot.

        Examples
        --------
        >>> arch = build_architecture(SystemConfig(n_input=2, n_hidden=3, n_output=1),
        ...                           np.random.default_rng(0))
        >>> arch.fan_in().tolist()
        [0, 0, 2, 2, 2, 3]
        """
        return np.diff(self.indptr)

    def sources(self, slot: int) -> np.ndarray:
        """Slots that feed ``slot``, ascending.

        Examples
        --------
        >>> arch = build_architecture(SystemConfig(n_input=2, n_hidden=3, n_output=1),
        ...                           np.random.default_rng(0))
        >>> arch.sources(5).tolist(), arch.targets(0).tolist()
        ([2, 3, 4], [2, 3, 4])
        """
        return self.edge_src[self.indptr[slot] : self.indptr[slot + 1]]

    def targets(self, slot: int) -> np.ndarray:
        """Slots that ``slot`` feeds, ascending."""
        return self.out_dst[self.out_indptr[slot] : self.out_indptr[slot + 1]]

    def in_rows(self, slots: np.ndarray) -> np.ndarray:
        """Boolean ``(k, n)``: row ``a`` marks the sources of ``slots[a]``.

        Examples
        --------
        >>> arch = build_architecture(SystemConfig(n_input=2, n_hidden=3, n_output=1),
        ...                           np.random.default_rng(0))
        >>> arch.in_rows(np.array([5])).astype(int).tolist()
        [[0, 0, 1, 1, 1, 0]]
        """
        return self._rows(slots, self.indptr, self.edge_src)

    def _rows(self, slots, indptr: np.ndarray, other: np.ndarray) -> np.ndarray:
        """Boolean ``(k, n)`` rows marking ``other[indptr[s]:indptr[s + 1]]`` for each slot."""
        slots = np.atleast_1d(np.asarray(slots, dtype=np.intp))
        out = np.zeros((slots.size, self.n), dtype=bool)
        lo, hi = indptr[slots], indptr[slots + 1]
        count = hi - lo
        which = np.repeat(np.arange(slots.size), count)
        at = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
        out[which, other[at]] = True
        return out

    def out_rows(self, slots: np.ndarray) -> np.ndarray:
        """Boolean ``(k, n)``: row ``a`` marks the targets of ``slots[a]``.

        Examples
        --------
        >>> arch = build_architecture(SystemConfig(n_input=2, n_hidden=3, n_output=1),
        ...                           np.random.default_rng(0))
        >>> arch.out_rows(np.array([0, 2])).astype(int).tolist()
        [[0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 0, 1]]
        """
        return self._rows(slots, self.out_indptr, self.out_dst)

    def connects(self, dst: str, src: str) -> bool:
        """Whether any edge runs from group ``src`` into group ``dst``.

        Examples
        --------
        >>> arch = build_architecture(SystemConfig(), np.random.default_rng(0))
        >>> arch.connects("hidden", "input"), arch.connects("hidden", "hidden")
        (True, False)
        """
        return any(b.dst == dst and b.src == src for b in self.blocks)

    def adjacency_matrix(self) -> np.ndarray:
        """Dense boolean ``(n, n)`` adjacency, ``[i, j]`` True when j feeds i (small networks
        only: ValueError above :data:`DENSE_ADJACENCY_BYTES`).

        Examples
        --------
        >>> arch = build_architecture(SystemConfig(n_input=1, n_hidden=1, n_output=1),
        ...                           np.random.default_rng(0))
        >>> arch.adjacency_matrix().astype(int).tolist()
        [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
        """
        if self.n * self.n > DENSE_ADJACENCY_BYTES:
            raise ValueError(
                f"adjacency: a dense ({self.n}, {self.n}) matrix exceeds "
                f"{DENSE_ADJACENCY_BYTES / 2**20:g} MiB; read edge_dst, edge_src"
            )
        out = np.zeros((self.n, self.n), dtype=bool)
        out[self.edge_dst, self.edge_src] = True
        return out


def _full(rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
    """Global (dst, src) of every pair of a fully connected rectangle, row-major."""
    r = np.arange(rows.start, rows.stop)
    c = np.arange(cols.start, cols.stop)
    return np.repeat(r, c.size), np.tile(c, r.size)


def _pairs(sub: np.ndarray, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
    """Global (dst, src) of the True entries of a boolean sub-block, row-major."""
    er, ec = np.nonzero(sub)
    return er + rows.start, ec + cols.start


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
    >>> arch.n_edges, [b.layout for b in arch.blocks]
    (192, ['dense', 'dense'])
    """
    n_in, n_h, n_out = config.n_input, config.n_hidden_max, config.n_output
    n = n_in + n_h + n_out
    inp = slice(0, n_in)
    hid = slice(n_in, n_in + n_h)
    out = slice(n_in + n_h, n)
    labels: list = list(range(n))
    topo = config.topology
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    if isinstance(topo, str) and topo == "layered":
        if n_h:
            parts += [_full(hid, inp), _full(out, hid)]
        else:
            parts.append(_full(out, inp))
    elif isinstance(topo, str) and topo == "recurrent":
        p = config.connectivity
        ih = rng.random((n_h, n_in)) < p
        hh = rng.random((n_h, n_h)) < p
        np.fill_diagonal(hh, False)
        oh = rng.random((n_out, n_h)) < p
        # every hidden neuron hears an input, every output hears a hidden neuron
        for i in range(n_h):
            if not ih[i].any():
                ih[i, rng.integers(n_in)] = True
        for o in range(n_out):
            if not oh[o].any():
                oh[o, rng.integers(n_h)] = True
        parts += [_pairs(ih, hid, inp), _pairs(hh, hid, hid), _pairs(oh, out, hid)]
        del hh
    elif isinstance(topo, str) and topo == "small_world":
        ws = nx.watts_strogatz_graph(
            n_h, config.small_world_k, config.small_world_p, seed=int(rng.integers(2**31))
        )
        uv = np.array(list(ws.edges()), dtype=np.intp).reshape(-1, 2) + n_in
        parts += [
            (uv[:, 0], uv[:, 1]),
            (uv[:, 1], uv[:, 0]),
            _full(hid, inp),
            _full(out, hid),
        ]
    else:
        graph = topo if isinstance(topo, nx.DiGraph) else load_graph(topo)
        order = {
            k: sorted((nd for nd, kd in graph.nodes(data="kind") if kd == k), key=str)
            for k in GROUPS
        }
        names = order["input"] + order["hidden"] + order["output"]
        index = {name: i for i, name in enumerate(names)}
        labels = names
        uv = np.array(
            [(index[v], index[u]) for u, v in graph.edges() if u != v], dtype=np.intp
        ).reshape(-1, 2)
        parts.append((uv[:, 0], uv[:, 1]))
    dst = np.concatenate([d for d, _ in parts]) if parts else np.zeros(0, np.intp)
    src = np.concatenate([s for _, s in parts]) if parts else np.zeros(0, np.intp)
    # row-major order, each edge once
    key = np.unique(dst.astype(np.int64) * n + src)
    edge_dst, edge_src = (key // n).astype(np.intp), (key % n).astype(np.intp)
    indptr = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(np.bincount(edge_dst, minlength=n), out=indptr[1:])
    kinds = ("input",) * n_in + ("hidden",) * n_h + ("output",) * n_out
    slices = {"input": inp, "hidden": hid, "output": out}
    blocks = []
    for g_dst in ("hidden", "output"):
        rows = slices[g_dst]
        lo, hi = indptr[rows.start], indptr[rows.stop]
        for g_src in GROUPS:
            cols = slices[g_src]
            s = edge_src[lo:hi]
            sel = np.nonzero((s >= cols.start) & (s < cols.stop))[0]
            if (rows.stop - rows.start) * (cols.stop - cols.start) == 0 or not sel.size:
                continue
            er = edge_dst[lo:hi][sel] - rows.start
            ec = s[sel] - cols.start
            blocks.append(_make_block(g_dst, g_src, rows, cols, er, ec, sparse))
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
        edge_dst=edge_dst,
        edge_src=edge_src,
        indptr=indptr,
        blocks=tuple(blocks),
        recurrent=recurrent,
    )
