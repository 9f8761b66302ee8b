"""Statistics of neuron-parameter particles against grid predictions.

Measured side of the particles picture (see :mod:`analysis.imaginary_time` for the predicted
side): density distances with a split-half noise floor, binned Kramers-Moyal diffusion from
position pairs, the weak-form estimator of the birth-death rate and chemical potential,
lineage (descendant) mass, and the time average of a potential exported on a grid.

Conventions
-----------
* Time is in learning steps; ``D`` is the Ito diffusion coefficient
  ``Var(d theta | theta) / (2 dt)``; the drift is ``-eta grad Psi``; births/deaths happen at
  rate ``alpha (Psi - mu)``.
* Grids and boundaries are those of :func:`analysis.imaginary_time.solve`: a 1-D node array or
  a tuple of them; on a periodic axis the nodes exclude the repeated end point and samples are
  wrapped onto ``[x_0, x_0 + period)``.
* The L1 distance between a sample and a density is ``sum_b |p_hat_b - p_b|`` over bins, with
  ``p_b`` the exact integral of the piecewise-(multi)linear interpolant of the density over the
  bin and ``p_hat_b`` the fraction of samples in it; samples outside the grid's range add their
  fraction. It lies in ``[0, 2]``.
* Particle tables are long tables with one row per (particle, record step): columns ``step``,
  ``neuron_id``, ``parent_id`` (negative or NaN for particles without a parent), optionally
  ``replica`` and the coordinate columns; column names are arguments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.imaginary_time import ImaginaryTimeSolution, quadrature_weights
from analysis.validation import as_generator, check_integer, check_positive

__all__ = [
    "WeakFormFit",
    "average_on_grid",
    "bin_masses",
    "density_l1",
    "density_report",
    "kramers_moyal_bins",
    "lineage_mass",
    "lineage_mass_measured",
    "on_grid",
    "sample",
    "sampling_floor",
    "split_half_floor",
    "transition_pairs",
    "weak_form",
]

Grid = np.ndarray | Sequence[np.ndarray]
Bins = int | str | np.ndarray | Sequence[Any]


# ----------------------------------------------------------------------------------------------
# grids, bins and bin masses
# ----------------------------------------------------------------------------------------------


def _axes(x: Grid) -> tuple[np.ndarray, ...]:
    if isinstance(x, np.ndarray) and x.ndim == 1:
        axes: tuple[np.ndarray, ...] = (np.asarray(x, dtype=float),)
    elif isinstance(x, list | tuple) and 1 <= len(x) <= 3 and all(np.ndim(a) == 1 for a in x):
        axes = tuple(np.asarray(a, dtype=float) for a in x)
    else:
        raise ValueError(f"x: {type(x).__name__}; expected a 1-D node array or a tuple of them")
    for i, ax in enumerate(axes):
        if ax.size < 2 or not np.all(np.isfinite(ax)) or np.any(np.diff(ax) <= 0):
            raise ValueError(f"x[{i}]: expected >= 2 finite, strictly increasing nodes")
    return axes


def _bnd(boundary: str | Sequence[str], nd: int) -> tuple[str, ...]:
    b = (boundary,) * nd if isinstance(boundary, str) else tuple(boundary)
    if len(b) != nd or any(v not in ("reflecting", "periodic") for v in b):
        raise ValueError(
            f"boundary: {boundary!r}; expected 'reflecting', 'periodic' or one per axis"
        )
    return b


def _period(ax: np.ndarray) -> float:
    return float(ax[-1] - ax[0] + (ax[1] - ax[0]))


def _edges(ax: np.ndarray, b: str, bins: Any) -> np.ndarray:
    """Bin edges on one axis: ``"grid"`` (one cell per node), a count, or explicit edges."""
    if isinstance(bins, str):
        if bins != "grid":
            raise ValueError(f"bins: {bins!r}; expected 'grid', an integer or edges")
        if b == "periodic":
            h = ax[1] - ax[0]
            return np.append(ax - h / 2, ax[-1] + h / 2)
        return np.concatenate([[ax[0]], (ax[:-1] + ax[1:]) / 2, [ax[-1]]])
    if isinstance(bins, int | np.integer) and not isinstance(bins, bool):
        nb = check_integer("bins", bins, 1)
        hi = ax[0] + _period(ax) if b == "periodic" else ax[-1]
        return np.linspace(ax[0], hi, nb + 1)
    e = np.asarray(bins, dtype=float)
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0) or not np.all(np.isfinite(e)):
        raise ValueError("bins: expected strictly increasing finite edges (>= 2)")
    if b == "periodic":
        if e[-1] - e[0] > _period(ax) * (1 + 1e-12):
            raise ValueError("bins: periodic edges span more than one period")
    elif e[0] < ax[0] - 1e-12 * abs(ax[0]) or e[-1] > ax[-1] + 1e-12 * abs(ax[-1]):
        raise ValueError(f"bins: edges outside the grid range [{ax[0]}, {ax[-1]}]")
    return e


def _hat_integrals(ax: np.ndarray, b: str, edges: np.ndarray) -> np.ndarray:
    """Matrix B (bins x nodes): integral of each node's hat function over each bin."""
    n = ax.size
    if b == "periodic":
        P = _period(ax)
        nodes = np.concatenate([ax - P, ax, ax + P, [ax[0] + 2 * P]])
        fold = np.concatenate([np.arange(n)] * 3 + [[0]])
    else:
        nodes = ax
        fold = np.arange(n)
    m = nodes.size
    h = np.diff(nodes)
    # cumulative area of every hat up to each edge
    e = np.clip(edges, nodes[0], nodes[-1])
    k = np.clip(np.searchsorted(nodes, e, side="right") - 1, 0, m - 2)
    t = (e - nodes[k]) / h[k]
    left = np.concatenate([[0.0], h / 2])  # area of each hat left of its node
    right = np.concatenate([h / 2, [0.0]])
    full = left + right
    cols = np.arange(m)
    H = np.where(cols[None, :] < k[:, None], full[None, :], 0.0)
    rows = np.arange(e.size)
    H[rows, k] = left[k] + h[k] * (t - t * t / 2)
    H[rows, k + 1] = h[k] * t * t / 2
    B = np.diff(H, axis=0)
    out = np.zeros((B.shape[0], n))
    np.add.at(out.T, fold, B.T)
    return out


def bin_masses(
    x: Grid,
    density: np.ndarray,
    bins: Bins = "grid",
    boundary: str | Sequence[str] = "reflecting",
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Mass of a grid density in each bin (exact for its piecewise-linear interpolant).

    Parameters
    ----------
    x : ndarray or tuple of ndarray
        Grid nodes.
    density : ndarray
        Density on the grid (grid shape).
    bins : "grid", int, edges, or one of those per axis
        ``"grid"``: one cell per node (half cells at reflecting walls); an integer: that many
        equal bins over the grid range (one period on periodic axes); or explicit edges.
    boundary : str or sequence of str

    Returns
    -------
    masses : ndarray
        One value per bin (shape = number of bins per axis).
    edges : tuple of ndarray
        Bin edges per axis.

    Examples
    --------
    >>> x = np.linspace(0.0, 1.0, 11)
    >>> m, (e,) = bin_masses(x, 2 * x, bins=2)
    >>> m.round(6).tolist(), e.tolist()
    ([0.25, 0.75], [0.0, 0.5, 1.0])
    """
    axes = _axes(x)
    bnd = _bnd(boundary, len(axes))
    rho = np.asarray(density, dtype=float)
    shape = tuple(a.size for a in axes)
    if rho.shape != shape:
        raise ValueError(f"density: shape {rho.shape}; expected {shape}")
    if len(axes) > 1 and isinstance(bins, list | tuple) and len(bins) == len(axes):
        per_axis = list(bins)
    else:
        per_axis = [bins] * len(axes)
    edges = tuple(_edges(a, b, bi) for a, b, bi in zip(axes, bnd, per_axis, strict=True))
    out = rho
    for i, (a, b, e) in enumerate(zip(axes, bnd, edges, strict=True)):
        B = _hat_integrals(a, b, e)
        out = np.moveaxis(np.tensordot(B, np.moveaxis(out, i, 0), axes=(1, 0)), 0, i)
    return out, edges


def _histogram(
    samples: np.ndarray, axes: tuple[np.ndarray, ...], bnd: tuple[str, ...], edges: tuple
) -> tuple[np.ndarray, int]:
    """Counts per bin and the number of samples outside every bin."""
    pts = np.array(samples, dtype=float, copy=True)
    for i, (a, b, e) in enumerate(zip(axes, bnd, edges, strict=True)):
        if b == "periodic":
            P = _period(a)
            pts[:, i] = e[0] + np.mod(pts[:, i] - e[0], P)
    counts, _ = np.histogramdd(pts, bins=list(edges))
    return counts, int(pts.shape[0] - counts.sum())


def _samples(samples: Any, nd: int) -> np.ndarray:
    s = np.asarray(samples, dtype=float)
    if s.ndim == 1 and nd == 1:
        s = s[:, None]
    if s.ndim != 2 or s.shape[1] != nd or s.shape[0] < 1:
        raise ValueError(f"samples: shape {np.shape(samples)}; expected (n,) or (n, {nd})")
    if not np.all(np.isfinite(s)):
        raise ValueError("samples: NaN/Inf values; expected finite coordinates")
    return s


def _l1_counts(counts: np.ndarray, outside: int, masses: np.ndarray) -> float:
    n = counts.sum() + outside
    return float(np.sum(np.abs(counts / n - masses)) + outside / n)


def density_l1(
    samples: Any,
    x: Grid,
    density: np.ndarray,
    *,
    bins: Bins = "grid",
    boundary: str | Sequence[str] = "reflecting",
) -> float:
    """L1 distance between the histogram of samples and a predicted density on a grid.

    Parameters
    ----------
    samples : array_like, shape (n,) or (n, d)
        Particle coordinates (pooled over snapshots if wanted).
    x, density, bins, boundary
        As in :func:`bin_masses`.

    Returns
    -------
    float
        ``sum_b |n_b / n - p_b|`` plus the fraction of samples outside the bins, in [0, 2].

    Examples
    --------
    >>> x = np.linspace(-5.0, 5.0, 201)
    >>> rho = np.exp(-x**2 / 2) / np.sqrt(2 * np.pi)
    >>> pts = np.random.default_rng(0).normal(size=20_000)
    >>> round(density_l1(pts, x, rho, bins=20), 2) < 0.05
    True
    >>> density_l1(pts + 2.0, x, rho, bins=20) > 0.5
    True
    """
    axes = _axes(x)
    bnd = _bnd(boundary, len(axes))
    masses, edges = bin_masses(axes if len(axes) > 1 else axes[0], density, bins, bnd)
    counts, outside = _histogram(_samples(samples, len(axes)), axes, bnd, edges)
    return _l1_counts(counts, outside, masses)


def split_half_floor(
    samples: Any,
    x: Grid,
    *,
    bins: Bins = "grid",
    boundary: str | Sequence[str] = "reflecting",
    groups: Any = None,
    split: str = "halves",
    seed: int | np.random.Generator | None = 0,
) -> float:
    """Sampling-noise floor of :func:`density_l1` from two halves of the samples.

    The L1 distance between the histograms of halves A and B, scaled by
    ``sqrt(n_A n_B) / (n_A + n_B)`` (1/2 for equal halves): for noise-dominated bins the L1
    grows like the standard deviation of the bin fractions, ``~ sqrt(1/n_A + 1/n_B)`` between
    the halves and ``~ sqrt(1/n)`` between all samples and the truth. Correlated samples (clones,
    consecutive snapshots) and slow drifts raise it, as they raise the real error; split by
    ``groups`` (e.g. the record step) so that correlated samples stay in one half.

    Parameters
    ----------
    samples, x, bins, boundary
        As in :func:`density_l1`.
    groups : array_like, optional
        One label per sample (e.g. ``step``); the halves are sets of whole groups.
    split : {"halves", "alternate", "random"}
        With groups: the first and second half of the sorted group labels (a time split),
        alternating labels, or a random half of the labels. Without groups the samples are
        split at random (``"random"``) or in order (``"halves"``, ``"alternate"``).
    seed : int or Generator
        For random splits.

    Returns
    -------
    float

    Examples
    --------
    >>> x = np.linspace(-5.0, 5.0, 201)
    >>> pts = np.random.default_rng(1).normal(size=20_000)
    >>> fl = split_half_floor(pts, x, bins=20)
    >>> bool(0.005 < fl < 0.03)
    True
    """
    axes = _axes(x)
    bnd = _bnd(boundary, len(axes))
    pts = _samples(samples, len(axes))
    n = pts.shape[0]
    if n < 4:
        raise ValueError(f"samples: {n} points; the split-half floor needs at least 4")
    if split not in ("halves", "alternate", "random"):
        raise ValueError(f"split: {split!r}; expected 'halves', 'alternate' or 'random'")
    rng = as_generator(seed)
    if groups is None:
        if split == "random":
            in_a = np.zeros(n, dtype=bool)
            in_a[rng.permutation(n)[: n // 2]] = True
        elif split == "alternate":
            in_a = np.arange(n) % 2 == 0
        else:
            in_a = np.arange(n) < n // 2
    else:
        g = np.asarray(groups)
        if g.shape != (n,):
            raise ValueError(f"groups: shape {g.shape}; expected ({n},)")
        labels = np.unique(g)
        if labels.size < 2:
            raise ValueError("groups: one label; the split-half floor needs at least 2 groups")
        if split == "halves":
            chosen = labels[: labels.size // 2]
        elif split == "alternate":
            chosen = labels[::2]
        else:
            chosen = rng.permutation(labels)[: labels.size // 2]
        in_a = np.isin(g, chosen)
    zero = np.zeros(tuple(a.size for a in axes))
    _, edges = bin_masses(axes if len(axes) > 1 else axes[0], zero, bins, bnd)
    ca, oa = _histogram(pts[in_a], axes, bnd, edges)
    cb, ob = _histogram(pts[~in_a], axes, bnd, edges)
    na, nb = ca.sum() + oa, cb.sum() + ob
    if na == 0 or nb == 0:
        raise ValueError("samples: one half is empty")
    l1 = float(np.sum(np.abs(ca / na - cb / nb)) + abs(oa / na - ob / nb))
    return l1 * math.sqrt(na * nb) / (na + nb)


def sample(
    x: Grid,
    density: np.ndarray,
    n: int,
    *,
    boundary: str | Sequence[str] = "reflecting",
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Exact draws from a grid density (its piecewise-linear interpolant; 1-D) or from its
    node cells (cell-uniform, 2-D/3-D).

    Returns
    -------
    ndarray, shape (n,) in 1-D, (n, d) otherwise

    Examples
    --------
    >>> x = np.linspace(0.0, 1.0, 101)
    >>> pts = sample(x, 2 * x, 100_000, seed=3)
    >>> round(float(pts.mean()), 2)            # 2/3 for rho = 2x
    0.67
    """
    axes = _axes(x)
    bnd = _bnd(boundary, len(axes))
    n = check_integer("n", n, 1)
    rng = as_generator(seed)
    rho = np.asarray(density, dtype=float)
    if np.any(rho < 0) or not np.all(np.isfinite(rho)):
        raise ValueError("density: negative or non-finite values")
    if len(axes) == 1:
        ax = axes[0]
        if bnd[0] == "periodic":
            ax = np.append(ax, ax[0] + _period(ax))
            rho = np.append(rho, rho[0])
        h = np.diff(ax)
        cell = h * (rho[:-1] + rho[1:]) / 2
        idx = rng.choice(cell.size, size=n, p=cell / cell.sum())
        a, b = rho[idx], rho[idx + 1]
        u = rng.random(n)
        # inverse CDF of the linear density a + (b - a) t on [0, 1]
        lin = np.abs(b - a) > 1e-12 * np.maximum(a + b, 1e-300)
        t = u.copy()
        disc = a * a + (b * b - a * a) * u
        t[lin] = (np.sqrt(disc[lin]) - a[lin]) / (b[lin] - a[lin])
        out = ax[idx] + h[idx] * t
        if bnd[0] == "periodic":
            out = ax[0] + np.mod(out - ax[0], _period(axes[0]))
        return out
    w = quadrature_weights(axes, bnd) * rho
    flat = rng.choice(w.size, size=n, p=(w / w.sum()).ravel())
    idx = np.unravel_index(flat, w.shape)
    pts = np.empty((n, len(axes)))
    for i, (a, b) in enumerate(zip(axes, bnd, strict=True)):
        e = _edges(a, b, "grid")
        lo, hi = e[idx[i]], e[idx[i] + 1]
        pts[:, i] = lo + (hi - lo) * rng.random(n)
        if b == "periodic":
            pts[:, i] = a[0] + np.mod(pts[:, i] - a[0], _period(a))
    return pts


def sampling_floor(
    x: Grid,
    density: np.ndarray,
    n: int,
    *,
    bins: Bins = "grid",
    boundary: str | Sequence[str] = "reflecting",
    draws: int = 20,
    seed: int | np.random.Generator | None = 0,
) -> float:
    """Median :func:`density_l1` of ``n`` independent exact samples of the density itself.

    The floor for uncorrelated samples; compare with :func:`split_half_floor`, which also sees
    correlations and drifts of the real data.

    Examples
    --------
    >>> x = np.linspace(-5.0, 5.0, 201)
    >>> rho = np.exp(-x**2 / 2) / np.sqrt(2 * np.pi)
    >>> 0.005 < sampling_floor(x, rho, 20_000, bins=20) < 0.03
    True
    """
    draws = check_integer("draws", draws, 1)
    rng = as_generator(seed)
    vals = [
        density_l1(
            sample(x, density, n, boundary=boundary, seed=rng),
            x,
            density,
            bins=bins,
            boundary=boundary,
        )
        for _ in range(draws)
    ]
    return float(np.median(vals))


def density_report(
    samples: Any,
    x: Grid,
    predictions: Mapping[str, np.ndarray],
    *,
    bins: Bins = "grid",
    boundary: str | Sequence[str] = "reflecting",
    groups: Any = None,
    split: str = "halves",
    seed: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """L1 of one sample to every prediction, beside the split-half floor.

    Returns
    -------
    DataFrame
        Columns ``prediction, l1, floor, ratio`` (``ratio = l1 / floor``), ``n``.

    Examples
    --------
    >>> x = np.linspace(-5.0, 5.0, 201)
    >>> gauss = lambda s: np.exp(-x**2 / (2 * s * s)) / np.sqrt(2 * np.pi) / s
    >>> pts = np.random.default_rng(2).normal(size=10_000)
    >>> rep = density_report(pts, x, {"own": gauss(1.0), "other": gauss(0.5)}, bins=20)
    >>> rep["ratio"].round(0).tolist()[1] > 10
    True
    """
    floor = split_half_floor(
        samples, x, bins=bins, boundary=boundary, groups=groups, split=split, seed=seed
    )
    n = int(np.shape(samples)[0])
    rows = []
    for name, dens in predictions.items():
        l1 = density_l1(samples, x, dens, bins=bins, boundary=boundary)
        rows.append((name, l1, floor, l1 / floor if floor > 0 else math.inf, n))
    return pd.DataFrame(rows, columns=["prediction", "l1", "floor", "ratio", "n"])


# ----------------------------------------------------------------------------------------------
# Kramers-Moyal diffusion from position pairs
# ----------------------------------------------------------------------------------------------


def transition_pairs(
    particles: pd.DataFrame,
    lag: int,
    *,
    coord: str = "theta",
    step: str = "step",
    keys: Sequence[str] = ("replica", "neuron_id"),
    start: int | None = None,
    stop: int | None = None,
) -> pd.DataFrame:
    """Pairs ``(theta at step s, theta at step s + lag)`` of the same particle.

    Parameters
    ----------
    particles : DataFrame
        Long particle table; keys missing from it are skipped (e.g. no ``replica``).
    lag : int
        Step difference (> 0), a multiple of the record spacing.
    coord, step, keys
        Column names. Rows duplicated on ``(keys, step)`` (e.g. event rows) keep the first.
    start, stop : int, optional
        Keep pairs whose first step lies in ``[start, stop]``.

    Returns
    -------
    DataFrame
        Columns ``step, theta0, theta1`` plus the keys.

    Examples
    --------
    >>> tab = pd.DataFrame({"step": [0, 0, 10, 10, 20], "neuron_id": [1, 2, 1, 3, 1],
    ...                     "theta": [0.0, 1.0, 0.5, 2.0, 0.7]})
    >>> transition_pairs(tab, 10)[["step", "theta0", "theta1"]].values.tolist()
    [[0.0, 0.0, 0.5], [10.0, 0.5, 0.7]]
    """
    lag = check_integer("lag", lag, 1)
    use = [k for k in keys if k in particles.columns]
    missing = [c for c in (step, coord) if c not in particles.columns]
    if missing or not use:
        raise ValueError(
            f"particles: missing column(s) {missing or list(keys)}; expected {step!r}, "
            f"{coord!r} and at least one of {list(keys)}"
        )
    tab = particles[[*use, step, coord]].drop_duplicates([*use, step], keep="first")
    later = tab.rename(columns={coord: "theta1"})
    later = later.assign(**{step: later[step] - lag})
    pairs = tab.rename(columns={coord: "theta0"}).merge(later, on=[*use, step], how="inner")
    if start is not None:
        pairs = pairs[pairs[step] >= start]
    if stop is not None:
        pairs = pairs[pairs[step] <= stop]
    return pairs.sort_values([step, *use], kind="stable").reset_index(drop=True)[
        [step, "theta0", "theta1", *use]
    ]


def kramers_moyal_bins(
    theta0: Any,
    theta1: Any,
    *,
    tau: float = 1.0,
    bins: int | np.ndarray = 20,
    span: tuple[float, float] | None = None,
    period: float | None = None,
    drift_slope: float | np.ndarray | Callable[[np.ndarray], np.ndarray] | str | None = None,
    min_count: int = 30,
) -> pd.DataFrame:
    """Binned drift and diffusion ``D(theta) = Var(theta1 - theta0 | theta0) / (2 tau)``.

    The variance is taken within each bin (the bin's mean increment is removed). Over a lag
    ``tau`` a local linear drift ``b' (theta - theta*)`` shrinks the increment variance to
    ``2 D tau (exp(2 b' tau) - 1) / (2 b' tau)``; ``drift_slope`` undoes it (exact for an
    Ornstein-Uhlenbeck process, first order in ``b' tau`` otherwise).

    Parameters
    ----------
    theta0, theta1 : array_like
        Positions of the same particles at two times ``tau`` apart.
    tau : float
        Time between them, in steps.
    bins : int or edges
        Bins of ``theta0``.
    span : (lo, hi), optional
        Range of integer bins (default: the data range; one period on a circle).
    period : float, optional
        Circle length: increments are wrapped into ``[-period/2, period/2)`` and positions
        onto ``[lo, lo + period)``.
    drift_slope : None, float, array, callable or "fit"
        ``b' = d(drift)/d theta`` per bin: a number, one value per bin, a function of the bin
        centres (e.g. ``lambda t: -eta * Psi''(t)``), or ``"fit"`` (slope of the measured
        binned drift, ``log(1 + tau dA/dtheta) / tau``). ``None``: no correction.
    min_count : int
        Bins with fewer pairs hold NaN.

    Returns
    -------
    DataFrame
        ``center, lo, hi, count, drift, drift_se, D, D_se`` (``D_raw`` and ``slope`` too
        when a correction was applied).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x0 = rng.uniform(-1, 1, 200_000)
    >>> x1 = x0 + np.sqrt(2 * 0.3 * (1 + x0**2)) * rng.normal(size=x0.size)
    >>> km = kramers_moyal_bins(x0, x1, bins=4)
    >>> (km["D"] / (0.3 * (1 + km["center"] ** 2))).round(1).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    tau = check_positive("tau", tau)
    min_count = check_integer("min_count", min_count, 2)
    a = np.asarray(theta0, dtype=float).ravel()
    b = np.asarray(theta1, dtype=float).ravel()
    if a.shape != b.shape or a.size < 2 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("theta0, theta1: expected finite arrays of equal length >= 2")
    d = b - a
    if period is not None:
        P = check_positive("period", period)
        d = np.mod(d + P / 2, P) - P / 2
        lo = span[0] if span is not None else float(np.min(a))
        a = lo + np.mod(a - lo, P)
        rng_ = (lo, lo + P)
    else:
        rng_ = span if span is not None else (float(np.min(a)), float(np.max(a)))
    if isinstance(bins, int | np.integer) and not isinstance(bins, bool):
        nb = check_integer("bins", bins, 1)
        edges = np.linspace(rng_[0], rng_[1], nb + 1)
    else:
        edges = np.asarray(bins, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bins: expected strictly increasing edges")
    nb = edges.size - 1
    idx = np.searchsorted(edges, a, side="right") - 1
    idx[a == edges[-1]] = nb - 1
    keep = (idx >= 0) & (idx < nb)
    idx, d, a = idx[keep], d[keep], a[keep]
    cnt = np.bincount(idx, minlength=nb).astype(float)
    safe = np.maximum(cnt, 1.0)
    mean = np.bincount(idx, weights=d, minlength=nb) / safe
    dev2 = (d - mean[idx]) ** 2
    var = np.bincount(idx, weights=dev2, minlength=nb) / np.maximum(cnt - 1, 1.0)
    m4 = np.bincount(idx, weights=dev2**2, minlength=nb) / safe
    ok = cnt >= min_count
    centre_mean = np.bincount(idx, weights=a, minlength=nb) / safe
    centres = np.where(cnt > 0, centre_mean, (edges[:-1] + edges[1:]) / 2)
    D_raw = np.where(ok, var / (2 * tau), np.nan)
    D_se = np.where(ok, np.sqrt(np.maximum(m4 - var**2, 0.0) / safe) / (2 * tau), np.nan)
    drift = np.where(ok, mean / tau, np.nan)
    out = pd.DataFrame(
        {
            "center": centres,
            "lo": edges[:-1],
            "hi": edges[1:],
            "count": cnt.astype(int),
            "drift": drift,
            "drift_se": np.where(ok, np.sqrt(var / safe) / tau, np.nan),
            "D": D_raw,
            "D_se": D_se,
        }
    )
    if drift_slope is None:
        return out
    if isinstance(drift_slope, str):
        if drift_slope != "fit":
            raise ValueError(f"drift_slope: {drift_slope!r}; expected 'fit', a number or array")
        good = np.isfinite(drift)
        if good.sum() < 3:
            raise ValueError("drift_slope: 'fit' needs at least 3 filled bins")
        grad = np.full(nb, np.nan)
        grad[good] = np.gradient(drift[good], centres[good])
        slope = np.log1p(np.clip(grad * tau, -0.99, None)) / tau
    elif callable(drift_slope):
        slope = np.asarray(drift_slope(centres), dtype=float) * np.ones(nb)
    else:
        slope = np.asarray(drift_slope, dtype=float) * np.ones(nb)
    x = 2 * slope * tau
    small = np.abs(x) < 1e-8
    factor = np.where(small, 1.0 - x / 2, x / np.expm1(np.where(small, 1.0, x)))
    out["D_raw"] = D_raw
    out["slope"] = slope
    out["D"] = D_raw * factor
    out["D_se"] = D_se * factor
    return out


def on_grid(
    table: pd.DataFrame,
    x: np.ndarray,
    column: str = "D",
    *,
    center: str = "center",
    period: float | None = None,
) -> np.ndarray:
    """Interpolate a binned profile (e.g. :func:`kramers_moyal_bins`) onto grid nodes.

    NaN bins are dropped; outside the filled bins the end values are held (wrapped on a
    circle).

    Examples
    --------
    >>> tab = pd.DataFrame({"center": [0.0, 1.0, 2.0], "D": [1.0, np.nan, 3.0]})
    >>> on_grid(tab, np.array([0.0, 0.5, 1.0, 3.0])).tolist()
    [1.0, 1.5, 2.0, 3.0]
    """
    good = table[[center, column]].dropna()
    if good.empty:
        raise ValueError(f"table: no finite {column!r} values")
    c = good[center].to_numpy(float)
    v = good[column].to_numpy(float)
    order = np.argsort(c)
    c, v = c[order], v[order]
    xs = np.asarray(x, dtype=float)
    if period is None:
        return np.interp(xs, c, v)
    return np.interp(xs, c, v, period=check_positive("period", period))


# ----------------------------------------------------------------------------------------------
# weak form
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeakFormFit:
    """Result of :func:`weak_form`.

    Attributes
    ----------
    alpha, alpha_mu, mu : float
        Fitted birth-death rate constant, ``alpha * mu`` and ``mu = alpha_mu / alpha``.
    alpha_se, alpha_mu_se, mu_se : float
        Jackknife standard errors over the sample groups.
    residual : float
        RMS of the weak-form equations at the fit, relative to the RMS of their drift-diffusion
        parts (near 0 when the model fits).
    n_functions : int
        Number of test functions.
    """

    alpha: float
    alpha_mu: float
    mu: float
    alpha_se: float
    alpha_mu_se: float
    mu_se: float
    residual: float
    n_functions: int


def _test_functions(
    theta: np.ndarray, basis: str, degree: int, centre: float, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """phi, phi', phi'' for each test function (columns)."""
    if basis == "polynomial":
        z = (theta - centre) / scale
        powers = np.ones((z.size, degree + 1))
        for k in range(1, degree + 1):
            powers[:, k] = powers[:, k - 1] * z
        k = np.arange(degree + 1, dtype=float)
        d1 = np.zeros_like(powers)
        d2 = np.zeros_like(powers)
        d1[:, 1:] = powers[:, :-1] * (k[1:] / scale)
        d2[:, 2:] = powers[:, :-2] * (k[2:] * (k[2:] - 1) / scale**2)
        return powers, d1, d2
    # fourier on a circle of length `scale`
    w = 2 * np.pi / scale
    cols = [np.ones_like(theta)]
    d1s = [np.zeros_like(theta)]
    d2s = [np.zeros_like(theta)]
    for m in np.arange(1, degree + 1):
        c, s = np.cos(m * w * theta), np.sin(m * w * theta)
        cols += [c, s]
        d1s += [-m * w * s, m * w * c]
        d2s += [-((m * w) ** 2) * c, -((m * w) ** 2) * s]
    return np.stack(cols, 1), np.stack(d1s, 1), np.stack(d2s, 1)


def _values(v: Any, theta: np.ndarray, name: str) -> np.ndarray:
    out = np.asarray(v(theta) if callable(v) else v, dtype=float)
    out = np.broadcast_to(out, theta.shape) if out.ndim == 0 else out
    if out.shape != theta.shape or not np.all(np.isfinite(out)):
        raise ValueError(f"{name}: expected finite values, one per sample ({theta.size})")
    return out


def weak_form(
    theta: Any,
    psi: Any,
    dpsi: Any,
    *,
    D: Any,
    eta: float,
    basis: str = "polynomial",
    degree: int = 4,
    period: float | None = None,
    groups: Any = None,
) -> WeakFormFit:
    """Fit the birth-death rate ``alpha`` and ``alpha mu`` from stationary particle positions.

    At stationarity, for every test function ``phi``,
    ``E[D phi'' - eta Psi' phi' - alpha (Psi - mu) phi] = 0`` (the weak form of
    ``d rho/dt = (eta Psi' rho)' + (D rho)'' - alpha (Psi - mu) rho``, Ito ``D``). With ``D``
    given this is linear in ``(alpha, alpha mu)``; it is solved by least squares over the test
    functions (``phi = 1`` gives ``mu = <Psi>``). For a Gaussian in a quadratic ``Psi``, ``D``
    and ``alpha`` are not separately identifiable: ``D`` must come from elsewhere (known, or
    :func:`kramers_moyal_bins`).

    Parameters
    ----------
    theta : array_like, shape (n,)
        Particle positions (pooled snapshots of a stationary population).
    psi, dpsi : array_like or callable
        ``Psi`` and ``Psi'`` at the positions (arrays, one per sample) or functions of theta.
    D : float, array_like or callable
        Diffusion at the positions.
    eta : float
        Drift coefficient.
    basis : {"polynomial", "fourier"}
        Powers of the standardised position ``z^k, k = 0..degree``, or ``1, cos, sin`` up to
        ``degree`` harmonics on a circle of length ``period``.
    degree : int
        Highest power / harmonic (>= 2).
    period : float, optional
        Circle length (required for ``"fourier"``).
    groups : array_like, optional
        Labels (e.g. record step) for the jackknife standard errors; default 20 contiguous
        blocks of the sample order.

    Returns
    -------
    WeakFormFit

    Examples
    --------
    Exact stationary samples of the harmonic population at ``r = 1``
    (``Var = 0.0828``, ``alpha = 0.05``, ``mu = 0.0414``):

    >>> rng = np.random.default_rng(0)
    >>> th = rng.normal(scale=np.sqrt(0.0828427), size=400_000)
    >>> fit = weak_form(th, th**2 / 2, th, D=1e-3, eta=0.01)
    >>> bool(abs(fit.alpha - 0.05) < 3 * fit.alpha_se < 0.005), bool(abs(fit.mu - 0.0414) < 5e-4)
    (True, True)
    """
    th = np.asarray(theta, dtype=float).ravel()
    n = th.size
    if n < 40 or not np.all(np.isfinite(th)):
        raise ValueError(f"theta: {n} samples; expected >= 40 finite positions")
    degree = check_integer("degree", degree, 2)
    if basis not in ("polynomial", "fourier"):
        raise ValueError(f"basis: {basis!r}; expected 'polynomial' or 'fourier'")
    ps = _values(psi, th, "psi")
    dps = _values(dpsi, th, "dpsi")
    Dv = _values(D, th, "D")
    if basis == "fourier":
        if period is None:
            raise ValueError("period: None; the fourier basis needs the circle length")
        phi, d1, d2 = _test_functions(th, basis, degree, 0.0, check_positive("period", period))
    else:
        sd = float(np.std(th))
        phi, d1, d2 = _test_functions(th, basis, degree, float(np.mean(th)), sd if sd > 0 else 1)
    # per-sample contributions: y = D phi'' - eta Psi' phi';  y = a Psi phi - b phi
    y_i = Dv[:, None] * d2 - eta * dps[:, None] * d1
    x1_i = ps[:, None] * phi
    x2_i = -phi
    if groups is None:
        labels = np.minimum(np.arange(n) * 20 // n, 19)
    else:
        labels = np.asarray(groups).ravel()
        if labels.shape != (n,):
            raise ValueError(f"groups: shape {labels.shape}; expected ({n},)")
    uniq, inv = np.unique(labels, return_inverse=True)
    G = uniq.size
    if G < 2:
        raise ValueError("groups: one group; the jackknife needs at least 2")
    cnt = np.bincount(inv, minlength=G).astype(float)

    def group_sums(v: np.ndarray) -> np.ndarray:
        cols = [np.bincount(inv, weights=v[:, j], minlength=G) for j in range(v.shape[1])]
        return np.stack(cols, 1)

    Sy, S1, S2 = group_sums(y_i), group_sums(x1_i), group_sums(x2_i)

    def solve_ls(mask: np.ndarray, scale: np.ndarray) -> np.ndarray:
        m = cnt[mask].sum()
        y = Sy[mask].sum(0) / m
        X = np.stack([S1[mask].sum(0) / m, S2[mask].sum(0) / m], 1)
        coef, *_ = np.linalg.lstsq(X / scale[:, None], y / scale, rcond=None)
        return coef

    # equation weights: first the size of each test function, then (feasible GLS) the
    # per-sample spread of each equation's residual at the first fit
    everyone = np.ones(G, dtype=bool)
    scale = np.sqrt(np.mean(phi**2, 0)) + 1e-300
    a0, b0 = solve_ls(everyone, scale)
    e_i = y_i - a0 * x1_i - b0 * x2_i
    spread = np.std(e_i, 0)
    scale = np.where(spread > 0, spread, np.max(spread) + 1e-300)
    a, b = solve_ls(everyone, scale)
    y_all = Sy.sum(0) / n
    res = (y_all - a * S1.sum(0) / n - b * S2.sum(0) / n) / scale
    denom = float(np.sqrt(np.mean((y_all / scale) ** 2))) or 1.0
    resid = float(np.sqrt(np.mean(res**2)) / denom)
    jack = np.array([solve_ls(np.arange(G) != g, scale) for g in range(G)])
    ja, jb = jack[:, 0], jack[:, 1]
    jm = np.where(ja != 0, jb / np.where(ja != 0, ja, 1.0), np.nan)

    def jse(v: np.ndarray) -> float:
        return float(np.sqrt((G - 1) / G * np.sum((v - v.mean()) ** 2)))

    a, b = float(a), float(b)
    return WeakFormFit(
        alpha=a,
        alpha_mu=b,
        mu=b / a if a != 0 else math.nan,
        alpha_se=jse(ja),
        alpha_mu_se=jse(jb),
        mu_se=jse(jm) if np.all(np.isfinite(jm)) else math.nan,
        residual=resid,
        n_functions=int(phi.shape[1]),
    )


# ----------------------------------------------------------------------------------------------
# lineages
# ----------------------------------------------------------------------------------------------


def _region_mask(x: np.ndarray, region: tuple[float, float], period: float | None) -> np.ndarray:
    lo, hi = float(region[0]), float(region[1])
    if period is None:
        return (x > lo) & (x < hi)
    xm = np.mod(x - lo, period)
    return (xm > 0) & (xm < np.mod(hi - lo, period))


def lineage_mass(
    solution: ImaginaryTimeSolution,
    tagged: tuple[float, float] | np.ndarray,
    t: Any,
    *,
    mu: float | None = None,
) -> np.ndarray:
    """Predicted descendant mass of tagged particles relative to the population.

    The tagged density ``rho_tag`` (the stationary density restricted to a region, or a given
    density) evolves with the frozen generator ``exp(t A)``, with ``mu = mu*`` so that the
    whole stationary population keeps its mass: the ratio is
    ``mass(exp(t A) rho_tag) / mass(rho_tag)``. It is 1 at all times without births
    (``alpha = 0``), and tends to ``integrate(h rho_tag) / integrate(rho_tag)`` with ``h`` the
    left Perron vector (``t = inf`` returns that limit).

    Parameters
    ----------
    solution : ImaginaryTimeSolution
        From :func:`analysis.imaginary_time.solve` (1-D or 2-D).
    tagged : (lo, hi) or ndarray
        Open interval of the first coordinate (wrapping on a periodic 1-D grid when
        ``lo > hi``), or a tagged density on the grid.
    t : float or array_like
        Times after tagging, in steps (non-decreasing; ``inf`` allowed last).
    mu : float, optional
        Chemical potential of the runs if it differs from ``mu*`` (fixed-``mu_c`` runs).

    Returns
    -------
    ndarray
        The ratio at each time.

    Examples
    --------
    >>> from analysis.imaginary_time import solve
    >>> x = np.linspace(-2.5, 2.5, 501)
    >>> V = (x**2 - 1) ** 2 + 0.1 * x
    >>> gc = solve(x, V, D=5e-3, eta=0.01, alpha=0.02)
    >>> lineage_mass(gc, (0.5, 1.5), [0.0, 200.0, np.inf]).round(3).tolist()  # higher well
    [1.0, 0.544, 0.203]
    >>> lineage_mass(gc, (-1.5, -0.5), [200.0, np.inf]).round(2).tolist()  # lower well
    [1.09, 1.14]
    >>> fp = solve(x, V, D=5e-3, eta=0.01, alpha=0.0)
    >>> lineage_mass(fp, (0.5, 1.5), [200.0]).round(6).tolist()
    [1.0]
    """
    w = solution.weights
    if isinstance(tagged, tuple):
        if len(tagged) != 2:
            raise ValueError("tagged: expected (lo, hi) or a density on the grid")
        first = solution.x if isinstance(solution.x, np.ndarray) else solution.x[0]
        period = None
        if solution.boundary[0] == "periodic":
            period = float(first[-1] - first[0] + (first[1] - first[0]))
        mask = _region_mask(first, tagged, period)
        mask = mask.reshape((-1,) + (1,) * (solution.density.ndim - 1))
        rho_tag = np.where(mask, solution.density, 0.0)
    else:
        rho_tag = np.asarray(tagged, dtype=float)
        if rho_tag.shape != solution.density.shape:
            raise ValueError(f"tagged: shape {rho_tag.shape}; expected {solution.density.shape}")
    m0 = float(np.sum(w * rho_tag))
    if m0 <= 0:
        raise ValueError("tagged: no mass in the tagged region")
    ts = np.atleast_1d(np.asarray(t, dtype=float))
    if ts.ndim != 1 or np.any(np.isnan(ts)) or np.any(ts < 0) or np.any(np.diff(ts) < 0):
        raise ValueError(f"t: {t!r}; expected non-decreasing times >= 0 (a final inf allowed)")
    finite = np.isfinite(ts)
    out = np.empty(ts.size)
    if solution.alpha == 0:
        out[:] = 1.0
        return out
    if finite.any():
        rho = solution.evolve(rho_tag, ts[finite], mu=mu)
        out[finite] = np.sum(rho * w, axis=tuple(range(1, rho.ndim))) / m0
    if (~finite).any():
        out[~finite] = float(np.sum(w * solution.left * rho_tag)) / m0
    return out


def lineage_mass_measured(
    particles: pd.DataFrame,
    tag_step: int,
    region: tuple[float, float],
    *,
    coord: str = "theta",
    step: str = "step",
    neuron: str = "neuron_id",
    parent: str = "parent_id",
    replica: str = "replica",
    period: float | None = None,
) -> pd.DataFrame:
    """Measured descendant mass of the particles in a region at ``tag_step``.

    Tagged: the particles alive at ``tag_step`` with the coordinate in the open ``region``.
    Descendants: the tagged particles and every particle whose parent is a descendant (the
    ``parent`` chain must be complete: every particle with children appears in some row).
    The ratio divides the descendants' share of the population by its share at tagging:
    ``(n_desc(s) / n_tag) / (N(s) / N(tag_step))``, pooled over replicas.

    Returns
    -------
    DataFrame
        ``step, t, descendants, population, ratio`` for every record step ``>= tag_step``.

    Examples
    --------
    >>> tab = pd.DataFrame({
    ...     "step":      [0, 0, 10, 10, 10, 20, 20, 20],
    ...     "neuron_id": [1, 2, 1, 2, 3, 1, 3, 4],
    ...     "parent_id": [-1, -1, -1, -1, 1, -1, 1, 3],
    ...     "theta":     [0.1, 0.9, 0.1, 0.9, 0.2, 0.1, 0.2, 0.3]})
    >>> lineage_mass_measured(tab, 0, (0.0, 0.5))["ratio"].round(3).tolist()
    [1.0, 1.333, 2.0]
    """
    need = [step, neuron, parent, coord]
    missing = [c for c in need if c not in particles.columns]
    if missing:
        raise ValueError(f"particles: missing column(s) {missing}")
    has_rep = replica in particles.columns
    rep = particles[replica].to_numpy() if has_rep else np.zeros(len(particles), dtype=int)
    tab = pd.DataFrame(
        {
            "rep": rep,
            "step": particles[step].to_numpy(),
            "id": particles[neuron].to_numpy(),
            "parent": pd.to_numeric(particles[parent], errors="coerce").to_numpy(float),
            "theta": particles[coord].to_numpy(float),
        }
    ).drop_duplicates(["rep", "id", "step"], keep="first")
    at_tag = tab[tab["step"] == tag_step]
    if at_tag.empty:
        raise ValueError(f"tag_step: {tag_step}; no particles recorded at that step")
    tagged = at_tag[_region_mask(at_tag["theta"].to_numpy(), region, period)]
    if tagged.empty:
        raise ValueError(f"region: {region}; no particles in it at step {tag_step}")
    # descendant closure in order of first appearance (children appear after parents)
    first = tab.groupby(["rep", "id"], sort=False).agg(
        first=("step", "min"), parent=("parent", "first")
    )
    first = first.sort_values("first", kind="stable")
    desc: set[tuple[Any, Any]] = set(zip(tagged["rep"], tagged["id"], strict=True))
    for (r, i), row in zip(first.index, first.itertuples(index=False), strict=True):
        p = row.parent
        if row.first > tag_step and np.isfinite(p) and (r, p) in desc:
            desc.add((r, i))
    later = tab[tab["step"] >= tag_step]
    is_desc = np.fromiter(
        ((r, i) in desc for r, i in zip(later["rep"], later["id"], strict=True)),
        dtype=bool,
        count=len(later),
    )
    g = later.assign(desc=is_desc).groupby("step")
    out = pd.DataFrame({"descendants": g["desc"].sum(), "population": g.size()}).reset_index()
    n_tag = float(len(tagged))
    n0 = float(len(at_tag))
    out["t"] = out["step"] - tag_step
    out["ratio"] = (out["descendants"] / n_tag) / (out["population"] / n0)
    return out[["step", "t", "descendants", "population", "ratio"]]


# ----------------------------------------------------------------------------------------------
# time-averaged potential on a grid
# ----------------------------------------------------------------------------------------------


def average_on_grid(
    table: pd.DataFrame,
    *,
    value: str = "psi",
    coords: Sequence[str] = ("theta",),
    step: str = "step",
    start: int | None = None,
    stop: int | None = None,
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Time average of a field exported on a grid (e.g. ``Psi(theta)`` at record steps).

    Parameters
    ----------
    table : DataFrame
        Long table with one row per (record step, grid point[, by...]).
    value, coords, step : str
        Column names.
    start, stop : int, optional
        Average over record steps in ``[start, stop]``.
    by : sequence of str
        Extra grouping columns (e.g. ``replica`` or an arm label).

    Returns
    -------
    DataFrame
        ``by..., coords..., <value>, <value>_se, n_steps``; the standard error is the spread
        across record steps divided by ``sqrt(n_steps)`` (an underestimate for correlated
        records), sorted by the coordinates.

    Examples
    --------
    >>> tab = pd.DataFrame({"step": [0, 0, 10, 10], "theta": [0.0, 1.0, 0.0, 1.0],
    ...                     "psi": [1.0, 2.0, 3.0, 4.0]})
    >>> average_on_grid(tab)[["theta", "psi", "n_steps"]].values.tolist()
    [[0.0, 2.0, 2.0], [1.0, 3.0, 2.0]]
    """
    cols = [*by, *coords]
    missing = [c for c in [*cols, value, step] if c not in table.columns]
    if missing:
        raise ValueError(f"table: missing column(s) {missing}")
    sel = table
    if start is not None:
        sel = sel[sel[step] >= start]
    if stop is not None:
        sel = sel[sel[step] <= stop]
    if sel.empty:
        raise ValueError(f"table: no rows with {step} in [{start}, {stop}]")
    g = sel.groupby(cols, sort=True)[value]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out[f"{value}_se"] = out["std"] / np.sqrt(out["count"])
    out = out.rename(columns={"mean": value, "count": "n_steps"}).drop(columns="std")
    return out[[*cols, value, f"{value}_se", "n_steps"]]
