"""Browser tests in the system Chromium through Playwright (pytest-playwright), never a
downloaded browser: the launch options, the two screen sizes pages must be readable at,
screenshots kept for a person to look at, and the Content-Security-Policy violations a
page reports (a page that needs an inline script or style is broken under the policy)."""

import os
import re
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the networking flags Chromium calls Google's services at start, which a closed
# network refuses noisily; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SIZES = {"laptop": {"width": 1366, "height": 768}, "tablet": {"width": 768, "height": 1024}}
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR") or Path(__file__).resolve().parents[2] / "var" / "screenshots"
)


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG under SCREENSHOTS_DIR (default var/screenshots/)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def watch_csp(page) -> list[str]:
    """A list that fills with the policy violations `page` reports from now on."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return violations


def console_sign_in(page, live_server, email: str, password: str) -> None:
    """Sign in through /console/login/ as a person would."""
    page.goto(f"{live_server.url}/console/login/")
    page.locator("input[name=username]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("form button[type=submit]").last.click()


def offline(context, live_server) -> list[str]:
    """Refuse every request `context` makes to anywhere but the test server (map tiles,
    above all), as on a closed network; the returned list fills with the refused URLs."""
    refused: list[str] = []

    def handle(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", handle)
    return refused


def assert_no_sideways_scroll(page) -> None:
    """The page itself never scrolls sideways (wide tables scroll inside their frame)."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the window"


def open_console(browser, live_server, email: str, password: str, *, size: str, language: str):
    """A new browser window of `size`, offline but for the test server, signed in to the
    console in `language`: (context, page, CSP violations, refused URLs)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=SIZES[size])
    refused = offline(context, live_server)
    page = context.new_page()
    violations = watch_csp(page)
    console_sign_in(page, live_server, email, password)
    if language != "es":
        page.locator(f"form.language button[value={language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)
    return context, page, violations, refused
