"""Child processes that die with their parent: no worker outlives the run that started it.

A process pool's workers, a pool's forkserver and the ``dualsim app`` server are children of a
dualsim process. If that process is killed (``kill -9``, the OOM killer) they would live on,
re-parented to init, holding their memory. Two mechanisms prevent it:

- the parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG)``, through ``ctypes``): the kernel
  sends ``SIGKILL`` to the process when its parent exits; no Python code has to run for it;
- a watchdog thread (any platform) that waits for a given process to end -- through a
  ``pidfd`` where the platform has one, else by polling -- and then ends this process.

:func:`die_with_parent` arms both. :func:`worker_init` is the initializer of the sweep's pool
workers (it also leaves SIGINT to the parent, which stops the pool);
:func:`guard_forkserver` arms the parent-death signal of a pool's forkserver when the
forkserver imports :mod:`runner.sweep.forkserver_preload`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import signal
import sys
import threading
import time

__all__ = [
    "die_with_parent",
    "guard_forkserver",
    "in_forkserver",
    "is_alive",
    "set_parent_death_signal",
    "worker_init",
]

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
POLL_SECONDS = 0.25
EXIT_CODE = 128 + signal.SIGKILL  # how a process ended by its watchdog exits


def set_parent_death_signal(signum: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent exits (Linux only).

    Returns True when armed. The setting is per process, cleared in a forked child.

    Examples
    --------
    >>> set_parent_death_signal(0) in (True, False)  # 0 disarms it
    True
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def is_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists (a zombie counts as ended).

    Examples
    --------
    >>> is_alive(os.getpid())
    True
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _wait_for_exit(pid: int, parent_only: bool) -> None:
    """Block until process ``pid`` has ended (a pidfd where available, else polling)."""
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return  # already gone
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], 60.0)
                if ready or not is_alive(pid):
                    return
        finally:
            os.close(fd)
    while is_alive(pid) and (not parent_only or os.getppid() == pid):
        time.sleep(POLL_SECONDS)


def die_with_parent(parent: int | None = None, signum: int = signal.SIGKILL) -> None:
    """End this process when ``parent`` ends (default: the current parent process).

    Arms the parent-death signal (for the direct parent) and starts a daemon thread that
    waits for ``parent`` -- which may be a grandparent, e.g. the process that owns a
    forkserver -- and then ends this process with ``os._exit``. If ``parent`` is already gone
    the process ends at once.

    Examples
    --------
    >>> import subprocess, sys
    >>> code = "from runner.lifeline import die_with_parent as d; d(); print('armed')"
    >>> subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    'armed\\n'
    """
    direct = parent is None or parent == os.getppid()
    pid = os.getppid() if parent is None else int(parent)
    set_parent_death_signal(signum)
    if not is_alive(pid):
        os._exit(EXIT_CODE)

    def watch() -> None:
        _wait_for_exit(pid, parent_only=direct)
        os._exit(EXIT_CODE)

    threading.Thread(target=watch, name=f"dualsim-lifeline-{pid}", daemon=True).start()


def worker_init(parent: int) -> None:
    """Initializer of a sweep pool's worker: die with the sweep process ``parent`` and leave
    SIGINT (Ctrl-C reaches the whole process group) to it; it stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)


def in_forkserver() -> bool:
    """Whether this code runs inside a multiprocessing forkserver's start-up (its preloads).

    Examples
    --------
    >>> in_forkserver()
    False
    """
    fs = sys.modules.get("multiprocessing.forkserver")
    if fs is None:
        return False
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is fs.main.__code__:
            return True
        frame = frame.f_back
    return False


def guard_forkserver() -> bool:
    """In a forkserver's start-up: arm its parent-death signal (no thread: the forkserver
    forks) and end it if its parent is already gone; elsewhere do nothing. True when armed.

    Examples
    --------
    >>> guard_forkserver()
    False
    """
    if not in_forkserver():
        return False
    armed = set_parent_death_signal(signal.SIGKILL)
    if os.getppid() == 1:
        with contextlib.suppress(OSError):
            os._exit(EXIT_CODE)
    return armed
