"""Sub-commands of the ``dualsim`` CLI, one module each, and what they share.

A command module defines ``NAME`` (the sub-command), ``HELP`` (one line),
``register(parser)`` (adds its arguments to its own ``argparse`` sub-parser) and
``execute(args) -> int`` (the exit code); :data:`dualsim.cli.COMMANDS` lists them. Bad input
raises :class:`~runner.errors.UsageError` (or ``ConfigError``), exit 2; a failed run raises
:class:`~runner.errors.RunFailed` or lets any other exception through, exit 1. A command that
has an output folder records it with :func:`set_output`, so a failed run's traceback is saved
there as :data:`TRACEBACK_FILE`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType

import scenarios
from runner.errors import UsageError

__all__ = ["TRACEBACK_FILE", "load_scenario", "one_line", "output_of", "set_output"]

TRACEBACK_FILE = "traceback.txt"
"""Name of the file, in a failed run's output folder, that holds the traceback."""

_OUTPUT = "_dualsim_output"


def one_line(exc: BaseException) -> str:
    """The first line of an error message (Arrow and pandas errors can span several), with
    any other control character in it escaped (a value typed by the user may hold one).

    Examples
    --------
    >>> one_line(ValueError("a: bad\\nmore detail"))
    'a: bad'
    >>> one_line(ValueError("k\\r0: nan; expected a field"))
    'k\\\\r0: nan; expected a field'
    >>> one_line(KeyError())
    'KeyError'
    """
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first = text.split("\n", 1)[0].strip()
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in first)


def load_scenario(name: str) -> ModuleType:
    """The scenario module called ``name``; an unknown name is a :class:`UsageError` naming
    the valid ones.

    Examples
    --------
    >>> load_scenario("train").__name__
    'scenarios.train'
    >>> try:
    ...     load_scenario("nosuch")
    ... except UsageError as err:
    ...     print(str(err).split(";")[0])
    scenario: 'nosuch'
    """
    if name not in scenarios.CATALOGUE:
        valid = ", ".join(scenarios.scenario_names())
        raise UsageError(f"scenario: {name!r}; expected one of {valid}")
    return scenarios.load(name)


def set_output(args: argparse.Namespace, folder: str | Path) -> None:
    """Record ``folder`` as the command's output folder (where a failure saves its traceback).

    Examples
    --------
    >>> args = argparse.Namespace()
    >>> set_output(args, "results/x"); output_of(args)
    PosixPath('results/x')
    """
    setattr(args, _OUTPUT, Path(folder))


def output_of(args: argparse.Namespace | None) -> Path | None:
    """The output folder recorded by :func:`set_output`, else None.

    Examples
    --------
    >>> output_of(argparse.Namespace()) is None
    True
    """
    return getattr(args, _OUTPUT, None) if args is not None else None
