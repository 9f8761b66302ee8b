"""Emergent space-time of neuron states: signature, dispersion, metric, geodesics, Einstein, Lambda.

Scenario ``spacetime`` (``dualsim run spacetime``; PHYSICS.md 5-7, NUMERICS.md 4). The network
is a small-world hidden layer (``n_hidden = 24`` tanh neurons on a Watts-Strogatz ring, 2 inputs,
1 output, teacher task); neuron states are recorded every step (``record_every = 1``), so the
time unit is one learning step (dt = 1). Coarse coordinates ``X^mu`` (mu = 0 .. 3, d = D + 1 = 4)
are the mean states of four groups of hidden neurons: Louvain communities of the replica-mean
|w| graph of the hidden layer at the start (saved as the ``edges`` table, so that ``dualsim
report`` rebuilds the same groups; :mod:`scenarios.neuron_coordinates`). A slot inactive in a
replica counts as state 0. The states are *probe* states (``state_source = "probe"``): the mean
free-running state over the ``n_probe`` fixed probe inputs, a function of the weights (and of an
injected packet's drive) alone. The earlier source, the mean over each step's own mini-batch
(``state_source = "batch"``), carries the input-sampling noise of every step: its X has a lag-1
autocorrelation of about 0.1 (measured, default size), i.e. its step-to-step motion is sampling
noise, which every drift-based statistic below then measures. ``--set state_source=batch``
runs the whole scenario on the old source (then ``learning_off`` is the signature's null, as
before).

Arms (every table has an ``arm`` column)
---------------------------------------
``learning_on``
    The main ensemble (default 128 replicas, 400 steps; quick 32 replicas, 100 steps).
``learning_off``
    The same with ``learning = False`` (weights frozen). With probe states its X does not move
    at all (reported: rms step 0), so it cannot serve as the signature's null (C = D = 0); with
    batch states it is that null.
``packet``
    ``learning_on`` again (same seed, so identical up to the injection) with a localized packet
    injected at step ``steps // 2`` (:meth:`~models.LearningSystem.inject_packet`, amplitude
    ``PACKET_AMPLITUDE``, width ``PACKET_WIDTH`` neurons, decay ``PACKET_DECAY`` steps): the
    replicas are split into four blocks and block ``k`` gets the packet centred on neuron
    group ``k``; it runs ``PACKET_STEPS`` (quick ``PACKET_STEPS_QUICK``) steps past the injection.
``target_<N>``
    Neuron-count targets (``neuron_count`` controller, policy ``target``; default targets
    ``TARGETS``, quick ``TARGETS_QUICK``), run through :func:`runner.sweep.run_sweep` with the
    callable :func:`target_run`. All targets share the scenario's seed (same network and data
    stream, so that only the target differs).
``learning_on_batch``, ``learning_off_batch``
    Comparison arms (only when the main source is not ``batch``): ``learning_on`` and
    ``learning_off`` again (same seed: identical weights) recording mini-batch-mean states.
    Their signature statistic (the pre-probe verdict) and the lag-1 autocorrelation and rms step
    of their X are reported as diagnostics and in a note, not as a verdict.
The ``edges`` table (``arm = learning_on``) holds the hidden-layer wiring with the replica-mean
|w| at the start (``src, dst, weight_mean, src_kind, dst_kind``).

Statistics and verdicts (thresholds are constants of this module)
-----------------------------------------------------------------
``Lorentz signature``
    Generalised eigenvalues ``lambda_0 <= lambda_1 <= ...`` of the entropy-production form C
    against the diffusion (:func:`analysis.spacetime.signature_test`, Gaussian score,
    ``SIGNATURE_BOOTSTRAP`` replica resamples, level ``SIGNATURE_LEVEL``). Statistic: the
    Lorentz margin ``min(-lambda_0(on), lambda_1(on), lambda_0(null))``, positive exactly when
    learning on has one negative eigenvalue and the null none; its interval is the minimum
    of the three eigenvalue intervals' ends (conservative). Supported above
    ``SIGNATURE_THRESHOLD`` = 0. The null (probe states): ``learning_on`` with every step's
    increments reassigned to random replicas (:func:`increment_shuffled`: the same noise and
    mean drift at every step, but no drift that depends on where a replica is, i.e. free
    diffusion along the run's own trend; PHYSICS.md's "learning off", which with probe states
    does not move); with batch states the null is ``learning_off``. Control: the margin of the
    null alone (``min(-lambda_0, lambda_1)``). Positive control: a synthetic Lorentzian
    ensemble (one contracting and three freely spreading axes, free diffusion as its "off",
    time step ``SYN_DT``) of the same size. The entropy-production traces are reported beside it
    (a stationary ensemble with currents can be indefinite without learning). Measured caveat
    (default size): the null's eigenvalue intervals are wide (lambda_0 = -12, interval
    [-287, 1731], against on-run eigenvalues of order 6000), so its control margin can come
    out slightly positive by chance; it is reported as it is.
``emergent locality/dispersion``
    Fraction of (direction, k) with a propagating spectral peak of the hidden-neuron field over
    the 2-D spectral embedding of the |w| graph (:func:`analysis.spacetime.dispersion`),
    percentile CI from ``DISPERSION_BOOTSTRAP`` replica resamples (level 0.95). Supported above
    ``DISPERSION_THRESHOLD`` = 2/3 (the analysis module's own criterion). Control: a diffusing
    field (graph heat equation with noise) on the same graph and embedding; positive control:
    a damped, noise-driven graph wave equation on it.
``geodesic motion``
    The four packet paths (block means of X after the injection, every ``PATH_STRIDE`` steps;
    noise = the step-to-step fluctuation of the same block mean in ``learning_on`` over the same
    steps, first differences over sqrt 2) are fitted by shooting geodesics of the estimated
    (polynomial) metric and by straight lines (:func:`analysis.spacetime.geodesic_test`).
    Statistic: ``max(chi2/dof / GEODESIC_CHI2_MAX, (chi2/dof / chi2/dof_flat) /
    GEODESIC_RATIO_MAX)`` (2 and 0.5): below ``GEODESIC_THRESHOLD`` = 1 exactly when the paths
    are geodesics within twice their noise AND the metric halves the straight-line misfit (a
    packet that barely moves fits any metric and must not count). Its interval propagates that
    of the noise-scale factor ``s`` in ``chi^2 ~ s chi^2_dof`` (level 0.95; the flat fit held
    fixed). Control: the same score with the shuffled metric. Positive control: geodesics of
    de Sitter space on the same grid box (``H = 1 / extent`` of X^0), started at the packet
    paths' first samples with their mean velocities, with Gaussian noise of the paths' size,
    through the same fit (it shows whether the test detects geodesic motion on a curved metric
    when it is there). With probe states the packet paths are smooth and their noise scale
    (first differences) is small, so chi2/dof of any smooth model is large; the half of the
    score that compares the metric with straight lines is then the informative one.
``Einstein equations with Lambda``
    ``G + Lambda g = kappa T`` on the local metric of ``learning_on``
    (:func:`analysis.spacetime.local_metric`, ``METRIC_BINS`` patches per axis, the central
    ``METRIC_QUANTILE`` range of X) with a global polynomial model of degree ``METRIC_DEGREE``;
    T is dust ``rho u u`` from the ensemble density and mean velocity
    (:func:`analysis.spacetime.ensemble_fields`), which uses g only to normalise and lower u,
    never its derivatives. Statistic: relative residual over the residual of the
    permuted-pairing control, percentile CI from ``EINSTEIN_BOOTSTRAP`` replica resamples
    (level 0.95).
    Supported below ``EINSTEIN_THRESHOLD`` = 0.5. Positive control: de Sitter space
    (``H = 1``, spacing 0.2) on a grid of the same shape through the same polynomial fit.
``Lambda tracks N``
    Slope of the fitted Lambda against the mean neuron number over the target runs (second
    half of each run), percentile CI from ``EINSTEIN_BOOTSTRAP // 2`` replica resamples of
    every target (resample ``b`` of all targets gives slope ``b``; level 0.95). The sign is not
    fixed by the theory: the statistic is ``|slope|`` with the interval multiplied by
    ``sign(slope)``; supported above ``LAMBDA_SLOPE_THRESHOLD`` = 0 (the interval excludes 0).
    Control: ``|slope|`` of the permuted-pairing control's Lambda (the framework calls a
    verdict inconclusive when the control passes too: then Lambda moves with N for reasons
    that have nothing to do with the Einstein relation, e.g. the scale of X changing with N).
    A target whose X admits no metric on the shared grid box (no patch reaches the minimum
    weight: its X is spread too thin) is left out with a note and a ``left_out`` diagnostic
    row; bootstrap resamples without a metric are dropped; fewer than 2 targets left fail the
    run.

Units: X in neuron-state units; time in learning steps; C, g in inverse time over the diffusion
reference (eigenvalues) or per step (grids); Lambda in inverse squared X units.

Run as ``dualsim run spacetime`` or ``spacetime.run()``.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy import stats

from analysis.spacetime import (
    dispersion,
    ensemble_fields,
    fit_einstein,
    four_velocity,
    geodesic_test,
    local_metric,
    neuron_groups,
    polynomial_metric,
    signature_test,
    spectral_embedding,
    stress_energy_dust,
)
from analysis.verdicts import Verdict, diagnostics_frame
from models import LearningSystem, SystemConfig
from runner import (
    Analysis,
    AnalysisFailed,
    Experiment,
    arm_tables,
    concat_arms,
    run_arm,
    scenario_run,
)
from runner.sweep import collect, run_sweep
from scenarios.neuron_coordinates import (
    D_GROUPS,
    arm_coordinates,
    arm_states,
    check_network,
    inject_block_packets,
    tidy_events,
)

PACKET_STEPS = 40
PACKET_STEPS_QUICK = 12
PATH_STRIDE = 2
PACKET_BLOCKS = 4
TARGETS = (12, 16, 20, 24)
TARGETS_QUICK = (14, 24)
TARGET_GAIN = 0.2
TARGET_BETA = 100.0

SIGNATURE_BOOTSTRAP = 400
SIGNATURE_LEVEL = 0.99
SIGNATURE_THRESHOLD = 0.0
DISPERSION_BOOTSTRAP = 40
DISPERSION_THRESHOLD = 2.0 / 3.0
GEODESIC_CHI2_MAX = 2.0
GEODESIC_RATIO_MAX = 0.5
GEODESIC_THRESHOLD = 1.0
SYN_DT = 0.02
METRIC_BINS = 7
METRIC_QUANTILE = (0.01, 0.99)
METRIC_DEGREE = 3
EINSTEIN_BOOTSTRAP = 20
EINSTEIN_THRESHOLD = 0.5
LAMBDA_SLOPE_THRESHOLD = 0.0
CI_LEVEL = 0.95


# --------------------------------------------------------------------------------------------
# simulation
# --------------------------------------------------------------------------------------------


def _sizes(quick: bool) -> dict[str, Any]:
    return {
        "packet_steps": PACKET_STEPS_QUICK if quick else PACKET_STEPS,
        "targets": TARGETS_QUICK if quick else TARGETS,
        "segments": 2 if quick else 4,
        "min_weight": 3.0 if quick else 20.0,
        "einstein_bootstrap": 5 if quick else EINSTEIN_BOOTSTRAP,
        "dispersion_bootstrap": 10 if quick else DISPERSION_BOOTSTRAP,
        "signature_bootstrap": 100 if quick else SIGNATURE_BOOTSTRAP,
    }


def _edges(model: LearningSystem, arm: str) -> pd.DataFrame:
    """Wiring of the model with the replica-mean |w| (``W[r, dst, src]``) of every edge."""
    adj = model.ensemble.adjacency != 0
    dst, src = np.nonzero(adj)
    w = np.abs(model.ensemble.w[:, dst, src]).mean(axis=0)
    kinds = np.asarray(model.architecture.kinds)
    return pd.DataFrame(
        {
            "src": src.astype(int),
            "dst": dst.astype(int),
            "weight_mean": w.astype(float),
            "src_kind": kinds[src],
            "dst_kind": kinds[dst],
            "arm": arm,
        }
    )


def _graph(edges: pd.DataFrame) -> nx.Graph:
    """Undirected |w| graph of the neurons in an ``edges`` table (kinds as node attributes)."""
    g = nx.Graph()
    for col, kcol in (("src", "src_kind"), ("dst", "dst_kind")):
        g.add_nodes_from(
            (int(n), {"kind": str(k)}) for n, k in zip(edges[col], edges[kcol], strict=True)
        )
    for s, t, w in zip(edges["src"], edges["dst"], edges["weight_mean"], strict=True):
        s, t = int(s), int(t)
        if s == t:
            continue
        old = g.edges[s, t]["weight"] if g.has_edge(s, t) else 0.0
        g.add_edge(s, t, weight=old + float(w))
    return g


def hidden_groups(edges: pd.DataFrame, seed: int) -> list[list[int]]:
    """The ``D_GROUPS`` groups of hidden neurons (Louvain communities of the |w| graph).

    Examples
    --------
    >>> e = pd.DataFrame({"src": [0, 1, 2, 3, 4, 5, 6, 7], "dst": [1, 2, 3, 4, 5, 6, 7, 0],
    ...                   "weight_mean": 1.0, "src_kind": "hidden", "dst_kind": "hidden"})
    >>> [len(g) for g in hidden_groups(e, 0)]
    [2, 2, 2, 2]
    """
    return [
        [int(n) for n in grp]
        for grp in neuron_groups(_graph(edges), D_GROUPS, seed=seed, kinds=("hidden",))
    ]


def default_config(quick: bool = False) -> SystemConfig:
    """The scenario's network: small-world hidden layer of 24, probe states every step.

    Examples
    --------
    >>> cfg = default_config(quick=True)
    >>> cfg.replicas, cfg.record_every, cfg.state_source
    (32, 1, 'probe')
    """
    return SystemConfig(
        replicas=32 if quick else 128,
        n_input=2,
        n_hidden=24,
        n_output=1,
        topology="small_world",
        small_world_k=4,
        small_world_p=0.1,
        task="teacher",
        step_size=0.05,
        batch_size=16,
        relax_steps=10,
        forward_sweeps=3,
        record_every=1,
        n_probe=8,
        state_source="probe",
        seed=0,
    )


def _target_config(config: SystemConfig, target: float) -> SystemConfig:
    spec = {
        "type": "neuron_count",
        "policy": "target",
        "target": float(target),
        "gain": TARGET_GAIN,
        "beta_c": TARGET_BETA,
        "probe_samples": min(8, config.n_probe),
    }
    return config.replace(controllers=(spec,))


def target_run(
    config: SystemConfig,
    out: str | Path,
    quick: bool = False,
    steps: int | None = None,
    progress: bool = False,
    *,
    seed: int = 0,
) -> None:
    """One neuron-count target (a :func:`runner.sweep.run_sweep` scenario callable).

    Runs ``config`` (which carries the ``neuron_count`` target controller) with the scenario's
    ``seed`` (not the sweep's run seed: every target then has the same network and data) and
    writes its ``model``, ``trajectories``, ``neuron_states`` and ``events`` tables to ``out``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config.replace(seed=int(seed))
    target = cfg.controllers[0]["target"]
    model = run_arm(f"target_{target:g}", partial(LearningSystem, cfg), int(steps or 100), progress)
    for name, frame in arm_tables(model, f"target_{target:g}").items():
        frame.to_parquet(out / f"{name}.parquet", index=False)


def _target_tables(
    config: SystemConfig, targets: tuple[int, ...], steps: int, progress: bool
) -> dict[str, pd.DataFrame]:
    base = _target_config(config, targets[0])
    grid = {"controllers.neuron_count.target": [float(t) for t in targets]}
    with tempfile.TemporaryDirectory(prefix="dualsim-spacetime-targets-") as tmp:
        res = run_sweep(
            base,
            grid,
            out=tmp,
            scenario=target_run,
            steps=steps,
            options={"seed": int(config.seed)},
            progress=progress,
        )
        if res.failed:
            err = res.index.loc[res.index["status"] != "done", "error"].iloc[0]
            raise AnalysisFailed(f"neuron-count target run failed: {err}")
        out = {}
        for name in ("model", "trajectories", "neuron_states", "events"):
            frame = collect(tmp, name)
            frame = frame.drop(
                columns=[
                    "controllers.neuron_count.target",
                    "run_id",
                    "point",
                    "replicate",
                    "seed",
                ]
            )
            out[name] = frame
    return out


class SpacetimeScenario(Experiment):
    """Emergent space-time: Lorentz signature, dispersion, metric, geodesics, Einstein, Lambda."""

    name = "spacetime"
    quick_steps = 100
    default_steps = 400

    def default_config(self, quick: bool) -> SystemConfig:
        return default_config(quick)

    def simulate(
        self, config: SystemConfig, quick: bool, steps: int, progress: bool
    ) -> dict[str, pd.DataFrame]:
        check_network(config)
        sizes = _sizes(quick)
        build_on = partial(LearningSystem, config)
        edges = _edges(build_on(), "learning_on")
        groups = hidden_groups(edges, config.seed)
        parts = [{"edges": edges}]
        on = run_arm("learning_on", build_on, steps, progress)
        parts.append(arm_tables(on, "learning_on"))
        off_cfg = config.replace(learning=False)
        off = run_arm("learning_off", partial(LearningSystem, off_cfg), steps, progress)
        parts.append(arm_tables(off, "learning_off"))
        inject = steps // 2
        packet = run_arm(
            "packet",
            build_on,
            inject + sizes["packet_steps"],
            progress,
            actions={inject: partial(inject_block_packets, groups=groups, blocks=PACKET_BLOCKS)},
        )
        parts.append(arm_tables(packet, "packet"))
        parts.append(_target_tables(config, sizes["targets"], steps, progress))
        if config.state_source != "batch":
            # comparison arms: the same runs with mini-batch-mean states (the old source)
            for arm, cfg in (("learning_on", config), ("learning_off", off_cfg)):
                bcfg = cfg.replace(state_source="batch")
                model = run_arm(f"{arm}_batch", partial(LearningSystem, bcfg), steps, progress)
                parts.append(arm_tables(model, f"{arm}_batch"))
        tables = concat_arms(parts)
        # event tables mix controller and model rows: numbers as floats, the rest as strings
        tables["events"] = tidy_events(tables["events"])
        return tables

    def analyse(
        self, tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
    ) -> Analysis:
        return _analyse(tables, config, meta)


SCENARIO = SpacetimeScenario()


run = scenario_run(
    SCENARIO,
    "Run the ``spacetime`` scenario (all arms), save and analyse it.",
    " (32 replicas, about 30 s)",
)


# --------------------------------------------------------------------------------------------
# analysis helpers
# --------------------------------------------------------------------------------------------


def _margin(pt_on: Any, pt_off: Any | None) -> tuple[float, float, float]:
    """Lorentz margin and its conservative interval (see the module docstring)."""
    lam, ci = pt_on.eigenvalues, pt_on.eigenvalue_ci
    vals = [-lam[0], float(np.min(lam[1:]))]
    los = [-ci[0, 1], float(np.min(ci[1:, 0]))]
    his = [-ci[0, 0], float(np.min(ci[1:, 1]))]
    if pt_off is not None:
        vals.append(pt_off.eigenvalues[0])
        los.append(pt_off.eigenvalue_ci[0, 0])
        his.append(pt_off.eigenvalue_ci[0, 1])
    return float(min(vals)), float(min(los)), float(min(his))


def _synthetic_signature(T: int, R: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positive control: one contracting and d-1 freely spreading axes; free diffusion as 'off'.

    Ornstein-Uhlenbeck with rates (5, 0, ..., 0) per unit time, D = 0.5, dt = ``SYN_DT``, from
    a standard normal start.
    """
    rng = np.random.default_rng([seed, 11])
    rate = np.array([5.0] + [0.0] * (d - 1))
    kick = math.sqrt(2 * 0.5 * SYN_DT)
    on = np.empty((T, R, d))
    off = np.empty((T, R, d))
    on[0] = rng.normal(size=(R, d))
    off[0] = rng.normal(size=(R, d))
    for t in range(T - 1):
        on[t + 1] = on[t] - SYN_DT * rate * on[t] + kick * rng.normal(size=(R, d))
        off[t + 1] = off[t] + kick * rng.normal(size=(R, d))
    return on, off


def _lag1(X: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of each coordinate within replicas (replica means removed).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(400, 8, 2))
    >>> bool(np.all(np.abs(_lag1(x)) < 0.1))
    True
    >>> _lag1(np.ones((5, 3, 1)) / 3).tolist()  # a coordinate that never moves
    [nan]
    """
    z = X - X.mean(axis=0, keepdims=True)
    num = np.sum(z[1:] * z[:-1], axis=(0, 1))
    den = np.sum(z * z, axis=(0, 1))
    # a coordinate that does not move (up to rounding of the mean) has no autocorrelation
    still = den <= 1e-24 * np.maximum(np.sum(X * X, axis=(0, 1)), 1e-300)
    return np.where(still, np.nan, num / np.where(still, 1.0, den))


def increment_shuffled(X: np.ndarray, seed: int) -> np.ndarray:
    """Null ensemble: ``X`` with each step's increments reassigned to random replicas.

    ``Y_0 = X_0`` and ``Y_{t+1} = Y_t + (X_{t+1} - X_t)[pi_t]`` with an independent random
    permutation ``pi_t`` of the replicas at every step: every step keeps the same set of
    increments (noise and mean drift), but an increment no longer depends on the position it is
    applied at, so the drift Jacobian of the result is zero up to sampling noise (free
    diffusion: no negative eigenvalue of C). Shape (T, R, d) in and out.

    Examples
    --------
    >>> x = np.cumsum(np.random.default_rng(0).normal(size=(50, 6, 2)), axis=0)
    >>> y = increment_shuffled(x, 0)
    >>> bool(np.allclose(np.sort(np.diff(y, axis=0), axis=1), np.sort(np.diff(x, axis=0), axis=1)))
    True
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 3 or X.shape[0] < 2:
        raise ValueError(f"X: shape {X.shape}; expected (T >= 2, R, d)")
    rng = np.random.default_rng([seed, 19])
    inc = np.diff(X, axis=0)
    perm = np.argsort(rng.random(inc.shape[:2]), axis=1)
    inc = np.take_along_axis(inc, perm[:, :, None], axis=1)
    return np.concatenate([X[:1], X[:1] + np.cumsum(inc, axis=0)])


def _laplacian(a: np.ndarray) -> np.ndarray:
    a = 0.5 * (np.abs(a) + np.abs(a).T)
    np.fill_diagonal(a, 0.0)
    a = (a > 0).astype(float)
    return np.diag(a.sum(axis=1)) - a


def _graph_field(lap: np.ndarray, T: int, R: int, kind: str, seed: int) -> np.ndarray:
    """Noise-driven field on a graph: ``diffusing`` (heat equation) or ``wave`` (damped wave)."""
    rng = np.random.default_rng([seed, 13 if kind == "wave" else 17])
    n = len(lap)
    lam_max = float(np.linalg.eigvalsh(lap)[-1])
    burn = 200
    phi = np.zeros((R, n))
    prev = np.zeros((R, n))
    out = np.empty((T, R, n))
    if kind == "wave":
        c2 = (1.5 / math.sqrt(lam_max)) ** 2  # highest mode at omega = 1.5 (leapfrog-stable)
        for t in range(T + burn):
            nxt = 2 * phi - prev - c2 * phi @ lap - 0.02 * (phi - prev)
            nxt += 0.05 * rng.normal(size=(R, n))
            prev, phi = phi, nxt
            if t >= burn:
                out[t - burn] = phi
    else:
        dcoef = 0.4 / lam_max
        for t in range(T + burn):
            phi = phi - dcoef * phi @ lap - 0.01 * phi + 0.1 * rng.normal(size=(R, n))
            if t >= burn:
                out[t - burn] = phi
    return out


def _hidden_weights(edges: pd.DataFrame, hidden: list[int]) -> np.ndarray:
    idx = {n: i for i, n in enumerate(hidden)}
    a = np.zeros((len(hidden), len(hidden)))
    e = edges[(edges["src_kind"] == "hidden") & (edges["dst_kind"] == "hidden")]
    for s, t, w in zip(e["src"], e["dst"], e["weight_mean"], strict=True):
        a[idx[int(t)], idx[int(s)]] = float(w)
    return a


def _boot_indices(R: int, n: int, seed: int, salt: int) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, salt])
    return [rng.integers(0, R, R) for _ in range(n)]


def _ci(values: np.ndarray, point: float, level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of ``values`` (``point`` is only checked to be finite)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2 or not np.isfinite(point):
        raise AnalysisFailed(f"bootstrap: {v.size} finite resample(s); expected at least 2")
    lo, hi = np.percentile(v, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


def _metric_box(X: np.ndarray, extra: list[np.ndarray] | None = None) -> np.ndarray:
    pts = X.reshape(-1, X.shape[-1])
    lo, hi = np.quantile(pts, METRIC_QUANTILE, axis=0)
    if extra:
        allp = np.concatenate([p.reshape(-1, X.shape[-1]) for p in extra])
        lo = np.minimum(lo, allp.min(axis=0))
        hi = np.maximum(hi, allp.max(axis=0))
    # the metric grid spans the patch centres: pad so that the box above is inside them
    pad = 0.6 * (hi - lo) / (METRIC_BINS - 1)
    return np.stack([lo - pad, hi + pad], axis=1)


def _einstein(X: np.ndarray, limits: np.ndarray, min_weight: float, seed: int) -> dict[str, Any]:
    """Local metric, its polynomial model, dust T and the Einstein fit of one ensemble."""
    lm = local_metric(X, 1.0, bins=METRIC_BINS, limits=limits, min_weight=min_weight)
    gpoly = polynomial_metric(lm.g, METRIC_DEGREE)
    shape = lm.g.shape[: X.shape[-1]]
    fields = ensemble_fields(X, shape, lm.spacing, lm.origin, 1.0, min_weight=1.0)
    u, _ = four_velocity(fields.velocity, gpoly)
    u = np.where(np.isfinite(u), u, 0.0)
    T = stress_energy_dust(fields.rho, u, gpoly)
    fit = fit_einstein(gpoly, T, lm.spacing, seed=seed)
    return {"lm": lm, "gpoly": gpoly, "fit": fit, "fields": fields}


def _de_sitter(shape: tuple[int, ...]) -> float:
    """Positive control: residual ratio of de Sitter space (H = 1, spacing 0.2, flat slicing)
    on a grid of the metric's shape, through the same polynomial model and fit."""
    from analysis.geometry import grid_coordinates

    x = grid_coordinates(shape, 0.2, 0.0)
    g = np.zeros((*shape, 4, 4))
    g[..., 0, 0] = -1.0
    for k in (1, 2, 3):
        g[..., k, k] = np.exp(2.0 * x[..., 0])
    fit = fit_einstein(polynomial_metric(g, METRIC_DEGREE), None, 0.2)
    return float(fit.residual / fit.residual_control)


def de_sitter_grid(shape: tuple[int, ...], spacing: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """De Sitter metric ``-dt^2 + exp(2 H (x^0 - o^0)) dx^2`` on a grid, ``H = 1 / extent^0``.

    Examples
    --------
    >>> g = de_sitter_grid((5, 5, 5, 5), np.full(4, 0.25), np.zeros(4))
    >>> round(float(g[4, 0, 0, 0, 1, 1]), 3)  # exp(2 * 1 * 1)
    7.389
    """
    from analysis.geometry import grid_coordinates

    H = 1.0 / (spacing[0] * (shape[0] - 1))
    x = grid_coordinates(shape, spacing, origin)
    g = np.zeros((*shape, 4, 4))
    g[..., 0, 0] = -1.0
    for k in (1, 2, 3):
        g[..., k, k] = np.exp(2.0 * H * (x[..., 0] - origin[0]))
    return g


def _geodesic_positive(paths: list[np.ndarray], noise: np.ndarray, lm: Any, seed: int) -> Any:
    """Positive control: geodesics of de Sitter space on the metric's grid box, started like
    the packet paths (first sample, mean velocity over the path), with Gaussian noise of the
    paths' size, cut where they (noise included) leave the grid box, fitted by the same test on
    that metric; paths left with fewer than 3 samples are dropped (None if none is left)."""
    from analysis.geometry import geodesic

    shape = lm.g.shape[:4]
    g = de_sitter_grid(shape, lm.spacing, lm.origin)
    x0 = np.stack([p[0] for p in paths])
    v0 = np.stack([(p[-1] - p[0]) / (PATH_STRIDE * (len(p) - 1)) for p in paths])
    n = max(len(p) for p in paths)
    try:
        synth = geodesic(g, lm.spacing, lm.origin, x0, v0, n - 1, PATH_STRIDE).path
    except ValueError:
        return None
    rng = np.random.default_rng([seed, 7])
    lo = np.asarray(lm.origin, dtype=float)
    hi = lo + np.asarray(lm.spacing, dtype=float) * (np.asarray(shape) - 1)
    out, kept = [], []
    for i, p in enumerate(paths):
        q = synth[: len(p), i]
        q = q + noise[i] * rng.normal(size=q.shape)
        inside = np.all(np.isfinite(q) & (q >= lo) & (q <= hi), axis=1)
        q = q[: int(np.argmin(inside)) if not inside.all() else len(q)]
        if len(q) >= 3:  # a noisy sample outside the box ends the path, as for the data
            out.append(q)
            kept.append(i)
    if not out:
        return None
    try:
        return geodesic_test(out, g, lm.spacing, lm.origin, noise[kept], PATH_STRIDE, substeps=1)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# the analysis
# --------------------------------------------------------------------------------------------


def _analyse(
    tables: dict[str, pd.DataFrame], config: SystemConfig, meta: dict[str, Any]
) -> Analysis:
    quick = bool(meta.get("quick", False))
    sizes = _sizes(quick)
    seed = int(config.seed)
    rows: list[dict[str, Any]] = []
    summary: dict[str, float | int | str] = {}
    notes: list[str] = []
    verdicts: list[Verdict] = []
    ctx: dict[str, Any] = {}

    edges = tables["edges"]
    groups = hidden_groups(edges, seed)
    hidden = sorted(int(n) for g in groups for n in g)
    ctx["groups"] = groups
    summary["groups"] = " | ".join(",".join(map(str, g)) for g in groups)

    def coords(arm: str) -> np.ndarray:
        return arm_coordinates(tables, arm, groups)

    X_on, X_off = coords("learning_on"), coords("learning_off")
    T, R, d = X_on.shape
    probe = config.state_source != "batch"
    arms = set(tables["neuron_states"]["arm"].unique())

    # ---- Lorentz signature ---------------------------------------------------------------
    nb = sizes["signature_bootstrap"]
    sig_kw = {"bootstrap": nb, "level": SIGNATURE_LEVEL, "seed": seed}
    if probe:
        # probe states are a function of the weights alone: with learning off X does not move
        # (C = D = 0), so the null is learning_on with its increments decoupled from position
        null_arm, X_null = "increment_shuffled", increment_shuffled(X_on, seed)
        null_label = "increment-shuffled learning_on"
    else:
        null_arm, X_null, null_label = "learning_off", X_off, "learning_off"
    sig = signature_test(X_on, X_null, 1.0, **sig_kw)
    value, lo, hi = _margin(sig.on, sig.off)
    ctrl = _margin(sig.off, None)[0]
    syn_on, syn_off = _synthetic_signature(T, R, d, seed)
    pos = signature_test(syn_on, syn_off, SYN_DT, **sig_kw)
    pos_value = _margin(pos.on, pos.off)[0]
    verdicts.append(
        Verdict(
            "Lorentz signature",
            f"Lorentz margin min(-lam0 on, lam1 on, lam0 {'null' if probe else 'off'}) of C "
            "(generalised eigenvalues)",
            value,
            lo,
            hi,
            f"{null_label} alone: min(-lam0, lam1)",
            ctrl,
            SIGNATURE_THRESHOLD,
            ">",
            pos_value,
        )
    )
    tensors = [("learning_on", sig.on), (null_arm, sig.off), ("positive", pos.on)]
    batch_arms = ("learning_on_batch", "learning_off_batch")
    if probe and set(batch_arms) <= arms:
        X_b = [coords(a) for a in batch_arms]
        sig_b = signature_test(X_b[0], X_b[1], 1.0, **sig_kw)
        tensors += [("learning_on_batch", sig_b.on), ("learning_off_batch", sig_b.off)]
        margin_b = _margin(sig_b.on, sig_b.off)
        names = ("lorentz_margin", "lorentz_margin_low", "lorentz_margin_high")
        for q, v in zip(names, margin_b, strict=True):
            rows.append(
                {"arm": "learning_on_batch", "diagnostic": "signature", "quantity": q, "value": v}
            )
        summary["lorentz_margin_batch"] = margin_b[0]
        summary["signature_on_batch"] = str(sig_b.on.signature)
        notes.append(
            "Comparison (mini-batch-mean states, arms learning_on_batch / learning_off_batch, "
            f"the old source): Lorentz margin {margin_b[0]:.4g} "
            f"[{margin_b[1]:.4g}, {margin_b[2]:.4g}]; {sig_b.summary}."
        )
    for arm, pt in tensors:
        for i, lam in enumerate(pt.eigenvalues):
            rows.append(
                {
                    "arm": arm,
                    "diagnostic": "signature",
                    "quantity": f"lambda_{i}",
                    "value": lam,
                    "ci_low": pt.eigenvalue_ci[i, 0],
                    "ci_high": pt.eigenvalue_ci[i, 1],
                }
            )
        rows.append(
            {
                "arm": arm,
                "diagnostic": "signature",
                "quantity": "entropy_production",
                "value": pt.entropy_production,
                "ci_low": pt.entropy_production_ci[0],
                "ci_high": pt.entropy_production_ci[1],
            }
        )
        for q in ("learning_rate", "stochastic_rate", "timelike_stability"):
            rows.append(
                {"arm": arm, "diagnostic": "signature", "quantity": q, "value": getattr(pt, q)}
            )
    summary["signature_on"] = str(sig.on.signature)
    summary[f"signature_{'null' if probe else 'off'}"] = str(sig.off.signature)
    motion = [("learning_on", X_on), ("learning_off", X_off)]
    if probe and set(batch_arms) <= arms:
        motion += list(zip(batch_arms, X_b, strict=True))
    for arm, X in motion:
        r1 = _lag1(X)
        step_rms = np.sqrt(np.mean(np.diff(X, axis=0) ** 2, axis=(0, 1)))
        for mu in range(d):
            for q, v in ((f"lag1_autocorr_X{mu}", r1[mu]), (f"step_rms_X{mu}", step_rms[mu])):
                rows.append({"arm": arm, "diagnostic": "coordinates", "quantity": q, "value": v})
        summary[f"lag1_autocorr_{arm}"] = float(np.mean(r1))
        summary[f"step_rms_{arm}"] = float(np.mean(step_rms))
    if probe:
        notes.append(
            "X is built from probe states (state_source = probe: mean free-running states over "
            "fixed probe inputs, a function of the weights alone): lag-1 autocorrelation "
            f"{summary['lag1_autocorr_learning_on']:.3f} with learning on (mean over axes). "
            "With learning off X does not move at all (rms step "
            f"{summary['step_rms_learning_off']:.3g}), so the signature's null is learning_on "
            "with each step's increments reassigned to random replicas "
            "(:func:`increment_shuffled`: same noise and mean drift, no position-dependent drift)."
        )
    else:
        notes.append(
            "X is built from mini-batch-mean neuron states (a fresh batch every step): a lag-1 "
            f"autocorrelation near 0 (here {summary['lag1_autocorr_learning_on']:.3f} on, "
            f"{summary['lag1_autocorr_learning_off']:.3f} off, mean over axes) means the "
            "step-to-step motion of X is sampling noise around each replica's mean, so the drift "
            "regression sees mean reversion of order -1/step in every direction, learning on or "
            "off."
        )
    notes.append(f"Signature test: {sig.summary}.")
    ctx["signature"] = (sig, pos, null_label)

    # ---- dispersion ----------------------------------------------------------------------
    a = _hidden_weights(edges, hidden)
    emb = spectral_embedding(a, dim=2)
    field_on = arm_states(tables, "learning_on", hidden)
    seg = sizes["segments"]
    disp = dispersion(field_on, emb, 1.0, segments=seg)
    boots = [
        float(dispersion(field_on[:, idx], emb, 1.0, segments=seg).propagating.mean())
        for idx in _boot_indices(R, sizes["dispersion_bootstrap"], seed, 3)
    ]
    frac = float(disp.propagating.mean())
    lo, hi = _ci(np.array(boots), frac)
    lap = _laplacian(a)
    diff_field = _graph_field(lap, field_on.shape[0], R, "diffusing", seed)
    wave_field = _graph_field(lap, field_on.shape[0], R, "wave", seed)
    disp_diff = dispersion(diff_field, emb, 1.0, segments=seg)
    disp_wave = dispersion(wave_field, emb, 1.0, segments=seg)
    verdicts.append(
        Verdict(
            "emergent locality/dispersion",
            "fraction of (direction, k) with a propagating peak in S(k, omega)",
            frac,
            lo,
            hi,
            "diffusing graph field (heat equation + noise)",
            float(disp_diff.propagating.mean()),
            DISPERSION_THRESHOLD,
            ">",
            float(disp_wave.propagating.mean()),
        )
    )
    for arm, res in (("learning_on", disp), ("diffusing", disp_diff), ("wave", disp_wave)):
        for a_dir in range(res.c.shape[0]):
            for q, v in (
                ("c", res.c[a_dir]),
                ("mass2", res.mass2[a_dir]),
                ("r2_wave", res.r2_wave[a_dir]),
                ("diffusion", res.diffusion[a_dir]),
                ("r2_diffusive", res.r2_diffusive[a_dir]),
            ):
                rows.append(
                    {
                        "arm": arm,
                        "diagnostic": "dispersion",
                        "quantity": f"{q}_dir{a_dir}",
                        "value": float(v) if np.isfinite(v) else np.nan,
                    }
                )
        rows.append(
            {
                "arm": arm,
                "diagnostic": "dispersion",
                "quantity": "fraction_propagating",
                "value": float(res.propagating.mean()),
            }
        )
    summary["dispersion_verdict_on"] = disp.verdict
    ctx["dispersion"] = (disp, disp_diff, disp_wave)

    # ---- packet paths --------------------------------------------------------------------
    X_pk = coords("packet")
    ev = tables["events"]
    inj = ev[(ev["arm"] == "packet") & (ev["action"] == "inject_packet")]
    if inj.empty:
        raise AnalysisFailed("events: no inject_packet event in the packet arm")
    t_inj = int(inj["step"].min())
    # X_pk[i] is step i + 1; paths are sampled every PATH_STRIDE steps (geodesic fits are costly)
    blocks = np.array_split(np.arange(X_pk.shape[1]), PACKET_BLOCKS)
    seg_pk = X_pk[t_inj::PATH_STRIDE]  # the packet acts from step t_inj + 1 on
    paths = [seg_pk[:, b].mean(axis=1) for b in blocks]
    # path noise: fluctuation of the same block mean in the unperturbed arm over the same
    # steps (first differences over sqrt 2, which removes the slow learning drift)
    ref = X_on[t_inj : t_inj + len(seg_pk) * PATH_STRIDE : PATH_STRIDE]
    noise = np.array(
        [float(np.std(np.diff(ref[:, b].mean(axis=1), axis=0)) / np.sqrt(2)) for b in blocks]
    )
    noise = np.maximum(noise, 1e-12)
    limits = _metric_box(X_on, paths)

    # ---- metric and Einstein -------------------------------------------------------------
    mw = sizes["min_weight"]
    ein = _einstein(X_on, limits, mw, seed)
    lm, gpoly, fit = ein["lm"], ein["gpoly"], ein["fit"]
    ratio = fit.residual / fit.residual_control
    boot_ratio = []
    for k, idx in enumerate(_boot_indices(R, sizes["einstein_bootstrap"], seed, 5)):
        f = _einstein(X_on[:, idx], limits, mw, seed + k + 1)["fit"]
        boot_ratio.append(f.residual / f.residual_control)
    lo, hi = _ci(np.array(boot_ratio), ratio)
    verdicts.append(
        Verdict(
            "Einstein equations with Lambda",
            "|G + Lambda g - kappa T| / same with permuted pairing (dust T, polynomial g)",
            ratio,
            lo,
            hi,
            "permuted pairing of G with (g, T)",
            1.0,
            EINSTEIN_THRESHOLD,
            "<",
            _de_sitter(lm.g.shape[:d]),
        )
    )
    eig = np.linalg.eigvalsh(gpoly)
    n_neg = (eig < 0).sum(axis=-1)
    for q, v in (
        ("Lambda", fit.Lambda),
        ("kappa", fit.kappa),
        ("residual", fit.residual),
        ("residual_control", fit.residual_control),
        ("trace_residual", fit.trace_residual),
        ("valid_patch_fraction", float(lm.valid.mean())),
        ("lorentzian_point_fraction", float(np.mean(n_neg == 1))),
        ("negative_eigenvalues_mean", float(n_neg.mean())),
    ):
        rows.append({"arm": "learning_on", "diagnostic": "einstein", "quantity": q, "value": v})
    summary["Lambda_on"] = float(fit.Lambda)
    summary["metric_valid_patches"] = float(lm.valid.mean())
    ctx["metric"] = (lm, gpoly)

    # ---- geodesic motion -----------------------------------------------------------------
    geo = geodesic_test(
        paths, gpoly, lm.spacing, lm.origin, noise, PATH_STRIDE, substeps=1, seed=seed
    )
    dof = geo.dof
    q_lo, q_hi = stats.chi2.ppf([(1 - CI_LEVEL) / 2, (1 + CI_LEVEL) / 2], dof) / dof
    from analysis.geometry import geodesic

    n_max = int(geo.n_samples.max())
    synth = geodesic(gpoly, lm.spacing, lm.origin, geo.x0, geo.v0, n_max - 1, PATH_STRIDE).path
    pos_geo = _geodesic_positive(paths, noise, lm, seed)

    def geo_score(chi: float, flat: float) -> float:
        return max(chi / GEODESIC_CHI2_MAX, chi / flat / GEODESIC_RATIO_MAX)

    flat = max(geo.chi2_dof_flat, 1e-300)
    score = geo_score(geo.chi2_dof, flat)
    shuffled = geo.chi2_dof_shuffled
    if not np.isfinite(shuffled):
        raise AnalysisFailed("geodesic: the shuffled-metric control could not be evaluated")
    pos_score = np.nan
    if pos_geo is None:
        notes.append(
            "geodesic positive control: the de Sitter geodesics from the paths' starts leave the "
            "metric's box within 3 samples; no positive-control value"
        )
    else:
        pos_score = geo_score(pos_geo.chi2_dof, max(pos_geo.chi2_dof_flat, 1e-300))
    verdicts.append(
        Verdict(
            "geodesic motion",
            "max(chi2/dof / 2, (chi2/dof / flat chi2/dof) / 0.5) of packet paths on the metric",
            score,
            geo_score(geo.chi2_dof / q_hi, flat),
            geo_score(geo.chi2_dof / q_lo, flat),
            "shuffled metric (same score)",
            geo_score(shuffled, flat),
            GEODESIC_THRESHOLD,
            "<",
            pos_score,
        )
    )
    for q, v in (
        ("chi2_dof", geo.chi2_dof),
        ("chi2_dof_flat", geo.chi2_dof_flat),
        ("chi2_dof_shuffled", geo.chi2_dof_shuffled),
        ("dof", float(dof)),
        ("injection_step", float(t_inj)),
    ):
        rows.append({"arm": "packet", "diagnostic": "geodesic", "quantity": q, "value": v})
    for i in range(len(paths)):
        rows.append(
            {
                "arm": "packet",
                "diagnostic": "geodesic",
                "quantity": f"chi2_dof_path{i}",
                "value": geo.per_path[i],
            }
        )
    ctx["geodesic"] = (paths, noise, geo, synth)

    # ---- Lambda against N ----------------------------------------------------------------
    arms = [a for a in tables["neuron_states"]["arm"].unique() if str(a).startswith("target_")]
    if len(arms) < 2:
        raise AnalysisFailed(f"neuron_states: {len(arms)} target arm(s); expected >= 2")
    traj = tables["trajectories"]
    lam_rows = []
    nbt = max(sizes["einstein_bootstrap"] // 2, 3)
    lam_boot = np.full((len(arms), nbt), np.nan)
    lamc_boot = np.full((len(arms), nbt), np.nan)
    kept = []
    for j, arm in enumerate(sorted(arms, key=lambda s: float(s.split("_")[1]))):
        Xt = coords(arm)
        half = Xt.shape[0] // 2
        Xt = Xt[half:]
        tt = traj[traj["arm"] == arm]
        n_mean = float(tt.loc[tt["step"] >= tt["step"].max() / 2, "n_neurons"].mean())
        try:
            f = _einstein(Xt, limits, mw, seed)["fit"]
        except ValueError as exc:
            # e.g. a target's X spread so thin over the box that no patch reaches min_weight
            notes.append(f"Lambda tracks N: {arm} left out; no metric on its X ({exc}).")
            rows.append({"arm": arm, "diagnostic": "lambda", "quantity": "left_out", "value": 1.0})
            continue
        for k, idx in enumerate(_boot_indices(Xt.shape[1], nbt, seed, 9)):  # fewer: cost
            try:
                fb = _einstein(Xt[:, idx], limits, mw, seed + k + 1)["fit"]
            except ValueError:  # a resample without a metric counts as missing
                continue
            lam_boot[j, k], lamc_boot[j, k] = fb.Lambda, fb.Lambda_control
        kept.append(j)
        lam_rows.append((arm, n_mean, f.Lambda, f.Lambda_control))
        lo_l, hi_l = _ci(lam_boot[j], f.Lambda)
        rows.append(
            {
                "arm": arm,
                "diagnostic": "lambda",
                "quantity": "Lambda",
                "value": f.Lambda,
                "ci_low": lo_l,
                "ci_high": hi_l,
            }
        )
        rows.append({"arm": arm, "diagnostic": "lambda", "quantity": "mean_N", "value": n_mean})
        rows.append(
            {
                "arm": arm,
                "diagnostic": "lambda",
                "quantity": "residual_ratio",
                "value": f.residual / f.residual_control,
            }
        )
    if len(lam_rows) < 2:
        raise AnalysisFailed(
            f"Lambda tracks N: {len(lam_rows)} target arm(s) with a metric; expected >= 2"
        )
    lam_boot, lamc_boot = lam_boot[kept], lamc_boot[kept]
    n_arr = np.array([r[1] for r in lam_rows])
    lam_arr = np.array([r[2] for r in lam_rows])
    lamc_arr = np.array([r[3] for r in lam_rows])
    if np.ptp(n_arr) <= 0:
        raise AnalysisFailed(f"mean N: {n_arr.tolist()}; the targets did not separate N")
    slope = float(np.polyfit(n_arr, lam_arr, 1)[0])
    slope_c = float(np.polyfit(n_arr, lamc_arr, 1)[0])
    full = np.all(np.isfinite(lam_boot), axis=0)  # resamples with a Lambda for every target
    slopes = np.array([np.polyfit(n_arr, lam_boot[:, k], 1)[0] for k in np.nonzero(full)[0]])
    s_lo, s_hi = _ci(slopes, slope)
    sign = 1.0 if slope >= 0 else -1.0
    a_lo, a_hi = sorted((sign * s_lo, sign * s_hi))
    verdicts.append(
        Verdict(
            "Lambda tracks N",
            "|slope| of Lambda against mean N (CI times sign of the slope)",
            abs(slope),
            a_lo,
            a_hi,
            "|slope| of the permuted-pairing control's Lambda against N",
            abs(slope_c),
            LAMBDA_SLOPE_THRESHOLD,
            ">",
        )
    )
    rows.append(
        {
            "arm": "targets",
            "diagnostic": "lambda",
            "quantity": "slope",
            "value": slope,
            "ci_low": s_lo,
            "ci_high": s_hi,
        }
    )
    summary["Lambda_slope"] = slope
    ctx["lambda"] = (n_arr, lam_arr, lam_boot, lamc_arr, slope)
    summary["replicas"] = R
    summary["steps_main"] = T

    return Analysis(
        diagnostics=diagnostics_frame(rows),
        verdicts=verdicts,
        figures=_figures(ctx),
        summary=summary,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


def _figures(ctx: dict[str, Any]) -> dict[str, Callable[[Path], None]]:
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
