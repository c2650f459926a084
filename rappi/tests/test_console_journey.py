"""A dispatcher's day in the console, as the product promises it, in a real browser on
the demo data: signed in at /console/, the day in Spanish; a paid order put into a run
from the board; the run followed on its page while the driver (through the API, as the
phone does) starts it and delivers every drop-off with a photo; then the order's timeline
and its proofs. A screenshot of each step, at laptop size, for a person to look at."""

import io

import pytest
from django.core.management import call_command
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect
from rest_framework.test import APIClient

from fleet.models import Assignment
from orders.models import Order, OrderStatus
from rappi.testing.browser import SIZES, console_sign_in, screenshot, watch_csp

pytestmark = pytest.mark.usefixtures("live_db")

DEMO_PASSWORD = "demo12345"  # the published demo login


def _driver_api(email: str) -> APIClient:
    api = APIClient()
    answer = api.post(
        "/api/v1/auth/login", {"email": email, "password": DEMO_PASSWORD}, format="json"
    )
    assert answer.status_code == 200, answer.content
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {answer.json()['access']}")
    return api


def _photo() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), "tan").save(out, "JPEG")
    out.seek(0)
    out.name = "door.jpg"
    return out


def test_a_dispatcher_runs_the_day_from_the_console(page, live_server):
    call_command("seed_demo", verbosity=0)
    order = Order.objects.get(notes="[demo] paid online")
    assert order.status == OrderStatus.PENDING
    violations = watch_csp(page)
    page.set_viewport_size(SIZES["laptop"])

    # Signed in, the demo day in Spanish.
    console_sign_in(page, live_server, "dispatcher@rappi.pe", DEMO_PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/console/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_have_text("Resumen")
    screenshot(page, "journey-1-overview")

    # The paid order, ticked on the board; drivers suggested; the free one assigned.
    page.goto(f"{live_server.url}/console/orders/?status=pending")
    page.locator(f"input[name=order_ids][value='{order.pk}']").check()
    screenshot(page, "journey-2-board")
    page.locator("#assign-form button[type=submit]").click()
    row = page.locator("#assign-panel tbody tr", has_text="Jorge Huamán")
    expect(row).to_be_visible()
    screenshot(page, "journey-3-assign-panel")
    row.locator("button[type=submit]").click()
    run = Assignment.objects.get(orders=order)
    expect(page).to_have_url(f"{live_server.url}/console/runs/{run.pk}/")
    screenshot(page, "journey-4-run-assigned")

    # The driver's phone starts the run, sends a fix and delivers each drop-off.
    phone = _driver_api("driver3@rappi.pe")
    started = phone.post(f"/api/v1/assignments/{run.pk}/start")
    assert started.status_code == 200, started.content
    status = page.locator("#run-facts dd .badge").first
    # No reload by hand: the page notices the run moved on and offers what it now allows.
    expect(status).to_have_text("En curso", timeout=20_000)
    expect(page.get_by_role("button", name="Iniciar el recorrido")).to_have_count(0)
    fix = {"assignment_id": run.pk, "lat": -16.3867, "lng": -71.5432, "accuracy_m": 6}
    fix["recorded_at"] = timezone.now().isoformat()
    assert phone.post("/api/v1/tracking/pings", fix, format="json").status_code == 202
    screenshot(page, "journey-5-run-under-way")
    for destination in order.destinations.order_by("sequence"):
        delivered = phone.post(
            f"/api/v1/assignments/{run.pk}/destinations/{destination.pk}/deliver",
            {"received_by": destination.recipient_name, "photo": _photo()},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY=f"deliver-{destination.pk}",
        )
        assert delivered.status_code == 200, delivered.content
    expect(status).to_have_text("Finalizado", timeout=20_000)
    expect(page.locator("#run-stops")).not_to_contain_text("Pendiente")
    screenshot(page, "journey-6-run-finished")

    # The order: delivered, its timeline from creation to delivery, and its proofs.
    page.goto(f"{live_server.url}/console/orders/{order.pk}/")
    timeline = page.locator("ol.timeline li")
    expect(timeline.first).to_be_visible()
    assert timeline.count() >= 5  # created, paid, assigned, started, delivered…
    expect(page.locator("ol.timeline")).to_contain_text("Jorge Huamán")
    thumbs = page.locator("ul.thumbs img")
    expect(thumbs.first).to_be_visible()
    assert thumbs.count() == order.destinations.count()
    assert thumbs.first.evaluate("img => img.complete && img.naturalWidth > 0")
    screenshot(page, "journey-7-order-timeline-and-proofs")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED
    assert violations == []
