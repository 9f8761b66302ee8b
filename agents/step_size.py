"""StepSizeController: adapts the ensemble-wide step size gamma while the system learns.

Policies
--------
constant
    gamma = ``value`` (default: the config's ``step_size``).
schedule
    gamma follows ``steps``/``values``, piecewise linear or exponential (see agents.controller).
temperature
    Holds T_eff = gamma sigma^2 / (2 M) at ``target``, sigma^2 = tr(Sigma) / K (K active
    parameters; the same definition as ``Observables.t_eff``): gamma = 2 M target / sigma^2, with
    sigma^2 an exponential moving average (weight ``smoothing``) of the ensemble mean of this
    step's tr(Sigma) / K, so gamma follows the gradient noise as it changes.
consistency
    Drives the Madelung hbar set by (gamma, M) through the measured diffusion (see
    :class:`agents.controller.HbarMeter`; the constant of D = c gamma^2 / M is measured over the
    last ``window`` steps) toward mu_c / (2 pi) (PHYSICS.md section 4), moving log gamma a
    fraction ``gain`` of the way to the solution each time it acts. ``mu_c`` defaults to the
    current chemical potential of the model's neuron-count controller. Under this policy the
    consistency condition hbar = mu_c / (2 pi) holds by construction: it is a setting of the
    run, not evidence for the theory; evidence must come from signatures the controller does not
    target.

gamma is clipped to ``[gamma_min, gamma_max]`` after every policy.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from agents.controller import (
    COMMON_KEYS,
    HbarMeter,
    ScalarController,
    check_float,
    check_int,
    check_keys,
    check_schedule,
    chemical_potential,
    schedule_value,
)
from agents.registry import register
from models.config import ConfigError

if TYPE_CHECKING:
    from models.learning_system import LearningSystem

POLICY_KEYS = {
    "constant": ("value",),
    "schedule": ("steps", "values", "interpolation"),
    "temperature": ("target", "smoothing"),
    "consistency": ("mu_c", "gain", "window", "exponent"),
}


def validate_consistency(spec: dict, where: str) -> dict[str, Any]:
    """Parameters of a ``consistency`` policy: mu_c (optional), gain, window, exponent.

    Examples
    --------
    >>> validate_consistency({"mu_c": -0.01}, "controllers[0]")
    {'gain': 0.5, 'window': 20, 'exponent': 1.0, 'mu_c': -0.01}
    """
    out: dict[str, Any] = {
        "gain": check_float(spec, "gain", where, 0.5, 0.0, 1.0, lo_open=True),
        "window": check_int(spec, "window", where, 20, 2),
        "exponent": check_float(spec, "exponent", where, 1.0, 0.0, 4.0, lo_open=True),
    }
    if "mu_c" in spec:
        mu = check_float(spec, "mu_c", where, None)
        if mu == 0:
            raise ConfigError(f"{where}.mu_c", mu, "a non-zero number")
        out["mu_c"] = mu
    return out


def needs_mu_c(model: LearningSystem, mu_c: float | None, where: str) -> None:
    """Refuse a consistency policy without mu_c when no neuron-count controller provides one.

    Examples
    --------
    >>> from models import LearningSystem
    >>> try:
    ...     needs_mu_c(LearningSystem(replicas=2, n_hidden=1), None, "controllers[0]")
    ... except ConfigError as err:
    ...     print(err)
    controllers[0].mu_c: None; expected a number (no neuron_count controller gives one)
    """
    if mu_c is None and not any(s.get("type") == "neuron_count" for s in model.config.controllers):
        raise ConfigError(f"{where}.mu_c", None, "a number (no neuron_count controller gives one)")


@register("step_size")
class StepSizeController(ScalarController):
    """Controller of the step size gamma (``model.step_size``, used by the next step).

    Parameters
    ----------
    model : LearningSystem
    policy : {"constant", "schedule", "temperature", "consistency"}
    gamma_min, gamma_max : float
        Bounds (defaults 1e-6 and 1; larger steps tend to make SGD diverge).
    interval : int
    name : str, optional
    **params
        Policy parameters: ``value``; ``steps``, ``values``, ``interpolation``; ``target``,
        ``smoothing``; ``mu_c``, ``gain``, ``window``, ``exponent``.

    Examples
    --------
    >>> from models import LearningSystem
    >>> spec = {"type": "step_size", "policy": "schedule", "steps": [0, 4], "values": [0.1, 0.02]}
    >>> model = LearningSystem(replicas=4, n_hidden=2, controllers=[spec])
    >>> model.run(2, progress=False)
    >>> round(model.step_size, 6)
    0.06
    """

    kind: ClassVar[str] = "step_size"
    POLICIES: ClassVar[tuple[str, ...]] = tuple(POLICY_KEYS)
    attribute: ClassVar[str] = "step_size"

    def __init__(
        self,
        model: LearningSystem,
        policy: str = "constant",
        gamma_min: float = 1e-6,
        gamma_max: float = 1.0,
        interval: int = 1,
        name: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(model, policy, gamma_min, gamma_max, interval, name)
        self.params = params
        self.value = float(params.get("value", model.config.step_size))
        self.sigma2 = math.nan
        self.smoothing = float(params.get("smoothing", 0.3))
        self.mu_c = params.get("mu_c")
        self.meter = None
        if policy == "consistency":
            needs_mu_c(model, self.mu_c, self.where)
            self.meter = HbarMeter(params.get("window", 20), params.get("exponent", 1.0))

    @classmethod
    def validate(cls, spec: dict, where: str) -> dict:
        """Check a ``step_size`` table (see the class docstring for its keys)."""
        out = cls.validate_common(spec, where)
        policy = out["policy"]
        allowed = (*COMMON_KEYS, "gamma_min", "gamma_max", *POLICY_KEYS[policy])
        check_keys(spec, where, allowed, f"step_size ({policy})")
        lo = check_float(spec, "gamma_min", where, 1e-6, 0.0, lo_open=True)
        hi = check_float(spec, "gamma_max", where, 1.0, 0.0, lo_open=True)
        if hi < lo:
            raise ConfigError(f"{where}.gamma_max", hi, f"a number >= gamma_min ({lo:g})")
        out.update(gamma_min=lo, gamma_max=hi)
        if policy == "constant" and "value" in spec:
            out["value"] = check_float(spec, "value", where, None, lo, hi)
        elif policy == "schedule":
            out.update(check_schedule(spec, where, lo, hi))
        elif policy == "temperature":
            if "target" not in spec:
                raise ConfigError(f"{where}.target", None, "a positive number (the T_eff to hold)")
            out["target"] = check_float(spec, "target", where, None, 0.0, lo_open=True)
            out["smoothing"] = check_float(spec, "smoothing", where, 0.3, 0.0, 1.0, lo_open=True)
        elif policy == "consistency":
            out.update(validate_consistency(spec, where))
        return out

    # ------------------------------------------------------------------ policies
    def step(self) -> None:
        if self.meter is not None:
            self.meter.observe(self.model)
            if self.model.steps % self.interval == 0:
                self.meter.measure()
        super().step()

    def proposal(self) -> float:
        model = self.model
        p = self.params
        gamma = model.step_size
        if self.policy == "constant":
            return self.value
        if self.policy == "schedule":
            return schedule_value(model.steps, p["steps"], p["values"], p["interpolation"])
        if self.policy == "temperature":
            obs = model.observables
            per = np.asarray(obs.trace_sigma / obs.n_parameters, dtype=float)
            s = float(per[np.isfinite(per)].mean()) if np.isfinite(per).any() else math.nan
            if math.isfinite(s) and s > 0:
                a = self.smoothing
                self.sigma2 = s if not math.isfinite(self.sigma2) else (1 - a) * self.sigma2 + a * s
            if not math.isfinite(self.sigma2) or self.sigma2 <= 0:
                return gamma
            return 2.0 * model.batch_size * p["target"] / self.sigma2
        # consistency
        return self.consistency_target(gamma)

    def consistency_target(self, gamma: float) -> float:
        """log gamma moved ``gain`` of the way to the gamma that makes hbar = |mu_c| / (2 pi)."""
        ratio = self.meter.ratio_for(self.hbar_target())
        if not math.isfinite(ratio) or ratio <= 0:
            return gamma
        wanted = ratio * self.model.batch_size
        gain = self.params.get("gain", 0.5)
        return float(math.exp((1 - gain) * math.log(gamma) + gain * math.log(wanted)))

    def hbar_target(self) -> float:
        """|mu_c| / (2 pi) (mu_c given, or the neuron-count controller's current value)."""
        return chemical_potential(self.model, self.mu_c) / (2.0 * math.pi)

    def hbar_gap(self) -> float:
        """hbar(gamma, M) / (|mu_c| / 2 pi) - 1 with the measured constant (NaN if unknown)."""
        if self.meter is None:
            return math.nan
        return self.meter.hbar(self.model.step_size, self.model.batch_size) / self.hbar_target() - 1

    def reporters(self) -> dict[str, Any]:
        if self.policy != "consistency":
            return {}
        return {f"{self.name}_hbar_gap": lambda m: self.hbar_gap()}
