"""The claims of the ``worlds`` scenario, declared as data, and one verdict function each.

Every claim is about replicas coupled through a density neuron whose coupling, coefficient,
frictionless inertia and at-rest starts are put in by hand: the first four are positive controls
and measuring devices of the construction, not evidence for the paper. ``m`` is the table of
:func:`scenarios.worlds.measures.measure_arms`, ``cells`` that of
:func:`scenarios.worlds.measures.budget_cells`. The known-answer runs are deterministic (exact
gradients, no noise): their intervals have zero width.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.verdicts import Claim, Verdict
from models.coupling import ground_configuration
from scenarios.worlds.known_answers import HAND
from scenarios.worlds.measures import line_q, var_g

__all__ = [
    "BREATHING",
    "BUDGET",
    "CLAIMS",
    "GROUND",
    "SHAPE",
    "SPREADING",
    "breathing_law",
    "friction_budget",
    "ground_shape",
    "ground_width",
    "spreading_law",
    "verdicts",
]

GROUND = Claim(
    f"zero-point width Var_g = (1 - 1/N)/2 ({HAND})",
    f"|Var / Var_g - 1|, HDW density neuron relaxed from normal quantiles ({HAND})",
    0.005,
    "<",
    "coupling off (c_F = 0, same integrator)",
    "the exact HDW ground configuration (static minimum, Newton)",
    "worlds",
)
BREATHING = Claim(
    f"undamped 2-omega breathing between Var0 and Var_g^2/Var0 ({HAND})",
    f"max relative deviation of Var(k pi/2) from the breathing law, two periods ({HAND})",
    0.02,
    "<",
    "coupling off (the replicas focus to Var = 0)",
    "Calogero 1/gap^2 repulsion tuned to Var_g (scale invariance plants the law)",
    "worlds",
)
SHAPE = Claim(
    f"the ground shape is Gaussian, the Schrodinger-specific signature ({HAND})",
    f"|excess kurtosis - that of N Gaussian quantiles|, relaxed HDW ground ({HAND})",
    0.05,
    "<",
    "Calogero ground (semicircle, the same width)",
    "the exact HDW ground configuration (static minimum, Newton)",
    "worlds",
)
SPREADING = Claim(
    f"free spreading follows the 1/sigma0^2 law ({HAND})",
    f"|ratio / (1 - 1/N)^2 - 1|, ratio = (Var(t) - Var0) Var0 / (t/2)^2 at t = 2 ({HAND})",
    0.02,
    "<",
    "coupling off (at rest: no spreading)",
    "Calogero 1/gap^2 repulsion tuned to Var_g",
    "worlds",
)
BUDGET = Claim(
    f"heavy-ball friction (1 - beta)/omega = 1 kills the 2-omega line ({HAND})",
    f"Q of the 2-omega line at (1 - beta)/omega = 1, T = 0, 20 replicas ({HAND})",
    5.0,
    "<",
    "(1 - beta)/omega = 0.03 (light friction keeps the line)",
    "a planted damped line with Q = 1 through the same fit",
    "worlds",
)
CLAIMS: tuple[Claim, ...] = (GROUND, BREATHING, SHAPE, SPREADING, BUDGET)


def _row(m: pd.DataFrame, arm: str) -> pd.Series:
    return m[m.arm == arm].iloc[0]


def ground_width(m: pd.DataFrame) -> Verdict:
    """The relaxed HDW ground variance against ``Var_g``.

    Examples
    --------
    >>> m = pd.DataFrame({"arm": ["ground_hdw", "ground_off"], "n": [20, 20],
    ...                   "deviation": [0.0003, 1.0]})
    >>> ground_width(m).verdict
    'supported'
    """
    hdw = _row(m, "ground_hdw")
    n = int(hdw.n)
    positive = abs(float(np.var(ground_configuration(n))) / var_g(n) - 1.0)
    d = float(hdw.deviation)
    return GROUND.verdict(d, d, d, float(_row(m, "ground_off").deviation), positive)


def breathing_law(m: pd.DataFrame) -> Verdict:
    """The squeezed HDW breathing against ``Var0 cos^2 t + Var_g^2/Var0 sin^2 t``.

    Examples
    --------
    >>> m = pd.DataFrame({"arm": ["breathing_hdw", "breathing_off", "breathing_calogero"],
    ...                   "deviation": [0.002, 1.0, 0.002]})
    >>> breathing_law(m).verdict
    'supported'
    """
    d = float(_row(m, "breathing_hdw").deviation)
    control = float(_row(m, "breathing_off").deviation)
    positive = float(_row(m, "breathing_calogero").deviation)
    return BREATHING.verdict(d, d, d, control, positive)


def ground_shape(m: pd.DataFrame) -> Verdict:
    """The relaxed HDW ground's excess kurtosis against N Gaussian quantiles'; control the
    Calogero ground; positive control the exact HDW ground configuration.

    Examples
    --------
    >>> m = pd.DataFrame({"arm": ["ground_hdw", "ground_calogero"], "n": [100, 100],
    ...                   "kurtosis": [-0.174, -1.003], "kurtosis_gauss": [-0.166, -0.166]})
    >>> ground_shape(m).verdict
    'supported'
    """
    hdw = _row(m, "ground_hdw")
    ref = float(hdw.kurtosis_gauss)
    d = abs(float(hdw["kurtosis"]) - ref)
    control = abs(float(_row(m, "ground_calogero")["kurtosis"]) - ref)
    x = ground_configuration(int(hdw.n))
    positive = abs(float(np.mean(x**4) / np.var(x) ** 2 - 3.0) - ref)
    return SHAPE.verdict(d, d, d, control, positive)


def spreading_law(m: pd.DataFrame) -> Verdict:
    """Free spreading of the HDW arm against ``(1 - 1/N)^2``.

    Examples
    --------
    >>> m = pd.DataFrame({"arm": ["spreading_hdw", "spreading_off", "spreading_calogero"],
    ...                   "deviation": [1e-6, 1.0, 1e-6]})
    >>> spreading_law(m).verdict
    'supported'
    """
    d = float(_row(m, "spreading_hdw").deviation)
    control = float(_row(m, "spreading_off").deviation)
    positive = float(_row(m, "spreading_calogero").deviation)
    return SPREADING.verdict(d, d, d, control, positive)


def friction_budget(cells: pd.DataFrame) -> Verdict:
    """Q of the 2-omega line at friction 1 (T = 0, smallest gamma) with its interval; control
    friction 0.03; positive control a synthetic line of Q = 1 through :func:`line_q`.

    Examples
    --------
    >>> cells = pd.DataFrame({"friction": [0.03, 1.0], "gamma": [0.0025, 0.0025],
    ...     "T_over_hbar_omega": [0.0, 0.0], "noise": ["none", "none"], "q": [60.0, 1.3],
    ...     "q_low": [60.0, 1.3], "q_high": [60.0, 1.3]})
    >>> friction_budget(cells).verdict
    'supported'
    """
    c = cells[(cells.noise == "none") & (cells.gamma == cells.gamma.min())]
    hot = c[np.isclose(c.friction, 1.0)].iloc[0]
    light = c[np.isclose(c.friction, 0.03)].iloc[0]
    t = np.linspace(0.0, 4 * math.pi, 252)
    positive = line_q(t, 0.6 + 0.4 * np.exp(-t) * np.cos(2 * t))[0]
    return BUDGET.verdict(
        float(hot.q), float(hot.q_low), float(hot.q_high), float(light.q), positive
    )


def verdicts(m: pd.DataFrame, cells: pd.DataFrame) -> list[Verdict]:
    """Every claim's verdict, in the order of :data:`CLAIMS`.

    Examples
    --------
    >>> len(CLAIMS)
    5
    """
    known = [ground_width(m), breathing_law(m), ground_shape(m), spreading_law(m)]
    return [*known, friction_budget(cells)]
