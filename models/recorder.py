"""The recorder of a :class:`~models.learning_system.LearningSystem`: per-step buffers and tables.

Every step the recorder keeps the observed coordinates q, the mini-batch loss, the probe-set
free energy (on probe steps), N per replica, gamma and M (and with ``record_noise`` the projected
gradient covariance); every ``record_every`` steps it runs the model's DataCollector and keeps
the mean neuron states. The buffers are turned into tidy tables on demand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from agents.controller import EVENT_COLUMNS

if TYPE_CHECKING:
    from models.learning_system import LearningSystem

__all__ = ["Recorder", "controller_events"]


class Recorder:
    """Per-step buffers of a model and the tables built from them.

    Parameters
    ----------
    model : LearningSystem
        The model recorded (its observables, coordinates and DataCollector are read).

    Examples
    --------
    >>> model = LearningSystem(replicas=2, n_hidden=2, seed=0)
    >>> model.run(3, progress=False)
    >>> rec = model.recorder
    >>> rec.trajectories()["step"].tolist()
    [0, 0, 1, 1, 2, 2, 3, 3]
    >>> rec.recent_coordinates(2).shape
    (2, 2, 2)
    """

    def __init__(self, model: LearningSystem) -> None:
        self.model = model
        self.steps: list[int] = []
        self.q: list[np.ndarray] = []
        self.loss: list[np.ndarray] = []
        self.free_energy: list[np.ndarray] = []
        self.n_neurons: list[np.ndarray] = []
        self.step_size: list[float] = []
        self.sigma: list[np.ndarray] = []
        self.batch_size: list[int] = []
        self.state_steps: list[int] = []
        self.state_values: list[np.ndarray] = []
        self.state_active: list[np.ndarray] = []

    def record(self, force_collect: bool = False) -> None:
        """Record the model's current step (the DataCollector too on ``record_every`` steps).

        Dropped replicas are recorded as NaN (q, loss, free energy).
        """
        model = self.model
        cfg = model.config
        t = model.steps
        obs = model.observables
        dead = ~model.alive
        self.steps.append(t)
        self.q.append(model.coordinates())
        self.loss.append(np.array(obs.loss, dtype=float))
        if t % cfg.probe_every == 0:
            self.free_energy.append(model.free_energy().astype(float))
        else:
            self.free_energy.append(np.full(cfg.replicas, np.nan))
        if dead.any():
            self.q[-1] = self.q[-1].astype(float)
            for rec in (self.q, self.loss, self.free_energy):
                rec[-1][dead] = np.nan
        self.n_neurons.append(obs.n_neurons.copy())
        self.step_size.append(model.step_size)
        if cfg.record_noise:
            self.sigma.append(np.asarray(obs.sigma_q, dtype=float))
        self.batch_size.append(model.batch_size)
        if force_collect or t % cfg.record_every == 0:
            model.datacollector.collect(model)
            if model.last_state is not None:
                self.state_steps.append(t)
                if cfg.state_source == "probe":
                    self.state_values.append(model.probe_mean_states())
                else:
                    self.state_values.append(model.batch_mean_states())
                self.state_active.append(model.ensemble.active.copy())

    def recent_coordinates(self, window: int) -> np.ndarray:
        """The last ``window`` recorded q, shape (<= window, R, k)."""
        return np.stack(self.q[-window:])

    def trajectories(self) -> pd.DataFrame:
        """Tidy table, one row per (step, replica), recorded every step.

        Columns: ``step``, ``replica``, ``n_neurons``, ``step_size``, ``batch_size``, ``loss``
        (mini-batch H; NaN at step 0), ``free_energy`` (probe-set F; NaN off probe steps),
        ``q_0 .. q_{k-1}``, and with ``record_noise`` the projected per-sample gradient
        covariance ``sigma_i_j`` (i <= j; NaN at step 0).
        """
        steps = np.asarray(self.steps)
        R = self.model.config.replicas
        T = len(steps)
        q = np.stack(self.q)
        data: dict[str, np.ndarray] = {
            "step": np.repeat(steps, R),
            "replica": np.tile(np.arange(R), T),
            "n_neurons": np.stack(self.n_neurons).ravel(),
            "step_size": np.repeat(np.asarray(self.step_size, dtype=float), R),
            "batch_size": np.repeat(np.asarray(self.batch_size), R),
            "loss": np.stack(self.loss).ravel(),
            "free_energy": np.stack(self.free_energy).ravel(),
        }
        for i in range(q.shape[2]):
            data[f"q_{i}"] = q[:, :, i].ravel().astype(float)
        if self.sigma:
            sig = np.stack(self.sigma)
            for i in range(sig.shape[2]):
                for j in range(i, sig.shape[3]):
                    data[f"sigma_{i}_{j}"] = sig[:, :, i, j].ravel()
        return pd.DataFrame(data)

    def neuron_states(self) -> pd.DataFrame:
        """Mean neuron states per (step, replica, neuron), every ``record_every`` steps.

        With ``state_source = "batch"`` the mean over the step's mini-batch; with ``"probe"`` the
        mean free-running state over fixed probe inputs
        (:meth:`~models.learning_system.LearningSystem.probe_mean_states`).

        Only slots active in that replica appear. Columns: ``step``, ``replica``, ``neuron``,
        ``kind``, ``state``.
        """
        cols = {"step": [], "replica": [], "neuron": [], "state": []}
        kinds = np.asarray(self.model.architecture.kinds)
        for t, values, active in zip(
            self.state_steps, self.state_values, self.state_active, strict=True
        ):
            r, i = np.nonzero(active)
            cols["step"].append(np.full(r.size, t))
            cols["replica"].append(r)
            cols["neuron"].append(i)
            cols["state"].append(values[r, i].astype(float))
        if not cols["step"]:
            return pd.DataFrame({"step": [], "replica": [], "neuron": [], "kind": [], "state": []})
        out = {k: np.concatenate(v) for k, v in cols.items()}
        return pd.DataFrame(
            {
                "step": out["step"],
                "replica": out["replica"],
                "neuron": out["neuron"],
                "kind": kinds[out["neuron"]],
                "state": out["state"],
            }
        )

    def controller_events(self) -> pd.DataFrame:
        """Every controller's events of the model, in order (see :func:`controller_events`)."""
        return controller_events(self.model.controllers)


def controller_events(controllers: list) -> pd.DataFrame:
    """Tidy table of the controllers' events, sorted by step (stable: controller order kept).

    Columns: ``step``, ``controller``, ``replica``, ``action``, ``before``, ``after``,
    ``delta_F``, ``accepted`` (each controller's ``events()`` supplies its rows).

    Examples
    --------
    >>> list(controller_events([]).columns)[:4]
    ['step', 'controller', 'replica', 'action']
    """
    columns = list(EVENT_COLUMNS)
    frames = [c.events() for c in controllers]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: [] for c in columns})
    return pd.concat(frames, ignore_index=True).sort_values(
        "step", kind="stable", ignore_index=True
    )
