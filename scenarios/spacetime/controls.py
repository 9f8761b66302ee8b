"""Known-answer ensembles of the ``spacetime`` claims: positive controls and a diffusing null.

Each is built where the answer is known by construction, and goes through the same statistic as
the run: a synthetic Lorentzian ensemble (:func:`synthetic_signature`), noise-driven fields on
the hidden-layer graph that propagate or diffuse (:func:`graph_field`), de Sitter space for the
Einstein fit (:func:`de_sitter_ratio`; with Lambda proportional to N for "Lambda tracks N",
:func:`de_sitter_lambdas`) and its geodesics for the geodesic test
(:func:`geodesic_positive`). Every random draw comes from ``default_rng([seed, salt])`` with a
salt fixed per control.

Units: time in learning steps (``SYN_DT`` time units per step for the synthetic ensemble);
coordinates in neuron-state units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from analysis.geometry import geodesic, grid_coordinates
from analysis.spacetime import GeodesicTest, fit_einstein, geodesic_test, polynomial_metric
from scenarios.common.geometry import METRIC_DEGREE

__all__ = [
    "SYN_DT",
    "de_sitter_grid",
    "de_sitter_lambdas",
    "de_sitter_ratio",
    "geodesic_positive",
    "graph_field",
    "graph_laplacian",
    "synthetic_signature",
]

SYN_DT = 0.02


def synthetic_signature(T: int, R: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positive control: one contracting and d-1 freely spreading axes; free diffusion as 'off'.

    Ornstein-Uhlenbeck with rates (5, 0, ..., 0) per unit time, D = 0.5, dt = ``SYN_DT``, from
    a standard normal start. Returns the ``on`` and ``off`` ensembles, each of shape (T, R, d).

    Examples
    --------
    >>> on, off = synthetic_signature(200, 64, 2, 0)
    >>> bool(on[-1, :, 0].std() < 0.5 < off[-1, :, 0].std())  # axis 0 contracts when on
    True
    """
    rng = np.random.default_rng([seed, 11])
    rate = np.array([5.0] + [0.0] * (d - 1))
    kick = math.sqrt(2 * 0.5 * SYN_DT)
    on = np.empty((T, R, d))
    off = np.empty((T, R, d))
    on[0] = rng.normal(size=(R, d))
    off[0] = rng.normal(size=(R, d))
    for t in range(T - 1):
        on[t + 1] = on[t] - SYN_DT * rate * on[t] + kick * rng.normal(size=(R, d))
        off[t + 1] = off[t] + kick * rng.normal(size=(R, d))
    return on, off


def graph_laplacian(a: np.ndarray) -> np.ndarray:
    """Combinatorial Laplacian of the unweighted, undirected graph of the nonzeros of ``a``.

    Examples
    --------
    >>> graph_laplacian(np.array([[0.0, 0.3, 0.0], [0.0, 0.0, 0.2], [0.0, 0.0, 0.0]])).tolist()
    [[1.0, -1.0, 0.0], [-1.0, 2.0, -1.0], [0.0, -1.0, 1.0]]
    """
    a = 0.5 * (np.abs(a) + np.abs(a).T)
    np.fill_diagonal(a, 0.0)
    a = (a > 0).astype(float)
    return np.diag(a.sum(axis=1)) - a


def graph_field(lap: np.ndarray, T: int, R: int, kind: str, seed: int) -> np.ndarray:
    """Noise-driven field on a graph: ``diffusing`` (heat equation) or ``wave`` (damped wave).

    Runs 200 burn-in steps, then returns T steps for R independent replicas, shape (T, R, n).
    The wave's highest mode oscillates at omega = 1.5 rad per step (leapfrog-stable).

    Examples
    --------
    >>> lap = graph_laplacian(np.roll(np.eye(8), 1, axis=1))  # a ring of 8
    >>> graph_field(lap, 5, 3, "wave", 0).shape
    (5, 3, 8)
    """
    rng = np.random.default_rng([seed, 13 if kind == "wave" else 17])
    n = len(lap)
    lam_max = float(np.linalg.eigvalsh(lap)[-1])
    burn = 200
    phi = np.zeros((R, n))
    prev = np.zeros((R, n))
    out = np.empty((T, R, n))
    if kind == "wave":
        c2 = (1.5 / math.sqrt(lam_max)) ** 2  # highest mode at omega = 1.5 (leapfrog-stable)
        for t in range(T + burn):
            nxt = 2 * phi - prev - c2 * phi @ lap - 0.02 * (phi - prev)
            nxt += 0.05 * rng.normal(size=(R, n))
            prev, phi = phi, nxt
            if t >= burn:
                out[t - burn] = phi
    else:
        dcoef = 0.4 / lam_max
        for t in range(T + burn):
            phi = phi - dcoef * phi @ lap - 0.01 * phi + 0.1 * rng.normal(size=(R, n))
            if t >= burn:
                out[t - burn] = phi
    return out


def de_sitter_ratio(shape: tuple[int, ...]) -> float:
    """Positive control of the Einstein fit: residual ratio of de Sitter space.

    De Sitter space (H = 1, spacing 0.2, flat slicing) on a grid of the metric's ``shape``,
    through the same polynomial model (degree ``METRIC_DEGREE``) and fit as the run.

    Examples
    --------
    >>> round(de_sitter_ratio((6, 6, 6, 6)), 3)  # far below the null's 1
    0.125
    """
    x = grid_coordinates(shape, 0.2, 0.0)
    g = np.zeros((*shape, 4, 4))
    g[..., 0, 0] = -1.0
    for k in (1, 2, 3):
        g[..., k, k] = np.exp(2.0 * x[..., 0])
    fit = fit_einstein(polynomial_metric(g, METRIC_DEGREE), None, 0.2)
    return float(fit.residual / fit.residual_control)


def de_sitter_lambdas(shape: tuple[int, ...], n: np.ndarray) -> np.ndarray:
    """Positive control of "Lambda tracks N": fitted Lambda of de Sitter spaces with H^2 ~ N.

    For each ``n[j]`` a de Sitter space (flat slicing, spacing 0.2) with ``H^2 = n[j] /
    max(n)`` (``Lambda = 3 H^2``, proportional to N) on a grid of the metric's ``shape``,
    through the same polynomial model (degree ``METRIC_DEGREE``) and Lambda fit as the run.

    Examples
    --------
    >>> lam = de_sitter_lambdas((7, 7, 7, 7), np.array([12.0, 24.0]))
    >>> bool(0 < lam[0] < lam[1])
    True
    """
    n = np.asarray(n, dtype=float)
    x = grid_coordinates(shape, 0.2, 0.0)
    out = np.empty(n.size)
    for j, nj in enumerate(n):
        H = math.sqrt(max(nj, 0.0) / n.max())
        g = np.zeros((*shape, 4, 4))
        g[..., 0, 0] = -1.0
        for k in (1, 2, 3):
            g[..., k, k] = np.exp(2.0 * H * x[..., 0])
        out[j] = fit_einstein(polynomial_metric(g, METRIC_DEGREE), None, 0.2).Lambda
    return out


def de_sitter_grid(shape: tuple[int, ...], spacing: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """De Sitter metric ``-dt^2 + exp(2 H (x^0 - o^0)) dx^2`` on a grid, ``H = 1 / extent^0``.

    Examples
    --------
    >>> g = de_sitter_grid((5, 5, 5, 5), np.full(4, 0.25), np.zeros(4))
    >>> round(float(g[4, 0, 0, 0, 1, 1]), 3)  # exp(2 * 1 * 1)
    7.389
    """
    H = 1.0 / (spacing[0] * (shape[0] - 1))
    x = grid_coordinates(shape, spacing, origin)
    g = np.zeros((*shape, 4, 4))
    g[..., 0, 0] = -1.0
    for k in (1, 2, 3):
        g[..., k, k] = np.exp(2.0 * H * (x[..., 0] - origin[0]))
    return g


def geodesic_positive(
    paths: list[np.ndarray], noise: np.ndarray, lm: Any, seed: int, stride: int
) -> GeodesicTest | None:
    """Positive control of the geodesic test: noisy geodesics of de Sitter space.

    Geodesics of de Sitter space on the grid box of the local metric ``lm``
    (:func:`de_sitter_grid`), started like the packet ``paths`` (first sample, mean velocity
    over the path; samples every ``stride`` steps), with Gaussian noise of the paths' size
    ``noise``, cut where they (noise included) leave the grid box, fitted by the same test on
    that metric. Paths left with fewer than 3 samples are dropped; None when none is left.
    """
    shape = lm.g.shape[:4]
    g = de_sitter_grid(shape, lm.spacing, lm.origin)
    x0 = np.stack([p[0] for p in paths])
    v0 = np.stack([(p[-1] - p[0]) / (stride * (len(p) - 1)) for p in paths])
    n = max(len(p) for p in paths)
    try:
        synth = geodesic(g, lm.spacing, lm.origin, x0, v0, n - 1, stride).path
    except ValueError:
        return None
    rng = np.random.default_rng([seed, 7])
    lo = np.asarray(lm.origin, dtype=float)
    hi = lo + np.asarray(lm.spacing, dtype=float) * (np.asarray(shape) - 1)
    out, kept = [], []
    for i, p in enumerate(paths):
        q = synth[: len(p), i]
        q = q + noise[i] * rng.normal(size=q.shape)
        inside = np.all(np.isfinite(q) & (q >= lo) & (q <= hi), axis=1)
        q = q[: int(np.argmin(inside)) if not inside.all() else len(q)]
        if len(q) >= 3:  # a noisy sample outside the box ends the path, as for the data
            out.append(q)
            kept.append(i)
    if not out:
        return None
    try:
        return geodesic_test(out, g, lm.spacing, lm.origin, noise[kept], stride, substeps=1)
    except ValueError:
        return None
