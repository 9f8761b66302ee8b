"""Registry of controller types: ``SystemConfig.controllers`` tables name a ``type`` here.

A controller class registers itself with :func:`register`; it must provide
``validate(spec, where) -> dict`` (a classmethod that checks a spec table and returns the
normalised parameters, raising :class:`agents.params.ConfigError` naming
``controllers[i].<key>``) and a constructor ``cls(model, **params)``. The built-in controllers
register when the :mod:`agents` package is imported, which Python does before it imports this
module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agents.params import ConfigError

__all__ = [
    "build_controllers",
    "controller_class",
    "controller_types",
    "register",
    "validate_specs",
]

_REGISTRY: dict[str, type] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make a controller class available under ``type = name``.

    Examples
    --------
    >>> @register("_doc_example")
    ... class Demo:
    ...     pass
    >>> "_doc_example" in controller_types()
    True
    >>> _ = _REGISTRY.pop("_doc_example")
    """

    def deco(cls: type) -> type:
        _REGISTRY[name] = cls
        return cls

    return deco


def controller_types() -> list[str]:
    """Names of the registered controller types.

    Examples
    --------
    >>> controller_types()
    ['batch_size', 'neuron_count', 'step_size']
    """
    return sorted(_REGISTRY)


def controller_class(kind: str) -> type:
    """The controller class registered under ``type = kind``.

    Examples
    --------
    >>> controller_class("step_size").POLICIES
    ('constant', 'schedule', 'temperature', 'consistency')
    >>> try:
    ...     controller_class("temperature")
    ... except ConfigError as err:
    ...     print(err)
    type: 'temperature'; expected one of batch_size, neuron_count, step_size
    """
    if kind not in _REGISTRY:
        names = ", ".join(sorted(_REGISTRY)) or "none registered"
        raise ConfigError("type", kind, f"one of {names}")
    return _REGISTRY[kind]


def validate_specs(specs: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Validate controller tables; return them normalised (ConfigError on the first bad one).

    Examples
    --------
    >>> spec = validate_specs([{"type": "batch_size", "value": 8}])[0]
    >>> spec["type"], spec["policy"], spec["value"], spec["m_max"]
    ('batch_size', 'constant', 8, 1024)
    >>> try:
    ...     validate_specs([{"type": "temperature"}])
    ... except ConfigError as err:
    ...     print(err)
    controllers[0].type: 'temperature'; expected one of batch_size, neuron_count, step_size
    """
    out = []
    for i, spec in enumerate(specs):
        kind = spec.get("type")
        if kind not in _REGISTRY:
            names = ", ".join(sorted(_REGISTRY)) or "none registered"
            raise ConfigError(f"controllers[{i}].type", kind, f"one of {names}")
        params = _REGISTRY[kind].validate(dict(spec), f"controllers[{i}]")
        out.append({"type": kind, **params})
    return tuple(out)


def build_controllers(model: Any, specs: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Instantiate the controllers of validated specs on ``model`` (in config order).

    Examples
    --------
    >>> model = LearningSystem(replicas=2, n_hidden=2)
    >>> specs = validate_specs([{"type": "step_size"}])
    >>> [c.kind for c in build_controllers(model, specs)]
    ['step_size']
    """
    built = []
    for spec in specs:
        params = {k: v for k, v in spec.items() if k != "type"}
        built.append(_REGISTRY[spec["type"]](model, **params))
    return built
