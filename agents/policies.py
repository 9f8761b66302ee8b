"""What the step-size and batch-size controllers share: constant, schedule and consistency.

Both controllers set one ensemble-wide SGD parameter (gamma or M) with the same three
policies besides their own: ``constant``, ``schedule`` and ``consistency``. The
``consistency`` policy drives the Madelung hbar set by (gamma, M) through the measured
diffusion (:class:`HbarMeter`; hbar(gamma, M) = (c gamma / M)^p with the constant c measured
over the last ``window`` steps) toward |mu_c| / (2 pi)
(docs/physics.md#wave-function-and-consistency-condition), moving the log of the controlled
parameter a fraction ``gain`` of the way to the value that meets it each time it acts.
``mu_c`` is given, or the current chemical potential of the model's neuron-count controller.
Under this policy the consistency condition holds by construction: a setting of the run, not
evidence for the theory.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from agents.controller import COMMON_KEYS, ScalarController
from agents.params import ConfigError, check_float, check_int, check_keys, check_schedule
from agents.schedule import schedule_value

if TYPE_CHECKING:
    from models.learning_system import LearningSystem

__all__ = [
    "SHARED_POLICY_KEYS",
    "HbarMeter",
    "PolicyController",
    "chemical_potential",
    "log_step_toward",
    "needs_mu_c",
    "validate_consistency",
]

SHARED_POLICY_KEYS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "schedule": ("steps", "values", "interpolation"),
    "consistency": ("mu_c", "gain", "window", "exponent"),
}


class HbarMeter:
    """The Madelung hbar set by (gamma, M) through the measured diffusion of the coordinates.

    Reading (reconstructed; docs/physics.md#mass-and-time-conventions): hbar = (D / gamma)^p,
    with m = 1/(2 gamma);
    p = 1 is Nelson's hbar = 2 m D, p = 1/2 the reading hbar^2 ~ D / gamma. D is measured every
    step from the SGD displacement of the observed coordinates
    (:attr:`models.observables.Observables.sgd_diffusion`; neuron moves excluded), and the
    constant c of D = c gamma^2 / M is measured as the mean of D over the last ``window`` steps
    divided by the mean of gamma^2 / M over the same steps (never assumed). Then
    hbar(gamma, M) = (c gamma / M)^p, and the (gamma, M) giving a target hbar follow in closed
    form.

    Parameters
    ----------
    window : int
        Steps averaged.
    exponent : float
        p above.

    Examples
    --------
    >>> meter = HbarMeter(window=2, exponent=1.0)
    >>> meter.add(0.5 * 0.1**2 / 10, 0.1, 10); meter.add(0.5 * 0.1**2 / 10, 0.1, 10)
    >>> meter.measure()
    0.5
    >>> round(meter.hbar(0.1, 10), 6), round(meter.ratio_for(0.005), 6)
    (0.005, 0.01)
    """

    def __init__(self, window: int, exponent: float) -> None:
        self.window = int(window)
        self.exponent = float(exponent)
        self._d: list[float] = []
        self._g2m: list[float] = []
        self.constant = math.nan
        self.diffusion = math.nan

    def add(self, diffusion: float, step_size: float, batch_size: int) -> None:
        """Remember one step's measured D and its gamma^2 / M (keeps the last ``window``)."""
        self._d.append(float(diffusion))
        self._g2m.append(step_size * step_size / batch_size)
        if len(self._d) > self.window:
            del self._d[0], self._g2m[0]

    def observe(self, model: LearningSystem) -> None:
        """Add this step's D (``model.observables.sgd_diffusion``) with the step's gamma and M."""
        obs = model.observables
        self.add(obs.sgd_diffusion, obs.step_size, obs.batch_size)

    def measure(self) -> float:
        """The constant c = mean D / mean(gamma^2 / M) over the window (NaN until it is full)."""
        d = np.asarray(self._d)
        if d.size < self.window or not np.isfinite(d).any():
            self.constant = math.nan
            return self.constant
        ok = np.isfinite(d)
        self.diffusion = float(d[ok].mean())
        g2m = float(np.asarray(self._g2m)[ok].mean())
        self.constant = self.diffusion / g2m if g2m > 0 else math.nan
        return self.constant

    def hbar(self, step_size: float, batch_size: float) -> float:
        """hbar(gamma, M) = (c gamma / M)^p with the measured c (NaN before it is measured)."""
        c = self.constant
        if not math.isfinite(c) or c <= 0:
            return math.nan
        return (c * step_size / batch_size) ** self.exponent

    def ratio_for(self, target: float) -> float:
        """gamma / M that gives hbar = ``target``: (target^(1/p)) / c."""
        c = self.constant
        if not math.isfinite(c) or c <= 0:
            return math.nan
        return target ** (1.0 / self.exponent) / c


def chemical_potential(model: LearningSystem, given: float | None) -> float:
    """|mu_c|: ``given`` or, when None, the current mu_c of the model's neuron-count controller.

    Examples
    --------
    >>> spec = {"type": "neuron_count", "mu_c": -0.02}
    >>> model = LearningSystem(replicas=2, n_hidden=2, n_hidden_max=3, controllers=[spec])
    >>> chemical_potential(model, None), chemical_potential(model, 0.5)
    (0.02, 0.5)
    """
    if given is not None:
        return abs(given)
    for c in model.controllers:
        if getattr(c, "kind", None) == "neuron_count":
            return abs(c.mu_c)
    return math.nan


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
    """Refuse a consistency policy without mu_c when no neuron-count controller provides one,
    or beside a ``clone`` neuron-count controller.

    Examples
    --------
    >>> try:
    ...     needs_mu_c(LearningSystem(replicas=2, n_hidden=1), None, "controllers[0]")
    ... except ConfigError as err:
    ...     print(err)
    controllers[0].mu_c: None; expected a number (no neuron_count controller gives one)
    """
    if mu_c is None and not any(s.get("type") == "neuron_count" for s in model.config.controllers):
        raise ConfigError(f"{where}.mu_c", None, "a number (no neuron_count controller gives one)")
    if any(s.get("policy") == "clone" for s in model.config.controllers):
        raise ConfigError(
            f"{where}.policy",
            "consistency",
            "no consistency policy beside a clone neuron_count controller (its mu_c is in units "
            "of Psi and its hbar is 1/alpha, not |mu_c|/2pi)",
        )


def log_step_toward(current: float, wanted: float, gain: float) -> float:
    """``exp((1 - gain) log current + gain log wanted)``: a fraction ``gain`` of the way in log.

    Examples
    --------
    >>> round(log_step_toward(1.0, 100.0, 0.5), 9)
    10.0
    """
    return float(math.exp((1 - gain) * math.log(current) + gain * math.log(wanted)))


class PolicyController(ScalarController):
    """A controller of gamma or M with the shared ``constant``, ``schedule``, ``consistency``.

    Subclasses set ``kind``, ``attribute``, ``POLICY_KEYS`` (shared and own policies),
    ``BOUND_KEYS`` (the names of the bounds in a spec), ``self.value`` (the ``constant``
    policy's value) and implement :meth:`wanted_for` and :meth:`own_proposal`.

    Examples
    --------
    >>> spec = {"type": "step_size", "policy": "consistency", "mu_c": 0.01}
    >>> model = LearningSystem(replicas=4, n_hidden=2, controllers=[spec])
    >>> ctrl = model.controllers[0]
    >>> isinstance(ctrl, PolicyController), round(ctrl.hbar_target(), 6)
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
