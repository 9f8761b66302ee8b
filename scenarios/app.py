"""Step a learning system by hand: a Mesa ``SolaraViz`` page over :class:`LearningSystem`.

Run it with ``dualsim app`` (a Solara server on 127.0.0.1) or show it inline in a notebook::

    from scenarios.app import AppModel, make_page
    model = AppModel(replicas=256, n_hidden=8)
    make_page(model)          # Step / Play / Pause / Reset, parameters in the sidebar

The page shows

* the network: neuron nodes coloured by their mean state (batch mean, averaged over the replicas
  that use the neuron), their area proportional to the fraction of replicas in which the neuron
  is active; squares are inputs, circles hidden neurons, diamonds outputs, hexagons controllers
  with dashed edges to the neurons they act on; unused hidden slots are faint outlines, so
  neurons added or removed by a neuron-count controller appear and disappear in place;
* live plots, one point per learning step: mini-batch loss and probe-set free energy F, N, gamma
  and M, T_eff, the Madelung hbar over a rolling window and the consistency gap;
* the histogram of an observed coordinate q_j over the replicas with the density |psi|^2 of the
  fitted description (score matching with a quartic log-density, the score model the weak-form
  Madelung fit uses; a Gaussian of the same mean and variance is drawn for reference).

hbar, in units of steps (dt = 1 per learning step), by two routes over the last ``window`` steps:

* Nelson: hbar = 2 m D with m = 1/(2 gamma), i.e. D / gamma, where D is the diffusion of the
  observed coordinates measured from each step's SGD displacement alone
  (:func:`agents.controller.sgd_diffusion`, the quantity the consistency controllers use;
  neuron moves excluded), averaged over the window;
* weak form: :func:`analysis.madelung.fit` on the window (one window, quadratic potential, no
  bootstrap, no plateau), every ``fit_every`` steps; NaN when the fitted hbar^2 is <= 0 (a
  diffusion without quantum pressure).

The consistency gap is log10(hbar_Nelson / (|mu_c| / 2 pi)): zero when the hbar set by (gamma, M)
equals the one set by the chemical potential (PHYSICS.md section 4). mu_c is the neuron-count
controller's current value when one is on, otherwise the page's mu_c setting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import solara
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.components import AgentPortrayalStyle

from agents.controller import Controller, chemical_potential, sgd_diffusion
from agents.neuron import NeuronAgent
from agents.registry import _REGISTRY, controller_types, validate_specs
from analysis.madelung import fit as madelung_fit
from analysis.score import fit_score
from models.config import TASKS, ConfigError, SystemConfig
from models.learning_system import LearningSystem

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
KIND_MARKERS = {"input": "s", "hidden": "o", "output": "D", "controller": "h"}
CONTROLLER_COLOURS = ("#7b3294", "#e66101", "#1b7837", "#2166ac", "#b2182b")
CONTROLLER_SYMBOLS = {"neuron_count": "N", "step_size": "γ", "batch_size": "M"}
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
        policies = getattr(_REGISTRY[kind], "POLICIES", ())
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
            d = sgd_diffusion(self)
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


# ---------------------------------------------------------------------- the network
def node_positions(model: LearningSystem) -> dict[Any, tuple[float, float]]:
    """Fixed drawing positions of every slot and controller node.

    Inputs at x = 0, hidden slots (the whole capacity, so a neuron keeps its place when it comes
    and goes) at x = 1 in a column, or on a circle when hidden neurons feed each other, outputs
    at x = 2, controllers in a row above.

    Examples
    --------
    >>> model = LearningSystem(replicas=2, n_hidden=2, controllers=[{"type": "step_size"}])
    >>> pos = node_positions(model)
    >>> pos[0][0], pos[2][0], pos[4][0], pos["controller:step_size"][1] > pos[2][1]
    (0.0, 1.0, 2.0, True)
    """
    arch = model.architecture
    kinds = np.asarray(arch.kinds)
    pos: dict[Any, tuple[float, float]] = {}
    groups = {k: np.nonzero(kinds == k)[0] for k in ("input", "hidden", "output")}
    span = max(2, *(len(v) for v in groups.values()))
    hidden = groups["hidden"]
    recurrent = hidden.size > 2 and bool(arch.adjacency[np.ix_(hidden, hidden)].any())
    for x, kind in enumerate(("input", "hidden", "output")):
        idx = groups[kind]
        if kind == "hidden" and recurrent:
            angle = 2 * np.pi * np.arange(idx.size) / idx.size + np.pi / 2
            for i, a in zip(idx, angle, strict=True):
                pos[int(i)] = (1.0 + 0.45 * float(np.cos(a)), 0.95 * float(np.sin(a)))
            continue
        half = np.sqrt((idx.size - 1) / (span - 1)) if idx.size > 1 else 0.0
        for i, y in zip(idx, np.linspace(half, -half, idx.size), strict=True):
            pos[int(i)] = (float(x), float(y))
    ctrl = [n for n, k in model.graph.nodes(data="kind") if k == "controller"]
    xs = np.linspace(0.5, 1.5, len(ctrl)) if len(ctrl) > 1 else [0.5] * len(ctrl)
    for node, x in zip(ctrl, xs, strict=True):
        pos[node] = (float(x), 1.4)
    return pos


def neuron_summary(model: LearningSystem, replica: int | None = None) -> pd.DataFrame:
    """Per present neuron: kind, state and activity, over the ensemble or in one replica.

    With ``replica=None``: the batch-mean state averaged over the replicas that use the neuron,
    and the fraction of replicas in which it is active. With a replica index: that replica's
    batch-mean state and 1/0 for active/inactive.

    Examples
    --------
    >>> model = LearningSystem(replicas=4, n_hidden=2); model.step()
    >>> neuron_summary(model).columns.tolist()
    ['neuron', 'kind', 'mean_state', 'active_fraction']
    >>> neuron_summary(model, replica=3)["active_fraction"].tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    states = model.batch_mean_states()
    active = model.ensemble.active
    R = active.shape[0]
    if replica is not None:
        if isinstance(replica, bool) or not isinstance(replica, int) or not 0 <= replica < R:
            raise ValueError(f"replica: {replica!r}; expected None or an integer in [0, {R - 1}]")
        states, active = states[replica : replica + 1], active[replica : replica + 1]
    idx = np.array(sorted(n for n in model.graph if isinstance(n, int | np.integer)), dtype=int)
    act = active[:, idx]
    count = act.sum(axis=0)
    total = (states[:, idx] * act).sum(axis=0)
    mean = np.divide(total, count, out=np.zeros(idx.size), where=count > 0)
    return pd.DataFrame(
        {
            "neuron": idx,
            "kind": np.asarray(model.architecture.kinds)[idx],
            "mean_state": mean,
            "active_fraction": count / active.shape[0],
        }
    )


def portray(
    agent: Any, position: tuple[float, float], colour: Any, activity: float, scale: float = 1.0
) -> AgentPortrayalStyle:
    """The Mesa portrayal of a neuron or controller agent at ``position``.

    Neurons: marker by kind (square input, circle hidden, diamond output), the given colour,
    area ``scale`` x (40 + 360 x activity) points^2. Controllers: a large hexagon.

    Examples
    --------
    >>> model = LearningSystem(replicas=2, n_hidden=1)
    >>> style = portray(model.neuron(0), (0.0, 0.0), "red", 1.0)
    >>> style.marker, style.size
    ('s', 400.0)
    """
    x, y = position
    if isinstance(agent, Controller):
        return AgentPortrayalStyle(
            x=x, y=y, color=colour, marker="h", size=480.0, zorder=4, edgecolors="black"
        )
    return AgentPortrayalStyle(
        x=x,
        y=y,
        color=colour,
        marker=KIND_MARKERS.get(getattr(agent, "kind", "hidden"), "o"),
        size=scale * (40.0 + 360.0 * float(activity)),
        zorder=3,
        edgecolors="black",
        linewidths=0.7,
    )


def network_figure(model: LearningSystem, replica: int | None = None) -> Figure:
    """The network: see the module docstring; ``replica`` shows one replica instead of the mean.

    Examples
    --------
    >>> fig = network_figure(AppModel(replicas=8, n_hidden=2, control_step_size="constant"))
    >>> len(fig.axes)  # the graph and the colour bar
    2
    """
    fig = Figure(figsize=(6.4, 3.6), dpi=90)
    ax = fig.add_axes((0.0, 0.02, 0.86, 0.9))
    cax = fig.add_axes((0.88, 0.15, 0.022, 0.7))
    pos = node_positions(model)
    table = neuron_summary(model, replica).set_index("neuron")
    lim = max(0.1, float(np.abs(table["mean_state"]).max()) if len(table) else 1.0)
    norm = Normalize(-lim, lim)
    cmap = colormaps["coolwarm"]
    graph = model.graph
    slots = max(1, sum(k == "hidden" for k in model.architecture.kinds))
    scale = float(np.clip(10.0 / slots, 0.3, 1.0))
    # hidden slots not in use (in this replica, or in any replica): faint outlines
    present = set(table.index[table["active_fraction"] > 0])
    free = [
        pos[i]
        for i, kind in enumerate(model.architecture.kinds)
        if kind == "hidden" and i not in present
    ]
    if free:
        fx, fy = zip(*free, strict=True)
        ax.scatter(fx, fy, s=scale * 160, facecolors="none", edgecolors="0.7", linestyle=":")
    # neuron edges between neurons in use
    segments = [
        (pos[u], pos[v])
        for u, v in graph.edges()
        if u in present and v in present and isinstance(u, int | np.integer)
    ]
    ax.add_collection(LineCollection(segments, colors="0.72", linewidths=0.6, zorder=1))
    # controllers, their edges and a legend
    handles = []
    for k, ctrl in enumerate(c for c in model.controllers if getattr(c, "node", None) in graph):
        colour = CONTROLLER_COLOURS[k % len(CONTROLLER_COLOURS)]
        cx, cy = pos[ctrl.node]
        links = [((cx, cy), pos[t]) for t in graph.successors(ctrl.node) if t in present]
        ax.add_collection(
            LineCollection(
                links, colors=colour, linewidths=0.8, linestyles="--", alpha=0.45, zorder=2
            )
        )
        style = portray(ctrl, (cx, cy), colour, 1.0)
        handles.append(
            ax.scatter(
                style.x,
                style.y,
                s=style.size,
                c=style.color,
                marker=style.marker,
                zorder=style.zorder,
                edgecolors=style.edgecolors,
                label=f"{ctrl.name}: {ctrl.policy}",
            )
        )
        symbol = CONTROLLER_SYMBOLS.get(getattr(ctrl, "kind", ""), "C")
        ax.text(cx, cy, symbol, ha="center", va="center", color="white", fontsize=9, zorder=5)
    # neurons in use, one scatter per marker
    styles: dict[str, list[AgentPortrayalStyle]] = {}
    for agent in model.agents_by_type.get(NeuronAgent, []):
        if agent.index not in present:
            continue
        row = table.loc[agent.index]
        colour = tuple(float(c) for c in cmap(norm(row["mean_state"])))
        style = portray(agent, pos[agent.index], colour, row["active_fraction"], scale)
        styles.setdefault(style.marker, []).append(style)
    for marker, group in styles.items():
        ax.scatter(
            [s.x for s in group],
            [s.y for s in group],
            s=[s.size for s in group],
            c=[s.color for s in group],
            marker=marker,
            zorder=3,
            edgecolors="black",
            linewidths=0.7,
        )
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax)
    bar.set_label("mean state" if replica is None else f"state (replica {replica})", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    for x, name in ((0.0, "input"), (1.0, "hidden"), (2.0, "output")):
        ax.text(x, -1.22, name, ha="center", va="top", fontsize=8, color="0.35")
    n = model.observables.n_neurons
    who = "ensemble" if replica is None else f"replica {replica}"
    ax.set_title(
        f"step {model.steps} · {who} · N = {n.mean():.2f} (min {n.min()}, max {n.max()}) "
        f"of {model.config.n_neurons_max} slots",
        fontsize=9,
    )
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=7, frameon=False, markerscale=0.45)
    ax.set_xlim(-0.25, 2.25)
    ax.set_ylim(-1.3, 1.6)
    ax.set_axis_off()
    return fig


# ---------------------------------------------------------------------- plots
def plots_figure(model: AppModel) -> Figure:
    """Six live panels over the steps so far (see the module docstring).

    Examples
    --------
    >>> model = AppModel(replicas=16, n_hidden=2); model.step()
    >>> len(plots_figure(model).axes)
    6
    """
    frame = model.live_frame()
    t = frame["step"].to_numpy()
    mark = "o" if len(frame) < 12 else None  # short records: points, so one step is visible
    fig = Figure(figsize=(6.4, 5.4), dpi=90)
    axes = fig.subplots(3, 2, sharex=True)
    fig.subplots_adjust(left=0.11, right=0.985, bottom=0.085, top=0.985, wspace=0.34, hspace=0.08)
    small = {"fontsize": 9}

    ax = axes[0, 0]
    ax.plot(
        t, frame["loss"], color="tab:blue", lw=1.2, marker=mark, ms=3, label="loss H (mini-batch)"
    )
    probed = frame.dropna(subset=["free_energy"])
    ax.plot(
        probed["step"],
        probed["free_energy"],
        color="tab:orange",
        lw=1.2,
        marker=mark,
        ms=3,
        label="free energy F",
    )
    ax.set_ylabel("H, F", **small)
    ax.legend(fontsize=7, frameon=False)

    ax = axes[0, 1]
    ax.fill_between(t, frame["n_min"], frame["n_max"], color="tab:purple", alpha=0.2, lw=0)
    ax.plot(
        t,
        frame["n_neurons"],
        color="tab:purple",
        lw=1.2,
        marker=mark,
        ms=3,
        label="mean N (band: min-max)",
    )
    ax.set_ylabel("N", **small)
    ax.legend(fontsize=7, frameon=False)

    ax = axes[1, 0]
    g0, m0 = frame["step_size"].iloc[0], frame["batch_size"].iloc[0]
    ax.plot(t, frame["step_size"] / g0, color="tab:green", lw=1.4, label=f"γ / {g0:.3g}")
    ax.plot(t, frame["batch_size"] / m0, color="tab:brown", lw=1.2, ls="--", label=f"M / {m0:g}")
    ratios = frame[["step_size", "batch_size"]].to_numpy() / [g0, m0]
    if np.nanmax(ratios) / np.nanmin(ratios) > 10:
        ax.set_yscale("log")
    ax.set_ylabel("γ, M (relative to start)", **small)
    ax.legend(fontsize=7, frameon=False)

    ax = axes[1, 1]
    ax.plot(t, frame["t_eff"], color="tab:red", lw=1.2, marker=mark, ms=3)
    if (frame["t_eff"] > 0).any():
        ax.set_yscale("log")
    ax.set_ylabel("T_eff = γ tr Σ / (2MK)", **small)

    ax = axes[2, 0]
    ax.plot(t, frame["hbar_nelson"], color="black", lw=1.2, marker=mark, ms=3, label="Nelson 2mD")
    fits = frame.dropna(subset=["hbar_fit"])
    ax.plot(fits["step"], fits["hbar_fit"], "o", ms=3, color="tab:cyan", label="weak-form fit")
    ax.plot(t, frame["hbar_mu"], color="tab:purple", lw=1.0, ls=":", label="|μ_c|/2π")
    if np.nanmax(np.r_[frame[["hbar_nelson", "hbar_fit", "hbar_mu"]].to_numpy().ravel(), -1]) > 0:
        ax.set_yscale("log")
    ax.set_ylabel(f"ħ (window {model.window})", **small)
    ax.legend(fontsize=7, frameon=False)

    ax = axes[2, 1]
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.plot(t, frame["gap"], color="tab:olive", lw=1.2, marker=mark, ms=3)
    ax.set_ylabel("log10 ħ / (|μ_c|/2π)", **small)
    if not np.isfinite(frame["gap"]).any():
        ax.text(
            0.5,
            0.5,
            "no consistency target (μ_c = 0)",
            transform=ax.transAxes,
            ha="center",
            fontsize=8,
            color="0.4",
        )

    for ax in axes.ravel():
        ax.tick_params(which="both", labelsize=7)
        ax.grid(alpha=0.25)
    for ax in axes[2]:
        ax.set_xlabel("learning step", **small)
    return fig


def histogram_figure(model: LearningSystem, coordinate: int = 0, bins: int = 40) -> Figure:
    """Histogram of q_j over the replicas now, with |psi|^2 of the fitted description.

    |psi|^2 = p is the normalised exp of the score-matching (sm4) log-density, integrated from
    its score on a grid; the Gaussian with the sample mean and variance is dashed.

    Examples
    --------
    >>> model = AppModel(replicas=64, n_hidden=2); model.step()
    >>> histogram_figure(model, 1).axes[0].get_xlabel()
    'q_1'
    """
    k = model.config.observed
    if isinstance(coordinate, bool) or not isinstance(coordinate, int) or not 0 <= coordinate < k:
        raise ValueError(f"coordinate: {coordinate!r}; expected an integer in [0, {k - 1}]")
    x = model.coordinates()[:, coordinate].astype(float)
    fig = Figure(figsize=(6.4, 3.7), dpi=90, layout="constrained")
    ax = fig.add_subplot()
    ax.hist(x, bins=bins, density=True, color="tab:blue", alpha=0.45, label="replicas")
    sd = float(x.std())
    if sd > 0:
        grid, density = fitted_density(x)
        ax.plot(grid, density, color="black", lw=1.5, label="|ψ|² (score fit, sm4)")
        gauss = np.exp(-0.5 * ((grid - x.mean()) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
        ax.plot(grid, gauss, color="0.5", lw=1.0, ls="--", label="Gaussian")
    ax.set_xlabel(f"q_{coordinate}")
    ax.set_ylabel("density")
    ax.set_title(
        f"step {model.steps}: q_{coordinate} over {x.size} replicas "
        f"(mean {x.mean():.3g}, sd {sd:.3g})",
        fontsize=9,
    )
    ax.legend(fontsize=7, frameon=False)
    ax.tick_params(labelsize=7)
    return fig


def fitted_density(x: np.ndarray, method: str = "sm4", points: int = 200) -> tuple:
    """The density whose score :func:`analysis.score.fit_score` fits to ``x``, on a grid.

    log p is integrated from the score (trapezoids) and normalised on the grid, which spans the
    samples plus half a standard deviation on each side.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(1.0, 2.0, size=4000)
    >>> grid, p = fitted_density(x, "sm2")
    >>> round(float(np.trapezoid(p, grid)), 6), round(float(grid[np.argmax(p)]), 0)
    (1.0, 1.0)
    """
    x = np.asarray(x, dtype=float).ravel()
    sd = float(x.std())
    grid = np.linspace(x.min() - 0.5 * sd, x.max() + 0.5 * sd, points)
    score = fit_score(x[:, None], method).score(grid[:, None])[:, 0]
    logp = np.concatenate([[0.0], np.cumsum(0.5 * (score[1:] + score[:-1]) * np.diff(grid))])
    p = np.exp(logp - logp.max())
    return grid, p / np.trapezoid(p, grid)


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
    """The page ``solara run scenarios/app.py`` serves: a fresh model per browser session."""
    model = solara.use_memo(default_model, [])
    make_page(model)
