"""Coarse neuron coordinates of one arm, read from its saved tables.

The ``spacetime`` and ``duality`` scenarios run the same kind of network (a hidden layer whose
neurons are split into ``D_GROUPS = 4`` Louvain groups) and record neuron states every step.
This module checks such a config, reads the states of one arm from the ``neuron_states`` table
and builds the coarse coordinates ``X^mu`` (mean state of group ``mu``); the statistics live in
the scenario packages.

Units: neuron states (and X) in neuron-state units; steps are learning steps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.spacetime import coarse_coordinates
from models import ConfigError, SystemConfig
from runner import AnalysisFailed

__all__ = [
    "D_GROUPS",
    "arm_coordinates",
    "arm_states",
    "check_network",
    "states_array",
    "tidy_events",
]

D_GROUPS = 4


def check_network(config: SystemConfig) -> None:
    """Refuse a config whose states cannot give 4 coarse coordinates every step.

    Raises :class:`~models.ConfigError` (a ValueError, exit 2) naming ``n_hidden`` (fewer than
    ``D_GROUPS`` hidden neurons) or ``record_every`` (states not recorded every step).

    Examples
    --------
    >>> check_network(SystemConfig(n_hidden=8, record_every=1))
    >>> try:
    ...     check_network(SystemConfig(n_hidden=8, record_every=2))
    ... except ValueError as err:
    ...     print(err)
    record_every: 2; expected 1 (states every step)
    """
    if config.n_hidden < D_GROUPS:
        raise ConfigError("n_hidden", config.n_hidden, f">= {D_GROUPS} (d = 4 groups)")
    if config.record_every != 1:
        raise ConfigError("record_every", config.record_every, "1 (states every step)")


def tidy_events(events: pd.DataFrame) -> pd.DataFrame:
    """Mixed controller/model event columns: all-numeric ones as float, the rest as strings.

    Examples
    --------
    >>> ev = pd.DataFrame({"a": ["1", 2.5, None], "b": ["x", 1, None]}, dtype=object)
    >>> out = tidy_events(ev)
    >>> out["a"].tolist()[:2], out["b"].tolist()[:2]
    ([1.0, 2.5], ['x', '1'])
    """
    ev = events.copy()
    for col in ev.columns:
        if ev[col].dtype == object:
            num = pd.to_numeric(ev[col], errors="coerce")
            if num.notna().sum() == ev[col].notna().sum():
                ev[col] = num.astype(float)
            else:
                ev[col] = ev[col].where(ev[col].isna(), ev[col].astype(str))
    return ev


def states_array(frame: pd.DataFrame, neurons: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Neuron states of one arm as (T, R, len(neurons)), inactive slots 0; and the steps.

    Examples
    --------
    >>> f = pd.DataFrame({"step": [1, 1, 2], "replica": [0, 1, 0], "neuron": [3, 3, 4],
    ...                   "state": [0.1, 0.2, 0.3]})
    >>> arr, steps = states_array(f, [3, 4])
    >>> arr.shape, steps.tolist(), float(arr[1, 0, 1])
    ((2, 2, 2), [1, 2], 0.3)
    """
    steps, si = np.unique(frame["step"].to_numpy(), return_inverse=True)
    R = int(frame["replica"].max()) + 1
    col = {n: i for i, n in enumerate(neurons)}
    ni = frame["neuron"].map(col)
    keep = ni.notna().to_numpy()
    arr = np.zeros((len(steps), R, len(neurons)))
    arr[si[keep], frame["replica"].to_numpy()[keep], ni[keep].astype(int).to_numpy()] = frame[
        "state"
    ].to_numpy()[keep]
    return arr, steps


def arm_states(tables: dict[str, pd.DataFrame], arm: str, neurons: list[int]) -> np.ndarray:
    """States of ``neurons`` in one arm from step 1 on, (T, R, len(neurons)): row i = step i + 1.

    Step 0 holds no relaxed states yet. AnalysisFailed when the arm has no rows.

    Examples
    --------
    >>> ns = pd.DataFrame({"step": [0, 1, 2], "replica": 0, "neuron": 3, "state": [0., .5, .7],
    ...                    "arm": "a"})
    >>> arm_states({"neuron_states": ns}, "a", [3])[:, 0, 0].tolist()
    [0.5, 0.7]
    """
    ns = tables["neuron_states"]
    part = ns[ns["arm"] == arm]
    if part.empty:
        raise AnalysisFailed(f"neuron_states: no rows for arm {arm!r}")
    arr, steps = states_array(part, neurons)
    return arr[steps >= 1]


def arm_coordinates(
    tables: dict[str, pd.DataFrame], arm: str, groups: list[list[int]]
) -> np.ndarray:
    """Coarse coordinates X (T, R, len(groups)) of one arm: mean state of each neuron group.

    Row ``i`` is step ``i + 1``; a slot inactive in a replica counts as state 0.

    Examples
    --------
    >>> ns = pd.DataFrame({"step": 1, "replica": 0, "neuron": [3, 4, 5], "state": [1., 3., 5.],
    ...                    "arm": "a"})
    >>> arm_coordinates({"neuron_states": ns}, "a", [[3, 4], [5]])[0, 0].tolist()
    [2.0, 5.0]
    """
    hidden = sorted(int(n) for g in groups for n in g)
    arr = arm_states(tables, arm, hidden)
    return coarse_coordinates(arr, [[hidden.index(n) for n in g] for g in groups])
