"""The density-neuron coupling and its inertial integrator (models.coupling).

Forces are checked against finite differences of the energies (each estimator; another
estimator's force is the control that must fail), the sub-step kernel against a plain
velocity-Verlet loop, the config rules (``momentum = 1`` only with a coupling), the density
neuron's node and units, the exact harmonic ground configurations (HDW ``(1 - 1/N)/2``,
excess kurtosis -0.17 against the Calogero semicircle's -1.00) and energy conservation of a
frictionless coupled run (control: one sub-step per learning step is unstable).
"""

from __future__ import annotations

import numpy as np
import pytest

from models import ConfigError, LearningSystem, SystemConfig
from models.coupling import (
    _leapfrog,
    calogero_coefficient,
    calogero_energy,
    calogero_force,
    coupling_energy,
    coupling_force,
    frozen_energy,
    frozen_force,
    ground_configuration,
    hdw_energy,
    hdw_force,
    kernel_energy,
    kernel_force,
)
from models.divergence import Diverged
from runner import ArmFailed, run_arm

QUAD = {"type": "polynomial", "coefficients": [0.0, 0.0, 0.5]}


def _coupled(n: int = 20, **overrides) -> SystemConfig:
    base = dict(
        replicas=n,
        n_hidden=1,
        step_size=0.0025,
        diffusion=0.0,
        noise_mode="langevin",
        momentum=1.0,
        potential=QUAD,
        coupling={"estimator": "hdw", "c_F": 5e-5},
    )
    base.update(overrides)
    return SystemConfig(**base)


def _fd_grad(energy, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    return np.array([(energy(x + e) - energy(x - e)) / (2 * eps) for e in np.eye(x.size) * eps])


PAIRS = {
    "hdw": (lambda y: hdw_energy(y, 0.3), lambda y: hdw_force(y, 0.3)),
    "calogero": (lambda y: calogero_energy(y, 0.3), lambda y: calogero_force(y, 0.3)),
    "kernel": (lambda y: kernel_energy(y, 0.3, 0.4), lambda y: kernel_force(y, 0.3, 0.4)),
    "frozen": (lambda y: frozen_energy(y, 0.3, 0.1, 0.5), lambda y: frozen_force(y, 0.3, 0.1, 0.5)),
}


def _force_error(energy, force, x: np.ndarray) -> float:
    grad = _fd_grad(energy, x)
    return float(np.max(np.abs(grad + force(x))) / np.max(np.abs(grad)))


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_force_is_minus_the_energy_gradient(name):
    x = np.sort(np.random.default_rng(0).normal(size=12))
    energy, force = PAIRS[name]
    assert _force_error(energy, force, x) < 1e-6
    other = "calogero" if name == "hdw" else "hdw"  # control: another estimator's force
    assert _force_error(energy, PAIRS[other][1], x) > 1e-2


def test_coupling_force_any_order():
    rng = np.random.default_rng(1)
    x = rng.normal(size=15)
    spec = {"estimator": "hdw", "c_F": 0.2}
    order = np.argsort(x)
    f = coupling_force(x, spec, {})
    np.testing.assert_allclose(f[order], hdw_force(x[order], 0.2))
    assert coupling_energy(x, spec, {}) == pytest.approx(hdw_energy(x, 0.2))


@pytest.mark.parametrize("kind", ["hdw", "calogero"])
def test_leapfrog_equals_velocity_verlet(kind):
    rng = np.random.default_rng(2)
    x, p = np.sort(rng.normal(size=30)), rng.normal(size=30)
    force = hdw_force if kind == "hdw" else calogero_force
    xs, ps = x.copy(), p.copy()
    _leapfrog(xs, ps, kind, 0.01, 1e-4, 2.0, 50)
    for _ in range(50):
        p += 0.5e-4 * force(x, 0.01)
        x += 1e-4 / 2.0 * p
        p += 0.5e-4 * force(x, 0.01)
    np.testing.assert_allclose(xs, x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ps, p, rtol=1e-10, atol=1e-10)


def test_momentum_one_needs_a_coupling():
    with pytest.raises(ConfigError, match="momentum"):
        SystemConfig(momentum=1.0)
    with pytest.raises(ConfigError, match="momentum"):
        SystemConfig(momentum=1.0, n_hidden=1, potential=QUAD, diffusion=0.0)
    assert _coupled().momentum == 1.0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"coupling": {"estimator": "sph", "c_F": 1.0}}, "coupling.estimator"),
        ({"coupling": {"estimator": "hdw", "c_F": -1.0}}, "coupling.c_F"),
        (
            {"coupling": {"estimator": "hdw", "c_F": 1.0, "coordinate": "q_1"}},
            "coupling.coordinate",
        ),
        ({"coupling": {"estimator": "hdw", "c_F": 1.0, "width": 1}}, "coupling.width"),
        ({"n_hidden": 2}, "n_hidden"),
        ({"replicas": 1}, "replicas"),
    ],
)
def test_coupling_config_refusals(changes, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        _coupled(**changes)


def test_coupling_needs_a_potential():
    with pytest.raises(ConfigError, match="coupling"):
        SystemConfig(n_hidden=1, coupling={"estimator": "hdw", "c_F": 1.0})


def test_density_neuron_node_and_units():
    model = LearningSystem(_coupled(step_size=0.01))
    node = model.density.node
    assert node == "density:q_0"
    attrs = model.graph.nodes[node]
    assert attrs["kind"] == "density" and attrs["note"] == "coupling put in by hand"
    assert model.density in model.agents
    assert model.density.mass() == pytest.approx(100.0)
    assert model.density.hbar() == pytest.approx(0.2)
    # coinciding noise-free starts are spread on the zero-point quantiles (variance 0.01)
    x = model.density.positions()
    assert np.var(x) == pytest.approx(0.01, rel=0.1)
    assert np.all(np.diff(np.sort(x)) > 0)


@pytest.mark.parametrize("coordinate", ["q_0", "q_1"])
def test_density_node_edges_go_to_the_slot_of_its_coordinate(coordinate):
    # a 2-D separable potential coupled on one axis: the density node's only edge goes to the
    # particle slot carrying that coordinate (particle:0), labelled with it; none goes to the
    # boundary network's neurons (they carry no q_j)
    plane = {"type": "separable", "axes": [QUAD, QUAD]}
    model = LearningSystem(
        _coupled(
            n=6,
            potential=plane,
            coupling={"estimator": "hdw", "c_F": 5e-5, "coordinate": coordinate},
        )
    )
    node = model.density.node
    assert node == f"density:{coordinate}"
    assert set(model.graph.successors(node)) == {"particle:0"}
    assert set(model.graph.predecessors(node)) == set()
    assert model.graph.edges[node, "particle:0"]["coordinate"] == coordinate
    assert model.graph.nodes["particle:0"]["kind"] == "particle"
    assert model.graph.nodes["particle:0"]["dim"] == 2
    assert set(model.density.cell.connections) == {"particle:0"}
    # the slot is the one the neuron reads: coordinate j of particle slot 0 of every replica
    j = int(coordinate[2:])
    assert np.shares_memory(model.density.positions(), model.particles.theta)
    np.testing.assert_array_equal(model.density.positions(), model.particles.theta[:, 0, j])
    # control: the boundary neurons are on the graph but not connected to the density node
    boundary = [n for n, k in model.graph.nodes(data="kind") if k in ("input", "output")]
    assert boundary and not any(model.graph.has_edge(node, b) for b in boundary)


def test_config_round_trip_keeps_the_coupling(tmp_path):
    cfg = _coupled()
    assert SystemConfig.from_dict(cfg.to_dict()) == cfg
    path = tmp_path / "c.toml"
    path.write_text(cfg.to_toml())
    assert SystemConfig.from_toml(path) == cfg


def test_ground_configuration_exact():
    x = ground_configuration(20)
    assert np.var(x) == pytest.approx(0.475, rel=1e-9)
    assert hdw_energy(x, 0.125) / 20 == pytest.approx(0.475 / 2, rel=1e-9)  # E/N = Var/2 + U/N
    kurt = np.mean(x**4) / np.var(x) ** 2 - 3
    g = calogero_coefficient(0.125, 20)
    xc = ground_configuration(20, "calogero", g)
    assert np.var(xc) == pytest.approx(0.475, rel=1e-9)
    kurt_c = np.mean(xc**4) / np.var(xc) ** 2 - 3
    assert kurt > kurt_c + 0.3  # the semicircle is flatter than the HDW (Gaussian-like) shape


def _energy_run(n_sub: int | None) -> np.ndarray:
    cfg = _coupled(20)
    if n_sub is not None:
        cfg = cfg.replace(coupling={"estimator": "hdw", "c_F": 5e-5, "n_sub": n_sub})
    energies = []

    def build() -> LearningSystem:
        model = LearningSystem(cfg)
        x = ground_configuration(20) * np.sqrt(2.0 * 0.02)  # variance 2 x the ground width
        model.particles.place(x[:, None, None])
        model.step_hooks.append(lambda m: energies.append(m.density.energy()["total"]))
        energies.append(model.density.energy()["total"])
        return model

    run_arm("energy", build, 252)  # 2 trap periods at omega = 0.05 rad per step
    return np.asarray(energies)


def test_energy_conserved_frictionless():
    e = _energy_run(None)
    t = np.arange(e.size)
    slope = np.polyfit(t, e, 1)[0]
    assert abs(slope * t[-1]) / e[0] < 1e-4  # drift over 2 periods
    assert (e.max() - e.min()) / e[0] < 1e-3  # splitting oscillation, O((omega dt)^2)
    with pytest.raises((ArmFailed, Diverged)):  # control: one sub-step per step is unstable
        _energy_run(1)
