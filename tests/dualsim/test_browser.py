"""The app in a real browser: Debian's headless Chromium driven by Playwright (no browser download).

The server (``dualsim app``'s :func:`start_server`) listens on a free loopback port in its own
process group, which the fixture stops. Skipped only when no Chromium is installed.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.browser

WAIT_MS = 90_000  # one step re-renders three figures; generous on a loaded 2-core machine


def _summary(page) -> str:
    return page.locator(".dualsim-summary").inner_text()


def _plot_pixels(page) -> list[bytes]:
    images = page.locator(".vue-grid-item img")
    return [images.nth(i).screenshot() for i in range(images.count())]


def test_step_play_reset_in_chromium(server, page, tmp_path):
    url, log = server
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    timings = {}
    t0 = time.perf_counter()
    page.goto(url)
    page.get_by_text("step 0 ·").wait_for(timeout=WAIT_MS)
    timings["load"] = time.perf_counter() - t0
    page.locator(".vue-grid-item img").nth(2).wait_for(timeout=WAIT_MS)
    before = _plot_pixels(page)
    assert len(before) == 3  # network, live plots, histogram

    step = page.get_by_role("button", name="Step")
    t0 = time.perf_counter()
    for k in (1, 2, 3):
        step.click()
        page.get_by_text(f"step {k} ·").wait_for(timeout=WAIT_MS)
    timings["three steps"] = time.perf_counter() - t0
    assert _summary(page).startswith("step 3 ·")
    assert page.get_by_text("Time: 3.0").is_visible()  # Mesa's own step display agrees
    page.wait_for_timeout(500)
    after = _plot_pixels(page)
    changed = [a != b for a, b in zip(before, after, strict=True)]
    assert all(changed), changed
    page.screenshot(path=str(tmp_path / "app-step3.png"), full_page=True)

    # change a slider (keyboard on its thumb) and Reset: the model is rebuilt with the new value
    slider = page.locator(".v-input", has_text="hidden neurons").get_by_role("slider")
    assert slider.get_attribute("aria-valuenow") == "8"
    slider.focus()
    slider.press("ArrowRight")
    slider.press("ArrowRight")
    assert slider.get_attribute("aria-valuenow") == "10"
    t0 = time.perf_counter()
    page.get_by_role("button", name="Reset").click()
    page.get_by_text("step 0 ·").wait_for(timeout=WAIT_MS)
    timings["reset"] = time.perf_counter() - t0
    assert "hidden 10/20" in _summary(page)
    step.click()
    page.get_by_text("step 1 ·").wait_for(timeout=WAIT_MS)
    assert "hidden 10/20" in _summary(page)
    page.wait_for_timeout(500)

    shot = tmp_path / "app.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    errors_in_page = page.locator(".v-alert.error, .error--text").count()
    tracebacks = page.get_by_text("Traceback").count()
    assert problems == [], problems
    assert errors_in_page == 0 and tracebacks == 0
    assert "Traceback" not in log.read_text(errors="replace")
    took = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    print(f"screenshots: {tmp_path / 'app-step3.png'}, {shot}; {took}")
