"""The particles page: watch neurons as particles cross from Fokker-Planck to imaginary time.

``dualsim app`` serves it at ``/particles`` (next to the learning-system page at ``/``); in a
notebook, ``make_particles_page(ParticlesModel())`` shows it inline. The page steps a real
frozen-potential :class:`~models.LearningSystem` (one replica, ``n`` particles in the frozen
harmonic ``V = theta^2 / 2`` or the double well ``V = (theta^2 - 1)^2``), whose ``neuron_count``
controller agent in its ``clone`` policy does the births and deaths
(:mod:`agents.cloning`). Live controls, applied to the running model at once:

* the birth rate ``alpha`` (the clone controller's rate constant);
* the batch size ``M`` and the step size ``eta``: with ``mini-batch`` noise each gradient
  carries Gaussian noise of variance ``sigma^2 / M`` (``sigma^2`` = :data:`SIGMA2`, the
  per-sample gradient variance), so one step adds ``eta^2 sigma^2 / M`` to the variance and
  the diffusion is ``D = eta^2 sigma^2 / (2 M)``; with ``langevin`` noise ``D`` is fixed
  (:data:`D_LANGEVIN`) and ``M`` plays no part;
* the policy: ``clone`` (births on ``Psi = V``), the null controls ``entropy_aware`` (births on
  ``Psi + T ln rho_hat``, which keep the Boltzmann state) and ``shuffled`` (``Psi`` permuted
  across particles), and ``fixed N`` (no births: ``alpha = 0`` on the controller).

The readout gives the crossover number

    r = 2 alpha D / (eta^2 k) = alpha sigma^2 / (M k)   (mini-batch noise)

with ``k`` the curvature of V at its minimum (:func:`crossover`): the mini-batch form does not
depend on ``eta`` (moving ``eta`` at fixed ``alpha, M`` is a collapse check), the Langevin form
does. The figure draws the histogram of the particle positions against both predicted
stationary densities from :func:`analysis.imaginary_time.solve` (:func:`predictions`): the
Fokker-Planck (Boltzmann) state with ``alpha = 0`` and the grand-canonical state (the
imaginary-time Schrodinger ground state) at the current ``alpha``, with the L1 distance of the
histogram to each, and the trace of the controller's ``mu_c`` beside the predicted ``mu*``. Here
``hbar = 1 / alpha`` is the particles' (imaginary-time) hbar, not the consistency-condition
``|mu_c| / 2 pi`` of the learning-system page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import solara
from matplotlib.figure import Figure
from mesa.visualization import Slider, SolaraViz

from analysis.imaginary_time import solve
from models.learning_system import LearningSystem
from models.potentials import Polynomial
from scenarios.particles.known_answers import frozen_config

__all__ = [
    "D_LANGEVIN",
    "NOISES",
    "POLICIES",
    "POTENTIALS",
    "RENDER_INTERVAL",
    "SIGMA2",
    "ParticlesModel",
    "ParticlesPage",
    "ParticlesView",
    "Predictions",
    "crossover",
    "curvature",
    "histogram_l1",
    "make_particles_page",
    "minibatch_diffusion",
    "particles_figure",
    "particles_params",
    "predictions",
]

POTENTIALS: dict[str, tuple[float, ...]] = {
    "harmonic": (0.0, 0.0, 0.5),
    "double well": (1.0, 0.0, -2.0, 0.0, 1.0),
}
"""Polynomial coefficients ``c_0, c_1, ...`` of the page's frozen potentials."""
POLICIES = ("clone", "entropy_aware", "shuffled", "fixed N")
NOISES = ("mini-batch", "langevin")
SIGMA2 = 200.0
"""Per-sample gradient noise variance sigma^2 of the ``mini-batch`` noise."""
D_LANGEVIN = 1e-3
"""Diffusion per step of the ``langevin`` noise."""
NAME = "dualsim: neurons as particles"
GRID_POINTS = 401
BINS = 60
RENDER_INTERVAL = 25
"""Steps per redraw (Step and Play); odd, as SolaraViz's render-interval slider moves by 2."""


# ---------------------------------------------------------------------- pure functions
def minibatch_diffusion(eta: float, batch_size: int, sigma2: float = SIGMA2) -> float:
    """``D = eta^2 sigma^2 / (2 M)``: the diffusion of SGD with mini-batch gradient noise.

    Examples
    --------
    >>> minibatch_diffusion(0.01, 10)
    0.001
    """
    return round(eta * eta * sigma2 / (2.0 * batch_size), 15)


def curvature(potential: str) -> float:
    """``k = V''`` at the minimum of one of :data:`POTENTIALS`.

    Examples
    --------
    >>> curvature("harmonic"), curvature("double well")
    (1.0, 8.0)
    """
    poly = Polynomial(_coefficients(potential))
    return float(poly.curvature(poly.minimum()))


def crossover(alpha: float, D: float, eta: float, k: float) -> float:
    """The crossover number ``r = 2 alpha D / (eta^2 k)`` (inf when ``eta = 0 < alpha``).

    ``r << 1``: the Boltzmann state (Fokker-Planck); ``r >> 1``: the Perron ground state of
    the imaginary-time Schrodinger equation. With mini-batch noise
    (:func:`minibatch_diffusion`) it is ``alpha sigma^2 / (M k)``.

    Examples
    --------
    >>> crossover(0.05, 1e-3, 0.01, 1.0)
    1.0
    >>> crossover(0.05, minibatch_diffusion(0.02, 10), 0.02, 1.0)  # alpha sigma^2 / (M k)
    1.0
    >>> crossover(0.0, 1e-3, 0.0, 1.0)
    0.0
    """
    if alpha == 0:
        return 0.0
    if eta == 0:
        return math.inf
    return round(2.0 * alpha * D / (eta * eta * k), 12)


@dataclass(frozen=True)
class Predictions:
    """Both predicted stationary densities on one grid (see :func:`predictions`).

    Attributes
    ----------
    x : ndarray
        Grid nodes.
    fokker_planck : ndarray
        Boltzmann density (``alpha = 0``), integrates to 1 on ``x``.
    grand_canonical : ndarray
        Perron (imaginary-time ground state) density at ``alpha``; equal to ``fokker_planck``
        when ``alpha = 0``.
    mu : float
        Predicted ``mu* = <V>`` of the grand-canonical state (NaN when ``alpha = 0``).
    """

    x: np.ndarray
    fokker_planck: np.ndarray
    grand_canonical: np.ndarray
    mu: float


def predictions(potential: str, *, D: float, eta: float, alpha: float) -> Predictions:
    """The Fokker-Planck and grand-canonical stationary densities of the page's particles.

    Both come from :func:`analysis.imaginary_time.solve` on a grid of :data:`GRID_POINTS`
    nodes with reflecting walls, wide enough for the Boltzmann width ``T / k`` (``T = D /
    eta``) and, for the double well, both wells; for an even V the densities are the even
    parts of the solver's (the exact states are even; the double well's two lowest modes are
    nearly degenerate). Results are cached by their arguments.

    Examples
    --------
    >>> p = predictions("harmonic", D=1e-3, eta=0.01, alpha=0.05)
    >>> round(p.mu, 4)
    0.0414
    >>> var = lambda rho: float(np.trapezoid(p.x**2 * rho, p.x))
    >>> round(var(p.fokker_planck), 4), round(var(p.grand_canonical), 4)
    (0.1, 0.0828)
    """
    return _predictions(potential, float(D), float(eta), float(alpha))


@lru_cache(maxsize=64)
def _predictions(potential: str, D: float, eta: float, alpha: float) -> Predictions:
    coeffs = _coefficients(potential)
    poly = Polynomial(coeffs)
    centre = float(poly.minimum())
    k = curvature(potential)
    if eta > 0:
        width = math.sqrt(D / (eta * k))
    else:  # pure branching: the ground-state width (2 D / omega)^(1/2), omega = sqrt(2 alpha D k)
        width = math.sqrt(2.0 * D / math.sqrt(2.0 * max(alpha, 1e-12) * D * k))
    half = 5.0 * width
    if potential == "double well":
        lo, hi = -max(abs(centre) + half, 2.0), max(abs(centre) + half, 2.0)
    else:
        lo, hi = centre - half, centre + half
    x = np.linspace(lo, hi, GRID_POINTS)
    V = poly.value(x)
    fp = solve(x, V, D=D, eta=eta, alpha=0.0).density if eta > 0 else None
    if alpha > 0:
        gc_sol = solve(x, V, D=D, eta=eta, alpha=alpha)
        gc, mu = gc_sol.density, float(gc_sol.mu)
    else:
        gc, mu = fp, math.nan
    if fp is None:  # no drift: no Boltzmann state
        fp = np.full_like(x, np.nan)
    if not any(coeffs[1::2]) and x[0] == -x[-1]:
        # an even V on a grid symmetric about 0: the stationary states are even; taking the
        # even part removes the mixing of the two lowest, nearly degenerate modes of the
        # double well (tunnelling splittings below 1e-12 when alpha is large)
        fp, gc = 0.5 * (fp + fp[::-1]), 0.5 * (gc + gc[::-1])
    return Predictions(x=x, fokker_planck=fp, grand_canonical=gc, mu=mu)


def histogram_l1(theta: np.ndarray, x: np.ndarray, density: np.ndarray, bins: int = BINS):
    """L1 distance between the histogram of ``theta`` on ``[x[0], x[-1]]`` and a density.

    The histogram counts every sample (those outside the range count as mass the density
    misses); the density is averaged over each bin.

    Examples
    --------
    >>> x = np.linspace(-6, 6, 601)
    >>> rho = np.exp(-x**2 / 2) / np.sqrt(2 * np.pi)
    >>> theta = np.random.default_rng(0).standard_normal(100_000)
    >>> bool(histogram_l1(theta, x, rho) < 0.02), bool(histogram_l1(theta + 1, x, rho) > 0.5)
    (True, True)
    """
    theta = np.asarray(theta, dtype=float)
    if theta.size == 0 or not np.all(np.isfinite(density)):
        return math.nan
    edges = np.linspace(x[0], x[-1], bins + 1)
    counts, _ = np.histogram(theta, edges)
    width = edges[1] - edges[0]
    hist = counts / (theta.size * width)
    fine = np.linspace(x[0], x[-1], bins * 8 + 1)
    rho = np.interp(fine, x, density)
    centres = 0.5 * (fine[:-1] + fine[1:])
    mids = 0.5 * (rho[:-1] + rho[1:])
    rho_bin = np.bincount(np.minimum(((centres - x[0]) / width).astype(int), bins - 1), mids)
    rho_bin = rho_bin / 8
    outside = 1.0 - counts.sum() / theta.size
    return float(np.sum(np.abs(hist - rho_bin)) * width + outside)


def _coefficients(potential: str) -> tuple[float, ...]:
    if potential not in POTENTIALS:
        raise ValueError(f"potential: {potential!r}; expected one of {', '.join(POTENTIALS)}")
    return POTENTIALS[potential]


# ---------------------------------------------------------------------- the model
class ParticlesModel(LearningSystem):
    """A frozen-potential :class:`LearningSystem` with the page's live controls.

    One replica of ``n`` particles, ``langevin`` noise with the diffusion the controls set, and
    a ``neuron_count`` controller in its ``clone`` policy with population control
    (``mu_c(t) = <V> - (zeta / alpha) ln(N / n)``). The harmonic particles start at the minimum
    with the Boltzmann width; the double-well particles start half in each well with the
    Boltzmann width of a well. :meth:`set_controls` changes ``alpha``, ``M``, ``eta``, the
    noise and the policy of the running model.

    Parameters
    ----------
    potential : str
        A key of :data:`POTENTIALS`.
    n : int
        Initial and target number of particles.
    alpha, batch_size, eta, policy, noise :
        The controls at the start (see the module docstring).
    seed : int or str
    scenario : optional
        Accepted and ignored: SolaraViz's Reset passes Mesa's default ``Scenario``.

    Examples
    --------
    >>> model = ParticlesModel(n=300, seed=1)
    >>> model.crossover_r
    1.0
    >>> for _ in range(5):
    ...     model.step()
    >>> frame = model.trace_frame()
    >>> frame["step"].tolist(), int(frame["n_neurons"].iloc[0])
    ([0, 1, 2, 3, 4, 5], 300)
    >>> model.set_controls(alpha=0.1)
    >>> model.crossover_r, model.controllers[0].engine.alpha
    (2.0, 0.1)
    """

    def __init__(
        self,
        potential: str = "harmonic",
        n: int = 1000,
        alpha: float = 0.05,
        batch_size: int = 10,
        eta: float = 0.01,
        policy: str = "clone",
        noise: str = "mini-batch",
        seed: int | str = 0,
        scenario: Any = None,
    ) -> None:
        del scenario
        coeffs = _coefficients(potential)
        _check_choice("policy", policy, POLICIES)
        _check_choice("noise", noise, NOISES)
        seed = _parse_seed(seed)
        self.potential_name = potential
        self.alpha = float(alpha)
        self.batch = int(batch_size)
        self.noise = noise
        self.policy = policy
        self.k = curvature(potential)
        D = self._diffusion(float(eta))
        config = frozen_config(
            {"type": "polynomial", "coefficients": list(coeffs)},
            D=D,
            eta=float(eta),
            alpha=0.0 if policy == "fixed N" else self.alpha,
            n=int(n),
            seed=seed,
            variant=_variant(policy),
        )
        super().__init__(config)
        self.batch_size = self.batch
        if potential == "double well":
            rng = np.random.default_rng(np.random.SeedSequence([seed, 43]))
            sd = math.sqrt(D / (float(eta) * self.k))
            side = np.where(np.arange(int(n)) % 2 == 0, -1.0, 1.0)
            self.particles.place(side + sd * rng.standard_normal(int(n)))
        self._trace: list[tuple[int, float, int]] = []
        self._record_trace()

    # ------------------------------------------------------------------ controls
    @property
    def controller(self) -> Any:
        """The clone neuron-count controller agent."""
        return self.controllers[0]

    @property
    def eta(self) -> float:
        """The drift step eta (the model's step size)."""
        return float(self.step_size)

    @property
    def diffusion(self) -> float:
        """D per step now."""
        return float(self.config.diffusion)

    @property
    def crossover_r(self) -> float:
        """``r = 2 alpha D / (eta^2 k)`` of the controls (:func:`crossover`)."""
        return crossover(self.alpha, self.diffusion, self.eta, self.k)

    @property
    def expected(self) -> str:
        """The prediction the policy should follow: grand-canonical for ``clone`` with
        ``alpha > 0``, Fokker-Planck otherwise."""
        if self.policy == "clone" and self.alpha > 0:
            return "grand-canonical"
        return "Fokker-Planck"

    def _diffusion(self, eta: float) -> float:
        if self.noise == "langevin":
            return D_LANGEVIN
        return minibatch_diffusion(eta, self.batch)

    def set_controls(
        self,
        *,
        alpha: float | None = None,
        batch_size: int | None = None,
        eta: float | None = None,
        noise: str | None = None,
        policy: str | None = None,
    ) -> None:
        """Change controls of the running model (the next step uses them).

        ``alpha`` goes to the clone controller (0 there under ``fixed N``), ``eta`` is the
        model's step size, ``M`` and the noise set the diffusion ``D``, ``policy`` the
        controller's variant.
        """
        if noise is not None:
            self.noise = _check_choice("noise", noise, NOISES)
        if policy is not None:
            self.policy = _check_choice("policy", policy, POLICIES)
        if alpha is not None:
            if not (math.isfinite(alpha) and alpha >= 0):
                raise ValueError(f"alpha: {alpha!r}; expected a number >= 0")
            self.alpha = float(alpha)
        if batch_size is not None:
            if int(batch_size) < 1:
                raise ValueError(f"batch_size: {batch_size!r}; expected an integer >= 1")
            self.batch = int(batch_size)
            self.batch_size = self.batch
        if eta is not None:
            if not (math.isfinite(eta) and eta > 0):
                raise ValueError(f"eta: {eta!r}; expected a number > 0")
            self.step_size = float(eta)
        engine = self.controller.engine
        engine.alpha = 0.0 if self.policy == "fixed N" else self.alpha
        engine.variant = _variant(self.policy)
        D = self._diffusion(self.eta)
        if D != self.config.diffusion:
            self.config = self.config.replace(diffusion=D)

    # ------------------------------------------------------------------ stepping, readouts
    def step(self) -> None:
        """One step of the particles (move, clone/kill by the controller), then the trace."""
        super().step()
        self._record_trace()

    def _record_trace(self) -> None:
        mu = float(self.controller.mu_c)
        self._trace.append((int(self.steps), mu, int(self.particles.counts()[0])))

    def trace_frame(self) -> pd.DataFrame:
        """``step, mu_c, n_neurons``: one row per step since the start."""
        return pd.DataFrame(self._trace, columns=["step", "mu_c", "n_neurons"])

    def positions(self) -> np.ndarray:
        """The particle positions theta, (N,)."""
        return self.particles.positions(0)[:, 0]

    def predictions(self) -> Predictions:
        """Both predicted densities at the current controls (:func:`predictions`)."""
        return predictions(self.potential_name, D=self.diffusion, eta=self.eta, alpha=self.alpha)

    def readout(self) -> str:
        """One line: r and its ingredients, T, the expected state, N and mu_c.

        Examples
        --------
        >>> ParticlesModel(n=50).readout().split(" · ")[0]
        'r = 1.000'
        """
        T = self.diffusion / self.eta
        if self.noise == "mini-batch":
            form = f"α σ²/(M k) = {self.alpha:.3g}·{SIGMA2:g}/({self.batch}·{self.k:g})"
        else:
            form = f"2 α D/(η² k), D = {self.diffusion:.3g} fixed"
        parts = [
            f"r = {self.crossover_r:.3f}",
            form,
            f"D = η²σ²/2M = {self.diffusion:.3g}" if self.noise == "mini-batch" else "",
            f"η = {self.eta:.3g}",
            f"T = D/η = {T:.3g}",
            f"ħ = 1/α = {1 / self.alpha:.3g}" if self.alpha > 0 else "ħ = ∞ (α = 0)",
            f"expect {self.expected}",
            f"step {self.steps}",
            f"N = {int(self.particles.counts()[0])}",
        ]
        return " · ".join(p for p in parts if p)


def _variant(policy: str) -> str:
    """The clone controller's variant for a page policy."""
    return policy if policy in ("entropy_aware", "shuffled") else "loss"


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name}: {value!r}; expected one of {', '.join(choices)}")
    return value


def _parse_seed(seed: int | str) -> int:
    text = str(seed).strip()
    if isinstance(seed, bool) or not text.isdigit():
        raise ValueError(f"seed: {seed!r}; expected an integer >= 0")
    return int(text)


# ---------------------------------------------------------------------- figure
def particles_figure(model: ParticlesModel) -> Figure:
    """Histogram of the positions against both predicted densities, and the mu_c trace.

    Examples
    --------
    >>> fig = particles_figure(ParticlesModel(n=100))
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['θ', 'step']
    """
    pred = model.predictions()
    theta = model.positions()
    fig = Figure(figsize=(6.4, 6.2), dpi=80, layout="constrained")
    ax, ax_mu = fig.subplots(2, 1, height_ratios=[1.6, 1.0])
    x = pred.x
    edges = np.linspace(x[0], x[-1], BINS + 1)
    l1_fp = histogram_l1(theta, x, pred.fokker_planck)
    l1_gc = histogram_l1(theta, x, pred.grand_canonical)
    ax.hist(theta, bins=edges, density=True, color="#c8d6e5", edgecolor="#8395a7", lw=0.4)
    ax.plot(
        x,
        pred.fokker_planck,
        "--",
        color="#ee5253",
        lw=1.6,
        label=f"Fokker-Planck (α = 0), L1 {l1_fp:.3f}",
    )
    ax.plot(
        x,
        pred.grand_canonical,
        "-",
        color="#10ac84",
        lw=1.6,
        label=f"grand-canonical (α = {model.alpha:.3g}), L1 {l1_gc:.3f}",
    )
    ax.set_xlim(x[0], x[-1])
    ax.set_xlabel("θ")
    ax.set_ylabel("density")
    ax.set_title(
        f"{model.potential_name}, {model.policy} · step {model.steps} · "
        f"N = {theta.size} · r = {model.crossover_r:.3g}",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper right")
    trace = model.trace_frame()
    ax_mu.plot(trace["step"], trace["mu_c"], color="#341f97", lw=1.0, label="μ_c (controller)")
    if math.isfinite(pred.mu):
        ax_mu.axhline(pred.mu, color="#10ac84", ls="--", lw=1.2, label=f"μ* = {pred.mu:.4g}")
    ax_mu.set_xlabel("step")
    ax_mu.set_ylabel("μ_c (units of Ψ)")
    ax_mu.set_title("chemical potential", fontsize=10)
    if np.isfinite(trace["mu_c"]).any() or math.isfinite(pred.mu):
        ax_mu.legend(fontsize=8, loc="upper right")
    else:
        ax_mu.text(
            0.5,
            0.5,
            "no births (α = 0): μ_c undefined",
            ha="center",
            transform=ax_mu.transAxes,
            fontsize=9,
        )
    return fig


# ---------------------------------------------------------------------- solara components
def ParticlesView(model: ParticlesModel) -> None:
    """Solara component: the live controls, the r readout and the figure."""
    _, set_version = solara.use_state(0)

    def control(name: str):
        def on_value(value: Any) -> None:
            model.set_controls(**{name: value})
            set_version(lambda v: v + 1)

        return on_value

    with solara.Column(gap="4px"):
        with solara.Row(gap="16px", style={"align-items": "center", "flex-wrap": "wrap"}):
            with solara.Column(style={"min-width": "220px"}):
                solara.SliderFloat(
                    "birth rate α",
                    value=model.alpha,
                    min=0.0,
                    max=0.5,
                    step=0.005,
                    on_value=control("alpha"),
                )
            with solara.Column(style={"min-width": "220px"}):
                solara.SliderInt(
                    "batch size M",
                    value=model.batch,
                    min=1,
                    max=100,
                    on_value=control("batch_size"),
                )
            with solara.Column(style={"min-width": "220px"}):
                solara.SliderFloat(
                    "step size η",
                    value=model.eta,
                    min=0.002,
                    max=0.03,
                    step=0.001,
                    on_value=control("eta"),
                )
        with solara.Row(gap="16px", style={"align-items": "center"}):
            solara.ToggleButtonsSingle(
                value=model.policy, values=list(POLICIES), on_value=control("policy"), dense=True
            )
            solara.ToggleButtonsSingle(
                value=model.noise, values=list(NOISES), on_value=control("noise"), dense=True
            )
        solara.Text(model.readout(), classes=["dualsim-particles-r"], style={"font-size": "13px"})
        solara.FigureMatplotlib(particles_figure(model), format="png")


def particles_params() -> dict[str, Any]:
    """The sidebar's parameters (applied by Reset): potential, particles and seed.

    Examples
    --------
    >>> params = particles_params()
    >>> params["potential"]["values"], params["n"].value
    (['harmonic', 'double well'], 1000)
    """
    return {
        "potential": {
            "type": "Select",
            "value": "harmonic",
            "values": list(POTENTIALS),
            "label": "potential",
        },
        "n": Slider("particles N", value=1000, min=200, max=4000, step=100),
        "seed": {"type": "InputText", "value": "0", "label": "seed"},
    }


def make_particles_page(model: ParticlesModel | None = None, play_interval: int = 150):
    """The SolaraViz page over ``model`` (a fresh :class:`ParticlesModel` when None).

    Step advances :data:`RENDER_INTERVAL` steps per redraw.

    Examples
    --------
    >>> type(make_particles_page(ParticlesModel(n=100))).__name__
    'Element'
    """
    return SolaraViz(
        model if model is not None else ParticlesModel(),
        components=[(ParticlesView, 0)],
        model_params=particles_params(),
        name=NAME,
        play_interval=play_interval,
        render_interval=RENDER_INTERVAL,
    )


@solara.component
def ParticlesPage():
    """The page ``dualsim app`` serves at ``/particles``: a fresh model per browser session."""
    model = solara.use_memo(ParticlesModel, [])
    make_particles_page(model)
