"""Helpers of the process-lifetime tests: start a command in its own process session, wait for
observable events, list the processes left in the session (scanning ``/proc``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["ROOT", "describe", "session_processes", "start_session", "wait_for", "wait_gone"]

ROOT = Path(__file__).resolve().parents[2]


def session_processes(sid: int) -> dict[int, str]:
    """Live (non-zombie) processes of session ``sid``: pid -> command line.

    Examples
    --------
    >>> os.getpid() in session_processes(os.getsid(0))
    True
    """
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            fields = stat.rpartition(b")")[2].split()
            if int(fields[3]) != sid or fields[0] == b"Z":
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue  # ended while being read
        found[int(entry.name)] = cmd.strip()[:160]
    return found


def describe(procs: dict[int, str]) -> str:
    """One line per process, for assertion messages."""
    return "\n".join(f"  {pid}: {cmd}" for pid, cmd in sorted(procs.items())) or "  (none)"


def start_session(argv: list[str], log: Path, **env: str) -> subprocess.Popen:
    """Start ``python argv...`` in a new session (its pid is the session id), output to ``log``."""
    environ = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **env}
    with open(log, "wb") as fh:
        return subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            env=environ,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_for(
    event: Callable[[], object], what: str, proc: subprocess.Popen, log: Path, timeout: float
) -> object:
    """Poll ``event()`` until it is truthy (returned); fail naming ``what`` and what was seen
    (the process's exit code, its output, its session's processes) when ``proc`` ends first
    or ``timeout`` seconds pass."""
    start = time.monotonic()
    while True:
        value = event()
        if value:
            return value
        ended = proc.poll() is not None
        if ended or time.monotonic() - start > timeout:
            seen = f"exited with {proc.returncode}" if ended else "still running"
            raise AssertionError(
                f"waited {time.monotonic() - start:.1f} s for {what}; the process {seen}; "
                f"its session:\n{describe(session_processes(proc.pid))}\n"
                f"its output (tail):\n{log.read_text(errors='replace')[-1500:]}"
            )
        time.sleep(0.05)


def wait_gone(sid: int, timeout: float) -> tuple[dict[int, str], float]:
    """Wait until session ``sid`` has no live process; (what is left, seconds waited)."""
    start = time.monotonic()
    left = session_processes(sid)
    while left and time.monotonic() - start < timeout:
        time.sleep(0.05)
        left = session_processes(sid)
    return left, time.monotonic() - start
