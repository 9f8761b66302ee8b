"""Measurements of the ``worlds`` scenario (coupling put in by hand).

Every arm's :class:`~scenarios.worlds.known_answers.WorldRecorder` table (``worlds``: ``arm,
step, t, var, mean, kurtosis, energy, n_sub``; t in 1/omega, var in hbar/(m omega)) is reduced
to one row per arm (:func:`measure_arms`), and the decoherence-budget runs to one row per cell
with confidence intervals over seeds (:func:`budget_cells`), whose boundary
(:func:`boundary`) is reported in ``(1 - beta)/omega`` and ``T/(hbar omega)``.

The 2-omega line: ``Var(t) = a + c t + b exp(-Gamma t) cos(Omega t + phi)`` fitted by least
squares (:func:`line_q`), ``Q = Omega / (2 Gamma)`` (capped at :data:`Q_CAP`; a line that does
not decay in the window has Q = Q_CAP).
"""

from __future__ import annotations

import math
import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.stats import t as student_t

__all__ = [
    "Q_CAP",
    "boundary",
    "breathing_deviation",
    "budget_cells",
    "line_q",
    "measure_arms",
    "spreading_ratio",
    "var_g",
]

Q_CAP = 1000.0
"""Largest reported line quality (a line undamped within the window)."""


def var_g(n: int) -> float:
    """The HDW ground variance ``(1 - 1/N) / 2`` (units hbar/(m omega)).

    Examples
    --------
    >>> var_g(100)
    0.495
    """
    return (1.0 - 1.0 / n) / 2.0


def _damped(t, a, c, b, g, w, ph):
    return a + c * t + b * np.exp(-g * t) * np.cos(w * t + ph)


def line_q(t: np.ndarray, var: np.ndarray) -> tuple[float, float, float]:
    """``(Q, Gamma, Omega)`` of the 2-omega line of a variance trace (see the module docstring).

    Examples
    --------
    >>> t = np.linspace(0, 4 * np.pi, 400)
    >>> q, g, w = line_q(t, 0.6 + 0.4 * np.exp(-0.1 * t) * np.cos(2 * t))
    >>> round(q, 3), round(g, 4), round(w, 4)
    (10.0, 0.1, 2.0)
    """
    t = np.asarray(t, float)
    v = np.asarray(var, float)
    amp = 0.5 * (v.max() - v.min())
    best = None
    for g0 in (0.01, 0.1, 1.0):
        p0 = [v.mean(), 0.0, amp if v[0] >= v.mean() else -amp, g0, 2.0, 0.0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                p, _ = curve_fit(_damped, t, v, p0=p0, maxfev=20000)
        except RuntimeError:
            continue
        err = float(np.sum((_damped(t, *p) - v) ** 2))
        if best is None or err < best[0]:
            best = (err, p)
    if best is None:
        return math.nan, math.nan, math.nan
    p = best[1]
    gamma, omega = float(p[3]), abs(float(p[4]))
    q = Q_CAP if gamma <= omega / (2 * Q_CAP) else omega / (2 * gamma)
    return float(q), gamma, omega


def breathing_deviation(df: pd.DataFrame, n: int, var0: float, var_ground: float) -> float:
    """Largest relative deviation of Var at ``t = k pi/2`` (nearest samples, k = 1, 2, ...
    within the trace) from the undamped breathing ``Var0`` (even k) and
    ``Var_ground^2 / Var0`` (odd k).

    Examples
    --------
    >>> t = np.arange(0, 2 * np.pi + 0.01, 0.05)
    >>> df = pd.DataFrame({"t": t, "var": np.cos(t) ** 2 + 0.245025 * np.sin(t) ** 2})
    >>> round(breathing_deviation(df, 100, 1.0, 0.495), 3)
    0.001
    """
    t = df["t"].to_numpy()
    v = df["var"].to_numpy()
    worst = 0.0
    k = 1
    while k * math.pi / 2 <= t[-1] + 1e-9:
        i = int(np.argmin(np.abs(t - k * math.pi / 2)))
        want = var_ground**2 / var0 if k % 2 else var0
        worst = max(worst, abs(v[i] / want - 1.0))
        k += 1
    return float(worst)


def spreading_ratio(df: pd.DataFrame, var0: float) -> float:
    """``(Var(t) - Var0) Var0 / (t/2)^2`` at the end of a free-spreading trace.

    Examples
    --------
    >>> spreading_ratio(pd.DataFrame({"t": [0.0, 2.0], "var": [1.0, 1.98]}), 1.0)
    0.98
    """
    t = float(df["t"].iloc[-1])
    return float((df["var"].iloc[-1] - var0) * var0 / (t / 2.0) ** 2)


def _excess_kurtosis_gauss(n: int) -> float:
    nd = NormalDist()
    z = np.array([nd.inv_cdf((i + 0.5) / n) for i in range(n)])
    return float(np.mean(z**4) / np.var(z) ** 2 - 3.0)


def measure_arms(worlds: pd.DataFrame, arms: pd.DataFrame) -> pd.DataFrame:
    """One row per known-answer arm: ``arm, family, estimator, coupling, n, var0, value,
    predicted, deviation, kurtosis, q, energy_drift``.

    ``value`` is the ground variance (mean over the last tenth), the worst breathing deviation
    or the final spreading ratio, by family; ``predicted`` the known answer; ``deviation``
    ``|value / predicted - 1|`` (ground, spreading) or the breathing deviation itself.
    ``energy_drift`` is the fitted linear trend of the energy over the run, relative.
    """
    rows = []
    for s in arms.itertuples(index=False):
        if s.family == "budget":
            continue
        df = worlds[worlds.arm == s.arm]
        n = int(s.n)
        vg = var_g(n)
        kurt = float(df["kurtosis"].iloc[-1])
        e = df["energy"].to_numpy()
        drift = math.nan
        if e.size > 2 and e[0] != 0:
            slope = np.polyfit(df["t"].to_numpy(), e, 1)[0]
            drift = float(abs(slope * df["t"].iloc[-1]) / abs(e[0]))
        q = math.nan
        if s.family == "ground":
            value = float(df["var"].iloc[-max(2, len(df) // 10) :].mean())
            predicted = vg
            deviation = abs(value / predicted - 1.0)
        elif s.family == "breathing":
            value = breathing_deviation(df, n, float(s.var0), vg)
            predicted = 0.0
            deviation = value
            q = line_q(df["t"].to_numpy(), df["var"].to_numpy())[0]
        else:  # spreading
            value = spreading_ratio(df, float(s.var0))
            predicted = 4 * vg**2
            deviation = abs(value / predicted - 1.0)
        rows.append(
            {
                "arm": s.arm,
                "family": s.family,
                "estimator": s.estimator,
                "coupling": bool(s.coupling),
                "n": n,
                "var0": float(s.var0),
                "value": float(value),
                "predicted": float(predicted),
                "deviation": float(deviation),
                "kurtosis": kurt,
                "kurtosis_gauss": _excess_kurtosis_gauss(n),
                "q": float(q),
                "energy_drift": drift,
            }
        )
    return pd.DataFrame(rows)


def _ci(values: np.ndarray) -> tuple[float, float, float]:
    v = np.asarray(values, float)
    mean = float(np.mean(v))
    if v.size < 2 or np.all(v == v[0]):
        return mean, mean, mean
    half = float(student_t.ppf(0.975, v.size - 1) * np.std(v, ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def budget_cells(worlds: pd.DataFrame, arms: pd.DataFrame) -> pd.DataFrame:
    """One row per decoherence-budget cell (friction, M, gamma, noise source): the line Q of
    the squeezed runs (geometric mean over seeds) and the ground-width shift of the
    ground-start runs (mean), each with a 95 % t-interval over seeds, ``T_target`` (the
    derived T rounded to one significant figure, the grid's target), and ``survives``
    (Q >= 5 and |shift| <= 10 %).
    """
    b = arms[arms.family == "budget"]
    rows = []
    keys = ["friction", "batch_size", "gamma", "noise", "T_over_hbar_omega"]
    for key, cell in b.groupby(keys, sort=True):
        qs, shifts = [], []
        for s in cell.itertuples(index=False):
            df = worlds[worlds.arm == s.arm]
            if s.start_kind == "squeezed":
                qs.append(line_q(df["t"].to_numpy(), df["var"].to_numpy())[0])
            else:
                half = df["var"].iloc[len(df) // 2 :]
                shifts.append(float(half.mean()) / var_g(int(s.n)) - 1.0)
        q, q_lo, q_hi = _ci(np.log(np.asarray(qs)))
        sh, sh_lo, sh_hi = _ci(np.asarray(shifts))
        friction, m, gamma, noise, temperature = key
        rows.append(
            {
                "friction": float(friction),
                "batch_size": int(m),
                "gamma": float(gamma),
                "T_over_hbar_omega": float(temperature),
                "T_target": float(f"{temperature:.1g}"),
                "noise": noise,
                "q": math.exp(q),
                "q_low": math.exp(q_lo),
                "q_high": math.exp(q_hi),
                "width_shift": sh,
                "width_shift_low": sh_lo,
                "width_shift_high": sh_hi,
                "seeds": len(qs),
                "survives": bool(math.exp(q) >= 5.0 and abs(sh) <= 0.10),
            }
        )
    return pd.DataFrame(rows)


def _crossing(x: np.ndarray, y: np.ndarray, level: float) -> float:
    """The x (log-interpolated) where y first falls below (rising x) ``level``; NaN if never
    crossed, -inf if below from the start, inf if never below."""
    order = np.argsort(x)
    x, y = np.asarray(x, float)[order], np.asarray(y, float)[order]
    if y[0] < level:
        return -math.inf
    for i in range(1, x.size):
        if y[i] < level:
            lx0, lx1 = math.log(x[i - 1]), math.log(x[i])
            ly0, ly1 = math.log(y[i - 1]), math.log(y[i])
            f = (math.log(level) - ly0) / (ly1 - ly0)
            return math.exp(lx0 + f * (lx1 - lx0))
    return math.inf


def boundary(cells: pd.DataFrame) -> dict[str, float]:
    """The survival boundary of the budget (SGD-noise cells at the smallest gamma):
    ``friction_c`` where Q falls to 5 at T = 0 (with its interval from the Q intervals),
    ``temperature_c`` where the width shift reaches 10 % at the largest friction whose
    noise-free line has Q >= 5 (``friction_for_temperature``; interval from the shift
    intervals of ``|shift|``), and ``temperature_c_f<friction>`` at every friction (log
    interpolation; ``inf``: not reached on the grid, ``-inf``: reached below the grid).

    Examples
    --------
    >>> cells = pd.DataFrame({"friction": [0.1, 1.0, 0.1, 0.1], "batch_size": [0, 0, 10, 1],
    ...     "gamma": [0.01] * 4, "T_over_hbar_omega": [0.0, 0.0, 0.01, 0.1],
    ...     "noise": ["none", "none", "sgd", "sgd"], "q": [20.0, 2.0, 19.0, 18.0],
    ...     "q_low": [20.0, 2.0, 18.0, 17.0], "q_high": [20.0, 2.0, 20.0, 19.0],
    ...     "width_shift": [0.0, 0.0, 0.01, 0.3], "width_shift_low": [0.0, 0.0, 0.0, 0.2],
    ...     "width_shift_high": [0.0, 0.0, 0.02, 0.4]})
    >>> edge = boundary(cells)
    >>> round(edge["friction_c"], 3), round(edge["temperature_c"], 4), edge["temperature_c_f1"]
    (0.4, 0.019, nan)
    """
    cells = cells[cells.noise != "explicit"]
    g0 = cells["gamma"].min()
    c = cells[cells.gamma == g0]
    cold = c[c.T_over_hbar_omega == 0]
    out = {
        "friction_c": _crossing(cold.friction.to_numpy(), cold.q.to_numpy(), 5.0),
        "friction_c_low": _crossing(cold.friction.to_numpy(), cold.q_low.to_numpy(), 5.0),
        "friction_c_high": _crossing(cold.friction.to_numpy(), cold.q_high.to_numpy(), 5.0),
    }

    def cross(temps: np.ndarray, shift: np.ndarray) -> float:
        # |shift| reaches 0.1 where 1.1 - |shift| falls to 1
        margin = np.maximum(1.1 - np.abs(shift), 1e-9)
        return _crossing(temps, margin, 1.0) if temps.size else math.nan

    for z in sorted(c.friction.unique()):
        warm = c[(c.friction == z) & (c.T_over_hbar_omega > 0)]
        temps = warm.T_over_hbar_omega.to_numpy()
        out[f"temperature_c_f{z:g}"] = cross(temps, warm.width_shift.to_numpy())
    # the headline: the largest friction whose noise-free line still has Q >= 5
    alive = cold[cold.q >= 5.0]
    z0 = float(alive.friction.max()) if len(alive) else float(c.friction.min())
    warm = c[(c.friction == z0) & (c.T_over_hbar_omega > 0)]
    temps = warm.T_over_hbar_omega.to_numpy()
    out["temperature_c"] = cross(temps, warm.width_shift.to_numpy())
    # the interval of |shift| from that of the shift (it contains 0 when the shift's does)
    lo, hi = warm.width_shift_low.to_numpy(), warm.width_shift_high.to_numpy()
    abs_hi = np.maximum(np.abs(lo), np.abs(hi))
    abs_lo = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    out["temperature_c_low"] = cross(temps, abs_hi)
    out["temperature_c_high"] = cross(temps, abs_lo)
    out["friction_for_temperature"] = float(z0)
    return out
