"""What the ``particles`` scenario measures in its saved tables (pure functions of them).

Per arm: the stationary variance of the particles, from every late step of the
``trajectories`` table (the population means ``q_0 = <theta>`` and ``loss = <k theta^2 / 2>``
give ``Var = 2 loss / k - q_0^2``), with a 95 % interval from the spread of 10 block means;
``mu_c`` (mean of the controller's ``mu_c`` over the late model rows, same blocks), the final
population, refused births and
the separation of clones from their parents in the last snapshot of the ``particles`` table
(largest and median ``|theta - theta_parent|`` over the pairs alive there: exactly 0 when
clones never separate);
beside them the closed forms of :func:`analysis.imaginary_time.harmonic` (continuous and
discrete time).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from analysis.imaginary_time import harmonic
from scenarios.particles.arms import K

__all__ = ["measure_arms"]


BLOCKS = 10


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and mean +- 2 standard errors of the means of ``BLOCKS`` consecutive blocks."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    blocks = [b.mean() for b in np.array_split(v, min(BLOCKS, v.size))]
    se = float(np.std(blocks, ddof=1) / math.sqrt(len(blocks))) if len(blocks) > 1 else 0.0
    return mean, mean - 2 * se, mean + 2 * se


def measure_arms(tables: dict[str, pd.DataFrame], steps: int) -> pd.DataFrame:
    """One row per arm: settings, measured variance and mu_c (with intervals), predictions.

    Examples
    --------
    >>> parts = pd.DataFrame({"arm": "a", "step": [100, 100, 200, 200],
    ...                       "neuron_id": [0, 1, 0, 1], "parent_id": [-1, -1, -1, -1],
    ...                       "theta": [-0.3, 0.3, -0.3, 0.3], "event": "alive"})
    >>> traj = pd.DataFrame({"arm": "a", "step": [100, 200], "q_0": [0.0, 0.0],
    ...                      "loss": [0.045, 0.045]})
    >>> model = pd.DataFrame({"arm": "a", "step": [100, 200], "n_neurons": [2, 2],
    ...                       "neuron_count_mu_c": [np.nan, np.nan],
    ...                       "neuron_count_refused": [0, 0]})
    >>> arms = pd.DataFrame({"arm": ["a"], "alpha": [0.0], "D": [1e-3], "eta": [0.01],
    ...                      "T": [0.1], "r": [0.0], "variant": ["loss"],
    ...                      "noise_mode": ["langevin"], "family": ["control"]})
    >>> tabs = {"particles": parts, "model": model, "arms": arms, "trajectories": traj}
    >>> row = measure_arms(tabs, 200).iloc[0]
    >>> [round(float(row[c]), 4) for c in ("variance", "predicted", "clone_separation_max")]
    [0.09, 0.1, nan]
    """
    burn = steps // 4
    parts = tables["particles"]
    model = tables["model"]
    traj = tables["trajectories"]
    rows: list[dict[str, Any]] = []
    for s in tables["arms"].itertuples(index=False):
        t = traj[(traj.arm == s.arm) & (traj.step >= burn)]
        var = 2 * t["loss"].to_numpy() / K - t["q_0"].to_numpy() ** 2
        v, v_lo, v_hi = _interval(var)
        m = model[(model.arm == s.arm) & (model.step >= burn)]
        mu, mu_lo, mu_hi = _interval(m["neuron_count_mu_c"].to_numpy())
        ans = harmonic(K, D=s.D, eta=s.eta, alpha=s.alpha)
        mine = parts[(parts.arm == s.arm) & (parts.event == "alive")]
        last = mine[mine.step == mine.step.max()]
        pairs = last.merge(
            last[["neuron_id", "theta"]].rename(
                columns={"neuron_id": "parent_id", "theta": "theta_parent"}
            ),
            on="parent_id",
        )
        sep = np.abs(pairs.theta.to_numpy() - pairs.theta_parent.to_numpy())
        rows.append(
            {
                **s._asdict(),
                "variance": v,
                "variance_low": v_lo,
                "variance_high": v_hi,
                "predicted": ans.variance,
                "predicted_discrete": ans.variance_branched,
                "boltzmann": s.T / K if math.isfinite(s.T) else math.nan,
                "mu_c": mu,
                "mu_c_low": mu_lo,
                "mu_c_high": mu_hi,
                "mu_predicted": ans.mu,
                "mu_predicted_discrete": ans.mu_discrete,
                "n_final": int(m["n_neurons"].iloc[-1]) if len(m) else 0,
                "refused": int(model[model.arm == s.arm]["neuron_count_refused"].max()),
                "clone_separation_max": float(sep.max()) if sep.size else math.nan,
                "clone_separation_median": float(np.median(sep)) if sep.size else math.nan,
                "window": burn,
            }
        )
    return pd.DataFrame(rows)
