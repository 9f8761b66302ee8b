"""The emergent-geometry setup shared by the ``spacetime`` and ``duality`` scenarios.

Both scenarios run the same network (:func:`small_world_config`: a small-world hidden layer of 24
tanh neurons, probe states recorded every step), split its hidden neurons into ``D_GROUPS``
Louvain groups of the replica-mean |w| graph (:func:`wiring_table`, :func:`hidden_groups`; the
wiring is saved as the ``edges`` table so that ``dualsim report`` rebuilds the same groups), read
the coarse coordinates ``X^mu`` (mean state of group ``mu``) and estimate a local metric on a grid
box (:func:`metric_box`, ``METRIC_BINS`` patches per axis over the central ``METRIC_QUANTILE``
range, polynomial model of degree ``METRIC_DEGREE``). :func:`lag1` measures how smoothly X moves
from step to step.

Units: neuron states and X in neuron-state units; steps are learning steps.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from analysis.spacetime import neuron_groups
from models import LearningSystem, SystemConfig
from scenarios.common.coordinates import D_GROUPS

__all__ = [
    "METRIC_BINS",
    "METRIC_DEGREE",
    "METRIC_QUANTILE",
    "hidden_groups",
    "lag1",
    "metric_box",
    "small_world_config",
    "wiring_graph",
    "wiring_table",
]

METRIC_BINS = 7
METRIC_QUANTILE = (0.01, 0.99)
METRIC_DEGREE = 3


def small_world_config(quick: bool = False) -> SystemConfig:
    """The network of both scenarios: small-world hidden layer of 24, probe states every step.

    Two inputs, one output, teacher task; ``n_hidden = 24`` tanh neurons on a Watts-Strogatz
    ring (``k = 4``, ``p = 0.1``); 128 replicas (quick 32).

    Examples
    --------
    >>> cfg = small_world_config(quick=True)
    >>> cfg.replicas, cfg.n_hidden, cfg.record_every, cfg.state_source
    (32, 24, 1, 'probe')
    """
    return SystemConfig(
        replicas=32 if quick else 128,
        n_input=2,
        n_hidden=24,
        n_output=1,
        topology="small_world",
        small_world_k=4,
        small_world_p=0.1,
        task="teacher",
        step_size=0.05,
        batch_size=16,
        relax_steps=10,
        forward_sweeps=3,
        record_every=1,
        n_probe=8,
        state_source="probe",
        seed=0,
    )


def wiring_table(model: LearningSystem, arm: str) -> pd.DataFrame:
    """Wiring of ``model`` with the replica-mean |w| (``W[r, dst, src]``) of every edge.

    Columns ``src, dst, weight_mean, src_kind, dst_kind, arm`` (the ``edges`` table).

    Examples
    --------
    >>> e = wiring_table(LearningSystem(replicas=2, n_hidden=3, seed=0), "demo")
    >>> list(e.columns), bool((e["weight_mean"] >= 0).all())
    (['src', 'dst', 'weight_mean', 'src_kind', 'dst_kind', 'arm'], True)
    """
    dst, src = model.architecture.edge_dst, model.architecture.edge_src
    w = np.ascontiguousarray(model.ensemble.parameter_vector()[:, : dst.size])
    w = np.abs(w).mean(axis=0)
    kinds = np.asarray(model.architecture.kinds)
    return pd.DataFrame(
        {
            "src": src.astype(int),
            "dst": dst.astype(int),
            "weight_mean": w.astype(float),
            "src_kind": kinds[src],
            "dst_kind": kinds[dst],
            "arm": arm,
        }
    )


def wiring_graph(edges: pd.DataFrame) -> nx.Graph:
    """Undirected |w| graph of the neurons in an ``edges`` table (kinds as node attributes).

    The weights of the two directions of a pair add up; self-loops are dropped.

    Examples
    --------
    >>> e = pd.DataFrame({"src": [0, 1, 1], "dst": [1, 0, 1], "weight_mean": [0.5, 0.25, 9.0],
    ...                   "src_kind": "hidden", "dst_kind": "hidden"})
    >>> g = wiring_graph(e)
    >>> g.edges[0, 1]["weight"], g.number_of_edges()
    (0.75, 1)
    """
    g = nx.Graph()
    for col, kcol in (("src", "src_kind"), ("dst", "dst_kind")):
        g.add_nodes_from(
            (int(n), {"kind": str(k)}) for n, k in zip(edges[col], edges[kcol], strict=True)
        )
    for s, t, w in zip(edges["src"], edges["dst"], edges["weight_mean"], strict=True):
        s, t = int(s), int(t)
        if s == t:
            continue
        old = g.edges[s, t]["weight"] if g.has_edge(s, t) else 0.0
        g.add_edge(s, t, weight=old + float(w))
    return g


def hidden_groups(edges: pd.DataFrame, seed: int) -> list[list[int]]:
    """The ``D_GROUPS`` groups of hidden neurons (Louvain communities of the |w| graph).

    Examples
    --------
    >>> e = pd.DataFrame({"src": [0, 1, 2, 3, 4, 5, 6, 7], "dst": [1, 2, 3, 4, 5, 6, 7, 0],
    ...                   "weight_mean": 1.0, "src_kind": "hidden", "dst_kind": "hidden"})
    >>> [len(g) for g in hidden_groups(e, 0)]
    [2, 2, 2, 2]
    """
    return [
        [int(n) for n in grp]
        for grp in neuron_groups(wiring_graph(edges), D_GROUPS, seed=seed, kinds=("hidden",))
    ]


def lag1(X: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of each coordinate within replicas (replica means removed).

    ``X`` has shape (T, R, d); the result has shape (d,), NaN for a coordinate that does not
    move (up to rounding of its mean).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(400, 8, 2))
    >>> bool(np.all(np.abs(lag1(x)) < 0.1))
    True
    >>> lag1(np.ones((5, 3, 1)) / 3).tolist()  # a coordinate that never moves
    [nan]
    """
    z = X - X.mean(axis=0, keepdims=True)
    num = np.sum(z[1:] * z[:-1], axis=(0, 1))
    den = np.sum(z * z, axis=(0, 1))
    # a coordinate that does not move (up to rounding of the mean) has no autocorrelation
    still = den <= 1e-24 * np.maximum(np.sum(X * X, axis=(0, 1)), 1e-300)
    return np.where(still, np.nan, num / np.where(still, 1.0, den))


def metric_box(X: np.ndarray, extra: list[np.ndarray] | None = None) -> np.ndarray:
    """Grid box of the local metric: the central ``METRIC_QUANTILE`` range of ``X``, shape (d, 2).

    The box is widened to hold every point of ``extra`` (e.g. packet paths) and padded by 0.6
    patch widths (``METRIC_BINS`` patches per axis), so that it lies inside the patch centres.

    Examples
    --------
    >>> X = np.random.default_rng(0).uniform(0, 1, (50, 20, 2))
    >>> box = metric_box(X, [np.array([[2.0, 0.5]])])
    >>> box.shape, bool(box[0, 1] > 2.0), bool(-0.2 < box[1, 0] < 0.0)
    ((2, 2), True, True)
    """
    pts = X.reshape(-1, X.shape[-1])
    lo, hi = np.quantile(pts, METRIC_QUANTILE, axis=0)
    if extra:
        allp = np.concatenate([p.reshape(-1, X.shape[-1]) for p in extra])
        lo = np.minimum(lo, allp.min(axis=0))
        hi = np.maximum(hi, allp.max(axis=0))
    # the metric grid spans the patch centres: pad so that the box above is inside them
    pad = 0.6 * (hi - lo) / (METRIC_BINS - 1)
    return np.stack([lo - pad, hi + pad], axis=1)
