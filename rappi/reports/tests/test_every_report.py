"""What holds for every report: who may read it, and that its CSV carries exactly the
numbers of its JSON."""

import csv
import io

import pytest
from rest_framework.test import APIClient

from rappi.reports import registry
from rappi.reports.tables import csv_text
from rappi.reports.tests import data

pytestmark = pytest.mark.django_db

registry.load_all()
REPORTS = sorted(registry.REPORTS)


@pytest.fixture
def some_business():
    """A little of everything: orders delivered and pending, payments, an invoice, a run
    with an incident."""
    ana = data.customer(full_name="Ana Quispe")
    delivered = data.order(
        ana,
        created="2026-11-02 09:00",
        status="delivered",
        level="express",
        total="30.00",
        delivered="2026-11-02 11:00",
        drops=[{"district": "Cayma", "status": "delivered", "delivered": "2026-11-02 11:00"}],
    )
    waiting = data.order(ana, created="2026-11-03 23:30", total="12.50", district="Yanahuara")
    data.payment(delivered, amount="30.00", paid="2026-11-02 09:05")
    data.payment(waiting, amount="12.50", status="pending", provider="manual")
    data.invoice(delivered, amount="30.00", issued="2026-11-02 12:00", number="F001-00000001")
    run = data.run(
        data.driver(), [delivered], started="2026-11-02 10:00", finished="2026-11-02 11:30"
    )
    data.incident(run, created="2026-11-02 10:30", type="traffic", severity=3)
    return {"customer": ana.pk, "assignment": run.pk}


def _url(name: str, ids: dict) -> str:
    report = registry.REPORTS[name]
    if report.object:
        collection, _slash, tail = name.partition("/")
        return f"/api/v1/reports/{collection}/{ids[report.object]}/{tail}"
    return f"/api/v1/reports/{name}"


def _period(name: str) -> dict:
    fields = registry.REPORTS[name].query().fields
    return {"since": "2026-11-01", "until": "2026-11-05"} if "since" in fields else {}


@pytest.mark.parametrize("name", REPORTS)
def test_the_csv_carries_the_numbers_of_the_json(client_for, some_business, name):
    staff = client_for(data.staff())
    url, query = _url(name, some_business), _period(name)

    body = staff.get(url, query).json()
    response = staff.get(url, {**query, "format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="{name.split("/")[0]}')
    assert response["Content-Disposition"].endswith('.csv"')
    text = response.content.decode("utf-8")
    header, rows = registry.REPORTS[name].table(body)
    assert text == csv_text(header, rows)
    parsed = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert parsed[0] == header
    assert len(parsed) == len(rows) + 1
    assert {len(row) for row in parsed} == {len(header)}


@pytest.mark.parametrize("name", REPORTS)
def test_accept_text_csv_is_the_csv_too(client_for, some_business, name):
    staff = client_for(data.staff())

    response = staff.get(_url(name, some_business), _period(name), HTTP_ACCEPT="text/csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"


@pytest.mark.parametrize("name", REPORTS)
def test_an_explicit_format_json_wins_over_accept_text_csv(client_for, some_business, name):
    staff = client_for(data.staff())

    response = staff.get(
        _url(name, some_business), {**_period(name), "format": "json"}, HTTP_ACCEPT="text/csv"
    )

    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("name", REPORTS)
@pytest.mark.parametrize("role", ["customer", "driver"])
def test_customers_and_drivers_are_refused(client_for, some_business, name, role):
    response = client_for(data.staff(role)).get(_url(name, some_business))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("name", REPORTS)
def test_signed_out_callers_are_refused(some_business, name):
    response = APIClient().get(_url(name, some_business))

    assert response.status_code == 401


@pytest.mark.parametrize("name", REPORTS)
def test_an_unknown_parameter_is_refused(client_for, some_business, name):
    response = client_for(data.staff()).get(_url(name, some_business), {"colour": "red"})

    assert response.status_code == 400
    assert "colour" in response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize("name", [n for n in REPORTS if registry.REPORTS[n].object])
# Past 4,300 digits Python's int() refuses the text.
@pytest.mark.parametrize("object_id", ["999999", str(2**63), "9" * 5000, "0" * 5000 + "1"])
def test_a_summary_of_an_unknown_row_is_404(client_for, name, object_id):
    report = registry.REPORTS[name]

    response = client_for(data.staff()).get(_url(name, {report.object: object_id}))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_csv_cell_with_commas_quotes_newlines_or_a_formula_stays_one_inert_cell(client_for):
    # District names and customer names are typed by people: a spreadsheet must read
    # each as one cell of text, never run it.
    name = '=HYPERLINK("http://x.example/?a,b","Ana")\r\n"Quispe", jr'
    ana = data.customer(full_name=name)
    order = data.order(ana, created="2026-11-02 09:00", total="10.00", district="-Cayma+1")
    data.payment(order, amount="10.00", paid="2026-11-02 09:05")
    staff = client_for(data.staff())
    query = {"since": "2026-11-01", "until": "2026-11-05", "format": "csv"}

    top = staff.get("/api/v1/reports/top-customers", query).content.decode("utf-8")
    places = staff.get("/api/v1/reports/geography", query).content.decode("utf-8")

    assert top == (
        "\ufeffcustomer_id,full_name,orders,delivered,paid_amount,last_order_at\r\n"
        f'{ana.pk},"\'=HYPERLINK(""http://x.example/?a,b"",""Ana"")\r\n""Quispe"", jr",'
        "1,0,10.00,2026-11-02T14:00:00Z\r\n"
    )
    rows = list(csv.reader(io.StringIO(top.removeprefix("\ufeff"), newline="")))
    assert rows[1][1] == "'" + name
    assert "origins,'-Cayma+1,1,,," in places.split("\r\n")
