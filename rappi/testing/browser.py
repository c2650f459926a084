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
