"""What a scenario returns and writes: its tables, verdicts, figures and config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from models.config import SystemConfig


@dataclass
class ScenarioResult:
    """Outcome of one scenario run.

    Attributes
    ----------
    name : str
        Scenario name.
    out : Path
        Folder holding the Parquet tables, ``config.toml`` and figures.
    config : SystemConfig
    tables : dict of str to DataFrame
        Every table the scenario saved (file ``<key>.parquet``).
    verdicts : DataFrame
        One row per claim: claim, statistic, value, control, threshold, verdict (empty for a
        plain training run).
    figures : list of Path
    summary : dict
        A few headline numbers printed by the CLI.
    """

    name: str
    out: Path
    config: SystemConfig
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    figures: list[Path] = field(default_factory=list)
    summary: dict[str, float | int | str] = field(default_factory=dict)


def write_tables(out: Path, tables: dict[str, pd.DataFrame], csv_max_rows: int = 5000) -> None:
    """Write every table as Parquet (and as CSV when it is small).

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_tables(d, {"model": pd.DataFrame({"a": [1, 2]})})
    >>> sorted(p.name for p in d.iterdir())
    ['model.csv', 'model.parquet']
    """
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
        if len(frame) <= csv_max_rows:
            frame.to_csv(out / f"{name}.csv", index=False)
