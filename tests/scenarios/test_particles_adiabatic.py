"""The adiabatic arm: the clone schedule moves the crossover number r slowly enough that the
particle density follows the predicted stationary state at every r.

Frozen harmonic ``V = theta^2 / 2`` (``langevin`` noise, ``eta = 0.01``, ``D = 1e-3``), 5000
particles, clone/kill births with population control and ``alpha`` on the schedule of
:func:`scenarios.particles.arms.adiabatic_schedule`: plateaus at r = 0.25, 1 and 4 joined by
exponential ramps with ``d ln r / dt = 0.1 x`` the current gap (the grid solver's first rate).
On each plateau (after the first 200 steps of the first, which starts from the Boltzmann
state) the density of the positions every 10 steps is compared, by L1 over 40 bins, with the
grid solver's stationary density at that r, against twice the split-half floor (time halves).

The batch-size half moves r on the real mean-field network (``per_neuron`` noise, N0 = 400
periodic RBF units, clone/kill at alpha = 0.5 and fixed mu_c = -0.004, eta = 0.05): the per-neuron
batch M follows the ``batch_size`` schedule of
:func:`scenarios.particles.adiabatic.batch_schedule`, plateaus at M = 2, 4, 2 (predicted r 4.19,
3.49, 4.19), one unit of M at a time with ``|Delta ln r| / Delta t <= 0.1 x`` the gap of the
population PDE linearised about the self-consistent state. On each plateau (the first after 2000
settling steps from uniform centres) D is measured by Kramers-Moyal on one-step pairs and the
density of the positions every 10 steps is compared, by L1 over 32 bins, with the
self-consistent Perron state at that measured D, against twice the split-half floor; the state
predicted at the other M is the control (more than twice the floor away on every plateau;
with 2000-step plateaus it is only 2.1-2.3 floors away, so 3000 is the smallest size that
separates the two r).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.imaginary_time import solve
from analysis.particles_stats import (
    density_l1,
    kramers_moyal_bins,
    on_grid,
    split_half_floor,
    transition_pairs,
)
from models import LearningSystem, SystemConfig
from runner import run_arm
from scenarios.particles import PopulationRecorder, frozen_config
from scenarios.particles.adiabatic import (
    ADIABATIC_ALPHA,
    ADIABATIC_BATCHES,
    ADIABATIC_ETA,
    batch_schedule,
    curvature_at_minimum,
    network,
    network_point,
)
from scenarios.particles.arms import (
    NET_MU_C,
    NET_N0,
    NET_NOISE,
    NETWORK_GRID,
    NetworkRecorder,
    adiabatic_schedule,
)

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


M_PLATEAU, M_FIRST, M_SETTLE = 3000, 5000, 2000
TWO_PI = 2 * math.pi


def test_the_batch_schedule_moves_r_no_faster_than_a_tenth_of_the_gap():
    net = network()
    steps, values, plateaus = batch_schedule(list(ADIABATIC_BATCHES), plateau=100, net=net)
    points = {m: network_point(net, ADIABATIC_ALPHA, m) for m in range(2, 5)}
    last_change = 0
    for i in range(1, len(steps)):
        if values[i] == values[i - 1]:
            continue
        a, b = points[values[i - 1]], points[values[i]]
        assert abs(values[i] - values[i - 1]) == 1 and steps[i] - steps[i - 1] == 1
        assert abs(math.log(b.r / a.r)) / (steps[i] - last_change) <= 0.1 * min(a.gap, b.gap)
        last_change = steps[i]
    assert [p[2] for p in plateaus] == list(ADIABATIC_BATCHES)
    assert all(b - a == 100 for a, b, *_ in plateaus)


@pytest.mark.slow
def test_adiabatic_batch_schedule_keeps_the_network_at_the_predicted_state():
    net = network()
    steps, values, plateaus = batch_schedule(
        list(ADIABATIC_BATCHES), plateau=M_PLATEAU, first=M_FIRST, net=net
    )
    clone = {
        "type": "neuron_count",
        "policy": "clone",
        "alpha": ADIABATIC_ALPHA,
        "population_control": False,
        "mu_c": NET_MU_C,
    }
    batch = {
        "type": "batch_size",
        "policy": "schedule",
        "steps": steps,
        "values": values,
        "m_min": min(ADIABATIC_BATCHES),
        "m_max": max(ADIABATIC_BATCHES),
    }
    cfg = SystemConfig(
        replicas=1,
        n_input=1,
        n_output=1,
        n_hidden=NET_N0,
        potential={"type": "rbf_network", "n0": NET_N0},
        noise_mode="per_neuron",
        step_size=ADIABATIC_ETA,
        batch_size=values[0],
        noise=NET_NOISE,
        record_every=10,
        seed=47,
        controllers=[clone, batch],
    )

    def build() -> LearningSystem:
        model = LearningSystem(cfg)
        model.step_hooks.append(NetworkRecorder(0))
        return model

    model = run_arm("adiabatic_batch", build, steps[-1])
    rec = next(h for h in model.step_hooks if isinstance(h, NetworkRecorder))
    table = rec.table()
    table = table[table.event == "alive"]
    psi = rec.psi_table()
    frame = model.model_frame()
    assert int(model.particles.refused.sum()) == 0
    predicted = {m: network_point(net, ADIABATIC_ALPHA, m) for m in set(ADIABATIC_BATCHES)}
    for first, last, m, r, gap in plateaus:
        start = first + M_SETTLE if first == 0 else first
        ms = frame[(frame.step > first) & (frame.step <= last)].batch_size
        assert (ms == m).all()
        window = table[(table.step >= start) & (table.step <= last)]
        pairs = transition_pairs(window[["step", "neuron_id", "theta"]], 1)
        km = kramers_moyal_bins(
            pairs.theta0, pairs.theta1, bins=16, span=(0.0, TWO_PI), period=TWO_PI
        )
        D = float(np.mean(on_grid(km, NETWORK_GRID, period=TWO_PI)))
        state = network_point(net, ADIABATIC_ALPHA, m, D=D)
        snaps = window[window.step % 10 == 0]
        theta = np.mod(snaps.theta.to_numpy(), TWO_PI)
        kw = {"bins": 32, "boundary": "periodic"}
        l1 = density_l1(theta, NETWORK_GRID, state.state.density, **kw)
        floor = split_half_floor(theta, NETWORK_GRID, groups=snaps.step.to_numpy(), **kw)
        other = predicted[next(b for b in predicted if b != m)]
        l1_other = density_l1(theta, NETWORK_GRID, other.state.density, **kw)
        averaged = psi[(psi.step >= start) & (psi.step <= last)].groupby("theta").psi.mean()
        k = curvature_at_minimum(averaged.to_numpy())
        r_measured = 2 * ADIABATIC_ALPHA * D / (ADIABATIC_ETA**2 * k)
        n = snaps.groupby("step").size().mean()
        print(
            f"MEASURED adiabatic batch plateau M = {m} (steps {start}-{last}): predicted r "
            f"{r:.2f} (gap {gap:.2e}), measured r {r_measured:.2f} (D {D:.3e}, predicted "
            f"{predicted[m].D:.3e}); N {n:.1f} (predicted {NET_N0 * state.state.mass:.1f}); L1 "
            f"to the state at this M {l1:.4f} vs 2 x floor {2 * floor:.4f}; to the state at M "
            f"= {other.batch} {l1_other:.4f}"
        )
        assert l1 <= 2 * floor
        assert l1_other > 2 * floor  # the test tells the two plateaus' states apart
