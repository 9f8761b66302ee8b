"""The verdict rule, the claim declarations and the verdict/diagnostics tables."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from analysis.verdicts import (
    DIAGNOSTIC_COLUMNS,
    VERDICT_COLUMNS,
    Claim,
    MissingNumber,
    Verdict,
    diagnostics_frame,
    judge,
    verdict_frame,
)
from scenarios import CATALOGUE, load

DECLARED = [c for name in CATALOGUE for c in getattr(load(name), "CLAIMS", ())]


@pytest.mark.parametrize(
    ("ci", "sense", "expected"),
    [
        ((0.2, 0.4), "<", "supported"),
        ((0.8, 1.2), "<", "inconclusive"),
        ((1.5, 2.0), "<", "not supported"),
        ((1.5, 2.0), ">", "supported"),
        ((0.2, 0.4), ">", "not supported"),
        ((1.2, 0.8), ">", "inconclusive"),  # bounds in either order
        ((1.0, 2.0), ">", "inconclusive"),  # touching the threshold is not beyond it
    ],
)
def test_judge_against_known_cases(ci, sense, expected):
    assert judge(*ci, 1.0, sense) == expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, None])
def test_a_missing_number_is_never_a_verdict(bad):
    with pytest.raises(MissingNumber, match="a verdict needs finite numbers"):
        judge(0.1, bad, 1.0, "<")
    with pytest.raises(MissingNumber, match="entropy budget: value is"):
        Verdict("entropy budget", "s", bad, 0.0, 0.1, "c", 0.5, 0.2, "<")
    with pytest.raises(MissingNumber, match="control_value is"):
        Verdict("entropy budget", "s", 0.05, 0.0, 0.1, "c", bad, 0.2, "<")
    assert issubclass(MissingNumber, ValueError)


def test_judge_refuses_an_unknown_sense():
    with pytest.raises(ValueError, match="sense: '='"):
        judge(0.1, 0.2, 1.0, "=")


def test_a_control_that_passes_too_makes_a_supported_claim_inconclusive():
    """The control rule, with the failing case beside it."""
    args = ("entropy budget", "closure", 0.05, 0.02, 0.08, "shuffled")
    assert Verdict(*args, 0.5, 0.1, "<").verdict == "supported"
    assert Verdict(*args, 0.06, 0.1, "<").verdict == "inconclusive"
    # a control that passes does not upgrade a claim that fails
    assert Verdict("entropy budget", "c", 0.5, 0.4, 0.6, "s", 0.01, 0.1, "<").verdict == (
        "not supported"
    )


def test_the_interval_is_widened_to_hold_its_value():
    v = Verdict("entropy budget", "s", 0.3, 0.01, 0.05, "c", 0.9, 0.2, "<")
    assert (v.ci_low, v.ci_high) == (0.01, 0.3)
    assert v.verdict == "inconclusive"  # not "supported" from the interval that missed it


def test_an_unnamed_verdict_is_refused():
    with pytest.raises(ValueError, match="expected the name of a declared claim"):
        Verdict("", "s", 0.1, 0.0, 0.2, "c", 0.5, 0.3, "<")


def test_verdict_table_columns_and_row():
    v = Verdict("duality", "s", 0.5, 0.4, 0.6, "c", 2.0, 1.0, "<", 0.1)
    frame = verdict_frame([v, v])
    assert frame.columns.tolist() == VERDICT_COLUMNS
    row = frame.iloc[0]
    assert row["threshold"] == "< 1" and row["verdict"] == "supported"
    assert row["positive_control_value"] == 0.1
    assert verdict_frame([]).columns.tolist() == VERDICT_COLUMNS


def test_diagnostics_frame_fills_defaults():
    frame = diagnostics_frame(
        [
            {"arm": "a", "diagnostic": "km", "quantity": "D", "value": 1},
            {"arm": "a", "diagnostic": "km", "quantity": "D", "value": 2, "window": 3},
        ]
    )
    assert frame.columns.tolist() == DIAGNOSTIC_COLUMNS
    assert frame["window"].tolist() == [-1, 3] and frame["value"].dtype == float
    assert np.isnan(frame["ci_low"]).all()


def test_declared_claims_are_data_with_valid_fields():
    """Every scenario's CLAIMS: unique per scenario, a control each, frozen."""
    assert len({(c.scenario, c.name) for c in DECLARED}) == len(DECLARED)
    assert {c.scenario for c in DECLARED} == {"transition", "madelung", "spacetime", "duality"}
    for c in DECLARED:
        assert c.sense in (">", "<") and math.isfinite(c.threshold) and c.control
    with pytest.raises(dataclasses.FrozenInstanceError):
        DECLARED[0].threshold = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (("x", "s", 1.0, "=", "c", "", "demo"), "sense '='"),
        (("x", "s", math.nan, "<", "c", "", "demo"), "threshold nan"),
        (("", "s", 1.0, "<", "c", "", "demo"), "expected both names"),
    ],
)
def test_claim_refuses_bad_declarations(fields, message):
    with pytest.raises(ValueError, match=message):
        Claim(*fields)


def test_claim_builds_its_verdict():
    claim = Claim("duality", "score", 1.0, "<", "permuted", "Nelson", "duality")
    v = claim.verdict(0.5, 0.4, 0.6, 2.0, positive_control_value=0.1)
    assert (v.claim, v.threshold, v.sense, v.control) == (
        claim.name,
        claim.threshold,
        claim.sense,
        claim.control,
    )
    assert v.verdict == "supported"
    assert claim.verdict(0.5, 0.4, 0.6, 2.0, statistic="other").statistic == "other"
