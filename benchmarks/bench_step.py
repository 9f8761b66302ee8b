"""Benchmark: one ``LearningSystem.step()`` against the same arithmetic written as plain numpy.

The step is timed with R = 1024 replicas of a layered 4-32-2 tanh network, batch 32, relax_steps
3, recording every 10 steps (:data:`BENCH_CONFIG`), against

* ``bare``: the same arithmetic written as one plain numpy function over the two weight blocks
  (batch sampling, forward sweep, 3 relaxation steps, local gradients, update, the q projection
  every step, and every 10 steps the probe-set free energy, prediction error, tr(Sigma) and state
  means) -- goal: model / bare <= 1.25;
* ``dense``: the naive way, the same step with dense masked 38 x 38 weights in numpy -- goal:
  model / dense <= 0.55.

Timings alternate between the implementations and report medians, so machine noise hits all of
them alike. Nothing here asserts: :func:`run` returns printable ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from models import LearningSystem, SystemConfig

__all__ = ["BENCH_CONFIG", "BareStep", "run"]

BENCH_CONFIG = dict(
    replicas=1024,
    n_input=4,
    n_hidden=32,
    n_output=2,
    activation="tanh",
    output_activation="linear",
    batch_size=32,
    relax_steps=3,
    relax_rate=0.2,
    record_every=10,
    probe_every=10,
    n_probe=64,
    observed=2,
    seed=0,
)


class BareStep:
    """The model's step arithmetic as plain numpy on the two weight blocks."""

    def __init__(self, model: LearningSystem, dense: bool = False) -> None:
        ens = model.ensemble
        cfg = model.config
        self.R, self.M = cfg.replicas, cfg.batch_size
        self.rate, self.steps, self.gamma = cfg.relax_rate, cfg.relax_steps, cfg.step_size
        self.n_in, self.n_h, self.n_out = cfg.n_input, cfg.n_hidden, cfg.n_output
        self.task = model.task.params
        self.noise = cfg.noise
        self.rng = np.random.default_rng(1)
        self.probe_x, self.probe_y = model.data.probe_x, model.data.probe_y
        self.U = model.projection
        self.rows, self.cols = ens.param_rows, ens.param_cols
        self.bias_idx = ens.bias_index
        self.dense = dense
        self.t = 0
        if dense:
            self.W = ens.w.copy()
            self.A = ens.arch.adjacency_matrix().astype(ens.dtype)
            self.b = ens.b.copy()
        else:
            hid, inp, out = ens.slices["hidden"], ens.slices["input"], ens.slices["output"]
            self.W1 = ens.w[:, hid, inp].copy()
            self.W2 = ens.w[:, out, hid].copy()
            self.b1 = ens.b[:, hid].copy()
            self.b2 = ens.b[:, out].copy()
            self.W = ens.w.copy()
            self.hid, self.out = hid, out
        self.b_full = ens.b.copy()

    def _batch(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.task
        x = self.rng.normal(0.0, 1.0, (self.R, self.M, self.n_in))
        y = np.tanh(x @ p["w1"].T + p["b1"]) @ p["w2"].T + p["b2"]
        return x, y + self.rng.normal(0.0, self.noise, y.shape)

    # -- block version -------------------------------------------------------------------
    def _relax_blocks(self, x, y, clamp=True, steps=None):
        steps = self.steps if steps is None else steps
        W1, W2, b1, b2 = self.W1, self.W2, self.b1[:, None, :], self.b2[:, None, :]
        h = np.tanh(np.matmul(x, W1.swapaxes(1, 2)) + b1)
        o = y if clamp else np.matmul(h, W2.swapaxes(1, 2)) + b2
        for _ in range(steps + 1):
            fh = np.tanh(np.matmul(x, W1.swapaxes(1, 2)) + b1)
            dfh = 1.0 - fh * fh
            fo = np.matmul(h, W2.swapaxes(1, 2)) + b2
            eh, eo = h - fh, o - fo
            dh, do = eh * dfh, eo
            if _ == steps:
                break
            h = h - self.rate * (eh - np.matmul(do, W2))
        return h, o, eh, eo, dh, do

    def _step_blocks(self) -> None:
        x, y = self._batch()
        h, o, eh, eo, dh, do = self._relax_blocks(x, y)
        M = self.M
        g1 = -np.matmul(dh.swapaxes(1, 2), x) / M
        g2 = -np.matmul(do.swapaxes(1, 2), h) / M
        gb1, gb2 = -dh.mean(axis=1), -do.mean(axis=1)
        self.W1 -= self.gamma * g1
        self.W2 -= self.gamma * g2
        self.b1 -= self.gamma * gb1
        self.b2 -= self.gamma * gb2
        loss = 0.5 * ((eh * eh).sum(-1) + (eo * eo).sum(-1)).mean(axis=1)
        self.W[:, self.hid, : self.n_in] = self.W1
        self.W[:, self.out, self.hid] = self.W2
        self.b_full[:, self.hid], self.b_full[:, self.out] = self.b1, self.b2
        q = (
            np.concatenate([self.W[:, self.rows, self.cols], self.b_full[:, self.bias_idx]], axis=1)
            @ self.U
        )
        self.t += 1
        if self.t % 10 == 0:
            R = self.R
            px = np.broadcast_to(self.probe_x, (R, *self.probe_x.shape))
            py = np.broadcast_to(self.probe_y, (R, *self.probe_y.shape))
            _, _, peh, peo, _, _ = self._relax_blocks(px, py)
            free = 0.5 * ((peh * peh).sum(-1) + (peo * peo).sum(-1)).mean(axis=1)
            ph = np.tanh(np.matmul(px, self.W1.swapaxes(1, 2)) + self.b1[:, None, :])
            pred = np.matmul(ph, self.W2.swapaxes(1, 2)) + self.b2[:, None, :]
            err = ((pred - py) ** 2).mean(axis=(1, 2))
            per = (dh * dh).sum(-1) * (x * x).sum(-1) + (do * do).sum(-1) * (h * h).sum(-1)
            per += (dh * dh).sum(-1) + (do * do).sum(-1)
            mean_sq = (g1 * g1).sum((1, 2)) + (g2 * g2).sum((1, 2))
            mean_sq += (gb1 * gb1).sum(1) + (gb2 * gb2).sum(1)
            tr = (per.mean(1) - mean_sq) * M / (M - 1)
            states = (h.mean(1), o.mean(1))
            self._sink = (loss, q, free, err, tr, states)

    # -- naive dense version ---------------------------------------------------------------
    def _relax_dense(self, x_in, y, clamp=True):
        R, M = x_in.shape[:2]
        n = self.W.shape[1]
        Wm = self.W * self.A
        x = np.zeros((R, M, n))
        x[:, :, : self.n_in] = x_in
        hid = slice(self.n_in, self.n_in + self.n_h)
        out = slice(self.n_in + self.n_h, n)
        pre = np.matmul(x, Wm.swapaxes(1, 2)) + self.b[:, None, :]
        x[:, :, hid] = np.tanh(pre[:, :, hid])
        pre = np.matmul(x, Wm.swapaxes(1, 2)) + self.b[:, None, :]
        x[:, :, out] = y if clamp else pre[:, :, out]
        mask = np.ones(n)
        mask[: self.n_in] = 0.0
        bulk = np.zeros(n)
        bulk[hid] = 1.0
        for k in range(self.steps + 1):
            pre = np.matmul(x, Wm.swapaxes(1, 2)) + self.b[:, None, :]
            f = pre.copy()
            f[:, :, hid] = np.tanh(pre[:, :, hid])
            df = np.ones_like(f)
            df[:, :, hid] = 1.0 - f[:, :, hid] ** 2
            e = (x - f) * mask
            d = e * df
            if k == self.steps:
                break
            x = x - self.rate * (e - np.matmul(d, Wm)) * bulk
        return x, e, d

    def _step_dense(self) -> None:
        x_in, y = self._batch()
        x, e, d = self._relax_dense(x_in, y)
        M = self.M
        gw = -np.matmul(d.swapaxes(1, 2), x) / M * self.A
        gb = -d.mean(axis=1)
        self.W -= self.gamma * gw
        self.b -= self.gamma * gb
        loss = 0.5 * (e * e).sum(-1).mean(axis=1)
        q = np.concatenate([self.W[:, self.rows, self.cols], self.b[:, self.bias_idx]], 1) @ self.U
        self.t += 1
        if self.t % 10 == 0:
            R = self.R
            px = np.broadcast_to(self.probe_x, (R, *self.probe_x.shape))
            py = np.broadcast_to(self.probe_y, (R, *self.probe_y.shape))
            _, pe, _ = self._relax_dense(px, py)
            free = 0.5 * (pe * pe).sum(-1).mean(axis=1)
            self._sink = (loss, q, free)

    def __call__(self) -> None:
        if self.dense:
            self._step_dense()
        else:
            self._step_blocks()


def _alternate(fns: dict[str, Callable[[], None]], rounds: int, per_round: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(per_round):
                fn()
            times[name].append((time.perf_counter() - t0) / per_round)
    return {k: float(np.median(v)) for k, v in times.items()}


def run(rounds: int = 15, per_round: int = 10) -> list[str]:
    """Time the model step against the bare and the naive dense numpy steps; printable lines.

    Examples
    --------
    >>> lines = run(rounds=1, per_round=1)  # doctest: +SKIP
    """
    model = LearningSystem(SystemConfig(**BENCH_CONFIG))
    bare = BareStep(model)
    dense = BareStep(model, dense=True)
    _alternate({"model": model.step, "bare": bare, "dense": dense}, 1, 10)  # warm-up
    med = _alternate({"model": model.step, "bare": bare, "dense": dense}, rounds, per_round)
    return [
        "step benchmark: R=1024, layered 4-32-2 tanh, M=32, relax_steps=3, record_every=10",
        f"  LearningSystem.step()       {med['model'] * 1e3:8.2f} ms",
        f"  bare numpy (same arithmetic) {med['bare'] * 1e3:7.2f} ms   "
        f"ratio model/bare  = {med['model'] / med['bare']:.2f}  (goal <= 1.25)",
        f"  naive dense numpy 38x38      {med['dense'] * 1e3:7.2f} ms   "
        f"ratio model/dense = {med['model'] / med['dense']:.2f}  (goal <= 0.55)",
    ]
