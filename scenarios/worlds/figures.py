"""The figures of the ``worlds`` scenario (every title says "coupling put in by hand").

``breathing``: Var(t) of the squeezed start for HDW, coupling off, Calogero and the frozen
snapshot beside the law ``cos^2 t + (Var_g^2/Var0) sin^2 t``; ``ground``: the relaxed HDW and
Calogero ground configurations against the Gaussian; ``spreading``: the spreading ratio against
``(1 - 1/N)^2``; ``budget``: the line Q and the ground-width shift over the decoherence grid
((1 - beta)/omega x T/(hbar omega)), with the survival thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from scenarios.worlds.known_answers import HAND
from scenarios.worlds.measures import var_g

__all__ = ["figures"]

STYLE = {"hdw": "C0-", "off": "C3--", "calogero": "C2:", "frozen": "C1-."}


def figures(
    tables: dict[str, pd.DataFrame], m: pd.DataFrame, cells: pd.DataFrame
) -> dict[str, Callable[[Path], None]]:
    """The scenario's figures, each a function drawing one PNG into the path it is given.

    Examples
    --------
    >>> sorted(figures({}, pd.DataFrame(), pd.DataFrame()))
    ['breathing', 'budget', 'ground', 'spreading']
    """
    worlds = tables.get("worlds", pd.DataFrame())

    def breathing_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        n = int(m[m.arm == "breathing_hdw"].n.iloc[0])
        t = np.linspace(0, 2 * math.pi, 400)
        vg = var_g(n)
        ax.plot(t, np.cos(t) ** 2 + vg**2 * np.sin(t) ** 2, "k-", lw=3, alpha=0.25, label="law")
        for est, style in STYLE.items():
            df = worlds[worlds.arm == f"breathing_{est}"]
            ax.plot(df.t, df["var"], style, lw=1.2, label=est)
        ax.set_xlabel("t (1/omega)")
        ax.set_ylabel("Var (hbar / m omega)")
        ax.set_title(f"Squeezed breathing, N = {n} ({HAND})", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    def ground_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        n = int(m[m.arm == "ground_hdw"].n.iloc[0])
        bins = np.linspace(-3, 3, 25)
        for arm in ("ground_hdw", "ground_calogero"):
            kurt = float(m[m.arm == arm]["kurtosis"].iloc[0])
            traj = tables["trajectories"]
            last = traj[(traj.arm == arm) & (traj.step == traj[traj.arm == arm].step.max())]
            x = last["q_0"].to_numpy()
            x = x / math.sqrt(np.var(x)) * math.sqrt(var_g(n))
            ax.hist(
                x, bins=bins, density=True, histtype="step", lw=1.5, label=f"{arm} ({kurt:.2f})"
            )
        xs = np.linspace(-3, 3, 200)
        s2 = var_g(n)
        ax.plot(
            xs, np.exp(-(xs**2) / (2 * s2)) / math.sqrt(2 * math.pi * s2), "k-", label="|psi_0|^2"
        )
        ax.set_xlabel("q (sqrt(hbar / m omega))")
        ax.set_ylabel("density")
        ax.set_title(f"Relaxed ground states, excess kurtosis in brackets ({HAND})", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    def spreading_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        n = int(m[m.arm == "spreading_hdw"].n.iloc[0])
        for est in ("hdw", "off", "calogero"):
            v0 = float(worlds[worlds.arm == f"spreading_{est}"]["var"].iloc[0])
            df = worlds[(worlds.arm == f"spreading_{est}") & (worlds.t > 0)]
            ax.plot(df.t, (df["var"] - v0) * v0 / (df.t / 2) ** 2, STYLE[est], label=est)
        ax.axhline((1 - 1 / n) ** 2, color="k", lw=0.8, label="(1 - 1/N)^2")
        ax.set_xlabel("t (1/omega)")
        ax.set_ylabel("(Var - Var0) Var0 / (t/2)^2")
        ax.set_title(f"Free spreading, N = {n} ({HAND})", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    def budget_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
        c = cells[(cells.noise != "explicit") & (cells.gamma == cells.gamma.min())]
        for tau, sub in c.groupby("T_target"):
            sub = sub.sort_values("friction")
            label = f"T/hbar omega ~ {tau:g}"
            err = np.vstack([sub.q - sub.q_low, sub.q_high - sub.q])
            axes[0].errorbar(sub.friction, sub.q, yerr=err, fmt="o-", label=label)
            err = np.vstack(
                [sub.width_shift - sub.width_shift_low, sub.width_shift_high - sub.width_shift]
            )
            axes[1].errorbar(sub.friction, sub.width_shift, yerr=err, fmt="o-", label=label)
        axes[0].axhline(5.0, color="k", lw=0.8)
        axes[0].set_xscale("log")
        axes[0].set_yscale("log")
        axes[0].set_ylim(0.05, 2e3)
        axes[0].set_xlabel("(1 - beta) / omega")
        axes[0].set_ylabel("Q of the 2-omega line")
        axes[1].axhline(0.10, color="k", lw=0.8)
        axes[1].axhline(-0.10, color="k", lw=0.8)
        axes[1].set_xscale("log")
        axes[1].set_xlabel("(1 - beta) / omega")
        axes[1].set_ylabel("ground-width shift")
        axes[0].legend(fontsize=8)
        fig.suptitle(f"Decoherence budget of SGD, 20 replicas ({HAND})", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    return {
        "breathing": breathing_fig,
        "ground": ground_fig,
        "spreading": spreading_fig,
        "budget": budget_fig,
    }
