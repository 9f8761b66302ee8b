"""Browser fixtures of the app tests: Debian's headless Chromium driven by Playwright.

``server`` runs ``dualsim app``'s :func:`start_server` on a free loopback port in its own process
group and stops it; ``page`` opens a fresh Chromium profile (no browser download) and is skipped
only when no Chromium is installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dualsim.commands.app import start_server, stop_server

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()),
    None,
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("solara") / "server.log"
    proc, url = start_server("127.0.0.1", 0, log=log)
    try:
        yield url, log
    finally:
        stop_server(proc)


@pytest.fixture
def page(tmp_path):
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1600, "height": 1100},
        )
        try:
            yield context.new_page()
        finally:
            context.close()
