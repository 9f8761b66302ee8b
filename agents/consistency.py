"""What the step-size and batch-size controllers share: constant, schedule and consistency.

Both controllers set one ensemble-wide SGD parameter (gamma or M) with the same three
policies besides their own: ``constant``, ``schedule`` and ``consistency``. The
``consistency`` policy drives the Madelung hbar set by (gamma, M) through the measured
diffusion (:class:`agents.controller.HbarMeter`; hbar(gamma, M) = (c gamma / M)^p with the
constant c measured over the last ``window`` steps) toward |mu_c| / (2 pi) (PHYSICS.md
section 4), moving the log of the controlled parameter a fraction ``gain`` of the way to the
value that meets it each time it acts. ``mu_c`` is given, or the current chemical potential of
the model's neuron-count controller. Under this policy the consistency condition holds by
construction: a setting of the run, not evidence for the theory.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

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
from models.config import ConfigError

if TYPE_CHECKING:
    from models.learning_system import LearningSystem

SHARED_POLICY_KEYS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "schedule": ("steps", "values", "interpolation"),
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


def log_step_toward(current: float, wanted: float, gain: float) -> float:
    """``exp((1 - gain) log current + gain log wanted)``: a fraction ``gain`` of the way in log.

    Examples
    --------
    >>> round(log_step_toward(1.0, 100.0, 0.5), 9)
    10.0
    """
    return float(math.exp((1 - gain) * math.log(current) + gain * math.log(wanted)))


class ConsistencyController(ScalarController):
    """A controller of gamma or M with the shared ``constant``, ``schedule``, ``consistency``.

    Subclasses set ``kind``, ``attribute``, ``POLICY_KEYS`` (shared and own policies),
    ``BOUND_KEYS`` (the names of the bounds in a spec), ``self.value`` (the ``constant``
    policy's value) and implement :meth:`wanted_for` and :meth:`own_proposal`.

    Examples
    --------
    >>> from models import LearningSystem
    >>> spec = {"type": "step_size", "policy": "consistency", "mu_c": 0.01}
    >>> model = LearningSystem(replicas=4, n_hidden=2, controllers=[spec])
    >>> ctrl = model.controllers[0]
    >>> isinstance(ctrl, ConsistencyController), round(ctrl.hbar_target(), 6)
    (True, 0.001592)
    """

    POLICY_KEYS: ClassVar[dict[str, tuple[str, ...]]] = SHARED_POLICY_KEYS
    BOUND_KEYS: ClassVar[tuple[str, str]] = ("lower", "upper")

    def __init__(
        self,
        model: LearningSystem,
        policy: str,
        lower: float,
        upper: float,
        interval: int,
        name: str | None,
        params: dict[str, Any],
    ) -> None:
        super().__init__(model, policy, lower, upper, interval, name)
        self.params = params
        self.mu_c = params.get("mu_c")
        self.meter = None
        if policy == "consistency":
            needs_mu_c(model, self.mu_c, self.where)
            self.meter = HbarMeter(params.get("window", 20), params.get("exponent", 1.0))

    # ------------------------------------------------------------------ validation
    @classmethod
    def validate_policy_keys(cls, spec: dict, where: str) -> dict[str, Any]:
        """:meth:`validate_common`, then refuse keys the spec's policy does not take."""
        out = cls.validate_common(spec, where)
        policy = out["policy"]
        allowed = (*COMMON_KEYS, *cls.BOUND_KEYS, *cls.POLICY_KEYS[policy])
        check_keys(spec, where, allowed, f"{cls.kind} ({policy})")
        return out

    @staticmethod
    def validate_shared_policy(
        spec: dict, where: str, policy: str, lo: float, hi: float
    ) -> dict[str, Any]:
        """Parameters of a ``schedule`` (values within ``[lo, hi]``) or ``consistency`` policy."""
        if policy == "schedule":
            return check_schedule(spec, where, lo, hi)
        if policy == "consistency":
            return validate_consistency(spec, where)
        return {}

    # ------------------------------------------------------------------ policies
    def step(self) -> None:
        if self.meter is not None:
            self.meter.observe(self.model)
            if self.model.steps % self.interval == 0:
                self.meter.measure()
        super().step()

    def proposal(self) -> float:
        p = self.params
        if self.policy == "constant":
            return self.value
        if self.policy == "schedule":
            return schedule_value(self.model.steps, p["steps"], p["values"], p["interpolation"])
        if self.policy == "consistency":
            return self.consistency_target(getattr(self.model, self.attribute))
        return self.own_proposal()

    def own_proposal(self) -> float:
        """The value wanted by the subclass's own policy (subclasses)."""
        raise NotImplementedError

    def wanted_for(self, ratio: float) -> float:
        """The controlled parameter at which ``gamma / M = ratio`` (subclasses)."""
        raise NotImplementedError

    def consistency_target(self, current: float) -> float:
        """log of the parameter moved ``gain`` of the way to where hbar = |mu_c| / (2 pi)."""
        ratio = self.meter.ratio_for(self.hbar_target())
        if not math.isfinite(ratio) or ratio <= 0:
            return current
        return log_step_toward(current, self.wanted_for(ratio), self.params.get("gain", 0.5))

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
