"""Neuron groups of a network and their mean states: the coarse coordinates ``X^mu``.

Neuron states come either as the tidy table of ``LearningSystem.neuron_states()`` (columns
``step, replica, neuron, state``; one row per step, replica and neuron) or as an array of shape
``(T, R, N)``. Group ``mu`` of :func:`neuron_groups` defines the coordinate ``X^mu``; coarse
coordinates are arrays of shape ``(T, R, d)``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import networkx as nx
import numpy as np
import pandas as pd

from analysis.trajectory import to_array

__all__ = [
    "NEURON_KINDS",
    "coarse_coordinates",
    "coordinate_array",
    "neuron_groups",
    "neuron_nodes",
    "states_array",
]


#: Node kinds that count as neurons; controller nodes (``kind="controller"``) do not.
NEURON_KINDS = ("input", "hidden", "output")


def neuron_nodes(graph: nx.Graph, kinds: Sequence[str] = NEURON_KINDS) -> list[Hashable]:
    """Return the neuron nodes of a network graph in a fixed order.

    A node is a neuron when its ``kind`` attribute is one of ``kinds`` (nodes without a
    ``kind`` count as ``"hidden"``); controller nodes (``kind="controller"``) are ignored.
    Nodes are sorted when their labels are comparable, otherwise kept in insertion order.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.DiGraph()
    >>> g.add_nodes_from([(2, {"kind": "hidden"}), (0, {"kind": "input"})])
    >>> g.add_node("c", kind="controller")
    >>> neuron_nodes(g)
    [0, 2]
    """
    if not isinstance(graph, nx.Graph):
        raise ValueError(f"graph: got {type(graph).__name__}; expected a networkx Graph or DiGraph")
    nodes = [n for n, k in graph.nodes(data="kind", default="hidden") if k in kinds]
    try:
        return sorted(nodes)
    except TypeError:
        return nodes


def _neuron_graph(graph: nx.Graph, nodes: list[Hashable], weight: str) -> nx.Graph:
    """Undirected graph on the neurons with edge weights |w| (both directions summed)."""
    h = nx.Graph()
    h.add_nodes_from(nodes)
    keep = set(nodes)
    for u, v, w in graph.edges(data=weight, default=1.0):
        if u in keep and v in keep and u != v:
            w = abs(float(w))
            if w == 0.0:
                continue
            old = h.edges[u, v]["weight"] if h.has_edge(u, v) else 0.0
            h.add_edge(u, v, weight=old + w)
    return h


def _between(h: nx.Graph, a: set, b: set) -> float:
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    return float(sum(d["weight"] for u in small for v, d in h.adj[u].items() if v in big))


def neuron_groups(
    graph: nx.Graph,
    n_groups: int,
    method: str | Mapping[Hashable, int] | Sequence[Sequence[Hashable]] = "communities",
    *,
    seed: int = 0,
    kinds: Sequence[str] = NEURON_KINDS,
    weight: str = "weight",
) -> list[list[Hashable]]:
    """Partition the neurons of a network into ``n_groups = D + 1`` groups.

    Parameters
    ----------
    graph : networkx.Graph or DiGraph
        The network; neuron nodes carry ``kind`` in ``kinds`` (see :func:`neuron_nodes`).
    n_groups : int
        Number of groups (the space-time dimension d), at least 2.
    method : {"communities", "random"} or mapping or sequence of sequences
        ``"communities"``: Louvain communities of the |w| graph (seeded), then the smallest
        community is merged into its most strongly connected neighbour, or the largest is
        bisected (Kernighan-Lin), until there are exactly ``n_groups``. ``"random"``: a random
        partition into groups of (nearly) equal size. A mapping ``node -> group index`` or a
        sequence of node lists gives the partition directly (validated).
    seed : int
        Seed of the community detection, bisection or random partition.
    kinds : sequence of str
        Node kinds that count as neurons (e.g. ``("hidden",)`` for the bulk only).
    weight : str
        Edge attribute holding the weight w (its absolute value is used; missing means 1).

    Returns
    -------
    list of list
        The groups, each sorted in :func:`neuron_nodes` order; groups are ordered by their
        first member. Group ``mu`` defines the coordinate ``X^mu``.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.planted_partition_graph(2, 6, 0.9, 0.02, seed=1)
    >>> [len(c) for c in neuron_groups(g, 2)]
    [6, 6]
    >>> neuron_groups(g, 2, method=[[0, 1, 2], [3, 4, 5, 6, 7, 8, 9, 10, 11]])[0]
    [0, 1, 2]
    """
    nodes = neuron_nodes(graph, kinds)
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or n_groups < 2:
        raise ValueError(f"n_groups: {n_groups!r}; expected an integer >= 2")
    if n_groups > len(nodes):
        raise ValueError(
            f"n_groups: {n_groups}; only {len(nodes)} neuron(s) of kinds {tuple(kinds)}"
        )
    order = {n: i for i, n in enumerate(nodes)}
    if isinstance(method, str):
        if method == "random":
            rng = np.random.default_rng(seed)
            perm = rng.permutation(len(nodes))
            groups = [set(nodes[i] for i in part) for part in np.array_split(perm, n_groups)]
        elif method == "communities":
            groups = _community_groups(graph, nodes, n_groups, seed, weight)
        else:
            raise ValueError(
                f"method: {method!r}; expected 'communities', 'random', a mapping or groups"
            )
    else:
        groups = _given_groups(method, nodes, n_groups)
    out = [sorted(g, key=order.__getitem__) for g in groups]
    out.sort(key=lambda g: order[g[0]])
    return out


def _community_groups(
    graph: nx.Graph, nodes: list[Hashable], n_groups: int, seed: int, weight: str
) -> list[set]:
    h = _neuron_graph(graph, nodes, weight)
    comms = [set(c) for c in nx.community.louvain_communities(h, weight="weight", seed=seed)]
    order = {n: i for i, n in enumerate(nodes)}
    while len(comms) > n_groups:
        comms.sort(key=lambda c: (len(c), min(order[n] for n in c)))
        small = comms.pop(0)
        links = [_between(h, small, c) for c in comms]
        best = int(np.argmax(links)) if max(links) > 0 else 0
        comms[best] |= small
    while len(comms) < n_groups:
        comms.sort(key=lambda c: (-len(c), min(order[n] for n in c)))
        big = comms.pop(0)
        sub = h.subgraph(big)
        a, b = nx.community.kernighan_lin_bisection(sub, weight="weight", seed=seed)
        comms.extend([set(a), set(b)])
    return comms


def _given_groups(
    method: Mapping[Hashable, int] | Sequence[Sequence[Hashable]], nodes: list, n_groups: int
) -> list[set]:
    if isinstance(method, Mapping):
        labels = sorted(set(method.values()))
        groups = [{n for n, g in method.items() if g == lab} for lab in labels]
    elif isinstance(method, Sequence):
        groups = [set(g) for g in method]
        if sum(len(g) for g in groups) != len(set().union(*groups)):
            raise ValueError(
                "method: the given groups overlap; expected disjoint groups of neurons"
            )
    else:
        raise ValueError(
            f"method: got {type(method).__name__}; expected a str, mapping or sequence"
        )
    if len(groups) != n_groups:
        raise ValueError(f"method: {len(groups)} group(s) given; n_groups is {n_groups}")
    known = set(nodes)
    for g in groups:
        if not g:
            raise ValueError("method: an empty group; every group needs at least one neuron")
        unknown = g - known
        if unknown:
            raise ValueError(
                f"method: node(s) {sorted(map(str, unknown))[:5]} are not neurons of the graph"
            )
    return groups


def states_array(states: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, list[Hashable]]:
    """Neuron states as an array ``(T, R, N)`` and the neuron labels of its last axis.

    Parameters
    ----------
    states : DataFrame or ndarray
        ``LearningSystem.neuron_states()`` table (``step, replica, neuron, state``; every neuron
        once per step and replica), or an array ``(T, R, N)`` or ``(T, N)`` (one replica) whose
        neuron labels are ``0 .. N-1``.

    Returns
    -------
    arr : ndarray, shape (T, R, N)
        Steps, replicas and neurons in increasing label order.
    labels : list
        Neuron label of each column of the last axis.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"step": [0, 0, 1, 1], "replica": 0, "neuron": [7, 3, 3, 7],
    ...                    "state": [1.0, 2.0, 3.0, 4.0]})
    >>> arr, labels = states_array(df)
    >>> arr[:, 0].tolist(), [int(n) for n in labels]
    ([[2.0, 1.0], [3.0, 4.0]], [3, 7])
    """
    if isinstance(states, pd.DataFrame):
        need = ["step", "replica", "neuron", "state"]
        missing = [c for c in need if c not in states.columns]
        if missing:
            raise ValueError(f"states: missing column(s) {missing}; expected {need}")
        steps, si = np.unique(states["step"].to_numpy(), return_inverse=True)
        reps, ri = np.unique(states["replica"].to_numpy(), return_inverse=True)
        neurons, ni = np.unique(states["neuron"].to_numpy(), return_inverse=True)
        T, R, N = len(steps), len(reps), len(neurons)
        if len(states) != T * R * N:
            raise ValueError(
                f"states: {len(states)} rows for {T} steps x {R} replicas x {N} neurons; "
                "every neuron must appear once per step and replica"
            )
        flat = (si * R + ri) * N + ni
        if np.unique(flat).size != flat.size:
            raise ValueError("states: duplicate (step, replica, neuron) rows")
        arr = np.empty(T * R * N)
        arr[flat] = states["state"].to_numpy(dtype=float)
        arr = arr.reshape(T, R, N)
        labels = list(neurons)
    elif isinstance(states, np.ndarray):
        arr = np.asarray(states, dtype=float)
        if arr.ndim == 2:
            arr = arr[:, None, :]
        if arr.ndim != 3:
            raise ValueError(f"states: array of shape {arr.shape}; expected (T, R, N) or (T, N)")
        labels = list(range(arr.shape[2]))
    else:
        raise ValueError(f"states: got {type(states).__name__}; expected a DataFrame or an ndarray")
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"states: {bad} NaN/Inf value(s); drop diverged replicas first")
    return arr, labels


def coarse_coordinates(
    states: pd.DataFrame | np.ndarray, groups: Sequence[Sequence[Hashable]]
) -> np.ndarray:
    """Mean state of each neuron group: the coarse coordinates ``X^mu``.

    Parameters
    ----------
    states : DataFrame or ndarray
        ``LearningSystem.neuron_states()`` table (``step, replica, neuron, state``) or an array
        ``(T, R, N)`` whose neuron labels are ``0 .. N-1``.
    groups : sequence of sequences
        Neuron labels of each group (see :func:`neuron_groups`).

    Returns
    -------
    ndarray, shape (T, R, d)
        Steps and replicas in increasing label order.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.arange(8.0).reshape(1, 2, 4)
    >>> coarse_coordinates(s, [[0, 1], [2, 3]])[0]
    array([[0.5, 2.5],
           [4.5, 6.5]])
    """
    arr, labels = states_array(states)
    index = {lab: i for i, lab in enumerate(labels)}
    if len(groups) < 1:
        raise ValueError("groups: empty; expected at least one group of neuron labels")
    w = np.zeros((len(labels), len(groups)))
    for mu, grp in enumerate(groups):
        if len(grp) == 0:
            raise ValueError(f"groups: group {mu} is empty; every group needs at least one neuron")
        missing = [n for n in grp if n not in index]
        if missing:
            raise ValueError(f"groups: neuron(s) {missing[:5]} of group {mu} are not in states")
        w[[index[n] for n in grp], mu] = 1.0 / len(grp)
    return arr @ w


def coordinate_array(
    X: pd.DataFrame | np.ndarray, min_steps: int = 2, min_replicas: int = 2
) -> np.ndarray:
    """Coarse coordinates as a checked ``(T, R, d)`` array.

    Parameters
    ----------
    X : DataFrame or ndarray
        A trajectory table (``step, replica, q_0, ...``; see :mod:`analysis.trajectory`) or an
        array ``(T, R, d)`` (e.g. :func:`coarse_coordinates`).
    min_steps, min_replicas : int
        Smallest number of recorded steps and of replicas accepted.

    Returns
    -------
    ndarray, shape (T, R, d)

    Examples
    --------
    >>> import numpy as np
    >>> coordinate_array(np.zeros((3, 4, 2))).shape
    (3, 4, 2)
    >>> try:
    ...     coordinate_array(np.zeros((3, 4)))
    ... except ValueError as err:
    ...     print(err)
    X: array of shape (3, 4); expected (T, R, d) coarse coordinates
    """
    if isinstance(X, np.ndarray) and X.ndim != 3:
        raise ValueError(f"X: array of shape {X.shape}; expected (T, R, d) coarse coordinates")
    q = to_array(X, min_steps=min_steps, min_replicas=min_replicas).q
    if q.shape[2] < 1:
        raise ValueError("X: no coordinates; expected (T, R, d) with d >= 1")
    return q
