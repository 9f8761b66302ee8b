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
from scipy import linalg, ndimage, optimize

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
    >>> g.add_nodes_from([(2, {"kind": "hidden"}), (0, {"kind": "input"}), ("c", {"kind": "controller"})])
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
            f"n_groups: {n_groups}; the graph has only {len(nodes)} neuron node(s) of kinds {tuple(kinds)}"
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
                f"method: {method!r}; expected 'communities', 'random', a mapping or a list of groups"
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
        raise ValueError(
            f"score: {score!r}; expected 'gaussian', a method of analysis.score.fit_score or a callable"
        )

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
    nt, n, d = xs.shape
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


def _production_parts(
    X: np.ndarray, dt: float, t0: int, t1: int, order: int, fitter: Callable | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drift Jacobian E[grad A] (J[i, l] = E[d A_i / d x_l]), diffusion D and E[s s^T]."""
    d = X.shape[2]
    xs = X[t0:t1]
    x = xs.reshape(-1, d)
    y = ((X[t0 + 1 : t1 + 1] - xs) / dt).reshape(-1, d)
    feats, dmean = _drift_features(x, order)
    if len(x) <= 2 * feats.shape[1]:
        raise ValueError(
            f"X: {len(x)} increments in the window; the {('linear', 'quadratic')[order - 1]} drift "
            f"needs more than {2 * feats.shape[1]}"
        )
    coef, *_ = np.linalg.lstsq(feats, y, rcond=None)
    resid = y - feats @ coef
    diff = resid.T @ resid / (len(x) - feats.shape[1]) * dt / 2
    jac = coef.T @ dmean
    return jac, _sym(diff), _score_moment(xs, fitter)


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
            "reference: not positive definite (e.g. no measured diffusion); use reference='identity'"
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
        Bootstrap interval of the trace (NaN without bootstrap).
    eigenvalues : ndarray, shape (d,)
        Ascending eigenvalues of ``C v = lambda P v`` (``P`` = the reference).
    eigenvalue_ci : ndarray, shape (d, 2)
        Bootstrap percentile intervals of the sorted eigenvalues (NaN without bootstrap).
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
        Resamples of the replicas (0 disables the intervals).
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

    def evaluate(idx: np.ndarray | slice) -> tuple[np.ndarray, ...]:
        jac, diff, mom = _production_parts(X[:, idx], dt, t0, t1, order, fitter)
        learn, stoch = _sym(jac), _sym(diff @ mom)
        c = learn + stoch
        lam, vec = _generalized_eigh(c, _reference_matrix(reference, diff))
        return jac, diff, mom, learn, stoch, c, lam, vec

    jac, diff, mom, learn, stoch, c, lam, vec = evaluate(slice(None))
    nan2 = np.full(2, np.nan)
    lam_ci = np.full((d, 2), np.nan)
    stability = np.nan
    if bootstrap:
        rng = np.random.default_rng(seed)
        lams = np.empty((bootstrap, d))
        traces = np.empty(bootstrap)
        cosines = np.empty(bootstrap)
        for b in range(bootstrap):
            out = evaluate(rng.integers(0, R, R))
            lams[b], traces[b] = out[6], np.trace(out[5])
            v = out[7][:, 0]
            cosines[b] = abs(v @ vec[:, 0]) / (np.linalg.norm(v) * np.linalg.norm(vec[:, 0]))
        q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
        lam_ci = np.percentile(lams, q, axis=0).T
        ep_ci = np.percentile(traces, q)
        stability = float(np.median(cosines))
        sig = signature_from_intervals(lam_ci)
    else:
        ep_ci = nan2
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
        f"learning on: signature {on.signature}, eigenvalues {np.round(on.eigenvalues, 4).tolist()}; "
        f"learning off: signature {off.signature}, eigenvalues {np.round(off.eigenvalues, 4).tolist()}"
    )
    return SignatureTest(on, off, lor, neg, bool(lor and neg == 0), summary)
