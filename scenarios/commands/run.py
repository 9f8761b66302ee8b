"""``dualsim run NAME``: run a scenario and write its output folder."""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.config import SystemConfig
from scenarios.registry import load, scenario_names

NAME = "run"
HELP = "run a scenario"


def parse_set(pairs: Sequence[str]) -> dict[str, Any]:
    """Parse ``key=value`` pairs; values are read as TOML (numbers, booleans, strings, lists).

    Examples
    --------
    >>> parse_set(["step_size=0.1", "learning=false", "task=linear"])
    {'step_size': 0.1, 'learning': False, 'task': 'linear'}
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set: {pair!r}; expected key=value")
        key, raw = pair.split("=", 1)
        key = key.strip()
        if not key:
            raise ValueError(f"--set: {pair!r}; expected a non-empty key")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        out[key] = value
    return out


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``run`` and ``sweep`` (config, size, seed, output)."""
    parser.add_argument("--steps", type=int, help="learning steps")
    parser.add_argument("--replicas", type=int, help="replicas R")
    parser.add_argument("--seed", type=int, help="root seed")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="a config field")
    parser.add_argument("--config", type=Path, help="TOML config file")
    parser.add_argument("--out", type=Path, help="output folder")
    parser.add_argument("--quick", action="store_true", help="small, fast size")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_config(args: argparse.Namespace) -> SystemConfig:
    """Combine ``--config``, the shortcut options and ``--set`` (later ones win)."""
    base = SystemConfig.from_toml(args.config) if args.config else SystemConfig()
    changes: dict[str, Any] = {}
    if args.replicas is not None:
        changes["replicas"] = args.replicas
    if args.seed is not None:
        changes["seed"] = args.seed
    changes.update(parse_set(args.set or []))
    return base.replace(**changes) if changes else base


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help=f"scenario: {', '.join(scenario_names())}")
    add_run_options(parser)


def execute(args: argparse.Namespace) -> int:
    module = load(args.name)
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps: {args.steps}; expected an integer >= 1")
    config = build_config(args)
    result = module.run(
        config=config,
        out=args.out,
        quick=args.quick,
        steps=args.steps,
        progress=not args.no_progress,
    )
    print(f"{result.name}: wrote {len(result.tables)} tables to {result.out}")
    for key, value in result.summary.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"  {key}: {shown}")
    if len(result.verdicts):
        print(result.verdicts.to_string(index=False))
    return 0
