"""The claims of the ``particles`` scenario, declared as data, and one verdict function each.

Both claims are about the frozen harmonic potential ``V = k theta^2 / 2`` (the known answers
of the neuron-particle picture); their positive control is the pure-branching arm
(``eta = 0``), whose width ``sqrt(2 D / alpha k)`` is the imaginary-time ground state with
hbar = 1/alpha, and their null controls are particles with the same settings but Boltzmann
statistics. ``m`` is the table of :func:`scenarios.particles.measures.measure_arms`.

The third claim is about the real mean-field network: two (alpha, M) pairs at one crossover
number r (with eta following M, so that T and alpha/eta agree too) give one neuron density.
Its null control is the Boltzmann density of the same measured Psi (r = 0), its positive
control two frozen-harmonic triples at r = 1 whose densities agree in closed form; ``net`` is
the dict of :func:`scenarios.particles.measures.measure_network`.

The real-time null is required, not a weakness: the dynamics is imaginary time, so a
displaced population relaxes with no extremum beyond 6 standard errors in every displaced arm
(:func:`scenarios.particles.measures.measure_realtime`; control: a planted damped
oscillation; positive control: an exact exponential relaxation with the same noise), and two
packets that meet add up with no interference term (chi2/dof of the joint run against the
separate runs within [0.8, 1.25], i.e. ``|ln(chi2/dof)| < ln 1.25``;
:func:`scenarios.particles.measures.measure_collision`; control: the separate-run sum with a
planted 20 % interference term; positive control: two halves of the joint run's replicas).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.verdicts import Claim, Verdict

__all__ = [
    "CLAIMS",
    "CROSSOVER",
    "JUDGES",
    "NETWORK_PAIR",
    "NO_INTERFERENCE",
    "PERRON",
    "REALTIME_NULL",
    "crossover_law",
    "network_pair",
    "no_interference",
    "perron_state",
    "realtime_null",
    "verdicts",
]

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
NETWORK_PAIR = Claim(
    "one network density per crossover number r",
    "L1(pair a, pair b) / combined split-half floor, RBF network, clone/kill at fixed mu_c",
    2.0,
    "<",
    "pair a against the Boltzmann density of its own Psi (r = 0), L1 / floor",
    "frozen harmonic, two (alpha, D, eta) triples at r = 1: L1 / combined floor",
    "particles",
)
REALTIME_NULL = Claim(
    "real-time null: monotone relaxation after a displacement",
    "largest overshoot of the mean after a displacement / SE (6-SE rule), every displaced arm",
    6.0,
    "<",
    "planted damped oscillation exp(-0.01 t) cos(0.03 t), same noise",
    "exact relaxation (1 - eta k)^t, same noise",
    "particles",
)
NO_INTERFERENCE = Claim(
    "real-time null: colliding packets add up (no interference)",
    "|ln(chi2/dof)|, joint run against the separate runs, clone/kill at fixed mu_c",
    math.log(1.25),
    "<",
    "separate runs plus a planted 20 % interference term",
    "two halves of the joint run's replicas",
    "particles",
)
CLAIMS: tuple[Claim, ...] = (PERRON, CROSSOVER, NETWORK_PAIR, REALTIME_NULL, NO_INTERFERENCE)


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


def network_pair(net: dict) -> Verdict:
    """The two network arms at one r against each other (see the module docstring); without
    network arms every number is NaN (``inconclusive``).

    Examples
    --------
    >>> net = {"pair": {"ratio": 1.1, "ratio_low": 0.9, "ratio_high": 1.4, "control": 30.0,
    ...                 "positive": 1.2}}
    >>> network_pair(net).verdict
    'supported'
    """
    p = net.get("pair")
    if p is None:
        nan = math.nan
        return NETWORK_PAIR.verdict(nan, nan, nan, nan, nan)
    return NETWORK_PAIR.verdict(
        p["ratio"], p["ratio_low"], p["ratio_high"], p["control"], p["positive"]
    )


def realtime_null(rt: dict) -> Verdict:
    """The displaced arms' largest extremum (interval +-1 SE); NaN without displaced arms.

    Examples
    --------
    >>> realtime_null({"value": 2.5, "control": 40.0, "positive": 1.5}).verdict
    'supported'
    """
    nan = math.nan
    v = rt.get("value", nan)
    return REALTIME_NULL.verdict(
        v, max(v - 1.0, 0.0), v + 1.0, rt.get("control", nan), rt.get("positive", nan)
    )


def _ln_dev(v: float) -> float:
    return abs(math.log(v)) if v > 0 else math.nan


def no_interference(col: dict) -> Verdict:
    """The collision's chi2/dof against the separate runs; NaN without collision arms.

    Examples
    --------
    >>> col = {"ratio": 1.05, "low": 0.95, "high": 1.15, "control": 9.0, "positive": 1.0}
    >>> no_interference(col).verdict
    'supported'
    """
    nan = math.nan
    if not col:
        return NO_INTERFERENCE.verdict(nan, nan, nan, nan, nan)
    ends = [_ln_dev(col["low"]), _ln_dev(col["high"])]
    straddles = col["low"] <= 1.0 <= col["high"]
    lo = 0.0 if straddles else min(ends)
    return NO_INTERFERENCE.verdict(
        _ln_dev(col["ratio"]), lo, max(ends), _ln_dev(col["control"]), _ln_dev(col["positive"])
    )


JUDGES = (perron_state, crossover_law)


def verdicts(
    m: pd.DataFrame, net: dict | None = None, rt: dict | None = None, col: dict | None = None
) -> list[Verdict]:
    """Every claim's verdict, in the order of :data:`CLAIMS`.

    Examples
    --------
    >>> len(JUDGES) + 3 == len(CLAIMS)
    True
    """
    return [judge(m) for judge in JUDGES] + [
        network_pair(net or {}),
        realtime_null(rt or {}),
        no_interference(col or {}),
    ]
