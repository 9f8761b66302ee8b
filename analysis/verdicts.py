"""Claims as data and the verdict rule that judges them.

A :class:`Claim` declares one testable statement of a scenario: the statistic that measures
it, the threshold fixed in advance, the side of the threshold on which the claim holds, the
null control and the positive control. Each scenario declares its own claims (its ``CLAIMS``).

A :class:`Verdict` is one claim judged on one run: the statistic's value with its confidence
interval, the same statistic on the null control and on the positive control. The rule
(:func:`judge`): ``supported`` when the whole CI is on the claim's side of the threshold,
``not supported`` when it is wholly on the other side, ``inconclusive`` when it straddles the
threshold. The gates (:meth:`Verdict.__post_init__`) then make a decided verdict
``inconclusive``, and say why in its ``note`` (one of :data:`NOTES`), when

- the scenario withholds it (``regime not reached``: a precondition of the claim failed in this
  run; ``ill-conditioned``: the estimator cannot be read on this data);
- the claim has no positive control (``no positive control``): a test never shown to detect the
  effect where it is planted cannot report its absence;
- the positive control, the same statistic on data with the effect planted, does not pass the
  claim's own test in the same run (``positive control below detection``);
- the CI straddles the threshold (``CI straddles threshold``);
- the CI is on the claim's side but the null control passes the same test too (``null control
  passes``: the run is not told apart from its control, which is no evidence). When the scenario
  gives the control's own interval, the same test is the interval test (the control passes when
  its whole interval is on the claim's side); otherwise the control's value is compared with the
  threshold.

The first reason that applies, in this order, is the note; a decided verdict has an empty note.
A missing (NaN) value or control value is never a verdict: it raises :class:`MissingNumber`.

The verdict table (``verdicts.csv``) has exactly the columns :data:`VERDICT_COLUMNS`; the tidy
diagnostics table those of :data:`DIAGNOSTIC_COLUMNS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DIAGNOSTIC_COLUMNS",
    "ILL_CONDITIONED",
    "NOTES",
    "REGIME_NOT_REACHED",
    "SENSES",
    "VERDICT_COLUMNS",
    "Claim",
    "MissingNumber",
    "Verdict",
    "diagnostics_frame",
    "judge",
    "passes",
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
    "note",
]
DIAGNOSTIC_COLUMNS = ["arm", "diagnostic", "quantity", "window", "value", "ci_low", "ci_high"]
SENSES = (">", "<")
REGIME_NOT_REACHED = "regime not reached"
ILL_CONDITIONED = "ill-conditioned"
NOTES = (
    "",
    "positive control below detection",
    "no positive control",
    REGIME_NOT_REACHED,
    "null control passes",
    "CI straddles threshold",
    ILL_CONDITIONED,
)
"""The values of the ``note`` column: why a verdict is ``inconclusive`` (empty when decided)."""
WITHHOLD_REASONS = (REGIME_NOT_REACHED, ILL_CONDITIONED)
"""The notes a scenario may impose (``Verdict.withheld``): the run cannot decide the claim."""


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
        Where the claim holds by construction (``""`` when the claim has none: then no run
        decides it, every verdict is ``inconclusive`` with the note ``no positive control``).
    scenario : str
        The scenario that tests it.

    Examples
    --------
    >>> c = Claim("entropy budget", "closure", 0.1, "<", "shuffled", "planted closure", "demo")
    >>> v = c.verdict(0.05, 0.02, 0.08, 0.5, 0.01)
    >>> v.verdict, v.note
    ('supported', '')
    >>> v = Claim("entropy budget", "closure", 0.1, "<", "shuffled", "", "demo").verdict(
    ...     0.05, 0.02, 0.08, 0.5)
    >>> v.verdict, v.note
    ('inconclusive', 'no positive control')
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
        withheld: str = "",
        control_ci: tuple[float, float] | None = None,
    ) -> Verdict:
        """Judge this claim on one run's numbers (``statistic``/``control`` override the
        declared labels when a run states them more precisely; ``withheld`` is a reason of
        :data:`NOTES` for which the run cannot decide the claim; ``control_ci`` the control's
        own interval, for the interval test of the null-control gate; see :class:`Verdict`).

        A claim declared without a positive control is judged without one, whatever
        ``positive_control_value`` says: ``inconclusive``, ``no positive control``.
        """
        if not self.positive_control:
            positive_control_value = float("nan")
        control_low, control_high = control_ci if control_ci is not None else (math.nan,) * 2
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
            withheld,
            control_low,
            control_high,
        )


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


def passes(value: float, threshold: float, sense: str) -> bool:
    """Whether ``value`` is strictly on the claim's side (``sense``) of ``threshold``.

    A NaN value passes nothing.

    Examples
    --------
    >>> passes(0.5, 1.0, "<"), passes(1.0, 1.0, "<"), passes(2.0, 1.0, ">")
    (True, False, True)
    >>> passes(float("nan"), 1.0, ">")
    False
    """
    if sense not in SENSES:
        raise ValueError(f"sense: {sense!r}; expected '>' or '<'")
    v = float(value)
    return v < threshold if sense == "<" else v > threshold


@dataclass
class Verdict:
    """One row of the verdict table.

    ``value`` with CI (``ci_low``, ``ci_high``) is the statistic on the run; ``control`` names
    the null control and ``control_value`` is the same statistic on it;
    ``positive_control_value`` the statistic on a positive control (NaN when the claim has
    none); the claim holds when the statistic is on the ``sense`` side of ``threshold``.
    ``withheld`` is empty, or a reason of :data:`NOTES` given by the scenario
    (``regime not reached``, ``ill-conditioned``) for which this run cannot decide the claim.
    ``control_ci_low``, ``control_ci_high`` are the control's own interval when the scenario
    computes one (NaN otherwise): the null-control gate then applies the interval test to it.
    ``verdict`` and ``note`` are computed (module docstring: the rule and its gates).
    :meth:`Claim.verdict` builds it from a declared claim.

    Examples
    --------
    >>> args = ("entropy budget", "closure", 0.05, 0.02, 0.08, "shuffled", 0.5, 0.1, "<")
    >>> v = Verdict(*args, 0.01)
    >>> v.verdict, v.note
    ('supported', '')
    >>> v = Verdict(*args, 0.3)  # the positive control fails the claim's own test
    >>> v.verdict, v.note
    ('inconclusive', 'positive control below detection')
    >>> v = Verdict(*args, 0.01, "regime not reached")
    >>> v.verdict, v.note
    ('inconclusive', 'regime not reached')

    A control whose value passes the threshold but whose own interval straddles it does not
    pass the interval test (``|r| > 0`` with a signed interval, as for a correlation):

    >>> r_args = ("Lambda tracks N", "|r|", 0.9, 0.5, 0.99, "permuted", 0.4, 0.0, ">", 0.99)
    >>> Verdict(*r_args).note
    'null control passes'
    >>> Verdict(*r_args, control_ci_low=-0.7, control_ci_high=0.8).verdict
    'supported'
    >>> Verdict(*r_args, control_ci_low=0.1, control_ci_high=0.8).note
    'null control passes'
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
    withheld: str = ""
    control_ci_low: float = float("nan")
    control_ci_high: float = float("nan")
    verdict: str = field(default="", init=False)
    note: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if not self.claim:
            raise ValueError("claim: ''; expected the name of a declared claim")
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
        if self.withheld not in ("", *WITHHOLD_REASONS):
            raise ValueError(
                f"{self.claim}: withheld {self.withheld!r}; expected '' or one of "
                f"{list(WITHHOLD_REASONS)}"
            )
        self.verdict = judge(self.ci_low, self.ci_high, self.threshold, self.sense)
        self.note = ""
        if self.verdict == "inconclusive":
            self.note = "CI straddles threshold"
        elif self.verdict == "supported" and self._control_passes():
            # the null control passes the same test: the run is not told apart from it
            self.verdict, self.note = "inconclusive", "null control passes"
        # the instrument: a test that does not detect the planted effect reports nothing
        positive = float(self.positive_control_value)
        if not math.isfinite(positive):
            self.verdict, self.note = "inconclusive", "no positive control"
        elif not passes(positive, self.threshold, self.sense):
            self.verdict, self.note = "inconclusive", "positive control below detection"
        if self.withheld:
            self.verdict, self.note = "inconclusive", self.withheld

    def _control_passes(self) -> bool:
        """Whether the null control passes the claim's test: the interval test on its own
        interval when one is given, else its value against the threshold."""
        lo, hi = float(self.control_ci_low), float(self.control_ci_high)
        if math.isfinite(lo) and math.isfinite(hi):
            return judge(min(lo, hi), max(lo, hi), self.threshold, self.sense) == "supported"
        return passes(self.control_value, self.threshold, self.sense)

    def withhold(self, reason: str) -> Verdict:
        """This verdict withheld for ``reason`` (``regime not reached``, ``ill-conditioned``).

        Examples
        --------
        >>> v = Verdict("duality", "s", 0.5, 0.4, 0.6, "c", 2.0, 1.0, "<", 0.1)
        >>> w = v.withhold("regime not reached")
        >>> (v.verdict, w.verdict, w.note)
        ('supported', 'inconclusive', 'regime not reached')
        """
        return replace(self, withheld=reason)

    def row(self) -> dict[str, Any]:
        """The verdict-table row.

        Examples
        --------
        >>> args = ("entropy budget", "closure", 0.05, 0.02, 0.08, "shuffled")
        >>> Verdict(*args, 0.5, 0.1, "<", 0.01).row()["verdict"]
        'supported'
        >>> row = Verdict(*args, 0.06, 0.1, "<", 0.01).row()
        >>> row["verdict"], row["note"]
        ('inconclusive', 'null control passes')
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
            "note": self.note,
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
