"""The clone policy of the neuron-count controller (DMC branching of frozen-potential particles)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.cloning import log_density
from agents.neuron_count import NeuronCountController
from models import ConfigError, LearningSystem, SystemConfig

HARMONIC = {"type": "polynomial", "coefficients": [0.0, 0.0, 0.5]}
FROZEN = {
    "potential": HARMONIC,
    "diffusion": 1e-3,
    "noise_mode": "langevin",
    "step_size": 0.01,
    "n_input": 1,
    "n_output": 1,
}


def clone(**spec):
    return {"type": "neuron_count", "policy": "clone", **spec}


def model_with(spec, n=400, replicas=2, seed=0, **fields):
    return LearningSystem(
        **{**FROZEN, **fields}, n_hidden=n, replicas=replicas, seed=seed, controllers=[spec]
    )


BAD = [
    (clone(), "controllers[0].alpha: None; expected a number >= 0 or a schedule"),
    (clone(alpha=-1.0), "controllers[0].alpha: -1.0; expected a number in [0, inf)"),
    (clone(alpha=0.1, beta_c=2.0), "controllers[0].beta_c: 2.0; expected a parameter of"),
    (clone(alpha=0.1, mu_c=0.1), "controllers[0].mu_c: 0.1; expected no mu_c with population"),
    (
        clone(alpha=0.1, population_control=False),
        "controllers[0].mu_c: None; expected a number (the fixed mu_c",
    ),
    (clone(alpha=0.1, zeta=0.0), "controllers[0].zeta: 0.0; expected a number in (0, inf)"),
    (clone(alpha=0.1, variant="x"), "controllers[0].variant: 'x'; expected one of loss"),
    (
        clone(alpha=0.1, variant="entropy_aware", population_control=False, mu_c=0.0),
        "controllers[0].variant: 'entropy_aware'; expected population control",
    ),
    (clone(alpha=0.1, n_max=0), "controllers[0].n_max: 0; expected an integer >= 1"),
    (
        clone(alpha=0.1, steps=[0, 10], values=[0.0, 0.1]),
        "controllers[0].alpha: 0.1; expected no alpha with a schedule",
    ),
]


@pytest.mark.parametrize(("spec", "message"), BAD)
def test_bad_clone_tables_are_refused_in_one_line(spec, message):
    with pytest.raises(ConfigError) as err:
        SystemConfig(**FROZEN, controllers=[spec])
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_clone_needs_particles_and_particles_need_clone():
    with pytest.raises(ConfigError, match=r"^controllers\[0\]\.policy: 'clone'; expected a model"):
        LearningSystem(replicas=2, n_hidden=2, controllers=[clone(alpha=0.1)])
    spec = {"type": "neuron_count", "mu_c": 0.0}
    with pytest.raises(ConfigError, match=r"policy: 'grand_canonical'; expected 'clone'"):
        LearningSystem(**FROZEN, n_hidden=10, controllers=[spec])


def test_consistency_policy_refuses_a_clone_controller_in_one_line():
    specs = [clone(alpha=0.1), {"type": "step_size", "policy": "consistency", "mu_c": 0.1}]
    with pytest.raises(ConfigError) as err:
        LearningSystem(**FROZEN, n_hidden=10, controllers=specs)
    text = str(err.value)
    assert text.startswith("controllers[1].policy: 'consistency'; expected no consistency")
    assert "\n" not in text


def test_branching_logs_events_keeps_lineage_and_never_refuses():
    model = model_with(clone(alpha=0.05), n=400, replicas=3)
    model.run(50, progress=False)
    ctrl = model.controllers[0]
    assert isinstance(ctrl, NeuronCountController)
    parts = model.particles
    ev = model.controller_events()
    assert set(ev.action) == {"branch"} and len(ev) == 150
    last = ev[ev.step == 50]
    assert last.after.tolist() == parts.counts().tolist()
    assert int(ctrl.engine.refused.sum()) == 0 and parts.refused.sum() == 0
    assert parts.births.sum() > 0 and parts.deaths.sum() > 0
    ids = parts.neuron_id[parts.active]
    assert ids.size == np.unique(ids).size
    born = parts.active & (parts.parent_id >= 0)
    assert np.all(parts.birth_step[born] >= 1) and np.all(parts.parent_id[born] < parts.next_id)
    frame = model.model_frame()
    for col in ("mu_c", "alpha", "births", "deaths", "refused", "capacity"):
        assert f"neuron_count_{col}" in frame.columns
    assert frame["neuron_count_refused"].iloc[-1] == 0
    # population control holds N near its target
    assert np.all(np.abs(parts.counts() - 400) < 80)


def test_alpha_zero_does_not_branch_and_mu_c_is_nan():
    model = model_with(clone(alpha=0.0), n=200)
    model.run(20, progress=False)
    assert model.particles.counts().tolist() == [200, 200]
    assert math.isnan(model.controllers[0].mu_c)
    assert model.particles.births.sum() == 0


def test_fixed_mu_c_grows_or_shrinks_the_population():
    # mu* = 0.0414 here: a mu_c far above it makes the population grow, far below shrink
    up = model_with(clone(alpha=0.05, population_control=False, mu_c=0.5), n=200, replicas=1)
    up.run(30, progress=False)
    down = model_with(clone(alpha=0.05, population_control=False, mu_c=-0.5), n=200, replicas=1)
    down.run(30, progress=False)
    assert up.particles.counts()[0] > 300 and down.particles.counts()[0] < 120
    assert up.controllers[0].mu_c == 0.5
    assert up.particles.capacity >= up.particles.counts()[0]


def test_interval_branches_every_k_steps_only():
    model = model_with(clone(alpha=0.05, interval=5), n=200)
    model.run(20, progress=False)
    assert sorted(set(model.controller_events().step)) == [5, 10, 15, 20]


def test_alpha_schedule_is_followed():
    spec = clone(steps=[0, 10], values=[0.0, 0.1])
    model = model_with(spec, n=100, replicas=1, record_every=1)
    model.run(10, progress=False)
    assert model.controllers[0].engine.last_alpha == pytest.approx(0.1)
    assert model.model_frame()["neuron_count_alpha"].tolist()[1] == pytest.approx(0.01)


def test_null_variants_run_and_shuffled_keeps_the_mean_potential():
    for variant in ("shuffled", "entropy_aware"):
        model = model_with(clone(alpha=0.05, variant=variant), n=300)
        model.run(10, progress=False)
        assert np.all(np.abs(model.particles.counts() - 300) < 60)
        assert np.isfinite(model.controllers[0].mu_c)


def test_same_seed_same_branching():
    a = model_with(clone(alpha=0.05, variant="shuffled"), n=300, seed=4)
    b = model_with(clone(alpha=0.05, variant="shuffled"), n=300, seed=4)
    a.run(15, progress=False)
    b.run(15, progress=False)
    assert np.array_equal(a.particles.theta, b.particles.theta)
    assert np.array_equal(a.particles.neuron_id, b.particles.neuron_id)


def test_log_density_of_a_periodic_uniform_sample_is_flat():
    x = np.random.default_rng(1).uniform(0, 2 * np.pi, size=(20_000, 1))
    ld = log_density(x, (2 * np.pi,))
    assert abs(ld.mean() + np.log(2 * np.pi)) < 0.01
    two = np.random.default_rng(2).normal(size=(20_000, 2))
    ld2 = log_density(two, (None, None))
    exact = -np.log(2 * np.pi) - 0.5 * (two**2).sum(axis=1)
    assert np.abs(ld2 - exact).mean() < 0.08
