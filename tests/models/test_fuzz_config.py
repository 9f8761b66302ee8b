"""Fuzz: >= 1000 generated configs, valid and invalid, extreme values included.

Each one either builds and runs a few steps (a divergence is a result: it stops with
:class:`models.divergence.Diverged`) or raises :class:`ConfigError` naming a field (the memory
guard included). Any other exception type fails the test.
"""

from __future__ import annotations

import dataclasses
import math

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from models import LearningSystem, SystemConfig
from models.config import ConfigError
from models.divergence import Diverged

FIELDS = {f.name for f in dataclasses.fields(SystemConfig)}

# small valid values: the run stays cheap
VALID = {
    "replicas": st.integers(1, 4),
    "n_input": st.integers(1, 3),
    "n_hidden": st.integers(0, 5),
    "n_output": st.integers(1, 2),
    "topology": st.sampled_from(["layered", "recurrent", "small_world"]),
    "connectivity": st.floats(0.05, 1.0),
    "small_world_k": st.integers(2, 4),
    "small_world_p": st.floats(0.0, 1.0),
    "activation": st.sampled_from(["tanh", "sigmoid", "relu", "linear"]),
    "output_activation": st.sampled_from(["tanh", "sigmoid", "relu", "linear"]),
    "task": st.sampled_from(["teacher", "linear", "gaussian_mixture", "sine", "parity"]),
    "noise": st.sampled_from([0.0, 0.1, 0.5]),
    "data": st.sampled_from(["online", "finite"]),
    "n_data": st.integers(1, 32),
    "n_probe": st.integers(2, 16),
    "step_size": st.floats(1e-4, 1.0),
    "batch_size": st.integers(1, 8),
    "relax_steps": st.integers(0, 4),
    "relax_rate": st.floats(0.01, 1.0),
    "forward_sweeps": st.integers(1, 3),
    "neuron_temperature": st.sampled_from([0.0, 0.01, 1.0]),
    "learning": st.booleans(),
    "momentum": st.sampled_from([0.0, 0.5, 0.9]),
    "bias": st.booleans(),
    "init_scale": st.floats(0.0, 3.0),
    "observed": st.integers(1, 3),
    "record_every": st.integers(1, 3),
    "dtype": st.sampled_from(["float64", "float32"]),
    "seed": st.integers(0, 2**32),
}

# extreme (maybe valid) and invalid values, any field
NASTY = st.one_of(
    st.sampled_from(
        [0, -1, 1, 2**31, 10**9, 10**18, -(10**9), True, False, None, "", "x", "tanh", [], {}]
    ),
    st.sampled_from([0.0, -0.0, 1e-300, 1e300, 1e6, 0.999999, 1.0, 2.0, 50.0, -1e-9]),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.text(max_size=5),
    st.lists(st.integers(-2, 2), max_size=2),
)

CONTROLLERS = st.sampled_from(
    [
        (),
        ({"type": "nosuch"},),
        ({"type": "step_size", "policy": "constant", "value": 0.05},),
        ({"type": "step_size", "policy": "nosuch"},),
        ({"type": "batch_size", "policy": "constant", "value": 2},),
        ({"type": "neuron_count", "policy": "grand_canonical"},),
        ({"policy": "constant"},),
        "step_size",
        ({"type": "step_size", "policy": "constant", "value": -1.0},),
    ]
)


@st.composite
def configs(draw: st.DrawFn) -> dict:
    keys = draw(st.sets(st.sampled_from(sorted(VALID)), max_size=10))
    data = {k: draw(VALID[k]) for k in keys}
    data.setdefault("replicas", draw(st.integers(1, 4)))
    data.setdefault("n_probe", 8)
    data.setdefault("batch_size", draw(st.integers(1, 8)))
    data.setdefault("relax_steps", 3)
    data.setdefault("n_data", 16)
    if draw(st.booleans()):
        data["n_hidden_max"] = data.get("n_hidden", 8) + draw(st.integers(0, 3))
    if draw(st.integers(0, 9)) == 0:
        data["controllers"] = draw(CONTROLLERS)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        field = draw(st.sampled_from(sorted(FIELDS - {"topology", "controllers"})))
        data[field] = draw(NASTY)
    if draw(st.integers(0, 9)) == 0:  # huge step sizes: divergence is a result
        data["step_size"] = draw(st.sampled_from([10.0, 1e3, 1e6]))
        data["activation"] = draw(st.sampled_from(["linear", "relu", "tanh"]))
    if draw(st.integers(0, 19)) == 0:
        data["task_params"] = draw(
            st.dictionaries(
                st.sampled_from(["teacher_scale", "input_scale", "frequency", "bogus"]),
                st.one_of(st.floats(allow_nan=True), st.integers(-3, 3)),
                max_size=2,
            )
        )
    if draw(st.integers(0, 19)) == 0:
        data[draw(st.sampled_from(["replica", "stepsize", "Task"]))] = 1
    return data


def _names_a_field(err: ConfigError, data: dict) -> bool:
    """The message starts with the field: a SystemConfig field (or a part of one), or the
    unknown key the config had."""
    head = str(err).split(":", 1)[0]
    assert head == err.field
    base = head.split(".", 1)[0].split("[", 1)[0].split(" ", 1)[0]
    return base in FIELDS or base == "config" or (base in data and base not in FIELDS)


@settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(configs())
def test_fuzz_config_runs_or_names_a_field(data: dict) -> None:
    try:
        if any(k not in FIELDS for k in data):
            config = SystemConfig.from_dict(data)
        else:
            config = SystemConfig(**data)
    except ConfigError as err:
        assert _names_a_field(err, data), str(err)
        assert "\n" not in str(err)
        event(f"ConfigError {err.field.split('.')[0].split('[')[0]}")
        return
    try:
        model = LearningSystem(config)
        model.run(3, progress=False)
    except Diverged as err:  # a result: the run stops in the step it diverged
        assert 1 <= err.step <= 3 and "\n" not in str(err)
        assert "step_size" in str(err)
        event("diverged")
        return
    except ConfigError as err:  # controllers validate against the model
        assert _names_a_field(err, data), str(err)
        return
    assert model.steps == 3
    event("ran")
