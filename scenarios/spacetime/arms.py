"""The arms of the ``spacetime`` scenario: the runs whose tables the claims read.

``learning_on``, ``learning_off``, ``packet`` (``learning_on`` with one packet per replica block
injected at ``steps // 2``), ``target_<N>`` (neuron-count targets, through
:func:`runner.sweep.run_sweep` with :func:`target_run`) and, with probe states, the comparison
arms ``learning_on_batch`` and ``learning_off_batch``; plus the ``edges`` table (wiring with the
replica-mean |w| at the start). :func:`simulate` runs them all and returns the tables.
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

import pandas as pd

from models import SystemConfig
from runner import AnalysisFailed, arm_tables, concat_arms, run_arm
from runner.sweep import collect, run_sweep
from scenarios.common import inject_block_packets, tidy_events
from scenarios.common.draws import Draw
from scenarios.common.geometry import hidden_groups, small_world_config, wiring_table
from scenarios.common.teacher import builder, draw_teacher

__all__ = [
    "PACKET_BLOCKS",
    "PACKET_STEPS",
    "PACKET_STEPS_QUICK",
    "TARGETS",
    "TARGETS_QUICK",
    "TARGET_BETA",
    "TARGET_GAIN",
    "TARGET_REPLICAS",
    "default_config",
    "simulate",
    "target_run",
]

PACKET_STEPS = 40
PACKET_STEPS_QUICK = 12
PACKET_BLOCKS = 4
TARGETS = (12, 16, 20, 24)
TARGETS_QUICK = (14, 24)
TARGET_GAIN = 0.2
TARGET_BETA = 100.0
TARGET_REPLICAS = 64
"""At most this many replicas per neuron-count target run (same seed and network as the other
arms; the quick size, 32 replicas, is below it). A target run costs about 2.5 CPU-minutes at 128
replicas and 400 steps (the grand-canonical proposals), four of them most of the default run; the
Lambda fit reads each target's second half, 64 x 200 states."""


def default_config(quick: bool = False) -> SystemConfig:
    """The scenario's network (:func:`scenarios.common.geometry.small_world_config`).

    Examples
    --------
    >>> cfg = default_config(quick=True)
    >>> cfg.replicas, cfg.record_every, cfg.state_source
    (32, 1, 'probe')
    """
    return small_world_config(quick)


def _target_config(config: SystemConfig, target: float) -> SystemConfig:
    spec = {
        "type": "neuron_count",
        "policy": "target",
        "target": float(target),
        "gain": TARGET_GAIN,
        "beta_c": TARGET_BETA,
        "probe_samples": min(8, config.n_probe),
    }
    return config.replace(controllers=(spec,), replicas=min(config.replicas, TARGET_REPLICAS))


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
    ``seed`` (not the sweep's run seed: every target then has the same network, teacher
    (:func:`scenarios.common.teacher.draw_teacher`) and data) and writes its ``model``,
    ``trajectories``, ``neuron_states`` and ``events`` tables to ``out``.

    Examples
    --------
    >>> import tempfile
    >>> cfg = _target_config(default_config(quick=True).replace(replicas=2), 20)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     target_run(cfg, tmp, steps=2)
    ...     sorted(p.stem for p in Path(tmp).glob("*.parquet"))[:2]
    ['events', 'model']
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config.replace(seed=int(seed))
    target = cfg.controllers[0]["target"]
    build = builder(cfg, draw_teacher(cfg))
    model = run_arm(f"target_{target:g}", build, int(steps or 100), progress)
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
            raise AnalysisFailed(f"neuron-count target run failed: {res.first_error}")
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


def simulate(
    config: SystemConfig, quick: bool, steps: int, progress: bool, draw: Draw | None = None
) -> dict[str, pd.DataFrame]:
    """Run every arm of the scenario and return its tables (each with an ``arm`` column).

    Every arm learns the teacher of ``draw`` (:func:`scenarios.spacetime.wellposed.check`;
    None: the config's own teacher), recorded as one ``draw_setup`` row of the events (arm
    ``setup``). The packet arm runs ``PACKET_STEPS`` (quick ``PACKET_STEPS_QUICK``) steps past
    the injection at ``steps // 2``; the targets are ``TARGETS`` (quick ``TARGETS_QUICK``).

    Examples
    --------
    >>> cfg = default_config(quick=True).replace(replicas=4, n_probe=4)
    >>> tables = simulate(cfg, True, 4, False)
    >>> sorted(set(tables["trajectories"]["arm"]))[:3]
    ['learning_off', 'learning_off_batch', 'learning_on']
    """
    build_on = builder(config, draw)
    edges = wiring_table(build_on(), "learning_on")
    groups = hidden_groups(edges, config.seed)
    parts = [{"edges": edges}]
    on = run_arm("learning_on", build_on, steps, progress)
    parts.append(arm_tables(on, "learning_on"))
    off_cfg = config.replace(learning=False)
    off = run_arm("learning_off", builder(off_cfg, draw), steps, progress)
    parts.append(arm_tables(off, "learning_off"))
    inject = steps // 2
    packet = run_arm(
        "packet",
        build_on,
        inject + (PACKET_STEPS_QUICK if quick else PACKET_STEPS),
        progress,
        actions={inject: partial(inject_block_packets, groups=groups, blocks=PACKET_BLOCKS)},
    )
    parts.append(arm_tables(packet, "packet"))
    parts.append(_target_tables(config, TARGETS_QUICK if quick else TARGETS, steps, progress))
    if config.state_source != "batch":
        # comparison arms: the same runs with mini-batch-mean states (the noisier source)
        for arm, cfg in (("learning_on", config), ("learning_off", off_cfg)):
            bcfg = cfg.replace(state_source="batch")
            model = run_arm(f"{arm}_batch", builder(bcfg, draw), steps, progress)
            parts.append(arm_tables(model, f"{arm}_batch"))
    tables = concat_arms(parts)
    if draw is not None:
        tables["events"] = pd.concat(
            [tables["events"], pd.DataFrame([draw.event("setup")])], ignore_index=True
        )
    # event tables mix controller and model rows: numbers as floats, the rest as strings
    tables["events"] = tidy_events(tables["events"])
    return tables
