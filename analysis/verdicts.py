"""Claims as data and the verdict rule that judges them.

A :class:`Claim` declares one testable statement of a scenario: the statistic that measures
it, the threshold fixed in advance, the side of the threshold on which the claim holds, the
null control and the positive control. :data:`CLAIMS` holds every declared claim.

A :class:`Verdict` is one claim judged on one run: the statistic's value with its confidence
interval, the same statistic on the null control (and on the positive control). The rule
(:func:`judge`): ``supported`` when the whole CI is on the claim's side of the threshold,
``not supported`` when it is wholly on the other side, ``inconclusive`` when it straddles the
threshold -- or when the CI is on the claim's side but the null control passes the same test
too (then the run is not told apart from its control, which is no evidence). A missing (NaN)
number is never a verdict: it raises :class:`MissingNumber`.

The verdict table (``verdicts.csv``) has exactly the columns :data:`VERDICT_COLUMNS`; the tidy
diagnostics table those of :data:`DIAGNOSTIC_COLUMNS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CLAIMS",
    "CLAIM_NAMES",
    "DIAGNOSTIC_COLUMNS",
    "SENSES",
    "VERDICT_COLUMNS",
    "Claim",
    "MissingNumber",
    "Verdict",
    "claims_of",
    "diagnostics_frame",
    "judge",
    "verdict_frame",
]

VERDICT_COLUMNS = [
    "claim",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "control",
    "control_value",
    "positive_control_value",
    "threshold",
    "verdict",
]
DIAGNOSTIC_COLUMNS = ["arm", "diagnostic", "quantity", "window", "value", "ci_low", "ci_high"]
SENSES = (">", "<")


class MissingNumber(ValueError):
    """A number a verdict needs is missing or not finite: the run failed, it is no verdict."""


@dataclass(frozen=True)
class Claim:
    """One claim of a scenario, declared once, as data.

    Attributes
    ----------
    name : str
        The claim (the ``claim`` column of the verdict table).
    statistic : str
        What is measured (the ``statistic`` column).
    threshold : float
        Fixed in advance, never tuned per run.
    sense : {">", "<"}
        The claim holds when the statistic is above (``">"``) or below (``"<"``) the threshold.
    control : str
        The null control: the same statistic where the claim must fail.
    positive_control : str
        Where the claim holds by construction (``""`` when the claim has none).
    scenario : str
        The scenario that tests it.

    Examples
    --------
    >>> c = Claim("entropy budget", "closure", 0.1, "<", "shuffled", "", "demo")
    >>> c.verdict(0.05, 0.02, 0.08, 0.5).verdict
    'supported'
    """

    name: str
    statistic: str
    threshold: float
    sense: str
    control: str
    positive_control: str
    scenario: str

    def __post_init__(self) -> None:
        if not self.name or not self.scenario:
            raise ValueError(f"claim {self.name!r} of {self.scenario!r}: expected both names")
        if self.sense not in SENSES:
            raise ValueError(f"{self.name}: sense {self.sense!r}; expected '>' or '<'")
        if not math.isfinite(float(self.threshold)):
            raise ValueError(f"{self.name}: threshold {self.threshold!r}; expected a number")

    def verdict(
        self,
        value: float,
        ci_low: float,
        ci_high: float,
        control_value: float,
        positive_control_value: float = float("nan"),
        *,
        statistic: str | None = None,
        control: str | None = None,
    ) -> Verdict:
        """Judge this claim on one run's numbers (``statistic``/``control`` override the
        declared labels when a run states them more precisely)."""
        return Verdict(
            self.name,
            self.statistic if statistic is None else statistic,
            value,
            ci_low,
            ci_high,
            self.control if control is None else control,
            control_value,
            self.threshold,
            self.sense,
            positive_control_value,
        )


NELSON_HARMONIC = "Nelson trajectories of a 2-D harmonic superposition with known hbar"
CLAIMS: tuple[Claim, ...] = (
    Claim(
        "Fokker-Planck form",
        "|ln(tr D_KM / tr gamma^2 Sigma_q/2M)|, canonical",
        0.15,
        "<",
        "replicas shuffled between steps",
        "",
        "transition",
    ),
    Claim(
        "Fokker-Planck form",
        "|slope - 1| of D_KM on gamma^2 Sigma_hat/(2M) over the (gamma, M) grid",
        0.1,
        "<",
        "same fit against gamma Sigma_hat/(2M)",
        "",
        "madelung",
    ),
    Claim(
        "entropy budget",
        "RMS relative closure of dS/dt = E[div A] + E[s^T D s] over windows (sgd arm)",
        0.25,
        "<",
        "same closure without the production term E[s^T D s]",
        "",
        "madelung",
    ),
    Claim(
        "Madelung (fixed N)",
        "momentum residual / noise floor, canonical",
        2.0,
        "<",
        "replicas shuffled between steps",
        NELSON_HARMONIC,
        "transition",
    ),
    Claim(
        "Madelung (fixed N)",
        "weak-form momentum residual / its floor on exact samples (sgd arm)",
        2.0,
        "<",
        "sgd arm with replicas shuffled between steps (no flow)",
        "",
        "madelung",
    ),
    Claim(
        "Schrödinger (adaptive)",
        "Hellinger/floor Schrödinger over Fokker-Planck after quench, adaptive",
        1.0,
        "<",
        "canonical_at_final",
        NELSON_HARMONIC,
        "transition",
    ),
    Claim(
        "independent hbar routes agree",
        "max |ln(hbar_route / mean)|: weak form, 2mD, |mu_c|/2pi; adaptive",
        math.log(1.5),
        "<",
        "canonical_at_final",
        NELSON_HARMONIC,
        "transition",
    ),
    Claim(
        "real-time signatures",
        "persistence of the strongest line of <q>, <q^2> after quench, adaptive",
        0.8,
        ">",
        "no_change",
        NELSON_HARMONIC,
        "transition",
    ),
    Claim(
        "real-time signatures",
        "width exponent beta of early spreading, -dlog(Var(t)-Var(0))/dlog sigma0",
        1.0,
        ">",
        "momentum arm (heavy ball)",
        "Nelson free packets (hbar = m = 1)",
        "madelung",
    ),
    Claim(
        "Lorentz signature",
        "Lorentz margin min(-lam0 on, lam1 on, lam0 null) of C (generalised eigenvalues)",
        0.0,
        ">",
        "the null alone: min(-lam0, lam1)",
        "synthetic Lorentzian ensemble (one contracting, three spreading axes)",
        "spacetime",
    ),
    Claim(
        "emergent locality/dispersion",
        "fraction of (direction, k) with a propagating peak in S(k, omega)",
        2.0 / 3.0,
        ">",
        "diffusing graph field (heat equation + noise)",
        "damped, noise-driven graph wave equation",
        "spacetime",
    ),
    Claim(
        "geodesic motion",
        "max(chi2/dof / 2, (chi2/dof / flat chi2/dof) / 0.5) of packet paths on the metric",
        1.0,
        "<",
        "shuffled metric (same score)",
        "noisy geodesics of de Sitter space on the same grid box",
        "spacetime",
    ),
    Claim(
        "Einstein equations with Lambda",
        "|G + Lambda g - kappa T| / same with permuted pairing (dust T, polynomial g)",
        0.5,
        "<",
        "permuted pairing of G with (g, T)",
        "de Sitter space (H = 1) through the same polynomial fit",
        "spacetime",
    ),
    Claim(
        "Lambda tracks N",
        "|slope| of Lambda against mean N (CI times sign of the slope)",
        0.0,
        ">",
        "|slope| of the permuted-pairing control's Lambda against N",
        "",
        "spacetime",
    ),
    Claim(
        "duality",
        "max(score_q, score_x): Schrödinger H/floor over frozen density (q), "
        "median per-path geodesic chi2/dof over straight lines (x); out of sample",
        1.0,
        "<",
        "same run, replicas permuted within packet blocks at every step",
        "Nelson trajectories (q) and noisy geodesics of the run's own metric (x)",
        "duality",
    ),
)
CLAIM_NAMES: tuple[str, ...] = tuple(dict.fromkeys(c.name for c in CLAIMS))


def claims_of(scenario: str) -> tuple[Claim, ...]:
    """The claims a scenario declares, in declaration order.

    Examples
    --------
    >>> [c.name for c in claims_of("madelung")][:2]
    ['Fokker-Planck form', 'entropy budget']
    """
    return tuple(c for c in CLAIMS if c.scenario == scenario)


def judge(ci_low: float, ci_high: float, threshold: float, sense: str) -> str:
    """Verdict of a CI against a threshold.

    Parameters
    ----------
    ci_low, ci_high : float
        The statistic's confidence interval.
    threshold : float
    sense : {">", "<"}
        The claim holds when the statistic is above (``">"``) or below (``"<"``) the threshold.

    Raises
    ------
    MissingNumber
        A bound or the threshold is missing or not finite.

    Examples
    --------
    >>> judge(0.2, 0.4, 1.0, "<"), judge(0.8, 1.2, 1.0, "<"), judge(1.5, 2.0, 1.0, "<")
    ('supported', 'inconclusive', 'not supported')
    """
    if sense not in SENSES:
        raise ValueError(f"sense: {sense!r}; expected '>' or '<'")
    for name, v in (("ci_low", ci_low), ("ci_high", ci_high), ("threshold", threshold)):
        if v is None or not math.isfinite(float(v)):
            raise MissingNumber(f"{name}: {v}; a verdict needs finite numbers")
    lo, hi = sorted((float(ci_low), float(ci_high)))
    if sense == ">":
        if lo > threshold:
            return "supported"
        if hi < threshold:
            return "not supported"
    else:
        if hi < threshold:
            return "supported"
        if lo > threshold:
            return "not supported"
    return "inconclusive"


@dataclass
class Verdict:
    """One row of the verdict table.

    ``value`` with CI (``ci_low``, ``ci_high``) is the statistic on the run; ``control`` names
    the null control and ``control_value`` is the same statistic on it;
    ``positive_control_value`` the statistic on a positive control (NaN when the claim has
    none); the claim holds when the statistic is on the ``sense`` side of ``threshold``.
    ``claim`` must be one of :data:`CLAIM_NAMES`.
    """

    claim: str
    statistic: str
    value: float
    ci_low: float
    ci_high: float
    control: str
    control_value: float
    threshold: float
    sense: str
    positive_control_value: float = float("nan")
    verdict: str = ""

    def __post_init__(self) -> None:
        if self.claim not in CLAIM_NAMES:
            raise ValueError(f"claim: {self.claim!r}; expected one of {', '.join(CLAIM_NAMES)}")
        for name in ("value", "control_value"):
            v = getattr(self, name)
            if v is None or not math.isfinite(float(v)):
                raise MissingNumber(
                    f"{self.claim}: {name} is {v}; a missing number is a failed run"
                )
        # a (biased) percentile interval can miss its own point estimate: widen it to include
        # the value, which only makes the verdict more cautious
        if math.isfinite(float(self.ci_low)) and math.isfinite(float(self.ci_high)):
            self.ci_low = min(float(self.ci_low), float(self.value))
            self.ci_high = max(float(self.ci_high), float(self.value))
        self.verdict = judge(self.ci_low, self.ci_high, self.threshold, self.sense)
        control_passes = (
            self.control_value < self.threshold
            if self.sense == "<"
            else self.control_value > self.threshold
        )
        if self.verdict == "supported" and control_passes:
            # the null control passes the same test: the run is not told apart from it
            self.verdict = "inconclusive"

    def row(self) -> dict[str, Any]:
        """The verdict-table row.

        Examples
        --------
        >>> v = Verdict("entropy budget", "closure", 0.05, 0.02, 0.08, "shuffled", 0.5, 0.1, "<")
        >>> v.row()["verdict"], Verdict("entropy budget", "closure", 0.05, 0.02, 0.08,
        ...                             "shuffled", 0.06, 0.1, "<").verdict
        ('supported', 'inconclusive')
        """
        return {
            "claim": self.claim,
            "statistic": self.statistic,
            "value": float(self.value),
            "ci_low": float(self.ci_low),
            "ci_high": float(self.ci_high),
            "control": self.control,
            "control_value": float(self.control_value),
            "positive_control_value": float(self.positive_control_value),
            "threshold": f"{self.sense} {self.threshold:g}",
            "verdict": self.verdict,
        }


def verdict_frame(verdicts: list[Verdict]) -> pd.DataFrame:
    """The verdict table (columns exactly :data:`VERDICT_COLUMNS`).

    Examples
    --------
    >>> v = Verdict("entropy budget", "closure", 0.05, 0.02, 0.08, "shuffled", 0.5, 0.1, "<")
    >>> verdict_frame([v]).columns.tolist() == VERDICT_COLUMNS
    True
    """
    return pd.DataFrame([v.row() for v in verdicts], columns=VERDICT_COLUMNS)


def diagnostics_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Tidy diagnostics table from row dicts (missing CI -> NaN, window -> -1).

    Examples
    --------
    >>> diagnostics_frame([{"arm": "a", "diagnostic": "km", "quantity": "D", "value": 1.0}]).shape
    (1, 7)
    """
    frame = pd.DataFrame(rows)
    for col, default in (("window", -1), ("ci_low", np.nan), ("ci_high", np.nan)):
        if col not in frame:
            frame[col] = default
    frame["window"] = frame["window"].fillna(-1).astype(int)
    frame["value"] = frame["value"].astype(float)
    return frame[DIAGNOSTIC_COLUMNS]
