"""Weak-form fit of the Madelung equations to an ensemble of trajectories.

Units and conventions (stated once): time is ``step * dt`` (``dt = 1`` for simulator data, one
learning step per unit); coordinates are those of the trajectory table. The fit identifies
``hbar / m`` (units coordinate^2 / time) because every term of the momentum balance divided
by ``m`` is observable; ``hbar = m * (hbar / m)`` under the mass convention passed in ``mass``
(a number, or ``"sgd"`` for the reconstruction's ``m = 1/(2 gamma)`` from the ``step_size``
column). The potential's coefficients are reported for ``V`` itself (they scale with ``m``).

Method (docs/methods.md#weak-form-madelung-fit, docs/physics.md#madelung-form). With test
functions ``phi_k`` (anisotropic Gaussians of width ``test_width`` times the window's ensemble
spread, centred on a grid around the ensemble's centre), current velocity ``v`` from central
differences with a lag, and the score ``s = grad log p`` from :mod:`analysis.score`:

* continuity: ``d/dt E[phi] = E[v . grad phi]``;
* momentum (per component i)::

      d/dt E[v_i phi] - E[v_i v_j d_j phi] + E[d_i V phi] / m
          = -(hbar^2 / 4 m^2) (E[d_i lap phi] - E[s_i s_j d_j phi])

  which is linear in ``hbar^2 / m^2`` and in the potential coefficients (``V / m``), and
  needs only the score: the noisy quantum potential is never regressed on. Both equations
  are integrated in time over consecutive triples of time points of a window (Simpson's
  rule), so no derivative of a noisy average is taken. The quadratic velocity term uses the
  product of the raw central-difference velocity and a leave-one-out polynomial regression
  of it on the position, so the velocity noise of a diffusion does not bias it.
* phase ``S = a F`` (when a ``free_energy`` column is present): ``v = grad S / m`` gives
  ``E[v . grad phi] = -(a / m) E[F (lap phi + s . grad phi)]``; ``a`` is fitted with its sign.

Confidence intervals come from a bootstrap over replicas. With a score-matching estimator the
score is refitted for every resample (weighted normal equations, cheap); with ``"kde"`` or
``"gaussian"`` it, the velocity smoother and the phase term's score are held at their
full-sample fits, so those intervals leave out that part of the variance.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.polynomial import monomial_exponents, monomial_gradients
from analysis.score import METHODS, fit_score, weighted_scores
from analysis.trajectory import to_array
from analysis.validation import rng_arg

__all__ = ["GradV", "MadelungFit", "fit", "hbar_scaling"]

GradV = Callable[[np.ndarray], np.ndarray]
_DEFAULT_AXIS = {1: 5, 2: 3, 3: 3, 4: 2}


@dataclass(frozen=True)
class MadelungFit:
    """Result of :func:`fit`; pooled numbers as fields, per-window rows via :meth:`to_frame`.

    Attributes
    ----------
    hbar_over_m : float
        ``sqrt(hbar^2/m^2)`` pooled over windows; NaN when the fitted ``hbar^2`` is <= 0.
    hbar_over_m_ci : tuple of float
        Bootstrap percentile interval over replicas.
    hbar2_over_m2 : float
        The signed least-squares coefficient ``hbar^2 / m^2`` (negative for a diffusion).
    hbar, hbar_ci : float, tuple
        ``mass * hbar_over_m`` under :attr:`mass_convention`.
    mass : float
    mass_convention : str
    phase_coefficient, phase_coefficient_ci, phase_r2 : float, tuple, float
        ``a`` in ``S = a F`` with sign, its interval and the R^2 of its regression; NaN when
        the table has no ``free_energy`` column.
    potential : dict of str to float
        Fitted coefficients of ``V`` in :attr:`potential_basis` (empty for ``"none"`` or a
        given potential).
    potential_basis : str
    continuity_residual : float
        ``|lhs - rhs| / (|lhs| + |rhs|)`` of the integrated continuity equation.
    momentum_residual : float
        ``|r| / (|kinetic| + |potential| + |quantum|)`` of the momentum balance (relative).
    r2 : float
        Uncentred R^2 of the momentum regression.
    kinetic_fraction : float
        ``|kinetic terms| / |quantum term|``; near 0 means a force-against-pressure (ground
        state) fit, the imaginary-time trap of
        docs/physics.md#imaginary-time-versus-real-time.
    identifiability : float
        Fraction (0..1) of the quantum column not explained by the potential columns; near 0
        means ``hbar`` is not separable from the fitted potential.
    window_spread : float
        ``(max - min) / |median|`` of the per-window ``hbar^2 / m^2``.
    bandwidth_plateau : dict of str to float
        ``hbar / m`` recomputed with other score estimators or bandwidths.
    plateau_spread : float
        ``(max - min) / median`` over the plateau values (NaN if any is NaN).
    n_samples : int
        Replicas per time point.
    n_times : int
        Time points used (all windows).
    score_method, lag, test_width : str, int, float
    step_size, batch_size : float
        Constant values of those columns, NaN when absent.
    windows : DataFrame
        Per-window results (see :meth:`to_frame`).
    """

    hbar_over_m: float
    hbar_over_m_ci: tuple[float, float]
    hbar2_over_m2: float
    hbar: float
    hbar_ci: tuple[float, float]
    mass: float
    mass_convention: str
    phase_coefficient: float
    phase_coefficient_ci: tuple[float, float]
    phase_r2: float
    potential: dict[str, float]
    potential_basis: str
    continuity_residual: float
    momentum_residual: float
    r2: float
    kinetic_fraction: float
    identifiability: float
    window_spread: float
    bandwidth_plateau: dict[str, float]
    plateau_spread: float
    n_samples: int
    n_times: int
    score_method: str
    lag: int
    test_width: float
    step_size: float
    batch_size: float
    windows: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Per-window rows: times, ``hbar / m`` with interval, residuals, coefficients.

        Examples
        --------
        >>> import numpy as np
        >>> q = np.cumsum(np.random.default_rng(0).normal(size=(40, 300, 1)), axis=0)
        >>> f = fit(q, potential="none", windows=2, bootstrap=0, plateau=False)
        >>> f.to_frame()[["window", "t_start", "t_end"]].values.tolist()
        [[0.0, 2.0, 19.0], [1.0, 20.0, 37.0]]
        """
        return self.windows.copy()


@rng_arg("seed")
def fit(
    traj: pd.DataFrame | np.ndarray,
    coords: Sequence[str] | None = None,
    dt: float = 1.0,
    potential: str | GradV = "quadratic",
    mass: float | str = 1.0,
    windows: int | Sequence[tuple[float, float]] = 4,
    *,
    lag: int = 2,
    times_per_window: int = 9,
    score: str = "sm4",
    bandwidth: float | None = None,
    test_functions: int | None = None,
    test_width: float = 1.5,
    test_span: float = 1.2,
    velocity_degree: int = 3,
    bootstrap: int = 200,
    ci: float = 0.95,
    plateau: bool | Sequence[str] = True,
    seed: int | np.random.Generator = 0,
) -> MadelungFit:
    """Fit ``hbar/m``, the potential and the phase coefficient by the weak-form Madelung equations.

    Parameters
    ----------
    traj : DataFrame or ndarray
        Trajectory table (``step``, ``replica``, ``q_i``, optional ``free_energy``,
        ``step_size``, ``batch_size``) or an array ``(T, R, k)``.
    coords : sequence of str, optional
        Coordinate columns (default all ``q_i``); d = 1..4.
    dt : float
        Time per step.
    potential : {"quadratic", "none", "polynomial:k"} or callable
        ``"none"``: V = 0; ``"quadratic"``/``"polynomial:k"``: V is a polynomial of that degree
        in the raw coordinates with fitted coefficients (the basis is the same for every
        window and run); a callable ``grad_V(x) -> (n, d)`` gives a known potential.
    mass : float or "sgd"
        The mass convention; ``"sgd"`` uses ``m = 1/(2 gamma)`` with gamma the constant
        ``step_size`` column.
    windows : int or sequence of (start_step, stop_step)
        Number of equal time windows over the record, or explicit inclusive step ranges.
    lag : int
        Rows between the central-difference end points (``v = (q[t+lag] - q[t-lag]) / ...``).
    times_per_window : int
        Time points per window (>= 2); the equations are integrated over consecutive
        triples (Simpson's rule), so the points must resolve the ensemble's dynamics.
    score : str
        Score estimator for :func:`analysis.score.fit_score`.
    bandwidth : float, optional
        KDE bandwidth factor (``score="kde"`` only).
    test_functions : int, optional
        Test-function centres per axis (default 5, 3, 3, 2 for d = 1, 2, 3, 4).
    test_width : float
        Test-function width in units of the ensemble's spread (default 1.5).
    test_span : float
        Centres span +-test_span spreads around the window's ensemble mean.
    velocity_degree : int
        Degree of the leave-one-out polynomial velocity regression (quadratic term).
    bootstrap : int
        Bootstrap resamples over replicas (0: no intervals).
    ci : float
        Interval level.
    plateau : bool or sequence of str
        Recompute ``hbar/m`` with other score estimators: True gives sm2, sm3, sm4 and kde
        (or, for ``score="kde"``, the bandwidth at 1, 1/2 and 1/4); a sequence names methods.
    seed : int, SeedSequence, Generator or None
        Bootstrap randomness; a Generator is used as it is (draws continue the caller's stream).

    Returns
    -------
    MadelungFit

    Raises
    ------
    ValueError
        Bad arguments, too few replicas or steps, NaN coordinates, a window with fewer than
        two usable time points.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x0 = rng.normal(0.0, 1.0, size=2000)      # free Gaussian packet, hbar/m = 1
    >>> t = np.arange(60) * 0.05
    >>> q = x0[None, :] * np.sqrt(1 + (t[:, None] / 2) ** 2)
    >>> f = fit(q, dt=0.05, potential="none", bootstrap=20, plateau=False)
    >>> round(f.hbar_over_m, 1), f.momentum_residual < 0.2
    (1.0, True)
    """
    arr = to_array(traj, coords, min_replicas=20, min_steps=3)
    q = arr.q
    R, d = q.shape[1], q.shape[2]
    if not (1 <= d <= 4):
        raise ValueError(f"coords: {d} coordinates; the Madelung fit supports d = 1..4")
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt: {dt}; expected a positive time per step")
    if not isinstance(lag, int | np.integer) or lag < 1:
        raise ValueError(f"lag: {lag}; expected an integer >= 1")
    if not isinstance(times_per_window, int | np.integer) or times_per_window < 2:
        raise ValueError(f"times_per_window: {times_per_window}; expected an integer >= 2")
    if score not in METHODS:
        raise ValueError(f"score: {score!r}; expected one of {', '.join(METHODS)}")
    if not (0 < ci < 1):
        raise ValueError(f"ci: {ci}; expected a level in (0, 1)")
    if not isinstance(bootstrap, int | np.integer) or bootstrap < 0:
        raise ValueError(f"bootstrap: {bootstrap}; expected an integer >= 0")
    if not (np.isfinite(test_width) and test_width > 0):
        raise ValueError(f"test_width: {test_width}; expected a positive multiple of the spread")
    if not isinstance(velocity_degree, int | np.integer) or velocity_degree < 1:
        raise ValueError(f"velocity_degree: {velocity_degree}; expected an integer >= 1")
    n_axis = _DEFAULT_AXIS[d] if test_functions is None else test_functions
    if not isinstance(n_axis, int | np.integer) or n_axis < 1:
        raise ValueError(f"test_functions: {test_functions}; expected an integer >= 1 per axis")
    basis_exps, basis_name, grad_v = _parse_potential(potential, d, arr.coords)
    m_val, m_conv = _parse_mass(mass, arr.extra)
    times = arr.steps.astype(float) * dt
    win_idx = _window_indices(arr.steps, windows, lag, times_per_window)
    free_energy = arr.extra.get("free_energy")

    setup = _Setup(
        q,
        times,
        lag,
        basis_exps,
        grad_v,
        m_val,
        free_energy,
        n_axis,
        test_width,
        test_span,
        velocity_degree,
    )
    rng: np.random.Generator = seed
    weights = np.full((1, R), 1.0 / R)
    if bootstrap > 0:
        counts = rng.multinomial(R, np.full(R, 1.0 / R), size=bootstrap) / R
        weights = np.vstack([weights, counts])
    terms = [setup.terms(idx, score, bandwidth, weights) for idx in win_idx]
    eqs = [_equations(t, weights) for t in terms]
    pooled = _solve(_stack(eqs))
    per_window = [_solve(e) for e in eqs]

    lo_q, hi_q = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2
    theta = pooled["theta"]
    hbar_m = _sqrt_pos(theta[0])
    hbar_ci = _interval(_sqrt_pos(theta[1:]), lo_q, hi_q)
    phase = pooled["phase"]
    phase_a = phase[0] * m_val if phase is not None else np.nan
    phase_ci = _interval(phase[1:] * m_val, lo_q, hi_q) if phase is not None else (np.nan,) * 2

    rows = []
    for w, (idx, sol) in enumerate(zip(win_idx, per_window, strict=True)):
        row = {
            "window": float(w),
            "t_start": float(times[idx[0]]),
            "t_end": float(times[idx[-1]]),
            "hbar_over_m": _sqrt_pos(sol["theta"][0]),
            "hbar_over_m_low": _interval(_sqrt_pos(sol["theta"][1:]), lo_q, hi_q)[0],
            "hbar_over_m_high": _interval(_sqrt_pos(sol["theta"][1:]), lo_q, hi_q)[1],
            "hbar2_over_m2": float(sol["theta"][0]),
            "momentum_residual": sol["momentum_residual"],
            "continuity_residual": sol["continuity_residual"],
            "r2": sol["r2"],
            "kinetic_fraction": sol["kinetic_fraction"],
            "phase_coefficient": (
                float(sol["phase"][0] * m_val) if sol["phase"] is not None else np.nan
            ),
            "n_samples": R,
        }
        for name, c in zip(_basis_labels(basis_exps, arr.coords), sol["coef"], strict=True):
            row[f"V[{name}]"] = float(c * m_val)
        rows.append(row)
    table = pd.DataFrame(rows)
    th_w = table["hbar2_over_m2"].to_numpy()
    med = abs(float(np.median(th_w)))
    spread = float((th_w.max() - th_w.min()) / med) if len(th_w) > 1 and med > 0 else np.inf
    if len(th_w) == 1:
        spread = 0.0

    plateau_vals = _plateau(setup, win_idx, score, bandwidth, plateau, hbar_m)
    pv = np.array(list(plateau_vals.values()), dtype=float)
    p_spread = (
        float((pv.max() - pv.min()) / np.median(pv)) if len(pv) > 1 and np.all(pv > 0) else np.nan
    )
    labels = _basis_labels(basis_exps, arr.coords)
    return MadelungFit(
        hbar_over_m=hbar_m,
        hbar_over_m_ci=hbar_ci,
        hbar2_over_m2=float(theta[0]),
        hbar=m_val * hbar_m,
        hbar_ci=(m_val * hbar_ci[0], m_val * hbar_ci[1]),
        mass=m_val,
        mass_convention=m_conv,
        phase_coefficient=float(phase_a),
        phase_coefficient_ci=(float(phase_ci[0]), float(phase_ci[1])),
        phase_r2=pooled["phase_r2"],
        potential={k: float(c * m_val) for k, c in zip(labels, pooled["coef"], strict=True)},
        potential_basis=basis_name,
        continuity_residual=pooled["continuity_residual"],
        momentum_residual=pooled["momentum_residual"],
        r2=pooled["r2"],
        kinetic_fraction=pooled["kinetic_fraction"],
        identifiability=pooled["identifiability"],
        window_spread=spread,
        bandwidth_plateau=plateau_vals,
        plateau_spread=p_spread,
        n_samples=R,
        n_times=int(sum(len(i) for i in win_idx)),
        score_method=score,
        lag=int(lag),
        test_width=float(test_width),
        step_size=_constant(arr.extra.get("step_size")),
        batch_size=_constant(arr.extra.get("batch_size")),
        windows=table,
    )


def hbar_scaling(
    fits: Sequence[MadelungFit] | pd.DataFrame,
    gamma: Sequence[float] | None = None,
    M: Sequence[float] | None = None,
    *,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Exponent of ``hbar^2`` against ``gamma / M`` across runs, for each mass convention.

    ``hbar/m`` is what each fit measures; ``hbar^2`` then depends on the mass convention:
    ``"m fixed"`` (``hbar proportional to hbar/m``) or ``"m = 1/(2 gamma)"``
    (``hbar = (hbar/m) / (2 gamma)``). For each, ``log hbar^2 = alpha log(gamma/M) + c`` is
    fitted by least squares (t interval on alpha), and, when gamma and M vary independently,
    ``log hbar^2 = a log gamma + b log M + c``.

    Parameters
    ----------
    fits : sequence of MadelungFit, or DataFrame
        Runs; a DataFrame needs ``hbar_over_m`` and (unless given) ``gamma`` and ``M``
        columns.
    gamma, M : sequence of float, optional
        Step size and batch size per run; default the fits' ``step_size``/``batch_size``.
    ci : float
        Interval level.

    Returns
    -------
    DataFrame
        One row per convention: ``exponent``, ``exponent_low``, ``exponent_high``, ``r2``,
        ``gamma_exponent``, ``M_exponent``, ``n_runs``.

    Examples
    --------
    >>> import pandas as pd
    >>> g = [0.05, 0.1, 0.2, 0.1]; M = [4, 4, 4, 16]
    >>> runs = pd.DataFrame({"hbar_over_m": [(gi / Mi) ** 0.5 for gi, Mi in zip(g, M)],
    ...                      "gamma": g, "M": M})
    >>> out = hbar_scaling(runs)
    >>> out[["gamma_exponent", "M_exponent"]].round(3).values.tolist()
    [[1.0, -1.0], [-1.0, -1.0]]
    """
    if isinstance(fits, pd.DataFrame):
        if "hbar_over_m" not in fits.columns:
            raise ValueError("fits: DataFrame without an 'hbar_over_m' column")
        hm = fits["hbar_over_m"].to_numpy(dtype=float)
        g_def = fits["gamma"].to_numpy(float) if "gamma" in fits.columns else None
        m_def = fits["M"].to_numpy(float) if "M" in fits.columns else None
    else:
        hm = np.array([f.hbar_over_m for f in fits], dtype=float)
        g_def = np.array([f.step_size for f in fits], dtype=float)
        m_def = np.array([f.batch_size for f in fits], dtype=float)
    g = np.asarray(gamma, dtype=float) if gamma is not None else g_def
    mb = np.asarray(M, dtype=float) if M is not None else m_def
    if g is None or mb is None:
        raise ValueError("gamma: not given and not in fits; pass gamma= and M= per run")
    if not (len(g) == len(mb) == len(hm)):
        raise ValueError(f"gamma, M: lengths {len(g)}, {len(mb)}; expected one per run ({len(hm)})")
    if len(hm) < 3:
        raise ValueError(f"fits: {len(hm)} run(s); the exponent needs at least 3")
    for name, v in (("hbar_over_m", hm), ("gamma", g), ("M", mb)):
        if not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(f"{name}: {v.tolist()}; expected finite positive values per run")
    if not (0 < ci < 1):
        raise ValueError(f"ci: {ci}; expected a level in (0, 1)")
    rows = []
    for conv, hbar in (("m fixed", hm), ("m = 1/(2 gamma)", hm / (2 * g))):
        y = np.log(hbar**2)
        x = np.log(g / mb)
        slope, lo, hi, r2 = _ols_slope(x, y, ci)
        ga, mb_exp = np.nan, np.nan
        design = np.column_stack([np.log(g), np.log(mb), np.ones_like(x)])
        if len(y) >= 4 and np.linalg.matrix_rank(design) == 3:
            ga, mb_exp = np.linalg.lstsq(design, y, rcond=None)[0][:2]
        rows.append(
            {
                "convention": conv,
                "exponent": slope,
                "exponent_low": lo,
                "exponent_high": hi,
                "r2": r2,
                "gamma_exponent": float(ga),
                "M_exponent": float(mb_exp),
                "n_runs": len(y),
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# internals


def _ols_slope(x: np.ndarray, y: np.ndarray, ci: float) -> tuple[float, float, float, float]:
    xc = x - x.mean()
    sxx = float(xc @ xc)
    if sxx == 0:
        raise ValueError("gamma, M: gamma/M is the same in every run; nothing to regress on")
    slope = float(xc @ (y - y.mean()) / sxx)
    resid = y - y.mean() - slope * xc
    dof = len(y) - 2
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    if dof < 1:
        return slope, np.nan, np.nan, r2
    se = np.sqrt(float(resid @ resid) / dof / sxx)
    tq = stats.t.ppf((1 + ci) / 2, dof)
    return slope, slope - tq * se, slope + tq * se, r2


def _sqrt_pos(theta):
    th = np.asarray(theta, dtype=float)
    out = np.sqrt(np.where(th > 0, th, np.nan))
    return float(out) if out.ndim == 0 else out


def _interval(vals: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    vals = np.asarray(vals, dtype=float)
    if vals.size == 0:
        return (np.nan, np.nan)
    vals = np.where(np.isnan(vals), 0.0, vals)  # non-positive hbar^2 counts as hbar = 0
    return (float(np.percentile(vals, lo)), float(np.percentile(vals, hi)))


def _constant(col: np.ndarray | None) -> float:
    if col is None:
        return np.nan
    vals = np.unique(col)
    return float(vals[0]) if len(vals) == 1 else np.nan


def _parse_mass(mass: float | str, extra: dict[str, np.ndarray]) -> tuple[float, str]:
    if isinstance(mass, str):
        if mass != "sgd":
            raise ValueError(f"mass: {mass!r}; expected a positive number or 'sgd'")
        gamma = _constant(extra.get("step_size"))
        if not np.isfinite(gamma) or gamma <= 0:
            raise ValueError(
                "mass: 'sgd' needs a constant positive step_size column; pass a number instead"
            )
        m = 1.0 / (2.0 * gamma)
        return m, f"m = 1/(2 gamma) = {m:g} (gamma = step_size = {gamma:g})"
    m = float(mass)
    if not (np.isfinite(m) and m > 0):
        raise ValueError(f"mass: {mass}; expected a positive number or 'sgd'")
    return m, f"m = {m:g} (given)"


def _parse_potential(
    potential: str | GradV, d: int, coords: Sequence[str]
) -> tuple[np.ndarray, str, GradV | None]:
    if callable(potential):
        return np.zeros((0, d), dtype=int), "given grad V (no fitted coefficients)", potential
    if potential == "none":
        return np.zeros((0, d), dtype=int), "none (V = 0)", None
    if potential == "quadratic":
        k = 2
    elif isinstance(potential, str) and potential.startswith("polynomial:"):
        try:
            k = int(potential.split(":", 1)[1])
        except ValueError:
            k = 0
        if k < 1 or k > 6:
            raise ValueError(f"potential: {potential!r}; expected 'polynomial:k' with k = 1..6")
    else:
        raise ValueError(
            f"potential: {potential!r}; expected 'none', 'quadratic', 'polynomial:k' or a "
            "callable grad_V(x)"
        )
    exps_arr = monomial_exponents(d, k)
    name = f"monomials of degree 1..{k} in {', '.join(coords)} (raw coordinates)"
    return exps_arr, name, None


def _basis_labels(exps: np.ndarray, coords: Sequence[str]) -> list[str]:
    labels = []
    for e in exps:
        parts = [c if p == 1 else f"{c}^{p}" for c, p in zip(coords, e, strict=True) if p > 0]
        labels.append("*".join(parts))
    return labels


def _window_indices(
    steps: np.ndarray,
    windows: int | Sequence[tuple[float, float]],
    lag: int,
    per: int,
) -> list[np.ndarray]:
    T = len(steps)
    usable = np.arange(lag, T - lag)
    if len(usable) < 2:
        raise ValueError(f"lag: {lag}; the record has {T} steps, too few for central differences")
    if isinstance(windows, int | np.integer):
        if windows < 1:
            raise ValueError(f"windows: {windows}; expected an integer >= 1 or (start, stop) pairs")
        chunks = np.array_split(usable, windows)
    else:
        chunks = []
        for pair in windows:
            if len(pair) != 2:
                raise ValueError(f"windows: {pair!r}; expected (start_step, stop_step) pairs")
            a, b = pair
            chunks.append(usable[(steps[usable] >= a) & (steps[usable] <= b)])
        if not chunks:
            raise ValueError("windows: empty sequence; expected at least one (start, stop) pair")
    out = []
    for w, ch in enumerate(chunks):
        if len(ch) < 2:
            raise ValueError(
                f"windows: window {w} has {len(ch)} usable step(s) (lag {lag}); expected >= 2"
            )
        pick = np.unique(np.round(np.linspace(0, len(ch) - 1, min(per, len(ch)))).astype(int))
        out.append(ch[pick])
    return out


def _poly_design(x: np.ndarray, degree: int) -> np.ndarray:
    """Monomials of degree 0..degree of standardised x (..., n, d) -> (..., n, P)."""
    cols = []
    for e in monomial_exponents(x.shape[-1], degree, constant=True):
        c = np.ones(x.shape[:-1])
        for i in np.repeat(np.arange(len(e)), e):  # factors in coordinate order
            c = c * x[..., i]
        cols.append(c)
    return np.stack(cols, axis=-1)


def _loo_smooth(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """Leave-one-out polynomial regression of y (J, R, d) on x (J, R, d)."""
    mu = x.mean(axis=1, keepdims=True)
    sd = x.std(axis=1, keepdims=True)
    sd[sd == 0] = 1.0
    phi = _poly_design((x - mu) / sd, degree)  # (J, R, P)
    gram = np.einsum("jrp,jrq->jpq", phi, phi)
    gram[:, np.arange(gram.shape[1]), np.arange(gram.shape[1])] *= 1 + 1e-10
    inv = np.linalg.inv(gram)
    coef = inv @ np.einsum("jrp,jrd->jpd", phi, y)
    fitted = phi @ coef
    hat = np.einsum("jrp,jpq,jrq->jr", phi, inv, phi)
    hat = np.minimum(hat, 0.99)
    return (fitted - hat[..., None] * y) / (1 - hat[..., None])


class _Setup:
    """Holds the data and settings; builds per-replica weak-form terms for one window."""

    def __init__(
        self, q, times, lag, exps, grad_v, mass, free_energy, n_axis, width, span, vdeg
    ) -> None:
        self.q, self.times, self.lag = q, times, lag
        self.exps, self.grad_v, self.mass = exps, grad_v, mass
        self.free_energy = free_energy
        self.n_axis, self.width, self.span, self.vdeg = n_axis, width, span, vdeg
        R, d = q.shape[1], q.shape[2]
        need = 2 * len(_poly_design(np.zeros((1, d)), vdeg)[0]) + 5
        if R < need:
            raise ValueError(
                f"traj: {R} replicas; velocity_degree={vdeg} in d={d} needs at least {need}"
            )

    def terms(
        self, idx: np.ndarray, score: str, bandwidth: float | None, weights: np.ndarray
    ) -> dict:
        q, lag = self.q, self.lag
        x = q[idx]  # (J, R, d)
        J, R, d = x.shape
        span_t = self.times[idx + lag] - self.times[idx - lag]
        v = (q[idx + lag] - q[idx - lag]) / span_t[:, None, None]
        vs = _loo_smooth(x, v, self.vdeg)

        pooled = x.reshape(-1, d)
        mu = pooled.mean(axis=0)
        cov = np.atleast_2d(np.cov(pooled, rowvar=False))
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError(
                "traj: singular ensemble covariance in a window; coordinates are constant or "
                "linearly dependent"
            ) from None
        grid1 = np.linspace(-self.span, self.span, self.n_axis) if self.n_axis > 1 else [0.0]
        g = np.array(list(itertools.product(grid1, repeat=d)))  # (K, d)
        centres = mu + g @ chol.T
        prec = np.linalg.inv(self.width**2 * cov)
        tr_p = float(np.trace(prec))

        diff = x[:, :, None, :] - centres[None, None, :, :]  # (J, R, K, d)
        y = diff @ prec
        yy = np.einsum("jrkd,jrkd->jrk", diff, y)
        phi = np.exp(-0.5 * yy)
        grad_phi = -y * phi[..., None]
        y2 = np.einsum("jrkd,jrkd->jrk", y, y)
        lap_phi = (y2 - tr_p) * phi
        d_lap_phi = (2.0 * (y @ prec) - y * (y2 - tr_p)[..., None]) * phi[..., None]

        s = np.empty_like(x)
        s_boot = None
        if score.startswith("sm") and weights.shape[0] > 1:
            # refit the score under every bootstrap weight row (row 0: the full sample)
            s_boot = np.stack([weighted_scores(x[j], score, weights) for j in range(J)], axis=1)
            s[:] = s_boot[0]
        else:
            for j in range(J):
                s[j] = fit_score(x[j], score, bandwidth).score(x[j])

        s_dphi = np.einsum("jrd,jrkd->jrk", s, grad_phi)
        v_dphi = np.einsum("jrd,jrkd->jrk", v, grad_phi)
        vs_dphi = np.einsum("jrd,jrkd->jrk", vs, grad_phi)
        out = {
            "t": self.times[idx],
            "phi": phi,
            "v_dphi": v_dphi,
            "p1": v[:, :, None, :] * phi[..., None],
            "p2": 0.5
            * (v[:, :, None, :] * vs_dphi[..., None] + vs[:, :, None, :] * v_dphi[..., None]),
            "quantum": d_lap_phi - s[:, :, None, :] * s_dphi[..., None],
        }
        if s_boot is not None:
            out["s_boot"], out["grad_phi"], out["d_lap_phi"] = s_boot, grad_phi, d_lap_phi
        if len(self.exps):
            gb = monomial_gradients(x, self.exps)  # (J, R, d, nb)
            out["basis"] = phi[..., None, None] * gb[:, :, None, :, :]
        else:
            out["basis"] = np.zeros((J, R, len(centres), d, 0))
        if self.grad_v is not None:
            gv = np.asarray(self.grad_v(x.reshape(-1, d)), dtype=float)
            if gv.shape != (J * R, d) or not np.all(np.isfinite(gv)):
                raise ValueError(
                    f"potential: grad_V returned shape {gv.shape} or non-finite values; "
                    f"expected finite (n, {d})"
                )
            out["known"] = gv.reshape(J, R, 1, d) * phi[..., None] / self.mass
        if self.free_energy is not None:
            f = self.free_energy[idx]  # (J, R)
            g_term = lap_phi + s_dphi
            out["f_g"] = f[..., None] * g_term
            out["f"] = f
            out["g"] = g_term
        return out


def _avg(w: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Weighted replica averages: w (B, R), a (J, R, ...) -> (B, J, ...)."""
    J, R = a.shape[:2]
    flat = np.moveaxis(a, 1, 0).reshape(R, -1)
    return (w @ flat).reshape(w.shape[0], J, *a.shape[2:])


def _equations(t: dict, w: np.ndarray) -> dict:
    """Integrated weak-form equations over consecutive time-point triples, per bootstrap row.

    Each equation integrates from ``t_j`` to ``t_{j+2}`` with the (non-uniform) Simpson rule,
    so the quadrature error is O(tau^4); with two time points the trapezoid rule is used.
    """
    tt = t["t"]
    if len(tt) >= 3:
        h0, h1 = np.diff(tt)[:-1], np.diff(tt)[1:]
        c0 = (h0 + h1) / 6 * (2 - h1 / h0)
        c1 = (h0 + h1) / 6 * (h0 + h1) ** 2 / (h0 * h1)
        c2 = (h0 + h1) / 6 * (2 - h0 / h1)
        step = 2
    else:
        c0 = c2 = np.diff(tt) / 2
        c1 = np.zeros_like(c0)
        step = 1

    def integ(a: np.ndarray) -> np.ndarray:
        n = a.shape[1] - step
        sh = (1, n) + (1,) * (a.ndim - 2)
        mid = a[:, 1 : 1 + n] if step == 2 else 0.0
        return c0.reshape(sh) * a[:, :n] + c1.reshape(sh) * mid + c2.reshape(sh) * a[:, step:]

    def delta(a: np.ndarray) -> np.ndarray:
        return a[:, step:] - a[:, : a.shape[1] - step]

    p1, p2 = _avg(w, t["p1"]), _avg(w, t["p2"])
    if "s_boot" in t and t["s_boot"].shape[0] == w.shape[0]:
        qu = _avg(w, t["d_lap_phi"])  # minus E_w[s_i s_j d_j phi] with each row's own score
        for j in range(qu.shape[1]):
            sb = t["s_boot"][:, j]  # (B, R, d)
            sd = np.matmul(t["grad_phi"][j][None], sb[..., None])[..., 0]  # (B, R, K)
            wsb = w[:, :, None] * sb
            qu[:, j] -= np.matmul(wsb.transpose(0, 2, 1), sd).transpose(0, 2, 1)
    else:
        qu = _avg(w, t["quantum"])
    basis = _avg(w, t["basis"])
    kin = delta(p1) - integ(p2)  # (B, E, K, d)
    known = integ(_avg(w, t["known"])) if "known" in t else np.zeros_like(kin)
    x_pot = -integ(basis)  # (B, E, K, d, nb)
    x_q = -0.25 * integ(qu)
    B = w.shape[0]
    eq = {
        "kin": kin.reshape(B, -1),
        "known": known.reshape(B, -1),
        "x_pot": x_pot.reshape(B, kin[0].size, x_pot.shape[-1]),
        "x_q": x_q.reshape(B, -1),
    }
    phi, vd = _avg(w, t["phi"]), _avg(w, t["v_dphi"])
    eq["c_lhs"] = delta(phi).reshape(B, -1)
    eq["c_rhs"] = integ(vd).reshape(B, -1)
    if "f_g" in t:
        fg = _avg(w, t["f_g"]) - _avg(w, t["f"])[..., None] * _avg(w, t["g"])
        eq["ph_y"] = vd.reshape(B, -1)
        eq["ph_x"] = (-fg).reshape(B, -1)
    return eq


def _stack(eqs: list[dict]) -> dict:
    return {k: np.concatenate([e[k] for e in eqs], axis=1) for k in eqs[0]}


def _solve(eq: dict) -> dict:
    y = eq["kin"] + eq["known"]  # (B, n)
    X = np.concatenate([eq["x_pot"], eq["x_q"][..., None]], axis=2)  # (B, n, p)
    scale = np.linalg.norm(X[0], axis=0)
    scale[scale == 0] = 1.0
    beta = np.einsum("bpn,bn->bp", np.linalg.pinv(X / scale, rcond=1e-12), y) / scale
    fitted = np.einsum("bnp,bp->bn", X, beta)
    r = y[0] - fitted[0]
    coef, theta = beta[0, :-1], beta[:, -1]
    quantum = eq["x_q"][0] * theta[0]
    pot = eq["known"][0] - eq["x_pot"][0] @ coef
    denom = np.linalg.norm(eq["kin"][0]) + np.linalg.norm(pot) + np.linalg.norm(quantum)
    yy = float(y[0] @ y[0])
    xq = eq["x_q"][0]
    if eq["x_pot"].shape[2] and np.linalg.norm(xq) > 0:
        xp = eq["x_pot"][0]
        proj = xp @ np.linalg.lstsq(xp, xq, rcond=None)[0]
        ident = float(np.linalg.norm(xq - proj) / np.linalg.norm(xq))
    else:
        ident = 1.0
    c_l, c_r = eq["c_lhs"][0], eq["c_rhs"][0]
    c_den = np.linalg.norm(c_l) + np.linalg.norm(c_r)
    out = {
        "theta": theta,
        "coef": coef,
        "momentum_residual": float(np.linalg.norm(r) / denom) if denom > 0 else np.nan,
        "r2": 1.0 - float(r @ r) / yy if yy > 0 else np.nan,
        "kinetic_fraction": (
            float(np.linalg.norm(eq["kin"][0]) / np.linalg.norm(quantum))
            if np.linalg.norm(quantum) > 0
            else np.inf
        ),
        "identifiability": ident,
        "continuity_residual": float(np.linalg.norm(c_l - c_r) / c_den) if c_den > 0 else np.nan,
        "phase": None,
        "phase_r2": np.nan,
    }
    if "ph_y" in eq:
        py, px = eq["ph_y"], eq["ph_x"]
        den = np.einsum("bn,bn->b", px, px)
        kappa = np.where(den > 0, np.einsum("bn,bn->b", px, py) / np.where(den > 0, den, 1), 0)
        out["phase"] = kappa
        res = py[0] - kappa[0] * px[0]
        ss = float(py[0] @ py[0])
        out["phase_r2"] = 1.0 - float(res @ res) / ss if ss > 0 else np.nan
    return out


def _plateau(
    setup: _Setup,
    win_idx: list[np.ndarray],
    score: str,
    bandwidth: float | None,
    plateau: bool | Sequence[str],
    main: float,
) -> dict[str, float]:
    if plateau is False:
        return {}
    R = setup.q.shape[1]
    w = np.full((1, R), 1.0 / R)
    if plateau is True:
        if score == "kde":
            base = 2.0 if bandwidth is None else float(bandwidth)
            cases = [(f"kde x{f:g}", "kde", base * f) for f in (1.0, 0.5, 0.25)]
        else:
            cases = [(m, m, None) for m in ("sm2", "sm3", "sm4", "kde")]
    else:
        cases = []
        for m in plateau:
            if m not in METHODS:
                raise ValueError(f"plateau: {m!r}; expected names from {', '.join(METHODS)}")
            cases.append((m, m, None))
    out = {}
    for label, method, bw in cases:
        same_bw = bw == bandwidth or (bandwidth is None and bw == 2.0)
        if method == score and same_bw:
            out[label] = main
            continue
        eqs = [_equations(setup.terms(idx, method, bw, w), w) for idx in win_idx]
        out[label] = _sqrt_pos(_solve(_stack(eqs))["theta"][0])
    return out
