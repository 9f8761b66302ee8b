"""The claims of the ``particles`` scenario, declared as data, and one verdict function each.

Both claims are about the frozen harmonic potential ``V = k theta^2 / 2`` (the known answers
of the neuron-particle picture); their positive control is the pure-branching arm
(``eta = 0``), whose width ``sqrt(2 D / alpha k)`` is the imaginary-time ground state with
hbar = 1/alpha, and their null controls are particles with the same settings but Boltzmann
statistics. ``m`` is the table of :func:`scenarios.particles.measures.measure_arms`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.verdicts import Claim, Verdict

__all__ = ["CLAIMS", "CROSSOVER", "JUDGES", "PERRON", "crossover_law", "perron_state", "verdicts"]

POSITIVE = "pure branching (eta = 0): Var = sqrt(2 D / alpha k)"
TOLERANCE = math.log(1.03)

PERRON = Claim(
    "clone/kill births give the Perron ground state",
    "|ln(Var / Var_Perron)|, frozen harmonic at r = 1",
    TOLERANCE,
    "<",
    "entropy-aware births (rate Psi + T ln rho)",
    POSITIVE,
    "particles",
)
CROSSOVER = Claim(
    "crossover law Var/(T/k) = 2/(1 + sqrt(1 + r))",
    "max over r in [0.01, 100] of |ln(Var k / T) - ln(2 / (1 + sqrt(1 + r)))|",
    TOLERANCE,
    "<",
    "fixed N (alpha = 0) against the law at r = 1",
    POSITIVE,
    "particles",
)
CLAIMS: tuple[Claim, ...] = (PERRON, CROSSOVER)


def _log_dev(row: pd.Series, reference: float) -> tuple[float, float, float]:
    """|ln(Var / reference)| with its interval (from the variance's)."""
    devs = np.log(np.array([row.variance, row.variance_low, row.variance_high]) / reference)
    value = float(abs(devs[0]))
    lo, hi = float(devs[1]), float(devs[2])
    low = 0.0 if lo * hi <= 0 else min(abs(lo), abs(hi))
    return value, low, max(abs(lo), abs(hi))


def _row(m: pd.DataFrame, arm: str) -> pd.Series:
    return m[m.arm == arm].iloc[0]


def _positive(m: pd.DataFrame) -> float:
    pos = _row(m, "pure_branching")
    return _log_dev(pos, pos.predicted)[0]


def perron_state(m: pd.DataFrame) -> Verdict:
    """Grand-canonical arm at r = 1 against the Perron variance; control: entropy-aware arm.

    Examples
    --------
    >>> m = pd.DataFrame({"arm": ["grand_canonical", "entropy_aware", "pure_branching"],
    ...                   "variance": [0.0830, 0.1004, 0.1995],
    ...                   "variance_low": [0.0825, 0.0999, 0.1990],
    ...                   "variance_high": [0.0835, 0.1009, 0.2000],
    ...                   "predicted": [0.0828, 0.0828, 0.2]})
    >>> perron_state(m).verdict
    'supported'
    """
    gc = _row(m, "grand_canonical")
    value, lo, hi = _log_dev(gc, gc.predicted)
    control = _log_dev(_row(m, "entropy_aware"), gc.predicted)[0]
    return PERRON.verdict(value, lo, hi, control, _positive(m))


def crossover_law(m: pd.DataFrame) -> Verdict:
    """Worst crossover arm against ``2 / (1 + sqrt(1 + r))``; control: the fixed-N arm against
    the law at r = 1.

    Examples
    --------
    >>> law = lambda r: 0.1 * 2 / (1 + np.sqrt(1 + r))
    >>> m = pd.DataFrame({"arm": ["crossover_0_a", "crossover_1_a", "fixed_n", "pure_branching"],
    ...                   "family": ["crossover", "crossover", "control", "positive"],
    ...                   "r": [0.1, 10.0, 0.0, np.inf], "T": [0.1, 0.1, 0.1, np.inf],
    ...                   "variance": [law(0.1), law(10.0), 0.1, 0.2],
    ...                   "variance_low": [law(0.1) * 0.99, law(10.0) * 0.99, 0.099, 0.199],
    ...                   "variance_high": [law(0.1) * 1.01, law(10.0) * 1.01, 0.101, 0.201],
    ...                   "predicted": [law(0.1), law(10.0), 0.1, 0.2]})
    >>> v = crossover_law(m)
    >>> v.verdict, round(v.value, 6)
    ('supported', 0.0)
    """
    sweep = m[m.family == "crossover"]
    vals, lows, highs = [], [], []
    for row in sweep.itertuples(index=False):
        law = row.T * 2 / (1 + math.sqrt(1 + row.r))
        value, lo, hi = _log_dev(pd.Series(row._asdict()), law)
        vals.append(value)
        lows.append(lo)
        highs.append(hi)
    fixed = _row(m, "fixed_n")
    control = _log_dev(fixed, fixed["T"] * 2 / (1 + math.sqrt(2.0)))[0]
    return CROSSOVER.verdict(max(vals), max(lows), max(highs), control, _positive(m))


JUDGES = (perron_state, crossover_law)


def verdicts(m: pd.DataFrame) -> list[Verdict]:
    """Every claim's verdict, in the order of :data:`CLAIMS`.

    Examples
    --------
    >>> len(JUDGES) == len(CLAIMS)
    True
    """
    return [judge(m) for judge in JUDGES]
