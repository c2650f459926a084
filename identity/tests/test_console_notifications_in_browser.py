"""The notification inbox in the system Chromium, under the Content-Security-Policy, on a
laptop and a tablet, in Spanish (the console's default) and English: unread first, the
count in the navigation, one marked read, then all."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from identity.documents import Notification
from identity.tests.factories import UserFactory
from rappi.testing.browser import (
    SIZES,
    assert_no_sideways_scroll,
    console_sign_in,
    screenshot,
    watch_csp,
)
from tracking import geofences

pytestmark = pytest.mark.usefixtures("live_db")

PASSWORD = "Sup3r-Secreta-2026"
LANGUAGES = ("es", "en")
SQUARE = [[-71.54, -16.40], [-71.534, -16.40], [-71.534, -16.397], [-71.54, -16.397],
          [-71.54, -16.40]]  # fmt: skip


def _inbox(user):
    now = datetime.now(UTC)
    zone = geofences.geofence_create(
        name="Mercado San Camilo",
        kind="forbidden",
        geometry={"type": "Polygon", "coordinates": [SQUARE]},
    )
    rows = [
        ("incident.reported", "New incident on run #14: vehicle damage", "Severity 4, reported "
         "by the driver: the side mirror broke on Av. Ejército.", {"assignment_id": 14}, 3, False),
        ("geofence.forbidden_entered", "Run #9 entered a forbidden zone", "Mercado San Camilo",
         {"assignment_id": 9, "geofence_id": str(zone.pk)}, 12, False),
        ("route.deviation", "Run #7 left its route corridor", "", {"assignment_id": 7,
         "order_id": 31}, 40, False),
        ("incident.reported", "New incident on run #5: traffic", "", {"assignment_id": 5}, 90,
         True),
    ]  # fmt: skip
    for kind, title, body, data, minutes, read in rows:
        Notification(
            recipient_user_id=user.pk,
            kind=kind,
            title=title,
            body=body,
            data=data,
            created_at=now - timedelta(minutes=minutes),
            read_at=now if read else None,
        ).save()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_dispatcher_reads_and_clears_the_inbox(browser, live_server, language, size):
    user = UserFactory(email="lucia@rappi.pe", password=PASSWORD, role_name="dispatcher")
    _inbox(user)
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    violations = watch_csp(page)
    console_sign_in(page, live_server, "lucia@rappi.pe", PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", "es")
    if language != "es":
        page.locator(f"form.language button[value={language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)

    badge = page.locator("nav.nav a[href='/console/notifications/'] .nav-count")
    expect(badge).to_contain_text("3")
    page.locator("nav.nav a[href='/console/notifications/']").click()
    cards = page.locator(".inbox li.notification")
    expect(cards).to_have_count(4)
    expect(page.locator(".inbox li.unread")).to_have_count(3)
    expect(cards.first).to_contain_text("vehicle damage")
    expect(cards.last).not_to_have_class("notification unread")
    expect(cards.nth(1).locator("a[href^='/console/geofences/']")).to_be_visible()
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-notifications-{language}-{size}")

    cards.first.locator("form button[type=submit]").click()
    expect(page.locator(".message-success")).to_be_visible()
    expect(badge).to_contain_text("2")
    expect(page.locator(".inbox li.unread")).to_have_count(2)

    page.locator("form.read-all button[type=submit]").click()
    expect(page.locator(".inbox li.unread")).to_have_count(0)
    expect(badge).to_have_count(0)
    screenshot(page, f"console-notifications-read-{language}-{size}")
    assert violations == []
    context.close()
