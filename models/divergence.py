"""Divergence detection: NaN/Inf in states, weights or loss, or a loss that has blown up.

:class:`DivergenceGuard` is checked by :meth:`LearningSystem.step` right after the SGD update
and the step's observables, before controllers and recorders run, so a divergence is caught in
the step where it happens and nothing of that step is recorded. In ``stop`` mode it raises
:class:`Diverged` (one-line message: step, replicas, quantity, likely cause and fix); in
``drop`` mode the diverged replicas are dropped (their parameters are zeroed and held at zero,
their recorded per-replica values become NaN, model-level means exclude them) and the run goes
on; the drop is recorded in ``model.events()``.

The loss test: the mini-batch loss of a replica exceeds ``factor`` times the reference loss,
the ensemble median of the first checked step's loss (floored at 1e-8). Time is in learning
steps.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from models.learning_system import LearningSystem

__all__ = ["MODES", "Diverged", "DivergenceGuard", "likely_cause"]

MODES = ("stop", "drop")


class Diverged(RuntimeError):
    """The run diverged; ``str(err)`` is the one-line message.

    Attributes
    ----------
    step : int
        The step in which the divergence happened (the last good step is ``step - 1``).
    replicas : list of int
        The diverged replicas.
    quantities : list of str
        What went bad (``weights``, ``states``, ``loss``, ``loss growth``).
    cause : str
        The likely cause and fix.
    n : int
        The number of replicas of the run.

    Examples
    --------
    >>> err = Diverged(12, [3], ["loss"], "step size too large", 8)
    >>> print(err)
    diverged at step 12: replica(s) 3 (1 of 8): loss; likely cause: step size too large
    >>> err.exit_code
    1
    >>> import pickle
    >>> str(pickle.loads(pickle.dumps(err))) == str(err)
    True
    """

    #: the ``dualsim`` command's exit code for it (a failed run; :mod:`runner.errors`)
    exit_code: int = 1

    def __init__(self, step: int, replicas: list[int], quantities: list[str], cause: str, n: int):
        self.step = int(step)
        self.replicas = [int(r) for r in replicas]
        self.quantities = list(quantities)
        self.cause = cause
        self.n = int(n)
        shown = ", ".join(map(str, self.replicas[:8])) + (" ..." if len(self.replicas) > 8 else "")
        super().__init__(
            f"diverged at step {self.step}: replica(s) {shown} ({len(self.replicas)} of {n}): "
            f"{', '.join(self.quantities)}; likely cause: {cause}"
        )

    def __reduce__(self) -> tuple:  # picklable (rebuilt from its arguments, not its message)
        return (type(self), (self.step, self.replicas, self.quantities, self.cause, self.n))


def _sig(x: float, digits: int = 2) -> float:
    if x <= 0 or not math.isfinite(x):
        return x
    return round(x, -math.floor(math.log10(x)) + digits - 1)


class DivergenceGuard:
    """Per-step divergence test of a :class:`~models.learning_system.LearningSystem`.

    Parameters
    ----------
    factor : float
        A replica whose loss exceeds ``factor`` x the reference loss has diverged.
    mode : {"stop", "drop"}
        Raise :class:`Diverged`, or drop the diverged replicas and go on.

    Examples
    --------
    >>> model = LearningSystem(replicas=4, n_hidden=2, activation="linear", step_size=50.0)
    >>> try:
    ...     model.run(50, progress=False)
    ... except Diverged as err:
    ...     print(err.step < 50, "step_size 50" in str(err))
    True True
    """

    def __init__(self, factor: float = 1e6, mode: str = "stop") -> None:
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor > 1:
            raise ValueError(f"factor: {factor!r}; expected a number > 1")
        if mode not in MODES:
            raise ValueError(f"mode: {mode!r}; expected one of {', '.join(MODES)}")
        self.factor = float(factor)
        self.mode = mode
        self.reference: float | None = None

    def bad_replicas(self, model: LearningSystem) -> tuple[np.ndarray, list[str]]:
        """Boolean mask (R,) of live replicas that diverged in this step, and what went bad."""
        ens = model.ensemble
        bad_w = ~ens.finite()
        bad_x = np.zeros(ens.replicas, dtype=bool)
        state = model.last_state
        if state is not None:
            for block in state.X.values():
                bad_x |= ~np.isfinite(block).all(axis=(1, 2))
        loss = np.asarray(model.observables.loss, dtype=float)
        with np.errstate(invalid="ignore"):
            bad_l = ~np.isfinite(loss)
            if self.reference is None and state is not None:
                live = loss[model.alive & ~bad_l]
                self.reference = max(float(np.median(live)), 1e-8) if live.size else 1e-8
            grown = np.zeros_like(bad_l)
            if self.reference is not None:
                grown = np.isfinite(loss) & (loss > self.factor * self.reference)
        alive = model.alive
        what = []
        for name, mask in (
            ("weights NaN/Inf", bad_w),
            ("states NaN/Inf", bad_x),
            ("loss NaN/Inf", bad_l),
            (f"loss grew > {self.factor:g} x its start ({self.reference or 0:.3g})", grown),
        ):
            if (mask & alive).any():
                what.append(name)
        return (bad_w | bad_x | bad_l | grown) & alive, what

    def check(self, model: LearningSystem) -> None:
        """Raise :class:`Diverged` (stop) or drop the diverged replicas (drop)."""
        bad, what = self.bad_replicas(model)
        if not bad.any():
            return
        idx = np.nonzero(bad)[0]
        if self.mode == "drop" and (model.alive & ~bad).any():
            model.drop_replicas(idx, reason="; ".join(what))
            return
        raise Diverged(
            model.steps, idx.tolist(), what, likely_cause(model, bad), model.config.replicas
        )


def likely_cause(model: LearningSystem, bad: np.ndarray | None = None) -> str:
    """A short guess at why the run diverged, with a suggested fix.

    The SGD step on the weights into a neuron is stable for gamma < 2 / lambda_max, with
    lambda_max <= f'^2 (1 + E|x_in|^2) for the quadratic loss (f' <= 1 for tanh, sigmoid,
    linear, relu); E|x_in|^2 is the larger of the probe inputs' and the hidden states' (the
    live replicas', or n_hidden for bounded activations and n_hidden E|x|^2 init_scale^2 for
    linear/relu). The suggestion is the smaller of half that bound and a quarter of the current
    step size, rounded to two digits: a conservative guess, not a guarantee.

    Examples
    --------
    >>> likely_cause(LearningSystem(replicas=2, n_hidden=2, step_size=3.0)).startswith(
    ...     "step_size 3 too large")
    True
    """
    cfg = model.config
    gamma = float(model.step_size)
    s_in = float(np.mean(np.sum(np.asarray(model.data.probe_x, dtype=float) ** 2, axis=-1)))
    unbounded = cfg.activation in ("linear", "relu")
    # |x_hidden|^2: n_hidden for tanh/sigmoid; for linear/relu ~ n_hidden s_in init_scale^2
    s_hidden = cfg.n_hidden * (s_in * max(cfg.init_scale**2, 1.0) if unbounded else 1.0)
    state = model.last_state
    if state is not None and state.X.get("hidden") is not None and state.X["hidden"].size:
        good = np.ones(cfg.replicas, dtype=bool) if bad is None else ~np.asarray(bad)
        h = state.X["hidden"][good]
        with np.errstate(all="ignore"):
            norms = np.sum(h.astype(float) ** 2, axis=1)
        norms = norms[np.isfinite(norms)]
        if norms.size:
            s_hidden = max(s_hidden, float(norms.mean()))
    lam = 1.0 + max(s_in, s_hidden)
    if cfg.momentum:
        lam /= 1.0 - cfg.momentum
    bound = 1.0 / lam  # half the quadratic-loss bound 2 / lambda_max: a safety margin
    suggest = _sig(min(bound, gamma / 4.0))
    text = f"step_size {gamma:g} too large for this task; try <= {suggest:g}"
    if gamma <= bound:
        extras = []
        if cfg.momentum:
            extras.append(f"momentum {cfg.momentum:g}")
        if cfg.activation in ("linear", "relu"):
            extras.append(f"unbounded activation {cfg.activation}")
        if cfg.init_scale > 2:
            extras.append(f"init_scale {cfg.init_scale:g}")
        if extras:
            text += " (or reduce " + ", ".join(extras) + ")"
    return text
