"""hbar from independent routes, the quantisation of loop free energies, and the gap between
the Madelung hbar and the chemical potential.

The Nelson diffusion constant is ``D = hbar / (2 m)``; the circulation quantum is
``kappa = 2 pi hbar / m``; the free-energy branch spacing gives ``hbar = |mu_c| / (2 pi)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.validation import check_integer, check_positive, rng_arg

__all__ = [
    "HbarRoutes",
    "QuantizationScore",
    "consistency_gap",
    "hbar_routes",
    "quantization_score",
    "resolve_hbar",
]


def resolve_hbar(hbar: float | None, mass: float | None, fit: Any) -> tuple[float, float]:
    """``(hbar, mass)`` from a given hbar, or from a fit's ``hbar_over_m`` times the mass.

    Parameters
    ----------
    hbar : float or None
        hbar itself; exactly one of ``hbar`` and ``fit`` is given.
    mass : float or None
        The mass convention (default 1).
    fit : object or None
        Anything with an ``hbar_over_m`` attribute (e.g. a ``MadelungFit``).

    Returns
    -------
    tuple of float

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> resolve_hbar(0.5, None, None)
    (0.5, 1.0)
    >>> resolve_hbar(None, 2.0, SimpleNamespace(hbar_over_m=0.25))
    (0.5, 2.0)
    """
    mass = 1.0 if mass is None else check_positive("mass", mass)
    if fit is not None:
        if hbar is not None:
            raise ValueError("hbar: given together with fit; pass one of them")
        if not hasattr(fit, "hbar_over_m"):
            raise ValueError(f"fit: {type(fit).__name__} has no attribute hbar_over_m")
        return check_positive("fit.hbar_over_m", fit.hbar_over_m) * mass, mass
    if hbar is None:
        raise ValueError("hbar: None; expected a positive number (or a fit with hbar_over_m)")
    return check_positive("hbar", hbar), mass


def _value_ci(x: Any, name: str) -> tuple[float, float, float]:
    """Accept ``v`` or ``(v, (lo, hi))``; return (v, lo, hi) (NaN bounds when absent)."""
    if isinstance(x, tuple) and len(x) == 2:
        v = float(x[0])
        lo, hi = (float(b) for b in x[1])
    else:
        v, lo, hi = float(x), np.nan, np.nan
    if not np.isfinite(v):
        raise ValueError(f"{name}: {x!r}; expected a finite value or (value, (low, high))")
    return v, lo, hi


def _circulation_quantum(G: np.ndarray, iters: int = 50) -> float:
    """Integer-label least squares for the quantum of circulations G
    (docs/methods.md#quantisation-tests)."""
    a = np.abs(G)
    if a.max() <= 0:
        return float("nan")
    low = a[a <= np.quantile(a, 0.25)]
    sigma0 = 1.4826 * float(np.median(low)) if a.size >= 8 and low.size else 0.0
    big = a[a > max(5 * sigma0, 0.05 * a.max())]
    kappa = float(np.median(big))

    def iterate(k: float) -> float:
        for _ in range(iters):
            n = np.round(G / k)
            if not np.any(n):
                return float("nan")
            k_new = float(np.sum(n * G) / np.sum(n**2))
            if abs(k_new - k) < 1e-12 * abs(k):
                break
            k = k_new
        return k

    kappa = iterate(kappa)
    if not np.isfinite(kappa):
        return kappa
    win = np.linspace(0.67, 1.5, 167) * kappa
    Rw = np.abs(np.mean(np.exp(2j * np.pi * G[None, :] / win[:, None]), axis=1))
    return iterate(float(win[int(np.argmax(Rw))]))


@dataclass(frozen=True)
class HbarRoutes:
    """Result of :func:`hbar_routes`.

    Attributes
    ----------
    table : DataFrame
        ``route``, ``hbar``, ``ci_low``, ``ci_high``, ``se`` (from the CI), ``note``.
    weighted_mean : float
        Inverse-variance mean over routes with a CI (plain mean if none has one).
    chi2_dof : float
        Scatter of routes with a CI about the weighted mean / dof (1 = agreement within errors).
    p_value : float
        Chi-square p-value of that scatter (NaN with fewer than two routes with CIs).
    max_rel_spread : float
        (max - min) / weighted mean over all routes.
    agree : bool
        ``p_value > 0.01`` (or, without CIs, ``max_rel_spread < 0.1``).
    """

    table: pd.DataFrame
    weighted_mean: float
    chi2_dof: float
    p_value: float
    max_rel_spread: float
    agree: bool


@rng_arg("seed")
def hbar_routes(
    *,
    weak_form: Any = None,
    diffusion: Any = None,
    circulations: np.ndarray | None = None,
    mu_c: Any = None,
    mass: float = 1.0,
    n_boot: int = 200,
    seed: int | np.random.Generator | None = 0,
) -> HbarRoutes:
    """hbar from independent routes side by side; their agreement is the test.

    Routes (each optional; at least two needed):

    * ``weak_form``: ``hbar`` or ``(hbar, (lo, hi))``, or a fit with ``hbar_over_m`` (and
      ``hbar_over_m_ci``): ``hbar = hbar_over_m * mass``.
    * ``diffusion`` (Nelson): ``D`` (float or (k, k) matrix: mean eigenvalue) or ``(D, (lo, hi))``;
      ``hbar = 2 m D``.
    * ``circulations``: loop circulations ``Gamma_C``; quantum ``kappa`` by integer-label least
      squares (docs/methods.md#quantisation-tests), ``hbar = m kappa / 2 pi``, bootstrap CI over
      loops.
    * ``mu_c``: free-energy branch spacing: ``hbar = |mu_c| / 2 pi``.

    Parameters
    ----------
    weak_form, diffusion, circulations, mu_c : see above
    mass : float
        The mass convention (state it: e.g. ``m = 1 / (2 gamma)`` or ``m = 1``).
    n_boot : int
    seed : int, SeedSequence, Generator or None
        Random state; a Generator is used as it is (draws continue the caller's stream).

    Returns
    -------
    HbarRoutes

    Examples
    --------
    >>> r = hbar_routes(weak_form=(0.70, (0.66, 0.74)), diffusion=(0.35, (0.33, 0.37)),
    ...                 mu_c=2 * 3.141592653589793 * 0.7)
    >>> r.agree, round(r.weighted_mean, 2)
    (True, 0.7)
    """
    mass = check_positive("mass", mass)
    n_boot = check_integer("n_boot", n_boot, 10)
    rng: np.random.Generator = seed
    rows = []
    if weak_form is not None:
        if hasattr(weak_form, "hbar_over_m"):
            v = check_positive("weak_form.hbar_over_m", weak_form.hbar_over_m)
            ci = getattr(weak_form, "hbar_over_m_ci", (np.nan, np.nan))
            lo, hi = (float(c) for c in ci)
            rows.append(("weak_form", v * mass, lo * mass, hi * mass, "hbar_over_m * mass"))
        else:
            v, lo, hi = _value_ci(weak_form, "weak_form")
            rows.append(("weak_form", v, lo, hi, "given"))
    if diffusion is not None:
        if isinstance(diffusion, tuple):
            v, lo, hi = _value_ci(diffusion, "diffusion")
        else:
            Dm = np.asarray(diffusion, dtype=float)
            if not np.all(np.isfinite(Dm)) or Dm.ndim not in (0, 2):
                raise ValueError(f"diffusion: {diffusion!r}; expected a number or a (k, k) matrix")
            v = float(Dm) if Dm.ndim == 0 else float(np.mean(np.linalg.eigvalsh(Dm)))
            lo = hi = np.nan
        if v <= 0:
            raise ValueError(f"diffusion: {diffusion!r}; expected a positive diffusion constant")
        rows.append(("nelson_2mD", 2 * mass * v, 2 * mass * lo, 2 * mass * hi, "hbar = 2 m D"))
    if circulations is not None:
        G = np.asarray(circulations, dtype=float).ravel()
        if G.size < 5 or not np.all(np.isfinite(G)):
            raise ValueError(f"circulations: {G.size} values (or NaN); expected >= 5 finite loops")
        kap = _circulation_quantum(G)
        idx = rng.integers(0, G.size, (n_boot, G.size))
        bk = np.array([_circulation_quantum(G[i]) for i in idx])
        bk = bk[np.isfinite(bk)]
        lo, hi = np.quantile(bk, [0.025, 0.975]) if bk.size >= 10 else (np.nan, np.nan)
        f = mass / (2 * np.pi)
        rows.append(("circulation", kap * f, lo * f, hi * f, "hbar = m kappa / 2 pi"))
    if mu_c is not None:
        v, lo, hi = _value_ci(mu_c, "mu_c")
        if v == 0:
            raise ValueError("mu_c: 0; expected a non-zero chemical potential")
        b = sorted([abs(lo), abs(hi)]) if np.isfinite(lo) else [np.nan, np.nan]
        rows.append(
            (
                "branch_spacing",
                abs(v) / (2 * np.pi),
                b[0] / (2 * np.pi),
                b[1] / (2 * np.pi),
                "hbar = |mu_c| / 2 pi",
            )
        )
    if len(rows) < 2:
        raise ValueError(
            f"routes: {len(rows)} given; expected at least two of weak_form, "
            "diffusion, circulations, mu_c"
        )
    tab = pd.DataFrame(rows, columns=["route", "hbar", "ci_low", "ci_high", "note"])
    tab.insert(4, "se", (tab["ci_high"] - tab["ci_low"]) / (2 * 1.96))
    vals = tab["hbar"].to_numpy()
    se = tab["se"].to_numpy()
    has = np.isfinite(se) & (se > 0)
    if has.sum() >= 1:
        w = 1 / se[has] ** 2
        mean = float(np.sum(w * vals[has]) / np.sum(w))
    else:
        mean = float(np.mean(vals))
    if has.sum() >= 2:
        chi2 = float(np.sum((vals[has] - mean) ** 2 / se[has] ** 2))
        dof = int(has.sum() - 1)
        chi2_dof, p = chi2 / dof, float(stats.chi2.sf(chi2, dof))
    else:
        chi2_dof, p = float("nan"), float("nan")
    spread = float((vals.max() - vals.min()) / abs(mean)) if np.all(np.isfinite(vals)) else np.nan
    agree = bool(p > 0.01) if np.isfinite(p) else bool(spread < 0.1)
    return HbarRoutes(tab, mean, chi2_dof, p, spread, agree)


@dataclass(frozen=True)
class QuantizationScore:
    """Result of :func:`quantization_score`.

    Attributes
    ----------
    n_loops, n_excluded : int
        Loops with counts != 0 (used) and with counts == 0 (excluded: trivially "quantised").
    slope, slope_ci : float, tuple
        Least-squares slope (through the origin) of values on counts * unit (1 if quantised),
        bootstrap CI over loops.
    r2 : float
        R^2 of that fit (uncentred).
    rayleigh : float
        ``|mean exp(2 pi i values / unit)|`` over the used loops.
    rayleigh_null : float
        ``sqrt(pi / (4 n))``: its expectation for phases uniform on the circle.
    rayleigh_p : float
        Rayleigh-test p-value.
    control_rayleigh, control_slope : float
        The same statistics on the control (the given ``control`` or counts shuffled across loops).
    quantized : bool
        ``n >= 5``, ``rayleigh_p < 0.01``, slope CI containing 1, ``r2 > 0.9``, and the slope
        beating the control.
    """

    n_loops: int
    n_excluded: int
    slope: float
    slope_ci: tuple[float, float]
    r2: float
    rayleigh: float
    rayleigh_null: float
    rayleigh_p: float
    control_rayleigh: float
    control_slope: float
    quantized: bool


def _rayleigh(values: np.ndarray, unit: float) -> tuple[float, float]:
    n = values.size
    if n == 0:
        return float("nan"), float("nan")
    R = float(np.abs(np.mean(np.exp(2j * np.pi * values / unit))))
    Rn = n * R
    p = float(np.exp(np.sqrt(1 + 4 * n + 4 * (n**2 - Rn**2)) - (1 + 2 * n)))  # Zar (1999)
    return R, min(max(p, 0.0), 1.0)


def _slope_r2(values: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    if x.size == 0 or not np.any(x):
        return float("nan"), float("nan")
    s = float(np.sum(x * values) / np.sum(x**2))
    ss = float(np.sum(values**2))
    r2 = 1 - float(np.sum((values - s * x) ** 2)) / ss if ss > 0 else float("nan")
    return s, r2


@rng_arg("seed")
def quantization_score(
    values: np.ndarray,
    counts: np.ndarray,
    unit: float,
    *,
    control: tuple[np.ndarray, np.ndarray] | None = None,
    n_boot: int = 500,
    seed: int | np.random.Generator | None = 0,
) -> QuantizationScore:
    """Are loop free-energy changes integer multiples of ``unit`` (mu_c) times the neuron change?

    Only loops with ``counts != 0`` count: values near 0 from loops without neuron change are
    trivially "on the comb" and are excluded (docs/methods.md#quantisation-tests). Statistics:
    slope and R^2 of values against ``counts * unit`` (through the origin), and the Rayleigh
    statistic of ``exp(2 pi i values / unit)`` against its uniform-phase null ``sqrt(pi/(4n))``.
    The control is a fixed-N or shuffled run ``(values, counts)``; without one, the counts are
    shuffled across loops (it breaks the value-count link but keeps both distributions).

    Parameters
    ----------
    values : ndarray
        Free-energy change around each loop.
    counts : ndarray of int
        Net neuron change on each loop.
    unit : float
        The quantum (mu_c), non-zero.
    control : (values, counts), optional
    n_boot : int
    seed : int, SeedSequence, Generator or None
        Random state; a Generator is used as it is (draws continue the caller's stream).

    Returns
    -------
    QuantizationScore

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> n = rng.integers(-3, 4, 200)
    >>> s = quantization_score(n * 0.5 + rng.normal(0, 0.02, 200), n, 0.5)
    >>> s.quantized, round(s.slope, 2)
    (True, 1.0)
    """
    rng: np.random.Generator = seed
    v = np.asarray(values, dtype=float).ravel()
    c = np.asarray(counts).ravel()
    if v.shape != c.shape:
        raise ValueError(f"counts: {c.size} entries; expected one per value ({v.size})")
    if not np.all(np.isfinite(v)):
        raise ValueError("values: NaN/Inf entries; expected finite free-energy changes")
    cf = c.astype(float) if c.dtype.kind in "biuf" else np.full(c.shape, np.nan)
    if not np.all(np.isfinite(cf)) or np.any(cf != np.round(cf)):
        raise ValueError("counts: non-integer entries; expected net neuron changes (integers)")
    unit = float(unit)
    if not np.isfinite(unit) or unit == 0:
        raise ValueError(f"unit: {unit!r}; expected a finite non-zero quantum (mu_c)")
    n_boot = check_integer("n_boot", n_boot, 10)
    c = c.astype(float)
    use = c != 0
    vu, cu = v[use], c[use]
    n = int(use.sum())
    slope, r2 = _slope_r2(vu, cu * unit)
    R, p = _rayleigh(vu, unit)
    if n >= 3:
        idx = rng.integers(0, n, (n_boot, n))
        xs = cu[idx] * unit
        den = np.sum(xs**2, axis=1)
        bs = np.sum(xs * vu[idx], axis=1)[den > 0] / den[den > 0]
        ci = tuple(float(b) for b in np.quantile(bs, [0.025, 0.975]))
    else:
        ci = (float("nan"), float("nan"))
    if control is not None:
        cv = np.asarray(control[0], dtype=float).ravel()
        cc = np.asarray(control[1], dtype=float).ravel()
        if cv.shape != cc.shape or not np.all(np.isfinite(cv)):
            raise ValueError("control: expected (values, counts) of equal length, finite")
        cu_mask = cc != 0
        c_slope, _ = _slope_r2(cv[cu_mask], cc[cu_mask] * unit)
        c_R, _ = _rayleigh(cv[cu_mask], unit)
    else:
        c_slope, _ = _slope_r2(vu, rng.permutation(cu) * unit) if n else (np.nan, np.nan)
        c_R, _ = _rayleigh(rng.permutation(v)[:n], unit) if n else (np.nan, np.nan)
    beats = not np.isfinite(c_slope) or abs(slope - 1) < abs(c_slope - 1)
    quantized = bool(n >= 5 and p < 0.01 and ci[0] <= 1 <= ci[1] and r2 > 0.9 and beats)
    return QuantizationScore(
        n_loops=n,
        n_excluded=int(v.size - n),
        slope=slope,
        slope_ci=ci,
        r2=r2,
        rayleigh=R,
        rayleigh_null=float(np.sqrt(np.pi / (4 * n))) if n else float("nan"),
        rayleigh_p=p,
        control_rayleigh=c_R,
        control_slope=c_slope,
        quantized=quantized,
    )


def consistency_gap(hbar_madelung: Any, mu_c: float, mass: float | None = None) -> float:
    """Relative gap ``(hbar - |mu_c|/2pi) / (|mu_c|/2pi)`` between the Madelung hbar and mu_c.

    Parameters
    ----------
    hbar_madelung : float or object
        hbar itself, or a fit with ``hbar_over_m`` (then ``mass`` is required).
    mu_c : float
        Configured chemical potential (non-zero).
    mass : float, optional
        The mass convention used to turn ``hbar_over_m`` into hbar.

    Returns
    -------
    float
        0 when the two definitions agree (docs/physics.md#wave-function-and-consistency-condition);
        signed.

    Examples
    --------
    >>> round(consistency_gap(1.1, 2 * 3.141592653589793), 6)
    0.1
    """
    if hasattr(hbar_madelung, "hbar_over_m"):
        if mass is None:
            raise ValueError("mass: None; a fit gives hbar_over_m, so state the mass convention")
        hbar = check_positive(
            "hbar_madelung.hbar_over_m", hbar_madelung.hbar_over_m
        ) * check_positive("mass", mass)
    else:
        hbar = check_positive("hbar_madelung", hbar_madelung)
    mu = float(mu_c)
    if not np.isfinite(mu) or mu == 0:
        raise ValueError(f"mu_c: {mu_c!r}; expected a finite non-zero chemical potential")
    ref = abs(mu) / (2 * np.pi)
    return float((hbar - ref) / ref)
