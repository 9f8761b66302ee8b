"""Thermodynamics of learning measured from an ensemble: drift, diffusion, entropy, mu_c.

The ensemble of replicas is read as a Fokker-Planck system ``dq = A(q) dt + sqrt(2 D) dW``
(docs/physics.md#thermodynamics-of-learning, docs/methods.md#kramers-moyal-drift-and-diffusion).
This module measures, from recorded data only:

* :func:`kramers_moyal` -- drift ``A(q) = E[dq | q] / tau`` and diffusion tensor
  ``D(q) = Cov[dq | q] / (2 tau)``, binned with standard errors, plus a global linear-drift fit
  ``A(q) ~ A0 + J q`` and the mean diffusion tensor with the (polynomial) drift removed;
* :func:`diffusion_scaling` -- D across runs against ``gamma^2 Sigma_hat / (2 M)``;
* :func:`entropy` / :func:`entropy_trajectory` -- Kozachenko-Leonenko k-nearest-neighbour
  differential entropy of the ensemble (per step);
* :func:`entropy_budget` -- ``dS/dt`` against ``E[div A] + E[s^T D s]`` per time window;
* :func:`chemical_potential` -- ``mu_c`` (Delta F per Delta N) from *proposed* neuron moves.

Units: time is measured in learning steps times ``dt`` (``dt = 1`` for simulator data), so with
``dt = 1`` drift is per step and D is per step (the ``gamma^2 Sigma / (2 M)`` convention). A lag
of ``lag`` recorded rows spans ``tau = lag * (step spacing) * dt``. Entropies are in nats.

The KM estimates are finite-lag (per-``tau``) quantities: for a linear drift the finite-lag
Jacobian is ``(expm(J_true tau) - I) / tau``; :attr:`KramersMoyal.jacobian_log` gives the
matrix-log correction ``logm(I + J tau) / tau``. For plain SGD the per-step map is itself the
object of interest, and the finite-lag value with ``lag = 1`` is exact.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, special, stats
from scipy.spatial import cKDTree

from analysis.polynomial import monomial_exponents
from analysis.score import fit_score
from analysis.trajectory import TrajectoryArray, to_array
from analysis.validation import check_integer, check_points, check_positive

__all__ = [
    "ChemicalPotential",
    "DiffusionScaling",
    "EntropyBudget",
    "KramersMoyal",
    "chemical_potential",
    "diffusion_scaling",
    "entropy",
    "entropy_budget",
    "entropy_trajectory",
    "kramers_moyal",
]

_Z95 = 1.959963984540054


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def _load(traj: pd.DataFrame | np.ndarray, coords: Sequence[str] | None, min_steps: int):
    return to_array(traj, coords, min_steps=min_steps, min_replicas=2)


def _time_step(ta: TrajectoryArray, dt: float) -> float:
    """Time between consecutive recorded rows; the step spacing must be uniform."""
    if len(ta.steps) < 2:
        return dt
    gaps = np.diff(ta.steps.astype(float))
    if np.any(gaps <= 0) or np.ptp(gaps) > 1e-9 * np.max(np.abs(gaps)):
        raise ValueError(
            f"traj: recorded steps have non-uniform spacing (min {gaps.min()}, max {gaps.max()}); "
            "expected evenly spaced steps"
        )
    return float(gaps[0]) * dt


def _monomials(z: np.ndarray, expo: np.ndarray) -> np.ndarray:
    """Evaluate monomials ``prod_i z_i^expo[p, i]`` -> (n, P), returned as a transposed
    C-contiguous (P, n) buffer so that ``phi.T @ ...`` products are fast."""
    n, k = z.shape
    top = int(expo.max(initial=0))
    powers = [[np.ones(n)] for _ in range(k)]
    for i in range(k):
        for _ in range(top):
            powers[i].append(powers[i][-1] * z[:, i])
    out = np.empty((expo.shape[0], n))
    for p, e in enumerate(expo):
        col = out[p]
        col[:] = 1.0
        for i in range(k):
            if e[i]:
                col *= powers[i][e[i]]
    return out.T


@dataclass(frozen=True)
class _PolyDrift:
    """Polynomial drift A(q) = C^T phi((q - center) / scale), fitted by least squares."""

    expo: np.ndarray  # (P, k)
    coef: np.ndarray  # (P, k)
    center: np.ndarray  # (k,)
    scale: np.ndarray  # (k,)

    def __call__(self, q: np.ndarray) -> np.ndarray:
        z = (q - self.center) / self.scale
        return (self.coef.T @ _monomials(z, self.expo).T).T

    def divergence(self, q: np.ndarray) -> np.ndarray:
        z = (q - self.center) / self.scale
        div = np.zeros(q.shape[0])
        for i in range(q.shape[1]):
            e = self.expo.copy()
            mult = e[:, i].astype(float)
            has = mult > 0
            if not np.any(has):
                continue
            e[has, i] -= 1
            d_phi = _monomials(z, e[has]).T  # (P', n)
            div += (mult[has] * self.coef[has, i]) @ d_phi / self.scale[i]
        return div


def _fit_poly(x: np.ndarray, y: np.ndarray, degree: int) -> tuple[_PolyDrift, np.ndarray]:
    """Least-squares polynomial fit of y (n, k) on x (n, k); returns the model and residuals."""
    center = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    expo = monomial_exponents(x.shape[1], degree, constant=True)
    phi = _monomials((x - center) / scale, expo)
    # normal equations on standardised monomials (well conditioned at the degrees used here,
    # and an order of magnitude faster than an SVD of the tall design)
    coef, *_ = np.linalg.lstsq(phi.T @ phi, phi.T @ y, rcond=1e-12)
    return _PolyDrift(expo, coef, center, scale), y - (coef.T @ phi.T).T


def _check_frame_columns(df: pd.DataFrame, name: str, required: Sequence[str]) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name}: missing column(s) {missing}; it has {list(df.columns)}, "
            f"needs {list(required)}"
        )


def _as_frame(obj: Any, name: str) -> pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        return obj
    if isinstance(obj, Sequence) and not isinstance(obj, str | bytes):
        if not all(isinstance(r, dict) for r in obj):
            raise ValueError(f"{name}: a list whose items are not all dicts; expected records")
        return pd.DataFrame(list(obj))
    raise ValueError(f"{name}: got {type(obj).__name__}; expected a DataFrame or a list of dicts")


def _finite_column(df: pd.DataFrame, col: str, name: str) -> np.ndarray:
    try:
        v = df[col].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: column {col!r} is not numeric") from None
    bad = ~np.isfinite(v)
    if np.any(bad):
        raise ValueError(f"{name}: column {col!r} has {int(bad.sum())} NaN/Inf value(s)")
    return v


# --------------------------------------------------------------------------------------------
# Kramers-Moyal
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KramersMoyal:
    """Drift and diffusion measured from increments (see :func:`kramers_moyal`).

    Attributes
    ----------
    coords : tuple of str
        Coordinate names, length k.
    tau : float
        Time spanned by one increment (``lag * step spacing * dt``).
    n_samples : int
        Number of increments used.
    bins : DataFrame
        Binned estimates, one row per (``by``, ``bin``): bin centres ``center_<c>``, ``count``,
        drift ``A_<i>`` with ``A_<i>_se`` and diffusion ``D_<i><j>`` (i <= j) with
        ``D_<i><j>_se``. ``by`` is the binning coordinate, or ``"grid"`` for joint bins.
        Bins with fewer than ``min_count`` samples hold NaN.
    drift_offset, drift_offset_se : ndarray (k,)
        ``A0`` of the linear drift fit ``A(q) = A0 + J q`` and its standard error.
    jacobian, jacobian_se : ndarray (k, k)
        ``J[i, j] = dA_i / dq_j`` of the linear fit, heteroskedasticity-robust SE.
    jacobian_log : ndarray (k, k)
        ``logm(I + J tau) / tau``: the continuous-time generator when the data are an exactly
        sampled linear SDE (NaN where the matrix log is not real).
    diffusion, diffusion_se : ndarray (k, k)
        Mean diffusion tensor ``Cov(residual) / (2 tau)`` after removing a polynomial drift of
        degree ``degree``, and its standard error.
    diffusion_continuous : ndarray (k, k)
        The continuous-time D of a linear SDE that produces the measured one-lag map exactly:
        with ``Phi = I + J tau`` and ``Q = 2 tau D``, ``Sigma = Phi Sigma Phi^T + Q`` and
        ``D_c = -(J_log Sigma + Sigma J_log^T) / 2``. Removes the O(|J| tau) bias of ``diffusion``
        for exactly sampled OU data; NaN when the fitted map is not stable.
    degree : int
        Degree of the drift polynomial removed before the global diffusion estimate.
    drift_r2 : ndarray (k,)
        Fraction of increment variance explained by the linear drift, per coordinate.
    """

    coords: tuple[str, ...]
    tau: float
    n_samples: int
    bins: pd.DataFrame
    drift_offset: np.ndarray
    drift_offset_se: np.ndarray
    jacobian: np.ndarray
    jacobian_se: np.ndarray
    jacobian_log: np.ndarray
    diffusion: np.ndarray
    diffusion_se: np.ndarray
    diffusion_continuous: np.ndarray
    degree: int
    drift_r2: np.ndarray

    def to_frame(self, kind: str = "bins") -> pd.DataFrame:
        """Return the binned table (``kind="bins"``) or the global estimates (``"global"``).

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> q = np.cumsum(rng.normal(size=(50, 40, 1)), axis=0)
        >>> km = kramers_moyal(q, bins=4)
        >>> km.to_frame("global").columns.tolist()
        ['quantity', 'i', 'j', 'value', 'se']
        """
        if kind == "bins":
            return self.bins.copy()
        if kind != "global":
            raise ValueError(f"kind: {kind!r}; expected 'bins' or 'global'")
        k = len(self.coords)
        rows = [
            ("drift_offset", i, -1, self.drift_offset[i], self.drift_offset_se[i]) for i in range(k)
        ]
        nan = np.full((k, k), np.nan)
        matrices = (
            ("jacobian", self.jacobian, self.jacobian_se),
            ("jacobian_log", self.jacobian_log, nan),
            ("diffusion", self.diffusion, self.diffusion_se),
            ("diffusion_continuous", self.diffusion_continuous, nan),
        )
        for name, value, se in matrices:
            rows += [(name, i, j, value[i, j], se[i, j]) for i in range(k) for j in range(k)]
        return pd.DataFrame(rows, columns=["quantity", "i", "j", "value", "se"])


def _continuous_diffusion(
    jac: np.ndarray, jac_log: np.ndarray, diff: np.ndarray, tau: float
) -> np.ndarray:
    """Continuous-time D of the linear SDE whose exact one-lag map is (I + J tau, 2 tau D)."""
    k = jac.shape[0]
    phi = np.eye(k) + jac * tau
    nan = np.full((k, k), np.nan)
    if not np.all(np.isfinite(jac_log)) or np.max(np.abs(np.linalg.eigvals(phi))) >= 1.0:
        return nan
    sigma = linalg.solve_discrete_lyapunov(phi, 2 * tau * diff)
    dc = -(jac_log @ sigma + sigma @ jac_log.T) / 2
    return 0.5 * (dc + dc.T)


def _bin_index(x: np.ndarray, bins: int, binning: str) -> tuple[np.ndarray, np.ndarray]:
    """Bin index in 0..bins-1 and the bin centres for one coordinate."""
    if binning == "uniform":
        lo, hi = float(x.min()), float(x.max())
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, bins + 1)
        idx = np.clip(((x - lo) * (bins / (hi - lo))).astype(np.intp), 0, bins - 1)
    else:
        edges = np.quantile(x, np.linspace(0.0, 1.0, bins + 1))
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    # centres: mean of the points in each bin (robust for quantile bins), else mid-edge
    cnt = np.bincount(idx, minlength=bins)
    sums = np.bincount(idx, weights=x, minlength=bins)
    mid = 0.5 * (edges[:-1] + edges[1:])
    centres = np.where(cnt > 0, sums / np.maximum(cnt, 1), mid)
    return idx, centres


def _binned_moments(
    idx: np.ndarray, nbins: int, dq: np.ndarray, tau: float, min_count: int
) -> dict[str, np.ndarray]:
    """Per-bin mean and covariance of increments with standard errors (vectorised bincount)."""
    k = dq.shape[1]
    cnt = np.bincount(idx, minlength=nbins).astype(float)
    ok = cnt >= min_count
    safe = np.maximum(cnt, 1.0)
    out: dict[str, np.ndarray] = {"count": cnt.astype(int)}
    means = np.empty((nbins, k))
    for i in range(k):
        means[:, i] = np.bincount(idx, weights=dq[:, i], minlength=nbins) / safe
    centred = dq - means[idx]
    var = np.empty((nbins, k))
    for i in range(k):
        var[:, i] = np.bincount(idx, weights=centred[:, i] ** 2, minlength=nbins) / np.maximum(
            cnt - 1.0, 1.0
        )
    for i in range(k):
        out[f"A_{i}"] = np.where(ok, means[:, i] / tau, np.nan)
        out[f"A_{i}_se"] = np.where(ok, np.sqrt(var[:, i] / safe) / tau, np.nan)
    for i in range(k):
        for j in range(i, k):
            prod = centred[:, i] * centred[:, j]
            s1 = np.bincount(idx, weights=prod, minlength=nbins)
            s2 = np.bincount(idx, weights=prod**2, minlength=nbins)
            cov = s1 / np.maximum(cnt - 1.0, 1.0)
            pm = s1 / safe
            pvar = np.maximum(s2 / safe - pm**2, 0.0)
            out[f"D_{i}{j}"] = np.where(ok, cov / (2 * tau), np.nan)
            out[f"D_{i}{j}_se"] = np.where(ok, np.sqrt(pvar / safe) / (2 * tau), np.nan)
    return out


def _increments(ta: TrajectoryArray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    q = ta.q
    k = q.shape[2]
    x = q[:-lag].reshape(-1, k)
    dq = (q[lag:] - q[:-lag]).reshape(-1, k)
    return x, dq


def kramers_moyal(
    traj: pd.DataFrame | np.ndarray,
    coords: Sequence[str] | None = None,
    dt: float = 1.0,
    bins: int = 20,
    lag: int = 1,
    *,
    grid: bool = False,
    binning: str = "uniform",
    degree: int = 1,
    min_count: int = 30,
) -> KramersMoyal:
    """Measure drift ``A(q) = E[dq|q]/tau`` and diffusion ``D(q) = Cov[dq|q]/(2 tau)``.

    Parameters
    ----------
    traj : DataFrame or ndarray
        Trajectory table (``step``, ``replica``, ``q_i``) or an array ``(T, R, k)``.
    coords : sequence of str, optional
        Coordinates to use; default all ``q_i``.
    dt : float
        Time per learning step (1 for simulator data).
    bins : int
        Bins per coordinate (>= 2).
    lag : int
        Increment lag in recorded rows (>= 1); ``tau = lag * spacing * dt``.
    grid : bool
        Bin jointly on a ``bins^k`` grid (k <= 3) instead of each coordinate separately.
    binning : {"uniform", "quantile"}
        Equal-width bins over the data range, or equal-count bins.
    degree : int
        Degree (>= 1) of the polynomial drift removed before the global diffusion estimate.
    min_count : int
        Bins with fewer increments report NaN.

    Returns
    -------
    KramersMoyal
        Binned table plus the global linear drift and mean diffusion, with standard errors.
        Increments at different steps are treated as independent (Markov data); SEs of binned
        diffusion use the empirical fourth moment.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> T, R = 200, 200
    >>> q = np.zeros((T, R, 1))
    >>> for t in range(1, T):
    ...     q[t] = 0.9 * q[t - 1] + np.sqrt(2 * 0.5) * rng.normal(size=(R, 1))
    >>> km = kramers_moyal(q, bins=5)
    >>> round(float(km.jacobian[0, 0]), 1), round(float(km.diffusion[0, 0]), 1)
    (-0.1, 0.5)
    """
    dt = check_positive("dt", dt)
    bins = check_integer("bins", bins, 2)
    lag = check_integer("lag", lag, 1)
    degree = check_integer("degree", degree, 1)
    min_count = check_integer("min_count", min_count, 2)
    if binning not in ("uniform", "quantile"):
        raise ValueError(f"binning: {binning!r}; expected 'uniform' or 'quantile'")
    ta = _load(traj, coords, min_steps=lag + 1)
    tau = lag * _time_step(ta, dt)
    x, dq = _increments(ta, lag)
    n, k = x.shape
    n_lin = k + 1
    if n < max(10 * n_lin, 20):
        raise ValueError(
            f"traj: {n} increments; kramers_moyal needs at least {max(10 * n_lin, 20)}"
        )
    if grid and k > 3:
        raise ValueError(f"grid: True with {k} coordinates; joint grids allow at most 3")

    # ---- binned estimates
    frames = []
    per_coord = [_bin_index(x[:, i], bins, binning) for i in range(k)]
    names = list(ta.coords)
    if grid:
        idx = np.ravel_multi_index(tuple(p[0] for p in per_coord), (bins,) * k)
        mom = _binned_moments(idx, bins**k, dq, tau, min_count)
        cells = np.unravel_index(np.arange(bins**k), (bins,) * k)
        data: dict[str, Any] = {"by": "grid", "bin": np.arange(bins**k)}
        cnt = np.bincount(idx, minlength=bins**k)
        for i in range(k):
            # cell centre = mean of the points in the cell (marginal bin centre when empty)
            sums = np.bincount(idx, weights=x[:, i], minlength=bins**k)
            data[f"center_{names[i]}"] = np.where(
                cnt > 0, sums / np.maximum(cnt, 1), per_coord[i][1][cells[i]]
            )
        data.update(mom)
        frames.append(pd.DataFrame(data))
    else:
        for i in range(k):
            idx, centres = per_coord[i]
            mom = _binned_moments(idx, bins, dq, tau, min_count)
            data = {"by": names[i], "bin": np.arange(bins)}
            for j in range(k):
                data[f"center_{names[j]}"] = centres if j == i else np.nan
            data.update(mom)
            frames.append(pd.DataFrame(data))
    table = pd.concat(frames, ignore_index=True)

    # ---- global linear drift, robust (sandwich) standard errors. The design is [1, x - xbar];
    # with centred regressors X^T X is block diagonal, so no (n, k+1) design matrix is built
    # (tall-skinny matmuls with tiny inner dimensions are slow in numpy).
    xbar = x.mean(axis=0)
    xc = x - xbar
    y = dq / tau
    xtx = np.zeros((n_lin, n_lin))
    xtx[0, 0] = n
    xtx[1:, 1:] = xc.T @ xc
    xtx_inv = np.linalg.inv(xtx)
    beta = np.empty((n_lin, k))
    beta[0] = y.mean(axis=0)
    beta[1:] = xtx_inv[1:, 1:] @ (xc.T @ y)
    resid = y - beta[0]
    for j in range(k):
        resid -= xc[:, j : j + 1] * beta[1 + j]
    se = np.empty_like(beta)
    offset_se = np.empty(k)
    c = np.concatenate([[1.0], -xbar])
    for i in range(k):
        w = resid[:, i] ** 2
        meat = np.empty((n_lin, n_lin))
        meat[0, 0] = w.sum()
        meat[0, 1:] = meat[1:, 0] = xc.T @ w
        meat[1:, 1:] = xc.T @ (xc * w[:, None])
        cov_b = xtx_inv @ meat @ xtx_inv * n / (n - n_lin)
        se[:, i] = np.sqrt(np.diag(cov_b))
        # A0 = b0 - J xbar, a linear combination c^T b with c = (1, -xbar)
        offset_se[i] = float(np.sqrt(c @ cov_b @ c))
    jac = beta[1:].T
    jac_se = se[1:].T
    offset = beta[0] - jac @ xbar
    tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    r2 = 1.0 - (resid**2).sum(axis=0) / np.where(tot > 0, tot, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            lg = linalg.logm(np.eye(k) + jac * tau)
            jac_log = np.real(lg) / tau
            if np.max(np.abs(np.imag(lg)), initial=0.0) > 1e-8 or not np.all(np.isfinite(jac_log)):
                jac_log = np.full((k, k), np.nan)
        except (ValueError, np.linalg.LinAlgError):
            jac_log = np.full((k, k), np.nan)

    # ---- global diffusion with a polynomial drift removed
    if degree == 1:
        res = resid * tau
        n_par = n_lin
    else:
        _, res = _fit_poly(x, dq, degree)
        n_par = monomial_exponents(k, degree, constant=True).shape[0]
    if n <= n_par + 1:
        raise ValueError(f"degree: {degree}; too many drift terms for {n} increments")
    diff = (res.T @ res) / (n - n_par) / (2 * tau)
    diff_se = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            p = res[:, i] * res[:, j]
            diff_se[i, j] = diff_se[j, i] = p.std(ddof=1) / math.sqrt(n) / (2 * tau)

    diff_cont = _continuous_diffusion(jac, jac_log, diff, tau)

    return KramersMoyal(
        coords=ta.coords,
        tau=tau,
        n_samples=n,
        bins=table,
        drift_offset=offset,
        drift_offset_se=offset_se,
        jacobian=jac,
        jacobian_se=jac_se,
        jacobian_log=jac_log,
        diffusion=diff,
        diffusion_se=diff_se,
        diffusion_continuous=diff_cont,
        degree=degree,
        drift_r2=r2,
    )


# --------------------------------------------------------------------------------------------
# diffusion scaling across runs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffusionScaling:
    """D across runs against the SGD prediction ``x = gamma^2 Sigma_hat / (2 M)``.

    Attributes
    ----------
    slope, slope_ci : float, (float, float)
        Weighted least-squares slope of D on x (with intercept); 1 is predicted
        (docs/physics.md#diffusion-and-temperature).
        Weights are ``1 / D_se^2`` when a ``D_se`` column is given, else ``1 / x^2`` (relative
        errors). CI is 95 % (t distribution, residual scatter).
    intercept, intercept_ci : float, (float, float)
        Intercept of that fit (predicted 0).
    power, power_ci : float, (float, float)
        Slope of log D on log x (predicted 1): the scale-free test.
    ratio, ratio_ci : float, (float, float)
        Geometric mean of D / x with 95 % CI (predicted 1; the constant in front).
    exponent_gamma, exponent_gamma_ci, exponent_batch, exponent_batch_ci
        Exponents from ``log D = c + a log gamma + b log M`` (predicted 2 and -1 when
        Sigma_hat does not depend on gamma, M); NaN when gamma or M does not vary.
    exponent_gamma_normalized, exponent_batch_normalized (and ``_ci``)
        The same for ``log(D / Sigma_hat)``, which removes the state dependence of Sigma.
    r2 : float
        R^2 of the log-log fit.
    n_runs : int
    consistent : bool
        True when 1 lies in both ``slope_ci`` and ``power_ci``.
    """

    slope: float
    slope_ci: tuple[float, float]
    intercept: float
    intercept_ci: tuple[float, float]
    power: float
    power_ci: tuple[float, float]
    ratio: float
    ratio_ci: tuple[float, float]
    exponent_gamma: float
    exponent_gamma_ci: tuple[float, float]
    exponent_batch: float
    exponent_batch_ci: tuple[float, float]
    exponent_gamma_normalized: float
    exponent_gamma_normalized_ci: tuple[float, float]
    exponent_batch_normalized: float
    exponent_batch_normalized_ci: tuple[float, float]
    r2: float
    n_runs: int
    consistent: bool

    def to_frame(self) -> pd.DataFrame:
        """One row per quantity: value, 95 % CI and the value docs/physics.md predicts.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> g = np.repeat([0.05, 0.1, 0.2], 3); m = np.tile([4.0, 16.0, 64.0], 3)
        >>> noise = 1 + 0.01 * np.random.default_rng(0).normal(size=9)
        >>> runs = pd.DataFrame({"D": g**2 / (2 * m) * noise,
        ...                      "step_size": g, "batch_size": m, "sigma_hat": 1.0})
        >>> diffusion_scaling(runs).to_frame()["quantity"].tolist()[:3]
        ['slope', 'intercept', 'power']
        """
        rows = [
            ("slope", self.slope, *self.slope_ci, 1.0),
            ("intercept", self.intercept, *self.intercept_ci, 0.0),
            ("power", self.power, *self.power_ci, 1.0),
            ("ratio", self.ratio, *self.ratio_ci, 1.0),
            ("exponent_gamma", self.exponent_gamma, *self.exponent_gamma_ci, 2.0),
            ("exponent_batch", self.exponent_batch, *self.exponent_batch_ci, -1.0),
            (
                "exponent_gamma_normalized",
                self.exponent_gamma_normalized,
                *self.exponent_gamma_normalized_ci,
                2.0,
            ),
            (
                "exponent_batch_normalized",
                self.exponent_batch_normalized,
                *self.exponent_batch_normalized_ci,
                -1.0,
            ),
        ]
        return pd.DataFrame(rows, columns=["quantity", "value", "ci_low", "ci_high", "expected"])


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Weighted least squares; returns coefficients, SEs (residual-scaled) and dof."""
    sw = np.sqrt(w)
    Xw, yw = X * sw[:, None], y * sw
    coef, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    dof = X.shape[0] - X.shape[1]
    r = yw - Xw @ coef
    s2 = float(r @ r) / dof if dof > 0 else np.nan
    with np.errstate(all="ignore"):
        cov = np.linalg.pinv(Xw.T @ Xw) * s2
    return coef, np.sqrt(np.maximum(np.diag(cov), 0.0)), dof


def _ci(value: float, se: float, dof: int) -> tuple[float, float]:
    if dof <= 0 or not np.isfinite(se):
        return (np.nan, np.nan)
    t = float(stats.t.ppf(0.975, dof))
    return (value - t * se, value + t * se)


def _exponents_fit(
    logy: np.ndarray, lg: np.ndarray, lm: np.ndarray
) -> tuple[float, tuple[float, float], float, tuple[float, float]]:
    cols = [np.ones_like(logy)]
    vary_g = np.ptp(lg) > 1e-12
    vary_m = np.ptp(lm) > 1e-12
    if vary_g:
        cols.append(lg)
    if vary_m:
        cols.append(lm)
    X = np.column_stack(cols)
    if X.shape[0] <= X.shape[1]:
        nan2 = (np.nan, np.nan)
        return np.nan, nan2, np.nan, nan2
    coef, se, dof = _wls(X, logy, np.ones_like(logy))
    a = b = np.nan
    aci = bci = (np.nan, np.nan)
    pos = 1
    if vary_g:
        a, aci = float(coef[pos]), _ci(float(coef[pos]), float(se[pos]), dof)
        pos += 1
    if vary_m:
        b, bci = float(coef[pos]), _ci(float(coef[pos]), float(se[pos]), dof)
    return a, aci, b, bci


def diffusion_scaling(
    runs: pd.DataFrame | Sequence[dict[str, Any]],
    *,
    d_col: str = "D",
    gamma_col: str = "step_size",
    batch_col: str = "batch_size",
    sigma_col: str = "sigma_hat",
    se_col: str | None = "D_se",
) -> DiffusionScaling:
    """Regress measured diffusion on ``gamma^2 Sigma_hat / (2 M)`` across runs.

    Parameters
    ----------
    runs : DataFrame or list of dict
        One row per run with the measured diffusion ``D`` (a scalar, e.g. one coordinate or the
        trace, in per-step units), ``step_size`` gamma, ``batch_size`` M and ``sigma_hat``, the
        measured per-sample gradient covariance on the same footing (variance of that coordinate,
        or trace for a trace D). Optional ``D_se`` weights the linear fit.
    d_col, gamma_col, batch_col, sigma_col, se_col : str
        Column names (``se_col`` is used only when present).

    Returns
    -------
    DiffusionScaling
        Slope (predicted 1) with 95 % CI, log-log power (predicted 1), the ratio D / x, and the
        exponents of D in gamma and M. At least 3 runs with distinct x are needed.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> g = np.repeat([0.05, 0.1, 0.2], 3); m = np.tile([4.0, 16.0, 64.0], 3)
    >>> rng = np.random.default_rng(0)
    >>> runs = pd.DataFrame({"D": g**2 / (2 * m) * (1 + 0.01 * rng.normal(size=9)),
    ...                      "step_size": g, "batch_size": m, "sigma_hat": 1.0})
    >>> res = diffusion_scaling(runs)
    >>> res.consistent, round(res.exponent_gamma, 1), round(res.exponent_batch, 1)
    (True, 2.0, -1.0)
    """
    df = _as_frame(runs, "runs")
    _check_frame_columns(df, "runs", [d_col, gamma_col, batch_col, sigma_col])
    if len(df) < 3:
        raise ValueError(f"runs: {len(df)} run(s); diffusion_scaling needs at least 3")
    d = _finite_column(df, d_col, "runs")
    g = _finite_column(df, gamma_col, "runs")
    m = _finite_column(df, batch_col, "runs")
    s = _finite_column(df, sigma_col, "runs")
    for col, v in ((d_col, d), (gamma_col, g), (batch_col, m), (sigma_col, s)):
        if np.any(v <= 0):
            raise ValueError(f"runs: column {col!r} has non-positive value(s); expected > 0")
    x = g**2 * s / (2 * m)
    if np.ptp(np.log(x)) < 1e-9:
        raise ValueError("runs: gamma^2 sigma_hat / (2M) is the same in every run; vary gamma or M")
    if se_col is not None and se_col in df.columns:
        dse = _finite_column(df, se_col, "runs")
        if np.any(dse <= 0):
            raise ValueError(f"runs: column {se_col!r} has non-positive value(s); expected > 0")
        w = 1.0 / dse**2
    else:
        w = 1.0 / x**2
    coef, se, dof = _wls(np.column_stack([np.ones_like(x), x]), d, w)
    slope, intercept = float(coef[1]), float(coef[0])
    slope_ci, intercept_ci = _ci(slope, float(se[1]), dof), _ci(intercept, float(se[0]), dof)

    lx, ld = np.log(x), np.log(d)
    pc, pse, pdof = _wls(np.column_stack([np.ones_like(lx), lx]), ld, np.ones_like(lx))
    power = float(pc[1])
    power_ci = _ci(power, float(pse[1]), pdof)
    resid = ld - (pc[0] + pc[1] * lx)
    r2 = float(1 - resid @ resid / max(float(((ld - ld.mean()) ** 2).sum()), 1e-300))

    lr = ld - lx
    n = len(lr)
    ratio = float(np.exp(lr.mean()))
    rse = float(lr.std(ddof=1) / math.sqrt(n))
    lo, hi = _ci(float(lr.mean()), rse, n - 1)
    ratio_ci = (float(np.exp(lo)), float(np.exp(hi)))

    lg, lm = np.log(g), np.log(m)
    a, aci, b, bci = _exponents_fit(ld, lg, lm)
    an, anci, bn, bnci = _exponents_fit(ld - np.log(s), lg, lm)
    consistent = bool(slope_ci[0] <= 1.0 <= slope_ci[1] and power_ci[0] <= 1.0 <= power_ci[1])
    return DiffusionScaling(
        slope=slope,
        slope_ci=slope_ci,
        intercept=intercept,
        intercept_ci=intercept_ci,
        power=power,
        power_ci=power_ci,
        ratio=ratio,
        ratio_ci=ratio_ci,
        exponent_gamma=a,
        exponent_gamma_ci=aci,
        exponent_batch=b,
        exponent_batch_ci=bci,
        exponent_gamma_normalized=an,
        exponent_gamma_normalized_ci=anci,
        exponent_batch_normalized=bn,
        exponent_batch_normalized_ci=bnci,
        r2=r2,
        n_runs=n,
        consistent=consistent,
    )


# --------------------------------------------------------------------------------------------
# entropy (Kozachenko-Leonenko)
# --------------------------------------------------------------------------------------------


def _kl_constant(n: int, d: int, k: int) -> float:
    log_unit_ball = 0.5 * d * math.log(math.pi) - special.gammaln(0.5 * d + 1.0)
    return float(special.digamma(n) - special.digamma(k) + log_unit_ball)


def _check_samples(samples: Any, k: int) -> np.ndarray:
    x = check_points(samples, "samples")
    if x.shape[0] < k + 2:
        raise ValueError(f"samples: {x.shape[0]} point(s); k={k} needs at least {k + 2}")
    return x


def entropy(samples: np.ndarray, k: int = 4, *, whiten: bool = True) -> float:
    """Kozachenko-Leonenko k-NN estimate of the differential entropy (nats) of samples.

    ``H = psi(n) - psi(k) + ln V_d + (d/n) sum_i ln eps_i``, with ``eps_i`` the Euclidean
    distance from point i to its k-th neighbour and ``V_d`` the unit-ball volume. The digamma
    terms make it asymptotically unbiased; at finite n the bias for smooth densities is a few
    hundredths of a nat in d <= 3 (n >= 1000; see the tests). Heavy tails and sharp edges raise
    it. Duplicate points (a collapsed ensemble) give ``-inf``.

    The estimator is not affine invariant: strongly anisotropic or correlated samples bias it
    (by up to a nat in d = 3). With ``whiten=True`` the samples are first mapped to unit sample
    covariance, ``z = L^{-1}(x - mean)``, and ``ln |det L|`` is added back (exact for a linear
    map), which removes that bias.

    Parameters
    ----------
    samples : array (n, d) or (n,)
    k : int
        Neighbour order (>= 1). Larger k: lower variance, more smoothing bias.
    whiten : bool
        Whiten with the sample covariance first (recommended).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4000, 2))
    >>> exact = np.log(2 * np.pi * np.e)
    >>> bool(abs(entropy(x) - exact) < 0.05)
    True
    """
    k = check_integer("k", k, 1)
    x = _check_samples(samples, k)
    n, d = x.shape
    log_jac = 0.0
    if whiten:
        x, log_jac = _whiten(x)
        if not math.isfinite(log_jac):
            return -math.inf
    dist, _ = cKDTree(x).query(x, k=k + 1)
    eps = dist[:, k]
    if np.any(eps <= 0):
        return -math.inf
    return _kl_constant(n, d, k) + d * float(np.mean(np.log(eps))) + log_jac


def _whiten(x: np.ndarray) -> tuple[np.ndarray, float]:
    """``z = (x - mean) L^{-T}`` with ``L L^T = Cov``; returns z and ``ln |det L|``."""
    if x.shape[1] == 1:
        sd = float(x[:, 0].std())
        if sd <= 0:
            return x, -math.inf
        return (x - x.mean(axis=0)) / sd, math.log(sd)
    cov = np.cov(x, rowvar=False)
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return x, -math.inf
    z = linalg.solve_triangular(chol, (x - x.mean(axis=0)).T, lower=True).T
    return z, float(np.sum(np.log(np.diag(chol))))


def entropy_trajectory(
    traj: pd.DataFrame | np.ndarray,
    coords: Sequence[str] | None = None,
    k: int = 4,
    *,
    every: int = 1,
    whiten: bool = True,
) -> pd.DataFrame:
    """Kozachenko-Leonenko entropy of the ensemble at each recorded step.

    All steps are searched with one KD-tree: each step's points are offset along an extra axis
    by more than the data diameter, so neighbours never cross steps (no loop over steps).

    Parameters
    ----------
    traj : DataFrame or ndarray (T, R, k)
    coords : sequence of str, optional
    k : int
        Neighbour order.
    every : int
        Use every ``every``-th recorded step.
    whiten : bool
        Whiten each step with its sample covariance first (see :func:`entropy`).

    Returns
    -------
    DataFrame
        Columns ``step``, ``entropy`` (nats; ``-inf`` for a collapsed step) and ``se``, an
        approximate standard error ``d * sd(ln eps) / sqrt(n)`` (ignores neighbour overlap).

    Examples
    --------
    >>> import numpy as np
    >>> q = np.random.default_rng(0).normal(size=(3, 2000, 1))
    >>> tab = entropy_trajectory(q)
    >>> bool(np.allclose(tab["entropy"], 0.5 * np.log(2 * np.pi * np.e), atol=0.06))
    True
    """
    k = check_integer("k", k, 1)
    every = check_integer("every", every, 1)
    ta = _load(traj, coords, min_steps=1)
    q = ta.q[::every]
    steps = ta.steps[::every]
    T, R, d = q.shape
    if R < k + 2:
        raise ValueError(f"traj: {R} replica(s); entropy with k={k} needs at least {k + 2}")
    log_jac = np.zeros(T)
    collapsed = np.zeros(T, dtype=bool)
    if whiten:
        cen = q - q.mean(axis=1, keepdims=True)
        cov = np.einsum("tri,trj->tij", cen, cen) / (R - 1)
        scale = np.maximum(np.einsum("tii->t", cov) / d, 1e-300)
        eig_min = np.linalg.eigvalsh(cov)[:, 0]
        collapsed = eig_min <= 1e-12 * scale
        cov[collapsed] = np.eye(d)
        chol = np.linalg.cholesky(cov)
        q = np.einsum("tij,trj->tri", np.linalg.inv(chol), cen)
        log_jac = np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    span = float(np.max(np.ptp(q.reshape(-1, d), axis=0)))
    offset = 4.0 * span * math.sqrt(d) + 1.0
    level = (np.arange(T, dtype=float) * offset)[:, None, None] * np.ones((1, R, 1))
    pts = np.concatenate([q, level], axis=2).reshape(T * R, d + 1)
    dist, _ = cKDTree(pts).query(pts, k=k + 1)
    eps = dist[:, k].reshape(T, R)
    with np.errstate(divide="ignore"):
        le = np.log(eps)
    mean_le = le.mean(axis=1)
    h = _kl_constant(R, d, k) + d * mean_le + log_jac
    with np.errstate(invalid="ignore"):
        se = d * le.std(axis=1, ddof=1) / math.sqrt(R)
    collapsed |= ~np.isfinite(mean_le)
    h[collapsed] = -np.inf
    se[collapsed] = np.nan
    return pd.DataFrame({"step": steps, "entropy": h, "se": se})


# --------------------------------------------------------------------------------------------
# entropy budget
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntropyBudget:
    """Entropy balance ``dS/dt = E[div A] + E[s^T D s]`` per time window.

    Attributes
    ----------
    windows : DataFrame
        One row per window: ``step_start``, ``step_end``, ``dS_dt`` (slope of the KL entropy in
        time) and ``dS_dt_se``, ``drift_term`` = E[div A] with the measured polynomial drift,
        ``production`` = E[s^T D s] with the fitted score and the window's measured D,
        ``predicted`` = drift_term + production, ``closure`` =
        (dS_dt - predicted) / (|drift_term| + |production|), the relative closure error,
        ``closure_vs_dS`` = (dS_dt - predicted) / |dS_dt|, and ``D_trace``.
    score_method : str
    drift_degree : int
    notes : list of str
        Caveats attached to the numbers.
    """

    windows: pd.DataFrame
    score_method: str
    drift_degree: int
    notes: list[str] = field(default_factory=list)

    @property
    def max_closure(self) -> float:
        """Largest absolute relative closure error over windows."""
        return float(np.nanmax(np.abs(self.windows["closure"].to_numpy())))

    def to_frame(self) -> pd.DataFrame:
        """The per-window table.

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> q = np.zeros((60, 500, 1)); q[0] = 0.3 * rng.normal(size=(500, 1))
        >>> for t in range(1, 60):
        ...     q[t] = 0.98 * q[t - 1] + 0.2 * rng.normal(size=(500, 1))
        >>> entropy_budget(q, windows=2).to_frame().shape[0]
        2
        """
        return self.windows.copy()


def entropy_budget(
    traj: pd.DataFrame | np.ndarray,
    coords: Sequence[str] | None = None,
    dt: float = 1.0,
    windows: int | Sequence[tuple[int, int]] = 4,
    score: str = "gaussian",
    *,
    k: int = 4,
    drift_degree: int = 1,
    score_steps: int = 5,
    diffusion: np.ndarray | None = None,
    score_kwargs: dict[str, Any] | None = None,
    score_fitter: Callable[..., Any] | None = None,
) -> EntropyBudget:
    """Close the entropy budget of the ensemble per time window.

    For ``dq = A dt + sqrt(2 D) dW`` the Fokker-Planck equation gives
    ``dS/dt = E[div A] + E[s^T D s]`` with ``s = grad ln p`` the score. Per window this compares

    * ``dS/dt``: least-squares slope of the Kozachenko-Leonenko entropy against time; the
      predicted rate is averaged over the window with the same weights that slope puts on
      each step (a parabola peaking mid-window), so curvature of S(t) does not bias closure;
    * ``E[div A]``: A is the *measured* drift (a polynomial of degree ``drift_degree`` fitted to
      the window's increments), never ``gamma lap F`` (which is wrong in projected coordinates);
      negative where learning contracts the ensemble;
    * ``E[s^T D s]``: D the window's measured diffusion (drift removed, as in
      :func:`kramers_moyal`) unless ``diffusion`` is given; s fitted by
      ``analysis.score.fit_score`` at ``score_steps`` steps spread over the window.

    Parameters
    ----------
    traj : DataFrame or ndarray (T, R, k)
    coords : sequence of str, optional
    dt : float
        Time per learning step.
    windows : int or sequence of (start_row, end_row)
        Number of equal windows over the recorded rows, or explicit half-open row ranges.
    score : {"gaussian", "sm2", "sm3", "sm4", "kde"}
        Score estimator passed to ``fit_score`` (exact for Gaussian ensembles: "gaussian";
        non-Gaussian ensembles: "sm4", or "kde" which is biased low by smoothing).
    k : int
        Neighbour order of the entropy estimator.
    drift_degree : int
        Degree of the local drift polynomial (1 for OU-like data).
    score_steps : int
        Steps per window at which the score is fitted; E[s^T D s] is interpolated linearly in
        time between them (E[div A] is evaluated at every step).
    diffusion : ndarray (k, k), optional
        Use this diffusion tensor instead of the measured one.
    score_kwargs : dict, optional
        Extra arguments to ``fit_score``.
    score_fitter : callable, optional
        Replacement for :func:`analysis.score.fit_score` (same call signature
        ``f(samples, method=..., **score_kwargs)`` returning an object with ``.score(points)``).

    Returns
    -------
    EntropyBudget

    Notes
    -----
    Valid to O(tau): the recorded map is discrete in time, so the ensemble must change little
    per step (the continuum rates fail when the variance changes by tens of percent per
    step). Windows need enough rows for the
    entropy slope (>= 3) and increments (the increments of the last row of a window lead into
    the next window and are not used).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> q = np.zeros((80, 1000, 1)); q[0] = 0.5 * rng.normal(size=(1000, 1))
    >>> for t in range(1, 80):
    ...     q[t] = 0.98 * q[t - 1] + 0.2 * rng.normal(size=(1000, 1))
    >>> eb = entropy_budget(q, windows=2)
    >>> bool(eb.max_closure < 0.1)
    True
    """
    dt = check_positive("dt", dt)
    k_nn = check_integer("k", k, 1)
    drift_degree = check_integer("drift_degree", drift_degree, 1)
    score_steps = check_integer("score_steps", score_steps, 1)
    if score not in ("gaussian", "sm2", "sm3", "sm4", "kde"):
        raise ValueError(f"score: {score!r}; expected 'gaussian', 'sm2', 'sm3', 'sm4' or 'kde'")
    ta = _load(traj, coords, min_steps=4)
    T, R, d = ta.q.shape
    if R < max(k_nn + 2, 10):
        raise ValueError(f"traj: {R} replica(s); entropy_budget needs at least {max(k_nn + 2, 10)}")
    h = _time_step(ta, dt)
    if isinstance(windows, int | np.integer) and not isinstance(windows, bool):
        nw = int(windows)
        if nw < 1 or T // nw < 4:
            raise ValueError(
                f"windows: {windows!r}; expected an integer >= 1 with at least 4 rows per window "
                f"({T} rows)"
            )
        edges = np.linspace(0, T, nw + 1).round().astype(int)
        ranges = list(itertools.pairwise(edges.tolist()))
    else:
        try:
            ranges = [(int(a), int(b)) for a, b in windows]  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(
                f"windows: {windows!r}; expected an int or a list of (start, end) rows"
            ) from None
        for a, b in ranges:
            if not (0 <= a and b <= T and b - a >= 4):
                raise ValueError(
                    f"windows: ({a}, {b}); expected 0 <= start, end <= {T}, at least 4 rows"
                )
    if diffusion is not None:
        dfix = np.asarray(diffusion, dtype=float)
        if dfix.ndim == 0:
            dfix = dfix * np.eye(d)
        if dfix.shape != (d, d) or not np.all(np.isfinite(dfix)):
            raise ValueError(f"diffusion: shape {dfix.shape}; expected a finite ({d}, {d}) array")
    fitter = score_fitter if score_fitter is not None else fit_score
    skw = dict(score_kwargs or {})

    ent = entropy_trajectory(ta.q, k=k_nn)["entropy"].to_numpy()
    times = ta.steps.astype(float) * dt
    rows = []
    for a, b in ranges:
        tw, sw = times[a:b], ent[a:b]
        if not np.all(np.isfinite(sw)):
            raise ValueError(f"traj: collapsed ensemble (entropy -inf) in rows {a}..{b}")
        coef, se, _ = _wls(
            np.column_stack([np.ones_like(tw), tw - tw.mean()]), sw, np.ones_like(tw)
        )
        x = ta.q[a : b - 1].reshape(-1, d)
        dq = (ta.q[a + 1 : b] - ta.q[a : b - 1]).reshape(-1, d)
        model, res = _fit_poly(x, dq / h, drift_degree)
        n_par = model.expo.shape[0]
        dwin = (res.T @ res) * h / max(len(res) - n_par, 1) / 2.0
        dmat = dfix if diffusion is not None else dwin
        # E[div A] at every row of the window (vectorised), E[s^T D s] at a few rows,
        # interpolated in time
        m = b - a
        div_rows = model.divergence(ta.q[a:b].reshape(-1, d)).reshape(m, R).mean(axis=1)
        picks = np.unique(np.linspace(a, b - 1, score_steps).round().astype(int))
        prod_pick = np.empty(len(picks))
        for i, t in enumerate(picks):
            pts = ta.q[t]
            sm = fitter(pts, method=score, **skw)
            s = np.asarray(sm.score(pts), dtype=float).reshape(R, d)
            prod_pick[i] = float(np.einsum("ni,ij,nj->n", s, dmat, s).mean())
        prod_rows = np.interp(times[a:b], times[picks], prod_pick)
        # the OLS slope of S(t) is a weighted mean of the increments S_{j+1} - S_j with
        # weights -cumsum(t_i - tbar) / sum (t - tbar)^2; average the predicted rate with the
        # same kernel (rates at the increment midpoints) so both sides see the same smoothing
        cen = tw - tw.mean()
        kern = -np.cumsum(cen / float(cen @ cen))[:-1] * np.diff(tw)
        drift_term = float(kern @ (0.5 * (div_rows[1:] + div_rows[:-1])))
        production = float(kern @ (0.5 * (prod_rows[1:] + prod_rows[:-1])))
        pred = drift_term + production
        dsdt = float(coef[1])
        scale = abs(drift_term) + abs(production)
        rows.append(
            {
                "step_start": ta.steps[a],
                "step_end": ta.steps[b - 1],
                "dS_dt": dsdt,
                "dS_dt_se": float(se[1]),
                "drift_term": drift_term,
                "production": production,
                "predicted": pred,
                "closure": (dsdt - pred) / scale if scale > 0 else np.nan,
                "closure_vs_dS": (dsdt - pred) / abs(dsdt) if dsdt != 0 else np.nan,
                "D_trace": float(np.trace(dmat)),
            }
        )
    notes = [
        "dS_dt_se is from the scatter about a line; entropies at nearby steps share replicas, "
        "so it is a rough guide only"
    ]
    return EntropyBudget(pd.DataFrame(rows), score, drift_degree, notes)


# --------------------------------------------------------------------------------------------
# chemical potential
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChemicalPotential:
    """mu_c = Delta F per Delta N from proposed neuron moves (see :func:`chemical_potential`).

    Attributes
    ----------
    mu_c, mu_c_ci : float, (float, float)
        ``mean(delta_F * delta_N)`` over all proposals (regression through the origin of
        delta_F on delta_N, delta_N = +-1), 95 % CI (replica-clustered when ``replica`` given).
    mu_c_two_sided, mu_c_two_sided_ci : float, (float, float)
        Slope with an intercept: ``(mean dF | add - mean dF | remove) / 2``.
    asymmetry, asymmetry_ci : float, (float, float)
        The intercept ``(mean dF | add + mean dF | remove) / 2`` (0 when F is linear in N;
        its sign shows convexity of F(N)).
    mu_c_accepted, mu_c_accepted_ci : float, (float, float)
        The same through-origin estimate on accepted moves only. Biased by the acceptance
        rule: shown for contrast, not for use.
    acceptance_bias : float
        ``mu_c_accepted - mu_c``.
    biased : bool
        True when the accepted-only CI excludes ``mu_c``.
    n_proposed, n_accepted, n_add, n_remove : int
    """

    mu_c: float
    mu_c_ci: tuple[float, float]
    mu_c_two_sided: float
    mu_c_two_sided_ci: tuple[float, float]
    asymmetry: float
    asymmetry_ci: tuple[float, float]
    mu_c_accepted: float
    mu_c_accepted_ci: tuple[float, float]
    acceptance_bias: float
    biased: bool
    n_proposed: int
    n_accepted: int
    n_add: int
    n_remove: int

    def to_frame(self) -> pd.DataFrame:
        """One row per estimate with its 95 % CI.

        Examples
        --------
        >>> import pandas as pd
        >>> ev = pd.DataFrame({"delta_F": [0.9, 1.1, -1.0, -0.9, 1.0, -1.1] * 2,
        ...                    "delta_N": [1, 1, -1, -1, 1, -1] * 2,
        ...                    "accepted": [True, False, True, True, False, True] * 2})
        >>> chemical_potential(ev).to_frame()["estimate"].tolist()[0]
        'mu_c'
        """
        rows = [
            ("mu_c", self.mu_c, *self.mu_c_ci, self.n_proposed),
            ("mu_c_two_sided", self.mu_c_two_sided, *self.mu_c_two_sided_ci, self.n_proposed),
            ("asymmetry", self.asymmetry, *self.asymmetry_ci, self.n_proposed),
            ("mu_c_accepted", self.mu_c_accepted, *self.mu_c_accepted_ci, self.n_accepted),
        ]
        return pd.DataFrame(rows, columns=["estimate", "value", "ci_low", "ci_high", "n"])


def _clustered_mean(v: np.ndarray, cluster: np.ndarray | None) -> tuple[float, float]:
    """Mean and its standard error, cluster-robust when cluster labels are given."""
    n = len(v)
    mean = float(v.mean())
    if cluster is None:
        return mean, float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else np.nan
    _, c = np.unique(cluster, return_inverse=True)
    g = int(c.max()) + 1
    if g < 2:
        return mean, float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else np.nan
    sums = np.bincount(c, weights=v - mean, minlength=g)
    se = math.sqrt(float(sums @ sums) * g / (g - 1)) / n
    return mean, se


def _norm_ci(value: float, se: float) -> tuple[float, float]:
    return (value - _Z95 * se, value + _Z95 * se)


def chemical_potential(
    events: pd.DataFrame | Sequence[dict[str, Any]],
    *,
    min_events: int = 10,
) -> ChemicalPotential:
    """Estimate the neuron chemical potential mu_c from proposed add/remove moves.

    Each proposal changes the neuron count by ``delta_N = +1`` (add) or ``-1`` (remove) and
    the free energy by ``delta_F``. The estimate uses *all proposals*: ``mu_c = E[dF dN]``,
    the through-origin regression of delta_F on delta_N. Accepted moves are selected by the
    acceptance rule (e.g. Metropolis favours small dF), so their average is biased; it is
    reported as ``mu_c_accepted`` for contrast and a ``UserWarning`` is issued when every
    event is accepted (the table then probably holds accepted moves only).

    Parameters
    ----------
    events : DataFrame or list of dict
        Columns ``delta_F`` (float), ``delta_N`` (+1 / -1), ``accepted`` (bool); optional
        ``step``, ``replica`` (used to cluster the standard errors).
    min_events : int
        Fewer proposals raise ``ValueError``.

    Returns
    -------
    ChemicalPotential

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> dn = rng.choice([-1, 1], size=2000)
    >>> df = 0.5 * dn + 0.3 * rng.normal(size=2000)
    >>> acc = rng.random(2000) < np.minimum(1, np.exp(-df / 0.2))
    >>> res = chemical_potential(pd.DataFrame({"delta_F": df, "delta_N": dn, "accepted": acc}))
    >>> bool(res.mu_c_ci[0] < 0.5 < res.mu_c_ci[1]), res.biased
    (True, True)
    """
    ev = _as_frame(events, "events")
    _check_frame_columns(ev, "events", ["delta_F", "delta_N", "accepted"])
    min_events = check_integer("min_events", min_events, 2)
    if len(ev) < min_events:
        raise ValueError(f"events: {len(ev)} proposal(s); chemical_potential needs >= {min_events}")
    dF = _finite_column(ev, "delta_F", "events")
    dN = _finite_column(ev, "delta_N", "events")
    if not np.all(np.isin(dN, (-1.0, 1.0))):
        bad = np.unique(dN[~np.isin(dN, (-1.0, 1.0))])[:5]
        raise ValueError(f"events: delta_N has value(s) {bad.tolist()}; expected +1 or -1")
    acc_raw = ev["accepted"]
    if acc_raw.isna().any():
        raise ValueError("events: column 'accepted' has missing value(s); expected booleans")
    if acc_raw.dtype != bool and not set(np.unique(acc_raw.to_numpy())) <= {0, 1}:
        raise ValueError("events: column 'accepted' is not boolean; expected True/False")
    acc = acc_raw.to_numpy().astype(bool)
    cluster = ev["replica"].to_numpy() if "replica" in ev.columns else None

    prod = dF * dN
    mu, se = _clustered_mean(prod, cluster)
    add, rem = dN > 0, dN < 0
    if add.sum() >= 2 and rem.sum() >= 2:
        m_add, se_add = _clustered_mean(dF[add], None if cluster is None else cluster[add])
        m_rem, se_rem = _clustered_mean(dF[rem], None if cluster is None else cluster[rem])
        two = 0.5 * (m_add - m_rem)
        asym = 0.5 * (m_add + m_rem)
        se2 = 0.5 * math.sqrt(se_add**2 + se_rem**2)
        two_ci, asym_ci = _norm_ci(two, se2), _norm_ci(asym, se2)
    else:
        two = asym = np.nan
        two_ci = asym_ci = (np.nan, np.nan)
    n_acc = int(acc.sum())
    if n_acc == len(acc):
        warnings.warn(
            "events: every event is accepted; if these are accepted moves only, mu_c is biased "
            "by the acceptance rule (pass all proposals)",
            UserWarning,
            stacklevel=2,
        )
    if n_acc >= 2:
        mu_a, se_a = _clustered_mean(prod[acc], None if cluster is None else cluster[acc])
        ci_a = _norm_ci(mu_a, se_a)
    else:
        mu_a, ci_a = np.nan, (np.nan, np.nan)
    biased = bool(np.isfinite(mu_a) and not (ci_a[0] <= mu <= ci_a[1]))
    return ChemicalPotential(
        mu_c=mu,
        mu_c_ci=_norm_ci(mu, se),
        mu_c_two_sided=two,
        mu_c_two_sided_ci=two_ci,
        asymmetry=asym,
        asymmetry_ci=asym_ci,
        mu_c_accepted=mu_a,
        mu_c_accepted_ci=ci_a,
        acceptance_bias=mu_a - mu if np.isfinite(mu_a) else np.nan,
        biased=biased,
        n_proposed=len(ev),
        n_accepted=n_acc,
        n_add=int(add.sum()),
        n_remove=int(rem.sum()),
    )
