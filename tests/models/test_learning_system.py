"""LearningSystem: learning works, independent noise, reproducibility, coherence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mesa.discrete_space import Network

from agents import NeuronAgent
from models import ConfigError, LearningSystem, SystemConfig
from models.tasks import DataSource, Task


@pytest.mark.parametrize("replicas", [SystemConfig().replicas, 64])
def test_learning_halves_prediction_error_and_moves_hidden_weights(replicas):
    model = LearningSystem(SystemConfig(replicas=replicas, seed=11))
    ens = model.ensemble
    hid, inp = ens.slices["hidden"], ens.slices["input"]
    w_hidden0 = ens.w[:, hid, inp].copy()
    err0 = model.prediction_error().mean()
    model.run(300, progress=False)
    err1 = model.prediction_error().mean()
    assert err1 < 0.5 * err0, (err0, err1)
    moved = np.abs(ens.w[:, hid, inp] - w_hidden0).mean() / np.abs(w_hidden0).mean()
    assert moved > 0.05, moved


def test_forward_iteration_alone_leaves_hidden_weights_still():
    model = LearningSystem(SystemConfig(replicas=16, relax_steps=0, seed=11))
    ens = model.ensemble
    hid, inp = ens.slices["hidden"], ens.slices["input"]
    before = ens.w[:, hid, inp].copy()
    model.run(20, progress=False)
    assert np.array_equal(ens.w[:, hid, inp], before)


def test_replicas_with_identical_weights_diverge_after_one_step():
    model = LearningSystem(SystemConfig(replicas=2, seed=3))
    ens = model.ensemble
    w = ens.w.copy()
    w[1] = w[0]
    ens.set_w(w)
    ens.b[1] = ens.b[0]
    model.step()
    assert not np.allclose(ens.w[0], ens.w[1])


def test_learning_off_freezes_weights_but_runs():
    model = LearningSystem(SystemConfig(replicas=4, learning=False, record_every=1, seed=2))
    w0 = model.ensemble.w.copy()
    model.run(5, progress=False)
    assert np.array_equal(model.ensemble.w, w0)
    frame = model.model_frame()
    assert np.isfinite(frame["loss_mean"].iloc[1:]).all()
    assert len(model.neuron_states()) > 0


def _tables(seed):
    model = LearningSystem(SystemConfig(replicas=6, record_every=2, seed=seed))
    model.run(6, progress=False)
    return model.trajectories(), model.model_frame(), model.neuron_states(), model.neuron_frame()


def test_same_seed_identical_frames_different_seed_differs():
    a, b = _tables(5), _tables(5)
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x, y)
    c = _tables(6)
    assert not a[0][["q_0", "q_1"]].equals(c[0][["q_0", "q_1"]])


def test_trajectory_table_shape_and_columns():
    cfg = SystemConfig(replicas=5, observed=3, record_every=2, probe_every=2)
    model = LearningSystem(cfg)
    model.run(4, progress=False)
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
        "q_1",
        "q_2",
    ]
    assert len(traj) == 5 * 5
    assert traj.groupby("step")["free_energy"].apply(lambda s: s.notna().all()).tolist() == [
        True,
        False,
        True,
        False,
        True,
    ]
    # projections have unit-norm orthogonal columns and reproduce q
    P = model.projection
    assert np.allclose(P.T @ P, np.eye(3))
    last = traj[traj.step == 4][["q_0", "q_1", "q_2"]].to_numpy()
    assert np.allclose(last, model.ensemble.parameter_vector() @ P)


def test_two_parameter_model_observes_its_whole_trainable_vector():
    cfg = SystemConfig(n_input=1, n_hidden=1, n_output=1, bias=False, observed=2, replicas=3)
    model = LearningSystem(cfg)
    assert np.array_equal(model.projection, np.eye(2))
    assert model.ensemble.parameter_names() == ["w[1,0]", "w[2,1]"]
    teacher = model.task.params
    x = np.linspace(-2, 2, 5)[:, None]
    a, b = teacher["w2"][0, 0], teacher["w1"][0, 0]
    y = model.task.sampler(np.random.default_rng(0), (5,))[1]
    assert y.shape == (5, 1)
    assert np.allclose(a * np.tanh(b * x), np.tanh(x @ teacher["w1"].T) @ teacher["w2"].T)


def _check_coherent(model):
    used = set(np.nonzero(model.ensemble.active.any(axis=0))[0].tolist())
    neuron_nodes = {n for n, k in model.graph.nodes(data="kind") if k != "controller"}
    assert neuron_nodes == used
    assert {a.index for a in model.neurons} == used
    assert {c.coordinate for c in model.space.all_cells if isinstance(c.coordinate, int)} == used
    for a in model.neurons:
        assert a.cell is model.space[a.index]
        assert a in a.cell.agents
        assert np.array_equal(a.active, model.ensemble.active[:, a.index])
    adj = model.architecture.adjacency_matrix()
    for u, v in model.graph.edges():
        if isinstance(u, int) and isinstance(v, int):
            assert adj[v, u]
    for v in used:
        for u in used:
            if adj[v, u]:
                assert model.graph.has_edge(u, v)


def test_graph_space_agents_and_arrays_agree_through_growth():
    model = LearningSystem(SystemConfig(replicas=4, n_hidden=2, n_hidden_max=5, seed=1))
    assert isinstance(model.space, Network)
    _check_coherent(model)
    hid0 = model.ensemble.slices["hidden"].start
    model.activate_neurons(np.array([1, 3]), np.array([hid0 + 3, hid0 + 3]))
    _check_coherent(model)
    assert model.neuron(hid0 + 3).active.tolist() == [False, True, False, True]
    model.step()
    model.deactivate_neurons(np.array([1, 3]), np.array([hid0 + 3, hid0 + 3]))
    _check_coherent(model)
    assert hid0 + 3 not in model.graph
    with pytest.raises(KeyError):
        model.neuron(hid0 + 3)
    model.activate_neurons(np.array([0]), np.array([hid0 + 3]))
    _check_coherent(model)
    model.run(2, progress=False)


def test_writing_through_an_agent_changes_arrays_and_next_step():
    cfg = SystemConfig(replicas=3, n_hidden=3, relax_steps=0, seed=4)
    model = LearningSystem(cfg)
    agent = model.neuron(2)
    assert isinstance(agent, NeuronAgent) and agent.kind == "hidden"
    agent.in_weights = np.zeros((3, model.ensemble.n))
    agent.bias = np.array([0.5, -0.5, 1.0])
    assert np.all(model.ensemble.w[:, 2, :] == 0)
    assert np.allclose(model.ensemble.b[:, 2], [0.5, -0.5, 1.0])
    model.step()
    # with no incoming weights and no relaxation the state is f(bias) for every sample
    assert np.allclose(agent.state, np.tanh([0.5, -0.5, 1.0]), atol=1e-12)
    # writes stay on the wiring
    agent.in_weights = np.ones((3, model.ensemble.n))
    assert np.all(model.ensemble.w[:, 2, ~model.architecture.adjacency_matrix()[2]] == 0)
    with pytest.raises(ValueError, match="bias"):
        model.neuron(0).bias = 1.0
    with pytest.raises(ValueError):
        agent.active[0] = False


def test_datacollector_reports_scalars():
    model = LearningSystem(SystemConfig(replicas=4, record_every=2, seed=0))
    model.run(4, progress=False)
    frame = model.model_frame()
    assert frame["step"].tolist() == [0, 2, 4]
    for col in [
        "n_neurons",
        "step_size",
        "batch_size",
        "loss_mean",
        "loss_std",
        "free_energy",
        "prediction_error",
        "trace_sigma",
        "t_eff",
    ]:
        assert all(np.isscalar(v) for v in frame[col]), col
    assert (frame["t_eff"].iloc[1:] > 0).all()
    neurons = model.neuron_frame()
    assert {"state_mean", "state_std", "bias_mean", "active_fraction", "kind"} <= set(neurons)


@pytest.mark.parametrize("task", ["teacher", "linear", "gaussian_mixture", "parity"])
@pytest.mark.parametrize("topology", ["layered", "recurrent", "small_world"])
def test_every_task_and_topology_runs(task, topology):
    cfg = SystemConfig(
        replicas=3,
        n_input=2,
        n_hidden=6,
        task=task,
        topology=topology,
        small_world_k=2,
        data="finite",
        n_data=32,
        n_probe=16,
        seed=1,
    )
    model = LearningSystem(cfg)
    model.run(3, progress=False)
    assert np.isfinite(model.trajectories()[["q_0", "q_1", "loss"]].iloc[3:]).all().all()


def test_sine_task_and_temperature_and_momentum_run():
    cfg = SystemConfig(
        replicas=3, n_input=1, task="sine", neuron_temperature=0.01, momentum=0.9, dtype="float32"
    )
    model = LearningSystem(cfg)
    model.run(3, progress=False)
    assert model.ensemble.w.dtype == np.float32
    assert np.isfinite(model.trajectories()["q_0"]).all()


def test_inject_packet_drives_states_decays_and_is_recorded():
    base = LearningSystem(SystemConfig(replicas=8, n_hidden=6, relax_steps=0, seed=2))
    probe = LearningSystem(SystemConfig(replicas=8, n_hidden=6, relax_steps=0, seed=2))
    probe.inject_packet([3, 4, 5], amplitude=3.0, width=1.0, decay=2.0)
    shifts = []
    for _ in range(6):
        base.step()
        probe.step()
        shifts.append(
            np.abs(probe.batch_mean_states()[:, 4] - base.batch_mean_states()[:, 4]).mean()
        )
    assert shifts[0] > 0.3  # the centre neuron is driven
    assert shifts[-1] < 0.5 * shifts[0]  # and the drive decays
    ev = probe.events()
    assert ev["event"].tolist() == ["inject_packet"] and ev["neurons"].iloc[0] == "3,4,5"
    with pytest.raises(ValueError, match="neurons"):
        probe.inject_packet([0], amplitude=1.0)
    with pytest.raises(ValueError, match="width"):
        probe.inject_packet([3], amplitude=1.0, width=0.0)


def test_probe_state_source_removes_batch_noise():
    cfg = SystemConfig(replicas=4, n_hidden=5, record_every=1, learning=False, seed=3)
    probe = LearningSystem(cfg.replace(state_source="probe"))
    batch = LearningSystem(cfg)
    probe.run(4, progress=False)
    batch.run(4, progress=False)
    p = probe.neuron_states().pivot_table(
        index=["replica", "neuron"], columns="step", values="state"
    )
    b = batch.neuron_states().pivot_table(
        index=["replica", "neuron"], columns="step", values="state"
    )
    # frozen weights: probe-input states are constant in time, batch means are not
    assert np.allclose(p.to_numpy().std(axis=1), 0.0)
    assert b.to_numpy().std(axis=1).max() > 1e-3
    # with learning on, probe states move with the weights
    moving = LearningSystem(cfg.replace(state_source="probe", learning=True))
    moving.run(4, progress=False)
    m = moving.neuron_states().pivot_table(
        index=["replica", "neuron"], columns="step", values="state"
    )
    assert m.to_numpy().std(axis=1).max() > 1e-6
    with pytest.raises(ConfigError, match="state_source"):
        SystemConfig(state_source="x")


# ---------------------------------------------------------------------- set_task
QUENCH_CONTROLLERS = [
    {"type": "neuron_count", "mu_c": -0.01, "beta_c": 200.0, "interval": 2},
    {"type": "step_size", "policy": "consistency", "gain": 0.3, "window": 4, "gamma_max": 0.3},
    {"type": "batch_size", "policy": "noise_scale", "m_min": 4, "m_max": 32},
]


def _run_tables(model: LearningSystem) -> dict[str, pd.DataFrame]:
    return {
        "trajectories": model.trajectories(),
        "model": model.model_frame(),
        "neurons": model.neuron_frame(),
        "neuron_states": model.neuron_states(),
        "controller_events": model.controller_events(),
    }


def _assert_same_run(a: LearningSystem, b: LearningSystem) -> None:
    for name, frame in _run_tables(a).items():
        pd.testing.assert_frame_equal(frame, _run_tables(b)[name], check_exact=True, obj=name)
    assert np.array_equal(a.data.probe_x, b.data.probe_x)
    assert np.array_equal(a.ensemble.w, b.ensemble.w)


@pytest.mark.parametrize("data", ["online", "finite"])
def test_set_task_scaling_the_teacher_equals_the_manual_quench(data):
    cfg = SystemConfig(
        replicas=12, n_input=1, n_hidden=3, n_hidden_max=5, n_output=1, noise=0.3, n_probe=16,
        n_data=64, data=data, relax_steps=5, record_every=2, probe_every=2, record_noise=True,
        controllers=QUENCH_CONTROLLERS, seed=4,
    )  # fmt: skip
    manual, model = LearningSystem(cfg), LearningSystem(cfg)
    manual.run(6, progress=False)
    model.run(6, progress=False)
    # the quench as written by hand: teacher weights scaled in place, probe set redrawn
    for key in ("w1", "w2", "w"):
        if key in manual.task.params:
            manual.task.params[key] *= 0.6
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7919]))
    manual.data = DataSource(manual.task, manual.config, rng)
    manual.structure_changed()
    w1 = model.task.params["w1"]
    model.set_task(
        rng=np.random.default_rng(np.random.SeedSequence([cfg.seed, 7919])),
        w1=0.6 * model.task.params["w1"],
        w2=0.6 * model.task.params["w2"],
    )
    assert model.task.params["w1"] is w1  # written in place: the sampler reads the arrays
    manual.run(6, progress=False)
    model.run(6, progress=False)
    _assert_same_run(manual, model)
    assert manual.events().empty
    ev = model.events()
    assert ev[["step", "event", "detail"]].values.tolist() == [
        [6, "set_task", "teacher: w1, w2 set"]
    ]


def test_set_task_new_task_equals_the_manual_replacement_and_checks_its_arguments():
    def teacher(b: float, a: float) -> Task:
        def sampler(g, shape):
            x = g.normal(0.0, 1.0, (*shape, 1))
            return x, a * np.tanh(b * x) + g.normal(0.0, 0.1, (*shape, 1))

        return Task("teacher", 1, 1, sampler, {"w1": np.array([[b]]), "w2": np.array([[a]])})

    cfg = SystemConfig(replicas=6, n_input=1, n_hidden=1, n_output=1, bias=False, seed=5)
    manual, model = LearningSystem(cfg), LearningSystem(cfg)
    manual.run(4, progress=False)
    model.run(4, progress=False)
    manual.task = teacher(0.8, 2.0)
    manual.data = DataSource(manual.task, manual.config, manual.streams["task"])
    manual._probe_cache = None
    model.set_task(teacher(0.8, 2.0), detail="teacher (b*, a*) -> (0.8, 2)")
    manual.run(4, progress=False)
    model.run(4, progress=False)
    _assert_same_run(manual, model)
    assert model.events()["detail"].tolist() == ["teacher (b*, a*) -> (0.8, 2)"]
    with pytest.raises(ValueError, match="nothing to change"):
        model.set_task()
    with pytest.raises(ValueError, match="w3: not a parameter of task teacher"):
        model.set_task(w3=1.0)
    with pytest.raises(ValueError, match=r"w1: shape \(2,\)"):
        model.set_task(w1=[1.0, 2.0])
    with pytest.raises(ValueError, match="2 inputs"):
        model.set_task(Task("x", 2, 1, lambda g, s: (g, s), {}))
    assert len(model.events()) == 1
