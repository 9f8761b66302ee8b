"""Einstein equations ``G_ab + Lambda g_ab = kappa T_ab`` fitted on a gridded metric.

The curvature comes from :mod:`analysis.geometry`; a noisy metric is replaced by a global
polynomial model before it is differentiated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from analysis.geometry import einstein_tensor, interior, symmetrize

__all__ = ["EinsteinFit", "design_condition", "fit_einstein", "polynomial_metric"]


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
    condition : float
        Condition number of the fit's design matrix ``[g, -T]`` with each column scaled to unit
        norm (:func:`design_condition`; 1 for a Lambda-only fit): how nearly ``T`` is
        proportional to ``g`` over the grid, which is what makes ``Lambda`` and ``kappa``
        trade off against each other. Scale-free; above about 1e3 the fitted constants are
        not readable.
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
    condition: float = 1.0


def polynomial_metric(g: np.ndarray, degree: int = 4) -> np.ndarray:
    """Global smooth model of a noisy gridded metric: each component a polynomial.

    Every component ``g_ab`` is fitted by least squares with a Legendre polynomial of total
    degree ``<= degree`` in the grid coordinates (mapped to [-1, 1]) and evaluated on the grid
    (docs/methods.md#local-metric: differentiate a global fit, not the noisy samples).

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
    return symmetrize(out)


def design_condition(g: np.ndarray, T: np.ndarray | None) -> float:
    """Condition number of the Einstein fit's design matrix ``[g, -T]``, columns at unit norm.

    The two columns are the flattened metric and stress-energy over the fitted points; each is
    scaled to unit Euclidean norm first, so the number measures only how nearly parallel they
    are (their units and sizes drop out). 1 for orthogonal columns or without matter
    (``T`` None or zero: a Lambda-only fit); infinite when ``T`` is proportional to ``g``.

    Examples
    --------
    >>> g = np.stack([np.diag([-1.0, 1.0])] * 5)
    >>> design_condition(g, None)
    1.0
    >>> T = np.zeros_like(g); T[:, 0, 0] = 1.0
    >>> round(design_condition(g, T), 3)  # half of g's norm lies along T
    2.414
    >>> bool(design_condition(g, 3.0 * g) > 1e12)
    True
    """
    if T is None or not np.any(T):
        return 1.0
    cols = np.stack([np.ravel(g), -np.ravel(T)], axis=1).astype(float)
    cols = cols / np.linalg.norm(cols, axis=0)
    s = np.linalg.svd(cols, compute_uv=False)
    return float(s[0] / s[-1]) if s[-1] > 0 else float("inf")


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
        condition=design_condition(gi, Ti if matter else None),
    )
