"""``dualsim show DIR``: print the verdict table (``verdicts.csv``) of a result folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from analysis.verdicts import VERDICT_COLUMNS
from runner.errors import UsageError

__all__ = ["HELP", "NAME", "execute", "read_verdicts", "register"]

NAME = "show"
HELP = "print the verdict table of a result folder"


def read_verdicts(folder: str | Path) -> pd.DataFrame:
    """Read ``folder/verdicts.csv``; a missing, unreadable or malformed file is named (one line).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> try:
    ...     read_verdicts(d)
    ... except UsageError as err:
    ...     print(str(err).endswith("missing; run `dualsim report " + str(d) + "` to write it"))
    True
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder; expected a dualsim result folder")
    path = folder / "verdicts.csv"
    if not path.is_file():
        raise UsageError(f"{path}: missing; run `dualsim report {folder}` to write it")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise UsageError(
            f"{path}: empty; expected the columns {', '.join(VERDICT_COLUMNS)}"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{path}: unreadable CSV ({first})") from None
    missing = [c for c in VERDICT_COLUMNS if c not in frame.columns]
    if missing:
        raise UsageError(f"{path}: no column {missing[0]!r}; expected {', '.join(VERDICT_COLUMNS)}")
    return frame


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``folder`` argument."""
    parser.add_argument("folder", type=Path, help="a dualsim result folder")


def execute(args: argparse.Namespace) -> int:
    """Print the verdict table of ``args.folder``."""
    frame = read_verdicts(args.folder)
    if frame.empty:
        print(f"{args.folder}: no verdicts")
        return 0
    frame["note"] = frame["note"].fillna("")  # a decided verdict has no note
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(frame.to_string(index=False))
    return 0
