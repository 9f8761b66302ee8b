"""The vectorised replica ensemble: states, weights, relaxation, local gradients, SGD.

Arrays (R replicas, M samples per mini-batch, n neuron slots):

- states: one ``(R, n_g, M)`` array per neuron group (see :class:`State`); each replica has
  its own mini-batch.
- weights: one array per block of the architecture (``weight_blocks[k]`` of shape
  ``(R,) + arch.blocks[k].shape``), so memory is O(R x edges) and every product costs
  O(R x M x edges). ``w`` is a read-only dense ``(R, n, n)`` copy for small networks,
  ``w[r, i, j]`` from neuron j to neuron i, zero off the edges; the setters
  (:meth:`Ensemble.set_w`, :meth:`Ensemble.set_edges`, :meth:`Ensemble.set_parameter_vector`,
  :meth:`Ensemble.set_in_weights`) write the blocks.
- ``b[R, n]``: biases (zero on inputs, and everywhere when ``bias=False``).
- ``active[R, n]``: which slots are in use in each replica (the neuron count is per replica).

Loss (docs/physics.md#learning-system): H(x, q) = 1/2 sum_i e_i^2 over active non-input neurons,
with e = x - f(w x + b). The fast variables relax by descent on H with the boundary clamped, and
the slow variables follow the local gradient at the relaxed state:
dH/dw_ij = -e_i f'(y_i) x_j, dH/db_i = -e_i f'(y_i).

Every operation covers all replicas at once; the products run block by block over the
architecture's groups (batched GEMMs on dense and masked blocks, gathers on sparse ones), so
layered networks do no work on masked zeros.
"""

from __future__ import annotations

import sys

import numpy as np

from models.activations import activation_into
from models.architecture import Architecture, Block
from models.blas import one_blas_thread, set_blas_threads
from models.config import SystemConfig

__all__ = [
    "DENSE_INIT_DRAWS",
    "DENSE_VIEW_BYTES",
    "FUSE_CHUNK_ELEMS",
    "RELAX_CHUNK_BYTES",
    "Ensemble",
    "State",
]

#: initial weights are drawn for all R x n x n slot pairs (in slot order) up to this many draws,
#: and edge by edge (block by block) in larger networks
DENSE_INIT_DRAWS = 2**26
#: working set (bytes) of one piece of a relaxation: replicas (and, in wide networks, samples)
#: relax piece by piece so that each piece's states stay in cache through all the steps
RELAX_CHUNK_BYTES = 2**22
#: largest dense ``(R, n, n)`` copy :attr:`Ensemble.w` assembles, in bytes
DENSE_VIEW_BYTES = 2**30
#: entries per chunk of the fused relaxation steps (:meth:`Ensemble._relax_fused`): a chunk's
#: states, activations and scratch stay in a core's own cache
FUSE_CHUNK_ELEMS = 2**16


def _converged(drop: np.ndarray, last_drop: np.ndarray | None, tol: float) -> bool:
    """Whether every replica's H is within ``tol`` of its limit, from the last decreases.

    Descent contracts geometrically, so the remaining decrease is about d_k rho / (1 - rho),
    rho = d_k / d_(k-1) (Aitken; rho clipped to [0, 0.99]); after one step (no ``last_drop``)
    the test is d_1 <= tol / 10.
    """
    if last_drop is None:
        return bool(np.max(drop) <= 0.1 * tol)
    rho = np.clip(drop / np.where(last_drop > 0, last_drop, np.inf), 0.0, 0.99)
    return bool(np.max(drop * rho / (1.0 - rho)) <= tol)


def _product(a: np.ndarray, b: np.ndarray, out: np.ndarray, plus_zero: bool = True) -> None:
    """``out = a @ b`` (batched); a rank-one product (one inner index) as a broadcast multiply
    whose zeros are made +0 the way a BLAS product makes them (+0 + a b), so the two forms
    agree bit for bit. ``plus_zero=False`` skips that addition (a -0 product stays -0): for
    callers whose results cannot tell -0 from +0 in this operand."""
    if a.shape[-1] == 1:
        np.multiply(a, b, out=out)
        if plus_zero:
            out += 0.0
    else:
        np.matmul(a, b, out=out)


def _has_negative_zero(a: np.ndarray) -> bool:
    """Whether any entry of ``a`` is -0."""
    return bool(np.any(np.signbit(a) & (a == 0)))


class State:
    """Relaxed states of one batch and the quantities derived from them.

    Storage is one contiguous ``(R, n_group, M)`` array per neuron group (input, hidden, output)
    so that every elementwise operation runs on contiguous memory. The ``(R, M, n)``
    attributes ``x, fy, dfy, e, delta`` assemble copies over all slots (inputs carry no
    error: their f, e, delta are 0). The pre-activations y = w x + b are not kept: they are
    computed into ``FY`` and activated in place.

    Attributes
    ----------
    X : dict of str to ndarray
        States per group, ``X[g]`` of shape (R, n_g, M).
    FY, DFY, E, D : dict of str to ndarray
        f(y), f'(y), errors and delta = e f'(y) of the hidden and output groups. A state
        relaxed piece by piece (wide batches) does not keep ``FY`` and ``DFY``: they follow
        from the states and are recomputed on first access.
    steps_done : int
        Descent steps the relaxation took (fewer than asked when it stopped at its tolerance).
    """

    def __init__(
        self,
        sizes: dict[str, int],
        replicas: int,
        batch: int,
        dtype: np.dtype,
        activations: bool = True,
        buffers: dict[str, dict[str, np.ndarray]] | None = None,
    ) -> None:
        self.sizes = sizes
        if buffers is not None:  # arrays of the right shapes that nothing else holds
            self.X, self.E, self.D = ({**buffers[part]} for part in ("X", "E", "D"))
            self._fy = {**buffers["_fy"]} if activations else None
            self._dfy = {**buffers["_dfy"]} if activations else None
            self._refill = None
            self.steps_done = 0
            return
        self.X = {g: np.empty((replicas, k, batch), dtype=dtype) for g, k in sizes.items()}
        bulk = {g: k for g, k in sizes.items() if g != "input"}
        self.E = {g: np.empty((replicas, k, batch), dtype=dtype) for g, k in bulk.items()}
        self.D = {g: np.empty_like(a) for g, a in self.E.items()}
        self._fy = {g: np.empty_like(a) for g, a in self.E.items()} if activations else None
        self._dfy = {g: np.empty_like(a) for g, a in self.E.items()} if activations else None
        self._refill = None  # how to recompute f(y), f'(y) when they were not kept
        self.steps_done = 0

    @property
    def FY(self) -> dict[str, np.ndarray]:
        """f(y) per bulk group (recomputed from the states if it was not kept)."""
        if self._fy is None and self._refill is not None:
            self._refill(self)
        return self._fy

    @FY.setter
    def FY(self, value: dict[str, np.ndarray] | None) -> None:
        self._fy = value

    @property
    def DFY(self) -> dict[str, np.ndarray]:
        """f'(y) per bulk group (recomputed from the states if it was not kept)."""
        if self._dfy is None and self._refill is not None:
            self._refill(self)
        return self._dfy

    @DFY.setter
    def DFY(self, value: dict[str, np.ndarray] | None) -> None:
        self._dfy = value

    def _full(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        ref = self.X["input"]
        blocks = [
            parts[g] if g in parts else np.zeros((ref.shape[0], k, ref.shape[2]), ref.dtype)
            for g, k in self.sizes.items()
        ]
        return np.concatenate(blocks, axis=1).transpose(0, 2, 1)

    x = property(lambda self: self._full(self.X))
    fy = property(lambda self: self._full(self.FY))
    dfy = property(lambda self: self._full(self.DFY))
    e = property(lambda self: self._full(self.E))
    delta = property(lambda self: self._full(self.D))

    def set_x(self, x: np.ndarray) -> None:
        """Overwrite all states from an ``(R, M, n)`` array (derived arrays are not updated)."""
        start = 0
        for g, k in self.sizes.items():
            self.X[g][...] = x[:, :, start : start + k].transpose(0, 2, 1)
            start += k

    def view(self, replicas: slice) -> State:
        """A State whose arrays are views of these arrays' ``[replicas]``."""
        out = State.__new__(State)
        out.sizes = self.sizes
        out._refill = None
        for part in ("X", "_fy", "_dfy", "E", "D"):
            arrays = getattr(self, part)
            views = None if arrays is None else {g: a[replicas] for g, a in arrays.items()}
            setattr(out, part, views)
        out.steps_done = self.steps_done
        return out

    def copy(self) -> State:
        """An independent copy (every array copied)."""
        out = State.__new__(State)
        out.sizes = self.sizes
        out._refill = self._refill
        for part in ("X", "_fy", "_dfy", "E", "D"):
            arrays = getattr(self, part)
            setattr(out, part, None if arrays is None else {g: a.copy() for g, a in arrays.items()})
        out.steps_done = self.steps_done
        return out

    def batch_mean(self) -> np.ndarray:
        """Batch-mean state of every slot, shape (R, n)."""
        return np.concatenate([self.X[g].mean(axis=2) for g in self.sizes], axis=1)

    def energy(self) -> np.ndarray:
        """H per (replica, sample): 1/2 sum_i e_i^2, shape (R, M)."""
        return 0.5 * sum(np.einsum("rim,rim->rm", e, e) for e in self.E.values())


class _Part:
    """Views of an ensemble's per-replica parameter arrays for a range of replicas."""

    __slots__ = ("act", "b", "drive", "wb")

    def __init__(self, ens: Ensemble, rs: slice) -> None:
        self.wb = [w[rs] for w in ens._wb]
        self.b = ens.b[rs]
        self.drive = ens.drive[rs]
        self.act = ens.act[rs]


class Ensemble:
    """R replicas of one network as stacked arrays.

    Parameters
    ----------
    config : SystemConfig
    arch : Architecture
    rng : numpy.random.Generator
        The initialisation stream. Weights of every slot are drawn once: for all R x n x n slot
        pairs in slot order when that is at most :data:`DENSE_INIT_DRAWS` draws, else for the
        edges only, block by block (the layout of larger networks).

    Examples
    --------
    >>> from models.architecture import build_architecture
    >>> cfg = SystemConfig(replicas=4, n_hidden=3)
    >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
    ...                np.random.default_rng(1))
    >>> ens.w.shape, ens.n_active().tolist(), [w.shape for w in ens.weight_blocks]
    ((4, 6, 6), [6, 6, 6, 6], [(4, 3, 2), (4, 1, 3)])
    """

    def __init__(self, config: SystemConfig, arch: Architecture, rng: np.random.Generator) -> None:
        self.config = config
        self.arch = arch
        if config.blas_threads is not None:  # a run setting: fixed when the model is built
            set_blas_threads(config.blas_threads)
        self.dtype = np.dtype(config.dtype)
        R, n = config.replicas, arch.n
        self.replicas = R
        self.n = n
        self.slices = {g: arch.group(g) for g in ("input", "hidden", "output")}
        self.sizes = {g: sl.stop - sl.start for g, sl in self.slices.items()}
        self.fns = {
            "hidden": activation_into(config.activation),
            "output": activation_into(config.output_activation),
        }
        self.bias_mask = np.zeros(n, dtype=self.dtype)
        if config.bias:
            self.bias_mask[arch.n_input :] = 1.0
        fan = np.maximum(arch.fan_in(), 1)
        self._init_std = (config.init_scale / np.sqrt(fan)).astype(self.dtype)
        self.b = np.zeros((R, n), dtype=self.dtype)
        self.active = np.zeros((R, n), dtype=bool)
        self.active[:, self.slices["input"]] = True
        self.active[:, self.slices["output"]] = True
        h0 = arch.n_input
        self.active[:, h0 : h0 + config.n_hidden] = True
        self._refresh_mask()
        self._index_edges()
        self._wb = [np.zeros((R, *blk.shape), dtype=self.dtype) for blk in arch.blocks]
        if R * n * n <= DENSE_INIT_DRAWS:
            self._draw_dense(rng)
        else:
            self._draw_edges(rng)
        # external, non-trainable drive added to pre-activations (injected packets)
        self.drive = np.zeros((R, n), dtype=self.dtype)
        self.drive_on = False
        self.momentum = config.momentum
        self._spare = None  # (key, arrays) of the last State made by _new_state
        self._fuse = True  # chunked forms of the layered relaxation (False: step by step)
        self._vwb = [np.zeros_like(w) for w in self._wb] if self.momentum else None
        self.vb = np.zeros_like(self.b) if self.momentum else None

    def __getstate__(self) -> dict:
        """Pickled state: everything but the spare State arrays (see :meth:`_new_state`)."""
        state = self.__dict__.copy()
        state["_spare"] = None
        return state

    # ------------------------------------------------------------------ weight storage
    def _index_edges(self) -> None:
        """Edge bookkeeping: the parameter order and where each edge is stored."""
        arch, n = self.arch, self.n
        self.param_rows, self.param_cols = arch.edge_dst, arch.edge_src
        self.bias_index = np.nonzero(self.bias_mask)[0]
        keys = self.param_rows * n + self.param_cols
        self._edge_pos = []  # per block: position of each of its edges in the parameter vector
        for blk in arch.blocks:
            key = (blk.rows.start + blk.edge_rows) * n + (blk.cols.start + blk.edge_cols)
            self._edge_pos.append(np.searchsorted(keys, key))
        order = np.concatenate(self._edge_pos) if self._edge_pos else np.zeros(0, dtype=int)
        self._param_order = None if np.array_equal(order, np.arange(order.size)) else order
        self._block_of = {}  # (dst group, src group) -> block index
        for k, blk in enumerate(arch.blocks):
            self._block_of[(blk.dst, blk.src)] = k

    def _draw_dense(self, rng: np.random.Generator) -> None:
        """Initial weights from R x n x n standard normals drawn in slot order (small networks).

        Each entry is ``(z * std_i) * edge_ij * (active_ri * active_rj)`` (``edge_ij`` 1 when j
        feeds i, else 0), computed in chunks of rows so no ``(R, n, n)`` array is formed.
        """
        n, std, dt = self.n, self._init_std, self.dtype
        chunk = max(1, 2**20 // n)
        for r in range(self.replicas):
            a = self.act[r]
            for i0 in range(0, n, chunk):
                i1 = min(n, i0 + chunk)
                z = rng.standard_normal((i1 - i0, n)).astype(dt) * std[i0:i1, None]
                z *= self.arch.in_rows(np.arange(i0, i1)).astype(dt)
                z *= a[i0:i1, None] * a[None, :]
                for blk, w in zip(self.arch.blocks, self._wb, strict=True):
                    lo, hi = max(i0, blk.rows.start), min(i1, blk.rows.stop)
                    if lo >= hi:
                        continue
                    part = z[lo - i0 : hi - i0, blk.cols]
                    if blk.layout == "ell":
                        w[r, lo - blk.rows.start : hi - blk.rows.start] = np.take_along_axis(
                            part, blk.index[lo - blk.rows.start : hi - blk.rows.start], axis=1
                        ) * blk.valid[lo - blk.rows.start : hi - blk.rows.start].astype(dt)
                    else:
                        w[r, lo - blk.rows.start : hi - blk.rows.start] = part

    def _draw_edges(self, rng: np.random.Generator) -> None:
        """Initial weights drawn for the edges only, block by block, replica-major."""
        std, dt = self._init_std, self.dtype
        for blk, w in zip(self.arch.blocks, self._wb, strict=True):
            rows = blk.rows.start + blk.edge_rows
            cols = blk.cols.start + blk.edge_cols
            flat = w.reshape(self.replicas, -1)
            for r in range(self.replicas):
                z = rng.standard_normal(blk.n_edges).astype(dt) * std[rows]
                z *= self.act[r, rows] * self.act[r, cols]
                flat[r, blk.edge_slot] = z

    @property
    def weight_blocks(self) -> tuple[np.ndarray, ...]:
        """The stored weights, one read-only array ``(R,) + arch.blocks[k].shape`` per block.

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=2)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> [(b.layout, w.shape) for b, w in zip(ens.arch.blocks, ens.weight_blocks)]
        [('dense', (2, 2, 2)), ('dense', (2, 1, 2))]
        """
        out = []
        for w in self._wb:
            view = w.view()
            view.flags.writeable = False
            out.append(view)
        return tuple(out)

    def _dense(self, blocks: list[np.ndarray]) -> np.ndarray:
        if self.replicas * self.n * self.n * self.dtype.itemsize > DENSE_VIEW_BYTES:
            raise ValueError(
                f"w: a dense ({self.replicas}, {self.n}, {self.n}) copy exceeds "
                f"{DENSE_VIEW_BYTES / 2**30:g} GiB; read weight_blocks or parameter_vector()"
            )
        full = np.zeros((self.replicas, self.n, self.n), dtype=self.dtype)
        for blk, w in zip(self.arch.blocks, blocks, strict=True):
            if blk.layout == "ell":
                sub = np.zeros((self.replicas, blk.n_rows, blk.n_cols), dtype=self.dtype)
                sub[:, blk.edge_rows, blk.edge_cols] = w.reshape(self.replicas, -1)[
                    :, blk.edge_slot
                ]
                full[:, blk.rows, blk.cols] = sub
            else:
                full[:, blk.rows, blk.cols] = w
        return full

    def _store_dense(self, blocks: list[np.ndarray], full: np.ndarray) -> None:
        full = np.asarray(full, dtype=self.dtype)
        if full.shape != (self.replicas, self.n, self.n):
            raise ValueError(f"w: shape {full.shape}; expected {(self.replicas, self.n, self.n)}")
        for blk, w in zip(self.arch.blocks, blocks, strict=True):
            if blk.layout == "ell":
                sub = full[:, blk.rows, blk.cols]
                flat = w.reshape(self.replicas, -1)
                flat[:, blk.edge_slot] = sub[:, blk.edge_rows, blk.edge_cols]
            else:
                w[...] = full[:, blk.rows, blk.cols]

    @property
    def w(self) -> np.ndarray:
        """Read-only dense ``(R, n, n)`` copy of the weights (small networks only; ValueError
        above :data:`DENSE_VIEW_BYTES`). Write through :meth:`set_w`, :meth:`set_edges`,
        :meth:`set_parameter_vector` or :meth:`set_in_weights`."""
        out = self._dense(self._wb)
        out.flags.writeable = False
        return out

    @property
    def vw(self) -> np.ndarray | None:
        """Read-only dense ``(R, n, n)`` copy of the heavy-ball velocities (None without
        momentum); :meth:`reset_momentum` zeroes them."""
        if self._vwb is None:
            return None
        out = self._dense(self._vwb)
        out.flags.writeable = False
        return out

    def set_w(self, w: np.ndarray) -> None:
        """Overwrite all weights from a dense ``(R, n, n)`` array.

        Entries of dense and masked blocks are copied as given (the mask applies in the
        gradients), entries off the edges of sparse blocks and outside every block are ignored.

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=2)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> w = ens.w.copy(); w[1] *= 2.0; ens.set_w(w)
        >>> bool(np.array_equal(ens.w, w))
        True
        """
        self._store_dense(self._wb, w)

    def set_edges(self, dst: np.ndarray, src: np.ndarray, values: np.ndarray) -> None:
        """Set the weights of edges ``src[k] -> dst[k]`` in every replica to ``values[:, k]``.

        Parameters
        ----------
        dst, src : array_like of int
            Target and source slots; every pair must be an edge of the architecture.
        values : array_like, shape (R, k) or (k,)

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_input=1, n_hidden=1, n_output=1)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> ens.set_edges([1, 2], [0, 1], [[0.5, -1.0], [0.25, 2.0]])
        >>> ens.w[:, 2, 1].tolist()
        [-1.0, 2.0]
        """
        dst = np.atleast_1d(np.asarray(dst, dtype=np.intp))
        src = np.atleast_1d(np.asarray(src, dtype=np.intp))
        values = np.broadcast_to(np.asarray(values, dtype=self.dtype), (self.replicas, dst.size))
        pos = self._param_positions(dst, src)
        theta = self.parameter_vector()
        theta[:, pos] = values
        self._store_vector(self._wb, theta[:, : self.param_rows.size])

    def _param_positions(self, dst: np.ndarray, src: np.ndarray) -> np.ndarray:
        keys = self.param_rows * self.n + self.param_cols
        key = dst * self.n + src
        pos = np.minimum(np.searchsorted(keys, key), max(keys.size - 1, 0))
        bad = (keys.size == 0) | (keys[pos] != key) if keys.size else np.ones(key.size, bool)
        if np.any(bad):
            pairs = [(int(s), int(d)) for s, d in zip(src[bad], dst[bad], strict=True)]
            raise ValueError(f"edges (src, dst): {pairs[:5]}; not edges of the architecture")
        return pos

    def _store_vector(self, blocks: list[np.ndarray], theta_w: np.ndarray) -> None:
        for blk, w, pos in zip(self.arch.blocks, blocks, self._edge_pos, strict=True):
            flat = w.reshape(self.replicas, -1)
            flat[:, blk.edge_slot] = theta_w[:, pos]

    def set_parameter_vector(self, theta: np.ndarray) -> None:
        """Overwrite weights and biases from ``(R, P)`` in the order of :meth:`parameter_vector`.

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=2)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> theta = ens.parameter_vector() + 1.0
        >>> ens.set_parameter_vector(theta)
        >>> bool(np.array_equal(ens.parameter_vector(), theta))
        True
        """
        theta = np.asarray(theta, dtype=self.dtype)
        n_w = self.param_rows.size
        expected = (self.replicas, n_w + self.bias_index.size)
        if theta.shape != expected:
            raise ValueError(f"theta: shape {theta.shape}; expected {expected}")
        self._store_vector(self._wb, theta[:, :n_w])
        self.b[:, self.bias_index] = theta[:, n_w:]

    def reset_momentum(self) -> None:
        """Zero the heavy-ball velocities (nothing without momentum).

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=2, momentum=0.5)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> ens.apply(*ens.gradients(ens.relax(np.ones((2, 3, 2)), np.ones((2, 3, 1)))), 0.1)
        >>> ens.reset_momentum(); float(np.abs(ens.velocity_vector()).max())
        0.0
        """
        if self._vwb is not None:
            for v in self._vwb:
                v[...] = 0.0
            self.vb[...] = 0.0

    def in_weights(self, slot: int) -> np.ndarray:
        """Incoming weights of ``slot`` in every replica, ``(R, n)`` (zero off the edges).

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=2)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> ens.in_weights(2).shape, bool(np.all(ens.in_weights(2)[:, 2:] == 0))
        ((2, 5), True)
        """
        r = np.arange(self.replicas)
        return self._get_rows(self._wb, r, np.full(self.replicas, int(slot)))

    def set_in_weights(self, slot: int, value: np.ndarray) -> None:
        """Set the incoming weights of ``slot`` from ``(R, n)`` (or ``(n,)``) values.

        Entries off the edges, from inactive neurons or into replicas where ``slot`` is
        inactive become zero.

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=2)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> ens.set_in_weights(2, np.ones(5)); ens.in_weights(2)[0].tolist()
        [1.0, 1.0, 0.0, 0.0, 0.0]
        """
        slot = int(slot)
        value = np.broadcast_to(np.asarray(value, dtype=self.dtype), (self.replicas, self.n))
        keep = self.arch.in_rows([slot])[0].astype(self.dtype) * self.act * self.act[:, [slot]]
        r = np.arange(self.replicas)
        self._set_rows(self._wb, r, np.full(self.replicas, slot), value * keep)

    def finite(self) -> np.ndarray:
        """Per replica: are all weights and biases finite, shape (R,).

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=2)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> ens.b[1, 3] = np.nan; ens.finite().tolist()
        [True, False]
        """
        ok = np.isfinite(self.b).all(axis=1)
        for w in self._wb:
            ok &= np.isfinite(w.reshape(self.replicas, -1)).all(axis=1)
        return ok

    def zero_replicas(self, replicas: np.ndarray) -> None:
        """Zero weights, biases, velocities and drive of ``replicas`` (index or mask).

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=2)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> ens.zero_replicas([1]); float(np.abs(ens.parameter_vector()[1]).max())
        0.0
        """
        arrays = [*self._wb, self.b, self.drive]
        if self._vwb is not None:
            arrays += [*self._vwb, self.vb]
        for arr in arrays:
            arr[replicas] = 0.0

    def nbytes(self) -> int:
        """Bytes held by the parameter arrays (weights, biases, velocities, drive, masks).

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=2)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> ens.nbytes() < 1000
        True
        """
        arrays = [*self._wb, self.b, self.drive, self.active, self.act]
        if self._vwb is not None:
            arrays += [*self._vwb, self.vb]
        return int(sum(a.nbytes for a in arrays))

    # ------------------------------------------------------------------ masks
    def _refresh_mask(self) -> None:
        self.act = self.active.astype(self.dtype)
        self.all_active = bool(self.active.all())

    def n_active(self) -> np.ndarray:
        """Active neurons per replica (boundary included), shape (R,)."""
        return self.active.sum(axis=1)

    def n_parameters(self) -> np.ndarray:
        """Active trainable parameters per replica, shape (R,)."""
        pair = np.zeros(self.replicas, dtype=self.dtype)
        act = self.act
        for blk in self.arch.blocks:
            a_dst, a_src = act[:, blk.rows], act[:, blk.cols]
            if blk.layout == "dense":
                pair += a_dst.sum(axis=1) * a_src.sum(axis=1)
            else:
                pair += np.einsum("re,re->r", a_dst[:, blk.edge_rows], a_src[:, blk.edge_cols])
        return pair + act @ self.bias_mask

    def edge_vector(self, blocks: list[np.ndarray], b: np.ndarray | None) -> np.ndarray:
        """Per-block arrays (weights, velocities or gradients) and a ``(R, n)`` bias-like array
        as one ``(R, P)`` vector in the order of :meth:`parameter_vector` (column-major, so
        products with it run the same BLAS path whatever the layout of the blocks).

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=2)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> gw, gb = ens.gradients(ens.relax(np.ones((2, 3, 2)), np.ones((2, 3, 1))))
        >>> ens.edge_vector(gw, gb).shape == ens.parameter_vector().shape
        True
        """
        n_w = self.param_rows.size
        n_b = self.bias_index.size if b is not None else 0
        out = np.empty((self.replicas, n_w + n_b), dtype=self.dtype, order="F")
        start = 0
        for blk, w, pos in zip(self.arch.blocks, blocks, self._edge_pos, strict=True):
            flat = w.reshape(self.replicas, -1)
            vals = flat if blk.layout == "dense" else flat[:, blk.edge_slot]
            if self._param_order is None:
                out[:, start : start + pos.size] = vals
            else:
                out[:, pos] = vals
            start += pos.size
        if n_b:
            out[:, n_w:] = b[:, self.bias_index]
        return out

    def velocity_vector(self) -> np.ndarray:
        """The heavy-ball velocities as ``(R, P)`` in the order of :meth:`parameter_vector`
        (zeros without momentum).

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=2)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> ens.velocity_vector().shape
        (2, 9)
        """
        if self._vwb is None:
            return np.zeros_like(self.parameter_vector())
        return self.edge_vector(self._vwb, self.vb)

    def parameter_vector(self) -> np.ndarray:
        """The zero-padded parameter vector of every replica, shape (R, P).

        Order: weights on the edges in row-major (target, source) order, then biases of
        non-input neurons (when ``bias``). Inactive slots contribute zeros.
        """
        return self.edge_vector(self._wb, self.b)

    def parameter_names(self) -> list[str]:
        """Names of the entries of :meth:`parameter_vector` (``w[i,j]``, ``b[i]``)."""
        names = [f"w[{i},{j}]" for i, j in zip(self.param_rows, self.param_cols, strict=True)]
        return names + [f"b[{i}]" for i in self.bias_index]

    # ------------------------------------------------------------------ block products
    def _gather_product(self, blk: Block, w: np.ndarray, xs: np.ndarray, out: np.ndarray) -> None:
        """out += (sparse block w) @ xs, one padded column of the block at a time."""
        buf = np.empty_like(out)
        for d in range(blk.index.shape[1]):
            np.take(xs, blk.index[:, d], axis=1, out=buf)
            buf *= w[:, :, d, None]
            out += buf

    def _transposed(self, blk: Block, w: np.ndarray) -> np.ndarray:
        """The transposed sparse block's weights, ``(R, cols, t_width)``."""
        return w.reshape(w.shape[0], -1)[:, blk.t_slot] * blk.t_valid.astype(w.dtype)

    # ------------------------------------------------------------------ states
    def _part(self, rs: slice | None = None) -> _Part:
        """Views of the per-replica parameter arrays of replicas ``rs`` (all when None)."""
        return _Part(self, slice(None) if rs is None else rs)

    def _preactivation(self, st: State, group: str, p: _Part | None = None) -> None:
        """y = b + sum over blocks into group of w_block @ X[src], into ``FY[group]``."""
        p = self._part() if p is None else p
        target = st.FY[group]
        first = True
        for blk, w in zip(self.arch.blocks, p.wb, strict=True):
            if blk.dst != group:
                continue
            if blk.layout == "ell":
                if first:
                    target[...] = 0.0
                    first = False
                self._gather_product(blk, w, st.X[blk.src], target)
            elif first:
                np.matmul(w, st.X[blk.src], out=target)
                first = False
            else:
                target += np.matmul(w, st.X[blk.src])
        if first:
            target[...] = 0.0
        if self.config.bias:
            target += p.b[:, self.slices[group], None]
        if self.drive_on:
            target += p.drive[:, self.slices[group], None]

    def _activate_group(self, st: State, group: str) -> None:
        fy = st.FY[group]  # holds y: f(y) and f'(y) are computed in place
        self.fns[group](fy, fy, st.DFY[group])

    def _errors(self, st: State, group: str, p: _Part | None = None) -> None:
        e = st.E[group]
        np.subtract(st.X[group], st.FY[group], out=e)
        if not self.all_active:
            act = self.act if p is None else p.act
            e *= act[:, self.slices[group], None]
        np.multiply(e, st.DFY[group], out=st.D[group])

    def _evaluate(self, st: State, p: _Part | None = None, hidden_fixed: bool = False) -> None:
        """Pre-activations, activations and errors of the bulk groups; with ``hidden_fixed``
        the hidden pre-activations and activations are kept (their sources did not move)."""
        p = self._part() if p is None else p
        for g in self._bulk_groups:
            if hidden_fixed and g == "hidden":
                continue
            self._preactivation(st, g, p)
            self._activate_group(st, g)
        for g in self._bulk_groups:
            self._errors(st, g, p)

    @property
    def _bulk_groups(self) -> tuple[str, ...]:
        return tuple(g for g in ("hidden", "output") if self.sizes[g])

    def relax(
        self,
        inputs: np.ndarray,
        targets: np.ndarray | None,
        steps: int | None = None,
        rate: float | None = None,
        temperature: float | None = None,
        rng: np.random.Generator | None = None,
        start: dict[str, np.ndarray] | None = None,
        tol: float | None = None,
    ) -> State:
        """Relax the fast variables with the boundary clamped.

        Inputs are always clamped; outputs are clamped to ``targets`` when given (learning),
        free otherwise. Bulk neurons start from a forward sweep x <- f(w x + b), or from
        ``start`` (a warm start), and descend H for ``steps`` steps at ``rate`` (Langevin at
        ``temperature`` when > 0), or until converged within ``tol``.

        Parameters
        ----------
        inputs : ndarray, shape (R, M, n_input)
        targets : ndarray, shape (R, M, n_output), or None
        steps, rate, temperature : optional
            Default to the config's ``relax_steps``, ``relax_rate``, ``neuron_temperature``.
        rng : numpy.random.Generator, optional
            Needed when the temperature is positive.
        start : dict of str to ndarray, optional
            Warm start: initial states ``(R, n_g, M)`` of bulk groups (``"hidden"``, and
            ``"output"`` when free), replacing the forward sweep for those groups. NaN entries
            (e.g. a neuron switched on since the states were saved) start from f(w x + b)
            evaluated at the other starting states.
        tol : float, optional
            Stop early, at temperature 0, once every replica's sample-mean H is estimated to
            be within ``tol`` of its limit (``steps`` is then the cap). Descent contracts
            geometrically, so the remaining decrease is estimated from the last two decreases
            d_k, d_(k-1) as d_k rho / (1 - rho), rho = d_k / d_(k-1) (Aitken); after a single
            step the test is d_1 <= tol / 10.

        Returns
        -------
        State

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=3)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> rng = np.random.default_rng(2)
        >>> xin, y = rng.normal(size=(2, 5, 2)), rng.normal(size=(2, 5, 1))
        >>> cold = ens.relax(xin, y, steps=200, temperature=0.0)
        >>> warm = ens.relax(xin, y, temperature=0.0, start={"hidden": cold.X["hidden"]},
        ...                  tol=1e-12)
        >>> bool(np.allclose(warm.energy(), cold.energy(), atol=1e-10)), warm.steps_done
        (True, 1)
        """
        cfg = self.config
        steps = cfg.relax_steps if steps is None else steps
        rate = cfg.relax_rate if rate is None else rate
        temperature = cfg.neuron_temperature if temperature is None else temperature
        M = inputs.shape[-2]
        clamp_out = targets is not None
        bulk = [g for g in (("hidden",) if clamp_out else ("hidden", "output")) if self.sizes[g]]
        noise_scale = np.sqrt(2.0 * rate * temperature) if temperature > 0 else 0.0
        if noise_scale and rng is None and bulk and steps:
            raise ValueError("rng: None; a generator is needed when neuron_temperature > 0")
        pieces = self._pieces(M)
        # one pass over all replicas for warm starts, Langevin noise (one draw per step for the
        # whole ensemble) and the convergence test (over all replicas)
        whole = start is not None or bool(noise_scale) or tol is not None or len(pieces) == 1
        st = self._new_state(M, activations=whole)
        X = st.X
        X["input"][...] = np.swapaxes(inputs, -1, -2)
        if self.arch.recurrent:  # else the forward sweep sets every hidden state first
            X["hidden"][...] = 0.0
        if clamp_out:
            X["output"][...] = np.swapaxes(targets, -1, -2)
        else:
            X["output"][...] = 0.0
        if whole:
            self._relax_part(
                st, self._part(), bulk, clamp_out, steps, rate, noise_scale, rng, start, tol
            )
            return st
        # independent pieces of replicas, each relaxed while it sits in cache; f(y) and f'(y)
        # live in per-piece buffers and are recomputed from the states when asked for later
        # the pieces' products are small: BLAS threads would wait more than they share
        scratch = None
        with one_blas_thread():
            for rs in pieces:
                piece = st.view(rs)
                if scratch is None or scratch.FY["output"].shape[0] != rs.stop - rs.start:
                    scratch = State(self.sizes, rs.stop - rs.start, M, self.dtype)
                piece.FY, piece.DFY = scratch.FY, scratch.DFY
                self._relax_part(
                    piece, self._part(rs), bulk, clamp_out, steps, rate, 0.0, None, None, None
                )
        st.steps_done = piece.steps_done
        st._refill = self._fill_activations
        return st

    def _new_state(self, M: int, activations: bool) -> State:
        """A State of all replicas for a batch of M samples, on the arrays of an earlier
        State when nothing holds them any more (no page faults on fresh memory each step)."""
        key = (M, activations)
        spare = self._spare
        if spare is not None and spare[0] == key:
            # free to reuse when each array is referenced only by its spare dict, the loop
            # variable and getrefcount's own argument (a view elsewhere references it too)
            if all(sys.getrefcount(a) <= 3 for part in spare[1].values() for a in part.values()):
                return State(self.sizes, self.replicas, M, self.dtype, activations, spare[1])
        st = State(self.sizes, self.replicas, M, self.dtype, activations=activations)
        parts = ("X", "E", "D", "_fy", "_dfy") if activations else ("X", "E", "D")
        self._spare = (key, {part: {**getattr(st, part)} for part in parts})
        return st

    def _pieces(self, M: int) -> list[slice]:
        """Replica ranges whose relaxation working set is about :data:`RELAX_CHUNK_BYTES`
        (one replica when a replica alone exceeds it)."""
        R = self.replicas
        per_replica = sum(self.sizes.values()) * M * self.dtype.itemsize * 8
        rc = max(1, RELAX_CHUNK_BYTES // max(per_replica, 1))
        return [slice(r, min(r + rc, R)) for r in range(0, R, rc)]

    def _fill_activations(self, st: State) -> None:
        """Recompute f(y) and f'(y) of a state relaxed piece by piece (they were not kept)."""
        st._refill = None
        st.FY = {g: np.empty_like(a) for g, a in st.E.items()}
        st.DFY = {g: np.empty_like(a) for g, a in st.E.items()}
        for g in self._bulk_groups:
            self._preactivation(st, g)
            self._activate_group(st, g)

    def _relax_part(
        self,
        st: State,
        p: _Part,
        bulk: list[str],
        clamp_out: bool,
        steps: int,
        rate: float,
        noise_scale: float,
        rng: np.random.Generator | None,
        start: dict[str, np.ndarray] | None,
        tol: float | None,
    ) -> None:
        """Relax ``st`` (whose clamped states are set) with the parameters ``p``."""
        X = st.X
        # hidden pre-activations that read no moving state are computed once
        fixed = not any(blk.dst == "hidden" and blk.src in bulk for blk in self.arch.blocks)
        back_blocks = [blk for blk in self.arch.blocks if blk.src in bulk]
        fused = (
            self._fuse
            and fixed
            and steps > 0
            and start is None
            and not noise_scale
            and tol is None
            and bulk == ["hidden"]
            and len(back_blocks) == 1
            and back_blocks[0].layout != "ell"
        )
        if start is not None:
            self._warm_start(st, start, bulk)
            self._evaluate(st, p)
        else:
            self._forward_sweep(st, clamp_out, p)
            if fused:  # the hidden errors are formed inside the fused steps
                self._preactivation(st, "output", p)
                self._activate_group(st, "output")
                self._errors(st, "output", p)
            else:
                self._evaluate(st, p, hidden_fixed=fixed)
        if not bulk or steps == 0:
            return
        if fused:
            self._relax_fused(st, p, back_blocks[0], steps, rate)
            return
        # contiguous transposed weight blocks feeding back into the bulk, once per relaxation
        back = [
            (
                blk,
                self._transposed(blk, w)
                if blk.layout == "ell"
                else np.ascontiguousarray(w.transpose(0, 2, 1)),
            )
            for blk, w in zip(self.arch.blocks, p.wb, strict=True)
            if blk.src in bulk
        ]
        grads = {g: np.empty_like(X[g]) for g in bulk}
        acts = {g: p.act[:, self.slices[g], None] for g in bulk}
        watch = tol is not None and not noise_scale
        level = self._mean_energy(st) if watch else None
        last_drop = None
        for k in range(steps):
            for g in bulk:
                grads[g][...] = st.E[g]
            for blk, wt in back:
                if blk.layout == "ell":
                    self._gather_transposed(blk, wt, st.D[blk.dst], grads[blk.src])
                else:
                    grads[blk.src] -= np.matmul(wt, st.D[blk.dst])
            for g in bulk:
                grad = grads[g]
                grad *= rate
                X[g] -= grad
                if noise_scale:
                    X[g] += noise_scale * rng.standard_normal(grad.shape).astype(self.dtype)
                if not self.all_active:
                    X[g] *= acts[g]
            self._evaluate(st, p, hidden_fixed=fixed)
            st.steps_done = k + 1
            if watch:
                new_level = self._mean_energy(st)
                drop = level - new_level
                if _converged(drop, last_drop, tol):
                    break
                level, last_drop = new_level, drop

    def _relax_fused(self, st: State, p: _Part, blk: Block, steps: int, rate: float) -> None:
        """Descent steps of the hidden states with the outputs clamped, when hidden
        pre-activations read no moving state and the hidden errors reach the hidden states
        through the one non-sparse block ``blk`` (output <- hidden): layered networks.

        The elementwise chain of a step (e = x - f(y), g = e - W^T delta, x <- x - rate g)
        runs over row chunks of :data:`FUSE_CHUNK_ELEMS` entries, so each chunk's
        intermediates stay in cache and the states are read and written once per step. Every
        entry goes through the same operations, in the same order, as in the step-by-step
        form of :meth:`_relax_part`.
        """
        X, FY = st.X["hidden"], st.FY["hidden"]
        E, D, DFY = st.E["hidden"], st.D["hidden"], st.DFY["hidden"]
        w = p.wb[self.arch.blocks.index(blk)]
        wt = np.ascontiguousarray(w.transpose(0, 2, 1))
        R, n_h, M = X.shape
        act = None if self.all_active else p.act[:, self.slices["hidden"], None]
        rows = max(1, min(n_h, FUSE_CHUNK_ELEMS // max(R * M, 1)))
        chunks = [slice(i, min(i + rows, n_h)) for i in range(0, n_h, rows)]
        scratch = np.empty((R, rows, M), dtype=X.dtype)
        # W^T delta per chunk when rank-one (exact), else whole (see _forward_hidden_fused)
        per_chunk = wt.shape[-1] == 1
        # W^T delta only enters as e - W^T delta, and e - (-0) = e - (+0) unless e = -0. With
        # every slot active e = x - f is never -0: that needs x = -0 and f = +0, but x starts
        # as f and x - h is -0 only for x = -0. So the +0 of the rank-one product is skipped.
        plus_zero = act is not None
        back = np.empty((R, rows, M) if per_chunk else X.shape, dtype=X.dtype)
        d_out = st.D[blk.dst]
        for k in range(steps):
            last = k == steps - 1
            if not per_chunk:
                np.matmul(wt, d_out, out=back)
            for c in chunks:
                g = scratch[:, : c.stop - c.start]
                if per_chunk:
                    bc = back[:, : c.stop - c.start]
                    _product(wt[:, c], d_out, bc, plus_zero)  # rows c of W^T delta
                else:
                    bc = back[:, c]
                xc, fc = X[:, c], FY[:, c]
                np.subtract(xc, fc, out=g)  # the error e at the current states
                if act is not None:
                    g *= act[:, c]
                g -= bc
                g *= rate
                xc -= g
                if act is not None:
                    xc *= act[:, c]
                if last:
                    ec = E[:, c]
                    np.subtract(xc, fc, out=ec)
                    if act is not None:
                        ec *= act[:, c]
                    np.multiply(ec, DFY[:, c], out=D[:, c])
            self._preactivation(st, "output", p)
            self._activate_group(st, "output")
            self._errors(st, "output", p)
            st.steps_done = k + 1

    def _forward_sweep(self, st: State, clamp_out: bool, p: _Part | None = None) -> None:
        """Bulk states x <- f(w x + b), hidden then (when free) outputs, iterated
        ``forward_sweeps`` times in recurrent networks. Leaves FY, DFY of the swept groups
        as computed from the states before the last update (errors not computed)."""
        p = self._part() if p is None else p
        X = st.X
        act_h = p.act[:, self.slices["hidden"], None]
        sweeps = self.config.forward_sweeps if self.arch.recurrent else 1
        into_hidden = [blk for blk in self.arch.blocks if blk.dst == "hidden"]
        fused = (
            self._fuse
            and not self.arch.recurrent
            and all(blk.layout != "ell" for blk in into_hidden)
        )
        for _ in range(sweeps):
            if self.sizes["hidden"] > 0 and fused:
                self._forward_hidden_fused(st, p)
            elif self.sizes["hidden"] > 0:
                self._preactivation(st, "hidden", p)
                self._activate_group(st, "hidden")
                X["hidden"][...] = st.FY["hidden"]
                if not self.all_active:
                    X["hidden"] *= act_h
            if not clamp_out:
                self._preactivation(st, "output", p)
                self._activate_group(st, "output")
                X["output"][...] = st.FY["output"]

    def _forward_hidden_fused(self, st: State, p: _Part) -> None:
        """Hidden states x <- f(w x + b) of a network whose hidden neurons read no moving
        state, over row chunks of :data:`FUSE_CHUNK_ELEMS` entries (the same operations per
        entry as :meth:`_preactivation`, the activation and the copy, each chunk in cache)."""
        X, FY, DFY = st.X["hidden"], st.FY["hidden"], st.DFY["hidden"]
        R, n_h, M = X.shape
        hid = self.slices["hidden"]
        act = None if self.all_active else p.act[:, hid, None]
        bias = p.b[:, hid, None] if self.config.bias else None
        drive = p.drive[:, hid, None] if self.drive_on else None
        into = [
            (blk, w) for blk, w in zip(self.arch.blocks, p.wb, strict=True) if blk.dst == "hidden"
        ]
        # a rank-one product runs per chunk (exact); other products run whole, as BLAS sums
        # a row of a product in an order that may depend on the rows it is given
        per_chunk = len(into) == 1 and into[0][1].shape[-1] == 1
        # (p + 0) + b = p + b unless p = b = -0: with biases and none of them -0, the +0 of the
        # rank-one product is skipped
        plus_zero = bias is None or _has_negative_zero(bias)
        if not per_chunk:
            for k, (blk, w) in enumerate(into):
                if k == 0:
                    np.matmul(w, st.X[blk.src], out=FY)
                else:
                    FY += np.matmul(w, st.X[blk.src])
            if not into:
                FY[...] = 0.0
        rows = max(1, min(n_h, FUSE_CHUNK_ELEMS // max(R * M, 1)))
        f = self.fns["hidden"]
        for i in range(0, n_h, rows):
            c = slice(i, min(i + rows, n_h))
            t = FY[:, c]
            if per_chunk:
                blk, w = into[0]
                _product(w[:, c], st.X[blk.src], t, plus_zero)
            if bias is not None:
                t += bias[:, c]
            if drive is not None:
                t += drive[:, c]
            f(t, t, DFY[:, c])
            xc = X[:, c]
            xc[...] = t
            if act is not None:
                xc *= act[:, c]

    def _evaluate_after_hidden_move(self, st: State) -> None:
        """Errors of hidden and (clamped) output neurons after the hidden states moved, where
        hidden pre-activations do not depend on hidden states (no hidden -> hidden edges)."""
        self._errors(st, "hidden")
        self._preactivation(st, "output")
        self._activate_group(st, "output")
        self._errors(st, "output")

    @property
    def newton_applicable(self) -> bool:
        """True when H is quadratic in the hidden states with the outputs clamped: linear
        outputs and no hidden -> hidden edges (see :meth:`minimize`)."""
        return (
            self.sizes["hidden"] > 0
            and self.config.output_activation == "linear"
            and not any(b.src == "hidden" and b.dst == "hidden" for b in self.arch.blocks)
        )

    def minimize(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        tol: float,
        steps: int = 500,
        start: dict[str, np.ndarray] | None = None,
        state: State | None = None,
    ) -> State:
        """States minimising H with inputs and outputs clamped (T_x = 0), within ``tol``.

        Without hidden -> hidden edges each hidden error e_h = x_h - f(y_h) is linear in the
        hidden states, and with linear outputs so is every output error e_k = y_k - W[k] x_h
        - c_k: H is quadratic, with Hessian A = I + W^T W (the same for every sample), and one
        Newton step x_h <- x_h - A^-1 grad H reaches its minimum. A^-1 is applied by Woodbury
        (one k x k inverse per replica, k = outputs); the hidden pre-activations do not move,
        so a step re-evaluates only the errors and the outputs. Other networks (nonlinear
        outputs, where the Gauss-Newton matrix misses curvature and converged slowly in a test,
        or hidden -> hidden edges) fall back to :meth:`relax` with the same tolerance. It stops
        before a step whose predicted decrease g^T A^-1 g / 2 is below ``tol / 10`` for every
        replica (a converged start costs no step), after a step whose decrease met that
        prediction within ``tol`` for every replica (the check that H was quadratic along it),
        or by the test of :meth:`relax`.

        Parameters
        ----------
        inputs : ndarray, shape (R, M, n_input)
        targets : ndarray, shape (R, M, n_output)
        tol : float
            Tolerance on the sample-mean H of every replica.
        steps : int
            Cap on the iterations.
        start : dict of str to ndarray, optional
            Warm start, as in :meth:`relax`.
        state : State, optional
            Continue from this evaluated state of ``inputs`` and ``targets`` (e.g. the
            learning step's relaxed batch): returned itself when already converged, else a
            copy is relaxed (``state`` is never modified).

        Returns
        -------
        State

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=3)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> rng = np.random.default_rng(2)
        >>> xin, y = rng.normal(size=(2, 5, 2)), rng.normal(size=(2, 5, 1))
        >>> slow = ens.relax(xin, y, steps=2000, temperature=0.0)
        >>> fast = ens.minimize(xin, y, tol=1e-12)
        >>> bool(np.allclose(fast.energy(), slow.energy(), atol=1e-12)), fast.steps_done
        (True, 1)
        """
        if not self.newton_applicable:
            if state is not None:
                start = {"hidden": state.X["hidden"]}
            return self.relax(inputs, targets, steps=steps, temperature=0.0, start=start, tol=tol)
        if state is not None:
            st = state
        elif start is not None:
            st = self.relax(inputs, targets, steps=0, temperature=0.0, start=start)
        else:  # the forward sweep, evaluated once (hidden states do not feed hidden neurons)
            st = State(self.sizes, self.replicas, inputs.shape[-2], self.dtype)
            st.X["input"][...] = np.swapaxes(inputs, -1, -2)
            st.X["output"][...] = np.swapaxes(targets, -1, -2)
            self._forward_sweep(st, clamp_out=True)
            self._evaluate_after_hidden_move(st)
        hid = self.slices["hidden"]
        W = np.zeros((self.replicas, self.sizes["output"], self.sizes["hidden"]), self.dtype)
        for k, blk in enumerate(self.arch.blocks):
            if blk.src == "hidden" and blk.dst == "output":
                W += self._block_rectangle(k, self._wb)
        Wt = np.ascontiguousarray(W.transpose(0, 2, 1))
        # the Hessian of H in the hidden states is A = I + W^T W, the same for every sample
        # (f' = 1 on outputs); by Woodbury A^-1 g = g - W^T (I + W W^T)^-1 W g, a k x k inverse
        small = np.matmul(W, Wt)
        small += np.eye(self.sizes["output"], dtype=self.dtype)
        small_inv = np.linalg.inv(small)
        acts = self.act[:, hid, None]
        X = st.X["hidden"]
        level = self._mean_energy(st)
        last_drop = None
        for k in range(steps):
            grad = st.E["hidden"] - np.matmul(Wt, st.D["output"])
            step = grad - np.matmul(Wt, np.matmul(small_inv, np.matmul(W, grad)))
            step *= acts
            # the quadratic model's decrease g^T A^-1 g / 2 (the gap itself when H is quadratic)
            predicted = np.einsum("rhm,rhm->r", grad, step) / (2 * X.shape[2])
            if np.max(predicted) <= 0.1 * tol:
                break
            if st is state:  # never modify the caller's state
                st = state.copy()
                X = st.X["hidden"]
            X -= step
            self._evaluate_after_hidden_move(st)
            new_level = self._mean_energy(st)
            st.steps_done = k + 1
            drop = level - new_level
            if np.max(np.abs(drop - predicted)) <= tol or _converged(drop, last_drop, tol):
                break
            level, last_drop = new_level, drop
        return st

    @staticmethod
    def _mean_energy(st: State) -> np.ndarray:
        """Sample-mean H per replica, shape (R,) (one reduction per group)."""
        M = st.X["input"].shape[2]
        return sum(np.einsum("rim,rim->r", e, e) for e in st.E.values()) / (2 * M)

    def _warm_start(self, st: State, start: dict[str, np.ndarray], bulk: list[str]) -> None:
        """Set the bulk states from ``start``; NaN entries become f(w x + b) at the others."""
        unset = {}
        for g in bulk:
            if g not in start:
                raise ValueError(f"start: no states for group {g!r}; expected keys {bulk}")
            value = np.asarray(start[g], dtype=self.dtype)
            if value.shape != st.X[g].shape:
                raise ValueError(
                    f"start[{g!r}]: shape {value.shape}; expected {st.X[g].shape} (R, n_g, M)"
                )
            missing = np.isnan(value)
            st.X[g][...] = np.where(missing, 0.0, value)
            if missing.any():
                unset[g] = missing
        for g, missing in unset.items():
            self._preactivation(st, g)
            self._activate_group(st, g)
            st.X[g][missing] = st.FY[g][missing]
        for g in bulk:
            if not self.all_active:
                st.X[g] *= self.act[:, self.slices[g], None]

    # ------------------------------------------------------------------ slow variables
    def gradients(self, st: State) -> tuple[list[np.ndarray], np.ndarray]:
        """Mini-batch mean of dH/dw (one array per block) and dH/db at fixed x.

        Returns
        -------
        gw : list of ndarray
            ``gw[k]`` has shape ``(R, rows, cols)`` of ``arch.blocks[k]``.
        gb : ndarray, shape (R, n)
        """
        M = st.X["input"].shape[2]
        gw = []
        for blk in self.arch.blocks:
            if blk.layout == "ell":
                g = np.empty((self.replicas, *blk.shape), dtype=self.dtype)
                d, xs = st.D[blk.dst], st.X[blk.src]
                for k in range(blk.index.shape[1]):
                    g[:, :, k] = np.einsum("rim,rim->ri", d, np.take(xs, blk.index[:, k], axis=1))
                g *= -1.0 / M
                g *= blk.valid
            elif min(blk.n_rows, blk.n_cols) == 1:  # a matrix-vector product per replica:
                with one_blas_thread():  # memory-bound, threads only wait for each other
                    g = np.matmul(st.D[blk.dst], st.X[blk.src].transpose(0, 2, 1))
                g *= -1.0 / M
                if blk.mask is not None:
                    g *= blk.mask
            else:
                g = np.matmul(st.D[blk.dst], st.X[blk.src].transpose(0, 2, 1))
                g *= -1.0 / M
                if blk.mask is not None:
                    g *= blk.mask
            gw.append(g)
        gb = np.zeros((self.replicas, self.n), dtype=self.dtype)
        if self.config.bias:
            for g in self._bulk_groups:
                gb[:, self.slices[g]] = -st.D[g].mean(axis=2)
        return gw, gb

    def dense_gradient(self, st: State) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`gradients` assembled into a dense ``(R, n, n)`` array (for checks)."""
        gw, gb = self.gradients(st)
        return self._dense(gw), gb

    def projected_gradient_covariance(self, st: State, projection: np.ndarray) -> np.ndarray:
        """Per-sample gradient covariance projected on the observed coordinates, (R, k, k).

        Sigma_q = U^T Sigma U with U the (P, k) projection of the parameter vector; computed
        from per-sample projected gradients without forming per-sample gradients. Unbiased
        (divides by M - 1); NaN for M = 1.
        """
        M = st.X["input"].shape[2]
        k = projection.shape[1]
        if M < 2:
            return np.full((self.replicas, k, k), np.nan)
        key = id(projection)
        if getattr(self, "_proj_key", None) != key:
            E = self.param_rows.size
            self._proj_blocks = []
            for blk, pos in zip(self.arch.blocks, self._edge_pos, strict=True):
                ub = np.zeros((*blk.shape, k), dtype=self.dtype)
                ub.reshape(-1, k)[blk.edge_slot] = projection[pos]
                self._proj_blocks.append(ub)
            bias = np.zeros((self.n, k), dtype=self.dtype)
            bias[self.bias_index] = projection[E:]
            self._proj_bias = {g: bias[self.slices[g]] for g in ("hidden", "output")}
            self._proj_key = key
        g = np.zeros((self.replicas, M, k), dtype=self.dtype)
        for blk, ub in zip(self.arch.blocks, self._proj_blocks, strict=True):
            if blk.layout == "ell":
                d, xs = st.D[blk.dst], st.X[blk.src]
                for c in range(blk.index.shape[1]):
                    dx = d * np.take(xs, blk.index[:, c], axis=1)
                    g -= np.einsum("rim,ik->rmk", dx, ub[:, c, :])
            else:
                g -= np.einsum("rim,ijk,rjm->rmk", st.D[blk.dst], ub, st.X[blk.src], optimize=True)
        if self.config.bias:
            for grp in self._bulk_groups:
                g -= np.einsum("rim,ik->rmk", st.D[grp], self._proj_bias[grp])
        g -= g.mean(axis=1, keepdims=True)
        return np.einsum("rmk,rml->rkl", g, g) / (M - 1)

    def gradient_noise(self, st: State, gw: list[np.ndarray], gb: np.ndarray) -> np.ndarray:
        """tr(Sigma): trace of the per-sample gradient covariance, per replica, shape (R,).

        Computed without forming per-sample gradients: for a block,
        |g_m|^2 = sum_ij mask_ij delta_mi^2 x_mj^2. Unbiased (divides by M - 1); NaN for M = 1.
        """
        M = st.X["input"].shape[2]
        if M < 2:
            return np.full(self.replicas, np.nan)
        d2 = {g: st.D[g] * st.D[g] for g in self._bulk_groups}
        x2 = {g: st.X[g] * st.X[g] for g in st.X}
        per_sample = np.zeros((self.replicas, M), dtype=self.dtype)
        for blk in self.arch.blocks:
            if blk.layout == "ell":
                for c in range(blk.index.shape[1]):
                    x2c = np.take(x2[blk.src], blk.index[:, c], axis=1)
                    valid = blk.valid[:, c].astype(self.dtype)
                    per_sample += np.einsum("rim,i,rim->rm", d2[blk.dst], valid, x2c)
            elif blk.mask is None:
                per_sample += d2[blk.dst].sum(1) * x2[blk.src].sum(1)
            else:
                per_sample += np.einsum("rim,ij,rjm->rm", d2[blk.dst], blk.mask, x2[blk.src])
        if self.config.bias:
            for g in self._bulk_groups:
                per_sample += d2[g].sum(1)
        mean_sq = sum(np.einsum("rij,rij->r", g, g) for g in gw) + np.einsum("ri,ri->r", gb, gb)
        return (per_sample.mean(axis=1) - mean_sq) * (M / (M - 1))

    def apply(self, gw: list[np.ndarray], gb: np.ndarray, step_size: float) -> None:
        """SGD (or heavy-ball when ``momentum > 0``) update of w and b."""
        if self.momentum:
            beta = self.momentum
            for w, v, g in zip(self._wb, self._vwb, gw, strict=True):
                v *= beta
                v -= step_size * g
                w += v
            self.vb *= beta
            self.vb -= step_size * gb
            self.b += self.vb
        else:
            for w, g in zip(self._wb, gw, strict=True):
                w -= step_size * g
            self.b -= step_size * gb

    def sgd_step(
        self,
        step_size: float,
        inputs: np.ndarray,
        targets: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> State:
        """Relax on the batch, then one SGD step; returns the relaxed state used.

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=3, batch_size=4)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> rng = np.random.default_rng(2)
        >>> st = ens.sgd_step(0.1, rng.normal(size=(2, 4, 2)), rng.normal(size=(2, 4, 1)))
        >>> st.x.shape
        (2, 4, 6)
        """
        st = self.relax(inputs, targets, rng=rng)
        gw, gb = self.gradients(st)
        self.apply(gw, gb, step_size)
        return st

    # ------------------------------------------------------------------ neuron count
    def _rows_of(self, blk: Block, replicas: np.ndarray, slots: np.ndarray):
        """The pairs whose slot is a target of ``blk``: their indices, replicas, local rows."""
        sel = np.nonzero((slots >= blk.rows.start) & (slots < blk.rows.stop))[0]
        return sel, replicas[sel], slots[sel] - blk.rows.start

    def _cols_of(self, blk: Block, replicas: np.ndarray, slots: np.ndarray):
        """The pairs whose slot is a source of ``blk``: their indices, replicas, local columns."""
        sel = np.nonzero((slots >= blk.cols.start) & (slots < blk.cols.stop))[0]
        return sel, replicas[sel], slots[sel] - blk.cols.start

    def _get_rows(self, blocks, replicas: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Weights into ``slots[k]`` of ``replicas[k]``, dense ``(k, n)``."""
        out = np.zeros((slots.size, self.n), dtype=self.dtype)
        for blk, w in zip(self.arch.blocks, blocks, strict=True):
            sel, rr, i = self._rows_of(blk, replicas, slots)
            if not sel.size:
                continue
            if blk.layout == "ell":
                kk, d = np.nonzero(blk.valid[i])
                out[sel[kk], blk.cols.start + blk.index[i[kk], d]] = w[rr[kk], i[kk], d]
            else:
                out[sel, blk.cols] = w[rr, i, :]
        return out

    def _set_rows(self, blocks, replicas: np.ndarray, slots: np.ndarray, values) -> None:
        """Write dense ``(k, n)`` rows into ``slots[k]`` of ``replicas[k]`` (block entries)."""
        for blk, w in zip(self.arch.blocks, blocks, strict=True):
            sel, rr, i = self._rows_of(blk, replicas, slots)
            if not sel.size:
                continue
            part = values[sel][:, blk.cols]
            if blk.layout == "ell":
                part = np.take_along_axis(part, blk.index[i], axis=1)
                w[rr, i, :] = np.where(blk.valid[i] > 0, part, 0.0)
            else:
                w[rr, i, :] = part

    def _get_cols(self, blocks, replicas: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Weights out of ``slots[k]`` of ``replicas[k]``, dense ``(k, n)``."""
        out = np.zeros((slots.size, self.n), dtype=self.dtype)
        for blk, w in zip(self.arch.blocks, blocks, strict=True):
            sel, rr, j = self._cols_of(blk, replicas, slots)
            if not sel.size:
                continue
            if blk.layout == "ell":
                kk, t = np.nonzero(blk.t_valid[j])
                flat = w.reshape(self.replicas, -1)
                out[sel[kk], blk.rows.start + blk.t_index[j[kk], t]] = flat[
                    rr[kk], blk.t_slot[j[kk], t]
                ]
            else:
                out[sel, blk.rows] = w[rr, :, j]
        return out

    def _set_cols(self, blocks, replicas: np.ndarray, slots: np.ndarray, values) -> None:
        """Write dense ``(k, n)`` columns out of ``slots[k]`` of ``replicas[k]``."""
        for blk, w in zip(self.arch.blocks, blocks, strict=True):
            sel, rr, j = self._cols_of(blk, replicas, slots)
            if not sel.size:
                continue
            if blk.layout == "ell":
                kk, t = np.nonzero(blk.t_valid[j])
                flat = w.reshape(self.replicas, -1)
                flat[rr[kk], blk.t_slot[j[kk], t]] = values[
                    sel[kk], blk.rows.start + blk.t_index[j[kk], t]
                ]
            else:
                w[rr, :, j] = values[sel][:, blk.rows]

    def _zero_self_loops(self, blocks, replicas: np.ndarray, slots: np.ndarray) -> None:
        k = self._block_of.get(("hidden", "hidden"))
        if k is not None and self.arch.blocks[k].layout != "ell":
            i = slots - self.slices["hidden"].start
            blocks[k][replicas, i, i] = 0.0

    def _block_rectangle(self, k: int, blocks) -> np.ndarray:
        """Block ``k`` of ``blocks`` as a dense ``(R, rows, cols)`` array."""
        blk, w = self.arch.blocks[k], blocks[k]
        if blk.layout != "ell":
            return w
        out = np.zeros((self.replicas, blk.n_rows, blk.n_cols), dtype=self.dtype)
        out[:, blk.edge_rows, blk.edge_cols] = w.reshape(self.replicas, -1)[:, blk.edge_slot]
        return out

    def _gather_transposed(self, blk: Block, wt: np.ndarray, d: np.ndarray, out: np.ndarray):
        """out -= (sparse block)^T @ d, with ``wt`` from :meth:`_transposed`."""
        buf = np.empty_like(out)
        for t in range(blk.t_index.shape[1]):
            np.take(d, blk.t_index[:, t], axis=1, out=buf)
            buf *= wt[:, :, t, None]
            out -= buf

    def activate(self, replicas: np.ndarray, slots: np.ndarray, rng: np.random.Generator) -> None:
        """Switch on hidden ``slots[k]`` in ``replicas[k]`` with fresh weights on its edges.

        Incoming and outgoing weights are drawn N(0, init_scale^2 / fan_in) on the slot's
        edges to currently active neighbours; the bias starts at 0.
        """
        replicas = np.asarray(replicas, dtype=int)
        slots = np.asarray(slots, dtype=int)
        self._check_hidden(slots)
        self.active[replicas, slots] = True
        self._refresh_mask()
        k = len(slots)
        std, dt = self._init_std, self.dtype
        fresh_in = rng.standard_normal((k, self.n)).astype(dt) * std[slots][:, None]
        fresh_out = rng.standard_normal((k, self.n)).astype(dt) * std[None, :]
        rows = fresh_in * self.arch.in_rows(slots).astype(dt) * self.act[replicas]
        cols = fresh_out * self.arch.out_rows(slots).astype(dt) * self.act[replicas]
        self._set_rows(self._wb, replicas, slots, rows)
        self._set_cols(self._wb, replicas, slots, cols)
        self._zero_self_loops(self._wb, replicas, slots)
        self.b[replicas, slots] = 0.0
        if self.momentum:
            zero = np.zeros((k, self.n), dtype=dt)
            self._set_rows(self._vwb, replicas, slots, zero)
            self._set_cols(self._vwb, replicas, slots, zero)
            self.vb[replicas, slots] = 0.0

    def deactivate(self, replicas: np.ndarray, slots: np.ndarray) -> None:
        """Switch off hidden ``slots[k]`` in ``replicas[k]``; its weights and bias become 0."""
        replicas = np.asarray(replicas, dtype=int)
        slots = np.asarray(slots, dtype=int)
        self._check_hidden(slots)
        self.active[replicas, slots] = False
        self._refresh_mask()
        zero = np.zeros((slots.size, self.n), dtype=self.dtype)
        for blocks in (self._wb, self._vwb) if self.momentum else (self._wb,):
            self._set_rows(blocks, replicas, slots, zero)
            self._set_cols(blocks, replicas, slots, zero)
        self.b[replicas, slots] = 0.0
        if self.momentum:
            self.vb[replicas, slots] = 0.0

    def slot_parameters(self, replicas: np.ndarray, slots: np.ndarray) -> list[np.ndarray]:
        """Copies of the weights into and out of ``slots[k]`` of ``replicas[k]`` (dense
        ``(k, n)`` rows) and their biases (and velocities with momentum), for :meth:`restore`."""
        replicas = np.asarray(replicas, dtype=int)
        slots = np.asarray(slots, dtype=int)
        out = [self._get_rows(self._wb, replicas, slots), self._get_cols(self._wb, replicas, slots)]
        out.append(self.b[replicas, slots].copy())
        if self.momentum:
            out += [
                self._get_rows(self._vwb, replicas, slots),
                self._get_cols(self._vwb, replicas, slots),
            ]
            out.append(self.vb[replicas, slots].copy())
        return out

    def restore(self, replicas: np.ndarray, slots: np.ndarray, saved: list[np.ndarray]) -> None:
        """Switch ``slots[k]`` of ``replicas[k]`` back on with the parameters ``saved`` by
        :meth:`slot_parameters` (an exact undo of :meth:`deactivate`).

        Examples
        --------
        >>> from models.architecture import build_architecture
        >>> cfg = SystemConfig(replicas=2, n_hidden=2, n_hidden_max=3)
        >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
        ...                np.random.default_rng(1))
        >>> w0, r, s = ens.w.copy(), np.array([1]), np.array([2])
        >>> saved = ens.slot_parameters(r, s)
        >>> ens.deactivate(r, s)
        >>> ens.restore(r, s, saved)
        >>> bool(np.array_equal(ens.w, w0)), ens.n_active().tolist()
        (True, [5, 5])
        """
        replicas = np.asarray(replicas, dtype=int)
        slots = np.asarray(slots, dtype=int)
        self._check_hidden(slots)
        self.active[replicas, slots] = True
        self._refresh_mask()
        self._set_rows(self._wb, replicas, slots, saved[0])
        self._set_cols(self._wb, replicas, slots, saved[1])
        self.b[replicas, slots] = saved[2]
        if self.momentum:
            self._set_rows(self._vwb, replicas, slots, saved[3])
            self._set_cols(self._vwb, replicas, slots, saved[4])
            self.vb[replicas, slots] = saved[5]

    def _check_hidden(self, slots: np.ndarray) -> None:
        hid = self.slices["hidden"]
        if slots.size and (slots.min() < hid.start or slots.max() >= hid.stop):
            raise ValueError(
                f"slots: {slots.tolist()}; expected hidden slots in [{hid.start}, {hid.stop})"
            )

    def enforce_structure(self) -> None:
        """Zero weights off the edges or touching inactive slots (after external writes)."""
        act = self.act
        for blk, w in zip(self.arch.blocks, self._wb, strict=True):
            a_dst = act[:, blk.rows, None]
            if blk.layout == "ell":
                w *= blk.valid
                w *= a_dst * act[:, blk.cols][:, blk.index]
            else:
                if blk.mask is not None:
                    w *= blk.mask
                w *= a_dst * act[:, None, blk.cols]
        self.b *= self.bias_mask * self.act
