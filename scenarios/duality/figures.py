"""The figures of the ``duality`` scenario: quantum side left, gravity side right.

:func:`figures` takes the :func:`~scenarios.duality.measures.measure` result and returns the
drawing functions of ``duality_predictions`` (the predicted density of ``q_0`` and the packet
paths against their predictions) and ``duality_scores`` (misfits over time and per path, and
both scores with the control).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import schrodinger
from analysis.geometry import geodesic
from analysis.trajectory import to_array
from scenarios.duality.claims import DUALITY
from scenarios.duality.measures import CI_LEVEL, COORDS, NULL_STEPS, PATH_STRIDE
from scenarios.transition import quadratic_potential

__all__ = ["figures"]


def _density_snapshots(
    post: pd.DataFrame, qd: dict[str, Any], idx: list[int]
) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Marginal densities of q_0 at recorded indices ``idx``: empirical, Schrödinger, frozen.

    The Schrödinger branch is redone as in :func:`analysis.schrodinger.compare_evolution`
    (same defaults) on a 1-D marginal grid for display only; the score uses the 2-D comparison.
    """
    comp = qd["comparison"]
    s = comp.settings
    q = to_array(post, COORDS).q
    t0, lag, tau, bw = s["t0"], s["lag"], s["tau"], s["bandwidth"]
    seg = q[t0:]
    lo, hi = seg.min(axis=(0, 1)), seg.max(axis=(0, 1))
    span = np.maximum(hi - lo, 1e-12)
    lo, hi = lo - 0.25 * span, hi + 0.25 * span
    nf = s["bins"] * s["refine"]
    h = (hi - lo) / nf
    axes = tuple(lo[a] + (np.arange(nf) + 0.5) * h[a] for a in range(2))
    shape = (nf, nf)
    rho0 = schrodinger.kde_grid(q[t0], lo, h, shape, bw)
    rho0 = rho0 / rho0.sum()
    vs = (q[t0 + lag] - q[t0 - lag]) / (2 * lag * tau)
    den = schrodinger.kde_grid(q[t0], lo, h, shape, 2 * bw)
    vg = np.stack(
        [schrodinger.kde_grid(q[t0], lo, h, shape, 2 * bw, weights=vs[:, a]) for a in range(2)],
        axis=-1,
    )
    ok = den > 1e-3 * den.max()
    vg = np.where(ok[..., None], vg / np.where(ok, den, 1.0)[..., None], 0.0)
    S0 = schrodinger.phase_from_velocity(vg, axes, qd["mass"])
    cell = float(np.prod(h))
    psi = schrodinger.wavefunction(rho0 / cell, S0, qd["hbar"])
    V = quadratic_potential(qd["fit"])
    out = {}
    cur = t0
    for i in idx:
        if i > cur:
            psi = schrodinger.split_step(
                psi, axes, V, qd["hbar"], qd["mass"], tau / 4, (i - cur) * 4
            )
            cur = i
        ps = (np.abs(psi) ** 2).sum(axis=1)
        out[i] = (q[i, :, 0], ps / (ps.sum() * h[0]), rho0.sum(axis=1) / h[0])
    return axes[0], out


def figures(res: dict[str, Any]) -> dict[str, Callable[[Path], None]]:
    """Drawing functions of the two figures (each writes one PNG to the path it is given).

    ``res`` is a :func:`~scenarios.duality.measures.measure` result.
    """
    import matplotlib.pyplot as plt

    traj, t_mid, t_fit = res["traj"], res["t_mid"], res["t_fit"]
    ctx = {
        "run": res["run"],
        "control": res["control_sides"],
        "post": traj[traj["step"] >= t_mid],
        "pre": traj[(traj["step"] >= t_fit[0]) & (traj["step"] < t_fit[1])],
        "ci": (res["lo"], res["hi"]),
    }
    qd, xd, rs, rf, chi, _, sq, sx = ctx["run"]

    def predictions_fig(path: Path) -> None:
        fig, (axq, axx) = plt.subplots(1, 2, figsize=(12, 4.6))
        comp = qd["comparison"]
        post = ctx["post"]
        n_rec = post["step"].nunique()
        t0 = comp.settings["t0"]
        idx = sorted({t0, t0 + (n_rec - 1 - t0) // 3, n_rec - 1})
        grid, snaps = _density_snapshots(post, qd, idx)
        steps = np.sort(post["step"].unique())
        for j, i in enumerate(idx):
            emp, ps, _ = snaps[i]
            c = f"C{j}"
            axq.hist(
                emp,
                bins=30,
                density=True,
                histtype="step",
                color=c,
                lw=1.2,
                label=f"ensemble, step {steps[i]}",
            )
            axq.plot(
                grid,
                ps,
                "-",
                color=c,
                lw=2,
                alpha=0.7,
                label="Schrödinger prediction" if j == 0 else None,
            )
        ref = to_array(ctx["pre"], COORDS).q[-NULL_STEPS:, :, 0].ravel()
        edges = np.linspace(grid[0], grid[-1], 41)
        frozen, _ = np.histogram(ref, bins=edges, density=True)
        centres = 0.5 * (edges[1:] + edges[:-1])
        axq.plot(centres, frozen, "k--", lw=1.2, label="frozen density (null, pooled before)")
        axq.set_xlabel("$q_0$ (parameter units)")
        axq.set_ylabel("marginal density of $q_0$")
        axq.set_title(f"Quantum side: density of q after the quench (score_q = {sq:.3g})")
        axq.legend(fontsize=7)

        geo, paths, noise = xd["geo"], xd["paths"], xd["noise"]
        d = paths[0].shape[1]
        n_max = int(geo.n_samples.max())
        lo = np.asarray(xd["lm"].origin, dtype=float)
        hi = lo + np.asarray(xd["lm"].spacing, dtype=float) * (
            np.asarray(xd["g"].shape[: lo.size]) - 1
        )
        inside0 = np.all((geo.x0 >= lo) & (geo.x0 <= hi), axis=1)
        synth = np.full((n_max, geo.x0.shape[0], geo.x0.shape[1]), np.nan)
        if inside0.any():  # a best-fit start may lie outside the box: no curve drawn for it
            synth[:, inside0] = geodesic(
                xd["g"],
                xd["lm"].spacing,
                xd["lm"].origin,
                geo.x0[inside0],
                geo.v0[inside0],
                n_max - 1,
                PATH_STRIDE,
            ).path
        for i, p in enumerate(paths[: min(4, len(paths))]):
            mu = i % d
            n_i = int(geo.n_samples[i])
            t = np.arange(n_i) * PATH_STRIDE + 1
            c = f"C{i}"
            axx.errorbar(
                t,
                p[:n_i, mu],
                yerr=noise[i],
                fmt=".",
                ms=4,
                color=c,
                label=f"packet on group {i}: $X^{mu}$",
            )
            axx.plot(
                t,
                synth[:n_i, i, mu],
                "-",
                color=c,
                label="geodesic of the first-half metric" if i == 0 else None,
            )
            design = np.stack([np.ones(n_i), t], axis=1)
            coef, *_ = np.linalg.lstsq(design, p[:n_i], rcond=None)
            axx.plot(
                t,
                (design @ coef)[:, mu],
                ":",
                color=c,
                label="straight line (null)" if i == 0 else None,
            )
        axx.set_xlabel("steps after the injection")
        axx.set_ylabel("$X^\\mu$ of the packet's own group (state units)")
        axx.set_title(f"Gravity side: packet paths 0-3 of {len(paths)} (score_x = {sx:.3g})")
        axx.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    def scores_fig(path: Path) -> None:
        fig, (axq, axx, axs) = plt.subplots(1, 3, figsize=(15, 4.4))
        tab = qd["comparison"].table.iloc[1:]
        axq.plot(tab["step"], rs, "o-", label="Schrödinger prediction")
        axq.plot(tab["step"], rf, "s--", label="frozen density (null, pooled before the event)")
        tab_c = ctx["control"][0]["comparison"].table.iloc[1:]
        axq.plot(
            tab_c["step"],
            ctx["control"][2],
            "^:",
            color="grey",
            label="Schrödinger, block-shuffled control",
        )
        axq.axhline(1, color="k", lw=0.8)
        axq.set_yscale("log")
        axq.set_xlabel("learning step")
        axq.set_ylabel("Hellinger distance / sampling floor")
        axq.set_title("Quantum side: prediction error over time")
        axq.legend(fontsize=7)

        x = np.arange(len(chi))
        axx.bar(x - 0.2, xd["geo"].per_path, 0.4, label="geodesic (first-half metric)")
        axx.bar(x + 0.2, xd["geo"].per_path_flat, 0.4, label="straight line (null)")
        axx.plot(x, ctx["control"][1]["geo"].per_path, "k^", label="geodesic, control metric")
        axx.set_yscale("log")
        axx.set_xticks(x)
        axx.set_xlabel("packet path (replica block)")
        axx.set_ylabel("$\\chi^2$/dof (path noise units)")
        axx.set_title("Gravity side: misfit per path")
        axx.legend(fontsize=7)

        lo, hi = ctx["ci"]
        ctl = ctx["control"]
        labels = ["score_q", "score_x", "max (statistic)"]
        vals = [sq, sx, max(sq, sx)]
        err = np.abs(np.array([lo, hi]) - np.array(vals))
        axs.errorbar(
            np.arange(3) - 0.1,
            vals,
            yerr=err,
            fmt="o",
            capsize=4,
            label=f"run ({CI_LEVEL:.0%} bootstrap)",
        )
        axs.plot(
            np.arange(3) + 0.1,
            [ctl[6], ctl[7], max(ctl[6], ctl[7])],
            "s",
            color="grey",
            label="block-shuffled control",
        )
        axs.axhline(DUALITY.threshold, color="k", lw=0.8, ls="--", label="threshold (null = 1)")
        axs.set_xticks(range(3))
        axs.set_xticklabels(labels)
        axs.set_ylabel("prediction misfit / null misfit")
        every = [*vals, *np.ravel([lo, hi]), ctl[6], ctl[7]]
        if max(every) / max(min(every), 1e-300) > 20:
            axs.set_yscale("log")
        axs.set_title("Both scores: supported only when both < 1")
        axs.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=110)

    return {"duality_predictions": predictions_fig, "duality_scores": scores_fig}
