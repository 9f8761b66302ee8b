"""The figures of the ``madelung`` scenario and the density predictions they draw.

:func:`figures` turns the analysis context (built by :mod:`scenarios.madelung.analyse`) into
``{name: draw(path)}``: the ensemble marginals of the ``sgd`` and ``momentum`` arms against the
linear Fokker-Planck prediction and a Gaussian |psi|^2 (:func:`density_predictions`), the
weak-form hbar and the Madelung residual per window, D_KM over the (gamma, M) grid, early
spreading with the quench lines, and the entropy budget. Matplotlib is imported when a figure is
drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from analysis import thermodynamics
from analysis.madelung import MadelungFit

__all__ = ["density_predictions", "figures"]


def _fp_gaussian(q: np.ndarray, jac: np.ndarray, off: np.ndarray, D: np.ndarray, idx: list[int]):
    """Means and covariances of the linear Fokker-Planck prediction from row 0 (per-step map)."""
    m, C = q[0].mean(axis=0), np.cov(q[0], rowvar=False)
    A = np.eye(2) + jac
    out, t = {}, 0
    for i in sorted(idx):
        while t < i:
            m, C = A @ m + off, A @ C @ A.T + 2 * D
            t += 1
        out[i] = (m.copy(), C.copy())
    return out


def _quantum_gaussian(
    q: np.ndarray, H: np.ndarray, center: np.ndarray, hbar: float, mass: float, idx: list[int]
):
    """|psi|^2 of a Gaussian packet in the quadratic approximation of V = F about q*.

    Mode by mode (Hessian eigenbasis): the mean follows Newton's equation from the ensemble's
    mean position and velocity at row 0; the width of a pure Gaussian of the initial mode width
    s0 breathes as s^2 = s0^2 cos^2 wt + (hbar / (2 m w s0))^2 sin^2 wt, w = sqrt(lambda / m).
    """
    lam, U = np.linalg.eigh(H)
    w = np.sqrt(np.maximum(lam, 1e-12) / mass)
    y0 = (q[0].mean(axis=0) - center) @ U
    v0 = (q[1].mean(axis=0) - q[0].mean(axis=0)) @ U
    s0 = np.sqrt(np.maximum(np.diag(U.T @ np.cov(q[0], rowvar=False) @ U), 1e-30))
    out = {}
    for i in idx:
        c, s = np.cos(w * i), np.sin(w * i)
        y = y0 * c + v0 / w * s
        var = s0**2 * c**2 + (hbar / (2 * mass * w * s0)) ** 2 * s**2
        out[i] = (center + U @ y, U @ np.diag(var) @ U.T)
    return out


def _gauss_pdf(x: np.ndarray, m: float, v: float) -> np.ndarray:
    return np.exp(-0.5 * (x - m) ** 2 / v) / np.sqrt(2 * np.pi * v)


def density_predictions(
    q: np.ndarray, steps: np.ndarray, fit: MadelungFit, hessian: np.ndarray, center: np.ndarray
) -> dict[str, Any]:
    """One arm's entry of the density figure: its marginals and both predictions.

    Rows 0, T/10, T/3 and T-1 are drawn. The Fokker-Planck curve propagates the mean and
    covariance of row 0 with the arm's measured linear drift and diffusion
    (:func:`analysis.thermodynamics.kramers_moyal`, drift of degree 2); |psi|^2 is a Gaussian
    packet in the quadratic potential ``hessian`` about ``center`` with the fitted hbar and
    mass (hbar = 0 when the fit has none).

    Parameters
    ----------
    q : ndarray, shape (T, R, 2)
        The arm's positions.
    steps : ndarray, shape (T,)
        Their learning steps.
    fit : analysis.madelung.MadelungFit
        The arm's weak-form fit (``hbar``, ``mass``).
    hessian, center : ndarray
        The quadratic approximation of V: (2, 2) and (2,).

    Returns
    -------
    dict
        ``q, steps, idx, hbar, mass`` and ``fp``, ``qm`` (row -> (mean, covariance)).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> q = np.random.default_rng(0).normal(size=(30, 400, 2))
    >>> d = density_predictions(q, np.arange(30), SimpleNamespace(hbar=0.1, mass=5.0),
    ...                         np.eye(2), np.zeros(2))
    >>> d["idx"], d["qm"][29][1].shape
    ([0, 3, 10, 29], (2, 2))
    """
    T = q.shape[0]
    idx = sorted({0, T // 10, T // 3, T - 1})
    km = thermodynamics.kramers_moyal(q, bins=8, degree=2)
    hbar = fit.hbar if np.isfinite(fit.hbar) else 0.0
    return {
        "q": q,
        "steps": steps,
        "idx": idx,
        "hbar": fit.hbar,
        "mass": fit.mass,
        "fp": _fp_gaussian(q, km.jacobian, km.drift_offset, km.diffusion, idx),
        "qm": _quantum_gaussian(q, hessian, center, hbar, fit.mass, idx),
    }


def figures(ctx: dict[str, Any]) -> dict[str, Callable[[Path], None]]:
    """The scenario's figures, ``{name: draw(path)}``, from the analysis context ``ctx``.

    Parameters
    ----------
    ctx : dict
        ``density`` (arm -> :func:`density_predictions`), ``fits`` (arm -> fit), ``floors``
        (arm -> (low, median, high)), ``runs`` (the grid cells), ``fp_slope``, ``spread``,
        ``quench`` (arm -> (steps, line)), ``quench_at``, ``entropy`` (the budget windows);
        optional labels ``coord_names``, ``psi_label``, ``quench_ylabel``, ``quench_title``.

    Returns
    -------
    dict
        ``density_<arm>``, ``hbar_residual``, ``fokker_planck_D``, ``realtime``,
        ``entropy_budget``.

    Examples
    --------
    >>> sorted(figures({"density": {"sgd": {}}}))
    ['density_sgd', 'entropy_budget', 'fokker_planck_D', 'hbar_residual', 'realtime']
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figs: dict[str, Callable[[Path], None]] = {}

    def density(arm: str) -> Callable[[Path], None]:
        def draw(path: Path) -> None:
            d = ctx["density"][arm]
            q, idx, steps = d["q"], d["idx"], d["steps"]
            fig, axes = plt.subplots(2, len(idx), figsize=(3.2 * len(idx), 5.6))
            for col, i in enumerate(idx):
                for row, (name, unit) in enumerate(
                    ctx.get(
                        "coord_names",
                        (("q_0 = b", "input weight"), ("q_1 = a", "output weight")),
                    )
                ):
                    ax = axes[row, col]
                    x = q[i, :, row]
                    ax.hist(x, bins=40, density=True, color="0.75", label="ensemble")
                    span = np.linspace(x.min() - 2 * x.std(), x.max() + 2 * x.std(), 300)
                    mf, Cf = d["fp"][i]
                    ax.plot(
                        span,
                        _gauss_pdf(span, mf[row], Cf[row, row]),
                        "C0",
                        label="Fokker-Planck (linear drift, D_KM)",
                    )
                    mq, Cq = d["qm"][i]
                    ax.plot(
                        span,
                        _gauss_pdf(span, mq[row], Cq[row, row]),
                        "C3--",
                        label=ctx.get("psi_label", "|psi|^2 (V = F, fitted hbar)"),
                    )
                    ax.set_xlim(span[0], span[-1])
                    ax.set_title(f"step {steps[i]}", fontsize=9)
                    ax.set_xlabel(f"{name} ({unit})", fontsize=8)
                    if col == 0:
                        ax.set_ylabel("probability density", fontsize=8)
                    ax.tick_params(labelsize=7)
                    ax.xaxis.set_major_locator(MaxNLocator(4))
            axes[0, 0].legend(fontsize=7, loc="upper left")
            fig.suptitle(
                f"arm {arm}: ensemble marginals vs predictions from its first step "
                f"(hbar = {d['hbar']:.3g}, m = {d['mass']:.3g})",
                fontsize=10,
            )
            fig.tight_layout()
            fig.savefig(path, dpi=100)

        return draw

    for arm in ctx["density"]:
        figs[f"density_{arm}"] = density(arm)

    def hbar_residual(path: Path) -> None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for k, (arm, f) in enumerate(ctx["fits"].items()):
            w = f.windows
            mid = 0.5 * (w["t_start"] + w["t_end"])
            err = np.vstack(
                [w["hbar_over_m"] - w["hbar_over_m_low"], w["hbar_over_m_high"] - w["hbar_over_m"]]
            ).clip(0)
            axes[0].errorbar(
                mid,
                w["hbar_over_m"] * f.mass,
                yerr=err * f.mass,
                marker="o",
                capsize=3,
                color=f"C{k}",
                label=f"{arm} (m = {f.mass:g})",
            )
            bad = ~np.isfinite(w["hbar_over_m"].to_numpy())
            if bad.any():
                axes[0].plot(
                    mid[bad],
                    np.zeros(bad.sum()),
                    "x",
                    color=f"C{k}",
                    ms=9,
                    label=f"{arm}: window with fitted hbar^2 <= 0",
                )
            axes[1].plot(mid, w["momentum_residual"], "o-", color=f"C{k}", label=f"{arm} residual")
            lo, med, hi = ctx["floors"][arm]
            axes[1].axhspan(lo, hi, color=f"C{k}", alpha=0.15)
            axes[1].axhline(med, color=f"C{k}", ls=":", label=f"{arm} floor (exact samples)")
        axes[0].set_xlabel("learning step (window centre)")
        axes[0].set_ylabel("hbar = m (hbar/m)  [F x step]")
        axes[0].set_title("weak-form hbar per window (V = F, m = 1/(2 gamma))")
        axes[1].set_xlabel("learning step (window centre)")
        axes[1].set_ylabel("relative momentum residual")
        axes[1].set_title("Madelung momentum residual vs its noise floor")
        for ax in axes:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=100)

    figs["hbar_residual"] = hbar_residual

    def fp(path: Path) -> None:
        runs = ctx["runs"]
        fig, ax = plt.subplots(figsize=(6, 5))
        for m, mk in zip(sorted(runs["batch_size"].unique()), "os^vD", strict=False):
            r = runs[runs["batch_size"] == m]
            ax.errorbar(
                r["pred"],
                r["D"],
                yerr=1.96 * r["D_se"],
                fmt=mk,
                capsize=3,
                label=f"M = {m} (gamma = {', '.join(f'{g:g}' for g in r['step_size'])})",
            )
        lim = np.array([runs["pred"].min() / 1.5, runs["pred"].max() * 1.5])
        ax.plot(lim, lim, "k--", lw=1, label="D = gamma^2 Sigma/(2M)")
        ax.plot(lim, ctx["fp_slope"] * lim, "C3:", lw=1, label=f"fit slope {ctx['fp_slope']:.3f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("gamma^2 tr(Sigma_hat) / (2M)  [coordinate^2 per step]")
        ax.set_ylabel("D_KM, tr(D)  [coordinate^2 per step]")
        ax.set_title("Fokker-Planck diffusion over the (gamma, M) grid")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=100)

    figs["fokker_planck_D"] = fp

    def realtime(path: Path) -> None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for k, (kind, (beta, lo, hi, s0, dv)) in enumerate(ctx["spread"].items()):
            axes[0].plot(
                s0 / s0[0],
                dv / dv[0],
                "o-",
                color=f"C{k}",
                label=f"{kind}: beta = {beta:.2f} [{lo:.2f}, {hi:.2f}]",
            )
        x = np.array([1.0, 100.0])
        axes[0].plot(x, x**-2.0, "k:", lw=1, label="quantum free packet (beta = 2)")
        axes[0].plot(x, x**0.0, "k--", lw=1, label="diffusion (beta = 0)")
        axes[0].set_xscale("log")
        axes[0].set_yscale("log")
        axes[0].set_xlabel("initial width sigma0 / smallest sigma0")
        axes[0].set_ylabel("variance growth after t_s, relative to the narrowest")
        axes[0].set_title("spreading from narrow starts")
        for k, (arm, y) in enumerate(ctx["quench"].items()):
            axes[1].plot(y[0], y[1], color=f"C{k}", label=arm)
        axes[1].axvline(ctx["quench_at"], color="k", lw=0.8, ls=":", label="task change")
        axes[1].set_xlabel("learning step")
        axes[1].set_ylabel(
            ctx.get("quench_ylabel", "ensemble mean along the stiff Hessian direction")
        )
        axes[1].set_title(ctx.get("quench_title", "quench (teacher b* -> 0.8 b*) vs no change"))
        for ax in axes:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=100)

    figs["realtime"] = realtime

    def entropy(path: Path) -> None:
        w = ctx["entropy"]
        fig, ax = plt.subplots(figsize=(6.5, 4))
        mid = 0.5 * (w["step_start"] + w["step_end"])
        ax.errorbar(
            mid, w["dS_dt"], yerr=1.96 * w["dS_dt_se"], fmt="ko", capsize=3, label="measured dS/dt"
        )
        ax.plot(mid, w["predicted"], "C3s-", label="E[div A] + E[s^T D s]")
        ax.plot(mid, w["drift_term"], "C0^:", label="E[div A] only (control)")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlabel("learning step (window centre)")
        ax.set_ylabel("entropy rate [nats per step]")
        ax.set_title("entropy budget, sgd arm")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=100)

    figs["entropy_budget"] = entropy
    return figs
