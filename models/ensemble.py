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

import numpy as np

from models.activations import activation_into
from models.architecture import Architecture
from models.config import SystemConfig

__all__ = ["Ensemble", "State"]


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


class State:
    """Relaxed states of one batch and the quantities derived from them.

    Storage is one contiguous ``(R, n_group, M)`` array per neuron group (input, hidden, output)
    so that every elementwise operation runs on contiguous memory. The ``(R, M, n)``
    attributes ``x, y, fy, dfy, e, delta`` assemble copies over all slots (inputs carry no
    error: their y, f, e, delta are 0).

    Attributes
    ----------
    X : dict of str to ndarray
        States per group, ``X[g]`` of shape (R, n_g, M).
    Y, FY, DFY, E, D : dict of str to ndarray
        Pre-activations, f(y), f'(y), errors and delta = e f'(y) of the hidden and output groups.
    steps_done : int
        Descent steps the relaxation took (fewer than asked when it stopped at its tolerance).
    """

    def __init__(self, sizes: dict[str, int], replicas: int, batch: int, dtype: np.dtype) -> None:
        self.sizes = sizes
        self.X = {g: np.empty((replicas, k, batch), dtype=dtype) for g, k in sizes.items()}
        bulk = {g: k for g, k in sizes.items() if g != "input"}
        self.Y = {g: np.empty((replicas, k, batch), dtype=dtype) for g, k in bulk.items()}
        self.FY = {g: np.empty_like(a) for g, a in self.Y.items()}
        self.DFY = {g: np.empty_like(a) for g, a in self.Y.items()}
        self.E = {g: np.empty_like(a) for g, a in self.Y.items()}
        self.D = {g: np.empty_like(a) for g, a in self.Y.items()}
        self.steps_done = 0

    def _full(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        ref = self.X["input"]
        blocks = [
            parts[g] if g in parts else np.zeros((ref.shape[0], k, ref.shape[2]), ref.dtype)
            for g, k in self.sizes.items()
        ]
        return np.concatenate(blocks, axis=1).transpose(0, 2, 1)

    x = property(lambda self: self._full(self.X))
    y = property(lambda self: self._full(self.Y))
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

    def copy(self) -> State:
        """An independent copy (every array copied)."""
        out = State.__new__(State)
        out.sizes = self.sizes
        for part in ("X", "Y", "FY", "DFY", "E", "D"):
            setattr(out, part, {g: a.copy() for g, a in getattr(self, part).items()})
        out.steps_done = self.steps_done
        return out

    def batch_mean(self) -> np.ndarray:
        """Batch-mean state of every slot, shape (R, n)."""
        return np.concatenate([self.X[g].mean(axis=2) for g in self.sizes], axis=1)

    def energy(self) -> np.ndarray:
        """H per (replica, sample): 1/2 sum_i e_i^2, shape (R, M)."""
        return 0.5 * sum(np.einsum("rim,rim->rm", e, e) for e in self.E.values())


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
        self.sizes = {g: sl.stop - sl.start for g, sl in self.slices.items()}
        self.fns = {
            "hidden": activation_into(config.activation),
            "output": activation_into(config.output_activation),
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
        # external, non-trainable drive added to pre-activations (injected packets)
        self.drive = np.zeros((R, n), dtype=self.dtype)
        self.drive_on = False
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
        self.all_active = bool(self.active.all())

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
    def _preactivation(self, st: State, group: str) -> None:
        """Y[group] = b + sum over blocks into group of w_block @ X[src]."""
        target = st.Y[group]
        first = True
        for blk in self.arch.blocks:
            if blk.dst != group:
                continue
            if first:
                np.matmul(self.w[:, blk.rows, blk.cols], st.X[blk.src], out=target)
                first = False
            else:
                target += np.matmul(self.w[:, blk.rows, blk.cols], st.X[blk.src])
        if first:
            target[...] = 0.0
        if self.config.bias:
            target += self.b[:, self.slices[group], None]
        if self.drive_on:
            target += self.drive[:, self.slices[group], None]

    def _activate_group(self, st: State, group: str) -> None:
        self.fns[group](st.Y[group], st.FY[group], st.DFY[group])

    def _errors(self, st: State, group: str) -> None:
        e = st.E[group]
        np.subtract(st.X[group], st.FY[group], out=e)
        if not self.all_active:
            e *= self.act[:, self.slices[group], None]
        np.multiply(e, st.DFY[group], out=st.D[group])

    def _evaluate(self, st: State) -> None:
        for g in self._bulk_groups:
            self._preactivation(st, g)
            self._activate_group(st, g)
        for g in self._bulk_groups:
            self._errors(st, g)

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
        st = State(self.sizes, self.replicas, M, self.dtype)
        X = st.X
        X["input"][...] = np.swapaxes(inputs, -1, -2)
        clamp_out = targets is not None
        X["hidden"][...] = 0.0
        if clamp_out:
            X["output"][...] = np.swapaxes(targets, -1, -2)
        else:
            X["output"][...] = 0.0
        bulk = [g for g in (("hidden",) if clamp_out else ("hidden", "output")) if self.sizes[g]]
        if start is not None:
            self._warm_start(st, start, bulk)
        else:
            self._forward_sweep(st, clamp_out)
        self._evaluate(st)
        if not bulk or steps == 0:
            return st
        noise_scale = np.sqrt(2.0 * rate * temperature) if temperature > 0 else 0.0
        if noise_scale and rng is None:
            raise ValueError("rng: None; a generator is needed when neuron_temperature > 0")
        # contiguous transposed weight blocks feeding back into the bulk, once per relaxation
        back = [
            (
                blk.dst,
                blk.src,
                np.ascontiguousarray(self.w[:, blk.rows, blk.cols].transpose(0, 2, 1)),
            )
            for blk in self.arch.blocks
            if blk.src in bulk
        ]
        grads = {g: np.empty_like(X[g]) for g in bulk}
        acts = {g: self.act[:, self.slices[g], None] for g in bulk}
        watch = tol is not None and not noise_scale
        level = self._mean_energy(st) if watch else None
        last_drop = None
        for k in range(steps):
            for g in bulk:
                grads[g][...] = st.E[g]
            for dst, src, wt in back:
                grads[src] -= np.matmul(wt, st.D[dst])
            for g in bulk:
                grad = grads[g]
                grad *= rate
                X[g] -= grad
                if noise_scale:
                    X[g] += noise_scale * rng.standard_normal(grad.shape).astype(self.dtype)
                if not self.all_active:
                    X[g] *= acts[g]
            self._evaluate(st)
            st.steps_done = k + 1
            if watch:
                new_level = self._mean_energy(st)
                drop = level - new_level
                if _converged(drop, last_drop, tol):
                    break
                level, last_drop = new_level, drop
        return st

    def _forward_sweep(self, st: State, clamp_out: bool) -> None:
        """Bulk states x <- f(w x + b), hidden then (when free) outputs, iterated
        ``forward_sweeps`` times in recurrent networks. Leaves Y, FY, DFY of the swept groups
        as computed from the states before the last update (errors not computed)."""
        X = st.X
        act_h = self.act[:, self.slices["hidden"], None]
        sweeps = self.config.forward_sweeps if self.arch.recurrent else 1
        for _ in range(sweeps):
            if self.sizes["hidden"] > 0:
                self._preactivation(st, "hidden")
                self._activate_group(st, "hidden")
                X["hidden"][...] = st.FY["hidden"]
                if not self.all_active:
                    X["hidden"] *= act_h
            if not clamp_out:
                self._preactivation(st, "output")
                self._activate_group(st, "output")
                X["output"][...] = st.FY["output"]

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
        for blk in self.arch.blocks:
            if blk.src == "hidden" and blk.dst == "output":
                W += self.w[:, blk.rows, blk.cols]
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
        full = np.zeros_like(self.w)
        for blk, g in zip(self.arch.blocks, gw, strict=True):
            full[:, blk.rows, blk.cols] = g
        return full, gb

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
            full = np.zeros((self.n, self.n, k), dtype=self.dtype)
            full[self.param_rows, self.param_cols] = projection[:E]
            self._proj_blocks = [full[blk.rows, blk.cols] for blk in self.arch.blocks]
            bias = np.zeros((self.n, k), dtype=self.dtype)
            bias[self.bias_index] = projection[E:]
            self._proj_bias = {g: bias[self.slices[g]] for g in ("hidden", "output")}
            self._proj_key = key
        g = np.zeros((self.replicas, M, k), dtype=self.dtype)
        for blk, ub in zip(self.arch.blocks, self._proj_blocks, strict=True):
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
            if blk.mask is None:
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

    def slot_parameters(self, replicas: np.ndarray, slots: np.ndarray) -> list[np.ndarray]:
        """Copies of the weights into and out of ``slots[k]`` of ``replicas[k]`` and their
        biases (and velocities with momentum), for :meth:`restore`."""
        out = [self.w[replicas, slots, :].copy(), self.w[replicas, :, slots].copy()]
        out.append(self.b[replicas, slots].copy())
        if self.momentum:
            out += [self.vw[replicas, slots, :].copy(), self.vw[replicas, :, slots].copy()]
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
        self._check_hidden(slots)
        self.active[replicas, slots] = True
        self._refresh_mask()
        self.w[replicas, slots, :] = saved[0]
        self.w[replicas, :, slots] = saved[1]
        self.b[replicas, slots] = saved[2]
        if self.momentum:
            self.vw[replicas, slots, :] = saved[3]
            self.vw[replicas, :, slots] = saved[4]
            self.vb[replicas, slots] = saved[5]

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
