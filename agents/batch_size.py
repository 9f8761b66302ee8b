"""BatchSizeController: adapts the ensemble-wide mini-batch size M while the system learns.

Policies
--------
constant
    M = ``value`` (default: the config's ``batch_size``).
schedule
    M follows ``steps``/``values`` (piecewise linear or exponential), rounded to an integer.
noise_scale
    M = ``scale`` x B, B = tr(Sigma) / |grad F|^2, the gradient noise scale. tr(Sigma) is this
    step's per-sample gradient covariance trace; |grad F|^2 is estimated without a full-batch
    pass from the mini-batch gradient g: E|g|^2 = |grad F|^2 + tr(Sigma) / M, so
    |g|^2 - tr(Sigma) / M is unbiased. Both are ensemble means, smoothed by exponential moving
    averages (weight ``smoothing``) before their ratio is taken. When the smoothed |grad F|^2
    is not positive (noise-dominated gradient), M goes to ``m_max``.
consistency
    As the step-size policy of the same name (agents.step_size), acting on M: hbar(gamma, M) =
    (c gamma / M)^p is driven toward |mu_c| / (2 pi) with the measured constant c. The
    consistency condition then holds by construction: a setting, not evidence.

M is an integer clipped to ``[m_min, m_max]`` after every policy.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from agents.params import ConfigError, check_float, check_int
from agents.policies import SHARED_POLICY_KEYS, PolicyController
from agents.registry import register

if TYPE_CHECKING:
    from models.learning_system import LearningSystem

__all__ = ["POLICY_KEYS", "BatchSizeController"]

# the order of the policies is the order of POLICIES (the first is the default)
POLICY_KEYS = {
    "constant": SHARED_POLICY_KEYS["constant"],
    "schedule": SHARED_POLICY_KEYS["schedule"],
    "noise_scale": ("scale", "smoothing"),
    "consistency": SHARED_POLICY_KEYS["consistency"],
}


@register("batch_size")
class BatchSizeController(PolicyController):
    """Controller of the mini-batch size M (``model.batch_size``, used by the next step).

    Parameters
    ----------
    model : LearningSystem
    policy : {"constant", "schedule", "noise_scale", "consistency"}
    m_min, m_max : int
        Integer bounds (defaults 2 and 1024; tr(Sigma) needs M >= 2).
    interval : int
    name : str, optional
    **params
        Policy parameters: ``value``; ``steps``, ``values``, ``interpolation``; ``scale``,
        ``smoothing``; ``mu_c``, ``gain``, ``window``, ``exponent``.

    Examples
    --------
    >>> spec = {"type": "batch_size", "policy": "constant", "value": 8}
    >>> model = LearningSystem(replicas=4, n_hidden=2, controllers=[spec])
    >>> model.run(1, progress=False)
    >>> model.batch_size
    8
    """

    kind: ClassVar[str] = "batch_size"
    POLICIES: ClassVar[tuple[str, ...]] = tuple(POLICY_KEYS)
    POLICY_KEYS: ClassVar[dict[str, tuple[str, ...]]] = POLICY_KEYS
    BOUND_KEYS: ClassVar[tuple[str, str]] = ("m_min", "m_max")
    attribute: ClassVar[str] = "batch_size"
    integer: ClassVar[bool] = True

    def __init__(
        self,
        model: LearningSystem,
        policy: str = "constant",
        m_min: int = 2,
        m_max: int = 1024,
        interval: int = 1,
        name: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(model, policy, m_min, m_max, interval, name, params)
        self.value = int(params.get("value", model.config.batch_size))
        self.smoothing = float(params.get("smoothing", 0.2))
        self.trace_ema = math.nan
        self.grad2_ema = math.nan

    @classmethod
    def validate(cls, spec: dict, where: str) -> dict:
        """Check a ``batch_size`` table (see the class docstring for its keys)."""
        out = cls.validate_policy_keys(spec, where)
        policy = out["policy"]
        lo = check_int(spec, "m_min", where, 2, 1)
        hi = check_int(spec, "m_max", where, max(1024, lo), 1)
        if hi < lo:
            raise ConfigError(f"{where}.m_max", hi, f"an integer >= m_min ({lo})")
        out.update(m_min=lo, m_max=hi)
        if policy == "constant" and "value" in spec:
            out["value"] = check_int(spec, "value", where, None, lo, hi)
        elif policy == "noise_scale":
            out["scale"] = check_float(spec, "scale", where, 1.0, 0.0, lo_open=True)
            out["smoothing"] = check_float(spec, "smoothing", where, 0.2, 0.0, 1.0, lo_open=True)
        out.update(cls.validate_shared_policy(spec, where, policy, lo, hi))
        return out

    # ------------------------------------------------------------------ policies

    def noise_scale(self) -> float:
        """The smoothed gradient noise scale B = tr(Sigma) / |grad F|^2 (NaN before any data)."""
        if not math.isfinite(self.trace_ema):
            return math.nan
        if not math.isfinite(self.grad2_ema) or self.grad2_ema <= 0:
            return math.inf
        return self.trace_ema / self.grad2_ema

    def _update_noise(self) -> None:
        obs = self.model.observables
        trace = obs.trace_sigma
        if trace is None or not np.all(np.isfinite(trace)):
            return
        s = float(np.mean(trace))
        g2 = float(np.mean(obs.grad_norm**2)) - s / obs.batch_size
        a = self.smoothing
        if not math.isfinite(self.trace_ema):
            self.trace_ema, self.grad2_ema = s, g2
        else:
            self.trace_ema = (1 - a) * self.trace_ema + a * s
            self.grad2_ema = (1 - a) * self.grad2_ema + a * g2

    def own_proposal(self) -> float:
        """The ``noise_scale`` policy: M = scale x B (``m_max`` when B is infinite)."""
        self._update_noise()
        b = self.noise_scale()
        if math.isnan(b):
            return self.model.batch_size
        return self.upper if math.isinf(b) else self.params.get("scale", 1.0) * b

    def wanted_for(self, ratio: float) -> float:
        """M = gamma / ratio."""
        return self.model.step_size / ratio

    def reporters(self) -> dict[str, Any]:
        if self.policy == "noise_scale":
            return {f"{self.name}_noise_scale": lambda m: self.noise_scale()}
        return super().reporters()
