"""The figures of the ``spacetime`` scenario, one per claim.

:func:`figures` takes the data each claim function returned (``ClaimResult.figure``, keyed
``signature``, ``dispersion``, ``metric``, ``geodesic``, ``lambda``) and returns the drawing
functions the report calls, keyed by file name (``figures/<name>.png``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scenarios.spacetime.claims import PATH_STRIDE

__all__ = ["figures"]


def figures(ctx: dict[str, Any]) -> dict[str, Callable[[Path], None]]:
    """Drawing functions of the five figures (each writes one PNG to the path it is given).

    Examples
    --------
    >>> sorted(figures({}))
    ['dispersion', 'geodesic', 'lambda_vs_n', 'metric', 'signature']
    """
    import matplotlib.pyplot as plt

    def signature_fig(path: Path) -> None:
        sig, pos, null_label = ctx["signature"]
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for off, (label, pt) in enumerate(
            (
                ("learning on", sig.on),
                (null_label.replace("_", " "), sig.off),
                ("positive control (synthetic, per unit time)", pos.on),
            )
        ):
            x = np.arange(len(pt.eigenvalues)) + (off - 1) * 0.22
            err = np.abs(pt.eigenvalue_ci.T - pt.eigenvalues)
            ax.errorbar(x, pt.eigenvalues, yerr=err, fmt="o", capsize=3, label=label)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(range(len(sig.on.eigenvalues)))
        ax.set_xticklabels([f"λ{i}" for i in range(len(sig.on.eigenvalues))])
        ax.set_ylabel("eigenvalue λ of C v = λ D v (per step)")
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.set_title(f"Entropy-production form: {sig.on.level:.0%} bootstrap intervals")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def metric_fig(path: Path) -> None:
        lm, gpoly = ctx["metric"]
        d = lm.g.shape[-1]
        mid = tuple(n // 2 for n in lm.g.shape[2:d])
        sl = (slice(None), slice(None), *mid)
        ext = [
            lm.origin[1] - lm.spacing[1] / 2,
            lm.origin[1] + lm.spacing[1] * (lm.g.shape[1] - 0.5),
            lm.origin[0] - lm.spacing[0] / 2,
            lm.origin[0] + lm.spacing[0] * (lm.g.shape[0] - 0.5),
        ]
        fig, axes = plt.subplots(2, 3, figsize=(12, 7))
        panels = [
            ("local g00", lm.g[sl][..., 0, 0]),
            ("local g11", lm.g[sl][..., 1, 1]),
            ("local g01", lm.g[sl][..., 0, 1]),
            ("polynomial g00", gpoly[sl][..., 0, 0]),
            ("polynomial g11", gpoly[sl][..., 1, 1]),
            ("lowest eigenvalue (polynomial g)", np.linalg.eigvalsh(gpoly[sl])[..., 0]),
        ]
        for ax, (title, img) in zip(axes.ravel(), panels, strict=True):
            vmax = float(np.max(np.abs(img))) or 1.0
            im = ax.imshow(
                img, origin="lower", extent=ext, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax
            )
            ax.set_title(title)
            ax.set_xlabel("X1 (state units)")
            ax.set_ylabel("X0 (state units)")
            fig.colorbar(im, ax=ax, label="per step")
        fig.suptitle("Metric = local entropy-production form, slice at the centre of X2, X3")
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def geodesic_fig(path: Path) -> None:
        paths, noise, geo, synth = ctx["geodesic"]
        d = paths[0].shape[1]
        fig, axes = plt.subplots(1, d, figsize=(3.4 * d, 3.6))
        for i, p in enumerate(paths):
            t = np.arange(len(p)) * PATH_STRIDE + 1
            for mu in range(d):
                ax = axes[mu]
                ax.errorbar(
                    t,
                    p[:, mu],
                    yerr=noise[i],
                    fmt=".",
                    ms=3,
                    color=f"C{i}",
                    label=f"packet on group {i}" if mu == 0 else None,
                )
                n_i = int(geo.n_samples[i])
                ax.plot(
                    np.arange(n_i) * PATH_STRIDE + 1,
                    synth[:n_i, i, mu],
                    "-",
                    color=f"C{i}",
                    label="lines: fitted geodesics (same colour)" if (mu == 0 and i == 0) else None,
                )
        for mu, ax in enumerate(axes):
            ax.set_xlabel("steps after injection")
            ax.set_ylabel(f"X{mu} (state units)")
        axes[0].legend(fontsize=7)
        fig.suptitle(
            f"Packet paths vs geodesics: chi2/dof {geo.chi2_dof:.3g} "
            f"(flat {geo.chi2_dof_flat:.3g}, shuffled {geo.chi2_dof_shuffled:.3g})"
        )
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def lambda_fig(path: Path) -> None:
        n_arr, lam_arr, lam_boot, lamc_arr, slope = ctx["lambda"]
        lo, hi = np.nanpercentile(lam_boot, [2.5, 97.5], axis=1)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.errorbar(
            n_arr,
            lam_arr,
            yerr=[lam_arr - np.minimum(lo, lam_arr), np.maximum(hi, lam_arr) - lam_arr],
            fmt="o",
            capsize=3,
            label="fitted Λ (95% bootstrap)",
        )
        ax.plot(n_arr, lamc_arr, "x", color="grey", label="permuted-pairing control")
        b = np.polyfit(n_arr, lam_arr, 1)
        xx = np.linspace(n_arr.min(), n_arr.max(), 20)
        ax.plot(xx, np.polyval(b, xx), "-", label=f"slope {slope:.3g}")
        ax.set_xlabel("mean number of neurons N (second half of run)")
        ax.set_ylabel("Λ (1 / state units²), symlog scale")
        ax.set_yscale("symlog", linthresh=max(float(np.median(np.abs(lam_arr))), 1e-6))
        ax.set_title("Cosmological constant against neuron-count target")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def dispersion_fig(path: Path) -> None:
        disp, disp_diff, disp_wave = ctx["dispersion"]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        p = disp.power[0]
        im = axes[0].imshow(
            np.log10(np.maximum(p, 1e-300)).T,
            origin="lower",
            aspect="auto",
            extent=[disp.k[0, 0], disp.k[0, -1], disp.omega[0], disp.omega[-1]],
        )
        axes[0].set_xlabel("k (1 / embedding units), direction 0")
        axes[0].set_ylabel("ω (rad / step)")
        axes[0].set_title("log10 S(k, ω), learning on")
        fig.colorbar(im, ax=axes[0], label="log10 power (state units² per bin)")
        for res, label, mk in (
            (disp, "learning on", "o"),
            (disp_diff, "diffusing control", "s"),
            (disp_wave, "wave positive control", "^"),
        ):
            for a_dir in range(res.k.shape[0]):
                axes[1].plot(
                    res.k[a_dir], res.peak_omega[a_dir], mk, ms=4, label=f"{label}, dir {a_dir}"
                )
        axes[1].set_xlabel("k (1 / embedding units)")
        axes[1].set_ylabel("peak ω (rad / step)")
        axes[1].set_title("Spectral peak against wavenumber")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    return {
        "signature": signature_fig,
        "metric": metric_fig,
        "geodesic": geodesic_fig,
        "lambda_vs_n": lambda_fig,
        "dispersion": dispersion_fig,
    }
