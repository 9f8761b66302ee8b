"""The particles page in a real browser: Debian's headless Chromium driven by Playwright.

The server (``dualsim app``'s :func:`start_server`) listens on a free loopback port in its own
process group, which the fixture stops. Skipped only when no Chromium is installed.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("solara", reason="the viz extra (solara) is not installed")
from dualsim.app.particles import RENDER_INTERVAL

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # about 40 s with the server start

WAIT_MS = 90_000  # generous on a loaded 2-core machine


def _figure(page) -> bytes:
    return page.locator(".vue-grid-item img").first.screenshot()


def test_alpha_slider_moves_r_and_redraws(server, page, tmp_path):
    url, log = server
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    t0 = time.perf_counter()
    page.goto(url + "particles")
    readout = page.locator(".dualsim-particles-r")
    page.get_by_text("r = 1.000 ·").wait_for(timeout=WAIT_MS)
    page.locator(".vue-grid-item img").first.wait_for(timeout=WAIT_MS)
    load = time.perf_counter() - t0
    assert "expect grand-canonical" in readout.inner_text()
    before = _figure(page)

    # alpha 0.05 -> 0.06 (two keyboard steps of 0.005 on the slider's thumb): r 1 -> 1.2
    slider = page.locator(".v-input", has_text="birth rate α").get_by_role("slider")
    assert float(slider.get_attribute("aria-valuenow")) == pytest.approx(0.05)
    t0 = time.perf_counter()
    slider.focus()
    slider.press("ArrowRight")
    slider.press("ArrowRight")
    page.get_by_text("r = 1.200 ·").wait_for(timeout=WAIT_MS)
    deadline = time.monotonic() + WAIT_MS / 1000
    after = _figure(page)
    while after == before and time.monotonic() < deadline:
        page.wait_for_timeout(300)
        after = _figure(page)
    redraw = time.perf_counter() - t0
    assert after != before  # the histogram's legend and the grand-canonical curve moved
    assert float(slider.get_attribute("aria-valuenow")) == pytest.approx(0.06)
    assert readout.inner_text().startswith("r = 1.200 · α σ²/(M k) = 0.06·")

    page.get_by_role("button", name="Step").click()  # RENDER_INTERVAL steps, one redraw
    page.get_by_text(f"step {RENDER_INTERVAL} ·").wait_for(timeout=WAIT_MS)
    page.wait_for_timeout(500)
    shot = tmp_path / "particles.png"
    page.screenshot(path=str(shot), full_page=True)
    assert problems == [], problems
    assert page.locator(".v-alert.error, .error--text").count() == 0
    assert page.get_by_text("Traceback").count() == 0
    assert "Traceback" not in log.read_text(errors="replace")
    print(f"screenshot: {shot}; load {load:.1f} s, slider to redraw {redraw:.1f} s")
