"""The claims of the ``transition`` scenario, declared as data, and one verdict function each.

Each claim's threshold, sense, null control and positive control live in its
:class:`analysis.verdicts.Claim` below and nowhere else; a verdict function reads the numbers
measured by :mod:`scenarios.transition.measures` (``res``: one dict per SGD arm; ``pos``: the
positive control) and judges them with :meth:`~analysis.verdicts.Claim.verdict`.
"""

from __future__ import annotations

import math
from typing import Any

from analysis.verdicts import Claim, Verdict

__all__ = [
    "CLAIMS",
    "FOKKER_PLANCK",
    "HBAR_ROUTES",
    "JUDGES",
    "MADELUNG",
    "NELSON_HARMONIC",
    "REALTIME",
    "SCHRODINGER",
    "fokker_planck",
    "hbar_routes_agree",
    "madelung_fixed_n",
    "realtime_signatures",
    "schrodinger_adaptive",
    "verdicts",
]

Results = dict[str, dict[str, Any]]

NELSON_HARMONIC = "Nelson trajectories of a 2-D harmonic superposition with known hbar"
SHUFFLED = "replicas shuffled between steps"

FOKKER_PLANCK = Claim(
    "Fokker-Planck form",
    "|ln(tr D_KM / tr gamma^2 Sigma_q/2M)|, canonical",
    0.15,
    "<",
    SHUFFLED,
    "",
    "transition",
)
MADELUNG = Claim(
    "Madelung (fixed N)",
    "momentum residual / noise floor, canonical",
    2.0,
    "<",
    SHUFFLED,
    NELSON_HARMONIC,
    "transition",
)
SCHRODINGER = Claim(
    "Schrödinger (adaptive)",
    "Hellinger/floor Schrödinger over Fokker-Planck after quench, adaptive",
    1.0,
    "<",
    "canonical_at_final",
    NELSON_HARMONIC,
    "transition",
)
HBAR_ROUTES = Claim(
    "independent hbar routes agree",
    "max |ln(hbar_route / mean)|: weak form, 2mD, |mu_c|/2pi; adaptive",
    math.log(1.5),
    "<",
    "canonical_at_final",
    NELSON_HARMONIC,
    "transition",
)
REALTIME = Claim(
    "real-time signatures",
    "persistence of the strongest line of <q>, <q^2> after quench, adaptive",
    0.8,
    ">",
    "no_change",
    NELSON_HARMONIC,
    "transition",
)
CLAIMS: tuple[Claim, ...] = (FOKKER_PLANCK, MADELUNG, SCHRODINGER, HBAR_ROUTES, REALTIME)


def fokker_planck(res: Results, pos: dict[str, Any]) -> Verdict:
    """Canonical arm: |ln(tr D_KM / tr gamma^2 Sigma_q / 2M)| (the CI of |x| from that of x).

    Examples
    --------
    >>> res = {"canonical": {"fp": -0.05, "fp_ci": (-0.1, 0.02), "fp_control": 0.9}}
    >>> v = fokker_planck(res, {})
    >>> v.value, (v.ci_low, v.ci_high), v.verdict
    (0.05, (0.0, 0.1), 'supported')
    """
    del pos
    can = res["canonical"]
    lo, hi = can["fp_ci"]
    ci = (0.0 if lo * hi <= 0 else min(abs(lo), abs(hi)), max(abs(lo), abs(hi)))
    return FOKKER_PLANCK.verdict(abs(can["fp"]), ci[0], ci[1], abs(can["fp_control"]))


def madelung_fixed_n(res: Results, pos: dict[str, Any]) -> Verdict:
    """Canonical arm: weak-form momentum residual over the positive control's noise floor.

    The CI is the spread over windows (a missing bound falls back to the value).

    Examples
    --------
    >>> res = {"canonical": {"madelung_ratio": 1.2, "madelung_ci": (0.9, float("nan")),
    ...                      "madelung_control": 30.0}}
    >>> v = madelung_fixed_n(res, {"madelung_ratio": 1.0})
    >>> (v.ci_low, v.ci_high), v.verdict
    ((0.9, 1.2), 'supported')
    """
    can = res["canonical"]
    lo, hi = _finite_ci(can["madelung_ci"], can["madelung_ratio"])
    return MADELUNG.verdict(
        can["madelung_ratio"], lo, hi, can["madelung_control"], pos["madelung_ratio"]
    )


def schrodinger_adaptive(res: Results, pos: dict[str, Any]) -> Verdict:
    """Adaptive arm: median Hellinger/floor of the Schrödinger over the Fokker-Planck prediction.

    Examples
    --------
    >>> res = {"adaptive": {"ratio": 1.1, "ratio_ci": (0.9, 1.3)},
    ...        "canonical_at_final": {"ratio": 1.0}}
    >>> schrodinger_adaptive(res, {"ratio": 0.3}).verdict
    'inconclusive'
    """
    ada, fin = res["adaptive"], res["canonical_at_final"]
    return SCHRODINGER.verdict(ada["ratio"], *ada["ratio_ci"], fin["ratio"], pos["ratio"])


def hbar_routes_agree(res: Results, pos: dict[str, Any]) -> Verdict:
    """Adaptive arm: max |ln(hbar_route / mean)| over the weak-form, 2mD and |mu_c|/2pi routes.

    Examples
    --------
    >>> res = {"adaptive": {"routes_spread": (2.0, 1.5, 2.5)},
    ...        "canonical_at_final": {"routes_spread": (2.2, 1.0, 3.0)}}
    >>> hbar_routes_agree(res, {"routes_spread": (0.1, 0.0, 0.2)}).verdict
    'not supported'
    """
    ada, fin = res["adaptive"], res["canonical_at_final"]
    value, lo, hi = ada["routes_spread"]
    return HBAR_ROUTES.verdict(value, lo, hi, fin["routes_spread"][0], pos["routes_spread"][0])


def realtime_signatures(res: Results, pos: dict[str, Any]) -> Verdict:
    """Adaptive arm: persistence of the strongest line of <q>, <q^2> after the quench.

    Examples
    --------
    >>> res = {"adaptive": {"persistence": (0.0, 0.0, 0.0)},
    ...        "no_change": {"persistence": (0.0, 0.0, 0.0)}}
    >>> realtime_signatures(res, {"persistence": (0.95, 0.9, 1.0)}).verdict
    'not supported'
    """
    ada, still = res["adaptive"], res["no_change"]
    value, lo, hi = ada["persistence"]
    return REALTIME.verdict(value, lo, hi, still["persistence"][0], pos["persistence"][0])


JUDGES = (
    fokker_planck,
    madelung_fixed_n,
    schrodinger_adaptive,
    hbar_routes_agree,
    realtime_signatures,
)
"""One verdict function per claim, in the order of :data:`CLAIMS`."""


def verdicts(res: Results, pos: dict[str, Any]) -> list[Verdict]:
    """Every claim's verdict, in the order of :data:`CLAIMS`.

    Examples
    --------
    >>> [f.__name__ for f in JUDGES][:2]
    ['fokker_planck', 'madelung_fixed_n']
    >>> len(JUDGES) == len(CLAIMS)  # one function per claim
    True
    """
    return [judge(res, pos) for judge in JUDGES]


def _finite_ci(ci: tuple[float, float], value: float) -> tuple[float, float]:
    lo, hi = ci
    lo = lo if math.isfinite(lo) else value
    hi = hi if math.isfinite(hi) else value
    return min(lo, value), max(hi, value)
