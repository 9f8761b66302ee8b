"""SystemConfig validation, round trips and the memory guard."""

from __future__ import annotations

import networkx as nx
import pytest

from models import ConfigError, SystemConfig

BAD = [
    ("replicas", 0, "replicas: 0; expected an integer >= 1"),
    ("replicas", 2.5, "replicas: 2.5; expected an integer >= 1"),
    ("replicas", True, "replicas: True; expected an integer >= 1"),
    ("n_input", 0, "n_input: 0; expected an integer >= 1"),
    ("n_hidden", -1, "n_hidden: -1; expected an integer >= 0"),
    ("n_output", "2", "n_output: '2'; expected an integer >= 1"),
    ("n_hidden_max", 3, "n_hidden_max: 3; expected an integer >= n_hidden (8)"),
    ("topology", "grid", "topology: 'grid'; expected one of layered, recurrent, small_world"),
    ("topology", 5, "topology: 5; expected one of layered"),
    ("connectivity", 0.0, "connectivity: 0.0; expected a number in (0, 1]"),
    ("connectivity", 1.5, "connectivity: 1.5; expected a number in (0, 1]"),
    ("small_world_k", 1, "small_world_k: 1; expected an integer >= 2"),
    ("small_world_p", -0.1, "small_world_p: -0.1; expected a number in [0, 1]"),
    ("activation", "gelu", "activation: 'gelu'; expected one of tanh, sigmoid, relu, linear"),
    ("output_activation", "softmax", "output_activation: 'softmax'; expected one of tanh"),
    ("task", "mnist", "task: 'mnist'; expected one of teacher, linear, gaussian_mixture"),
    ("task_params", {"depth": 2}, "task_params.depth: 2; expected a parameter of teacher"),
    ("task_params", {"teacher_scale": -1}, "task_params.teacher_scale: -1; expected a positive"),
    ("task_params", [1], "task_params: [1]; expected a mapping"),
    ("noise", -0.1, "noise: -0.1; expected a number in [0, inf)"),
    ("noise", float("nan"), "noise: nan; expected a number in [0, inf)"),
    ("data", "stream", "data: 'stream'; expected one of online, finite"),
    ("n_data", 0, "n_data: 0; expected an integer >= 1"),
    ("n_probe", 1, "n_probe: 1; expected an integer >= 2"),
    ("step_size", 0.0, "step_size: 0.0; expected a number in (0, inf)"),
    ("step_size", float("inf"), "step_size: inf; expected a number in (0, inf)"),
    ("step_size", "big", "step_size: 'big'; expected a number in (0, inf)"),
    ("batch_size", 0, "batch_size: 0; expected an integer >= 1"),
    ("relax_steps", -1, "relax_steps: -1; expected an integer in [0, 10000]"),
    ("relax_steps", 10**9, "relax_steps: 1000000000; expected an integer in [0, 10000]"),
    ("relax_rate", 0.0, "relax_rate: 0.0; expected a number in (0, 1]"),
    ("relax_rate", 1.5, "relax_rate: 1.5; expected a number in (0, 1]"),
    ("forward_sweeps", 0, "forward_sweeps: 0; expected an integer in [1, 1000]"),
    ("neuron_temperature", -1.0, "neuron_temperature: -1.0; expected a number in [0, inf)"),
    ("learning", "yes", "learning: 'yes'; expected true or false"),
    ("momentum", 1.0, "momentum: 1.0; expected a number in [0, 1)"),
    ("momentum", -0.5, "momentum: -0.5; expected a number in [0, 1)"),
    ("bias", 1, "bias: 1; expected true or false"),
    ("init_scale", -1.0, "init_scale: -1.0; expected a number in [0, inf)"),
    ("observed", 0, "observed: 0; expected an integer >= 1"),
    ("observed", 1000, "observed: 1000; expected an integer in [1, 33] (trainable parameters)"),
    ("record_every", 0, "record_every: 0; expected an integer >= 1"),
    ("probe_every", 0, "probe_every: 0; expected an integer >= 1"),
    ("dtype", "float16", "dtype: 'float16'; expected one of float64, float32"),
    ("seed", -1, "seed: -1; expected an integer >= 0"),
    ("controllers", {"type": "x"}, "controllers: {'type': 'x'}; expected a list of controller"),
    ("controllers", [{"policy": "x"}], "controllers[0]: {'policy': 'x'}; expected a table with"),
    ("memory_limit_gb", 0.0, "memory_limit_gb: 0.0; expected a number in (0, inf)"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD)
def test_every_field_is_validated_with_a_one_line_message(field, value, message):
    with pytest.raises(ConfigError) as info:
        SystemConfig(**{field: value})
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text
    assert info.value.field.split("[")[0].split(".")[0] == field
    assert isinstance(info.value, ValueError)


def test_task_constraints_name_the_field():
    with pytest.raises(ConfigError, match=r"^task: 'sine'; expected n_input = n_output = 1"):
        SystemConfig(task="sine", n_input=2)
    with pytest.raises(ConfigError, match=r"^noise: 0.7; expected a label-flip probability"):
        SystemConfig(task="parity", noise=0.7)
    with pytest.raises(
        ConfigError,
        match=r"^small_world_k: 8; expected an integer in \[2, n_hidden_max\) = \[2, 8\)",
    ):
        SystemConfig(topology="small_world", small_world_k=8)


def test_defaults_and_derived_fields():
    cfg = SystemConfig(n_hidden=5)
    assert cfg.n_hidden_max == 5
    assert cfg.probe_every == cfg.record_every
    assert cfg.replace(n_hidden=7).n_hidden_max == 7
    assert cfg.replace(n_hidden_max=9).n_hidden_max == 9
    assert cfg.replace(record_every=3).probe_every == 3
    with pytest.raises(ConfigError, match=r"^replica: 3; expected a field of SystemConfig"):
        cfg.replace(replica=3)


def test_frozen():
    cfg = SystemConfig()
    with pytest.raises(AttributeError):
        cfg.replicas = 3  # type: ignore[misc]


def test_dict_and_toml_round_trip(tmp_path):
    cfg = SystemConfig(
        replicas=12,
        n_hidden=3,
        n_hidden_max=6,
        topology="recurrent",
        connectivity=0.5,
        task="gaussian_mixture",
        task_params={"separation": 3.0},
        noise=0.05,
        data="finite",
        n_data=64,
        momentum=0.9,
        bias=False,
        seed=7,
    )
    assert SystemConfig.from_dict(cfg.to_dict()) == cfg
    path = tmp_path / "cfg.toml"
    path.write_text(cfg.to_toml())
    assert SystemConfig.from_toml(path) == cfg


def test_toml_system_table_and_errors(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text("[system]\nreplicas = 5\nstep_size = 0.2\n")
    assert SystemConfig.from_toml(path).replicas == 5
    bad = tmp_path / "bad.toml"
    bad.write_text("replicas = 5\nstep_size = = 2\n")
    with pytest.raises(ConfigError, match=r"line 2") as info:
        SystemConfig.from_toml(bad)
    assert "\n" not in str(info.value)
    typo = tmp_path / "typo.toml"
    typo.write_text("replicas = 5\nstepsize = 0.1\n")
    with pytest.raises(ConfigError, match=r"^stepsize: 0.1; expected a field of SystemConfig"):
        SystemConfig.from_toml(typo)
    with pytest.raises(ConfigError, match="readable TOML file"):
        SystemConfig.from_toml(tmp_path / "missing.toml")


def test_user_graph_from_python_and_files(tmp_path):
    g = nx.DiGraph()
    g.add_nodes_from(["a", "b"], kind="input")
    g.add_nodes_from(["h1", "h2", "h3"], kind="hidden")
    g.add_node("y", kind="output")
    g.add_edges_from([("a", "h1"), ("b", "h2"), ("h1", "h3"), ("h2", "h3"), ("h3", "y")])
    cfg = SystemConfig(topology=g)
    assert (cfg.n_input, cfg.n_hidden, cfg.n_output, cfg.n_hidden_max) == (2, 3, 1, 3)
    assert SystemConfig.from_dict(cfg.to_dict()).n_hidden == 3
    edges = tmp_path / "net.edgelist"
    edges.write_text("in0 h0\nin1 h0\nh0 h1\nh1 out0\n")
    cfg2 = SystemConfig(topology=str(edges))
    assert (cfg2.n_input, cfg2.n_hidden, cfg2.n_output) == (2, 2, 1)
    toml = tmp_path / "c.toml"
    toml.write_text('topology = "net.edgelist"\n')
    assert SystemConfig.from_toml(toml).n_hidden == 2
    bad = nx.DiGraph()
    bad.add_node("z", kind="weird")
    with pytest.raises(ConfigError, match=r"^topology node 'z' kind: 'weird'"):
        SystemConfig(topology=bad)
    into_input = nx.DiGraph()
    into_input.add_node("i", kind="input")
    into_input.add_node("o", kind="output")
    into_input.add_edge("o", "i")
    with pytest.raises(ConfigError, match="no edges into input neurons"):
        SystemConfig(topology=into_input)


def test_memory_guard_refuses_before_allocating():
    with pytest.raises(ConfigError) as info:
        SystemConfig(replicas=10**6, batch_size=1024, n_hidden=512)
    text = str(info.value)
    assert text.startswith("replicas: 1000000; expected a size whose arrays fit in memory")
    assert "GiB" in text
    small = SystemConfig(replicas=64, memory_limit_gb=1.0)
    assert small.estimated_bytes() < 2**30
    with pytest.raises(ConfigError, match=r"limit is 0\.0 GiB"):
        SystemConfig(replicas=64, memory_limit_gb=1e-6)


def test_unknown_controller_type_lists_valid_ones():
    with pytest.raises(ConfigError, match=r"^controllers\[0\]\.type: 'warp'; expected one of"):
        SystemConfig(controllers=[{"type": "warp"}])
