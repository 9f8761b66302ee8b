"""The claims of the ``transition`` scenario, declared as data, and one verdict function each.

Each claim's threshold, sense, null control and positive control live in its
:class:`analysis.verdicts.Claim` below and nowhere else; a verdict function reads the numbers
measured by :mod:`scenarios.transition.measures` (``res``: one dict per SGD arm; ``pos``: the
positive control) and judges them with :meth:`~analysis.verdicts.Claim.verdict`.

:data:`REGIME` is the precondition of the adaptive-arm claims (:data:`DEPENDENT`): the run
must be in the paper's regime, hbar_2mD = 2 m D (m = 1 / (2 gamma)) equal to |mu_c| / 2 pi
within a factor 1.5 in every analysis window
(docs/physics.md#wave-function-and-consistency-condition). When it is not ``supported``, those
verdicts are ``inconclusive`` with the note ``regime not reached``: a claim about the regime
says nothing from a run outside it.

The real-time claim :data:`REALTIME` has two positive controls, and is decided only if both
pass in the same run (:func:`realtime_controls`): the Nelson trajectories and the ``worlds``
arm, replicas of the learning system coupled by hand (coupling put in by hand). The worlds
arm's line counts only when its narrowest width keeps :data:`WORLDS_FLOOR` of the zero-point
floor: the same replicas with the coupling off breathe with an equally undamped line (a
frictionless harmonic cloud released at rest), so persistence alone does not tell them apart.
Otherwise the verdict is ``inconclusive`` (``positive control below detection``) and its
``statistic`` names the failing control(s).
"""

from __future__ import annotations

import math
from typing import Any

from analysis.verdicts import REGIME_NOT_REACHED, Claim, Verdict, passes
from scenarios.worlds.known_answers import HAND

__all__ = [
    "BOUND_LIMIT",
    "CLAIMS",
    "DEPENDENT",
    "FOKKER_PLANCK",
    "HBAR_ROUTES",
    "JUDGES",
    "MADELUNG",
    "NELSON_HARMONIC",
    "REALTIME",
    "REGIME",
    "SCHRODINGER",
    "SETTLE_LIMIT",
    "WORLDS_FLOOR",
    "consistency_regime",
    "fokker_planck",
    "hbar_routes_agree",
    "madelung_fixed_n",
    "realtime_controls",
    "realtime_signatures",
    "regime_not_held",
    "schrodinger_adaptive",
    "verdicts",
    "worlds_score",
]

Results = dict[str, dict[str, Any]]

NELSON_HARMONIC = "Nelson trajectories of a 2-D harmonic superposition with known hbar, m = 1"
SHUFFLED = "replicas shuffled between steps"
BOUND_LIMIT = 0.10
"""The largest fraction of an analysis window a controller may sit at one of its bounds (for
the neuron count: of the window's replica-steps) with the regime held."""
SETTLE_LIMIT = 0.1
"""The standard deviation of ln gamma and of ln M over the second half of the window before the
quench below which the controllers have settled."""

REGIME = Claim(
    "consistency regime (precondition)",
    "max over windows |ln(hbar_2mD / (|mu_c|/2pi))|, hbar_2mD = 2 m D with m = 1/(2 gamma) and "
    "D the diffusion of q from jump-free increments; adaptive, before the quench and after it "
    f"(less T_settle); held only with no controller at a bound > {BOUND_LIMIT:.0%} of a window "
    f"and sd of ln gamma, ln M < {SETTLE_LIMIT:g} over the second half before the quench",
    math.log(1.5),
    "<",
    SHUFFLED,
    "Nelson trajectories with known hbar: max |ln(2 m D / hbar)|, m = 1",
    "transition",
)
FOKKER_PLANCK = Claim(
    "Fokker-Planck form",
    "|ln(tr D_KM / tr gamma^2 Sigma_q/2M)|, canonical",
    0.15,
    "<",
    SHUFFLED,
    "Ornstein-Uhlenbeck ensemble with the planted diffusion tr gamma^2 Sigma_q/2M (same "
    "replicas and steps)",
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
    "Hellinger/floor Schrödinger (weak-form hbar, m = 1/(2 gamma)) over Fokker-Planck after "
    "quench, adaptive",
    1.0,
    "<",
    "canonical_at_final",
    NELSON_HARMONIC,
    "transition",
)
HBAR_ROUTES = Claim(
    "independent hbar routes agree",
    "|ln(hbar_weak / hbar_2mD)|, m = 1/(2 gamma): the weak form (never enforced) against 2 m D "
    "(enforced: the controllers set it to |mu_c|/2pi); adaptive",
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
    f"both: {NELSON_HARMONIC}; the worlds arm, replicas of a 1-parameter quadratic loss coupled "
    f"on q_0 (beta = 1, no noise; {HAND}), its line counted only at >= 0.5 of the zero-point "
    "floor",
    "transition",
)
WORLDS_FLOOR = 0.5
"""The share of the zero-point floor (:func:`scenarios.transition.measures.zero_point_floor`)
the worlds arm's narrowest width must keep for its line to count (coupled: 1; coupling off:
near 0)."""
CLAIMS: tuple[Claim, ...] = (
    REGIME,
    FOKKER_PLANCK,
    MADELUNG,
    SCHRODINGER,
    HBAR_ROUTES,
    REALTIME,
)
DEPENDENT: tuple[Claim, ...] = (SCHRODINGER, HBAR_ROUTES, REALTIME)
"""The claims about the adaptive arm: withheld (``regime not reached``) outside the regime."""


def consistency_regime(res: Results, pos: dict[str, Any]) -> Verdict:
    """Adaptive arm: the largest consistency gap over the analysis windows (the precondition).

    The control is the same gap on the adaptive arm's windows with replicas shuffled between
    steps (the estimator must not find the regime in unrelated increments); the positive
    control the gap on the Nelson trajectories, where 2 m D = hbar holds by construction. The
    canonical arm's gap is a diagnostic only: a fixed (gamma, M) may happen to sit near the
    target without that saying anything about the adaptive arm.

    A gap inside the band says nothing when the controllers did not hold it there
    (:func:`regime_not_held`: a controller at a bound for more than :data:`BOUND_LIMIT` of a
    window, or gamma or M still moving before the quench): the row is then withheld
    (``regime not reached``, with the dependent claims) and its ``statistic`` names why.

    Examples
    --------
    >>> res = {"adaptive": {"gap": (0.12, 0.05, 0.2), "gap_control": (6.0, 5.9, 6.1)}}
    >>> v = consistency_regime(res, {"gap": (0.1, 0.05, 0.15)})
    >>> v.verdict, v.row()["threshold"]
    ('supported', '< 0.405465')
    >>> res["adaptive"]["settling"] = {"std_ln_gamma": 0.01, "std_ln_M": 0.15}
    >>> v = consistency_regime(res, {"gap": (0.1, 0.05, 0.15)})
    >>> v.verdict, v.note, v.statistic.endswith("not held: std_ln_M 0.15 before the quench")
    ('inconclusive', 'regime not reached', True)
    """
    ada = res["adaptive"]
    value, lo, hi = ada["gap"]
    failing = regime_not_held(ada)
    return REGIME.verdict(
        value,
        lo,
        hi,
        ada["gap_control"][0],
        pos["gap"][0],
        statistic=REGIME.statistic + (f"; not held: {', '.join(failing)}" if failing else ""),
        withheld=REGIME_NOT_REACHED if failing else "",
    )


def regime_not_held(ada: dict[str, Any]) -> list[str]:
    """Why the adaptive arm's controllers did not hold the regime (empty: they did).

    ``ada["bounds"]`` is the fraction of each window each controller sat at a bound
    (:func:`scenarios.transition.measures.bound_time`; more than :data:`BOUND_LIMIT` fails),
    ``ada["settling"]`` the standard deviation of ln gamma and ln M over the second half of the
    window before the quench (:func:`scenarios.transition.measures.settling`; :data:`SETTLE_LIMIT`
    or more fails); a missing table fails nothing.

    Examples
    --------
    >>> import pandas as pd
    >>> bounds = pd.DataFrame({"window": ["after quench"], "parameter": ["batch_size"],
    ...                        "at_bound": [0.44]})
    >>> regime_not_held({"bounds": bounds, "settling": {"std_ln_gamma": 0.01}})
    ['batch_size at a bound 44.0% of after quench']
    """
    out = []
    bounds = ada.get("bounds")
    if bounds is not None:
        for b in bounds.itertuples():
            if not b.at_bound <= BOUND_LIMIT:
                out.append(f"{b.parameter} at a bound {b.at_bound:.1%} of {b.window}")
    for key, value in (ada.get("settling") or {}).items():
        if not value < SETTLE_LIMIT:
            out.append(f"{key} {value:.3g} before the quench")
    return out


def fokker_planck(res: Results, pos: dict[str, Any]) -> Verdict:
    """Canonical arm: |ln(tr D_KM / tr gamma^2 Sigma_q / 2M)| (the CI of |x| from that of x).

    The positive control is the same statistic on an ensemble with a planted diffusion.

    Examples
    --------
    >>> res = {"canonical": {"fp": -0.05, "fp_ci": (-0.1, 0.02), "fp_control": 0.9,
    ...                      "fp_positive": 0.01}}
    >>> v = fokker_planck(res, {})
    >>> v.value, (v.ci_low, v.ci_high), v.verdict
    (0.05, (0.0, 0.1), 'supported')
    """
    del pos
    can = res["canonical"]
    lo, hi = can["fp_ci"]
    ci = (0.0 if lo * hi <= 0 else min(abs(lo), abs(hi)), max(abs(lo), abs(hi)))
    return FOKKER_PLANCK.verdict(
        abs(can["fp"]), ci[0], ci[1], abs(can["fp_control"]), abs(can["fp_positive"])
    )


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
    """Adaptive arm: |ln(hbar_weak / hbar_2mD)|, the never-enforced route against the enforced.

    The |mu_c| / 2 pi route is not compared: the controllers set hbar_2mD to it, so it adds
    no evidence (its gap to hbar_2mD is the precondition :data:`REGIME`).

    Examples
    --------
    >>> res = {"adaptive": {"route_gap": (2.0, 1.5, 2.5)},
    ...        "canonical_at_final": {"route_gap": (2.2, 1.0, 3.0)}}
    >>> hbar_routes_agree(res, {"route_gap": (0.1, 0.0, 0.2)}).verdict
    'not supported'
    """
    ada, fin = res["adaptive"], res["canonical_at_final"]
    value, lo, hi = ada["route_gap"]
    return HBAR_ROUTES.verdict(value, lo, hi, fin["route_gap"][0], pos["route_gap"][0])


def worlds_score(arm: dict[str, Any] | None) -> float:
    """The worlds arm's real-time score: its line's persistence, 0 when the line does not keep
    :data:`WORLDS_FLOOR` of the zero-point floor (or the arm is missing).

    Examples
    --------
    >>> worlds_score({"persistence": (1.0, 0.96, 1.0), "floor": 1.0})
    1.0
    >>> worlds_score({"persistence": (1.0, 0.96, 1.0), "floor": 0.0004}), worlds_score(None)
    (0.0, 0.0)
    """
    if arm is None or not arm["floor"] >= WORLDS_FLOOR:
        return 0.0
    return float(arm["persistence"][0])


def realtime_controls(pos: dict[str, Any]) -> tuple[float, list[str], str]:
    """The real-time claim's two positive controls: (value, failing controls, detail).

    ``pos["persistence"]`` is the Nelson control's persistence, ``pos["worlds"]`` the output of
    :func:`scenarios.transition.measures.analyse_worlds` (coupling put in by hand). The value
    is the smaller score when both pass :data:`REALTIME`'s test, else the first failing one
    (the verdict is then ``inconclusive``); the detail, for the verdict's ``statistic``, gives
    both scores, the coupling-off control and the failing names.

    Examples
    --------
    >>> worlds = {"worlds": {"persistence": (1.0, 0.9, 1.0), "floor": 1.0},
    ...           "worlds_coupling_off": {"persistence": (1.0, 0.9, 1.0), "floor": 0.0}}
    >>> realtime_controls({"persistence": (0.95, 0.9, 1.0), "worlds": worlds})[:2]
    (0.95, [])
    >>> worlds["worlds"]["floor"] = 0.01
    >>> value, failing, detail = realtime_controls({"persistence": (0.95,), "worlds": worlds})
    >>> value, failing, "failing: worlds" in detail
    (0.0, ['worlds'], True)
    """
    arms = pos.get("worlds") or {}
    coupled, off = arms.get("worlds"), arms.get("worlds_coupling_off")
    scores = {"Nelson": float(pos["persistence"][0]), "worlds": worlds_score(coupled)}
    failing = [k for k, v in scores.items() if not passes(v, REALTIME.threshold, REALTIME.sense)]
    value = scores[failing[0]] if failing else min(scores.values())

    def arm_text(arm: dict[str, Any] | None) -> str:
        if arm is None:
            return "not run"
        return f"persistence {arm['persistence'][0]:.3g}, zero-point floor {arm['floor']:.3g}"

    detail = (
        f"{REALTIME.statistic}; positive controls (decided only if both pass): Nelson "
        f"{scores['Nelson']:.3g}, worlds {scores['worlds']:.3g} ({arm_text(coupled)}, floor "
        f">= {WORLDS_FLOOR:g}; coupling off: {arm_text(off)}; {HAND})"
    )
    if failing:
        detail += f"; failing: {', '.join(failing)}"
    return value, failing, detail


def realtime_signatures(res: Results, pos: dict[str, Any]) -> Verdict:
    """Adaptive arm: persistence of the strongest line of <q>, <q^2> after the quench.

    Decided only if both positive controls pass (:func:`realtime_controls`): the Nelson
    trajectories and the worlds arm (coupling put in by hand).

    Examples
    --------
    >>> res = {"adaptive": {"persistence": (0.0, 0.0, 0.0)},
    ...        "no_change": {"persistence": (0.0, 0.0, 0.0)}}
    >>> worlds = {"worlds": {"persistence": (1.0, 0.96, 1.0), "floor": 1.0}}
    >>> realtime_signatures(res, {"persistence": (0.95, 0.9, 1.0), "worlds": worlds}).verdict
    'not supported'
    >>> v = realtime_signatures(res, {"persistence": (0.95, 0.9, 1.0)})  # no worlds arm
    >>> v.verdict, v.note, v.statistic.endswith("failing: worlds")
    ('inconclusive', 'positive control below detection', True)
    """
    ada, still = res["adaptive"], res["no_change"]
    value, lo, hi = ada["persistence"]
    positive, _, detail = realtime_controls(pos)
    return REALTIME.verdict(value, lo, hi, still["persistence"][0], positive, statistic=detail)


JUDGES = (
    consistency_regime,
    fokker_planck,
    madelung_fixed_n,
    schrodinger_adaptive,
    hbar_routes_agree,
    realtime_signatures,
)
"""One verdict function per claim, in the order of :data:`CLAIMS`."""


def verdicts(res: Results, pos: dict[str, Any]) -> list[Verdict]:
    """Every claim's verdict, in the order of :data:`CLAIMS`.

    The :data:`DEPENDENT` claims are withheld (``regime not reached``) unless the precondition
    :data:`REGIME` is ``supported``.

    Examples
    --------
    >>> [f.__name__ for f in JUDGES][:2]
    ['consistency_regime', 'fokker_planck']
    >>> len(JUDGES) == len(CLAIMS)  # one function per claim
    True
    """
    out = [judge(res, pos) for judge in JUDGES]
    if out[0].verdict != "supported":
        dependent = {c.name for c in DEPENDENT}
        out = [v.withhold(REGIME_NOT_REACHED) if v.claim in dependent else v for v in out]
    return out


def _finite_ci(ci: tuple[float, float], value: float) -> tuple[float, float]:
    lo, hi = ci
    lo = lo if math.isfinite(lo) else value
    hi = hi if math.isfinite(hi) else value
    return min(lo, value), max(hi, value)
