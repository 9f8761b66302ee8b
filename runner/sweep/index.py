"""The files of a sweep folder: manifest, index, lock, run records, failure notes.

Layout of a sweep folder::

    DIR/sweep.json            what the sweep is (scenario, base config, points, seeds, steps)
    DIR/sweep.parquet         the index: run_id, point, replicate, parameters, seed, status,
                              wall_time_s, finished_at, error
    DIR/runs/<run_id>/        one complete run: <table>.parquet, config.toml, run.json, ...
    DIR/failed/<run_id>.txt   traceback of a failed run (removed when it later succeeds)
    DIR/.lock                 "host pid" of the sweep process writing the folder

A run folder is complete exactly when it holds ``run.json``; it is written into
``runs/.tmp-<run_id>-<random>`` and renamed into place when it ends.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from models import ConfigError
from runner.io import atomic_write, remove_torn

if TYPE_CHECKING:
    from runner.sweep.engines import RunSpec

__all__ = [
    "FAILED",
    "INDEX",
    "INDEX_COLUMNS",
    "LOCK",
    "MANIFEST",
    "RUNS",
    "RUN_RECORD",
    "TMP_PREFIX",
    "IndexWriter",
    "check_manifest",
    "folder_lock",
    "initial_index",
    "install",
    "is_done",
    "lock_is_stale",
    "note_failure",
    "read_record",
    "remove_stale",
    "write_shipped",
]

MANIFEST = "sweep.json"
INDEX = "sweep.parquet"
RUNS = "runs"
FAILED = "failed"
RUN_RECORD = "run.json"
LOCK = ".lock"
TMP_PREFIX = ".tmp-"
INDEX_COLUMNS = ("status", "wall_time_s", "finished_at", "error")


def check_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    path = folder / MANIFEST
    canon = json.loads(json.dumps(manifest, default=str))
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError("out", str(folder), f"a readable sweep.json ({exc})") from None
        if old != canon:
            diff = sorted(k for k in set(old) | set(canon) if old.get(k) != canon.get(k))
            raise ConfigError(
                "out",
                str(folder),
                f"an empty folder or one holding this same sweep (differs in: {', '.join(diff)})",
            )
        return
    if folder.is_dir() and any(folder.iterdir()):
        raise ConfigError("out", str(folder), "an empty folder or an earlier sweep's folder")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(canon, indent=1) + "\n").encode())


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """One sweep process per folder: ``DIR/.lock`` holds "host pid"; a dead owner's lock (same
    host) is taken over, a live one is refused."""
    path = folder / LOCK
    me = f"{socket.gethostname()} {os.getpid()}"
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                owner = path.read_text().strip()
            except OSError:
                owner = ""
            if lock_is_stale(owner):
                path.unlink(missing_ok=True)
                continue
            raise ConfigError(
                "out",
                str(folder),
                f"a folder no other sweep is writing (locked by {owner or 'unknown'}; delete "
                f"{path} if that sweep is gone)",
            ) from None
        with os.fdopen(fd, "w") as fh:
            fh.write(me)
        break
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if path.read_text().strip() == me:
                path.unlink()


def lock_is_stale(owner: str) -> bool:
    host, _, pid = owner.partition(" ")
    if not owner:
        return True
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def is_done(run_folder: Path) -> bool:
    return (run_folder / RUN_RECORD).is_file()


def remove_stale(folder: Path) -> None:
    remove_torn(folder)  # torn index writes
    runs = folder / RUNS
    if runs.is_dir():
        for tmp in runs.glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(tmp, ignore_errors=True)


def initial_index(folder: Path, specs: list[RunSpec], keys: list[str]) -> pd.DataFrame:
    old = None
    path = folder / INDEX
    if path.is_file():
        with contextlib.suppress(Exception):
            old = pd.read_parquet(path).set_index("run_id")
    rows = []
    for s in specs:
        row: dict[str, Any] = {"run_id": s.run_id, "point": s.point, "replicate": s.replicate}
        row.update(s.params)
        row.update(seed=s.seed, status="pending", wall_time_s=math.nan, finished_at="", error="")
        if is_done(Path(s.folder)):
            row["status"] = "done"
            row["error"] = ""
            info = read_record(Path(s.folder))
            row["wall_time_s"] = float(info.get("wall_time_s", math.nan))
            row["finished_at"] = str(info.get("finished_at", ""))
        elif old is not None and s.run_id in old.index and old.loc[s.run_id, "status"] == "failed":
            row["status"] = "failed"
            row["error"] = str(old.loc[s.run_id, "error"])
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["wall_time_s"] = frame["wall_time_s"].astype(float)
    return frame


def read_record(run_folder: Path) -> dict[str, Any]:
    try:
        return json.loads((run_folder / RUN_RECORD).read_text())
    except (OSError, ValueError):
        return {}


class IndexWriter:
    """The index frame, replaced atomically on disk after updates (optionally throttled)."""

    def __init__(self, path: Path, frame: pd.DataFrame, throttle: float) -> None:
        self.path = path
        self.frame = frame
        self.throttle = throttle
        self.last = -math.inf
        self.dirty = True

    def update(self, row: int, record: dict[str, Any]) -> None:
        for col in INDEX_COLUMNS:
            if col in record:
                self.frame.at[row, col] = record[col]
        if record["status"] == "done":
            self.frame.at[row, "error"] = ""
        self.dirty = True
        self.flush()

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.dirty or (not force and now - self.last < self.throttle):
            return
        buf = io.BytesIO()
        self.frame.to_parquet(buf, index=False)
        atomic_write(self.path, buf.getvalue())
        self.last = now
        self.dirty = False


def write_shipped(folder: Path, spec: RunSpec, files: dict[str, bytes]) -> None:
    tmp = folder / RUNS / f"{TMP_PREFIX}{spec.run_id}-{uuid.uuid4().hex[:12]}"
    for rel, data in files.items():
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    install(tmp, Path(spec.folder))


def note_failure(folder: Path, run_id: str, record: dict[str, Any]) -> None:
    path = folder / FAILED / f"{run_id}.txt"
    if record["status"] == "done":
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(exist_ok=True)
    path.write_text(record.get("traceback") or record.get("error", "") + "\n")


def install(tmp: Path, final: Path) -> None:
    """Rename a finished temporary run folder into place (keep an existing complete one)."""
    try:
        os.rename(tmp, final)
    except OSError:
        if (final / RUN_RECORD).is_file():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            raise
