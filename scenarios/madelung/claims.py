"""The claims of the ``madelung`` scenario, declared as data, and one verdict function each.

Each claim's statistic, threshold, sense, null control and positive control live in its
:class:`analysis.verdicts.Claim` below and nowhere else. A verdict function takes the numbers
measured by :mod:`scenarios.madelung.measures` (and its positive control's value, measured by
:mod:`scenarios.madelung.positive` with the same estimator) and judges them with
:meth:`~analysis.verdicts.Claim.verdict`; how each statistic is measured and why it is trusted
is in docs/methods.md.
"""

from __future__ import annotations

from typing import Any

from analysis.verdicts import Claim, Verdict

__all__ = [
    "CLAIMS",
    "ENTROPY_BUDGET",
    "FOKKER_PLANCK",
    "MADELUNG",
    "REALTIME",
    "entropy_budget",
    "fokker_planck_form",
    "madelung_fixed_n",
    "realtime_signatures",
]

FOKKER_PLANCK = Claim(
    "Fokker-Planck form",
    "|slope - 1| of D_KM on gamma^2 Sigma_hat/(2M) over the (gamma, M) grid",
    0.1,
    "<",
    "same fit against gamma Sigma_hat/(2M)",
    "Ornstein-Uhlenbeck ensembles with the planted diffusion tr D = gamma^2 Sigma_hat/(2M) at "
    "each grid cell (the cells' replicas, steps, mean and covariance)",
    "madelung",
)
ENTROPY_BUDGET = Claim(
    "entropy budget",
    "RMS relative closure of dS/dt = E[div A] + E[s^T D s] over windows (sgd arm)",
    0.25,
    "<",
    "same closure without the production term E[s^T D s]",
    "linear Gaussian process with known drift and diffusion (the sgd arm's linear drift and D, "
    "start, replicas and steps)",
    "madelung",
)
MADELUNG = Claim(
    "Madelung (fixed N)",
    "weak-form momentum residual / its floor on exact samples (sgd arm)",
    2.0,
    "<",
    "sgd arm with replicas shuffled between steps (no flow)",
    "Nelson trajectories of a 2-D harmonic superposition with known hbar = 1 in a known "
    "quadratic V (m = 1, 0.1 time unit per step: m = 1/(2 gamma) = 10 per step), the sgd arm's "
    "replicas and steps",
    "madelung",
)
REALTIME = Claim(
    "real-time signatures",
    "width exponent beta of early spreading, -dlog(Var(t)-Var(0))/dlog sigma0",
    1.0,
    ">",
    "momentum arm (heavy ball)",
    "Nelson free packets (hbar = m = 1)",
    "madelung",
)
CLAIMS: tuple[Claim, ...] = (FOKKER_PLANCK, ENTROPY_BUDGET, MADELUNG, REALTIME)


def _abs_dev(value: float, lo: float, hi: float, target: float = 1.0) -> tuple[float, float, float]:
    """|x - target| with the image of the interval [lo, hi]."""
    a, b = lo - target, hi - target
    low = 0.0 if a <= 0 <= b else min(abs(a), abs(b))
    return abs(value - target), low, max(abs(a), abs(b))


def fokker_planck_form(stats: dict[str, Any], positive: float) -> Verdict:
    """|slope - 1| of D_KM on the predicted diffusion over the grid (CI: image of the slope's).

    Parameters
    ----------
    stats : dict
        ``slope``, ``slope_ci`` and ``control_slope`` of
        :func:`scenarios.madelung.measures.fokker_planck_grid`.
    positive : float
        |slope - 1| of the same fit on the planted ensembles
        (:func:`scenarios.madelung.positive.fokker_planck_positive`).

    Examples
    --------
    >>> stats = {"slope": 1.02, "slope_ci": (0.97, 1.06), "control_slope": 9.0}
    >>> v = fokker_planck_form(stats, 0.004)
    >>> round(v.value, 3), (v.ci_low, round(v.ci_high, 3)), v.verdict, v.note
    (0.02, (0.0, 0.06), 'supported', '')
    >>> v = fokker_planck_form(stats, 0.3)  # the planted diffusion is not recovered
    >>> v.verdict, v.note
    ('inconclusive', 'positive control below detection')
    """
    value, lo, hi = _abs_dev(stats["slope"], *stats["slope_ci"])
    return FOKKER_PLANCK.verdict(value, lo, hi, abs(stats["control_slope"] - 1.0), positive)


def entropy_budget(stats: dict[str, Any], positive: float) -> Verdict:
    """RMS relative closure of the entropy budget on the ``sgd`` arm.

    Parameters
    ----------
    stats : dict
        ``closure``, ``ci`` and ``control`` of
        :func:`scenarios.madelung.measures.entropy_closure`.
    positive : float
        The same closure on the planted linear Gaussian process
        (:func:`scenarios.madelung.positive.entropy_positive`).

    Examples
    --------
    >>> v = entropy_budget({"closure": 0.3, "ci": (0.2, 0.4), "control": 0.9}, 0.05)
    >>> v.verdict, v.note
    ('inconclusive', 'CI straddles threshold')
    >>> entropy_budget({"closure": 0.06, "ci": (0.04, 0.09), "control": 0.5}, 0.05).verdict
    'supported'
    """
    return ENTROPY_BUDGET.verdict(stats["closure"], *stats["ci"], stats["control"], positive)


def madelung_fixed_n(res: dict[str, Any], positive: float) -> Verdict:
    """Momentum residual of the ``sgd`` arm over its floor on exact samples.

    The value is the ratio to the median floor draw, the CI its ratios to the largest and the
    smallest draw; the statistic names how V was held fixed.

    Parameters
    ----------
    res : dict
        ``ratios``, ``control`` and ``potential`` of
        :func:`scenarios.madelung.measures.madelung_residual`.
    positive : float
        The same ratio on the Nelson trajectories
        (:func:`scenarios.madelung.positive.madelung_positive`).

    Examples
    --------
    >>> res = {"ratios": {"sgd": (14.3, 9.8, 17.0)}, "control": 14.1, "potential": "V = F fixed"}
    >>> v = madelung_fixed_n(res, 1.2)
    >>> v.statistic
    'weak-form momentum residual / its floor on exact samples (V = F fixed, sgd arm)'
    >>> v.verdict, v.note
    ('not supported', '')
    >>> madelung_fixed_n(res, 2.04).note  # the Nelson control is not told apart from no flow
    'positive control below detection'
    """
    r, lo, hi = res["ratios"]["sgd"]
    return MADELUNG.verdict(
        r,
        lo,
        hi,
        res["control"],
        positive,
        statistic="weak-form momentum residual / its floor on exact samples "
        f"({res['potential']}, sgd arm)",
    )


def realtime_signatures(res: dict[str, Any]) -> Verdict:
    """Width exponent beta of early spreading: ``sgd`` arm, momentum control, Nelson packets.

    Parameters
    ----------
    res : dict
        ``spread`` of :func:`scenarios.madelung.measures.realtime_measures` (``sgd``,
        ``momentum``, ``nelson`` -> ``(beta, ci_low, ci_high, ...)``).

    Examples
    --------
    >>> spread = {"sgd": (0.01, -0.06, 0.09), "momentum": (0.0,), "nelson": (2.1,)}
    >>> v = realtime_signatures({"spread": spread})
    >>> v.positive_control_value, v.verdict
    (2.1, 'not supported')
    """
    spread = res["spread"]
    b, lo, hi = spread["sgd"][:3]
    return REALTIME.verdict(b, lo, hi, spread["momentum"][0], spread["nelson"][0])
