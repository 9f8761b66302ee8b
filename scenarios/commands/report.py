"""``dualsim report DIR``: re-run the analysis of a saved result folder and print its verdicts.

No simulation: the saved tables are read back (a missing or corrupt file is named, in one
line, exit 2) and the scenario's analysis rewrites ``diagnostics.parquet``, ``verdicts.csv``,
the figures and ``summary.md``. A scenario without an analysis (``train``) is checked: every
table it writes must be present and readable.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from scenarios.commands import RunFailed

NAME = "report"
HELP = "re-analyse a saved result folder and print its verdict table"


def one_line(exc: BaseException) -> str:
    """The first line of an error message (Arrow and pandas errors can span several).

    Examples
    --------
    >>> one_line(ValueError("a: bad\\nmore detail"))
    'a: bad'
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_tables(folder: Path, names: tuple[str, ...] | list[str]) -> dict[str, pd.DataFrame]:
    """Read ``names`` from ``folder`` (``ValueError`` naming a missing or corrupt file)."""
    from scenarios.framework import load_tables

    try:
        return load_tables(folder, list(names))
    except ValueError as exc:
        raise ValueError(one_line(exc)) from None


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="a dualsim result folder")


def execute(args: argparse.Namespace) -> int:
    from scenarios.framework import AnalysisFailed, read_config, report
    from scenarios.registry import load

    folder: Path = args.folder
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder; expected a dualsim result folder")
    try:
        _, meta = read_config(folder)
    except ValueError as exc:
        raise ValueError(one_line(exc)) from None
    name = meta.get("scenario")
    if not name:
        raise ValueError(f"{folder / 'config.toml'}: no [dualsim] scenario entry")
    module = load(str(name))
    if not hasattr(module, "SCENARIO"):
        expected = getattr(module, "TABLES", None)
        names = list(expected) if expected else None
        tables = check_tables(folder, names) if names else check_tables(folder, [])
        print(f"{name}: {folder} has no analysis; tables checked:")
        for key, frame in tables.items():
            print(f"  {key}: {len(frame)} rows")
        return 0
    try:
        result = report(folder)
    except ValueError as exc:
        raise ValueError(one_line(exc)) from None
    except AnalysisFailed as exc:
        raise RunFailed(f"analysis of {folder} failed: {one_line(exc)}") from None
    print(f"{result.name}: re-analysed {folder}")
    if len(result.verdicts):
        print(result.verdicts.to_string(index=False))
    return 0
