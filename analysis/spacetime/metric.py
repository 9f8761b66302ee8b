"""The entropy-production form estimated in patches of coarse coordinates: a metric on a grid.

The grid follows :mod:`analysis.geometry`: an array ``g`` of shape ``(n_0, ..., n_{d-1}, d, d)``
with grid ``spacing`` (d floats) and ``origin`` (the coordinates of grid point ``(0, ..., 0)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from analysis.geometry import symmetrize
from analysis.spacetime.coordinates import coordinate_array
from analysis.spacetime.signature import gaussian_scores, score_fitter
from analysis.validation import check_positive, check_window

__all__ = ["LocalMetric", "local_metric"]


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
        return gaussian_scores(xs)[0]
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
    X = coordinate_array(X)
    dt = check_positive("dt", dt)
    T, _, d = X.shape
    t0, t1 = check_window(window, T)
    nb = np.broadcast_to(np.asarray(bins), (d,))
    if nb.dtype.kind not in "iu" or np.any(nb < 5):
        raise ValueError(f"bins: {np.asarray(bins).tolist()}; expected integers >= 5 (one or d)")
    nb = nb.astype(int)
    if not np.isfinite(smoothing) or smoothing <= 0:
        raise ValueError(f"smoothing: {smoothing!r}; expected a kernel width in cells > 0")
    fitter = score_fitter(score)
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
    diff = symmetrize(resid * (w / neff)[:, None, None]) * dt / 2
    learn = symmetrize(jac)
    stoch = symmetrize(diff @ mss.reshape(-1, d, d))
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
