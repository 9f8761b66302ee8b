"""``dualsim app [--port P] [--host H]``: serve the page of :mod:`dualsim.app` with Solara.

The server binds to loopback (127.0.0.1) unless ``--host`` says otherwise; ``--port 0`` picks a
free port. It runs in the foreground until interrupted: Ctrl-C stops it (exit 0), SIGTERM stops
it too (exit 143); either way the server process and its kernels (Solara's kernels live in the
server process) are gone when the command returns, and a killed ``dualsim app`` takes its
server with it (:mod:`dualsim.app.serve`). Solara's telemetry and version check are off and its
JavaScript/CSS come from the ``solara-assets`` package, so the page works without network
access.

Solara is imported only when the command runs (the ``viz`` extra); the rest of the CLI works
without it.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from runner.errors import Interrupted, UsageError

__all__ = [
    "APP_MODULE",
    "DEFAULT_PORT",
    "HELP",
    "NAME",
    "check_address",
    "execute",
    "free_port",
    "register",
    "server_command",
    "start_server",
    "stop_server",
]

NAME = "app"
HELP = "serve the interactive page (step a learning system in the browser)"
DEFAULT_PORT = 8765
APP_MODULE = "dualsim.app.page"
QUIET_ENV = {
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
    "SOLARA_THEME_SHOW_BANNER": "False",
}


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``--port`` and ``--host``."""
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: free)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that is free now (the OS picks it).

    Examples
    --------
    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def check_address(host: str, port: int) -> int:
    """Validate ``host`` and ``port`` (0 becomes a free port); :class:`UsageError` otherwise.

    Examples
    --------
    >>> check_address("127.0.0.1", 0) > 0
    True
    >>> try:
    ...     check_address("127.0.0.1", 70000)
    ... except UsageError as err:
    ...     print(err)
    --port: 70000; expected an integer in [0, 65535]
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise UsageError(f"--port: {port!r}; expected an integer in [0, 65535]")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise UsageError(
                f"--host: {host!r}; expected an IP address such as 127.0.0.1 or localhost"
            ) from None
    if port == 0:
        return free_port(host)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"--port: {port}; expected a free port on {host} ({exc.strerror}; "
                "--port 0 picks one)"
            ) from None
    return port


def server_command(host: str, port: int) -> list[str]:
    """The ``solara run`` command line that serves the page.

    Examples
    --------
    >>> server_command("127.0.0.1", 8765)[-7:-1]
    ['--host', '127.0.0.1', '--port', '8765', '--production', '--no-open']
    """
    return [
        sys.executable,
        "-m",
        "dualsim.app.serve",
        "run",
        APP_MODULE,
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--no-check-version",
    ]


def start_server(
    host: str = "127.0.0.1", port: int = 0, timeout: float = 90.0, log: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """Start the server in its own process group and wait until it answers; return it and the URL.

    The caller stops it with :func:`stop_server`. ``log`` receives the server's output.

    Raises
    ------
    UsageError
        Bad host or port.
    RuntimeError
        The server exited or did not answer within ``timeout`` seconds (with its last output).
    """
    port = check_address(host, port)
    env = {**os.environ, **QUIET_ENV}
    out = Path(log).open("wb") if log is not None else None
    try:
        proc = subprocess.Popen(
            server_command(host, port),
            stdout=out if out is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    finally:
        if out is not None:
            out.close()  # the child keeps its own descriptor
    url = f"http://{host}:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-800:] if log is not None else ""
            raise RuntimeError(f"solara exited with code {proc.returncode}: {tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"solara did not answer on {url} within {timeout:g} s")


def stop_server(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a server from :func:`start_server`: its whole process group, TERM then KILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)


def _terminate(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a server started in our own process group: TERM, then KILL after ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def execute(args: argparse.Namespace) -> int:
    """Serve the page in the foreground until interrupted (Ctrl-C: exit 0; SIGTERM: 143)."""
    if importlib.util.find_spec("solara") is None:
        raise UsageError(
            "app: solara is not installed; expected the viz extra (pip install -e '.[viz]')"
        )
    port = check_address(args.host, args.port)
    print(f"dualsim app: http://{args.host}:{port}/  (Ctrl-C stops it)", flush=True)
    env = {**os.environ, **QUIET_ENV}

    def on_term(signum: int, frame: object) -> None:
        del frame
        signal.signal(signum, signal.SIG_IGN)  # the shutdown is not interrupted again
        raise Interrupted(signum, f"{signal.Signals(signum).name}: the app server stopped")

    # the server shares our process group: a Ctrl-C in the terminal reaches both
    proc = subprocess.Popen(server_command(args.host, port), env=env)
    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            _terminate(proc)
        finally:
            signal.signal(signal.SIGTERM, previous)
