"""The ``clone`` policy of the neuron-count controller: DMC branching of neuron particles.

Every ``interval`` = K steps each neuron i of each replica is replaced by

    n_i = floor(exp(-alpha K (Psi_i - mu_c)) + U_i),   U_i ~ U[0, 1),

identical copies (0 kills it; the copies separate through per-neuron noise). ``Psi_i`` is the
neuron's first variation (in the frozen-potential mode ``V(theta_i)``, read from the step's
observables), so neurons below ``mu_c`` clone and those above die: the population density
follows ``d rho/dt = div(eta rho grad Psi) + D Laplacian(rho) - alpha (Psi - mu_c) rho``, an
imaginary-time Schrodinger equation with hbar = 1/alpha whose stationary state is the Perron
ground state and whose ``mu_c`` settles at ``E_0 = <Psi>`` (see :mod:`analysis.imaginary_time`).
Here ``mu_c`` is in units of Psi, not of the free energy F of the Metropolis policies.

``mu_c`` is fixed (``population_control = false``) or follows the population of each replica
(DMC population control, the default),

    mu_c(t) = <Psi> - (zeta / alpha) ln(N / N_target),

evaluated at every branching event; ``alpha`` is a constant or follows a schedule
(``steps``, ``values``, ``interpolation``). With ``alpha = 0`` nothing branches and ``mu_c`` is
NaN.

Variants (``variant``)
----------------------
loss
    The rule above.
entropy_aware
    The rate uses the free-energy first variation ``Psi_i + T ln rho_hat(theta_i)`` with
    ``T = D / eta`` and ``rho_hat`` a binned Gaussian kernel estimate of the replica's particle
    density (bandwidth ``bandwidth`` x Silverman's rule): the birth-death Langevin sampler,
    whose stationary state is Boltzmann again (a null control). Constant shifts of
    ``ln rho_hat`` are absorbed by ``mu_c``, so it needs population control.
shuffled
    The rate uses ``Psi`` permuted at random across the replica's neurons: the same event rate
    and ``<Psi>``, no information on which neuron is where (a null control).

Births go to free slots (recycled; the slot capacity grows when none is free); births that
would take a replica beyond ``n_max`` neurons are refused and counted
(``<name>_refused``; 0 in any run whose numbers are used). Random numbers come from the model's
``births`` stream. One event row per replica and branching event: ``action = "branch"``,
``before``/``after`` the neuron counts.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from agents.params import (
    ConfigError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_keys,
    check_schedule,
)
from agents.schedule import schedule_value

if TYPE_CHECKING:
    from agents.neuron_count import NeuronCountController

__all__ = ["CLONE_KEYS", "VARIANTS", "Cloning", "log_density", "validate_clone"]

CLONE_KEYS = (
    "alpha",
    "mu_c",
    "population_control",
    "zeta",
    "target",
    "variant",
    "n_max",
    "bandwidth",
    "steps",
    "values",
    "interpolation",
)
VARIANTS = ("loss", "entropy_aware", "shuffled")
N_MAX_FACTOR = 16
"""Default ``n_max``: this many times the initial neurons per replica (at least 1024)."""


def validate_clone(spec: dict, where: str, common: tuple[str, ...]) -> dict[str, Any]:
    """Parameters of a ``clone`` policy table (keys: ``common`` and :data:`CLONE_KEYS`).

    Examples
    --------
    >>> validate_clone({"alpha": 0.05}, "controllers[0]", ("type", "policy"))
    {'alpha': 0.05, 'population_control': True, 'zeta': 0.1, 'variant': 'loss', 'bandwidth': 1.0}
    >>> try:
    ...     validate_clone({"alpha": 0.05, "population_control": False}, "c[0]", ())
    ... except ConfigError as err:
    ...     print(err)
    c[0].mu_c: None; expected a number (the fixed mu_c, units of Psi) with population_control false
    """
    check_keys(spec, where, (*common, *CLONE_KEYS), "neuron_count (clone)")
    out: dict[str, Any] = {}
    scheduled = "steps" in spec or "values" in spec
    if scheduled:
        if "alpha" in spec:
            raise ConfigError(f"{where}.alpha", spec["alpha"], "no alpha with a schedule (values)")
        out.update(check_schedule(spec, where, 0.0))
    else:
        if "alpha" not in spec:
            raise ConfigError(f"{where}.alpha", None, "a number >= 0 or a schedule (steps, values)")
        out["alpha"] = check_float(spec, "alpha", where, None, 0.0)
    out["population_control"] = check_bool(spec, "population_control", where, True)
    if out["population_control"]:
        if "mu_c" in spec:
            raise ConfigError(
                f"{where}.mu_c", spec["mu_c"], "no mu_c with population control (it follows N)"
            )
    elif "mu_c" not in spec and out.get("alpha") == 0.0:
        out["mu_c"] = math.nan  # nothing branches: mu_c plays no part
    else:
        if "mu_c" not in spec:
            raise ConfigError(
                f"{where}.mu_c",
                None,
                "a number (the fixed mu_c, units of Psi) with population_control false",
            )
        out["mu_c"] = check_float(spec, "mu_c", where, None)
    out["zeta"] = check_float(spec, "zeta", where, 0.1, 0.0, lo_open=True)
    for key in ("target", "n_max"):
        value = check_int(spec, key, where, None, 1)
        if value is not None:
            out[key] = value
    out["variant"] = check_choice(spec, "variant", where, "loss", VARIANTS)
    if out["variant"] == "entropy_aware" and not out["population_control"]:
        raise ConfigError(
            f"{where}.variant", "entropy_aware", "population control (ln rho_hat has no origin)"
        )
    out["bandwidth"] = check_float(spec, "bandwidth", where, 1.0, 0.0, lo_open=True)
    return out


def log_density(
    theta: np.ndarray, periods: tuple[float | None, ...], bandwidth: float = 1.0
) -> np.ndarray:
    """ln of a binned Gaussian kernel density estimate of the points, at the points.

    The points (``(n, d)``) are counted on a grid of bins of a quarter bandwidth, smoothed with
    a Gaussian of the bandwidth ``h_j = bandwidth x 1.06 sd_j n^(-1/(d+4))`` (periodic axes
    wrap around their period) and read back by linear interpolation; the estimate integrates to
    1.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(20000, 1))
    >>> ld = log_density(x, (None,))
    >>> exact = -0.5 * np.log(2 * np.pi) - x[:, 0] ** 2 / 2
    >>> bool(np.abs(ld - exact).mean() < 0.05)
    True
    """
    n, d = theta.shape
    sd = theta.std(axis=0)
    h = bandwidth * 1.06 * np.where(sd > 0, sd, 1.0) * n ** (-1.0 / (d + 4))
    lo = np.empty(d)
    width = np.empty(d)
    bins = np.empty(d, dtype=int)
    for j, period in enumerate(periods):
        if period is not None:
            h[j] = min(h[j], period / 8)
            bins[j] = min(math.ceil(period / (h[j] / 4)), 4096)
            lo[j], width[j] = 0.0, period / bins[j]
        else:
            a, b = theta[:, j].min() - 4 * h[j], theta[:, j].max() + 4 * h[j]
            bins[j] = min(math.ceil((b - a) / (h[j] / 4)) + 1, 4096)
            lo[j], width[j] = a, (b - a) / bins[j]
    pos = (theta - lo) / width
    idx = np.minimum(pos.astype(np.int64), bins - 1)
    counts = np.bincount(np.ravel_multi_index(idx.T, tuple(bins)), minlength=int(np.prod(bins)))
    grid = counts.reshape(tuple(bins)).astype(float)
    for j, period in enumerate(periods):
        mode = "wrap" if period is not None else "constant"
        grid = ndimage.gaussian_filter1d(grid, h[j] / width[j], axis=j, mode=mode, truncate=4.0)
    grid /= n * float(np.prod(width))
    coords = (pos - 0.5).T
    mode = "grid-wrap" if all(p is not None for p in periods) else "nearest"
    dens = ndimage.map_coordinates(grid, coords, order=1, mode=mode)
    return np.log(np.maximum(dens, 1e-300))


class Cloning:
    """The branching engine of a ``clone`` neuron-count controller (see the module docstring).

    Parameters
    ----------
    controller : NeuronCountController
        The controller agent acting (its ``interval`` is K; it logs the events).
    alpha : float, optional
        Birth-death rate constant per step and unit of Psi (or ``steps``/``values`` given).
    mu_c : float
        The fixed chemical potential (``population_control = False``).
    population_control : bool
    zeta : float
        Population-control gain.
    target : int, optional
        N_target per replica; default the initial neuron count.
    variant : {"loss", "entropy_aware", "shuffled"}
    n_max : int, optional
        Cap on the neurons of a replica (births beyond it are refused and counted); default
        16 x the initial neurons (at least 1024).
    bandwidth : float
        Bandwidth factor of the ``entropy_aware`` density estimate.
    steps, values, interpolation : optional
        A schedule for alpha.

    Examples
    --------
    >>> spec = {"type": "neuron_count", "policy": "clone", "alpha": 0.05}
    >>> model = LearningSystem(replicas=2, n_hidden=400, diffusion=1e-3, step_size=0.01,
    ...                        noise_mode="langevin", controllers=[spec], seed=0,
    ...                        potential={"type": "polynomial", "coefficients": [0, 0, 0.5]})
    >>> model.run(20, progress=False)
    >>> ctrl = model.controllers[0]
    >>> bool(0.02 < ctrl.mu_c < 0.07), int(ctrl.engine.refused.sum())
    (True, 0)
    >>> ev = model.controller_events()
    >>> ev["action"].unique().tolist(), len(ev)
    (['branch'], 40)
    """

    def __init__(
        self,
        controller: NeuronCountController,
        alpha: float | None = None,
        mu_c: float = math.nan,
        population_control: bool = True,
        zeta: float = 0.1,
        target: int | None = None,
        variant: str = "loss",
        n_max: int | None = None,
        bandwidth: float = 1.0,
        steps: list[int] | None = None,
        values: list[float] | None = None,
        interpolation: str = "linear",
    ) -> None:
        model = controller.model
        where = controller.where
        parts = getattr(model, "particles", None)
        if parts is None:
            raise ConfigError(
                f"{where}.policy", "clone", "a model with a potential (frozen-potential mode)"
            )
        cfg = model.config
        self.controller = controller
        self.alpha = alpha
        self.schedule = None if steps is None else (list(steps), list(values), interpolation)
        self.population_control = bool(population_control)
        self.fixed_mu = float(mu_c)
        self.zeta = float(zeta)
        n0 = cfg.n_hidden
        self.target = float(n0 if target is None else target)
        if self.target < 1:
            raise ConfigError(f"{where}.target", target, "an integer >= 1 (model has 0 neurons)")
        self.variant = variant
        self.n_max = max(N_MAX_FACTOR * n0, 1024) if n_max is None else int(n_max)
        self.bandwidth = float(bandwidth)
        if variant == "entropy_aware" and not (model.step_size > 0 and cfg.diffusion is not None):
            raise ConfigError(
                f"{where}.variant",
                variant,
                "a model with step_size > 0 and a given diffusion (T = D / step_size)",
            )
        R = cfg.replicas
        self.mu = np.full(R, math.nan)
        self.last_alpha = math.nan
        self.last_births = np.zeros(R, dtype=np.int64)
        self.last_deaths = np.zeros(R, dtype=np.int64)
        self.refused = np.zeros(R, dtype=np.int64)
        self.events = 0

    # ------------------------------------------------------------------ parameters
    def alpha_now(self, step: int) -> float:
        """alpha at ``step`` (constant, or the schedule's value)."""
        if self.schedule is None:
            return float(self.alpha)
        steps, values, interp = self.schedule
        return schedule_value(step, steps, values, interp)

    def temperature(self) -> float:
        """``T = D / eta`` of the model now."""
        model = self.controller.model
        return float(model.config.diffusion) / model.step_size

    # ------------------------------------------------------------------ rates
    def rate_potential(self, psi: np.ndarray, active: np.ndarray, rng: np.random.Generator):
        """The per-neuron value the branching weight uses (``Psi``, or a null variant's)."""
        if self.variant == "shuffled":
            return _shuffled(psi, active, rng)
        if self.variant == "entropy_aware":
            parts = self.controller.model.particles
            out = psi.copy()
            T = self.temperature()
            for r in range(active.shape[0]):
                idx = np.nonzero(active[r])[0]
                if idx.size >= 2:
                    ld = log_density(parts.theta[r, idx], parts.potential.periods, self.bandwidth)
                    out[r, idx] += T * ld
            return out
        return psi

    def act(self) -> None:
        """One branching event of every replica (all at once)."""
        ctrl = self.controller
        model = ctrl.model
        parts = model.particles
        rng = model.streams["births"]
        alpha = self.alpha_now(model.steps)
        self.last_alpha = alpha
        n = parts.counts()
        if alpha <= 0:
            self.mu[:] = math.nan
            ctrl.mu_c = math.nan
            self.last_births[:] = 0
            self.last_deaths[:] = 0
            return
        K = ctrl.interval
        active = parts.active
        psi = self.rate_potential(model.observables.psi, active, rng)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.sum(psi, axis=1, where=active) / n
            if self.population_control:
                mu = mean - self.zeta / alpha * np.log(n / self.target)
            else:
                mu = np.full(n.shape, self.fixed_mu)
        mu = np.where(n > 0, mu, math.nan)
        self.mu = mu
        # copies = floor(exp(-alpha K (psi - mu)) + U), at most n_max + 1 (empty slots: 0)
        w = psi - mu[:, None]
        w *= -alpha * K
        np.minimum(w, math.log(self.n_max + 1.0), out=w)
        np.exp(w, out=w)
        w += rng.random(active.shape)
        w[~(active & np.isfinite(w))] = 0.0
        copies = w.astype(np.int64)  # floor of a non-negative number
        before = n
        births, deaths, refused = parts.branch(copies, model.steps, self.n_max)
        self.last_births, self.last_deaths = births, deaths
        self.refused += refused
        self.events += 1
        ctrl.mu_c = float(np.nanmean(mu)) if np.isfinite(mu).any() else math.nan
        ctrl.log(np.arange(n.size), "branch", before, parts.counts())

    # ------------------------------------------------------------------ reporting
    def reporters(self) -> dict[str, Any]:
        """Model reporters: mu_c, alpha, births, deaths, refused births and capacity."""
        name = self.controller.name
        return {
            f"{name}_mu_c": lambda m: self.controller.mu_c,
            f"{name}_alpha": lambda m: self.last_alpha,
            f"{name}_births": lambda m: int(self.last_births.sum()),
            f"{name}_deaths": lambda m: int(self.last_deaths.sum()),
            f"{name}_refused": lambda m: int(self.refused.sum()),
            f"{name}_capacity": lambda m: int(m.particles.capacity),
        }


def _shuffled(psi: np.ndarray, active: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``psi`` permuted at random among the active slots of each row."""
    R, C = active.shape
    keys = rng.random((R, C))
    keys[~active] = 2.0
    perm = np.argsort(keys, axis=1)  # active slots first, in random order
    slots = np.argsort(~active, axis=1, kind="stable")  # active slots first, in slot order
    n = active.sum(axis=1)
    use = np.arange(C)[None, :] < n[:, None]
    out = psi.copy()
    rows = np.broadcast_to(np.arange(R)[:, None], (R, C))
    out[rows[use], slots[use]] = psi[rows[use], perm[use]]
    return out
