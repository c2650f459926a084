"""The console's reports page (/console/reports/): every report of a period with its chart,
table and CSV link; a bad period shows why and never a 500; the CSV download is the API's
file; the page costs the same queries whatever the data; and the customer and run
summaries, reached from their pages, with a 404 page for an unknown id."""

import html
import json
import re

import pytest
from django.urls import reverse

from orders.models import Payment
from rappi.reports.tables import BOM
from rappi.reports.tests import data
from rappi.reports.views import page_reports
from rappi.testing.console import console_client

pytestmark = pytest.mark.django_db

PAGE = "/console/reports/"
NOVEMBER = {"since": "2026-11-01", "until": "2026-11-30"}


@pytest.fixture
def november():
    ana = data.customer(full_name="Ana Quispe")
    first = data.order(
        ana,
        created="2026-11-02 09:00",
        status="delivered",
        total="30.00",
        delivered="2026-11-02 15:00",
        drops=[{"district": "Yanahuara", "status": "delivered", "delivered": "2026-11-02 15:00"}],
    )
    second = data.order(ana, created="2026-11-02 23:30", total="12.50")
    paid = [
        data.payment(first, amount="30.00", paid="2026-11-02 09:05"),
        data.payment(second, amount="12.50", paid="2026-11-02 23:30"),
    ]
    # The payments report counts the rows created in the period (checkouts, attempts).
    Payment.objects.filter(pk__in=[p.pk for p in paid]).update(
        created_at=data.at("2026-11-02 09:00")
    )
    return ana, first, second


def _charts(page: str) -> dict[str, dict]:
    """Each chart of the page by its figure's id: the spec in its canvas's attribute."""
    found = re.findall(
        r'<figure class="chart[^"]*" id="([^"]+)">\s*<div class="chart__frame"[^>]*>'
        r'<canvas role="img" aria-label="[^"]*" data-chart="([^"]*)">',
        page,
    )
    return {figure: json.loads(html.unescape(spec)) for figure, spec in found}


def test_every_report_of_a_period_has_its_section_with_table_and_csv_link(console, november):
    response = console.get(PAGE, NOVEMBER)
    assert response.status_code == 200
    page = response.content.decode()
    reports = page_reports()
    for report in reports:
        assert f'id="report-{report.slug}"' in page, report.name
        csv = reverse("console:report-csv", args=[report.name])
        if "since" in report.query().fields:
            assert f'href="{csv}?since=2026-11-01&amp;until=2026-11-30' in page, report.name
        else:  # a snapshot (now, the last hours): no period to pass on
            assert f'href="{csv}"' in page, report.name
    names = {report.name for report in reports}
    assert {"overview", "sales", "payments", "geography"} <= names
    assert not names & {"customers/summary", "assignments/summary"}
    assert "<script>" not in page
    assert " style=" not in page
    assert 'value="2026-11-01"' in page
    assert 'value="2026-11-30"' in page


def test_the_sales_section_charts_and_tabulates_the_apis_figures(console, november):
    page = console.get(PAGE, NOVEMBER).content.decode()
    spec = _charts(page)["report-sales-chart"]
    assert spec["type"] == "bar"
    assert len(spec["labels"]) == 30
    assert spec["labels"][1] == "02/11"
    created = next(s for s in spec["series"] if s["label"] == "Orders created")
    assert created["values"][1] == 2
    assert spec["line"]["values"][1] == "42.50"
    assert spec["line_unit"] == "S/"
    # The table is the CSV's: the 2 November row and the totals row, cell for cell.
    section = page[page.index('id="report-sales"') : page.index('id="report-top-customers"')]
    cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>([^<]*)</td>", section)]
    assert cells[7:14] == ["2026-11-02", "2", "42.50", "2", "1", "0", "0.00"]
    assert cells[-7:] == ["total", "2", "42.50", "2", "1", "0", "0.00"]
    assert "S/ 42.50" in section  # the headline figure


def test_payments_are_a_doughnut_by_status_and_a_period_without_data_says_so(console, november):
    page = console.get(PAGE, NOVEMBER).content.decode()
    payments = _charts(page)["report-payments-chart"]
    assert payments["type"] == "doughnut"
    assert dict(zip(payments["labels"], payments["values"], strict=True))["Paid"] == 2
    empty = console.get(PAGE, {"since": "2020-01-01", "until": "2020-01-31"}).content.decode()
    assert "report-sales-chart" in empty
    assert "Nothing to chart: every figure is zero." in empty
    assert "report-sales-chart" not in _charts(empty)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "yesterday"}, "From: Give a date (2026-11-30)"),
        ({"since": "2026-11-30", "until": "2026-11-01"}, "Until: The period must end after"),
        ({"since": "2024-01-01", "until": "2026-01-01"}, "Until: A period spans at most 366 days"),
        ({"granularity": "hour"}, "Buckets: "),
        ({"since": "2026-02-30"}, "From: Give a date"),
    ],
)
def test_a_bad_period_shows_the_apis_reasons_and_no_figures(console, query, message):
    response = console.get(PAGE, query)
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert 'class="message message-error"' in page
    assert message in page
    assert 'id="report-sales"' not in page


def test_a_time_with_an_offset_postgresql_refuses_is_still_answered(console, november):
    # Python reads offsets up to ±23:59, PostgreSQL only to ±15:59.
    query = {"since": "2026-11-03T04:29:00+23:59", "until": "2026-11-30"}
    assert console.get(PAGE, query).status_code == 200
    csv_url = reverse("console:report-csv", args=["top-customers"])
    assert console.get(csv_url, query).status_code == 200


def test_empty_boxes_mean_the_default_period(console):
    response = console.get(PAGE, {"since": "", "until": "", "granularity": "day"})
    assert response.status_code == 200
    assert 'id="report-sales"' in response.content.decode()


def test_weeks_bucket_the_sales_chart(console, november):
    page = console.get(PAGE, {**NOVEMBER, "granularity": "week"}).content.decode()
    # ISO weeks from Monday: 1 November 2026 is a Sunday, the 30th a Monday.
    labels = _charts(page)["report-sales-chart"]["labels"]
    assert labels == ["26/10", "02/11", "09/11", "16/11", "23/11", "30/11"]
    assert 'value="week" selected' in page


def test_the_csv_download_is_the_apis_file(console, client_for, november):
    response = console.get(reverse("console:report-csv", args=["sales"]), NOVEMBER)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(BOM.encode())
    assert 'filename="sales-2026-11-01-2026-11-30.csv"' in response["Content-Disposition"]
    api = client_for(data.staff()).get("/api/v1/reports/sales", {**NOVEMBER, "format": "csv"})
    assert response.content == api.content


def test_a_csv_link_with_a_bad_period_goes_back_to_the_page_that_says_why(console):
    url = reverse("console:report-csv", args=["sales"])
    response = console.get(url, {"since": "nonsense"})
    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}?since=nonsense"
    assert console.get(reverse("console:report-csv", args=["nothing"])).status_code == 404
    summary = reverse("console:report-csv", args=["customers-summary"])
    assert console.get(summary).status_code == 404


def test_the_page_costs_the_same_queries_for_two_orders_and_many(
    console, django_assert_max_num_queries
):
    data.bulk_orders(2, days=2)
    with django_assert_max_num_queries(60) as few:
        console.get(PAGE, NOVEMBER)
    data.bulk_orders(300, days=30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = console.get(PAGE, NOVEMBER)
    assert response.status_code == 200


def test_reports_need_their_grant():
    from identity.tests.factories import RoleFactory, UserFactory

    without = console_client(UserFactory(role=RoleFactory(grants=["orders:read"])))
    assert without.get(PAGE).status_code == 403
    page = without.get("/console/").content.decode()
    assert f'href="{PAGE}"' not in page


def test_the_customer_summary_page_and_its_csv(console, november):
    ana, first, _second = november
    response = console.get(reverse("console:report-customer", args=[ana.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Customer summary: Ana Quispe" in page
    assert f'href="{reverse("console:order", args=[first.pk])}"' in page
    assert "S/ 42.50" in page
    spec = _charts(page)["customer-summary-chart"]
    assert dict(zip(spec["labels"], spec["series"][0]["values"], strict=True))["Delivered"] == 1
    csv = console.get(reverse("console:report-customer-csv", args=[ana.pk]))
    assert csv.content.startswith(BOM.encode())
    assert 'filename="customers-summary-' in csv["Content-Disposition"]


def test_an_unknown_customer_or_run_is_the_404_page(console):
    for name in ("console:report-customer", "console:report-customer-csv"):
        response = console.get(reverse(name, args=[999_999]))
        assert response.status_code == 404
        assert "console/404.html" in [t.name for t in response.templates]
    for kind in ("customers", "runs"):
        assert console.get(f"/console/reports/{kind}/{2**64}/").status_code == 404
        assert console.get(f"/console/reports/{kind}/{2**64}.csv").status_code == 404


def test_the_customer_list_links_to_the_summary(console, november):
    ana = november[0]
    page = console.get("/console/customers/").content.decode()
    assert f'href="{reverse("console:report-customer", args=[ana.pk])}"' in page


def test_the_run_summary_page_its_csv_and_the_link_from_the_run_page(console, november):
    _ana, first, _second = november
    run = data.run(
        data.driver(full_name="Luis Mamani"),
        [first],
        started="2026-11-02 10:00",
        finished="2026-11-02 15:30",
    )
    data.incident(run, created="2026-11-02 12:00", severity=4)
    response = console.get(reverse("console:report-run", args=[run.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Run #{run.pk}: summary" in page
    assert "Luis Mamani" in page
    spec = _charts(page)["run-summary-chart"]
    assert dict(zip(spec["labels"], spec["series"][0]["values"], strict=True))["Severity 4"] == 1
    csv = console.get(reverse("console:report-run-csv", args=[run.pk]))
    assert csv.status_code == 200
    assert csv.content.startswith(BOM.encode())
    run_page = console.get(reverse("console:run", args=[run.pk])).content.decode()
    assert f'href="{reverse("console:report-run", args=[run.pk])}"' in run_page
    for name in ("console:report-run", "console:report-run-csv"):
        assert console.get(reverse(name, args=[999_999])).status_code == 404
