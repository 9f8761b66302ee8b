"""``dualsim app`` stops its server (and the kernels in it) on SIGTERM, and a killed
``dualsim app`` takes its server with it: started in its own process session, signalled once
the page answers, no process of the session is left within 5 s."""

from __future__ import annotations

import os
import re
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.runner.sessions import describe, session_processes, start_session, wait_for, wait_gone

pytest.importorskip("solara")

GONE_WITHIN = 5.0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGTERM, 143), pytest.param(signal.SIGKILL, -signal.SIGKILL, marks=pytest.mark.slow)],
    ids=["sigterm", "sigkill"],
)
def test_app_stops_its_server(tmp_path: Path, signum: int, code: int) -> None:
    log = tmp_path / "app.log"
    proc = start_session(["-m", "dualsim", "app", "--port", "0"], log)
    try:

        def url() -> str | None:
            found = re.search(r"http://127\.0\.0\.1:\d+/", log.read_text(errors="replace"))
            return found.group(0) if found else None

        address = str(wait_for(url, "the app's address", proc, log, timeout=120))
        wait_for(lambda: _answers(address), f"{address} to answer", proc, log, timeout=300)
        before = session_processes(proc.pid)
        assert len(before) >= 2, describe(before)  # dualsim app and its server
        os.kill(proc.pid, signum)
        proc.wait(timeout=60)
        text = log.read_text(errors="replace")
        assert proc.returncode == code, text[-1500:]
        if signum == signal.SIGTERM:
            assert text.strip().splitlines()[-1] == (
                "interrupted: SIGTERM: the app server stopped"
            ), text[-1500:]
        left, waited = wait_gone(proc.pid, GONE_WITHIN)
        assert not left, (
            f"alive {waited:.1f} s after dualsim app ended:\n{describe(left)}\n"
            f"before the signal:\n{describe(before)}"
        )
        assert not _answers(address)
    finally:
        for pid in session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.wait(timeout=30)
