"""The ``dualsim`` command line.

``dualsim run NAME [--steps N] [--replicas R] [--seed S] [--set key=value ...]
[--config FILE.toml] [--out DIR] [--quick]`` runs a scenario and writes its output folder;
``dualsim list`` lists the scenarios; other sub-commands live in :mod:`scenarios.commands`.
Exit codes: 0 done, 2 bad input (one line ``error: <field>: <value>; expected ...``, no
traceback; ``--debug`` shows it), 1 the run failed (diverged, analysis failed), 130/143
interrupted by SIGINT/SIGTERM (recorded data and a checkpoint are kept; ``--resume``
continues).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from scenarios import commands
from scenarios.commands import RunFailed


class UsageError(ValueError):
    """A bad command-line value (reported in one line, exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise UsageError(message)


def command_modules() -> dict[str, ModuleType]:
    """The sub-command modules found in :mod:`scenarios.commands`, by command name."""
    found = {}
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"scenarios.commands.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "execute"):
            found[module.NAME] = module
    return found


def _parser(mods: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = _Parser(prog="dualsim", description="Simulate adaptive learning systems.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module in mods.items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        p.add_argument("--debug", action="store_true", help="show tracebacks")
        module.register(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dualsim`` console script; returns the exit code.

    Examples
    --------
    >>> main(["run", "nosuch"])
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        mods = command_modules()
        args = _parser(mods).parse_args(argv)
        return int(mods[args.command].execute(args))
    except RunFailed as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
