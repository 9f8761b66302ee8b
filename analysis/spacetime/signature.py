"""Emergent space-time of neuron states: coarse coordinates, Lorentz signature, local metric,
dispersion, geodesic motion and Einstein equations (PHYSICS.md sections 5-7, NUMERICS.md 4).

Conventions
-----------
- ``d = D + 1`` is the space-time dimension: the number of neuron groups whose mean states are
  the coarse coordinates ``X^mu``. Coordinate order is the array axis order.
- Tensors carry lower indices unless their name says otherwise. The target signature is
  ``(-, +, ..., +)``: a time-like direction is one along which the entropy-production form is
  negative (net destruction by learning).
- Time is measured in learning steps times ``dt`` (``dt = 1`` for simulator data); rates such as
  the entropy production are per unit of that time, in nats.
- Neuron states come either as the tidy table of ``LearningSystem.neuron_states()`` (columns
  ``step, replica, neuron, state``; one row per step, replica and neuron) or as an array of shape
  ``(T, R, N)``; coarse coordinates are arrays of shape ``(T, R, d)``.
- A metric on a grid is an array ``g`` of shape ``(n_0, ..., n_{d-1}, d, d)`` with grid
  ``spacing`` (d floats) and ``origin`` (the coordinates of grid point ``(0, ..., 0)``); the
  curvature is computed by :mod:`analysis.geometry`.

The entropy-production form of an ensemble following ``dX = A(X) dt + sqrt(2 D) dW`` with
density ``p`` is ``dS/dt = E[div A] + E[s^T D s]`` (``s = grad ln p``), the trace of

    C = sym(E[grad A]) + sym(D E[s s^T]),

whose first term is the destruction (or production) by the drift of learning and whose second
term is the stochastic production (positive semi-definite in expectation).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy import linalg, ndimage

from analysis.trajectory import to_array

_NEURON_KINDS = ("input", "hidden", "output")


# --------------------------------------------------------------------------------------------
# neuron groups and coarse coordinates
# --------------------------------------------------------------------------------------------


def neuron_nodes(graph: nx.Graph, kinds: Sequence[str] = _NEURON_KINDS) -> list[Hashable]:
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
    kinds: Sequence[str] = _NEURON_KINDS,
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


def _states_array(states: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, list[Hashable]]:
    """Neuron states as an array (T, R, N) and the neuron labels of its last axis."""
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
    arr, labels = _states_array(states)
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


# --------------------------------------------------------------------------------------------
# entropy-production form and its signature
# --------------------------------------------------------------------------------------------


def _coordinates(
    X: pd.DataFrame | np.ndarray, min_steps: int = 2, min_replicas: int = 2
) -> np.ndarray:
    """Coarse coordinates as a (T, R, d) array (a trajectory table or an array)."""
    if isinstance(X, np.ndarray) and X.ndim != 3:
        raise ValueError(f"X: array of shape {X.shape}; expected (T, R, d) coarse coordinates")
    q = to_array(X, min_steps=min_steps, min_replicas=min_replicas).q
    if q.shape[2] < 1:
        raise ValueError("X: no coordinates; expected (T, R, d) with d >= 1")
    return q


def _check_dt(dt: float) -> float:
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt: {dt!r}; expected a finite number > 0")
    return float(dt)


def _window(window: tuple[int, int] | None, T: int) -> tuple[int, int]:
    """Steps t0 .. t1-1 whose increments (to t+1) and ensembles are used."""
    if window is None:
        return 0, T - 1
    t0, t1 = (int(w) for w in window)
    if not (0 <= t0 < t1 <= T - 1):
        raise ValueError(
            f"window: {window!r}; expected (t0, t1) with 0 <= t0 < t1 <= T-1 = {T - 1}"
        )
    return t0, t1


def _drift_features(x: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Regression features of points x (m, d) and the mean of their x-derivatives (p, d)."""
    m, d = x.shape
    feats = [np.ones((m, 1)), x]
    dmean = [np.zeros((1, d)), np.eye(d)]
    if order == 2:
        iu, ju = np.triu_indices(d)
        feats.append(x[:, iu] * x[:, ju])
        mean = x.mean(axis=0)
        dq = np.zeros((len(iu), d))
        dq[np.arange(len(iu)), iu] += mean[ju]
        dq[np.arange(len(iu)), ju] += mean[iu]
        dmean.append(dq)
    return np.hstack(feats), np.vstack(dmean)


def _drift_order(drift: str) -> int:
    orders = {"linear": 1, "quadratic": 2}
    if drift not in orders:
        raise ValueError(f"drift: {drift!r}; expected 'linear' or 'quadratic'")
    return orders[drift]


def _score_fitter(score: str | Callable) -> Callable[[np.ndarray], np.ndarray] | None:
    """Scores of an ensemble at its own points; None means the vectorised Gaussian score."""
    if callable(score):
        return score
    if score == "gaussian":
        return None
    if not isinstance(score, str):
        raise ValueError(f"score: {score!r}; expected 'gaussian', a fit_score method or a callable")

    def fit(samples: np.ndarray) -> np.ndarray:
        try:
            from analysis.score import fit_score
        except ImportError as exc:  # pragma: no cover - depends on the other module landing
            raise ValueError(
                f"score: {score!r} needs analysis.score, which is not importable"
            ) from exc
        return np.asarray(fit_score(samples, method=score).score(samples), dtype=float)

    return fit


def _gaussian_scores(xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian scores of each time slice xs (nt, n, d) and the unbiased E[s s^T] per slice."""
    _, n, d = xs.shape
    if n <= d + 2:
        raise ValueError(f"X: {n} replicas; the Gaussian score needs more than d + 2 = {d + 2}")
    xc = xs - xs.mean(axis=1, keepdims=True)
    cov = np.einsum("tri,trj->tij", xc, xc) / (n - 1)
    try:
        prec = np.linalg.inv(cov)
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            "X: the ensemble covariance is singular at some step; coordinates are degenerate"
        ) from exc
    s = -np.einsum("tij,trj->tri", prec, xc)
    return s, prec * (n - d - 2) / (n - 1)


def _score_moment(xs: np.ndarray, fitter: Callable | None) -> np.ndarray:
    if fitter is None:
        return _gaussian_scores(xs)[1].mean(axis=0)
    n = xs.shape[1]
    moments = [(s := fitter(xt)).T @ s / n for xt in xs]
    return np.mean(moments, axis=0)


def _sym(a: np.ndarray) -> np.ndarray:
    return 0.5 * (a + np.swapaxes(a, -1, -2))


def _replica_stats(X: np.ndarray, dt: float, t0: int, t1: int, order: int) -> dict[str, np.ndarray]:
    """Per-replica sufficient statistics of the drift regression and of the ensemble moments."""
    xs = X[t0:t1]
    nt, R, d = xs.shape
    y = (X[t0 + 1 : t1 + 1] - xs) / dt
    feats, _ = _drift_features(xs.reshape(-1, d), order)
    p = feats.shape[1]
    if nt * R <= 2 * p:
        raise ValueError(
            f"X: {nt * R} increments in the window; the {('linear', 'quadratic')[order - 1]} "
            f"drift needs more than {2 * p}"
        )
    f = feats.reshape(nt, R, p)
    return {
        "nt": np.array(nt),
        "ftf": np.einsum("trp,trq->rpq", f, f).reshape(R, -1),
        "fty": np.einsum("trp,tri->rpi", f, y).reshape(R, -1),
        "yty": np.einsum("tri,trj->rij", y, y).reshape(R, -1),
        "x": np.moveaxis(xs, 1, 0).reshape(R, -1),
        "xx": np.moveaxis(np.einsum("tri,trj->trij", xs, xs), 1, 0).reshape(R, -1),
    }


def _production_batch(
    st: dict[str, np.ndarray], w: np.ndarray, d: int, dt: float, order: int, gaussian: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """E[grad A] (J[b, i, l] = E[d A_i / d x_l]), D and (Gaussian) E[s s^T] for replica
    weights w (B, R): row b is the ensemble in which replica r appears w[b, r] times."""
    B = len(w)
    nt = int(st["nt"])
    nrep = w.sum(axis=1)
    n = nrep * nt
    a = (w @ st["ftf"]).reshape(B, -1, int(np.sqrt(st["ftf"].shape[1])))
    p = a.shape[1]
    fy = (w @ st["fty"]).reshape(B, p, d)
    yy = (w @ st["yty"]).reshape(B, d, d)
    coef = np.linalg.solve(a, fy)
    rss = yy - np.einsum("bpi,bpj->bij", fy, coef)
    diff = _sym(rss / (n - p)[:, None, None]) * dt / 2
    xt = (w @ st["x"]).reshape(B, nt, d) / nrep[:, None, None]
    dmean = np.zeros((B, p, d))
    dmean[:, 1 : d + 1] = np.eye(d)
    if order == 2:
        mean = xt.mean(axis=1)
        iu, ju = np.triu_indices(d)
        rows = np.arange(len(iu)) + d + 1
        dmean[:, rows, iu] += mean[:, ju]
        dmean[:, rows, ju] += mean[:, iu]
    jac = np.einsum("bpi,bpl->bil", coef, dmean)
    if not gaussian:
        return jac, diff, None
    if np.any(nrep <= d + 2):
        raise ValueError(f"X: {int(nrep.min())} replicas; the Gaussian score needs more than d + 2")
    xxt = (w @ st["xx"]).reshape(B, nt, d, d) / nrep[:, None, None, None]
    r = nrep[:, None, None, None]
    cov = (xxt - xt[..., :, None] * xt[..., None, :]) * r / (r - 1)
    try:
        prec = np.linalg.inv(cov)
    except np.linalg.LinAlgError as exc:
        raise ValueError("X: the ensemble covariance is singular at some step") from exc
    mom = (prec * (r - d - 2) / (r - 1)).mean(axis=1)
    return jac, diff, mom


def _reference_matrix(reference: str | np.ndarray, diff: np.ndarray) -> np.ndarray:
    d = diff.shape[0]
    if isinstance(reference, str):
        if reference == "identity":
            return np.eye(d)
        if reference == "diffusion":
            return diff
        raise ValueError(
            f"reference: {reference!r}; expected 'identity', 'diffusion' or a (d, d) array"
        )
    ref = np.asarray(reference, dtype=float)
    if ref.shape != (d, d):
        raise ValueError(f"reference: shape {ref.shape}; expected ({d}, {d})")
    return ref


def _generalized_eigh(c: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        return linalg.eigh(_sym(c), _sym(ref))
    except linalg.LinAlgError as exc:
        raise ValueError(
            "reference: not positive definite (no measured diffusion?); use 'identity'"
        ) from exc


def tensor_signature(
    C: np.ndarray, reference: np.ndarray | None = None, tol: float = 1e-8
) -> tuple[int, int, int]:
    """Inertia ``(n_negative, n_zero, n_positive)`` of a symmetric form.

    The eigenvalues are those of ``C v = lambda P v`` with ``P = reference`` (identity by
    default); by Sylvester's law the counts do not depend on ``P`` or on the coordinates. An
    eigenvalue is zero when ``|lambda| <= tol * max |lambda|``. Lorentzian means ``(1, 0, d-1)``.

    Examples
    --------
    >>> import numpy as np
    >>> tensor_signature(np.diag([-2.0, 1.0, 3.0, 0.5]))
    (1, 0, 3)
    >>> tensor_signature(np.diag([1.0, 0.0]))
    (0, 1, 1)
    """
    c = np.asarray(C, dtype=float)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] < 1:
        raise ValueError(f"C: shape {c.shape}; expected a square (d, d) matrix")
    if not np.all(np.isfinite(c)):
        raise ValueError("C: NaN/Inf entries; expected a finite matrix")
    if not np.allclose(c, c.T, rtol=1e-8, atol=1e-12 * max(1.0, np.abs(c).max())):
        raise ValueError("C: not symmetric; symmetrise it first ((C + C.T) / 2)")
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol: {tol!r}; expected a number >= 0")
    ref = np.eye(len(c)) if reference is None else _reference_matrix(reference, c)
    lam = _generalized_eigh(c, ref)[0]
    scale = np.abs(lam).max()
    zero = np.abs(lam) <= tol * scale if scale > 0 else np.ones(lam.shape, bool)
    return int(np.sum((lam < 0) & ~zero)), int(np.sum(zero)), int(np.sum((lam > 0) & ~zero))


def signature_from_intervals(ci: np.ndarray) -> tuple[int, int, int]:
    """Inertia from eigenvalue confidence intervals: below 0, containing 0, above 0.

    Examples
    --------
    >>> import numpy as np
    >>> signature_from_intervals(np.array([[-2.0, -1.0], [-0.1, 0.2], [0.5, 1.0]]))
    (1, 1, 1)
    """
    ci = np.asarray(ci, dtype=float)
    if ci.ndim != 2 or ci.shape[1] != 2:
        raise ValueError(f"ci: shape {ci.shape}; expected (d, 2) intervals")
    neg = int(np.sum(ci[:, 1] < 0))
    pos = int(np.sum(ci[:, 0] > 0))
    return neg, len(ci) - neg - pos, pos


@dataclass(frozen=True)
class ProductionTensor:
    """Entropy-production form ``C = learning + stochastic`` of coarse coordinates.

    Attributes
    ----------
    C, learning, stochastic : ndarray, shape (d, d)
        The form and its two parts ``sym(E[grad A])`` and ``sym(D E[s s^T])`` (per unit time).
    drift_jacobian, diffusion, score_moment : ndarray, shape (d, d)
        ``E[grad A]`` (``[i, l] = E[d A_i / d x_l]``), ``D`` and ``E[s s^T]``.
    entropy_production, learning_rate, stochastic_rate : float
        Traces of C and of its parts (dS/dt and its budget, nats per unit time).
    entropy_production_ci : ndarray, shape (2,)
        Basic bootstrap interval of the trace (NaN without bootstrap).
    eigenvalues : ndarray, shape (d,)
        Ascending eigenvalues of ``C v = lambda P v`` (``P`` = the reference).
    eigenvalue_ci : ndarray, shape (d, 2)
        Basic (pivotal) bootstrap intervals ``[2 lambda - q_hi, 2 lambda - q_lo]`` of the sorted
        eigenvalues, which correct the spreading bias of sorted eigenvalues of a noisy matrix
        (NaN without bootstrap).
    eigenvectors : ndarray, shape (d, d)
        Columns are the eigenvectors; column 0 is the most negative (time-like) direction.
    signature : tuple of int
        ``(n_negative, n_zero, n_positive)``; "zero" means the interval contains 0 (or, without
        bootstrap, ``|lambda| <= 1e-8 max |lambda|``).
    timelike_stability : float
        Median ``|cos|`` between the bootstrap and the point eigenvector of the lowest
        eigenvalue (> 0.9 means a stable time direction; NaN without bootstrap).
    reference : str
        The positive-definite reference of the eigenproblem.
    n_bootstrap : int
    level : float
    """

    C: np.ndarray
    learning: np.ndarray
    stochastic: np.ndarray
    drift_jacobian: np.ndarray
    diffusion: np.ndarray
    score_moment: np.ndarray
    entropy_production: float
    learning_rate: float
    stochastic_rate: float
    entropy_production_ci: np.ndarray
    eigenvalues: np.ndarray
    eigenvalue_ci: np.ndarray
    eigenvectors: np.ndarray
    signature: tuple[int, int, int]
    timelike_stability: float
    reference: str
    n_bootstrap: int
    level: float

    @property
    def lorentzian(self) -> bool:
        """True when the signature is ``(1, 0, d-1)``."""
        d = len(self.eigenvalues)
        return self.signature == (1, 0, d - 1)


def entropy_production_tensor(
    X: pd.DataFrame | np.ndarray,
    dt: float = 1.0,
    *,
    window: tuple[int, int] | None = None,
    drift: str = "linear",
    score: str | Callable[[np.ndarray], np.ndarray] = "gaussian",
    reference: str | np.ndarray = "diffusion",
    bootstrap: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> ProductionTensor:
    """Entropy-production form ``C = sym(E[grad A]) + sym(D E[s s^T])`` of an ensemble.

    The drift ``A`` is the least-squares regression of the increments ``(X_{t+1} - X_t) / dt`` on
    ``(1, X_t)`` (``drift="linear"``) or on a full quadratic (``"quadratic"``), pooled over the
    window and the replicas; ``D`` is the residual covariance times ``dt / 2``; the score ``s``
    is that of the ensemble density at each step of the window (``E[s s^T]`` averaged over the
    steps). The Euler regression is biased by ``O(|grad A| dt)``; keep ``|grad A| dt`` small.

    Parameters
    ----------
    X : ndarray (T, R, d) or trajectory table
        Coarse coordinates (see :func:`coarse_coordinates`).
    dt : float
        Time between recorded steps.
    window : (t0, t1), optional
        Use the ensembles at steps ``t0 .. t1-1`` and their increments; default all.
    drift : {"linear", "quadratic"}
    score : "gaussian", a method name of ``analysis.score.fit_score`` or a callable
        ``samples (n, d) -> scores (n, d)``. ``"gaussian"`` uses ``E[s s^T] = S^{-1}`` with the
        unbiased inverse-covariance factor ``(n - d - 2) / (n - 1)``.
    reference : {"diffusion", "identity"} or ndarray
        Positive-definite ``P`` of the eigenproblem ``C v = lambda P v``.
    bootstrap : int
        Resamples of the replicas (0 disables the intervals). With the Gaussian score all
        resamples are evaluated at once from per-replica sufficient statistics; any other
        score is refitted for every resample and step (slow: ``bootstrap * steps`` fits).
    level : float
        Confidence level of the intervals.
    seed : int

    Returns
    -------
    ProductionTensor

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.empty((21, 500, 2)); x[0] = rng.normal(size=(500, 2))
    >>> for t in range(20):  # contract axis 0 (destroying), let axis 1 spread (producing)
    ...     x[t + 1] = x[t] + 0.01 * np.array([-3.0, -0.1]) * x[t] + 0.1 * rng.normal(size=(500, 2))
    >>> pt = entropy_production_tensor(x, dt=0.01, bootstrap=50)
    >>> pt.signature, pt.lorentzian
    ((1, 0, 1), True)
    """
    X = _coordinates(X)
    dt = _check_dt(dt)
    T, R, d = X.shape
    t0, t1 = _window(window, T)
    order = _drift_order(drift)
    fitter = _score_fitter(score)
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(f"bootstrap: {bootstrap!r}; expected an integer >= 0")
    if 0 < bootstrap < 20:
        raise ValueError(f"bootstrap: {bootstrap}; expected 0 or at least 20 resamples")
    if not 0 < level < 1:
        raise ValueError(f"level: {level!r}; expected a number in (0, 1)")
    ref_name = reference if isinstance(reference, str) else "given"

    stats = _replica_stats(X, dt, t0, t1, order)
    gaussian = fitter is None

    def evaluate(w: np.ndarray, idx: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        jac, diff, mom = _production_batch(stats, w, d, dt, order, gaussian)
        if mom is None:
            mom = np.stack([_score_moment(X[t0:t1, i], fitter) for i in idx])
        learn, stoch = _sym(jac), _sym(diff @ mom)
        c = learn + stoch
        ref = [_reference_matrix(reference, db) for db in diff]
        eig = [_generalized_eigh(cb, rb) for cb, rb in zip(c, ref, strict=True)]
        lam = np.stack([e[0] for e in eig])
        vec = np.stack([e[1] for e in eig])
        return jac, diff, mom, learn, stoch, c, lam, vec

    out = evaluate(np.ones((1, R)), [np.arange(R)])
    jac, diff, mom, learn, stoch, c, lam, vec = (a[0] for a in out)
    lam_ci = np.full((d, 2), np.nan)
    ep_ci = np.full(2, np.nan)
    stability = np.nan
    if bootstrap:
        rng = np.random.default_rng(seed)
        idx = [rng.integers(0, R, R) for _ in range(bootstrap)]
        w = np.stack([np.bincount(i, minlength=R) for i in idx]).astype(float)
        bout = evaluate(w, idx)
        lams, traces, vecs = bout[6], np.trace(bout[5], axis1=1, axis2=2), bout[7][:, :, 0]
        cosines = np.abs(vecs @ vec[:, 0]) / (
            np.linalg.norm(vecs, axis=1) * np.linalg.norm(vec[:, 0])
        )
        q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
        lo, hi = np.percentile(lams, q, axis=0)
        # basic (pivotal) interval: corrects the spread bias of sorted eigenvalues
        lam_ci = np.stack([2 * lam - hi, 2 * lam - lo], axis=1)
        tlo, thi = np.percentile(traces, q)
        ep_ci = np.array([2 * np.trace(c) - thi, 2 * np.trace(c) - tlo])
        stability = float(np.median(cosines))
        sig = signature_from_intervals(lam_ci)
    else:
        scale = np.abs(lam).max()
        zero = np.abs(lam) <= 1e-8 * scale
        sig = (int(np.sum((lam < 0) & ~zero)), int(np.sum(zero)), int(np.sum((lam > 0) & ~zero)))
    return ProductionTensor(
        C=c,
        learning=learn,
        stochastic=stoch,
        drift_jacobian=jac,
        diffusion=diff,
        score_moment=mom,
        entropy_production=float(np.trace(c)),
        learning_rate=float(np.trace(learn)),
        stochastic_rate=float(np.trace(stoch)),
        entropy_production_ci=ep_ci,
        eigenvalues=lam,
        eigenvalue_ci=lam_ci,
        eigenvectors=vec,
        signature=sig,
        timelike_stability=stability,
        reference=ref_name,
        n_bootstrap=int(bootstrap),
        level=float(level),
    )


@dataclass(frozen=True)
class SignatureTest:
    """Signature of the entropy-production form with learning on versus off.

    Attributes
    ----------
    on, off : ProductionTensor
    lorentzian_on : bool
        Learning on gives ``(1, 0, D)``.
    negative_off : int
        Number of significantly negative eigenvalues with learning off (the claim needs 0).
    supports_claim : bool
        ``lorentzian_on and negative_off == 0``.
    summary : str
    """

    on: ProductionTensor
    off: ProductionTensor
    lorentzian_on: bool
    negative_off: int
    supports_claim: bool
    summary: str


def signature_test(
    X_on: pd.DataFrame | np.ndarray,
    X_off: pd.DataFrame | np.ndarray,
    dt: float = 1.0,
    **kwargs: Any,
) -> SignatureTest:
    """The report's Lorentz-signature statistic: learning on versus learning off.

    PHYSICS.md 5 predicts one negative eigenvalue of C with learning on and none with learning
    off (``SystemConfig(learning=False)``). Both ensembles go through
    :func:`entropy_production_tensor` with the same keyword arguments.

    Caveat (measured in the tests): a *stationary* ensemble with probability currents (a
    non-normal drift, e.g. data-driven neuron states with learning off) has a traceless but
    non-zero C, hence an indefinite one: ``dX = -K X dt + sqrt(2) dW`` with
    ``K = [[1, 2], [0, 1]]`` gives eigenvalues ``-0.71, +0.71``, i.e. a "Lorentzian" signature
    without any learning. Read the signature together with the entropy-production traces
    (``on.entropy_production``, ``off.entropy_production`` and their intervals), which are
    reported in ``summary``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> def run(k):
    ...     x = np.empty((21, 500, 2)); x[0] = rng.normal(size=(500, 2))
    ...     for t in range(20):
    ...         x[t + 1] = x[t] - 0.01 * np.array(k) * x[t] + 0.1 * rng.normal(size=(500, 2))
    ...     return x
    >>> res = signature_test(run([3.0, 0.1]), run([0.0, 0.0]), dt=0.01, bootstrap=50)
    >>> res.supports_claim
    True
    """
    on = entropy_production_tensor(X_on, dt, **kwargs)
    off = entropy_production_tensor(X_off, dt, **kwargs)
    lor = on.lorentzian
    neg = off.signature[0]
    summary = (
        f"learning on: signature {on.signature}, eigenvalues {np.round(on.eigenvalues, 4)}, "
        f"dS/dt {on.entropy_production:.4g} CI {np.round(on.entropy_production_ci, 4)}; "
        f"learning off: signature {off.signature}, eigenvalues {np.round(off.eigenvalues, 4)}, "
        f"dS/dt {off.entropy_production:.4g} CI {np.round(off.entropy_production_ci, 4)}"
    )
    return SignatureTest(on, off, lor, neg, bool(lor and neg == 0), summary)


# --------------------------------------------------------------------------------------------
# local metric
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalMetric:
    """The production form estimated in patches of X, on a regular grid (for geometry).

    Attributes
    ----------
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Local ``C`` (symmetric); empty patches are filled from the nearest valid one.
    spacing, origin : ndarray, shape (d,)
        Grid spacing and the coordinates of grid point ``(0, ..., 0)`` (a patch centre).
    weight : ndarray, shape (n_0, ..., n_{d-1})
        Kernel-weighted sample count of each patch.
    valid : ndarray of bool, shape (n_0, ..., n_{d-1})
        Patches with at least ``min_weight`` samples and a well-conditioned local regression.
    learning, stochastic, diffusion : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Local ``sym(grad A)``, ``sym(D E[s s^T])`` and ``D``.
    """

    g: np.ndarray
    spacing: np.ndarray
    origin: np.ndarray
    weight: np.ndarray
    valid: np.ndarray
    learning: np.ndarray
    stochastic: np.ndarray
    diffusion: np.ndarray


def _all_scores(xs: np.ndarray, fitter: Callable | None) -> np.ndarray:
    if fitter is None:
        return _gaussian_scores(xs)[0]
    return np.stack([fitter(xt) for xt in xs])


def local_metric(
    X: pd.DataFrame | np.ndarray,
    dt: float = 1.0,
    *,
    bins: int | Sequence[int] = 8,
    smoothing: float = 1.0,
    limits: Sequence[tuple[float, float]] | None = None,
    window: tuple[int, int] | None = None,
    score: str | Callable[[np.ndarray], np.ndarray] = "gaussian",
    min_weight: float = 50.0,
) -> LocalMetric:
    """Production form ``C(x)`` estimated in patches of X and smoothed into a metric grid.

    The samples of the window are binned on a regular grid; every statistic needed by a local
    linear drift regression (counts, first and second moments of ``x`` and of the increments
    ``y = dX / dt``, and ``s s^T`` with ``s`` the score of the ensemble at its step) is summed
    per bin and smoothed with a Gaussian kernel of ``smoothing`` cells. At each grid point the
    weighted regression gives the local drift Jacobian ``J`` and diffusion ``D`` (residual
    covariance times ``dt / 2``), and ``C = sym(J) + sym(D E_w[s s^T])``. Patches with less
    than ``min_weight`` weight are filled from the nearest valid patch.

    Parameters
    ----------
    X : ndarray (T, R, d) or trajectory table
    dt : float
    bins : int or sequence of d ints
        Patches per axis (>= 5 each, so that :mod:`analysis.geometry` can differentiate).
    smoothing : float
        Kernel width in cells (> 0).
    limits : sequence of d (lo, hi), optional
        Grid box; default the range of the samples. Samples outside are dropped.
    window : (t0, t1), optional
        Steps whose ensembles and increments are used; default all.
    score : see :func:`entropy_production_tensor`
    min_weight : float

    Returns
    -------
    LocalMetric

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x0 = rng.normal(size=(20000, 2))
    >>> x1 = x0 - 0.1 * x0 + np.sqrt(0.2) * rng.normal(size=(20000, 2))  # A = -x, D = 1
    >>> lm = local_metric(np.stack([x0, x1]), dt=0.1, bins=6, limits=[(-2, 2), (-2, 2)])
    >>> lm.g.shape, bool(lm.valid.all())
    ((6, 6, 2, 2), True)
    """
    X = _coordinates(X)
    dt = _check_dt(dt)
    T, _, d = X.shape
    t0, t1 = _window(window, T)
    nb = np.broadcast_to(np.asarray(bins), (d,))
    if nb.dtype.kind not in "iu" or np.any(nb < 5):
        raise ValueError(f"bins: {np.asarray(bins).tolist()}; expected integers >= 5 (one or d)")
    nb = nb.astype(int)
    if not np.isfinite(smoothing) or smoothing <= 0:
        raise ValueError(f"smoothing: {smoothing!r}; expected a kernel width in cells > 0")
    fitter = _score_fitter(score)
    xs = X[t0:t1]
    s = _all_scores(xs, fitter).reshape(-1, d)
    x = xs.reshape(-1, d)
    y = ((X[t0 + 1 : t1 + 1] - xs) / dt).reshape(-1, d)
    if limits is None:
        lo, hi = x.min(axis=0), x.max(axis=0)
    else:
        lim = np.asarray(limits, dtype=float)
        if lim.shape != (d, 2) or not np.all(np.isfinite(lim)) or np.any(lim[:, 1] <= lim[:, 0]):
            raise ValueError(
                f"limits: {np.asarray(limits).tolist()}; expected {d} pairs (lo, hi), lo < hi"
            )
        lo, hi = lim[:, 0], lim[:, 1]
    if np.any(hi <= lo):
        raise ValueError("X: a coordinate is constant over the window; no grid can be built")
    h = (hi - lo) / nb
    u = (x - lo) / h
    keep = np.all((u >= 0) & (u <= nb), axis=1)
    idx = np.minimum(np.floor(u[keep]).astype(int), nb - 1)
    flat = np.ravel_multi_index(idx.T, tuple(nb))
    x, y, s = x[keep], y[keep], s[keep]
    # centre x on the grid box to keep the moment sums well conditioned
    xc = (x - lo) / h - nb / 2
    m = len(xc)
    ones = np.ones((m, 1))
    outer = lambda a, b: (a[:, :, None] * b[:, None, :]).reshape(m, -1)  # noqa: E731
    stats = np.hstack([ones, xc, y, outer(xc, xc), outer(xc, y), outer(y, y), outer(s, s)])
    gsize = int(np.prod(nb))
    acc = np.zeros((gsize, stats.shape[1]))
    for j in range(stats.shape[1]):
        acc[:, j] = np.bincount(flat, weights=stats[:, j], minlength=gsize)
    acc = ndimage.gaussian_filter(
        acc.reshape((*nb, -1)), sigma=(*([smoothing] * d), 0), mode="constant", truncate=3.0
    ).reshape(gsize, -1)
    w = acc[:, 0]
    safe = np.maximum(w, 1e-300)[:, None]
    parts = np.split(acc[:, 1:] / safe, np.cumsum([d, d, d * d, d * d, d * d])[:], axis=1)
    mx, my, mxx, mxy, myy, mss = parts[:6]
    cxx = mxx.reshape(-1, d, d) - mx[:, :, None] * mx[:, None, :]
    cxy = mxy.reshape(-1, d, d) - mx[:, :, None] * my[:, None, :]
    cyy = myy.reshape(-1, d, d) - my[:, :, None] * my[:, None, :]
    ev = np.linalg.eigvalsh(cxx)
    valid = (w >= min_weight) & (ev[:, 0] > 1e-3 * np.maximum(ev[:, -1], 1e-300))
    cxx_safe = np.where(valid[:, None, None], cxx, np.eye(d))
    jt = np.linalg.solve(cxx_safe, cxy)  # J^T in cell units
    jac = np.swapaxes(jt, 1, 2) / h[None, None, :]  # d A_i / d x_l in coordinate units
    resid = cyy - np.einsum(
        "gil,glk,gjk->gij", np.swapaxes(jt, 1, 2), cxx_safe, np.swapaxes(jt, 1, 2)
    )
    neff = np.maximum(w - d - 1, 1.0)
    diff = _sym(resid * (w / neff)[:, None, None]) * dt / 2
    learn = _sym(jac)
    stoch = _sym(diff @ mss.reshape(-1, d, d))
    fields = [learn, stoch, diff]
    valid_grid = valid.reshape(tuple(nb))
    if not valid_grid.any():
        raise ValueError(
            f"X: no patch has weight >= min_weight={min_weight}; use fewer bins or more samples"
        )
    if not valid_grid.all():
        near = ndimage.distance_transform_edt(
            ~valid_grid, return_distances=False, return_indices=True
        )
        src = np.ravel_multi_index(tuple(near), tuple(nb)).ravel()
        fields = [f[src] for f in fields]
    learn, stoch, diff = (f.reshape((*nb, d, d)) for f in fields)
    return LocalMetric(
        g=learn + stoch,
        spacing=h,
        origin=lo + h / 2,
        weight=w.reshape(tuple(nb)),
        valid=valid_grid,
        learning=learn,
        stochastic=stoch,
        diffusion=diff,
    )


# --------------------------------------------------------------------------------------------
# field dispersion over a spectral embedding
# --------------------------------------------------------------------------------------------


def spectral_embedding(
    weights_or_graph: np.ndarray | nx.Graph,
    dim: int = 2,
    *,
    kinds: Sequence[str] = _NEURON_KINDS,
    weight: str = "weight",
) -> np.ndarray:
    """Laplacian-eigenmap embedding of the neurons from the |w| graph.

    The affinity is ``A = (|W| + |W|^T) / 2``; the embedding is given by the eigenvectors 1 ..
    ``dim`` of ``L v = lambda Deg v`` (``L = Deg - A``), normalised to ``v^T Deg v = 1`` and with
    the sign fixed so that the largest-magnitude entry is positive. Coordinates are therefore
    dimensionless (speeds measured over them are in embedding units per unit time).

    Parameters
    ----------
    weights_or_graph : ndarray (N, N) or networkx graph
        Weight matrix (``W[i, j]`` from j to i; the sign is ignored), or a graph whose neuron
        nodes (:func:`neuron_nodes`) are embedded in that order, with edge weights ``weight``.
    dim : int
        Embedding dimension (1 <= dim < N).

    Returns
    -------
    ndarray, shape (N, dim)

    Examples
    --------
    >>> import numpy as np, networkx as nx
    >>> y = spectral_embedding(nx.path_graph(8), dim=1)[:, 0]
    >>> bool(np.all(np.diff(y) > 0) or np.all(np.diff(y) < 0))  # a chain is embedded in order
    True
    """
    if isinstance(weights_or_graph, nx.Graph):
        nodes = neuron_nodes(weights_or_graph, kinds)
        a = nx.to_numpy_array(weights_or_graph, nodelist=nodes, weight=weight, dtype=float)
    else:
        a = np.asarray(weights_or_graph, dtype=float)
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"weights_or_graph: shape {a.shape}; expected a square (N, N) matrix")
    if not np.all(np.isfinite(a)):
        raise ValueError("weights_or_graph: NaN/Inf weights; expected finite values")
    n = len(a)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim < n:
        raise ValueError(f"dim: {dim!r}; expected an integer in [1, {n - 1}]")
    a = np.abs(a)
    a = 0.5 * (a + a.T)
    np.fill_diagonal(a, 0.0)
    deg = a.sum(axis=1)
    if np.any(deg <= 0):
        raise ValueError(
            f"weights_or_graph: {int(np.sum(deg <= 0))} isolated neuron(s); expected connected"
        )
    lam, vec = linalg.eigh(np.diag(deg) - a, np.diag(deg))
    if lam[1] <= 1e-10 * lam[-1]:
        ncomp = int(np.sum(lam <= 1e-10 * lam[-1]))
        raise ValueError(
            f"weights_or_graph: {ncomp} connected components; expected a connected graph"
        )
    emb = vec[:, 1 : dim + 1]
    flip = np.sign(emb[np.argmax(np.abs(emb), axis=0), np.arange(dim)])
    return emb * flip


@dataclass(frozen=True)
class DispersionResult:
    """Power spectrum of a neuron field and its propagating versus diffusive fits.

    Attributes
    ----------
    k : ndarray, shape (n_dir, n_k)
        Wavenumbers per embedding direction (``2 pi j / L``, L the extent along the direction).
    omega : ndarray, shape (n_omega,)
        Angular frequencies >= 0.
    power : ndarray, shape (n_dir, n_k, n_omega)
        ``S(k, omega)`` folded onto omega >= 0, averaged over replicas and segments.
    peak_omega : ndarray, shape (n_dir, n_k)
        Frequency of the spectral maximum (parabolic interpolation).
    peak_ratio : ndarray, shape (n_dir, n_k)
        Power at the peak over the mean power in the two lowest non-zero frequency bins.
    propagating : ndarray of bool, shape (n_dir, n_k)
        ``peak_omega >= 3 d_omega`` and ``peak_ratio >= 2``: a peak away from zero frequency.
    halfwidth : ndarray, shape (n_dir, n_k)
        Half width ``G`` of a zero-frequency Lorentzian ``A / (G^2 + omega^2)`` fitted to
        ``log S`` over ``0 < omega <= omega_Nyquist / 2`` (the diffusive width).
    c, mass2, r2_wave : ndarray, shape (n_dir,)
        Fit ``peak_omega^2 = c^2 k^2 + mass2`` per direction and its R^2.
    diffusion, r2_diffusive : ndarray, shape (n_dir,)
        Fit ``halfwidth = D k^2`` (through the origin; wavenumbers whose half width is at least
        two frequency bins) per direction and its R^2.
    verdict : str
        ``"propagating"`` when at least two thirds of all (direction, k) have a propagating
        peak, else ``"diffusive"``. This is the stated criterion; the R^2 values are reported
        alongside.
    d_omega : float
        Frequency resolution.
    """

    k: np.ndarray
    omega: np.ndarray
    power: np.ndarray
    peak_omega: np.ndarray
    peak_ratio: np.ndarray
    propagating: np.ndarray
    halfwidth: np.ndarray
    c: np.ndarray
    mass2: np.ndarray
    r2_wave: np.ndarray
    diffusion: np.ndarray
    r2_diffusive: np.ndarray
    verdict: str
    d_omega: float


def _r2(y: np.ndarray, yhat: np.ndarray) -> float:
    ss = float(np.sum((y - y.mean()) ** 2))
    return float(1 - np.sum((y - yhat) ** 2) / ss) if ss > 0 else np.nan


def dispersion(
    states: pd.DataFrame | np.ndarray,
    embedding: np.ndarray,
    dt: float = 1.0,
    *,
    n_k: int = 8,
    segments: int = 4,
) -> DispersionResult:
    """Space-time power spectrum ``S(k, omega)`` of the neuron field over an embedding.

    The spatial mean of the field is removed at each step; for each embedding direction ``a``
    the field is projected on plane waves ``exp(-i k y_a)`` with ``k = 2 pi j / L_a``
    (``j = 1 .. n_k``; ``L_a = range * n_a / (n_a - 1)`` with ``n_a`` the number of distinct
    positions along ``a``: the period of a uniform lattice), the time mean is removed, the
    series is cut into ``segments`` pieces, Hann-windowed and Fourier transformed; the power
    is averaged over segments and replicas and folded onto ``omega >= 0``. Two fits are reported:
    the Klein-Gordon ``omega_peak^2 = c^2 k^2 + m^2`` on the peak frequencies, and the diffusive
    ``omega = -i D k^2`` as a zero-frequency peak of half width ``D k^2``. The verdict follows
    the criterion stated in :class:`DispersionResult`.

    Parameters
    ----------
    states : DataFrame or ndarray
        Neuron states (``neuron_states()`` table, ``(T, R, N)`` or ``(T, N)``).
    embedding : ndarray, shape (N, n_dir)
        Neuron positions (e.g. :func:`spectral_embedding`), rows in the neuron order of
        ``states``.
    dt : float
        Time between recorded steps.
    n_k : int
        Wavenumbers per direction.
    segments : int
        Time segments averaged (Welch); resolution ``d_omega = 2 pi segments / (T dt)``.

    Returns
    -------
    DispersionResult

    Examples
    --------
    >>> import numpy as np
    >>> t, x = np.arange(512)[:, None], np.arange(32)[None, :]
    >>> k = 2 * np.pi * np.arange(1, 5)[:, None, None] / 32
    >>> phi = np.cos(k * x - 0.5 * k * t).sum(axis=0)  # waves with c = 0.5
    >>> res = dispersion(phi, x.T.astype(float), n_k=4, segments=2)
    >>> res.verdict, round(float(res.c[0]), 2)
    ('propagating', 0.5)
    """
    arr, _ = _states_array(states)
    dt = _check_dt(dt)
    T, R, N = arr.shape
    y = np.asarray(embedding, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != N:
        raise ValueError(
            f"embedding: shape {np.shape(embedding)}; expected ({N}, n_dir) for {N} neurons"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError("embedding: NaN/Inf coordinates; expected finite positions")
    if isinstance(n_k, bool) or not isinstance(n_k, (int, np.integer)) or n_k < 2:
        raise ValueError(f"n_k: {n_k!r}; expected an integer >= 2")
    if isinstance(segments, bool) or not isinstance(segments, (int, np.integer)) or segments < 1:
        raise ValueError(f"segments: {segments!r}; expected an integer >= 1")
    seg = T // segments
    if seg < 32:
        raise ValueError(f"states: {T} steps; {segments} segment(s) need at least {32 * segments}")
    distinct = np.array([len(np.unique(np.round(col, 9))) for col in y.T])
    extent = np.ptp(y, axis=0) * distinct / np.maximum(distinct - 1, 1)
    if np.any(extent <= 0):
        raise ValueError("embedding: a direction has zero extent; expected spread-out positions")
    ndir = y.shape[1]
    k = 2 * np.pi * np.arange(1, n_k + 1)[None, :] / extent[:, None]  # (ndir, nk)
    phase = np.exp(-1j * k[:, :, None] * y.T[:, None, :])  # (ndir, nk, N)
    field = arr - arr.mean(axis=2, keepdims=True)  # drop the uniform mode (no leakage)
    amp = np.einsum("trn,akn->trak", field, phase) / N  # (T, R, ndir, nk)
    amp = amp[: seg * segments].reshape(segments, seg, R, ndir, n_k)
    amp = amp - amp.mean(axis=1, keepdims=True)
    win = np.hanning(seg)[None, :, None, None, None]
    spec = np.abs(np.fft.fft(amp * win, axis=1)) ** 2
    spec = spec.mean(axis=(0, 2))  # (seg, ndir, nk)
    freq = 2 * np.pi * np.fft.fftfreq(seg, dt)
    half = seg // 2
    folded = spec[:half].copy()
    folded[1:] += spec[-1:-half:-1]
    power = np.moveaxis(folded, 0, -1)  # (ndir, nk, nomega)
    omega = freq[:half]
    dw = float(omega[1])
    # peak location with parabolic interpolation on log power
    i = np.argmax(power, axis=-1)
    ic = np.clip(i, 1, half - 2)
    lp = np.log(np.maximum(power, 1e-300))
    left = np.take_along_axis(lp, (ic - 1)[..., None], -1)[..., 0]
    mid = np.take_along_axis(lp, ic[..., None], -1)[..., 0]
    right = np.take_along_axis(lp, (ic + 1)[..., None], -1)[..., 0]
    den = left - 2 * mid + right
    shift = np.where((i == ic) & (den < 0), 0.5 * (left - right) / np.where(den < 0, den, -1), 0.0)
    peak = (i + np.clip(shift, -0.5, 0.5)) * dw
    low = power[..., 1:3].mean(axis=-1)
    ratio = power.max(axis=-1) / np.maximum(low, 1e-300)
    prop = (peak >= 3 * dw) & (ratio >= 2.0)
    # diffusive width: least-squares fit of a zero-frequency Lorentzian A / (G^2 + omega^2) to
    # log S over 0 < omega <= omega_Nyquist / 2 (log: periodogram noise is multiplicative);
    # G is found on a logarithmic grid, A in closed form
    top = max(half // 2, 4)
    w_fit = omega[1:top]
    logp = np.log(np.maximum(power[..., 1:top], 1e-300))
    cand = dw * np.logspace(-1, np.log10(top), 240)
    z = logp[..., None, :] + np.log(cand[:, None] ** 2 + w_fit[None, :] ** 2)
    hw = cand[np.argmin(z.var(axis=-1), axis=-1)]
    c = np.full(ndir, np.nan)
    m2 = np.full(ndir, np.nan)
    r2w = np.full(ndir, np.nan)
    dif = np.full(ndir, np.nan)
    r2d = np.full(ndir, np.nan)
    for a in range(ndir):
        k2 = k[a] ** 2
        design = np.stack([k2, np.ones_like(k2)], axis=1)
        coef, *_ = np.linalg.lstsq(design, peak[a] ** 2, rcond=None)
        c[a] = np.sqrt(coef[0]) if coef[0] > 0 else np.nan
        m2[a] = coef[1]
        r2w[a] = _r2(peak[a] ** 2, design @ coef)
        use = hw[a] >= 2 * dw  # widths below two bins are set by the resolution
        if use.sum() < 2:
            use = np.ones_like(use)
        dif[a] = float(k2[use] @ hw[a, use] / (k2[use] @ k2[use]))
        r2d[a] = _r2(hw[a, use], dif[a] * k2[use])
    verdict = "propagating" if prop.mean() >= 2 / 3 else "diffusive"
    return DispersionResult(
        k=k,
        omega=omega,
        power=power,
        peak_omega=peak,
        peak_ratio=ratio,
        propagating=prop,
        halfwidth=hw,
        c=c,
        mass2=m2,
        r2_wave=r2w,
        diffusion=dif,
        r2_diffusive=r2d,
        verdict=verdict,
        d_omega=dw,
    )


# --------------------------------------------------------------------------------------------
# geodesic motion of localized states
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeodesicTest:
    """Shooting fits of tracked paths by geodesics, with controls.

    Attributes
    ----------
    chi2_dof, chi2_dof_flat, chi2_dof_shuffled : float
        Pooled ``chi^2 / dof`` on the estimated metric, on a flat metric (straight lines) and on
        a shuffled metric (grid points permuted, then smoothed); about 1 means the paths are
        geodesics within the path noise. NaN when a control could not be evaluated.
    per_path, per_path_flat, per_path_shuffled : ndarray, shape (P,)
        ``chi^2 / dof`` of each path.
    x0, v0 : ndarray, shape (P, d)
        Fitted initial position and velocity ``dx/dt`` on the estimated metric.
    dof : int
        Total degrees of freedom (``sum (n_i d - 2 d)``).
    n_samples : ndarray of int, shape (P,)
        Samples of each path used: a path is cut at its first sample outside the grid box
        (the fitted geodesics themselves may leave it; see :func:`geodesic_test`).
    """

    chi2_dof: float
    chi2_dof_flat: float
    chi2_dof_shuffled: float
    per_path: np.ndarray
    per_path_flat: np.ndarray
    per_path_shuffled: np.ndarray
    x0: np.ndarray
    v0: np.ndarray
    dof: int
    n_samples: np.ndarray


_OUTSIDE = 1e4  # residuals (noise units) beyond this grow only logarithmically (no overflow)
_HUGE = 1e200  # residual of a sample whose integration overflowed (non-finite position)
_TAPER_CELLS = 2.0  # outside the box, the edge Christoffels fade as exp(-(distance / 2 cells)^2)
_STAGES = (0.25, 0.5, 1.0)  # continuation: fractions of each path fitted in turn (refits)
_RETRY_SIGMAS = 4.0  # refit a path whose chi^2 exceeds its dof by this many sd


def _extended_geodesics(
    interp: Any,
    lo: np.ndarray,
    hi: np.ndarray,
    width: np.ndarray,
    x0: np.ndarray,
    v0: np.ndarray,
    steps: int,
    dl: float,
) -> np.ndarray:
    """RK4 positions (steps + 1, ..., d) of geodesics continued smoothly beyond the grid box.

    Inside the box this is exactly :func:`analysis.geometry.geodesic` (same interpolation, same
    RK4). Outside, the Christoffels are those of the nearest box point times
    ``exp(-sum((distance / width)^2))``, so a geodesic that leaves the box keeps moving (and
    turns into a straight line far away) instead of becoming NaN: residuals grow with the
    distance to the data and the shooting fit keeps a gradient.
    """
    from analysis.geometry import _rk4_step

    def accel(xx: np.ndarray, vv: np.ndarray) -> np.ndarray:
        xc = np.clip(xx, lo, hi)
        fade = np.exp(-np.sum(((xx - xc) / width) ** 2, axis=-1))
        gam = interp(np.where(np.isfinite(xc), xc, lo))
        acc = -np.einsum("...abc,...b,...c->...a", gam, vv, vv)
        return acc * fade[..., None]

    x = np.array(x0, dtype=float)
    v = np.array(v0, dtype=float)
    path = np.empty((steps + 1, *x.shape))
    path[0] = x
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(steps):
            x, v = _rk4_step(accel, x, v, dl)
            path[i + 1] = x
    return path


def _levenberg_marquardt(
    integrate: Callable[[np.ndarray], np.ndarray],
    target: np.ndarray,
    mask: np.ndarray,
    sigma: np.ndarray,
    par: np.ndarray,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Batched LM of B shooting problems: target (n, B, d), mask (n, B, 1), sigma (B,),
    start par (B, 2d). Returns (chi^2, par) per problem."""
    n, B, d = target.shape

    def residuals(traj: np.ndarray) -> np.ndarray:
        """Scaled residuals (B, ..., n * d) of trajectories (n, B, ..., d)."""
        extra = traj.ndim - 3
        tgt = target.reshape(n, B, *([1] * extra), d)
        msk = mask.reshape(n, B, *([1] * extra), 1)
        sg = sigma.reshape(1, B, *([1] * extra), 1)
        with np.errstate(over="ignore", invalid="ignore"):
            r = np.where(msk, (traj - tgt) / sg, 0.0)
        r = np.where(np.isfinite(r), r, _HUGE)
        r = _OUTSIDE * np.arcsinh(r / _OUTSIDE)  # identity for |r| << _OUTSIDE, never flat
        return np.moveaxis(r, 0, -2).reshape(*traj.shape[1:-1], n * d)

    lam = np.full(B, 1e-3)
    eye = np.eye(2 * d)
    cost = np.sum(residuals(integrate(par)) ** 2, axis=-1)
    for _ in range(max_iter):
        eps = 1e-6 * np.maximum(1.0, np.abs(par))  # (B, 2d)
        pert = par[:, None, :] + eps[:, :, None] * eye[None]  # (B, 2d, 2d)
        r_all = residuals(integrate(np.concatenate([par[:, None, :], pert], axis=1)))
        r0 = r_all[:, 0]
        jac = (r_all[:, 1:] - r0[:, None]) / eps[:, :, None]  # (B, 2d, m)
        a = np.einsum("pkm,plm->pkl", jac, jac)
        grad = np.einsum("pkm,pm->pk", jac, r0)
        damp = lam[:, None, None] * (a * eye + 1e-12 * eye)
        with np.errstate(over="ignore", invalid="ignore"):
            step = -np.linalg.solve(a + damp, grad[..., None])[..., 0]
        step = np.where(np.isfinite(step), step, 0.0)
        trial = par + step
        new_cost = np.sum(residuals(integrate(trial)) ** 2, axis=-1)
        better = new_cost < cost
        change = np.abs(cost - new_cost) <= 1e-9 * np.maximum(cost, 1e-300)
        par = np.where(better[:, None], trial, par)
        cost = np.where(better, new_cost, cost)
        lam = np.where(better, lam / 3, lam * 4)
        small_step = np.max(np.abs(step) / np.maximum(1.0, np.abs(par)), axis=1) < 1e-10
        if np.all(change | small_step | (lam > 1e8)):
            break
    return cost, par


def _starts(p: np.ndarray, dt: float) -> np.ndarray:
    """Initial (x0, v0) candidates (3, 2d) of one path: a line through the first samples, a line
    through the whole path (its value at t = 0), and the first finite difference."""
    d = p.shape[1]
    t = np.arange(len(p)) * dt
    k = min(len(p), 5)
    local = np.polyfit(t[:k], p[:k], 1)  # (2, d): slope, intercept
    whole = np.polyfit(t, p, 1)
    out = np.empty((3, 2 * d))
    out[0, :d], out[0, d:] = p[0], local[0]
    out[1, :d], out[1, d:] = whole[1], whole[0]
    out[2, :d], out[2, d:] = p[0], (p[1] - p[0]) / dt
    return out


def _line_chi2(p: np.ndarray, sigma: float, dt: float) -> float:
    """chi^2 of the least-squares straight line through a path (the flat-metric fit)."""
    tt = np.arange(len(p)) * dt
    design = np.stack([np.ones_like(tt), tt], axis=1)
    coef, *_ = np.linalg.lstsq(design, p, rcond=None)
    return float(np.sum(((p - design @ coef) / sigma) ** 2))


def _shoot_all(
    g: np.ndarray,
    spacing: np.ndarray,
    origin: np.ndarray,
    paths: list[np.ndarray],
    sigma: np.ndarray,
    dt: float,
    substeps: int,
    max_iter: int = 60,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched Levenberg-Marquardt shooting of all paths; returns (chi^2, x0, v0) per path.

    Geodesics are integrated by :func:`_extended_geodesics` (smooth continuation beyond the
    grid box, so iterates that leave it still have a gradient). Every path is first fitted from
    a line through its first samples. A path whose chi^2 then exceeds its dof by more than
    ``_RETRY_SIGMAS`` standard deviations, or exceeds the straight-line chi^2, is refitted from
    all starts of :func:`_starts`, each by continuation over growing prefixes of the path
    (``_STAGES``); the smallest chi^2 on the whole path wins. Every LM iteration integrates all
    paths, starts and finite-difference perturbations at once.
    """
    from analysis.geometry import _ChristoffelInterpolator, christoffel

    gamma = christoffel(g, spacing)
    d = paths[0].shape[1]
    lengths = np.array([len(p) for p in paths])
    lo = origin
    hi = origin + spacing * (np.array(g.shape[:d]) - 1)
    width = _TAPER_CELLS * spacing
    interp = _ChristoffelInterpolator(gamma, spacing, origin, 3)

    def fit(
        sel: list[np.ndarray], sg: np.ndarray, par: np.ndarray, stages: Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        lens = np.array([len(p) for p in sel])
        nmax = int(lens.max())
        target = np.zeros((nmax, len(sel), d))
        for i, p in enumerate(sel):
            target[: len(p), i] = p
        cost = np.full(len(sel), np.inf)
        for frac in stages:
            upto = np.maximum(np.minimum(lens, 3), np.ceil(frac * lens).astype(int))
            n = int(upto.max())
            mask = (np.arange(n)[:, None] < upto[None, :])[..., None]

            def integrate(q: np.ndarray, n: int = n) -> np.ndarray:
                """Positions (n, *q.shape[:-1], d) for parameter sets q (..., 2d)."""
                out = _extended_geodesics(
                    interp,
                    lo,
                    hi,
                    width,
                    q[..., :d],
                    q[..., d:],
                    (n - 1) * substeps,
                    dt / substeps,
                )
                return out[::substeps]

            cost, par = _levenberg_marquardt(integrate, target[:n], mask, sg, par, max_iter)
        return cost, par

    starts = np.stack([_starts(p, dt) for p in paths])  # (P, S, 2d)
    cost, par = fit(paths, sigma, starts[:, 0].copy(), (1.0,))
    dof = lengths * d - 2 * d
    line = np.array([_line_chi2(p, s, dt) for p, s in zip(paths, sigma, strict=True)])
    good = (cost <= dof + _RETRY_SIGMAS * np.sqrt(2.0 * np.maximum(dof, 1))) & (cost <= line)
    retry = np.flatnonzero(~good)
    if retry.size:
        S = starts.shape[1]
        sel = [paths[i] for i in retry for _ in range(S)]
        c2, p2 = fit(sel, np.repeat(sigma[retry], S), starts[retry].reshape(-1, 2 * d), _STAGES)
        c2 = np.where(np.isfinite(c2), c2, np.inf).reshape(len(retry), S)
        best = np.argmin(c2, axis=1)
        c2 = c2[np.arange(len(retry)), best]
        p2 = p2.reshape(len(retry), S, 2 * d)[np.arange(len(retry)), best]
        win = c2 < cost[retry]
        cost[retry[win]] = c2[win]
        par[retry[win]] = p2[win]
    return cost, par[:, :d], par[:, d:]


def geodesic_test(
    paths: np.ndarray | Sequence[np.ndarray],
    g: np.ndarray,
    spacing: float | Sequence[float],
    origin: float | Sequence[float],
    path_noise: float | Sequence[float],
    dt: float = 1.0,
    *,
    substeps: int = 2,
    shuffle_smoothing: float = 1.0,
    seed: int = 0,
) -> GeodesicTest:
    """Do tracked localized states move on geodesics of the estimated metric?

    Each path (positions sampled every ``dt``) is fitted by shooting (NUMERICS.md 4.7): the
    initial position and velocity of a geodesic of ``g`` (RK4 as in
    :func:`analysis.geometry.geodesic`, cubic Christoffels, ``substeps`` steps per sample,
    affine parameter = time) are optimised by Levenberg-Marquardt on the position residuals
    divided by ``path_noise``. The same fit is done on a flat metric (a straight line) and on a
    shuffled metric (grid points randomly permuted, then smoothed with ``shuffle_smoothing``
    cells, so that it stays differentiable).

    Only the samples before a path's first sample outside the grid box are fitted
    (``n_samples``). A trial geodesic may still leave the box (a poor starting guess, a
    strongly curved or near-degenerate metric): it is continued beyond the box with the
    Christoffels of the nearest box point, faded to zero over two grid cells (so it turns
    into a straight line), and keeps its own coordinates, so the residuals grow with the
    distance to the data and the fit keeps a gradient. Residuals beyond 1e4 noise units grow
    logarithmically (no overflow). The fit starts from a line through the first samples; a path
    whose chi^2 then exceeds its dof by more than 4 standard deviations, or exceeds the
    straight-line chi^2, is refitted from three
    starts (that line, a line through the whole path, the first difference), each by
    continuation over the first 25 %, 50 % and 100 % of its samples, and the best is kept.

    Parameters
    ----------
    paths : ndarray (P, n, d) or sequence of (n_i, d) arrays
        Tracked positions (replica-cluster centres or packet centroids), n_i >= 3.
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Estimated metric (e.g. :func:`local_metric` ``.g``).
    spacing, origin : float or sequence of d floats
    path_noise : float or sequence of P floats
        Standard deviation of the position noise per coordinate.
    dt : float
        Time between path samples.
    substeps : int
        RK4 steps per sample interval.
    shuffle_smoothing : float
        Smoothing (cells) of the shuffled-metric control.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    GeodesicTest

    Examples
    --------
    >>> import numpy as np
    >>> g = np.broadcast_to(np.eye(2), (9, 9, 2, 2))
    >>> t = np.arange(10)[:, None] * 0.5
    >>> path = np.array([1.0, 2.0]) + t * np.array([0.5, 0.3])
    >>> path = path + 1e-3 * np.random.default_rng(0).normal(size=path.shape)
    >>> res = geodesic_test([path], g, 1.0, 0.0, 1e-3, dt=0.5)
    >>> bool(0.3 < res.chi2_dof < 3)
    True
    """
    from analysis.geometry import smooth_metric

    dt = _check_dt(dt)
    g = np.asarray(g, dtype=float)
    if g.ndim < 4 or g.shape[-1] != g.shape[-2] or g.ndim != g.shape[-1] + 2:
        raise ValueError(f"g: shape {g.shape}; expected (n_0, ..., n_{{d-1}}, d, d)")
    d = g.shape[-1]
    h = np.broadcast_to(np.asarray(spacing, dtype=float), (d,)).copy()
    o = np.broadcast_to(np.asarray(origin, dtype=float), (d,)).copy()
    plist = [np.asarray(p, dtype=float) for p in paths]
    if not plist:
        raise ValueError("paths: empty; expected at least one path")
    for i, p in enumerate(plist):
        if p.ndim != 2 or p.shape[1] != d or p.shape[0] < 3:
            raise ValueError(f"paths: path {i} has shape {p.shape}; expected (n >= 3, {d})")
        if not np.all(np.isfinite(p)):
            raise ValueError(f"paths: path {i} contains NaN/Inf; expected finite positions")
    sig = np.broadcast_to(np.asarray(path_noise, dtype=float), (len(plist),))
    if not np.all(np.isfinite(sig)) or np.any(sig <= 0):
        raise ValueError(f"path_noise: {np.asarray(path_noise).tolist()}; expected numbers > 0")
    if isinstance(substeps, bool) or not isinstance(substeps, (int, np.integer)) or substeps < 1:
        raise ValueError(f"substeps: {substeps!r}; expected an integer >= 1")
    lo = o
    hi = o + h * (np.array(g.shape[:d]) - 1)
    used = np.empty(len(plist), dtype=int)
    for i, p in enumerate(plist):
        out = ~np.all((p >= lo) & (p <= hi), axis=1)
        used[i] = int(np.argmax(out)) if out.any() else len(p)
        if used[i] < 3:
            raise ValueError(
                f"paths: path {i} has {used[i]} sample(s) inside the metric grid box "
                f"[{lo.tolist()}, {hi.tolist()}]; expected at least 3 before it leaves"
            )
        plist[i] = p[: used[i]]
    dofs = np.array([p.size - 2 * d for p in plist])
    chi, x0, v0 = _shoot_all(g, h, o, plist, sig, dt, substeps)
    chi_flat = np.array([_line_chi2(p, s, dt) for p, s in zip(plist, sig, strict=True)])
    rng = np.random.default_rng(seed)
    flat_g = g.reshape(-1, d, d)
    shuffled = flat_g[rng.permutation(len(flat_g))].reshape(g.shape)
    chi_shuf = np.full(len(plist), np.nan)
    try:
        shuffled = smooth_metric(shuffled, shuffle_smoothing)
        chi_shuf = _shoot_all(shuffled, h, o, plist, sig, dt, substeps)[0]
    except ValueError:  # the shuffled control is degenerate somewhere
        chi_shuf[:] = np.nan
    total = float(dofs.sum())
    return GeodesicTest(
        chi2_dof=float(chi.sum() / total),
        chi2_dof_flat=float(chi_flat.sum() / total),
        chi2_dof_shuffled=float(np.sum(chi_shuf) / total),
        per_path=chi / dofs,
        per_path_flat=chi_flat / dofs,
        per_path_shuffled=chi_shuf / dofs,
        x0=x0,
        v0=v0,
        dof=int(total),
        n_samples=used,
    )


# --------------------------------------------------------------------------------------------
# Einstein equations
# --------------------------------------------------------------------------------------------


def _derivative(f: np.ndarray, axis: int, h: float) -> np.ndarray:
    """First derivative: 4th-order central inside, np.gradient (2nd order) in two edge layers."""
    out = np.gradient(f, h, axis=axis, edge_order=2)
    f = np.moveaxis(f, axis, 0)
    o = np.moveaxis(out, axis, 0)
    o[2:-2] = (f[:-4] - 8.0 * f[1:-3] + 8.0 * f[3:-1] - f[4:]) / (12.0 * h)
    return out


@dataclass(frozen=True)
class EnsembleFields:
    """Fields of the replica ensemble on a metric grid (inputs of the stress-energy helpers).

    Attributes
    ----------
    rho : ndarray, shape (n_0, ..., n_{d-1})
        Probability density of the ensemble (per unit coordinate volume, averaged over the
        window); integrates to the fraction of samples inside the grid box.
    velocity : ndarray, shape (n_0, ..., n_{d-1}, d)
        Mean ``dX/dt`` of the samples near each grid point (cells without samples take the
        value of the nearest populated one).
    phi : ndarray or None, shape (n_0, ..., n_{d-1})
        Mean of the per-sample observable near each grid point (same filling), if given.
    weight : ndarray, shape (n_0, ..., n_{d-1})
        Kernel-weighted sample count.
    """

    rho: np.ndarray
    velocity: np.ndarray
    phi: np.ndarray | None
    weight: np.ndarray


def ensemble_fields(
    X: pd.DataFrame | np.ndarray,
    shape: Sequence[int],
    spacing: float | Sequence[float],
    origin: float | Sequence[float],
    dt: float = 1.0,
    *,
    observable: np.ndarray | None = None,
    window: tuple[int, int] | None = None,
    smoothing: float = 1.0,
    min_weight: float = 5.0,
) -> EnsembleFields:
    """Density, mean velocity and a mean observable of the ensemble on a grid.

    Samples of the window are assigned to their nearest grid point; sums are smoothed with a
    Gaussian kernel of ``smoothing`` cells (``mode="constant"``) before the ratios are taken.
    These give the dust form ``rho u u`` (:func:`four_velocity`, :func:`stress_energy_dust`)
    and the scalar-field form (``phi`` -> :func:`stress_energy_scalar`) from neuron states,
    independently of the metric's curvature.

    Parameters
    ----------
    X : ndarray (T, R, d) or trajectory table
        Coarse coordinates.
    shape, spacing, origin
        The metric grid (e.g. ``LocalMetric.g.shape[:d]``, ``.spacing``, ``.origin``).
    dt : float
    observable : ndarray, shape (T, R), optional
        A per-sample neuron-state quantity (e.g. mean activity) averaged into ``phi``.
    window : (t0, t1), optional
        Steps used (their increments to t+1 give the velocity); default all but the last.
    smoothing : float
        Kernel width in cells (0 = plain histogram).
    min_weight : float
        Grid points with less weight take the velocity/phi of the nearest populated point.

    Returns
    -------
    EnsembleFields

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(0, 1, size=(3, 4000, 2))
    >>> f = ensemble_fields(x, (5, 5), 0.25, 0.0, smoothing=0.0)
    >>> round(float(f.rho[2, 2]), 1)  # uniform density 1 on the unit square
    1.0
    """
    X = _coordinates(X)
    dt = _check_dt(dt)
    T, R, d = X.shape
    shp = tuple(int(n) for n in shape)
    if len(shp) != d or min(shp) < 1:
        raise ValueError(f"shape: {tuple(shape)}; expected {d} positive grid sizes")
    h = np.broadcast_to(np.asarray(spacing, dtype=float), (d,))
    o = np.broadcast_to(np.asarray(origin, dtype=float), (d,))
    if np.any(h <= 0) or not np.all(np.isfinite(h)) or not np.all(np.isfinite(o)):
        raise ValueError(f"spacing: {np.asarray(spacing).tolist()}; expected positive numbers")
    if not np.isfinite(smoothing) or smoothing < 0:
        raise ValueError(f"smoothing: {smoothing!r}; expected a width in cells >= 0")
    t0, t1 = _window(window, T)
    xs = X[t0:t1].reshape(-1, d)
    v = ((X[t0 + 1 : t1 + 1] - X[t0:t1]) / dt).reshape(-1, d)
    cols = [np.ones((len(xs), 1)), v]
    if observable is not None:
        obs = np.asarray(observable, dtype=float)
        if obs.shape != (T, R):
            raise ValueError(f"observable: shape {obs.shape}; expected (T, R) = ({T}, {R})")
        if not np.all(np.isfinite(obs)):
            raise ValueError("observable: NaN/Inf values; expected finite numbers")
        cols.append(obs[t0:t1].reshape(-1, 1))
    idx = np.rint((xs - o) / h).astype(int)
    inside = np.all((idx >= 0) & (idx < np.array(shp)), axis=1)
    flat = np.ravel_multi_index(idx[inside].T, shp)
    stats = np.hstack(cols)[inside]
    size = int(np.prod(shp))
    acc = np.stack(
        [np.bincount(flat, weights=stats[:, j], minlength=size) for j in range(stats.shape[1])],
        axis=1,
    ).reshape((*shp, -1))
    if smoothing > 0:
        acc = ndimage.gaussian_filter(acc, sigma=(*([smoothing] * d), 0), mode="constant")
    w = acc[..., 0]
    rho = w / (len(xs) * float(np.prod(h)))
    good = w >= min_weight
    if not good.any():
        raise ValueError(
            f"X: no grid point has weight >= min_weight={min_weight}; check the grid box"
        )
    mean = acc[..., 1:] / np.where(good, w, 1.0)[..., None]
    if not good.all():
        near = ndimage.distance_transform_edt(~good, return_distances=False, return_indices=True)
        mean = mean[tuple(near)]
    phi = mean[..., d] if observable is not None else None
    return EnsembleFields(rho=rho, velocity=mean[..., :d], phi=phi, weight=w)


def four_velocity(velocity: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalise a coordinate velocity field to a unit four-velocity ``u^a``.

    ``u^a = v^a / sqrt(|g_ab v^a v^b|)``; the mask marks time-like cells (``g(v, v) < 0``),
    the only ones where the dust form is physical. Null or zero velocities give NaN.

    Parameters
    ----------
    velocity : ndarray, shape (n_0, ..., n_{d-1}, d)
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)

    Returns
    -------
    u : ndarray, shape (n_0, ..., n_{d-1}, d)
    timelike : ndarray of bool, shape (n_0, ..., n_{d-1})

    Examples
    --------
    >>> import numpy as np
    >>> eta = np.diag([-1.0, 1.0])
    >>> u, tl = four_velocity(np.array([1.0, 0.6]), eta)
    >>> np.round(u, 3).tolist(), bool(tl)
    ([1.25, 0.75], True)
    """
    v = np.asarray(velocity, dtype=float)
    g = np.asarray(g, dtype=float)
    if g.shape != (*v.shape, v.shape[-1]):
        raise ValueError(
            f"g: shape {g.shape}; expected velocity's shape {v.shape} + ({v.shape[-1]},)"
        )
    norm = np.einsum("...ab,...a,...b->...", g, v, v)
    scale = np.sqrt(np.abs(norm))
    scale = np.where(scale > 1e-12 * np.maximum(np.linalg.norm(v, axis=-1), 1e-300), scale, np.nan)
    return v / scale[..., None], norm < 0


def stress_energy_dust(rho: np.ndarray, u: np.ndarray, g: np.ndarray | None = None) -> np.ndarray:
    """Dust stress-energy ``T_{ab} = rho u_a u_b``.

    Parameters
    ----------
    rho : ndarray, shape (n_0, ..., n_{d-1})
        Rest-frame density (e.g. the ensemble density of replicas over the grid).
    u : ndarray, shape (n_0, ..., n_{d-1}, d)
        Four-velocity: lower components ``u_a``, or upper ``u^a`` when ``g`` is given (it is
        then lowered with ``g``; only ``g`` itself is used, never its curvature).
    g : ndarray, optional
        Metric on the grid.

    Returns
    -------
    ndarray, shape (n_0, ..., n_{d-1}, d, d)

    Examples
    --------
    >>> import numpy as np
    >>> T = stress_energy_dust(np.full((5, 5), 2.0), np.broadcast_to([-1.0, 0.0], (5, 5, 2)))
    >>> T[0, 0].tolist()  # energy density rho for dust at rest
    [[2.0, -0.0], [-0.0, 0.0]]
    """
    rho = np.asarray(rho, dtype=float)
    u = np.asarray(u, dtype=float)
    if u.shape != (*rho.shape, u.shape[-1]) or u.ndim < 2:
        raise ValueError(f"u: shape {u.shape}; expected rho's shape {rho.shape} + (d,)")
    if not (np.all(np.isfinite(rho)) and np.all(np.isfinite(u))):
        raise ValueError("rho, u: NaN/Inf values; expected finite fields")
    if g is not None:
        g = np.asarray(g, dtype=float)
        if g.shape != (*u.shape, u.shape[-1]):
            raise ValueError(f"g: shape {g.shape}; expected {(*u.shape, u.shape[-1])}")
        u = np.einsum("...ab,...b->...a", g, u)
    return rho[..., None, None] * u[..., :, None] * u[..., None, :]


def stress_energy_scalar(
    phi: np.ndarray,
    g: np.ndarray,
    spacing: float | Sequence[float],
    potential: Callable[[np.ndarray], np.ndarray] | float = 0.0,
) -> np.ndarray:
    """Scalar-field stress-energy ``T_ab = d_a phi d_b phi - g_ab (g^cd d_c phi d_d phi / 2 + V)``.

    Derivatives are fourth-order central differences (second order in the two edge layers).
    Only ``g`` and its inverse enter, never its derivatives, so an Einstein-equation test with
    this ``T`` is not circular.

    Parameters
    ----------
    phi : ndarray, shape (n_0, ..., n_{d-1})
        The field (e.g. a neuron-state field resampled on the grid).
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
    spacing : float or sequence of d floats
    potential : callable or float
        ``V(phi)``; a float ``m2`` means ``V = m2 phi^2 / 2``.

    Returns
    -------
    ndarray, shape (n_0, ..., n_{d-1}, d, d)

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(6.0)[:, None] * np.ones((6, 6))
    >>> g = np.broadcast_to(np.diag([-1.0, 1.0]), (6, 6, 2, 2))
    >>> T = stress_energy_scalar(0.5 * t, g, 1.0)  # phi = t / 2: energy density phi_t^2 / 2
    >>> round(float(T[3, 3, 0, 0]), 6)
    0.125
    """
    phi = np.asarray(phi, dtype=float)
    g = np.asarray(g, dtype=float)
    d = phi.ndim
    if g.shape != (*phi.shape, d, d):
        raise ValueError(f"g: shape {g.shape}; expected phi's shape {phi.shape} + ({d}, {d})")
    if min(phi.shape) < 3:
        raise ValueError(f"phi: grid shape {phi.shape}; expected at least 3 points per axis")
    if not (np.all(np.isfinite(phi)) and np.all(np.isfinite(g))):
        raise ValueError("phi, g: NaN/Inf values; expected finite fields")
    h = np.broadcast_to(np.asarray(spacing, dtype=float), (d,))
    if np.any(h <= 0) or not np.all(np.isfinite(h)):
        raise ValueError(f"spacing: {np.asarray(spacing).tolist()}; expected positive numbers")
    dphi = np.stack([_derivative(phi, a, h[a]) for a in range(d)], axis=-1)
    try:
        ginv = np.linalg.inv(g)
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            "g: singular somewhere on the grid; expected a non-degenerate metric"
        ) from exc
    if callable(potential):
        v = np.asarray(potential(phi), dtype=float)
    else:
        v = 0.5 * float(potential) * phi**2
    kin = 0.5 * np.einsum("...ab,...a,...b->...", ginv, dphi, dphi)
    return dphi[..., :, None] * dphi[..., None, :] - g * (kin + v)[..., None, None]


@dataclass(frozen=True)
class EinsteinFit:
    """Least-squares fit of ``G + Lambda g = kappa T`` over interior grid points.

    Attributes
    ----------
    Lambda, kappa : float
        Fitted constants (``kappa`` is NaN when T is identically zero: then the claim is an
        Einstein space ``G = -Lambda g``).
    residual : float
        ``|G + Lambda g - kappa T| / |G|`` (Frobenius norms over interior points and
        components).
    trace_residual : float
        rms of the trace equation ``g^ab G_ab + d Lambda - kappa g^ab T_ab`` over the rms of
        ``g^ab G_ab`` (``g^ab G_ab = (1 - d/2) R``).
    Lambda_control, kappa_control, residual_control, trace_residual_control : float
        The same fit with ``g`` and ``T`` paired with ``G`` at randomly permuted grid points
        (breaks the pointwise relation; the claim needs ``residual << residual_control``).
    n_points : int
        Interior grid points used.
    metric : ndarray
        The metric that was differentiated (the global model when one was fitted).
    """

    Lambda: float
    kappa: float
    residual: float
    trace_residual: float
    Lambda_control: float
    kappa_control: float
    residual_control: float
    trace_residual_control: float
    n_points: int
    metric: np.ndarray = field(repr=False)


def polynomial_metric(g: np.ndarray, degree: int = 4) -> np.ndarray:
    """Global smooth model of a noisy gridded metric: each component a polynomial.

    Every component ``g_ab`` is fitted by least squares with a Legendre polynomial of total
    degree ``<= degree`` in the grid coordinates (mapped to [-1, 1]) and evaluated on the grid
    (NUMERICS.md 4.8: differentiate a global fit, not the noisy samples).

    Parameters
    ----------
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
    degree : int

    Returns
    -------
    ndarray, shape (n_0, ..., n_{d-1}, d, d)

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0, 1, 9)
    >>> g = np.zeros((9, 9, 2, 2)); g[..., 0, 0] = 1 + x[:, None] ** 2; g[..., 1, 1] = 1.0
    >>> bool(np.allclose(polynomial_metric(g, 2), g))
    True
    """
    g = np.asarray(g, dtype=float)
    if g.ndim < 4 or g.shape[-1] != g.shape[-2] or g.ndim != g.shape[-1] + 2:
        raise ValueError(f"g: shape {g.shape}; expected (n_0, ..., n_{{d-1}}, d, d)")
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
        raise ValueError(f"degree: {degree!r}; expected an integer >= 0")
    d = g.shape[-1]
    shape = g.shape[:d]
    vander = [np.polynomial.legendre.legvander(np.linspace(-1, 1, n), degree) for n in shape]
    exps = [e for e in np.ndindex(*([degree + 1] * d)) if sum(e) <= degree]
    if len(exps) >= np.prod(shape):
        raise ValueError(
            f"degree: {degree}; {len(exps)} terms for {int(np.prod(shape))} grid points"
        )
    cols = []
    for e in exps:
        term = vander[0][:, e[0]]
        for a in range(1, d):
            term = np.multiply.outer(term, vander[a][:, e[a]])
        cols.append(term.ravel())
    design = np.stack(cols, axis=1)
    coef, *_ = np.linalg.lstsq(design, g.reshape(-1, d * d), rcond=None)
    out = (design @ coef).reshape(g.shape)
    return _sym(out)


def _einstein_lstsq(
    G: np.ndarray, g: np.ndarray, T: np.ndarray, ginv: np.ndarray, matter: bool
) -> tuple[float, float, float, float]:
    d = g.shape[-1]
    if matter:
        design = np.stack([g.ravel(), -T.ravel()], axis=1)
        (lam, kap), *_ = np.linalg.lstsq(design, -G.ravel(), rcond=None)
    else:
        lam = -float(np.vdot(G, g) / np.vdot(g, g))
        kap = np.nan
    k = 0.0 if not matter else kap
    res = float(np.linalg.norm(G + lam * g - k * T) / max(np.linalg.norm(G), 1e-300))
    tr_g = np.einsum("...ab,...ab->...", ginv, G)
    tr_t = np.einsum("...ab,...ab->...", ginv, T)
    tres = tr_g + d * lam - k * tr_t
    trace_res = float(np.sqrt(np.mean(tres**2)) / max(np.sqrt(np.mean(tr_g**2)), 1e-300))
    return float(lam), float(kap), res, trace_res


def fit_einstein(
    g: np.ndarray,
    T: np.ndarray | None,
    spacing: float | Sequence[float],
    *,
    model: str | None = None,
    degree: int = 4,
    width: int = 2,
    seed: int = 0,
) -> EinsteinFit:
    """Fit ``Lambda`` and ``kappa`` in ``G_ab + Lambda g_ab = kappa T_ab`` (needs d >= 4 to test
    anything: in 2-D G vanishes identically, in 3-D there are no local degrees of freedom).

    Parameters
    ----------
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Metric on a regular grid.
    T : ndarray of g's shape, or None
        Stress-energy, defined independently of g's curvature (:func:`stress_energy_dust`,
        :func:`stress_energy_scalar`); None or all zeros fits ``Lambda`` only.
    spacing : float or sequence of d floats
    model : {None, "polynomial"}
        Fit a global polynomial model of g (:func:`polynomial_metric`, total degree
        ``degree``) before differentiating; use it for noisy metrics.
    degree : int
    width : int
        Edge layers excluded (>= 2: curvature is fourth-order accurate there).
    seed : int
        Seed of the permuted-pairing control.

    Returns
    -------
    EinsteinFit

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.geometry import grid_coordinates
    >>> H = 0.5
    >>> x = grid_coordinates((9, 7, 7, 7), 0.1, 0.0)
    >>> g = np.zeros(x.shape[:-1] + (4, 4)); g[..., 0, 0] = -1.0
    >>> for k in (1, 2, 3):
    ...     g[..., k, k] = np.exp(2 * H * x[..., 0])
    >>> fit = fit_einstein(g, None, 0.1)
    >>> round(fit.Lambda, 4), bool(fit.residual < 1e-4 < fit.residual_control)
    (0.75, True)
    """
    from analysis.geometry import einstein_tensor, interior

    g = np.asarray(g, dtype=float)
    if g.ndim < 4 or g.shape[-1] != g.shape[-2] or g.ndim != g.shape[-1] + 2:
        raise ValueError(f"g: shape {g.shape}; expected (n_0, ..., n_{{d-1}}, d, d)")
    d = g.shape[-1]
    matter = T is not None
    if matter:
        T = np.asarray(T, dtype=float)
        if T.shape != g.shape:
            raise ValueError(f"T: shape {T.shape}; expected the metric's shape {g.shape}")
        if not np.all(np.isfinite(T)):
            raise ValueError("T: NaN/Inf values; expected a finite stress-energy field")
        if not np.allclose(T, np.swapaxes(T, -1, -2)):
            raise ValueError("T: not symmetric; expected a symmetric stress-energy tensor")
        matter = bool(np.any(T != 0))
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 2:
        raise ValueError(f"width: {width!r}; expected an integer >= 2")
    if min(g.shape[:d]) <= 2 * width:
        raise ValueError(f"g: grid shape {g.shape[:d]}; width={width} leaves no interior point")
    if model == "polynomial":
        g = polynomial_metric(g, degree)
    elif model is not None:
        raise ValueError(f"model: {model!r}; expected None or 'polynomial'")
    G = einstein_tensor(g, spacing)
    gi = interior(g, width, d=d).reshape(-1, d, d)
    Gi = interior(G, width, d=d).reshape(-1, d, d)
    Ti = np.zeros_like(gi) if T is None else interior(T, width, d=d).reshape(-1, d, d)
    ginv = np.linalg.inv(gi)
    lam, kap, res, tres = _einstein_lstsq(Gi, gi, Ti, ginv, matter)
    perm = np.random.default_rng(seed).permutation(len(gi))
    lam_c, kap_c, res_c, tres_c = _einstein_lstsq(Gi, gi[perm], Ti[perm], ginv[perm], matter)
    return EinsteinFit(
        Lambda=lam,
        kappa=kap,
        residual=res,
        trace_residual=tres,
        Lambda_control=lam_c,
        kappa_control=kap_c,
        residual_control=res_c,
        trace_residual_control=tres_c,
        n_points=len(gi),
        metric=g,
    )
