"""The dashboard in a real browser: headless Debian Chromium driven by Playwright (no browser download),
against `fruits serve` started as a user would, on the shared sample's run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("FRUITS_SCREENSHOT_DIR", "/tmp/fruits-screenshots"))

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} not found (apt-get install chromium)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(shared_run):
    """`fruits serve OUTPUT` in its own process on a free port; stopped (by its pid) at the end."""
    _require_chromium()
    port = _free_port()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log = open(SCREENSHOTS / "fruits-serve.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "fruits", "serve", str(shared_run), "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"fruits serve exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("fruits serve did not answer within 120 s")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def page(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 412, "height": 915}, device_scale_factor=1, is_mobile=True,
                                      has_touch=True)  # a phone screen
        tab = context.new_page()
        tab.problems = []
        tab.on("console", lambda message: message.type == "error" and tab.problems.append(message.text))
        tab.on("pageerror", lambda error: tab.problems.append(str(error)))
        # Thumbnails still loading when the test moves on are aborted by the browser: not a failure.
        tab.on("requestfailed", lambda request: "ERR_ABORTED" in (request.failure or "")
               or tab.problems.append(f"failed: {request.url} {request.failure}"))
        # Anything not served by the app (a CDN) would show up here.
        tab.on("request", lambda request: request.url.startswith(served) or request.url.startswith("data:")
               or request.url.startswith("blob:") or tab.problems.append(f"external: {request.url}"))
        yield tab
        browser.close()


def test_browse_filter_open_an_item_and_identify_a_photo(served, page, shared_sample):
    page.goto(f"{served}/images")
    assert page.locator("[data-testid=thumb]").count() == 48
    page.select_option("#filter-label", "lemon")
    page.select_option("#filter-split", "Test")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/images?*label=lemon*")
    assert "166" in page.locator("[data-testid=result-count]").inner_text()
    captions = page.locator("[data-testid=thumb] .caption strong").all_inner_texts()
    assert captions and set(captions) == {"lemon"}

    page.locator("[data-testid=thumb]").first.click()
    page.wait_for_url("**/images/*")
    assert page.locator("[data-testid=predicted]").inner_text() == "Looks like: lemon"
    assert "most similar photos are lemons" in page.locator("[data-testid=sentence]").inner_text()
    assert "agrees with its label" in page.locator("[data-testid=agreement]").inner_text()
    page.wait_for_selector("#plot-map[data-drawn=true] .main-svg")
    assert page.locator(".plot[data-drawn=true]").count() == 5  # gauge, 3 histograms, map
    assert page.locator("[data-testid=neighbours] [data-testid=thumb]").count() == 12
    # Each chart fits in its box: a plot taller than its container covers the text and charts below it.
    overflowing = page.evaluate("""() => Array.from(document.querySelectorAll('.plot')).filter(box => {
        const svg = box.querySelector('.main-svg');
        return svg && svg.getBoundingClientRect().bottom > box.getBoundingClientRect().bottom + 1;
    }).map(box => box.id)""")
    assert overflowing == []
    page.screenshot(path=str(SCREENSHOTS / "item.png"), full_page=True)

    photo = sorted((shared_sample / "Test" / "raspberry").glob("*.jpg"))[3]
    page.goto(f"{served}/identify")
    assert page.locator("#photo-camera").get_attribute("capture") == "environment"
    page.set_input_files("#photo-upload", str(photo))
    assert page.locator("#photo-preview").is_visible()
    page.click("#identify-submit")
    page.wait_for_selector("[data-testid=top-class]", timeout=120_000)
    assert page.locator("[data-testid=top-class]").inner_text() == "raspberry"
    assert page.locator("[data-testid=top3] li").count() == 3
    assert "Raspberry" in page.locator("[data-testid=info-card]").inner_text()
    assert page.locator("[data-testid=similar] img").count() == 12
    page.screenshot(path=str(SCREENSHOTS / "identify.png"), full_page=True)
    print(f"screenshots: {SCREENSHOTS / 'item.png'} and {SCREENSHOTS / 'identify.png'}")

    assert page.problems == [], page.problems


def test_evaluation_page_in_the_browser(served, page):
    page.goto(f"{served}/evaluation")
    assert float(page.locator("[data-testid=accuracy]").inner_text().rstrip("%")) >= 99.0
    page.wait_for_selector("#plot-confusion[data-drawn=true] .main-svg")
    assert page.problems == [], page.problems
