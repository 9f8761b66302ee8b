"""The figures of the ``particles`` scenario (drawn by ``dualsim run`` and ``dualsim report``).

``crossover``: measured ``Var / (T/k)`` of the frozen harmonic population against the crossover
number ``r = 2 alpha D / (eta^2 k)``, beside the law ``2 / (1 + sqrt(1 + r))`` (Boltzmann at
``r -> 0``, the imaginary-time ground state as ``r`` grows) and the r = 1 null controls;
``densities``: the particle histograms at r = 1 (clone/kill, entropy-aware, fixed N) against
the Perron and Boltzmann densities; ``population``: N and mu_c over time at r = 1;
``network``: the neuron densities of the network pair against the Perron and Boltzmann
densities of the first arm's measured Psi, with the pair's verdict statistic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["figures"]

NULLS = ("entropy_aware", "shuffled", "fixed_n", "common_noise")


def figures(
    tables: dict[str, pd.DataFrame],
    m: pd.DataFrame,
    net: dict | None = None,
    verdicts: list | None = None,
) -> dict[str, Callable[[Path], None]]:
    """The scenario's figures, each a function drawing one PNG into the path it is given
    (``network`` only when ``net`` holds the network pair; the crossover figure lists the
    ``verdicts`` with their controls under the plot).

    Examples
    --------
    >>> sorted(figures({}, pd.DataFrame()))
    ['crossover', 'densities', 'population']
    """

    def crossover_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        lines = [
            f"{v.verdict}: {v.claim} (value {v.value:.3g} {v.sense} {v.threshold:.3g}; "
            f"control {v.control_value:.3g}; positive control {v.positive_control_value:.3g})"
            for v in verdicts or []
        ]
        fig, ax = plt.subplots(figsize=(7.2, 4.4 + 0.22 * len(lines)))
        r = np.logspace(-2.5, 2.5, 200)
        ax.semilogx(r, 2 / (1 + np.sqrt(1 + r)), "k-", lw=1.2, label="2/(1+sqrt(1+r))")
        sweep = m[m.family == "crossover"]
        for label, marker in (("a", "o"), ("b", "s")):
            sub = sweep[sweep.arm.str.endswith(f"_{label}")]
            if len(sub):
                ratio = sub.variance / sub["T"]
                err = np.vstack(
                    [ratio - sub.variance_low / sub["T"], sub.variance_high / sub["T"] - ratio]
                )
                ax.errorbar(
                    sub.r, ratio, yerr=err, fmt=marker, ms=5, label=f"clone/kill, triple {label}"
                )
        for arm, marker in zip(NULLS, ("^", "v", "D", "x"), strict=True):
            row = m[m.arm == arm]
            if len(row):
                ax.plot(
                    [1.0], row.variance / row["T"], marker, ms=7, label=f"{arm} (r = 1 settings)"
                )
        ax.axhline(1.0, color="grey", ls=":", lw=1)
        ax.set_xlabel("crossover number r = 2 alpha D / (eta^2 k)")
        ax.set_ylabel("Var / (T/k)")
        ax.set_title("Fokker-Planck (Boltzmann) to imaginary-time Schrodinger")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout(rect=(0, 0.05 * len(lines) / (1 + 0.05 * len(lines)), 1, 1))
        if lines:
            fig.text(0.01, 0.01, "\n".join(lines), fontsize=6, va="bottom", family="monospace")
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def densities_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        parts = tables["particles"]
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        x = np.linspace(-1.2, 1.2, 400)
        gc = m[m.arm == "grand_canonical"].iloc[0]
        for var, style, name in (
            (gc.predicted, "k-", "Perron (imaginary time)"),
            (gc["T"], "k--", "Boltzmann"),
        ):
            ax.plot(
                x, np.exp(-(x**2) / (2 * var)) / math.sqrt(2 * math.pi * var), style, label=name
            )
        for arm in ("grand_canonical", "entropy_aware", "fixed_n"):
            sub = parts[(parts.arm == arm) & (parts.event == "alive")]
            late = sub[sub.step >= sub.step.max() // 2]
            ax.hist(
                late.theta, bins=60, range=(-1.2, 1.2), density=True, histtype="step", label=arm
            )
        ax.set_xlabel("theta")
        ax.set_ylabel("density")
        ax.set_title("Particles at r = 1 (second half)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def population_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        model = tables["model"]
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for arm in ("grand_canonical", "pure_branching", "entropy_aware", "shuffled"):
            sub = model[model.arm == arm]
            axes[0].plot(sub.step, sub.n_neurons, label=arm)
            axes[1].plot(sub.step, sub["neuron_count_mu_c"], label=arm)
        gc = m[m.arm == "grand_canonical"].iloc[0]
        axes[1].axhline(gc.mu_predicted, color="k", ls=":", lw=1, label="mu* (r = 1)")
        axes[0].set_ylabel("particles N")
        axes[1].set_ylabel("mu_c")
        for ax in axes:
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def network_fig(path: Path) -> None:
        import matplotlib.pyplot as plt

        assert net is not None
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        a = net["network_a"]
        grid = np.arange(len(a["perron"])) * (2 * math.pi / len(a["perron"]))
        ax.plot(grid, a["perron"], "k-", label="Perron of measured Psi (clone/kill)")
        ax.plot(grid, a["boltzmann"], "k--", label="Boltzmann of measured Psi (fixed N)")
        for arm in ("network_a", "network_b"):
            row = net[arm]
            ax.hist(
                row["theta"],
                bins=32,
                range=(0, 2 * math.pi),
                density=True,
                histtype="step",
                label=f"{arm}: alpha {row['alpha']:g}, M {row['batch_size']}, r {row['r']:.2g}",
            )
        ax.set_xlabel("centre c of an RBF neuron")
        ax.set_ylabel("density")
        ax.set_title(f"Network pair at one r: L1 / floor = {net['pair']['ratio']:.2f} (claim < 2)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    out = {"crossover": crossover_fig, "densities": densities_fig, "population": population_fig}
    if net:
        out["network"] = network_fig
    return out
