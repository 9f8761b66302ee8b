"""The adiabatic arm: the clone schedule moves the crossover number r slowly enough that the
particle density follows the predicted stationary state at every r.

Frozen harmonic ``V = theta^2 / 2`` (``langevin`` noise, ``eta = 0.01``, ``D = 1e-3``), 5000
particles, clone/kill births with population control and ``alpha`` on the schedule of
:func:`scenarios.particles.arms.adiabatic_schedule`: plateaus at r = 0.25, 1 and 4 joined by
exponential ramps with ``d ln r / dt = 0.1 x`` the current gap (the grid solver's first rate).
On each plateau (after the first 200 steps of the first, which starts from the Boltzmann
state) the density of the positions every 10 steps is compared, by L1 over 40 bins, with the
grid solver's stationary density at that r, against twice the split-half floor (time halves).
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.imaginary_time import solve
from analysis.particles_stats import density_l1, split_half_floor
from models import LearningSystem
from runner import run_arm
from scenarios.particles import PopulationRecorder, frozen_config
from scenarios.particles.arms import adiabatic_schedule

D, ETA, N = 1e-3, 0.01, 5000
RS = (0.25, 1.0, 4.0)
PLATEAU, SETTLE = 700, 200
X = np.linspace(-2.0, 2.0, 801)
BINS = np.linspace(-1.5, 1.5, 41)


def test_the_schedule_moves_r_no_faster_than_a_tenth_of_the_gap():
    steps, values, plateaus = adiabatic_schedule(list(RS), D=D, eta=ETA, plateau=PLATEAU)
    for i in range(len(steps) - 1):
        (s0, a0), (s1, a1) = (steps[i], values[i]), (steps[i + 1], values[i + 1])
        if a0 == a1:
            continue
        r0, r1 = (a * 2 * D / ETA**2 for a in (a0, a1))
        gap = min(solve(X, X**2 / 2, D=D, eta=ETA, alpha=a).rates[0] for a in (a0, a1))
        assert abs(np.log(r1 / r0)) / (s1 - s0) <= 0.1 * gap * 1.01
    assert [p[2] for p in plateaus] == list(RS)


@pytest.mark.slow
def test_adiabatic_alpha_schedule_keeps_the_density_at_the_predicted_state():
    steps, values, plateaus = adiabatic_schedule(list(RS), D=D, eta=ETA, plateau=PLATEAU)
    potential = {"type": "polynomial", "coefficients": [0.0, 0.0, 0.5]}
    cfg = frozen_config(potential, D=D, eta=ETA, alpha=0.05, n=N, seed=23)
    spec = {k: v for k, v in cfg.controllers[0].items() if k != "alpha"}
    spec.update(steps=steps, values=values, interpolation="exponential")
    cfg = cfg.replace(controllers=[spec])

    def build() -> LearningSystem:
        model = LearningSystem(cfg)
        rec = PopulationRecorder()
        model.step_hooks.append(rec)
        rec(model)
        return model

    model = run_arm("adiabatic", build, steps[-1])
    rec = next(h for h in model.step_hooks if isinstance(h, PopulationRecorder))
    pos = rec.positions()
    assert int(model.particles.refused.sum()) == 0
    for first, last, r in plateaus:
        start = first + SETTLE if first == 0 else first
        window = pos[(pos.step >= start) & (pos.step <= last)]
        alpha = r * ETA**2 / (2 * D)
        pred = solve(X, X**2 / 2, D=D, eta=ETA, alpha=alpha)
        l1 = density_l1(window.theta, X, pred.density, bins=BINS)
        floor = split_half_floor(window.theta, X, bins=BINS, groups=window.step)
        var = float(window.groupby("step").theta.var(ddof=0).mean())
        print(
            f"MEASURED adiabatic plateau r = {r}: L1 {l1:.4f} vs 2 x floor {2 * floor:.4f}; "
            f"Var {var:.5f} vs predicted {pred.mean(X**2):.5f}"
        )
        assert l1 <= 2 * floor
