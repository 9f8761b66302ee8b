"""Frozen potentials V(theta) for the particle modes, and the checks of the particle fields.

A frozen-potential learning system (``SystemConfig.potential`` set) has non-interacting neurons
(particles) moving in a given potential with exact gradients. The potential tables are

``{"type": "polynomial", "coefficients": [c0, c1, ...]}``
    ``V(theta) = sum_k c_k theta^k`` on the real line (any length; bounded below: even degree
    >= 2 with a positive leading coefficient).
``{"type": "cosine", "amplitude": A, "wavenumber": m, "phase": phi}``
    ``V(theta) = A cos(m theta + phi)`` on the circle ``[0, 2 pi)`` (``m`` a positive integer;
    ``phase`` defaults to 0).
``{"type": "separable", "axes": [table, table, ...]}``
    ``V(theta) = sum_j V_j(theta_j)`` in 2 or 3 dimensions, one 1-D table (polynomial or
    cosine) per axis.
``{"type": "rbf_network", "width": l, "train": "center", ...}``
    Not frozen: the mean-field network mode (:mod:`models.mean_field`), whose neurons interact
    through the network output and feel the loss's first variation Psi. Keys (defaults):
    ``width`` (0.3), ``train`` (``"center"`` or ``"amplitude_center"``), ``amplitude`` (1.0,
    the fixed or initial a), ``n0`` (N0; default ``n_hidden``), the teacher's von Mises mixture
    ``weights`` ([0.6, 0.4]), ``centres`` ([2.0, 4.4]) and ``concentration`` (8.0), and
    ``quadrature`` (256 points over x for Psi).

:func:`check_particle_fields` validates ``noise_mode``, ``diffusion`` and ``potential``
together with the fields they constrain, with one-line :class:`~agents.params.ConfigError`
messages naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agents.params import ConfigError, check_float, check_int

__all__ = [
    "NETWORK_DEFAULTS",
    "NOISE_MODES",
    "POTENTIAL_TYPES",
    "Cosine",
    "Polynomial",
    "Potential",
    "check_particle_fields",
    "check_potential",
    "make_potential",
]

NOISE_MODES = ("common", "per_neuron", "langevin")
"""``common``: every neuron of a replica sees the same noise (one mini-batch, or with a
potential one Gaussian draw per replica and step); ``per_neuron``: each neuron its own
mini-batch subset (not available yet); ``langevin``: explicit ``sqrt(2 D) xi`` per neuron."""
POTENTIAL_TYPES = ("polynomial", "cosine", "separable", "rbf_network")
NETWORK_DEFAULTS: dict[str, Any] = {
    "width": 0.3,
    "train": "center",
    "amplitude": 1.0,
    "weights": [0.6, 0.4],
    "centres": [2.0, 4.4],
    "concentration": 8.0,
    "quadrature": 256,
}
TWO_PI = 2.0 * math.pi


class Polynomial:
    """``V(x) = sum_k c_k x^k`` on the real line.

    Examples
    --------
    >>> p = Polynomial([0.0, 0.0, 0.5])
    >>> p.value(np.array([2.0])).tolist(), p.derivative(np.array([2.0])).tolist()
    ([2.0], [2.0])
    >>> p.minimum(), p.curvature(0.0)
    (0.0, 1.0)
    """

    period: float | None = None

    def __init__(self, coefficients: Sequence[float]) -> None:
        c = np.trim_zeros(np.asarray(coefficients, dtype=float), "b")
        self.coefficients = c
        self.d1 = c[1:] * np.arange(1, c.size)
        self.d2 = self.d1[1:] * np.arange(1, self.d1.size)

    @staticmethod
    def _horner(c: np.ndarray, x: np.ndarray) -> np.ndarray:
        if c.size == 0:
            return np.zeros_like(x)
        out = np.full_like(x, c[-1])
        for a in c[-2::-1]:
            out *= x
            out += a
        return out

    def value(self, x: np.ndarray) -> np.ndarray:
        """V at ``x`` (any shape)."""
        return self._horner(self.coefficients, np.asarray(x, dtype=float))

    def derivative(self, x: np.ndarray) -> np.ndarray:
        """V' at ``x``."""
        return self._horner(self.d1, np.asarray(x, dtype=float))

    def curvature(self, x: float) -> float:
        """V'' at a point."""
        return float(self._horner(self.d2, np.asarray([x], dtype=float))[0])

    def minimum(self) -> float:
        """The position of the global minimum (the leftmost one when several are equal)."""
        roots = np.roots(self.d1[::-1]) if self.d1.size > 1 else np.array([0.0])
        real = np.sort(roots[np.abs(roots.imag) <= 1e-9 * (1 + np.abs(roots.real))].real)
        if real.size == 0:  # pragma: no cover - an even-degree polynomial has a real critical point
            return 0.0
        values = self.value(real)
        best = np.nonzero(values <= values.min() + 1e-12 * (1 + abs(values.min())))[0][0]
        return float(real[best])


class Cosine:
    """``V(x) = A cos(m x + phi)`` on the circle ``[0, 2 pi)``.

    Examples
    --------
    >>> c = Cosine(1.0, 2, 0.0)
    >>> round(c.minimum(), 6), round(c.curvature(c.minimum()), 6)
    (1.570796, 4.0)
    """

    period: float | None = TWO_PI

    def __init__(self, amplitude: float, wavenumber: int, phase: float = 0.0) -> None:
        self.amplitude = float(amplitude)
        self.wavenumber = int(wavenumber)
        self.phase = float(phase)

    def value(self, x: np.ndarray) -> np.ndarray:
        """V at ``x``."""
        return self.amplitude * np.cos(self.wavenumber * np.asarray(x, dtype=float) + self.phase)

    def derivative(self, x: np.ndarray) -> np.ndarray:
        """V' at ``x``."""
        m = self.wavenumber
        return -self.amplitude * m * np.sin(m * np.asarray(x, dtype=float) + self.phase)

    def curvature(self, x: float) -> float:
        """V'' at a point."""
        m = self.wavenumber
        return float(-self.amplitude * m * m * math.cos(m * x + self.phase))

    def minimum(self) -> float:
        """The first minimum in ``[0, 2 pi)`` (0 for a flat potential)."""
        if self.amplitude == 0:
            return 0.0
        target = math.pi if self.amplitude > 0 else 0.0  # m x + phi at a minimum (mod 2 pi)
        x = (target - self.phase) / self.wavenumber
        return float(np.mod(x, TWO_PI / self.wavenumber))


class Potential:
    """A separable potential ``V(theta) = sum_j V_j(theta_j)`` in ``dim`` dimensions.

    Parameters
    ----------
    axes : sequence of Polynomial or Cosine
        One 1-D potential per axis.

    Examples
    --------
    >>> pot = make_potential({"type": "separable", "axes": [
    ...     {"type": "polynomial", "coefficients": [0, 0, 0.5]},
    ...     {"type": "cosine", "amplitude": 1.0, "wavenumber": 1}]})
    >>> pot.dim, pot.periods
    (2, (None, 6.283185307179586))
    >>> theta = np.array([[1.0, np.pi]])
    >>> pot.value(theta).tolist(), pot.gradient(theta).round(12).tolist()
    ([-0.5], [[1.0, -0.0]])
    """

    def __init__(self, axes: Sequence[Polynomial | Cosine]) -> None:
        self.axes = tuple(axes)
        self.dim = len(self.axes)
        self.periods = tuple(a.period for a in self.axes)

    def value(self, theta: np.ndarray) -> np.ndarray:
        """V at positions ``theta`` of shape ``(..., dim)``; returns shape ``(...)``."""
        out = self.axes[0].value(theta[..., 0])
        for j in range(1, self.dim):
            out = out + self.axes[j].value(theta[..., j])
        return out

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        """grad V at ``theta`` (``(..., dim)``), same shape."""
        out = np.empty_like(theta, dtype=float)
        for j, ax in enumerate(self.axes):
            out[..., j] = ax.derivative(theta[..., j])
        return out

    def psi(self, theta: np.ndarray, active: np.ndarray) -> np.ndarray:
        """``Psi_i = V(theta_i)`` of every slot (``active`` is not needed: no interaction)."""
        return self.value(theta)

    def exact_gradient(self, theta: np.ndarray, active: np.ndarray) -> np.ndarray:
        """``grad V`` of every slot."""
        return self.gradient(theta)

    def loss(self, theta: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Population mean of V per replica (NaN when a replica has no particle), (R,)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sum(self.value(theta), axis=-1, where=active) / active.sum(axis=-1)

    def minimum(self) -> np.ndarray:
        """The global minimum (per axis), shape ``(dim,)``."""
        return np.array([a.minimum() for a in self.axes])

    def curvatures(self, at: np.ndarray | None = None) -> np.ndarray:
        """The diagonal of the Hessian at ``at`` (default the minimum), shape ``(dim,)``."""
        at = self.minimum() if at is None else np.asarray(at, dtype=float)
        return np.array([a.curvature(float(x)) for a, x in zip(self.axes, at, strict=True)])

    def wrap(self, theta: np.ndarray) -> None:
        """Map periodic coordinates of ``theta`` (``(..., dim)``) into ``[0, 2 pi)`` in place."""
        for j, period in enumerate(self.periods):
            if period is not None:
                np.mod(theta[..., j], period, out=theta[..., j])


def _axis(spec: Mapping[str, Any]) -> Polynomial | Cosine:
    if spec["type"] == "polynomial":
        return Polynomial(spec["coefficients"])
    return Cosine(spec["amplitude"], spec["wavenumber"], spec["phase"])


def make_potential(spec: Mapping[str, Any]) -> Potential:
    """The :class:`Potential` of a checked potential table (see :func:`check_potential`).

    Examples
    --------
    >>> make_potential({"type": "polynomial", "coefficients": [0, 0, 1]}).dim
    1
    """
    spec = check_potential(spec)
    if spec["type"] == "rbf_network":
        raise ValueError(
            "potential: rbf_network; expected a frozen potential (see models.mean_field)"
        )
    if spec["type"] == "separable":
        return Potential([_axis(a) for a in spec["axes"]])
    return Potential([_axis(spec)])


def _check_axis(spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise ConfigError(where, spec, "a table with a 'type' key (polynomial or cosine)")
    kind = spec.get("type")
    if kind == "polynomial":
        allowed = ("type", "coefficients")
    elif kind == "cosine":
        allowed = ("type", "amplitude", "wavenumber", "phase")
    else:
        raise ConfigError(f"{where}.type", kind, "one of polynomial, cosine")
    for key, value in spec.items():
        if key not in allowed:
            raise ConfigError(f"{where}.{key}", value, f"a key of a {kind} potential")
    if kind == "cosine":
        if "amplitude" not in spec:
            raise ConfigError(f"{where}.amplitude", None, "a number (V = A cos(m theta + phi))")
        if "wavenumber" not in spec:
            raise ConfigError(f"{where}.wavenumber", None, "an integer >= 1")
        return {
            "type": "cosine",
            "amplitude": check_float(spec, "amplitude", where, None),
            "wavenumber": check_int(spec, "wavenumber", where, None, 1),
            "phase": check_float(spec, "phase", where, 0.0),
        }
    coeffs = spec.get("coefficients")
    field = f"{where}.coefficients"
    if not isinstance(coeffs, list | tuple) or not coeffs:
        raise ConfigError(field, coeffs, "a non-empty list of numbers c0, c1, ...")
    out = []
    for i, c in enumerate(coeffs):
        if isinstance(c, bool) or not isinstance(c, int | float | np.integer | np.floating):
            raise ConfigError(field, coeffs, f"finite numbers (entry {i} is {c!r})")
        if not math.isfinite(float(c)):
            raise ConfigError(field, coeffs, f"finite numbers (entry {i} is {c!r})")
        out.append(float(c))
    nonzero = [k for k, c in enumerate(out) if c != 0.0]
    degree = nonzero[-1] if nonzero else 0
    if degree < 2 or degree % 2 or out[degree] <= 0:
        raise ConfigError(
            field, coeffs, "a polynomial bounded below (even degree >= 2, positive leading c_k)"
        )
    return {"type": "polynomial", "coefficients": out}


def _check_network(spec: Mapping[str, Any], where: str) -> dict[str, Any]:
    allowed = ("type", "n0", *NETWORK_DEFAULTS)
    for key, value in spec.items():
        if key not in allowed:
            raise ConfigError(
                f"{where}.{key}", value, f"a key of rbf_network: {', '.join(allowed)}"
            )
    out: dict[str, Any] = {"type": "rbf_network"}
    out["width"] = check_float(spec, "width", where, 0.3, 0.0, math.pi, lo_open=True)
    train = spec.get("train", "center")
    if train not in ("center", "amplitude_center"):
        raise ConfigError(f"{where}.train", train, "one of center, amplitude_center")
    out["train"] = train
    out["amplitude"] = check_float(spec, "amplitude", where, 1.0)
    if "n0" in spec:
        out["n0"] = check_int(spec, "n0", where, None, 1)
    for key in ("weights", "centres"):
        values = spec.get(key, NETWORK_DEFAULTS[key])
        if not isinstance(values, list | tuple) or not values:
            raise ConfigError(f"{where}.{key}", values, "a non-empty list of numbers")
        names = [f"{key}[{i}]" for i in range(len(values))]
        out[key] = [check_float({k: v}, k, where, None) for k, v in zip(names, values, strict=True)]
    if len(out["weights"]) != len(out["centres"]) or min(out["weights"]) < 0:
        raise ConfigError(
            f"{where}.weights", out["weights"], "one weight >= 0 per centre of the teacher"
        )
    out["concentration"] = check_float(spec, "concentration", where, 8.0, 0.0, lo_open=True)
    out["quadrature"] = check_int(spec, "quadrature", where, 256, 16, 65536)
    return out


def check_potential(spec: Any, where: str = "potential") -> dict[str, Any]:
    """Validate and normalise a potential table (see the module docstring).

    Examples
    --------
    >>> check_potential({"type": "cosine", "amplitude": 1, "wavenumber": 2})
    {'type': 'cosine', 'amplitude': 1.0, 'wavenumber': 2, 'phase': 0.0}
    >>> try:
    ...     check_potential({"type": "polynomial", "coefficients": [0, 1, 0, -1]})
    ... except ConfigError as err:
    ...     print(err.field, "|", err.allowed)
    potential.coefficients | a polynomial bounded below (even degree >= 2, positive leading c_k)
    """
    if isinstance(spec, Mapping) and spec.get("type") == "separable":
        for key, value in spec.items():
            if key not in ("type", "axes"):
                raise ConfigError(f"{where}.{key}", value, "a key of a separable potential: axes")
        axes = spec.get("axes")
        if not isinstance(axes, list | tuple) or not 2 <= len(axes) <= 3:
            raise ConfigError(f"{where}.axes", axes, "a list of 2 or 3 one-axis potential tables")
        return {
            "type": "separable",
            "axes": [_check_axis(a, f"{where}.axes[{i}]") for i, a in enumerate(axes)],
        }
    if isinstance(spec, Mapping) and spec.get("type") == "rbf_network":
        return _check_network(spec, where)
    if isinstance(spec, Mapping) and spec.get("type") not in ("polynomial", "cosine"):
        raise ConfigError(f"{where}.type", spec.get("type"), f"one of {', '.join(POTENTIAL_TYPES)}")
    return _check_axis(spec, where)


def check_particle_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``noise_mode``, ``diffusion`` and ``potential`` of a config's fields.

    Returns the normalised values of those three fields. The rules: ``per_neuron`` is not
    available yet; ``langevin`` needs ``diffusion`` (D >= 0) and a potential; ``diffusion`` is
    given only with a potential or ``langevin``; a potential needs ``diffusion``, the
    ``layered`` topology, ``momentum = 0`` and ``record_noise = false`` (its neurons move by
    overdamped steps and have no mini-batch gradient).

    Examples
    --------
    >>> check_particle_fields({"noise_mode": "common", "diffusion": None, "potential": None})
    {'noise_mode': 'common', 'diffusion': None, 'potential': None}
    >>> try:
    ...     check_particle_fields({"noise_mode": "langevin", "diffusion": None, "potential": None})
    ... except ConfigError as err:
    ...     print(err)
    diffusion: None; expected a number >= 0 (D of noise_mode langevin)
    """
    mode = fields.get("noise_mode", "common")
    if mode not in NOISE_MODES:
        raise ConfigError("noise_mode", mode, f"one of {', '.join(NOISE_MODES)}")
    pot = fields.get("potential")
    if pot is not None:
        pot = check_potential(pot)
    network = pot is not None and pot["type"] == "rbf_network"
    if mode == "per_neuron" and not network:
        raise ConfigError(
            "noise_mode", mode, "'common' or 'langevin' (per_neuron needs an rbf_network)"
        )
    D = fields.get("diffusion")
    if D is not None:
        D = check_float(fields, "diffusion", "", None, 0.0)
    if network and mode != "langevin" and D is not None:
        raise ConfigError("diffusion", D, f"None with noise_mode {mode} (SGD noise of the network)")
    if mode == "langevin" and D is None:
        raise ConfigError("diffusion", None, "a number >= 0 (D of noise_mode langevin)")
    if mode == "langevin" and pot is None:
        raise ConfigError(
            "noise_mode", mode, "'common' without a potential (langevin moves frozen particles)"
        )
    if D is not None and pot is None:
        raise ConfigError("diffusion", D, "None without a potential (D drives the particles)")
    if pot is not None:
        if D is None and not network:
            raise ConfigError("diffusion", None, "a number >= 0 (D of the particles)")
        topo = fields.get("topology", "layered")
        if not (isinstance(topo, str) and topo == "layered"):
            shown = topo if isinstance(topo, str) else type(topo).__name__
            raise ConfigError("topology", shown, "'layered' with a potential (no network)")
        if fields.get("momentum", 0.0):
            raise ConfigError("momentum", fields["momentum"], "0 with a potential (overdamped)")
        if fields.get("record_noise", False):
            raise ConfigError("record_noise", True, "false with a potential (no mini-batch)")
    return {"noise_mode": mode, "diffusion": D, "potential": pot}
