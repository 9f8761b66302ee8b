"""``dualsim list``: the scenarios with one line each."""

from __future__ import annotations

import argparse

from scenarios.registry import describe, scenario_names

NAME = "list"
HELP = "list the scenarios"


def register(parser: argparse.ArgumentParser) -> None:
    del parser


def execute(args: argparse.Namespace) -> int:
    del args
    width = max(len(n) for n in scenario_names())
    for name in scenario_names():
        print(f"{name:<{width}}  {describe(name)}")
    return 0
