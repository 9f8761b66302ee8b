"""``dualsim report DIR``: re-run the analysis of a saved result folder and print its verdicts.

No simulation: the saved tables are read back (a missing or corrupt file is named, in one
line, exit 2) and the scenario's analysis rewrites ``diagnostics.parquet``, ``verdicts.csv``,
the figures and ``summary.md``; an analysis that fails is a failed run (exit 1, traceback saved
in the folder). A scenario without an analysis (``train``) is checked: every table it writes
must be present and readable.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from dualsim.commands import load_scenario, one_line, set_output
from runner.errors import AnalysisFailed, RunFailed, UsageError
from runner.io import load_tables, read_config
from runner.report import report

__all__ = ["HELP", "NAME", "check_tables", "execute", "register"]

NAME = "report"
HELP = "re-analyse a saved result folder and print its verdict table"


def check_tables(folder: Path, names: tuple[str, ...] | list[str]) -> dict[str, pd.DataFrame]:
    """Read ``names`` from ``folder`` (:class:`UsageError` naming a missing or corrupt file).

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     check_tables(Path(tempfile.mkdtemp()), ["model"])
    ... except UsageError as err:
    ...     print(str(err).split(": ")[1])
    missing; the run did not finish or the folder is incomplete
    """
    try:
        return load_tables(folder, list(names))
    except UsageError as exc:
        raise UsageError(one_line(exc)) from None


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``folder`` argument."""
    parser.add_argument("folder", type=Path, help="a dualsim result folder")


def execute(args: argparse.Namespace) -> int:
    """Re-analyse the result folder ``args.folder`` and print its verdicts."""
    folder: Path = args.folder
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder; expected a dualsim result folder")
    try:
        _, meta = read_config(folder)
    except UsageError as exc:
        raise UsageError(one_line(exc)) from None
    name = meta.get("scenario")
    if not name:
        raise UsageError(f"{folder / 'config.toml'}: no [dualsim] scenario entry")
    module = load_scenario(str(name))
    set_output(args, folder)
    if not hasattr(module, "SCENARIO"):
        expected = getattr(module, "TABLES", None)
        names = list(expected) if expected else None
        tables = check_tables(folder, names) if names else check_tables(folder, [])
        print(f"{name}: {folder} has no analysis; tables checked:")
        for key, frame in tables.items():
            print(f"  {key}: {len(frame)} rows")
        return 0
    try:
        result = report(folder, module.SCENARIO)
    except UsageError as exc:
        raise UsageError(one_line(exc)) from None
    except AnalysisFailed as exc:
        raise RunFailed(f"analysis of {folder} failed: {one_line(exc)}") from exc
    print(f"{result.name}: re-analysed {folder}")
    if len(result.verdicts):
        print(result.verdicts.to_string(index=False))
    return 0
