"""``dualsim list``: the scenarios with one line each."""

from __future__ import annotations

import argparse

import scenarios

__all__ = ["HELP", "NAME", "execute", "register"]

NAME = "list"
HELP = "list the scenarios"


def register(parser: argparse.ArgumentParser) -> None:
    """``list`` takes no arguments."""
    del parser


def execute(args: argparse.Namespace) -> int:
    """Print every scenario's name and the first line of its description."""
    del args
    names = scenarios.scenario_names()
    width = max(len(n) for n in names)
    for name in names:
        print(f"{name:<{width}}  {scenarios.describe(name)}")
    return 0
