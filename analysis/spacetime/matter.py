"""Matter on a metric grid: ensemble density, velocity and observable fields, and the
stress-energy tensors built from them (dust and scalar field).

Only ``g`` itself enters the stress-energy tensors, never its curvature, so an Einstein-equation
test with them is not circular.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from analysis.spacetime.coordinates import coordinate_array
from analysis.validation import check_positive, check_window

__all__ = [
    "EnsembleFields",
    "ensemble_fields",
    "four_velocity",
    "stress_energy_dust",
    "stress_energy_scalar",
]


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
    X = coordinate_array(X)
    dt = check_positive("dt", dt)
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
    t0, t1 = check_window(window, T)
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
