"""The audit log page in the system Chromium, under the Content-Security-Policy, on a
laptop and a tablet, in Spanish (the console's default) and English: the summary on top,
requests and domain records readable, a filter applied from the form."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from audit.documents import AuditEvent
from audit.tests.factories import DomainRecordFactory, make_record
from identity.tests.factories import UserFactory
from rappi.testing.browser import (
    SIZES,
    assert_no_sideways_scroll,
    console_sign_in,
    screenshot,
    watch_csp,
)

pytestmark = pytest.mark.usefixtures("live_db")

PASSWORD = "Sup3r-Secreta-2026"
LANGUAGES = ("es", "en")


def _log():
    now = datetime.now(UTC)
    records = [
        make_record(
            n,
            timestamp=now - timedelta(minutes=n),
            user_id=3,
            username="lucia@rappi.pe",
            ip="190.235.12.4",
            method=method,
            path=path,
            status_code=status,
            duration_ms=duration,
        )
        for n, (method, path, status, duration) in enumerate(
            [
                ("GET", "/console/orders/", 200, 41.2),
                ("POST", "/api/v1/assignments/", 201, 182.7),
                (
                    "GET",
                    "/api/v1/orders/?status=pending&scheduled_after=2026-12-04T08%3A00",
                    200,
                    23.0,
                ),
                ("PATCH", "/api/v1/orders/12", 409, 15.4),
                ("GET", "/api/v1/tracking/fleet", 500, 1203.9),
                ("DELETE", "/api/v1/geofences/6751f0c2a1b2c3d4e5f60718", 204, 9.8),
            ]
        )
    ]
    records.append(
        DomainRecordFactory(
            number=50,
            timestamp=now - timedelta(minutes=2),
            user_id=3,
            username="lucia@rappi.pe",
            method="POST",
            path="/api/v1/orders/12/adjust-price",
            action="order.adjust_price",
            target_type="order",
            target_id="12",
            changes={
                "total": {"old": "18.50", "new": "15.00"},
                "adjustment_reason": {"old": None, "new": "Late delivery, 20% off"},
            },
        )
    )
    AuditEvent._get_collection().insert_many(records)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_dispatcher_reads_and_filters_the_audit_log(browser, live_server, language, size):
    UserFactory(email="lucia@rappi.pe", password=PASSWORD, role_name="dispatcher")
    _log()
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    violations = watch_csp(page)
    console_sign_in(page, live_server, "lucia@rappi.pe", PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", "es")
    if language != "es":
        page.locator(f"form.language button[value={language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)

    page.locator("nav.nav a[href='/console/audit/']").click()
    expect(page.locator(".audit-summary .tile .value").first).to_have_text("6")
    expect(page.locator("table.audit-records tbody tr")).to_have_count(7)
    expect(page.locator("tr.audit-domain")).to_contain_text("order.adjust_price")
    expect(page.locator("tr.audit-domain dl.changes")).to_contain_text("Late delivery")
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-audit-{language}-{size}")

    page.locator("#id_status_code").fill("5xx")
    page.locator("form.filters button[type=submit]").click()
    expect(page.locator("table.audit-records tbody tr")).to_have_count(1)
    expect(page.locator("table.audit-records")).to_contain_text("/api/v1/tracking/fleet")

    page.locator("#id_status_code").fill("9xx")
    page.locator("form.filters button[type=submit]").click()
    expect(page.locator("form.filters .error")).to_be_visible()
    expect(page.locator("table.audit-records tbody tr")).to_have_count(1)  # the "none" row
    expect(page.locator(".audit-summary")).to_have_count(0)
    screenshot(page, f"console-audit-invalid-{language}-{size}")
    assert violations == []
    context.close()
