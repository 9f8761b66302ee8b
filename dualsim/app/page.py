"""Step a learning system by hand: a Mesa ``SolaraViz`` page over :class:`LearningSystem`.

Run it with ``dualsim app`` (a Solara server on 127.0.0.1) or show it inline in a notebook::

    from dualsim.app import AppModel, make_page
    model = AppModel(replicas=256, n_hidden=8)
    make_page(model)          # Step / Play / Pause / Reset, parameters in the sidebar

The page shows the network, live plots (mini-batch loss and probe-set free energy F, N, gamma
and M, T_eff, the Madelung hbar over a rolling window and the consistency gap) and the histogram
of an observed coordinate q_j over the replicas with the density |psi|^2 of the fitted
description; :mod:`dualsim.app.figures` draws them.

hbar, in units of steps (dt = 1 per learning step), by two routes over the last ``window`` steps:

* Nelson: hbar = 2 m D with m = 1/(2 gamma), i.e. D / gamma, where D is the diffusion of the
  observed coordinates measured from each step's SGD displacement alone
  (:attr:`models.observables.Observables.sgd_diffusion`, the quantity the consistency
  controllers use; neuron moves excluded), averaged over the window;
* weak form: :func:`analysis.madelung.fit` on the window (one window, quadratic potential, no
  bootstrap, no plateau), every ``fit_every`` steps; NaN when the fitted hbar^2 is <= 0 (a
  diffusion without quantum pressure).

The consistency gap is log10(hbar_Nelson / (|mu_c| / 2 pi)): zero when the hbar set by (gamma, M)
equals the one set by the chemical potential
(docs/physics.md#wave-function-and-consistency-condition). mu_c is the neuron-count
controller's current value when one is on, otherwise the page's mu_c setting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import solara
from mesa.visualization import Slider, SolaraViz

from agents.policies import chemical_potential
from agents.registry import controller_class, controller_types, validate_specs
from analysis.madelung import fit as madelung_fit
from dualsim.app.figures import histogram_figure, network_figure, plots_figure
from dualsim.app.particles import ParticlesPage
from models.config import TASKS, ConfigError, SystemConfig
from models.learning_system import LearningSystem

__all__ = [
    "COMPONENTS",
    "AppModel",
    "HistogramView",
    "NetworkView",
    "Page",
    "PlotsView",
    "controller_options",
    "controller_specs",
    "default_model",
    "make_page",
    "model_params",
    "routes",
]

CONTROL_PREFIX = "control_"
OFF = "off"
LIVE_COLUMNS = (
    "step",
    "loss",
    "free_energy",
    "n_neurons",
    "n_min",
    "n_max",
    "step_size",
    "batch_size",
    "t_eff",
    "hbar_nelson",
    "hbar_fit",
    "hbar_mu",
    "gap",
)
NAME = "dualsim: step a learning system"


# ---------------------------------------------------------------------- controller choices
def _default_spec(kind: str, policy: str, mu_c: float, n_hidden: int, cfg: SystemConfig) -> dict:
    """The app's parameter table for one (type, policy) choice."""
    n0 = cfg.n_input + cfg.n_hidden + cfg.n_output
    spec: dict[str, Any] = {"type": kind, "policy": policy}
    if kind == "neuron_count":
        spec.update(mu_c=mu_c, beta_c=100.0)  # Delta F exact on the whole probe set
        if policy == "target":
            spec.update(target=float(n0 + max(1, n_hidden // 2)), gain=0.1)
        elif policy == "schedule":
            spec.update(steps=[0, 200], values=[float(n0), float(n0 + n_hidden)])
    elif kind == "step_size":
        if policy == "schedule":
            g = cfg.step_size
            spec.update(steps=[0, 500], values=[g, g / 10], interpolation="exponential")
        elif policy == "temperature":
            spec.update(target=1e-5)
    elif kind == "batch_size":
        if policy == "schedule":
            m = cfg.batch_size
            spec.update(steps=[0, 500], values=[m, 4 * m], interpolation="exponential")
    if policy == "consistency":
        spec.update(gain=0.5, window=20)
        if kind != "neuron_count":
            spec["mu_c"] = mu_c
    return spec


def controller_options() -> dict[str, list[str]]:
    """For every registered controller type, the choices of the page: ``"off"`` and its policies.

    Built from :func:`agents.registry.controller_types` when called, so types registered later
    appear without changes here.

    Examples
    --------
    >>> opts = controller_options()
    >>> opts["step_size"][0], "temperature" in opts["step_size"]
    ('off', True)
    """
    out = {}
    for kind in controller_types():
        cls = controller_class(kind)
        skip = getattr(cls, "PARTICLE_POLICIES", ())  # a frozen-potential model only
        policies = [p for p in getattr(cls, "POLICIES", ()) if p not in skip]
        out[kind] = [OFF, *policies] if policies else [OFF, "on"]
    return out


def controller_specs(
    choices: Mapping[str, str], mu_c: float, config: SystemConfig
) -> tuple[tuple[dict[str, Any], ...], list[str]]:
    """Controller tables for the chosen policies, and notes on choices that cannot be built.

    Parameters
    ----------
    choices : mapping
        Controller type -> ``"off"`` or a policy name (``"on"`` for a type without policies).
    mu_c : float
        The page's chemical potential (neuron-count moves, consistency targets).
    config : SystemConfig
        The system the controllers will act on (sizes for defaults and bounds).

    Returns
    -------
    specs : tuple of dict
        Validated controller tables, neuron-count first (its mu_c is the one others read).
    notes : list of str
        One line per choice left off, with the reason.

    Examples
    --------
    >>> cfg = SystemConfig(replicas=8, n_hidden=2, n_hidden_max=4)
    >>> specs, notes = controller_specs({"neuron_count": "grand_canonical"}, 0.01, cfg)
    >>> specs[0]["type"], specs[0]["mu_c"], notes
    ('neuron_count', 0.01, [])
    >>> controller_specs({"step_size": "consistency"}, 0.0, cfg)[1]
    ['step_size (consistency) left off: controllers[0].mu_c: 0.0; expected a non-zero number']
    """
    known = controller_options()
    specs: list[dict[str, Any]] = []
    notes: list[str] = []
    order = sorted(choices, key=lambda k: (k != "neuron_count", k))
    for kind in order:
        policy = choices[kind]
        if kind not in known:
            raise ValueError(f"controller: {kind!r}; expected one of {', '.join(known)}")
        if policy not in known[kind]:
            raise ValueError(f"{kind}: {policy!r}; expected one of {', '.join(known[kind])}")
        if policy == OFF:
            continue
        if policy == "on":
            spec = {"type": kind}
        else:
            spec = _default_spec(kind, policy, mu_c, config.n_hidden, config)
        try:
            trial = validate_specs([*specs, spec])
        except ConfigError as err:
            notes.append(f"{kind} ({policy}) left off: {err}")
            continue
        specs = [dict(s) for s in trial]
    return tuple(specs), notes


# ---------------------------------------------------------------------- the model
class AppModel(LearningSystem):
    """A :class:`LearningSystem` built from the page's controls, with per-step live diagnostics.

    Parameters
    ----------
    replicas, n_hidden : int
        R and the hidden neurons at the start (capacity ``2 n_hidden`` for growth).
    task : str
        A task of :mod:`models.tasks` (``sine`` gets one input).
    step_size, batch_size : float, int
        gamma and M at the start.
    mu_c : float
        Chemical potential used by the neuron-count controller and the consistency policies.
    seed : int or str
        Root seed (a string from the page's text field is read as an integer).
    window : int
        Steps in the rolling window of the hbar estimates.
    fit_every : int
        Steps between weak-form Madelung fits.
    n_probe : int
        Probe-set size (free energy every second step; kept small so stepping stays smooth).
    scenario : optional
        Accepted and ignored: SolaraViz's Reset passes Mesa's default ``Scenario``.
    **controls : str
        ``control_<type>`` = ``"off"`` or a policy, for every registered controller type.

    Examples
    --------
    >>> model = AppModel(replicas=32, n_hidden=2, control_neuron_count="grand_canonical")
    >>> model.step(); model.step()
    >>> frame = model.live_frame()
    >>> frame["step"].tolist(), bool(frame["loss"].iloc[-1] > 0)
    ([0, 1, 2], True)
    """

    def __init__(
        self,
        replicas: int = 256,
        n_hidden: int = 8,
        task: str = "teacher",
        step_size: float = 0.05,
        batch_size: int = 16,
        mu_c: float = 0.01,
        seed: int | str = 0,
        window: int = 20,
        fit_every: int = 5,
        n_probe: int = 32,
        scenario: Any = None,
        **controls: str,
    ) -> None:
        del scenario  # Mesa's Reset passes its default Scenario; the config holds everything
        choices = {kind: OFF for kind in controller_options()}
        for key, value in controls.items():
            if not key.startswith(CONTROL_PREFIX):
                raise ValueError(
                    f"{key}: {value!r}; expected a parameter of AppModel or control_<type>"
                )
            choices[key.removeprefix(CONTROL_PREFIX)] = value
        seed = _parse_seed(seed)
        for name, value, lo in (("window", window, 8), ("fit_every", fit_every, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ValueError(f"{name}: {value!r}; expected an integer >= {lo}")
        n_hidden = int(n_hidden)
        config = SystemConfig(
            replicas=int(replicas),
            n_input=1 if task == "sine" else 2,
            n_hidden=n_hidden,
            n_hidden_max=2 * n_hidden,
            task=task,
            step_size=float(step_size),
            batch_size=int(batch_size),
            n_probe=int(n_probe),
            probe_every=2,
            record_every=10,
            seed=seed,
        )
        specs, notes = controller_specs(choices, float(mu_c), config)
        self.mu_c = float(mu_c)
        self.choices = choices
        self.notes = notes
        self.window = window
        self.fit_every = fit_every
        self._live: list[dict[str, float]] = []
        self._hbar_steps: list[float] = []
        self._last_fit = math.nan
        super().__init__(config.replace(controllers=specs))
        self._record_live()

    def step(self) -> None:
        """One learning step (see :class:`LearningSystem`), then the live diagnostics."""
        super().step()
        self._record_live()

    # ------------------------------------------------------------------ diagnostics
    def consistency_hbar(self) -> float:
        """|mu_c| / (2 pi): the hbar the chemical potential sets (NaN when mu_c = 0).

        Examples
        --------
        >>> round(AppModel(replicas=4, n_hidden=1, mu_c=0.02).consistency_hbar(), 5)
        0.00318
        """
        mu = chemical_potential(self, None)
        if not math.isfinite(mu):
            mu = abs(self.mu_c)
        return mu / (2 * math.pi) if mu > 0 else math.nan

    def _record_live(self) -> None:
        obs = self.observables
        t = self.steps
        stepped = self.last_state is not None
        n = np.asarray(obs.n_neurons, dtype=float)
        gamma = obs.step_size
        if stepped:
            d = self.observables.sgd_diffusion
            self._hbar_steps.append(d / gamma if math.isfinite(d) else math.nan)
        recent = np.asarray(self._hbar_steps[-self.window :], dtype=float)
        hbar = float(np.nanmean(recent)) if np.isfinite(recent).any() else math.nan
        hbar_mu = self.consistency_hbar()
        if stepped and t >= self.window and t % self.fit_every == 0:
            self._last_fit = self._weak_form_hbar()
            fitted = self._last_fit
        else:
            fitted = math.nan
        gap = math.log10(hbar / hbar_mu) if hbar > 0 and hbar_mu > 0 else math.nan
        self._live.append(
            {
                "step": t,
                "loss": float(np.mean(obs.loss)) if stepped else math.nan,
                "free_energy": (
                    float(np.mean(obs.free_energy))
                    if t % self.config.probe_every == 0
                    else math.nan
                ),
                "n_neurons": float(n.mean()),
                "n_min": float(n.min()),
                "n_max": float(n.max()),
                "step_size": gamma,
                "batch_size": float(obs.batch_size),
                "t_eff": float(np.mean(obs.t_eff)) if stepped else math.nan,
                "hbar_nelson": hbar,
                "hbar_fit": fitted,
                "hbar_mu": hbar_mu,
                "gap": gap,
            }
        )

    def _weak_form_hbar(self) -> float:
        q = self.recent_coordinates(self.window + 1)
        q = q[:, :, : min(2, q.shape[2])]
        gammas = [row["step_size"] for row in self._live[-self.window :]]
        mass = 1.0 / (2.0 * float(np.mean(gammas)))
        try:
            res = madelung_fit(
                q,
                potential="quadratic",
                mass=mass,
                windows=1,
                lag=2,
                times_per_window=5,
                bootstrap=0,
                plateau=False,
            )
        except ValueError:  # too few distinct coordinates early on, singular covariance
            return math.nan
        return float(res.hbar)

    def live_frame(self) -> pd.DataFrame:
        """One row per step since the start: the quantities the page plots.

        Columns: ``step``, ``loss`` (ensemble-mean mini-batch H), ``free_energy`` (probe-set F),
        ``n_neurons`` (mean N) with ``n_min``/``n_max``, ``step_size``, ``batch_size``,
        ``t_eff``, ``hbar_nelson`` (rolling window), ``hbar_fit`` (weak form, NaN between
        fits), ``hbar_mu`` (|mu_c| / 2 pi) and ``gap`` (log10 of their ratio).
        """
        return pd.DataFrame(self._live, columns=list(LIVE_COLUMNS))

    def summary(self) -> str:
        """One line for the page: step, sizes, gamma, M, N, hbar.

        Examples
        --------
        >>> AppModel(replicas=8, n_hidden=2).summary().split(" · ")[:2]
        ['step 0', 'R = 8']
        """
        row = self._live[-1]
        cfg = self.config
        parts = [
            f"step {self.steps}",
            f"R = {cfg.replicas}",
            f"hidden {cfg.n_hidden}/{cfg.n_hidden_max}",
            f"task {cfg.task}",
            f"seed {cfg.seed}",
            f"N = {row['n_neurons']:.2f}",
            f"γ = {row['step_size']:.4g}",
            f"M = {int(row['batch_size'])}",
            f"ħ (Nelson) = {_fmt(row['hbar_nelson'])}",
            f"|μ_c|/2π = {_fmt(row['hbar_mu'])}",
        ]
        return " · ".join(parts)


def _parse_seed(seed: int | str) -> int:
    if isinstance(seed, str):
        text = seed.strip()
        if not text.isdigit():
            raise ValueError(f"seed: {seed!r}; expected an integer >= 0")
        return int(text)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: {seed!r}; expected an integer >= 0")
    return int(seed)


def _fmt(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.3g}"


# ---------------------------------------------------------------------- solara components
def NetworkView(model: AppModel) -> None:
    """Solara component: the one-line summary, notes and the network (every step)."""
    view, set_view = solara.use_state("ensemble")
    replica = None if view == "ensemble" else 0
    with solara.Column(gap="2px"):
        with solara.Row(gap="8px", style={"align-items": "center"}):
            solara.ToggleButtonsSingle(
                value=view, on_value=set_view, values=["ensemble", "replica 0"], dense=True
            )
            solara.Text(model.summary(), classes=["dualsim-summary"], style={"font-size": "12px"})
        for note in getattr(model, "notes", []):
            solara.Warning(note, dense=True)
        solara.FigureMatplotlib(network_figure(model, replica), format="png")


def PlotsView(model: AppModel) -> None:
    """Solara component: the live plots."""
    solara.FigureMatplotlib(plots_figure(model), format="png")


def HistogramView(model: AppModel) -> None:
    """Solara component: histogram of a chosen coordinate with the fitted |psi|^2."""
    coordinate, set_coordinate = solara.use_state(0)
    k = model.config.observed
    coordinate = min(coordinate, k - 1)
    with solara.Column(gap="2px"):
        with solara.Row(gap="8px", style={"align-items": "center"}):
            solara.Text("observed coordinate q_j, j =", style={"font-size": "13px"})
            solara.ToggleButtonsSingle(
                value=coordinate, on_value=set_coordinate, values=list(range(k)), dense=True
            )
        solara.FigureMatplotlib(
            histogram_figure(model, coordinate), format="png", bbox_inches="tight"
        )


COMPONENTS = [(NetworkView, 0), (PlotsView, 0), (HistogramView, 0)]


def model_params() -> dict[str, Any]:
    """The page's controls: sizes, task, gamma, M, mu_c, one choice per controller type, seed.

    Examples
    --------
    >>> params = model_params()
    >>> params["replicas"].value, params["control_step_size"]["values"][0]
    (256, 'off')
    """
    params: dict[str, Any] = {
        "replicas": Slider("replicas R", value=256, min=32, max=1024, step=32),
        "n_hidden": Slider("hidden neurons", value=8, min=1, max=32, step=1),
        "task": {"type": "Select", "value": "teacher", "values": list(TASKS), "label": "task"},
        "step_size": Slider("step size γ", value=0.05, min=0.005, max=0.5, step=0.005),
        "batch_size": Slider("batch size M", value=16, min=2, max=128, step=1),
        "mu_c": Slider("chemical potential μ_c", value=0.01, min=-0.05, max=0.05, step=0.001),
    }
    labels = {"neuron_count": "N controller", "step_size": "γ controller", "batch_size": "M"}
    preferred = ["neuron_count", "step_size", "batch_size"]
    options = controller_options()
    for kind in sorted(options, key=lambda k: (preferred.index(k) if k in preferred else 9, k)):
        values = options[kind]
        label = labels.get(kind, kind)
        if label == "M":
            label = "M controller"
        default = OFF
        if kind == "neuron_count" and "grand_canonical" in values:
            default = "grand_canonical"
        params[f"{CONTROL_PREFIX}{kind}"] = {
            "type": "Select",
            "value": default,
            "values": values,
            "label": label,
        }
    params["seed"] = {"type": "InputText", "value": "0", "label": "seed"}
    return params


def default_model() -> AppModel:
    """The model the page opens with: the defaults of :func:`model_params`.

    Examples
    --------
    >>> default_model().config.replicas
    256
    """
    values = {}
    for key, spec in model_params().items():
        values[key] = spec.value if isinstance(spec, Slider) else spec["value"]
    return AppModel(**values)


def make_page(model: AppModel | None = None, play_interval: int = 150):
    """The SolaraViz page over ``model`` (a fresh :func:`default_model` when None).

    Display the returned element in a notebook cell; ``dualsim app`` serves :data:`Page`.

    Examples
    --------
    >>> page = make_page(AppModel(replicas=16, n_hidden=2))
    >>> type(page).__name__
    'Element'
    """
    return SolaraViz(
        model if model is not None else default_model(),
        components=COMPONENTS,
        model_params=model_params(),
        name=NAME,
        play_interval=play_interval,
    )


@solara.component
def Page():
    """The page ``dualsim app`` serves: a fresh model per browser session."""
    model = solara.use_memo(default_model, [])
    make_page(model)


routes = [
    solara.Route(path="/", component=Page, label="learning system"),
    solara.Route(path="particles", component=ParticlesPage, label="particles"),
]
"""The pages ``dualsim app`` serves: this one at ``/``, :mod:`dualsim.app.particles` at
``/particles``."""
