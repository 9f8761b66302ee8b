"""The figures of the ``transition`` scenario (drawn by ``dualsim run`` and ``dualsim report``).

``controls_over_time`` (N, gamma, M of the controlled arms with the adaptive arm's bounds, and
the consistency gap ln(hbar_2mD / (|mu_c| / 2 pi)) with its ln 1.5 band), ``madelung_windows``
(the Madelung fit per window), ``prediction_distances`` (Schrödinger vs Fokker-Planck
prediction after the quench), ``densities`` (ensemble density of q_0), ``neuron_moves``
(free-energy changes of neuron moves), ``quench_response`` (<q_1> around the quench) and
``worlds_control`` (the width of the worlds arm and of its coupling-off control, coupling put
in by hand).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scenarios.common import QUENCH_SCALE
from scenarios.transition.arms import (
    BATCH_BOUNDS,
    GAMMA_BOUNDS,
    MU_C,
    SGD_ARMS,
    WORLDS_ARMS,
    WORLDS_REPLICAS,
)
from scenarios.transition.claims import REGIME, WORLDS_FLOOR
from scenarios.worlds.known_answers import HAND
from scenarios.worlds.measures import var_g

__all__ = ["figures"]

Results = dict[str, dict[str, Any]]


def figures(
    tables: dict[str, pd.DataFrame],
    res: Results,
    pos: dict[str, Any],
    t_q: int,
    windows: dict[str, tuple[int, int]] | None = None,
    n_bounds: tuple[int, int] | None = None,
) -> dict[str, Callable[[Path], None]]:
    """The scenario's figures, each a function drawing one PNG into the path it is given.

    ``tables`` are the run's tables, ``res`` and ``pos`` the measurements of the SGD arms and
    of the positive control (:mod:`scenarios.transition.measures`), ``t_q`` the quench step,
    ``windows`` the analysis windows of the regime test
    (:func:`scenarios.transition.measures.regime_windows`) and ``n_bounds`` the adaptive
    arm's (n_min, n_max).

    Examples
    --------
    >>> figs = figures({"model": pd.DataFrame(), "trajectories": pd.DataFrame()}, {}, {}, 100)
    >>> sorted(figs)[:3]
    ['controls_over_time', 'densities', 'madelung_windows']
    """
    model = tables["model"]
    traj = tables["trajectories"]

    def controls_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
        for arm in ("canonical", "adaptive", "canonical_at_final"):
            m = model[model.arm == arm]
            axes[0].plot(m["step"], m["n_neurons"], label=arm)
            per = traj[traj.arm == arm].groupby("step")[["step_size", "batch_size"]].first()
            axes[1].plot(per.index, per["step_size"], label=arm)
            axes[2].plot(per.index, per["batch_size"], label=arm)
            if arm in res and "gap_series" in res[arm]:
                g = res[arm]["gap_series"]
                axes[3].plot(g["step"], g["gap_smooth"], lw=1, label=arm)
        bounds = {0: n_bounds, 1: GAMMA_BOUNDS, 2: BATCH_BOUNDS}
        for i, pair in bounds.items():
            for b in pair or ():
                axes[i].axhline(b, color="k", ls="--", lw=0.8)
        axes[1].set_yscale("log")
        axes[2].set_yscale("log")
        axes[3].axhspan(-REGIME.threshold, REGIME.threshold, color="tab:green", alpha=0.15)
        axes[3].axhline(0.0, color="tab:green", lw=0.8)
        for lo, hi in (windows or {}).values():
            axes[3].axvspan(lo, hi, color="grey", alpha=0.08)
        labels = (
            "mean active neurons N",
            "step size gamma",
            "batch size M",
            "gap ln(hbar_2mD / (|mu_c|/2pi))",
        )
        for ax, lab in zip(axes, labels, strict=True):
            ax.axvline(t_q, color="grey", ls=":", lw=1)
            ax.set_xlabel("learning step")
            ax.set_ylabel(lab)
            ax.grid(alpha=0.3)
        axes[3].set_title("m = 1/(2 gamma), 10-step mean; band: |gap| < ln 1.5", fontsize=8)
        axes[0].legend(fontsize=8)
        fig.suptitle(
            "Controlled parameters over time (dotted: quench; dashed: the adaptive arm's bounds; "
            "grey: the regime test's windows)"
        )
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def hbar_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for arm in SGD_ARMS:
            w = res[arm]["windows"]
            x = np.arange(len(w))
            if "hbar_over_m" in w:
                axes[0].plot(x, w["hbar_over_m"], "o-", label=arm)
            if "momentum_residual" in w:
                axes[1].plot(x, w["momentum_residual"], "o-", label=arm)
        axes[1].axhline(
            pos["momentum_residual"], color="k", ls="--", label="noise floor (exact samples)"
        )
        axes[0].set_ylabel("fitted hbar / m (steps^-1)")
        axes[1].set_ylabel("weak-form momentum residual")
        for ax in axes:
            ax.set_xlabel("window (stationary part, before the quench)")
            ax.grid(alpha=0.3)
        axes[1].legend(fontsize=7)
        axes[0].set_yscale("symlog", linthresh=1e-6)
        fig.suptitle("Madelung fit per window and arm")
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def prediction_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        arms = ("adaptive", "canonical_at_final", "canonical")
        fig, axes = plt.subplots(1, len(arms) + 1, figsize=(15, 3.6), sharey=True)
        for ax, arm in zip(axes, arms, strict=False):
            c = res[arm]["comparison"]
            ax.semilogy(c["step"], c["ratio_schrodinger"], "o-", label="Schrödinger")
            ax.semilogy(c["step"], c["ratio_fokker_planck"], "s-", label="Fokker-Planck")
            ax.set_title(arm)
            ax.set_xlabel("learning step")
        c = pos["comparison"]
        axes[-1].semilogy(c["step"], c["ratio_schrodinger"], "o-", label="Schrödinger")
        axes[-1].semilogy(c["step"], c["ratio_fokker_planck"], "s-", label="Fokker-Planck")
        axes[-1].set_title("positive control (Nelson)")
        axes[-1].set_xlabel("recorded step")
        axes[0].set_ylabel("Hellinger distance / sampling floor")
        for ax in axes:
            ax.axhline(1.0, color="grey", ls=":")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle("Prediction of the ensemble density after the quench")
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def density_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        arms = ("canonical", "adaptive", "momentum", "positive_control")
        fig, axes = plt.subplots(1, len(arms), figsize=(15, 3.4))
        for ax, arm in zip(axes, arms, strict=True):
            sub = traj[traj.arm == arm]
            steps = np.unique(sub["step"])
            picks = steps[[len(steps) * 2 // 3, (len(steps) * 5) // 6, -1]]
            for s in picks:
                v = sub[sub.step == s]["q_0"].to_numpy()
                ax.hist(v, bins=40, density=True, histtype="step", label=f"step {s}")
            ax.set_title(arm)
            ax.set_xlabel("q_0")
        axes[0].set_ylabel("density over replicas")
        axes[0].legend(fontsize=7)
        fig.suptitle("Ensemble density of q_0 after the quench")
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def moves_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 4))
        a = res["adaptive"]
        if "delta_F" in a:
            dF = a["delta_F"] / abs(MU_C)
            dn = a["delta_N"]
            acc = a["accepted"]
            ok = np.isfinite(dF)
            rng = np.random.default_rng(0)
            jitter = rng.uniform(-0.15, 0.15, dn.size)
            ax.scatter(
                dn[ok & ~acc] + jitter[ok & ~acc],
                dF[ok & ~acc],
                s=3,
                alpha=0.2,
                label="proposed, rejected",
            )
            ax.scatter(
                dn[ok & acc] + jitter[ok & acc], dF[ok & acc], s=5, alpha=0.6, label="accepted"
            )
            ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel("net neuron change Delta N of the move")
        ax.set_ylabel("Delta F / |mu_c|")
        ax.set_xticks([-1, 1])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("Free-energy changes of neuron moves (adaptive arm)")
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def quench_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for arm in ("canonical", "adaptive", "momentum", "no_change"):
            sub = traj[(traj.arm == arm) & (traj.step >= t_q - 20)]
            mean = sub.groupby("step")["q_1"].mean()
            ax.plot(mean.index, mean.to_numpy(), label=arm)
        ax.axvline(t_q, color="grey", ls=":")
        ax.set_xlabel("learning step")
        ax.set_ylabel("ensemble mean <q_1>")
        ax.set_title(f"Response to the quench (teacher weights x {QUENCH_SCALE})")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def worlds_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        worlds = pos.get("worlds", {})
        # released at rest from Var(0) = 1 hbar/(m omega): the floor is Var_g^2 of Var(0)
        floor = var_g(WORLDS_REPLICAS) ** 2
        for arm in WORLDS_ARMS:
            sub = traj[traj.arm == arm]
            if sub.empty:
                continue
            var = sub.groupby("step")["q_0"].var(ddof=0)
            label = arm
            if arm in worlds:
                w = worlds[arm]
                label += f": persistence {w['persistence'][0]:.2f}, floor {w['floor']:.2g}"
            ax.plot(var.index, var.to_numpy() / var.iloc[0], label=label)
        ax.axhline(floor, color="k", ls="--", lw=0.8, label="zero-point floor")
        ax.axhline(WORLDS_FLOOR * floor, color="k", ls=":", lw=0.8, label="pass line")
        ax.set_xlabel("learning step")
        ax.set_ylabel("Var(q_0) / Var(0)")
        ax.set_title(f"Real-time positive control: the worlds arm ({HAND})", fontsize=10)
        ax.set_ylim(-0.05, 1.5)
        ax.legend(fontsize=8, loc="upper center", ncol=2)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    return {
        "controls_over_time": controls_fig,
        "madelung_windows": hbar_fig,
        "prediction_distances": prediction_fig,
        "densities": density_fig,
        "neuron_moves": moves_fig,
        "quench_response": quench_fig,
        "worlds_control": worlds_fig,
    }
