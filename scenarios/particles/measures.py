"""What the ``particles`` scenario measures in its saved tables (pure functions of them).

Per arm: the stationary variance of the particles, from every late step of the
``trajectories`` table (the population means ``q_0 = <theta>`` and ``loss = <k theta^2 / 2>``
give ``Var = 2 loss / k - q_0^2``), with a 95 % interval from the spread of 10 block means;
``mu_c`` (mean of the controller's ``mu_c`` over the late model rows, same blocks), the final
population, refused births and
the separation of clones from their parents in the last snapshot of the ``particles`` table
(largest and median ``|theta - theta_parent|`` over the pairs alive there: exactly 0 when
clones never separate);
beside them the closed forms of :func:`analysis.imaginary_time.harmonic` (continuous and
discrete time).

The network pair (:func:`measure_network`): per arm, the time-averaged Psi on the grid (table
``psi_grid``), D from Kramers-Moyal bins of the one-step pairs (16 bins on the circle), the
predicted densities of that Psi and D on the periodic grid (grand-canonical: the Perron vector
with the arm's alpha and fixed mu_c; fixed N: the Boltzmann null vector), the local curvature
k at the deepest well of Psi and ``r = 2 alpha D / (eta^2 k)``, and the L1 distances (32 bins)
of the recorded positions to both predictions and to the other arm, beside the split-half
floor (time halves of the record steps).

The real-time null (:func:`realtime_extremum`, :func:`collision_chi2`): the mean of each
displaced arm (``q_0`` of the ``trajectories`` table) must relax with no extremum beyond 6
standard errors, and the collision arms' joint histograms must equal the sum of the separate
runs' (chi2/dof near 1, the variance from the spread over replicas).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from analysis.imaginary_time import harmonic, solve
from analysis.particles_stats import (
    density_l1,
    kramers_moyal_bins,
    on_grid,
    split_half_floor,
    transition_pairs,
)
from scenarios.particles.arms import DISPLACEMENT, NET_EVERY, NET_MU_C, NETWORK_GRID, K

__all__ = [
    "collision_chi2",
    "measure_arms",
    "measure_collision",
    "measure_network",
    "measure_realtime",
    "pair_l1",
    "realtime_extremum",
]

BINS = 32
"""Bins of the density distances."""
TWO_PI = 2 * math.pi


BLOCKS = 10


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and mean +- 2 standard errors of the means of ``BLOCKS`` consecutive blocks."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    blocks = [b.mean() for b in np.array_split(v, min(BLOCKS, v.size))]
    se = float(np.std(blocks, ddof=1) / math.sqrt(len(blocks))) if len(blocks) > 1 else 0.0
    return mean, mean - 2 * se, mean + 2 * se


def measure_arms(tables: dict[str, pd.DataFrame], steps: int) -> pd.DataFrame:
    """One row per arm: settings, measured variance and mu_c (with intervals), predictions.

    Examples
    --------
    >>> parts = pd.DataFrame({"arm": "a", "step": [100, 100, 200, 200],
    ...                       "neuron_id": [0, 1, 0, 1], "parent_id": [-1, -1, -1, -1],
    ...                       "theta": [-0.3, 0.3, -0.3, 0.3], "event": "alive"})
    >>> traj = pd.DataFrame({"arm": "a", "step": [100, 200], "q_0": [0.0, 0.0],
    ...                      "loss": [0.045, 0.045]})
    >>> model = pd.DataFrame({"arm": "a", "step": [100, 200], "n_neurons": [2, 2],
    ...                       "neuron_count_mu_c": [np.nan, np.nan],
    ...                       "neuron_count_refused": [0, 0]})
    >>> arms = pd.DataFrame({"arm": ["a"], "alpha": [0.0], "D": [1e-3], "eta": [0.01],
    ...                      "T": [0.1], "r": [0.0], "variant": ["loss"],
    ...                      "noise_mode": ["langevin"], "family": ["control"]})
    >>> tabs = {"particles": parts, "model": model, "arms": arms, "trajectories": traj}
    >>> row = measure_arms(tabs, 200).iloc[0]
    >>> [round(float(row[c]), 4) for c in ("variance", "predicted", "clone_separation_max")]
    [0.09, 0.1, nan]
    """
    burn = steps // 4
    parts = tables["particles"]
    model = tables["model"]
    traj = tables["trajectories"]
    rows: list[dict[str, Any]] = []
    arms = tables["arms"]
    if "family" in arms.columns:
        arms = arms[arms.family != "network"]
    for s in arms.itertuples(index=False):
        t = traj[(traj.arm == s.arm) & (traj.step >= burn)]
        var = 2 * t["loss"].to_numpy() / K - t["q_0"].to_numpy() ** 2
        v, v_lo, v_hi = _interval(var)
        m = model[(model.arm == s.arm) & (model.step >= burn)]
        mu, mu_lo, mu_hi = _interval(m["neuron_count_mu_c"].to_numpy())
        ans = harmonic(K, D=s.D, eta=s.eta, alpha=s.alpha)
        mine = parts[(parts.arm == s.arm) & (parts.event == "alive")]
        last = mine[mine.step == mine.step.max()]
        pairs = last.merge(
            last[["neuron_id", "theta"]].rename(
                columns={"neuron_id": "parent_id", "theta": "theta_parent"}
            ),
            on="parent_id",
        )
        sep = np.abs(pairs.theta.to_numpy() - pairs.theta_parent.to_numpy())
        rows.append(
            {
                **s._asdict(),
                "variance": v,
                "variance_low": v_lo,
                "variance_high": v_hi,
                "predicted": ans.variance,
                "predicted_discrete": ans.variance_branched,
                "boltzmann": s.T / K if math.isfinite(s.T) else math.nan,
                "mu_c": mu,
                "mu_c_low": mu_lo,
                "mu_c_high": mu_hi,
                "mu_predicted": ans.mu,
                "mu_predicted_discrete": ans.mu_discrete,
                "n_final": int(m["n_neurons"].iloc[-1]) if len(m) else 0,
                "refused": int(model[model.arm == s.arm]["neuron_count_refused"].max()),
                "clone_separation_max": float(sep.max()) if sep.size else math.nan,
                "clone_separation_median": float(np.median(sep)) if sep.size else math.nan,
                "window": burn,
            }
        )
    return pd.DataFrame(rows)


def pair_l1(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> float:
    """L1 distance between the histograms of two samples on ``edges`` (mass outside counted).

    Examples
    --------
    >>> e = np.linspace(0.0, 1.0, 3)
    >>> pair_l1(np.array([0.1, 0.2]), np.array([0.1, 0.7]), e)
    1.0
    """
    ca = np.histogram(a, bins=edges)[0] / max(a.size, 1)
    cb = np.histogram(b, bins=edges)[0] / max(b.size, 1)
    return float(np.abs(ca - cb).sum() + abs(ca.sum() - cb.sum()))


def _network_arm(tables: dict[str, pd.DataFrame], s: Any) -> dict[str, Any]:
    """Measured and predicted densities of one network arm (see the module docstring)."""
    parts = tables["particles"]
    mine = parts[(parts.arm == s.arm) & (parts.event == "alive")]
    snaps = mine[mine.step % NET_EVERY == 0]
    grid = tables["psi_grid"]
    g = grid[grid.arm == s.arm]
    psi = g.groupby("theta").psi.mean().reindex(NETWORK_GRID, method="nearest").to_numpy()
    pairs = transition_pairs(mine[["step", "neuron_id", "theta"]], 1)
    km = kramers_moyal_bins(pairs.theta0, pairs.theta1, bins=16, span=(0.0, TWO_PI), period=TWO_PI)
    D = on_grid(km, NETWORK_GRID, period=TWO_PI)
    gc = solve(NETWORK_GRID, psi, D=D, eta=s.eta, alpha=s.alpha, boundary="periodic")
    fp = solve(NETWORK_GRID, psi, D=D, eta=s.eta, alpha=0.0, boundary="periodic")
    h = NETWORK_GRID[1] - NETWORK_GRID[0]
    i = int(np.argmin(psi))
    k = float((np.roll(psi, -1)[i] - 2 * psi[i] + np.roll(psi, 1)[i]) / h**2)
    th = np.mod(snaps.theta.to_numpy(), TWO_PI)
    steps = snaps.step.to_numpy()
    floor = split_half_floor(th, NETWORK_GRID, bins=BINS, boundary="periodic", groups=steps)
    d_mean = float(np.mean(D))
    model = tables["model"]
    m = model[model.arm == s.arm]
    return {
        "theta": th,
        "steps": steps,
        "D": d_mean,
        "T": d_mean / s.eta,
        "k": k,
        "r": 2 * s.alpha * d_mean / (s.eta**2 * k) if k > 0 else math.nan,
        "mu_predicted": gc.mu,
        "l1_perron": density_l1(th, NETWORK_GRID, gc.density, bins=BINS, boundary="periodic"),
        "l1_boltzmann": density_l1(th, NETWORK_GRID, fp.density, bins=BINS, boundary="periodic"),
        "floor": floor,
        "n_final": int(m["n_neurons"].iloc[-1]) if len(m) else 0,
        "refused": int(m["neuron_count_refused"].max()) if len(m) else 0,
        "perron": gc.density,
        "boltzmann": fp.density,
    }


def measure_network(tables: dict[str, pd.DataFrame]) -> dict[str, dict[str, Any]]:
    """The network pair: per arm the measures of the module docstring, plus ``pair``: the L1
    between the two arms' positions, its combined floor ``sqrt(f_a^2 + f_b^2)`` and the same
    ratio for each time half (its spread), and the frozen-harmonic positive control (two
    triples at ``r = 1``, ``T = 0.1``: ``grand_canonical`` against the crossover arm there).

    Returns an empty dict when the run has no network arms.
    """
    arms = tables["arms"]
    if "family" not in arms.columns or "psi_grid" not in tables:
        return {}
    net = arms[arms.family == "network"]
    if len(net) != 2:
        return {}
    out = {s.arm: {**s._asdict(), **_network_arm(tables, s)} for s in net.itertuples(index=False)}
    a, b = (out[n] for n in net.arm)
    edges = np.linspace(0.0, TWO_PI, BINS + 1)
    combined = math.hypot(a["floor"], b["floor"])
    ratio = pair_l1(a["theta"], b["theta"], edges) / combined
    halves = []
    for first in (True, False):
        sel = []
        for arm in (a, b):
            mid = np.median(np.unique(arm["steps"]))
            sel.append(arm["theta"][(arm["steps"] < mid) == first])
        halves.append(pair_l1(sel[0], sel[1], edges) / (math.sqrt(2) * combined))
    out["pair"] = {
        "l1": ratio * combined,
        "floor": combined,
        "ratio": ratio,
        "ratio_low": min([ratio, *halves]),
        "ratio_high": max([ratio, *halves]),
        "control": a["l1_boltzmann"] / a["floor"],
        "positive": _frozen_pair(tables),
        "mu_c_set": NET_MU_C,
    }
    return out


def _frozen_pair(tables: dict[str, pd.DataFrame]) -> float:
    """L1 / combined floor between ``grand_canonical`` and the crossover arm at r = 1,
    T = 0.1 (the same density by the closed form), from their late snapshots."""
    arms = tables["arms"]
    other = arms[
        (arms.family == "crossover") & np.isclose(arms.r, 1.0) & np.isclose(arms["T"], 0.1)
    ]
    if other.empty:
        return math.nan
    parts = tables["particles"]
    x = np.linspace(-1.5, 1.5, 121)
    edges = np.linspace(-1.5, 1.5, BINS + 1)
    samples, floors = [], []
    for arm in ("grand_canonical", other.arm.iloc[0]):
        p = parts[(parts.arm == arm) & (parts.event == "alive")]
        late = p[p.step >= p.step.max() // 4]
        if late.step.nunique() < 2:
            return math.nan
        samples.append(late.theta.to_numpy())
        floors.append(split_half_floor(late.theta.to_numpy(), x, bins=BINS, groups=late.step))
    return pair_l1(samples[0], samples[1], edges) / math.hypot(*floors)


SE_RULE = 6.0
"""An extremum counts when it is beyond the running extreme by this many standard errors."""
BLOCK = 5
"""Records per block mean in :func:`realtime_extremum`."""


def realtime_extremum(mean: np.ndarray, sign: float = 1.0) -> float:
    """The largest extremum of a relaxing mean, in standard errors (the 6-SE rule).

    ``mean`` is the population mean at equally spaced record steps after a displacement of
    sign ``sign``. Block means of :data:`BLOCK` records; the second half is the stationary
    window (its mean ``m_eq`` and the standard deviation ``se`` of its block means). The
    statistic is the largest overshoot over the first half, a block beyond ``m_eq`` on the far
    side of the displacement, over ``se`` (0 when none): the first extremum of a damped
    oscillation. A monotone relaxation stays below 6 (the noise alone reaches about 3); a
    damped oscillation does not.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(0, 1500, 10.0)
    >>> noise = 0.003 * rng.standard_normal(t.size)
    >>> realtime_extremum(0.8 * np.exp(-0.01 * t) + noise) < 6
    True
    >>> realtime_extremum(0.8 * np.exp(-0.01 * t) * np.cos(0.03 * t) + noise) > 6
    True
    """
    m = sign * np.asarray(mean, dtype=float)
    nb = m.size // BLOCK
    if nb < 8:
        return math.nan
    blocks = m[: nb * BLOCK].reshape(nb, BLOCK).mean(axis=1)
    half = nb // 2
    late = blocks[half:]
    m_eq = float(late.mean())
    se = float(late.std(ddof=1))
    if not se > 0:
        return math.nan
    early = blocks[:half]
    return max(float(np.max(m_eq - early)), 0.0) / se


def measure_realtime(tables: dict[str, pd.DataFrame], seed: int = 0) -> dict[str, float]:
    """The 6-SE statistic of every displaced arm (``displaced_<arm>``; records from step 1,
    the first after the displacement), their largest
    (``value``), a planted damped oscillation (``control``: ``exp(-0.01 t) cos(0.03 t)``)
    and an exact relaxation ``(1 - eta k)^t`` (``positive``), both with the white noise of the
    displaced fixed-N arm's stationary window; empty without displaced arms."""
    arms = tables["arms"]
    if "family" not in arms.columns:
        return {}
    disp = arms[arms.family == "realtime"]
    if disp.empty:
        return {}
    traj = tables["trajectories"]
    out: dict[str, float] = {}
    noise = math.nan
    for s in disp.itertuples(index=False):
        t = traj[(traj.arm == s.arm) & (traj.step > 0)].groupby("step").q_0.mean()
        out[s.arm] = realtime_extremum(t.to_numpy())
        if s.arm == "displaced_fixed_n":
            late = t.to_numpy()[t.size // 2 :]
            noise = float(late.std(ddof=1))
            steps = t.index.to_numpy(dtype=float)
            eta = float(s.eta)
    vals = [v for k, v in out.items()]
    out["value"] = max(vals) if all(np.isfinite(vals)) else math.nan
    if math.isfinite(noise):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 29]))
        w = noise * rng.standard_normal((2, steps.size))
        planted = DISPLACEMENT * np.exp(-0.01 * steps) * np.cos(0.03 * steps)
        exact = DISPLACEMENT * (1 - eta * K) ** steps
        out["control"] = realtime_extremum(planted + w[0])
        out["positive"] = realtime_extremum(exact + w[1])
    else:
        out["control"] = out["positive"] = math.nan
    return out


def collision_chi2(
    both: np.ndarray, left: np.ndarray, right: np.ndarray, min_count: float = 5.0
) -> tuple[float, int]:
    """chi2 and dof of the joint run's bin counts against the sum of the separate runs'.

    Each argument is ``(replicas, bins)`` counts (bins of every record time side by side);
    ``d = mean(both) - mean(left) - mean(right)``, its variance the sum of the three sample
    variances over replicas divided by the replicas; bins with a joint mean below
    ``min_count`` are left out. The variance is itself estimated, with ``nu`` degrees of
    freedom (replicas - 1, summed over the runs that vary), which raises the mean of
    ``d^2 / var`` to ``nu / (nu - 2)``; chi2 is scaled by ``(nu - 2) / nu`` so that its
    expectation is ``dof``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> lam = np.full(200, 40.0)
    >>> a, b = rng.poisson(lam, (16, 200)), rng.poisson(lam, (16, 200))
    >>> ab = rng.poisson(2 * lam, (16, 200))
    >>> chi2, dof = collision_chi2(ab, a, b)
    >>> dof, bool(0.8 < chi2 / dof < 1.25)
    (200, True)
    """
    both, left, right = (np.asarray(v, dtype=float) for v in (both, left, right))
    R = min(both.shape[0], left.shape[0], right.shape[0])
    d = both.mean(axis=0) - left.mean(axis=0) - right.mean(axis=0)
    var = (both.var(axis=0, ddof=1) + left.var(axis=0, ddof=1) + right.var(axis=0, ddof=1)) / R
    keep = (both.mean(axis=0) >= min_count) & (var > 0)
    nu = sum(v.shape[0] - 1 for v in (both, left, right) if np.any(v.var(axis=0) > 0))
    scale = (nu - 2) / nu if nu > 2 else 1.0
    return float(scale * np.sum(d[keep] ** 2 / var[keep])), int(keep.sum())


COLLISION_EDGES = np.linspace(-1.6, 1.6, 41)
"""Histogram bins of the collision arms."""
COLLISION_START = 100
"""First record step compared (the packets have left their starting points); in a shorter
run, the second half of its records."""


def _collision_counts(tables: dict[str, pd.DataFrame], arm: str, start: int) -> np.ndarray:
    """Per-replica counts ``(replicas, times x bins)`` of one collision arm from ``start``."""
    parts = tables["particles"]
    p = parts[(parts.arm == arm) & (parts.event == "alive") & (parts.step >= start)]
    times = np.sort(p.step.unique())
    reps = np.sort(p.replica.unique())
    out = np.zeros((reps.size, times.size * (COLLISION_EDGES.size - 1)))
    nb = COLLISION_EDGES.size - 1
    for j, t in enumerate(times):
        sub = p[p.step == t]
        for i, r in enumerate(reps):
            th = sub.theta.to_numpy()[sub.replica.to_numpy() == r]
            out[i, j * nb : (j + 1) * nb] = np.histogram(th, bins=COLLISION_EDGES)[0]
    return out


def measure_collision(tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    """chi2/dof of the joint collision run against the separate runs (``ratio``, with a
    +-2 sd interval ``low``/``high`` from ``sqrt(2 / dof)``), a planted interference term
    (``control``: 20 % visibility, fringe period 0.4, added to the separate-run sum) and two
    halves of the joint run's replicas against each other (``positive``: equal by
    construction); empty without collision arms."""
    arms = tables["arms"]
    if "family" not in arms.columns or not (arms.family == "collision").any():
        return {}
    parts = tables["particles"]
    last = int(parts[parts.arm == "collision_both"].step.max())
    start = min(COLLISION_START, max(last // 2, 1))
    left, right, both = (
        _collision_counts(tables, f"collision_{s}", start) for s in ("left", "right", "both")
    )
    chi2, dof = collision_chi2(both, left, right)
    ratio = chi2 / dof if dof else math.nan
    sd = math.sqrt(2.0 / dof) if dof else math.nan
    centres = (COLLISION_EDGES[:-1] + COLLISION_EDGES[1:]) / 2
    x = np.tile(centres, left.shape[1] // centres.size)
    fringe = (
        0.2 * 2 * np.sqrt(left.mean(axis=0) * right.mean(axis=0)) * np.cos(2 * math.pi * x / 0.4)
    )
    c2, cdof = collision_chi2(both, left + fringe, right)
    h = both.shape[0] // 2
    p2, pdof = collision_chi2(both[:h], both[h : 2 * h], np.zeros_like(both[:h]))
    return {
        "ratio": ratio,
        "low": ratio - 2 * sd,
        "high": ratio + 2 * sd,
        "dof": float(dof),
        "control": c2 / cdof if cdof else math.nan,
        "positive": p2 / pdof if pdof else math.nan,
    }
