"""StepSizeController: adapts the ensemble-wide step size gamma while the system learns.

Policies
--------
constant
    gamma = ``value`` (default: the config's ``step_size``).
schedule
    gamma follows ``steps``/``values``, piecewise linear or exponential (see agents.schedule).
temperature
    Holds T_eff = gamma sigma^2 / (2 M) at ``target``, sigma^2 = tr(Sigma) / K (K active
    parameters; the same definition as ``Observables.t_eff``): gamma = 2 M target / sigma^2, with
    sigma^2 an exponential moving average (weight ``smoothing``) of the ensemble mean of this
    step's tr(Sigma) / K, so gamma follows the gradient noise as it changes.
consistency
    Drives the Madelung hbar set by (gamma, M) through the measured diffusion (see
    :class:`agents.policies.HbarMeter`; the constant of D = c gamma^2 / M is measured over the
    last ``window`` steps) toward mu_c / (2 pi)
    (docs/physics.md#wave-function-and-consistency-condition), moving log gamma a fraction
    ``gain`` of the way to the solution each time it acts. ``mu_c`` defaults to the
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

from agents.params import ConfigError, check_float
from agents.policies import SHARED_POLICY_KEYS, PolicyController
from agents.registry import register

if TYPE_CHECKING:
    from models.learning_system import LearningSystem

__all__ = ["POLICY_KEYS", "StepSizeController"]

# the order of the policies is the order of POLICIES (the first is the default)
POLICY_KEYS = {
    "constant": SHARED_POLICY_KEYS["constant"],
    "schedule": SHARED_POLICY_KEYS["schedule"],
    "temperature": ("target", "smoothing"),
    "consistency": SHARED_POLICY_KEYS["consistency"],
}


@register("step_size")
class StepSizeController(PolicyController):
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
    >>> spec = {"type": "step_size", "policy": "schedule", "steps": [0, 4], "values": [0.1, 0.02]}
    >>> model = LearningSystem(replicas=4, n_hidden=2, controllers=[spec])
    >>> model.run(2, progress=False)
    >>> round(model.step_size, 6)
    0.06
    """

    kind: ClassVar[str] = "step_size"
    POLICIES: ClassVar[tuple[str, ...]] = tuple(POLICY_KEYS)
    POLICY_KEYS: ClassVar[dict[str, tuple[str, ...]]] = POLICY_KEYS
    BOUND_KEYS: ClassVar[tuple[str, str]] = ("gamma_min", "gamma_max")
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
        super().__init__(model, policy, gamma_min, gamma_max, interval, name, params)
        self.value = float(params.get("value", model.config.step_size))
        self.sigma2 = math.nan
        self.smoothing = float(params.get("smoothing", 0.3))

    @classmethod
    def validate(cls, spec: dict, where: str) -> dict:
        """Check a ``step_size`` table (see the class docstring for its keys)."""
        out = cls.validate_policy_keys(spec, where)
        policy = out["policy"]
        lo = check_float(spec, "gamma_min", where, 1e-6, 0.0, lo_open=True)
        hi = check_float(spec, "gamma_max", where, 1.0, 0.0, lo_open=True)
        if hi < lo:
            raise ConfigError(f"{where}.gamma_max", hi, f"a number >= gamma_min ({lo:g})")
        out.update(gamma_min=lo, gamma_max=hi)
        if policy == "constant" and "value" in spec:
            out["value"] = check_float(spec, "value", where, None, lo, hi)
        elif policy == "temperature":
            if "target" not in spec:
                raise ConfigError(f"{where}.target", None, "a positive number (the T_eff to hold)")
            out["target"] = check_float(spec, "target", where, None, 0.0, lo_open=True)
            out["smoothing"] = check_float(spec, "smoothing", where, 0.3, 0.0, 1.0, lo_open=True)
        out.update(cls.validate_shared_policy(spec, where, policy, lo, hi))
        return out

    # ------------------------------------------------------------------ policies
    def own_proposal(self) -> float:
        """The ``temperature`` policy: gamma = 2 M target / sigma^2 (smoothed sigma^2)."""
        model = self.model
        obs = model.observables
        per = np.asarray(obs.trace_sigma / obs.n_parameters, dtype=float)
        s = float(per[np.isfinite(per)].mean()) if np.isfinite(per).any() else math.nan
        if math.isfinite(s) and s > 0:
            a = self.smoothing
            self.sigma2 = s if not math.isfinite(self.sigma2) else (1 - a) * self.sigma2 + a * s
        if not math.isfinite(self.sigma2) or self.sigma2 <= 0:
            return model.step_size
        return 2.0 * model.batch_size * self.params["target"] / self.sigma2

    def wanted_for(self, ratio: float) -> float:
        """gamma = ratio * M."""
        return ratio * self.model.batch_size
