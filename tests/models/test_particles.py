"""Frozen-potential mode: the particle fields of SystemConfig, potentials, particle arrays."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from models import ConfigError, LearningSystem, SystemConfig
from models.learning_system import STREAMS
from models.particles import ParticleRecorder, Particles, boundary_config
from models.potentials import check_potential, make_potential

HARMONIC = {"type": "polynomial", "coefficients": [0.0, 0.0, 0.5]}
FROZEN = {"potential": HARMONIC, "diffusion": 1e-3, "noise_mode": "langevin", "step_size": 0.01}

BAD = [
    ({"noise_mode": "quantum"}, "noise_mode: 'quantum'; expected one of common, per_neuron"),
    ({"noise_mode": "per_neuron"}, "noise_mode: 'per_neuron'; expected 'common' or 'langevin'"),
    ({"noise_mode": "langevin"}, "diffusion: None; expected a number >= 0 (D of noise_mode"),
    ({"noise_mode": "langevin", "diffusion": 1e-3}, "noise_mode: 'langevin'; expected 'common'"),
    ({"diffusion": 1e-3}, "diffusion: 0.001; expected None without a potential"),
    ({"potential": HARMONIC}, "diffusion: None; expected a number >= 0 (D of the particles)"),
    ({**FROZEN, "diffusion": -1.0}, "diffusion: -1.0; expected a number in [0, inf)"),
    ({**FROZEN, "potential": 3}, "potential: 3; expected a table with a 'type' key"),
    ({**FROZEN, "potential": {"type": "morse"}}, "potential.type: 'morse'; expected one of"),
    (
        {**FROZEN, "potential": {"type": "polynomial", "coefficients": [0, 1]}},
        "potential.coefficients: [0, 1]; expected a polynomial bounded below",
    ),
    (
        {**FROZEN, "potential": {"type": "polynomial", "coefficients": [0, 0, -1]}},
        "potential.coefficients: [0, 0, -1]; expected a polynomial bounded below",
    ),
    (
        {**FROZEN, "potential": {"type": "polynomial", "coefficients": [0, "a", 1]}},
        "potential.coefficients: [0, 'a', 1]; expected finite numbers (entry 1 is 'a')",
    ),
    (
        {**FROZEN, "potential": {"type": "polynomial", "coefficients": []}},
        "potential.coefficients: []; expected a non-empty list",
    ),
    (
        {**FROZEN, "potential": {"type": "cosine", "amplitude": 1.0, "wavenumber": 0}},
        "potential.wavenumber: 0; expected an integer >= 1",
    ),
    (
        {**FROZEN, "potential": {"type": "cosine", "wavenumber": 1}},
        "potential.amplitude: None; expected a number",
    ),
    (
        {**FROZEN, "potential": {"type": "cosine", "amplitude": 1, "wavenumber": 1, "k": 2}},
        "potential.k: 2; expected a key of a cosine potential",
    ),
    (
        {**FROZEN, "potential": {"type": "separable", "axes": [HARMONIC]}},
        "potential.axes: [{'type': 'polynomial'",
    ),
    (
        {**FROZEN, "potential": {"type": "separable", "axes": [HARMONIC, {"type": "x"}]}},
        "potential.axes[1].type: 'x'; expected one of polynomial, cosine",
    ),
    ({**FROZEN, "momentum": 0.5}, "momentum: 0.5; expected 0 with a potential"),
    ({**FROZEN, "record_noise": True}, "record_noise: True; expected false with a potential"),
    ({**FROZEN, "topology": "recurrent"}, "topology: 'recurrent'; expected 'layered'"),
    ({**FROZEN, "step_size": -0.1}, "step_size: -0.1; expected a number in [0, inf)"),
]


@pytest.mark.parametrize(("fields", "message"), BAD)
def test_bad_particle_fields_name_the_field_in_one_line(fields, message):
    with pytest.raises(ConfigError) as err:
        SystemConfig(**fields)
    text = str(err.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_particle_fields_round_trip_and_defaults_stay_out_of_the_toml():
    assert "noise_mode" not in SystemConfig().to_toml()
    assert "potential" not in SystemConfig().to_dict()
    pot = {
        "type": "separable",
        "axes": [HARMONIC, {"type": "cosine", "amplitude": 1, "wavenumber": 2}],
    }
    cfg = SystemConfig(**{**FROZEN, "potential": pot, "step_size": 0.0, "n_hidden": 10})
    assert cfg.step_size == 0.0
    assert cfg.potential["axes"][1] == {
        "type": "cosine",
        "amplitude": 1.0,
        "wavenumber": 2,
        "phase": 0.0,
    }
    assert SystemConfig.from_dict(cfg.to_dict()) == cfg
    path = Path(tempfile.mkdtemp()) / "c.toml"
    path.write_text(cfg.to_toml())
    assert SystemConfig.from_toml(path) == cfg


def test_many_particles_pass_the_memory_guard_without_a_weight_matrix():
    cfg = SystemConfig(**FROZEN, n_hidden=200_000, replicas=4)
    assert cfg.estimated_bytes() < 2**30
    with pytest.raises(ConfigError):
        SystemConfig(n_hidden=200_000, replicas=4)
    assert boundary_config(cfg).n_neurons_max == cfg.n_input + cfg.n_output


def test_appended_streams_leave_the_old_streams_unchanged():
    assert STREAMS[:8] == (
        "graph",
        "init",
        "task",
        "batch",
        "relax",
        "controllers",
        "projection",
        "growth",
    )
    model = LearningSystem(replicas=2, n_hidden=2, seed=11)
    seeds = np.random.SeedSequence(11).spawn(8)
    for name, seed in zip(STREAMS[:8], seeds, strict=True):
        fresh = np.random.default_rng(seed)
        assert model.streams[name].bit_generator.state == fresh.bit_generator.state or name in (
            "graph",
            "init",
            "task",
            "projection",
        )
    # the streams consumed at build time continue the same sequence as a fresh spawn
    fresh = np.random.default_rng(seeds[3])  # "batch": not used before the first step
    assert model.streams["batch"].random() == fresh.random()


def test_potentials_values_gradients_and_minima():
    pot = make_potential({"type": "polynomial", "coefficients": [1.0, 0.0, -2.0, 0.0, 1.0]})
    x = np.linspace(-2, 2, 9)[:, None]
    assert np.allclose(pot.value(x), (x[:, 0] ** 2 - 1) ** 2)
    assert np.allclose(pot.gradient(x)[:, 0], 4 * x[:, 0] * (x[:, 0] ** 2 - 1))
    assert pot.minimum().tolist() == [-1.0]
    assert pot.curvatures().round(9).tolist() == [8.0]
    cos = make_potential({"type": "cosine", "amplitude": 0.5, "wavenumber": 3, "phase": 0.3})
    grid = np.linspace(0, 2 * np.pi, 10_001)[:, None]
    at = cos.minimum()
    assert cos.value(at[None])[0] <= cos.value(grid).min() + 1e-12
    assert 0 <= at[0] < 2 * np.pi / 3  # the first of the three minima
    assert check_potential(HARMONIC) == HARMONIC


def test_branch_copies_lineage_every_array_and_counts_refusals():
    pot = make_potential(HARMONIC)
    p = Particles(pot, replicas=3, n=4, capacity=4)
    p.place(np.arange(12.0).reshape(3, 4, 1))
    momentum = np.arange(12.0).reshape(3, 4) * 10
    p.register("momentum", momentum)
    copies = np.array([[0, 0, 4, 1], [1, 1, 1, 1], [2, 2, 2, 2]])
    births, deaths, refused = p.branch(copies, step=7)
    assert births.tolist() == [3, 0, 4] and deaths.tolist() == [2, 0, 0]
    assert refused.tolist() == [0, 0, 0]
    assert p.counts().tolist() == [5, 4, 8] and p.capacity == 10
    r0 = p.active[0]
    assert sorted(p.theta[0][r0, 0].tolist()) == [2.0, 2.0, 2.0, 2.0, 3.0]
    assert np.array_equal(p.arrays["momentum"][0][r0] / 10, p.theta[0][r0, 0])
    born = p.parent_id >= 0
    assert np.all(p.birth_step[born] == 7) and born.sum() == 7
    ids = p.neuron_id[p.active]
    assert ids.size == np.unique(ids).size  # unique within the run
    assert p.neuron_id[0][p.parent_id[0] == 2].tolist() == [12, 13, 14]
    # recycled slots first: replica 0's births sit in its freed slots 0, 1 and in slot 4
    assert np.nonzero(r0)[0].tolist() == [0, 1, 2, 3, 4]
    # a cap refuses births (counted), never silently
    births, deaths, refused = p.branch(np.where(p.active, 3, 0), step=8, n_max=10)
    assert p.counts().tolist() == [10, 10, 10] and refused.tolist() == [5, 2, 14]
    assert births.tolist() == [5, 6, 2]
    assert p.refused.tolist() == [5, 2, 14]


def test_frozen_mode_model_moves_particles_and_records_population_means():
    model = LearningSystem(**FROZEN, replicas=2, n_hidden=500, seed=1, record_every=5)
    assert model.particles.counts().tolist() == [500, 500]
    model.run(10, progress=False)
    traj = model.trajectories()
    assert list(traj.columns) == [
        "step",
        "replica",
        "n_neurons",
        "step_size",
        "batch_size",
        "loss",
        "free_energy",
        "q_0",
    ]
    last = traj[traj.step == 10]
    assert np.allclose(last.q_0, model.particles.theta[..., 0].mean(axis=1))
    assert np.allclose(last.loss, 0.5 * (model.particles.theta[..., 0] ** 2).mean(axis=1))
    assert last.n_neurons.tolist() == [500, 500]
    assert model.model_frame()["n_neurons"].iloc[-1] == 500
    # the same seed gives the same particles
    again = LearningSystem(**FROZEN, replicas=2, n_hidden=500, seed=1, record_every=5)
    again.run(10, progress=False)
    assert np.array_equal(again.particles.theta, model.particles.theta)


def test_common_noise_never_separates_identical_particles():
    model = LearningSystem(**{**FROZEN, "noise_mode": "common"}, replicas=2, n_hidden=4, seed=0)
    model.particles.place(np.full((2, 4, 1), 0.3))
    model.run(200, progress=False)
    theta = model.particles.theta[..., 0]
    assert np.ptp(theta, axis=1).max() <= 1e-12
    assert abs(theta[0, 0] - theta[1, 0]) > 1e-3  # the replicas draw their own noise


def test_two_dimensional_and_periodic_positions():
    pot = {
        "type": "separable",
        "axes": [HARMONIC, {"type": "cosine", "amplitude": 1.0, "wavenumber": 1, "phase": 0.0}],
    }
    model = LearningSystem(**{**FROZEN, "potential": pot}, replicas=1, n_hidden=300, seed=2)
    model.run(20, progress=False)
    theta = model.particles.positions(0)
    assert theta.shape == (300, 2)
    assert theta[:, 1].min() >= 0 and theta[:, 1].max() < 2 * np.pi
    assert model.trajectories().filter(like="q_").shape[1] == 2


NETWORK = {"type": "rbf_network"}
NET = {"potential": NETWORK, "noise_mode": "per_neuron", "step_size": 0.05, "batch_size": 2}


def test_network_fields_are_checked_in_one_line():
    for fields, message in (
        ({**NET, "diffusion": 1e-3}, "diffusion: 0.001; expected None with noise_mode per_neuron"),
        ({**NET, "potential": {"type": "rbf_network", "train": "a"}}, "potential.train: 'a'"),
        ({**NET, "potential": {"type": "rbf_network", "width": 0}}, "potential.width: 0"),
        (
            {**NET, "potential": {"type": "rbf_network", "weights": [1.0], "centres": [1, 2]}},
            "potential.weights: [1.0]; expected one weight >= 0 per centre",
        ),
        ({**NET, "noise_mode": "langevin"}, "diffusion: None; expected a number >= 0"),
    ):
        with pytest.raises(ConfigError) as err:
            SystemConfig(**fields)
        assert str(err.value).startswith(message), str(err.value)


def test_network_psi_is_the_first_variation_and_per_neuron_noise_has_the_predicted_d():
    model = LearningSystem(**NET, replicas=1, n_hidden=400, noise=1.0, seed=0)
    net = model.particles.potential
    theta, active = model.particles.theta, model.particles.active
    x = net.xq
    r = net.gq - net.output(theta, active, x)[0]
    c = theta[0, :4, 0]
    phi = np.exp((np.cos(x[None, :] - c[:, None]) - 1) / 0.09)
    assert np.allclose(net.psi(theta, active)[0, :4], -(phi * r).mean(axis=1), atol=1e-15)
    # Psi is the first variation: adding a neuron at c changes R by Psi(c) / N0 + O(1/N0^2)
    more = np.concatenate([theta, theta[:, :1]], axis=1)
    grown = np.concatenate([active, [[True]]], axis=1)
    d_loss = net.loss(more, grown)[0] - net.loss(theta, active)[0]
    second = np.mean(phi[0] ** 2) / (2 * 400**2)
    assert d_loss == pytest.approx(net.psi(theta, active)[0, 0] / 400 + second, rel=1e-9)
    model.run(200, progress=False)
    incs = []
    for _ in range(100):
        before = model.particles.theta[0, :, 0].copy()
        model.step()
        incs.append(np.mod(model.particles.theta[0, :, 0] - before + np.pi, 2 * np.pi) - np.pi)
    D = np.var(incs) / 2
    predicted = 0.05**2 / (8 * 2 * np.sqrt(np.pi) * 0.3)  # eta^2 sigma_y^2 / (8 M sqrt(pi) l)
    assert D == pytest.approx(predicted, rel=0.08)


def test_common_minibatch_never_separates_clones_in_the_network():
    model = LearningSystem(**{**NET, "noise_mode": "common"}, replicas=1, n_hidden=50, seed=1)
    theta = model.particles.theta
    theta[0, 25:] = theta[0, :25]
    model.run(100, progress=False)
    sep = np.abs(model.particles.theta[0, 25:] - model.particles.theta[0, :25])
    assert sep.max() <= 1e-12
    assert np.ptp(model.particles.theta[0, :25]) > 0.1  # they do move


def test_network_with_trained_amplitudes_has_two_coordinates_and_exact_gradients():
    pot = {"type": "rbf_network", "train": "amplitude_center", "amplitude": 0.8}
    model = LearningSystem(**{**NET, "potential": pot}, replicas=2, n_hidden=30, seed=2)
    net = model.particles.potential
    theta, active = model.particles.theta, model.particles.active
    assert theta.shape == (2, 30, 2) and np.all(theta[..., 0] == 0.8)
    grad = net.exact_gradient(theta, active)
    r = net.residual(theta, active)[0]  # the first variation holds the population fixed

    def psi(a: float, c: float) -> float:
        return -a * float(np.mean(r * np.exp((np.cos(net.xq - c) - 1) * net.inv)))

    a, c, h = theta[0, 3, 0], theta[0, 3, 1], 1e-6
    assert psi(a, c) == pytest.approx(net.psi(theta, active)[0, 3], rel=1e-12)
    assert (psi(a + h, c) - psi(a - h, c)) / (2 * h) == pytest.approx(grad[0, 3, 0], rel=1e-6)
    assert (psi(a, c + h) - psi(a, c - h)) / (2 * h) == pytest.approx(grad[0, 3, 1], rel=1e-6)
    model.run(5, progress=False)
    assert model.trajectories().filter(like="q_").shape[1] == 2


def test_recorder_events_log_every_birth_and_death_with_lineage():
    spec = {"type": "neuron_count", "policy": "clone", "alpha": 0.5}
    model = LearningSystem(**FROZEN, replicas=2, n_hidden=200, seed=3, controllers=[spec])
    rec = ParticleRecorder(every=5, events=True)
    model.step_hooks.append(rec)
    rec(model)
    model.run(20, progress=False)
    tab = rec.table()
    parts = model.particles
    births, deaths = tab[tab.event == "birth"], tab[tab.event == "death"]
    assert len(births) == parts.births.sum() and len(deaths) == parts.deaths.sum()
    assert (births.birth_step == births.step).all() and births.step.between(1, 20).all()
    # a dead particle never comes back, a born one has a living or recorded parent
    assert not set(deaths.neuron_id) & set(parts.neuron_id[parts.active])
    known = set(tab.neuron_id)
    assert set(births.parent_id) <= known
    alive = tab[(tab.event == "alive") & (tab.step == 20)]
    assert len(alive) == parts.counts().sum()
