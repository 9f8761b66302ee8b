"""The verdict rule, the claim declarations and the verdict/diagnostics tables."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from analysis.verdicts import (
    DIAGNOSTIC_COLUMNS,
    NOTES,
    REGIME_NOT_REACHED,
    VERDICT_COLUMNS,
    Claim,
    MissingNumber,
    Verdict,
    diagnostics_frame,
    judge,
    passes,
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
    assert Verdict(*args, 0.5, 0.1, "<", 0.01).verdict == "supported"
    v = Verdict(*args, 0.06, 0.1, "<", 0.01)
    assert (v.verdict, v.note) == ("inconclusive", "null control passes")
    # a control that passes does not upgrade a claim that fails
    v = Verdict("entropy budget", "c", 0.5, 0.4, 0.6, "s", 0.01, 0.1, "<", 0.01)
    assert (v.verdict, v.note) == ("not supported", "")


def test_the_interval_is_widened_to_hold_its_value():
    v = Verdict("entropy budget", "s", 0.3, 0.01, 0.05, "c", 0.9, 0.2, "<", 0.01)
    assert (v.ci_low, v.ci_high) == (0.01, 0.3)
    # not "supported" from the interval that missed it
    assert (v.verdict, v.note) == ("inconclusive", "CI straddles threshold")


@pytest.mark.parametrize("ci", [(0.02, 0.08), (0.5, 0.6)])  # would be supported / not supported
def test_a_failing_positive_control_makes_the_verdict_inconclusive(ci):
    """The instrument gate: a test that misses the planted effect decides nothing."""
    base = ("entropy budget", "closure", sum(ci) / 2, *ci, "shuffled", 0.9, 0.1, "<")
    assert Verdict(*base, 0.05).verdict in ("supported", "not supported")
    for failing in (0.1, 0.3):  # on the threshold is not beyond it
        v = Verdict(*base, failing)
        assert (v.verdict, v.note) == ("inconclusive", "positive control below detection")
    v = Verdict(*base)  # none given
    assert (v.verdict, v.note) == ("inconclusive", "no positive control")
    above = ("x", "s", 2.0, 1.5, 2.5, "c", 0.5, 1.0, ">")
    assert Verdict(*above, 3.0).verdict == "supported"
    assert Verdict(*above, 0.9).note == "positive control below detection"


def test_a_claim_without_a_positive_control_is_never_decided():
    claim = Claim("entropy budget", "closure", 0.1, "<", "shuffled", "", "demo")
    for args in ((0.05, 0.02, 0.08, 0.9), (0.5, 0.4, 0.6, 0.9)):
        v = claim.verdict(*args, 0.01)  # a number given for an undeclared control is ignored
        assert (v.verdict, v.note) == ("inconclusive", "no positive control")
        assert math.isnan(v.positive_control_value)


def test_a_withheld_verdict_is_inconclusive_with_its_reason():
    claim = Claim("duality", "score", 1.0, "<", "permuted", "Nelson", "duality")
    decided = claim.verdict(0.5, 0.4, 0.6, 2.0, 0.1)
    for reason in (REGIME_NOT_REACHED, "ill-conditioned"):
        for v in (
            claim.verdict(0.5, 0.4, 0.6, 2.0, 0.1, withheld=reason),
            decided.withhold(reason),
        ):
            assert (v.verdict, v.note) == ("inconclusive", reason)
    assert decided.verdict == "supported"  # withhold returns a new verdict
    # the scenario's reason comes before the instrument's
    assert decided.withhold(REGIME_NOT_REACHED).note == REGIME_NOT_REACHED
    assert claim.verdict(0.5, 0.4, 0.6, 2.0, withheld=REGIME_NOT_REACHED).note == REGIME_NOT_REACHED
    with pytest.raises(ValueError, match="withheld 'bored'"):
        decided.withhold("bored")


def test_every_note_is_one_of_the_declared_values():
    assert NOTES == (
        "",
        "positive control below detection",
        "no positive control",
        "regime not reached",
        "null control passes",
        "CI straddles threshold",
        "ill-conditioned",
    )
    cases = [
        Verdict("a", "s", 0.5, 0.4, 0.6, "c", 2.0, 1.0, "<", 0.1),
        Verdict("a", "s", 0.5, 0.4, 1.6, "c", 2.0, 1.0, "<", 0.1),
        Verdict("a", "s", 0.5, 0.4, 0.6, "c", 0.2, 1.0, "<", 0.1),
        Verdict("a", "s", 0.5, 0.4, 0.6, "c", 2.0, 1.0, "<", 1.1),
        Verdict("a", "s", 0.5, 0.4, 0.6, "c", 2.0, 1.0, "<"),
        Verdict("a", "s", 0.5, 0.4, 0.6, "c", 2.0, 1.0, "<", 0.1, REGIME_NOT_REACHED),
    ]
    notes = [v.note for v in cases]
    assert set(notes) <= set(NOTES) and len(set(notes)) == len(notes)
    assert all((v.note == "") == (v.verdict != "inconclusive") for v in cases)


def test_passes_is_strict_and_refuses_an_unknown_sense():
    assert passes(0.9, 1.0, "<") and not passes(1.0, 1.0, "<") and passes(1.1, 1.0, ">")
    assert not passes(math.nan, 1.0, "<") and not passes(math.nan, 1.0, ">")
    with pytest.raises(ValueError, match="sense"):
        passes(0.1, 1.0, "=")


def test_an_unnamed_verdict_is_refused():
    with pytest.raises(ValueError, match="expected the name of a declared claim"):
        Verdict("", "s", 0.1, 0.0, 0.2, "c", 0.5, 0.3, "<")


def test_verdict_table_columns_and_row():
    v = Verdict("duality", "s", 0.5, 0.4, 0.6, "c", 2.0, 1.0, "<", 0.1)
    frame = verdict_frame([v, v])
    assert frame.columns.tolist() == VERDICT_COLUMNS
    assert VERDICT_COLUMNS.index("note") == VERDICT_COLUMNS.index("verdict") + 1
    row = frame.iloc[0]
    assert row["threshold"] == "< 1" and row["verdict"] == "supported" and row["note"] == ""
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
    assert {c.scenario for c in DECLARED} == {
        "transition",
        "madelung",
        "spacetime",
        "duality",
        "particles",
        "worlds",
    }
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
