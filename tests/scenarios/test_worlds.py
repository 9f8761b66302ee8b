"""Known answers of replicas coupled through a density neuron (coupling put in by hand).

The entry points of :mod:`scenarios.worlds` run the learning system's real coupled replicas
(quadratic loss, exact gradients, small gamma; units ``hbar/(m omega)`` and ``1/omega``).
Acceptance, ``Var_g = (1 - 1/N)/2``:

- B1: the HDW ground variance is ``Var_g`` within 0.5 % (N = 20, 100); coupling off gives 0.
- B2: from rest at the scaled ground configuration, Var(k pi) = Var0 within 1 % and
  Var((k + 1/2) pi) = Var_g^2 / Var0 within 2 % over two periods; coupling off focuses to 0;
  the frozen snapshot does not breathe; the Calogero control breathes the same but its ground
  excess kurtosis is -1.00 +- 0.05 against HDW -0.17 +- 0.05 (only the shape is specific).
- B3: free spreading ``(Var(t) - Var0) Var0 / (t/2)^2 = (1 - 1/N)^2`` (0.98 at N = 100) for
  sigma_0 = 0.5, 1, 2; coupling off gives 0.
- Energy drift over 2 periods at T = 0 without friction < 1e-4 (relative).
- SGD units: R = 100, k = 1, gamma = 0.01, beta = 1, c_F = 5e-5: hbar = 0.2,
  Var_g = 0.01 (1 - 1/R), breathing period 31.4 steps.
- The kernel estimator's stationary width (bandwidth 0.12) is within 10 % of Var_g.
- B4 (documentation): in a head-on collision (k0 = pi) the replica histogram's correlation with
  the quantum interference term stays below 0.3 for HDW, Calogero and coupling off alike, while
  replicas sampled from the quantum density (the fringes planted) give more than 0.9.

Each check is also applied to a control on which it must fail. A smoke subset at N = 20 runs in
``make test``; the N = 100 checks are slow.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scenarios.worlds import breathing, ground_state, spreading
from scenarios.worlds.known_answers import (
    RELAX_ACCURACY,
    RELAX_FRICTION,
    collision,
    packet_density,
    positive_trajectories,
    relax,
    trajectory,
    units,
)


def var_g(n: int) -> float:
    return (1.0 - 1.0 / n) / 2.0


def b1_ok(var: float, n: int) -> bool:
    return abs(var / var_g(n) - 1.0) <= 0.005


def b2_ok(df: pd.DataFrame, n: int, var0: float, periods: int = 2) -> bool:
    """Var at t = k pi/2 (nearest sample) against the undamped breathing, k = 1 .. 2 periods."""
    for k in range(1, 2 * periods + 1):
        i = int(np.argmin(np.abs(df["t"].to_numpy() - k * math.pi / 2)))
        v = float(df["var"].iloc[i])
        want, tol = (var_g(n) ** 2 / var0, 0.02) if k % 2 else (var0, 0.01)
        if abs(v / want - 1.0) > tol:
            return False
    return True


def b3_ok(df: pd.DataFrame, n: int) -> bool:
    ratio = df["ratio"].iloc[-1]
    return abs(ratio - (1.0 - 1.0 / n) ** 2) <= 0.01


# --------------------------------------------------------------------------- smoke (N = 20)
def test_entry_points_shapes():
    df = breathing(8, 1.0, periods=1)
    assert list(df.columns) == ["t", "var"]
    per_period = (df["t"] <= math.pi).sum()
    assert per_period >= 40
    assert df["t"].iloc[0] == 0.0 and df["var"].iloc[0] == pytest.approx(1.0)


def test_b1_smoke():
    v = ground_state(20)
    assert b1_ok(v, 20), v
    off = relax(20, coupling=False)["var"].iloc[-1]
    assert off < 0.01 and not b1_ok(off, 20)


def test_b2_smoke():
    assert b2_ok(breathing(20, 1.0), 20, 1.0)
    off = breathing(20, 1.0, periods=0.5, coupling=False)
    assert off["var"].min() < 0.01
    assert not b2_ok(breathing(20, 1.0, coupling=False), 20, 1.0)
    frozen = breathing(20, 1.0, estimator="frozen")  # no self-consistency: nothing moves
    assert frozen["var"].min() > 0.99 and not b2_ok(frozen, 20, 1.0)
    assert b2_ok(breathing(20, 1.0, estimator="calogero"), 20, 1.0)


def test_b3_smoke():
    assert b3_ok(spreading(20, 1.0), 20)
    off = trajectory(20, 1.0, 2.0, k=0.0, coupling=False)
    assert abs(off["var"].iloc[-1] - 1.0) < 1e-9  # at rest, uncoupled: nothing spreads


def test_sgd_units():
    u = units(1.0, 0.01, 5e-5)
    assert u["hbar"] == pytest.approx(0.2)
    assert u["m"] == pytest.approx(100.0)
    assert 2 * math.pi / u["omega"] / 2 == pytest.approx(31.4159, rel=1e-4)  # breathing, steps
    assert var_g(100) * u["var_unit"] == pytest.approx(0.01 * (1 - 1 / 100))


# --------------------------------------------------------------------------- slow (N = 100)
@pytest.mark.slow
@pytest.mark.parametrize("n", [20, 100])
def test_b1_ground_width(n):
    v = ground_state(n)
    assert b1_ok(v, n), (v, var_g(n))
    off = relax(n, coupling=False)["var"].iloc[-1]
    assert off < 0.01 and not b1_ok(off, n)


@pytest.mark.slow
def test_b2_breathing_and_calogero_shape():
    n = 100
    hdw = trajectory(n, 1.0, 2 * math.pi)
    assert b2_ok(hdw, n, 1.0)
    e = hdw["energy"].to_numpy()  # energy drift over 2 periods, frictionless, T = 0
    slope = np.polyfit(hdw["t"].to_numpy(), e, 1)[0]
    assert abs(slope * hdw["t"].iloc[-1]) / e[0] < 1e-4
    off = breathing(n, 1.0, coupling=False)
    assert off["var"].iloc[np.argmin(np.abs(off["t"] - math.pi / 2))] < 0.01
    assert not b2_ok(off, n, 1.0)
    assert b2_ok(breathing(n, 1.0, estimator="calogero"), n, 1.0)
    # the shape: relaxed ground states from normal quantiles (not from the ground configuration)
    k_hdw = relax(n)["kurtosis"].iloc[-1]
    k_cal = relax(n, estimator="calogero")["kurtosis"].iloc[-1]
    assert abs(k_hdw + 0.17) <= 0.05, k_hdw
    assert abs(k_cal + 1.00) <= 0.05, k_cal
    assert abs(k_hdw + 1.00) > 0.05 and abs(k_cal + 0.17) > 0.05  # each is the other's control


@pytest.mark.slow
@pytest.mark.parametrize("sigma0", [0.5, 1.0, 2.0])
def test_b3_free_spreading(sigma0):
    n = 100
    df = spreading(n, sigma0**2)
    assert abs(df["ratio"].iloc[-1] - 0.98) <= 0.02 and b3_ok(df, n), df["ratio"].iloc[-1]
    off = trajectory(n, sigma0**2, 2.0, k=0.0, coupling=False)
    off_ratio = (off["var"].iloc[-1] - sigma0**2) * sigma0**2 / (off["t"].iloc[-1] / 2) ** 2
    assert abs(off_ratio) < 1e-6


@pytest.mark.slow
def test_sgd_units_run():
    n, gamma = 100, 0.01
    u = units(1.0, gamma, 5e-5)
    ground = trajectory(
        n,
        1.0,
        12.0,
        start="quantiles",
        friction=RELAX_FRICTION,
        gamma=gamma,
        accuracy=RELAX_ACCURACY,
    )
    raw = ground["var"].iloc[-1] * u["var_unit"]
    assert raw == pytest.approx(0.01 * (1 - 1 / n), rel=0.005)
    df = trajectory(n, 1.0, 2 * math.pi, gamma=gamma)  # Var(0) = 0.02 in parameter units
    v = df["var"].to_numpy()
    minima = [i for i in range(1, v.size - 1) if v[i] < v[i - 1] and v[i] <= v[i + 1]]
    assert len(minima) == 2
    steps = []
    for i in minima:  # parabolic interpolation of each focus
        a, b, c = v[i - 1], v[i], v[i + 1]
        steps.append(df["step"].iloc[i] + 0.5 * (a - c) / (a - 2 * b + c))
    period = steps[1] - steps[0]
    assert period == pytest.approx(31.4, abs=0.3), period
    assert v[minima[0]] * u["var_unit"] == pytest.approx(0.005 * (1 - 1 / n) ** 2, rel=0.02)
    off = trajectory(n, 1.0, math.pi, gamma=gamma, coupling=False)
    assert off["var"].min() < 0.01  # control: no coupling, no zero-point focus


@pytest.mark.slow
def test_kernel_stationary_width():
    n = 100
    v = ground_state(n, estimator="kernel")
    assert abs(v / var_g(n) - 1.0) <= 0.10, v
    off = relax(n, estimator="kernel", coupling=False)["var"].iloc[-1]
    assert abs(off / var_g(n) - 1.0) > 0.10


def test_b4_smoke():
    x = np.linspace(-10, 10, 8001)
    smooth, fringes = packet_density(x, 1.0, (-3.0, 3.0), math.pi, 0.5)
    assert np.trapezoid(smooth + fringes, x) == pytest.approx(1.0, abs=1e-6)
    out = collision(100, coupling=False)
    assert abs(out["corr"]) < 0.3 and out["positive"] > 0.9 and out["t"] == pytest.approx(1.0)


@pytest.mark.slow
@pytest.mark.parametrize(("estimator", "coupling"), [("hdw", True), ("calogero", True)])
def test_b4_no_fringes(estimator, coupling):
    out = collision(400, estimator=estimator, coupling=coupling)
    assert out["positive"] > 0.9  # the statistic sees planted fringes
    assert abs(out["corr"]) < 0.3, out  # documentation: the coupled replicas form none


def test_positive_trajectories_in_sgd_units():
    df = positive_trajectories(20, 32)
    assert df.columns.tolist() == ["step", "replica", "q_0"]
    var = df.groupby("step")["q_0"].var(ddof=0)
    assert var.iloc[0] == pytest.approx(0.02)
    assert var.iloc[16] == pytest.approx(0.02 * var_g(20) ** 2, rel=0.02)  # focus at 15.7 steps
    assert var.iloc[31] == pytest.approx(0.02, rel=0.01)  # back after 31.4 steps
