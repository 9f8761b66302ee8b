"""Registry of controller types: ``SystemConfig.controllers`` tables name a ``type`` here.

A controller class registers itself with :func:`register`; it must provide
``validate(spec) -> dict`` (a classmethod that checks a spec table and returns the normalised
parameters, raising :class:`models.config.ConfigError` naming ``controllers[i].<key>``) and a
constructor ``cls(model, **params)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_REGISTRY: dict[str, type] = {}


def register(name: str):
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


def _load() -> None:
    # importing the package registers the built-in controllers
    import agents  # noqa: F401


def controller_types() -> list[str]:
    """Names of the registered controller types."""
    _load()
    return sorted(_REGISTRY)


def validate_specs(specs: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Validate controller tables; return them normalised (ConfigError on the first bad one)."""
    from models.config import ConfigError

    _load()
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
    """Instantiate the controllers of validated specs on ``model`` (in config order)."""
    _load()
    built = []
    for spec in specs:
        params = {k: v for k, v in spec.items() if k != "type"}
        built.append(_REGISTRY[spec["type"]](model, **params))
    return built
