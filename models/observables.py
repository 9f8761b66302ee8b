"""The observables of one step, computed once, lazily, and shared by every reader.

Controllers, recorders and the DataCollector read the same :class:`Observables` object of the
current step; a quantity nobody asks for is never computed, and one asked for twice is computed
once.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from models.ensemble import State
    from models.learning_system import LearningSystem

__all__ = ["Observables"]


class Observables:
    """Per-step observables of a :class:`~models.learning_system.LearningSystem`.

    Parameters
    ----------
    model : LearningSystem
    state : State or None
        The relaxed mini-batch state of this step (None before the first step).
    gw, gb : gradients of this step (None when learning is off)
    step_size, batch_size : the gamma and M used in this step.

    Examples
    --------
    >>> model = LearningSystem(replicas=4, n_hidden=3, seed=0)
    >>> model.step()
    >>> obs = model.observables
    >>> obs.loss.shape, bool(np.all(obs.trace_sigma >= 0))
    ((4,), True)
    """

    def __init__(
        self, model: LearningSystem, state: State | None, gw, gb, step_size: float, batch_size: int
    ) -> None:
        self.model = model
        self.state = state
        self.gw = gw
        self.gb = gb
        self.step_size = float(step_size)
        self.batch_size = int(batch_size)

    def release(self) -> None:
        """Drop the references to the step's states and gradients (values already computed
        stay; those not computed yet become NaN), so the next step's batch does not coexist
        with this one in memory.

        Examples
        --------
        >>> model = LearningSystem(replicas=4, n_hidden=3, seed=0)
        >>> model.step()
        >>> loss = model.observables.loss
        >>> model.observables.release()
        >>> bool(np.array_equal(model.observables.loss, loss)), model.observables.state is None
        (True, True)
        """
        self.state = self.gw = self.gb = None

    @cached_property
    def loss(self) -> np.ndarray:
        """Mini-batch loss per replica: mean over samples of H at the relaxed state, (R,).

        With learning off (outputs free-running) it is the mini-batch prediction loss
        1/2 |output - target|^2 instead, since H would be ~0 there.
        """
        if self.state is None:
            return np.full(self.model.config.replicas, np.nan)
        if self.model.config.learning:
            return self.state.energy().mean(axis=1)
        diff = self.state.X["output"].transpose(0, 2, 1) - self.model.last_targets
        return 0.5 * np.einsum("rmo,rmo->r", diff, diff) / diff.shape[1]

    @cached_property
    def trace_sigma(self) -> np.ndarray:
        """tr(Sigma), the per-sample gradient covariance trace per replica, (R,)."""
        if self.state is None or self.gw is None:
            return np.full(self.model.config.replicas, np.nan)
        return self.model.ensemble.gradient_noise(self.state, self.gw, self.gb)

    @cached_property
    def sigma_q(self) -> np.ndarray:
        """Per-sample gradient covariance projected on q: U^T Sigma U per replica, (R, k, k)."""
        k = self.model.config.observed
        if self.state is None or self.gw is None:
            return np.full((self.model.config.replicas, k, k), np.nan)
        return self.model.ensemble.projected_gradient_covariance(self.state, self.model.projection)

    @cached_property
    def n_parameters(self) -> np.ndarray:
        """K, active trainable parameters per replica, (R,)."""
        return self.model.ensemble.n_parameters()

    @cached_property
    def t_eff(self) -> np.ndarray:
        """T_eff = gamma tr(Sigma) / (2 M K) per replica, (R,)."""
        return self.step_size * self.trace_sigma / (2.0 * self.batch_size * self.n_parameters)

    @cached_property
    def grad_norm(self) -> np.ndarray:
        """|mean mini-batch gradient| per replica, (R,)."""
        if self.gw is None:
            return np.full(self.model.config.replicas, np.nan)
        sq = sum(np.einsum("rij,rij->r", g, g) for g in self.gw)
        return np.sqrt(sq + np.einsum("ri,ri->r", self.gb, self.gb))

    @cached_property
    def sgd_diffusion(self) -> float:
        """Diffusion of this step's SGD displacement of the observed coordinates, per step.

        D_t = 1/2 x (across-replica variance of dq), averaged over the k coordinates, where dq is
        the displacement of q made by this step's update only (-gamma g projected, or the
        heavy-ball velocity), so neuron moves made by controllers do not enter. Computed once per
        step (shared by every controller). NaN when learning is off.

        Examples
        --------
        >>> model = LearningSystem(replicas=8, n_hidden=2, seed=0)
        >>> model.step()
        >>> model.step()  # compare with the recorded coordinates (no neuron moves here)
        >>> dq = model.coordinates() - model.recent_coordinates(2)[0]
        >>> bool(np.isclose(model.observables.sgd_diffusion, 0.5 * dq.var(axis=0, ddof=1).mean()))
        True
        """
        model = self.model
        ens = model.ensemble
        if self.gw is None:
            return math.nan
        if ens.momentum:
            vec = ens.velocity_vector()
            scale = 1.0
        else:
            vec, scale = ens.edge_vector(self.gw, self.gb), -self.step_size
        dq = scale * (vec @ model.projection)
        return float(0.5 * dq.var(axis=0, ddof=1).mean()) if dq.shape[0] > 1 else math.nan

    @cached_property
    def n_neurons(self) -> np.ndarray:
        """Active neurons per replica (boundary included), (R,)."""
        return self.model.ensemble.n_active()

    @cached_property
    def free_energy(self) -> np.ndarray:
        """F per replica on the probe set (computed now if this was not a probe step), (R,)."""
        cached = self.model._probe_cache
        if cached is not None and cached[0] == self.model.steps:
            return cached[1]
        return self.model.free_energy()

    def drift_diffusion(self, window: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Rolling drift and diffusion of the observed coordinates.

        Over the last ``window`` recorded increments dq: drift = ensemble mean of dq per step,
        diffusion = half the across-replica variance of dq per step (drift variations across
        replicas count as diffusion here; the analysis package has the unbiased estimators).

        Returns
        -------
        drift, diffusion : ndarray, shape (k,)
        """
        q = self.model.recent_coordinates(window + 1)
        if q.shape[0] < 2:
            k = q.shape[-1]
            return np.full(k, np.nan), np.full(k, np.nan)
        dq = np.diff(q, axis=0)
        return dq.mean(axis=(0, 1)), 0.5 * dq.var(axis=1, ddof=1).mean(axis=0)
