"""The transition's worlds arm (coupling put in by hand) and the two-control real-time gate."""

from __future__ import annotations

import pandas as pd
import pytest

from scenarios.transition import claims
from scenarios.transition.arms import WORLDS_ARMS, WORLDS_STEPS, worlds_control
from scenarios.transition.measures import analyse_worlds
from scenarios.worlds.known_answers import HAND

SGD = {"adaptive": {"persistence": (0.1, 0.0, 0.2)}, "no_change": {"persistence": (0.0, 0, 0)}}
WORLDS_PASS = {"persistence": (1.0, 0.96, 1.0), "floor": 1.0}
OFF = {"persistence": (1.0, 0.96, 1.0), "floor": 0.0004}


def _pos(nelson: float, worlds: dict | None) -> dict:
    arms = {"worlds_coupling_off": OFF}
    if worlds is not None:
        arms["worlds"] = worlds
    return {"persistence": (nelson, nelson, nelson), "worlds": arms}


def test_both_controls_pass_the_verdict_is_decided() -> None:
    v = claims.realtime_signatures(SGD, _pos(0.95, WORLDS_PASS))
    assert (v.verdict, v.note) == ("not supported", "")
    assert v.positive_control_value == pytest.approx(0.95)
    assert HAND in v.statistic and "failing" not in v.statistic


@pytest.mark.parametrize(
    ("nelson", "worlds", "failing"),
    [
        (0.3, WORLDS_PASS, ["Nelson"]),
        (0.95, {"persistence": (1.0, 0.96, 1.0), "floor": 0.2}, ["worlds"]),  # no zero point
        (0.95, {"persistence": (0.5, 0.4, 0.6), "floor": 1.0}, ["worlds"]),  # damped line
        (0.95, None, ["worlds"]),  # the arm did not run
        (0.3, OFF, ["Nelson", "worlds"]),
    ],
)
def test_a_failing_control_makes_the_verdict_inconclusive_and_is_named(
    nelson: float, worlds: dict | None, failing: list[str]
) -> None:
    v = claims.realtime_signatures(SGD, _pos(nelson, worlds))
    assert (v.verdict, v.note) == ("inconclusive", "positive control below detection")
    assert claims.realtime_controls(_pos(nelson, worlds))[1] == failing
    assert v.statistic.endswith(f"failing: {', '.join(failing)}")
    assert HAND in v.statistic


def test_the_worlds_arm_passes_and_its_coupling_off_control_fails() -> None:
    """The same real-time estimator: both lines are undamped, only the coupled one keeps the
    zero-point floor (the coupling-off cloud collapses to a point every half period)."""
    on, off = (worlds_control(arm == WORLDS_ARMS[0]).assign(arm=arm) for arm in WORLDS_ARMS)
    assert int(on["step"].max()) == WORLDS_STEPS and on["replica"].nunique() == 100
    rows: list[dict] = []
    out = analyse_worlds(pd.concat([on, off]), 1, rows, quick=True)
    assert out["worlds"]["persistence"][0] > claims.REALTIME.threshold
    assert out["worlds"]["floor"] == pytest.approx(1.0, abs=0.05)
    assert claims.worlds_score(out["worlds"]) > claims.REALTIME.threshold
    # coupling off: an equally undamped line, but no zero-point width
    assert out["worlds_coupling_off"]["persistence"][0] > claims.REALTIME.threshold
    assert out["worlds_coupling_off"]["floor"] < 0.01
    assert claims.worlds_score(out["worlds_coupling_off"]) == 0.0
    assert {r["arm"] for r in rows} == set(WORLDS_ARMS)
    assert all(HAND in r["quantity"] for r in rows)
