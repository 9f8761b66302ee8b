"""The figures of the interactive page: the network, the live plots and the histogram.

Every function returns a matplotlib :class:`~matplotlib.figure.Figure` (no pyplot state), so the
same drawings serve the Solara page (:mod:`dualsim.app.page`) and a notebook.

* :func:`network_figure`: neuron nodes coloured by their mean state (batch mean, averaged over
  the replicas that use the neuron), their area proportional to the fraction of replicas in
  which the neuron is active; squares are inputs, circles hidden neurons, diamonds outputs,
  hexagons controllers with dashed edges to the neurons they act on; unused hidden slots are
  faint outlines, so neurons added or removed by a neuron-count controller appear and disappear
  in place;
* :func:`plots_figure`: one point per learning step of an :class:`~dualsim.app.page.AppModel`'s
  live record (loss and F, N, gamma and M, T_eff, the Madelung hbar, the consistency gap);
* :func:`histogram_figure`: an observed coordinate q_j over the replicas with the density
  |psi|^2 of the fitted description (:func:`fitted_density`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from mesa.visualization.components import AgentPortrayalStyle

from agents.controller import Controller
from agents.neuron import NeuronAgent
from analysis.score import fit_score
from models.learning_system import LearningSystem

if TYPE_CHECKING:
    from dualsim.app.page import AppModel

__all__ = [
    "CONTROLLER_COLOURS",
    "CONTROLLER_SYMBOLS",
    "KIND_MARKERS",
    "fitted_density",
    "histogram_figure",
    "network_figure",
    "neuron_summary",
    "node_positions",
    "plots_figure",
    "portray",
]

KIND_MARKERS = {"input": "s", "hidden": "o", "output": "D", "controller": "h"}
CONTROLLER_COLOURS = ("#7b3294", "#e66101", "#1b7837", "#2166ac", "#b2182b")
CONTROLLER_SYMBOLS = {"neuron_count": "N", "step_size": "γ", "batch_size": "M"}


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
    recurrent = hidden.size > 2 and arch.connects("hidden", "hidden")
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
    """The network (see the module docstring); ``replica`` shows one replica instead of the mean.

    Examples
    --------
    >>> model = LearningSystem(replicas=8, n_hidden=2, controllers=[{"type": "step_size"}])
    >>> fig = network_figure(model)
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
    """Six live panels over the steps so far of an app model's :meth:`~AppModel.live_frame`.

    Loss and probe-set free energy; N with its min-max band; gamma and M relative to their start;
    T_eff; hbar by the Nelson route, the weak-form fit and |mu_c| / 2 pi; the consistency gap.

    Examples
    --------
    >>> from dualsim.app.page import AppModel
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
    >>> model = LearningSystem(replicas=64, n_hidden=2); model.step()
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
