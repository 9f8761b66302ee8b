"""Numerical differential geometry of a metric sampled on a regular grid (d = 2 .. 5).

Conventions
-----------
* ``d`` is the space-time dimension (``d = D + 1`` groups of neurons for the emergent
  space-time); any ``d`` from 2 to 5 is supported.
* A metric is an array ``g`` of shape ``(n_0, ..., n_{d-1}, d, d)``: the grid axes come first,
  in coordinate order (array axis ``k`` is coordinate ``x^k``), then the two tensor indices.
  Grid point ``(i_0, ..., i_{d-1})`` sits at ``x^k = origin[k] + i_k * spacing[k]``.
  ``spacing`` and ``origin`` are ``d`` floats (a scalar spacing is broadcast); every grid axis
  needs at least 5 points.
* Tensors carry lower indices unless the name says otherwise. Christoffel symbols are
  ``Gamma^a_{bc}`` stored as ``[..., a, b, c]``; the Riemann tensor is ``R^a_{bcd}`` stored as
  ``[..., a, b, c, d]`` with
  ``R^a_{bcd} = d_c Gamma^a_{db} - d_d Gamma^a_{cb} + Gamma^a_{ce} Gamma^e_{db}
  - Gamma^a_{de} Gamma^e_{cb}``; Ricci ``R_{bd} = R^a_{bad}``; a sphere has positive scalar
  curvature and de Sitter space ``G_{ab} = -Lambda g_{ab}`` with ``Lambda > 0`` (MTW signs).
* Lorentzian metrics have signature ``(-, +, ..., +)``; nothing here assumes it, Riemannian
  metrics work the same way.
* Units: coordinates are in whatever units ``spacing`` and ``origin`` use (for emergent
  space-time, neuron-state units; time in learning steps times ``dt``); curvature is in inverse
  squared coordinate units.

Derivatives
-----------
First and second derivatives of ``g`` are fourth-order central differences (5-point stencils);
mixed second derivatives apply the first-derivative stencil twice. Curvature is computed from
the analytic formulas in ``g``, ``d g`` and ``d d g`` (no numerical derivative of numerically
differentiated Christoffels), so every output is fourth-order accurate at grid points at least
two cells from every edge. Edge values (the outer two layers) are finite but only second-order:
the layer next to the edge uses 3-point central stencils, the edge layer one-sided second-order
stencils. Use :func:`interior` to keep only the accurate points. Noise in ``g`` is amplified like
``noise / h**2``: smooth (:func:`smooth_metric`) or fit a global model first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal import savgol_filter

__all__ = [
    "ChristoffelInterpolator",
    "GeodesicPath",
    "bianchi_residual",
    "christoffel",
    "covariant_divergence",
    "einstein_tensor",
    "geodesic",
    "geodesic_equation",
    "geodesic_residual",
    "grid_coordinates",
    "interior",
    "metric_from_function",
    "ricci",
    "ricci_scalar",
    "riemann",
    "rk4_step",
    "smooth_metric",
    "symmetrize",
]

_MIN_POINTS = 5
_DEGENERATE = 1e-10
_SYM_RTOL = 1e-8


# --------------------------------------------------------------------------- validation


def _per_axis(value: float | Sequence[float], d: int, name: str, positive: bool) -> np.ndarray:
    """``d`` finite floats (a scalar is broadcast), all ``> 0`` when ``positive``."""
    v = np.asarray(value, dtype=float)
    if v.ndim == 0:
        v = np.full(d, float(v))
    if v.shape != (d,):
        raise ValueError(f"{name}: shape {v.shape}; expected a scalar or {d} floats")
    if not np.all(np.isfinite(v)) or (positive and np.any(v <= 0)):
        allowed = "finite positive floats" if positive else "finite floats"
        raise ValueError(f"{name}: {v.tolist()}; expected {allowed}")
    return v


def _as_spacing(spacing: float | Sequence[float], d: int, name: str = "spacing") -> np.ndarray:
    return _per_axis(spacing, d, name, positive=True)


def _as_origin(origin: float | Sequence[float], d: int) -> np.ndarray:
    return _per_axis(origin, d, "origin", positive=False)


def _check_metric(g: np.ndarray, *, name: str = "g", check_degenerate: bool = True) -> np.ndarray:
    """Validate a gridded metric and return it as a float array."""
    g = np.asarray(g)
    if g.ndim < 4 or g.shape[-1] != g.shape[-2]:
        raise ValueError(
            f"{name}: shape {g.shape}; expected (n_0, ..., n_{{d-1}}, d, d) with 2 <= d <= 5"
        )
    d = g.shape[-1]
    if not 2 <= d <= 5 or g.ndim != d + 2:
        raise ValueError(
            f"{name}: shape {g.shape}; expected d grid axes then (d, d) with 2 <= d <= 5"
        )
    if min(g.shape[:d]) < _MIN_POINTS:
        raise ValueError(
            f"{name}: grid shape {g.shape[:d]}; expected at least {_MIN_POINTS} points per axis"
        )
    if not np.issubdtype(g.dtype, np.number) or np.iscomplexobj(g):
        raise ValueError(f"{name}: dtype {g.dtype}; expected real floats")
    g = g.astype(float, copy=False)
    if not np.all(np.isfinite(g)):
        raise ValueError(f"{name}: contains NaN or inf; expected finite values")
    scale = np.max(np.abs(g))
    asym = np.max(np.abs(g - np.swapaxes(g, -1, -2)))
    if asym > _SYM_RTOL * max(scale, np.finfo(float).tiny):
        raise ValueError(
            f"{name}: not symmetric (max |g_ab - g_ba| = {asym:.3g}); expected a symmetric metric"
        )
    if check_degenerate:
        rows = np.prod(np.linalg.norm(g, axis=-1), axis=-1)
        ratio = np.abs(np.linalg.det(g)) / np.where(rows > 0, rows, 1.0)
        ratio = np.where(rows > 0, ratio, 0.0)
        worst = np.unravel_index(np.argmin(ratio), ratio.shape)
        if ratio[worst] < _DEGENERATE:
            raise ValueError(
                f"{name}: degenerate at grid index {tuple(int(i) for i in worst)} "
                f"(|det g| / prod of row norms = {ratio[worst]:.3g}); "
                f"expected a non-degenerate metric (ratio >= {_DEGENERATE:g})"
            )
    return g


def _checked_metric(g: np.ndarray, spacing: float | Sequence[float]) -> _Metric:
    """The validated metric with its spacing, ready for curvature (``_Metric``)."""
    g = _check_metric(g)
    return _Metric(g, _as_spacing(spacing, g.shape[-1]))


def _grid_box(
    g: np.ndarray,
    spacing: float | Sequence[float],
    origin: float | Sequence[float],
    order: int,
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, int]:
    """Validated ``(g, d, spacing, origin, order)`` of the interpolating geodesic tools."""
    g = _check_metric(g)
    d = g.shape[-1]
    return g, d, _as_spacing(spacing, d), _as_origin(origin, d), _check_order(order)


def _check_field(t: np.ndarray, g: np.ndarray, name: str) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    if t.shape != g.shape:
        raise ValueError(f"{name}: shape {t.shape}; expected the metric's shape {g.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name}: contains NaN or inf; expected finite values")
    return t


# --------------------------------------------------------------------------- finite differences


def symmetrize(a: np.ndarray) -> np.ndarray:
    """Symmetric part ``(a + a^T) / 2`` of a field of matrices (the last two axes).

    Parameters
    ----------
    a : ndarray, shape (..., d, d)

    Returns
    -------
    ndarray, shape (..., d, d)

    Examples
    --------
    >>> import numpy as np
    >>> symmetrize(np.array([[1.0, 2.0], [0.0, 3.0]])).tolist()
    [[1.0, 1.0], [1.0, 3.0]]
    """
    return 0.5 * (a + np.swapaxes(a, -1, -2))


def _d1(f: np.ndarray, axis: int, h: float) -> np.ndarray:
    """First derivative along ``axis``: 4th order inside, 2nd order in the two edge layers."""
    f = np.moveaxis(f, axis, 0)
    out = np.empty_like(f)
    out[2:-2] = (f[:-4] - 8.0 * f[1:-3] + 8.0 * f[3:-1] - f[4:]) / (12.0 * h)
    out[1] = (f[2] - f[0]) / (2.0 * h)
    out[-2] = (f[-1] - f[-3]) / (2.0 * h)
    out[0] = (-3.0 * f[0] + 4.0 * f[1] - f[2]) / (2.0 * h)
    out[-1] = (3.0 * f[-1] - 4.0 * f[-2] + f[-3]) / (2.0 * h)
    return np.moveaxis(out, 0, axis)


def _d2(f: np.ndarray, axis: int, h: float) -> np.ndarray:
    """Second derivative along ``axis``: 4th order inside, 2nd order in the two edge layers."""
    f = np.moveaxis(f, axis, 0)
    out = np.empty_like(f)
    out[2:-2] = (-f[:-4] + 16.0 * f[1:-3] - 30.0 * f[2:-2] + 16.0 * f[3:-1] - f[4:]) / (
        12.0 * h * h
    )
    out[1] = (f[0] - 2.0 * f[1] + f[2]) / (h * h)
    out[-2] = (f[-1] - 2.0 * f[-2] + f[-3]) / (h * h)
    out[0] = (2.0 * f[0] - 5.0 * f[1] + 4.0 * f[2] - f[3]) / (h * h)
    out[-1] = (2.0 * f[-1] - 5.0 * f[-2] + 4.0 * f[-3] - f[-4]) / (h * h)
    return np.moveaxis(out, 0, axis)


def _first(a: np.ndarray, r: int) -> np.ndarray:
    """Move the last ``r`` (tensor) axes to the front: components-first layout."""
    n = a.ndim
    return np.moveaxis(a, tuple(range(n - r, n)), tuple(range(r)))


def _last(a: np.ndarray, r: int) -> np.ndarray:
    """Inverse of :func:`_first`, as a contiguous array (grid axes first again)."""
    return np.ascontiguousarray(np.moveaxis(a, tuple(range(r)), tuple(range(-r, 0))))


def _symmetric_unpack(d: int) -> np.ndarray:
    """``(d, d)`` table of positions of ``(a, b)`` among the packed ``a <= b`` components."""
    iu = np.triu_indices(d)
    unpack = np.empty((d, d), dtype=int)
    unpack[iu] = np.arange(len(iu[0]))
    unpack[iu[1], iu[0]] = np.arange(len(iu[0]))
    return unpack


def _grad(f: np.ndarray, h: np.ndarray, r: int) -> np.ndarray:
    """Components-first gradient: ``out[c, <r tensor axes>, <grid>] = d_c f[<tensor>, <grid>]``."""
    return np.stack([_d1(f, r + k, h[k]) for k in range(len(h))], axis=0)


class _Metric:
    """A validated metric in components-first layout with its packed unique components.

    Hot-path arithmetic runs on arrays shaped ``(<tensor axes>, *grid)`` whose innermost axes
    are the long contiguous grid axes; ``einsum`` over them is several times faster than over
    ``(*grid, <tensor axes>)``. Only the ``d (d + 1) / 2`` independent components are
    differentiated.
    """

    def __init__(self, g: np.ndarray, h: np.ndarray) -> None:
        d = g.shape[-1]
        self.d, self.h = d, h
        iu = np.triu_indices(d)
        self.unpack = _symmetric_unpack(d)
        self.g = np.ascontiguousarray(_first(g, 2))
        self.packed = np.ascontiguousarray(self.g[iu])  # (K, *grid)
        ginv = np.linalg.inv(g)
        self.ginv = np.ascontiguousarray(_first(symmetrize(ginv), 2))
        self.dpacked = [_d1(self.packed, 1 + k, h[k]) for k in range(d)]
        dg = np.empty((d, *self.g.shape))  # [c, a, b, *grid] = d_c g_ab
        for c, dp in enumerate(self.dpacked):
            dg[c] = dp[self.unpack]
        # Gamma_{abc} = (d_b g_ac + d_c g_ab - d_a g_bc) / 2
        self.low = 0.5 * (np.swapaxes(dg, 0, 1) + np.moveaxis(dg, 0, 2) - dg)
        self.gam = np.einsum("ae...,ebc...->abc...", self.ginv, self.low)

    def second(self, p: int, q: int) -> np.ndarray:
        """``[a, b, *grid] = d_p d_q g_ab``."""
        if p == q:
            hp = _d2(self.packed, 1 + p, self.h[p])
        else:
            hp = _d1(self.dpacked[min(p, q)], 1 + max(p, q), self.h[max(p, q)])
        return hp[self.unpack]

    def ricci(self) -> np.ndarray:
        """``R_{ab}`` as ``[a, b, *grid]``, without forming the Riemann tensor."""
        d, ginv, gam, low = self.d, self.ginv, self.gam, self.low
        # quadratic part: g^{ac} Gamma_{f bc} Gamma^f_{ad} - Gamma_{f bd} g^{ac} Gamma^f_{ac}
        tmp = np.einsum("ac...,fad...->cfd...", ginv, gam)
        ric = np.einsum("fbc...,cfd...->bd...", low, tmp)
        del tmp
        trace_gam = np.einsum("ac...,fac...->f...", ginv, gam)
        ric -= np.einsum("fbd...,f...->bd...", low, trace_gam)
        # linear part: (g^ac g_ad,bc + g^ac g_bc,ad - g^ac g_ac,bd - g^ac g_bd,ac) / 2,
        # one derivative pair (p, q) at a time to keep memory at d**2 per point.
        for p in range(d):
            for q in range(p, d):
                hpq = self.second(p, q)  # [a, b, *grid]
                trace = np.einsum("ac...,ac...->...", ginv, hpq)
                for b, c in [(p, q)] if p == q else [(p, q), (q, p)]:
                    # (b, c) = derivative pair in g^ac g_ad,bc -> R_{b d} += g^{a c} H_{a d} / 2
                    ric[b] += 0.5 * np.einsum("a...,ad...->d...", ginv[:, c], hpq)
                    # (a, d) = derivative pair in g^ac g_bc,ad -> R_{x c} += g^{b y} H_{x y} / 2
                    ric[:, c] += 0.5 * np.einsum("y...,xy...->x...", ginv[b], hpq)
                    # (b, d) = derivative pair in g^ac g_ac,bd -> R_{b c} -= tr(g^-1 H) / 2
                    ric[b, c] -= 0.5 * trace
                # (a, c) = derivative pair in g^ac g_bd,ac -> R_{x y} -= g^{p q} H_{x y} / 2
                ric -= (0.5 if p == q else 1.0) * ginv[p, q] * hpq
        return 0.5 * (ric + np.swapaxes(ric, 0, 1))

    def riemann(self) -> np.ndarray:
        """``R^a_{bcd}`` as ``[a, b, c, d, *grid]`` (memory d**4 per point)."""
        d = self.d
        ddg = np.empty((d, d, d, d, *self.g.shape[2:]))  # [p, q, a, b] = d_p d_q g_ab
        for p in range(d):
            for q in range(p, d):
                ddg[p, q] = self.second(p, q)
                ddg[q, p] = ddg[p, q]
        # R_{abcd} = (g_ad,bc + g_bc,ad - g_ac,bd - g_bd,ac) / 2
        #            + g_ef (Gamma^e_bc Gamma^f_ad - Gamma^e_bd Gamma^f_ac)
        lower = 0.5 * (
            np.einsum("bcad...->abcd...", ddg)
            + np.einsum("adbc...->abcd...", ddg)
            - np.einsum("bdac...->abcd...", ddg)
            - np.einsum("acbd...->abcd...", ddg)
        )
        del ddg
        quad = np.einsum("fbc...,fad...->abcd...", self.low, self.gam)
        lower += quad
        lower -= np.swapaxes(quad, 2, 3)
        del quad
        return np.einsum("ae...,ebcd...->abcd...", self.ginv, lower)

    def divergence(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``nabla^a T_{ab}`` and the sum of its terms' absolute values, ``[b, *grid]``."""
        dt = _grad(t, self.h, 2)  # [c, a, b, *grid]
        term1 = np.einsum("ac...,cab...->b...", self.ginv, dt)
        tmp = np.einsum("ac...,eca...->e...", self.ginv, self.gam)
        term2 = np.einsum("e...,eb...->b...", tmp, t)
        tmp = np.einsum("ac...,ecb...->aeb...", self.ginv, self.gam)
        term3 = np.einsum("aeb...,ae...->b...", tmp, t)
        return term1 - term2 - term3, np.abs(term1) + np.abs(term2) + np.abs(term3)


# --------------------------------------------------------------------------- curvature


def christoffel(g: np.ndarray, spacing: float | Sequence[float]) -> np.ndarray:
    """Christoffel symbols of the second kind, ``Gamma^a_{bc}``.

    Parameters
    ----------
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Symmetric non-degenerate metric on a regular grid (module conventions).
    spacing : float or sequence of d floats
        Grid spacing per axis.

    Returns
    -------
    ndarray, shape (n_0, ..., n_{d-1}, d, d, d)
        ``out[..., a, b, c] = Gamma^a_{bc}``, fourth-order accurate two or more cells from
        the edges.

    Examples
    --------
    Sphere of radius 2 in (theta, phi): ``Gamma^theta_{phi phi} = -sin(theta) cos(theta)``.

    >>> import numpy as np
    >>> x = grid_coordinates((9, 5), (0.05, 0.1), (0.8, 0.0))  # x[4, 2] = (1.0, 0.2)
    >>> g = np.zeros((9, 5, 2, 2)); g[..., 0, 0] = 4.0; g[..., 1, 1] = 4 * np.sin(x[..., 0])**2
    >>> gam = christoffel(g, (0.05, 0.1))
    >>> bool(np.isclose(gam[4, 2, 0, 1, 1], -np.sin(1.0) * np.cos(1.0), rtol=1e-5))
    True
    """
    return _last(_checked_metric(g, spacing).gam, 3)


def riemann(g: np.ndarray, spacing: float | Sequence[float]) -> np.ndarray:
    """Riemann tensor ``R^a_{bcd}`` from ``g``, ``d g`` and ``d d g`` (analytic formula).

    Memory is ``d**4`` floats per grid point; :func:`ricci` avoids the full tensor.

    Parameters
    ----------
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Metric on a regular grid.
    spacing : float or sequence of d floats
        Grid spacing per axis.

    Returns
    -------
    ndarray, shape (n_0, ..., n_{d-1}, d, d, d, d)
        ``out[..., a, b, c, d] = R^a_{bcd}``; for a 2-sphere of radius ``r``,
        ``R^theta_{phi theta phi} = sin(theta)**2``.

    Examples
    --------
    >>> import numpy as np
    >>> x = grid_coordinates((9, 5), (0.05, 0.1), (0.8, 0.0))  # x[4, 2] = (1.0, 0.2)
    >>> g = np.zeros((9, 5, 2, 2)); g[..., 0, 0] = 1.0; g[..., 1, 1] = np.sin(x[..., 0])**2
    >>> rie = riemann(g, (0.05, 0.1))
    >>> bool(np.isclose(rie[4, 2, 0, 1, 0, 1], np.sin(1.0) ** 2, rtol=1e-5))
    True
    """
    return _last(_checked_metric(g, spacing).riemann(), 4)


def ricci(g: np.ndarray, spacing: float | Sequence[float]) -> np.ndarray:
    """Ricci tensor ``R_{ab} = R^c_{acb}``, contracted directly (``d**3`` memory per point).

    Parameters
    ----------
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Metric on a regular grid.
    spacing : float or sequence of d floats
        Grid spacing per axis.

    Returns
    -------
    ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Symmetric ``R_{ab}``; for a 2-sphere ``R_{ab} = g_{ab} / r**2``.

    Examples
    --------
    >>> import numpy as np
    >>> x = grid_coordinates((9, 5), (0.05, 0.1), (0.8, 0.0))
    >>> g = np.zeros((9, 5, 2, 2)); g[..., 0, 0] = 4.0; g[..., 1, 1] = 4 * np.sin(x[..., 0])**2
    >>> bool(np.allclose(ricci(g, (0.05, 0.1))[2:-2, 2:-2], g[2:-2, 2:-2] / 4.0, rtol=1e-5))
    True
    """
    return _last(_checked_metric(g, spacing).ricci(), 2)


def ricci_scalar(g: np.ndarray, spacing: float | Sequence[float]) -> np.ndarray:
    """Ricci scalar ``R = g^{ab} R_{ab}``.

    Parameters
    ----------
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Metric on a regular grid.
    spacing : float or sequence of d floats
        Grid spacing per axis.

    Returns
    -------
    ndarray, shape (n_0, ..., n_{d-1})
        ``2 / r**2`` on a 2-sphere of radius ``r``; ``d (d - 1) H**2`` on d-dimensional de Sitter.

    Examples
    --------
    >>> import numpy as np
    >>> x = grid_coordinates((9, 5), (0.05, 0.1), (0.8, 0.0))
    >>> g = np.zeros((9, 5, 2, 2)); g[..., 0, 0] = 4.0; g[..., 1, 1] = 4 * np.sin(x[..., 0])**2
    >>> round(float(interior(ricci_scalar(g, (0.05, 0.1)), 2).mean()), 5)
    0.5
    """
    m = _checked_metric(g, spacing)
    return np.einsum("ab...,ab...->...", m.ginv, m.ricci())


def einstein_tensor(g: np.ndarray, spacing: float | Sequence[float]) -> np.ndarray:
    """Einstein tensor ``G_{ab} = R_{ab} - R g_{ab} / 2``.

    Identically zero for ``d = 2``; for d-dimensional de Sitter space
    ``G_{ab} = -Lambda g_{ab}`` with ``Lambda = (d - 1)(d - 2) H**2 / 2`` (``3 H**2`` in 4-D).

    Parameters
    ----------
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Metric on a regular grid.
    spacing : float or sequence of d floats
        Grid spacing per axis.

    Returns
    -------
    ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Symmetric ``G_{ab}``.

    Examples
    --------
    >>> import numpy as np
    >>> H = 0.5
    >>> x = grid_coordinates((7, 5, 5, 5), 0.1, 0.0)
    >>> g = np.zeros(x.shape[:-1] + (4, 4)); g[..., 0, 0] = -1.0
    >>> for k in (1, 2, 3):
    ...     g[..., k, k] = np.exp(2 * H * x[..., 0])
    >>> G = einstein_tensor(g, 0.1)
    >>> bool(np.allclose(interior(G, 2), -3 * H**2 * interior(g, 2), atol=1e-6))
    True
    """
    m = _checked_metric(g, spacing)
    ric = m.ricci()
    scalar = np.einsum("ab...,ab...->...", m.ginv, ric)
    ric -= 0.5 * scalar * m.g
    return _last(ric, 2)


def covariant_divergence(
    t: np.ndarray, g: np.ndarray, spacing: float | Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Covariant divergence ``nabla^a T_{ab}`` of a symmetric 2-tensor field.

    ``nabla^a T_{ab} = g^{ac} (d_c T_{ab} - Gamma^e_{ca} T_{eb} - Gamma^e_{cb} T_{ae})``. The
    derivative of ``T`` is a fourth-order difference, so the result is accurate four or more
    cells from the edges when ``T`` itself comes from differentiating ``g``.

    Parameters
    ----------
    t : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        The tensor ``T_{ab}`` on the metric's grid.
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Metric on a regular grid.
    spacing : float or sequence of d floats
        Grid spacing per axis.

    Returns
    -------
    div : ndarray, shape (n_0, ..., n_{d-1}, d)
        ``nabla^a T_{ab}`` (lower index ``b``).
    scale : ndarray, shape (n_0, ..., n_{d-1}, d)
        Sum of the absolute values of the three terms, the natural size against which ``div``
        vanishes (use it for relative residuals).

    Examples
    --------
    >>> import numpy as np
    >>> x = grid_coordinates((9, 9), (0.05, 0.1), (0.8, 0.0))
    >>> g = np.zeros((9, 9, 2, 2)); g[..., 0, 0] = 1.0; g[..., 1, 1] = np.sin(x[..., 0])**2
    >>> div, scale = covariant_divergence(g, g, (0.05, 0.1))  # nabla g = 0
    >>> bool(np.abs(interior(div, 4)).max() < 1e-6 * interior(scale, 4).max())
    True
    """
    g = _check_metric(g)
    t = _check_field(t, g, "t")
    d = g.shape[-1]
    h = _as_spacing(spacing, d)
    div, scale = _Metric(g, h).divergence(np.ascontiguousarray(_first(t, 2)))
    return _last(div, 1), _last(scale, 1)


def bianchi_residual(g: np.ndarray, spacing: float | Sequence[float], width: int = 4) -> float:
    """Relative size of ``nabla^a G_{ab}`` (zero by the contracted Bianchi identity).

    The identity reads ``nabla^a R_{ab} = d_b R / 2``. Returns
    ``||nabla^a R_{ab} - d_b R / 2|| / ||scale||`` (Frobenius norms over grid points at least
    ``width`` cells from every edge, in the coordinate chart), where ``scale`` sums the absolute
    values of every term (the three terms of :func:`covariant_divergence` of ``R_{ab}`` and
    ``|d_b R| / 2``). Normalising by the Ricci terms, not by ``G``, keeps the ratio meaningful in
    2-D where ``G`` vanishes identically. For an exactly sampled smooth metric this is at
    truncation level (``~h**4``); noise or a non-smooth metric make it O(1). A flat metric
    returns 0.

    Parameters
    ----------
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Metric on a regular grid; every axis needs more than ``2 * width`` points.
    spacing : float or sequence of d floats
        Grid spacing per axis.
    width : int
        Interior margin in cells; 4 (default) keeps only points where both differentiations
        are fourth order.

    Returns
    -------
    float
        The relative residual, in ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> x = grid_coordinates((9, 9, 9), (0.1, 0.2, 0.2), 0.0)
    >>> g = np.zeros(x.shape[:-1] + (3, 3)); g[..., 0, 0] = -1.0
    >>> g[..., 1, 1] = g[..., 2, 2] = np.exp(x[..., 0])
    >>> bianchi_residual(g, (0.1, 0.2, 0.2)) < 1e-5
    True
    """
    g = _check_metric(g)
    d = g.shape[-1]
    h = _as_spacing(spacing, d)
    if not isinstance(width, int | np.integer) or width < 0:
        raise ValueError(f"width: {width!r}; expected an integer >= 0")
    if min(g.shape[:d]) <= 2 * width:
        raise ValueError(
            f"g: grid shape {g.shape[:d]}; bianchi_residual with width={width} needs more than "
            f"{2 * width} points per axis"
        )
    m = _Metric(g, h)
    ric = m.ricci()
    scalar = np.einsum("ab...,ab...->...", m.ginv, ric)
    div, scale = m.divergence(ric)
    half_grad = 0.5 * _grad(scalar, h, 0)
    inner = (slice(None),) + (slice(width, -width) if width else slice(None),) * d
    num = float(np.linalg.norm((div - half_grad)[inner]))
    den = float(np.linalg.norm((scale + np.abs(half_grad))[inner]))
    if den == 0.0:
        return 0.0
    return num / den


# --------------------------------------------------------------------------- grid helpers


def interior(a: np.ndarray, width: int = 2, d: int | None = None) -> np.ndarray:
    """Drop ``width`` layers at both ends of every grid axis (the first ``d`` axes).

    Parameters
    ----------
    a : ndarray
        A gridded field whose first ``d`` axes are grid axes.
    width : int
        Layers to drop; 2 keeps the points where first derivatives are fourth order.
    d : int, optional
        Number of grid axes. Default: inferred from the shape ``(n_0, ..., n_{k-1}, k, ..., k)``
        with 1 to 4 trailing tensor axes of length ``k`` (vectors, metrics, Christoffels,
        Riemann), else all axes are grid axes (scalars). Unambiguous because grid axes have
        at least 5 points; pass ``d`` to be explicit.

    Returns
    -------
    ndarray
        A view of ``a``.

    Examples
    --------
    >>> import numpy as np
    >>> interior(np.zeros((9, 9, 2, 2)), 2).shape
    (5, 5, 2, 2)
    >>> interior(np.zeros((9, 9)), 3).shape
    (3, 3)
    >>> interior(np.zeros((9, 9, 9, 9, 4)), 2, d=4).shape
    (5, 5, 5, 5, 4)
    """
    a = np.asarray(a)
    if d is None:
        d = a.ndim
        for tail in range(1, 5):
            k = a.ndim - tail
            if 2 <= k <= 5 and all(s == k for s in a.shape[k:]):
                d = k
                break
    if not isinstance(width, int | np.integer) or width < 0:
        raise ValueError(f"width: {width!r}; expected an integer >= 0")
    if width == 0:
        return a
    return a[(slice(width, -width),) * d]


def grid_coordinates(
    shape: Sequence[int], spacing: float | Sequence[float], origin: float | Sequence[float]
) -> np.ndarray:
    """Coordinates of every grid point, ``x[..., k] = origin[k] + i_k * spacing[k]``.

    Parameters
    ----------
    shape : sequence of d ints
        Grid points per axis.
    spacing, origin : float or sequence of d floats
        Grid spacing and the coordinates of grid point ``(0, ..., 0)``.

    Returns
    -------
    ndarray, shape (*shape, d)

    Examples
    --------
    >>> grid_coordinates((3, 2), (0.5, 1.0), (1.0, 0.0))[2, 1].tolist()
    [2.0, 1.0]
    """
    shape = tuple(int(n) for n in shape)
    d = len(shape)
    if d < 1 or min(shape) < 1:
        raise ValueError(f"shape: {shape}; expected a non-empty tuple of positive ints")
    h = _as_spacing(spacing, d)
    o = _as_origin(origin, d)
    axes = [o[k] + h[k] * np.arange(shape[k]) for k in range(d)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)


def metric_from_function(
    f: Callable[[np.ndarray], np.ndarray],
    shape: Sequence[int],
    spacing: float | Sequence[float],
    origin: float | Sequence[float],
) -> np.ndarray:
    """Sample an analytic metric on a regular grid.

    Parameters
    ----------
    f : callable
        ``f(x)`` with ``x`` of shape ``(*shape, d)`` (see :func:`grid_coordinates`) returns the
        metric components, shape ``(*shape, d, d)``.
    shape : sequence of d ints
        Grid points per axis.
    spacing, origin : float or sequence of d floats
        Grid spacing and the coordinates of grid point ``(0, ..., 0)``.

    Returns
    -------
    ndarray, shape (*shape, d, d)
        The validated metric.

    Examples
    --------
    >>> import numpy as np
    >>> flat = metric_from_function(lambda x: np.broadcast_to(np.eye(2), x.shape + (2,)),
    ...                             (5, 5), 1.0, 0.0)
    >>> flat.shape
    (5, 5, 2, 2)
    """
    x = grid_coordinates(shape, spacing, origin)
    d = x.shape[-1]
    g = np.array(f(x), dtype=float)
    if g.shape != (*x.shape[:-1], d, d):
        raise ValueError(
            f"f: returned shape {g.shape}; expected {(*x.shape[:-1], d, d)} (grid shape + (d, d))"
        )
    return _check_metric(g)


def smooth_metric(g: np.ndarray, sigma: float | Sequence[float]) -> np.ndarray:
    """Gaussian smoothing of every metric component over the grid (``mode="nearest"``).

    Use before differentiating a noisy metric: finite-difference curvature error grows like
    ``noise / h**2``. Nearest-value boundaries avoid the O(1) artefacts that reflecting
    boundaries create; smoothing still biases curvature within about ``3 sigma`` of the edges.

    Parameters
    ----------
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Metric on a regular grid.
    sigma : float or sequence of d floats
        Kernel width in grid cells (0 leaves an axis untouched).

    Returns
    -------
    ndarray, shape (n_0, ..., n_{d-1}, d, d)
        The smoothed, exactly symmetric metric.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> g = np.broadcast_to(np.eye(2), (17, 17, 2, 2)) + 1e-3 * rng.normal(size=(17, 17, 2, 2))
    >>> g = 0.5 * (g + np.swapaxes(g, -1, -2))
    >>> def rms(m):
    ...     return float(np.sqrt(np.mean((m - np.eye(2)) ** 2)))
    >>> bool(rms(smooth_metric(g, 2.0)) < rms(g) / 4)
    True
    """
    g = _check_metric(g, check_degenerate=False)
    d = g.shape[-1]
    s = np.asarray(sigma, dtype=float)
    if s.ndim == 0:
        s = np.full(d, float(s))
    if s.shape != (d,) or not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError(f"sigma: {np.asarray(sigma).tolist()}; expected a float >= 0 or d of them")
    out = gaussian_filter(g, sigma=(*tuple(s), 0.0, 0.0), mode="nearest")
    return symmetrize(out)


# --------------------------------------------------------------------------- interpolation


class _GridInterpolator:
    """Multilinear (order 1) or local cubic Lagrange (order 3) interpolation of gridded data.

    ``values`` has the d grid axes first and any trailing shape; points outside the grid box
    (or non-finite) give NaN.
    """

    def __init__(
        self, values: np.ndarray, spacing: np.ndarray, origin: np.ndarray, order: int
    ) -> None:
        self.d = len(spacing)
        self.shape = np.array(values.shape[: self.d])
        self.tail = values.shape[self.d :]
        self.flat = values.reshape(int(np.prod(self.shape)), -1)
        self.strides = np.array([int(np.prod(self.shape[k + 1 :])) for k in range(self.d)])
        self.h = spacing
        self.o = origin
        self.order = order
        self.s = order + 1

    def inside(self, x: np.ndarray) -> np.ndarray:
        u = (x - self.o) / self.h
        tol = 1e-9
        return np.all(np.isfinite(u) & (u >= -tol) & (u <= self.shape - 1 + tol), axis=-1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        batch = x.shape[:-1]
        pts = x.reshape(-1, self.d)
        ok = self.inside(pts)
        u = np.where(ok[:, None], (pts - self.o) / self.h, 0.0)
        m = len(u)
        s = self.s
        offsets = np.arange(s)
        weights = np.ones((m,) + (1,) * self.d)
        linear = np.zeros((m,) + (1,) * self.d, dtype=np.intp)
        for k in range(self.d):
            n = self.shape[k]
            if self.order == 1:
                base = np.clip(np.floor(u[:, k]).astype(np.intp), 0, n - 2)
                t = u[:, k] - base
                w = np.stack([1.0 - t, t], axis=-1)
            else:
                base = np.clip(np.floor(u[:, k]).astype(np.intp) - 1, 0, n - 4)
                t = u[:, k] - base
                w = np.stack(
                    [
                        -(t - 1.0) * (t - 2.0) * (t - 3.0) / 6.0,
                        t * (t - 2.0) * (t - 3.0) / 2.0,
                        -t * (t - 1.0) * (t - 3.0) / 2.0,
                        t * (t - 1.0) * (t - 2.0) / 6.0,
                    ],
                    axis=-1,
                )
            shape = [m] + [1] * self.d
            shape[k + 1] = s
            weights = weights * w.reshape(shape)
            linear = linear + ((base[:, None] + offsets) * self.strides[k]).reshape(shape)
        vals = self.flat[linear.reshape(-1)].reshape(m, s**self.d, -1)  # stencil values
        out = np.matmul(weights.reshape(m, 1, -1), vals)[:, 0]
        out[~ok] = np.nan
        return out.reshape(batch + self.tail)


class ChristoffelInterpolator:
    """Christoffel symbols ``Gamma^a_{bc}`` interpolated between grid points.

    Only the ``b <= c`` components are interpolated (the symmetric pair is copied), by local
    cubic Lagrange (``order=3``) or multilinear (``order=1``) interpolation. Points outside the
    grid box, or non-finite, give NaN. The arguments are not checked: pass the output of
    :func:`christoffel` and float arrays for ``spacing`` and ``origin``.

    Parameters
    ----------
    gamma : ndarray, shape (n_0, ..., n_{d-1}, d, d, d)
        Christoffel symbols on the grid (:func:`christoffel`).
    spacing, origin : ndarray, shape (d,)
        Grid spacing and the coordinates of grid point ``(0, ..., 0)``.
    order : {3, 1}
        Interpolation order.

    Examples
    --------
    >>> import numpy as np
    >>> x = grid_coordinates((7, 7), 0.5, 0.0)
    >>> g = np.zeros((7, 7, 2, 2)); g[..., 0, 0] = 1.0; g[..., 1, 1] = 1.0 + x[..., 0] ** 2
    >>> h, o = np.full(2, 0.5), np.zeros(2)
    >>> gam = ChristoffelInterpolator(christoffel(g, h), h, o, 3)
    >>> round(float(gam(np.array([1.0, 1.0]))[0, 1, 1]), 6)  # Gamma^0_11 = -x^0
    -1.0
    >>> bool(np.isnan(gam(np.array([5.0, 1.0]))).all())  # outside the grid box
    True
    """

    def __init__(self, gamma: np.ndarray, spacing: np.ndarray, origin: np.ndarray, order: int):
        d = gamma.shape[-1]
        iu = np.triu_indices(d)
        self.unpack = _symmetric_unpack(d)
        self.interp = _GridInterpolator(gamma[..., iu[0], iu[1]], spacing, origin, order)
        self.inside = self.interp.inside

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.interp(x)[..., self.unpack]


def _check_order(order: int) -> int:
    if order not in (1, 3):
        raise ValueError(f"order: {order!r}; expected 1 (multilinear) or 3 (cubic)")
    return int(order)


# --------------------------------------------------------------------------- geodesics


def _gamma_or_compute(gamma: np.ndarray | None, g: np.ndarray, h: np.ndarray) -> np.ndarray:
    if gamma is None:
        return _last(_Metric(g, h).gam, 3)
    gamma = np.asarray(gamma, dtype=float)
    d = g.shape[-1]
    if gamma.shape != (*g.shape, d):
        raise ValueError(
            f"gamma: shape {gamma.shape}; expected christoffel(g, spacing) of shape {(*g.shape, d)}"
        )
    if not np.all(np.isfinite(gamma)):
        raise ValueError("gamma: contains NaN or inf; expected finite Christoffel symbols")
    return gamma


def rk4_step(
    accel: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray, v: np.ndarray, dl: float
) -> tuple[np.ndarray, np.ndarray]:
    """One classical RK4 step of ``x' = v, v' = accel(x, v)`` over ``dl``.

    Parameters
    ----------
    accel : callable
        ``accel(x, v) -> acceleration`` with the shape of ``x``.
    x, v : ndarray
        Positions and velocities (any shape; several paths at once).
    dl : float
        Step of the parameter.

    Returns
    -------
    tuple of ndarray
        ``(x, v)`` after the step.

    Examples
    --------
    >>> import numpy as np
    >>> x, v = np.array([1.0]), np.array([0.0])
    >>> for _ in range(100):  # harmonic oscillator x'' = -x over t = 1
    ...     x, v = rk4_step(lambda xx, vv: -xx, x, v, 0.01)
    >>> bool(abs(x[0] - np.cos(1.0)) < 1e-10)
    True
    """
    k1x, k1v = v, accel(x, v)
    k2x, k2v = v + 0.5 * dl * k1v, accel(x + 0.5 * dl * k1x, v + 0.5 * dl * k1v)
    k3x, k3v = v + 0.5 * dl * k2v, accel(x + 0.5 * dl * k2x, v + 0.5 * dl * k2v)
    k4x, k4v = v + dl * k3v, accel(x + dl * k3x, v + dl * k3v)
    x = x + dl / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
    v = v + dl / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
    return x, v


def geodesic_equation(
    g: np.ndarray,
    spacing: float | Sequence[float],
    origin: float | Sequence[float],
    *,
    order: int = 3,
    gamma: np.ndarray | None = None,
) -> Callable[[float, np.ndarray], np.ndarray]:
    """Right-hand side ``f(l, y)`` of the geodesic equation for ``scipy.integrate.solve_ivp``.

    ``y = [x^0 .. x^{d-1}, v^0 .. v^{d-1}]`` (or any array whose last axis has ``2 d`` entries)
    and ``f`` returns ``[v, -Gamma^a_{bc}(x) v^b v^c]`` with the Christoffels interpolated as
    in :func:`geodesic`. Outside the grid box ``f`` is NaN; stop there with an event.

    Parameters
    ----------
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Metric on a regular grid.
    spacing, origin : float or sequence of d floats
        Grid spacing and the coordinates of grid point ``(0, ..., 0)``.
    order : {3, 1}
        Interpolation order of the Christoffel symbols.
    gamma : ndarray, shape (n_0, ..., n_{d-1}, d, d, d), optional
        Precomputed ``christoffel(g, spacing)``.

    Returns
    -------
    callable
        ``f(l, y) -> dy/dl`` with the shape of ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.integrate import solve_ivp
    >>> g = np.broadcast_to(np.eye(2), (6, 6, 2, 2))
    >>> f = geodesic_equation(g, 1.0, 0.0)
    >>> sol = solve_ivp(f, (0.0, 2.0), [1.0, 1.0, 1.0, 0.5], rtol=1e-8)
    >>> np.round(sol.y[:2, -1], 6).tolist()
    [3.0, 2.0]
    """
    g, d, h, o, order = _grid_box(g, spacing, origin, order)
    interp = ChristoffelInterpolator(_gamma_or_compute(gamma, g, h), h, o, order)

    def rhs(_l: float, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        x, v = y[..., :d], y[..., d:]
        acc = -np.einsum("...abc,...b,...c->...a", interp(x), v, v)
        return np.concatenate([v, acc], axis=-1)

    return rhs


class GeodesicPath(NamedTuple):
    """Result of :func:`geodesic`: ``path, velocity = geodesic(...)``.

    Attributes
    ----------
    path : ndarray, shape (steps + 1, ..., d)
        Coordinates at affine parameter ``l = 0, dl, ..., steps * dl``.
    velocity : ndarray, shape (steps + 1, ..., d)
        ``dx/dl`` at the same parameters.
    """

    path: np.ndarray
    velocity: np.ndarray


def geodesic(
    g: np.ndarray,
    spacing: float | Sequence[float],
    origin: float | Sequence[float],
    x0: Sequence[float] | np.ndarray,
    v0: Sequence[float] | np.ndarray,
    steps: int,
    dl: float,
    *,
    order: int = 3,
    gamma: np.ndarray | None = None,
) -> GeodesicPath:
    """Integrate the geodesic equation ``x'' = -Gamma^a_{bc} x'^b x'^c`` with classical RK4.

    Christoffel symbols are computed once on the grid (:func:`christoffel`) and interpolated
    (local cubic Lagrange, ``order=3``, or multilinear, ``order=1``). Several geodesics are
    integrated at once when ``x0``/``v0`` have leading batch axes. A geodesic that leaves the
    grid box is NaN from the first step that ends outside it.

    Parameters
    ----------
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Metric on a regular grid.
    spacing, origin : float or sequence of d floats
        Grid spacing and the coordinates of grid point ``(0, ..., 0)``.
    x0, v0 : array_like, shape (..., d)
        Start points (inside the grid box) and initial velocities ``dx/dl``.
    steps : int
        Number of RK4 steps (>= 1).
    dl : float
        Affine-parameter step (non-zero; negative integrates backwards).
    order : {3, 1}
        Interpolation order of the Christoffel symbols.
    gamma : ndarray, shape (n_0, ..., n_{d-1}, d, d, d), optional
        Precomputed ``christoffel(g, spacing)``, to skip recomputing it in repeated calls
        (shooting fits).

    Returns
    -------
    GeodesicPath
        ``(path, velocity)``, each of shape ``(steps + 1, ..., d)``.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.broadcast_to(np.eye(2), (6, 6, 2, 2))
    >>> path, vel = geodesic(g, 1.0, 0.0, [1.0, 1.0], [0.5, 0.25], steps=4, dl=1.0)
    >>> path[-1].tolist()
    [3.0, 2.0]
    """
    g, d, h, o, order = _grid_box(g, spacing, origin, order)
    x = np.array(x0, dtype=float)
    v = np.array(v0, dtype=float)
    if x.ndim < 1 or x.shape[-1] != d:
        raise ValueError(f"x0: shape {x.shape}; expected (..., {d})")
    if v.shape != x.shape:
        raise ValueError(f"v0: shape {v.shape}; expected the shape of x0 {x.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(v))):
        raise ValueError("x0, v0: contain NaN or inf; expected finite values")
    if not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps: {steps!r}; expected an integer >= 1")
    if not np.isfinite(dl) or dl == 0:
        raise ValueError(f"dl: {dl!r}; expected a finite non-zero float")
    interp = ChristoffelInterpolator(_gamma_or_compute(gamma, g, h), h, o, order)
    if not np.all(interp.inside(x)):
        raise ValueError(
            f"x0: {x.tolist()}; expected points inside the grid box "
            f"[{o.tolist()}, {(o + h * (np.array(g.shape[:d]) - 1)).tolist()}]"
        )

    def accel(xx: np.ndarray, vv: np.ndarray) -> np.ndarray:
        return -np.einsum("...abc,...b,...c->...a", interp(xx), vv, vv)

    path = np.empty((steps + 1, *x.shape))
    vel = np.empty_like(path)
    path[0], vel[0] = x, v
    for i in range(steps):
        x, v = rk4_step(accel, x, v, dl)
        out = ~interp.inside(x)
        x[out] = np.nan
        v[out] = np.nan
        path[i + 1], vel[i + 1] = x, v
    return GeodesicPath(path, vel)


def _abs_metric(g: np.ndarray) -> np.ndarray:
    """Positive-definite companion ``|g| = V |lambda| V^T`` (equals ``g`` when Riemannian)."""
    lam, vec = np.linalg.eigh(g)
    return np.einsum("...ak,...k,...bk->...ab", vec, np.abs(lam), vec)


def _path_derivatives(path: np.ndarray, window: int | None) -> tuple[np.ndarray, np.ndarray]:
    n = path.shape[0]
    if window is not None:
        v = savgol_filter(path, window, 4, deriv=1, axis=0)
        a = savgol_filter(path, window, 4, deriv=2, axis=0)
        half = window // 2
        v[:half] = v[n - half :] = np.nan
        a[:half] = a[n - half :] = np.nan
        return v, a
    # the fourth-order central stencils of the metric derivatives, with unit spacing (the
    # sample index); their second-order edge layers are not used
    v, a = _d1(path, 0, 1.0), _d2(path, 0, 1.0)
    v[:2] = v[-2:] = np.nan
    a[:2] = a[-2:] = np.nan
    return v, a


def geodesic_residual(
    path: np.ndarray,
    g: np.ndarray,
    spacing: float | Sequence[float],
    origin: float | Sequence[float],
    *,
    window: int | None = None,
    order: int = 3,
    null_tol: float = 1e-3,
    gamma: np.ndarray | None = None,
) -> np.ndarray:
    """Geodesic curvature of a sampled path: ``|a_perp| / |v|**2`` at every sample.

    ``v = dx/ds`` and ``a = d2x/ds2 + Gamma^a_{bc} v^b v^c`` are taken with respect to the
    sample index ``s`` (fourth-order central differences, or Savitzky-Golay of order 4 when
    ``window`` is given); the samples must be equally spaced in *some* smooth parameter, not
    necessarily an affine one. The part of ``a`` along ``v`` (which a reparametrisation adds) is
    removed: ``a_perp = a - g(a, v) / g(v, v) v``. The ratio is invariant under
    reparametrisation and is 0 exactly on a geodesic.

    Norms use the positive-definite companion ``|g|`` (``g`` with its eigenvalues replaced by
    their absolute values): for a Riemannian metric this is exactly ``|a_perp|_g / |v|_g**2``,
    the geodesic curvature; for a Lorentzian one it is a chart-dependent but non-negative
    measure that vanishes only on geodesics and has no zeros on null vectors. Near-null
    velocities (``|g(v, v)| < null_tol |g|(v, v)``) are projected with ``|g|`` instead of ``g``:
    the ``g`` projection divides by ``g(v, v)`` and would amplify derivative errors by
    ``|g|(v, v) / |g(v, v)|``. A zero velocity gives 0 when ``a_perp`` is 0 and a huge value
    otherwise (never 0/0).

    Parameters
    ----------
    path : ndarray, shape (T, ..., d)
        Sampled coordinates, ``T >= 5`` (``T >= window``), inside the grid box.
    g : ndarray, shape (n_0, ..., n_{d-1}, d, d)
        Metric on a regular grid.
    spacing, origin : float or sequence of d floats
        Grid spacing and the coordinates of grid point ``(0, ..., 0)``.
    window : int, optional
        Odd Savitzky-Golay window (>= 7) for noisy paths; default plain differences.
    order : {3, 1}
        Interpolation order of ``g`` and the Christoffel symbols.
    null_tol : float
        Relative threshold below which ``v`` counts as null (bounds the error amplification
        of the ``g`` projection by ``1 / null_tol``).
    gamma : ndarray, shape (n_0, ..., n_{d-1}, d, d, d), optional
        Precomputed ``christoffel(g, spacing)``.

    Returns
    -------
    ndarray, shape (T, ...)
        The residual per sample; NaN in the first and last 2 samples (``window // 2`` with a
        window) where the derivatives are not defined.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.broadcast_to(np.eye(2), (6, 6, 2, 2))
    >>> s = np.linspace(0.0, 1.0, 11)
    >>> line = np.stack([1 + 2 * s**2, 1 + s**2], axis=-1)   # straight, non-affine
    >>> bool(np.nanmax(geodesic_residual(line, g, 1.0, 0.0)) < 1e-12)
    True
    >>> phi = np.linspace(0.0, 1.0, 11)
    >>> arc = np.stack([2.5 + np.cos(phi), 2.5 + np.sin(phi)], axis=-1)   # unit circle
    >>> round(float(np.nanmean(geodesic_residual(arc, g, 1.0, 0.0))), 4)
    1.0
    """
    g, d, h, o, order = _grid_box(g, spacing, origin, order)
    p = np.asarray(path, dtype=float)
    if p.ndim < 2 or p.shape[-1] != d:
        raise ValueError(f"path: shape {p.shape}; expected (T, ..., {d})")
    if not np.all(np.isfinite(p)):
        raise ValueError("path: contains NaN or inf; expected finite coordinates")
    if window is not None:
        if not isinstance(window, int | np.integer) or window < 7 or window % 2 == 0:
            raise ValueError(f"window: {window!r}; expected an odd integer >= 7 or None")
    need = _MIN_POINTS if window is None else int(window)
    if p.shape[0] < need:
        raise ValueError(f"path: {p.shape[0]} samples; expected at least {need}")
    if not np.isfinite(null_tol) or null_tol < 0:
        raise ValueError(f"null_tol: {null_tol!r}; expected a float >= 0")
    interp_g = _GridInterpolator(g, h, o, order)
    if not np.all(interp_g.inside(p)):
        raise ValueError("path: has points outside the metric's grid box; expected points inside")
    gam = ChristoffelInterpolator(_gamma_or_compute(gamma, g, h), h, o, order)(p)
    gp = interp_g(p)
    gp = symmetrize(gp)
    gabs = _abs_metric(gp)
    v, a = _path_derivatives(p, window)
    valid = np.all(np.isfinite(v), axis=-1)
    v = np.where(valid[..., None], v, 0.0)
    a = np.where(valid[..., None], a, 0.0)
    a = a + np.einsum("...abc,...b,...c->...a", gam, v, v)

    def form(m: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.einsum("...ab,...a,...b->...", m, x, y)

    vv_abs = form(gabs, v, v)
    vv_g = form(gp, v, v)
    use_g = np.abs(vv_g) >= null_tol * vv_abs
    tiny = np.finfo(float).tiny
    safe_g = np.where(use_g & (vv_g != 0), vv_g, 1.0)
    safe_abs = np.where(vv_abs > 0, vv_abs, 1.0)
    coef = np.where(use_g, form(gp, a, v) / safe_g, form(gabs, a, v) / safe_abs)
    coef = np.where(vv_abs > 0, coef, 0.0)
    a_perp = a - coef[..., None] * v
    num = np.sqrt(np.maximum(form(gabs, a_perp, a_perp), 0.0))
    res = num / np.maximum(vv_abs, tiny)
    res = np.where(num == 0.0, 0.0, res)
    return np.where(valid, res, np.nan)
