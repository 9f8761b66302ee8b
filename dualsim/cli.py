"""The ``dualsim`` command line.

``dualsim run NAME [--steps N] [--replicas R] [--seed S] [--set key=value ...]
[--config FILE.toml] [--out DIR] [--quick]`` runs a scenario and writes its output folder;
``dualsim list`` lists the scenarios; :data:`COMMANDS` holds every sub-command
(:mod:`dualsim.commands`).

Exit codes (:func:`runner.errors.exit_code_for`):

* 0: done;
* 2: bad input -- an option, a config value, a folder or a saved file -- reported in one line
  ``error: <field>: <value>; expected ...`` with no traceback;
* 1: the run failed -- it diverged, its analysis failed, or any other exception (a bug, an
  ``OSError`` while writing; never reported as bad input). What the run has written is kept,
  the traceback is saved as ``traceback.txt`` in the output folder and one line names the
  error and where the run was (the arm and the step);
* 130/143: interrupted by SIGINT/SIGTERM (recorded data and a checkpoint are kept; ``--resume``
  continues).

``--debug`` shows the traceback instead of the one-line message.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from dualsim.commands import TRACEBACK_FILE, one_line, output_of
from dualsim.commands import app as app_command
from dualsim.commands import list as list_command
from dualsim.commands import report as report_command
from dualsim.commands import run as run_command
from dualsim.commands import show as show_command
from dualsim.commands import sweep as sweep_command
from runner.errors import ArmFailed, DualsimError, Interrupted, UsageError, exit_code_for

__all__ = ["COMMANDS", "build_parser", "main", "save_traceback"]

COMMANDS: tuple[ModuleType, ...] = (
    run_command,
    sweep_command,
    report_command,
    show_command,
    list_command,
    app_command,
)
"""The sub-command modules, in the order ``dualsim --help`` lists them."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``dualsim`` argument parser with one sub-parser per module of :data:`COMMANDS`.

    Examples
    --------
    >>> args = build_parser().parse_args(["run", "train", "--quick"])
    >>> args.command, args.name, args.quick
    ('run', 'train', True)
    """
    parser = _Parser(prog="dualsim", description="Simulate adaptive learning systems.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in COMMANDS:
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        p.add_argument("--debug", action="store_true", help="show tracebacks")
        module.register(p)
    return parser


def save_traceback(exc: BaseException, folder: Path | None) -> Path | None:
    """Write the traceback of ``exc`` to ``folder/traceback.txt``; its path, or None when there
    is no folder or it cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     1 / 0
    ... except ZeroDivisionError as err:
    ...     path = save_traceback(err, Path(tempfile.mkdtemp()))
    >>> path.read_text().splitlines()[-1]
    'ZeroDivisionError: division by zero'
    """
    if folder is None or not folder.is_dir():
        return None
    path = folder / TRACEBACK_FILE
    try:
        path.write_text("".join(traceback.format_exception(exc)))
    except OSError:
        return None
    return path


def _failure_line(exc: BaseException, saved: Path | None, command: str | None) -> str:
    text = one_line(exc)
    if isinstance(exc, ArmFailed):
        text = f"the run failed in {text}"
    elif not isinstance(exc, DualsimError):
        what = "the run" if command in (None, "run") else f"dualsim {command}"
        text = f"{what} failed: {type(exc).__name__}: {text}"
    where = f"; traceback in {saved}" if saved is not None else ""
    return f"error: {text}{where}; rerun with --debug to print it"


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone; if so, later writes go to /dev/null."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        closed = any(event & select.POLLERR for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no real stdout (captured, or no poll)
        return False
    if closed:
        os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    return closed


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dualsim`` console script; returns the exit code.

    Examples
    --------
    >>> main(["run", "nosuch"])
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    args: argparse.Namespace | None = None
    try:
        args = build_parser().parse_args(argv)
        command = next(m for m in COMMANDS if m.NAME == args.command)
        return int(command.execute(args))
    except Interrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return exit_code_for(KeyboardInterrupt())
    except Exception as exc:
        if isinstance(exc, BrokenPipeError) and _stdout_closed():
            return 1  # the reader of the output went away (``dualsim list | head -1``)
        code = exit_code_for(exc)
        saved = save_traceback(exc, output_of(args)) if code == 1 else None
        if debug:
            raise
        if code == 1:
            print(_failure_line(exc, saved, getattr(args, "command", None)), file=sys.stderr)
        else:
            print(f"error: {one_line(exc)}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
