"""The reports page in the system Chromium, offline, under the Content-Security-Policy:
a period picked in the form shows every report's chart drawn (a Chart.js instance with
painted pixels), its table and a CSV download that opens in a spreadsheet (UTF-8 with
BOM); a bad period says why; a chart swapped in by htmx is drawn again and the old one let
go. Laptop and tablet, Spanish and English, never scrolling sideways."""

import re

import pytest
from bson import ObjectId
from playwright.sync_api import expect

from fleet.models import Assignment
from identity.documents import Notification
from orders.models import Payment
from rappi.reports.tables import BOM
from rappi.reports.tests import data
from rappi.testing.browser import (
    SCREENSHOTS,
    SIZES,
    assert_no_sideways_scroll,
    open_console,
    screenshot,
)
from tracking.documents import Evidence, StoredFile

pytestmark = pytest.mark.usefixtures("live_db")

PASSWORD = "Sup3r-Secreta-2026"
EMAIL = "lucia@rappi.pe"

# Every figure holding a chart, and whether each draws: the count of its painted pixels.
PAINTED = """() => Array.from(document.querySelectorAll('.chart canvas[data-chart]')).map(canvas => {
  const figure = canvas.closest('.chart');
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) { painted += 1; } }
  return {id: figure.id, chart: Boolean(RappiCharts.get(figure.id)), painted: painted};
})"""


def _november():
    data.staff(email=EMAIL, password=PASSWORD)
    people = [data.customer(full_name=name) for name in ("Ana Quispe", "Rosa Huamán")]
    couriers = [data.driver(full_name=name) for name in ("Luis Mamani", "Carmen Flores")]
    for day in range(1, 29, 2):
        owner, courier = people[day // 2 % 2], couriers[day % 3 // 2]
        created = f"2026-11-{day:02d} 09:00"
        delivered = f"2026-11-{day:02d} {11 + day % 5}:00"
        order = data.order(
            owner,
            created=created,
            status="delivered",
            level=("standard", "express", "urgent")[day % 3],
            total=f"{20 + day}.50",
            delivered=delivered,
            drops=[
                {
                    "district": ("Cayma", "Yanahuara", "Cercado")[day % 3],
                    "status": "delivered",
                    "delivered": delivered,
                }
            ],
        )
        payment = data.payment(order, amount=f"{20 + day}.50", paid=f"2026-11-{day:02d} 09:05")
        Payment.objects.filter(pk=payment.pk).update(created_at=data.at(created))
        run = data.run(courier, [order], started=f"2026-11-{day:02d} 10:00", finished=delivered)
        trouble = data.incident(run, created=f"2026-11-{day:02d} 10:30", severity=1 + day % 5)
        photo = StoredFile(
            file_id=ObjectId(),
            filename="entrega.jpg",
            content_type="image/jpeg",
            size=250_000,
            sha256="0" * 64,
        )
        Evidence(
            kind=("photo", "signature", "document")[day % 3],
            files=[photo],
            incident_id=trouble.pk,
            assignment_id=run.pk,
            uploaded_by=1,
            created_at=data.at(delivered),
        ).save()
    for kind in ("order.delivered", "order.delivered", "run.assigned"):
        Notification(recipient_user_id=1, kind=kind, title="Aviso").save()


def _open_reports(browser, live_server, size, language):
    context, page, violations, _refused = open_console(
        browser, live_server, EMAIL, PASSWORD, size=size, language=language
    )
    page.locator("nav.nav a[href='/console/reports/']").click()
    page.locator("#period-since").fill("2026-11-01")
    page.locator("#period-until").fill("2026-11-30")
    page.locator("form.report-period button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"since=2026-11-01&until=2026-11-30"))
    return context, page, violations


def _charts_drawn(page) -> list[dict]:
    page.wait_for_function("() => document.querySelectorAll('.chart[data-drawn]').length > 0")
    return page.evaluate(PAINTED)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", ["es", "en"])
def test_every_report_is_a_drawn_chart_with_its_table(browser, live_server, language, size):
    _november()
    context, page, violations = _open_reports(browser, live_server, size, language)
    for report in ("sales", "sla", "drivers", "incidents", "payments", "geography"):
        expect(page.locator(f"#report-{report} .chart canvas")).to_be_visible()
    charts = _charts_drawn(page)
    assert {c["id"] for c in charts} >= {
        "report-sales-chart",
        "report-sla-chart",
        "report-delivery-times-chart",
        "report-drivers-chart",
        "report-incidents-chart",
        "report-payments-chart",
        "report-geography-chart",
        "report-top-customers-chart",
        "report-evidence-chart",
        "report-notifications-chart",
    }
    assert all(c["chart"] and c["painted"] > 500 for c in charts), charts
    # The tables are the CSV's: 30 days and the totals row; the total paid, in soles.
    expect(page.locator("#report-sales tbody tr")).to_have_count(31)
    expect(page.locator("#report-sales tbody tr").last).to_contain_text("total")
    expect(page.locator("#report-sales .figures")).to_contain_text("S/ 483.00")
    # Spanish as written in Peru: a decimal point, the soles before the amount.
    tick = page.evaluate("RappiCharts.format(1234.5, 'S/')")
    assert tick == "S/ 1,234.50"
    assert_no_sideways_scroll(page)
    for section in ("report-sales", "report-drivers", "report-payments"):
        box = page.locator(f"#{section} canvas").bounding_box()
        assert box["x"] >= 0, section
        assert box["x"] + box["width"] <= SIZES[size]["width"], section
    screenshot(page, f"console-reports-{language}-{size}")
    for section in ("sales", "drivers", "payments"):
        page.locator(f"#report-{section}").screenshot(
            path=str(SCREENSHOTS / f"console-reports-{section}-{language}-{size}.png")
        )
    assert violations == []
    context.close()


def test_the_csv_button_downloads_the_report_as_a_spreadsheet_reads_it(browser, live_server):
    _november()
    context, page, violations = _open_reports(browser, live_server, "laptop", "en")
    with page.expect_download() as download:
        page.locator("#report-sales a.button", has_text="CSV").click()
    path = download.value.path()
    assert download.value.suggested_filename == "sales-2026-11-01-2026-11-30.csv"
    content = open(path, "rb").read()  # noqa: SIM115
    assert content.startswith(BOM.encode())
    lines = content.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("bucket,payments_paid,paid_amount")
    assert lines[-2].startswith("total,14,483.00")
    assert violations == []
    context.close()


@pytest.mark.parametrize("language", ["es", "en"])
def test_a_bad_period_says_why_and_draws_nothing(browser, live_server, language):
    _november()
    context, page, violations = _open_reports(browser, live_server, "tablet", language)
    page.locator("#period-since").fill("2026-11-30")
    page.locator("#period-until").fill("2026-11-01")
    page.locator("form.report-period button[type=submit]").click()
    message = page.locator(".message-error")
    expect(message).to_have_count(1)
    if language == "en":  # the Spanish words come with the catalogue
        expect(message).to_have_text("Until: The period must end after it starts.")
    expect(page.locator(".field.invalid #period-until")).to_have_count(1)
    expect(page.locator(".chart canvas")).to_have_count(0)
    expect(page.locator("#period-since")).to_have_value("2026-11-30")
    screenshot(page, f"console-reports-bad-period-{language}")
    assert violations == []
    context.close()


def test_a_chart_swapped_in_by_htmx_is_drawn_again_and_the_old_one_let_go(browser, live_server):
    _november()
    context, page, violations = _open_reports(browser, live_server, "laptop", "en")
    charts = _charts_drawn(page)
    before = page.evaluate("RappiCharts.get('report-sales-chart').id")
    page.evaluate(
        "htmx.ajax('GET', '/console/reports/?since=2026-11-01&until=2026-11-30&granularity=week',"
        " {target: '#reports', swap: 'innerHTML'})"
    )
    page.wait_for_function(
        f"() => RappiCharts.get('report-sales-chart') && "
        f"RappiCharts.get('report-sales-chart').id !== {before}"
    )
    assert page.evaluate("RappiCharts.get('report-sales-chart').data.labels.length") == 6
    # Only the charts on the page are alive: the swapped-out ones were destroyed.
    assert page.evaluate("Object.keys(Chart.instances).length") == len(charts)
    redrawn = page.evaluate(PAINTED)
    assert all(c["chart"] and c["painted"] > 500 for c in redrawn), redrawn
    assert violations == []
    context.close()


@pytest.mark.parametrize("size", SIZES)
def test_the_customer_and_run_summaries_from_their_pages(browser, live_server, size):
    _november()
    context, page, violations, _refused = open_console(
        browser, live_server, EMAIL, PASSWORD, size=size, language="es"
    )
    page.locator("nav.nav a[href='/console/customers/']").click()
    page.locator("tr", has_text="Ana Quispe").locator("a[href^='/console/reports/']").click()
    expect(page.locator("h1")).to_contain_text("Ana Quispe")
    expect(page.locator(".figures")).to_contain_text("S/ 234.50")
    charts = _charts_drawn(page)
    assert [c["id"] for c in charts] == ["customer-summary-chart"]
    assert charts[0]["chart"]
    assert charts[0]["painted"] > 500
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-report-customer-es-{size}")
    page.locator("td a[href^='/console/orders/']").first.click()
    expect(page).to_have_url(re.compile(r"/console/orders/\d+/$"))

    run_id = Assignment.objects.order_by("pk").values_list("pk", flat=True).first()
    page.goto(f"{live_server.url}/console/runs/{run_id}/")
    page.locator(f".page-head a[href$='/reports/runs/{run_id}/']").click()
    expect(page.locator("h1")).to_contain_text(f"#{run_id}")
    charts = _charts_drawn(page)
    assert [c["id"] for c in charts] == ["run-summary-chart"]
    assert charts[0]["chart"]
    assert charts[0]["painted"] > 500
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-report-run-es-{size}")
    assert violations == []
    context.close()
