"""Files of a run folder: the one atomic writer, Parquet/CSV tables and ``config.toml``.

Every file dualsim writes goes through :func:`atomic_write`: the data goes to a temporary
file next to the target (``.NAME.<pid>-<random>.tmp``), is flushed and fsynced, renamed over
the target and the folder is fsynced. A reader, or a run killed at any moment, sees either the
old file or the new one, never a torn one; an ``OSError`` while writing names the target.
:func:`remove_torn` deletes the temporary files a killed writer left behind.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import tomllib
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from models import ConfigError, SystemConfig
from runner.errors import UsageError

__all__ = [
    "CONFIG_FILE",
    "TMP_SUFFIX",
    "atomic_write",
    "concat_arms",
    "load_tables",
    "read_config",
    "remove_torn",
    "versions",
    "write_config",
    "write_table",
    "write_tables",
]

CONFIG_FILE = "config.toml"
TMP_SUFFIX = ".tmp"
VERSIONED = ("dualsim", "mesa", "numpy", "scipy", "pandas", "networkx")


def atomic_write(path: str | Path, data: bytes | Callable[[BinaryIO], None]) -> None:
    """Write ``data`` to ``path`` atomically: temporary file, fsync, rename, fsync of the folder.

    Parameters
    ----------
    path : path
        The target file (its folder must exist).
    data : bytes or callable
        The bytes, or ``write(fh)`` writing them to a binary file handle (large tables are
        then streamed to disk instead of being held in memory twice).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> atomic_write(p, b"abc"); p.read_bytes()
    b'abc'
    >>> atomic_write(p, lambda fh: fh.write(b"de")); p.read_bytes(), len(list(p.parent.iterdir()))
    (b'de', 1)
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as fh:
            if isinstance(data, bytes | bytearray | memoryview):
                fh.write(data)
            else:
                data(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # name the target (a failed write() names no file)
        tmp.unlink(missing_ok=True)
        if exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_torn(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed :func:`atomic_write` left in ``folder``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / ".x.1-ab.tmp").write_bytes(b"")
    >>> [p.name for p in remove_torn(d)], list(d.iterdir())
    (['.x.1-ab.tmp'], [])
    """
    removed = sorted(Path(folder).glob(f".*{TMP_SUFFIX}"))
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def write_table(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame as a Parquet file atomically (no index column).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> write_table(p, pd.DataFrame({"a": [1, 2]})); pd.read_parquet(p)["a"].tolist()
    [1, 2]
    """
    atomic_write(path, lambda fh: frame.to_parquet(fh, index=False))


def write_tables(
    out: str | Path, tables: Mapping[str, pd.DataFrame], csv_max_rows: int = 5000
) -> None:
    """Write every table as ``<name>.parquet``, and as ``<name>.csv`` when it is small.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_tables(d, {"model": pd.DataFrame({"a": [1, 2]})})
    >>> sorted(p.name for p in d.iterdir())
    ['model.csv', 'model.parquet']
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        write_table(out / f"{name}.parquet", frame)
        if len(frame) <= csv_max_rows:
            atomic_write(out / f"{name}.csv", frame.to_csv(index=False).encode())


def concat_arms(parts: list[Mapping[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Concatenate per-arm table dicts into one table per name (arms in order).

    Examples
    --------
    >>> a = {"model": pd.DataFrame({"x": [1]}).assign(arm="a")}
    >>> b = {"model": pd.DataFrame({"x": [2]}).assign(arm="b"), "edges": pd.DataFrame()}
    >>> out = concat_arms([a, b]); list(out), out["model"]["arm"].tolist()
    (['model', 'edges'], ['a', 'b'])
    """
    names: list[str] = []
    for part in parts:
        names.extend(n for n in part if n not in names)
    return {
        n: pd.concat([p[n] for p in parts if n in p], ignore_index=True, sort=False) for n in names
    }


def versions() -> dict[str, str]:
    """Installed versions of dualsim and the packages its numbers depend on.

    Examples
    --------
    >>> sorted(versions())[:3]
    ['dualsim', 'mesa', 'networkx']
    """
    out = {}
    for pkg in VERSIONED:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def write_config(out: str | Path, config: SystemConfig, meta: Mapping[str, Any]) -> None:
    """Write ``config.toml``: the resolved config plus a ``[dualsim]`` table of run metadata.

    ``meta`` holds the scenario name, the quick flag and the steps; ``[dualsim.versions]``
    records :func:`versions`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_config(d, SystemConfig(replicas=4), {"scenario": "train", "steps": 3})
    >>> cfg, meta = read_config(d); cfg.replicas, meta
    (4, {'scenario': 'train', 'steps': 3})
    """
    text = config.to_toml()
    lines = ["", "[dualsim]"]
    for key, value in meta.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value!r}")
        else:
            lines.append(f'{key} = "{value}"')
    lines.append("")
    lines.append("[dualsim.versions]")
    lines.extend(f'{k} = "{v}"' for k, v in versions().items())
    atomic_write(Path(out) / CONFIG_FILE, (text + "\n".join(lines) + "\n").encode())


def read_config(out: str | Path) -> tuple[SystemConfig, dict[str, Any]]:
    """Read ``config.toml`` of a result folder: the config and the ``[dualsim]`` metadata.

    Raises
    ------
    UsageError
        The file is missing, not TOML, or holds an invalid config (one line naming it).

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     read_config(tempfile.mkdtemp())
    ... except UsageError as err:
    ...     print(str(err).split(": ")[1])
    missing; expected a dualsim result folder with config.toml
    """
    path = Path(out) / CONFIG_FILE
    if not path.is_file():
        raise UsageError(f"{path}: missing; expected a dualsim result folder with {CONFIG_FILE}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    meta = data.pop("dualsim", {})
    meta.pop("versions", None)
    try:
        config = SystemConfig.from_dict(data)
    except ConfigError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return config, meta


def load_tables(out: str | Path, names: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Load the Parquet tables of a result folder (default: all but ``diagnostics``).

    Raises
    ------
    UsageError
        A missing or unreadable file, named in one line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_tables(d, {"model": pd.DataFrame({"a": [1]})}, csv_max_rows=0)
    >>> list(load_tables(d))
    ['model']
    """
    out = Path(out)
    names = names or sorted(p.stem for p in out.glob("*.parquet") if p.stem != "diagnostics")
    tables = {}
    for name in names:
        path = out / f"{name}.parquet"
        if not path.is_file():
            raise UsageError(f"{path}: missing; the run did not finish or the folder is incomplete")
        try:
            tables[name] = pd.read_parquet(path)
        except Exception as exc:
            raise UsageError(f"{path}: unreadable Parquet ({type(exc).__name__}: {exc})") from None
    return tables
