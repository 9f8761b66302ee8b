"""The vectorised replica ensemble: states, weights, relaxation, local gradients, SGD.

Arrays (R replicas, M samples per mini-batch, n neuron slots):

- ``x[R, M, n]``: neuron states (fast, non-trainable). Each replica has its own mini-batch.
- ``w[R, n, n]``: weights, ``w[r, i, j]`` from neuron j to neuron i, zero off the adjacency.
- ``b[R, n]``: biases (zero on inputs, and everywhere when ``bias=False``).
- ``active[R, n]``: which slots are in use in each replica (the neuron count is per replica).

Loss (PHYSICS.md section 1): H(x, q) = 1/2 sum_i e_i^2 over active non-input neurons, with
e = x - f(w x + b). The fast variables relax by descent on H with the boundary clamped, and the
slow variables follow the local gradient at the relaxed state:
dH/dw_ij = -e_i f'(y_i) x_j, dH/db_i = -e_i f'(y_i).

Every operation covers all replicas at once; the products run block by block over the
architecture's groups, so layered networks do no work on masked zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.activations import activation
from models.architecture import Architecture
from models.config import SystemConfig


@dataclass
class State:
    """Relaxed states of one batch and the quantities derived from them.

    Attributes
    ----------
    x, y, fy, dfy, e, delta : ndarray, shape (R, M, n)
        States, pre-activations w x + b, f(y), f'(y), errors e = (x - f(y)) on active non-input
        neurons (0 elsewhere), and delta = e f'(y).
    """

    x: np.ndarray
    y: np.ndarray
    fy: np.ndarray
    dfy: np.ndarray
    e: np.ndarray
    delta: np.ndarray

    def energy(self) -> np.ndarray:
        """H per (replica, sample): 1/2 sum_i e_i^2, shape (R, M)."""
        return 0.5 * np.einsum("rmi,rmi->rm", self.e, self.e)


class Ensemble:
    """R replicas of one network as stacked arrays.

    Parameters
    ----------
    config : SystemConfig
    arch : Architecture
    rng : numpy.random.Generator
        The initialisation stream (weights of every slot are drawn once, in slot order).

    Examples
    --------
    >>> from models.architecture import build_architecture
    >>> cfg = SystemConfig(replicas=4, n_hidden=3)
    >>> ens = Ensemble(cfg, build_architecture(cfg, np.random.default_rng(0)),
    ...                np.random.default_rng(1))
    >>> ens.w.shape, ens.n_active().tolist()
    ((4, 6, 6), [6, 6, 6, 6])
    """

    def __init__(self, config: SystemConfig, arch: Architecture, rng: np.random.Generator) -> None:
        self.config = config
        self.arch = arch
        self.dtype = np.dtype(config.dtype)
        R, n = config.replicas, arch.n
        self.replicas = R
        self.n = n
        self.slices = {g: arch.group(g) for g in ("input", "hidden", "output")}
        self.fns = {
            "hidden": activation(config.activation),
            "output": activation(config.output_activation),
        }
        self.adjacency = arch.adjacency.astype(self.dtype)
        self.bias_mask = np.zeros(n, dtype=self.dtype)
        if config.bias:
            self.bias_mask[arch.n_input :] = 1.0
        fan = np.maximum(arch.fan_in(), 1)
        self._init_std = (config.init_scale / np.sqrt(fan)).astype(self.dtype)
        # draw every slot's weights now so activation later is reproducible and cheap
        self._init_w = (
            rng.standard_normal((R, n, n)).astype(self.dtype) * self._init_std[None, :, None]
        ) * self.adjacency
        self.w = np.zeros((R, n, n), dtype=self.dtype)
        self.b = np.zeros((R, n), dtype=self.dtype)
        self.active = np.zeros((R, n), dtype=bool)
        self.active[:, self.slices["input"]] = True
        self.active[:, self.slices["output"]] = True
        h0 = arch.n_input
        self.active[:, h0 : h0 + config.n_hidden] = True
        self.w[:] = self._init_w * self._pair_mask()
        self.momentum = config.momentum
        self.vw = np.zeros_like(self.w) if self.momentum else None
        self.vb = np.zeros_like(self.b) if self.momentum else None
        self._refresh_mask()
        self._init_rng = rng
        self.param_rows, self.param_cols = np.nonzero(arch.adjacency)
        self.bias_index = np.nonzero(self.bias_mask)[0]

    # ------------------------------------------------------------------ masks
    def _pair_mask(self) -> np.ndarray:
        a = self.active.astype(self.dtype)
        return a[:, :, None] * a[:, None, :]

    def _refresh_mask(self) -> None:
        self.act = self.active.astype(self.dtype)
        self._act_b = self.act[:, None, :]

    def n_active(self) -> np.ndarray:
        """Active neurons per replica (boundary included), shape (R,)."""
        return self.active.sum(axis=1)

    def n_parameters(self) -> np.ndarray:
        """Active trainable parameters per replica, shape (R,)."""
        pair = np.einsum("ri,ij,rj->r", self.act, self.adjacency, self.act)
        return pair + self.act @ self.bias_mask

    def parameter_vector(self) -> np.ndarray:
        """The zero-padded parameter vector of every replica, shape (R, P).

        Order: weights on the adjacency in row-major (target, source) order, then biases of
        non-input neurons (when ``bias``). Inactive slots contribute zeros.
        """
        wv = self.w[:, self.param_rows, self.param_cols]
        if self.bias_index.size:
            return np.concatenate([wv, self.b[:, self.bias_index]], axis=1)
        return wv

    def parameter_names(self) -> list[str]:
        """Names of the entries of :meth:`parameter_vector` (``w[i,j]``, ``b[i]``)."""
        names = [f"w[{i},{j}]" for i, j in zip(self.param_rows, self.param_cols, strict=True)]
        return names + [f"b[{i}]" for i in self.bias_index]

    # ------------------------------------------------------------------ states
    def _preactivation(self, x: np.ndarray, group: str, out: np.ndarray) -> None:
        """out[..., group] = b + sum over blocks into group of x_src @ w_block^T."""
        rows = self.slices[group]
        target = out[:, :, rows]
        target[...] = self.b[:, None, rows]
        for blk in self.arch.blocks:
            if blk.dst != group:
                continue
            target += np.matmul(x[:, :, blk.cols], self.w[:, blk.rows, blk.cols].transpose(0, 2, 1))

    def _activate_group(self, st: State, group: str) -> None:
        rows = self.slices[group]
        f, df = self.fns[group]
        fy = f(st.y[:, :, rows])
        st.fy[:, :, rows] = fy
        st.dfy[:, :, rows] = df(st.y[:, :, rows], fy)

    def _errors(self, st: State) -> None:
        nb = self.arch.n_input
        np.subtract(st.x[:, :, nb:], st.fy[:, :, nb:], out=st.e[:, :, nb:])
        st.e[:, :, nb:] *= self._act_b[:, :, nb:]
        np.multiply(st.e, st.dfy, out=st.delta)

    def _evaluate(self, st: State) -> None:
        for g in ("hidden", "output"):
            if self.slices[g].stop > self.slices[g].start:
                self._preactivation(st.x, g, st.y)
                self._activate_group(st, g)
        self._errors(st)

    def relax(
        self,
        inputs: np.ndarray,
        targets: np.ndarray | None,
        steps: int | None = None,
        rate: float | None = None,
        temperature: float | None = None,
        rng: np.random.Generator | None = None,
    ) -> State:
        """Relax the fast variables with the boundary clamped.

        Inputs are always clamped; outputs are clamped to ``targets`` when given (learning),
        free otherwise. Bulk neurons start from a forward sweep x <- f(w x + b) and descend
        H for ``steps`` steps at ``rate`` (Langevin at ``temperature`` when > 0).

        Parameters
        ----------
        inputs : ndarray, shape (R, M, n_input) or (M, n_input)
        targets : ndarray, shape (R, M, n_output) or (M, n_output), or None
        steps, rate, temperature : optional
            Default to the config's ``relax_steps``, ``relax_rate``, ``neuron_temperature``.
        rng : numpy.random.Generator, optional
            Needed when the temperature is positive.

        Returns
        -------
        State
        """
        cfg = self.config
        steps = cfg.relax_steps if steps is None else steps
        rate = cfg.relax_rate if rate is None else rate
        temperature = cfg.neuron_temperature if temperature is None else temperature
        R, n = self.replicas, self.n
        M = inputs.shape[-2]
        x = np.zeros((R, M, n), dtype=self.dtype)
        x[:, :, self.slices["input"]] = inputs
        st = State(
            x=x,
            y=np.zeros_like(x),
            fy=np.zeros_like(x),
            dfy=np.zeros_like(x),
            e=np.zeros_like(x),
            delta=np.zeros_like(x),
        )
        clamp_out = targets is not None
        if clamp_out:
            x[:, :, self.slices["output"]] = targets
        hid, out = self.slices["hidden"], self.slices["output"]
        sweeps = cfg.forward_sweeps if self.arch.recurrent else 1
        for _ in range(sweeps):
            if hid.stop > hid.start:
                self._preactivation(x, "hidden", st.y)
                self._activate_group(st, "hidden")
                x[:, :, hid] = st.fy[:, :, hid] * self._act_b[:, :, hid]
            if not clamp_out:
                self._preactivation(x, "output", st.y)
                self._activate_group(st, "output")
                x[:, :, out] = st.fy[:, :, out]
        self._evaluate(st)
        bulk = slice(self.arch.n_input, self.n if not clamp_out else out.start)
        if bulk.stop <= bulk.start:
            return st
        noise_scale = np.sqrt(2.0 * rate * temperature) if temperature > 0 else 0.0
        if noise_scale and rng is None:
            raise ValueError("rng: None; a generator is needed when neuron_temperature > 0")
        grad = np.empty_like(x[:, :, bulk])
        for _ in range(steps):
            grad[...] = st.e[:, :, bulk]
            for blk in self.arch.blocks:
                lo = max(blk.cols.start, bulk.start)
                hi = min(blk.cols.stop, bulk.stop)
                if hi <= lo:
                    continue
                wsub = self.w[:, blk.rows, lo:hi]
                grad[:, :, lo - bulk.start : hi - bulk.start] -= np.matmul(
                    st.delta[:, :, blk.rows], wsub
                )
            x[:, :, bulk] -= rate * grad
            if noise_scale:
                x[:, :, bulk] += noise_scale * rng.standard_normal(grad.shape).astype(self.dtype)
            x[:, :, bulk] *= self._act_b[:, :, bulk]
            self._evaluate(st)
        return st

    # ------------------------------------------------------------------ slow variables
    def gradients(self, st: State) -> tuple[list[np.ndarray], np.ndarray]:
        """Mini-batch mean of dH/dw (one array per block) and dH/db at fixed x.

        Returns
        -------
        gw : list of ndarray
            ``gw[k]`` has shape ``(R, rows, cols)`` of ``arch.blocks[k]``.
        gb : ndarray, shape (R, n)
        """
        M = st.x.shape[1]
        gw = []
        for blk in self.arch.blocks:
            g = np.matmul(st.delta[:, :, blk.rows].transpose(0, 2, 1), st.x[:, :, blk.cols])
            g *= -1.0 / M
            if blk.mask is not None:
                g *= blk.mask
            gw.append(g)
        gb = -st.delta.mean(axis=1) * self.bias_mask
        return gw, gb

    def dense_gradient(self, st: State) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`gradients` assembled into a dense ``(R, n, n)`` array (for checks)."""
        gw, gb = self.gradients(st)
        full = np.zeros_like(self.w)
        for blk, g in zip(self.arch.blocks, gw, strict=True):
            full[:, blk.rows, blk.cols] = g
        return full, gb

    def gradient_noise(self, st: State, gw: list[np.ndarray], gb: np.ndarray) -> np.ndarray:
        """tr(Sigma): trace of the per-sample gradient covariance, per replica, shape (R,).

        Computed without forming per-sample gradients: for a block,
        |g_m|^2 = sum_ij mask_ij delta_mi^2 x_mj^2. Unbiased (divides by M - 1); NaN for M = 1.
        """
        M = st.x.shape[1]
        if M < 2:
            return np.full(self.replicas, np.nan)
        d2 = st.delta * st.delta
        x2 = st.x * st.x
        per_sample = np.zeros((self.replicas, M), dtype=self.dtype)
        for blk in self.arch.blocks:
            if blk.mask is None:
                per_sample += d2[:, :, blk.rows].sum(-1) * x2[:, :, blk.cols].sum(-1)
            else:
                per_sample += np.einsum(
                    "rmi,ij,rmj->rm", d2[:, :, blk.rows], blk.mask, x2[:, :, blk.cols]
                )
        per_sample += d2 @ self.bias_mask
        mean_sq = sum(np.einsum("rij,rij->r", g, g) for g in gw) + np.einsum("ri,ri->r", gb, gb)
        return (per_sample.mean(axis=1) - mean_sq) * (M / (M - 1))

    def apply(self, gw: list[np.ndarray], gb: np.ndarray, step_size: float) -> None:
        """SGD (or heavy-ball when ``momentum > 0``) update of w and b."""
        if self.momentum:
            beta = self.momentum
            for blk, g in zip(self.arch.blocks, gw, strict=True):
                v = self.vw[:, blk.rows, blk.cols]
                v *= beta
                v -= step_size * g
                self.w[:, blk.rows, blk.cols] += v
            self.vb *= beta
            self.vb -= step_size * gb
            self.b += self.vb
        else:
            for blk, g in zip(self.arch.blocks, gw, strict=True):
                self.w[:, blk.rows, blk.cols] -= step_size * g
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
    def activate(self, replicas: np.ndarray, slots: np.ndarray, rng: np.random.Generator) -> None:
        """Switch on hidden ``slots[k]`` in ``replicas[k]`` with fresh weights on its edges.

        Incoming and outgoing weights are drawn N(0, init_scale^2 / fan_in) on the slot's
        adjacency to currently active neighbours; the bias starts at 0.
        """
        replicas = np.asarray(replicas, dtype=int)
        slots = np.asarray(slots, dtype=int)
        self._check_hidden(slots)
        self.active[replicas, slots] = True
        self._refresh_mask()
        k = len(slots)
        std = self._init_std
        fresh_in = rng.standard_normal((k, self.n)).astype(self.dtype) * std[slots][:, None]
        fresh_out = rng.standard_normal((k, self.n)).astype(self.dtype) * std[None, :]
        self.w[replicas, slots, :] = fresh_in * self.adjacency[slots, :] * self.act[replicas]
        self.w[replicas, :, slots] = fresh_out * self.adjacency[:, slots].T * self.act[replicas]
        self.w[replicas, slots, slots] = 0.0
        self.b[replicas, slots] = 0.0
        if self.momentum:
            self.vw[replicas, slots, :] = 0.0
            self.vw[replicas, :, slots] = 0.0
            self.vb[replicas, slots] = 0.0

    def deactivate(self, replicas: np.ndarray, slots: np.ndarray) -> None:
        """Switch off hidden ``slots[k]`` in ``replicas[k]``; its weights and bias become 0."""
        replicas = np.asarray(replicas, dtype=int)
        slots = np.asarray(slots, dtype=int)
        self._check_hidden(slots)
        self.active[replicas, slots] = False
        self._refresh_mask()
        self.w[replicas, slots, :] = 0.0
        self.w[replicas, :, slots] = 0.0
        self.b[replicas, slots] = 0.0
        if self.momentum:
            self.vw[replicas, slots, :] = 0.0
            self.vw[replicas, :, slots] = 0.0
            self.vb[replicas, slots] = 0.0

    def _check_hidden(self, slots: np.ndarray) -> None:
        hid = self.slices["hidden"]
        if slots.size and (slots.min() < hid.start or slots.max() >= hid.stop):
            raise ValueError(
                f"slots: {slots.tolist()}; expected hidden slots in [{hid.start}, {hid.stop})"
            )

    def enforce_structure(self) -> None:
        """Zero weights off the adjacency or touching inactive slots (after external writes)."""
        self.w *= self.adjacency
        self.w *= self._pair_mask()
        self.b *= self.bias_mask * self.act
