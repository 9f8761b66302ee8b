"""The Einstein and Lambda claims are withheld (``ill-conditioned``) on an ill-conditioned design.

Both claim functions of :mod:`scenarios.spacetime.claims` are called as the scenario calls them,
with the ensemble fit (``claims._einstein``) replaced by a stub whose design condition is set
to just above or just below :data:`scenarios.spacetime.claims.CONDITION_MAX`; everything else
(resampling, interval, positive controls, verdict) is the scenario's own code.
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.verdicts import ILL_CONDITIONED
from scenarios.spacetime import claims

TARGETS = (12, 16, 20, 24)
# permuted-pairing Lambda with r = 0 against the targets' N (orthogonal to N - mean N)
CONTROL = {12: 1.0, 16: -1.0, 20: -1.0, 24: 1.0}
SHAPE = (6, 6, 6, 6)


def _stub(condition: float):
    """An ``_einstein`` whose fit reads Lambda and the residual ratio off the ensemble ``X``:
    Lambda is the mean of X (each target's X sits at its N), the residual ratio 0.2."""

    def fake(X, limits, min_weight, seed):
        m = float(np.mean(X))
        fit = SimpleNamespace(
            Lambda=m,
            Lambda_control=CONTROL.get(int(4 * round(m / 4)), 0.0),
            kappa=1.0,
            residual=0.2 * np.exp(0.01 * m),
            residual_control=np.exp(0.01 * m),
            condition=condition,
            trace_residual=0.0,
        )
        return {"fit": fit}

    return fake


def _run() -> SimpleNamespace:
    rng = np.random.default_rng(0)
    T, R = 8, 16
    arms = [f"target_{n}" for n in TARGETS]
    coords = {a: n + 0.1 * rng.normal(size=(T, R, 4)) for a, n in zip(arms, TARGETS, strict=True)}
    traj = pd.DataFrame(
        [{"arm": a, "step": s, "n_neurons": n} for a, n in zip(arms, TARGETS, strict=True)
         for s in range(4)]
    )  # fmt: skip
    return SimpleNamespace(
        seed=3,
        tables={"neuron_states": pd.DataFrame({"arm": arms}), "trajectories": traj},
        effort={"min_weight": 1.0, "einstein_bootstrap": 20},
        coords=coords.__getitem__,
        X_on=coords["target_12"],
    )


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_lambda_tracks_n_is_withheld_above_the_condition_bound(monkeypatch, factor):
    """Lambda follows N exactly (|r| near 1, interval above 0, control r = 0): decided
    ``supported`` below the bound, ``inconclusive`` / ``ill-conditioned`` above it."""
    monkeypatch.setattr(claims, "_einstein", _stub(factor * claims.CONDITION_MAX))
    res = claims.lambda_tracks_n(_run(), np.zeros((4, 2)))
    v = res.verdict
    if factor > 1:
        assert (v.verdict, v.note, v.withheld) == ("inconclusive", ILL_CONDITIONED, ILL_CONDITIONED)
        assert any("ill-conditioned" in n for n in res.notes)
    else:
        assert (v.verdict, v.note, v.withheld) == ("supported", "", "")
        assert not res.notes


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_einstein_equations_is_withheld_above_the_condition_bound(monkeypatch, factor):
    """Residual ratio 0.2 (ln -1.6, below ln 0.5 with its interval): decided ``supported``
    below the bound, ``inconclusive`` / ``ill-conditioned`` above it."""
    stub = _stub(factor * claims.CONDITION_MAX)
    monkeypatch.setattr(claims, "_einstein", stub)
    run = _run()
    g = np.broadcast_to(np.diag([-1.0, 1.0, 1.0, 1.0]), (*SHAPE, 4, 4))
    metric = {
        "lm": SimpleNamespace(g=g, valid=np.ones(SHAPE, dtype=bool)),
        "gpoly": g,
        "fit": stub(run.X_on, None, 1.0, 0)["fit"],
    }
    v = claims.einstein_equations(run, np.zeros((4, 2)), metric).verdict
    if factor > 1:
        assert (v.verdict, v.note, v.withheld) == ("inconclusive", ILL_CONDITIONED, ILL_CONDITIONED)
    else:
        assert (v.verdict, v.note, v.withheld) == ("supported", "", "")


def _stub_control(control):
    """``_stub`` below the bound, with the permuted-pairing Lambda ``control(m, n)`` of the
    ensemble mean ``m`` of a target sitting at ``n``."""
    base = _stub(0.5 * claims.CONDITION_MAX)

    def fake(X, limits, min_weight, seed):
        fit = base(X, limits, min_weight, seed)["fit"]
        m = fit.Lambda
        fit.Lambda_control = control(m, 4 * round(m / 4))
        return {"fit": fit}

    return fake


def test_lambda_null_gate_is_the_interval_test_on_the_control(monkeypatch):
    """|r| > 0 holds for any control with r != 0, so the null-control gate judges the
    control's own signed interval: a control whose resamples disagree on the sign leaves the
    claim decided; a control that tracks N as well as Lambda does withholds it."""
    # small differences between targets, swamped by the resampling noise of the mean
    wobble = {12: 0.0, 16: 0.01, 20: -0.01, 24: 0.005}
    monkeypatch.setattr(claims, "_einstein", _stub_control(lambda m, n: wobble[n] + 50.0 * (m - n)))
    res = claims.lambda_tracks_n(_run(), np.zeros((4, 2)))
    v = res.verdict
    assert v.control_value > 0  # the point test alone would call the control passing
    assert v.control_ci_low < 0 < v.control_ci_high
    assert (v.verdict, v.note) == ("supported", "")

    monkeypatch.setattr(claims, "_einstein", _stub_control(lambda m, n: 2.0 * m))
    v = claims.lambda_tracks_n(_run(), np.zeros((4, 2))).verdict
    assert v.control_ci_low > 0
    assert (v.verdict, v.note) == ("inconclusive", "null control passes")
